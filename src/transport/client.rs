//! Typed access to one cloud's APIs ([`CloudClient`]): its transport (pool, limiter, budgets),
//! how its calls authenticate (IAM token or AK/SK signature), retries within the deadline, and
//! decoding of what came back.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use crate::config::{AuthConfig, CloudConfig, Endpoints};
use crate::metrics::{bounded_id, SelfMetrics};
use crate::transport::auth::sign_request;
use crate::transport::auth::token::{whole_seconds, TokenProvider};
use crate::transport::body::BodyError;
use crate::transport::http::Transport;
use crate::transport::request::{Operation, Reply, Request};
use crate::transport::url::build_url;
use crate::upstream::{truncate, ApiError, ErrorKind};

/// Attempts of one idempotent call (first try included) while the deadline allows.
const MAX_ATTEMPTS: u32 = 3;

/// How a cloud's calls authenticate.
enum Auth {
    /// A token from IAM (or a fixed one).
    Token(Arc<TokenProvider>),
    /// AK/SK signing.
    Aksk {
        /// The access key, named in every signature.
        access_key: String,
        /// The secret key every signature is made with.
        secret_key: SecretString,
    },
}

/// Typed access to one cloud's APIs.
pub struct CloudClient {
    /// `cloud` label.
    pub cloud: String,
    /// Project the project-scoped paths carry.
    pub project_id: String,
    /// Service base URLs.
    pub endpoints: Endpoints,
    /// Where the calls go out.
    transport: Arc<Transport>,
    /// How they authenticate.
    auth: Auth,
}
impl CloudClient {
    /// A client for `cfg`, recording into `metrics`.
    pub fn new(
        cfg: &CloudConfig,
        max_concurrency: usize,
        metrics: SelfMetrics,
    ) -> Result<CloudClient, reqwest::Error> {
        let transport = Arc::new(Transport::new(
            &cfg.name,
            max_concurrency,
            &cfg.tls,
            metrics.clone(),
        )?);
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
                    // A code the decoder made up itself (`<missing error_code>`) is kept; one
                    // the answer carries is bounded like any echoed id.
                    code: Some(if code == "<missing error_code>" {
                        code
                    } else {
                        bounded_id(&code).unwrap_or_default()
                    }),
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

    /// Sends `req` with auth (the answer is not yet counted: see [`call`](Self::call)),
    /// retrying idempotent reads on 5xx/429/transport errors with jittered exponential backoff
    /// (honouring `Retry-After`) while the deadline allows, and retrying once with a new token
    /// after a 401 `APIG(W).0301` (token auth only).
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
            // A refused token is replaced and the call retried once with the replacement, at
            // once unless the token provider holds back (a refused young replacement: see
            // `TokenProvider::refuse`). Never for a signature: five bad ones in a row lock
            // the AK/SK for five minutes, and a retry would sign with the same key.
            if err.is_bad_credentials() && !renewed_token {
                if let (Auth::Token(p), Some(g)) = (&self.auth, generation) {
                    if p.can_renew() {
                        renewed_token = true;
                        let wait = p.refuse(g).await;
                        let request_id = err.request_id.as_deref().unwrap_or("-");
                        if wait.is_zero() {
                            tracing::info!(cloud = %self.cloud, request_id, error = %err, "token refused; replacing it and retrying once");
                            continue;
                        }
                        let secs = whole_seconds(wait);
                        tracing::warn!(cloud = %self.cloud, request_id, error = %err, retry_in_s = secs, "token refused; not asking IAM for a replacement for another {secs}s (a replacement issued less than 30 s ago was refused too, or token requests are failing)");
                        let mut err = err;
                        err.message = format!(
                            "{} (not asking IAM for a replacement for another {secs}s: a replacement issued less than 30 s ago was refused too, or token requests are failing)",
                            err.message
                        );
                        return Err(err);
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
                let (signed, url) = sign_request(
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
