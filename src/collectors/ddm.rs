//! DDM restore readiness: every restore target of each configured DDM instance, cached for
//! `cache_ttl` because DDM allows only 60 calls per minute per user.
//!
//! A listing is paged by the rows received, never by `total` alone: each page asks for
//! [`MAX_LIMIT`] rows at the offset of the rows received so far, and the listing ends at a
//! short or empty page, or once the rows received reach the first page's `total`. A listing
//! that has not ended after [`MAX_PAGES`] pages fails. Every DDM call of a cloud draws on one
//! budget of 60 per minute ([`crate::cloud::ddm::DDM_BUDGET`], held by the cloud's client); a
//! call the budget refuses fails the instance, which is then served from its last answer if
//! there is one (its age shows how old), else fails the collector.
//!
//! Rows are deduplicated by `instance_id` (the first wins, one log line with the request id),
//! and `huaweicloud_ddm_restorable_instances` is the number of distinct targets listed — the
//! number of `…_available` series — even when the API's `total` says otherwise (which is
//! logged). The series of all instances together are capped at `max_series`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::try_join_all;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::cloud::ddm::{RestoreTarget, MAX_LIMIT};
use crate::cloud::{drop_duplicates, ApiError, CloudClient, ErrorKind};
use crate::config::DdmConfig;
use crate::metrics::Families;

/// Restore targets per DDM instance.
pub const RESTORABLE: &str = "huaweicloud_ddm_restorable_instances";
/// Each target, 1 when available.
pub const AVAILABLE: &str = "huaweicloud_ddm_restorable_instance_available";
/// Why a target is unavailable (kept off the high-churn series).
pub const UNAVAILABLE_INFO: &str = "huaweicloud_ddm_restorable_instance_unavailable_info";
/// Age of the answer served.
pub const AGE: &str = "huaweicloud_ddm_restorable_data_age_seconds";

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

/// The DDM collector of one cloud, with its cache.
pub struct DdmCollector {
    cfg: DdmConfig,
    cache: Mutex<HashMap<String, (Instant, Arc<Answer>)>>,
}

impl DdmCollector {
    /// A collector with an empty cache.
    pub fn new(cfg: DdmConfig) -> DdmCollector {
        DdmCollector {
            cfg,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Serves each instance from the cache while it is younger than `cache_ttl`, else refreshes
    /// it. A refresh the DDM budget refuses serves the last answer if there is one; any other
    /// failed refresh fails the collector, and so do more series than `max_series`.
    pub async fn collect(
        &self,
        client: &CloudClient,
        deadline: Instant,
    ) -> Result<Families, ApiError> {
        let now = Instant::now();
        let calls = self.cfg.instance_ids.iter().map(|id| async move {
            let cached = self.cache.lock().await.get(id).cloned();
            if let Some((at, answer)) = &cached {
                if now.duration_since(*at) < self.cfg.cache_ttl {
                    return Ok::<_, ApiError>((id.as_str(), now.duration_since(*at), answer.clone()));
                }
            }
            let answer = match fetch(client, id, deadline).await {
                Ok(a) => Arc::new(a),
                Err(e) if e.kind == ErrorKind::LimitExceeded => match cached {
                    Some((at, answer)) => {
                        tracing::warn!(cloud = %client.cloud, instance_id = %id, error = %e, age_s = at.elapsed().as_secs(), "serving the last DDM answer");
                        return Ok((id.as_str(), at.elapsed(), answer));
                    }
                    None => return Err(e),
                },
                Err(e) => return Err(e),
            };
            // Kept even when cache_ttl is 0: it is what a refused call serves.
            self.cache
                .lock()
                .await
                .insert(id.clone(), (Instant::now(), answer.clone()));
            Ok((id.as_str(), Duration::ZERO, answer))
        });
        let answers = try_join_all(calls).await?;
        let series: usize = answers.iter().map(|(_, _, a)| series_of(a)).sum();
        if series > self.cfg.max_series {
            return Err(ApiError::new(
                ErrorKind::LimitExceeded,
                crate::cloud::ddm::RESTORABLE.name,
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
        Ok(f)
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
                    crate::cloud::ddm::RESTORABLE.name,
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
                crate::cloud::ddm::RESTORABLE.name,
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
        RESTORABLE,
        "DDM instances that a backup of this DDM instance can be restored onto (distinct targets listed).",
        &[("cloud", cloud), ("instance_id", instance_id)],
        answer.targets.len() as f64,
    );
    f.gauge(
        AGE,
        "Age of the restore-target answer served, in seconds (answers are cached for cache_ttl).",
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
        f.gauge(
            AVAILABLE,
            "Whether this restore target can be used (1) or not (0).",
            &labels,
            if t.available { 1.0 } else { 0.0 },
        );
        if !t.available {
            let reason = t.unavailable_reason.as_deref().unwrap_or("");
            f.gauge(UNAVAILABLE_INFO, "Why a restore target is unavailable, as the API words it; 1 per unavailable target.", &[("cloud", cloud), ("instance_id", instance_id), ("target_instance_id", t.instance_id.as_str()), ("reason", reason)], 1.0);
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::ddm::parse_page;

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
                RESTORABLE,
                &[("instance_id", "1f5c9fd6cd984056ba89c8c87cc03278in09")]
            ),
            Some(1.0)
        );
        assert_eq!(
            f.value(
                AVAILABLE,
                &[
                    ("target_instance_name", "ddm-agent-create-instance1"),
                    ("target_status", "normal"),
                    ("vpc_name", "vpc-ddm-172")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(f.len_of(UNAVAILABLE_INFO), 0);
    }
}
