//! Auth end to end: AK/SK signing against the simulator's verifier, and secrets kept out of
//! logs, errors, metrics and Debug output of the real binary at debug level.

use std::time::Duration;

use huaweicloud_exporter::sim::{SimConfig, Simulator};
use tokio::net::TcpListener;

use crate::helpers::*;

const AKSK: &str = r#"
clouds:
  - name: signed
    region: ap-southeast-1
    project_id: {project}
    auth: { aksk: { access_key: DEMOACCESSKEY0000001, secret_key: SECRET } }
    endpoints: {endpoints}
    dcs: {}
    ddm: { instance_ids: [1f5c9fd6cd984056ba89c8c87cc03278in09], cache_ttl: 0s }
"#;

#[tokio::test]
async fn aksk_signed_dcs_and_ddm_calls_are_accepted() {
    let app = spawn_app(Opts {
        sim: frozen_sim(10),
        config: AKSK.replace("SECRET", "demo-secret-key-do-not-use"),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("signed", "dcs"), 1.0);
    assert_eq!(
        m.success("signed", "dcs_instances"),
        1.0,
        "the DCS listing carries a signed query (offset, limit, include_failure)"
    );
    assert!(!m
        .find("huaweicloud_dcs_instance_status", &[("cloud", "signed")])
        .is_empty());
    assert_eq!(
        m.success("signed", "ddm"),
        1.0,
        "paged DDM calls carry a signed query"
    );
    assert_eq!(
        m.value(
            "huaweicloud_ddm_restorable_instances",
            &[("cloud", "signed")]
        ),
        300.0
    );
    assert!(m
        .find(
            "huaweicloud_auth_token_expiry_timestamp_seconds",
            &[("cloud", "signed")]
        )
        .is_empty());
}

#[tokio::test]
async fn a_wrong_secret_key_is_refused_as_unauthorized() {
    let app = spawn_app(Opts {
        sim: frozen_sim(10),
        config: AKSK.replace("SECRET", "not-the-key"),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("signed", "dcs"), 0.0);
    assert_eq!(m.success("signed", "dcs_instances"), 0.0);
    // Five bad signatures in a row lock an AK/SK: a refused one is never retried.
    app.scrape().await;
    assert_eq!(
        app.sim.calls(&crate::helpers::op::DCS_STATUS),
        2,
        "one call per scrape"
    );
    assert!(
        m.value(
            "huaweicloud_api_requests_total",
            &[
                ("cloud", "signed"),
                ("operation", "dcs_status"),
                ("result", "unauthorized")
            ]
        ) >= 1.0
    );
}

#[tokio::test]
async fn no_secret_appears_in_debug_logs_metrics_or_errors() {
    let sim_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(
        huaweicloud_exporter::services::SIMULATED,
        SimConfig {
            phones: 20,
            ..SimConfig::default()
        },
        sim_listener,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sk"), "demo-secret-key-do-not-use\n").unwrap();
    let endpoints = crate::helpers::endpoints(&sim.base_url());
    let ids = sim.phone_ids().join(", ");
    let config = format!(
        r#"
clouds:
  - name: pw
    region: ap-southeast-1
    project_id: {project}
    auth: {{ password: {{ domain: demo-domain, user: monitoring, password: ${{TEST_HWC_PASSWORD}} }} }}
    endpoints: {endpoints}
    dcs: {{}}
    koophone: {{ instance_ids: [{ids}] }}
  - name: tok
    region: ap-southeast-1
    project_id: {project}
    auth: {{ token: {{ value: demo-static-token }} }}
    endpoints: {endpoints}
    dcs: {{}}
  - name: signed
    region: ap-southeast-1
    project_id: {project}
    auth: {{ aksk: {{ access_key: DEMOACCESSKEY0000001, secret_key_file: sk }} }}
    endpoints: {endpoints}
    dcs: {{}}
"#,
        project = sim.project_id()
    );
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let (mut child, port) = spawn_binary(
        &path,
        &["--log.level", "debug"],
        &[("TEST_HWC_PASSWORD", "demo-password")],
    )
    .await;
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut text = String::new();
    for _ in 0..100 {
        if let Ok(r) = http.get(&url).send().await {
            text = r.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!text.is_empty(), "the exporter never answered");
    // A second scrape after the token is revoked: the 401 → renew path logs too.
    sim.expire_tokens();
    let text2 = http.get(&url).send().await.unwrap().text().await.unwrap();
    // And a failing one: wrong password is not possible without restart, so fault IAM instead.
    let logs = crate::helpers::stop_and_read_logs(&mut child);

    let m = Exposition::parse(&text);
    assert_eq!(m.success("pw", "koophone"), 1.0);
    assert_eq!(m.success("signed", "dcs"), 1.0);
    assert!(
        logs.contains("DEBUG") || logs.contains("level=debug"),
        "debug logging was on: {logs}"
    );
    let mut secrets = vec![
        "demo-password".to_string(),
        "demo-static-token".to_string(),
        "demo-secret-key-do-not-use".to_string(),
    ];
    let issued = sim.issued_tokens();
    assert!(!issued.is_empty());
    secrets.extend(issued);
    for secret in &secrets {
        for (what, hay) in [
            ("logs", &logs),
            ("first scrape", &text),
            ("second scrape", &text2),
        ] {
            assert!(
                !hay.contains(secret.as_str()),
                "a secret ({}…) leaked into the {what}",
                &secret[..6]
            );
        }
    }
}

#[tokio::test]
async fn many_callers_needing_a_token_at_once_make_one_iam_request() {
    use crate::helpers::op;
    let app = spawn_app(Opts {
        sim: frozen_sim(5),
        config: TWO_CLOUDS.into(),
    })
    .await;
    let provider = app.token_provider("pw");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let calls = (0..32).map(|_| {
        let p = provider.clone();
        tokio::spawn(async move { p.token(deadline).await.map(|(_, generation)| generation) })
    });
    let generations: Vec<u64> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert!(
        generations.iter().all(|g| *g == generations[0]),
        "everyone got the same token"
    );
    assert_eq!(app.sim.calls(&op::IAM_TOKEN), 1);
}

#[tokio::test]
async fn a_token_is_refreshed_before_it_expires() {
    use crate::helpers::op;
    let app = spawn_app(Opts {
        sim: SimConfig {
            token_ttl: Duration::from_secs(2),
            ..frozen_sim(5)
        },
        config: TWO_CLOUDS.into(),
    })
    .await;
    let first = app.scrape().await;
    assert_eq!(first.success("pw", "dcs"), 1.0);
    let expiry = first.value(
        "huaweicloud_auth_token_expiry_timestamp_seconds",
        &[("cloud", "pw")],
    );
    // Past 90% of the token's life, but before it ends: the exporter must not wait for a 401.
    tokio::time::sleep(Duration::from_millis(1900)).await;
    // As if the token had been fetched 30 s ago: IAM is asked at most once per 30 s.
    let provider = app.token_provider("pw");
    provider.backdate(Duration::from_secs(30)).await;
    let m = app.scrape().await;
    assert_eq!(m.success("pw", "dcs"), 1.0);
    assert_eq!(app.sim.calls(&op::IAM_TOKEN), 2);
    assert!(
        m.value(
            "huaweicloud_auth_token_expiry_timestamp_seconds",
            &[("cloud", "pw")]
        ) > expiry
    );
    assert!(
        m.find(
            "huaweicloud_api_requests_total",
            &[("cloud", "pw"), ("result", "unauthorized")]
        )
        .is_empty(),
        "refreshed ahead, never refused"
    );
}
