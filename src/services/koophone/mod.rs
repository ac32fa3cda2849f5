//! KooPhone cloud phones: the status of every phone, the phones isolated by batch errors, the
//! discovered inventory, and command probes. Per phone: the shards split the phones.
//!
//! - [`config`]: the `koophone:` section, status names, the phone-id rules.
//! - [`modules`]: the top-level `probes:` section.
//! - [`api`]: the calls and models (batch status, async command, tasks, the phone listing).
//! - [`status`]: the `koophone` collector and the inventory's families, pure mappings.
//! - [`isolate`]: splitting a batch that fails for some of its ids, and remembering them.
//! - [`phones`]: the listed phones and their file.
//! - [`probe`]: `/probe` runs, sharing, caching and budgets, and `debug=true`.

pub mod api;
pub mod config;
pub mod isolate;
pub mod modules;
pub mod phones;
pub mod probe;
pub mod status;

use std::any::Any;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::time::Instant;

use crate::config::{section, AuthConfig, Config, Identity, Schema, Section, SectionInput, Shard};
use crate::inventory::{Inventory as Discovered, Snapshot};
use crate::metrics::Families;
use crate::services::fleet::Fleet;
use crate::services::prober::{ModuleInfo, ProbeAnswer, Prober, Refusal};
use crate::services::service::{Build, Job, Runtime, Service};
use crate::status::{Inventory, InventorySource, Status};
use crate::sync::lock;
use crate::transport::CloudClient;

use api::Phone;
use config::KoophoneConfig;
use isolate::Isolation;
use modules::ProbeModules;
use phones::PhoneList;

/// The service's key: its section, endpoint and `service` label.
pub const KEY: &str = "koophone";
/// The status collector.
pub const COLLECTOR: &str = "koophone";

/// The KooPhone service.
pub struct Koophone;

/// Who KooPhone is: one global host, phones split across the shards.
static IDENTITY: Identity = Identity {
    key: KEY,
    title: "KooPhone",
    example: "`koophone:`",
    endpoint: |_| "https://koophone.myhuaweicloud.com".to_string(),
    top_key: Some("probes"),
    account_wide: false,
};

impl Schema for Koophone {
    fn identity(&self) -> &'static Identity {
        &IDENTITY
    }

    fn cloud_section(&self, input: SectionInput<'_, '_>) -> Option<Arc<dyn Section>> {
        let parsed = config::decode(input.value, input.at, input.v)?;
        if let Some(AuthConfig::Aksk { .. }) = input.auth {
            input.v.fail(input.at, "KooPhone accepts only IAM tokens; give this cloud `password` or `token` auth, or move the phones to a cloud that has it");
        }
        Some(section(parsed))
    }

    fn top_section(&self, input: SectionInput<'_, '_>) -> Option<Arc<dyn Section>> {
        modules::decode(input.value, input.clouds, input.timeout, input.v).map(section)
    }
}

/// The probe state shared by every cloud: runs in flight and last results, and debug runs.
pub struct ProbeState {
    /// Command-probe runs in flight and last results; a reload keeps the command budgets.
    pub probes: probe::Prober,
    /// Debug probe runs (`debug=true`), apart from `probes` so they never change its answers.
    pub debug: probe::debug::DebugRuns,
}

impl Service for Koophone {
    fn build(&self, cx: &Build<'_>) -> Result<Box<dyn Runtime>, String> {
        let name = &cx.cloud.name;
        let cfg: KoophoneConfig = cx.section(KEY)?;
        let shard = cx.config.shard;
        let before = cx.before.as_ref().and_then(|b| {
            Some((
                b,
                b.runtime::<KoophoneRuntime>()?,
                b.cloud.sections.get::<KoophoneConfig>(KEY)?,
            ))
        });
        // A listed phone list depends on its ids, its file and the shard alone.
        let kept_phones = before
            .filter(|(b, _, old)| {
                b.config.shard == shard
                    && old.instance_ids == cfg.instance_ids
                    && old.instance_ids_file == cfg.instance_ids_file
            })
            .and_then(|(_, r, _)| r.phones.clone());
        // What was read with the client's credentials goes with it: the discovered inventory
        // (with unchanged filters) and the isolated phones.
        let with_client = before.filter(|(b, _, _)| b.client_kept);
        let kept_discovery = with_client
            .filter(|(_, _, old)| old.discovery == cfg.discovery)
            .and_then(|(_, r, _)| r.discovery.clone());
        let discovery = cfg.discovery.as_ref().map(|d| {
            kept_discovery.unwrap_or_else(|| {
                Discovered::new(
                    name,
                    api::DISCOVERY,
                    d.refresh_interval,
                    status::lister(cx.client.clone(), d),
                )
            })
        });
        let phones = match (&discovery, kept_phones) {
            (Some(_), _) => None,
            (None, Some(kept)) => Some(kept),
            (None, None) => {
                Some(Arc::new(PhoneList::new(&cfg, shard).map_err(|e| {
                    format!("cloud {name}: koophone.instance_ids_file: {e}")
                })?))
            }
        };
        let isolated = with_client
            .map(|(_, r, _)| r.isolated.clone())
            .unwrap_or_default();
        Ok(Box::new(KoophoneRuntime {
            cloud: name.clone(),
            cfg,
            client: cx.client.clone(),
            shard,
            phones,
            discovery,
            derived: Mutex::new(None),
            isolated,
        }))
    }

    fn shared(
        &self,
        _config: &Config,
        previous: Option<&(dyn Any + Send + Sync)>,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        let probes = match previous.and_then(|p| p.downcast_ref::<ProbeState>()) {
            Some(p) => probe::Prober::after_reload(&p.probes),
            None => Default::default(),
        };
        Some(Arc::new(ProbeState {
            probes,
            debug: Default::default(),
        }))
    }
}

impl Prober for Koophone {
    fn probe<'a>(
        &'a self,
        fleet: &'a Fleet,
        params: &'a [(String, String)],
        timeout_header: Option<&'a str>,
        debug: bool,
    ) -> BoxFuture<'a, Result<ProbeAnswer, Refusal>> {
        async move {
            if debug {
                probe::debug::serve(fleet, params, timeout_header)
                    .await
                    .map(ProbeAnswer::Debug)
            } else {
                probe::serve(fleet, params, timeout_header)
                    .await
                    .map(ProbeAnswer::Exposition)
            }
        }
        .boxed()
    }

    fn modules(&self, config: &Config) -> Vec<ModuleInfo> {
        modules_of(config)
            .0
            .iter()
            .map(|(name, m)| ModuleInfo {
                name: name.clone(),
                cloud: m.cloud.clone(),
                command: m.command.clone(),
                expect: m
                    .expect
                    .as_ref()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                groups: m.groups.keys().cloned().collect(),
            })
            .collect()
    }
}

/// The configured probe modules (none without a `probes:` section).
pub fn modules_of(config: &Config) -> &ProbeModules {
    static NONE: std::sync::OnceLock<ProbeModules> = std::sync::OnceLock::new();
    config
        .sections
        .get::<ProbeModules>(KEY)
        .unwrap_or_else(|| NONE.get_or_init(ProbeModules::default))
}

/// This replica's share of one discovered snapshot: the ids the status calls go to and the
/// inventory's families, so a scrape between refreshes neither filters nor renders them again.
struct Derived {
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
    cloud: String,
    /// Its section.
    cfg: KoophoneConfig,
    /// The cloud's client.
    client: Arc<CloudClient>,
    /// This replica's shard.
    shard: Shard,
    /// Its listed phones, when it lists them (then `discovery` is `None`).
    phones: Option<Arc<PhoneList>>,
    /// Its discovered phones, when it lists none.
    discovery: Option<Discovered<Phone>>,
    /// What scrapes derive from the discovered inventory, computed once per snapshot.
    derived: Mutex<Option<Arc<Derived>>>,
    /// Phones isolated by batch-level errors, remembered across scrapes (kept over a reload
    /// with the client: the answers were read with its credentials).
    isolated: Arc<Isolation>,
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
                .filter(|p| status::in_shard(&p.instance_id, self.shard))
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
        inv.families(out, kept);
        let stats = inv.stats();
        if let Some(last) = &stats.last {
            status.record_collector(&self.cloud, inv.collector(), last.error.as_ref(), last.took);
        }
    }

    fn inventories(&self) -> Vec<(&'static str, Inventory)> {
        let inventory = match (&self.phones, &self.discovery) {
            (Some(phones), _) => {
                let (total, collected) = phones.sizes();
                Inventory {
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
                let (total, collected) = match inv.peek() {
                    Some(s) => (
                        s.items.len(),
                        s.items
                            .iter()
                            .filter(|p| status::in_shard(&p.instance_id, self.shard))
                            .count(),
                    ),
                    None => (0, 0),
                };
                Inventory {
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
        vec![(COLLECTOR, inventory)]
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
