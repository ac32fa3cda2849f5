//! The IAM token provider: fetches a project-scoped token with the password method, caches it
//! until shortly before `expires_at`, lets exactly one request go to IAM however many callers
//! need a token at once (single flight), and backs off after failures so a wrong password never
//! turns into a loop of IAM calls.
//!
//! When IAM is asked:
//! - ahead of expiry, and when there is no token: at most once per [`MIN_REQUEST_INTERVAL`]
//!   (30 s), backoff after failed requests included. An `expires_at` in the past (1970, a clock
//!   far ahead of IAM's) is warned about once and the token is kept until a call is refused;
//! - when a call is refused with a 401 (a revocation, a password rotation, a token a service
//!   rejects right after issue): at once, whatever the token's age, and the call is retried once
//!   with the replacement. Only a refused *replacement* younger than [`MIN_REQUEST_INTERVAL`]
//!   waits: 30 s, doubling with each such refusal in a row up to 300 s. A refusing upstream
//!   therefore costs at most two token requests in its first 30 s, then the backoff.
//!
//! A refused token is still served while the wait lasts: one service refusing it says nothing
//! of the others.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::metrics::SelfMetrics;
use crate::sync::{spawn_flight, Flight};
use crate::transport::auth::password::{Password, TokenFetch};
use crate::transport::http::Transport;
use crate::upstream::{ApiError, ErrorKind};

pub use crate::transport::auth::password::{parse_expiry, IAM_TOKEN};

/// Refresh ahead: when less than this much of the token's life is left...
const REFRESH_AHEAD_MAX: Duration = Duration::from_secs(3600);
/// ...or less than this fraction of it, whichever is shorter.
const REFRESH_AHEAD_FRACTION: f64 = 0.1;
/// At most one IAM token request per cloud in this interval ahead of expiry or after a failed
/// request; a refused replacement younger than this waits before it is replaced.
pub const MIN_REQUEST_INTERVAL: Duration = Duration::from_secs(30);
/// First wait after a failed token request; doubles up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = MIN_REQUEST_INTERVAL;
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
    /// When it arrived: a replacement refused younger than [`MIN_REQUEST_INTERVAL`] waits.
    fetched_at: Instant,
    /// It was fetched to replace a refused token.
    replacement: bool,
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
    /// Whether the request in flight replaces a refused token.
    pending_replaces: bool,
    /// Young replacements refused in a row (the wait before the next one doubles with each).
    refusals: u32,
    /// A refused token is replaced not before this (set when a young replacement is refused).
    replace_after: Option<Instant>,
}

impl TokenState {
    /// When IAM may be asked next: for a refused token, at once unless a young replacement was
    /// refused ([`replace_after`](Self::replace_after)); otherwise [`MIN_REQUEST_INTERVAL`]
    /// after the last request. Later in both cases while backing off after failed requests.
    fn next_request(&self, refused: bool) -> Option<Instant> {
        let gate = if refused {
            self.replace_after
        } else {
            self.last_request.map(|t| t + MIN_REQUEST_INTERVAL)
        };
        match (gate, self.next_try) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// How long until IAM may be asked ([`next_request`](Self::next_request)); `None`: now.
    fn wait(&self, refused: bool) -> Option<Duration> {
        self.next_request(refused)
            .map(|t| t.saturating_duration_since(Instant::now()))
            .filter(|w| !w.is_zero())
    }

    /// Whether the token held was refused.
    fn refused(&self) -> bool {
        self.current.as_ref().is_some_and(|c| c.refused)
    }
}

/// The wait after the `n`th failure in a row (failed token requests, refused young
/// replacements): 30 s, doubling up to [`BACKOFF_MAX`].
fn backoff(n: u32) -> Duration {
    BACKOFF_MIN
        .saturating_mul(1 << n.saturating_sub(1).min(6))
        .min(BACKOFF_MAX)
}

/// A wait in whole seconds, rounded up: the one number log lines and errors give.
pub fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// What an error says of the next token request, `wait` from now.
fn next_request_note(wait: Duration) -> String {
    format!("not asking IAM again for another {}s", whole_seconds(wait))
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
        let refused = state.refused();
        let wait = state.wait(refused);
        if let Some(c) = &state.current {
            let due = c.refused || c.refresh_at.is_some_and(|r| now >= r);
            // Fresh, or due but IAM may not be asked yet, or a refresh ahead of expiry is
            // already on its way: serve it (a 401 will say if it is really no good; the
            // configured host is the only one it goes to).
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
                    e.message = format!("{} ({})", e.message, next_request_note(wait));
                    return Err(e);
                }
                state.last_request = Some(Instant::now());
                state.pending_replaces = refused;
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
                let replacement = state.pending_replaces || state.refused();
                state.current = Some(Cached {
                    value: value.clone(),
                    expires_at,
                    refresh_at,
                    generation,
                    refused: false,
                    fetched_at: Instant::now(),
                    replacement,
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
                state.next_try = Some(Instant::now() + backoff(state.failures));
                state.last_error = Some(e.clone());
                // The one number: what the next caller is told, in the log line and the error.
                let wait = state.wait(state.refused()).unwrap_or_default();
                tracing::warn!(cloud = %self.cloud, error = %e, request_id = e.request_id.as_deref().unwrap_or("-"), retry_in_s = whole_seconds(wait), "IAM token request failed");
                // Keep serving the token held, if any: a 401 says when it is really no good.
                if let Some(c) = &state.current {
                    return Ok((c.value.clone(), c.generation));
                }
                let mut e = e;
                e.message = format!("{} ({})", e.message, next_request_note(wait));
                Err(e)
            }
        }
    }

    /// Marks the cached token refused if it is still generation `generation` (a call was
    /// refused with it), so the next [`token`](Self::token) replaces it. Returns how long until
    /// IAM may be asked for the replacement: zero (at once) unless the refused token was itself
    /// a replacement younger than [`MIN_REQUEST_INTERVAL`], or IAM is being backed off after
    /// failed requests. Zero too when a newer token than the refused one is held.
    pub async fn refuse(&self, generation: u64) -> Duration {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let mut young = None;
        if let Some(c) = state.current.as_mut() {
            if c.generation == generation && !c.refused {
                c.refused = true;
                young = Some(
                    c.replacement
                        && now.saturating_duration_since(c.fetched_at) < MIN_REQUEST_INTERVAL,
                );
            }
        }
        match young {
            Some(true) => {
                state.refusals = state.refusals.saturating_add(1);
                state.replace_after = Some(now + backoff(state.refusals));
            }
            Some(false) => {
                state.refusals = 0;
                state.replace_after = None;
            }
            None => {}
        }
        if !state.refused() {
            return Duration::ZERO;
        }
        state.wait(true).unwrap_or_default()
    }

    /// Moves the provider's notion of time `by` into the past (its last IAM request, its
    /// backoff, the age of the token held), as if that long had gone by (tests: the 30 s
    /// floor and the backoff without waiting for them).
    #[doc(hidden)]
    pub async fn backdate(&self, by: Duration) {
        let mut state = self.state.lock().await;
        let back = |t: Instant| t.checked_sub(by).unwrap_or(t);
        state.last_request = state.last_request.map(back);
        state.next_try = state.next_try.map(back);
        state.replace_after = state.replace_after.map(back);
        if let Some(c) = state.current.as_mut() {
            c.fetched_at = back(c.fetched_at);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_is_asked_at_most_once_per_30_s_ahead_of_expiry_backoff_included() {
        let mut state = TokenState::default();
        assert_eq!(
            state.next_request(false),
            None,
            "the first request goes at once"
        );
        let t0 = Instant::now();
        state.last_request = Some(t0);
        assert_eq!(state.next_request(false), Some(t0 + MIN_REQUEST_INTERVAL));
        // A backoff shorter than the floor does not shorten it; a longer one lengthens it.
        state.next_try = Some(t0 + Duration::from_secs(5));
        assert_eq!(state.next_request(false), Some(t0 + MIN_REQUEST_INTERVAL));
        state.next_try = Some(t0 + Duration::from_secs(120));
        assert_eq!(
            state.next_request(false),
            Some(t0 + Duration::from_secs(120))
        );
        assert!(BACKOFF_MIN >= MIN_REQUEST_INTERVAL);
    }

    #[test]
    fn a_refused_token_is_replaced_at_once_unless_a_young_replacement_was_refused() {
        let mut state = TokenState::default();
        let t0 = Instant::now();
        state.last_request = Some(t0);
        // The floor of requests ahead of expiry does not hold a replacement back...
        assert_eq!(state.next_request(true), None);
        // ...a refused young replacement does, and so does a backoff after failed requests.
        state.replace_after = Some(t0 + Duration::from_secs(30));
        assert_eq!(state.next_request(true), Some(t0 + Duration::from_secs(30)));
        state.next_try = Some(t0 + Duration::from_secs(60));
        assert_eq!(state.next_request(true), Some(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn the_backoff_starts_at_30_s_and_doubles_up_to_300_s() {
        let waits: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX).as_secs(), 300);
    }

    #[test]
    fn a_wait_is_said_in_whole_seconds_rounded_up() {
        assert_eq!(whole_seconds(Duration::from_secs(30)), 30);
        assert_eq!(whole_seconds(Duration::from_millis(29_001)), 30);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(
            next_request_note(Duration::from_millis(2_500)),
            "not asking IAM again for another 3s"
        );
    }
}
