//! What reads the discovered inventory: the metrics (without personal data), the shards (each
//! phone once across replicas), the landing page and the probes.

use std::collections::BTreeSet;

use crate::helpers::{frozen_sim, spawn_app_with_sim, spawn_sim, Exposition};

use super::{config, ids_of, live};

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
    let page = app.page("/").await;
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
async fn the_landing_page_shows_the_discovered_inventory() {
    let sim = spawn_sim(frozen_sim(42)).await;
    let app = spawn_app_with_sim(sim.clone(), &config("")).await;
    app.scrape().await;
    let page = app.page("/").await;
    assert!(page.contains("42"), "{page}");
    assert!(page.to_lowercase().contains("discovered"), "{page}");
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
