//! KooPhone: rejections as the pages list them, async commands, tasks and their jobs.

use super::*;

#[tokio::test]
async fn koophone_rejections_are_http_400_as_the_pages_list_them() {
    let sim = spawn(SimConfig::default()).await;
    let path = "/v1/instances/batch-query-status";
    let long = format!(r#"{{"instance_ids":["{}"]}}"#, "x".repeat(33));
    let many = json!({ "instance_ids": (0..101).map(|i| format!("p{i}")).collect::<Vec<_>>() })
        .to_string();
    for body in [
        "{}",
        r#"{"instance_ids":[]}"#,
        r#"{"instance_ids":[7]}"#,
        "not json",
        long.as_str(),
        many.as_str(),
    ] {
        let a = koophone_post(&sim, path, Some(STATIC_TOKEN), body).await;
        assert_eq!(a.status, 400, "{body}");
        assert_eq!(a.body["error_code"], "KOOPHONE.API.1000", "{body}");
    }

    let no_request_id = reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .header("x-auth-token", STATIC_TOKEN)
        .body(r#"{"instance_ids":["a44uhlf7"]}"#)
        .send()
        .await
        .unwrap();
    let a = answer(no_request_id).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["error_code"], "KOOPHONE.API.0002");
    assert!(is_hex32(header(&a, "x-request-id")));

    let bad_cmd = koophone_post(
        &sim,
        "/v1/instances/async-command",
        Some(STATIC_TOKEN),
        r#"{"command":"ls; reboot","instance_ids":["a44uhlf7"]}"#,
    )
    .await;
    assert_eq!(bad_cmd.status, 400);
    assert_eq!(bad_cmd.body["error_code"], "KOOPHONE.API.1000");

    // `errors_in_200` serves the old form: the same body inside HTTP 200.
    sim.set_fault(
        &op::KOOPHONE_BATCH_STATUS,
        FaultSpec {
            kind: Some(FaultKind::ErrorsIn200),
            ..FaultSpec::default()
        },
    );
    let old = koophone_post(
        &sim,
        path,
        Some(STATIC_TOKEN),
        r#"{"instance_ids":["a44uhlf7"]}"#,
    )
    .await;
    assert_eq!(old.status, 200);
    assert_eq!(old.body["error_code"], "KOOPHONE.API.1000");
}

#[tokio::test]
async fn async_command_and_tasks() {
    let sim = spawn(SimConfig {
        job_delay: Duration::ZERO,
        tick: Duration::ZERO,
        ..SimConfig::default()
    })
    .await;
    let unknown = get(
        &sim,
        "/v1/instances/tasks/6837531fd3f54550927b930180a706bf",
        STATIC_TOKEN,
    )
    .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.body,
        json!({"error_code": "KOOPHONE.API.1323", "error_msg": "The task does not exist."})
    );

    let sent = koophone_post(
        &sim,
        "/v1/instances/async-command",
        Some(STATIC_TOKEN),
        r#"{"command":"echo hello","instance_ids":["a44uhlf7","zzzzzzzz"]}"#,
    )
    .await;
    assert_eq!(sent.body["error_code"], "0");
    let task_id = sent.body["data"]["task_id"].as_str().unwrap();
    assert!(is_hex32(task_id));
    let cmd_jobs = sent.body["data"]["cmd_jobs"].as_array().unwrap();
    assert_eq!(cmd_jobs.len(), 2);
    assert_eq!(cmd_jobs[1]["instance_id"], "zzzzzzzz");

    let task = get(
        &sim,
        &format!("/v1/instances/tasks/{task_id}"),
        STATIC_TOKEN,
    )
    .await;
    assert_eq!(task.body["error_code"], "0");
    let jobs = task.body["data"]["jobs"].as_array().unwrap();
    assert_eq!(jobs[0]["job_id"], cmd_jobs[0]["job_id"]);
    // a44uhlf7 may sit in an exception state at this tick; then its job fails.
    if jobs[0]["status"] == 2 {
        assert_eq!(jobs[0]["execute_msg"], "hello");
        assert_eq!(jobs[0]["error_code"], "");
    } else {
        assert_eq!(jobs[0]["status"], -1);
    }
    // No output, no `execute_msg` (the definition types it a string; the page's example has null).
    assert_eq!(
        jobs[1],
        json!({"job_id": cmd_jobs[1]["job_id"], "status": -1, "error_code": "CPS0005",
               "error_msg": "Phone not found."})
    );
}

#[tokio::test]
async fn jobs_run_for_job_delay() {
    let sim = spawn(SimConfig {
        job_delay: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await;
    let sent = koophone_post(
        &sim,
        "/v1/instances/async-command",
        Some(STATIC_TOKEN),
        r#"{"command":"getprop sys.boot_completed","instance_ids":["a44uhlf7"]}"#,
    )
    .await;
    let task_id = sent.body["data"]["task_id"].as_str().unwrap();
    let task = get(
        &sim,
        &format!("/v1/instances/tasks/{task_id}"),
        STATIC_TOKEN,
    )
    .await;
    assert_eq!(task.body["data"]["jobs"][0]["status"], 1);
}
