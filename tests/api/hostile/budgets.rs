//! One client cannot spend a shared budget: scrapes whose `X-Prometheus-Scrape-Timeout-Seconds`
//! leave them (almost) no time charge the DDM budget of 60 calls a minute only for calls that
//! are sent, and the restore reads they start run on under the collector's own timeout and fill
//! the cache, so the next normal scrape is served. (The probe command budget:
//! `probe::budget::short_probe_timeouts_cannot_spend_the_command_budget`.)

use crate::helpers::op;
use huaweicloud_exporter::services::ddm::api::RESTORABLE;
use huaweicloud_exporter::sim::{SimConfig, SimDdmInstance};

use crate::helpers::*;

/// DDM instances of the simulated tenant.
const INSTANCES: usize = 6;

fn ddm_calls(app: &TestApp) -> u64 {
    app.sim.calls(&op::DDM_LIST) + app.sim.calls(&op::DDM_RESTORABLE)
}

#[tokio::test]
async fn tiny_scrape_timeouts_cannot_spend_the_ddm_budget() {
    let app = spawn_app(Opts {
        sim: SimConfig {
            ddm_instances: (0..INSTANCES)
                .map(|i| SimDdmInstance {
                    id: format!("{:032x}in09", 0xbd00 + i),
                    targets: 3,
                })
                .collect(),
            ..frozen_sim(1)
        },
        // Discovered instances, the default 5-minute cache.
        config: token_cloud("c", "    ddm: { discovery: { refresh_interval: 5m } }\n"),
    })
    .await;

    for header in ["0.000001", "0.00001", "0.0001", "0.001", "0.01"].repeat(5) {
        let (status, _) = app.scrape_raw(Some(header)).await;
        assert_eq!(status, 200, "header {header}");
    }

    let m = app.scrape().await;

    assert_eq!(m.success("c", "ddm_discovery"), 1.0);
    assert_eq!(m.success("c", "ddm"), 1.0);
    assert_eq!(
        m.find("huaweicloud_ddm_restorable_instances", &[("cloud", "c")])
            .len(),
        INSTANCES,
        "every instance answered"
    );
    assert_eq!(
        m.value(
            "huaweicloud_ddm_restorable_pending_instances",
            &[("cloud", "c")]
        ),
        0.0
    );
    // The 25 tiny scrapes and the normal one together: what one normal scrape spends (one
    // listing page, one read per instance), and the budget charged for exactly those calls.
    let spent = ddm_calls(&app);
    assert!(
        spent <= 1 + INSTANCES as u64,
        "{spent} DDM calls; one scrape needs {}",
        1 + INSTANCES
    );
    assert_eq!(budget_left(&app), Some(60 - spent as usize));
    let again = app.scrape().await;
    assert_eq!(again.success("c", "ddm"), 1.0);
    assert_eq!(ddm_calls(&app), spent, "the cache holds the answers");
}

/// What the DDM budget of cloud `c` lets through now.
fn budget_left(app: &TestApp) -> Option<usize> {
    let exporter = app.state.exporter();
    exporter.cloud("c")?.client.budget_available(&RESTORABLE)
}

#[tokio::test]
async fn a_restore_read_a_tiny_scrape_abandons_fills_the_cache_of_listed_ids() {
    let app = spawn_app(Opts {
        sim: frozen_sim(1),
        config: token_cloud(
            "c",
            "    ddm: { instance_ids: [1f5c9fd6cd984056ba89c8c87cc03278in09] }\n",
        ),
    })
    .await;

    for _ in 0..25 {
        let (status, _) = app.scrape_raw(Some("0.000001")).await;
        assert_eq!(status, 200);
    }
    // The read the first of them started goes on to its end: its 3 pages (300 targets) reach
    // the simulator though nobody waits for them.
    let mut waited = 0;
    while app.sim.calls(&op::DDM_RESTORABLE) < 3 {
        assert!(waited < 500, "the abandoned read never finished");
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let m = app.scrape().await;

    assert_eq!(m.success("c", "ddm"), 1.0);
    assert_eq!(
        m.value("huaweicloud_ddm_restorable_instances", &[("cloud", "c")]),
        300.0
    );
    // Served by that read: no other, and the budget paid for its three calls only.
    assert_eq!(app.sim.calls(&op::DDM_RESTORABLE), 3, "one read");
    assert_eq!(budget_left(&app), Some(57));
}
