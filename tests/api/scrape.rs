//! Black-box scrapes of the exporter against the simulator.

use std::time::{Duration, Instant};

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, FaultSpec};

use crate::helpers::*;

async fn two_clouds(phones: usize) -> TestApp {
    spawn_app(Opts {
        sim: frozen_sim(phones),
        config: TWO_CLOUDS.into(),
    })
    .await
}

#[tokio::test]
async fn a_healthy_scrape_has_every_collector_and_family() {
    let app = two_clouds(250).await;
    let m = app.scrape().await;
    for (cloud, collector) in [
        ("pw", "dcs"),
        ("pw", "koophone"),
        ("pw", "ddm"),
        ("tok", "dcs"),
    ] {
        assert_eq!(m.success(cloud, collector), 1.0, "{cloud}/{collector}");
    }
    assert!(
        m.find(
            "huaweicloud_scrape_collector_success",
            &[("cloud", "tok"), ("collector", "koophone")]
        )
        .is_empty(),
        "a cloud without a section has no such collector"
    );
    assert_eq!(
        m.value(
            "huaweicloud_cloud_info",
            &[("cloud", "tok"), ("region", "eu-west-101")]
        ),
        1.0
    );

    // KooPhone: one series per phone, counts per status add up, every known status present.
    assert_eq!(
        m.find("huaweicloud_koophone_instance_status", &[("cloud", "pw")])
            .len(),
        250
    );
    assert_eq!(
        m.value(
            "huaweicloud_koophone_instances_requested",
            &[("cloud", "pw")]
        ),
        250.0
    );
    assert_eq!(
        m.value(
            "huaweicloud_koophone_instances_reported",
            &[("cloud", "pw")]
        ),
        250.0
    );
    assert_eq!(
        m.sum("huaweicloud_koophone_instances", &[("cloud", "pw")]),
        250.0
    );
    for status in [
        "idle",
        "restoring",
        "data_loaded",
        "streaming",
        "backing_up",
        "backup_exception",
        "restoration_exception",
        "unknown",
    ] {
        let _ = m.value(
            "huaweicloud_koophone_instances",
            &[("cloud", "pw"), ("status", status)],
        );
    }
    let phone = &app.sim.phone_ids()[0];
    let s = m.find(
        "huaweicloud_koophone_instance_status",
        &[("instance_id", phone)],
    );
    assert_eq!(s.len(), 1);
    assert!(s[0].labels.contains_key("code"));

    // DCS: every state the simulator serves (the page's list), per engine too; createfailed
    // only where asked for.
    for state in huaweicloud_exporter::services::dcs::sim::DCS_STATES {
        let _ = m.value(
            "huaweicloud_dcs_instances",
            &[("cloud", "pw"), ("state", state)],
        );
        let _ = m.value(
            "huaweicloud_dcs_engine_instances",
            &[("cloud", "pw"), ("engine", "redis"), ("state", state)],
        );
    }
    assert!(m
        .find(
            "huaweicloud_dcs_instances",
            &[("cloud", "tok"), ("state", "createfailed")]
        )
        .is_empty());
    let total = m.sum("huaweicloud_dcs_instances", &[("cloud", "pw")]);
    let engines = m.sum("huaweicloud_dcs_engine_instances", &[("cloud", "pw")]);
    assert_eq!(total, engines, "top level is the sum of the engines");

    // DDM: all pages read (300 targets, 128 per page).
    assert_eq!(
        m.value("huaweicloud_ddm_restorable_instances", &[("cloud", "pw")]),
        300.0
    );
    assert_eq!(
        m.find(
            "huaweicloud_ddm_restorable_instance_available",
            &[("cloud", "pw")]
        )
        .len(),
        300
    );

    // Self metrics.
    assert!(
        m.value(
            "huaweicloud_api_requests_total",
            &[
                ("cloud", "pw"),
                ("operation", "koophone_batch_status"),
                ("result", "ok")
            ]
        ) >= 3.0
    );
    assert_eq!(
        m.value(
            "huaweicloud_auth_token_requests_total",
            &[("cloud", "pw"), ("result", "ok")]
        ),
        1.0
    );
    assert!(
        m.value(
            "huaweicloud_auth_token_expiry_timestamp_seconds",
            &[("cloud", "pw")]
        ) > 1.7e9
    );
    assert_eq!(
        m.types
            .get("huaweicloud_api_request_duration_seconds")
            .map(String::as_str),
        Some("histogram")
    );
    assert_eq!(m.find("huaweicloud_exporter_build_info", &[]).len(), 1);
    assert!(!m.find("process_resident_memory_bytes", &[]).is_empty());
}

#[tokio::test]
async fn phones_are_chunked_100_per_call_and_the_token_is_reused() {
    let app = two_clouds(250).await;
    app.scrape().await;
    assert_eq!(app.sim.calls(&op::KOOPHONE_BATCH_STATUS), 3);
    app.scrape().await;
    assert_eq!(app.sim.calls(&op::KOOPHONE_BATCH_STATUS), 6);
    assert_eq!(
        app.sim.calls(&op::IAM_TOKEN),
        1,
        "token cached across scrapes"
    );
}

#[tokio::test]
async fn a_failing_collector_is_flagged_and_the_rest_answer() {
    let app = two_clouds(120).await;
    app.sim
        .set_fault(&op::DCS_STATUS, fault(FaultKind::ServerError));
    let m = app.scrape().await;
    assert_eq!(m.success("pw", "dcs"), 0.0);
    assert_eq!(m.success("tok", "dcs"), 0.0);
    assert_eq!(m.success("pw", "koophone"), 1.0);
    assert_eq!(m.success("pw", "ddm"), 1.0);
    assert!(
        m.find("huaweicloud_dcs_instances", &[]).is_empty(),
        "a failed collector is left out"
    );
    assert!(
        m.value(
            "huaweicloud_api_requests_total",
            &[
                ("cloud", "pw"),
                ("operation", "dcs_status"),
                ("result", "server_error")
            ]
        ) >= 1.0
    );

    app.sim.clear_faults();
    let m = app.scrape().await;
    assert_eq!(m.success("pw", "dcs"), 1.0);
    assert_eq!(m.success("tok", "dcs"), 1.0);
}

#[tokio::test]
async fn koophone_errors_inside_http_200_fail_the_collector() {
    let app = two_clouds(50).await;
    app.sim
        .set_fault(&op::KOOPHONE_BATCH_STATUS, fault(FaultKind::ApiError));
    let m = app.scrape().await;
    assert_eq!(m.success("pw", "koophone"), 0.0);
    assert_eq!(m.success("pw", "dcs"), 1.0);
    assert!(
        m.value(
            "huaweicloud_api_requests_total",
            &[
                ("operation", "koophone_batch_status"),
                ("result", "api_error")
            ]
        ) >= 1.0
    );
}

#[tokio::test]
async fn new_dcs_states_and_engines_appear_without_code_changes() {
    let app = two_clouds(10).await;
    app.sim
        .set_fault(&op::DCS_STATUS, fault(FaultKind::NewState));
    let m = app.scrape().await;
    assert_eq!(m.success("pw", "dcs"), 1.0);
    assert!(!m
        .find(
            "huaweicloud_dcs_instances",
            &[("cloud", "pw"), ("state", "hibernating")]
        )
        .is_empty());
    assert!(!m
        .find(
            "huaweicloud_dcs_engine_instances",
            &[("cloud", "pw"), ("engine", "valkey")]
        )
        .is_empty());
}

#[tokio::test]
async fn an_unknown_status_code_is_reported_not_fatal() {
    let app = two_clouds(30).await;
    app.sim
        .set_fault(&op::KOOPHONE_BATCH_STATUS, fault(FaultKind::UnknownStatus));
    let m = app.scrape().await;
    assert_eq!(m.success("pw", "koophone"), 1.0);
    let unknown = m.find(
        "huaweicloud_koophone_instance_status",
        &[("status", "unknown"), ("code", "42")],
    );
    assert!(!unknown.is_empty());
    assert_eq!(
        m.value(
            "huaweicloud_koophone_instances",
            &[("cloud", "pw"), ("status", "unknown")]
        ),
        unknown.len() as f64
    );
}

#[tokio::test]
async fn an_expired_token_is_renewed_and_the_call_retried_in_the_same_scrape() {
    let app = two_clouds(30).await;
    // Revoked right after IAM issued it: the first refusal replaces it at once, whatever its age.
    app.scrape().await;
    app.sim.expire_tokens();
    let m = app.scrape().await;
    assert_eq!(m.success("pw", "koophone"), 1.0);
    assert_eq!(m.success("pw", "dcs"), 1.0);
    assert_eq!(
        m.value(
            "huaweicloud_auth_token_requests_total",
            &[("cloud", "pw"), ("result", "ok")]
        ),
        2.0,
        "one new token, not one per call"
    );
    assert!(
        m.sum(
            "huaweicloud_api_requests_total",
            &[("cloud", "pw"), ("result", "unauthorized")]
        ) >= 1.0
    );
}

#[tokio::test]
async fn a_hang_is_cut_at_the_deadline_from_the_scrape_timeout_header() {
    let app = two_clouds(30).await;
    app.sim.set_fault(&op::DCS_STATUS, fault(FaultKind::Hang));
    let started = Instant::now();
    let (status, text) = app.scrape_raw(Some("2")).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert!(
        took < Duration::from_secs(5),
        "answered after {took:?}, deadline was 1.5s"
    );
    let m = Exposition::parse(&text);
    assert_eq!(m.success("pw", "dcs"), 0.0);
    assert_eq!(m.success("pw", "koophone"), 1.0);
    assert!(
        m.value(
            "huaweicloud_api_requests_total",
            &[
                ("cloud", "pw"),
                ("operation", "dcs_status"),
                ("result", "timeout")
            ]
        ) >= 1.0
    );
}

#[tokio::test]
async fn throttling_is_retried_within_the_deadline() {
    let app = two_clouds(30).await;
    app.sim.set_fault(
        &op::DCS_STATUS,
        FaultSpec {
            kind: Some(FaultKind::Throttled),
            times: Some(1),
            retry_after_secs: Some(0),
            ..FaultSpec::default()
        },
    );
    let m = app.scrape().await;
    // One of the two clouds met the 429 and retried; both succeed.
    assert_eq!(m.success("pw", "dcs"), 1.0);
    assert_eq!(m.success("tok", "dcs"), 1.0);
    assert_eq!(
        m.sum(
            "huaweicloud_api_requests_total",
            &[("operation", "dcs_status"), ("result", "throttled")]
        ),
        1.0
    );
}

#[tokio::test]
async fn concurrent_scrapes_are_coalesced() {
    let app = two_clouds(250).await;
    app.sim.set_fault(
        &op::KOOPHONE_BATCH_STATUS,
        FaultSpec {
            latency: Some(Duration::from_millis(300)),
            ..FaultSpec::default()
        },
    );
    let scrapes = (0..4).map(|_| app.scrape_raw(None));
    let results = futures::future::join_all(scrapes).await;
    for (status, _) in &results {
        assert_eq!(*status, 200);
    }
    assert_eq!(
        app.sim.calls(&op::KOOPHONE_BATCH_STATUS),
        3,
        "4 simultaneous scrapes share one collection"
    );
}

#[tokio::test]
async fn bad_bodies_fail_only_their_collector() {
    for kind in [
        FaultKind::Malformed,
        FaultKind::Truncated,
        FaultKind::Empty,
        FaultKind::WrongTypes,
        FaultKind::Huge,
    ] {
        let app = two_clouds(20).await;
        app.sim.set_fault(&op::KOOPHONE_BATCH_STATUS, fault(kind));
        let m = app.scrape().await;
        assert_eq!(m.success("pw", "koophone"), 0.0, "{kind:?}");
        assert_eq!(m.success("pw", "dcs"), 1.0, "{kind:?}");
        let results: Vec<_> = m
            .find(
                "huaweicloud_api_requests_total",
                &[("operation", "koophone_batch_status")],
            )
            .iter()
            .map(|s| (s.labels["result"].clone(), s.value))
            .collect();
        assert!(
            m.sum(
                "huaweicloud_api_requests_total",
                &[
                    ("operation", "koophone_batch_status"),
                    ("result", "decode_error")
                ]
            ) >= 1.0,
            "{kind:?}: {results:?}"
        );
        app.sim.clear_faults();
        let m = app.scrape().await;
        assert_eq!(m.success("pw", "koophone"), 1.0, "{kind:?} cleared");
    }
}

#[tokio::test]
async fn a_missing_phone_shows_as_requested_but_not_reported() {
    let app = two_clouds(20).await;
    app.sim
        .set_fault(&op::KOOPHONE_BATCH_STATUS, fault(FaultKind::MissingPhone));
    let m = app.scrape().await;
    // The answer is served, but the fleet is not complete: no success.
    assert_eq!(m.success("pw", "koophone"), 0.0);
    assert_eq!(
        m.value(
            "huaweicloud_koophone_instances_requested",
            &[("cloud", "pw")]
        ),
        20.0
    );
    assert_eq!(
        m.value(
            "huaweicloud_koophone_instances_reported",
            &[("cloud", "pw")]
        ),
        19.0
    );
}

#[tokio::test]
async fn a_wrong_password_fails_without_hammering_iam() {
    let app = spawn_app(Opts {
        sim: frozen_sim(10),
        config: TWO_CLOUDS.replace("password: demo-password", "password: wrong"),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("pw", "dcs"), 0.0);
    assert_eq!(m.success("pw", "koophone"), 0.0);
    assert_eq!(m.success("tok", "dcs"), 1.0);
    app.scrape().await;
    app.scrape().await;
    assert_eq!(
        app.sim.calls(&op::IAM_TOKEN),
        1,
        "backoff across scrapes after a refused password"
    );
    let m = app.scrape().await;
    assert_eq!(
        m.value(
            "huaweicloud_auth_token_requests_total",
            &[("cloud", "pw"), ("result", "unauthorized")]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_tiny_scrape_timeout_header_spoils_no_other_scrape() {
    // Arrange: every batch-status call takes 300 ms; four clients scrape in a loop with a 4 ms
    // timeout header while twenty normal scrapes come and go.
    let app = two_clouds(250).await;
    app.sim.set_fault(
        &op::KOOPHONE_BATCH_STATUS,
        FaultSpec {
            latency: Some(Duration::from_millis(300)),
            ..FaultSpec::default()
        },
    );
    let done = std::sync::atomic::AtomicBool::new(false);
    let (app, done) = (&app, &done);
    let tiny_client = || async move {
        let mut answers = Vec::new();
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            answers.push(app.scrape_raw(Some("0.004")).await);
        }
        answers
    };
    let normal = async {
        let scrapes = (0..20u64).map(|i| async move {
            tokio::time::sleep(Duration::from_millis(40 * i)).await;
            app.scrape_raw(None).await
        });
        let answers = futures::future::join_all(scrapes).await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        answers
    };

    // Act
    let (normal, t1, t2, t3, t4) = futures::join!(
        normal,
        tiny_client(),
        tiny_client(),
        tiny_client(),
        tiny_client()
    );

    // Assert: every normal scrape has every phone.
    for (i, (status, text)) in normal.iter().enumerate() {
        assert_eq!(*status, 200, "normal scrape {i}");
        let m = Exposition::parse(text);
        assert_eq!(m.success("pw", "koophone"), 1.0, "normal scrape {i}");
        assert_eq!(
            m.find("huaweicloud_koophone_instance_status", &[("cloud", "pw")])
                .len(),
            250,
            "normal scrape {i}"
        );
    }
    // The tiny header did cut the tiny scrapes' own collections, and they still answered 200.
    let tiny: Vec<_> = [t1, t2, t3, t4].into_iter().flatten().collect();
    assert!(tiny.iter().all(|(status, _)| *status == 200));
    assert!(
        tiny.iter()
            .any(|(_, text)| Exposition::parse(text).success("pw", "koophone") == 0.0),
        "some tiny scrape lost its phones to its own deadline"
    );
    // Normal scrapes still share collections with each other.
    let m = app.scrape().await;
    assert!(
        m.value("huaweicloud_exporter_scrapes_total", &[("mode", "joined")]) >= 1.0,
        "overlapping normal scrapes coalesce"
    );
}
