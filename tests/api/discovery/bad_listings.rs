//! A listing that goes wrong never costs a good inventory: each listing fault on a refresh
//! keeps the last one, and a first listing that fails fails the collectors and is retried.

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, FaultSpec, SimConfig};
use serde_json::json;

use crate::helpers::{fault, frozen_sim, spawn_app_with_sim, spawn_sim};

use super::{
    assert_reports_every_live_phone, config, discovery_ok, fleet_change, ids_of, live, scrape_until,
};

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
    sim.set_fault(&op::KOOPHONE_LIST, fault(kind));
    let calls = sim.calls(&op::KOOPHONE_LIST);
    let m = scrape_until(&app, "a failed refresh", |m| discovery_ok(m) == 0.0).await;
    assert!(sim.calls(&op::KOOPHONE_LIST) > calls);
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
async fn a_lying_total_after_a_good_listing_keeps_it_and_says_so() {
    // The one rule for incomplete listings (`inventory::listed`), as DCS and DDM follow it.
    a_bad_refresh_keeps_the_inventory(FaultKind::ListTotalLies).await;
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

#[tokio::test]
async fn a_first_listing_that_fails_fails_the_collectors_and_is_retried() {
    let sim = spawn_sim(SimConfig {
        faults: vec![(
            &op::KOOPHONE_LIST,
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
