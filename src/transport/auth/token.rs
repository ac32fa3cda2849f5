//! The IAM token provider: fetches a project-scoped token with the password method, caches it
//! until shortly before `expires_at`, lets exactly one request go to IAM however many callers
//! need a token at once (single flight), and backs off after failures so a wrong password never
//! turns into a loop of IAM calls.
//!
//! Whatever IAM answers, this cloud makes at most one token request per
//! [`MIN_REQUEST_INTERVAL`] (30 s), backoff included: an `expires_at` in the past (1970, or a
//! clock far ahead of IAM's) is warned about once and the token is kept until a call is refused
//! with a 401; a 401 within 30 s of the last token request is retried once with the same token
//! rather than with a new one.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::metrics::SelfMetrics;
use crate::sync::{spawn_flight, Flight};
use crate::transport::body::decode_json;
use crate::transport::http::Transport;
use crate::transport::request::{Operation, Reply, Request};
use crate::upstream::{ApiError, ErrorKind};

/// The IAM token operation.
pub static IAM_TOKEN: Operation = Operation {
    service: "iam",
    name: "iam_token",
    idempotent: false,
    sends_request_id: false,
    budget: None,
    // Getting a token of one's own needs no permission.
    iam: None,
};

/// Refresh ahead: when less than this much of the token's life is left...
const REFRESH_AHEAD_MAX: Duration = Duration::from_secs(3600);
/// ...or less than this fraction of it, whichever is shorter.
const REFRESH_AHEAD_FRACTION: f64 = 0.1;
/// At most one IAM token request per cloud in this interval, whatever the answers, refusals
/// and backoff say.
pub const MIN_REQUEST_INTERVAL: Duration = Duration::from_secs(30);
/// First wait after a failed token request; doubles up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = MIN_REQUEST_INTERVAL;
/// How long IAM tokens live (DESIGN.md), assumed when an answer does not say.
const DOCUMENTED_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// A token request is given at least this long, whatever the deadline of the caller that happens
/// to make it: a caller with a tiny deadline (a scrape-timeout header of 4 ms) would otherwise
/// time the one request out and put every caller of the cloud into backoff. That caller still
/// stops waiting at its own deadline; the request itself runs on (it is spawned), and its answer
/// goes to the next caller.
const FETCH_TIME_FLOOR: Duration = Duration::from_secs(3);
/// Longest wait between failed token requests (an AK/SK locks for 5 minutes after 5 bad tries).
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Where tokens come from.
enum TokenSource {
    /// IAM password flow.
    Password(Arc<Password>),
    /// A fixed token from config: never refreshed.
    Fixed(SecretString),
}

/// What a password-flow token request needs; shared with the spawned request.
struct Password {
    /// `cloud` label, for log lines.
    cloud: String,
    /// Where the request goes out (counted and timed like every call).
    transport: Arc<Transport>,
    /// IAM base URL, without a trailing `/`.
    iam: String,
    /// The account (domain) name.
    domain: String,
    /// The IAM user name.
    user: String,
    /// The user's password.
    password: SecretString,
    /// The project the token is scoped to.
    project_id: String,
}

/// A token request's answer: the token, its believed expiry, the answer's request id.
type TokenFetch = Result<(SecretString, Option<SystemTime>, Option<String>), ApiError>;
/// The token request in flight, awaited by whoever holds the state lock.
type PendingFetch = Flight<TokenFetch>;

struct Cached {
    /// The token.
    value: SecretString,
    /// `None` when IAM did not give a believable one: kept until refused.
    expires_at: Option<SystemTime>,
    /// When to ask for the next one (ahead of `expires_at`).
    refresh_at: Option<SystemTime>,
    /// Which fetch it came from (a refusal names the generation it was refused with).
    generation: u64,
    /// A call was refused with it (401): replaced as soon as IAM may be asked again.
    refused: bool,
}

#[derive(Default)]
struct TokenState {
    /// The token held, if any.
    current: Option<Cached>,
    /// Generation of the last token fetched.
    generation: u64,
    /// Token requests failed in a row (the backoff doubles with each).
    failures: u32,
    /// Not before this after a failure (backoff).
    next_try: Option<Instant>,
    /// Why the last token request failed, served while backing off.
    last_error: Option<ApiError>,
    /// When IAM was last asked for a token (the [`MIN_REQUEST_INTERVAL`] counts from here).
    last_request: Option<Instant>,
    /// The clock warning is logged once per provider.
    clock_warned: bool,
    /// The token request in flight, if its caller stopped waiting before it answered.
    pending: Option<PendingFetch>,
}

impl TokenState {
    /// When IAM may be asked next: [`MIN_REQUEST_INTERVAL`] after the last request, later
    /// while backing off after failures.
    fn next_request(&self) -> Option<Instant> {
        let floor = self.last_request.map(|t| t + MIN_REQUEST_INTERVAL);
        match (floor, self.next_try) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Hands out a valid token for one cloud.
pub struct TokenProvider {
    /// `cloud` label.
    cloud: String,
    /// Where tokens come from.
    source: TokenSource,
    /// Where token requests and the expiry are recorded.
    metrics: SelfMetrics,
    /// An async lock: held across the wait for the request in flight, so callers queue behind
    /// the one that started it instead of each asking IAM.
    state: Mutex<TokenState>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("cloud", &self.cloud)
            .finish_non_exhaustive()
    }
}

/// IAM's token answer body (the token itself is in `X-Subject-Token`).
#[derive(Deserialize)]
struct TokenBody {
    /// `token`.
    token: TokenInfo,
}

/// The part of `token` that is read.
#[derive(Deserialize)]
struct TokenInfo {
    /// RFC 3339.
    #[serde(default)]
    expires_at: Option<String>,
}

impl TokenProvider {
    /// Password flow against `iam`.
    pub fn password(
        transport: Arc<Transport>,
        iam: &str,
        domain: &str,
        user: &str,
        password: SecretString,
        project_id: &str,
        metrics: SelfMetrics,
    ) -> TokenProvider {
        TokenProvider {
            cloud: transport.cloud.clone(),
            source: TokenSource::Password(Arc::new(Password {
                cloud: transport.cloud.clone(),
                transport,
                iam: iam.trim_end_matches('/').to_string(),
                domain: domain.to_string(),
                user: user.to_string(),
                password,
                project_id: project_id.to_string(),
            })),
            metrics,
            state: Mutex::new(TokenState::default()),
        }
    }

    /// A fixed token.
    pub fn fixed(cloud: &str, token: SecretString, metrics: SelfMetrics) -> TokenProvider {
        TokenProvider {
            cloud: cloud.to_string(),
            source: TokenSource::Fixed(token),
            metrics,
            state: Mutex::new(TokenState::default()),
        }
    }

    /// Whether a refused token can be replaced by asking IAM again.
    pub fn can_renew(&self) -> bool {
        matches!(self.source, TokenSource::Password(_))
    }

    /// A token valid now, and its generation (pass it to [`refuse`](Self::refuse)).
    /// Fetches one if none is cached or the cached one is due for refresh; concurrent callers
    /// wait for that one fetch.
    pub async fn token(&self, deadline: Instant) -> Result<(SecretString, u64), ApiError> {
        let pw = match &self.source {
            TokenSource::Fixed(t) => return Ok((t.clone(), 0)),
            TokenSource::Password(pw) => pw,
        };
        let mut state = match tokio::time::timeout_at(deadline, self.state.lock()).await {
            Ok(s) => s,
            Err(_) => {
                return Err(ApiError::new(
                    ErrorKind::Timeout,
                    IAM_TOKEN.name,
                    "deadline passed while waiting for the token request in flight",
                ))
            }
        };
        let now = SystemTime::now();
        let wait = state
            .next_request()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .filter(|w| !w.is_zero());
        if let Some(c) = &state.current {
            let due = c.refused || c.refresh_at.is_some_and(|r| now >= r);
            // Fresh, or due but IAM may not be asked yet: serve it (a 401 will say if it is
            // really no good; the configured host is the only one it goes to).
            if !due || wait.is_some() || (state.pending.is_some() && !c.refused) {
                return Ok((c.value.clone(), c.generation));
            }
        }
        let pending = match &state.pending {
            Some(p) => p.clone(),
            None => {
                if let Some(wait) = wait {
                    let mut e = state.last_error.clone().unwrap_or_else(|| {
                        ApiError::new(
                            ErrorKind::Unauthorized,
                            IAM_TOKEN.name,
                            "token request failed",
                        )
                    });
                    e.message = format!(
                        "{} (not asking IAM again for another {}s)",
                        e.message,
                        wait.as_secs_f64().ceil()
                    );
                    return Err(e);
                }
                state.last_request = Some(Instant::now());
                let pw = pw.clone();
                let until = deadline.max(Instant::now() + FETCH_TIME_FLOOR);
                // Spawned: the request runs to its end even if the caller that started it
                // goes away at its own (maybe tiny) deadline, so its answer serves the next
                // caller instead of being lost while the 30 s floor forbids asking again.
                let fut: PendingFetch = spawn_flight(
                    crate::debug_log::carry(async move { pw.fetch(until).await }),
                    |e| {
                        Err(ApiError::new(
                            ErrorKind::TransportError,
                            IAM_TOKEN.name,
                            format!("the token request task ended abnormally: {e}"),
                        ))
                    },
                );
                state.pending = Some(fut.clone());
                fut
            }
        };
        let fetched = match tokio::time::timeout_at(deadline, pending).await {
            Ok(r) => r,
            // The request goes on; whoever asks next takes its answer.
            Err(_) => {
                return Err(ApiError::new(
                    ErrorKind::Timeout,
                    IAM_TOKEN.name,
                    "deadline passed while waiting for the token request in flight",
                ))
            }
        };
        state.pending = None;
        match fetched {
            Ok((value, expires_at, request_id)) => {
                state.generation += 1;
                let generation = state.generation;
                // An expiry already past (1970, a skewed clock) is not believed: the token is
                // kept until a call is refused with it.
                let expires_at = match expires_at {
                    Some(exp) if exp <= now => {
                        if !state.clock_warned {
                            state.clock_warned = true;
                            tracing::warn!(
                                cloud = %self.cloud,
                                expires_at = %humantime::format_rfc3339_seconds(exp),
                                now = %humantime::format_rfc3339_seconds(now),
                                request_id = request_id.as_deref().unwrap_or("-"),
                                "IAM issued a token that expired before it arrived: this host's clock or IAM's is wrong; keeping the token until it is refused (logged once)"
                            );
                        }
                        None
                    }
                    other => other,
                };
                let refresh_at = expires_at.map(|exp| {
                    let life = exp.duration_since(now).unwrap_or_default();
                    let ahead = life.mul_f64(REFRESH_AHEAD_FRACTION).min(REFRESH_AHEAD_MAX);
                    exp - ahead
                });
                if let Some(exp) = expires_at {
                    let secs = exp
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map(|d| d.as_secs_f64())
                        .unwrap_or(0.0);
                    self.metrics
                        .token_expiry
                        .with_label_values(&[&self.cloud])
                        .set(secs);
                }
                state.current = Some(Cached {
                    value: value.clone(),
                    expires_at,
                    refresh_at,
                    generation,
                    refused: false,
                });
                state.failures = 0;
                state.next_try = None;
                state.last_error = None;
                self.count("ok");
                tracing::debug!(cloud = %self.cloud, request_id = request_id.as_deref().unwrap_or("-"), "new IAM token");
                Ok((value, generation))
            }
            Err(e) => {
                self.count(e.kind.result());
                state.failures = state.failures.saturating_add(1);
                let wait = BACKOFF_MIN
                    .saturating_mul(1 << (state.failures - 1).min(6))
                    .min(BACKOFF_MAX);
                state.next_try = Some(Instant::now() + wait);
                state.last_error = Some(e.clone());
                tracing::warn!(cloud = %self.cloud, error = %e, request_id = e.request_id.as_deref().unwrap_or("-"), retry_in_s = wait.as_secs(), "IAM token request failed");
                // Keep serving the token held, if any: a 401 says when it is really no good.
                if let Some(c) = &state.current {
                    return Ok((c.value.clone(), c.generation));
                }
                Err(e)
            }
        }
    }

    /// Marks the cached token refused if it is still generation `generation` (a call was
    /// refused with it), so the next [`token`](Self::token) fetches a new one as soon as IAM
    /// may be asked. Returns how long until then (zero: at once).
    pub async fn refuse(&self, generation: u64) -> Duration {
        let mut state = self.state.lock().await;
        if let Some(c) = state.current.as_mut() {
            if c.generation == generation {
                c.refused = true;
            }
        }
        state
            .next_request()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }

    /// Moves the provider's notion of its last IAM request `by` into the past, as if that
    /// long had gone by (tests: the 30 s floor without waiting 30 s).
    #[doc(hidden)]
    pub async fn backdate(&self, by: Duration) {
        let mut state = self.state.lock().await;
        let back = |t: Instant| t.checked_sub(by).unwrap_or(t);
        state.last_request = state.last_request.map(back);
        state.next_try = state.next_try.map(back);
    }

    /// When the cached token expires, if one is cached.
    pub async fn expires_at(&self) -> Option<SystemTime> {
        self.state
            .lock()
            .await
            .current
            .as_ref()
            .and_then(|c| c.expires_at)
    }

    fn count(&self, result: &str) {
        self.metrics
            .token_requests
            .with_label_values(&[&self.cloud, result])
            .inc();
    }
}

impl Password {
    async fn fetch(&self, deadline: Instant) -> TokenFetch {
        let Password {
            transport,
            iam,
            domain,
            user,
            password,
            project_id,
            ..
        } = self;
        let body = serde_json::json!({
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": user,
                            "password": password.expose_secret(),
                            "domain": { "name": domain }
                        }
                    }
                },
                "scope": { "project": { "id": project_id } }
            }
        });
        let req = Request {
            op: &IAM_TOKEN,
            method: Method::POST,
            base: iam.clone(),
            path: "/v3/auth/tokens".into(),
            query: Vec::new(),
            body: Some(serde_json::to_vec(&body).unwrap_or_default()),
        };
        let url = format!("{iam}/v3/auth/tokens");
        let reply = transport
            .execute(&req, &url, HeaderMap::new(), deadline)
            .await?;
        let decoded = self.decode(&reply);
        transport
            .record_decoded(&IAM_TOKEN, decoded)
            .map(|(t, e)| (t, e, reply.request_id.clone()))
    }

    /// The token (from `X-Subject-Token`) and its expiry (from the body).
    fn decode(&self, reply: &Reply) -> Result<(SecretString, Option<SystemTime>), ApiError> {
        let token = reply
            .headers
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_string()))
            .ok_or_else(|| {
                ApiError::decode(
                    IAM_TOKEN.name,
                    reply,
                    "answer has no X-Subject-Token header",
                )
            })?;
        let expiry =
            parse_expiry(&reply.body).map_err(|m| ApiError::decode(IAM_TOKEN.name, reply, m))?;
        let expires_at = match expiry {
            Ok(t) => t,
            Err(why) => {
                tracing::warn!(cloud = %self.cloud, problem = %why, "assuming the documented 24h token lifetime");
                SystemTime::now() + DOCUMENTED_LIFETIME
            }
        };
        Ok((token, Some(expires_at)))
    }
}

/// Reads `token.expires_at` from an IAM token body: `Err` when the body does not decode,
/// `Ok(Err(why))` when it decodes but carries no usable expiry, `Ok(Ok(t))` otherwise.
pub fn parse_expiry(body: &[u8]) -> Result<Result<SystemTime, String>, String> {
    let info: TokenBody = decode_json(body)?;
    Ok(match info.token.expires_at.as_deref() {
        None => Err("token.expires_at is missing".into()),
        Some(s) => humantime::parse_rfc3339_weak(s)
            .map_err(|e| format!("token.expires_at is not RFC 3339 ({e})")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_is_asked_at_most_once_per_30_s_backoff_included() {
        let mut state = TokenState::default();
        assert_eq!(state.next_request(), None, "the first request goes at once");
        let t0 = Instant::now();
        state.last_request = Some(t0);
        assert_eq!(state.next_request(), Some(t0 + MIN_REQUEST_INTERVAL));
        // A backoff shorter than the floor does not shorten it; a longer one lengthens it.
        state.next_try = Some(t0 + Duration::from_secs(5));
        assert_eq!(state.next_request(), Some(t0 + MIN_REQUEST_INTERVAL));
        state.next_try = Some(t0 + Duration::from_secs(120));
        assert_eq!(state.next_request(), Some(t0 + Duration::from_secs(120)));
        assert!(BACKOFF_MIN >= MIN_REQUEST_INTERVAL);
    }

    #[test]
    fn an_expiry_in_the_past_still_parses() {
        let t = parse_expiry(br#"{"token":{"expires_at":"1970-01-01T00:00:00.000000Z"}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(t, SystemTime::UNIX_EPOCH);
    }
}
