//! DDM discovery: a `ddm` section without `instance_ids` lists the DDM instances, reads their
//! restore readiness, grows and shrinks with the fleet, keeps its last inventory through failed
//! or partial refreshes, and stays inside the 60-calls-per-minute DDM budget however many
//! instances it finds.

use std::time::Duration;

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, SimConfig, SimDdmInstance};

use crate::helpers::*;

fn config(ddm: &str) -> String {
    token_cloud("c", &format!("    ddm: {ddm}\n"))
}

const FAST: &str = "{ discovery: { refresh_interval: 1s }, cache_ttl: 0s }";

fn sim_with(n: usize, targets: usize) -> SimConfig {
    SimConfig {
        ddm_instances: (0..n)
            .map(|i| SimDdmInstance {
                id: format!("{:032x}in09", 0xdd00 + i),
                targets,
            })
            .collect(),
        ..frozen_sim(1)
    }
}

fn resources(m: &Exposition) -> f64 {
    m.value(
        "huaweicloud_discovery_resources",
        &[("cloud", "c"), ("service", "ddm")],
    )
}

fn info_ids(m: &Exposition) -> Vec<String> {
    let mut v: Vec<String> = m
        .find("huaweicloud_ddm_instance_info", &[("cloud", "c")])
        .iter()
        .map(|s| s.labels["instance_id"].clone())
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Scrapes until `done` holds for the exposition (a refresh is due every second), at most
/// 60 times a quarter of a second apart; returns the last exposition.
async fn scrape_until(app: &TestApp, done: impl Fn(&Exposition) -> bool) -> Exposition {
    for _ in 0..60 {
        let m = app.scrape().await;
        if done(&m) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("condition never held");
}

/// `POST /_sim/fleet` with `change`; its answer.
async fn fleet_change(app: &TestApp, change: serde_json::Value) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .post(format!("{}/_sim/fleet", app.sim.base_url()))
        .body(change.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn discovers_every_instance_and_reads_its_restore_targets() {
    let app = spawn_app(Opts {
        sim: sim_with(5, 3),
        config: config(FAST),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "ddm_discovery"), 1.0);
    assert_eq!(m.success("c", "ddm"), 1.0);
    assert_eq!(resources(&m), 5.0);
    assert_eq!(info_ids(&m), sorted(app.sim.ddm_instance_ids()));
    for id in app.sim.ddm_instance_ids() {
        assert_eq!(
            m.value(
                "huaweicloud_ddm_restorable_instances",
                &[("cloud", "c"), ("instance_id", &id)]
            ),
            3.0
        );
    }
    let statuses: Vec<&String> = m
        .find("huaweicloud_ddm_instance_info", &[])
        .iter()
        .map(|s| &s.labels["status"])
        .collect();
    assert!(statuses
        .iter()
        .all(|s| s.chars().all(|c| !c.is_ascii_uppercase())));
    assert!(
        m.value(
            "huaweicloud_discovery_last_success_timestamp_seconds",
            &[("cloud", "c"), ("service", "ddm")]
        ) > 1.7e9
    );
    assert!(!m
        .find(
            "huaweicloud_scrape_collector_duration_seconds",
            &[("cloud", "c"), ("collector", "ddm_discovery")]
        )
        .is_empty());
}

#[tokio::test]
async fn the_inventory_grows_and_shrinks_with_the_fleet() {
    let app = spawn_app(Opts {
        sim: sim_with(3, 2),
        config: config(FAST),
    })
    .await;
    assert_eq!(resources(&app.scrape().await), 3.0);
    let changed = fleet_change(&app, serde_json::json!({"add_ddm": 4, "ddm_targets": 2})).await;
    let added: Vec<String> = changed["changed"]["added_ddm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(added.len(), 4);
    let m = scrape_until(&app, |m| resources(m) == 7.0).await;
    assert_eq!(info_ids(&m), sorted(app.sim.ddm_instance_ids()));
    let m = scrape_until(&app, |m| {
        m.find(
            "huaweicloud_ddm_restorable_instances",
            &[("instance_id", &added[0])],
        )
        .len()
            == 1
    })
    .await;
    assert_eq!(m.success("c", "ddm"), 1.0);

    // The control endpoint releases the newest; one of the first is released directly.
    let mut gone = added[2..].to_vec();
    fleet_change(&app, serde_json::json!({"remove_ddm": 2})).await;
    gone.push(app.sim.ddm_instance_ids()[0].clone());
    app.sim.remove_ddm_instances(&gone[2..]);
    let m = scrape_until(&app, |m| resources(m) == 4.0).await;
    assert_eq!(info_ids(&m), sorted(app.sim.ddm_instance_ids()));
    for id in &gone {
        assert!(m
            .find(
                "huaweicloud_ddm_restorable_instances",
                &[("instance_id", id)]
            )
            .is_empty());
    }
    assert_eq!(m.success("c", "ddm"), 1.0);
}

#[tokio::test]
async fn a_name_regex_narrows_discovery() {
    let app = spawn_app(Opts {
        sim: sim_with(3, 1),
        // Simulated names are `ddm-` and the id's first six characters.
        config: config(r#"{ discovery: { name_regex: "^ddm-000000$" }, cache_ttl: 0s }"#),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(resources(&m), 3.0);
    let app = spawn_app(Opts {
        sim: sim_with(3, 1),
        config: config(r#"{ discovery: { name_regex: "^nothing" }, cache_ttl: 0s }"#),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(resources(&m), 0.0);
    assert!(m
        .find("huaweicloud_ddm_restorable_instances", &[])
        .is_empty());
    assert_eq!(m.success("c", "ddm"), 1.0);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_inventory() {
    for kind in [
        FaultKind::ServerError,
        FaultKind::Malformed,
        FaultKind::EmptyPage,
    ] {
        let app = spawn_app(Opts {
            sim: sim_with(200, 1),
            config: config("{ discovery: { refresh_interval: 1s }, cache_ttl: 5m }"),
        })
        .await;
        let before = app.scrape().await;
        assert_eq!(resources(&before), 200.0, "{kind}");
        app.sim.set_fault(&op::DDM_LIST, fault(kind));
        app.sim.add_ddm_instances(30, 1);
        let m = scrape_until(&app, |m| m.success("c", "ddm_discovery") == 0.0).await;
        assert_eq!(resources(&m), 200.0, "{kind}");
        assert_eq!(info_ids(&m), info_ids(&before), "{kind}");
        assert_eq!(m.success("c", "ddm"), 1.0, "{kind}: the reads go on");
        app.sim.clear_faults();
        let m = scrape_until(&app, |m| m.success("c", "ddm_discovery") == 1.0).await;
        assert_eq!(resources(&m), 230.0, "{kind}");
    }
}

#[tokio::test]
async fn short_pages_and_repeated_rows_still_discover_every_instance_once() {
    for kind in [FaultKind::ShortPage, FaultKind::RowsRepeated] {
        let sim = sim_with(300, 1);
        let app = spawn_app(Opts {
            sim,
            config: config(
                "{ discovery: { refresh_interval: 1s }, cache_ttl: 5m, max_series: 100000 }",
            ),
        })
        .await;
        app.sim.set_fault(&op::DDM_LIST, fault(kind));
        let m = app.scrape().await;
        assert_eq!(m.success("c", "ddm_discovery"), 1.0, "{kind}");
        assert_eq!(info_ids(&m), sorted(app.sim.ddm_instance_ids()), "{kind}");
    }
}

#[tokio::test]
async fn a_lying_total_takes_the_first_listing_but_says_it_failed() {
    let app = spawn_app(Opts {
        sim: sim_with(10, 1),
        config: config(FAST),
    })
    .await;
    app.sim
        .set_fault(&op::DDM_LIST, fault(FaultKind::ListTotalLies));
    let m = app.scrape().await;
    assert_eq!(resources(&m), 10.0);
    assert_eq!(m.success("c", "ddm_discovery"), 0.0);
    // One page of rows, the empty page that showed the total lied, and two pages by page
    // number (in case the edition reads offset so) that brought nothing new.
    assert_eq!(app.sim.calls(&op::DDM_LIST), 4);
}

#[tokio::test]
async fn a_lying_total_after_a_complete_listing_keeps_it_and_says_so() {
    let app = spawn_app(Opts {
        sim: sim_with(10, 1),
        config: config(FAST),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "ddm_discovery"), 1.0);
    let all = info_ids(&m);
    assert_eq!(all.len(), 10);
    app.sim
        .set_fault(&op::DDM_LIST, fault(FaultKind::ListTotalLies));
    // The one rule for incomplete listings: the complete inventory stays, the refresh is no
    // success.
    let m = scrape_until(&app, |m| m.success("c", "ddm_discovery") == 0.0).await;
    assert_eq!(resources(&m), 10.0);
    assert_eq!(info_ids(&m), all);
}

#[tokio::test]
async fn many_discovered_instances_stay_inside_the_ddm_budget() {
    // 200 instances, 5-minute cache, 60 calls a minute: a full pass takes minutes; every
    // scrape in the meantime succeeds, serves what it has and never exceeds the budget.
    let app = spawn_app(Opts {
        sim: sim_with(200, 1),
        config: config("{ discovery: { refresh_interval: 1s }, cache_ttl: 5m }"),
    })
    .await;
    let mut last = None;
    for _ in 0..5 {
        let m = app.scrape().await;
        assert_eq!(m.success("c", "ddm"), 1.0);
        assert_eq!(resources(&m), 200.0);
        // The listing kept its room: refreshes every second go on succeeding.
        assert_eq!(m.success("c", "ddm_discovery"), 1.0);
        last = Some(m);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let m = last.unwrap();
    let calls = app.sim.calls(&op::DDM_LIST) + app.sim.calls(&op::DDM_RESTORABLE);
    assert!(calls <= 60, "{calls} DDM calls in well under a minute");
    let answered = m.find("huaweicloud_ddm_restorable_instances", &[]).len() as f64;
    assert!(answered > 0.0);
    assert_eq!(
        answered
            + m.value(
                "huaweicloud_ddm_restorable_pending_instances",
                &[("cloud", "c")]
            ),
        200.0
    );
    assert!(app.sim.calls(&op::DDM_LIST) >= 2);
}

#[tokio::test]
async fn an_edition_that_reads_offset_as_a_page_number_is_listed_whole() {
    let app = spawn_app(Opts {
        sim: SimConfig {
            ddm_offset_is_page: true,
            ..sim_with(300, 1)
        },
        config: config("{ discovery: { refresh_interval: 1s }, cache_ttl: 5m }"),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "ddm_discovery"), 1.0);
    assert_eq!(resources(&m), 300.0);
    assert_eq!(info_ids(&m), sorted(app.sim.ddm_instance_ids()));
}

#[tokio::test]
async fn listed_ids_are_used_as_they_are_and_nothing_is_listed() {
    let app = spawn_app(Opts {
        sim: sim_with(3, 1),
        config: config(&format!(
            "{{ instance_ids: [{:032x}in09], cache_ttl: 0s }}",
            0xdd00
        )),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "ddm"), 1.0);
    assert_eq!(app.sim.calls(&op::DDM_LIST), 0);
    assert!(m.find("huaweicloud_discovery_resources", &[]).is_empty());
    assert!(m
        .find(
            "huaweicloud_scrape_collector_success",
            &[("collector", "ddm_discovery")]
        )
        .is_empty());
}

#[tokio::test]
async fn the_simulated_listing_pages_and_rejects_like_the_page() {
    let sim = spawn_sim(sim_with(130, 1)).await;
    let get = |q: String| {
        let url = format!("{}/v1/{}/instances?{q}", sim.base_url(), sim.project_id());
        async move {
            let resp = reqwest::Client::new()
                .get(url)
                .header("X-Auth-Token", "demo-static-token")
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let v: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
            (status, v)
        }
    };
    let (s, v) = get("offset=0&limit=128".into()).await;
    assert_eq!(s, 200);
    assert_eq!(v["instances"].as_array().unwrap().len(), 128);
    assert_eq!(
        (v["total_record"].as_u64(), v["instance_num"].as_u64()),
        (Some(130), Some(130))
    );
    let (_, v) = get("offset=128&limit=128".into()).await;
    assert_eq!(v["instances"].as_array().unwrap().len(), 2);
    for bad in ["limit=0", "limit=129", "offset=-1"] {
        let (s, v) = get(bad.into()).await;
        assert_eq!(s, 400, "{bad}");
        assert_eq!(v["errCode"], "DBS.280001", "{bad}");
    }
}
