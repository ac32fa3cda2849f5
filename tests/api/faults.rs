//! The fault suite: every fault kind the simulator models, on every operation a scrape makes
//! (found from the registry's operations, so a new service's calls are in it with no edit) and
//! on a probe's task query. For each: the endpoint answers 200 within the deadline, the hit
//! service's collectors report what they should (one at 0, or all 1 where the fault is
//! survivable), every other service's collector is 1, and the next answer after the fault
//! clears is fully healthy.

use std::time::{Duration, Instant};

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, FaultSpec, SimConfig};

use crate::helpers::*;
use huaweicloud_exporter::transport::Operation;

/// The scrape-timeout header every case sends: a 1.5 s deadline.
const HEADER: &str = "2";
/// Generous bound on an answer under that deadline (no timing assertion beyond "it answered").
const WITHIN: Duration = Duration::from_secs(6);

fn spec(kind: FaultKind, times: Option<u32>) -> FaultSpec {
    FaultSpec {
        kind: Some(kind),
        times,
        retry_after_secs: Some(0),
        ..FaultSpec::default()
    }
}

/// (fault, whether the hit collector still succeeds).
fn cases() -> Vec<(&'static str, FaultSpec, bool)> {
    vec![
        ("5xx", spec(FaultKind::ServerError, None), false),
        (
            "429 then success",
            spec(FaultKind::Throttled, Some(1)),
            true,
        ),
        (
            "401 then success",
            spec(FaultKind::TokenExpired, Some(1)),
            true,
        ),
        ("malformed JSON", spec(FaultKind::Malformed, None), false),
        ("truncated body", spec(FaultKind::Truncated, None), false),
        ("empty body", spec(FaultKind::Empty, None), false),
        (
            "wrong field types",
            spec(FaultKind::WrongTypes, None),
            false,
        ),
        ("hang past the deadline", spec(FaultKind::Hang, None), false),
        ("50 MB body", spec(FaultKind::Huge, None), false),
    ]
}

/// The operations one scrape of [`ONE_CLOUD`] makes (the token request aside), from the
/// registry's list: those whose call counters move in a scrape with a token held.
async fn scrape_operations() -> Vec<&'static Operation> {
    let app = spawn_app(Opts {
        sim: frozen_sim(150),
        config: ONE_CLOUD.into(),
    })
    .await;
    app.scrape().await;
    let before: Vec<u64> = all_operations()
        .iter()
        .map(|op| app.sim.calls(op))
        .collect();
    app.scrape().await;
    let ops: Vec<_> = all_operations()
        .into_iter()
        .zip(before)
        .filter(|(op, n)| app.sim.calls(op) > *n)
        .map(|(op, _)| op)
        .collect();
    assert!(ops.len() >= 4, "a scrape calls every service: {ops:?}");
    ops
}

/// Whether `collector` is one of `service`'s: its key, or the key and a suffix.
fn of_service(collector: &str, service: &str) -> bool {
    collector
        .strip_prefix(service)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
}

#[tokio::test]
async fn every_fault_on_every_scrape_operation() {
    let mut failures = Vec::new();
    for op in scrape_operations().await {
        for (name, fault, survives) in cases() {
            let app = spawn_app(Opts {
                sim: frozen_sim(150),
                config: ONE_CLOUD.into(),
            })
            .await;
            let collectors = app.scrape().await.collectors("c"); // token cached, like a running exporter
            app.sim.set_fault(op, fault);
            let started = Instant::now();
            let (status, text) = app.scrape_raw(Some(HEADER)).await;
            let took = started.elapsed();
            let m = Exposition::parse(&text);
            let case = format!("{} × {name}", op.name);
            if status != 200 || took > WITHIN {
                failures.push(format!("{case}: status {status} after {took:?}"));
                continue;
            }
            let failed: Vec<&String> = collectors
                .iter()
                .filter(|c| m.success("c", c) != 1.0)
                .collect();
            if failed.iter().any(|c| !of_service(c, op.service)) {
                failures.push(format!(
                    "{case}: other services' collectors failed: {failed:?}"
                ));
            }
            if failed.is_empty() != survives {
                failures.push(format!(
                    "{case}: failed collectors {failed:?}, survivable {survives}"
                ));
            }
            app.sim.clear_faults();
            let m = app.scrape().await;
            for c in &collectors {
                if m.success("c", c) != 1.0 {
                    failures.push(format!("{case}: {c} not healthy after the fault cleared"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn survivable_answers_keep_the_collector_up() {
    let app = spawn_app(Opts {
        sim: frozen_sim(150),
        config: ONE_CLOUD.into(),
    })
    .await;
    // A missing phone is served but is no success (the fleet is incomplete): tests/api/isolate.rs
    // and scrape::a_missing_phone_shows_as_requested_but_not_reported.
    for (op, kind, check) in [
        (
            &op::KOOPHONE_BATCH_STATUS,
            FaultKind::UnknownStatus,
            "unknown status code",
        ),
        (
            &op::DCS_STATUS,
            FaultKind::NewState,
            "new DCS state and engine",
        ),
    ] {
        app.sim.set_fault(op, spec(kind, None));
        let m = app.scrape().await;
        for c in ["dcs", "koophone", "ddm"] {
            assert_eq!(m.success("c", c), 1.0, "{check}: {c}");
        }
        app.sim.clear_faults();
    }
}

#[tokio::test]
async fn every_fault_on_the_task_query_of_a_probe() {
    let sim = spawn_sim(SimConfig {
        job_delay: Duration::from_millis(100),
        ..frozen_sim(30)
    })
    .await;
    let healthy = statuses(&sim, &sim.phone_ids())
        .await
        .into_iter()
        .find(|(_, s)| !matches!(s, 5 | 6))
        .map(|(id, _)| id)
        .unwrap();
    let app = spawn_app_with_sim(sim, ONE_CLOUD).await;
    let (app, healthy) = (&app, &healthy);
    let probe = |header: Option<&'static str>| async move {
        let started = Instant::now();
        let mut req = app
            .http
            .get(app.url(&format!("/probe?module=echo&target={healthy}")));
        if let Some(h) = header {
            req = req.header("X-Prometheus-Scrape-Timeout-Seconds", h);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let m = Exposition::parse(&r.text().await.unwrap());
        (status, started.elapsed(), m)
    };
    let mut failures = Vec::new();
    for (name, fault, survives) in cases() {
        app.sim.set_fault(&op::KOOPHONE_TASK, fault);
        let (status, took, m) = probe(Some(HEADER)).await;
        if status != 200 || took > WITHIN {
            failures.push(format!("task × {name}: status {status} after {took:?}"));
            continue;
        }
        let want = if survives { 1.0 } else { 0.0 };
        let got = m.value("probe_success", &[]);
        if got != want {
            failures.push(format!("task × {name}: probe_success {got}, want {want}"));
        }
        app.sim.clear_faults();
        // Without the header: the run the fault hit goes on under the module's 5 s timeout,
        // and a probe joining it needs the time to see it end and then ask once more.
        let (_, _, m) = probe(None).await;
        if m.value("probe_success", &[]) != 1.0 {
            failures.push(format!(
                "task × {name}: not healthy after the fault cleared"
            ));
        }
        // The exporter's own scrape is untouched by probe faults.
        let s = app.scrape().await;
        if s.success("c", "koophone") != 1.0 {
            failures.push(format!("task × {name}: koophone collector hurt"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
