//! The runtime of a listing-shaped service: one list API whose rows become per-resource series
//! (info, status) and counts. A service of that shape writes its [`crate::config::Schema`], its
//! models, a [`ListingSpec`] (its names, its bound, its pure mapping) and a lister (its call
//! through [`crate::inventory::page_all`]); this module does the rest, for every such service
//! alike and naming none:
//!
//! - [`Scraped`]: a listing read in every scrape (state, not inventory), its own collector.
//!   Every listing applies the one rule of [`crate::inventory::listed`] (an incomplete listing
//!   is served only when nothing complete is, and is no success; a shrink of more than half is
//!   held once), and `huaweicloud_discovery_refused_shrinks_total` is written in every scrape.
//! - [`Discovered`]: a listing kept as an [`Inventory`], refreshed in the background, whose
//!   rows' series are written in every scrape from the inventory in use.
//! - [`ListingRuntime`]: a whole service of one scraped listing (its [`Runtime`]), for a
//!   service that has nothing else.
//!
//! Paging, bounded pages, dropped repeats and never being driven by a total alone are the
//! pager's ([`crate::inventory::pager`]); what a reload carries over is decided by the service
//! (same client, same listing settings) and done here ([`Scraped::new`]).

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use tokio::time::Instant;

use crate::inventory::{Inventory, Listed, Lister, Names, Resource, Snapshot, REFUSED_SHRINKS};
use crate::metrics::Families;
use crate::services::service::{Job, Runtime};
use crate::status::{InventorySource, InventorySummary, Status};
use crate::sync::lock;
use crate::transport::{ApiError, ErrorKind};

/// What a listing is, as data: its names, its bound and its mapping.
pub struct ListingSpec<T: 'static> {
    /// Its `service` label, collector and operation (the operation names its errors).
    pub names: Names,
    /// What one row is, in log lines and errors (e.g. `DCS instance`).
    pub what: &'static str,
    /// What the landing page counts (e.g. `instances`).
    pub unit: &'static str,
    /// Series one row makes, for the series bound.
    pub series_per_row: usize,
    /// The setting that bounds the series (e.g. `dcs.max_series`), named when it is exceeded.
    pub max_series_setting: &'static str,
    /// The pure mapping of the rows: their families, and the rows left out (an id that is no
    /// sane label value), which are logged.
    pub map: fn(cloud: &str, rows: &[T]) -> (Families, usize),
}

/// A listing read in every scrape.
pub struct Scraped<T: 'static> {
    /// What it is.
    spec: &'static ListingSpec<T>,
    /// The cloud (the `cloud` label).
    cloud: String,
    /// One full listing under a deadline.
    list: Lister<T>,
    /// Most series its rows may make.
    max_series: usize,
    /// What the last listings showed (the served rows and the shrink rule's memory), shared
    /// with the runtime a reload builds when the service keeps it.
    listed: Arc<Mutex<Listed<T>>>,
}

impl<T: Resource + Send + Sync + 'static> Scraped<T> {
    /// A listing of `cloud` by `list`, bounded to `max_series`, carrying over what `before`
    /// listed (the service passes it when the client and the listing's settings are kept).
    pub fn new(
        spec: &'static ListingSpec<T>,
        cloud: &str,
        list: Lister<T>,
        max_series: usize,
        before: Option<&Scraped<T>>,
    ) -> Scraped<T> {
        Scraped {
            spec,
            cloud: cloud.to_string(),
            list,
            max_series,
            listed: before.map(|b| b.listed.clone()).unwrap_or_default(),
        }
    }

    /// Its collector's run in one scrape.
    pub fn job(&self, deadline: Instant) -> Job<'_> {
        Job {
            collector: self.spec.names.collector,
            run: self.collect(deadline).boxed(),
        }
    }

    /// Lists, applies the listing rule and maps. Fails on a failed listing or more series
    /// than the bound; a held or incomplete listing is served marked incomplete (success 0)
    /// with one log line.
    pub async fn collect(&self, deadline: Instant) -> Result<Families, ApiError> {
        let spec = self.spec;
        let cloud = self.cloud.as_str();
        let collector = spec.names.collector;
        let listing = (self.list)(deadline).await?;
        let request_id = listing.request_id.clone();
        let rid = request_id.as_deref().unwrap_or("-").to_string();
        let listed = listing.items.len();
        let (items, why) = lock(&self.listed).apply(listing, spec.names.operation, spec.what);
        if let Some(e) = &why {
            tracing::warn!(cloud, collector, listed, served = items.len(), request_id = %rid, "{}", e.message);
        }
        let series = spec.series_per_row.saturating_mul(items.len());
        if series > self.max_series {
            return Err(ApiError {
                request_id,
                ..ApiError::new(
                    ErrorKind::LimitExceeded,
                    spec.names.operation,
                    format!(
                        "the {} {}s listed would make {series} series, more than {} ({}); raise it if the listing is real",
                        items.len(),
                        spec.what,
                        spec.max_series_setting,
                        self.max_series
                    ),
                )
            });
        }
        let (mut f, rejected) = (spec.map)(cloud, &items);
        if rejected > 0 {
            tracing::warn!(cloud, collector, rejected, request_id = %rid, "the listing had {}s whose id is no sane label value; left them out", spec.what);
        }
        if let Some(e) = why {
            f.mark_incomplete(e);
        }
        Ok(f)
    }

    /// Its refused shrinks (`huaweicloud_discovery_refused_shrinks_total`), in every scrape
    /// whatever this one's listing did.
    pub fn families(&self, out: &mut Families) {
        let refused = lock(&self.listed).refused();
        out.counter(
            &REFUSED_SHRINKS,
            &[("cloud", &self.cloud), ("service", self.spec.names.service)],
            refused as f64,
        );
    }

    /// What the landing page says of it: account-wide, read in every scrape.
    pub fn summary(&self) -> InventorySummary {
        InventorySummary {
            unit: self.spec.unit,
            source: InventorySource::AccountWide,
            total: 0,
            collected: 0,
        }
    }
}

/// A listing kept as an inventory, refreshed in the background; its series come from the
/// inventory in use, also while refreshes fail.
pub struct Discovered<T: 'static> {
    /// What it is (its mapping's rejected count is always 0: the lister filters).
    spec: &'static ListingSpec<T>,
    /// The inventory.
    inventory: Inventory<T>,
}

impl<T: Resource + Send + Sync + 'static> Discovered<T> {
    /// An inventory of `cloud` by `list`, refreshed every `refresh_interval`.
    pub fn new(
        spec: &'static ListingSpec<T>,
        cloud: &str,
        refresh_interval: Duration,
        list: Lister<T>,
    ) -> Discovered<T> {
        Discovered {
            spec,
            inventory: Inventory::new(cloud, spec.names, refresh_interval, list),
        }
    }

    /// The inventory to use now (see [`Inventory::current`]).
    pub async fn current(&self, deadline: Instant) -> Result<Arc<Snapshot<T>>, ApiError> {
        self.inventory.current(deadline).await
    }

    /// Resources in the inventory now.
    pub fn size(&self) -> usize {
        self.inventory.peek().map_or(0, |s| s.items.len())
    }

    /// What the landing page says of it.
    pub fn summary(&self) -> InventorySummary {
        let size = self.size();
        InventorySummary {
            unit: self.spec.unit,
            source: InventorySource::Discovered {
                refreshed: self.inventory.stats().last_success,
            },
            total: size,
            collected: size,
        }
    }

    /// Its self metrics, its collector's success and duration, and its rows' series.
    pub fn families(&self, cloud: &str, status: &Status) -> Families {
        let mut f = Families::new();
        let snap = self.inventory.peek();
        let items = snap.as_deref().map_or(&[][..], |s| s.items.as_slice());
        self.inventory.families(&mut f, items.len(), status);
        f.merge((self.spec.map)(cloud, items).0);
        f
    }
}

/// A whole service of one scraped listing: its one collector, its refused shrinks, its row on
/// the landing page.
pub struct ListingRuntime<T: 'static> {
    /// The listing.
    pub listing: Scraped<T>,
}

impl<T: Resource + Send + Sync + 'static> Runtime for ListingRuntime<T> {
    fn collect<'a>(&'a self, deadline: Instant) -> Vec<Job<'a>> {
        vec![self.listing.job(deadline)]
    }

    fn families(&self, out: &mut Families, _status: &Status) {
        self.listing.families(out);
    }

    fn inventories(&self) -> Vec<(&'static str, InventorySummary)> {
        vec![(self.listing.spec.names.collector, self.listing.summary())]
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
