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
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use tokio::time::Instant;

use crate::config::{Identity, Schema, Section, SectionInput};
use crate::inventory::REFUSED_SHRINKS;
use crate::metrics::{Families, Family};
use crate::services::service::{Build, Job, Runtime, Service};
use crate::status::{InventorySource, InventorySummary, Status};
use crate::sync::lock;
use crate::transport::{CloudClient, Operation};

use config::DcsConfig;

pub use config::KEY;
/// The status-statistics collector.
pub const COLLECTOR: &str = "dcs";
/// The per-instance collector (the listing), apart from the counts.
pub const INSTANCES_COLLECTOR: &str = "dcs_instances";

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
        let listed = cx
            .before
            .as_ref()
            .filter(|b| b.client_kept)
            .and_then(|b| b.runtime::<DcsRuntime>())
            .filter(|r| r.cfg.include_failure == cfg.include_failure)
            .map(|r| r.listed.clone())
            .unwrap_or_default();
        Ok(Box::new(DcsRuntime {
            cfg,
            client: cx.client.clone(),
            listed,
        }))
    }
}

/// DCS of one cloud.
struct DcsRuntime {
    /// Its section.
    cfg: DcsConfig,
    /// The cloud's client.
    client: Arc<CloudClient>,
    /// What the instance listing last showed (the shrink rule's memory).
    listed: Arc<Mutex<collect::Listed>>,
}

impl Runtime for DcsRuntime {
    fn collect<'a>(&'a self, deadline: Instant) -> Vec<Job<'a>> {
        let mut jobs = vec![Job {
            collector: COLLECTOR,
            run: collect::collect(&self.client, &self.cfg, deadline).boxed(),
        }];
        if self.cfg.instances {
            jobs.push(Job {
                collector: INSTANCES_COLLECTOR,
                run: collect::collect_instances(&self.client, &self.cfg, &self.listed, deadline)
                    .boxed(),
            });
        }
        jobs
    }

    /// The listing's refused shrinks (`huaweicloud_discovery_refused_shrinks_total`), in every
    /// scrape whatever this one's listing did.
    fn families(&self, out: &mut Families, _status: &Status) {
        if self.cfg.instances {
            let refused = lock(&self.listed).refused();
            out.counter(
                &REFUSED_SHRINKS,
                &[("cloud", &self.client.cloud), ("service", KEY)],
                refused as f64,
            );
        }
    }

    fn inventories(&self) -> Vec<(&'static str, InventorySummary)> {
        let account = InventorySummary {
            unit: "instances",
            source: InventorySource::AccountWide,
            total: 0,
            collected: 0,
        };
        if self.cfg.instances {
            return vec![(COLLECTOR, account.clone()), (INSTANCES_COLLECTOR, account)];
        }
        vec![(COLLECTOR, account)]
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
