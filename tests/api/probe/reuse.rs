//! One command for many askers: identical probes in flight share a run, and a result is
//! answered again within `min_interval` (a failure for a quarter of it).

use std::time::Duration;

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, FaultSpec};

use crate::helpers::*;

use super::{commands_total, get, probe, probe_app};

#[tokio::test]
async fn concurrent_identical_probes_share_one_command() {
    let (app, _) = probe_app(Duration::from_millis(300)).await;

    let answers =
        futures::future::join_all((0..5).map(|_| get(&app, "module=boot&target=healthy", None)))
            .await;

    for (status, _, text) in &answers {
        assert_eq!(*status, 200, "{text}");
        assert_eq!(Exposition::parse(text).value("probe_success", &[]), 1.0);
    }
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 1);
    assert_eq!(commands_total(&app, "boot", "command").await, 1.0);
    let joined =
        commands_total(&app, "boot", "shared").await + commands_total(&app, "boot", "cached").await;
    assert_eq!(joined, 4.0);
}

#[tokio::test]
async fn a_repeat_within_min_interval_is_answered_from_the_last_result() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    let first = probe(&app, "module=boot&target=healthy").await;

    let again = probe(&app, "module=boot&target=healthy").await;

    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 1);
    assert_eq!(again.value("huaweicloud_koophone_probe_cached", &[]), 1.0);
    assert_eq!(again.value("probe_success", &[]), 1.0);
    assert_eq!(
        again.value("probe_duration_seconds", &[]),
        first.value("probe_duration_seconds", &[]),
        "the same run answers"
    );
    assert!(again.value("huaweicloud_koophone_probe_result_age_seconds", &[]) >= 0.0);
    assert_eq!(commands_total(&app, "boot", "cached").await, 1.0);
    // Another target, or another module on the same target, is another probe.
    probe(&app, &format!("module=boot&target={}", healthy[0])).await;
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 2);
    probe(&app, &format!("module=any&target={}", healthy[0])).await;
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 3);
}

#[tokio::test]
async fn after_min_interval_a_new_command_runs() {
    let (app, healthy) = probe_app(Duration::from_millis(100)).await;
    let q = format!("module=often&target={}", healthy[0]);
    probe(&app, &q).await;
    probe(&app, &q).await;
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let m = probe(&app, &q).await;

    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 2);
    assert_eq!(m.value("huaweicloud_koophone_probe_cached", &[]), 0.0);
}

#[tokio::test]
async fn a_failure_is_kept_a_quarter_of_min_interval() {
    // min_interval 4 s: a failure is served again for 1 s, a success for 4 s.
    let (app, healthy) = probe_app(Duration::from_millis(100)).await;
    app.sim.set_fault(
        &op::KOOPHONE_ASYNC_COMMAND,
        FaultSpec {
            times: Some(1),
            ..fault(FaultKind::ServerError)
        },
    );
    let q = format!("module=patient&target={}", healthy[0]);
    assert_eq!(probe(&app, &q).await.value("probe_success", &[]), 0.0);
    let cached = probe(&app, &q).await;
    assert_eq!(cached.value("huaweicloud_koophone_probe_cached", &[]), 1.0);
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 1);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let m = probe(&app, &q).await;

    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 2);
    assert_eq!(m.value("probe_success", &[]), 1.0);
}
