//! Bisection of one scrape's bad batches ([`Splitter`]): each batch split in halves to isolate
//! the ids that fail it, within the scrape's bounds (the module doc of [`super`]): its share of
//! extra calls, the scrape's extra calls, and the time left.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use tokio::time::Instant;

use super::source::{id_reason, StatusSource};
use crate::services::koophone::api::StatusResult;
use crate::sync::lock;
use crate::transport::ApiError;

/// Extra calls a scrape may always make, however few its batches: enough for four bad
/// batches of one bad id each, in the worst case.
pub const MIN_EXTRA_CALLS: usize = 4 * MAX_EXTRA_CALLS_PER_BATCH;
/// Extra calls one bad batch may make in one scrape: `2 × ⌈log2 100⌉ + 2`, the worst case of
/// one bad id plus a little for a second.
pub const MAX_EXTRA_CALLS_PER_BATCH: usize = 16;
/// Ids named in one log line; the rest are counted.
const LOGGED_IDS: usize = 10;

/// A batch that failed for some of its ids.
pub(super) struct BadBatch {
    /// The batch's phones.
    pub(super) ids: Vec<String>,
    /// The isolation reason of its error.
    pub(super) reason: &'static str,
    /// Its error.
    pub(super) error: ApiError,
    /// How long its call took: no extra call starts with less time left than this.
    pub(super) took: Duration,
}

/// What the extra calls of one scrape found, shared by the concurrent splits.
#[derive(Default)]
pub(super) struct Found {
    /// The rows of the calls that answered, first round included.
    pub(super) reported: Vec<StatusResult>,
    /// (batch index, id, reason).
    pub(super) isolated: Vec<(usize, String, &'static str)>,
    /// Calls that answered, first round included.
    pub(super) answered: usize,
    /// Phones asked in calls that answered, but absent from the answer.
    pub(super) missing: usize,
    /// The first [`LOGGED_IDS`] of those, for the log line.
    pub(super) missing_ids: Vec<String>,
    /// The request id of the first answer that left phones out.
    pub(super) missing_request_id: Option<String>,
    /// Why isolation stopped before the end, if it did.
    pub(super) stopped: Option<String>,
    /// Bad batches that used up their own share of extra calls.
    pub(super) capped: usize,
}

/// The outcome of one extra call.
enum Called {
    /// It answered, with these rows.
    Answered(Vec<StatusResult>),
    /// It failed for an id, with this reason.
    Bad(&'static str),
    /// It was not made (a bound), or failed for another reason (isolation stops).
    Skipped,
}

/// One scrape's isolation: the source, the time and calls it may use, and what it found.
pub(super) struct Splitter<'s, S: StatusSource> {
    /// Where the calls go.
    source: &'s S,
    /// No extra call starts after this (the scrape deadline less a margin).
    deadline: Instant,
    /// Extra calls the scrape may still make.
    calls_left: AtomicUsize,
    /// What the calls found so far.
    found: Mutex<Found>,
}

impl<'s, S: StatusSource> Splitter<'s, S> {
    /// A splitter for one scrape that may make `calls` extra calls until `deadline`.
    pub(super) fn new(source: &'s S, deadline: Instant, calls: usize) -> Self {
        Splitter {
            source,
            deadline,
            calls_left: AtomicUsize::new(calls),
            found: Mutex::new(Found::default()),
        }
    }

    /// Stops isolation for this scrape, for the first reason given.
    fn stop(&self, why: String) {
        let mut f = lock(&self.found);
        if f.stopped.is_none() {
            f.stopped = Some(why);
        }
    }

    /// Takes in an answer to a call outside the bisection (first round, re-check).
    pub(super) fn report(
        &self,
        asked: &[String],
        rows: Vec<StatusResult>,
        request_id: Option<String>,
    ) {
        let mut f = lock(&self.found);
        f.answered += 1;
        note_missing(&mut f, asked, &rows, request_id);
        f.reported.extend(rows);
    }

    /// One extra call, when the bounds allow it.
    async fn call(&self, took: Duration, share: &AtomicUsize, ids: &[String]) -> Called {
        if lock(&self.found).stopped.is_some() {
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
            let mut f = lock(&self.found);
            f.capped += 1;
            return Called::Skipped;
        }
        if !take(&self.calls_left) {
            self.stop("this scrape's extra calls are used up".into());
            return Called::Skipped;
        }
        match self.source.status(ids, self.deadline).await {
            Ok((rows, request_id)) => {
                let mut f = lock(&self.found);
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
                    let mut f = lock(&self.found);
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
                    lock(&self.found).reported.extend(rows);
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
                Called::Answered(rows) => lock(&self.found).reported.extend(rows),
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

    /// Splits each of `bad` (numbered by its index) within the bounds, as many at once as the
    /// extra calls left can see through; stops all at the deadline.
    pub(super) async fn split_all(&self, bad: &[BadBatch]) {
        if bad.is_empty() {
            return;
        }
        let run = async {
            let mut rest = bad;
            if lock(&self.found).answered == 0 {
                // Nothing answered yet: one batch first, to tell some bad phones from a
                // service that refuses everything.
                self.split(0, &bad[0]).await;
                rest = &bad[1..];
                if lock(&self.found).answered == 0 {
                    return;
                }
            }
            // As many batches at once as the extra calls left can see through: a batch split
            // halfway learns nothing for the next scrape, so the calls go to finishing some
            // rather than starting all.
            let offset = bad.len() - rest.len();
            let workers = (self.calls_left.load(Ordering::Relaxed) / MAX_EXTRA_CALLS_PER_BATCH)
                .clamp(1, rest.len().max(1));
            let next = AtomicUsize::new(0);
            futures::future::join_all((0..workers).map(|_| async {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(b) = rest.get(i) else { break };
                    if lock(&self.found).stopped.is_some()
                        || self.calls_left.load(Ordering::Relaxed) == 0
                    {
                        break;
                    }
                    self.split(offset + i, b).await;
                }
            }))
            .await;
        };
        if tokio::time::timeout_at(self.deadline, run).await.is_err() {
            self.stop("the scrape deadline is too near for another call".into());
        }
    }

    /// What the calls found.
    pub(super) fn into_found(self) -> Found {
        self.found
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
pub(super) fn name_ids<'a>(ids: impl Iterator<Item = &'a str>, total: usize) -> String {
    let named: Vec<&str> = ids.take(LOGGED_IDS).collect();
    let mut s = named.join(",");
    if total > named.len() {
        s.push_str(&format!(" and {} more", total - named.len()));
    }
    s
}
