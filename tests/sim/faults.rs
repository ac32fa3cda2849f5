//! Faults: applied for a number of calls then cleared, body faults, token expiry.

use super::*;

#[tokio::test]
async fn fault_with_times_applies_then_clears() {
    let sim = spawn(SimConfig::default()).await;
    let path = format!("/v2/{}/instances/status", sim.project_id());
    sim.set_fault(
        &op::DCS_STATUS,
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
    assert_eq!(sim.calls(&op::DCS_STATUS), 2);

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
            &op::DCS_STATUS,
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
        &op::DCS_STATUS,
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
        &op::DCS_STATUS,
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
        &op::KOOPHONE_BATCH_STATUS,
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
async fn huge_request_id_answers_the_error_with_a_100_kb_id() {
    let sim = spawn(SimConfig::default()).await;
    let path = format!("/v2/{}/instances/status", sim.project_id());
    sim.set_fault(&op::DCS_STATUS, fault_of(FaultKind::HugeRequestId));
    let a = get(&sim, &path, STATIC_TOKEN).await;
    assert_eq!(a.status, 400, "the service's api_error");
    let id = header(&a, "x-request-id");
    assert_eq!(id.len(), huaweicloud_exporter::sim::HUGE_REQUEST_ID_BYTES);
    assert!(
        id.contains(' ') && id.contains('"') && id.contains('<'),
        "no id"
    );
}

#[tokio::test]
async fn control_characters_in_names_reach_every_name_of_a_listing() {
    let sim = spawn(SimConfig::default()).await;
    sim.set_fault(&op::DDM_LIST, fault_of(FaultKind::ControlCharactersInNames));
    let a = get(
        &sim,
        &format!("/v1/{}/instances?offset=0&limit=128", sim.project_id()),
        STATIC_TOKEN,
    )
    .await;
    assert_eq!(a.status, 200);
    let rows = a.body["instances"].as_array().unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        let name = r["name"].as_str().unwrap();
        assert!(
            name.ends_with(huaweicloud_exporter::sim::CONTROL_CHARACTERS),
            "{name:?}"
        );
        assert!(
            !r["id"].as_str().unwrap().chars().any(char::is_control),
            "ids untouched"
        );
    }
}

fn fault_of(kind: FaultKind) -> FaultSpec {
    FaultSpec {
        kind: Some(kind),
        ..FaultSpec::default()
    }
}
