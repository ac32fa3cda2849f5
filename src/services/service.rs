//! The trait each service implements to join the exporter ([`Service`], with its config
//! [`crate::config::Schema`]), its per-cloud [`Runtime`] as scrapes see it, . Nothing here names a
//! service.

use std::any::Any;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::time::Instant;

use crate::config::{CloudConfig, Config, Schema};
use crate::metrics::{Families, Family, SelfMetrics};
use crate::status::{InventorySummary, Status};
use crate::transport::{ApiError, CloudClient, Operation};

/// One Huawei service, as the exporter runs it. Its [`Schema`] decodes its config sections.
pub trait Service: Schema {
    /// Builds its runtime for one cloud whose config has its section, carrying over from
    /// `cx.before` what still holds.
    fn build(&self, cx: &Build<'_>) -> Result<Box<dyn Runtime>, String>;

    /// Every upstream call it can make. The README's IAM policy is generated from their
    /// permissions (`cargo xtask gen`), so a call left out here is a call users get 403s for.
    fn operations(&self) -> &'static [&'static Operation];

    /// Every metric family it writes (on `/metrics` and `/probe`). The README's metrics table
    /// is generated from these with the core's ([`crate::scrape::FAMILIES`]).
    fn families(&self) -> &'static [&'static Family];

    /// Its state shared by every cloud (KooPhone's probe runs), built once per config and carried
    /// over a reload from `previous`.
    fn shared(
        &self,
        _config: &Config,
        _previous: Option<&(dyn Any + Send + Sync)>,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        None
    }
}

/// What a service's [`Service::build`] is given for one cloud.
pub struct Build<'a> {
    /// The cloud.
    pub cloud: &'a CloudConfig,
    /// The whole config (shard, limits).
    pub config: &'a Config,
    /// The cloud's client (kept over a reload when its credentials and endpoints are the same).
    pub client: &'a Arc<CloudClient>,
    /// The exporter's self metrics.
    pub metrics: &'a SelfMetrics,
    /// This service's runtime for this cloud before a reload, when it had one.
    pub before: Option<Before<'a>>,
}

/// A service's runtime for one cloud before a reload, and what it was built from.
pub struct Before<'a> {
    /// The runtime.
    pub runtime: &'a dyn Runtime,
    /// The cloud's config it was built from.
    pub cloud: &'a CloudConfig,
    /// The whole config it was built from.
    pub config: &'a Config,
    /// Whether the cloud's client was kept: then what was read with its credentials (caches,
    /// inventories) may be kept too.
    pub client_kept: bool,
}

impl Build<'_> {
    /// The cloud's section of service `key` (it has one: the fleet builds only those).
    pub fn section<T: crate::config::Section + Clone>(&self, key: &str) -> Result<T, String> {
        self.cloud
            .sections
            .get::<T>(key)
            .cloned()
            .ok_or_else(|| format!("cloud {}: no {key} section", self.cloud.name))
    }
}

impl Before<'_> {
    /// The runtime, when it is a `T`.
    pub fn runtime<T: Runtime>(&self) -> Option<&T> {
        self.runtime.as_any().downcast_ref()
    }
}

/// One service of one cloud, as scrapes see it.
pub trait Runtime: Any + Send + Sync {
    /// This scrape's collector runs (none on a shard that does not collect it).
    fn collect<'a>(&'a self, deadline: Instant) -> Vec<Job<'a>>;

    /// Families of what it holds (its discovered inventory), added to every scrape after the
    /// collectors ran; it tells `status` of its background work.
    fn families(&self, _out: &mut Families, _status: &Status) {}

    /// What the landing page says of its inventories, by collector.
    fn inventories(&self) -> Vec<(&'static str, InventorySummary)>;

    /// Itself, for [`crate::services::Cloud::runtime`].
    fn as_any(&self) -> &dyn Any;
}

/// One collector run of one scrape: its `collector` label and the fetch-and-map it does.
pub struct Job<'a> {
    /// The `collector` label.
    pub collector: &'static str,
    /// The run: the families, or why it failed.
    pub run: BoxFuture<'a, Result<Families, ApiError>>,
}
