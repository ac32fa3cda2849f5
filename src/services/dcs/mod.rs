//! DCS (Redis/Memcached): instance lifecycle counts and the per-instance listing. Account-wide:
//! only shard 0 collects it.
//!
//! - [`config`]: the `dcs:` section.
//! - [`api`]: the calls and models (status statistics, the instance listing).
//! - [`collect`]: the two collectors, `dcs` and `dcs_instances`, as pure mappings plus fetches.

pub mod api;
pub mod collect;
pub mod config;
pub mod sim;

use std::any::Any;
use std::sync::Arc;

use futures::FutureExt;
use tokio::time::Instant;

use crate::config::{Identity, Schema, Section, SectionInput};
use crate::inventory::Lister;
use crate::metrics::{Families, Family};
use crate::services::listing::Scraped;
use crate::services::service::{Build, Job, Runtime, Service};
use crate::status::{InventorySource, InventorySummary, Status};
use crate::transport::{CloudClient, Operation};

use config::DcsConfig;

pub use config::KEY;
/// The status-statistics collector.
pub const COLLECTOR: &str = "dcs";
pub use collect::INSTANCES_COLLECTOR;

/// The DCS service.
pub struct Dcs;

/// Who DCS is.
static IDENTITY: Identity = Identity::new(KEY, "DCS", "`dcs: {}`", |region| {
    format!("https://dcs.{region}.myhuaweicloud.com")
});

impl Schema for Dcs {
    fn identity(&self) -> &'static Identity {
        &IDENTITY
    }

    fn cloud_section(&self, input: SectionInput<'_, '_>) -> Option<Arc<dyn Section>> {
        input.decode(config::decode)
    }
}

impl Service for Dcs {
    fn operations(&self) -> &'static [&'static Operation] {
        static OPERATIONS: [&Operation; 2] = [&api::DCS_STATUS, &api::DCS_LIST];
        &OPERATIONS
    }

    fn families(&self) -> &'static [&'static Family] {
        use collect::*;
        static FAMILIES: [&Family; 4] = [
            &INSTANCES,
            &ENGINE_INSTANCES,
            &INSTANCE_INFO,
            &INSTANCE_STATUS,
        ];
        &FAMILIES
    }

    fn build(&self, cx: &Build<'_>) -> Result<Box<dyn Runtime>, String> {
        let cfg: DcsConfig = cx.section(KEY)?;
        // What the listing showed goes with the client that read it, for the same listing.
        let before = cx
            .before
            .as_ref()
            .filter(|b| b.client_kept)
            .and_then(|b| b.runtime::<DcsRuntime>())
            .filter(|r| r.cfg.include_failure == cfg.include_failure)
            .and_then(|r| r.instances.as_ref());
        let instances = cfg.instances.then(|| {
            let client = cx.client.clone();
            let include_failure = cfg.include_failure;
            let list: Lister<api::DcsInstance> = Arc::new(move |deadline| {
                let client = client.clone();
                async move { client.dcs_list_all(include_failure, deadline).await }.boxed()
            });
            Scraped::new(
                &collect::INSTANCE_LISTING,
                &cx.client.cloud,
                list,
                cfg.max_series,
                before,
            )
        });
        Ok(Box::new(DcsRuntime {
            cfg,
            client: cx.client.clone(),
            instances,
        }))
    }
}

/// DCS of one cloud.
struct DcsRuntime {
    /// Its section.
    cfg: DcsConfig,
    /// The cloud's client.
    client: Arc<CloudClient>,
    /// The instance listing, when `instances` is on.
    instances: Option<Scraped<api::DcsInstance>>,
}

impl Runtime for DcsRuntime {
    fn collect<'a>(&'a self, deadline: Instant) -> Vec<Job<'a>> {
        let counts = Job {
            collector: COLLECTOR,
            run: collect::collect(&self.client, &self.cfg, deadline).boxed(),
        };
        std::iter::once(counts)
            .chain(self.instances.as_ref().map(|l| l.job(deadline)))
            .collect()
    }

    fn families(&self, out: &mut Families, _status: &Status) {
        if let Some(l) = &self.instances {
            l.families(out);
        }
    }

    fn inventories(&self) -> Vec<(&'static str, InventorySummary)> {
        let account = InventorySummary {
            unit: "instances",
            source: InventorySource::AccountWide,
            total: 0,
            collected: 0,
        };
        std::iter::once((COLLECTOR, account))
            .chain(
                self.instances
                    .as_ref()
                    .map(|l| (INSTANCES_COLLECTOR, l.summary())),
            )
            .collect()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
