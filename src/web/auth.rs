//! HTTP basic auth against `basic_auth_users` bcrypt hashes: unknown users pay for a bcrypt run
//! like known ones, verdicts are cached by a keyed hash of the presented credentials (never the
//! plaintext), and bcrypt runs one at a time so a password storm cannot eat every core.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::HeaderValue;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Cached verdicts kept at most; the cache is emptied when full (cheap, and an attacker filling
/// it only costs legitimate clients one more bcrypt run each).
pub const CACHE_CAPACITY: usize = 1024;

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
    /// HMAC key for cache keys, random per process, so the cache holds nothing that could be
    /// brute-forced offline into a password.
    cache_key: [u8; 32],
    /// Cache key → verdict.
    cache: Mutex<HashMap<[u8; 32], bool>>,
    /// bcrypt runs done (for tests and debugging; never the inputs).
    bcrypt_runs: AtomicU64,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One process-wide slot for bcrypt: it is CPU-bound and deliberately slow.
fn bcrypt_slot() -> &'static tokio::sync::Semaphore {
    static SLOT: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOT.get_or_init(|| tokio::sync::Semaphore::new(1))
}

/// Dummy hashes by cost, kept across reloads so a reload does not pay for a new one.
fn dummy_for_cost(cost: u32) -> String {
    static DUMMIES: OnceLock<Mutex<HashMap<u32, String>>> = OnceLock::new();
    let dummies = DUMMIES.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(g) = dummies.lock() {
        if let Some(h) = g.get(&cost) {
            return h.clone();
        }
    }
    let mut password = [0u8; 32];
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut password);
    rand::thread_rng().fill_bytes(&mut salt);
    let hash = bcrypt::hash_with_salt(password, cost, salt)
        .map(|h| h.format_for_version(bcrypt::Version::TwoY))
        // Costs come from hashes that parsed, so they are in bcrypt's range; this is a fallback.
        .unwrap_or_else(|_| FALLBACK_DUMMY.to_string());
    if let Ok(mut g) = dummies.lock() {
        g.insert(cost, hash.clone());
    }
    hash
}

/// exporter-toolkit's dummy (cost 10), used only if making our own fails.
const FALLBACK_DUMMY: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

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
        let mut cache_key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut cache_key);
        BasicAuth {
            users,
            dummy_hash,
            cache_key,
            cache: Mutex::new(HashMap::new()),
            bcrypt_runs: AtomicU64::new(0),
        }
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

    /// Whether the `Authorization` header carries a configured user and its password.
    pub async fn check(self: &Arc<Self>, authorization: Option<&HeaderValue>) -> bool {
        if !self.enabled() {
            return true;
        }
        let Some((user, password)) = authorization.and_then(decode_basic) else {
            return false;
        };
        self.verify(&user, &password).await
    }

    /// Checks `user`/`password`, from the cache when this pair was seen before.
    pub async fn verify(self: &Arc<Self>, user: &str, password: &str) -> bool {
        let key = self.cache_key_for(user, password);
        if let Some(v) = self.cache.lock().ok().and_then(|c| c.get(&key).copied()) {
            return v;
        }
        let (hash, known) = match self.target(user) {
            Target::Known(h) => (h.to_string(), true),
            Target::Unknown(h) => (h.to_string(), false),
        };
        let password = password.to_string();
        let this = self.clone();
        let Ok(_permit) = bcrypt_slot().acquire().await else {
            return false;
        };
        let matched = tokio::task::spawn_blocking(move || {
            this.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
            bcrypt::verify(password, &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let verdict = known && matched;
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= CACHE_CAPACITY {
                c.clear();
            }
            c.insert(key, verdict);
        }
        verdict
    }

    fn cache_key_for(&self, user: &str, password: &str) -> [u8; 32] {
        // A keyed hash: the key is in `new`'s randomness, not in the config.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.cache_key) else {
            return [0; 32];
        };
        mac.update(&(user.len() as u64).to_be_bytes());
        mac.update(user.as_bytes());
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }
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
mod tests {
    use super::*;

    fn gate() -> Arc<BasicAuth> {
        let hash = bcrypt::hash("right", 4).unwrap();
        Arc::new(BasicAuth::new(BTreeMap::from([(
            "alice".to_string(),
            hash,
        )])))
    }

    #[tokio::test]
    async fn unknown_user_is_checked_against_the_dummy_hash() {
        let auth = gate();
        let Target::Unknown(dummy) = auth.target("mallory") else {
            panic!("mallory is not configured");
        };
        assert_eq!(dummy, auth.dummy_hash);
        // Same cost as alice's hash, so the bcrypt run takes as long.
        let cost = |h: &str| h.parse::<bcrypt::HashParts>().unwrap().get_cost();
        assert_eq!(cost(dummy), cost(&auth.users["alice"]));

        assert!(!auth.verify("mallory", "right").await);
        assert_eq!(
            auth.bcrypt_runs(),
            1,
            "unknown users pay for one bcrypt run"
        );
    }

    #[tokio::test]
    async fn verdicts_are_cached_per_user_and_password() {
        let auth = gate();
        assert!(auth.verify("alice", "right").await);
        assert!(auth.verify("alice", "right").await);
        assert_eq!(auth.bcrypt_runs(), 1);
        assert!(!auth.verify("alice", "wrong").await);
        assert!(!auth.verify("alice", "wrong").await);
        assert_eq!(auth.bcrypt_runs(), 2);
        // A password that makes the same concatenation with another user is another key.
        assert!(!auth.verify("alicer", "ight").await);
        assert_eq!(auth.bcrypt_runs(), 3);
    }

    #[test]
    fn basic_header_decoding() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        // "alice:pa:ss" — the password may contain ':'.
        assert_eq!(
            decode_basic(&h("Basic YWxpY2U6cGE6c3M=")),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(
            decode_basic(&h("basic YWxpY2U6cGE6c3M=")),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(decode_basic(&h("Bearer abc")), None);
        assert_eq!(decode_basic(&h("Basic !!!")), None);
        assert_eq!(decode_basic(&h("Basic YWxpY2U=")), None); // no ':'
    }
}
