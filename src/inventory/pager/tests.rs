use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt};

use super::*;

/// Rules of the page-number tests: no limit, one page at a time unless `window` says.
fn by_number(window: u64) -> Rules<'static> {
    Rules {
        operation: "test_list",
        cloud: "c",
        service: "s",
        limit: None,
        max_pages: MAX_PAGES,
        window,
    }
}

fn key(s: &String) -> &str {
    s
}

/// A server by page number: page `c.index` of `rows`, every page announcing `total`; each call
/// counted in `calls`.
fn pages(
    rows: Vec<Vec<&'static str>>,
    total: Option<u64>,
    calls: &Arc<AtomicU64>,
) -> impl FnMut(Cursor) -> BoxFuture<'static, Result<Page<String>, ApiError>> {
    let calls = calls.clone();
    move |c: Cursor| {
        calls.fetch_add(1, Ordering::SeqCst);
        let r: Vec<String> = rows
            .get(c.index as usize)
            .map(|p| p.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default();
        async move {
            Ok(Page {
                rows: r,
                total,
                request_id: Some("r".into()),
            })
        }
        .boxed()
    }
}

async fn list(
    window: u64,
    rows: Vec<Vec<&'static str>>,
    total: Option<u64>,
) -> (Result<Listing<String>, ApiError>, u64) {
    let calls = Arc::new(AtomicU64::new(0));
    let l = page_all(by_number(window), key, pages(rows, total, &calls)).await;
    (l, calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn reads_until_the_total_and_dedups() {
    for window in [1, 8] {
        let (l, _) = list(
            window,
            vec![vec!["a", "b"], vec!["b", "c"], vec!["d"]],
            Some(4),
        )
        .await;
        let l = l.unwrap();
        assert_eq!(l.items, vec!["a", "b", "c", "d"]);
        assert_eq!((l.complete, l.pages, l.dropped), (true, 3, 1));
    }
}

#[tokio::test]
async fn an_empty_page_ends_the_listing_partial() {
    for window in [1, 8] {
        let (l, _) = list(window, vec![vec!["a", "b"], vec![], vec!["c"]], Some(3)).await;
        let l = l.unwrap();
        assert_eq!((l.items, l.complete), (vec!["a".into(), "b".into()], false));
    }
    // A lying total ends at the first empty page too: the first page and one window.
    let (l, calls) = list(8, vec![vec!["a", "b"], vec!["c"]], Some(1_000_000)).await;
    let l = l.unwrap();
    assert_eq!((l.items.len(), l.pages, l.complete), (3, 3, false));
    assert_eq!(calls, 9, "the first page and one window");
}

#[tokio::test]
async fn short_pages_are_read_past_while_the_total_says_more_remain() {
    let (l, _) = list(1, vec![vec!["a", "b"], vec!["c"], vec!["d", "e"]], Some(5)).await;
    let l = l.unwrap();
    assert_eq!((l.items.len(), l.complete), (5, true));
    let (l, _) = list(
        8,
        vec![vec!["a", "b"], vec!["b", "c"], vec!["d", "e"], vec!["f"]],
        Some(6),
    )
    .await;
    assert_eq!(l.unwrap().items.len(), 6);
}

#[tokio::test]
async fn a_page_of_rows_already_seen_ends_the_listing() {
    let (l, calls) = list(1, vec![vec!["a", "b"], vec!["a", "b"], vec!["c"]], Some(3)).await;
    let l = l.unwrap();
    assert_eq!((l.items.len(), l.complete, calls), (2, false, 2));
    // With no total: ended by repeats, not by the API's end, so not complete either.
    let (l, _) = list(1, vec![vec!["a", "b"], vec!["b"]], None).await;
    assert!(!l.unwrap().complete);
    let (l, _) = list(1, vec![vec!["a", "b"], vec![]], None).await;
    assert!(
        l.unwrap().complete,
        "no total, and the empty page is the end"
    );
}

#[tokio::test]
async fn a_listing_past_its_page_cap_fails() {
    let one_a_page = |n: usize| -> Vec<Vec<&'static str>> {
        ["a", "b", "c", "d", "e", "f", "g", "h", "i"][..n]
            .iter()
            .map(|r| vec![*r])
            .collect()
    };
    let (l, calls) = list(1, one_a_page(9), Some(100)).await;
    assert!(
        l.is_ok(),
        "a total of 100 at one row a page allows the nine pages"
    );
    assert_eq!(calls, 10, "and the empty page after them");
    let mut rules = by_number(1);
    rules.max_pages = 4;
    let calls = Arc::new(AtomicU64::new(0));
    let e = page_all(rules, key, pages(one_a_page(9), None, &calls))
        .await
        .unwrap_err();
    assert!(e.message.contains("did not end within 4 pages"), "{e}");
    assert_eq!(e.operation, "test_list");
    assert_eq!(e.request_id.as_deref(), Some("r"));
    // A first page of 4 rows and a total of 9: 9 / 4 + 3 = 5 pages, then it fails.
    let mut rows = vec![vec!["w", "x", "y", "z"]];
    rows.extend(one_a_page(3));
    rows.push(vec!["j"]);
    rows.push(vec!["k"]);
    let (e, calls) = list(1, rows.clone(), Some(100)).await;
    assert!(e.is_ok(), "{rows:?}");
    assert_eq!(calls, 7);
    let (e, calls) = list(1, rows, Some(9)).await;
    assert!(e.unwrap_err().message.contains("within 5 pages"));
    assert_eq!(calls, 5);
}

#[tokio::test]
async fn merging_another_reading_adds_what_it_lacks() {
    let (l, _) = list(1, vec![vec!["a", "b"], vec![]], Some(4)).await;
    let mut l = l.unwrap();
    let (more, _) = list(1, vec![vec!["b", "c", "d"], vec![]], Some(4)).await;
    l.merge(more.unwrap(), key);
    assert_eq!(l.items, vec!["a", "b", "c", "d"]);
    assert_eq!((l.complete, l.pages), (true, 4));
    let mut one: Listing<String> = Page {
        rows: vec!["x".to_string()],
        total: None,
        request_id: None,
    }
    .into();
    assert!(!one.complete);
    one.merge(l, key);
    assert_eq!(
        (one.items.len(), one.complete),
        (5, true),
        "the later total"
    );
}

/// A server by offset over `all`, bent by `bend(offset, rows, total)`; the offsets asked.
async fn by_offset(
    all: &[u32],
    limit: u32,
    bend: impl Fn(u64, &mut Vec<u32>, &mut u64),
) -> Result<(Listing<String>, Vec<u64>), ApiError> {
    let mut asked = Vec::new();
    let rules = Rules {
        limit: Some(limit),
        max_pages: 20,
        ..by_number(1)
    };
    let listing = page_all(rules, key, |c: Cursor| {
        let offset = c.rows;
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
    })
    .await?;
    Ok((listing, asked))
}

fn ids(l: &Listing<String>) -> Vec<u32> {
    l.items.iter().filter_map(|r| r.parse().ok()).collect()
}

#[tokio::test]
async fn pages_by_rows_and_stops_at_the_total() {
    let all: Vec<u32> = (0..25).collect();
    let (l, asked) = by_offset(&all, 10, |_, _, _| {}).await.unwrap();
    assert_eq!(ids(&l), all);
    assert_eq!(asked, vec![0, 10, 20]);
    assert!(l.complete);
    let (l, asked) = by_offset(&all[..20], 10, |_, _, _| {}).await.unwrap();
    assert_eq!((l.items.len(), asked.len()), (20, 2));
}

#[tokio::test]
async fn short_pages_are_paged_past_and_repeats_never_skip_a_row() {
    let all: Vec<u32> = (0..25).collect();
    let (l, _) = by_offset(&all, 10, |_, rows, _| rows.truncate(rows.len().div_ceil(2)))
        .await
        .unwrap();
    assert_eq!(ids(&l), all);
    let (l, asked) = by_offset(&all, 10, |offset, rows, _| {
        if offset > 0 {
            let s = offset as usize - 2;
            *rows = (s as u32..(s as u32 + 10).min(25)).collect();
        }
    })
    .await
    .unwrap();
    assert_eq!(ids(&l), all);
    assert!(l.dropped > 0);
    assert_eq!(asked, vec![0, 10, 18], "offsets count distinct rows");
}

#[tokio::test]
async fn a_lying_total_or_an_empty_page_ends_the_listing_short() {
    let all: Vec<u32> = (0..25).collect();
    let (l, asked) = by_offset(&all, 10, |_, _, t| *t += 100_000).await.unwrap();
    assert_eq!(ids(&l), all);
    assert_eq!(asked, vec![0, 10, 20, 25]);
    assert!(!l.complete);
    let (l, _) = by_offset(&all, 10, |o, rows, _| {
        if o > 0 {
            rows.clear()
        }
    })
    .await
    .unwrap();
    assert_eq!((l.items.len(), l.complete), (10, false));
}

#[tokio::test]
async fn without_a_total_a_short_page_is_the_end() {
    let all: Vec<u32> = (0..25).collect();
    let rules = Rules {
        limit: Some(10),
        ..by_number(1)
    };
    let l = page_all(rules, key, |c: Cursor| {
        let start = (c.rows as usize).min(all.len());
        let rows = all[start..(start + 10).min(all.len())]
            .iter()
            .map(|r| r.to_string())
            .collect();
        async move {
            Ok(Page {
                rows,
                total: None,
                request_id: None,
            })
        }
    })
    .await
    .unwrap();
    assert_eq!((l.items.len(), l.pages, l.complete), (25, 3, true));
}

#[tokio::test]
async fn endless_or_oversized_pages_fail() {
    let all: Vec<u32> = (0..10_000).collect();
    let e = by_offset(&all, 10, |_, _, _| {}).await.unwrap_err();
    assert!(e.message.contains("did not end within 20 pages"), "{e}");
    let e = by_offset(&all, 10, |_, rows, _| rows.push(1))
        .await
        .unwrap_err();
    assert!(e.message.contains("holds 11 rows"), "{e}");
    assert_eq!(e.request_id.as_deref(), Some("r"));
}
