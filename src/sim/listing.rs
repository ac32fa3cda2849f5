//! The listing faults, for every simulated list API: which rows of the fleet's list one page
//! shows and what total it announces, given the page's offset and size and the fault in force.

use super::faults::FaultKind;

/// What one page of a list of `n` rows shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageView {
    /// Rows `start..end` of the list.
    pub start: usize,
    /// End of the rows shown (exclusive).
    pub end: usize,
    /// The total the page announces.
    pub total: u64,
}

/// The page at `offset` of `limit` rows of a list of `n`, under `fault`: `empty_page`,
/// `short_page`, `list_total_lies`, `rows_repeated`, `empty_listing` and `short_listing` (see
/// [`FaultKind`]); other faults show the true page.
pub(crate) fn page_view(
    n: usize,
    offset: usize,
    limit: usize,
    fault: Option<FaultKind>,
) -> PageView {
    let mut start = offset.min(n);
    let mut end = offset.saturating_add(limit).min(n);
    let mut total = n as u64;
    let more_remain = offset.saturating_add(limit) < n;
    match fault {
        Some(FaultKind::EmptyPage) if offset > 0 && offset < n => end = start,
        Some(FaultKind::EmptyListing) => end = start,
        Some(FaultKind::ShortListing) => {
            let shown = n / 4;
            start = offset.min(shown);
            end = offset.saturating_add(limit).min(shown);
            total = shown as u64;
        }
        Some(FaultKind::ShortPage) if more_remain => end = start + (limit / 2).max(1),
        Some(FaultKind::ListTotalLies) => {
            total = (n as u64).saturating_mul(10).saturating_add(1_000)
        }
        Some(FaultKind::RowsRepeated) if offset > 0 => {
            start = offset.saturating_sub(1).min(n);
            end = offset.saturating_sub(1).saturating_add(limit).min(n);
        }
        _ => {}
    }
    PageView { start, end, total }
}

/// Whether a page under `fault` announces its total (`empty_listing` answers none).
pub(crate) fn announces_total(fault: Option<FaultKind>) -> bool {
    fault != Some(FaultKind::EmptyListing)
}

/// `body` without the total fields `fields` of its object at `at` (a JSON pointer, `""` for
/// the top) when the page under `fault` announces no total.
pub(crate) fn totals_as_faulted(
    mut body: serde_json::Value,
    at: &str,
    fields: &[&str],
    fault: Option<FaultKind>,
) -> serde_json::Value {
    if !announces_total(fault) {
        if let Some(obj) = body.pointer_mut(at).and_then(|v| v.as_object_mut()) {
            for f in fields {
                obj.remove(*f);
            }
        }
    }
    body
}

/// The rows of one page of `all` and the total to report, as a listing fault bends them
/// (see [`page_view`]). Shared by the offset-paged listings.
pub(crate) fn list_page<T: Clone>(
    all: &[T],
    offset: u64,
    limit: u64,
    fault: Option<FaultKind>,
) -> (Vec<T>, u64) {
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let v = page_view(all.len(), offset, limit, fault);
    let rows = all
        .get(v.start..v.end)
        .map(<[T]>::to_vec)
        .unwrap_or_default();
    (rows, v.total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_shape_pages() {
        let v = |o, f| page_view(250, o, 100, f);
        assert_eq!(
            v(100, None),
            PageView {
                start: 100,
                end: 200,
                total: 250
            }
        );
        assert_eq!(v(100, Some(FaultKind::EmptyPage)).end, 100);
        assert_eq!(
            v(0, Some(FaultKind::EmptyPage)).end,
            100,
            "the first page is whole"
        );
        assert_eq!(v(0, Some(FaultKind::ShortPage)).end, 50);
        assert_eq!(
            v(200, Some(FaultKind::ShortPage)).end,
            250,
            "the last page is not short"
        );
        assert_eq!(v(0, Some(FaultKind::ListTotalLies)).total, 3_500);
        assert_eq!(
            v(0, Some(FaultKind::EmptyListing)).end,
            0,
            "the first page too"
        );
        assert_eq!(
            v(0, Some(FaultKind::ShortListing)),
            PageView {
                start: 0,
                end: 62,
                total: 62
            }
        );
        assert_eq!(v(100, Some(FaultKind::ShortListing)).end, 62, "ends there");
        let body = serde_json::json!({"data": {"result": [], "total_count": 3}});
        let faulted = totals_as_faulted(
            body.clone(),
            "/data",
            &["total_count"],
            Some(FaultKind::EmptyListing),
        );
        assert_eq!(faulted, serde_json::json!({"data": {"result": []}}));
        assert_eq!(
            totals_as_faulted(body.clone(), "/data", &["total_count"], None),
            body
        );
        assert_eq!(
            v(100, Some(FaultKind::RowsRepeated)),
            PageView {
                start: 99,
                end: 199,
                total: 250
            }
        );
        assert_eq!(
            v(300, None),
            PageView {
                start: 250,
                end: 250,
                total: 250
            }
        );
    }
}
