//! The one pager every list API goes through (DCS and DDM instances by offset and limit,
//! KooPhone phones by page number): it pages by the distinct rows received, never by a total
//! alone, and holds one set of stop rules for all of them.
//!
//! Each page is asked at a [`Cursor`]: the pages read so far, and the distinct rows received so
//! far, which is the next offset (so a row repeated across pages, as an insertion between calls
//! shifts them, is neither counted twice nor makes the next page skip a row). Rows are kept once
//! by key, the first wins; a listing that repeated rows says so in one log line with its request
//! id.
//!
//! A listing ends at an empty page, at a page that brings only rows already seen, once the
//! distinct rows reach the total (the last page's word), or at a page shorter than the `limit`
//! asked when no total says more remain. A short page while the total says more remain is read
//! past: the next page says whether it was the end, so a lying total costs one call. A listing
//! fails at a failed page, when it needs more pages than its cap ([`Rules::max_pages`],
//! [`MAX_PAGES`], and what the total needs at the first page's size plus slack), past
//! [`MAX_ROWS`] rows, and, where a `limit` was asked, at a page longer than it. It is complete
//! when the distinct rows reached the total or, with no total, when an empty or short page
//! ended it.
//!
//! What an incomplete listing then does (its success, what is served, what is logged) is one
//! rule for every service, written in [`crate::inventory::listed`]; the pager only says
//! whether the listing is complete.
//!
//! With a `window` above one (an API paged by page number), after the first page up to `window`
//! pages are asked at once (no more than the total still needs) and taken in order by the same
//! rules, so a stop mid-window ignores the pages after it; [`Cursor::rows`] is then the rows
//! taken before the window, not an offset to trust.

use std::collections::HashSet;
use std::future::Future;

use reqwest::Method;

use crate::config::Endpoints;
use crate::transport::{ApiError, ErrorKind, Operation, Request};

/// Most pages one listing reads, whatever the API says.
pub const MAX_PAGES: u64 = 5_000;
/// Most rows one listing keeps (beyond it the listing fails: a hostile answer).
pub const MAX_ROWS: usize = 500_000;

/// Where the pager is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Pages read before this one (0 for the first page).
    pub index: u64,
    /// Distinct rows received before this one: the next offset.
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

/// A whole listing: the rows, and whether the pages reached the announced total.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T> {
    /// Rows in listed order, deduplicated by key (the first wins).
    pub items: Vec<T>,
    /// Whether the listing is complete (see the module doc).
    pub complete: bool,
    /// Pages (calls) read.
    pub pages: u64,
    /// What the API said the total was (the last page's word).
    pub total: Option<u64>,
    /// Rows dropped as repeats of an earlier key (the pager has logged them).
    pub dropped: usize,
    /// The request id of the last page read, for log lines and errors about the listing.
    pub request_id: Option<String>,
}

impl<T> From<Page<T>> for Listing<T> {
    /// One page read on its own: complete only where its total says so.
    fn from(page: Page<T>) -> Self {
        Listing {
            complete: page.total.is_some_and(|t| page.rows.len() as u64 >= t),
            items: page.rows,
            pages: 1,
            total: page.total,
            dropped: 0,
            request_id: page.request_id,
        }
    }
}

impl<T> Listing<T> {
    /// Takes in `more`, another reading of the same list (the pages read by the other reading of
    /// the page number, a page read again): its rows this listing lacks are added in order, its
    /// pages counted, and its total and request id, the later word, believed. Rows both readings
    /// hold are expected there and not logged.
    pub fn merge(&mut self, more: Listing<T>, key: impl Fn(&T) -> &str) {
        let mut seen: HashSet<String> = self.items.iter().map(|r| key(r).to_string()).collect();
        for r in more.items {
            if seen.insert(key(&r).to_string()) {
                self.items.push(r);
            }
        }
        self.pages += more.pages;
        self.total = more.total.or(self.total);
        self.request_id = more.request_id.or(self.request_id.take());
        self.complete = match self.total {
            Some(t) => self.items.len() as u64 >= t,
            None => self.complete || more.complete,
        };
    }
}

/// How one listing is paged: what it is (for errors and the log line) and its bounds.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The list call's name, for errors.
    pub operation: &'static str,
    /// The cloud, for the log line.
    pub cloud: &'a str,
    /// The service, for the log line.
    pub service: &'a str,
    /// Rows asked per page where the API honours it: a longer page fails the listing, and a
    /// shorter one ends it when no total says more remain. `None` where the API's page size
    /// is not to be relied on.
    pub limit: Option<u32>,
    /// Most pages (besides [`MAX_PAGES`] and what the total needs).
    pub max_pages: u64,
    /// Pages asked at once after the first (1: one at a time).
    pub window: u64,
}

impl<'a> Rules<'a> {
    /// The rules for `op` on `cloud`: no limit relied on, only [`MAX_PAGES`], one page at a
    /// time; set the rest with struct update syntax.
    pub fn of(op: &'static Operation, cloud: &'a str) -> Rules<'a> {
        Rules {
            operation: op.name,
            cloud,
            service: op.service,
            limit: None,
            max_pages: MAX_PAGES,
            window: 1,
        }
    }
}

/// The request for one page of an API paged by `offset` and `limit`: a GET of `path` at the
/// base URL of `op`'s service in `endpoints` (its [`Operation::service`] is its endpoint key),
/// with those two query parameters (the caller may push more).
pub fn offset_request(
    op: &'static Operation,
    endpoints: &Endpoints,
    path: String,
    offset: u64,
    limit: u32,
) -> Request {
    Request {
        op,
        method: Method::GET,
        base: endpoints.get(op.service).to_string(),
        path,
        query: vec![
            ("offset".into(), offset.to_string()),
            ("limit".into(), limit.to_string()),
        ],
        body: None,
    }
}

/// How a listing ended, which says whether it is complete when the API gave no total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// An empty page, or one shorter than the limit asked: the API's own word for the end.
    Last,
    /// A page of rows already seen, or the total reached.
    Other,
}

/// What the pages read so far add up to, and whether to read on.
struct Pages<'r, T> {
    /// The listing's rules.
    rules: &'r Rules<'r>,
    /// Distinct rows so far, in listed order.
    items: Vec<T>,
    /// Keys of `items`.
    seen: HashSet<String>,
    /// Where the next page is asked.
    cursor: Cursor,
    /// The last total a page gave.
    total: Option<u64>,
    /// The last request id a page gave.
    request_id: Option<String>,
    /// Rows dropped as repeats.
    dropped: usize,
    /// Rows of the first page: the page size the cap and the window count with.
    first_rows: u64,
    /// How the listing ended, once it has.
    end: Option<End>,
}

impl<'r, T> Pages<'r, T> {
    fn new(rules: &'r Rules<'r>) -> Self {
        Pages {
            rules,
            items: Vec::new(),
            seen: HashSet::new(),
            cursor: Cursor { index: 0, rows: 0 },
            total: None,
            request_id: None,
            dropped: 0,
            first_rows: 0,
            end: None,
        }
    }

    /// The page cap: what the total needs at the first page's size, plus slack for short and
    /// shifted pages, within `max_pages` and [`MAX_PAGES`].
    fn cap(&self) -> u64 {
        let cap = self.rules.max_pages.min(MAX_PAGES);
        match self.total {
            Some(t) => (t / self.first_rows.max(1)).saturating_add(3).min(cap),
            None => cap,
        }
    }

    /// Pages the total still needs at the first page's size (at least one).
    fn needed(&self) -> u64 {
        match self.total {
            Some(t) => t
                .saturating_sub(self.items.len() as u64)
                .div_ceil(self.first_rows.max(1))
                .max(1),
            None => 1,
        }
    }

    fn error(&self, kind: ErrorKind, message: String) -> ApiError {
        ApiError {
            request_id: self.request_id.clone(),
            ..ApiError::new(kind, self.rules.operation, message)
        }
    }

    /// Takes the next page in order; `Ok(true)` when the listing has ended.
    fn take(&mut self, page: Page<T>, key: &impl Fn(&T) -> &str) -> Result<bool, ApiError> {
        self.request_id = page.request_id.or(self.request_id.take());
        let n = page.rows.len();
        if let Some(limit) = self.rules.limit.filter(|&l| n as u64 > u64::from(l)) {
            return Err(self.error(
                ErrorKind::DecodeError,
                format!("a page holds {n} rows; at most {limit} were asked for"),
            ));
        }
        if page.total.is_some() {
            self.total = page.total;
        }
        if self.cursor.index == 0 {
            self.first_rows = n as u64;
        }
        self.cursor.index += 1;
        let before = self.items.len();
        for r in page.rows {
            if self.seen.insert(key(&r).to_string()) {
                self.items.push(r);
            } else {
                self.dropped += 1;
            }
        }
        self.cursor.rows = self.items.len() as u64;
        if self.items.len() > MAX_ROWS {
            return Err(self.error(
                ErrorKind::LimitExceeded,
                format!("the listing passed {MAX_ROWS} rows; refused"),
            ));
        }
        let short =
            self.total.is_none() && self.rules.limit.is_some_and(|l| (n as u64) < u64::from(l));
        if n == 0 || short {
            self.end = Some(End::Last);
        } else if self.items.len() == before
            || self.total.is_some_and(|t| self.items.len() as u64 >= t)
        {
            self.end = Some(End::Other);
        }
        if self.end.is_some() {
            return Ok(true);
        }
        if self.cursor.index >= self.cap() {
            return Err(self.error(
                ErrorKind::DecodeError,
                format!(
                    "the listing did not end within {} pages ({} rows); not an answer to believe",
                    self.cursor.index,
                    self.items.len()
                ),
            ));
        }
        Ok(false)
    }

    fn finish(self) -> Listing<T> {
        if self.dropped > 0 {
            tracing::warn!(
                cloud = self.rules.cloud,
                service = self.rules.service,
                dropped = self.dropped,
                request_id = self.request_id.as_deref().unwrap_or("-"),
                "the listing repeated rows across pages; kept the first of each"
            );
        }
        let complete = match self.total {
            Some(t) => self.items.len() as u64 >= t,
            None => self.end == Some(End::Last),
        };
        Listing {
            items: self.items,
            complete,
            pages: self.cursor.index,
            total: self.total,
            dropped: self.dropped,
            request_id: self.request_id,
        }
    }
}

/// Reads every page through `fetch(cursor)` as the module doc says, rows deduplicated by
/// `key`. A failed page fails the listing.
pub async fn page_all<T, F, Fut>(
    rules: Rules<'_>,
    key: impl Fn(&T) -> &str,
    mut fetch: F,
) -> Result<Listing<T>, ApiError>
where
    F: FnMut(Cursor) -> Fut,
    Fut: Future<Output = Result<Page<T>, ApiError>>,
{
    let mut pages = Pages::new(&rules);
    let first = fetch(pages.cursor).await?;
    if !pages.take(first, &key)? {
        'pages: loop {
            let n = rules
                .window
                .min(pages.needed())
                .min(pages.cap().saturating_sub(pages.cursor.index))
                .max(1);
            let base = pages.cursor;
            let asked: Vec<Fut> = (0..n)
                .map(|i| {
                    fetch(Cursor {
                        index: base.index + i,
                        rows: base.rows,
                    })
                })
                .collect();
            for page in futures::future::join_all(asked).await {
                if pages.take(page?, &key)? {
                    break 'pages;
                }
            }
        }
    }
    Ok(pages.finish())
}

#[cfg(test)]
mod tests;
