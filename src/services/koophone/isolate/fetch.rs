//! One scrape's statuses with isolation ([`fetch`]): the first round of batches and the
//! re-checks, the bad batches split, what was learnt remembered, and the
//! `huaweicloud_koophone_isolated_instances` family.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::memory::{Isolation, Rechecked};
use super::source::{id_reason, StatusSource, ID_CODES};
use super::split::{BadBatch, Found, Splitter, MIN_EXTRA_CALLS};
use crate::metrics::{Families, Family};
use crate::services::koophone::api::{StatusResult, BATCH_STATUS, MAX_IDS_PER_CALL};
use crate::transport::{ApiError, ErrorKind};

/// Phones left out of a scrape because a batch-level error was isolated to them, by reason.
pub static ISOLATED: Family = Family::gauge(
    "huaweicloud_koophone_isolated_instances",
    &["cloud", "reason"],
    "KooPhone phones left out of this scrape because a batch-level error (the reason) was isolated to them.",
);

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

/// A first-round call's outcome.
enum First {
    /// It answered.
    Answered {
        /// The rows of phones asked.
        rows: Vec<StatusResult>,
        /// The answer's request id.
        request_id: Option<String>,
    },
    /// It failed for some of its ids.
    Bad(BadBatch),
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
pub(super) async fn fetch_at<S: StatusSource>(
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
    let (first, rechecked_answers) = futures::future::join(first, rechecks).await;
    let first = first?;

    let splitter = Splitter::new(source, soft, max_extra.saturating_sub(plan.rechecks.len()));
    let mut bad = Vec::new();
    for (outcome, batch) in first.into_iter().zip(&plan.batches) {
        match outcome {
            First::Answered { rows, request_id } => splitter.report(batch, rows, request_id),
            First::Bad(b) => bad.push(b),
        }
    }
    // Re-checks: a phone that answers alone is back; one that fails for its id stays isolated.
    let mut rechecked = Rechecked::default();
    let mut held = plan.held;
    for ((id, reason), outcome) in plan.rechecks.into_iter().zip(rechecked_answers) {
        match outcome {
            Ok((rows, request_id)) => {
                splitter.report(std::slice::from_ref(&id), rows, request_id);
                rechecked.recovered.push(id);
            }
            Err(e) => {
                // An error not about the id gives no verdict: it stays isolated as it was.
                let r = id_reason(&e);
                if let Some(r) = r {
                    rechecked.still_bad.push((id.clone(), r));
                }
                held.push((id, r.unwrap_or(reason)));
            }
        }
    }

    splitter.split_all(&bad).await;
    let found = splitter.into_found();
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
    let unresolved = ids
        .len()
        .saturating_sub(found.reported.len() + isolated_total + found.missing);
    isolation.learn(cloud, now, &rechecked, &bad, &found, unresolved);
    let incomplete = incomplete(ids.len(), &isolated, &found, &bad, unresolved);
    Ok(Fetched {
        results: found.reported,
        isolated,
        incomplete,
    })
}

/// Why the fleet is not complete, when fewer than `asked` phones were reported.
fn incomplete(
    asked: usize,
    isolated: &BTreeMap<&'static str, usize>,
    found: &Found,
    bad: &[BadBatch],
    unresolved: usize,
) -> Option<ApiError> {
    let reported = found.reported.len();
    let isolated_total: usize = isolated.values().sum();
    (reported < asked).then(|| {
        let reasons: Vec<String> = isolated.iter().map(|(r, n)| format!("{n} {r}")).collect();
        let mut e = ApiError::new(
            ErrorKind::ApiError,
            BATCH_STATUS.name,
            format!(
                "{} of {} phones not reported: {} isolated by batch errors ({}), {} not in the answers, {} not resolved in time",
                asked - reported,
                asked,
                isolated_total,
                if reasons.is_empty() { "none".to_string() } else { reasons.join(", ") },
                found.missing,
                unresolved,
            ),
        );
        e.code = isolated.keys().next().map(|r| r.to_string());
        e.request_id = bad
            .first()
            .and_then(|b| b.error.request_id.clone())
            .or_else(|| found.missing_request_id.clone());
        e
    })
}

/// The series [`map_isolated`] writes: one per known reason (a phone is isolated only for one
/// of them).
pub const ISOLATED_SERIES: usize = ID_CODES.len();

/// `huaweicloud_koophone_isolated_instances` for every known reason ([`ID_CODES`]), 0 when
/// none is isolated for it: an absent series would hide an alert on it (and empty its panel).
pub fn map_isolated(cloud: &str, isolated: &BTreeMap<&'static str, usize>) -> Families {
    let mut f = Families::new();
    let others = isolated.keys().filter(|r| !ID_CODES.contains(r));
    for reason in ID_CODES.iter().chain(others) {
        f.gauge(
            &ISOLATED,
            &[("cloud", cloud), ("reason", reason)],
            isolated.get(reason).copied().unwrap_or(0) as f64,
        );
    }
    f
}
