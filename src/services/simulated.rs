//! The simulated services, the simulator's list: what each service's `sim` module serves (its
//! routes, each declaring the operation it serves). The top level (`app`, `main`, tests) hands
//! it to [`crate::sim::Simulator::start`], so the simulator imports no service and layers run
//! one way. Next to [`super::SERVICES`], and a test checks the two lists declare the same
//! operations, so a service cannot be simulated with calls its client does not make, or the
//! reverse.

use super::{dcs, ddm, koophone};
use crate::sim::Simulated;

/// Every service as the simulator serves it, in [`super::SERVICES`]' order.
pub static SIMULATED: &[&Simulated] = &[
    &dcs::sim::SIMULATED,
    &koophone::sim::SIMULATED,
    &ddm::sim::SIMULATED,
];
