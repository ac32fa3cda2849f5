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

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::time::Instant;

use crate::config::Section;
use crate::inventory::{
    Inventory, Listed, Lister, Listing, Names, Resource, Snapshot, REFUSED_SHRINKS,
};
use crate::metrics::Families;
use crate::services::service::{Build, Job, Runtime};
use crate::status::{InventorySource, InventorySummary, Status};
use crate::sync::lock;
use crate::transport::{ApiError, CloudClient, ErrorKind};

/// What a listing is, as data: its names, its bound and its mapping.
pub struct ListingSpec<T: 'static> {
    /// Its `service` label, collector and operation (the operation names its errors).
    pub names: Names,
    /// What one row is, in log lines and errors (its service's word for a resource, e.g.
    /// `cache instance`).
    pub what: &'static str,
    /// What the landing page counts (e.g. `instances`).
    pub unit: &'static str,
    /// Series one row makes, for the series bound.
    pub series_per_row: usize,
    /// The setting that bounds the series (`<section>.max_series`), named when it is exceeded.
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

/// One full listing of a section `C` through a cloud's client (the service's pager call).
pub type ListFn<T, C> =
    for<'a> fn(&'a CloudClient, &'a C, Instant) -> BoxFuture<'a, Result<Listing<T>, ApiError>>;

impl<T: Resource + Send + Sync + 'static> ListingRuntime<T> {
    /// The runtime of a one-listing service for one cloud: its section `C` under `key`, its
    /// `spec`, the series bound the section sets, and its `list` call. What the listing showed
    /// is carried over a reload that keeps the client and the section.
    pub fn build<C: Section + Clone + PartialEq>(
        cx: &Build<'_>,
        key: &str,
        spec: &'static ListingSpec<T>,
        max_series: fn(&C) -> usize,
        list: ListFn<T, C>,
    ) -> Result<Box<dyn Runtime>, String> {
        let cfg: C = cx.section(key)?;
        let before = cx
            .before
            .as_ref()
            .filter(|b| b.client_kept && b.cloud.sections.get::<C>(key) == Some(&cfg))
            .and_then(|b| b.runtime::<ListingRuntime<T>>())
            .map(|r| &r.listing);
        let bound = max_series(&cfg);
        let client = cx.client.clone();
        let cfg = Arc::new(cfg);
        let lister: Lister<T> = Arc::new(move |deadline| {
            let client = client.clone();
            let cfg = cfg.clone();
            async move { list(&client, &cfg, deadline).await }.boxed()
        });
        Ok(Box::new(ListingRuntime {
            listing: Scraped::new(spec, &cx.client.cloud, lister, bound, before),
        }))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::resource_series;
    use crate::metrics::Family;

    static INFO: Family = Family::gauge("t_info", &["cloud", "instance_id"], "t");

    static SPEC: ListingSpec<String> = ListingSpec {
        names: Names {
            service: "t",
            collector: "t_listing",
            operation: "t_list",
        },
        what: "thing",
        unit: "things",
        series_per_row: 1,
        max_series_setting: "t.max_series",
        map: |cloud, rows| {
            let mut f = Families::new();
            let mut rejected = 0;
            for r in rows {
                if r.contains(' ') {
                    rejected += 1;
                    continue;
                }
                resource_series(&mut f, &INFO, cloud, r, &[]);
            }
            (f, rejected)
        },
    };

    /// A lister that answers `listings` in turn (the last one again once they run out).
    fn lister(listings: Vec<Listing<String>>) -> Lister<String> {
        let listings = Arc::new(Mutex::new(listings));
        Arc::new(move |_| {
            let mut l = lock(&listings);
            let next = if l.len() > 1 {
                l.remove(0)
            } else {
                l[0].clone()
            };
            async move { Ok(next) }.boxed()
        })
    }

    fn listing(n: usize, complete: bool) -> Listing<String> {
        Listing {
            items: (0..n).map(|i| format!("r{i}")).collect(),
            complete,
            pages: 1,
            total: Some(n as u64 + u64::from(!complete)),
            dropped: 0,
            request_id: Some("rid".into()),
        }
    }

    async fn scrape(l: &Scraped<String>) -> (usize, bool) {
        let mut f = l.collect(Instant::now()).await.unwrap();
        let incomplete = f.take_incomplete().is_some();
        (f.len_of(INFO.name), incomplete)
    }

    #[tokio::test]
    async fn every_scrape_applies_the_one_listing_rule() {
        let l = Scraped::new(
            &SPEC,
            "c",
            lister(vec![
                listing(3, false),
                listing(10, true),
                listing(4, false),
                listing(2, true),
                listing(2, true),
            ]),
            100,
            None,
        );
        assert_eq!(scrape(&l).await, (3, true), "nothing complete yet: served");
        assert_eq!(scrape(&l).await, (10, false));
        assert_eq!(scrape(&l).await, (10, true), "the complete listing stays");
        assert_eq!(scrape(&l).await, (10, true), "a shrink is held once");
        assert_eq!(
            scrape(&l).await,
            (2, false),
            "and applied when the next agrees"
        );
        let mut f = Families::new();
        l.families(&mut f);
        assert_eq!(
            f.value(REFUSED_SHRINKS.name, &[("service", "t")]),
            Some(1.0)
        );
        // A reload that keeps the listing keeps what it showed.
        let again = Scraped::new(&SPEC, "c", lister(vec![listing(0, true)]), 100, Some(&l));
        assert_eq!(
            scrape(&again).await,
            (2, true),
            "a shrink of the carried listing"
        );
    }

    #[tokio::test]
    async fn more_series_than_the_bound_fail_and_bad_ids_are_left_out() {
        let l = Scraped::new(&SPEC, "c", lister(vec![listing(5, true)]), 4, None);
        let e = l.collect(Instant::now()).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::LimitExceeded);
        assert!(e.message.contains("more than t.max_series (4)"), "{e}");
        let mut odd = listing(3, true);
        odd.items[1] = "a b".into();
        let l = Scraped::new(&SPEC, "c", lister(vec![odd]), 100, None);
        assert_eq!(scrape(&l).await, (2, false));
    }
}
