//! Paging a list API by offset and limit, one rule for every service's listing (DCS
//! instances, DDM instances): page by the distinct rows received, never by the total alone.
//!
//! Each page asks for `limit` rows at the offset of the distinct rows received so far (so a
//! row repeated across pages, as an insertion between calls shifts them, is neither counted
//! twice nor makes the next page skip a row). The listing ends at an empty page, at a page that
//! brings no new row, once the distinct rows reach the first page's total, or at a short page
//! when the answer gives no total. A short page while the total says more remain is paged past:
//! the next page says whether it was the end, so a lying total costs one call. A listing not
//! done within `max_pages` fails; a page longer than asked for fails.

use std::collections::HashSet;
use std::future::Future;

use crate::transport::{ApiError, ErrorKind};

/// One page as a listing sees it.
pub struct Page<T> {
    /// The rows.
    pub rows: Vec<T>,
    /// The total the answer reports, if it reports one.
    pub total: Option<u64>,
    /// The answer's request id.
    pub request_id: Option<String>,
}

/// A whole listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T> {
    /// Distinct rows in listed order (the first of each key wins).
    pub rows: Vec<T>,
    /// The first page's total.
    pub total: Option<u64>,
    /// Rows dropped as repeats of an earlier key.
    pub dropped: usize,
    /// Pages asked for.
    pub pages: u32,
    /// Whether the listing ended short of the total (an empty page, or a page of repeats,
    /// while the total said more remain): either the total lies or rows were not served.
    pub short_of_total: bool,
    /// The last answer's request id.
    pub request_id: Option<String>,
}

/// Reads every page through `fetch(offset)` (see the module doc).
pub async fn list_all<T, F, Fut, K>(
    operation: &'static str,
    limit: u32,
    max_pages: u32,
    mut fetch: F,
    key: K,
) -> Result<Listing<T>, ApiError>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<Page<T>, ApiError>>,
    K: Fn(&T) -> &str,
{
    let limit_rows = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut seen: HashSet<String> = HashSet::new();
    let mut rows: Vec<T> = Vec::new();
    let mut total = None;
    let mut dropped = 0usize;
    let mut request_id = None;
    for pages in 1..=max_pages {
        let offset = rows.len() as u64;
        let page = fetch(offset).await?;
        request_id = page.request_id;
        let n = page.rows.len();
        if n > limit_rows {
            return Err(ApiError {
                request_id,
                ..ApiError::new(
                    ErrorKind::DecodeError,
                    operation,
                    format!("a page holds {n} rows; at most {limit} were asked for"),
                )
            });
        }
        if pages == 1 {
            total = page.total;
        }
        let before = rows.len();
        for row in page.rows {
            if seen.insert(key(&row).to_string()) {
                rows.push(row);
            } else {
                dropped += 1;
            }
        }
        let new = rows.len() - before;
        let reached = total.is_some_and(|t| rows.len() as u64 >= t);
        let ended = n == 0 || new == 0 || reached || (total.is_none() && n < limit_rows);
        if ended {
            let short_of_total = total.is_some_and(|t| (rows.len() as u64) < t);
            return Ok(Listing {
                rows,
                total,
                dropped,
                pages,
                short_of_total,
                request_id,
            });
        }
    }
    Err(ApiError {
        request_id,
        ..ApiError::new(
            ErrorKind::DecodeError,
            operation,
            format!(
                "the listing did not end within {max_pages} pages ({} rows); not an answer to believe",
                rows.len()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake server over `all`, bent by `bend(offset, rows, total)`.
    async fn run(
        all: &[u32],
        limit: u32,
        bend: impl Fn(u64, &mut Vec<u32>, &mut u64),
    ) -> Result<(Listing<String>, Vec<u64>), ApiError> {
        let mut asked = Vec::new();
        let listing = list_all(
            "test_list",
            limit,
            20,
            |offset| {
                asked.push(offset);
                let start = (offset as usize).min(all.len());
                let end = (start + limit as usize).min(all.len());
                let mut rows = all[start..end].to_vec();
                let mut total = all.len() as u64;
                bend(offset, &mut rows, &mut total);
                let rows = rows.into_iter().map(|r| r.to_string()).collect();
                async move {
                    Ok(Page {
                        rows,
                        total: Some(total),
                        request_id: Some("r".into()),
                    })
                }
            },
            |r: &String| r.as_str(),
        )
        .await?;
        Ok((listing, asked))
    }

    fn ids(l: &Listing<String>) -> Vec<u32> {
        l.rows.iter().map(|r| r.parse().unwrap()).collect()
    }

    #[tokio::test]
    async fn pages_by_rows_and_stops_at_the_total() {
        let all: Vec<u32> = (0..25).collect();
        let (l, asked) = run(&all, 10, |_, _, _| {}).await.unwrap();
        assert_eq!(ids(&l), all);
        assert_eq!(asked, vec![0, 10, 20]);
        assert!(!l.short_of_total);
        let (l, asked) = run(&all[..20], 10, |_, _, _| {}).await.unwrap();
        assert_eq!((l.rows.len(), asked.len()), (20, 2));
    }

    #[tokio::test]
    async fn short_pages_are_paged_past_and_repeats_never_skip_a_row() {
        let all: Vec<u32> = (0..25).collect();
        let (l, _) = run(&all, 10, |_, rows, _| rows.truncate(rows.len().div_ceil(2)))
            .await
            .unwrap();
        assert_eq!(ids(&l), all);
        let (l, _) = run(&all, 10, |offset, rows, _| {
            if offset > 0 {
                let s = offset as usize - 2;
                *rows = (s as u32..(s as u32 + 10).min(25)).collect();
            }
        })
        .await
        .unwrap();
        assert_eq!(ids(&l), all);
        assert!(l.dropped > 0);
    }

    #[tokio::test]
    async fn a_lying_total_or_an_empty_page_ends_the_listing_short() {
        let all: Vec<u32> = (0..25).collect();
        let (l, asked) = run(&all, 10, |_, _, t| *t += 100_000).await.unwrap();
        assert_eq!(ids(&l), all);
        assert_eq!(asked, vec![0, 10, 20, 25]);
        assert!(l.short_of_total);
        let (l, _) = run(&all, 10, |o, rows, _| {
            if o > 0 {
                rows.clear()
            }
        })
        .await
        .unwrap();
        assert_eq!(l.rows.len(), 10);
        assert!(l.short_of_total);
    }

    #[tokio::test]
    async fn endless_or_oversized_pages_fail() {
        let all: Vec<u32> = (0..10_000).collect();
        let e = run(&all, 10, |_, _, _| {}).await.unwrap_err();
        assert!(e.message.contains("did not end within 20 pages"), "{e}");
        let e = run(&all, 10, |_, rows, _| rows.push(1)).await.unwrap_err();
        assert!(e.message.contains("holds 11 rows"), "{e}");
    }
}
