//! KooPhone discovery, black-box: the simulator's listing on port 0, its fleet changed through
//! `/_sim/fleet`, its listing faults, and exporters scraped over HTTP. This file holds the
//! config and the checks every test uses; one module per subject.

mod bad_listings;
mod consumers;
mod following;
mod incomplete;
mod paging;
mod shrinks;
mod simulator;

use std::collections::BTreeSet;
use std::time::Duration;

use huaweicloud_exporter::sim::SimHandle;
use serde_json::Value;

use crate::helpers::{token_cloud, Exposition, TestApp};

/// One cloud, KooPhone discovered with `discovery` (a YAML flow mapping body).
fn config(discovery: &str) -> String {
    let koophone = format!("    koophone: {{ discovery: {{ {discovery} }} }}\n");
    format!("timeout: 5s\n{}", token_cloud("pw", &koophone))
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
