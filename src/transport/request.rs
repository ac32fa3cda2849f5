//! What one upstream call is: its [`Operation`] (labels, retry rule, request id, budget), the
//! [`Request`] to send and the [`Reply`] that came back.

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::Method;

use crate::transport::budget::Budget;
use crate::upstream::{ApiError, ErrorKind};

/// One upstream API operation: its service, its metric label and whether it may be retried.
#[derive(Debug)]
pub struct Operation {
    /// `service` label.
    pub service: &'static str,
    /// `operation` label.
    pub name: &'static str,
    /// Reads are retried on 5xx, 429 and transport errors; writes are not.
    pub idempotent: bool,
    /// Each call sends an `x-request-id` header: the one its query carries, else a fresh one;
    /// the call's errors name it when the answer names none. For services that require one
    /// (KooPhone; its errors inside HTTP 200 are read by its own body decoding, not here).
    pub sends_request_id: bool,
    /// The service's documented call budget, shared by every call of the service on one
    /// cloud (the transport holds one window per service); `None` when it documents none.
    pub budget: Option<Budget>,
    /// The IAM permission a caller needs for it; `None` for a call that needs none (the
    /// token request). The README's least-privilege policy is generated from these
    /// (`cargo xtask gen`), so a call cannot be missing from it.
    pub iam: Option<Permission>,
}

/// The IAM action one operation needs, as Huawei's permission pages name it, and what a reader
/// of the policy is told about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// The action (`dcs:instance:list`).
    pub action: &'static str,
    /// The API it authorises, as the reference page writes it (`GET /v2/{project_id}/instances`).
    pub api: &'static str,
    /// What in the exporter makes the call, and anything a granter should know about it.
    pub used_by: &'static str,
}

/// A request to send: operation, method, URL and optional JSON body.
#[derive(Debug)]
pub struct Request {
    /// Which operation this is.
    pub op: &'static Operation,
    /// HTTP method.
    pub method: Method,
    /// Service base URL (from the cloud's endpoints).
    pub base: String,
    /// Path, already percent-encoded where needed.
    pub path: String,
    /// Query pairs, unencoded.
    pub query: Vec<(String, String)>,
    /// JSON body, if any.
    pub body: Option<Vec<u8>>,
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status (2xx).
    pub status: u16,
    /// The raw body, at most `MAX_BODY_BYTES`.
    pub body: Bytes,
    /// Upstream request id, or the one we sent.
    pub request_id: Option<String>,
    /// Response headers (IAM puts the token in one).
    pub headers: HeaderMap,
}

impl ApiError {
    /// A body that is not what the API documents.
    pub fn decode(operation: &'static str, reply: &Reply, message: impl Into<String>) -> ApiError {
        ApiError {
            status: Some(reply.status),
            request_id: reply.request_id.clone(),
            ..ApiError::new(ErrorKind::DecodeError, operation, message)
        }
    }
}
