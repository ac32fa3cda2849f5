//! An inventory never vanishes on one answer, for every service's listing: after a good
//! listing of 50 phones, 3 DDM instances and the DCS instances, one answer with no rows and no
//! total (`empty_listing`), or a short one whose total agrees (`short_listing`), keeps every resource, fails the discovery (success 0), leaves the
//! last-success time alone and counts in `huaweicloud_discovery_refused_shrinks_total`; a
//! second agreeing answer is applied, and so is a genuine release of everything, one refresh
//! later; gradual churn applies at once.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::helpers::op;
use huaweicloud_exporter::sim::SimHandle;
use huaweicloud_exporter::sim::{FaultKind, FaultSpec, SimConfig, SimDdmInstance};
use serde_json::{json, Value};

use crate::helpers::{fault, frozen_sim, spawn_app_with_sim, spawn_sim, Exposition, TestApp};

use super::fleet_change;

/// One cloud `pw`: KooPhone and DDM discovered every second, DCS listed in every scrape.
const CONFIG: &str = r#"timeout: 5s
clouds:
  - name: pw
    region: ap-southeast-1
    project_id: {project}
    auth: { token: { value: demo-static-token } }
    endpoints: {endpoints}
    koophone: { discovery: { refresh_interval: 1s } }
    ddm: { discovery: { refresh_interval: 1s }, cache_ttl: 0s }
    dcs: {}
"#;

/// 50 phones, 3 DDM instances (a target each), the default DCS instances.
fn sim_config() -> SimConfig {
    SimConfig {
        ddm_instances: (0..3)
            .map(|i| SimDdmInstance {
                id: format!("{:032x}in09", 0xdd00 + i),
                targets: 1,
            })
            .collect(),
        ..frozen_sim(50)
    }
}

/// One service's listing as the test sees it.
struct Subject {
    /// The simulated operation.
    endpoint: &'static huaweicloud_exporter::transport::Operation,
    /// The collector whose success the listing decides.
    collector: &'static str,
    /// The `service` label of its discovery metrics.
    service: &'static str,
    /// The per-resource series whose ids are the inventory.
    series: &'static str,
}

const KOOPHONE: Subject = Subject {
    endpoint: &op::KOOPHONE_LIST,
    collector: "koophone_discovery",
    service: "koophone",
    series: "huaweicloud_koophone_instance_info",
};

const DDM: Subject = Subject {
    endpoint: &op::DDM_LIST,
    collector: "ddm_discovery",
    service: "ddm",
    series: "huaweicloud_ddm_instance_info",
};

const DCS: Subject = Subject {
    endpoint: &op::DCS_LIST,
    collector: "dcs_instances",
    service: "dcs",
    series: "huaweicloud_dcs_instance_status",
};

impl Subject {
    fn ids(&self, m: &Exposition) -> BTreeSet<String> {
        m.find(self.series, &[("cloud", "pw")])
            .iter()
            .map(|s| s.labels["instance_id"].clone())
            .collect()
    }

    fn ok(&self, m: &Exposition) -> f64 {
        m.success("pw", self.collector)
    }

    fn refused(&self, m: &Exposition) -> f64 {
        m.value(
            "huaweicloud_discovery_refused_shrinks_total",
            &[("cloud", "pw"), ("service", self.service)],
        )
    }

    fn last_success(&self, m: &Exposition) -> Option<f64> {
        m.find(
            "huaweicloud_discovery_last_success_timestamp_seconds",
            &[("cloud", "pw"), ("service", self.service)],
        )
        .first()
        .map(|s| s.value)
    }

    fn empty_listing(&self, app: &TestApp, times: u32) {
        self.empty_listing_times(&app.sim, times);
    }

    /// One empty answer on this listing, unless one is set already.
    fn empty_listing_on(&self, sim: &SimHandle) {
        self.empty_listing_times(sim, 1);
    }

    fn empty_listing_times(&self, sim: &SimHandle, times: u32) {
        self.listing_fault(sim, FaultKind::EmptyListing, times);
    }

    fn listing_fault(&self, sim: &SimHandle, kind: FaultKind, times: u32) {
        sim.set_fault(
            self.endpoint,
            FaultSpec {
                times: Some(times),
                ..fault(kind)
            },
        );
    }
}

/// Scrapes until `done` holds (a refresh is due every second and runs behind the scrape that
/// finds it due); at most 60 scrapes a quarter of a second apart.
async fn until(app: &TestApp, what: &str, done: impl Fn(&Exposition) -> bool) -> Exposition {
    for _ in 0..60 {
        let m = app.scrape().await;
        if done(&m) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("never saw: {what}");
}

async fn spawn() -> TestApp {
    spawn_app_with_sim(spawn_sim(sim_config()).await, CONFIG).await
}

/// One empty answer is held and the next good one keeps everything; two empty answers in a
/// row are applied, and a good listing then fills the inventory again.
async fn one_empty_answer_changes_nothing(s: &Subject) {
    let app = spawn().await;
    let m = until(&app, "a first listing", |m| s.ok(m) == 1.0).await;
    let all = s.ids(&m);
    assert!(all.len() >= 3, "{}: {all:?}", s.service);
    assert_eq!(s.refused(&m), 0.0);
    let first_success = s.last_success(&m);

    s.empty_listing(&app, 1);
    let m = until(&app, "the empty answer held", |m| s.refused(m) == 1.0).await;
    assert_eq!(s.ok(&m), 0.0, "{}: a held listing is no success", s.service);
    assert_eq!(s.ids(&m), all, "{}: every resource stays", s.service);
    assert_eq!(s.last_success(&m), first_success, "{}", s.service);
    if s.service != "dcs" {
        assert_eq!(
            m.value(
                "huaweicloud_discovery_resources",
                &[("cloud", "pw"), ("service", s.service)]
            ),
            all.len() as f64
        );
    }
    let m = until(&app, "a good listing after it", |m| s.ok(m) == 1.0).await;
    assert_eq!(s.ids(&m), all, "{}", s.service);
    assert_eq!(s.refused(&m), 1.0);

    // Two empty answers in a row agree: the second is applied.
    s.empty_listing(&app, 2);
    let m = until(&app, "the second empty answer applied", |m| {
        s.ids(m).is_empty() && s.ok(m) == 1.0
    })
    .await;
    assert_eq!(s.refused(&m), 2.0, "{}: held once, then applied", s.service);
    // From nothing, a listing is applied at once.
    let m = until(&app, "the inventory back", |m| s.ids(m) == all).await;
    assert_eq!(s.ok(&m), 1.0);
}

#[tokio::test]
async fn one_empty_phone_listing_never_empties_the_inventory() {
    one_empty_answer_changes_nothing(&KOOPHONE).await;
}

#[tokio::test]
async fn one_empty_ddm_listing_never_empties_the_inventory() {
    one_empty_answer_changes_nothing(&DDM).await;
}

#[tokio::test]
async fn one_empty_dcs_listing_never_empties_the_instances() {
    one_empty_answer_changes_nothing(&DCS).await;
}

/// A self-consistent short answer (a quarter of the rows, a total that agrees; for 3 DDM
/// instances no rows and `instance_num: 0`) is held once like an empty one: every resource
/// stays, and the next good listing keeps them.
async fn one_short_answer_changes_nothing(s: &Subject) {
    let app = spawn().await;
    let m = until(&app, "a first listing", |m| s.ok(m) == 1.0).await;
    let all = s.ids(&m);
    s.listing_fault(&app.sim, FaultKind::ShortListing, 1);
    let m = until(&app, "the short answer held", |m| s.refused(m) == 1.0).await;
    assert_eq!(s.ok(&m), 0.0, "{}", s.service);
    assert_eq!(s.ids(&m), all, "{}: every resource stays", s.service);
    let m = until(&app, "a good listing after it", |m| s.ok(m) == 1.0).await;
    assert_eq!((s.ids(&m), s.refused(&m)), (all, 1.0), "{}", s.service);
}

#[tokio::test]
async fn one_short_phone_listing_never_shrinks_the_inventory() {
    one_short_answer_changes_nothing(&KOOPHONE).await;
}

#[tokio::test]
async fn one_ddm_listing_saying_total_0_never_empties_the_inventory() {
    one_short_answer_changes_nothing(&DDM).await;
}

#[tokio::test]
async fn one_short_dcs_listing_never_shrinks_the_instances() {
    one_short_answer_changes_nothing(&DCS).await;
}

/// The release of every resource (the listing answers `total_count: 0`, `instance_num: 0`) is
/// held once like any other shrink, then applied when the next refresh agrees; a release of
/// less than half applies at once.
async fn a_release_of_everything_is_applied_one_refresh_later(
    s: &Subject,
    release: impl Fn(&SimHandle, usize) -> Value,
) {
    let app = spawn().await;
    let m = until(&app, "a first listing", |m| s.ok(m) == 1.0).await;
    let all = s.ids(&m);

    // Churn: one resource released: at once, no refusal.
    fleet_change(&app.sim, release(&app.sim, 1)).await;
    let m = until(&app, "the churn applied", |m| {
        s.ids(m).len() == all.len() - 1
    })
    .await;
    assert_eq!((s.ok(&m), s.refused(&m)), (1.0, 0.0));
    let rest = all.len() - 1;

    fleet_change(&app.sim, release(&app.sim, rest)).await;
    let m = until(&app, "the release held", |m| s.refused(m) == 1.0).await;
    assert_eq!(s.ok(&m), 0.0);
    assert_eq!(s.ids(&m).len(), rest, "held: the last inventory stays");
    let m = until(&app, "the release applied", |m| s.ids(m).is_empty()).await;
    assert_eq!((s.ok(&m), s.refused(&m)), (1.0, 1.0));
}

#[tokio::test]
async fn a_release_of_every_phone_is_applied_when_the_next_refresh_agrees() {
    a_release_of_everything_is_applied_one_refresh_later(
        &KOOPHONE,
        |sim, n| json!({ "remove_phone_ids": sim.phone_ids()[..n] }),
    )
    .await;
}

#[tokio::test]
async fn a_release_of_every_ddm_instance_is_applied_when_the_next_refresh_agrees() {
    a_release_of_everything_is_applied_one_refresh_later(&DDM, |_, n| json!({ "remove_ddm": n }))
        .await;
}

/// The one log line a held listing gets: which discovery, the old and new size, and the
/// listing's request id.
#[tokio::test]
async fn a_held_listing_is_said_in_one_log_line_with_its_request_id() {
    let sim = spawn_sim(sim_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let yaml = CONFIG
        .replace("{endpoints}", &crate::helpers::endpoints("{base}"))
        .replace("{base}", &sim.base_url())
        .replace("{project}", &sim.project_id());
    std::fs::write(&path, yaml).unwrap();
    let (mut child, port) = crate::helpers::spawn_binary(&path, &[], &[]).await;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let scrape = || async {
        match reqwest::get(&url).await {
            Ok(r) => Some(Exposition::parse(&r.text().await.ok()?)),
            Err(_) => None,
        }
    };
    let mut held = false;
    for _ in 0..80 {
        let Some(m) = scrape().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        // Once both inventories are whole, one empty answer on each listing.
        if KOOPHONE.ok(&m) == 1.0 && DDM.ok(&m) == 1.0 && KOOPHONE.refused(&m) == 0.0 {
            for s in [&KOOPHONE, &DDM] {
                s.empty_listing_on(&sim);
            }
        }
        if KOOPHONE.refused(&m) == 1.0 && DDM.refused(&m) == 1.0 {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let logs = crate::helpers::stop_and_read_logs(&mut child);
    assert!(held, "never held:\n{logs}");
    for (collector, sizes) in [
        (
            "koophone_discovery",
            "remove 50 of the 50 resources in use (to 0)",
        ),
        ("ddm_discovery", "remove 3 of the 3 resources in use (to 0)"),
    ] {
        let lines: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains(sizes) && l.contains(collector))
            .collect();
        assert_eq!(lines.len(), 1, "{collector}: {lines:?}\n{logs}");
        assert!(
            crate::helpers::has_hex_request_id(lines[0]),
            "{collector}: no request id in {:?}",
            lines[0]
        );
    }
}
