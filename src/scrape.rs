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

use crate::config::{CloudConfig, Config, PhoneList};
use crate::metrics::{Families, SelfMetrics};
use crate::services::{self as collectors, ddm::restorable::DdmCollector};
use crate::transport::{ApiError, CloudClient, ErrorKind};

/// Subtracted from Prometheus' scrape timeout so the answer arrives before Prometheus gives up.
pub const TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

/// The deadline of a scrape: the smaller of the configured `timeout` and the scrape-timeout
/// header minus [`TIMEOUT_OFFSET`].
pub fn deadline_for(timeout: Duration, header: Option<&str>) -> Duration {
    let from_header = header
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| {
            let d = Duration::from_secs_f64(s.min(86_400.0));
            // A tiny header still leaves some time rather than none.
            d.checked_sub(TIMEOUT_OFFSET)
                .filter(|d| !d.is_zero())
                .unwrap_or(d / 2)
        });
    match from_header {
        Some(h) => h.min(timeout),
        None => timeout,
    }
}

/// A cloud and what its collectors need.
pub struct CloudRuntime {
    /// Its config.
    pub cfg: CloudConfig,
    /// Its API client (connection pool, limiter, auth).
    pub client: Arc<CloudClient>,
    /// Its phones, when it has a koophone section.
    pub phones: Option<Arc<PhoneList>>,
    /// Its DDM collector and cache.
    pub ddm: Option<Arc<DdmCollector>>,
    /// Its discovered phones, when its koophone section lists none (then `phones` is `None`).
    pub koophone_discovery:
        Option<crate::inventory::Inventory<crate::services::koophone::api::Phone>>,
    /// What scrapes derive from the discovered inventory, computed once per snapshot.
    koophone_derived: Mutex<Option<Arc<Derived>>>,
    /// KooPhone phones isolated by batch-level errors, remembered across scrapes (kept over a
    /// reload with the client: the answers were read with its credentials).
    pub isolated: Arc<collectors::koophone::isolate::Isolation>,
}

/// This replica's share of one discovered snapshot: the ids the status calls go to and the
/// inventory's families, so a scrape between refreshes neither filters nor renders them again.
struct Derived {
    snapshot: Arc<crate::inventory::Snapshot<crate::services::koophone::api::Phone>>,
    ids: Arc<Vec<String>>,
    families: Families,
}

impl CloudRuntime {
    /// This replica's share of `snapshot` (cached while the snapshot is current).
    fn derived(
        &self,
        snapshot: Arc<crate::inventory::Snapshot<crate::services::koophone::api::Phone>>,
        shard: crate::config::Shard,
        max_series: usize,
    ) -> Arc<Derived> {
        let mut cache = match self.koophone_derived.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(d) = cache
            .as_ref()
            .filter(|d| Arc::ptr_eq(&d.snapshot, &snapshot))
        {
            return d.clone();
        }
        let cloud = self.cfg.name.as_str();
        let mine = || {
            snapshot
                .items
                .iter()
                .filter(|p| collectors::koophone::status::in_shard(&p.instance_id, shard))
        };
        let ids: Vec<String> = mine().map(|p| p.instance_id.clone()).collect();
        let series = ids.len() * 3 + collectors::koophone::status::RUNNING_STATUSES.len();
        let families = if series <= max_series {
            collectors::koophone::status::map_inventory(cloud, mine())
        } else {
            tracing::warn!(cloud, phones = ids.len(), series, max_series, "the discovered phones would make more series than koophone.max_series; their info, running status and frozen series are left out (raise max_series or shard the phones)");
            Families::new()
        };
        let d = Arc::new(Derived {
            snapshot,
            ids: Arc::new(ids),
            families,
        });
        *cache = Some(d.clone());
        d
    }
}

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

/// Everything a scrape needs, built from one config.
pub struct Exporter {
    /// The config this exporter was built from.
    pub config: Config,
    /// Long-lived self metrics.
    pub metrics: SelfMetrics,
    /// Every configured cloud.
    pub clouds: Vec<CloudRuntime>,
    /// Command-probe runs in flight and last results; a reload starts with a fresh one.
    pub probes: crate::services::koophone::probe::Prober,
    /// Debug probe runs (`debug=true`), apart from `probes` so they never change its answers.
    pub probe_debug: crate::services::koophone::probe::debug::DebugRuns,
    /// What the landing page shows; carried over reloads.
    pub status: Arc<crate::status::Status>,
    /// Collections in flight, each with its own budget and deadline.
    inflight: Mutex<Vec<InFlight>>,
    /// Tells collections apart, so one only clears its own in-flight entry.
    generation: AtomicU64,
}

impl Exporter {
    /// Builds clients and reads phone lists (a bad `instance_ids_file` is an error here).
    ///
    /// On a reload, `previous` is the exporter serving until now, and what did not change is
    /// carried over rather than rebuilt: a cloud's client — its token cache, connection pool,
    /// in-flight limiter and upstream budgets — when everything it is built from is the same
    /// (see [`client_unchanged`]); its DDM collector and cache when, in addition, its `ddm`
    /// section is the same; its phone list when its `koophone` ids, file and the shard are the
    /// same. Anything else is built afresh.
    pub fn new(
        config: Config,
        metrics: SelfMetrics,
        previous: Option<&Exporter>,
    ) -> Result<Exporter, String> {
        let mut clouds = Vec::new();
        for cfg in &config.clouds {
            let before = previous.and_then(|p| Some((p.cloud(&cfg.name)?, &p.config)));
            let kept = before.filter(|(c, old)| client_unchanged(&c.cfg, old, cfg, &config));
            let client = match kept {
                Some((c, _)) => c.client.clone(),
                None => Arc::new(
                    CloudClient::new(cfg, config.max_concurrency, metrics.clone()).map_err(
                        |e| format!("cloud {}: cannot build the HTTP client: {e}", cfg.name),
                    )?,
                ),
            };
            let kept_phones = before
                .filter(|(c, old)| {
                    old.shard == config.shard
                        && match (&c.cfg.koophone, &cfg.koophone) {
                            (Some(a), Some(b)) => {
                                a.instance_ids == b.instance_ids
                                    && a.instance_ids_file == b.instance_ids_file
                            }
                            _ => false,
                        }
                })
                .and_then(|(c, _)| c.phones.clone());
            // A discovered inventory was listed with the client's credentials and the
            // discovery's filters: kept when both are unchanged (no new listing on reload).
            let kept_discovery = kept
                .filter(|(c, _)| {
                    c.cfg.koophone.as_ref().and_then(|k| k.discovery.as_ref())
                        == cfg.koophone.as_ref().and_then(|k| k.discovery.as_ref())
                })
                .and_then(|(c, _)| c.koophone_discovery.clone());
            let koophone_discovery = cfg
                .koophone
                .as_ref()
                .and_then(|k| k.discovery.as_ref())
                .map(|d| {
                    kept_discovery.unwrap_or_else(|| {
                        crate::inventory::Inventory::new(
                            &cfg.name,
                            collectors::koophone::api::DISCOVERY,
                            d.refresh_interval,
                            collectors::koophone::status::lister(client.clone(), d),
                        )
                    })
                });
            let phones = match (&cfg.koophone, kept_phones) {
                (Some(k), _) if k.discovery.is_some() => None,
                (Some(_), Some(kept)) => Some(kept),
                (Some(k), None) => {
                    Some(Arc::new(PhoneList::new(k, config.shard).map_err(|e| {
                        format!("cloud {}: koophone.instance_ids_file: {e}", cfg.name)
                    })?))
                }
                (None, _) => None,
            };
            // DCS and DDM are account-wide: only shard 0 collects them. The cached answers were
            // read with the client's credentials, so they go with it.
            let kept_ddm = kept
                .filter(|(c, _)| c.cfg.ddm == cfg.ddm)
                .and_then(|(c, _)| c.ddm.clone());
            let ddm = cfg
                .ddm
                .clone()
                .filter(|_| config.shard.index == 0)
                .map(|d| kept_ddm.unwrap_or_else(|| Arc::new(DdmCollector::new(d, &client))));
            if kept.is_some() {
                tracing::debug!(cloud = %cfg.name, "reload: auth and endpoints unchanged; keeping the client, its token and caches");
            }
            metrics.config_reload_time.set(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0),
            );
            let isolated = kept.map(|(c, _)| c.isolated.clone()).unwrap_or_default();
            clouds.push(CloudRuntime {
                cfg: cfg.clone(),
                client,
                phones,
                ddm,
                koophone_discovery,
                koophone_derived: Mutex::new(None),
                isolated,
            });
        }
        Ok(Exporter {
            config,
            metrics,
            clouds,
            probes: previous
                .map(|p| crate::services::koophone::probe::Prober::after_reload(&p.probes))
                .unwrap_or_default(),
            probe_debug: Default::default(),
            status: Default::default(),
            inflight: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
        })
    }

    /// The runtime of cloud `name`.
    pub fn cloud(&self, name: &str) -> Option<&CloudRuntime> {
        self.clouds.iter().find(|c| c.cfg.name == name)
    }

    /// The encoded collector families of a scrape given `budget` (its deadline is `budget` from
    /// now), joining a collection in flight when one covers it (see the module doc).
    pub async fn scrape(self: &Arc<Self>, budget: Duration) -> Bytes {
        let deadline = Instant::now() + budget;
        let (fut, joined) = {
            let mut guard = match self.inflight.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
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
                    // Spawned, so the collection finishes (and clears itself) even if the scrape
                    // that started it goes away.
                    let handle = tokio::spawn(async move {
                        let fams = me.collect(deadline).await;
                        let mut out = Vec::new();
                        fams.encode(&mut out);
                        drop(fams);
                        let out = Bytes::from(out);
                        let mut guard = match me.inflight.lock() {
                            Ok(g) => g,
                            Err(p) => p.into_inner(),
                        };
                        guard.retain(|c| c.generation != gen);
                        out
                    });
                    let fut: Collection = async move { handle.await.unwrap_or_default() }
                        .boxed()
                        .shared();
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

    /// Runs every collector of every cloud under `deadline` and returns all families, including
    /// `huaweicloud_cloud_info` and the per-collector success and duration.
    pub async fn collect(&self, deadline: Instant) -> Families {
        let mut jobs: Vec<BoxFuture<'_, CollectorRun<'_>>> = Vec::new();
        for c in &self.clouds {
            if let (Some(dcs), 0) = (&c.cfg.dcs, self.config.shard.index) {
                jobs.push(
                    timed(
                        &c.cfg.name,
                        collectors::DCS,
                        deadline,
                        collectors::dcs::collect::collect(&c.client, dcs, deadline),
                    )
                    .boxed(),
                );
                if dcs.instances {
                    jobs.push(
                        timed(
                            &c.cfg.name,
                            collectors::DCS_INSTANCES,
                            deadline,
                            collectors::dcs::collect::collect_instances(&c.client, dcs, deadline),
                        )
                        .boxed(),
                    );
                }
            }
            if let (Some(k), Some(phones)) = (&c.cfg.koophone, &c.phones) {
                let names = k.status_names.clone();
                let max_series = k.max_series;
                let client = &c.client;
                let isolated = &c.isolated;
                jobs.push(
                    timed(&c.cfg.name, collectors::KOOPHONE, deadline, async move {
                        let ids = phones.current();
                        collectors::koophone::status::collect(
                            client, &ids, &names, max_series, deadline, isolated,
                        )
                        .await
                    })
                    .boxed(),
                );
            }
            if let (Some(k), Some(inv)) = (&c.cfg.koophone, &c.koophone_discovery) {
                let names = k.status_names.clone();
                let max_series = k.max_series;
                let client = &c.client;
                let shard = self.config.shard;
                let isolated = &c.isolated;
                jobs.push(
                    timed(&c.cfg.name, collectors::KOOPHONE, deadline, async move {
                        let snapshot = inv.current(deadline).await?;
                        let ids = c.derived(snapshot, shard, max_series).ids.clone();
                        collectors::koophone::status::collect(
                            client, &ids, &names, max_series, deadline, isolated,
                        )
                        .await
                    })
                    .boxed(),
                );
            }
            if let Some(ddm) = &c.ddm {
                jobs.push(
                    timed(
                        &c.cfg.name,
                        collectors::DDM,
                        deadline,
                        ddm.collect(&c.client, deadline),
                    )
                    .boxed(),
                );
            }
        }
        let results = futures::future::join_all(jobs).await;
        let mut out = Families::new();
        for c in &self.clouds {
            // The inventory in use, also while refreshes fail.
            if let Some(disc) = c.ddm.as_ref().and_then(|d| d.discovery()) {
                out.merge(disc.families(&c.cfg.name));
            }
        }
        for c in &self.clouds {
            out.gauge(
                "huaweicloud_cloud_info",
                "Configured clouds: 1 per cloud, labelled with its region and project id.",
                &[
                    ("cloud", &c.cfg.name),
                    ("region", &c.cfg.region),
                    ("project_id", &c.cfg.project_id),
                ],
                1.0,
            );
        }
        for c in &self.clouds {
            if let (Some(k), Some(inv)) = (&c.cfg.koophone, &c.koophone_discovery) {
                self.discovery_families(&mut out, c, k.max_series, inv);
            }
        }
        for (cloud, collector, mut result, elapsed) in results {
            // A partial answer is served, but is no success (the collector logged why).
            let incomplete = result.as_mut().ok().and_then(Families::take_incomplete);
            let error = result.as_ref().err().or(incomplete.as_ref());
            self.status
                .record_collector(cloud, collector, error, elapsed);
            let ok = match result {
                Ok(f) => {
                    out.merge(f);
                    incomplete.is_none()
                }
                Err(e) => {
                    tracing::warn!(
                        cloud,
                        collector,
                        result = e.kind.result(),
                        request_id = e.request_id.as_deref().unwrap_or("-"),
                        error = %e,
                        "collector failed"
                    );
                    false
                }
            };
            let labels = [("cloud", cloud), ("collector", collector)];
            out.gauge(
                "huaweicloud_scrape_collector_success",
                "Whether this collector of this cloud succeeded in this scrape (1) or not (0).",
                &labels,
                if ok { 1.0 } else { 0.0 },
            );
            out.gauge(
                "huaweicloud_scrape_collector_duration_seconds",
                "How long this collector of this cloud took in this scrape.",
                &labels,
                elapsed.as_secs_f64(),
            );
        }
        out
    }
}

impl Exporter {
    /// The families of a KooPhone discovery: the inventory's own metrics for the phones this
    /// replica keeps (when their series fit `max_series`), the discovery's self metrics and its
    /// success and duration as collector `koophone_discovery`; the landing page hears of it too.
    fn discovery_families(
        &self,
        out: &mut Families,
        c: &CloudRuntime,
        max_series: usize,
        inv: &crate::inventory::Inventory<crate::services::koophone::api::Phone>,
    ) {
        let cloud = c.cfg.name.as_str();
        let mut kept = 0;
        if let Some(snapshot) = inv.peek() {
            let d = c.derived(snapshot, self.config.shard, max_series);
            kept = d.ids.len();
            out.merge(d.families.clone());
        }
        inv.families(out, kept);
        let stats = inv.stats();
        if let Some(last) = &stats.last {
            self.status
                .record_collector(cloud, inv.collector(), last.error.as_ref(), last.took);
        }
    }
}

/// Whether a cloud's client (token cache, pool, limiter, budgets) can serve `new` as it served
/// `old`: the same cloud in every setting outside its collector sections — name, region,
/// project, auth with its secrets, endpoints, and any setting added there later — and the same
/// `max_concurrency`, which sizes its pool and limiter.
pub fn client_unchanged(
    old: &CloudConfig,
    old_config: &Config,
    new: &CloudConfig,
    new_config: &Config,
) -> bool {
    let outside_collectors = |c: &CloudConfig| CloudConfig {
        dcs: None,
        koophone: None,
        ddm: None,
        ..c.clone()
    };
    old_config.max_concurrency == new_config.max_concurrency
        && outside_collectors(old) == outside_collectors(new)
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

    #[test]
    fn deadline_takes_the_smaller_of_timeout_and_header() {
        let t = Duration::from_secs(10);
        assert_eq!(deadline_for(t, None), t);
        assert_eq!(deadline_for(t, Some("5")), Duration::from_millis(4500));
        assert_eq!(deadline_for(t, Some("30")), t);
        assert_eq!(deadline_for(t, Some("0.4")), Duration::from_millis(200));
        assert_eq!(deadline_for(t, Some("nonsense")), t);
        assert_eq!(deadline_for(t, Some("-3")), t);
        assert_eq!(deadline_for(t, Some("NaN")), t);
    }

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
