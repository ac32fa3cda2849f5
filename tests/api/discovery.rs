//! KooPhone discovery, black-box: the simulator's listing on port 0, its fleet changed through
//! `/_sim/fleet`, its listing faults, and exporters scraped over HTTP.

use std::collections::BTreeSet;
use std::time::Duration;

use huaweicloud_exporter::sim::{Endpoint, FaultKind, FaultSpec, SimConfig, SimHandle};
use serde_json::{json, Value};

use crate::helpers::{fault, frozen_sim, spawn_app_with_sim, spawn_sim, Exposition, TestApp};

/// One cloud, KooPhone discovered with `discovery` (a YAML flow mapping body).
fn config(discovery: &str) -> String {
    format!(
        r#"
timeout: 5s
clouds:
  - name: pw
    region: ap-southeast-1
    project_id: {{project}}
    auth: {{ token: {{ value: demo-static-token }} }}
    endpoints: {{ iam: "{{base}}", dcs: "{{base}}", ddm: "{{base}}", koophone: "{{base}}" }}
    koophone: {{ discovery: {{ {discovery} }} }}
"#
    )
}

/// Phone ids of `metric` in `m`, for cloud `pw`.
fn ids_of(m: &Exposition, metric: &str) -> BTreeSet<String> {
    let found = m.find(metric, &[("cloud", "pw")]);
    let set: BTreeSet<String> = found
        .iter()
        .map(|s| s.labels["instance_id"].clone())
        .collect();
    assert_eq!(set.len(), found.len(), "{metric}: a phone twice");
    set
}

fn live(sim: &SimHandle) -> BTreeSet<String> {
    sim.phone_ids().into_iter().collect()
}

/// The scrape reports the status of every phone the fleet has now, each once.
fn assert_reports_every_live_phone(m: &Exposition, sim: &SimHandle) {
    assert_eq!(ids_of(m, "huaweicloud_koophone_instance_status"), live(sim));
}

/// Scrapes until `done` holds for the exposition (a refresh runs behind the scrape that finds
/// the inventory due, so the one after it shows the result); at most 40 scrapes 250 ms apart.
async fn scrape_until(app: &TestApp, what: &str, done: impl Fn(&Exposition) -> bool) -> Exposition {
    for _ in 0..40 {
        let m = app.scrape().await;
        if done(&m) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("never saw: {what}");
}

async fn fleet_change(sim: &SimHandle, change: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/fleet", sim.base_url()))
        .header("content-type", "application/json")
        .body(change.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    serde_json::from_str(&r.text().await.unwrap()).unwrap()
}

fn discovery_ok(m: &Exposition) -> f64 {
    m.success("pw", "koophone_discovery")
}

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
async fn rows_repeated_across_pages_are_kept_once_and_complete() {
    let sim = spawn_sim(SimConfig {
        faults: vec![(Endpoint::KoophoneList, fault(FaultKind::RowsRepeated))],
        ..frozen_sim(300)
    })
    .await;
    let app = spawn_app_with_sim(sim.clone(), &config("")).await;
    let m = app.scrape().await;
    assert_eq!(ids_of(&m, "huaweicloud_koophone_instance_info"), live(&sim));
    assert_reports_every_live_phone(&m, &sim);
    assert_eq!(discovery_ok(&m), 1.0);
}

#[tokio::test]
async fn a_lying_total_serves_every_phone_bounded_and_says_so() {
    let sim = spawn_sim(SimConfig {
        faults: vec![(Endpoint::KoophoneList, fault(FaultKind::ListTotalLies))],
        ..frozen_sim(250)
    })
    .await;
    let app = spawn_app_with_sim(sim.clone(), &config("")).await;
    let m = app.scrape().await;
    assert_reports_every_live_phone(&m, &sim);
    assert_eq!(
        discovery_ok(&m),
        0.0,
        "the API contradicts itself: not a success"
    );
    assert_eq!(m.success("pw", "koophone"), 1.0);
    // The first page, one window of 8 (an empty page ends it) and page 0 once: never the
    // thousands of pages the total asks for.
    assert!(
        sim.calls(Endpoint::KoophoneList) <= 10,
        "{}",
        sim.calls(Endpoint::KoophoneList)
    );
}

/// A good first listing, then `kind` on every listing call: the inventory stays whole and the
/// discovery says it failed.
async fn a_bad_refresh_keeps_the_inventory(kind: FaultKind) {
    let sim = spawn_sim(frozen_sim(250)).await;
    let app = spawn_app_with_sim(sim.clone(), &config("refresh_interval: 1s")).await;
    let m = app.scrape().await;
    let all = live(&sim);
    assert_eq!(ids_of(&m, "huaweicloud_koophone_instance_status"), all);
    // The fleet grows meanwhile, so a listing that got through would show it.
    fleet_change(&sim, json!({"add_phones": 3})).await;
    sim.set_fault(Endpoint::KoophoneList, fault(kind));
    let calls = sim.calls(Endpoint::KoophoneList);
    let m = scrape_until(&app, "a failed refresh", |m| discovery_ok(m) == 0.0).await;
    assert!(sim.calls(Endpoint::KoophoneList) > calls);
    assert_eq!(
        ids_of(&m, "huaweicloud_koophone_instance_status"),
        all,
        "{kind:?}"
    );
    assert_eq!(
        ids_of(&m, "huaweicloud_koophone_instance_info"),
        all,
        "{kind:?}"
    );
    assert_eq!(m.success("pw", "koophone"), 1.0);
    assert_eq!(
        m.value(
            "huaweicloud_discovery_resources",
            &[("cloud", "pw"), ("service", "koophone")]
        ),
        250.0
    );
    // Cleared: the next refresh lists the grown fleet.
    sim.clear_faults();
    let want = live(&sim);
    scrape_until(&app, "the grown fleet", |m| {
        discovery_ok(m) == 1.0 && ids_of(m, "huaweicloud_koophone_instance_status") == want
    })
    .await;
}

#[tokio::test]
async fn an_empty_page_never_empties_a_good_inventory() {
    a_bad_refresh_keeps_the_inventory(FaultKind::EmptyPage).await;
}

#[tokio::test]
async fn a_short_page_never_shrinks_a_good_inventory() {
    a_bad_refresh_keeps_the_inventory(FaultKind::ShortPage).await;
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_inventory() {
    a_bad_refresh_keeps_the_inventory(FaultKind::ServerError).await;
}

#[tokio::test]
async fn a_malformed_listing_keeps_the_last_inventory() {
    a_bad_refresh_keeps_the_inventory(FaultKind::Malformed).await;
}

#[tokio::test]
async fn an_error_inside_http_200_keeps_the_last_inventory() {
    a_bad_refresh_keeps_the_inventory(FaultKind::ErrorsIn200).await;
}

#[tokio::test]
async fn a_first_listing_that_fails_fails_the_collectors_and_is_retried() {
    let sim = spawn_sim(SimConfig {
        faults: vec![(
            Endpoint::KoophoneList,
            FaultSpec {
                times: Some(3),
                ..fault(FaultKind::ServerError)
            },
        )],
        ..frozen_sim(30)
    })
    .await;
    let app = spawn_app_with_sim(sim.clone(), &config("refresh_interval: 1h")).await;
    let m = app.scrape().await;
    assert_eq!(m.success("pw", "koophone"), 0.0);
    assert_eq!(discovery_ok(&m), 0.0);
    // With nothing to serve, the next scrape lists again (not an hour later).
    let m = scrape_until(&app, "the first good listing", |m| discovery_ok(m) == 1.0).await;
    assert_reports_every_live_phone(&m, &sim);
}

#[tokio::test]
async fn a_server_counting_pages_from_0_is_read_whole() {
    let sim = spawn_sim(SimConfig {
        list_first_page: 0,
        ..frozen_sim(230)
    })
    .await;
    let app = spawn_app_with_sim(sim.clone(), &config("")).await;
    let m = app.scrape().await;
    assert_reports_every_live_phone(&m, &sim);
    assert_eq!(discovery_ok(&m), 1.0);
}

#[tokio::test]
async fn no_personal_data_in_any_label() {
    let sim = spawn_sim(frozen_sim(120)).await;
    let app = spawn_app_with_sim(sim.clone(), &config("")).await;
    let (status, text) = app.scrape_raw(None).await;
    assert_eq!(status, 200);
    assert!(text.contains("huaweicloud_koophone_instance_info{"));
    // The listing does carry them: the check could fail.
    let listing = reqwest::Client::new()
        .get(format!(
            "{}/v1/instances/batch-query?x-request-id=t&page_no=1&page_size=100",
            sim.base_url()
        ))
        .header("X-Auth-Token", "demo-static-token")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut checked = 0;
    for id in sim.phone_ids() {
        for value in sim.personal_values(&id).unwrap() {
            if checked < 3 {
                assert!(listing.contains(&value), "{value}");
            }
            assert!(!text.contains(&value), "{value} in the exposition");
            checked += 1;
        }
    }
    for field in [
        "assign_user",
        "member_name",
        "account_name",
        "example.invalid",
        "Person Name",
        "personal_acct",
    ] {
        assert!(!text.contains(field), "{field} in the exposition");
    }
    let page = app
        .http
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("example.invalid") && !page.contains("Person Name"));
}

#[tokio::test]
async fn three_replicas_report_each_discovered_phone_exactly_once() {
    let sim = spawn_sim(frozen_sim(300)).await;
    let mut seen: Vec<String> = Vec::new();
    let mut resources = 0.0;
    for index in 0..3 {
        let cfg = format!("shard: {{ index: {index}, total: 3 }}\n{}", config(""));
        let app = spawn_app_with_sim(sim.clone(), &cfg).await;
        let m = app.scrape().await;
        let mine = ids_of(&m, "huaweicloud_koophone_instance_status");
        assert_eq!(ids_of(&m, "huaweicloud_koophone_instance_info"), mine);
        assert!(!mine.is_empty() && mine.len() < 300);
        resources += m.value(
            "huaweicloud_discovery_resources",
            &[("cloud", "pw"), ("service", "koophone")],
        );
        assert_eq!(
            m.sum(
                "huaweicloud_koophone_instances_by_running_status",
                &[("cloud", "pw")]
            ),
            mine.len() as f64
        );
        seen.extend(mine);
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 300, "each phone once");
    assert_eq!(unique, live(&sim));
    assert_eq!(resources, 300.0);
}

#[tokio::test]
async fn between_refreshes_a_scrape_makes_only_the_status_calls() {
    let sim = spawn_sim(frozen_sim(250)).await;
    let app = spawn_app_with_sim(sim.clone(), &config("refresh_interval: 1h")).await;
    app.scrape().await;
    let lists = sim.calls(Endpoint::KoophoneList);
    assert_eq!(lists, 3, "three pages of 100");
    for _ in 0..3 {
        let before = sim.calls(Endpoint::KoophoneBatchStatus);
        let m = app.scrape().await;
        assert_eq!(m.success("pw", "koophone"), 1.0);
        assert_eq!(sim.calls(Endpoint::KoophoneBatchStatus) - before, 3);
    }
    assert_eq!(sim.calls(Endpoint::KoophoneList), lists);
}

#[tokio::test]
async fn a_reload_of_an_unchanged_cloud_keeps_the_inventory() {
    let sim = spawn_sim(frozen_sim(150)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let file = |extra: &str, discovery: &str| {
        config(discovery)
            .replace("timeout: 5s", extra)
            .replace("{base}", &sim.base_url())
            .replace("{project}", &sim.project_id())
    };
    std::fs::write(&path, file("timeout: 5s", "refresh_interval: 1h")).unwrap();
    let cfg = huaweicloud_exporter::services::load_file(&path).unwrap();
    let (addr, _state, _stop) =
        crate::helpers::serve(crate::helpers::build(cfg, Some(path.clone())).await);
    let http = reqwest::Client::new();
    let scrape = || crate::helpers::scrape_addr(addr);
    let reload = |text: String| {
        std::fs::write(&path, text).unwrap();
        let r = http.post(format!("http://{addr}/-/reload")).send();
        async move {
            let r = r.await.unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
    };
    let m = scrape().await;
    assert_eq!(
        ids_of(&m, "huaweicloud_koophone_instance_status").len(),
        150
    );
    let lists = sim.calls(Endpoint::KoophoneList);

    // A reload that changes only the scrape timeout: no new listing.
    reload(file("timeout: 7s", "refresh_interval: 1h")).await;
    let m = scrape().await;
    assert_eq!(
        ids_of(&m, "huaweicloud_koophone_instance_status").len(),
        150
    );
    assert_eq!(sim.calls(Endpoint::KoophoneList), lists);

    // A reload that changes the filter lists again.
    reload(file(
        "timeout: 7s",
        r#"refresh_interval: 1h, name_regex: "^phone-0000""#,
    ))
    .await;
    let m = scrape().await;
    assert_eq!(ids_of(&m, "huaweicloud_koophone_instance_status").len(), 10);
    assert!(sim.calls(Endpoint::KoophoneList) > lists);
}

#[tokio::test]
async fn the_landing_page_shows_the_discovered_inventory() {
    let sim = spawn_sim(frozen_sim(42)).await;
    let app = spawn_app_with_sim(sim.clone(), &config("")).await;
    app.scrape().await;
    let page = app
        .http
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("42"), "{page}");
    assert!(page.to_lowercase().contains("discovered"), "{page}");
}

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
    let (s, v) = get("page_no=1&page_size=100", tok).await;
    assert_eq!(
        (s, v["error_code"].as_str()),
        (200, Some("KOOPHONE.API.0002"))
    );
    for bad in [
        "x-request-id=a&page_no=0&page_size=100",
        "x-request-id=a&page_no=1&page_size=0",
        "x-request-id=a&page_no=1&page_size=1001",
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
    // A size above the clamp is served as 100 rows, echoed.
    let big = spawn_sim(frozen_sim(150)).await;
    let v: Value = http
        .get(format!(
            "{}/v1/instances/batch-query?x-request-id=a&page_no=1&page_size=500",
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

#[tokio::test]
async fn the_first_scrape_waits_for_the_listing_only_within_its_deadline() {
    // Arrange: every listing call takes 2 s; the scrape allows 1 s (header 1.5 s - 0.5 s).
    let sim = spawn_sim(SimConfig {
        faults: vec![(
            Endpoint::KoophoneList,
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
    assert_eq!(sim.calls(Endpoint::KoophoneList), 1);
}

#[tokio::test]
async fn a_server_refusing_the_page_size_is_read_with_smaller_pages() {
    let sim = spawn_sim(SimConfig {
        list_max_page_size: 50,
        ..frozen_sim(130)
    })
    .await;
    let app = spawn_app_with_sim(sim.clone(), &config("")).await;
    let m = app.scrape().await;
    assert_reports_every_live_phone(&m, &sim);
    assert_eq!(discovery_ok(&m), 1.0);
}

#[tokio::test]
async fn probes_run_on_discovered_phones() {
    let sim = spawn_sim(frozen_sim(20)).await;
    let healthy = sim
        .phone_ids()
        .into_iter()
        .find(|id| !matches!(sim.phone_status(id), Some(5 | 6) | None))
        .unwrap();
    let cfg = format!(
        "{}probes:\n  boot:\n    cloud: pw\n    command: getprop sys.boot_completed\n    expect: \"^1$\"\n    timeout: 5s\n    poll_interval: 50ms\n",
        config("")
    );
    let app = spawn_app_with_sim(sim.clone(), &cfg).await;
    app.scrape().await;
    let probe = |target: String| {
        let url = app.url(&format!("/probe?module=boot&target={target}"));
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let r = probe(healthy.clone()).await;
    assert_eq!(r.status(), 200);
    let m = Exposition::parse(&r.text().await.unwrap());
    assert_eq!(m.value("probe_success", &[]), 1.0);
    // A phone the listing did not find is refused, as an unlisted one is.
    let r = probe("zzzz0000".into()).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn a_listing_with_wrong_types_keeps_the_last_inventory() {
    a_bad_refresh_keeps_the_inventory(FaultKind::WrongTypes).await;
}

#[tokio::test]
async fn a_truncated_listing_keeps_the_last_inventory() {
    a_bad_refresh_keeps_the_inventory(FaultKind::Truncated).await;
}

#[tokio::test]
async fn a_hostile_listing_message_keeps_the_last_inventory() {
    a_bad_refresh_keeps_the_inventory(FaultKind::HostileMessage).await;
}
