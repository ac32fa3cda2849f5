//! KooPhone partial failure: one bad id must not hide every other phone. The batch-status call
//! fails a whole batch of up to 100 ids when one of them is not the caller's (`KOOPHONE.API.1001`,
//! no permission) or no longer exists (`KOOPHONE.API.1000`, bad parameter: a released phone),
//! inside HTTP 200 or as a 4xx. Such a batch is split in halves to isolate the ids that cause
//! it; the rest is reported, the isolated ids are counted by reason, logged once, and
//! remembered so the next scrape leaves them out of its batches (re-checking each alone now and
//! then) instead of bisecting again.
//!
//! Which errors are about ids: only `KOOPHONE.API.1000` and `.1001`. Throttling, 401, 5xx,
//! transport errors, timeouts, undecodable bodies and `.9999` (internal error) are not split:
//! they fail the collector as before. A `.9999` might be caused by one phone, but nothing says
//! so, and it is what an outage answers to every call: splitting on it would multiply the calls
//! to a service that is already failing and blame phones for it.
//!
//! Bounds: a bad batch costs at most [`MAX_EXTRA_CALLS_PER_BATCH`] extra calls (one bad id in
//! 100 takes 7 to 15, about 10; a half known to hold a bad id because its sibling answered is
//! split without being called), a scrape at most `max(MIN_EXTRA_CALLS, batches)` extra calls
//! (bisection and re-checks together: at most double the calls of a scrape), and no extra call
//! starts unless the time left before the scrape deadline (less a margin for mapping and
//! encoding) is at least what the failed batch took. Phones not resolved within these bounds are
//! left out of this scrape (requested but not reported); the next scrape goes on from what was
//! learnt. When no call of a scrape answered at all (the first bad batch, split alone, finds no
//! good half either), the failure is the service's, not some phones': the collector fails with
//! the batch's error and nothing is remembered.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use tokio::time::Instant;

use crate::metrics::Families;
use crate::services::koophone::api::{StatusResult, MAX_IDS_PER_CALL};
use crate::transport::{ApiError, CloudClient, ErrorKind};

/// Phones left out of a scrape because a batch-level error was isolated to them, by reason.
pub const ISOLATED: &str = "huaweicloud_koophone_isolated_instances";

/// The batch-level error codes that are about ids, and so are split: bad parameter (an unknown
/// or released id) and no permission.
pub const ID_CODES: [&str; 2] = ["KOOPHONE.API.1000", "KOOPHONE.API.1001"];

/// Extra calls a scrape may always make, however few its batches: enough for four bad
/// batches of one bad id each, in the worst case.
pub const MIN_EXTRA_CALLS: usize = 4 * MAX_EXTRA_CALLS_PER_BATCH;
/// Extra calls one bad batch may make in one scrape: `2 × ⌈log2 100⌉ + 2`, the worst case of
/// one bad id plus a little for a second.
pub const MAX_EXTRA_CALLS_PER_BATCH: usize = 16;
/// First re-check of an isolated phone, after it was isolated; doubled after each re-check that
/// still fails, up to [`RECHECK_MAX`].
pub const RECHECK_FIRST: Duration = Duration::from_secs(60);
/// Longest wait between two re-checks of an isolated phone.
pub const RECHECK_MAX: Duration = Duration::from_secs(15 * 60);
/// Ids named in one log line; the rest are counted.
const LOGGED_IDS: usize = 10;

/// The isolation reason of a failed call: its code when it is one of [`ID_CODES`] and came as
/// an error inside HTTP 200 or as a 4xx other than 401 and 429 (both forms are in use).
pub fn id_reason(e: &ApiError) -> Option<&'static str> {
    let code = e.code.as_deref()?;
    let reason = ID_CODES.iter().find(|c| **c == code)?;
    match e.kind {
        ErrorKind::ApiError | ErrorKind::ClientError => Some(reason),
        _ => None,
    }
}

/// One batch-status answer: the rows of phones asked (once each) and its request id.
pub type Answer = Result<(Vec<StatusResult>, Option<String>), ApiError>;

/// Where batch statuses come from: the cloud, or a fake in unit tests.
pub trait StatusSource: Sync {
    /// Statuses of `ids` (≤ 100, no duplicates), only phones asked, once each, and the
    /// answer's request id.
    fn status<'a>(&'a self, ids: &'a [String], deadline: Instant) -> BoxFuture<'a, Answer>;

    /// `cloud` label, for log lines.
    fn cloud(&self) -> &str;
}

impl StatusSource for CloudClient {
    fn status<'a>(&'a self, ids: &'a [String], deadline: Instant) -> BoxFuture<'a, Answer> {
        super::status::status_chunk(self, ids, deadline).boxed()
    }

    fn cloud(&self) -> &str {
        &self.cloud
    }
}

/// What one scrape's status calls yielded.
#[derive(Debug, Default)]
pub struct Fetched {
    /// One status per phone reported.
    pub results: Vec<StatusResult>,
    /// Phones left out because a batch-level error was isolated to them, by reason.
    pub isolated: BTreeMap<&'static str, usize>,
    /// Why the fleet is not complete (isolated, unresolved or unanswered phones), if it is not.
    pub incomplete: Option<ApiError>,
}

/// Remembered across scrapes, per cloud: which phones are isolated, and what was logged.
#[derive(Default)]
pub struct Isolation {
    memory: Mutex<Memory>,
}

#[derive(Default)]
struct Memory {
    /// Isolated phones (only ids still in the phone list are kept).
    bad: HashMap<String, Entry>,
    /// What the last "not all resolved" / "not all answered" lines said, so a state that
    /// persists is logged once.
    last_cut: Option<String>,
    last_missing: Option<usize>,
}

/// One isolated phone.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    /// The error code that isolated it.
    reason: &'static str,
    /// When it is next sent alone to see whether it answers again.
    next_check: Instant,
    /// The wait before that re-check, doubled after each that still fails.
    interval: Duration,
}

impl Entry {
    fn new(reason: &'static str, now: Instant) -> Entry {
        Entry {
            reason,
            next_check: now + RECHECK_FIRST,
            interval: RECHECK_FIRST,
        }
    }

    fn still_bad(&mut self, reason: &'static str, now: Instant) {
        self.reason = reason;
        self.interval = (self.interval * 2).min(RECHECK_MAX);
        self.next_check = now + self.interval;
    }
}

/// This scrape's calls: batches of phones not isolated, isolated phones due for a re-check,
/// and isolated phones left out without a call.
struct Plan<'a> {
    batches: Vec<Cow<'a, [String]>>,
    rechecks: Vec<(String, &'static str)>,
    held: Vec<(String, &'static str)>,
}

impl Isolation {
    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ids currently isolated, with their reason (tests, landing page).
    pub fn isolated(&self) -> Vec<(String, &'static str)> {
        let mut v: Vec<_> = self
            .lock()
            .bad
            .iter()
            .map(|(id, e)| (id.clone(), e.reason))
            .collect();
        v.sort();
        v
    }

    /// Splits `ids` into this scrape's calls; forgets isolated phones no longer in `ids`. With
    /// nothing isolated (the usual case) the batches borrow `ids` and nothing is looked up.
    fn plan<'a>(&self, ids: &'a [String], now: Instant, max_rechecks: usize) -> Plan<'a> {
        let mut mem = self.lock();
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
}

/// A batch that failed for some of its ids.
struct BadBatch {
    ids: Vec<String>,
    reason: &'static str,
    error: ApiError,
    /// How long its call took: no extra call starts with less time left than this.
    took: Duration,
}

/// A first-round call's outcome.
enum First {
    Answered {
        rows: Vec<StatusResult>,
        request_id: Option<String>,
    },
    Bad(BadBatch),
}

/// What the extra calls of one scrape found, shared by the concurrent splits.
#[derive(Default)]
struct Found {
    reported: Vec<StatusResult>,
    /// (batch index, id, reason).
    isolated: Vec<(usize, String, &'static str)>,
    /// Calls that answered, first round included.
    answered: usize,
    /// Phones asked in calls that answered, but absent from the answer.
    missing: usize,
    missing_ids: Vec<String>,
    missing_request_id: Option<String>,
    /// Why isolation stopped before the end, if it did.
    stopped: Option<String>,
    /// Bad batches that used up their own share of extra calls.
    capped: usize,
}

/// The outcome of one extra call.
enum Called {
    Answered(Vec<StatusResult>),
    Bad(&'static str),
    Skipped,
}

/// One scrape's isolation: the source, the time and calls it may use, and what it found.
struct Splitter<'s, S: StatusSource> {
    source: &'s S,
    deadline: Instant,
    calls_left: AtomicUsize,
    found: Mutex<Found>,
}

impl<'s, S: StatusSource> Splitter<'s, S> {
    fn found(&self) -> std::sync::MutexGuard<'_, Found> {
        self.found.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop(&self, why: String) {
        let mut f = self.found();
        if f.stopped.is_none() {
            f.stopped = Some(why);
        }
    }

    fn report(&self, asked: &[String], rows: Vec<StatusResult>, request_id: Option<String>) {
        let mut f = self.found();
        f.answered += 1;
        note_missing(&mut f, asked, &rows, request_id);
        f.reported.extend(rows);
    }

    /// One extra call, when the bounds allow it.
    async fn call(&self, took: Duration, share: &AtomicUsize, ids: &[String]) -> Called {
        if self.found().stopped.is_some() {
            return Called::Skipped;
        }
        if Instant::now() + took > self.deadline {
            self.stop("the scrape deadline is too near for another call".into());
            return Called::Skipped;
        }
        let take = |n: &AtomicUsize| {
            n.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
                .is_ok()
        };
        if !take(share) {
            let mut f = self.found();
            f.capped += 1;
            return Called::Skipped;
        }
        if !take(&self.calls_left) {
            self.stop("this scrape's extra calls are used up".into());
            return Called::Skipped;
        }
        match self.source.status(ids, self.deadline).await {
            Ok((rows, request_id)) => {
                let mut f = self.found();
                f.answered += 1;
                note_missing(&mut f, ids, &rows, request_id);
                Called::Answered(rows)
            }
            Err(e) => match id_reason(&e) {
                Some(reason) => Called::Bad(reason),
                None => {
                    self.stop(format!("an extra call failed: {e}"));
                    Called::Skipped
                }
            },
        }
    }

    /// Resolves `set`, known to hold at least one bad id (`observed`: its own call failed;
    /// otherwise inferred from its sibling answering).
    fn resolve<'a>(
        &'a self,
        batch: usize,
        took: Duration,
        share: &'a AtomicUsize,
        mut set: Vec<String>,
        reason: &'static str,
        observed: bool,
    ) -> BoxFuture<'a, ()> {
        async move {
            if set.len() <= 1 {
                if observed {
                    let mut f = self.found();
                    f.isolated
                        .extend(set.into_iter().map(|id| (batch, id, reason)));
                    return;
                }
                // Inferred only: confirm, so a batch that failed once by chance blames nobody.
                self.test(batch, took, share, set).await;
                return;
            }
            let right = set.split_off(set.len().div_ceil(2));
            let left = set;
            match self.call(took, share, &left).await {
                Called::Answered(rows) => {
                    self.found().reported.extend(rows);
                    self.resolve(batch, took, share, right, reason, false).await;
                }
                Called::Bad(r) => {
                    futures::join!(
                        self.resolve(batch, took, share, left, r, true),
                        self.test(batch, took, share, right)
                    );
                }
                Called::Skipped => {}
            }
        }
        .boxed()
    }

    /// Calls `set` (not known to be bad) and resolves it if it fails.
    fn test<'a>(
        &'a self,
        batch: usize,
        took: Duration,
        share: &'a AtomicUsize,
        set: Vec<String>,
    ) -> BoxFuture<'a, ()> {
        async move {
            match self.call(took, share, &set).await {
                Called::Answered(rows) => self.found().reported.extend(rows),
                Called::Bad(r) => self.resolve(batch, took, share, set, r, true).await,
                Called::Skipped => {}
            }
        }
        .boxed()
    }

    /// Isolates the bad ids of one batch within its share of extra calls.
    async fn split(&self, batch: usize, bad: &BadBatch) {
        let share = AtomicUsize::new(MAX_EXTRA_CALLS_PER_BATCH);
        self.resolve(batch, bad.took, &share, bad.ids.clone(), bad.reason, true)
            .await;
    }
}

/// Counts (and names, for the log line) the phones asked but absent from an answer.
fn note_missing(
    f: &mut Found,
    asked: &[String],
    rows: &[StatusResult],
    request_id: Option<String>,
) {
    if rows.len() >= asked.len() {
        return;
    }
    f.missing += asked.len() - rows.len();
    if f.missing_ids.len() < LOGGED_IDS {
        let got: HashSet<&str> = rows.iter().map(|r| r.instance_id.as_str()).collect();
        f.missing_ids.extend(
            asked
                .iter()
                .filter(|id| !got.contains(id.as_str()))
                .take(LOGGED_IDS)
                .cloned(),
        );
        f.missing_ids.truncate(LOGGED_IDS);
    }
    if f.missing_request_id.is_none() {
        f.missing_request_id = request_id;
    }
}

/// `a, b, c and 12 more`: at most [`LOGGED_IDS`] ids of `ids`.
fn name_ids<'a>(ids: impl Iterator<Item = &'a str>, total: usize) -> String {
    let named: Vec<&str> = ids.take(LOGGED_IDS).collect();
    let mut s = named.join(",");
    if total > named.len() {
        s.push_str(&format!(" and {} more", total - named.len()));
    }
    s
}

/// The time isolation may use: up to the deadline less a margin for mapping and encoding
/// (a tenth of what is left, between 20 ms and 1 s).
fn isolation_deadline(deadline: Instant, now: Instant) -> Instant {
    let left = deadline.saturating_duration_since(now);
    let margin = (left / 10).clamp(Duration::from_millis(20), Duration::from_secs(1));
    deadline.checked_sub(margin).unwrap_or(now).max(now)
}

/// Statuses of `ids` (deduplicated): the batches of every phone not isolated, concurrently;
/// a batch that fails for some of its ids split to isolate them (module doc); isolated phones
/// due for a re-check sent alone. Fails only as a batch failed before (an error not about
/// ids), or when no call answered at all.
pub async fn fetch<S: StatusSource>(
    source: &S,
    ids: &[String],
    deadline: Instant,
    isolation: &Isolation,
) -> Result<Fetched, ApiError> {
    fetch_at(source, ids, deadline, isolation, Instant::now()).await
}

/// [`fetch`], with `now` the time the memory of isolated phones goes by (re-checks are due
/// after a while: tests move it on).
async fn fetch_at<S: StatusSource>(
    source: &S,
    ids: &[String],
    deadline: Instant,
    isolation: &Isolation,
    now: Instant,
) -> Result<Fetched, ApiError> {
    let soft = isolation_deadline(deadline, Instant::now());
    let max_extra = MIN_EXTRA_CALLS.max(ids.len().div_ceil(MAX_IDS_PER_CALL));
    let plan = isolation.plan(ids, now, (max_extra / 4).max(1));
    let cloud = source.cloud();

    let first = futures::future::try_join_all(plan.batches.iter().map(|batch| async move {
        let started = Instant::now();
        match source.status(batch, deadline).await {
            Ok((rows, request_id)) => Ok(First::Answered { rows, request_id }),
            Err(e) => match id_reason(&e) {
                Some(reason) => Ok(First::Bad(BadBatch {
                    ids: batch.to_vec(),
                    reason,
                    error: e,
                    took: started.elapsed(),
                })),
                None => Err(e),
            },
        }
    }));
    let rechecks = futures::future::join_all(
        plan.rechecks
            .iter()
            .map(|(id, _)| async move { source.status(std::slice::from_ref(id), soft).await }),
    );
    let (first, rechecked) = futures::future::join(first, rechecks).await;
    let first = first?;

    let splitter = Splitter {
        source,
        deadline: soft,
        calls_left: AtomicUsize::new(max_extra.saturating_sub(plan.rechecks.len())),
        found: Mutex::new(Found::default()),
    };
    let mut bad = Vec::new();
    {
        let mut f = splitter.found();
        for (outcome, batch) in first.into_iter().zip(&plan.batches) {
            match outcome {
                First::Answered { rows, request_id } => {
                    f.answered += 1;
                    note_missing(&mut f, batch, &rows, request_id);
                    f.reported.extend(rows);
                }
                First::Bad(b) => bad.push(b),
            }
        }
    }
    // Re-checks: a phone that answers alone is back; one that fails for its id stays isolated.
    let mut recovered = Vec::new();
    let mut still_bad = Vec::new();
    let mut held = plan.held;
    for ((id, reason), outcome) in plan.rechecks.into_iter().zip(rechecked) {
        match outcome {
            Ok((rows, request_id)) => {
                splitter.report(std::slice::from_ref(&id), rows, request_id);
                recovered.push(id);
            }
            Err(e) => {
                // An error not about the id gives no verdict: it stays isolated as it was.
                let r = id_reason(&e);
                if let Some(r) = r {
                    still_bad.push((id.clone(), r));
                }
                held.push((id, r.unwrap_or(reason)));
            }
        }
    }

    if !bad.is_empty() {
        let run = async {
            let mut rest = &bad[..];
            if splitter.found().answered == 0 {
                // Nothing answered yet: one batch first, to tell some bad phones from a
                // service that refuses everything.
                splitter.split(0, &bad[0]).await;
                rest = &bad[1..];
                if splitter.found().answered == 0 {
                    return;
                }
            }
            // As many batches at once as the extra calls left can see through: a batch split
            // halfway learns nothing for the next scrape, so the calls go to finishing some
            // rather than starting all.
            let offset = bad.len() - rest.len();
            let workers = (splitter.calls_left.load(Ordering::Relaxed) / MAX_EXTRA_CALLS_PER_BATCH)
                .clamp(1, rest.len().max(1));
            let next = AtomicUsize::new(0);
            futures::future::join_all((0..workers).map(|_| async {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(b) = rest.get(i) else { break };
                    if splitter.found().stopped.is_some()
                        || splitter.calls_left.load(Ordering::Relaxed) == 0
                    {
                        break;
                    }
                    splitter.split(offset + i, b).await;
                }
            }))
            .await;
        };
        if tokio::time::timeout_at(soft, run).await.is_err() {
            splitter.stop("the scrape deadline is too near for another call".into());
        }
    }
    let found = splitter
        .found
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    if found.answered == 0 && !bad.is_empty() {
        // Every call failed: the service refuses, not some phones. Nothing is learnt.
        return Err(bad.swap_remove(0).error);
    }

    // Learn: newly isolated phones, re-check verdicts; one log line per isolation.
    let mut isolated: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (_, r) in &held {
        *isolated.entry(r).or_default() += 1;
    }
    for (_, _, r) in &found.isolated {
        *isolated.entry(r).or_default() += 1;
    }
    let isolated_total: usize = isolated.values().sum();
    {
        let mut mem = isolation.lock();
        for id in &recovered {
            if mem.bad.remove(id.as_str()).is_some() {
                tracing::info!(cloud, instance_id = %id, "KooPhone phone answers again alone; no longer isolated");
            }
        }
        for (id, r) in &still_bad {
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
                    *n == i && mem.bad.insert(id.clone(), Entry::new(r, now)).is_none()
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
        let reported = found.reported.len();
        let unresolved = ids
            .len()
            .saturating_sub(reported + isolated_total + found.missing);
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

    let reported = found.reported.len();
    let incomplete = (reported < ids.len()).then(|| {
        let reasons: Vec<String> = isolated.iter().map(|(r, n)| format!("{n} {r}")).collect();
        let mut e = ApiError::new(
            ErrorKind::ApiError,
            crate::services::koophone::api::BATCH_STATUS.name,
            format!(
                "{} of {} phones not reported: {} isolated by batch errors ({}), {} not in the answers, {} not resolved in time",
                ids.len() - reported,
                ids.len(),
                isolated_total,
                if reasons.is_empty() { "none".to_string() } else { reasons.join(", ") },
                found.missing,
                ids.len().saturating_sub(reported + isolated_total + found.missing),
            ),
        );
        e.code = isolated.keys().next().map(|r| r.to_string());
        e.request_id = bad
            .first()
            .and_then(|b| b.error.request_id.clone())
            .or_else(|| found.missing_request_id.clone());
        e
    });
    Ok(Fetched {
        results: found.reported,
        isolated,
        incomplete,
    })
}

/// `huaweicloud_koophone_isolated_instances` per reason seen (absent when none).
pub fn map_isolated(cloud: &str, isolated: &BTreeMap<&'static str, usize>) -> Families {
    let mut f = Families::new();
    for (reason, n) in isolated {
        f.gauge(
            ISOLATED,
            "KooPhone phones left out of this scrape because a batch-level error (the reason) was isolated to them.",
            &[("cloud", cloud), ("reason", reason)],
            *n as f64,
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::koophone::api::StatusValue;

    /// A batch-status API where some ids fail any batch holding them.
    #[derive(Default)]
    struct Fake {
        bad: Mutex<HashMap<String, &'static str>>,
        /// Every call fails with this, whatever it asks.
        refuse: Option<(ErrorKind, &'static str)>,
        calls: AtomicUsize,
    }

    impl Fake {
        fn with_bad(bad: &[(&str, &'static str)]) -> Fake {
            let f = Fake::default();
            for (id, r) in bad {
                f.bad.lock().unwrap().insert(id.to_string(), r);
            }
            f
        }
        fn calls(&self) -> usize {
            self.calls.swap(0, Ordering::SeqCst)
        }
    }

    impl StatusSource for Fake {
        fn status<'a>(&'a self, ids: &'a [String], _deadline: Instant) -> BoxFuture<'a, Answer> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let err = |kind, code: &str| {
                let mut e = ApiError::new(kind, "koophone_batch_status", "no");
                e.code = Some(code.into());
                e.request_id = Some("rid".into());
                e
            };
            let out = if let Some((kind, code)) = self.refuse {
                Err(err(kind, code))
            } else {
                let bad = self.bad.lock().unwrap();
                match ids.iter().find_map(|id| bad.get(id)) {
                    Some(code) => Err(err(ErrorKind::ApiError, code)),
                    None => Ok((
                        ids.iter()
                            .map(|id| StatusResult {
                                instance_id: id.clone(),
                                status: StatusValue::Code(0),
                            })
                            .collect(),
                        Some("rid".into()),
                    )),
                }
            };
            futures::future::ready(out).boxed()
        }
        fn cloud(&self) -> &str {
            "c"
        }
    }

    fn fleet(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("p{i:04}")).collect()
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    const NO_PERMISSION: &str = "KOOPHONE.API.1001";
    const BAD_PARAMETER: &str = "KOOPHONE.API.1000";

    #[test]
    fn only_id_codes_in_200_or_a_4xx_are_about_ids() {
        let e = |kind, code: &str| {
            let mut e = ApiError::new(kind, "op", "");
            e.code = Some(code.into());
            e
        };
        assert_eq!(
            id_reason(&e(ErrorKind::ApiError, NO_PERMISSION)),
            Some(NO_PERMISSION)
        );
        assert_eq!(
            id_reason(&e(ErrorKind::ClientError, BAD_PARAMETER)),
            Some(BAD_PARAMETER)
        );
        for kind in [
            ErrorKind::ServerError,
            ErrorKind::Throttled,
            ErrorKind::Unauthorized,
            ErrorKind::Timeout,
            ErrorKind::DecodeError,
        ] {
            assert_eq!(id_reason(&e(kind, BAD_PARAMETER)), None, "{kind:?}");
        }
        assert_eq!(
            id_reason(&e(ErrorKind::ApiError, "KOOPHONE.API.9999")),
            None
        );
        assert_eq!(
            id_reason(&ApiError::new(ErrorKind::ApiError, "op", "")),
            None
        );
    }

    #[tokio::test]
    async fn one_bad_id_is_isolated_within_the_bound_and_remembered() {
        let ids = fleet(250);
        let api = Fake::with_bad(&[("p0137", NO_PERMISSION)]);
        let iso = Isolation::default();
        let got = fetch(&api, &ids, far(), &iso).await.unwrap();
        assert_eq!(got.results.len(), 249);
        assert!(got.results.iter().all(|r| r.instance_id != "p0137"));
        assert_eq!(got.isolated, BTreeMap::from([(NO_PERMISSION, 1)]));
        assert!(got.incomplete.is_some());
        let calls = api.calls();
        assert!((3 + 7..=3 + 15).contains(&calls), "{calls} calls");
        assert_eq!(iso.isolated(), vec![("p0137".to_string(), NO_PERMISSION)]);
        // Remembered: the next scrape makes only the three batch calls.
        let again = fetch(&api, &ids, far(), &iso).await.unwrap();
        assert_eq!(api.calls(), 3);
        assert_eq!(again.results.len(), 249);
        assert_eq!(again.isolated, BTreeMap::from([(NO_PERMISSION, 1)]));
    }

    #[tokio::test]
    async fn bad_ids_in_several_batches_with_several_reasons() {
        let ids = fleet(400);
        let bad = [
            ("p0000", NO_PERMISSION),
            ("p0150", BAD_PARAMETER),
            ("p0199", BAD_PARAMETER),
            ("p0300", NO_PERMISSION),
            ("p0301", NO_PERMISSION),
        ];
        let api = Fake::with_bad(&bad);
        let iso = Isolation::default();
        let got = fetch(&api, &ids, far(), &iso).await.unwrap();
        assert!(got.results.len() >= 390, "{}", got.results.len());
        assert!(api.calls() <= 4 + 3 * MAX_EXTRA_CALLS_PER_BATCH);
        // Two bad ids far apart in one batch may take more than its share: the next scrape
        // finishes from what the first learnt.
        let got = fetch(&api, &ids, far(), &iso).await.unwrap();
        assert_eq!(got.results.len(), 395);
        assert_eq!(
            got.isolated,
            BTreeMap::from([(NO_PERMISSION, 3), (BAD_PARAMETER, 2)])
        );
        let mut want: Vec<(String, &str)> = bad.iter().map(|(i, r)| (i.to_string(), *r)).collect();
        want.sort();
        assert_eq!(iso.isolated(), want);
    }

    #[tokio::test]
    async fn a_batch_of_bad_ids_uses_its_share_and_the_next_scrape_goes_on() {
        let ids = fleet(300);
        let bad: Vec<(String, &'static str)> = ids[100..200]
            .iter()
            .map(|i| (i.clone(), BAD_PARAMETER))
            .collect();
        let api = Fake::default();
        api.bad.lock().unwrap().extend(bad.iter().cloned());
        let iso = Isolation::default();
        let got = fetch(&api, &ids, far(), &iso).await.unwrap();
        assert_eq!(api.calls(), 3 + MAX_EXTRA_CALLS_PER_BATCH);
        assert_eq!(got.results.len(), 200);
        let first = iso.isolated().len();
        assert!(first > 0);
        assert!(got
            .incomplete
            .unwrap()
            .message
            .contains("not resolved in time"));
        let got = fetch(&api, &ids, far(), &iso).await.unwrap();
        assert_eq!(got.results.len(), 200);
        assert!(
            iso.isolated().len() > first,
            "the next scrape isolates more"
        );
    }

    #[tokio::test]
    async fn more_bad_batches_than_the_scrape_can_split_finish_some_and_the_next_scrape_the_rest() {
        let ids = fleet(1000);
        let bad: Vec<(&str, &'static str)> = ids
            .iter()
            .skip(37)
            .step_by(100)
            .map(|id| (id.as_str(), NO_PERMISSION))
            .collect();
        let api = Fake::with_bad(&bad);
        let iso = Isolation::default();
        fetch(&api, &ids, far(), &iso).await.unwrap();
        assert!(api.calls() <= 10 + MIN_EXTRA_CALLS);
        let first = iso.isolated().len();
        assert!(
            first >= MIN_EXTRA_CALLS / MAX_EXTRA_CALLS_PER_BATCH,
            "{first}"
        );
        let got = fetch(&api, &ids, far(), &iso).await.unwrap();
        assert!(api.calls() <= 10 + MIN_EXTRA_CALLS);
        assert_eq!(iso.isolated().len(), 10);
        assert_eq!(got.results.len(), 990);
    }

    #[tokio::test]
    async fn a_service_refusing_everything_fails_and_learns_nothing() {
        let ids = fleet(250);
        let api = Fake {
            refuse: Some((ErrorKind::ApiError, NO_PERMISSION)),
            ..Fake::default()
        };
        let iso = Isolation::default();
        let e = fetch(&api, &ids, far(), &iso).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some(NO_PERMISSION));
        // Three batches, then one batch split alone: no more.
        assert!(api.calls() <= 3 + MAX_EXTRA_CALLS_PER_BATCH);
        assert!(iso.isolated().is_empty());
    }

    #[tokio::test]
    async fn errors_not_about_ids_are_not_split() {
        for (kind, code) in [
            (ErrorKind::ServerError, "KOOPHONE.API.9999"),
            (ErrorKind::ApiError, "KOOPHONE.API.9999"),
            (ErrorKind::Throttled, "APIG.0308"),
            (ErrorKind::Unauthorized, "APIG.0301"),
        ] {
            let api = Fake {
                refuse: Some((kind, code)),
                ..Fake::default()
            };
            let e = fetch(&api, &fleet(250), far(), &Isolation::default())
                .await
                .unwrap_err();
            assert_eq!(e.kind, kind);
            assert!(api.calls() <= 3, "{code}: no split");
        }
    }

    #[tokio::test]
    async fn an_isolated_phone_is_rechecked_alone_with_backoff_and_comes_back() {
        let ids = fleet(150);
        let api = Fake::with_bad(&[("p0042", NO_PERMISSION)]);
        let iso = Isolation::default();
        let t0 = Instant::now();
        let at = |d: Duration| t0 + d;
        fetch_at(&api, &ids, far(), &iso, t0).await.unwrap();
        api.calls();
        let got = fetch_at(&api, &ids, far(), &iso, at(RECHECK_FIRST))
            .await
            .unwrap();
        assert_eq!(api.calls(), 2 + 1, "two batches and one re-check");
        assert_eq!(got.isolated, BTreeMap::from([(NO_PERMISSION, 1)]));
        // Still bad: the next re-check waits twice as long.
        fetch_at(&api, &ids, far(), &iso, at(RECHECK_FIRST * 2))
            .await
            .unwrap();
        assert_eq!(api.calls(), 2);
        api.bad.lock().unwrap().clear();
        let got = fetch_at(&api, &ids, far(), &iso, at(RECHECK_FIRST * 3))
            .await
            .unwrap();
        assert_eq!(api.calls(), 3);
        assert_eq!(got.results.len(), 150);
        assert!(got.isolated.is_empty());
        assert!(got.incomplete.is_none());
        assert!(iso.isolated().is_empty());
    }

    #[test]
    fn rechecks_back_off_up_to_the_cap() {
        let t0 = Instant::now();
        let mut e = Entry::new(NO_PERMISSION, t0);
        assert_eq!(e.next_check, t0 + RECHECK_FIRST);
        for _ in 0..10 {
            e.still_bad(BAD_PARAMETER, t0);
        }
        assert_eq!(e.interval, RECHECK_MAX);
        assert_eq!(e.reason, BAD_PARAMETER);
    }

    #[tokio::test]
    async fn phones_gone_from_the_list_are_forgotten() {
        let ids = fleet(150);
        let api = Fake::with_bad(&[("p0042", NO_PERMISSION)]);
        let iso = Isolation::default();
        fetch(&api, &ids, far(), &iso).await.unwrap();
        let fewer: Vec<String> = ids.iter().filter(|i| *i != "p0042").cloned().collect();
        let got = fetch(&api, &fewer, far(), &iso).await.unwrap();
        assert!(got.incomplete.is_none());
        assert!(iso.isolated().is_empty());
    }

    #[tokio::test]
    async fn no_extra_call_starts_past_the_deadline() {
        let ids = fleet(250);
        let api = Fake::with_bad(&[("p0001", NO_PERMISSION), ("p0101", NO_PERMISSION)]);
        let iso = Isolation::default();
        // A deadline already past: the batches are sent (and answer), nothing is split.
        let got = fetch(&api, &ids, Instant::now(), &iso).await.unwrap();
        assert_eq!(api.calls(), 3);
        assert_eq!(got.results.len(), 50);
        assert!(got.isolated.is_empty());
        assert!(iso.isolated().is_empty());
    }

    #[test]
    fn log_lines_name_a_bounded_number_of_ids() {
        let ids = fleet(25);
        assert_eq!(
            name_ids(ids.iter().map(String::as_str), 25),
            "p0000,p0001,p0002,p0003,p0004,p0005,p0006,p0007,p0008,p0009 and 15 more"
        );
        assert_eq!(name_ids(["a"].into_iter(), 1), "a");
    }
}
