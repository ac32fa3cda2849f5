//! Probes and their deadlines: the module's `timeout`, the scrape timeout header, and a
//! caller's deadline that cuts a run short (never kept, never shared with a longer one).

use std::time::{Duration, Instant};

use huaweicloud_exporter::sim::{Endpoint, FaultKind};

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
    assert!(app.sim.calls(Endpoint::KoophoneTask) >= 1, "it polled");
}

#[tokio::test]
async fn a_hung_task_query_is_cut_by_the_scrape_timeout_header() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    app.sim
        .set_fault(Endpoint::KoophoneTask, fault(FaultKind::Hang));
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
async fn a_probe_cut_short_by_its_callers_deadline_is_not_kept() {
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

    // Assert: it ran its own command instead of being served the caller-made timeout.
    assert_eq!(m.value("huaweicloud_koophone_probe_cached", &[]), 0.0);
    assert_eq!(m.value("probe_success", &[]), 1.0);
    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 2);
    // That full result is kept.
    let again = probe(&app, &q).await;
    assert_eq!(again.value("huaweicloud_koophone_probe_cached", &[]), 1.0);
    assert_eq!(again.value("probe_success", &[]), 1.0);
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
        app.sim.calls(Endpoint::KoophoneAsyncCommand),
        0,
        "no time to poll, so no command"
    );
    assert_eq!(commands_total(&app, "boot", "too_short").await, 1.0);
    let m = probe(&app, &q).await;
    assert_eq!(m.value("huaweicloud_koophone_probe_cached", &[]), 0.0);
    assert_eq!(m.value("probe_success", &[]), 1.0);
}

#[tokio::test]
async fn a_probe_never_shares_a_run_with_a_shorter_deadline() {
    // Jobs take 1.5 s. A probe allowing 1 s starts a run; a normal probe sent once that run's
    // command is out must not join it; a second short probe, sent once the normal run's command
    // is out too, joins a run (either gives it enough time) rather than sending a command.
    let (app, healthy) = probe_app(Duration::from_millis(1500)).await;
    let q = format!("module=boot&target={}", healthy[0]);
    let sim = &app.sim;
    let commands_sent = |n: u64| async move {
        while sim.calls(Endpoint::KoophoneAsyncCommand) < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let short = get(&app, &q, Some("1.5"));
    let normal = async {
        commands_sent(1).await;
        get(&app, &q, None).await
    };
    let short_again = async {
        commands_sent(2).await;
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
    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 2);
    assert_eq!(commands_total(&app, "boot", "command").await, 2.0);
    assert_eq!(commands_total(&app, "boot", "shared").await, 1.0);
}
