//! The probe state shared by every cloud of one fleet: the runs and last results, and the
//! debug runs; carried over a reload by the KooPhone service.

use super::debug::DebugRuns;
use super::share::ProbeRuns;
use crate::services::fleet::Fleet;
use crate::services::koophone::config::KEY;
use crate::services::prober::Refusal;

/// Runs in flight and last results, and debug runs.
pub struct ProbeState {
    /// Command-probe runs in flight and last results; a reload keeps the command budgets.
    pub probes: ProbeRuns,
    /// Debug probe runs (`debug=true`), apart from `probes` so they never change its answers.
    pub debug: DebugRuns,
}

/// The probe state of `fleet`.
pub fn of(fleet: &Fleet) -> Result<&ProbeState, Refusal> {
    fleet
        .shared::<ProbeState>(KEY)
        .ok_or_else(|| Refusal::BadRequest("this exporter runs no probes".into()))
}
