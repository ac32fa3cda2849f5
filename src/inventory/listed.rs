//! The one rule for what a listing does to what the last listings showed, written once for
//! every listing: an [`crate::inventory::Inventory`]'s background refreshes and the listings a
//! service reads in every scrape ([`Listed`]).
//!
//! **Incomplete listings.** A listing is incomplete when its pages ended (an empty page, a page
//! of repeats, a short page) before the distinct rows reached the total the API announced (a
//! total that lies, rows that vanished between pages). For every service alike:
//! - *success*: the listing's collector reports `huaweicloud_scrape_collector_success` 0, with an
//!   error of kind `limit_exceeded` that names the shortfall (rows, pages, the announced total)
//!   on the landing page;
//! - *served*: the last complete listing if there is one (an incomplete listing never replaces
//!   a complete one); otherwise the incomplete listing itself, as some resources are better than
//!   none, and an incomplete listing replaces an earlier incomplete one;
//! - *logged*: one `warn` line per listing, with the cloud, the collector, the listing's request
//!   id and the same message.
//!
//! On top of that, a listing (complete or not) that would remove more than half of what is
//! served is held once ([`crate::inventory::shrink`]).

use std::sync::Arc;

use crate::inventory::pager::Listing;
use crate::inventory::shrink::{held_message, removed, Resource, Shrinks, Verdict};
use crate::transport::{ApiError, ErrorKind};

/// What one listing does, judged against what is served.
#[derive(Debug)]
pub(crate) struct Decision {
    /// Whether the listing replaces what is served.
    pub replace: bool,
    /// The shrink rule's verdict ([`Verdict::Apply`] for a listing that replaces nothing).
    pub verdict: Verdict,
    /// Why the listing is no success: held, or incomplete (with the listing's request id).
    pub error: Option<ApiError>,
}

/// Judges `listing` against `served` (its rows and whether they came from a complete
/// listing), updating the shrink rule's memory. `operation` names the listing in errors,
/// `what` (its service's word for a resource, e.g. `cache instance`) in the held message.
pub(crate) fn decide<T: Resource>(
    served: Option<(&[T], bool)>,
    shrinks: &mut Shrinks,
    listing: &Listing<T>,
    operation: &'static str,
    what: &str,
) -> Decision {
    let complete = listing.complete;
    // An incomplete listing replaces only an incomplete one (or nothing).
    let replace = complete || served.is_none_or(|(_, complete)| !complete);
    let rows = listing.items.len();
    let kept = served.map_or(0, |(items, _)| items.len());
    let gone = served.map_or(0, |(items, _)| removed(items, &listing.items));
    let verdict = if replace {
        shrinks.judge(kept, gone, rows)
    } else {
        Verdict::Apply
    };
    let error = |message: String| ApiError {
        request_id: listing.request_id.clone(),
        ..ApiError::new(ErrorKind::LimitExceeded, operation, message)
    };
    let error = if verdict == Verdict::Held {
        Some(error(held_message(what, kept, rows, gone)))
    } else if !complete {
        Some(error(format!(
            "partial listing: {rows} rows in {} pages, but the API announced {}; {}",
            listing.pages,
            listing
                .total
                .map_or_else(|| "more".to_string(), |t| t.to_string()),
            if replace {
                "serving it, as there is no complete listing"
            } else {
                "keeping the last complete listing"
            }
        )))
    } else {
        None
    };
    Decision {
        replace: replace && verdict != Verdict::Held,
        verdict,
        error,
    }
}

/// What the last listings of a per-scrape listing showed: the resources served and the shrink
/// rule's memory, kept across scrapes (and a reload that keeps the client).
#[derive(Debug)]
pub struct Listed<T> {
    /// The resources served, from the last listing applied.
    items: Arc<Vec<T>>,
    /// Whether they came from a complete listing; `None` before the first listing.
    complete: Option<bool>,
    /// A shrink held, and how many were.
    shrinks: Shrinks,
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed {
            items: Arc::default(),
            complete: None,
            shrinks: Shrinks::default(),
        }
    }
}

impl<T: Resource> Listed<T> {
    /// Applies one listing by the rule of this module: the resources to serve now, and why the
    /// listing is no success, if it is not one (the caller marks its families incomplete).
    pub fn apply(
        &mut self,
        listing: Listing<T>,
        operation: &'static str,
        what: &str,
    ) -> (Arc<Vec<T>>, Option<ApiError>) {
        let served = self.complete.map(|c| (self.items.as_slice(), c));
        let d = decide(served, &mut self.shrinks, &listing, operation, what);
        if d.replace {
            self.complete = Some(listing.complete);
            self.items = Arc::new(listing.items);
        }
        (self.items.clone(), d.error)
    }

    /// Listings held so far.
    pub fn refused(&self) -> u64 {
        self.shrinks.refused()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(ids: &[&str], complete: bool) -> Listing<String> {
        Listing {
            items: ids.iter().map(|s| s.to_string()).collect(),
            complete,
            pages: 2,
            total: Some(99),
            dropped: 0,
            request_id: Some("rid".into()),
        }
    }

    #[test]
    fn an_incomplete_listing_is_served_only_when_nothing_complete_is() {
        let mut l = Listed::default();
        let (items, e) = l.apply(listing(&["a", "b"], false), "op", "x");
        assert_eq!(items.len(), 2, "first: served");
        let e = e.unwrap();
        assert_eq!(e.kind, ErrorKind::LimitExceeded);
        assert_eq!(e.request_id.as_deref(), Some("rid"));
        assert!(e.message.contains("announced 99; serving it"), "{e}");
        let (items, e) = l.apply(listing(&["a", "b", "c"], false), "op", "x");
        assert_eq!((items.len(), e.is_some()), (3, true), "replaces a partial");
        let (items, e) = l.apply(listing(&["a", "b", "c", "d"], true), "op", "x");
        assert_eq!((items.len(), e.is_none()), (4, true));
        let (items, e) = l.apply(listing(&["a"], false), "op", "x");
        assert_eq!(items.len(), 4, "never replaces a complete one");
        assert!(e.unwrap().message.contains("keeping the last complete"));
        assert_eq!(l.refused(), 0, "a partial kept aside is no shrink");
    }

    #[test]
    fn a_shrink_is_held_once() {
        let mut l = Listed::default();
        l.apply(listing(&["a", "b", "c", "d"], true), "op", "x");
        let (items, e) = l.apply(listing(&["a"], true), "op", "x");
        assert_eq!(items.len(), 4);
        assert!(e.unwrap().message.contains("more than half"));
        let (items, e) = l.apply(listing(&["a"], true), "op", "x");
        assert_eq!((items.len(), e.is_none()), (1, true), "the next agreed");
        assert_eq!(l.refused(), 1);
    }
}
