//! One scrape: every enabled collector of every cloud, concurrently, under one deadline; each
//! wrapped so its success and duration are recorded and a failure leaves the others untouched.
//! Concurrent scrapes are coalesced: while a collection is in flight, another scrape may wait for
//! it and serve the same result, but only when that collection *covers* it.
//!
//! A collection covers a scrape when its budget (the time its collectors are given) is at least
//! the scrape's own budget, and it ends no later than the scrape's own deadline. The first
//! condition means joining never cuts a collector shorter than the joiner's header asked for;
//! the second means the joiner still answers by its own deadline. Prometheus servers with the
//! same scrape timeout (an HA pair) always cover each other, since the later one has the same
//! budget and a later deadline. A scrape with a tiny `X-Prometheus-Scrape-Timeout-Seconds` can
//! join a normal collection only if that collection is about to end in time, and nobody joins
//! its collection but scrapes with as little time as it has: the header affects its own request
//! alone. A scrape that finds no covering collection starts its own, which others may join.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::time::Instant;

use crate::config::Config;
use crate::inventory::{LAST_SUCCESS, REFUSED_SHRINKS, RESOURCES};
use crate::metrics::{Families, Family, SelfMetrics};
use crate::repeats::{Repeats, Verdict};
use crate::services::{Fleet, SERVICES};
use crate::status::{COLLECTOR_DURATION, COLLECTOR_SUCCESS};
use crate::sync::{lock, spawn_flight};
use crate::transport::{ApiError, ErrorKind};

/// One series per configured cloud.
pub static CLOUD_INFO: Family = Family::gauge(
    "huaweicloud_cloud_info",
    &["cloud", "region", "project_id"],
    "Configured clouds: 1 per cloud, labelled with its region and project id.",
);

/// The families the scrape machinery and discovery write, whatever the services: with each
/// service's own ([`crate::services::Service::families`]) and the self metrics
/// ([`crate::metrics::SELF_FAMILIES`]), every family the exporter serves on `/metrics`.
pub static FAMILIES: &[&Family] = &[
    &CLOUD_INFO,
    &COLLECTOR_SUCCESS,
    &COLLECTOR_DURATION,
    &RESOURCES,
    &LAST_SUCCESS,
    &REFUSED_SHRINKS,
];

type Collection = Shared<BoxFuture<'static, Bytes>>;

/// A collection in flight and what it promises a scrape that joins it.
struct InFlight {
    /// Tells collections apart, so one only removes its own entry.
    generation: u64,
    /// The time its collectors were given.
    budget: Duration,
    /// When its collectors are cut.
    deadline: Instant,
    /// Its encoded families, shared by every scrape that joined it.
    collection: Collection,
}

impl InFlight {
    /// Whether a scrape with `budget` and `deadline` may serve this collection's result: it
    /// gives its collectors at least as long as the scrape would, and answers in time.
    fn covers(&self, budget: Duration, deadline: Instant) -> bool {
        self.budget >= budget && self.deadline <= deadline && self.collection.peek().is_none()
    }
}

/// What one wrapped collector run yields: cloud, collector, outcome, time taken.
type CollectorRun<'a> = (&'a str, &'static str, Result<Families, ApiError>, Duration);

/// Everything a scrape needs: the fleet one config describes, and the collections in flight.
pub struct Exporter {
    /// The clouds and their services' runtimes.
    pub fleet: Fleet,
    /// Collections in flight, each with its own budget and deadline.
    inflight: Mutex<Vec<InFlight>>,
    /// Tells collections apart, so one only clears its own in-flight entry.
    generation: AtomicU64,
    /// Which collector failures get a log line (kept over a reload, so a reload does not
    /// log every failing collector again).
    repeats: Arc<Repeats>,
}

/// The exporter's fleet is what handlers read (`exporter.config`, `exporter.clouds`…).
impl std::ops::Deref for Exporter {
    type Target = Fleet;
    fn deref(&self) -> &Fleet {
        &self.fleet
    }
}

impl Exporter {
    /// Builds the fleet of `config` with every service of the registry; on a reload, what did
    /// not change is carried over from `previous` (see [`Fleet::new`]).
    pub fn new(
        config: Config,
        metrics: SelfMetrics,
        previous: Option<&Exporter>,
    ) -> Result<Exporter, String> {
        let repeats = previous.map_or_else(Arc::default, |p| p.repeats.clone());
        let clouds: Vec<String> = config.clouds.iter().map(|c| c.name.clone()).collect();
        repeats.retain(|key| {
            key.split_once('/')
                .is_some_and(|(cloud, _)| clouds.iter().any(|c| c == cloud))
        });
        Ok(Exporter {
            fleet: Fleet::new(config, metrics, previous.map(|p| &p.fleet), SERVICES)?,
            inflight: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
            repeats,
        })
    }

    /// The encoded collector families of a scrape given `budget` (its deadline is `budget` from
    /// now), joining a collection in flight when one covers it (see the module doc).
    pub async fn scrape(self: &Arc<Self>, budget: Duration) -> Bytes {
        let deadline = Instant::now() + budget;
        let (fut, joined) = {
            let mut guard = lock(&self.inflight);
            // Of the covering collections, the one that ends first answers soonest.
            let joinable = guard
                .iter()
                .filter(|c| c.covers(budget, deadline))
                .min_by_key(|c| c.deadline)
                .map(|c| c.collection.clone());
            match joinable {
                Some(f) => (f, true),
                None => {
                    let gen = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
                    let me = self.clone();
                    // Its own task, so the collection finishes (and clears itself) even if the
                    // scrape that started it goes away.
                    let fut: Collection = spawn_flight(
                        async move {
                            let fams = me.collect(deadline).await;
                            let mut out = Vec::new();
                            fams.encode(&mut out);
                            drop(fams);
                            lock(&me.inflight).retain(|c| c.generation != gen);
                            Bytes::from(out)
                        },
                        |_| Bytes::new(),
                    );
                    // A collection that died without clearing itself (a panic) has resolved:
                    // it covers nobody, and is dropped here.
                    guard.retain(|c| c.collection.peek().is_none());
                    guard.push(InFlight {
                        generation: gen,
                        budget,
                        deadline,
                        collection: fut.clone(),
                    });
                    (fut, false)
                }
            }
        };
        self.metrics
            .scrapes
            .with_label_values(&[if joined { "joined" } else { "collected" }])
            .inc();
        fut.await
    }

    /// Runs every collector of every service of every cloud under `deadline` and returns all
    /// families: the collectors', the services' own (inventories), `huaweicloud_cloud_info`,
    /// and the per-collector success and duration.
    pub async fn collect(&self, deadline: Instant) -> Families {
        let mut jobs: Vec<BoxFuture<'_, CollectorRun<'_>>> = Vec::new();
        for c in &self.clouds {
            for runtime in c.runtimes() {
                for job in runtime.collect(deadline) {
                    jobs.push(timed(&c.cfg.name, job.collector, deadline, job.run).boxed());
                }
            }
        }
        let results = futures::future::join_all(jobs).await;
        let mut out = Families::new();
        for c in &self.clouds {
            // What each service holds (its inventory, also while refreshes fail).
            for runtime in c.runtimes() {
                runtime.families(&mut out, &self.status);
            }
            out.gauge(
                &CLOUD_INFO,
                &[
                    ("cloud", &c.cfg.name),
                    ("region", &c.cfg.region),
                    ("project_id", &c.cfg.project_id),
                ],
                1.0,
            );
        }
        for (cloud, collector, mut result, elapsed) in results {
            // A partial answer is served, but is no success (the collector logged why).
            let incomplete = result.as_mut().ok().and_then(Families::take_incomplete);
            self.log_outcome(cloud, collector, result.as_ref().err());
            let failure = match result {
                Ok(f) => {
                    out.merge(f);
                    incomplete
                }
                Err(e) => Some(e),
            };
            let now = std::time::SystemTime::now();
            self.status.report_collector(
                &mut out,
                cloud,
                collector,
                failure.as_ref(),
                elapsed,
                now.checked_sub(elapsed).unwrap_or(now),
            );
        }
        out
    }
}

impl Exporter {
    /// The log line of one collector's outcome, if it gets one (see [`crate::repeats`]): the
    /// first failure and each change of error at once, the same error again at most once a
    /// minute with how often it recurred, and the recovery.
    fn log_outcome(&self, cloud: &str, collector: &str, failure: Option<&ApiError>) {
        let key = format!("{cloud}/{collector}");
        let signature = failure.map(|e| {
            format!(
                "{}|{}|{:?}|{:?}|{}",
                e.kind.result(),
                e.operation,
                e.status,
                e.code,
                e.message
            )
        });
        let verdict = self
            .repeats
            .observe(&key, signature.as_deref(), Instant::now());
        if let Verdict::Recovered { repeats } = verdict {
            tracing::info!(
                cloud,
                collector,
                unlogged_repeats = repeats,
                "collector recovered"
            );
            return;
        }
        let Some(e) = failure else { return };
        let (result, request_id) = (e.kind.result(), e.request_id.as_deref().unwrap_or("-"));
        match verdict {
            Verdict::First => {
                tracing::warn!(cloud, collector, result, request_id, error = %e, "collector failed")
            }
            // The count of the error it replaces, which had lines at most once a minute.
            Verdict::Changed { repeats } => tracing::warn!(
                cloud,
                collector,
                result,
                request_id,
                error = %e,
                previous_error_repeats = repeats,
                "collector failed"
            ),
            Verdict::Repeated { repeats } => tracing::warn!(
                cloud,
                collector,
                result,
                request_id,
                error = %e,
                repeats,
                "collector still failing with the same error"
            ),
            Verdict::Quiet | Verdict::Recovered { .. } => {}
        }
    }
}

/// Runs one collector with a hard stop at the deadline and measures it.
async fn timed<'a, F>(
    cloud: &'a str,
    collector: &'static str,
    deadline: Instant,
    fut: F,
) -> CollectorRun<'a>
where
    F: std::future::Future<Output = Result<Families, ApiError>> + Send + 'a,
{
    let started = std::time::Instant::now();
    let result = match tokio::time::timeout_at(deadline, fut).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::new(
            ErrorKind::Timeout,
            collector,
            "the scrape deadline passed before the collector finished",
        )),
    };
    (cloud, collector, result, started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_collection_covers_only_scrapes_it_gives_as_much_time_in_time() {
        let pending: Collection = futures::future::pending::<Bytes>().boxed().shared();
        let started = Instant::now();
        let normal = Duration::from_millis(4500);
        let c = InFlight {
            generation: 1,
            budget: normal,
            deadline: started + normal,
            collection: pending,
        };
        let later = started + Duration::from_millis(300);
        // Same timeout, arrived later: covered (an HA pair of Prometheus servers).
        assert!(c.covers(normal, later + normal));
        // A longer budget is not covered, even with a later deadline.
        assert!(!c.covers(Duration::from_secs(9), later + Duration::from_secs(9)));
        // A tiny budget is not covered by a collection that ends after it.
        let tiny = Duration::from_millis(2);
        assert!(!c.covers(tiny, later + tiny));
        // ...and a tiny collection covers no normal scrape.
        let t = InFlight {
            budget: tiny,
            deadline: later + tiny,
            ..c
        };
        assert!(!t.covers(normal, later + normal));
        assert!(t.covers(tiny, later + tiny));
        // A finished collection covers nobody.
        let done = InFlight {
            collection: futures::future::ready(Bytes::new()).boxed().shared(),
            ..t
        };
        let _ = done.collection.clone().await;
        assert!(!done.covers(tiny, later + tiny));
    }
}
