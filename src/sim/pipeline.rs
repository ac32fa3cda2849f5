//! The pipeline every simulated service call goes through: count the call, check its
//! credentials, take the fault (counting `times` down), sleep the latency, then answer with the
//! fault's error or the real answer (whose body a body-level fault may mangle).
//!
//! Owns [`SimService`], what a service tells the pipeline (how its errors look, which
//! credentials it takes), and [`endpoint`], the one way a service's route is built.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{on, MethodFilter, MethodRouter};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::faults::{FaultKind, FaultSpec};
use super::state::{bytes_response, gateway_error, json_response, Call, SimReply, SimState};
use super::tokens::TokenCheck;
use crate::transport::Operation;

/// What a hostile peer puts in an error message: markup that runs if a page does not escape it,
/// and a forged log line and sample for text that does not escape newlines.
pub const HOSTILE_MESSAGE: &str = "<script>document.title='owned'</script><img src=x onerror=\"document.body.dataset.owned='yes'\">\nlevel=info msg=\"forged line\"\r\nprobe_success 1";

/// What the `control_characters_in_names` fault appends to every name: NUL, ESC (a terminal
/// colour), CR LF with a forged log line, DEL and two C1 characters (NEL, CSI).
pub const CONTROL_CHARACTERS: &str = "\0\x1b[31m\r\nlevel=error msg=forged\x7f\u{85}\u{9b}";

/// The length of the `huge_request_id` fault's header.
pub const HUGE_REQUEST_ID_BYTES: usize = 100 * 1024;

/// The `huge_request_id` fault's header: [`HUGE_REQUEST_ID_BYTES`] of visible text that is no
/// id, starting with a plausible one.
pub fn huge_request_id() -> String {
    let mut id = String::from("0123456789abcdef");
    while id.len() < HUGE_REQUEST_ID_BYTES {
        id.push_str(" level=error msg=\"forged\" <b>x</b>");
    }
    id.truncate(HUGE_REQUEST_ID_BYTES);
    id
}

/// One simulated service as the pipeline sees it: how its errors look and which credentials it
/// takes. Each service's sim file implements it on a unit struct and passes that to
/// [`super::routes::Routes::route`].
pub(crate) trait SimService: Copy + Send + Sync + 'static {
    /// Whether calls must carry credentials (IAM's token call is how they are got).
    const AUTHENTICATED: bool = true;
    /// The 401's detail when the service takes no AK/SK signature; `None` verifies them.
    const SIGNATURES_REFUSED: Option<&'static str> = None;

    /// Code and message of the `server_error` fault's 500.
    const SERVER_ERROR: (&'static str, &'static str);
    /// Status, code and message of the `api_error` fault's answer: the service's "valid
    /// request, but no".
    const API_ERROR: (StatusCode, &'static str, &'static str);

    /// `{"error_code","error_msg"}` in the service's shape.
    fn error(&self, status: StatusCode, code: &str, msg: &str) -> Response {
        json_response(status, &json!({"error_code": code, "error_msg": msg}))
    }

    /// The `server_error` fault's answer.
    fn server_error(&self, _op: &Operation) -> Response {
        let (code, msg) = Self::SERVER_ERROR;
        self.error(StatusCode::INTERNAL_SERVER_ERROR, code, msg)
    }

    /// The `api_error` fault's answer.
    fn api_error(&self, _op: &Operation) -> Response {
        let (status, code, msg) = Self::API_ERROR;
        self.error(status, code, msg)
    }

    /// The `hostile_message` fault's answer.
    fn hostile_error(&self) -> Response {
        self.error(StatusCode::BAD_REQUEST, "APIG.1000", HOSTILE_MESSAGE)
    }

    /// The `token_expired` fault's answer.
    fn token_expired(&self) -> Response {
        unauthorized("token expired")
    }

    /// The answer a fault only this service knows gives instead of the real one, if any.
    fn fault_answer(&self, _op: &Operation, _fault: &FaultSpec, _call: &Call) -> Option<Response> {
        None
    }
}

/// What a service's answer is computed from.
pub(crate) struct Ctx<'a> {
    /// The simulator's state.
    pub sim: &'a SimState,
    /// The call being answered.
    pub call: &'a Call,
    /// The fault in force for this call, if any.
    pub fault: Option<FaultKind>,
}

/// The methods the simulated services' routes take.
pub(crate) const GET: MethodFilter = MethodFilter::GET;
/// See [`GET`].
pub(crate) const POST: MethodFilter = MethodFilter::POST;

/// The route of operation `op` of `service` (see [`super::routes::Routes::route`]): extract `E`
/// (path parameters, `()` for none) and the call, then run the pipeline around `answer`.
pub(super) fn endpoint<S, E, A>(
    method: MethodFilter,
    service: S,
    op: &'static Operation,
    answer: A,
) -> MethodRouter<Arc<SimState>>
where
    S: SimService,
    E: FromRequestParts<Arc<SimState>> + Send + 'static,
    A: Fn(Ctx<'_>, E) -> SimReply + Clone + Send + Sync + 'static,
{
    on(
        method,
        move |State(sim): State<Arc<SimState>>, params: E, call: Call| async move {
            sim.serve(service, op, &call, |sim, fault| {
                answer(
                    Ctx {
                        sim,
                        call: &call,
                        fault,
                    },
                    params,
                )
            })
            .await
        },
    )
}

impl SimState {
    /// The pipeline every service call goes through: count, auth, take the fault, sleep the
    /// latency, answer with the fault's error or with `answer` (whose body the fault may mangle).
    async fn serve<S, F>(
        &self,
        service: S,
        op: &'static Operation,
        call: &Call,
        answer: F,
    ) -> Response
    where
        S: SimService,
        F: FnOnce(&SimState, Option<FaultKind>) -> SimReply,
    {
        // Latency is the time from arrival to answer, the work of checking the call included.
        let arrived = Instant::now();
        if let Some(calls) = self.calls.get(op.name) {
            calls.fetch_add(1, Ordering::Relaxed);
        }
        self.requests
            .record(op.name, &call.method, &call.uri, &call.headers, &call.body);
        let auth = if S::AUTHENTICATED {
            self.authenticate::<S>(call)
        } else {
            Ok(())
        };
        let fault = self.faults.take(op.name, auth.is_ok());
        let extra = fault.as_ref().and_then(|f| f.latency).unwrap_or_default();
        let latency = self.config.latency.saturating_add(extra);
        if !latency.is_zero() {
            tokio::time::sleep_until(arrived + latency).await;
        }
        let kind = fault.as_ref().and_then(|f| f.kind);
        if kind == Some(FaultKind::TokenExpired) {
            return service.token_expired();
        }
        if let Err(denied) = auth {
            return denied;
        }
        match kind {
            Some(FaultKind::Hang) => {
                let mut shutdown = self.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                    _ = shutdown.wait_for(|stop| *stop) => {}
                }
                return gateway_error(StatusCode::GATEWAY_TIMEOUT, "APIG.0201", "Backend timeout.");
            }
            Some(FaultKind::ServerError) => return service.server_error(op),
            Some(FaultKind::Throttled) => {
                let retry_after = fault.as_ref().and_then(|f| f.retry_after_secs).unwrap_or(1);
                let mut resp = gateway_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "APIG.0308",
                    "The request is throttled.",
                );
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                return resp;
            }
            Some(FaultKind::ApiError) => return service.api_error(op),
            Some(FaultKind::Redirect) => {
                let to = fault
                    .as_ref()
                    .and_then(|f| f.location.as_deref())
                    .unwrap_or("http://127.0.0.1:9");
                return redirect(to, &call.uri);
            }
            Some(FaultKind::HostileMessage) => return service.hostile_error(),
            Some(FaultKind::HugeRequestId) => {
                let mut resp = service.api_error(op);
                if let Ok(v) = HeaderValue::from_str(&huge_request_id()) {
                    resp.headers_mut().insert("x-request-id", v);
                }
                return resp;
            }
            _ => {}
        }
        if let Some(own) = fault
            .as_ref()
            .and_then(|f| service.fault_answer(op, f, call))
        {
            return own;
        }
        finish(answer(self, kind), kind)
    }

    /// The one place a service call's credentials are checked: an `X-Auth-Token` that IAM issued
    /// (live, not revoked) or a static token. AK/SK (`SDK-HMAC-SHA256`) verification belongs here
    /// too, which is why it sees the whole call. The error is the finished 401, so the check
    /// alone decides what the caller sees; it is rare and cold, hence the large `Err`.
    #[allow(clippy::result_large_err)]
    fn authenticate<S: SimService>(&self, call: &Call) -> Result<(), Response> {
        let Some(token) = call.headers.get("x-auth-token") else {
            if call.headers.contains_key(header::AUTHORIZATION) {
                return self.verify_signature::<S>(call);
            }
            return Err(unauthorized("x-auth-token not found"));
        };
        let Ok(token) = token.to_str() else {
            return Err(unauthorized("token is not valid"));
        };
        if self.config.static_tokens.iter().any(|t| t == token) {
            return Ok(());
        }
        match self.tokens.check(token) {
            TokenCheck::Valid => Ok(()),
            TokenCheck::Expired => Err(unauthorized("token expired")),
            TokenCheck::Unknown => Err(unauthorized("token is not valid")),
        }
    }

    /// AK/SK: an `SDK-HMAC-SHA256` signature within 15 minutes of the clock, unless the service
    /// takes tokens only.
    #[allow(clippy::result_large_err)] // same shape as `authenticate`: the error is the answer
    fn verify_signature<S: SimService>(&self, call: &Call) -> Result<(), Response> {
        if let Some(detail) = S::SIGNATURES_REFUSED {
            return Err(unauthorized(detail));
        }
        let pairs: Vec<(String, String)> = call
            .headers
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_string(), v.to_string()))
            })
            .collect();
        let req = crate::transport::auth::signer::ReceivedRequest {
            method: call.method.as_str(),
            path: call.uri.path(),
            raw_query: call.uri.query().unwrap_or(""),
            headers: &pairs,
            body: &call.body,
        };
        let keys = &self.secret_keys;
        crate::transport::auth::signer::verify(
            &req,
            |ak| keys.iter().find(|(a, _)| a == ak).map(|(_, sk)| sk),
            std::time::SystemTime::now(),
        )
        .map(|_| ())
        .map_err(|e| unauthorized(&format!("signature rejected: {e}")))
    }
}

/// The gateway's 401 for a missing, unknown, revoked or expired token.
fn unauthorized(detail: &str) -> Response {
    gateway_error(
        StatusCode::UNAUTHORIZED,
        "APIGW.0301",
        &format!("Incorrect IAM authentication information: {detail}"),
    )
}

/// 307 to `to` plus the call's path and query: method and body would be sent again there.
fn redirect(to: &str, uri: &Uri) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let location = format!("{}{path}", to.trim_end_matches('/'));
    let mut resp = gateway_error(StatusCode::TEMPORARY_REDIRECT, "APIGW.0307", "Moved.");
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Renders a reply, mangling its body as a body-level fault says.
fn finish(reply: SimReply, kind: Option<FaultKind>) -> Response {
    let SimReply {
        status,
        body,
        headers,
    } = reply;
    let mut resp = match kind {
        Some(FaultKind::Malformed) => bytes_response(
            status,
            Bytes::from_static(
                b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>",
            ),
        ),
        Some(FaultKind::Truncated) => {
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            let half = bytes.len() / 2;
            bytes_response(status, Bytes::from(bytes).slice(..half))
        }
        Some(FaultKind::Empty) => bytes_response(status, Bytes::new()),
        Some(FaultKind::WrongTypes) => json_response(status, &wrong_types(body, None)),
        Some(FaultKind::Huge) => huge_response(status),
        Some(FaultKind::ControlCharactersInNames) => json_response(status, &with_control_characters(body, None)),
        _ => json_response(status, &body),
    };
    for (name, value) in headers {
        resp.headers_mut().insert(name, value);
    }
    resp
}

/// Keeps the shape, breaks the types: numbers and booleans become strings, and timestamps,
/// ids and messages that should be strings become numbers.
fn wrong_types(value: Value, key: Option<&str>) -> Value {
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::String(s) => match key {
            Some("expires_at" | "issued_at" | "task_id" | "job_id" | "instance_id") => json!(12345),
            _ => Value::String(s),
        },
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| wrong_types(v, None)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = wrong_types(v, Some(&k));
                    (k, v)
                })
                .collect(),
        ),
        Value::Null => Value::Null,
    }
}

/// Appends [`CONTROL_CHARACTERS`] to every name of `value` (a string under a key ending in
/// `name`, or `unavailable_reason`), wherever it sits.
fn with_control_characters(value: Value, key: Option<&str>) -> Value {
    match value {
        Value::String(s)
            if key.is_some_and(|k| k.ends_with("name") || k == "unavailable_reason") =>
        {
            Value::String(format!("{s}{CONTROL_CHARACTERS}"))
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| with_control_characters(v, None))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = with_control_characters(v, Some(&k));
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

/// About 50 MB of valid-looking JSON, streamed from one static chunk so that concurrent huge
/// answers cost no memory.
fn huge_response(status: StatusCode) -> Response {
    static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];
    const CHUNKS: usize = 800;
    let head = Bytes::from_static(br#"{"error_code":"0","error_msg":"ok","data":{"padding":""#);
    let tail = Bytes::from_static(br#""}}"#);
    let len = head.len() + CHUNKS * CHUNK.len() + tail.len();
    let parts = std::iter::once(head)
        .chain(std::iter::repeat_n(Bytes::from_static(&CHUNK), CHUNKS))
        .chain(std::iter::once(tail))
        .map(Ok::<Bytes, std::io::Error>);
    let mut resp = Response::new(Body::from_stream(futures::stream::iter(parts)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}
