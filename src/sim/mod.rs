//! Simulated Huawei Cloud: IAM and every registered service on one local port, following the API
//! reference pages to the letter, with a fleet that changes state over time and faults on demand.
//! The public API is [`SimConfig`], [`Simulator`] and [`SimHandle`]; the services it serves are
//! handed to [`Simulator::start`] by the caller (the registry, `crate::services::SIMULATED`), so
//! nothing here imports or names a service.
//!
//! Layout: `config` (what a simulator starts with), `server` (start, the handle), `routes` (how a
//! service declares its routes and the operations they serve, [`Simulated`] and [`Routes`]),
//! `router` (IAM's, the handed services' and the control routes on one router), `pipeline` (the per-call pipeline and the `SimService` trait each service
//! implements), `state` (the
//! shared state, the call and the reply), `fleet` (phones and the DCS and DDM instances),
//! `faults` (fault knobs and the declared operations' names), `listing` (the listing faults), `tokens` and `iam`
//! (IAM), `record` (the calls as they arrived, for the request-side contract tests), `control`
//! (the `/_sim/` routes), `cli` (standalone mode). Each service's endpoints live with the
//! service, in its `sim` module.
//!
//! Control routes, same port, no auth: `GET /_sim/faults`, `PUT /_sim/faults/{operation}` (a
//! [`FaultSpec`] as JSON), `DELETE /_sim/faults`, `DELETE /_sim/faults/{operation}`,
//! `GET /_sim/calls`, `POST /_sim/tokens/expire`, `POST /_sim/advance?ticks=N`, `GET /_sim/phones`,
//! `GET /_sim/fleet` and `POST /_sim/fleet` (buy and release phones, create and delete DCS and
//! DDM instances: `{"add_phones":5,"remove_phones":2,"remove_phone_ids":["…"],"add_dcs":1,
//! "remove_dcs":1,"add_ddm":1,"remove_ddm":1}`). `SimConfig::churn` (`simulate --churn N/PERIOD`)
//! does the same steadily while it runs.
//!
//! Codes the pages do not give, chosen here (docs/fidelity.md lists them with the reasons): a
//! hung call that is finally released gets 504 `APIG.0201`; an unknown path, or a known one with
//! another method, 404 `APIGW.0101`; the `redirect` fault's 307 carries `APIGW.0307`. Gateway
//! errors carry `request_id`. Each service's own choices are in its `sim` module's docs.

mod cli;
mod config;
mod control;
pub(crate) mod faults;
pub(crate) mod fleet;
mod iam;
pub(crate) mod listing;
pub(crate) mod pipeline;
mod record;
mod router;
pub(crate) mod routes;
mod server;
pub(crate) mod state;
mod tokens;

pub use cli::{run_standalone, FaultArg, SimArgs};
pub use config::{Churn, SimAccessKey, SimConfig, SimDdmInstance, SimUser};
pub use faults::{parse_fault_arg, FaultKind, FaultSpec, ParseNameError};
pub use fleet::{personal_values, SimDcsInstance};
pub use pipeline::{huge_request_id, CONTROL_CHARACTERS, HOSTILE_MESSAGE, HUGE_REQUEST_ID_BYTES};
pub use record::RecordedRequest;
pub use routes::{Routes, Simulated};
pub use server::{SimHandle, Simulator};
