//! DDM restore readiness: every restore target of each configured DDM instance, cached for
//! `cache_ttl` because DDM allows only 60 calls per minute per user.
//!
//! A listing is paged by the rows received, never by `total` alone: each page asks for
//! [`MAX_LIMIT`] rows at the offset of the rows received so far, and the listing ends at a
//! short or empty page, or once the rows received reach the first page's `total`. A listing
//! that has not ended after [`MAX_PAGES`] pages fails. Every DDM call of a cloud draws on one
//! budget of 60 per minute ([`crate::services::ddm::api::DDM_BUDGET`], held by the cloud's client); a
//! call the budget refuses fails the instance, which is then served from its last answer if
//! there is one (its age shows how old), else fails the collector. Each restore read follows the
//! rule of every budget (`crate::transport`'s `budget` module doc): it runs on its own task
//! under the collector's own deadline (the configured `timeout`), one at a time per instance, and
//! fills the cache even when the scrape that started it stopped waiting (a short
//! `X-Prometheus-Scrape-Timeout-Seconds`): that scrape fails with a timeout, the next is served.
//!
//! Rows are deduplicated by `instance_id` (the first wins, one log line with the request id),
//! and `huaweicloud_ddm_restorable_instances` is the number of distinct targets listed — the
//! number of `…_available` series — even when the API's `total` says otherwise (which is
//! logged). The series of all instances together are capped at `max_series`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::config::DdmConfig;
use crate::metrics::{Families, Family};
use crate::services::ddm::api::{RestoreTarget, MAX_LIMIT};
use crate::services::ddm::inventory::DdmDiscovery;
use crate::transport::{
    drop_duplicates, ApiError, CloudClient, ErrorKind, RunOn, Started, MIN_TIME_TO_FINISH,
};

/// Restore targets per DDM instance.
pub static RESTORABLE: Family = Family::gauge(
    "huaweicloud_ddm_restorable_instances",
    &["cloud", "instance_id"],
    "DDM instances that a backup of this DDM instance can be restored onto (distinct targets listed).",
);
/// Each target, 1 when available.
pub static AVAILABLE: Family = Family::gauge(
    "huaweicloud_ddm_restorable_instance_available",
    &[
        "cloud",
        "instance_id",
        "target_instance_id",
        "target_instance_name",
        "target_status",
        "vpc_name",
    ],
    "Whether this restore target can be used (1) or not (0).",
);
/// Why a target is unavailable (kept off the high-churn series).
pub static UNAVAILABLE_INFO: Family = Family::gauge(
    "huaweicloud_ddm_restorable_instance_unavailable_info",
    &["cloud", "instance_id", "target_instance_id", "reason"],
    "Why a restore target is unavailable, as the API words it; 1 per unavailable target.",
);
/// Age of the answer served.
pub static AGE: Family = Family::gauge(
    "huaweicloud_ddm_restorable_data_age_seconds",
    &["cloud", "instance_id"],
    "Age of the restore-target answer served, in seconds (answers are cached for cache_ttl).",
);

/// Most pages of one listing (40 × 128 = 5,120 targets); a listing not done by then fails.
pub const MAX_PAGES: u64 = 40;

/// One instance's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The `total` the API reported on the first page (logged when the rows disagree).
    pub total: u64,
    /// Every distinct target, in the order listed.
    pub targets: Vec<RestoreTarget>,
}

/// The answers kept, by instance id, with when each was read.
type Cache = Arc<Mutex<HashMap<String, (Instant, Arc<Answer>)>>>;

/// The DDM collector of one cloud, with its cache and, without `instance_ids`, its discovery.
pub struct DdmCollector {
    cfg: DdmConfig,
    /// Filled by the restore reads themselves, so a read outliving its scrape still counts.
    cache: Cache,
    /// The restore reads in flight, one per instance.
    reads: RunOn<String, Result<Arc<Answer>, ApiError>>,
    /// The discovered inventory, when the section lists no ids.
    discovery: Option<Arc<DdmDiscovery>>,
}

/// Restore reads that may run at once (the budget, not the connection pool, is the limit).
const READ_CONCURRENCY: usize = 4;

/// Discovered instances with no restore answer yet (waiting for their share of the budget).
pub static PENDING: Family = Family::gauge(
    "huaweicloud_ddm_restorable_pending_instances",
    &["cloud"],
    "Discovered DDM instances with no restore answer yet: their reads wait for room in the 60-calls-per-minute DDM budget.",
);

impl DdmCollector {
    /// A collector with an empty cache (and an empty inventory, listed through `client`, when
    /// it discovers).
    pub fn new(cfg: DdmConfig, client: &Arc<CloudClient>) -> DdmCollector {
        let discovery = cfg
            .discovery
            .clone()
            .map(|d| Arc::new(DdmDiscovery::new(d, client.clone())));
        DdmCollector {
            cfg,
            cache: Arc::new(Mutex::new(HashMap::new())),
            reads: RunOn::default(),
            discovery,
        }
    }

    /// The discovery, when this section discovers its instances.
    pub fn discovery(&self) -> Option<&Arc<DdmDiscovery>> {
        self.discovery.as_ref()
    }

    /// Serves each instance from the cache while it is younger than `cache_ttl`, else refreshes
    /// it, the ones with no answer first, then the oldest, as far as the DDM budget allows now
    /// (leaving the next discovery refresh its pages). An instance the budget has no room for
    /// is served from its last answer (its age shows how old) or, with none yet, left out of
    /// this scrape (counted in [`PENDING`] when discovered; a listed id with none fails the
    /// collector, as a refused call always did). A discovered instance that DDM no longer
    /// knows (404, released since the last listing) is left out; any other failed refresh
    /// fails the collector, and so do more series than `max_series`. A read runs under `own`
    /// (the collector's configured timeout) from its start, whatever `deadline` says.
    pub async fn collect(
        &self,
        client: &Arc<CloudClient>,
        deadline: Instant,
        own: Duration,
    ) -> Result<Families, ApiError> {
        let ids: Vec<String> = match &self.discovery {
            None => self.cfg.instance_ids.clone(),
            Some(d) => d
                .current(deadline)
                .await?
                .items
                .iter()
                .map(|i| i.id.clone())
                .collect(),
        };
        let discovered = self.discovery.is_some();
        let reserve = self.discovery.as_ref().map_or(0, |d| d.reserve());
        let now = Instant::now();
        let cached: HashMap<String, (Instant, Arc<Answer>)> = {
            let cache = self.cache.lock().await;
            ids.iter()
                .filter_map(|id| cache.get(id).map(|c| (id.clone(), c.clone())))
                .collect()
        };
        // Stale ones in the order they get the budget: never answered first, then oldest.
        let mut stale: Vec<(&String, Option<Instant>)> = ids
            .iter()
            .filter_map(|id| match cached.get(id) {
                Some((at, _)) if now.duration_since(*at) < self.cfg.cache_ttl => None,
                Some((at, _)) => Some((id, Some(*at))),
                None => Some((id, None)),
            })
            .collect();
        stale.sort_by_key(|(_, at)| *at);
        let jobs: Vec<(String, usize)> = stale
            .into_iter()
            .map(|(id, _)| {
                let pages = cached
                    .get(id)
                    .map_or(1, |(_, a)| a.targets.len() / MAX_LIMIT as usize + 1);
                (id.clone(), pages)
            })
            .collect();
        let read = Read {
            client,
            reserve,
            discovered,
            deadline,
            own,
        };
        let fetched: Vec<(String, ReadResult)> = futures::stream::iter(
            jobs.into_iter()
                .map(|(id, pages)| self.read_one(&read, id, pages)),
        )
        .buffer_unordered(READ_CONCURRENCY)
        .collect()
        .await;
        let mut fresh: HashMap<String, Arc<Answer>> = HashMap::new();
        let mut gone: Vec<String> = Vec::new();
        let mut deferred = 0usize;
        {
            let mut cache = self.cache.lock().await;
            for (id, r) in fetched {
                match r {
                    // The read put it in the cache (kept even when cache_ttl is 0: it is what a
                    // refused call serves).
                    Ok(Some(a)) => {
                        fresh.insert(id, a);
                    }
                    Ok(None) => deferred += 1,
                    Err(e) if discovered && e.status == Some(404) => {
                        cache.remove(&id);
                        gone.push(id);
                    }
                    Err(e) => return Err(e),
                }
            }
            if discovered {
                let keep: std::collections::HashSet<&String> = ids.iter().collect();
                cache.retain(|id, _| keep.contains(id));
            }
        }
        if deferred > 0 {
            tracing::debug!(cloud = %client.cloud, deferred, "DDM budget: some restore reads wait for a later scrape");
        }
        let mut answers: Vec<(&str, Duration, Arc<Answer>)> = Vec::new();
        let mut pending = 0usize;
        for id in &ids {
            if let Some(a) = fresh.get(id) {
                answers.push((id.as_str(), Duration::ZERO, a.clone()));
            } else if let Some((at, a)) = cached.get(id) {
                if gone.contains(id) {
                    continue;
                }
                answers.push((id.as_str(), at.elapsed(), a.clone()));
            } else if gone.contains(id) {
                continue;
            } else if discovered {
                pending += 1;
            } else {
                return Err(ApiError::new(
                    ErrorKind::LimitExceeded,
                    crate::services::ddm::api::RESTORABLE.name,
                    format!("call not sent for {id}: the ddm budget of 60 calls per 60s for this cloud is used up, and there is no earlier answer to serve"),
                ));
            }
        }
        let series: usize = answers.iter().map(|(_, _, a)| series_of(a)).sum();
        if series > self.cfg.max_series {
            return Err(ApiError::new(
                ErrorKind::LimitExceeded,
                crate::services::ddm::api::RESTORABLE.name,
                format!(
                    "the answers would make {series} series, more than ddm.max_series ({}); raise it if the listing is real",
                    self.cfg.max_series
                ),
            ));
        }
        let mut f = Families::new();
        for (id, age, answer) in answers {
            f.merge(map(&client.cloud, id, &answer, age));
        }
        if discovered {
            f.gauge(&PENDING, &[("cloud", &client.cloud)], pending as f64);
        }
        Ok(f)
    }
}

/// One instance's read: its answer, `None` when the budget had no room for it, or why it failed.
type ReadResult = Result<Option<Arc<Answer>>, ApiError>;

/// What the restore reads of one scrape share.
struct Read<'a> {
    /// The cloud's client (each read holds a clone on its task).
    client: &'a Arc<CloudClient>,
    /// Pages the next discovery refresh needs, left in the budget.
    reserve: usize,
    /// Whether the instances were discovered (a 404 means released).
    discovered: bool,
    /// The scrape's deadline: how long it waits for a read.
    deadline: Instant,
    /// The time each read is given from its start (the collector's configured timeout).
    own: Duration,
}

impl DdmCollector {
    /// One instance's restore read: the one in flight for it, joined, or a new one when the
    /// budget has room for its pages beyond `reserve` (`Ok(None)` when it has none, or refused
    /// it on the way). A joined read that failed is tried once more while the scrape has time:
    /// it was started by an earlier scrape, perhaps before a fault cleared.
    async fn read_one(&self, r: &Read<'_>, id: String, pages: usize) -> (String, ReadResult) {
        let mut tried_again = false;
        loop {
            if !self.reads.running(&id) {
                let room = r
                    .client
                    .budget_available(&crate::services::ddm::api::RESTORABLE)
                    .unwrap_or(usize::MAX);
                // Discovered: reads checked at once may all pass the check, so each leaves room
                // for the others too and the listing always finds its pages. Listed ids have no
                // listing to spare.
                let margin = if r.discovered { READ_CONCURRENCY } else { 0 };
                if room < r.reserve + pages + margin {
                    return (id, Ok(None));
                }
            }
            let (answer, started) = self
                .reads
                .run(id.clone(), r.deadline, || {
                    let (client, cache, own) = (r.client.clone(), self.cache.clone(), r.own);
                    let (id, discovered) = (id.clone(), r.discovered);
                    async move {
                        let read = fetch(&client, &id, Instant::now() + own)
                            .await
                            .map(Arc::new);
                        let mut cache = cache.lock().await;
                        match &read {
                            Ok(a) => {
                                cache.insert(id, (Instant::now(), a.clone()));
                            }
                            Err(e) if discovered && e.status == Some(404) => {
                                cache.remove(&id);
                            }
                            Err(_) => {}
                        }
                        read
                    }
                })
                .await;
            let result = match answer {
                Some(Ok(a)) => Ok(Some(a)),
                Some(Err(e)) if e.kind == ErrorKind::LimitExceeded => Ok(None),
                Some(Err(_))
                    if started == Started::Earlier
                        && !tried_again
                        && r.deadline.saturating_duration_since(Instant::now())
                            >= MIN_TIME_TO_FINISH =>
                {
                    tried_again = true;
                    continue;
                }
                Some(Err(e)) => {
                    if r.discovered && e.status == Some(404) {
                        tracing::info!(cloud = %r.client.cloud, instance_id = %id, request_id = e.request_id.as_deref().unwrap_or("-"), "a discovered DDM instance is gone (released since the last listing); left out until the next listing");
                    }
                    Err(e)
                }
                None => Err(ApiError::new(
                    ErrorKind::Timeout,
                    crate::services::ddm::api::RESTORABLE.name,
                    format!("the restore read of {id} had not finished by the scrape deadline; it goes on and its answer serves the next scrape"),
                )),
            };
            return (id, result);
        }
    }
}

/// Series [`map`] makes of one answer.
fn series_of(a: &Answer) -> usize {
    2 + a.targets.len() + a.targets.iter().filter(|t| !t.available).count()
}

/// Reads every page of restore targets of `instance_id`, paging by the rows received.
pub async fn fetch(
    client: &CloudClient,
    instance_id: &str,
    deadline: Instant,
) -> Result<Answer, ApiError> {
    let limit = usize::try_from(MAX_LIMIT).unwrap_or(usize::MAX);
    let mut targets: Vec<RestoreTarget> = Vec::new();
    let mut total = None;
    let mut offset: u64 = 0;
    let mut last_request_id = None;
    let mut ended = false;
    for _ in 0..MAX_PAGES {
        let (page, request_id) = client
            .ddm_restorable_page(instance_id, offset, MAX_LIMIT, deadline)
            .await?;
        let rows = page.instances.len();
        if rows > limit {
            return Err(ApiError {
                request_id,
                ..ApiError::new(
                    ErrorKind::DecodeError,
                    crate::services::ddm::api::RESTORABLE.name,
                    format!("a page holds {rows} targets; at most {MAX_LIMIT} were asked for"),
                )
            });
        }
        let first_total = *total.get_or_insert(page.total);
        targets.extend(page.instances);
        offset = offset.saturating_add(rows as u64);
        last_request_id = request_id;
        if rows < limit || offset >= first_total {
            ended = true;
            break;
        }
    }
    if !ended {
        return Err(ApiError {
            request_id: last_request_id,
            ..ApiError::new(
                ErrorKind::DecodeError,
                crate::services::ddm::api::RESTORABLE.name,
                format!(
                    "the listing of {instance_id} did not end within {MAX_PAGES} pages ({} targets); not an answer to believe",
                    MAX_PAGES * u64::from(MAX_LIMIT)
                ),
            )
        });
    }
    let total = total.unwrap_or(0);
    let request_id = last_request_id.as_deref().unwrap_or("-");
    let (targets, dropped) = drop_duplicates(targets, |t| t.instance_id.as_str());
    if dropped > 0 {
        tracing::warn!(cloud = %client.cloud, instance_id, dropped, request_id, "DDM listed the same restore target more than once; kept the first of each");
    }
    if total != targets.len() as u64 {
        tracing::warn!(cloud = %client.cloud, instance_id, total, listed = targets.len(), request_id, "the total DDM reported disagrees with the targets listed; reporting the targets listed");
    }
    Ok(Answer { total, targets })
}

/// Pure mapping of one instance's answer.
pub fn map(cloud: &str, instance_id: &str, answer: &Answer, age: Duration) -> Families {
    let mut f = Families::new();
    f.gauge(
        &RESTORABLE,
        &[("cloud", cloud), ("instance_id", instance_id)],
        answer.targets.len() as f64,
    );
    f.gauge(
        &AGE,
        &[("cloud", cloud), ("instance_id", instance_id)],
        age.as_secs_f64(),
    );
    for t in &answer.targets {
        let labels = [
            ("cloud", cloud),
            ("instance_id", instance_id),
            ("target_instance_id", t.instance_id.as_str()),
            ("target_instance_name", t.instance_name.as_str()),
            ("target_status", t.status.as_str()),
            ("vpc_name", t.vpc_name.as_str()),
        ];
        f.gauge(&AVAILABLE, &labels, if t.available { 1.0 } else { 0.0 });
        if !t.available {
            let reason = t.unavailable_reason.as_deref().unwrap_or("");
            f.gauge(
                &UNAVAILABLE_INFO,
                &[
                    ("cloud", cloud),
                    ("instance_id", instance_id),
                    ("target_instance_id", t.instance_id.as_str()),
                    ("reason", reason),
                ],
                1.0,
            );
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::ddm::api::parse_page;

    #[test]
    fn maps_the_page_example() {
        let p = parse_page(br#"{"instances":[{"instance_id":"3b65c609427c4b20bc0ae93e161dc7adin09","instance_name":"ddm-agent-create-instance1","status":"normal","available":true,"unavailable_reason":"","vpc_name":"vpc-ddm-172"}],"offset":0,"limit":10,"total":1}"#).unwrap();
        let a = Answer {
            total: p.total,
            targets: p.instances,
        };
        let f = map(
            "c",
            "1f5c9fd6cd984056ba89c8c87cc03278in09",
            &a,
            Duration::ZERO,
        );
        assert_eq!(
            f.value(
                RESTORABLE.name,
                &[("instance_id", "1f5c9fd6cd984056ba89c8c87cc03278in09")]
            ),
            Some(1.0)
        );
        assert_eq!(
            f.value(
                AVAILABLE.name,
                &[
                    ("target_instance_name", "ddm-agent-create-instance1"),
                    ("target_status", "normal"),
                    ("vpc_name", "vpc-ddm-172")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(f.len_of(UNAVAILABLE_INFO.name), 0);
    }
}
