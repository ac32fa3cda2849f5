//! What isolation remembers across scrapes, per cloud ([`Isolation`]): the isolated phones with
//! their reason and re-check schedule, and what the last "stopped early" and "answered without
//! some phones" lines said, so a state that persists is logged once.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::split::{name_ids, BadBatch, Found};
use crate::services::koophone::api::MAX_IDS_PER_CALL;
use crate::sync::lock;

/// First re-check of an isolated phone, after it was isolated; doubled after each re-check that
/// still fails, up to [`RECHECK_MAX`].
pub const RECHECK_FIRST: Duration = Duration::from_secs(60);
/// Longest wait between two re-checks of an isolated phone.
pub const RECHECK_MAX: Duration = Duration::from_secs(15 * 60);

/// Remembered across scrapes, per cloud: which phones are isolated, and what was logged.
#[derive(Default)]
pub struct Isolation {
    /// Locked briefly: to plan a scrape's calls, and to learn from them.
    memory: Mutex<Memory>,
}

/// The state behind [`Isolation`]'s lock.
#[derive(Default)]
struct Memory {
    /// Isolated phones (only ids still in the phone list are kept).
    bad: HashMap<String, IsolatedPhone>,
    /// What the last "isolation stopped early" line said, so a state that persists is logged
    /// once.
    last_cut: Option<String>,
    /// The number of phones the answers left out, as last logged.
    last_missing: Option<usize>,
}

/// One isolated phone.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct IsolatedPhone {
    /// The error code that isolated it.
    pub(super) reason: &'static str,
    /// When it is next sent alone to see whether it answers again.
    pub(super) next_check: Instant,
    /// The wait before that re-check, doubled after each that still fails.
    pub(super) interval: Duration,
}

impl IsolatedPhone {
    /// Isolated now for `reason`: first re-checked after [`RECHECK_FIRST`].
    pub(super) fn new(reason: &'static str, now: Instant) -> IsolatedPhone {
        IsolatedPhone {
            reason,
            next_check: now + RECHECK_FIRST,
            interval: RECHECK_FIRST,
        }
    }

    /// A re-check failed again for `reason`: the next one waits twice as long.
    pub(super) fn still_bad(&mut self, reason: &'static str, now: Instant) {
        self.reason = reason;
        self.interval = (self.interval * 2).min(RECHECK_MAX);
        self.next_check = now + self.interval;
    }
}

/// This scrape's calls: batches of phones not isolated, isolated phones due for a re-check,
/// and isolated phones left out without a call.
pub(super) struct Plan<'a> {
    /// Batches of at most [`MAX_IDS_PER_CALL`] phones not isolated.
    pub(super) batches: Vec<Cow<'a, [String]>>,
    /// Isolated phones due for a re-check, each sent alone, with their reason.
    pub(super) rechecks: Vec<(String, &'static str)>,
    /// Isolated phones left out of this scrape, with their reason.
    pub(super) held: Vec<(String, &'static str)>,
}

/// What this scrape's re-checks said about the isolated phones they called.
#[derive(Default)]
pub(super) struct Rechecked {
    /// Phones that answered alone: no longer isolated.
    pub(super) recovered: Vec<String>,
    /// Phones that still failed for their id, with the reason.
    pub(super) still_bad: Vec<(String, &'static str)>,
}

impl Isolation {
    /// Ids currently isolated, with their reason (tests, landing page).
    pub fn isolated(&self) -> Vec<(String, &'static str)> {
        let mut v: Vec<_> = lock(&self.memory)
            .bad
            .iter()
            .map(|(id, e)| (id.clone(), e.reason))
            .collect();
        v.sort();
        v
    }

    /// Splits `ids` into this scrape's calls; forgets isolated phones no longer in `ids`. With
    /// nothing isolated (the usual case) the batches borrow `ids` and nothing is looked up.
    pub(super) fn plan<'a>(
        &self,
        ids: &'a [String],
        now: Instant,
        max_rechecks: usize,
    ) -> Plan<'a> {
        let mut mem = lock(&self.memory);
        let mut plan = Plan {
            batches: Vec::with_capacity(ids.len().div_ceil(MAX_IDS_PER_CALL)),
            rechecks: Vec::new(),
            held: Vec::new(),
        };
        if mem.bad.is_empty() {
            plan.batches = ids.chunks(MAX_IDS_PER_CALL).map(Cow::Borrowed).collect();
            return plan;
        }
        let mut found: Vec<&'a String> = Vec::new();
        for chunk in ids.chunks(MAX_IDS_PER_CALL) {
            let before = found.len();
            for id in chunk {
                if mem.bad.contains_key(id.as_str()) {
                    found.push(id);
                }
            }
            if found.len() == before {
                plan.batches.push(Cow::Borrowed(chunk));
                continue;
            }
            let bad: HashSet<&str> = found[before..].iter().map(|s| s.as_str()).collect();
            let rest: Vec<String> = chunk
                .iter()
                .filter(|id| !bad.contains(id.as_str()))
                .cloned()
                .collect();
            if !rest.is_empty() {
                plan.batches.push(Cow::Owned(rest));
            }
        }
        if found.len() < mem.bad.len() {
            let keep: HashSet<&str> = found.iter().map(|s| s.as_str()).collect();
            mem.bad.retain(|id, _| keep.contains(id.as_str()));
        }
        for id in found {
            if let Some(e) = mem.bad.get(id.as_str()) {
                if e.next_check <= now && plan.rechecks.len() < max_rechecks {
                    plan.rechecks.push((id.clone(), e.reason));
                } else {
                    plan.held.push((id.clone(), e.reason));
                }
            }
        }
        plan
    }

    /// Learns from one scrape: phones back, re-check verdicts, newly isolated phones (one log
    /// line per bad batch, naming the phones new to the memory); and says what stopped isolation
    /// early (`unresolved` phones left) or which phones the answers left out, once while it lasts.
    pub(super) fn learn(
        &self,
        cloud: &str,
        now: Instant,
        rechecked: &Rechecked,
        bad: &[BadBatch],
        found: &Found,
        unresolved: usize,
    ) {
        let mut mem = lock(&self.memory);
        for id in &rechecked.recovered {
            if mem.bad.remove(id.as_str()).is_some() {
                tracing::info!(cloud, instance_id = %id, "KooPhone phone answers again alone; no longer isolated");
            }
        }
        for (id, r) in &rechecked.still_bad {
            if let Some(e) = mem.bad.get_mut(id.as_str()) {
                e.still_bad(r, now);
            }
        }
        for (i, b) in bad.iter().enumerate() {
            // Only phones new to the memory are logged: a concurrent scrape (one that could
            // not join this one) may have isolated the same phones a moment ago.
            let mine: Vec<&(usize, String, &'static str)> = found
                .isolated
                .iter()
                .filter(|(n, id, r)| {
                    *n == i
                        && mem
                            .bad
                            .insert(id.clone(), IsolatedPhone::new(r, now))
                            .is_none()
                })
                .collect();
            if mine.is_empty() {
                continue;
            }
            tracing::warn!(
                cloud,
                reason = b.reason,
                request_id = b.error.request_id.as_deref().unwrap_or("-"),
                batch = b.ids.len(),
                isolated = mine.len(),
                ids = %name_ids(mine.iter().map(|(_, id, _)| id.as_str()), mine.len()),
                "KooPhone failed a whole status batch for some of its phones (no permission, or released); isolated them and reported the rest; they stay left out (re-checked alone now and then) and are not logged again"
            );
        }
        let cut = (unresolved > 0 || found.capped > 0).then(|| {
            format!(
                "{unresolved} phones of failed batches not resolved in this scrape ({}); left out, the next scrape goes on",
                found.stopped.as_deref().unwrap_or("a batch used up its share of extra calls")
            )
        });
        if cut.is_some() && cut != mem.last_cut {
            tracing::warn!(
                cloud,
                request_id = bad
                    .first()
                    .and_then(|b| b.error.request_id.as_deref())
                    .unwrap_or("-"),
                "KooPhone isolation stopped early: {}",
                cut.as_deref().unwrap_or_default()
            );
        }
        mem.last_cut = cut;
        let missing = (found.missing > 0).then_some(found.missing);
        if missing.is_some() && missing != mem.last_missing {
            tracing::warn!(
                cloud,
                missing = found.missing,
                request_id = found.missing_request_id.as_deref().unwrap_or("-"),
                ids = %name_ids(found.missing_ids.iter().map(String::as_str), found.missing),
                "KooPhone answered without some phones asked; they are requested but not reported (logged again only when their number changes)"
            );
        }
        mem.last_missing = missing;
    }
}
