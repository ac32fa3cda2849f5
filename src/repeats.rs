//! Which occurrences of a recurring failure get a log line: the first failure, every change
//! of error, a repeat of the same error at most once per [`REPEAT_EVERY`] (carrying how many
//! went unlogged), and the recovery. A collector that fails in every scrape thus writes a line
//! a minute, not one per scrape, while anything new still shows at once.
//!
//! The clock is passed in (`now`), so the rule is tested on chosen instants, not on wall time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::lock;

/// Shortest interval between two lines about the same unchanged error.
pub const REPEAT_EVERY: Duration = Duration::from_secs(60);

/// What to log for one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing: a success after successes, or a repeat inside [`REPEAT_EVERY`].
    Quiet,
    /// The first failure after a success (or ever).
    First,
    /// A failure with another error than the last one; `repeats` of the previous one were not
    /// logged.
    Changed { repeats: u64 },
    /// The same error again, [`REPEAT_EVERY`] after it was last logged; `repeats` is how many
    /// times it occurred since (this one included).
    Repeated { repeats: u64 },
    /// A success after failures; `repeats` of the last error were not logged.
    Recovered { repeats: u64 },
}

/// The state of one failing key.
#[derive(Debug)]
struct Failing {
    /// What tells this error from another (not its request id, which differs every time).
    error: String,
    /// When a line about it was last written.
    logged: Instant,
    /// Occurrences since then that wrote nothing.
    unlogged: u64,
}

/// The failures of every key (a cloud and a collector), and the rule of what to log.
#[derive(Debug, Default)]
pub struct Repeats {
    /// Keys whose last outcome was a failure.
    failing: Mutex<HashMap<String, Failing>>,
}

impl Repeats {
    /// Records the outcome of `key` at `now` (`error` is `None` for a success, else what tells
    /// the error apart) and says what to log.
    pub fn observe(&self, key: &str, error: Option<&str>, now: Instant) -> Verdict {
        let mut failing = lock(&self.failing);
        let Some(error) = error else {
            return match failing.remove(key) {
                Some(f) => Verdict::Recovered {
                    repeats: f.unlogged,
                },
                None => Verdict::Quiet,
            };
        };
        let Some(f) = failing.get_mut(key) else {
            failing.insert(
                key.to_string(),
                Failing {
                    error: error.to_string(),
                    logged: now,
                    unlogged: 0,
                },
            );
            return Verdict::First;
        };
        if f.error != error {
            let repeats = f.unlogged;
            *f = Failing {
                error: error.to_string(),
                logged: now,
                unlogged: 0,
            };
            return Verdict::Changed { repeats };
        }
        f.unlogged += 1;
        if now.saturating_duration_since(f.logged) < REPEAT_EVERY {
            return Verdict::Quiet;
        }
        let repeats = f.unlogged;
        f.logged = now;
        f.unlogged = 0;
        Verdict::Repeated { repeats }
    }

    /// Forgets every key not in `keep` (a reload removed the cloud or the collector).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        lock(&self.failing).retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_changes_and_a_repeat_a_minute_are_logged() {
        let r = Repeats::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let e1 = Some("server_error: 500");
        let e2 = Some("timeout");
        // The first failure, then the same error every 15 s: quiet until a minute has passed.
        assert_eq!(r.observe("c/dcs", e1, at(0)), Verdict::First);
        assert_eq!(r.observe("c/dcs", e1, at(15)), Verdict::Quiet);
        assert_eq!(r.observe("c/dcs", e1, at(30)), Verdict::Quiet);
        assert_eq!(r.observe("c/dcs", e1, at(45)), Verdict::Quiet);
        assert_eq!(
            r.observe("c/dcs", e1, at(60)),
            Verdict::Repeated { repeats: 4 }
        );
        assert_eq!(r.observe("c/dcs", e1, at(75)), Verdict::Quiet);
        // Another error shows at once, with the unlogged repeats of the last one.
        assert_eq!(
            r.observe("c/dcs", e2, at(80)),
            Verdict::Changed { repeats: 1 }
        );
        assert_eq!(r.observe("c/dcs", e2, at(90)), Verdict::Quiet);
        // Other keys are apart.
        assert_eq!(r.observe("c/ddm", e2, at(90)), Verdict::First);
        // Recovery says so once; a success after successes says nothing.
        assert_eq!(
            r.observe("c/dcs", None, at(95)),
            Verdict::Recovered { repeats: 1 }
        );
        assert_eq!(r.observe("c/dcs", None, at(110)), Verdict::Quiet);
        // A failure after the recovery is a first one again.
        assert_eq!(r.observe("c/dcs", e1, at(120)), Verdict::First);
    }

    #[test]
    fn a_repeat_is_logged_a_minute_after_the_last_line_not_the_first() {
        let r = Repeats::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        r.observe("k", Some("e"), at(0));
        assert_eq!(
            r.observe("k", Some("e"), at(61)),
            Verdict::Repeated { repeats: 1 }
        );
        // Counted from that line (61 s), not from the first failure.
        assert_eq!(r.observe("k", Some("e"), at(120)), Verdict::Quiet);
        assert_eq!(
            r.observe("k", Some("e"), at(121)),
            Verdict::Repeated { repeats: 2 }
        );
        // A reload that drops the key forgets it.
        r.retain(|_| false);
        assert_eq!(r.observe("k", Some("e"), at(122)), Verdict::First);
    }
}
