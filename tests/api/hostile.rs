//! Hostile upstream peers (issue 11, the upstream half): redirects, DDM paging and budget,
//! duplicate and unasked rows, token storms, cardinality, unreadable statuses, and both forms
//! of a KooPhone rejection. Each case is a simulator fault named after what it models.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use huaweicloud_exporter::sim::{Endpoint, FaultKind, FaultSpec, SimConfig, SimDdmInstance};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::helpers::*;

const DDM_ID: &str = "1f5c9fd6cd984056ba89c8c87cc03278in09";

/// [`ONE_CLOUD`] against a frozen fleet of 10 phones.
async fn one_cloud_app() -> TestApp {
    spawn_app(Opts {
        sim: frozen_sim(10),
        config: ONE_CLOUD.into(),
    })
    .await
}

/// A second listener standing for another host: it counts connections and bytes received.
struct Recorder {
    base: String,
    connections: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
}

async fn recorder() -> Recorder {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let bytes = Arc::new(AtomicUsize::new(0));
    let (c, b) = (connections.clone(), bytes.clone());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let b = b.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = sock.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    b.fetch_add(n, Ordering::SeqCst);
                }
            });
        }
    });
    Recorder {
        base,
        connections,
        bytes,
    }
}

async fn probe(app: &TestApp, target: &str) -> Exposition {
    let r = app
        .http
        .get(app.url(&format!("/probe?module=echo&target={target}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    Exposition::parse(&r.text().await.unwrap())
}

/// A phone that runs commands (not in backup/restoration exception).
async fn healthy_phone(app: &TestApp) -> String {
    statuses(&app.sim, &app.sim.phone_ids())
        .await
        .into_iter()
        .find(|(_, s)| !matches!(s, 5 | 6))
        .map(|(id, _)| id)
        .unwrap()
}

fn api_results(m: &Exposition, operation: &str, result: &str) -> f64 {
    m.sum(
        "huaweicloud_api_requests_total",
        &[("operation", operation), ("result", result)],
    )
}

/// No two samples share a name and label set (Prometheus would reject the scrape's duplicates).
fn assert_no_duplicate_series(m: &Exposition) {
    let mut seen = HashSet::new();
    for s in &m.samples {
        assert!(
            seen.insert((s.name.clone(), s.labels.clone())),
            "duplicate series {} {:?}",
            s.name,
            s.labels
        );
    }
}

#[tokio::test]
async fn a_redirect_on_any_operation_is_never_followed() {
    let ops = [
        (Endpoint::IamToken, "iam_token"),
        (Endpoint::DcsStatus, "dcs_status"),
        (Endpoint::KoophoneBatchStatus, "koophone_batch_status"),
        (Endpoint::DdmRestorable, "ddm_restorable"),
        (Endpoint::KoophoneAsyncCommand, "koophone_async_command"),
        (Endpoint::KoophoneTask, "koophone_task"),
    ];
    for (op, name) in ops {
        let other = recorder().await;
        let app = spawn_app(Opts {
            sim: SimConfig {
                job_delay: Duration::from_millis(50),
                ..frozen_sim(30)
            },
            config: ONE_CLOUD.into(),
        })
        .await;
        let phone = healthy_phone(&app).await;
        let redirect = FaultSpec {
            kind: Some(FaultKind::Redirect),
            location: Some(other.base.clone()),
            ..FaultSpec::default()
        };
        if op != Endpoint::IamToken {
            app.scrape().await; // a token held, as in a running exporter
        }
        app.sim.set_fault(op, redirect);
        match op {
            Endpoint::KoophoneAsyncCommand | Endpoint::KoophoneTask => {
                let p = probe(&app, &phone).await;
                assert_eq!(p.value("probe_success", &[]), 0.0, "{name}");
            }
            _ => {
                let m = app.scrape().await;
                let hit: &[&str] = match op {
                    Endpoint::IamToken => &["dcs", "koophone", "ddm"],
                    Endpoint::DcsStatus => &["dcs"],
                    Endpoint::KoophoneBatchStatus => &["koophone"],
                    _ => &["ddm"],
                };
                for c in ["dcs", "koophone", "ddm"] {
                    let want = if hit.contains(&c) { 0.0 } else { 1.0 };
                    assert_eq!(m.success("c", c), want, "{name}: {c}");
                }
            }
        }
        let m = app.scrape().await;
        assert!(
            api_results(&m, name, "redirect") >= 1.0,
            "{name}: counted as result=\"redirect\""
        );
        assert_eq!(
            other.connections.load(Ordering::SeqCst),
            0,
            "{name}: the other host was contacted"
        );
        assert_eq!(other.bytes.load(Ordering::SeqCst), 0, "{name}");
    }
}

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
        .set_fault(Endpoint::DdmRestorable, fault(FaultKind::TotalLies));
    let m = app.scrape().await;
    assert_eq!(m.success("c", "ddm"), 1.0);
    // 300 targets: pages of 128, 128 and 44 (short: the end); 1 target: one short page.
    assert_eq!(app.sim.calls(Endpoint::DdmRestorable), 4);
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
        .set_fault(Endpoint::DdmRestorable, fault(FaultKind::DuplicateRows));
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
    assert_eq!(app.sim.calls(Endpoint::DdmRestorable), 60);
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
    assert!(app.sim.calls(Endpoint::DdmRestorable) <= 60);
    assert_eq!(
        first.success("c", "ddm"),
        0.0,
        "nothing cached for the instances the budget refused"
    );
    assert_eq!(second.success("c", "dcs"), 1.0);
    assert_eq!(second.success("c", "koophone"), 1.0);
}

#[tokio::test]
async fn a_nonsense_token_expiry_costs_one_iam_request() {
    let app = one_cloud_app().await;
    app.sim
        .set_fault(Endpoint::IamToken, fault(FaultKind::ExpiredTokenIssued));
    for _ in 0..10 {
        let m = app.scrape().await;
        for c in ["dcs", "koophone", "ddm"] {
            assert_eq!(m.success("c", c), 1.0, "{c}");
        }
    }
    assert_eq!(app.sim.calls(Endpoint::IamToken), 1);
}

#[tokio::test]
async fn a_refusing_upstream_costs_at_most_one_iam_request_per_30_s() {
    let app = one_cloud_app().await;
    app.scrape().await;
    app.sim
        .set_fault(Endpoint::DcsStatus, fault(FaultKind::TokenExpired));
    for _ in 0..10 {
        let m = app.scrape().await;
        assert_eq!(m.success("c", "dcs"), 0.0);
        assert_eq!(m.success("c", "koophone"), 1.0);
    }
    assert_eq!(
        app.sim.calls(Endpoint::IamToken),
        1,
        "no new token within 30 s of the last request"
    );
    // Once 30 s have gone by, a refused token is replaced.
    let provider = app
        .state
        .exporter()
        .cloud("c")
        .unwrap()
        .client
        .token_provider()
        .unwrap()
        .clone();
    provider.backdate(Duration::from_secs(30)).await;
    app.scrape().await;
    assert_eq!(app.sim.calls(Endpoint::IamToken), 2);
}

#[tokio::test]
async fn too_many_dcs_fields_fail_the_collector_unless_the_cap_allows_them() {
    let app = one_cloud_app().await;
    app.sim
        .set_fault(Endpoint::DcsStatus, fault(FaultKind::ManyFields));
    let m = app.scrape().await;
    assert_eq!(m.success("c", "dcs"), 0.0);
    assert_eq!(m.success("c", "koophone"), 1.0);
    assert_eq!(m.success("c", "ddm"), 1.0);
    assert!(m.find("huaweicloud_dcs_instances", &[]).is_empty());

    let raised = spawn_app(Opts {
        sim: frozen_sim(10),
        config: ONE_CLOUD.replace("dcs: {}", "dcs: { max_series: 20000 }"),
    })
    .await;
    raised
        .sim
        .set_fault(Endpoint::DcsStatus, fault(FaultKind::ManyFields));
    let m = raised.scrape().await;
    assert_eq!(m.success("c", "dcs"), 1.0);
    assert!(m.find("huaweicloud_dcs_instances", &[]).len() > 5_000);
    assert!(m.find("huaweicloud_dcs_engine_instances", &[]).len() > 5_000);
}

#[tokio::test]
async fn insane_dcs_field_names_are_left_out() {
    let app = one_cloud_app().await;
    app.sim
        .set_fault(Endpoint::DcsStatus, fault(FaultKind::InsaneFieldNames));
    let m = app.scrape().await;
    assert_eq!(m.success("c", "dcs"), 1.0);
    assert_eq!(
        m.find("huaweicloud_dcs_instances", &[("state", "running")])
            .len(),
        1
    );
    for s in m
        .find("huaweicloud_dcs_instances", &[])
        .into_iter()
        .chain(m.find("huaweicloud_dcs_engine_instances", &[]))
    {
        for v in s.labels.values() {
            assert!(
                v.len() <= 64
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)),
                "insane label value {v:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_phone_list_beyond_the_cap_fails_before_any_call() {
    let app = spawn_app(Opts {
        sim: frozen_sim(30),
        config: ONE_CLOUD.replace(
            "koophone: { instance_ids: [{phones}] }",
            "koophone: { instance_ids: [{phones}], max_series: 20 }",
        ),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "koophone"), 0.0);
    assert_eq!(m.success("c", "dcs"), 1.0);
    assert_eq!(app.sim.calls(Endpoint::KoophoneBatchStatus), 0);
}

#[tokio::test]
async fn an_unreadable_status_is_unknown_and_the_batch_stands() {
    let app = spawn_app(Opts {
        sim: frozen_sim(40),
        config: ONE_CLOUD.into(),
    })
    .await;
    app.sim.set_fault(
        Endpoint::KoophoneBatchStatus,
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
        app.sim
            .set_fault(Endpoint::KoophoneBatchStatus, fault(kind));
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
        app.sim.set_fault(Endpoint::KoophoneTask, fault(kind));
        let p = probe(&app, &phone).await;
        assert_eq!(p.value("probe_success", &[]), 0.0, "{kind}");
        app.sim
            .set_fault(Endpoint::KoophoneBatchStatus, fault(kind));
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

#[tokio::test]
async fn each_oddity_gets_a_log_line_with_its_request_id() {
    use std::io::Read;
    use std::process::{Command, Stdio};

    let sim = spawn_sim(frozen_sim(20)).await;
    let other = recorder().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = ONE_CLOUD
        .split("probes:")
        .next()
        .unwrap()
        .replace("{base}", &sim.base_url())
        .replace("{project}", &sim.project_id())
        .replace("{phones}", &sim.phone_ids().join(", "));
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .args([
            "--config.file",
            path.to_str().unwrap(),
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    sim.set_fault(
        Endpoint::KoophoneBatchStatus,
        fault(FaultKind::DuplicateRows),
    );
    sim.set_fault(Endpoint::DdmRestorable, fault(FaultKind::DuplicateRows));
    sim.set_fault(Endpoint::DcsStatus, fault(FaultKind::InsaneFieldNames));
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut up = false;
    for _ in 0..100 {
        if http.get(&url).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the exporter never answered");
    sim.set_fault(Endpoint::KoophoneBatchStatus, fault(FaultKind::UnaskedIds));
    sim.set_fault(
        Endpoint::DcsStatus,
        FaultSpec {
            kind: Some(FaultKind::Redirect),
            location: Some(format!("{}/secret?q=token", other.base)),
            ..FaultSpec::default()
        },
    );
    http.get(&url).send().await.unwrap();
    sim.clear_faults();
    sim.expire_tokens();
    http.get(&url).send().await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let mut logs = String::new();
    for mut pipe in [
        Box::new(child.stderr.take().unwrap()) as Box<dyn Read>,
        Box::new(child.stdout.take().unwrap()),
    ] {
        pipe.read_to_string(&mut logs).unwrap();
    }
    let hex_id = |line: &str| {
        line.split("request_id=")
            .nth(1)
            .map(|rest| rest.trim_start_matches('"'))
            .is_some_and(|id| id.len() >= 32 && id[..32].bytes().all(|b| b.is_ascii_hexdigit()))
    };
    for what in [
        "KooPhone answered for phones not asked, or for a phone more than once",
        "DDM listed the same restore target more than once",
        "the total DDM reported disagrees",
        "DCS answered fields whose names are no sane label value",
        "redirected to host",
        "token refused",
    ] {
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(what)).collect();
        assert!(!lines.is_empty(), "no log line for {what:?}:\n{logs}");
        assert!(
            lines.iter().all(|l| hex_id(l)),
            "{what:?} without a request id: {lines:?}"
        );
    }
    // The Location's host is named; its path and query are not.
    assert!(!logs.contains("secret?q=token"), "{logs}");
    assert_eq!(other.connections.load(Ordering::SeqCst), 0);
}

#[test]
fn series_caps_are_configurable_and_checked() {
    let load = |dcs: &str| {
        let text = format!(
            "clouds:\n  - name: prod\n    region: ap-southeast-1\n    project_id: 0123456789abcdef0123456789abcdef\n    auth: {{ token: {{ value: t }} }}\n    dcs: {dcs}\n"
        );
        huaweicloud_exporter::services::load_str(
            &text,
            "config.yaml",
            std::path::Path::new("."),
            &|_| None,
        )
        .map_err(|e| e.to_string())
    };
    let c = load("{}").unwrap();
    assert_eq!(
        c.clouds[0]
            .sections
            .get::<huaweicloud_exporter::services::dcs::config::DcsConfig>("dcs")
            .unwrap()
            .max_series,
        1_000
    );
    let c = load("{ max_series: 5 }").unwrap();
    assert_eq!(
        c.clouds[0]
            .sections
            .get::<huaweicloud_exporter::services::dcs::config::DcsConfig>("dcs")
            .unwrap()
            .max_series,
        5
    );
    assert_eq!(
        load("{ max_series: 0 }").unwrap_err(),
        "config.yaml: clouds[0].dcs.max_series: is 0; it must be between 1 and 10000000 (default 1000)"
    );
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
        app.sim.calls(Endpoint::DdmRestorable),
        huaweicloud_exporter::services::ddm::restorable::MAX_PAGES
    );
}
