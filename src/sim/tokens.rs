//! The store of IAM-issued tokens: IAM's token call fills it, and every other service's auth
//! check consults it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::distributions::Alphanumeric;
use rand::Rng;
use tokio::time::Instant;

use crate::sync::lock;

/// Revoked or expired tokens are remembered this long (to answer "token expired"), then forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// What the store knows of a token.
pub(crate) enum TokenCheck {
    Valid,
    Expired,
    Unknown,
}

/// IAM-issued tokens and when each stops being valid.
pub(crate) struct TokenStore {
    /// Lifetime of a token issued now.
    ttl: Duration,
    /// Token → the instant it stops being valid.
    expiry: Mutex<HashMap<String, Instant>>,
}

impl TokenStore {
    pub(crate) fn new(ttl: Duration) -> Self {
        TokenStore {
            ttl,
            expiry: Mutex::new(HashMap::new()),
        }
    }

    /// Every token issued and not yet forgotten (tests search logs for them).
    pub(crate) fn issued(&self) -> Vec<String> {
        lock(&self.expiry).keys().cloned().collect()
    }

    /// A new token, live for the configured ttl. Real tokens are long opaque strings; so are these.
    pub(crate) fn issue(&self) -> String {
        let random: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(380)
            .map(char::from)
            .collect();
        let token = format!("MIIE{random}");
        let now = Instant::now();
        let mut expiry = lock(&self.expiry);
        expiry.retain(|_, until| until.checked_add(FORGET_AFTER).is_none_or(|t| t > now));
        // A ttl too long to represent means "never" in practice: about a century.
        let until = now
            .checked_add(self.ttl)
            .unwrap_or(now + Duration::from_secs(100 * 365 * 86_400));
        expiry.insert(token.clone(), until);
        token
    }

    pub(crate) fn check(&self, token: &str) -> TokenCheck {
        match lock(&self.expiry).get(token) {
            Some(until) if Instant::now() < *until => TokenCheck::Valid,
            Some(_) => TokenCheck::Expired,
            None => TokenCheck::Unknown,
        }
    }

    /// `token` stops working now.
    pub(crate) fn revoke(&self, token: &str) {
        if let Some(until) = lock(&self.expiry).get_mut(token) {
            *until = (*until).min(Instant::now());
        }
    }

    /// Every issued token stops working now.
    pub(crate) fn revoke_all(&self) {
        let now = Instant::now();
        for until in lock(&self.expiry).values_mut() {
            *until = (*until).min(now);
        }
    }
}
