//! DDM discovery: a `ddm` section without `instance_ids` finds its DDM instances through
//! `GET /v1/{project_id}/instances` and keeps them as an inventory in memory, refreshed every
//! `discovery.refresh_interval` (default 5m) in the background of scrapes. Only the very first
//! scrape waits for the first listing, within its own deadline.
//!
//! A failed refresh keeps the last good inventory. So does a listing that ends short of the
//! total it reports (an empty page, or a page of repeats, while the total says more remain):
//! it cannot be told from a total that lies, so it is believed only when there is no inventory
//! yet, and the refresh is reported failed either way. A failed refresh is tried again after
//! `min(refresh_interval, 30s)`.
//!
//! Health shows as the collector `ddm_discovery` in `huaweicloud_scrape_collector_success`
//! (whether the refresh whose inventory this scrape uses, or the one that just failed,
//! succeeded) and `…_duration_seconds` (the last refresh's own duration), plus
//! `huaweicloud_discovery_resources{service="ddm"}` (the instances kept after `name_regex`),
//! `huaweicloud_discovery_last_success_timestamp_seconds` and one
//! `huaweicloud_ddm_instance_info` per instance — exported even while refreshes fail, from the
//! inventory in use. The listing is a DDM call: it draws on the same 60-per-minute budget as
//! the restore reads, which leave it room (see [`crate::collectors::ddm`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::cloud::ddm::{DdmInstance, LIST, MAX_LIMIT};
use crate::cloud::{ApiError, CloudClient, ErrorKind};
use crate::config::DdmDiscoveryConfig;
use crate::metrics::Families;

/// Instances in the inventory in use, per cloud and service.
pub const RESOURCES: &str = "huaweicloud_discovery_resources";
/// When the inventory in use was listed.
pub const LAST_SUCCESS: &str = "huaweicloud_discovery_last_success_timestamp_seconds";
/// One series per discovered DDM instance.
pub const INSTANCE_INFO: &str = "huaweicloud_ddm_instance_info";

/// Longest time one refresh may take.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait before a failed refresh is tried again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);
/// Longest instance name taken as a label value; longer ones are cut (with `…`).
const MAX_NAME_CHARS: usize = 128;

/// What a scrape sees of the discovery.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The inventory in use; `None` until a listing has been taken.
    pub inventory: Option<Arc<Vec<DdmInstance>>>,
    /// The latest refresh's outcome; `None` while the first is still running.
    pub result: Option<Result<(), ApiError>>,
    /// The latest refresh's own duration.
    pub duration: Duration,
    /// When the inventory in use was listed (UNIX seconds).
    pub last_success: Option<f64>,
}

#[derive(Default)]
struct State {
    inventory: Option<Arc<Vec<DdmInstance>>>,
    result: Option<Result<(), ApiError>>,
    duration: Duration,
    last_success: Option<f64>,
    /// When the next refresh may start; `None`: now.
    next_due: Option<Instant>,
    running: bool,
}

/// The discovery of one cloud's DDM instances.
pub struct DdmDiscovery {
    cfg: DdmDiscoveryConfig,
    state: Mutex<State>,
    /// Counts finished refreshes, so the first scrape can wait for the first.
    done: watch::Sender<u64>,
}

impl DdmDiscovery {
    /// A discovery with no inventory yet.
    pub fn new(cfg: DdmDiscoveryConfig) -> DdmDiscovery {
        DdmDiscovery {
            cfg,
            state: Mutex::new(State::default()),
            done: watch::channel(0).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn snapshot_of(s: &State) -> Snapshot {
        Snapshot {
            inventory: s.inventory.clone(),
            result: s.result.clone(),
            duration: s.duration,
            last_success: s.last_success,
        }
    }

    /// The inventory to use now. Starts a background refresh when one is due; waits for it
    /// (until `deadline`) only when there is no inventory yet.
    pub async fn ensure(self: &Arc<Self>, client: &Arc<CloudClient>, deadline: Instant) -> Snapshot {
        let mut done = self.done.subscribe();
        {
            let mut s = self.lock();
            let due = s.next_due.is_none_or(|at| Instant::now() >= at);
            if due && !s.running {
                s.running = true;
                let me = self.clone();
                let client = client.clone();
                tokio::spawn(async move { me.refresh(&client).await });
            }
            if s.inventory.is_some() || !s.running {
                return Self::snapshot_of(&s);
            }
        }
        let _ = tokio::time::timeout_at(deadline, done.changed()).await;
        Self::snapshot_of(&self.lock())
    }

    /// What a scrape reports without starting anything.
    pub fn snapshot(&self) -> Snapshot {
        Self::snapshot_of(&self.lock())
    }

    /// Lists every DDM instance, filters by name, and installs the result as the rules in the
    /// module doc say.
    async fn refresh(&self, client: &CloudClient) {
        let started = Instant::now();
        let listed = client.ddm_list_all(started + REFRESH_TIMEOUT).await;
        let duration = started.elapsed();
        let mut s = self.lock();
        let outcome = match listed {
            Ok(listing) => {
                let request_id = listing.request_id.as_deref().unwrap_or("-");
                if listing.dropped > 0 {
                    tracing::warn!(cloud = %client.cloud, dropped = listing.dropped, request_id, "DDM listed the same instance more than once; kept the first of each");
                }
                let listed_rows = listing.rows.len();
                let (kept, rejected) = self.keep(listing.rows);
                if rejected > 0 {
                    tracing::warn!(cloud = %client.cloud, rejected, request_id, "DDM listed instances whose id is no DDM instance id; left them out");
                }
                if listing.short_of_total {
                    let e = ApiError {
                        request_id: listing.request_id.clone(),
                        ..ApiError::new(
                            ErrorKind::DecodeError,
                            LIST.name,
                            format!(
                                "the listing ended after {listed_rows} of the {} instances its total says (an empty page, or a total that lies)",
                                listing.total.unwrap_or(0)
                            ),
                        )
                    };
                    if s.inventory.is_none() {
                        s.inventory = Some(Arc::new(kept));
                        s.last_success = Some(unix_now());
                        tracing::warn!(cloud = %client.cloud, request_id, error = %e, "DDM discovery: using the partial first listing; the refresh counts as failed");
                    } else {
                        tracing::warn!(cloud = %client.cloud, request_id, error = %e, "DDM discovery: keeping the last inventory");
                    }
                    Err(e)
                } else {
                    tracing::debug!(cloud = %client.cloud, instances = kept.len(), pages = listing.pages, request_id, "DDM discovery refreshed");
                    s.inventory = Some(Arc::new(kept));
                    s.last_success = Some(unix_now());
                    Ok(())
                }
            }
            Err(e) => {
                tracing::warn!(cloud = %client.cloud, request_id = e.request_id.as_deref().unwrap_or("-"), error = %e, kept = s.inventory.as_ref().map_or(0, |i| i.len()), "DDM discovery failed; keeping the last inventory");
                Err(e)
            }
        };
        let wait = if outcome.is_ok() {
            self.cfg.refresh_interval
        } else {
            self.cfg.refresh_interval.min(RETRY_AFTER_FAILURE)
        };
        s.next_due = Some(Instant::now() + wait);
        s.result = Some(outcome);
        s.duration = duration;
        s.running = false;
        drop(s);
        self.done.send_modify(|n| *n += 1);
    }

    /// The rows whose id is a DDM instance id and whose name matches `name_regex`; also the
    /// number left out for their id.
    fn keep(&self, rows: Vec<DdmInstance>) -> (Vec<DdmInstance>, usize) {
        let mut rejected = 0;
        let kept = rows
            .into_iter()
            .filter(|r| {
                let ok = valid_id(&r.id);
                if !ok {
                    rejected += 1;
                }
                ok
            })
            .filter(|r| {
                self.cfg
                    .name_regex
                    .as_ref()
                    .is_none_or(|re| re.is_match(r.name.as_deref().unwrap_or("")))
            })
            .collect();
        (kept, rejected)
    }

    /// Pages the next refresh will take, which the restore reads leave in the budget.
    pub fn reserve(&self) -> usize {
        let n = self.lock().inventory.as_ref().map_or(0, |i| i.len());
        n / MAX_LIMIT as usize + 2
    }
}

/// The rule config applies to listed ids: 1 to 64 ASCII letters and digits.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A status label value: lower case, `unknown` when missing or not 1–64 of `[A-Za-z0-9_.-]`.
fn status_label(v: Option<&str>) -> String {
    match v.map(str::trim) {
        Some(s)
            if !s.is_empty()
                && s.len() <= 64
                && s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) =>
        {
            s.to_ascii_lowercase()
        }
        _ => "unknown".to_string(),
    }
}

fn bounded_name(v: Option<&str>) -> String {
    let v = v.unwrap_or("");
    if v.chars().count() <= MAX_NAME_CHARS {
        return v.to_string();
    }
    let mut out: String = v.chars().take(MAX_NAME_CHARS - 1).collect();
    out.push('…');
    out
}

/// Pure mapping of a snapshot: inventory size, last success, one info series per instance.
pub fn map(cloud: &str, snap: &Snapshot) -> Families {
    let mut f = Families::new();
    let labels = [("cloud", cloud), ("service", "ddm")];
    let inventory = snap.inventory.as_deref().map_or(&[][..], |v| v.as_slice());
    f.gauge(
        RESOURCES,
        "Resources in the discovery inventory in use, per cloud and service (KooPhone: the phones this replica keeps after sharding).",
        &labels,
        inventory.len() as f64,
    );
    if let Some(t) = snap.last_success {
        f.gauge(
            LAST_SUCCESS,
            "When the discovery inventory in use was listed (UNIX seconds).",
            &labels,
            t,
        );
    }
    for i in inventory {
        let name = bounded_name(i.name.as_deref());
        let status = status_label(i.status.as_deref());
        f.gauge(
            INSTANCE_INFO,
            "Discovered DDM instances: 1 per instance, with its name and status (lower case) as of the last listing.",
            &[
                ("cloud", cloud),
                ("instance_id", &i.id),
                ("name", &name),
                ("status", &status),
            ],
            1.0,
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_listing_example() {
        let p = crate::cloud::ddm::parse_list_page(br#"{"instances": [{"id": "1f5c9fd6cd984056ba89c8c87cc03278in09", "status": "RUNNING", "name": "orders-ddm"}, {"id": "2f5c9fd6cd984056ba89c8c87cc03278in09", "status": "bad status\n"}], "instance_num": 2}"#).unwrap();
        let snap = Snapshot {
            inventory: Some(Arc::new(p.instances)),
            result: Some(Ok(())),
            duration: Duration::ZERO,
            last_success: Some(1_700_000_000.0),
        };
        let f = map("c", &snap);
        assert_eq!(f.value(RESOURCES, &[("service", "ddm")]), Some(2.0));
        assert_eq!(f.value(LAST_SUCCESS, &[("cloud", "c")]), Some(1_700_000_000.0));
        assert_eq!(
            f.value(
                INSTANCE_INFO,
                &[
                    ("instance_id", "1f5c9fd6cd984056ba89c8c87cc03278in09"),
                    ("name", "orders-ddm"),
                    ("status", "running")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            f.value(
                INSTANCE_INFO,
                &[("instance_id", "2f5c9fd6cd984056ba89c8c87cc03278in09"), ("name", ""), ("status", "unknown")]
            ),
            Some(1.0)
        );
        let empty = Snapshot {
            inventory: None,
            result: None,
            duration: Duration::ZERO,
            last_success: None,
        };
        let f = map("c", &empty);
        assert_eq!(f.value(RESOURCES, &[]), Some(0.0));
        assert_eq!(f.len_of(LAST_SUCCESS), 0);
    }

    #[test]
    fn ids_and_names_are_checked() {
        assert!(valid_id("1f5c9fd6cd984056ba89c8c87cc03278in09"));
        assert!(!valid_id("") && !valid_id("a/b") && !valid_id(&"a".repeat(65)));
        assert_eq!(bounded_name(Some(&"x".repeat(300))).chars().count(), MAX_NAME_CHARS);
    }
}
