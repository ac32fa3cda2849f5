//! How a listing is read page by page: rows repeated across pages, a lying `total`, pages
//! counted from 0, and a server that refuses the page size.

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, SimConfig};

use crate::helpers::{fault, frozen_sim, spawn_app_with_sim, spawn_sim};

use super::{assert_reports_every_live_phone, config, discovery_ok, ids_of, live};

#[tokio::test]
async fn rows_repeated_across_pages_are_kept_once_and_complete() {
    let sim = spawn_sim(SimConfig {
        faults: vec![(&op::KOOPHONE_LIST, fault(FaultKind::RowsRepeated))],
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
        faults: vec![(&op::KOOPHONE_LIST, fault(FaultKind::ListTotalLies))],
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
        sim.calls(&op::KOOPHONE_LIST) <= 10,
        "{}",
        sim.calls(&op::KOOPHONE_LIST)
    );
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
