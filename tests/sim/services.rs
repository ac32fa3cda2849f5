//! DCS and DDM answers and paging, the fleet moving with the clock, and the gateway's answers for unknown paths and methods.

use super::*;

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
    assert_eq!(wrong.body["error_code"], "111400002");
    assert_eq!(wrong.body["error_msg"], "Invalid project ID format.");
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
    for field in ["instance_id", "instance_name", "status", "vpc_name"] {
        assert!(first[field].is_string(), "{field}");
    }
    // A reason only where there is one (the definition's minimum length is 1).
    let rows = default.body["instances"].as_array().unwrap();
    for row in rows {
        let reason = row.get("unavailable_reason");
        assert_eq!(row["available"] == false, reason.is_some(), "{row}");
        assert!(reason.is_none_or(|r| r.as_str().is_some_and(|r| !r.is_empty())));
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
    // The gateway routes by method and path: a wrong method is an API it does not have.
    assert_eq!(wrong_method.status, 404);
    assert_eq!(wrong_method.body["error_code"], "APIGW.0101");
    assert_eq!(
        wrong_method.body["request_id"].as_str(),
        Some(header(&wrong_method, "x-request-id"))
    );
}
