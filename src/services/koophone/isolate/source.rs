//! Where batch statuses come from, as isolation sees them ([`StatusSource`]: the cloud, or a fake
//! in unit tests), and which failed calls are about ids ([`id_reason`]).

use futures::future::BoxFuture;
use tokio::time::Instant;

use crate::services::koophone::api::{CallResult, StatusResult};
use crate::transport::{ApiError, ErrorKind};

/// The batch-level error codes that are about ids, and so are split: bad parameter (an unknown
/// or released id) and no permission.
pub const ID_CODES: [&str; 2] = ["KOOPHONE.API.1000", "KOOPHONE.API.1001"];

/// The isolation reason of a failed call: its code when it is one of [`ID_CODES`] and came as
/// an error inside HTTP 200 or as a 4xx other than 401 and 429 (both forms are in use).
pub fn id_reason(e: &ApiError) -> Option<&'static str> {
    let code = e.code.as_deref()?;
    let reason = ID_CODES.iter().find(|c| **c == code)?;
    match e.kind {
        ErrorKind::ApiError | ErrorKind::ClientError => Some(reason),
        _ => None,
    }
}

/// One batch-status answer: the rows of phones asked (once each) and its request id.
pub type StatusAnswer = CallResult<Vec<StatusResult>>;

/// Where batch statuses come from: the cloud, or a fake in unit tests.
pub trait StatusSource: Sync {
    /// Statuses of `ids` (≤ 100, no duplicates), only phones asked, once each, and the
    /// answer's request id.
    fn status<'a>(&'a self, ids: &'a [String], deadline: Instant) -> BoxFuture<'a, StatusAnswer>;

    /// `cloud` label, for log lines.
    fn cloud(&self) -> &str;
}
