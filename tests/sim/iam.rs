//! IAM: tokens, their rejections and expiry, and calls that need a live one.

use super::*;

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
    assert_eq!(sim.calls(&op::KOOPHONE_BATCH_STATUS), 1);
    assert_eq!(sim.calls(&op::IAM_TOKEN), 1);
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
