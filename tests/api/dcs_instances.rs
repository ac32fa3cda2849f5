//! DCS per-instance metrics from the instance listing: they match the simulator's fleet, page
//! past 1,000, survive the listing faults, turn off with `instances: false`, and a failing
//! listing never hides the counts.

use std::collections::BTreeSet;

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, SimConfig};

use crate::helpers::*;

fn config(dcs: &str) -> String {
    token_cloud("c", &format!("    dcs: {dcs}\n"))
}

/// The fleet's instances, as the simulator lists them to a direct caller: id → status.
async fn fleet(sim: &huaweicloud_exporter::sim::SimHandle) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let v: serde_json::Value = reqwest::Client::new()
            .get(format!(
                "{}/v2/{}/instances?offset={offset}&limit=1000&include_failure=true",
                sim.base_url(),
                sim.project_id()
            ))
            .header("X-Auth-Token", "demo-static-token")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap();
        let rows = v["instances"].as_array().unwrap().clone();
        if rows.is_empty() {
            return out;
        }
        offset += rows.len();
        for r in rows {
            out.push((
                r["instance_id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_ascii_lowercase(),
            ));
        }
    }
}

fn exported(m: &Exposition) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = m
        .find("huaweicloud_dcs_instance_status", &[("cloud", "c")])
        .iter()
        .map(|s| (s.labels["instance_id"].clone(), s.labels["status"].clone()))
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

#[tokio::test]
async fn per_instance_series_match_the_fleet_and_the_counts() {
    let app = spawn_app(Opts {
        sim: frozen_sim(10),
        config: config("{}"),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "dcs_instances"), 1.0);
    assert_eq!(m.success("c", "dcs"), 1.0);
    let want = sorted(fleet(&app.sim).await);
    assert!(want.len() > 50, "{}", want.len());
    assert_eq!(exported(&m), want);
    // Every instance has one info series, and the counts per state agree with the instances.
    assert_eq!(
        m.find("huaweicloud_dcs_instance_info", &[("cloud", "c")])
            .len(),
        want.len()
    );
    let states: BTreeSet<&str> = want.iter().map(|(_, s)| s.as_str()).collect();
    for state in states {
        let n = want.iter().filter(|(_, s)| s == state).count() as f64;
        assert_eq!(
            m.value(
                "huaweicloud_dcs_instances",
                &[("cloud", "c"), ("state", state)]
            ),
            n,
            "{state}"
        );
    }
    let engines: BTreeSet<String> = m
        .find("huaweicloud_dcs_instance_info", &[("cloud", "c")])
        .iter()
        .map(|s| s.labels["engine"].clone())
        .collect();
    assert_eq!(
        engines,
        BTreeSet::from(["memcached".to_string(), "redis".to_string()])
    );
    // Personal fields of the listing never become labels.
    for s in m.find("huaweicloud_dcs_instance_info", &[]) {
        assert!(!s.labels.contains_key("user_name") && !s.labels.contains_key("access_user"));
        assert!(!s.labels.values().any(|v| v == "ops-admin"));
    }
}

#[tokio::test]
async fn instances_false_turns_the_listing_off() {
    let app = spawn_app(Opts {
        sim: frozen_sim(10),
        config: config("{ instances: false }"),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "dcs"), 1.0);
    assert!(m.find("huaweicloud_dcs_instance_status", &[]).is_empty());
    assert!(m.find("huaweicloud_dcs_instance_info", &[]).is_empty());
    assert!(m
        .find(
            "huaweicloud_scrape_collector_success",
            &[("collector", "dcs_instances")]
        )
        .is_empty());
    assert_eq!(app.sim.calls(&op::DCS_LIST), 0);
}

#[tokio::test]
async fn the_listing_pages_past_1000_instances() {
    let app = spawn_app(Opts {
        sim: SimConfig {
            dcs_instances: 2_100,
            ..frozen_sim(10)
        },
        config: config("{ max_series: 10000 }"),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "dcs_instances"), 1.0);
    let want = sorted(fleet(&app.sim).await);
    assert!(want.len() > 2_100);
    assert_eq!(exported(&m), want);
    // 3 pages of 1,000 (the counts ask once, the fleet() helper above asked 3 or 4 times).
    assert_eq!(
        m.value(
            "huaweicloud_api_requests_total",
            &[("cloud", "c"), ("operation", "dcs_list"), ("result", "ok")]
        ),
        3.0
    );
}

#[tokio::test]
async fn more_series_than_max_series_fail_only_the_listing() {
    let app = spawn_app(Opts {
        sim: frozen_sim(10),
        config: config("{ max_series: 100 }"),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "dcs_instances"), 0.0);
    assert_eq!(m.success("c", "dcs"), 1.0);
    assert!(m.find("huaweicloud_dcs_instance_status", &[]).is_empty());
}

async fn with_fault(kind: FaultKind, extra: usize) -> (TestApp, Exposition) {
    let app = spawn_app(Opts {
        sim: SimConfig {
            dcs_instances: extra,
            ..frozen_sim(10)
        },
        config: config("{ max_series: 10000 }"),
    })
    .await;
    app.sim.set_fault(&op::DCS_LIST, fault(kind));
    let m = app.scrape().await;
    app.sim.clear_faults();
    (app, m)
}

#[tokio::test]
async fn short_pages_and_repeated_rows_still_list_every_instance_once() {
    for kind in [FaultKind::ShortPage, FaultKind::RowsRepeated] {
        let (app, m) = with_fault(kind, 1_500).await;
        assert_eq!(m.success("c", "dcs_instances"), 1.0, "{kind}");
        let want = sorted(fleet(&app.sim).await);
        assert_eq!(exported(&m), want, "{kind}");
    }
}

#[tokio::test]
async fn a_lying_total_ends_at_the_empty_page_serves_the_rows_and_is_no_success() {
    let (app, m) = with_fault(FaultKind::ListTotalLies, 0).await;
    // One page of rows, then the empty page that shows the total lied.
    assert_eq!(app.sim.calls(&op::DCS_LIST), 2);
    // The one rule for incomplete listings (`inventory::listed`): nothing complete was listed
    // before, so the rows are served; the listing is no success.
    assert_eq!(m.success("c", "dcs_instances"), 0.0);
    assert_eq!(m.success("c", "dcs"), 1.0);
    assert_eq!(exported(&m), sorted(fleet(&app.sim).await));
}

#[tokio::test]
async fn an_empty_page_reports_the_instances_listed_and_never_invents_any() {
    let (app, m) = with_fault(FaultKind::EmptyPage, 1_500).await;
    assert_eq!(m.success("c", "dcs_instances"), 0.0, "incomplete");
    let got = exported(&m);
    let all = sorted(fleet(&app.sim).await);
    assert_eq!(got.len(), 1_000, "the first page only");
    assert!(got.iter().all(|g| all.contains(g)));
}

#[tokio::test]
async fn an_incomplete_listing_after_a_complete_one_keeps_it_and_says_so() {
    let app = spawn_app(Opts {
        sim: SimConfig {
            dcs_instances: 1_500,
            ..frozen_sim(10)
        },
        config: config("{ max_series: 10000 }"),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "dcs_instances"), 1.0);
    let all = sorted(fleet(&app.sim).await);
    assert_eq!(exported(&m), all);
    for kind in [FaultKind::ListTotalLies, FaultKind::EmptyPage] {
        app.sim.set_fault(&op::DCS_LIST, fault(kind));
        let m = app.scrape().await;
        assert_eq!(m.success("c", "dcs_instances"), 0.0, "{kind}");
        assert_eq!(exported(&m), all, "{kind}: the complete listing is served");
        assert_eq!(
            m.value(
                "huaweicloud_discovery_refused_shrinks_total",
                &[("cloud", "c"), ("service", "dcs")]
            ),
            0.0,
            "{kind}: an incomplete listing set aside is no shrink"
        );
    }
    app.sim.clear_faults();
    let m = app.scrape().await;
    assert_eq!(m.success("c", "dcs_instances"), 1.0);
}

#[tokio::test]
async fn a_failing_page_fails_only_the_listing() {
    for kind in [
        FaultKind::ServerError,
        FaultKind::Malformed,
        FaultKind::WrongTypes,
    ] {
        let (_app, m) = with_fault(kind, 0).await;
        assert_eq!(m.success("c", "dcs_instances"), 0.0, "{kind}");
        assert_eq!(m.success("c", "dcs"), 1.0, "{kind}");
        assert!(m.find("huaweicloud_dcs_instance_status", &[]).is_empty());
        assert!(!m.find("huaweicloud_dcs_instances", &[]).is_empty());
    }
}

#[tokio::test]
async fn the_simulated_listing_rejects_out_of_range_paging() {
    let sim = spawn_sim(frozen_sim(1)).await;
    for q in ["limit=0", "limit=1001", "offset=-1", "limit=abc"] {
        let resp = reqwest::Client::new()
            .get(format!(
                "{}/v2/{}/instances?{q}",
                sim.base_url(),
                sim.project_id()
            ))
            .header("X-Auth-Token", "demo-static-token")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{q}");
        let v: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert!(
            v["error_code"].is_string() && v.get("error_ext_msg").is_some(),
            "{q}"
        );
    }
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/v2/{}/instances",
            sim.base_url(),
            sim.project_id()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Failed creations are listed only with include_failure=true.
    let count = |q: &'static str| {
        let url = format!(
            "{}/v2/{}/instances?limit=1000{q}",
            sim.base_url(),
            sim.project_id()
        );
        async move {
            let v: serde_json::Value = reqwest::Client::new()
                .get(url)
                .header("X-Auth-Token", "demo-static-token")
                .send()
                .await
                .unwrap()
                .text()
                .await
                .map(|t| serde_json::from_str(&t).unwrap())
                .unwrap();
            v["instances"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["status"] == "CREATEFAILED")
                .count()
        }
    };
    assert_eq!(count("").await, 0);
    assert!(count("&include_failure=true").await > 0);
}

#[tokio::test]
async fn a_reload_that_keeps_the_listing_keeps_what_it_showed() {
    let sim = spawn_sim(SimConfig {
        dcs_instances: 1_500,
        ..frozen_sim(10)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let text = |dcs: &str| {
        with_endpoints(&config(dcs))
            .replace("{base}", &sim.base_url())
            .replace("{project}", &sim.project_id())
    };
    std::fs::write(&path, text("{ max_series: 10000 }")).unwrap();
    let (addr, _state, _stop) = serve_file(&path).await;
    let m = scrape_addr(addr).await;
    assert_eq!(m.success("c", "dcs_instances"), 1.0);
    let all = sorted(fleet(&sim).await);
    // Another series bound, the same listing: what it showed is kept, so an incomplete
    // listing after the reload still serves the complete one.
    let http = reqwest::Client::new();
    reload_file(&http, addr, &path, text("{ max_series: 9000 }")).await;
    sim.set_fault(&op::DCS_LIST, fault(FaultKind::EmptyPage));
    let m = scrape_addr(addr).await;
    assert_eq!(m.success("c", "dcs_instances"), 0.0);
    assert_eq!(exported(&m), all);
    // Another listing (without failed instances): nothing is carried, the first page is served.
    reload_file(
        &http,
        addr,
        &path,
        text("{ max_series: 9000, include_failure: false }"),
    )
    .await;
    let m = scrape_addr(addr).await;
    assert_eq!(m.success("c", "dcs_instances"), 0.0);
    assert_eq!(exported(&m).len(), 1_000);
}
