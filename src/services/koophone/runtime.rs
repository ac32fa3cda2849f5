//! KooPhone of one cloud as scrapes see it: its listed or discovered phones, this replica's
//! share of them, the `koophone` collector's runs, the inventory's families and what the
//! landing page says of it.

use std::any::Any;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use tokio::time::Instant;

use super::api::Phone;
use super::config::{KoophoneConfig, COLLECTOR};
use super::isolate::Isolation;
use super::phones::PhoneList;
use super::status;
use crate::config::Shard;
use crate::inventory::{Inventory as Discovered, Snapshot};
use crate::metrics::Families;
use crate::services::service::{Job, Runtime};
use crate::status::{InventorySource, InventorySummary, Status};
use crate::sync::lock;
use crate::transport::CloudClient;

/// This replica's share of one discovered snapshot: the ids the status calls go to and the
/// inventory's families, so a scrape between refreshes neither filters nor renders them again.
pub(super) struct Derived {
    /// The snapshot it was derived from.
    snapshot: Arc<Snapshot<Phone>>,
    /// The phones this replica keeps.
    ids: Arc<Vec<String>>,
    /// Their info, running status and frozen series.
    families: Families,
}

/// KooPhone of one cloud.
pub struct KoophoneRuntime {
    /// The cloud's name.
    pub(super) cloud: String,
    /// Its section.
    pub(super) cfg: KoophoneConfig,
    /// The cloud's client.
    pub(super) client: Arc<CloudClient>,
    /// This replica's shard.
    pub(super) shard: Shard,
    /// Its listed phones, when it lists them (then `discovery` is `None`).
    pub(super) phones: Option<Arc<PhoneList>>,
    /// Its discovered phones, when it lists none.
    pub(super) discovery: Option<Discovered<Phone>>,
    /// What scrapes derive from the discovered inventory, computed once per snapshot.
    pub(super) derived: Mutex<Option<Arc<Derived>>>,
    /// Phones isolated by batch-level errors, remembered across scrapes (kept over a reload
    /// with the client: the answers were read with its credentials).
    pub(super) isolated: Arc<Isolation>,
}

impl KoophoneRuntime {
    /// The client of this cloud.
    pub fn client(&self) -> &Arc<CloudClient> {
        &self.client
    }

    /// The phones this replica collects: the listed ones (the file re-read if it changed), or
    /// the discovered ones as of the last listing.
    pub async fn phones(&self) -> Arc<Vec<String>> {
        match (&self.phones, &self.discovery) {
            (Some(p), _) => p.current().await,
            (None, Some(inv)) => inv
                .peek()
                .map(|s| self.derived(s).ids.clone())
                .unwrap_or_default(),
            (None, None) => Arc::default(),
        }
    }

    /// This replica's share of `snapshot` (cached while the snapshot is current).
    fn derived(&self, snapshot: Arc<Snapshot<Phone>>) -> Arc<Derived> {
        let mut cache = lock(&self.derived);
        if let Some(d) = cache
            .as_ref()
            .filter(|d| Arc::ptr_eq(&d.snapshot, &snapshot))
        {
            return d.clone();
        }
        let max_series = self.cfg.max_series;
        let mine = || {
            snapshot
                .items
                .iter()
                .filter(|p| self.shard.keeps(&p.instance_id))
        };
        let ids: Vec<String> = mine().map(|p| p.instance_id.clone()).collect();
        let series = ids.len() * 3 + status::RUNNING_STATUSES.len();
        let families = if series <= max_series {
            status::map_inventory(&self.cloud, mine())
        } else {
            tracing::warn!(cloud = %self.cloud, phones = ids.len(), series, max_series, "the discovered phones would make more series than koophone.max_series; their info, running status and frozen series are left out (raise max_series or shard the phones)");
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

impl Runtime for KoophoneRuntime {
    fn collect<'a>(&'a self, deadline: Instant) -> Vec<Job<'a>> {
        let run = async move {
            let ids = match (&self.phones, &self.discovery) {
                (Some(p), _) => p.current().await,
                (None, Some(inv)) => {
                    let snapshot = inv.current(deadline).await?;
                    self.derived(snapshot).ids.clone()
                }
                (None, None) => Arc::default(),
            };
            status::collect(
                &self.client,
                &ids,
                &self.cfg.status_names,
                self.cfg.max_series,
                deadline,
                &self.isolated,
            )
            .await
        };
        vec![Job {
            collector: COLLECTOR,
            run: run.boxed(),
        }]
    }

    /// The discovery's families: the inventory's own metrics for the phones this replica keeps
    /// (when their series fit `max_series`), the discovery's self metrics, and its success and
    /// duration as collector `koophone_discovery`; the landing page hears of it too.
    fn families(&self, out: &mut Families, status: &Status) {
        let Some(inv) = &self.discovery else { return };
        let mut kept = 0;
        if let Some(snapshot) = inv.peek() {
            let d = self.derived(snapshot);
            kept = d.ids.len();
            out.merge(d.families.clone());
        }
        inv.families(out, kept, status);
    }

    fn inventories(&self) -> Vec<(&'static str, InventorySummary)> {
        let inventory = match (&self.phones, &self.discovery) {
            (Some(phones), _) => {
                let (total, collected) = phones.sizes();
                InventorySummary {
                    unit: "phones",
                    source: if self.cfg.instance_ids_file.is_some() {
                        InventorySource::File
                    } else {
                        InventorySource::Config
                    },
                    total,
                    collected,
                }
            }
            (None, Some(inv)) => {
                // This replica's share is the one scrapes derive (cached per snapshot).
                let (total, collected) = match inv.peek() {
                    Some(s) => (s.items.len(), self.derived(s).ids.len()),
                    None => (0, 0),
                };
                InventorySummary {
                    unit: "phones",
                    source: InventorySource::Discovered {
                        refreshed: inv.stats().last_success,
                    },
                    total,
                    collected,
                }
            }
            (None, None) => return Vec::new(),
        };
        match &self.discovery {
            // The listing is a collector of its own (its refreshes' success and duration).
            Some(inv) => vec![(COLLECTOR, inventory.clone()), (inv.collector(), inventory)],
            None => vec![(COLLECTOR, inventory)],
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
