//! KooPhone: the listing (`ListInstances`), batch status (`BatchShowInstance`), the async
//! command (`AsyncInvokeInstance`) and its task (`ExecuteJob`). Errors come inside HTTP 200 or as
//! a 400 with `ErrorInfo`, both of which the definitions give a schema.

use serde_json::json;

use crate::{call, definition, frozen, get, post, Answer};

fn code(a: &Answer) -> &str {
    a.body["error_code"]
        .as_str()
        .or_else(|| a.body["data"]["error_code"].as_str())
        .unwrap_or_default()
}

#[tokio::test]
async fn koophone_listing_answers_as_defined() {
    let sim = frozen().await;
    let def = definition("KooPhone", "ListInstances");
    let list = "/v1/instances/batch-query?x-request-id=contract-0001";
    let ok = get(&sim, &format!("{list}&page_no=1&page_size=100")).await;
    assert_eq!((ok.status, code(&ok)), (200, "0"), "{}", ok.body);
    assert_eq!(
        ok.body["data"]["result"].as_array().map(Vec::len),
        Some(100)
    );
    def.check(&ok, &json!({}), &[]);
    let ranged = get(
        &sim,
        &format!("{list}&page_no=1&page_size=10&query_start_time=2023-08-15%2014:30:45&query_end_time=2099-01-01%2000:00:00"),
    )
    .await;
    assert_eq!(
        (ranged.status, code(&ranged)),
        (200, "0"),
        "{}",
        ranged.body
    );
    def.check(&ranged, &json!({}), &[]);

    for (query, status, expected) in [
        ("/v1/instances/batch-query?page_no=1&page_size=10".to_string(), 200, "KOOPHONE.API.0002"),
        (format!("{list}&page_no=1&page_size=0"), 400, "KOOPHONE.API.1000"),
        (format!("{list}&page_no=1&page_size=201"), 400, "KOOPHONE.API.1000"),
        (format!("{list}&page_no=0&page_size=10"), 400, "KOOPHONE.API.1000"),
        (format!("{list}&page_no=1&page_size=10&query_start_time=yesterday"), 400, "KOOPHONE.API.5002"),
        (format!("{list}&page_no=1&page_size=10&query_end_time=2023-13-45%2099:00:00"), 400, "KOOPHONE.API.5002"),
        (
            format!("{list}&page_no=1&page_size=10&query_start_time=2024-01-02%2000:00:00&query_end_time=2024-01-01%2000:00:00"),
            400,
            "KOOPHONE.API.5004",
        ),
    ] {
        let a = get(&sim, &query).await;
        assert_eq!((a.status, code(&a)), (status, expected), "{query}: {}", a.body);
        def.check(&a, &json!({}), &[]);
    }
}

#[tokio::test]
async fn koophone_batch_status_answers_as_defined() {
    let sim = frozen().await;
    let def = definition("KooPhone", "BatchShowInstance");
    let path = "/v1/instances/batch-query-status";
    let ids = sim.phone_ids();
    let ok = post(&sim, path, json!({"instance_ids": ids[..100]})).await;
    assert_eq!((ok.status, code(&ok)), (200, "0"), "{}", ok.body);
    def.check(&ok, &json!({}), &[]);
    let no_id = call(
        &sim,
        reqwest::Method::POST,
        path,
        None,
        Some(json!({"instance_ids": ids[..1]})),
    )
    .await;
    assert_eq!(
        (no_id.status, code(&no_id)),
        (200, "KOOPHONE.API.0002"),
        "{}",
        no_id.body
    );
    def.check(&no_id, &json!({}), &[]);
    let bad = post(&sim, path, json!({"instance_ids": ["x".repeat(33)]})).await;
    assert_eq!(
        (bad.status, code(&bad)),
        (400, "KOOPHONE.API.1000"),
        "{}",
        bad.body
    );
    def.check(&bad, &json!({}), &[]);
}

#[tokio::test]
async fn koophone_command_and_task_answer_as_defined() {
    let sim = huaweicloud_exporter::sim::SimConfig {
        tick: std::time::Duration::ZERO,
        job_delay: std::time::Duration::ZERO,
        ..Default::default()
    };
    let sim = crate::spawn(sim).await;
    let command = definition("KooPhone", "AsyncInvokeInstance");
    let task = definition("KooPhone", "ExecuteJob");
    let mut ids: Vec<String> = sim.phone_ids()[..99].to_vec();
    // A phone the account does not have: its job fails, "Phone not found."
    ids.push("gone0000".to_string());
    let ok = post(
        &sim,
        "/v1/instances/async-command",
        json!({"command": "getprop sys.boot_completed", "instance_ids": ids}),
    )
    .await;
    assert_eq!((ok.status, code(&ok)), (200, "0"), "{}", ok.body);
    command.check(&ok, &json!({}), &[]);
    let bad = post(
        &sim,
        "/v1/instances/async-command",
        json!({"command": "rm -rf / ; reboot", "instance_ids": ids[..1]}),
    )
    .await;
    assert_eq!(
        (bad.status, code(&bad)),
        (400, "KOOPHONE.API.1000"),
        "{}",
        bad.body
    );
    command.check(&bad, &json!({}), &[]);

    let task_id = ok.body["data"]["task_id"].as_str().unwrap();
    let done = get(&sim, &format!("/v1/instances/tasks/{task_id}")).await;
    assert_eq!((done.status, code(&done)), (200, "0"), "{}", done.body);
    let jobs = done.body["data"]["jobs"].as_array().unwrap();
    assert!(jobs.iter().any(|j| j["status"] == 2), "{}", done.body);
    assert!(jobs.iter().any(|j| j["status"] == -1), "{}", done.body);
    task.check(&done, &json!({}), &[]);
    let unknown = get(&sim, "/v1/instances/tasks/0000000000000000000000000000dead").await;
    assert_eq!(
        (unknown.status, code(&unknown)),
        (400, "KOOPHONE.API.1323"),
        "{}",
        unknown.body
    );
    task.check(&unknown, &json!({}), &[]);
}
