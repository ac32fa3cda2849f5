//! The upstream HTTP client: one connection pool and one in-flight limit per cloud, request ids,
//! authentication, retries within the scrape deadline, body size limits, and the
//! `huaweicloud_api_*` metrics for every call. One file per service holds its typed calls.
//!
//! Boundaries held here for every service: redirects are never followed (a 3xx is
//! [`ErrorKind::Redirect`], and the log names only the `Location` host), so credentials go
//! only to the configured endpoint; a service with a documented [`Budget`] has one sliding
//! window per cloud that every call (retries included) draws on; [`drop_duplicates`] is the
//! one rule for repeated rows of a list.

pub mod auth;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::config::{AuthConfig, CloudConfig, Endpoints};
use crate::metrics::SelfMetrics;
use crate::transport::auth::token::TokenProvider;

/// Largest upstream body accepted; a larger one fails the call, not the process.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Attempts of one idempotent call (first try included) while the deadline allows.
const MAX_ATTEMPTS: u32 = 3;

/// One upstream API operation: its service, its metric label and whether it may be retried.
#[derive(Debug)]
pub struct Operation {
    /// `service` label.
    pub service: &'static str,
    /// `operation` label.
    pub name: &'static str,
    /// Reads are retried on 5xx, 429 and transport errors; writes are not.
    pub idempotent: bool,
    /// KooPhone: a fresh `x-request-id` is required and errors come inside HTTP 200.
    pub koophone: bool,
    /// The service's documented call budget, shared by every call of the service on one
    /// cloud ([`CloudClient`] holds one window per service); `None` when it documents none.
    pub budget: Option<Budget>,
}

/// A call budget: at most `calls` calls in any window of `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Calls allowed in one window.
    pub calls: usize,
    /// The window.
    pub per: Duration,
}

/// A sliding window of the calls made against one [`Budget`]: any `per` holds at most
/// `calls` calls, however many collectors, instances, scrapes and pages ask.
#[derive(Debug, Default)]
pub struct BudgetWindow {
    /// When each call of the last `per` was let through, oldest first (at most `calls`).
    sent: std::collections::VecDeque<Instant>,
}

impl BudgetWindow {
    /// Lets one call through now, or says how long until one may go.
    pub fn try_acquire(&mut self, budget: Budget, now: Instant) -> Result<(), Duration> {
        while let Some(first) = self.sent.front() {
            if now.saturating_duration_since(*first) >= budget.per {
                self.sent.pop_front();
            } else {
                break;
            }
        }
        if self.sent.len() >= budget.calls {
            let wait = self
                .sent
                .front()
                .map(|first| {
                    budget
                        .per
                        .saturating_sub(now.saturating_duration_since(*first))
                })
                .unwrap_or(budget.per);
            return Err(wait);
        }
        self.sent.push_back(now);
        Ok(())
    }

    /// Calls that may go now without waiting (nothing is taken).
    pub fn available(&mut self, budget: Budget, now: Instant) -> usize {
        while let Some(first) = self.sent.front() {
            if now.saturating_duration_since(*first) >= budget.per {
                self.sent.pop_front();
            } else {
                break;
            }
        }
        budget.calls.saturating_sub(self.sent.len())
    }
}

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

    /// A body that is not what the API documents.
    pub fn decode(operation: &'static str, reply: &Reply, message: impl Into<String>) -> ApiError {
        ApiError {
            status: Some(reply.status),
            request_id: reply.request_id.clone(),
            ..ApiError::new(ErrorKind::DecodeError, operation, message)
        }
    }

    fn retryable(&self) -> bool {
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

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status (2xx).
    pub status: u16,
    /// The raw body, at most [`MAX_BODY_BYTES`].
    pub body: Bytes,
    /// Upstream request id, or the one we sent.
    pub request_id: Option<String>,
    /// Response headers (IAM puts the token in one).
    pub headers: HeaderMap,
}

/// Decodes JSON, naming the field path of any mismatch and never echoing more than a little of
/// the body.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("empty body".into());
    }
    // Fast path: most bodies decode; tracking the field path costs on every field, so it is
    // paid only to explain a wrong type or a missing field (decoding again gives the same error,
    // now with its path). Broken JSON (syntax, truncation) has no meaningful field path.
    // (No check for trailing bytes, as before: a complete document followed by junk decodes.)
    match T::deserialize(&mut serde_json::Deserializer::from_slice(body)) {
        Ok(v) => return Ok(v),
        Err(e) if e.is_eof() => {
            let mut msg = e.to_string();
            truncate(&mut msg, 200);
            return Err(format!("truncated JSON: {msg}"));
        }
        Err(e) if e.is_syntax() || e.is_io() => {
            let mut msg = e.to_string();
            truncate(&mut msg, 200);
            return Err(format!("malformed JSON: {msg}"));
        }
        Err(_) => {}
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let mut msg = e.into_inner().to_string();
        truncate(&mut msg, 200);
        if path == "." {
            format!("unexpected JSON: {msg}")
        } else {
            format!("at {path}: {msg}")
        }
    })
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
}

/// The documented service error body.
#[derive(Deserialize, Default)]
struct ErrorBody {
    /// DDM's current pages spell it `errCode`.
    #[serde(default, alias = "errCode")]
    error_code: Option<String>,
    /// DDM's current pages spell it `externalMessage`.
    #[serde(default, alias = "externalMessage")]
    error_msg: Option<String>,
    /// IAM's shape: `{"error": {"code", "message", "title"}}`.
    #[serde(default)]
    error: Option<IamError>,
}

#[derive(Deserialize, Default)]
struct IamError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

/// Why an answered call's body is not a success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not what the API documents (malformed, truncated, wrong types, missing fields).
    #[error("{0}")]
    Decode(String),
    /// A well-formed answer that says failure (KooPhone `error_code` other than "0").
    #[error("{code}: {message}")]
    Api {
        /// The service's `error_code`.
        code: String,
        /// The service's `error_msg`.
        message: String,
    },
}

impl From<String> for BodyError {
    fn from(m: String) -> Self {
        BodyError::Decode(m)
    }
}

/// A request to send: operation, method, URL and optional JSON body.
#[derive(Debug)]
pub struct Request {
    /// Which operation this is.
    pub op: &'static Operation,
    /// HTTP method.
    pub method: Method,
    /// Service base URL (from [`Endpoints`]).
    pub base: String,
    /// Path, already percent-encoded where needed.
    pub path: String,
    /// Query pairs, unencoded.
    pub query: Vec<(String, String)>,
    /// JSON body, if any.
    pub body: Option<Vec<u8>>,
}

/// Single-attempt sender shared by the API client and the token provider: one pool, one limit,
/// one place where calls are counted and timed.
pub struct Transport {
    /// `cloud` label.
    pub cloud: String,
    http: reqwest::Client,
    limiter: Arc<Semaphore>,
    metrics: SelfMetrics,
    /// One window per service that has a [`Budget`], for every call of this cloud.
    budgets: std::sync::Mutex<std::collections::HashMap<&'static str, BudgetWindow>>,
}

impl Transport {
    /// A pool and a limiter for one cloud.
    pub fn new(
        cloud: &str,
        max_concurrency: usize,
        metrics: SelfMetrics,
    ) -> Result<Transport, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("huaweicloud-exporter/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(max_concurrency)
            .pool_idle_timeout(Duration::from_secs(90))
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            // A redirect would carry `X-Auth-Token`, a signature or the IAM password body to
            // whatever host `Location` names: a 3xx is an error for that call instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Transport {
            cloud: cloud.to_string(),
            http,
            limiter: Arc::new(Semaphore::new(max_concurrency)),
            metrics,
            budgets: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Calls `op`'s budget lets through now on this cloud (`None`: it has no budget), so a
    /// collector can spread its calls instead of being refused mid-listing.
    pub fn budget_available(&self, op: &Operation) -> Option<usize> {
        let budget = op.budget?;
        let mut windows = match self.budgets.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        Some(
            windows
                .entry(op.service)
                .or_default()
                .available(budget, Instant::now()),
        )
    }

    /// Sends once, reads the body within the limit, counts and times the call, and classifies the
    /// answer. `headers` are added as given (auth included).
    pub async fn execute(
        &self,
        req: &Request,
        url: &str,
        headers: HeaderMap,
        deadline: Instant,
    ) -> Result<Reply, ApiError> {
        let started = std::time::Instant::now();
        let result = self.execute_once(req, url, headers, deadline).await;
        crate::debug_log::upstream_call(req, url, &result, started.elapsed());
        result
    }

    async fn execute_once(
        &self,
        req: &Request,
        url: &str,
        headers: HeaderMap,
        deadline: Instant,
    ) -> Result<Reply, ApiError> {
        let op = req.op;
        if let Some(budget) = op.budget {
            let mut windows = match self.budgets.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let window = windows.entry(op.service).or_default();
            if let Err(wait) = window.try_acquire(budget, Instant::now()) {
                return Err(ApiError::new(
                    ErrorKind::LimitExceeded,
                    op.name,
                    format!(
                        "call not sent: the {} budget of {} calls per {}s for this cloud is used up; the next call may go in {:.0}s",
                        op.service,
                        budget.calls,
                        budget.per.as_secs(),
                        wait.as_secs_f64().ceil()
                    ),
                ));
            }
        }
        let sent_id = if op.koophone {
            // An operation that carries its id in the query (the listing) sends the same one.
            Some(
                req.query
                    .iter()
                    .find(|(k, _)| k == "x-request-id")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(new_request_id),
            )
        } else {
            None
        };
        let permit = match tokio::time::timeout_at(deadline, self.limiter.acquire()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => {
                return Err(ApiError::new(
                    ErrorKind::TransportError,
                    op.name,
                    "client is shutting down",
                ))
            }
            Err(_) => return Err(self.count(
                op,
                ApiError::new(
                    ErrorKind::Timeout,
                    op.name,
                    "deadline passed while waiting for a free connection slot (max_concurrency)",
                ),
            )),
        };
        let started = std::time::Instant::now();
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(self.count(
                op,
                ApiError::new(
                    ErrorKind::Timeout,
                    op.name,
                    "deadline passed before the call",
                ),
            ));
        }
        let has_content_type = headers.contains_key(CONTENT_TYPE);
        let mut builder = self
            .http
            .request(req.method.clone(), url)
            .headers(headers)
            .timeout(remaining);
        if let Some(id) = &sent_id {
            builder = builder.header("x-request-id", id);
        }
        if let Some(body) = &req.body {
            if !has_content_type {
                builder = builder.header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/json;charset=UTF-8"),
                );
            }
            builder = builder.body(body.clone());
        }
        let result = tokio::time::timeout_at(deadline, async {
            let resp = builder.send().await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = read_limited(resp).await?;
            Ok::<_, ReadError>((status, headers, body))
        })
        .await;
        drop(permit);
        let elapsed = started.elapsed();
        self.metrics
            .api_duration
            .with_label_values(&[&self.cloud, op.service, op.name])
            .observe(elapsed.as_secs_f64());
        let (status, headers, body) = match result {
            Err(_) => {
                let mut e = ApiError::new(
                    ErrorKind::Timeout,
                    op.name,
                    format!(
                        "no answer within the scrape deadline ({:.1}s)",
                        elapsed.as_secs_f64()
                    ),
                );
                e.request_id = sent_id;
                return Err(self.count(op, e));
            }
            Ok(Err(ReadError::TooLarge)) => {
                let mut e = ApiError::new(
                    ErrorKind::DecodeError,
                    op.name,
                    format!("response body larger than {MAX_BODY_BYTES} bytes; refused"),
                );
                e.request_id = sent_id;
                return Err(self.count(op, e));
            }
            Ok(Err(ReadError::Http(err))) => {
                let kind = if err.is_timeout() {
                    ErrorKind::Timeout
                } else if err.is_decode() || err.is_body() {
                    ErrorKind::DecodeError
                } else {
                    ErrorKind::TransportError
                };
                let mut e = ApiError::new(kind, op.name, describe_reqwest(&err));
                e.request_id = sent_id;
                return Err(self.count(op, e));
            }
            Ok(Ok(x)) => x,
        };
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or(sent_id);
        let reply = Reply {
            status: status.as_u16(),
            body,
            request_id,
            headers,
        };
        match classify(op, status, &reply) {
            // Counted by the caller once the body has decoded (or failed to).
            Ok(()) => Ok(reply),
            Err(e) => Err(self.count(op, e)),
        }
    }

    /// Counts an answered call whose body was then decoded: `ok`, or `decode_error`.
    pub fn record_decoded<T>(
        &self,
        op: &Operation,
        decoded: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        match decoded {
            Ok(v) => {
                self.metrics
                    .api_requests
                    .with_label_values(&[&self.cloud, op.service, op.name, "ok"])
                    .inc();
                Ok(v)
            }
            Err(e) => Err(self.count(op, e)),
        }
    }

    fn count(&self, op: &Operation, e: ApiError) -> ApiError {
        self.metrics
            .api_requests
            .with_label_values(&[&self.cloud, op.service, op.name, e.kind.result()])
            .inc();
        e
    }
}

/// Why reading an answer failed.
enum ReadError {
    TooLarge,
    Http(reqwest::Error),
}

impl From<reqwest::Error> for ReadError {
    fn from(e: reqwest::Error) -> Self {
        ReadError::Http(e)
    }
}

async fn read_limited(mut resp: reqwest::Response) -> Result<Bytes, ReadError> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp.chunk().await? {
        if buf.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ReadError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn describe_reqwest(err: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    // reqwest puts the URL in its message; URLs carry no secrets here, but keep lines short.
    truncate(&mut msg, 300);
    msg
}

/// Turns an HTTP answer into success or a classified error.
fn classify(op: &'static Operation, status: StatusCode, reply: &Reply) -> Result<(), ApiError> {
    let base = |kind: ErrorKind| ApiError {
        kind,
        operation: op.name,
        status: Some(status.as_u16()),
        code: None,
        message: String::new(),
        request_id: reply.request_id.clone(),
        retry_after: None,
    };
    if status.is_success() {
        // KooPhone's `error_code` inside a 200 is read with the payload, in one pass
        // (see `koophone::parse_answer`).
        return Ok(());
    }
    if status.is_redirection() {
        let mut e = base(ErrorKind::Redirect);
        e.message = format!(
            "redirected to {}; redirects are never followed (credentials go only to the configured endpoint)",
            location_host(&reply.headers)
        );
        return Err(e);
    }
    let kind = match status.as_u16() {
        429 => ErrorKind::Throttled,
        401 => ErrorKind::Unauthorized,
        500..=599 => ErrorKind::ServerError,
        _ => ErrorKind::ClientError,
    };
    let mut e = base(kind);
    let body: ErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
    e.code = body.error_code;
    e.message = body
        .error_msg
        .or_else(|| {
            body.error
                .map(|i| i.message.or(i.title).unwrap_or_default())
        })
        .unwrap_or_else(|| {
            if reply.body.is_empty() {
                String::new()
            } else {
                "(body is not the documented error JSON)".to_string()
            }
        });
    truncate(&mut e.message, 200);
    e.retry_after = reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    Err(e)
}

/// The host a 3xx's `Location` names, for the log line: bounded, only the characters a host
/// name or address holds, never the path or query (they may carry anything). A relative
/// `Location` names the same host.
pub fn location_host(headers: &HeaderMap) -> String {
    let Some(raw) = headers.get(reqwest::header::LOCATION) else {
        return "no Location header".into();
    };
    let Ok(text) = raw.to_str() else {
        return "a Location that is not text".into();
    };
    let text = text.trim();
    if !text.contains("://") && !text.starts_with("//") {
        return "a relative Location on the same host".into();
    }
    let url = if text.starts_with("//") {
        reqwest::Url::parse(&format!("http:{text}"))
    } else {
        reqwest::Url::parse(text)
    };
    match url.ok().and_then(|u| {
        let host = u.host_str()?.to_string();
        Some(match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        })
    }) {
        Some(host) => {
            let mut clean: String = host
                .chars()
                .filter(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_')
                })
                .collect();
            truncate(&mut clean, 100);
            format!("host {clean:?}")
        }
        None => "a Location that is not a URL".into(),
    }
}

/// Drops every row whose key was seen before, the first one winning; returns the rows kept
/// and how many were dropped. For every list an API answers (DDM targets, KooPhone rows, job
/// rows): a duplicate would be a duplicate series, which Prometheus rejects.
pub fn drop_duplicates<T, F>(rows: Vec<T>, key: F) -> (Vec<T>, usize)
where
    F: for<'a> Fn(&'a T) -> &'a str,
{
    let keep: Vec<bool> = {
        let mut seen = std::collections::HashSet::with_capacity(rows.len());
        rows.iter().map(|r| seen.insert(key(r))).collect()
    };
    let before = rows.len();
    let kept: Vec<T> = rows
        .into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect();
    let dropped = before - kept.len();
    (kept, dropped)
}

/// A fresh request id: 32 lowercase hex characters.
pub fn new_request_id() -> String {
    let v: u128 = rand::thread_rng().gen();
    format!("{v:032x}")
}

/// How a cloud's calls authenticate.
enum Auth {
    /// A token from IAM (or a fixed one).
    Token(Arc<TokenProvider>),
    /// AK/SK signing.
    Aksk {
        access_key: String,
        secret_key: SecretString,
    },
}

/// Typed access to one cloud's APIs.
pub struct CloudClient {
    /// `cloud` label.
    pub cloud: String,
    /// Project the DCS/DDM paths carry.
    pub project_id: String,
    /// Service base URLs.
    pub endpoints: Endpoints,
    transport: Arc<Transport>,
    auth: Auth,
}

impl CloudClient {
    /// A client for `cfg`, recording into `metrics`.
    pub fn new(
        cfg: &CloudConfig,
        max_concurrency: usize,
        metrics: SelfMetrics,
    ) -> Result<CloudClient, reqwest::Error> {
        let transport = Arc::new(Transport::new(&cfg.name, max_concurrency, metrics.clone())?);
        let auth = match &cfg.auth {
            AuthConfig::Password {
                domain,
                user,
                password,
            } => Auth::Token(Arc::new(TokenProvider::password(
                transport.clone(),
                &cfg.endpoints.iam,
                domain,
                user,
                password.clone(),
                &cfg.project_id,
                metrics,
            ))),
            AuthConfig::Token { value } => Auth::Token(Arc::new(TokenProvider::fixed(
                &cfg.name,
                value.clone(),
                metrics,
            ))),
            AuthConfig::Aksk {
                access_key,
                secret_key,
            } => Auth::Aksk {
                access_key: access_key.clone(),
                secret_key: secret_key.clone(),
            },
        };
        Ok(CloudClient {
            cloud: cfg.name.clone(),
            project_id: cfg.project_id.clone(),
            endpoints: cfg.endpoints.clone(),
            transport,
            auth,
        })
    }

    /// Sends `req` and decodes the answer with `parse`; the call is counted `ok` only when the
    /// body decoded, `decode_error` when it did not.
    pub async fn call<T, E: Into<BodyError>>(
        &self,
        req: &Request,
        deadline: Instant,
        parse: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<T, ApiError> {
        self.call_with_id(req, deadline, parse)
            .await
            .map(|(v, _)| v)
    }

    /// [`call`](Self::call), also returning the answer's request id (for log lines about
    /// what the answer held).
    pub async fn call_with_id<T, E: Into<BodyError>>(
        &self,
        req: &Request,
        deadline: Instant,
        parse: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<(T, Option<String>), ApiError> {
        let reply = self.send(req, deadline).await?;
        let decoded = parse(&reply.body).map_err(|e| match e.into() {
            BodyError::Decode(m) => ApiError::decode(req.op.name, &reply, m),
            BodyError::Api { code, mut message } => {
                truncate(&mut message, 200);
                ApiError {
                    kind: ErrorKind::ApiError,
                    operation: req.op.name,
                    status: Some(reply.status),
                    code: Some(code),
                    message,
                    request_id: reply.request_id.clone(),
                    retry_after: None,
                }
            }
        });
        if let Err(e) = &decoded {
            crate::debug_log::answer_refused(e);
        }
        self.transport
            .record_decoded(req.op, decoded)
            .map(|v| (v, reply.request_id))
    }

    /// Sends `req` with auth (the answer is not yet counted: see [`call`](Self::call)), retrying idempotent reads on 5xx/429/transport errors with jittered
    /// exponential backoff (honouring `Retry-After`) while the deadline allows, and retrying once
    /// with a new token after a 401 `APIG(W).0301`.
    pub async fn send(&self, req: &Request, deadline: Instant) -> Result<Reply, ApiError> {
        let url = build_url(&req.base, &req.path, &req.query);
        let mut attempt = 0u32;
        let mut renewed_token = false;
        loop {
            attempt += 1;
            let (headers, generation, signed_url) = self.auth_headers(req, deadline).await?;
            let target = signed_url.as_deref().unwrap_or(&url);
            let err = match self.transport.execute(req, target, headers, deadline).await {
                Ok(reply) => return Ok(reply),
                Err(e) => e,
            };
            if err.is_bad_credentials() && !renewed_token {
                if let (Auth::Token(p), Some(g)) = (&self.auth, generation) {
                    if p.can_renew() {
                        renewed_token = true;
                        let wait = p.refuse(g).await;
                        let request_id = err.request_id.as_deref().unwrap_or("-");
                        if wait.is_zero() {
                            tracing::info!(cloud = %self.cloud, request_id, error = %err, "token refused; fetching a new one and retrying once");
                        } else {
                            tracing::warn!(cloud = %self.cloud, request_id, error = %err, next_iam_request_in_s = wait.as_secs(), "token refused, but IAM was asked less than 30 s ago; retrying once with the same token");
                        }
                        continue;
                    }
                }
            }
            if !(req.op.idempotent && err.retryable()) || attempt >= MAX_ATTEMPTS {
                return Err(err);
            }
            let backoff = backoff(attempt, err.retry_after);
            if Instant::now() + backoff >= deadline {
                return Err(err);
            }
            tracing::debug!(cloud = %self.cloud, error = %err, backoff_ms = backoff.as_millis() as u64, "retrying");
            tokio::time::sleep(backoff).await;
        }
    }

    /// Auth headers for one attempt, the token generation they carry, and for AK/SK the URL to
    /// send to (its query exactly as signed).
    async fn auth_headers(
        &self,
        req: &Request,
        deadline: Instant,
    ) -> Result<(HeaderMap, Option<u64>, Option<String>), ApiError> {
        match &self.auth {
            Auth::Token(p) => {
                let (token, generation) = p.token(deadline).await?;
                let mut v = HeaderValue::from_str(token.expose_secret()).map_err(|_| {
                    ApiError::new(
                        ErrorKind::Unauthorized,
                        req.op.name,
                        "the token contains characters not allowed in a header",
                    )
                })?;
                v.set_sensitive(true);
                let mut headers = HeaderMap::new();
                headers.insert("x-auth-token", v);
                Ok((headers, Some(generation), None))
            }
            Auth::Aksk {
                access_key,
                secret_key,
            } => {
                let (signed, url) = crate::transport::auth::sign_request(
                    req,
                    &self.project_id,
                    access_key,
                    secret_key,
                    std::time::SystemTime::now(),
                )
                .map_err(|m| ApiError::new(ErrorKind::Unauthorized, req.op.name, m))?;
                Ok((signed, None, Some(url)))
            }
        }
    }

    /// Calls `op`'s budget lets through now (see [`Transport::budget_available`]).
    pub fn budget_available(&self, op: &Operation) -> Option<usize> {
        self.transport.budget_available(op)
    }

    /// The token provider, for the expiry metric and tests.
    pub fn token_provider(&self) -> Option<&Arc<TokenProvider>> {
        match &self.auth {
            Auth::Token(p) => Some(p),
            Auth::Aksk { .. } => None,
        }
    }
}

/// Jittered exponential backoff: 100 ms × 2^(attempt-1) × [0.5, 1), at most 2 s, or the
/// service's `Retry-After` when it asked for longer.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let base = Duration::from_millis(100u64 << (attempt - 1).min(5));
    let jitter: f64 = rand::thread_rng().gen_range(0.5..1.0);
    let computed = base.mul_f64(jitter).min(Duration::from_secs(2));
    match retry_after {
        Some(ra) if ra > computed => ra,
        _ => computed,
    }
}

/// Characters left bare in a query component (RFC 3986 unreserved).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `base` + `path` + `?` + query pairs sorted by key then value (the order AK/SK signing uses,
/// so what is sent is what was signed).
pub fn build_url(base: &str, path: &str, query: &[(String, String)]) -> String {
    let mut url = format!("{}{}", base.trim_end_matches('/'), path);
    if !query.is_empty() {
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (encode_component(k), encode_component(v)))
            .collect();
        pairs.sort();
        url.push('?');
        let q: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        url.push_str(&q.join("&"));
    }
    url
}

#[cfg(test)]
mod decode_tests {
    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Doc {
        a: Vec<u32>,
    }

    #[test]
    fn decode_json_names_the_path_of_wrong_types_only() {
        assert_eq!(
            decode_json::<Doc>(br#"{"a":[1,2]}"#),
            Ok(Doc { a: vec![1, 2] })
        );
        assert_eq!(
            decode_json::<Doc>(br#"{"a":[1,"x"]}"#).unwrap_err(),
            "at a[1]: invalid type: string \"x\", expected u32 at line 1 column 11"
        );
        assert_eq!(
            decode_json::<Doc>(br#"{"a":[1,2]"#).unwrap_err(),
            "truncated JSON: EOF while parsing an object at line 1 column 10"
        );
        assert!(decode_json::<Doc>(br#"{"a":[1,}"#)
            .unwrap_err()
            .starts_with("malformed JSON: "));
        assert_eq!(decode_json::<Doc>(b" \n").unwrap_err(), "empty body");
        // A complete document followed by junk decodes, as it always has.
        assert_eq!(
            decode_json::<Doc>(br#"{"a":[]} junk"#),
            Ok(Doc { a: vec![] })
        );
    }
}

#[cfg(test)]
mod boundary_tests {
    use super::*;

    fn with_location(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::LOCATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn the_location_host_is_named_never_its_path_or_query() {
        assert_eq!(
            location_host(&with_location(
                "https://evil.example.com:8443/v3/auth/tokens?token=abc"
            )),
            "host \"evil.example.com:8443\""
        );
        assert_eq!(
            location_host(&with_location("//other.example/x?y")),
            "host \"other.example\""
        );
        assert_eq!(
            location_host(&with_location("/v2/elsewhere?secret=1")),
            "a relative Location on the same host"
        );
        assert_eq!(
            location_host(&with_location("http://user:pw@[::1]:9/")),
            "host \"[::1]:9\""
        );
        assert_eq!(location_host(&HeaderMap::new()), "no Location header");
        let long = format!("http://{}.example/", "a".repeat(300));
        let named = location_host(&with_location(&long));
        assert!(named.len() < 120, "{named}");
        assert_eq!(
            location_host(&with_location("http://%zz/")),
            "a Location that is not a URL"
        );
    }

    #[test]
    fn a_budget_window_lets_through_at_most_its_calls_in_any_window() {
        let budget = Budget {
            calls: 60,
            per: Duration::from_secs(60),
        };
        let mut w = BudgetWindow::default();
        let t0 = Instant::now();
        for i in 0..60 {
            assert!(w
                .try_acquire(budget, t0 + Duration::from_millis(i * 10))
                .is_ok());
        }
        let wait = w
            .try_acquire(budget, t0 + Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(59));
        assert!(w
            .try_acquire(budget, t0 + Duration::from_millis(59_999))
            .is_err());
        // The first call leaves the window at 60 s; the second at 60.01 s.
        assert!(w.try_acquire(budget, t0 + Duration::from_secs(60)).is_ok());
        assert!(w.try_acquire(budget, t0 + Duration::from_secs(60)).is_err());
        assert!(w
            .try_acquire(budget, t0 + Duration::from_millis(60_010))
            .is_ok());
    }

    #[test]
    fn duplicates_are_dropped_and_the_first_wins() {
        let rows = vec![("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)];
        let (kept, dropped) = drop_duplicates(rows, |r| r.0);
        assert_eq!(kept, vec![("a", 1), ("b", 2), ("c", 4)]);
        assert_eq!(dropped, 2);
        let (kept, dropped) = drop_duplicates(Vec::<(&str, u8)>::new(), |r| r.0);
        assert!(kept.is_empty() && dropped == 0);
    }

    #[test]
    fn a_3xx_is_a_redirect_error() {
        let reply = Reply {
            status: 307,
            body: Bytes::new(),
            request_id: Some("r".into()),
            headers: with_location("http://other.example/x"),
        };
        const READ: Operation = Operation {
            service: "svc",
            name: "Read",
            idempotent: true,
            koophone: false,
            budget: None,
        };
        let e = classify(&READ, StatusCode::TEMPORARY_REDIRECT, &reply).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Redirect);
        assert_eq!(e.kind.result(), "redirect");
        assert!(!e.retryable());
        assert!(e.message.contains("other.example"), "{e}");
    }
}
