//! KooPhone answers that lie: an unreadable status, duplicate and unasked rows, and both forms
//! of a rejection.

use std::time::Duration;

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, SimConfig};

use crate::helpers::*;

use super::{api_results, assert_no_duplicate_series, healthy_phone, probe};

#[tokio::test]
async fn an_unreadable_status_is_unknown_and_the_batch_stands() {
    let app = spawn_app(Opts {
        sim: frozen_sim(40),
        config: ONE_CLOUD.into(),
    })
    .await;
    app.sim.set_fault(
        &op::KOOPHONE_BATCH_STATUS,
        fault(FaultKind::StatusOutOfRange),
    );
    let m = app.scrape().await;
    assert_eq!(m.success("c", "koophone"), 1.0);
    let phones = m.find("huaweicloud_koophone_instance_status", &[]);
    assert_eq!(phones.len(), 40, "every phone");
    for code in ["9223372036854775808", "3", "2.5"] {
        let odd = m.find(
            "huaweicloud_koophone_instance_status",
            &[("code", code), ("status", "unknown")],
        );
        assert!(!odd.is_empty(), "{code}");
    }
    let readable = phones
        .iter()
        .filter(|s| s.labels["status"] != "unknown")
        .count();
    assert!(readable >= 25, "the rest of the batch stands: {readable}");
    assert_eq!(
        m.sum("huaweicloud_koophone_instances", &[("cloud", "c")]),
        40.0
    );
}

#[tokio::test]
async fn duplicate_and_unasked_phone_rows_are_dropped() {
    for kind in [FaultKind::DuplicateRows, FaultKind::UnaskedIds] {
        let app = spawn_app(Opts {
            sim: frozen_sim(150),
            config: ONE_CLOUD.into(),
        })
        .await;
        let ids = app.sim.phone_ids();
        let mut truth = statuses(&app.sim, &ids[..100]).await;
        truth.extend(statuses(&app.sim, &ids[100..]).await);
        app.sim.set_fault(&op::KOOPHONE_BATCH_STATUS, fault(kind));
        let m = app.scrape().await;
        assert_eq!(m.success("c", "koophone"), 1.0, "{kind}");
        assert_no_duplicate_series(&m);
        assert_eq!(
            m.value("huaweicloud_koophone_instances_reported", &[]),
            150.0,
            "{kind}"
        );
        for (id, code) in &truth {
            let code = code.to_string();
            assert_eq!(
                m.find(
                    "huaweicloud_koophone_instance_status",
                    &[("instance_id", id), ("code", &code)]
                )
                .len(),
                1,
                "{kind}: {id} keeps its first row"
            );
        }
        assert!(m
            .find(
                "huaweicloud_koophone_instance_status",
                &[("instance_id", "notasked0")]
            )
            .is_empty());
    }
}

#[tokio::test]
async fn koophone_rejections_fail_in_both_forms() {
    for (kind, result) in [
        (FaultKind::RequestRejected, "client_error"),
        (FaultKind::ErrorsIn200, "api_error"),
    ] {
        let app = spawn_app(Opts {
            sim: SimConfig {
                job_delay: Duration::from_millis(50),
                ..frozen_sim(30)
            },
            config: ONE_CLOUD.into(),
        })
        .await;
        let phone = healthy_phone(&app).await;
        app.sim.set_fault(&op::KOOPHONE_TASK, fault(kind));
        let p = probe(&app, &phone).await;
        assert_eq!(p.value("probe_success", &[]), 0.0, "{kind}");
        app.sim.set_fault(&op::KOOPHONE_BATCH_STATUS, fault(kind));
        let m = app.scrape().await;
        assert_eq!(m.success("c", "koophone"), 0.0, "{kind}");
        assert_eq!(m.success("c", "dcs"), 1.0, "{kind}");
        assert!(api_results(&m, "koophone_task", result) >= 1.0, "{kind}");
        assert!(
            api_results(&m, "koophone_batch_status", result) >= 1.0,
            "{kind}"
        );
        app.sim.clear_faults();
        let p = probe(&app, &phone).await;
        assert_eq!(p.value("probe_success", &[]), 1.0, "{kind}: healthy again");
    }
}
