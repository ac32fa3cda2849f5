//! HTTP basic auth against `basic_auth_users` bcrypt hashes: unknown users pay for a bcrypt run
//! like known ones; verdicts are cached by a keyed hash of the presented credentials (never the
//! plaintext), good and bad apart so a storm of wrong passwords never evicts a good one; and
//! bcrypt runs in a small pool, at most one run per client address, the excess answered at once.
//!
//! # Fairness under a password storm
//!
//! A request whose verdict is cached (a credential that worked, or failed, before) is answered
//! without touching the pool, whatever the load. An uncached one takes a free slot of the pool
//! ([`hash_slots`]: half the cores, at least 2, at most 8) if its client address (an IPv4
//! address, or an IPv6 /64) has no bcrypt run in flight, and is otherwise answered **429 with
//! `Retry-After: 1` at once**, never queued. (An identical check already in flight, like the
//! same client's `/metrics` and `/probe` at once, is waited for instead: one run serves both.) So a flood from one address holds at most one slot,
//! and a legitimate client elsewhere — Prometheus after a restart, or after a web config re-read
//! with a changed hash — gets a slot for its first request. Against a flood from many addresses
//! it may get the 429 instead; Prometheus then marks that scrape failed (`up` 0) and tries again
//! at the next scrape interval, and its first success is cached from then on. Behind a proxy
//! every client shares the proxy's address, and the pool alone bounds the work.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::HeaderValue;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::sync::lock;

/// Good verdicts kept at most. Only a caller holding a valid password can add one, so this is
/// never churned by an attacker; emptied when full.
pub const GOOD_CACHE_CAPACITY: usize = 256;
/// Bad verdicts kept at most (so a client retrying a wrong password costs one bcrypt run, not
/// one per request); emptied when full, which costs only those clients one more run.
pub const CACHE_CAPACITY: usize = 1024;
/// bcrypt runs one client address may have in flight.
pub const PER_PEER_RUNS: usize = 1;
/// The `Retry-After` of a 429, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// What the gate answers for one request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A configured user with its password (or no users configured): let it in.
    Allowed,
    /// No or wrong credentials: 401.
    Denied,
    /// Not checked: no hashing slot was free for this client; 429 with `Retry-After`.
    Busy,
}

/// Which hash a login attempt is checked against.
#[derive(Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// The user exists: its own hash.
    Known(&'a str),
    /// The user does not exist: the dummy hash, so the answer takes as long as for a known user.
    Unknown(&'a str),
}

/// The basic-auth gate of one loaded web config.
pub struct BasicAuth {
    /// User name → bcrypt hash.
    users: BTreeMap<String, String>,
    /// A bcrypt hash of a random password at the highest cost among `users`: what unknown
    /// users are checked against.
    dummy_hash: String,
    /// Cache key → user, for credentials that matched.
    good: Mutex<HashMap<[u8; 32], String>>,
    /// Cache key → user, for credentials that did not.
    bad: Mutex<HashMap<[u8; 32], String>>,
    /// bcrypt runs done (for tests and debugging; never the inputs).
    bcrypt_runs: AtomicU64,
    /// Where bcrypt runs: the process-wide pool.
    pool: Arc<Pool>,
    /// Checks in flight: cache key → where their verdict will be published.
    inflight: Mutex<HashMap<[u8; 32], watch::Receiver<Option<bool>>>>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Concurrent bcrypt runs allowed in the process: half the cores, at least 2 (so that one busy
/// client address never holds them all), at most 8. bcrypt is CPU-bound and deliberately slow.
pub fn hash_slots() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores / 2).clamp(2, 8)
}

/// A hashing pool: its slots, and the runs in flight per client address.
struct Pool {
    slots: Arc<Semaphore>,
    peers: Mutex<HashMap<PeerKey, usize>>,
}

/// The process-wide pool: one for every loaded web config, so a re-read never adds slots.
fn pool() -> &'static Arc<Pool> {
    static POOL: OnceLock<Arc<Pool>> = OnceLock::new();
    POOL.get_or_init(|| Arc::new(Pool::new(hash_slots())))
}

/// A client address as the pool counts it: IPv4 as it is, IPv6 by its /64 (one host usually
/// holds a whole /64), IPv4-mapped IPv6 as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PeerKey {
    V4(u32),
    V6(u64),
}

fn peer_key(ip: IpAddr) -> PeerKey {
    match ip {
        IpAddr::V4(v4) => PeerKey::V4(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => PeerKey::V4(u32::from(v4)),
            None => PeerKey::V6((u128::from(v6) >> 64) as u64),
        },
    }
}

/// One bcrypt slot, held for one run; gives the slot (and the address's share) back on drop.
struct Slot {
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
    peer: Option<PeerKey>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(peer) = self.peer else { return };
        let mut peers = lock(&self.pool.peers);
        if let Some(n) = peers.get_mut(&peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                peers.remove(&peer);
            }
        }
    }
}

impl Pool {
    fn new(slots: usize) -> Pool {
        Pool {
            slots: Arc::new(Semaphore::new(slots)),
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// A free slot for a client at `peer`, or `None` at once (the pool is full, or this
    /// address already has its share in flight).
    fn try_slot(self: &Arc<Pool>, peer: Option<IpAddr>) -> Option<Slot> {
        let key = peer.map(peer_key);
        let mut peers = lock(&self.peers);
        if let Some(k) = key {
            if peers.get(&k).copied().unwrap_or(0) >= PER_PEER_RUNS {
                return None;
            }
        }
        let permit = self.slots.clone().try_acquire_owned().ok()?;
        if let Some(k) = key {
            *peers.entry(k).or_insert(0) += 1;
        }
        Some(Slot {
            pool: self.clone(),
            _permit: permit,
            peer: key,
        })
    }
}

/// Counts a 429 and logs at most one line a minute about them (a storm must not flood the log).
fn report_refused() {
    static REFUSED: AtomicU64 = AtomicU64::new(0);
    static LAST_REPORT: Mutex<Option<std::time::Instant>> = Mutex::new(None);
    let refused = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
    let mut last = lock(&LAST_REPORT);
    let now = std::time::Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < std::time::Duration::from_secs(60)) {
        return;
    }
    *last = Some(now);
    REFUSED.store(0, Ordering::Relaxed);
    tracing::warn!(
        refused,
        slots = hash_slots(),
        "basic auth: uncached credentials while every password-check slot was busy (or their client already had one); answered 429 with Retry-After"
    );
}

/// The HMAC key of cache keys: random per process (never in the config), shared by every
/// loaded web config so a re-read can keep the verdicts that still hold.
fn cache_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        key
    })
}

/// Dummy hashes by cost, kept across reloads so a reload does not pay for a new one.
fn dummy_for_cost(cost: u32) -> String {
    static DUMMIES: OnceLock<Mutex<HashMap<u32, String>>> = OnceLock::new();
    let dummies = DUMMIES.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(h) = lock(dummies).get(&cost) {
        return h.clone();
    }
    let mut password = [0u8; 32];
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut password);
    rand::thread_rng().fill_bytes(&mut salt);
    let hash = bcrypt::hash_with_salt(password, cost, salt)
        .map(|h| h.format_for_version(bcrypt::Version::TwoY))
        // Costs come from hashes that parsed, so they are in bcrypt's range; this is a fallback.
        .unwrap_or_else(|_| FALLBACK_DUMMY.to_string());
    lock(dummies).insert(cost, hash.clone());
    hash
}

/// exporter-toolkit's dummy (cost 10), used only if making our own fails.
const FALLBACK_DUMMY: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

fn insert_bounded(
    cache: &Mutex<HashMap<[u8; 32], String>>,
    capacity: usize,
    key: [u8; 32],
    user: &str,
) {
    let mut c = lock(cache);
    if c.len() >= capacity {
        c.clear();
    }
    c.insert(key, user.to_string());
}

impl BasicAuth {
    /// A gate for `users` (already validated as bcrypt hashes). With users, this runs bcrypt
    /// once to make the dummy hash: call it off the async threads.
    pub fn new(users: BTreeMap<String, String>) -> BasicAuth {
        let cost = users
            .values()
            .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
            .map(|p| p.get_cost())
            .max();
        let dummy_hash = match cost {
            Some(c) => dummy_for_cost(c),
            None => String::new(),
        };
        BasicAuth {
            users,
            dummy_hash,
            good: Mutex::new(HashMap::new()),
            bad: Mutex::new(HashMap::new()),
            bcrypt_runs: AtomicU64::new(0),
            pool: pool().clone(),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    /// A gate for `users` that keeps `previous`'s verdicts wherever they still hold: those of
    /// users whose hash did not change (a re-read for a rotated TLS certificate must not send
    /// every client back to the hashing pool).
    pub fn carrying_over(users: BTreeMap<String, String>, previous: &BasicAuth) -> BasicAuth {
        let new = BasicAuth::new(users);
        let unchanged = |user: &String| new.users.get(user) == previous.users.get(user);
        for (from, to) in [(&previous.good, &new.good), (&previous.bad, &new.bad)] {
            let kept: Vec<([u8; 32], String)> = lock(from)
                .iter()
                .filter(|(_, u)| unchanged(u))
                .map(|(k, u)| (*k, u.clone()))
                .collect();
            lock(to).extend(kept);
        }
        new
    }

    /// Whether any user is configured (otherwise everyone is let in).
    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }

    /// How many bcrypt verifications this gate has run.
    pub fn bcrypt_runs(&self) -> u64 {
        self.bcrypt_runs.load(Ordering::Relaxed)
    }

    /// The hash `user`'s password is checked against.
    pub fn target(&self, user: &str) -> Target<'_> {
        match self.users.get(user) {
            Some(h) => Target::Known(h),
            None => Target::Unknown(&self.dummy_hash),
        }
    }

    /// The verdict on the `Authorization` header of a request from `peer`.
    pub async fn check(
        self: &Arc<Self>,
        authorization: Option<&HeaderValue>,
        peer: Option<IpAddr>,
    ) -> Verdict {
        if !self.enabled() {
            return Verdict::Allowed;
        }
        let Some((user, password)) = authorization.and_then(decode_basic) else {
            return Verdict::Denied;
        };
        self.verify(&user, &password, peer).await
    }

    /// Checks `user`/`password` from a client at `peer`: from the cache when this pair was seen
    /// before, else with bcrypt in a free slot of the pool, else [`Verdict::Busy`] at once.
    pub async fn verify(
        self: &Arc<Self>,
        user: &str,
        password: &str,
        peer: Option<IpAddr>,
    ) -> Verdict {
        let key = cache_key_for(user, password);
        if lock(&self.good).contains_key(&key) {
            return Verdict::Allowed;
        }
        if lock(&self.bad).contains_key(&key) {
            return Verdict::Denied;
        }
        // An identical check in flight (the same client's /metrics and /probe, say) is waited
        // for rather than run again or refused: it is one bcrypt run away at most.
        let start = {
            let mut inflight = lock(&self.inflight);
            match inflight.get(&key).cloned() {
                Some(rx) => Err(Some(rx)),
                None => match self.pool.try_slot(peer) {
                    None => Err(None),
                    Some(slot) => {
                        let (tx, rx) = watch::channel(None);
                        inflight.insert(key, rx.clone());
                        Ok((tx, rx, slot))
                    }
                },
            }
        };
        let (tx, rx, slot) = match start {
            Ok(run) => run,
            Err(Some(rx)) => return self.wait_for(key, rx).await,
            Err(None) => {
                report_refused();
                return Verdict::Busy;
            }
        };
        let (hash, known) = match self.target(user) {
            Target::Known(h) => (h.to_string(), true),
            Target::Unknown(h) => (h.to_string(), false),
        };
        let (user, password) = (user.to_string(), password.to_string());
        let this = self.clone();
        // Everything after the run happens on the blocking thread, so it completes (verdict
        // cached, waiters told, slot freed) even if the request that started it goes away.
        let _run = tokio::task::spawn_blocking(move || {
            this.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
            let verdict = known && bcrypt::verify(password, &hash).unwrap_or(false);
            // The slot is given back before anyone hears the verdict: a client that sends its
            // next request as soon as it has the answer must find its share free again.
            drop(slot);
            if verdict {
                insert_bounded(&this.good, GOOD_CACHE_CAPACITY, key, &user);
            } else {
                insert_bounded(&this.bad, CACHE_CAPACITY, key, &user);
            }
            lock(&this.inflight).remove(&key);
            let _ = tx.send(Some(verdict));
        });
        self.wait_for(key, rx).await
    }

    /// The verdict of the check in flight for `key`.
    async fn wait_for(&self, key: [u8; 32], mut rx: watch::Receiver<Option<bool>>) -> Verdict {
        let verdict = rx.wait_for(Option::is_some).await.map(|v| *v == Some(true));
        match verdict {
            Ok(true) => Verdict::Allowed,
            Ok(false) => Verdict::Denied,
            Err(_) => {
                // The run died without a verdict (a panic in bcrypt): forget it, so the next
                // request runs its own.
                lock(&self.inflight).remove(&key);
                Verdict::Denied
            }
        }
    }
}

fn cache_key_for(user: &str, password: &str) -> [u8; 32] {
    // A keyed hash: the key is the process's own randomness, not in the config.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(cache_key()) else {
        return [0; 32];
    };
    mac.update(&(user.len() as u64).to_be_bytes());
    mac.update(user.as_bytes());
    mac.update(password.as_bytes());
    mac.finalize().into_bytes().into()
}

/// `Basic base64(user:password)` → (user, password); `None` when malformed.
pub fn decode_basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests;
