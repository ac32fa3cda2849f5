//! Probes and their deadlines: the module's `timeout`, the scrape timeout header, and a
//! caller's deadline, which cuts short only that caller's wait: the run goes on under the
//! module's timeout and serves the next caller.

use std::time::{Duration, Instant};

use crate::helpers::op;
use huaweicloud_exporter::sim::FaultKind;

use crate::helpers::*;

use super::{commands_total, error_code, get, job, probe, probe_app};

#[tokio::test]
async fn a_job_still_running_at_the_deadline_fails_in_time() {
    // Jobs take a minute; the module gives them one second.
    let (app, healthy) = probe_app(Duration::from_secs(60)).await;
    let id = &healthy[0];
    let started = Instant::now();

    let m = probe(&app, &format!("module=short&target={id}")).await;

    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(job(&m, "huaweicloud_koophone_probe_job_success", id), 0.0);
    assert_eq!(
        m.value(
            "huaweicloud_koophone_probe_job_error_info",
            &[("instance_id", id), ("error_code", "timeout")]
        ),
        1.0
    );
    assert!(app.sim.calls(&op::KOOPHONE_TASK) >= 1, "it polled");
}

#[tokio::test]
async fn a_hung_task_query_is_cut_by_the_scrape_timeout_header() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    app.sim
        .set_fault(&op::KOOPHONE_TASK, fault(FaultKind::Hang));
    let started = Instant::now();

    // The module allows 5 s; Prometheus allows 1.5 s, minus the offset.
    let (status, _, text) = get(
        &app,
        &format!("module=boot&target={}", healthy[0]),
        Some("1.5"),
    )
    .await;

    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status, 200, "{text}");
    let m = Exposition::parse(&text);
    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(
        m.value(
            "huaweicloud_koophone_probe_job_error_info",
            &[("instance_id", &healthy[0]), ("error_code", "timeout")]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_run_its_short_caller_stops_waiting_for_runs_on_and_serves_the_next() {
    // Jobs take 1.5 s; the module allows 5 s, the first caller 1 s (header 1.5 minus 0.5).
    let (app, healthy) = probe_app(Duration::from_millis(1500)).await;
    let q = format!("module=boot&target={}", healthy[0]);
    let (status, _, text) = get(&app, &q, Some("1.5")).await;
    assert_eq!(status, 200, "{text}");
    let short = Exposition::parse(&text);
    assert_eq!(short.value("probe_success", &[]), 0.0);
    assert_eq!(error_code(&short, &healthy[0]), ["timeout"]);

    // Act: a normal probe right after, well within min_interval.
    let m = probe(&app, &q).await;

    // Assert: the short caller's run went on under the module's timeout, and its result (not
    // the caller's timeout) answers the next probe: no second command.
    assert_eq!(m.value("probe_success", &[]), 1.0);
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 1);
    let again = probe(&app, &q).await;
    assert_eq!(again.value("huaweicloud_koophone_probe_cached", &[]), 1.0);
    assert_eq!(again.value("probe_success", &[]), 1.0);
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 1);
}

#[tokio::test]
async fn a_tiny_header_probe_sends_no_command_and_spoils_nothing() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    let q = format!("module=boot&target={}", healthy[0]);

    let (status, _, text) = get(&app, &q, Some("0.004")).await;

    assert_eq!(status, 200, "{text}");
    let tiny = Exposition::parse(&text);
    assert_eq!(tiny.value("probe_success", &[]), 0.0);
    assert_eq!(error_code(&tiny, &healthy[0]), ["timeout"]);
    assert_eq!(
        app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND),
        0,
        "no time to poll, so no command"
    );
    assert_eq!(commands_total(&app, "boot", "too_short").await, 1.0);
    let m = probe(&app, &q).await;
    assert_eq!(m.value("huaweicloud_koophone_probe_cached", &[]), 0.0);
    assert_eq!(m.value("probe_success", &[]), 1.0);
}

#[tokio::test]
async fn short_and_normal_probes_share_one_run_under_the_modules_timeout() {
    // Jobs take 1.5 s. A probe allowing 1 s starts a run; a normal probe and a second short one,
    // sent once that run's command is out, join it: it gives its jobs the module's 5 s.
    let (app, healthy) = probe_app(Duration::from_millis(1500)).await;
    let q = format!("module=boot&target={}", healthy[0]);
    let sim = &app.sim;
    let command_sent = || async move {
        while sim.calls(&op::KOOPHONE_ASYNC_COMMAND) < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let short = get(&app, &q, Some("1.5"));
    let normal = async {
        command_sent().await;
        get(&app, &q, None).await
    };
    let short_again = async {
        command_sent().await;
        get(&app, &q, Some("1.5")).await
    };

    let (short, normal, short_again) = futures::join!(short, normal, short_again);

    let parse = |(status, _, text): &(u16, String, String)| {
        assert_eq!(*status, 200, "{text}");
        Exposition::parse(text)
    };
    let (short, normal, short_again) = (parse(&short), parse(&normal), parse(&short_again));
    assert_eq!(normal.value("probe_success", &[]), 1.0);
    assert_eq!(normal.value("huaweicloud_koophone_probe_cached", &[]), 0.0);
    assert_eq!(short.value("probe_success", &[]), 0.0);
    assert_eq!(short_again.value("probe_success", &[]), 0.0);
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 1);
    assert_eq!(commands_total(&app, "boot", "command").await, 1.0);
    assert_eq!(commands_total(&app, "boot", "shared").await, 2.0);
}
