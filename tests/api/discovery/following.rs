//! The inventory follows the fleet: the first listing, growth and shrink at each refresh,
//! filters, no listing between refreshes or on a reload that changes nothing, and a first
//! scrape that waits for the listing only within its deadline.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultSpec, SimConfig};
use serde_json::{json, Value};

use crate::helpers::{
    frozen_sim, reload_file, scrape_addr, serve_file, spawn_app_with_sim, spawn_sim, Exposition,
};

use super::{
    assert_reports_every_live_phone, config, discovery_ok, fleet_change, ids_of, live, scrape_until,
};

#[tokio::test]
async fn discovers_every_phone_then_follows_growth_and_shrink() {
    // Arrange: 250 phones (three pages), refreshed every second.
    let sim = spawn_sim(frozen_sim(250)).await;
    let app = spawn_app_with_sim(sim.clone(), &config("refresh_interval: 1s")).await;

    // Act + assert: the first scrape waits for the first listing.
    let m = app.scrape().await;
    assert_reports_every_live_phone(&m, &sim);
    assert_eq!(ids_of(&m, "huaweicloud_koophone_instance_info"), live(&sim));
    assert_eq!(discovery_ok(&m), 1.0);
    assert_eq!(m.success("pw", "koophone"), 1.0);
    assert_eq!(
        m.value(
            "huaweicloud_discovery_resources",
            &[("cloud", "pw"), ("service", "koophone")]
        ),
        250.0
    );
    assert!(
        m.value(
            "huaweicloud_discovery_last_success_timestamp_seconds",
            &[("cloud", "pw"), ("service", "koophone")]
        ) > 1.7e9
    );
    for status in [
        "unknown",
        "stopped",
        "running",
        "going_offline",
        "starting",
        "shut_down",
    ] {
        assert_eq!(
            m.find(
                "huaweicloud_koophone_instances_by_running_status",
                &[("cloud", "pw"), ("status", status)]
            )
            .len(),
            1,
            "{status}"
        );
    }
    assert_eq!(
        m.sum(
            "huaweicloud_koophone_instances_by_running_status",
            &[("cloud", "pw")]
        ),
        250.0
    );

    // Grow: 7 phones bought.
    let changed = fleet_change(&sim, json!({"add_phones": 7})).await;
    assert_eq!(changed["phones"], 257);
    let want = live(&sim);
    let m = scrape_until(&app, "257 phones", |m| {
        ids_of(m, "huaweicloud_koophone_instance_status") == want
    })
    .await;
    assert_eq!(ids_of(&m, "huaweicloud_koophone_instance_frozen"), want);

    // Shrink: two of the first phones and the 10 newest released.
    let first: Vec<String> = sim.phone_ids()[..2].to_vec();
    let changed = fleet_change(
        &sim,
        json!({"remove_phone_ids": first, "remove_phones": 10}),
    )
    .await;
    assert_eq!(changed["phones"], 245);
    let want = live(&sim);
    let m = scrape_until(&app, "245 phones", |m| {
        ids_of(m, "huaweicloud_koophone_instance_info") == want
    })
    .await;
    assert_eq!(ids_of(&m, "huaweicloud_koophone_instance_status"), want);
    assert_eq!(
        m.value(
            "huaweicloud_discovery_resources",
            &[("cloud", "pw"), ("service", "koophone")]
        ),
        245.0
    );
}

#[tokio::test]
async fn filters_narrow_discovery() {
    let sim = spawn_sim(frozen_sim(120)).await;
    // What the API itself says is in the CLOUD_APP scene.
    let body: Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/instances/batch-query?x-request-id=t&page_no=1&page_size=100&pool_scene_tag=CLOUD_APP&pool_name=pool-b",
            sim.base_url()
        ))
        .header("X-Auth-Token", "demo-static-token")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str::<Value>(&t).unwrap())
        .unwrap();
    let apps: BTreeSet<String> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["instance_id"].as_str().unwrap().to_string())
        .collect();
    assert!(!apps.is_empty() && apps.len() < 40, "{}", apps.len());

    let by_pool = spawn_app_with_sim(
        sim.clone(),
        &config("pool_scene_tag: CLOUD_APP, pool_name: pool-b"),
    )
    .await;
    let m = by_pool.scrape().await;
    assert_eq!(ids_of(&m, "huaweicloud_koophone_instance_status"), apps);

    let by_name =
        spawn_app_with_sim(sim.clone(), &config(r#"name_regex: "^phone-0000[0-4]$""#)).await;
    let m = by_name.scrape().await;
    let names: BTreeSet<String> = m
        .find("huaweicloud_koophone_instance_info", &[("cloud", "pw")])
        .iter()
        .map(|s| s.labels["instance_name"].clone())
        .collect();
    assert_eq!(
        names,
        (0..5)
            .map(|i| format!("phone-{i:05}"))
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(ids_of(&m, "huaweicloud_koophone_instance_status").len(), 5);
    assert_eq!(discovery_ok(&m), 1.0);
}

#[tokio::test]
async fn between_refreshes_a_scrape_makes_only_the_status_calls() {
    let sim = spawn_sim(frozen_sim(250)).await;
    let app = spawn_app_with_sim(sim.clone(), &config("refresh_interval: 1h")).await;
    app.scrape().await;
    let lists = sim.calls(&op::KOOPHONE_LIST);
    assert_eq!(lists, 3, "three pages of 100");
    for _ in 0..3 {
        let before = sim.calls(&op::KOOPHONE_BATCH_STATUS);
        let m = app.scrape().await;
        assert_eq!(m.success("pw", "koophone"), 1.0);
        assert_eq!(sim.calls(&op::KOOPHONE_BATCH_STATUS) - before, 3);
    }
    assert_eq!(sim.calls(&op::KOOPHONE_LIST), lists);
}

#[tokio::test]
async fn a_reload_of_an_unchanged_cloud_keeps_the_inventory() {
    let sim = spawn_sim(frozen_sim(150)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let file = |extra: &str, discovery: &str| {
        config(discovery)
            .replace("timeout: 5s", extra)
            .replace("{endpoints}", &crate::helpers::endpoints("{base}"))
            .replace("{base}", &sim.base_url())
            .replace("{project}", &sim.project_id())
    };
    std::fs::write(&path, file("timeout: 5s", "refresh_interval: 1h")).unwrap();
    let (addr, _state, _stop) = serve_file(&path).await;
    let http = reqwest::Client::new();
    let scrape = || scrape_addr(addr);
    let m = scrape().await;
    assert_eq!(
        ids_of(&m, "huaweicloud_koophone_instance_status").len(),
        150
    );
    let lists = sim.calls(&op::KOOPHONE_LIST);

    // A reload that changes only the scrape timeout: no new listing.
    reload_file(
        &http,
        addr,
        &path,
        file("timeout: 7s", "refresh_interval: 1h"),
    )
    .await;
    let m = scrape().await;
    assert_eq!(
        ids_of(&m, "huaweicloud_koophone_instance_status").len(),
        150
    );
    assert_eq!(sim.calls(&op::KOOPHONE_LIST), lists);

    // A reload that changes the filter lists again.
    reload_file(
        &http,
        addr,
        &path,
        file(
            "timeout: 7s",
            r#"refresh_interval: 1h, name_regex: "^phone-0000""#,
        ),
    )
    .await;
    let m = scrape().await;
    assert_eq!(ids_of(&m, "huaweicloud_koophone_instance_status").len(), 10);
    assert!(sim.calls(&op::KOOPHONE_LIST) > lists);
}

#[tokio::test]
async fn the_first_scrape_waits_for_the_listing_only_within_its_deadline() {
    // Arrange: every listing call takes 2 s; the scrape allows 1 s (header 1.5 s - 0.5 s).
    let sim = spawn_sim(SimConfig {
        faults: vec![(
            &op::KOOPHONE_LIST,
            FaultSpec {
                latency: Some(Duration::from_secs(2)),
                ..FaultSpec::default()
            },
        )],
        ..frozen_sim(50)
    })
    .await;
    let app = spawn_app_with_sim(sim.clone(), &config("refresh_interval: 1h")).await;

    // Act: the first scrape ends at its deadline, answered, without phones.
    let (status, text) = app.scrape_raw(Some("1.5")).await;
    assert_eq!(status, 200);
    let m = Exposition::parse(&text);
    assert_eq!(m.success("pw", "koophone"), 0.0);
    assert!(ids_of(&m, "huaweicloud_koophone_instance_status").is_empty());

    // Assert: the listing went on behind it, once; a later scrape has every phone.
    let m = scrape_until(&app, "the listing that went on", |m| {
        m.find(
            "huaweicloud_scrape_collector_success",
            &[("cloud", "pw"), ("collector", "koophone_discovery")],
        )
        .iter()
        .any(|s| s.value == 1.0)
    })
    .await;
    assert_reports_every_live_phone(&m, &sim);
    assert_eq!(sim.calls(&op::KOOPHONE_LIST), 1);
}
