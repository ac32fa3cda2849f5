use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use futures::FutureExt;

use super::*;

/// The names of these tests' inventories.
const NAMES: Names = Names {
    service: "svc",
    collector: "svc_discovery",
    operation: "discovery",
};

type Script = Vec<Result<Listing<String>, ApiError>>;

/// The refresh interval of these tests (real time; no assertion on durations).
const TICK: Duration = Duration::from_millis(150);

/// Lets a background refresh that was started finish (the scripted listers answer at once).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// An inventory (refreshed every [`TICK`]) whose lister answers `script` in order, and the
/// lister's call count.
fn scripted(script: Script) -> (Inventory<String>, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let script = Mutex::new(script);
    let lister: Lister<String> = Arc::new(move |_deadline| {
        counted.fetch_add(1, Ordering::SeqCst);
        let next = lock(&script).remove(0);
        async move { next }.boxed()
    });
    (Inventory::unchecked("c", NAMES, TICK, lister), calls)
}

fn listing(items: &[&str], complete: bool) -> Result<Listing<String>, ApiError> {
    Ok(Listing {
        items: items.iter().map(|s| s.to_string()).collect(),
        complete,
        pages: 1,
        total: None,
        dropped: 0,
        request_id: Some("rid".into()),
    })
}

#[tokio::test]
async fn refreshes_in_the_background_and_keeps_the_last_good() {
    let (inv, calls) = scripted(vec![
        listing(&["a", "b"], true),
        Err(ApiError::new(ErrorKind::ServerError, "x", "boom")),
        listing(&["a"], false),
        listing(&["b", "c"], true),
    ]);
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
    assert_eq!(inv.current(dl()).await.unwrap().items, vec!["b", "c"]);
    assert!(inv.stats().last.unwrap().error.is_none());
}

#[tokio::test]
async fn a_first_partial_listing_is_served_and_replaced_by_the_next() {
    let (inv, _) = scripted(vec![listing(&["a"], false), listing(&["a", "b"], false)]);
    let dl = || Instant::now() + Duration::from_secs(5);
    assert_eq!(inv.current(dl()).await.unwrap().items, vec!["a"]);
    assert!(inv.stats().last_success.is_none());
    tokio::time::sleep(TICK * 2).await;
    let _ = inv.current(dl()).await;
    settle().await;
    assert_eq!(inv.current(dl()).await.unwrap().items, vec!["a", "b"]);
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
    let inv = Inventory::new("c", NAMES, Duration::from_secs(60), lister);
    let e = inv
        .current(Instant::now() + Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.operation), (ErrorKind::Timeout, "svc_discovery"));
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

#[tokio::test]
async fn the_names_the_service_gave_label_its_metrics_and_errors() {
    let (inv, _) = scripted(vec![listing(&["a", "b"], true)]);
    assert_eq!((inv.service(), inv.collector()), ("svc", "svc_discovery"));
    let mut f = Families::new();
    inv.families(&mut f, 0, &crate::status::Status::default());
    assert_eq!(
        f.len_of(RESOURCES.name),
        0,
        "nothing before the first refresh"
    );
    let dl = Instant::now() + Duration::from_secs(5);
    assert_eq!(inv.current(dl).await.unwrap().items.len(), 2);
    let mut f = Families::new();
    inv.families(&mut f, 7, &crate::status::Status::default());
    let svc = [("cloud", "c"), ("service", "svc")];
    assert_eq!(f.value(RESOURCES.name, &svc), Some(7.0));
    assert!(f.value(LAST_SUCCESS.name, &svc).is_some());
    let collector = [("cloud", "c"), ("collector", "svc_discovery")];
    assert_eq!(
        f.value("huaweicloud_scrape_collector_success", &collector),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_partial_listing_is_an_error_of_the_given_operation() {
    let (inv, _) = scripted(vec![listing(&["a"], false)]);
    let dl = Instant::now() + Duration::from_secs(5);
    assert_eq!(inv.current(dl).await.unwrap().items, vec!["a"]);
    let e = inv.stats().last.unwrap().error.unwrap();
    assert_eq!(
        (e.kind, e.operation),
        (ErrorKind::LimitExceeded, "discovery")
    );
    assert_eq!(e.request_id.as_deref(), Some("rid"));
}

#[tokio::test]
async fn a_listing_that_removes_more_than_half_waits_for_the_next_to_agree() {
    let (inv, _) = scripted(vec![
        listing(&["a", "b", "c"], true),
        listing(&[], true),
        listing(&["a", "b", "c", "d"], true),
        listing(&["x"], true),
        Err(ApiError::new(ErrorKind::ServerError, "x", "boom")),
        listing(&[], true),
    ]);
    let dl = || Instant::now() + Duration::from_secs(5);
    let refresh = || async {
        tokio::time::sleep(TICK * 2).await;
        let _ = inv.current(dl()).await;
        settle().await;
        inv.current(dl()).await.unwrap().items.clone()
    };
    assert_eq!(inv.current(dl()).await.unwrap().items.len(), 3);
    let first_success = inv.stats().last_success;
    // Empty: held, an error with the listing's request id naming both sizes.
    assert_eq!(refresh().await, vec!["a", "b", "c"]);
    let s = inv.stats();
    let e = s.last.unwrap().error.unwrap();
    assert_eq!(
        (e.kind, e.request_id.as_deref()),
        (ErrorKind::LimitExceeded, Some("rid"))
    );
    assert!(e.message.contains("remove 3 of the 3"), "{}", e.message);
    assert_eq!((s.last_success, s.refused_shrinks), (first_success, 1));
    // Not a shrink: applied, and the held one is forgotten.
    assert_eq!(refresh().await, vec!["a", "b", "c", "d"]);
    // Held again; a failed refresh decides nothing; the next shrink agrees and is applied.
    assert_eq!(refresh().await.len(), 4);
    assert_eq!(refresh().await.len(), 4);
    assert_eq!(refresh().await, Vec::<String>::new());
    let s = inv.stats();
    assert!(s.last.unwrap().error.is_none());
    assert_eq!(s.refused_shrinks, 2);
    let mut f = Families::new();
    inv.families(&mut f, 0, &crate::status::Status::default());
    assert_eq!(
        f.value(REFUSED_SHRINKS.name, &[("cloud", "c"), ("service", "svc")]),
        Some(2.0)
    );
}
