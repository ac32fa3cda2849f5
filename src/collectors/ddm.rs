//! DDM restore readiness: every restore target of each configured DDM instance, read page by page
//! (the first page tells the total; the rest are fetched concurrently), cached for `cache_ttl`
//! because DDM allows only 60 calls per minute per user.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::try_join_all;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::cloud::ddm::{RestoreTarget, MAX_LIMIT};
use crate::cloud::{ApiError, CloudClient, ErrorKind};
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

/// Refusing runaway pagination: more targets than this is not a DDM answer we believe.
const MAX_TARGETS: u64 = 100_000;

/// One instance's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The `total` the API reported.
    pub total: u64,
    /// Every target.
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
    /// it. Any failed refresh fails the collector.
    pub async fn collect(
        &self,
        client: &CloudClient,
        deadline: Instant,
    ) -> Result<Families, ApiError> {
        let now = Instant::now();
        let calls = self.cfg.instance_ids.iter().map(|id| async move {
            let cached = self.cache.lock().await.get(id).cloned();
            if let Some((at, answer)) = cached {
                if now.duration_since(at) < self.cfg.cache_ttl {
                    return Ok::<_, ApiError>((id.as_str(), now.duration_since(at), answer));
                }
            }
            let answer = Arc::new(fetch(client, id, deadline).await?);
            let at = Instant::now();
            if !self.cfg.cache_ttl.is_zero() {
                self.cache
                    .lock()
                    .await
                    .insert(id.clone(), (at, answer.clone()));
            }
            Ok((id.as_str(), Duration::ZERO, answer))
        });
        let answers = try_join_all(calls).await?;
        let mut f = Families::new();
        for (id, age, answer) in answers {
            f.merge(map(&client.cloud, id, &answer, age));
        }
        Ok(f)
    }
}

/// Reads every page of restore targets of `instance_id`.
pub async fn fetch(
    client: &CloudClient,
    instance_id: &str,
    deadline: Instant,
) -> Result<Answer, ApiError> {
    let first = client
        .ddm_restorable_page(instance_id, 0, MAX_LIMIT, deadline)
        .await?;
    let total = first.total;
    if total > MAX_TARGETS {
        return Err(ApiError::new(
            ErrorKind::DecodeError,
            crate::cloud::ddm::RESTORABLE.name,
            format!("total {total} restore targets is beyond belief; refusing to page through it"),
        ));
    }
    let mut targets = first.instances;
    let page = u64::from(MAX_LIMIT);
    if (targets.len() as u64) < total && !targets.is_empty() {
        let offsets = (1..total.div_ceil(page)).map(|i| i * page);
        let pages = try_join_all(
            offsets.map(|off| client.ddm_restorable_page(instance_id, off, MAX_LIMIT, deadline)),
        )
        .await?;
        for p in pages {
            targets.extend(p.instances);
        }
    }
    Ok(Answer { total, targets })
}

/// Pure mapping of one instance's answer.
pub fn map(cloud: &str, instance_id: &str, answer: &Answer, age: Duration) -> Families {
    let mut f = Families::new();
    f.gauge(
        RESTORABLE,
        "DDM instances that a backup of this DDM instance can be restored onto (the API's total).",
        &[("cloud", cloud), ("instance_id", instance_id)],
        answer.total as f64,
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
