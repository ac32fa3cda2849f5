//! Discovery: the generic inventory of one cloud × service, and the pager that lists it.
//!
//! An [`Inventory<T>`] holds the last good listing (an `Arc` snapshot and when it was taken) and
//! refreshes it in the background every `refresh_interval`: a scrape asks [`Inventory::current`],
//! which answers the snapshot at once and, when the snapshot is due, starts one refresh on a
//! spawned task (single flight: a refresh in progress is never doubled). Only a scrape that finds
//! no inventory at all (the very first) waits for the listing, and only until its own deadline;
//! the listing goes on in the background after that, under its own deadline
//! ([`listing_timeout`]), so the next scrape finds it.
//!
//! What a refresh does to the inventory:
//! - a failed listing (a page that errs, the listing's deadline) keeps the last inventory;
//! - a *partial* listing (the pages ended — an empty page, the page cap — before the rows reached
//!   the `total` the API announced) never replaces a complete inventory. It does replace an
//!   inventory that was itself partial, and it is used when there is none yet: a first listing
//!   that is partial is served (some resources are better than none), marked partial. A lying
//!   `total` therefore shows every resource and keeps the discovery's success at 0 with one
//!   log line per refresh that says so, while an empty or short page after a good listing
//!   changes nothing;
//! - a complete listing replaces the inventory.
//!
//! Every refresh records its outcome (success, error and request id, duration), which the self
//! metrics ([`Inventory::families`]) and the landing page read. An inventory is kept across
//! reloads as long as the cloud's client and the service's discovery settings are unchanged (the
//! lister holds the client); see `scrape::Exporter::new`.

pub mod listing;

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::time::Instant;

use crate::metrics::Families;
use crate::transport::{ApiError, ErrorKind};

/// Resources in the current inventory.
pub const RESOURCES: &str = "huaweicloud_discovery_resources";
/// When the inventory was last listed in full.
pub const LAST_SUCCESS: &str = "huaweicloud_discovery_last_success_timestamp_seconds";

/// Default `refresh_interval`.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// Smallest `refresh_interval` accepted.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// Most pages one listing reads, whatever the API says.
pub const MAX_PAGES: u64 = 5_000;
/// Most rows one listing keeps (beyond it the listing fails: a hostile answer).
pub const MAX_ROWS: usize = 500_000;

/// The deadline one listing gets: its refresh interval, at least 30 s and at most 5 min.
pub fn listing_timeout(refresh_interval: Duration) -> Duration {
    refresh_interval.clamp(Duration::from_secs(30), Duration::from_secs(300))
}

/// What a lister returns: the rows, and whether the pages reached the announced total.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T> {
    /// Rows, deduplicated by id (the first wins).
    pub items: Vec<T>,
    /// Whether the listing is complete (see the module doc).
    pub complete: bool,
    /// Pages (calls) read.
    pub pages: u64,
    /// What the API said the total was (the last page's word).
    pub total: Option<u64>,
    /// The request id of the last page read, for log lines about the listing.
    pub request_id: Option<String>,
}

/// A lister: one full listing under a deadline.
pub type Lister<T> =
    Arc<dyn Fn(Instant) -> BoxFuture<'static, Result<Listing<T>, ApiError>> + Send + Sync>;

/// One inventory snapshot.
#[derive(Debug)]
pub struct Snapshot<T> {
    /// The resources.
    pub items: Vec<T>,
    /// When the listing that made it ended.
    pub at: SystemTime,
    /// Whether it came from a complete listing.
    pub complete: bool,
}

/// The last refresh's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When it started.
    pub at: SystemTime,
    /// How long it took.
    pub took: Duration,
    /// `None` when it succeeded (a complete listing); the error otherwise (a partial listing is
    /// an error of kind `limit_exceeded` naming the shortfall).
    pub error: Option<ApiError>,
}

/// What the self metrics and the landing page read.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Resources in the inventory, `None` before the first listing arrived.
    pub size: Option<usize>,
    /// When the inventory was last listed in full.
    pub last_success: Option<SystemTime>,
    /// The latest refresh, `None` before the first ended.
    pub last: Option<Outcome>,
}

struct State<T> {
    snapshot: Option<Arc<Snapshot<T>>>,
    /// When the snapshot (or the last attempt) is due for a refresh.
    next_due: Option<Instant>,
    last_success: Option<SystemTime>,
    last: Option<Outcome>,
    /// The refresh in flight, for a first scrape to wait on.
    in_flight: Option<Shared<BoxFuture<'static, ()>>>,
    /// Whether a refresh is running (set when spawned, cleared when it records its outcome).
    running: bool,
}

struct Shared_<T> {
    cloud: String,
    service: &'static str,
    refresh_interval: Duration,
    lister: Lister<T>,
    state: Mutex<State<T>>,
}

/// The inventory of one cloud × service. Cheap to clone (one `Arc`).
pub struct Inventory<T> {
    inner: Arc<Shared_<T>>,
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
            .field("service", &self.inner.service)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T: Send + Sync + 'static> Inventory<T> {
    /// An empty inventory; nothing is listed until the first [`current`](Self::current).
    pub fn new(
        cloud: &str,
        service: &'static str,
        refresh_interval: Duration,
        lister: Lister<T>,
    ) -> Inventory<T> {
        Self::unchecked(
            cloud,
            service,
            refresh_interval.max(MIN_REFRESH_INTERVAL),
            lister,
        )
    }

    fn unchecked(
        cloud: &str,
        service: &'static str,
        refresh_interval: Duration,
        lister: Lister<T>,
    ) -> Inventory<T> {
        Inventory {
            inner: Arc::new(Shared_ {
                cloud: cloud.to_string(),
                service,
                refresh_interval,
                lister,
                state: Mutex::new(State {
                    snapshot: None,
                    next_due: None,
                    last_success: None,
                    last: None,
                    in_flight: None,
                    running: false,
                }),
            }),
        }
    }

    /// The service this inventory lists.
    pub fn service(&self) -> &'static str {
        self.inner.service
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
                self.operation(),
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
        }
    }

    fn operation(&self) -> &'static str {
        match self.inner.service {
            "koophone" => "koophone_discovery",
            "ddm" => "ddm_discovery",
            "dcs" => "dcs_discovery",
            _ => "discovery",
        }
    }

    /// Starts one refresh on its own task; the returned future resolves when it has ended.
    fn spawn_refresh(&self) -> Shared<BoxFuture<'static, ()>> {
        let inner = self.inner.clone();
        let handle = tokio::spawn(async move { refresh(&inner).await });
        async move {
            let _ = handle.await;
        }
        .boxed()
        .shared()
    }

    /// The discovery's self metrics: `huaweicloud_discovery_resources` (`resources`, which the
    /// caller gives: for KooPhone the phones this replica keeps after sharding) and
    /// `huaweicloud_discovery_last_success_timestamp_seconds` (absent before the first success),
    /// plus `huaweicloud_scrape_collector_success` and `…_duration_seconds` under
    /// `collector="<service>_discovery"` for the latest refresh. Nothing before the first
    /// refresh has ended.
    pub fn families(&self, f: &mut Families, resources: usize) {
        let stats = self.stats();
        let cloud = self.inner.cloud.as_str();
        let svc = [("cloud", cloud), ("service", self.inner.service)];
        if stats.size.is_some() {
            f.gauge(
                RESOURCES,
                "Resources in the current discovered inventory (KooPhone: the phones this replica keeps after sharding).",
                &svc,
                resources as f64,
            );
        }
        if let Some(t) = stats.last_success {
            f.gauge(
                LAST_SUCCESS,
                "When the inventory was last listed in full (Unix time).",
                &svc,
                unix(t),
            );
        }
        if let Some(last) = &stats.last {
            let labels = [("cloud", cloud), ("collector", self.operation())];
            f.gauge(
                "huaweicloud_scrape_collector_success",
                "Whether this collector of this cloud succeeded in this scrape (1) or not (0).",
                &labels,
                if last.error.is_none() { 1.0 } else { 0.0 },
            );
            f.gauge(
                "huaweicloud_scrape_collector_duration_seconds",
                "How long this collector of this cloud took in this scrape.",
                &labels,
                last.took.as_secs_f64(),
            );
        }
    }

    /// The collector name of this discovery (`koophone_discovery`, `ddm_discovery`).
    pub fn collector(&self) -> &'static str {
        self.operation()
    }
}

/// Seconds since the Unix epoch.
pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Clears `running` however the refresh ends (a panic in a lister included).
struct Running<'a, T>(&'a Shared_<T>);

impl<T> Drop for Running<'_, T> {
    fn drop(&mut self) {
        lock(&self.0.state).running = false;
    }
}

async fn refresh<T: Send + Sync + 'static>(inner: &Shared_<T>) {
    let _running = Running(inner);
    let at = SystemTime::now();
    let started = Instant::now();
    let deadline = started + listing_timeout(inner.refresh_interval);
    let result = match tokio::time::timeout_at(deadline, (inner.lister)(deadline)).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::new(
            ErrorKind::Timeout,
            "discovery",
            "the listing did not finish within its deadline",
        )),
    };
    let took = started.elapsed();
    let mut st = lock(&inner.state);
    st.next_due = Some(Instant::now() + inner.refresh_interval);
    let had_none = st.snapshot.is_none();
    let cloud = inner.cloud.as_str();
    let service = inner.service;
    let error = match result {
        Ok(listing) if listing.complete => {
            tracing::debug!(
                cloud,
                service,
                resources = listing.items.len(),
                pages = listing.pages,
                took_ms = took.as_millis() as u64,
                "discovery refreshed"
            );
            st.snapshot = Some(Arc::new(Snapshot {
                items: listing.items,
                at: SystemTime::now(),
                complete: true,
            }));
            st.last_success = Some(SystemTime::now());
            None
        }
        Ok(listing) => {
            let replace = st.snapshot.as_ref().is_none_or(|s| !s.complete);
            let rows = listing.items.len();
            let mut e = ApiError::new(
                ErrorKind::LimitExceeded,
                "discovery",
                format!(
                    "partial listing: {rows} rows in {} pages, but the API announced {}; {}",
                    listing.pages,
                    listing
                        .total
                        .map_or_else(|| "more".to_string(), |t| t.to_string()),
                    if replace {
                        "serving it, as there is no complete inventory"
                    } else {
                        "keeping the last complete inventory"
                    }
                ),
            );
            e.request_id = listing.request_id;
            if replace {
                st.snapshot = Some(Arc::new(Snapshot {
                    items: listing.items,
                    at: SystemTime::now(),
                    complete: false,
                }));
            }
            Some(e)
        }
        Err(e) => Some(e),
    };
    if let Some(e) = &error {
        tracing::warn!(
            cloud,
            collector = service_collector(service),
            result = e.kind.result(),
            request_id = e.request_id.as_deref().unwrap_or("-"),
            kept = st.snapshot.as_ref().map_or(0, |s| s.items.len()),
            error = %e,
            "discovery refresh failed; keeping the last inventory"
        );
    }
    // With nothing to serve, the next scrape tries again rather than waiting an interval.
    if had_none && st.snapshot.is_none() {
        st.next_due = Some(Instant::now());
    }
    st.last = Some(Outcome { at, took, error });
}

fn service_collector(service: &str) -> &'static str {
    match service {
        "koophone" => "koophone_discovery",
        "ddm" => "ddm_discovery",
        _ => "discovery",
    }
}

/// Where the pager is: the page index (0-based count of pages read so far) and the raw rows
/// received so far (for APIs paged by offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Pages read before this one.
    pub index: u64,
    /// Rows received before this one (duplicates included): the next offset.
    pub rows: u64,
}

/// One page as the API answered it.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Its rows.
    pub rows: Vec<T>,
    /// The total the API announced, if it did.
    pub total: Option<u64>,
    /// The answer's request id.
    pub request_id: Option<String>,
}

/// What the pages read so far add up to, and whether to read on.
struct Pages<T> {
    items: Vec<T>,
    seen: HashSet<String>,
    cursor: Cursor,
    total: Option<u64>,
    request_id: Option<String>,
    dropped: usize,
    first_rows: u64,
    ended_empty: bool,
}

impl<T> Pages<T> {
    fn new() -> Self {
        Pages {
            items: Vec::new(),
            seen: HashSet::new(),
            cursor: Cursor { index: 0, rows: 0 },
            total: None,
            request_id: None,
            dropped: 0,
            first_rows: 0,
            ended_empty: false,
        }
    }

    /// The page cap: what the total needs at the first page's size, plus slack for short and
    /// shifted pages; without a total, only the absolute cap.
    fn cap(&self) -> u64 {
        match self.total {
            Some(t) => (t / self.first_rows.max(1))
                .saturating_add(3)
                .min(MAX_PAGES),
            None => MAX_PAGES,
        }
    }

    /// Takes the next page in order; `Ok(true)` when the listing has ended.
    fn take(&mut self, page: Page<T>, key: &impl Fn(&T) -> &str) -> Result<bool, ApiError> {
        self.request_id = page.request_id.or(self.request_id.take());
        if page.total.is_some() {
            self.total = page.total;
        }
        let n = page.rows.len() as u64;
        if self.cursor.index == 0 {
            self.first_rows = n;
        }
        self.cursor.index += 1;
        self.cursor.rows += n;
        for r in page.rows {
            if self.seen.insert(key(&r).to_string()) {
                self.items.push(r);
            } else {
                self.dropped += 1;
            }
        }
        if self.items.len() > MAX_ROWS {
            return Err(ApiError::new(
                ErrorKind::LimitExceeded,
                "discovery",
                format!("the listing passed {MAX_ROWS} rows; refused"),
            ));
        }
        if n == 0 {
            self.ended_empty = true;
            return Ok(true);
        }
        if self.total.is_some_and(|t| self.items.len() as u64 >= t) {
            return Ok(true);
        }
        Ok(self.cursor.index >= self.cap())
    }

    fn finish(self, cloud: &str, service: &str) -> Listing<T> {
        if self.dropped > 0 {
            tracing::warn!(
                cloud,
                service,
                dropped = self.dropped,
                request_id = self.request_id.as_deref().unwrap_or("-"),
                "the listing repeated rows across pages; kept the first of each"
            );
        }
        let complete = match self.total {
            Some(t) => self.items.len() as u64 >= t,
            None => self.ended_empty,
        };
        Listing {
            items: self.items,
            complete,
            pages: self.cursor.index,
            total: self.total,
            request_id: self.request_id,
        }
    }
}

/// Reads every page: page by the rows received, never by `total` alone. Stops at an empty page,
/// when the distinct rows reach `total`, or at the page cap (`total / rows of the first page`
/// plus slack, and [`MAX_PAGES`]); a short page does not stop it (a server may clamp its page
/// size, or answer short while more remain). Rows are deduplicated by `key` (the first wins, one
/// log line). The listing is complete when the distinct rows reached the last `total` (or the
/// API gave none and an empty page ended it). A failed page fails the listing.
pub async fn page_all<T, F, Fut>(
    cloud: &str,
    service: &str,
    key: impl Fn(&T) -> &str,
    mut fetch: F,
) -> Result<Listing<T>, ApiError>
where
    F: FnMut(Cursor) -> Fut,
    Fut: Future<Output = Result<Page<T>, ApiError>>,
{
    let mut pages = Pages::new();
    loop {
        let page = fetch(pages.cursor).await?;
        if pages.take(page, &key)? {
            break;
        }
    }
    Ok(pages.finish(cloud, service))
}

/// [`page_all`] for an API paged by page number: after the first page, up to `window` pages are
/// asked at once (no more than the announced total still needs, at least one), and taken in
/// order with the same rules, so a stop mid-window ignores the pages after it. `Cursor::rows`
/// is then the rows of the pages taken before the window, not an offset to trust.
pub async fn page_all_windowed<T, F, Fut>(
    cloud: &str,
    service: &str,
    key: impl Fn(&T) -> &str,
    window: u64,
    fetch: F,
) -> Result<Listing<T>, ApiError>
where
    F: Fn(Cursor) -> Fut,
    Fut: Future<Output = Result<Page<T>, ApiError>>,
{
    let mut pages = Pages::new();
    let first = fetch(pages.cursor).await?;
    if !pages.take(first, &key)? {
        'pages: loop {
            let needed = match pages.total {
                Some(t) => t
                    .saturating_sub(pages.items.len() as u64)
                    .div_ceil(pages.first_rows.max(1)),
                None => 1,
            };
            let n = window
                .min(needed)
                .min(pages.cap().saturating_sub(pages.cursor.index))
                .max(1);
            let base = pages.cursor;
            let batch = futures::future::join_all((0..n).map(|i| {
                fetch(Cursor {
                    index: base.index + i,
                    rows: base.rows,
                })
            }))
            .await;
            for page in batch {
                if pages.take(page?, &key)? {
                    break 'pages;
                }
            }
        }
    }
    Ok(pages.finish(cloud, service))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn pages(
        rows: Vec<Vec<&'static str>>,
        total: u64,
    ) -> impl FnMut(Cursor) -> BoxFuture<'static, Result<Page<String>, ApiError>> {
        move |c: Cursor| {
            let r: Vec<String> = rows
                .get(c.index as usize)
                .map(|p| p.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            async move {
                Ok(Page {
                    rows: r,
                    total: Some(total),
                    request_id: None,
                })
            }
            .boxed()
        }
    }

    #[tokio::test]
    async fn pager_reads_until_the_total_and_dedups() {
        let l = page_all(
            "c",
            "s",
            |s: &String| s,
            pages(vec![vec!["a", "b"], vec!["b", "c"], vec!["d"]], 4),
        )
        .await
        .unwrap();
        assert_eq!(l.items, vec!["a", "b", "c", "d"]);
        assert!(l.complete);
        assert_eq!(l.pages, 3);
    }

    #[tokio::test]
    async fn pager_stops_at_an_empty_page_partial() {
        let l = page_all(
            "c",
            "s",
            |s: &String| s,
            pages(vec![vec!["a", "b"], vec![], vec!["c"]], 3),
        )
        .await
        .unwrap();
        assert_eq!(l.items, vec!["a", "b"]);
        assert!(!l.complete);
        // A lying total ends at the first empty page too, bounded.
        let l = page_all(
            "c",
            "s",
            |s: &String| s,
            pages(vec![vec!["a", "b"], vec!["c"]], 1_000_000),
        )
        .await
        .unwrap();
        assert_eq!((l.items.len(), l.pages, l.complete), (3, 3, false));
    }

    #[tokio::test]
    async fn the_windowed_pager_follows_the_same_rules() {
        let calls = Arc::new(AtomicU64::new(0));
        let rows = |pages: Vec<Vec<&'static str>>, total: u64| {
            let calls = calls.clone();
            move |c: Cursor| {
                calls.fetch_add(1, Ordering::SeqCst);
                let r: Vec<String> = pages
                    .get(c.index as usize)
                    .map(|p| p.iter().map(|s| s.to_string()).collect())
                    .unwrap_or_default();
                async move {
                    Ok(Page {
                        rows: r,
                        total: Some(total),
                        request_id: None,
                    })
                }
            }
        };
        fn key(s: &String) -> &str {
            s
        }
        let l = page_all_windowed(
            "c",
            "s",
            key,
            8,
            rows(
                vec![vec!["a", "b"], vec!["b", "c"], vec!["d", "e"], vec!["f"]],
                6,
            ),
        )
        .await
        .unwrap();
        assert_eq!((l.items.len(), l.complete), (6, true));
        let l = page_all_windowed(
            "c",
            "s",
            key,
            8,
            rows(vec![vec!["a", "b"], vec![], vec!["c", "d"]], 4),
        )
        .await
        .unwrap();
        assert_eq!(
            (l.items, l.complete),
            (vec!["a".to_string(), "b".into()], false)
        );
        calls.store(0, Ordering::SeqCst);
        let l = page_all_windowed(
            "c",
            "s",
            key,
            8,
            rows(vec![vec!["a", "b"], vec!["c"]], 1_000_000),
        )
        .await
        .unwrap();
        assert_eq!((l.items.len(), l.complete), (3, false));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            9,
            "the first page and one window"
        );
    }

    #[tokio::test]
    async fn pager_reads_past_a_short_page() {
        let l = page_all(
            "c",
            "s",
            |s: &String| s,
            pages(vec![vec!["a", "b"], vec!["c"], vec!["d", "e"]], 5),
        )
        .await
        .unwrap();
        assert_eq!(l.items.len(), 5);
        assert!(l.complete);
    }

    type Script = Vec<Result<Listing<String>, ApiError>>;

    /// The refresh interval of these tests (real time; no assertion on durations).
    const TICK: Duration = Duration::from_millis(150);

    /// Lets a background refresh that was started finish (the scripted listers answer at once).
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    fn lister(calls: Arc<AtomicU64>, script: Arc<Mutex<Script>>) -> Lister<String> {
        Arc::new(move |_deadline| {
            calls.fetch_add(1, Ordering::SeqCst);
            let next = lock(&script).remove(0);
            async move { next }.boxed()
        })
    }

    fn listing(items: &[&str], complete: bool) -> Result<Listing<String>, ApiError> {
        Ok(Listing {
            items: items.iter().map(|s| s.to_string()).collect(),
            complete,
            pages: 1,
            total: None,
            request_id: Some("rid".into()),
        })
    }

    #[tokio::test]
    async fn refreshes_in_the_background_and_keeps_the_last_good() {
        let calls = Arc::new(AtomicU64::new(0));
        let script = Arc::new(Mutex::new(vec![
            listing(&["a", "b"], true),
            Err(ApiError::new(ErrorKind::ServerError, "x", "boom")),
            listing(&["a"], false),
            listing(&["c"], true),
        ]));
        let inv = Inventory::unchecked("c", "koophone", TICK, lister(calls.clone(), script));
        let dl = || Instant::now() + Duration::from_secs(5);
        assert_eq!(inv.current(dl()).await.unwrap().items, vec!["a", "b"]);
        // Not due: no call.
        assert_eq!(inv.current(dl()).await.unwrap().items.len(), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        for expected_calls in [2, 3] {
            tokio::time::sleep(TICK * 2).await;
            // Answers at once with the old snapshot; the refresh runs behind.
            assert_eq!(inv.current(dl()).await.unwrap().items.len(), 2);
            settle().await;
            assert_eq!(calls.load(Ordering::SeqCst), expected_calls);
            let s = inv.stats();
            assert!(
                s.last.unwrap().error.is_some(),
                "failed and partial listings are errors"
            );
            assert_eq!(inv.current(dl()).await.unwrap().items, vec!["a", "b"]);
        }
        tokio::time::sleep(TICK * 2).await;
        let _ = inv.current(dl()).await;
        settle().await;
        assert_eq!(inv.current(dl()).await.unwrap().items, vec!["c"]);
        assert!(inv.stats().last.unwrap().error.is_none());
    }

    #[tokio::test]
    async fn a_first_partial_listing_is_served_and_replaced_by_the_next() {
        let calls = Arc::new(AtomicU64::new(0));
        let script = Arc::new(Mutex::new(vec![
            listing(&["a"], false),
            listing(&["b"], false),
        ]));
        let inv = Inventory::unchecked("c", "ddm", TICK, lister(calls, script));
        let dl = || Instant::now() + Duration::from_secs(5);
        assert_eq!(inv.current(dl()).await.unwrap().items, vec!["a"]);
        assert!(inv.stats().last_success.is_none());
        tokio::time::sleep(TICK * 2).await;
        let _ = inv.current(dl()).await;
        settle().await;
        assert_eq!(inv.current(dl()).await.unwrap().items, vec!["b"]);
    }

    #[tokio::test]
    async fn the_first_scrape_waits_only_until_its_deadline_and_refreshes_are_single_flight() {
        let calls = Arc::new(AtomicU64::new(0));
        let c = calls.clone();
        let lister: Lister<String> = Arc::new(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                listing(&["late"], true)
            }
            .boxed()
        });
        let inv = Inventory::new("c", "koophone", Duration::from_secs(60), lister);
        let e = inv
            .current(Instant::now() + Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout);
        let e = inv
            .current(Instant::now() + Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one listing in flight, joined"
        );
        let _ = inv.current(Instant::now() + Duration::from_secs(30)).await;
        assert_eq!(
            inv.current(Instant::now()).await.unwrap().items,
            vec!["late"]
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
