//! One refresh of an inventory: the listing under its own deadline, and what its outcome does
//! to the snapshot (the rules in [`crate::inventory`]'s module doc).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::inventory::listed::decide;
use crate::inventory::shrink::{Resource, Verdict};
use crate::inventory::state::{Inner, Outcome, Snapshot};
use crate::sync::lock;
use crate::transport::{ApiError, ErrorKind};

/// The deadline one listing gets: its refresh interval, at least 30 s and at most 5 min.
pub fn listing_timeout(refresh_interval: Duration) -> Duration {
    refresh_interval.clamp(Duration::from_secs(30), Duration::from_secs(300))
}

/// Clears `running` however the refresh ends (a panic in a lister included).
struct Running<'a, T>(&'a Inner<T>);

impl<T> Drop for Running<'_, T> {
    fn drop(&mut self) {
        lock(&self.0.state).running = false;
    }
}

/// Lists once and records the outcome.
pub(crate) async fn refresh<T: Resource + Send + Sync + 'static>(inner: &Inner<T>) {
    let _running = Running(inner);
    let at = SystemTime::now();
    let started = Instant::now();
    let deadline = started + listing_timeout(inner.refresh_interval);
    let operation = inner.names.operation;
    let result = match tokio::time::timeout_at(deadline, (inner.lister)(deadline)).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::new(
            ErrorKind::Timeout,
            operation,
            "the listing did not finish within its deadline",
        )),
    };
    let took = started.elapsed();
    let mut st = lock(&inner.state);
    st.next_due = Some(Instant::now() + inner.refresh_interval);
    let had_none = st.snapshot.is_none();
    let cloud = inner.cloud.as_str();
    let service = inner.names.service;
    let error = match result {
        Ok(listing) => {
            let complete = listing.complete;
            let rows = listing.items.len();
            let request_id = listing.request_id.clone();
            let kept = st.snapshot.as_ref().map_or(0, |s| s.items.len());
            let served = st.snapshot.clone();
            let d = decide(
                served.as_deref().map(|s| (s.items.as_slice(), s.complete)),
                &mut st.shrinks,
                &listing,
                operation,
                service,
            );
            if d.replace {
                if d.verdict == Verdict::Agreed {
                    tracing::info!(
                        cloud,
                        service,
                        kept,
                        resources = rows,
                        request_id = request_id.as_deref().unwrap_or("-"),
                        "discovery: a second listing agreed with the held one; applying it"
                    );
                } else if complete {
                    tracing::debug!(
                        cloud,
                        service,
                        resources = rows,
                        pages = listing.pages,
                        took_ms = took.as_millis() as u64,
                        "discovery refreshed"
                    );
                }
                st.snapshot = Some(Arc::new(Snapshot {
                    items: listing.items,
                    at: SystemTime::now(),
                    complete,
                }));
                if complete {
                    st.last_success = Some(SystemTime::now());
                }
            }
            d.error
        }
        Err(e) => Some(e),
    };
    if let Some(e) = &error {
        tracing::warn!(
            cloud,
            collector = inner.names.collector,
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
