//! DDM: restore readiness of each instance, and the discovered inventory of instances.
//! Account-wide: only shard 0 collects it.
//!
//! - [`config`]: the `ddm:` section.
//! - [`api`]: the calls and models (restorable targets, the instance listing), one budget.
//! - [`restorable`]: the `ddm` collector, its cache and its share of the budget.
//! - [`inventory`]: the discovered instances and their families.

pub mod api;
pub mod config;
pub mod inventory;
pub mod restorable;
pub mod sim;

use std::any::Any;
use std::sync::Arc;

use futures::FutureExt;
use tokio::time::Instant;

use crate::config::{Identity, Schema, Section, SectionInput};
use crate::metrics::{Families, Family};
use crate::services::service::{Build, Job, Runtime, Service};
use crate::status::{InventorySource, InventorySummary, Status};
use crate::transport::{CloudClient, Operation};

use config::DdmConfig;
use restorable::DdmCollector;

pub use config::KEY;
/// The restore-readiness collector.
pub const COLLECTOR: &str = "ddm";

/// The DDM service.
pub struct Ddm;

/// Who DDM is.
static IDENTITY: Identity = Identity::new(KEY, "DDM", "`ddm:`", |region| {
    format!("https://ddm.{region}.myhuaweicloud.com")
});

impl Schema for Ddm {
    fn identity(&self) -> &'static Identity {
        &IDENTITY
    }

    fn cloud_section(&self, input: SectionInput<'_, '_>) -> Option<Arc<dyn Section>> {
        input.decode(config::decode)
    }
}

impl Service for Ddm {
    fn operations(&self) -> &'static [&'static Operation] {
        static OPERATIONS: [&Operation; 2] = [&api::RESTORABLE, &api::LIST];
        &OPERATIONS
    }

    fn families(&self) -> &'static [&'static Family] {
        use restorable::*;
        static FAMILIES: [&Family; 6] = [
            &RESTORABLE,
            &AVAILABLE,
            &UNAVAILABLE_INFO,
            &AGE,
            &PENDING,
            &inventory::INSTANCE_INFO,
        ];
        &FAMILIES
    }

    fn build(&self, cx: &Build<'_>) -> Result<Box<dyn Runtime>, String> {
        let cfg: DdmConfig = cx.section(KEY)?;
        // The cached answers and the inventory were read with the client's credentials, so
        // they go with it, and with an unchanged section.
        let kept = cx
            .before
            .as_ref()
            .filter(|b| b.client_kept && b.cloud.sections.get::<DdmConfig>(KEY) == Some(&cfg))
            .and_then(|b| b.runtime::<DdmRuntime>())
            .map(|r| r.collector.clone());
        Ok(Box::new(DdmRuntime {
            cloud: cx.cloud.name.clone(),
            collector: kept.unwrap_or_else(|| Arc::new(DdmCollector::new(cfg.clone(), cx.client))),
            cfg,
            client: cx.client.clone(),
            own: cx.config.timeout,
        }))
    }
}

/// DDM of one cloud.
struct DdmRuntime {
    /// The cloud's name.
    cloud: String,
    /// Its section.
    cfg: DdmConfig,
    /// The collector with its cache and discovery.
    collector: Arc<DdmCollector>,
    /// The cloud's client.
    client: Arc<CloudClient>,
    /// The time a restore read is given, whatever the scrape's deadline: the configured
    /// `timeout` (a read a short scrape abandons fills the cache for the next).
    own: std::time::Duration,
}

impl Runtime for DdmRuntime {
    fn collect<'a>(&'a self, deadline: Instant) -> Vec<Job<'a>> {
        vec![Job {
            collector: COLLECTOR,
            run: self
                .collector
                .collect(&self.client, deadline, self.own)
                .boxed(),
        }]
    }

    fn families(&self, out: &mut Families, status: &Status) {
        // The inventory in use, also while refreshes fail.
        if let Some(disc) = self.collector.discovery() {
            out.merge(disc.families(&self.cloud, status));
        }
    }

    fn inventories(&self) -> Vec<(&'static str, InventorySummary)> {
        let inventory = match self.collector.discovery() {
            Some(disc) => disc.summary(),
            None => InventorySummary {
                unit: "instances",
                source: InventorySource::Config,
                total: self.cfg.instance_ids.len(),
                collected: self.cfg.instance_ids.len(),
            },
        };
        if self.collector.discovery().is_some() {
            // The listing is a collector of its own (its refreshes' success and duration).
            return vec![
                (COLLECTOR, inventory.clone()),
                (inventory::DISCOVERY.collector, inventory),
            ];
        }
        vec![(COLLECTOR, inventory)]
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
