//! Isolation against a fake batch-status API whose bad ids fail any batch holding them: the
//! bounds, the memory across scrapes, re-checks, and the errors that are not split.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use tokio::time::Instant;

use super::fetch::{fetch, fetch_at};
use super::memory::{IsolatedPhone, Isolation, RECHECK_FIRST, RECHECK_MAX};
use super::source::{id_reason, StatusAnswer, StatusSource};
use super::split::{name_ids, MAX_EXTRA_CALLS_PER_BATCH, MIN_EXTRA_CALLS};
use crate::services::koophone::api::{StatusResult, StatusValue};
use crate::sync::lock;
use crate::transport::{ApiError, ErrorKind};

/// A batch-status API where some ids fail any batch holding them.
#[derive(Default)]
struct Fake {
    bad: Mutex<HashMap<String, &'static str>>,
    /// Every call fails with this, whatever it asks.
    refuse: Option<(ErrorKind, &'static str)>,
    calls: AtomicUsize,
}

impl Fake {
    fn with_bad(bad: &[(&str, &'static str)]) -> Fake {
        let f = Fake::default();
        for (id, r) in bad {
            lock(&f.bad).insert(id.to_string(), r);
        }
        f
    }
    fn calls(&self) -> usize {
        self.calls.swap(0, Ordering::SeqCst)
    }
}

impl StatusSource for Fake {
    fn status<'a>(&'a self, ids: &'a [String], _deadline: Instant) -> BoxFuture<'a, StatusAnswer> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let err = |kind, code: &str| {
            let mut e = ApiError::new(kind, "koophone_batch_status", "no");
            e.code = Some(code.into());
            e.request_id = Some("rid".into());
            e
        };
        let out = if let Some((kind, code)) = self.refuse {
            Err(err(kind, code))
        } else {
            let bad = lock(&self.bad);
            match ids.iter().find_map(|id| bad.get(id)) {
                Some(code) => Err(err(ErrorKind::ApiError, code)),
                None => Ok((
                    ids.iter()
                        .map(|id| StatusResult {
                            instance_id: id.clone(),
                            status: StatusValue::Code(0),
                        })
                        .collect(),
                    Some("rid".into()),
                )),
            }
        };
        futures::future::ready(out).boxed()
    }
    fn cloud(&self) -> &str {
        "c"
    }
}

fn fleet(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("p{i:04}")).collect()
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

const NO_PERMISSION: &str = "KOOPHONE.API.1001";
const BAD_PARAMETER: &str = "KOOPHONE.API.1000";

#[test]
fn only_id_codes_in_200_or_a_4xx_are_about_ids() {
    let e = |kind, code: &str| {
        let mut e = ApiError::new(kind, "op", "");
        e.code = Some(code.into());
        e
    };
    assert_eq!(
        id_reason(&e(ErrorKind::ApiError, NO_PERMISSION)),
        Some(NO_PERMISSION)
    );
    assert_eq!(
        id_reason(&e(ErrorKind::ClientError, BAD_PARAMETER)),
        Some(BAD_PARAMETER)
    );
    for kind in [
        ErrorKind::ServerError,
        ErrorKind::Throttled,
        ErrorKind::Unauthorized,
        ErrorKind::Timeout,
        ErrorKind::DecodeError,
    ] {
        assert_eq!(id_reason(&e(kind, BAD_PARAMETER)), None, "{kind:?}");
    }
    assert_eq!(
        id_reason(&e(ErrorKind::ApiError, "KOOPHONE.API.9999")),
        None
    );
    assert_eq!(
        id_reason(&ApiError::new(ErrorKind::ApiError, "op", "")),
        None
    );
}

#[tokio::test]
async fn one_bad_id_is_isolated_within_the_bound_and_remembered() {
    let ids = fleet(250);
    let api = Fake::with_bad(&[("p0137", NO_PERMISSION)]);
    let iso = Isolation::default();
    let got = fetch(&api, &ids, far(), &iso).await.unwrap();
    assert_eq!(got.results.len(), 249);
    assert!(got.results.iter().all(|r| r.instance_id != "p0137"));
    assert_eq!(got.isolated, BTreeMap::from([(NO_PERMISSION, 1)]));
    assert!(got.incomplete.is_some());
    let calls = api.calls();
    assert!((3 + 7..=3 + 15).contains(&calls), "{calls} calls");
    assert_eq!(iso.isolated(), vec![("p0137".to_string(), NO_PERMISSION)]);
    // Remembered: the next scrape makes only the three batch calls.
    let again = fetch(&api, &ids, far(), &iso).await.unwrap();
    assert_eq!(api.calls(), 3);
    assert_eq!(again.results.len(), 249);
    assert_eq!(again.isolated, BTreeMap::from([(NO_PERMISSION, 1)]));
}

#[tokio::test]
async fn bad_ids_in_several_batches_with_several_reasons() {
    let ids = fleet(400);
    let bad = [
        ("p0000", NO_PERMISSION),
        ("p0150", BAD_PARAMETER),
        ("p0199", BAD_PARAMETER),
        ("p0300", NO_PERMISSION),
        ("p0301", NO_PERMISSION),
    ];
    let api = Fake::with_bad(&bad);
    let iso = Isolation::default();
    let got = fetch(&api, &ids, far(), &iso).await.unwrap();
    assert!(got.results.len() >= 390, "{}", got.results.len());
    assert!(api.calls() <= 4 + 3 * MAX_EXTRA_CALLS_PER_BATCH);
    // Two bad ids far apart in one batch may take more than its share: the next scrape
    // finishes from what the first learnt.
    let got = fetch(&api, &ids, far(), &iso).await.unwrap();
    assert_eq!(got.results.len(), 395);
    assert_eq!(
        got.isolated,
        BTreeMap::from([(NO_PERMISSION, 3), (BAD_PARAMETER, 2)])
    );
    let mut want: Vec<(String, &str)> = bad.iter().map(|(i, r)| (i.to_string(), *r)).collect();
    want.sort();
    assert_eq!(iso.isolated(), want);
}

#[tokio::test]
async fn a_batch_of_bad_ids_uses_its_share_and_the_next_scrape_goes_on() {
    let ids = fleet(300);
    let bad: Vec<(String, &'static str)> = ids[100..200]
        .iter()
        .map(|i| (i.clone(), BAD_PARAMETER))
        .collect();
    let api = Fake::default();
    lock(&api.bad).extend(bad.iter().cloned());
    let iso = Isolation::default();
    let got = fetch(&api, &ids, far(), &iso).await.unwrap();
    assert_eq!(api.calls(), 3 + MAX_EXTRA_CALLS_PER_BATCH);
    assert_eq!(got.results.len(), 200);
    let first = iso.isolated().len();
    assert!(first > 0);
    assert!(got
        .incomplete
        .unwrap()
        .message
        .contains("not resolved in time"));
    let got = fetch(&api, &ids, far(), &iso).await.unwrap();
    assert_eq!(got.results.len(), 200);
    assert!(
        iso.isolated().len() > first,
        "the next scrape isolates more"
    );
}

#[tokio::test]
async fn more_bad_batches_than_the_scrape_can_split_finish_some_and_the_next_scrape_the_rest() {
    let ids = fleet(1000);
    let bad: Vec<(&str, &'static str)> = ids
        .iter()
        .skip(37)
        .step_by(100)
        .map(|id| (id.as_str(), NO_PERMISSION))
        .collect();
    let api = Fake::with_bad(&bad);
    let iso = Isolation::default();
    fetch(&api, &ids, far(), &iso).await.unwrap();
    assert!(api.calls() <= 10 + MIN_EXTRA_CALLS);
    let first = iso.isolated().len();
    assert!(
        first >= MIN_EXTRA_CALLS / MAX_EXTRA_CALLS_PER_BATCH,
        "{first}"
    );
    let got = fetch(&api, &ids, far(), &iso).await.unwrap();
    assert!(api.calls() <= 10 + MIN_EXTRA_CALLS);
    assert_eq!(iso.isolated().len(), 10);
    assert_eq!(got.results.len(), 990);
}

#[tokio::test]
async fn a_service_refusing_everything_fails_and_learns_nothing() {
    let ids = fleet(250);
    let api = Fake {
        refuse: Some((ErrorKind::ApiError, NO_PERMISSION)),
        ..Fake::default()
    };
    let iso = Isolation::default();
    let e = fetch(&api, &ids, far(), &iso).await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some(NO_PERMISSION));
    // Three batches, then one batch split alone: no more.
    assert!(api.calls() <= 3 + MAX_EXTRA_CALLS_PER_BATCH);
    assert!(iso.isolated().is_empty());
}

#[tokio::test]
async fn errors_not_about_ids_are_not_split() {
    for (kind, code) in [
        (ErrorKind::ServerError, "KOOPHONE.API.9999"),
        (ErrorKind::ApiError, "KOOPHONE.API.9999"),
        (ErrorKind::Throttled, "APIG.0308"),
        (ErrorKind::Unauthorized, "APIG.0301"),
    ] {
        let api = Fake {
            refuse: Some((kind, code)),
            ..Fake::default()
        };
        let e = fetch(&api, &fleet(250), far(), &Isolation::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind, kind);
        assert!(api.calls() <= 3, "{code}: no split");
    }
}

#[tokio::test]
async fn an_isolated_phone_is_rechecked_alone_with_backoff_and_comes_back() {
    let ids = fleet(150);
    let api = Fake::with_bad(&[("p0042", NO_PERMISSION)]);
    let iso = Isolation::default();
    let t0 = Instant::now();
    let at = |d: Duration| t0 + d;
    fetch_at(&api, &ids, far(), &iso, t0).await.unwrap();
    api.calls();
    let got = fetch_at(&api, &ids, far(), &iso, at(RECHECK_FIRST))
        .await
        .unwrap();
    assert_eq!(api.calls(), 2 + 1, "two batches and one re-check");
    assert_eq!(got.isolated, BTreeMap::from([(NO_PERMISSION, 1)]));
    // Still bad: the next re-check waits twice as long.
    fetch_at(&api, &ids, far(), &iso, at(RECHECK_FIRST * 2))
        .await
        .unwrap();
    assert_eq!(api.calls(), 2);
    lock(&api.bad).clear();
    let got = fetch_at(&api, &ids, far(), &iso, at(RECHECK_FIRST * 3))
        .await
        .unwrap();
    assert_eq!(api.calls(), 3);
    assert_eq!(got.results.len(), 150);
    assert!(got.isolated.is_empty());
    assert!(got.incomplete.is_none());
    assert!(iso.isolated().is_empty());
}

#[test]
fn rechecks_back_off_up_to_the_cap() {
    let t0 = Instant::now();
    let mut e = IsolatedPhone::new(NO_PERMISSION, t0);
    assert_eq!(e.next_check, t0 + RECHECK_FIRST);
    for _ in 0..10 {
        e.still_bad(BAD_PARAMETER, t0);
    }
    assert_eq!(e.interval, RECHECK_MAX);
    assert_eq!(e.reason, BAD_PARAMETER);
}

#[tokio::test]
async fn phones_gone_from_the_list_are_forgotten() {
    let ids = fleet(150);
    let api = Fake::with_bad(&[("p0042", NO_PERMISSION)]);
    let iso = Isolation::default();
    fetch(&api, &ids, far(), &iso).await.unwrap();
    let fewer: Vec<String> = ids.iter().filter(|i| *i != "p0042").cloned().collect();
    let got = fetch(&api, &fewer, far(), &iso).await.unwrap();
    assert!(got.incomplete.is_none());
    assert!(iso.isolated().is_empty());
}

#[tokio::test]
async fn no_extra_call_starts_past_the_deadline() {
    let ids = fleet(250);
    let api = Fake::with_bad(&[("p0001", NO_PERMISSION), ("p0101", NO_PERMISSION)]);
    let iso = Isolation::default();
    // A deadline already past: the batches are sent (and answer), nothing is split.
    let got = fetch(&api, &ids, Instant::now(), &iso).await.unwrap();
    assert_eq!(api.calls(), 3);
    assert_eq!(got.results.len(), 50);
    assert!(got.isolated.is_empty());
    assert!(iso.isolated().is_empty());
}

#[test]
fn log_lines_name_a_bounded_number_of_ids() {
    let ids = fleet(25);
    assert_eq!(
        name_ids(ids.iter().map(String::as_str), 25),
        "p0000,p0001,p0002,p0003,p0004,p0005,p0006,p0007,p0008,p0009 and 15 more"
    );
    assert_eq!(name_ids(["a"].into_iter(), 1), "a");
}
