//! DDM listings and budget: pages end by the rows received (never by `total`) and within the
//! page cap, duplicate rows are dropped, and a cloud's calls stay within 60 a minute.

use std::collections::HashSet;

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, SimConfig, SimDdmInstance};

use crate::helpers::*;

use super::{api_results, assert_no_duplicate_series, one_cloud_app};

/// The DDM instance of the simulator's default fleet, which [`ONE_CLOUD`] configures.
const DDM_ID: &str = "1f5c9fd6cd984056ba89c8c87cc03278in09";

#[tokio::test]
async fn ddm_pages_by_the_rows_received_not_by_total() {
    let small = "0000000000000000000000000000000ain09";
    let app = spawn_app(Opts {
        sim: SimConfig {
            ddm_instances: vec![
                SimDdmInstance {
                    id: DDM_ID.into(),
                    targets: 300,
                },
                SimDdmInstance {
                    id: small.into(),
                    targets: 1,
                },
            ],
            ..frozen_sim(10)
        },
        config: ONE_CLOUD.replace(
            "instance_ids: [1f5c9fd6cd984056ba89c8c87cc03278in09]",
            &format!("instance_ids: [{DDM_ID}, {small}]"),
        ),
    })
    .await;
    app.sim
        .set_fault(&op::DDM_RESTORABLE, fault(FaultKind::TotalLies));
    let m = app.scrape().await;
    assert_eq!(m.success("c", "ddm"), 1.0);
    // 300 targets: pages of 128, 128 and 44 (short: the end); 1 target: one short page.
    assert_eq!(app.sim.calls(&op::DDM_RESTORABLE), 4);
    for (id, n) in [(DDM_ID, 300.0), (small, 1.0)] {
        let listed = m
            .find(
                "huaweicloud_ddm_restorable_instance_available",
                &[("instance_id", id)],
            )
            .len() as f64;
        assert_eq!(listed, n, "{id}");
        assert_eq!(
            m.value(
                "huaweicloud_ddm_restorable_instances",
                &[("instance_id", id)]
            ),
            n,
            "the targets listed, not the total claimed"
        );
    }
    assert_no_duplicate_series(&m);
}

#[tokio::test]
async fn duplicate_ddm_rows_within_and_across_pages_are_dropped() {
    let app = one_cloud_app().await;
    app.sim
        .set_fault(&op::DDM_RESTORABLE, fault(FaultKind::DuplicateRows));
    let m = app.scrape().await;
    assert_eq!(m.success("c", "ddm"), 1.0);
    assert_no_duplicate_series(&m);
    let series = m.find(
        "huaweicloud_ddm_restorable_instance_available",
        &[("instance_id", DDM_ID)],
    );
    let ids: HashSet<&str> = series
        .iter()
        .map(|s| s.labels["target_instance_id"].as_str())
        .collect();
    assert_eq!(ids.len(), series.len(), "one series per target id");
    assert!(ids.len() > 250);
    assert_eq!(
        m.value(
            "huaweicloud_ddm_restorable_instances",
            &[("instance_id", DDM_ID)]
        ),
        ids.len() as f64
    );
}

#[tokio::test]
async fn ddm_calls_of_a_cloud_stay_within_60_per_minute() {
    let app = one_cloud_app().await;
    // 300 targets: 3 calls a listing, cache_ttl 0s: 25 scrapes would want 75 calls.
    let mut last = None;
    for _ in 0..25 {
        last = Some(app.scrape().await);
    }
    let m = last.unwrap();
    assert_eq!(app.sim.calls(&op::DDM_RESTORABLE), 60);
    assert_eq!(api_results(&m, "ddm_restorable", "ok"), 60.0);
    // Refused calls serve the last answer, and its age says so.
    assert_eq!(m.success("c", "ddm"), 1.0);
    assert_eq!(
        m.find(
            "huaweicloud_ddm_restorable_instance_available",
            &[("instance_id", DDM_ID)]
        )
        .len(),
        300
    );
    assert!(
        m.value(
            "huaweicloud_ddm_restorable_data_age_seconds",
            &[("instance_id", DDM_ID)]
        ) > 0.0
    );
}

#[tokio::test]
async fn many_ddm_instances_share_the_one_budget_of_their_cloud() {
    let ids: Vec<String> = (0..30).map(|i| format!("{i:032x}in09")).collect();
    let app = spawn_app(Opts {
        sim: SimConfig {
            ddm_instances: ids
                .iter()
                .map(|id| SimDdmInstance {
                    id: id.clone(),
                    targets: 300,
                })
                .collect(),
            ..frozen_sim(10)
        },
        config: ONE_CLOUD.replace(
            "instance_ids: [1f5c9fd6cd984056ba89c8c87cc03278in09]",
            &format!("instance_ids: [{}]", ids.join(", ")),
        ),
    })
    .await;
    // 30 instances × 3 pages = 90 calls wanted in one scrape, and more in the next.
    let first = app.scrape().await;
    let second = app.scrape().await;
    assert!(app.sim.calls(&op::DDM_RESTORABLE) <= 60);
    assert_eq!(
        first.success("c", "ddm"),
        0.0,
        "nothing cached for the instances the budget refused"
    );
    assert_eq!(second.success("c", "dcs"), 1.0);
    assert_eq!(second.success("c", "koophone"), 1.0);
}

#[tokio::test]
async fn a_ddm_listing_that_does_not_end_within_the_page_cap_fails() {
    let app = spawn_app(Opts {
        sim: SimConfig {
            ddm_instances: vec![SimDdmInstance {
                id: DDM_ID.into(),
                targets: 10_000,
            }],
            ..frozen_sim(10)
        },
        config: ONE_CLOUD.into(),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "ddm"), 0.0);
    assert_eq!(m.success("c", "dcs"), 1.0);
    assert_eq!(
        app.sim.calls(&op::DDM_RESTORABLE),
        huaweicloud_exporter::services::ddm::restorable::MAX_PAGES
    );
}
