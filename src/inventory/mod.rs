//! Discovery: the generic inventory of one cloud × service, and the one pager every listing
//! goes through ([`pager`]).
//!
//! An [`Inventory<T>`] holds the last good listing (an `Arc` snapshot and when it was taken) and
//! refreshes it in the background every `refresh_interval`: a scrape asks [`Inventory::current`],
//! which answers the snapshot at once and, when the snapshot is due, starts one refresh on a
//! spawned task (single flight: a refresh in progress is never doubled). Only a scrape that finds
//! no inventory at all (the very first) waits for the listing, and only until its own deadline;
//! the listing goes on in the background after that, under its own deadline
//! ([`listing_timeout`]), so the next scrape finds it.
//!
//! What a refresh does to the inventory is the one rule of [`listed`], which the per-scrape
//! listings of services follow too:
//! - a failed listing (a page that errs, the listing's deadline) keeps the last inventory;
//! - an *incomplete* listing (the pages ended — an empty page, a page of repeats — before the
//!   rows reached the `total` the API announced) never replaces a complete inventory; it
//!   replaces an incomplete one, and is served when there is none yet (some resources are
//!   better than none). Either way the discovery's success is 0, with one log line per refresh
//!   that names the shortfall and the request id; an empty or short page after a good listing
//!   changes nothing;
//! - a complete listing replaces the inventory;
//! - but a listing (complete or partial) that would remove more than half of a non-empty
//!   inventory is held once ([`shrink`]): the last inventory stays, the refresh is an error of
//!   kind `limit_exceeded` (success 0, one log line with the listing's request id, the old and
//!   new size), `huaweicloud_discovery_refused_shrinks_total` counts it, and the next listing
//!   decides: another such shrink is applied, anything else is applied as usual.
//!
//! Every refresh records its outcome (success, error and request id, duration), which the self
//! metrics ([`Inventory::families`]) and the landing page read. The service that builds an
//! inventory gives its [`Names`] (service label, collector, operation): nothing here names a
//! service. An inventory is kept across reloads as long as the cloud's client and the service's
//! discovery settings are unchanged (the lister holds the client); see `scrape::Exporter::new`.

mod families;
pub mod listed;
pub mod pager;
mod refresh;
pub mod shrink;
mod state;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use crate::inventory::families::{
    resource_series, unix, LAST_SUCCESS, REFUSED_SHRINKS, RESOURCES,
};
pub use crate::inventory::listed::Listed;
pub use crate::inventory::pager::{
    offset_request, page_all, Cursor, Listing, Page, Rules, MAX_PAGES, MAX_ROWS,
};
pub use crate::inventory::refresh::listing_timeout;
pub use crate::inventory::shrink::{Resource, Shrinks, Verdict};
pub use crate::inventory::state::{Lister, Names, Outcome, Snapshot, Stats};

use crate::inventory::refresh::refresh;
use crate::inventory::state::Inner;
use crate::metrics::Families;
use crate::sync::{lock, spawn_flight, Flight};
use crate::transport::{ApiError, ErrorKind};

use crate::config::MIN_REFRESH_INTERVAL;

/// The inventory of one cloud × service. Cheap to clone (one `Arc`).
pub struct Inventory<T> {
    /// The inventory its handles and its refresh task share.
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Inventory<T> {
    fn clone(&self) -> Self {
        Inventory {
            inner: self.inner.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Inventory<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inventory")
            .field("cloud", &self.inner.cloud)
            .field("service", &self.inner.names.service)
            .finish_non_exhaustive()
    }
}

impl<T: Resource + Send + Sync + 'static> Inventory<T> {
    /// An empty inventory named by `names`; nothing is listed until the first
    /// [`current`](Self::current).
    pub fn new(
        cloud: &str,
        names: Names,
        refresh_interval: Duration,
        lister: Lister<T>,
    ) -> Inventory<T> {
        Self::unchecked(
            cloud,
            names,
            refresh_interval.max(MIN_REFRESH_INTERVAL),
            lister,
        )
    }

    /// [`new`](Self::new) without the floor on `refresh_interval` (tests).
    fn unchecked(
        cloud: &str,
        names: Names,
        refresh_interval: Duration,
        lister: Lister<T>,
    ) -> Inventory<T> {
        Inventory {
            inner: Arc::new(Inner::new(cloud, names, refresh_interval, lister)),
        }
    }

    /// The service this inventory lists.
    pub fn service(&self) -> &'static str {
        self.inner.names.service
    }

    /// The collector name of this discovery (what its service gave, e.g. `koophone_discovery`).
    pub fn collector(&self) -> &'static str {
        self.inner.names.collector
    }

    /// The refresh interval.
    pub fn refresh_interval(&self) -> Duration {
        self.inner.refresh_interval
    }

    /// The current snapshot, starting a background refresh when one is due. Waits only when
    /// there is no snapshot yet, and only until `deadline`; then the error says why there is
    /// none (the first listing failed, or is still running).
    pub async fn current(&self, deadline: Instant) -> Result<Arc<Snapshot<T>>, ApiError> {
        let (snapshot, running) = {
            let mut st = lock(&self.inner.state);
            let due = st.next_due.is_none_or(|d| Instant::now() >= d);
            let running = match &st.in_flight {
                Some(f) if st.running => Some(f.clone()),
                _ if due => {
                    st.running = true;
                    let f = self.spawn_refresh();
                    st.in_flight = Some(f.clone());
                    Some(f)
                }
                _ => None,
            };
            (st.snapshot.clone(), running)
        };
        if let Some(s) = snapshot {
            return Ok(s);
        }
        if let Some(f) = running {
            let _ = tokio::time::timeout_at(deadline, f).await;
        }
        let st = lock(&self.inner.state);
        match (&st.snapshot, &st.last) {
            (Some(s), _) => Ok(s.clone()),
            (None, Some(Outcome { error: Some(e), .. })) => Err(e.clone()),
            _ => Err(ApiError::new(
                ErrorKind::Timeout,
                self.inner.names.collector,
                "the first listing has not finished within the scrape deadline; it goes on in the background",
            )),
        }
    }

    /// The snapshot as it is now, starting nothing.
    pub fn peek(&self) -> Option<Arc<Snapshot<T>>> {
        lock(&self.inner.state).snapshot.clone()
    }

    /// Size, last success and last outcome.
    pub fn stats(&self) -> Stats {
        let st = lock(&self.inner.state);
        Stats {
            size: st.snapshot.as_ref().map(|s| s.items.len()),
            last_success: st.last_success,
            last: st.last.clone(),
            refused_shrinks: st.shrinks.refused(),
        }
    }

    /// Starts one refresh on its own task; the returned flight resolves when it has ended (a
    /// refresh that panicked has cleared `running` on its way out and recorded nothing).
    fn spawn_refresh(&self) -> Flight<()> {
        let inner = self.inner.clone();
        spawn_flight(async move { refresh(&inner).await }, |_| ())
    }

    /// The discovery's self metrics: `huaweicloud_discovery_resources` (`resources`, which the
    /// caller gives: for a sharded service, the resources this replica keeps) and
    /// `huaweicloud_discovery_last_success_timestamp_seconds` (absent before the first success),
    /// plus `huaweicloud_scrape_collector_success` and `…_duration_seconds` under the
    /// inventory's collector name for the latest refresh. Nothing before the first refresh has
    /// ended. The latest refresh is recorded in `status` for the landing page as it is written.
    pub fn families(&self, f: &mut Families, resources: usize, status: &crate::status::Status) {
        let stats = self.stats();
        families::self_metrics(
            f,
            &self.inner.cloud,
            self.inner.names,
            &stats,
            resources,
            status,
        );
    }
}

#[cfg(test)]
mod tests;
