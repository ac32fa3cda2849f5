//! What a probe reports: success, output matched, and each phone's job or the reason it has
//! none (missing from the fleet, an upstream fault, a shared job id), for one phone to 150.

use std::time::Duration;

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, SimConfig};

use crate::helpers::*;

use super::{error_code, job, probe, probe_app};

#[tokio::test]
async fn one_phone_succeeds_when_its_output_matches() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    let id = &healthy[0];

    let m = probe(&app, &format!("module=boot&target={id}")).await;

    assert_eq!(m.value("probe_success", &[]), 1.0);
    assert!(m.value("probe_duration_seconds", &[]) > 0.0);
    assert_eq!(job(&m, "huaweicloud_koophone_probe_job_success", id), 1.0);
    assert_eq!(
        job(&m, "huaweicloud_koophone_probe_output_matched", id),
        1.0
    );
    assert!(m
        .find("huaweicloud_koophone_probe_job_error_info", &[])
        .is_empty());
    assert_eq!(m.value("huaweicloud_koophone_probe_cached", &[]), 0.0);
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 1);
    assert!(m.helps.contains_key("probe_success"));
}

#[tokio::test]
async fn a_group_runs_one_command_for_all_its_phones() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;

    let m = probe(&app, "module=boot&target=healthy").await;

    assert_eq!(m.value("probe_success", &[]), 1.0);
    assert_eq!(
        m.find("huaweicloud_koophone_probe_job_success", &[]).len(),
        3
    );
    for id in &healthy {
        assert_eq!(job(&m, "huaweicloud_koophone_probe_job_success", id), 1.0);
        assert_eq!(
            job(&m, "huaweicloud_koophone_probe_output_matched", id),
            1.0
        );
    }
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 1);
}

#[tokio::test]
async fn an_expect_mismatch_fails_the_probe_but_not_the_job() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    let id = &healthy[0];

    let m = probe(&app, &format!("module=model&target={id}")).await;

    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(job(&m, "huaweicloud_koophone_probe_job_success", id), 1.0);
    assert_eq!(
        job(&m, "huaweicloud_koophone_probe_output_matched", id),
        0.0
    );
    assert!(
        m.find("huaweicloud_koophone_probe_job_error_info", &[])
            .is_empty(),
        "the job itself did not fail"
    );
}

#[tokio::test]
async fn without_expect_any_output_matches() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;

    let m = probe(&app, &format!("module=any&target={}", healthy[1])).await;

    assert_eq!(m.value("probe_success", &[]), 1.0);
    assert_eq!(
        job(&m, "huaweicloud_koophone_probe_output_matched", &healthy[1]),
        1.0
    );
}

#[tokio::test]
async fn a_configured_phone_missing_from_the_fleet_fails_with_its_error_code() {
    let (app, _) = probe_app(Duration::from_millis(200)).await;

    let m = probe(&app, "module=boot&target=gone0001").await;

    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(
        job(&m, "huaweicloud_koophone_probe_job_success", "gone0001"),
        0.0
    );
    assert_eq!(
        m.value(
            "huaweicloud_koophone_probe_job_error_info",
            &[("instance_id", "gone0001"), ("error_code", "CPS0005")]
        ),
        1.0
    );
}

#[tokio::test]
async fn an_upstream_fault_answers_200_with_probe_success_0() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    app.sim
        .set_fault(&op::KOOPHONE_ASYNC_COMMAND, fault(FaultKind::ServerError));
    let id = &healthy[0];

    let m = probe(&app, &format!("module=boot&target={id}")).await;

    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(job(&m, "huaweicloud_koophone_probe_job_success", id), 0.0);
    assert_eq!(
        m.value(
            "huaweicloud_koophone_probe_job_error_info",
            &[("instance_id", id), ("error_code", "upstream_server_error")]
        ),
        1.0
    );
    assert_eq!(
        app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND),
        1,
        "a command is never retried"
    );
}

#[tokio::test]
async fn more_than_100_phones_take_several_calls() {
    let app = spawn_app(Opts {
        sim: SimConfig {
            job_delay: Duration::from_millis(100),
            ..frozen_sim(150)
        },
        config: r#"
clouds:
  - name: pw
    region: ap-southeast-1
    project_id: {project}
    auth: { token: { value: demo-static-token } }
    endpoints: {endpoints}
    koophone: { instance_ids: [{phones}] }
probes:
  any:
    cloud: pw
    command: echo hello
    poll_interval: 50ms
    groups:
      all: [{phones}]
"#
        .into(),
    })
    .await;

    let m = probe(&app, "module=any&target=all").await;

    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 2);
    assert_eq!(
        m.find("huaweicloud_koophone_probe_job_success", &[]).len(),
        150
    );
    let succeeded = m
        .find("huaweicloud_koophone_probe_job_success", &[])
        .iter()
        .filter(|s| s.value == 1.0)
        .count();
    assert_eq!(
        succeeded
            + m.find("huaweicloud_koophone_probe_job_error_info", &[])
                .len(),
        150,
        "every phone either ran the command or says why not"
    );
}

#[tokio::test]
async fn phones_given_the_same_job_id_fail_and_none_vanishes() {
    let (app, mut healthy) = probe_app(Duration::from_millis(200)).await;
    healthy.sort();
    // The simulator gives the first two phones of the call (ids are sent sorted) one job id.
    app.sim.set_fault(
        &op::KOOPHONE_ASYNC_COMMAND,
        fault(FaultKind::DuplicateJobIds),
    );

    let m = probe(&app, "module=boot&target=healthy").await;

    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(
        m.find("huaweicloud_koophone_probe_job_success", &[]).len(),
        3,
        "every phone asked appears"
    );
    for id in &healthy[..2] {
        assert_eq!(job(&m, "huaweicloud_koophone_probe_job_success", id), 0.0);
        assert_eq!(error_code(&m, id), ["duplicate_job_id"], "{id}");
    }
    assert_eq!(
        job(&m, "huaweicloud_koophone_probe_job_success", &healthy[2]),
        1.0
    );
    assert!(error_code(&m, &healthy[2]).is_empty());
}

#[tokio::test]
async fn a_task_answer_with_conflicting_rows_for_a_job_fails_that_phone() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    // Every job listed twice under its id, the copy saying it failed.
    app.sim
        .set_fault(&op::KOOPHONE_TASK, fault(FaultKind::DuplicateJobIds));

    let m = probe(&app, "module=boot&target=healthy").await;

    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(
        m.find("huaweicloud_koophone_probe_job_success", &[]).len(),
        3
    );
    for id in &healthy {
        assert_eq!(error_code(&m, id), ["duplicate_job_id"], "{id}");
    }
}
