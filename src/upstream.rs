//! What an upstream call can fail with: [`ErrorKind`] (its `result` label) and [`ApiError`]
//! (everything its log line needs). Below the transport, so that the metric families, the
//! debug log and the status page can carry a failure without knowing how calls are made; the
//! transport re-exports both (`crate::transport::ApiError`).

use std::fmt;
use std::time::Duration;

/// Why an upstream call failed; its `result` label is [`ErrorKind::result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 429 (`APIG.0308`).
    Throttled,
    /// 401 (`APIG.0301` / `APIGW.0301`) or an IAM refusal.
    Unauthorized,
    /// Another 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// HTTP 200 whose body says failure (KooPhone `error_code` != "0").
    ApiError,
    /// The deadline passed before an answer.
    Timeout,
    /// Connection, TLS or protocol failure.
    TransportError,
    /// The body was not what the API documents (malformed, truncated, wrong types, too large).
    DecodeError,
    /// A 3xx: redirects are never followed, so credentials never reach another host.
    Redirect,
    /// Refused by the exporter itself before or after the call: a call budget, the pages of
    /// a listing, or the series cap of a collector. Never counted in
    /// `huaweicloud_api_requests_total` (no call, or a call already counted `ok`).
    LimitExceeded,
}

impl ErrorKind {
    /// The `result` label value.
    pub fn result(self) -> &'static str {
        match self {
            ErrorKind::Throttled => "throttled",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::ClientError => "client_error",
            ErrorKind::ServerError => "server_error",
            ErrorKind::ApiError => "api_error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::TransportError => "transport_error",
            ErrorKind::DecodeError => "decode_error",
            ErrorKind::Redirect => "redirect",
            ErrorKind::LimitExceeded => "limit_exceeded",
        }
    }
}

/// A failed upstream call, with everything the log line needs.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ApiError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// Operation label, e.g. `dcs_status`.
    pub operation: &'static str,
    /// HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// The service's `error_code`, when the body had one.
    pub code: Option<String>,
    /// Human-readable detail (the service's `error_msg`, or ours).
    pub message: String,
    /// The upstream request id (`X-Request-Id`), or the one we sent.
    pub request_id: Option<String>,
    /// Seconds the service asked us to wait (429 `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.operation, self.kind.result())?;
        if let Some(s) = self.status {
            write!(f, " (HTTP {s})")?;
        }
        if let Some(c) = &self.code {
            write!(f, " {c}")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(r) = &self.request_id {
            write!(f, " [request_id={r}]")?;
        }
        Ok(())
    }
}

impl ApiError {
    /// An error raised before or without an answer.
    pub fn new(kind: ErrorKind, operation: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            operation,
            status: None,
            code: None,
            message: message.into(),
            request_id: None,
            retry_after: None,
        }
    }

    /// Whether another attempt of an idempotent read may succeed (5xx, 429, transport errors).
    pub(crate) fn retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Throttled | ErrorKind::ServerError | ErrorKind::TransportError
        )
    }

    /// A 401 that means "this token or signature is no good" (drop the token and try once more).
    pub fn is_bad_credentials(&self) -> bool {
        self.kind == ErrorKind::Unauthorized
            && matches!(self.code.as_deref(), Some("APIG.0301") | Some("APIGW.0301"))
    }
}

/// Cuts `s` to at most `max` bytes (on a character boundary) and marks the cut with `…`: what
/// a peer sends never makes a log line or an error message unbounded.
pub(crate) fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
}
