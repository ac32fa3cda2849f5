//! Partial failure: phones that fail a whole batch-status call (no permission, released) are
//! isolated by splitting the batch, the rest of the fleet is reported, the isolated phones are
//! counted by reason and remembered, and the collector says the fleet is incomplete.

use std::time::Duration;

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, FaultSpec};

use crate::helpers::*;

const CONFIG: &str = r#"
timeout: 5s
clouds:
  - name: c
    region: ap-southeast-1
    project_id: {project}
    auth: { token: { value: demo-static-token } }
    endpoints: {endpoints}
    dcs: {}
    koophone: { instance_ids: [{phones}] }
"#;

const ISOLATED: &str = "huaweicloud_koophone_isolated_instances";
const NO_PERMISSION: &str = "KOOPHONE.API.1001";
const BAD_PARAMETER: &str = "KOOPHONE.API.1000";

fn bad_ids(kind: FaultKind, ids: Vec<String>) -> FaultSpec {
    FaultSpec {
        kind: Some(kind),
        ids: Some(ids),
        ..FaultSpec::default()
    }
}

async fn app(phones: usize) -> TestApp {
    spawn_app(Opts {
        sim: frozen_sim(phones),
        config: CONFIG.into(),
    })
    .await
}

/// A scrape and the batch-status calls it made.
async fn scrape_counting(app: &TestApp, header: Option<&str>) -> (Exposition, u64) {
    let before = app.sim.calls(&op::KOOPHONE_BATCH_STATUS);
    let (status, text) = app.scrape_raw(header).await;
    assert_eq!(status, 200);
    let calls = app.sim.calls(&op::KOOPHONE_BATCH_STATUS) - before;
    (Exposition::parse(&text), calls)
}

fn reported(m: &Exposition) -> f64 {
    m.value("huaweicloud_koophone_instances_reported", &[("cloud", "c")])
}

fn isolated(m: &Exposition, reason: &str) -> f64 {
    m.value(ISOLATED, &[("cloud", "c"), ("reason", reason)])
}

/// Every phone of `ids` but `except` has its status series, and `except` has none.
fn assert_reported_all_but(m: &Exposition, ids: &[String], except: &[&String]) {
    for id in ids {
        let n = m
            .find(
                "huaweicloud_koophone_instance_status",
                &[("instance_id", id)],
            )
            .len();
        let want = usize::from(!except.contains(&id));
        assert_eq!(n, want, "{id}");
    }
}

#[tokio::test]
async fn one_forbidden_phone_among_250_hides_only_itself_and_is_remembered() {
    let app = app(250).await;
    let ids = app.sim.phone_ids();
    let bad = &ids[137];
    app.sim.set_fault(
        &op::KOOPHONE_BATCH_STATUS,
        bad_ids(FaultKind::ForbiddenIds, vec![bad.clone()]),
    );

    let (m, calls) = scrape_counting(&app, None).await;

    assert_eq!(reported(&m), 249.0);
    assert_eq!(
        m.value(
            "huaweicloud_koophone_instances_requested",
            &[("cloud", "c")]
        ),
        250.0
    );
    assert_eq!(isolated(&m, NO_PERMISSION), 1.0);
    assert_eq!(
        isolated(&m, BAD_PARAMETER),
        0.0,
        "every known reason, 0 when none"
    );
    assert_eq!(
        m.find(ISOLATED, &[]).len(),
        2,
        "one series per known reason"
    );
    assert_eq!(
        m.sum("huaweicloud_koophone_instances", &[("cloud", "c")]),
        249.0
    );
    assert_reported_all_but(&m, &ids, &[bad]);
    assert_eq!(m.success("c", "koophone"), 0.0, "the fleet is not complete");
    assert_eq!(m.success("c", "dcs"), 1.0);
    // Three batches, then one split: 7 to 15 extra calls for one bad id in 100.
    assert!((3 + 7..=3 + 15).contains(&calls), "{calls} calls");

    // Remembered: the next scrape sends the three batches without it, and no extra call.
    let (m, calls) = scrape_counting(&app, None).await;
    assert_eq!(calls, 3);
    assert_eq!(reported(&m), 249.0);
    assert_eq!(isolated(&m, NO_PERMISSION), 1.0);
    assert_eq!(m.success("c", "koophone"), 0.0);
}

#[tokio::test]
async fn released_phones_are_isolated_in_both_forms_of_the_rejection() {
    for kind in [FaultKind::ReleasedIds, FaultKind::ReleasedIdsIn200] {
        let app = app(120).await;
        let ids = app.sim.phone_ids();
        app.sim.set_fault(
            &op::KOOPHONE_BATCH_STATUS,
            bad_ids(kind, vec![ids[3].clone(), ids[110].clone()]),
        );
        let (m, calls) = scrape_counting(&app, None).await;
        assert_eq!(reported(&m), 118.0, "{kind}");
        assert_eq!(isolated(&m, BAD_PARAMETER), 2.0, "{kind}");
        assert_reported_all_but(&m, &ids, &[&ids[3], &ids[110]]);
        assert_eq!(m.success("c", "koophone"), 0.0, "{kind}");
        assert!(calls <= 2 + 2 * 15, "{kind}: {calls} calls");
    }
}

#[tokio::test]
async fn bad_phones_in_different_batches_are_each_isolated() {
    let app = app(350).await;
    let ids = app.sim.phone_ids();
    let bad: Vec<&String> = [5, 150, 260, 349].iter().map(|i| &ids[*i]).collect();
    app.sim.set_fault(
        &op::KOOPHONE_BATCH_STATUS,
        bad_ids(
            FaultKind::ForbiddenIds,
            bad.iter().map(|s| s.to_string()).collect(),
        ),
    );
    let (m, calls) = scrape_counting(&app, None).await;
    assert_eq!(reported(&m), 346.0);
    assert_eq!(isolated(&m, NO_PERMISSION), 4.0);
    assert_reported_all_but(&m, &ids, &bad);
    assert!(calls <= 4 + 4 * 15, "{calls} calls");
    let (_, calls) = scrape_counting(&app, None).await;
    assert_eq!(calls, 4, "remembered");
}

#[tokio::test]
async fn a_bad_phone_in_every_batch_under_a_tight_deadline_still_answers_in_time() {
    let app = app(250).await;
    let ids = app.sim.phone_ids();
    app.scrape().await;
    let bad: Vec<String> = [99, 199, 249].iter().map(|i| ids[*i].clone()).collect();
    app.sim.set_fault(
        &op::KOOPHONE_BATCH_STATUS,
        FaultSpec {
            latency: Some(Duration::from_millis(100)),
            ..bad_ids(FaultKind::ForbiddenIds, bad.clone())
        },
    );

    // 0.5 s for the scrape; isolating three bad ids 100 ms a call takes at least 0.8 s.
    let (m, calls) = scrape_counting(&app, Some("1")).await;

    assert_eq!(m.success("c", "dcs"), 1.0);
    assert_eq!(m.success("c", "koophone"), 0.0);
    assert_eq!(
        m.value(
            "huaweicloud_koophone_instances_requested",
            &[("cloud", "c")]
        ),
        250.0,
        "the collector answered with what it had, not a timeout"
    );
    let partial = reported(&m);
    assert!(partial > 0.0 && partial < 247.0, "{partial}");
    assert!(calls <= 3 + 64, "{calls} calls");

    // Later scrapes go on from what was learnt, until only the bad phones are missing.
    let mut m = m;
    for _ in 0..5 {
        if reported(&m) == 247.0 {
            break;
        }
        m = app.scrape().await;
    }
    assert_eq!(reported(&m), 247.0);
    assert_eq!(isolated(&m, NO_PERMISSION), 3.0);
    assert_reported_all_but(&m, &ids, &bad.iter().collect::<Vec<_>>());
}

#[tokio::test]
async fn errors_not_about_ids_are_not_split() {
    for (kind, max_calls) in [
        // `.9999` inside HTTP 200: not retried, not split.
        (FaultKind::ApiError, 3),
        // 5xx: retried (three attempts a batch), not split.
        (FaultKind::ServerError, 9),
        // `.1000` for every call: the service refuses, not some phones. One batch is split
        // to find that out, no more.
        (FaultKind::ErrorsIn200, 3 + 16),
    ] {
        let app = app(250).await;
        app.sim.set_fault(&op::KOOPHONE_BATCH_STATUS, fault(kind));
        let (m, calls) = scrape_counting(&app, None).await;
        assert_eq!(m.success("c", "koophone"), 0.0, "{kind}");
        assert_eq!(m.success("c", "dcs"), 1.0, "{kind}");
        assert!(m.find(ISOLATED, &[]).is_empty(), "{kind}");
        assert!(
            m.find("huaweicloud_koophone_instances_reported", &[])
                .is_empty(),
            "{kind}: the collector failed"
        );
        assert!(calls <= max_calls, "{kind}: {calls} calls");
        // Nothing was learnt: once healthy, every phone is back at once.
        app.sim.clear_faults();
        let m = app.scrape().await;
        assert_eq!(reported(&m), 250.0, "{kind}");
        assert_eq!(m.success("c", "koophone"), 1.0, "{kind}");
    }
}

#[tokio::test]
async fn an_isolated_phone_stays_left_out_until_its_recheck() {
    // The first re-check of an isolated phone comes a minute later (unit-tested with its
    // backoff); until then it is not asked about, even once it would answer.
    let app = app(30).await;
    let ids = app.sim.phone_ids();
    app.sim.set_fault(
        &op::KOOPHONE_BATCH_STATUS,
        bad_ids(FaultKind::ForbiddenIds, vec![ids[7].clone()]),
    );
    let m = app.scrape().await;
    assert_eq!(isolated(&m, NO_PERMISSION), 1.0);
    app.sim.clear_faults();
    let m = app.scrape().await;
    assert_eq!(
        isolated(&m, NO_PERMISSION),
        1.0,
        "still isolated until re-checked"
    );
    assert_eq!(reported(&m), 29.0);
}

#[tokio::test]
async fn an_isolation_is_logged_once_with_its_request_id_and_ids() {
    let sim = spawn_sim(frozen_sim(150)).await;
    let ids = sim.phone_ids();
    let bad = ids[20].clone();
    sim.set_fault(
        &op::KOOPHONE_BATCH_STATUS,
        bad_ids(FaultKind::ForbiddenIds, vec![bad.clone()]),
    );
    let dir = tempfile::tempdir().unwrap();
    let yaml = CONFIG
        .replace("{endpoints}", &crate::helpers::endpoints("{base}"))
        .replace("{base}", &sim.base_url())
        .replace("{project}", &sim.project_id())
        .replace("{phones}", &ids.join(", "));
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (mut child, port) = spawn_binary(&path, &[], &[]).await;
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut scrapes = 0;
    for _ in 0..100 {
        if http.get(&url).send().await.is_ok() {
            scrapes += 1;
            if scrapes == 3 {
                break;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(scrapes, 3, "the exporter never answered");
    let logs = crate::helpers::stop_and_read_logs(&mut child);
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("KooPhone failed a whole status batch"))
        .collect();
    assert_eq!(lines.len(), 1, "one line for three scrapes:\n{logs}");
    let line = lines[0];
    assert!(line.contains(&bad), "{line}");
    assert!(line.contains(NO_PERMISSION), "{line}");
    let request_id = line
        .split("request_id=")
        .nth(1)
        .map(|rest| rest.trim_start_matches('"'))
        .unwrap_or_default();
    assert!(
        request_id.len() >= 32 && request_id[..32].bytes().all(|b| b.is_ascii_hexdigit()),
        "{line}"
    );
    assert!(
        !logs.lines().any(|l| l.contains("collector failed")),
        "a partial answer is no failure:\n{logs}"
    );
}

#[tokio::test]
async fn the_simulator_fails_only_batches_holding_a_bad_phone() {
    let sim = spawn_sim(frozen_sim(10)).await;
    let ids = sim.phone_ids();
    let post = |ids: Vec<String>| {
        let url = format!("{}/v1/instances/batch-query-status", sim.base_url());
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("X-Auth-Token", "demo-static-token")
                .header("x-request-id", "isolate-test")
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&serde_json::json!({ "instance_ids": ids })).unwrap())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            (
                status,
                body["error_code"].as_str().unwrap_or_default().to_string(),
            )
        }
    };
    for (kind, status, code) in [
        (FaultKind::ForbiddenIds, 200, NO_PERMISSION),
        (FaultKind::ReleasedIds, 400, BAD_PARAMETER),
        (FaultKind::ReleasedIdsIn200, 200, BAD_PARAMETER),
    ] {
        sim.set_fault(
            &op::KOOPHONE_BATCH_STATUS,
            bad_ids(kind, vec![ids[4].clone()]),
        );
        assert_eq!(
            post(ids.clone()).await,
            (status, code.to_string()),
            "{kind}"
        );
        assert_eq!(
            post(vec![ids[4].clone()]).await,
            (status, code.to_string()),
            "{kind}"
        );
        let good: Vec<String> = ids.iter().filter(|i| *i != &ids[4]).cloned().collect();
        assert_eq!(post(good).await, (200, "0".to_string()), "{kind}");
    }
}
