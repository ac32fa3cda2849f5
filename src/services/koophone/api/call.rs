//! What every KooPhone call shares: the operation's shape (a fresh `x-request-id`, errors inside
//! HTTP 200), the answer's envelope (success is `error_code == "0"`, checked by the transport;
//! a failure's `data` may be anything), and the call to the KooPhone host.

use reqwest::Method;
use serde::Deserialize;
use tokio::time::Instant;

use crate::services::koophone::config::KEY;
use crate::transport::{ApiError, BodyError, CloudClient, Operation, Permission, Request};

/// Most instance ids one call accepts.
pub const MAX_IDS_PER_CALL: usize = 100;

/// A decoded answer and the answer's request id, or why the call failed.
pub type CallResult<T> = Result<(T, Option<String>), ApiError>;

/// A KooPhone operation named `name`, which needs the IAM permission `iam`; only `idempotent`
/// ones are retried. KooPhone documents no call budget.
pub(super) const fn operation(name: &'static str, idempotent: bool, iam: Permission) -> Operation {
    Operation {
        service: KEY,
        name,
        idempotent,
        sends_request_id: true,
        budget: None,
        iam: Some(iam),
    }
}

/// `{"data": T, "error_code": "0", "error_msg": "ok"}`: success is `error_code == "0"`.
#[derive(Debug, Deserialize)]
struct Envelope<T> {
    /// `"0"` on success.
    #[serde(default)]
    error_code: Option<String>,
    /// Why it failed.
    #[serde(default)]
    error_msg: Option<String>,
    /// The payload.
    #[serde(default = "none")]
    data: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

/// Just the verdict, for answers whose `data` does not decode.
#[derive(Deserialize)]
pub(super) struct RefusedAnswer {
    /// `"0"` on success.
    #[serde(default)]
    pub(super) error_code: Option<String>,
    /// Why it failed.
    #[serde(default)]
    pub(super) error_msg: Option<String>,
}

/// Decodes a KooPhone answer in one pass: the payload when `error_code` is "0", the error when
/// it is anything else (or missing), a decode error when the body is not the documented shape.
pub fn parse_answer<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    let api = |code: Option<String>, msg: Option<String>| BodyError::Api {
        code: code.unwrap_or_else(|| "<missing error_code>".into()),
        message: msg.unwrap_or_default(),
    };
    match crate::transport::decode_json::<Envelope<T>>(body) {
        Ok(a) if a.error_code.as_deref() == Some("0") => a
            .data
            .ok_or_else(|| BodyError::Decode("at data: missing field `data`".into())),
        Ok(a) => Err(api(a.error_code, a.error_msg)),
        // A failure's `data` may be anything; the verdict still decides.
        Err(m) => match crate::transport::decode_json::<RefusedAnswer>(body) {
            Ok(v) if v.error_code.as_deref() != Some("0") => Err(api(v.error_code, v.error_msg)),
            _ => Err(BodyError::Decode(m)),
        },
    }
}

impl CloudClient {
    /// One call to the KooPhone host, its answer decoded by `parse`; also returns the answer's
    /// request id.
    pub(super) async fn koophone_call<T>(
        &self,
        op: &'static Operation,
        method: Method,
        path: String,
        body: Option<Vec<u8>>,
        deadline: Instant,
        parse: fn(&[u8]) -> Result<T, BodyError>,
    ) -> CallResult<T> {
        let req = Request {
            op,
            method,
            base: self.endpoints.get(KEY).to_string(),
            path,
            query: Vec::new(),
            body,
        };
        self.call_with_id(&req, deadline, parse).await
    }
}
