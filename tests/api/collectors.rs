//! Collector behaviour that needs files or time: the phone-list file and the DDM cache.

use crate::helpers::op;
use huaweicloud_exporter::sim::FaultKind;

use crate::helpers::*;

fn cloud_with(extra: &str) -> String {
    token_cloud("c", extra)
}

#[tokio::test]
async fn the_phone_file_is_reread_when_it_changes_and_a_bad_reread_keeps_the_old_list() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("phones.txt");
    // The fleet's first ids are the page's examples.
    std::fs::write(&file, "# two phones\na44uhlf7\nefjy72gs\n").unwrap();
    let app = spawn_app(Opts {
        sim: frozen_sim(50),
        config: cloud_with(&format!(
            "    koophone: {{ instance_ids_file: {} }}\n",
            file.display()
        )),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(
        m.value(
            "huaweicloud_koophone_instances_requested",
            &[("cloud", "c")]
        ),
        2.0
    );

    let ids = app.sim.phone_ids();
    std::fs::write(&file, ids[..30].join("\n") + "\n").unwrap();
    let m = app.scrape().await;
    assert_eq!(
        m.value(
            "huaweicloud_koophone_instances_requested",
            &[("cloud", "c")]
        ),
        30.0
    );

    std::fs::write(&file, format!("{}\n{}\n", ids[0], "x".repeat(40))).unwrap();
    let m = app.scrape().await;
    assert_eq!(
        m.value(
            "huaweicloud_koophone_instances_requested",
            &[("cloud", "c")]
        ),
        30.0,
        "a bad file keeps the previous list"
    );
    assert_eq!(m.success("c", "koophone"), 1.0);
}

/// The phones requested in a scrape of cloud `c`.
fn requested(m: &Exposition) -> f64 {
    m.value(
        "huaweicloud_koophone_instances_requested",
        &[("cloud", "c")],
    )
}

#[tokio::test]
async fn a_phone_file_that_empties_or_is_mid_write_keeps_the_old_list_until_it_reads_the_same_twice(
) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("phones.txt");
    let sim = spawn_sim(frozen_sim(50)).await;
    let ids = sim.phone_ids();
    let lines = |n: usize| ids[..n].join("\n") + "\n";
    std::fs::write(&file, lines(40)).unwrap();
    let app = spawn_app_with_sim(
        sim,
        &cloud_with(&format!(
            "    koophone: {{ instance_ids_file: {} }}\n",
            file.display()
        )),
    )
    .await;
    assert_eq!(requested(&app.scrape().await), 40.0);

    // Truncated to empty (the first step of a rewrite): held; read the same again: applied.
    std::fs::write(&file, "").unwrap();
    let m = app.scrape().await;
    assert_eq!(requested(&m), 40.0, "one empty reading changes nothing");
    assert_eq!(m.success("c", "koophone"), 1.0);
    assert_eq!(requested(&app.scrape().await), 0.0, "empty twice: applied");

    // From an empty list, a list applies at once.
    std::fs::write(&file, lines(40)).unwrap();
    assert_eq!(requested(&app.scrape().await), 40.0);

    // Half written: 39 ids and the start of the 40th, no newline: held, then the finished
    // file applies.
    let half = format!("{}{}", lines(39), &ids[39][..4]);
    std::fs::write(&file, &half).unwrap();
    assert_eq!(
        requested(&app.scrape().await),
        40.0,
        "a half-written id is held"
    );
    std::fs::write(&file, lines(41)).unwrap();
    assert_eq!(
        requested(&app.scrape().await),
        41.0,
        "the finished file applies"
    );

    // More than half removed in one write: held once, then applied; a few removed: at once.
    std::fs::write(&file, lines(10)).unwrap();
    assert_eq!(requested(&app.scrape().await), 41.0);
    assert_eq!(requested(&app.scrape().await), 10.0);
    std::fs::write(&file, lines(8)).unwrap();
    assert_eq!(requested(&app.scrape().await), 8.0, "churn applies at once");

    // A file that ends without a newline for good is its word once it reads the same twice.
    std::fs::write(&file, format!("{}{}", lines(5), ids[5])).unwrap();
    assert_eq!(requested(&app.scrape().await), 8.0);
    assert_eq!(
        requested(&app.scrape().await),
        6.0,
        "6 ids, read the same twice"
    );
}

#[tokio::test]
async fn ddm_answers_are_cached_for_the_ttl() {
    let app = spawn_app(Opts {
        sim: frozen_sim(5),
        config: cloud_with(
            "    ddm: { instance_ids: [1f5c9fd6cd984056ba89c8c87cc03278in09], cache_ttl: 5m }\n",
        ),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "ddm"), 1.0);
    let calls = app.sim.calls(&op::DDM_RESTORABLE);
    assert_eq!(calls, 3, "300 targets at 128 per page");
    app.sim
        .set_fault(&op::DDM_RESTORABLE, fault(FaultKind::ServerError));
    let m = app.scrape().await;
    assert_eq!(m.success("c", "ddm"), 1.0, "served from the cache");
    assert_eq!(
        app.sim.calls(&op::DDM_RESTORABLE),
        calls,
        "no call inside the TTL"
    );
    assert!(
        m.value(
            "huaweicloud_ddm_restorable_data_age_seconds",
            &[("cloud", "c")]
        ) >= 0.0
    );
    assert_eq!(
        m.value("huaweicloud_ddm_restorable_instances", &[("cloud", "c")]),
        300.0
    );
}

#[tokio::test]
async fn an_unknown_ddm_instance_fails_only_the_ddm_collector() {
    let app = spawn_app(Opts {
        sim: frozen_sim(5),
        config: cloud_with("    dcs: {}\n    ddm: { instance_ids: [ffffffffffffffffffffffffffffffffin09], cache_ttl: 0s }\n"),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "ddm"), 0.0);
    assert_eq!(m.success("c", "dcs"), 1.0);
    assert!(
        m.value(
            "huaweicloud_api_requests_total",
            &[("operation", "ddm_restorable"), ("result", "client_error")]
        ) >= 1.0
    );
}

#[tokio::test]
async fn a_ddm_parameter_error_fails_the_collector() {
    let app = spawn_app(Opts {
        sim: frozen_sim(5),
        config: cloud_with(
            "    ddm: { instance_ids: [1f5c9fd6cd984056ba89c8c87cc03278in09], cache_ttl: 0s }\n",
        ),
    })
    .await;
    app.sim
        .set_fault(&op::DDM_RESTORABLE, fault(FaultKind::ApiError));
    let m = app.scrape().await;
    assert_eq!(m.success("c", "ddm"), 0.0);
    app.sim.clear_faults();
    assert_eq!(app.scrape().await.success("c", "ddm"), 1.0);
}

#[tokio::test]
async fn shards_split_the_phones_and_only_shard_0_reads_account_wide_apis() {
    let sim = spawn_sim(frozen_sim(500)).await;
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0.0;
    for index in 0..3 {
        let config = cloud_with("    dcs: {}\n    koophone: { instance_ids: [{phones}] }\n    ddm: { instance_ids: [1f5c9fd6cd984056ba89c8c87cc03278in09], cache_ttl: 0s }\n")
            + &format!("shard: {{ index: {index}, total: 3 }}\n");
        let app = spawn_app_with_sim(sim.clone(), &config).await;
        let m = app.scrape().await;
        let requested = m.value(
            "huaweicloud_koophone_instances_requested",
            &[("cloud", "c")],
        );
        assert!(
            requested > 100.0 && requested < 240.0,
            "shard {index} has {requested} of 500 phones"
        );
        total += requested;
        for s in m.find("huaweicloud_koophone_instance_status", &[("cloud", "c")]) {
            assert!(
                seen.insert(s.labels["instance_id"].clone()),
                "a phone in two shards"
            );
        }
        let has_dcs = !m
            .find(
                "huaweicloud_scrape_collector_success",
                &[("collector", "dcs")],
            )
            .is_empty();
        let has_ddm = !m
            .find(
                "huaweicloud_scrape_collector_success",
                &[("collector", "ddm")],
            )
            .is_empty();
        assert_eq!(
            (has_dcs, has_ddm),
            (index == 0, index == 0),
            "shard {index}"
        );
    }
    assert_eq!(total, 500.0);
    assert_eq!(seen.len(), 500, "every phone in exactly one shard");
}
