//! Black-box tests of the simulated Huawei Cloud over HTTP: the simulator on port 0, reqwest
//! against it, assertions on status codes, headers and parsed JSON.

use std::time::Duration;

use huaweicloud_exporter::sim::{Endpoint, FaultKind, FaultSpec, SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};

const STATIC_TOKEN: &str = "demo-static-token";

async fn spawn(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(config, listener).await.unwrap()
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

fn header<'a>(a: &'a Answer, name: &str) -> &'a str {
    a.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn iam(sim: &SimHandle, user: &str, password: &str, project: &str) -> Answer {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "password": password, "domain": {"name": "demo-domain"}}}},
        "scope": {"project": {"id": project}}}});
    let resp = reqwest::Client::new()
        .post(format!("{}/v3/auth/tokens", sim.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    answer(resp).await
}

async fn koophone_post(sim: &SimHandle, path: &str, token: Option<&str>, body: &str) -> Answer {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .header("content-type", "application/json")
        .header("x-request-id", "req-123")
        .body(body.to_string());
    if let Some(token) = token {
        req = req.header("x-auth-token", token);
    }
    answer(req.send().await.unwrap()).await
}

async fn get(sim: &SimHandle, path: &str, token: &str) -> Answer {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .header("x-auth-token", token)
        .header("x-request-id", "req-456")
        .send()
        .await
        .unwrap();
    answer(resp).await
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|c| c.is_ascii_hexdigit())
}

#[tokio::test]
async fn iam_token_then_batch_status() {
    let sim = spawn(SimConfig::default()).await;
    let pid = sim.project_id();

    let token = iam(&sim, "monitoring", "demo-password", &pid).await;
    assert_eq!(token.status, 201);
    let subject = header(&token, "x-subject-token").to_string();
    assert!(subject.len() > 100);
    assert!(is_hex32(header(&token, "x-request-id")));
    let expires = token.body["token"]["expires_at"].as_str().unwrap();
    assert!(expires.ends_with('Z') && expires.len() == "2026-01-01T00:00:00.000000Z".len());
    assert!(humantime::parse_rfc3339(expires).is_ok());
    assert_eq!(token.body["token"]["methods"], json!(["password"]));
    assert_eq!(token.body["token"]["project"]["id"], pid);
    assert_eq!(token.body["token"]["user"]["name"], "monitoring");

    let status = koophone_post(
        &sim,
        "/v1/instances/batch-query-status",
        Some(&subject),
        r#"{"instance_ids":["a44uhlf7","efjy72gs","notthere"]}"#,
    )
    .await;
    assert_eq!(status.status, 200);
    assert_eq!(header(&status, "x-request-id"), "req-123");
    assert_eq!(status.body["error_code"], "0");
    assert_eq!(status.body["error_msg"], "ok");
    let results = status.body["data"]["status_results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["instance_id"], "a44uhlf7");
    assert!((0..=7).contains(&results[0]["status"].as_i64().unwrap()));
    assert_eq!(sim.calls(Endpoint::KoophoneBatchStatus), 1);
    assert_eq!(sim.calls(Endpoint::IamToken), 1);
}

#[tokio::test]
async fn iam_rejections_use_the_iam_shape() {
    let sim = spawn(SimConfig::default()).await;
    let pid = sim.project_id();
    let wrong = iam(&sim, "monitoring", "nope", &pid).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.body,
        json!({"error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}})
    );
    assert!(wrong.headers.get("x-subject-token").is_none());
    let project = iam(&sim, "monitoring", "demo-password", "ffff").await;
    assert_eq!(project.status, 401);
    assert_eq!(project.body["error"]["code"], 401);

    let resp = reqwest::Client::new()
        .post(format!("{}/v3/auth/tokens", sim.base_url()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    let malformed = answer(resp).await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body["error"]["code"], 400);
}

#[tokio::test]
async fn service_calls_need_a_live_token() {
    let sim = spawn(SimConfig::default()).await;
    let pid = sim.project_id();
    let none = koophone_post(
        &sim,
        "/v1/instances/batch-query-status",
        None,
        r#"{"instance_ids":["a44uhlf7"]}"#,
    )
    .await;
    assert_eq!(none.status, 401);
    assert_eq!(none.body["error_code"], "APIGW.0301");
    assert!(none.body["error_msg"]
        .as_str()
        .unwrap()
        .starts_with("Incorrect IAM authentication information: "));

    let bogus = get(&sim, &format!("/v2/{pid}/instances/status"), "bogus").await;
    assert_eq!(bogus.status, 401);
    assert_eq!(bogus.body["error_code"], "APIGW.0301");

    let token = iam(&sim, "monitoring", "demo-password", &pid).await;
    let token = header(&token, "x-subject-token").to_string();
    let path = format!("/v2/{pid}/instances/status");
    assert_eq!(get(&sim, &path, &token).await.status, 200);
    sim.expire_tokens();
    let revoked = get(&sim, &path, &token).await;
    assert_eq!(revoked.status, 401);
    assert_eq!(
        revoked.body["error_msg"],
        "Incorrect IAM authentication information: token expired"
    );
    assert_eq!(get(&sim, &path, STATIC_TOKEN).await.status, 200);
}

#[tokio::test]
async fn tokens_expire_after_ttl() {
    let sim = spawn(SimConfig {
        token_ttl: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await;
    let pid = sim.project_id();
    let token = iam(&sim, "monitoring", "demo-password", &pid).await;
    let token = header(&token, "x-subject-token").to_string();
    let path = format!("/v2/{pid}/instances/status");
    assert_eq!(get(&sim, &path, &token).await.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&sim, &path, &token).await.status, 401);
}

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
        Endpoint::KoophoneBatchStatus,
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
    assert_eq!(
        jobs[1],
        json!({"job_id": cmd_jobs[1]["job_id"], "status": -1, "error_code": "CPS0005",
               "error_msg": "Phone not found.", "execute_msg": null})
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

#[tokio::test]
async fn fault_with_times_applies_then_clears() {
    let sim = spawn(SimConfig::default()).await;
    let path = format!("/v2/{}/instances/status", sim.project_id());
    sim.set_fault(
        Endpoint::DcsStatus,
        FaultSpec {
            kind: Some(FaultKind::ServerError),
            times: Some(1),
            ..FaultSpec::default()
        },
    );
    let first = get(&sim, &path, STATIC_TOKEN).await;
    assert_eq!(first.status, 500);
    assert!(first.body["error_code"].is_string());
    assert!(first.body["error_msg"].is_string());
    let second = get(&sim, &path, STATIC_TOKEN).await;
    assert_eq!(second.status, 200);
    assert!(second.body["running_count"].as_u64().unwrap() > 0);
    assert_eq!(sim.calls(Endpoint::DcsStatus), 2);

    // The same through the control routes.
    let client = reqwest::Client::new();
    let put = client
        .put(format!("{}/_sim/faults/dcs_status", sim.base_url()))
        .body(r#"{"kind":"throttled","times":1,"retry_after_secs":7}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let listed = answer(
        client
            .get(format!("{}/_sim/faults", sim.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed.body["dcs_status"]["kind"], "throttled");
    let throttled = get(&sim, &path, STATIC_TOKEN).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(header(&throttled, "retry-after"), "7");
    assert_eq!(throttled.body["error_code"], "APIG.0308");
    assert_eq!(get(&sim, &path, STATIC_TOKEN).await.status, 200);

    let calls = answer(
        client
            .get(format!("{}/_sim/calls", sim.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(calls.body["dcs_status"], 4);
    let bad = client
        .put(format!("{}/_sim/faults/nope", sim.base_url()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 404);
}

#[tokio::test]
async fn body_faults() {
    let sim = spawn(SimConfig::default()).await;
    let path = format!("/v2/{}/instances/status", sim.project_id());
    let raw = |kind| {
        sim.set_fault(
            Endpoint::DcsStatus,
            FaultSpec {
                kind: Some(kind),
                times: Some(1),
                ..FaultSpec::default()
            },
        );
        let url = format!("{}{path}", sim.base_url());
        async move {
            let resp = reqwest::Client::new()
                .get(url)
                .header("x-auth-token", STATIC_TOKEN)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.bytes().await.unwrap())
        }
    };
    let (status, body) = raw(FaultKind::Malformed).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    let (_, body) = raw(FaultKind::Truncated).await;
    assert!(!body.is_empty() && serde_json::from_slice::<Value>(&body).is_err());
    let (_, body) = raw(FaultKind::Empty).await;
    assert!(body.is_empty());
    let (_, body) = raw(FaultKind::WrongTypes).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["running_count"].is_string());
    let (_, body) = raw(FaultKind::NewState).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["hibernating_count"].is_u64() && v["valkey"]["running_count"].is_u64());

    sim.set_fault(
        Endpoint::DcsStatus,
        FaultSpec {
            kind: Some(FaultKind::Huge),
            ..FaultSpec::default()
        },
    );
    let huge = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .header("x-auth-token", STATIC_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(huge.content_length().unwrap() > 50_000_000);
    drop(huge);

    sim.set_fault(
        Endpoint::DcsStatus,
        FaultSpec {
            kind: Some(FaultKind::Hang),
            ..FaultSpec::default()
        },
    );
    let hung = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .header("x-auth-token", STATIC_TOKEN)
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(hung.is_err_and(|e| e.is_timeout()));
    sim.clear_faults();
    assert_eq!(get(&sim, &path, STATIC_TOKEN).await.status, 200);
    sim.shutdown();
}

#[tokio::test]
async fn token_expired_fault_replaces_auth() {
    let sim = spawn(SimConfig::default()).await;
    sim.set_fault(
        Endpoint::KoophoneBatchStatus,
        FaultSpec {
            kind: Some(FaultKind::TokenExpired),
            times: Some(1),
            ..FaultSpec::default()
        },
    );
    let body = r#"{"instance_ids":["a44uhlf7"]}"#;
    let path = "/v1/instances/batch-query-status";
    let first = koophone_post(&sim, path, Some(STATIC_TOKEN), body).await;
    assert_eq!(first.status, 401);
    assert_eq!(first.body["error_code"], "APIGW.0301");
    let second = koophone_post(&sim, path, Some(STATIC_TOKEN), body).await;
    assert_eq!(second.body["error_code"], "0");
}

#[tokio::test]
async fn dcs_status_answers() {
    let sim = spawn(SimConfig::default()).await;
    let pid = sim.project_id();
    let with = get(
        &sim,
        &format!("/v2/{pid}/instances/status?include_failure=true"),
        STATIC_TOKEN,
    )
    .await;
    assert_eq!(with.status, 200);
    assert!(is_hex32(header(&with, "x-request-id")));
    for state in [
        "paying",
        "freezing",
        "migrating",
        "flushing",
        "upgrading",
        "restoring",
        "extending",
        "creating",
        "running",
        "error",
        "frozen",
        "createfailed",
        "restarting",
    ] {
        let key = format!("{state}_count");
        let top = with.body[&key].as_u64().unwrap();
        let redis = with.body["redis"][&key].as_u64().unwrap();
        let memcached = with.body["memcached"][&key].as_u64().unwrap();
        assert_eq!(top, redis + memcached, "{key}");
        assert!(top > 0, "{key}");
    }
    let without = get(&sim, &format!("/v2/{pid}/instances/status"), STATIC_TOKEN).await;
    assert!(without.body.get("createfailed_count").is_none());
    let wrong = get(&sim, "/v2/ffff/instances/status", STATIC_TOKEN).await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.body["error_code"]
        .as_str()
        .unwrap()
        .starts_with("DCS."));
}

#[tokio::test]
async fn ddm_pagination_and_limits() {
    let sim = spawn(SimConfig::default()).await;
    let base = format!(
        "/v3/{}/instances/1f5c9fd6cd984056ba89c8c87cc03278in09/backups/restorable-instances",
        sim.project_id()
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = get(
            &sim,
            &format!("{base}?offset={}&limit=128", seen.len()),
            STATIC_TOKEN,
        )
        .await;
        assert_eq!(page.status, 200);
        assert_eq!(page.body["total"], 300);
        assert_eq!(page.body["limit"], 128);
        let items = page.body["instances"].as_array().unwrap().clone();
        pages += 1;
        if items.is_empty() {
            break;
        }
        seen.extend(items.into_iter().map(|t| t["instance_id"].clone()));
        if seen.len() >= 300 {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 300);
    let unique: std::collections::HashSet<String> = seen.iter().map(|v| v.to_string()).collect();
    assert_eq!(unique.len(), 300);

    let default = get(&sim, &base, STATIC_TOKEN).await;
    assert_eq!(default.body["limit"], 10);
    assert_eq!(default.body["offset"], 0);
    assert_eq!(default.body["instances"].as_array().unwrap().len(), 10);
    let first = &default.body["instances"][0];
    for field in [
        "instance_id",
        "instance_name",
        "status",
        "unavailable_reason",
        "vpc_name",
    ] {
        assert!(first[field].is_string(), "{field}");
    }
    assert!(first["available"].is_boolean());

    for bad in ["limit=0", "limit=129", "limit=x", "offset=-1"] {
        let a = get(&sim, &format!("{base}?{bad}"), STATIC_TOKEN).await;
        assert_eq!(a.status, 400, "{bad}");
        assert_eq!(
            a.body,
            json!({"error_code": "DBS.280001", "error_msg": "Parameter error."})
        );
    }
    let unknown = get(
        &sim,
        &format!(
            "/v3/{}/instances/nope/backups/restorable-instances",
            sim.project_id()
        ),
        STATIC_TOKEN,
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["error_code"], "DBS.280108");
}

#[tokio::test]
async fn fleet_moves_with_advance() {
    let sim = spawn(SimConfig {
        tick: Duration::ZERO,
        phones: 1_000,
        ..SimConfig::default()
    })
    .await;
    let ids = sim.phone_ids();
    assert_eq!(ids.len(), 1_000);
    assert_eq!(&ids[..2], &["a44uhlf7", "efjy72gs"]);
    let body = json!({ "instance_ids": &ids[..100] }).to_string();
    let path = "/v1/instances/batch-query-status";
    let before = koophone_post(&sim, path, Some(STATIC_TOKEN), &body).await;
    let again = koophone_post(&sim, path, Some(STATIC_TOKEN), &body).await;
    assert_eq!(before.body, again.body, "frozen fleet must not move");
    sim.advance(3);
    let after = koophone_post(&sim, path, Some(STATIC_TOKEN), &body).await;
    assert_eq!(
        after.body["data"]["status_results"]
            .as_array()
            .unwrap()
            .len(),
        100
    );
    assert_ne!(before.body, after.body);

    let resp = reqwest::Client::new()
        .post(format!("{}/_sim/advance?ticks=2", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer(resp).await.body["tick"], 5);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_like_the_gateway() {
    let sim = spawn(SimConfig::default()).await;
    let missing = get(&sim, "/v9/nothing", STATIC_TOKEN).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error_code"], "APIGW.0101");
    assert!(is_hex32(header(&missing, "x-request-id")));
    let resp = reqwest::Client::new()
        .delete(format!("{}/v3/auth/tokens", sim.base_url()))
        .send()
        .await
        .unwrap();
    let wrong_method = answer(resp).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.body["error_code"], "APIGW.0101");
}
