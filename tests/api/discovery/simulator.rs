//! The simulator's side of discovery: its listing holds the API's limits, `/_sim/fleet` adds
//! and removes instances, and churn buys and releases phones.

use std::collections::BTreeSet;
use std::time::Duration;

use huaweicloud_exporter::sim::SimConfig;
use serde_json::{json, Value};

use crate::helpers::{frozen_sim, spawn_sim};

use super::fleet_change;

#[tokio::test]
async fn the_simulated_listing_holds_its_limits() {
    let sim = spawn_sim(frozen_sim(10)).await;
    let http = reqwest::Client::new();
    let get = |q: &str, token: Option<&str>| {
        let mut r = http.get(format!("{}/v1/instances/batch-query?{q}", sim.base_url()));
        if let Some(t) = token {
            r = r.header("X-Auth-Token", t);
        }
        async move {
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            (status, v)
        }
    };
    let tok = Some("demo-static-token");
    let (s, v) = get("x-request-id=a&page_no=1&page_size=100", tok).await;
    assert_eq!((s, v["data"]["total_count"].as_u64()), (200, Some(10)));
    assert_eq!(v["data"]["error_code"], "0");
    let (s, _) = get("x-request-id=a&page_no=1&page_size=100", None).await;
    assert_eq!(s, 401);
    // Inside `data`, where the definition puts the listing's codes.
    let (s, v) = get("page_no=1&page_size=100", tok).await;
    assert_eq!(
        (s, v["data"]["error_code"].as_str()),
        (200, Some("KOOPHONE.API.0002"))
    );
    for bad in [
        "x-request-id=a&page_no=0&page_size=100",
        "x-request-id=a&page_no=1&page_size=0",
        "x-request-id=a&page_no=1&page_size=201",
        "x-request-id=a&page_size=10",
        "x-request-id=a&page_no=1&page_size=10&pool_scene_tag=NOPE",
    ] {
        let (s, v) = get(bad, tok).await;
        assert_eq!(
            (s, v["error_code"].as_str()),
            (400, Some("KOOPHONE.API.1000")),
            "{bad}"
        );
    }
    // A size above the clamp (and within the definition's 200) is served as 100 rows, echoed.
    let big = spawn_sim(frozen_sim(150)).await;
    let v: Value = http
        .get(format!(
            "{}/v1/instances/batch-query?x-request-id=a&page_no=1&page_size=200",
            big.base_url()
        ))
        .header("X-Auth-Token", "demo-static-token")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str::<Value>(&t).unwrap())
        .unwrap();
    assert_eq!(v["data"]["page_size"], 100);
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 100);
}

#[tokio::test]
async fn the_fleet_endpoint_adds_and_removes_dcs_and_ddm_instances() {
    let sim = spawn_sim(frozen_sim(5)).await;
    let before: Value = serde_json::from_str(
        &reqwest::Client::new()
            .get(format!("{}/_sim/fleet", sim.base_url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(before["phones"], 5);
    let dcs = before["dcs_instances"].as_u64().unwrap();
    let changed = fleet_change(&sim, json!({"add_dcs": 2, "add_ddm": 1})).await;
    assert_eq!(changed["dcs_instances"].as_u64(), Some(dcs + 2));
    assert_eq!(sim.dcs_instances().len() as u64, dcs + 2);
    let ddm_id = changed["changed"]["added_ddm"][0]
        .as_str()
        .unwrap()
        .to_string();
    let restorable = |id: String| {
        let url = format!(
            "{}/v3/{}/instances/{id}/backups/restorable-instances?offset=0&limit=10",
            sim.base_url(),
            sim.project_id()
        );
        async move {
            reqwest::Client::new()
                .get(url)
                .header("X-Auth-Token", "demo-static-token")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(restorable(ddm_id.clone()).await, 200);
    let changed = fleet_change(&sim, json!({"remove_ddm": 1, "remove_dcs": 1})).await;
    assert_eq!(changed["changed"]["removed_ddm"][0], ddm_id.as_str());
    assert_eq!(changed["dcs_instances"].as_u64(), Some(dcs + 1));
    assert_eq!(restorable(ddm_id).await, 404);
    // A change that is not one is refused, and says what one looks like.
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/fleet", sim.base_url()))
        .body(r#"{"add_phones": -1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn churn_buys_and_releases_phones_while_it_runs() {
    let sim = spawn_sim(SimConfig {
        churn: Some(huaweicloud_exporter::sim::Churn {
            phones: 4,
            every: Duration::from_millis(100),
        }),
        ..frozen_sim(20)
    })
    .await;
    let mut sizes = BTreeSet::new();
    for _ in 0..40 {
        sizes.insert(sim.phone_ids().len());
        if sizes.contains(&20) && sizes.contains(&24) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(
        sizes,
        BTreeSet::from([20, 24]),
        "grows and shrinks around its size"
    );
    assert!("5/10s".parse::<huaweicloud_exporter::sim::Churn>().is_ok());
    assert!("5/0s".parse::<huaweicloud_exporter::sim::Churn>().is_err());
    assert!("five".parse::<huaweicloud_exporter::sim::Churn>().is_err());
}
