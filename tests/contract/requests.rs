//! The exporter's requests, as the simulator received them, against each operation's
//! parameters in the definition: names, where each goes (query, header, body), required ones
//! present, bounds (`page_size`, `limit`, `offset`), bodies valid. One exporter runs everything
//! it can call (IAM password auth, every collector, discovery of every service, a probe); each
//! test checks one operation's requests.

use crate::helpers::op;
use huaweicloud_exporter::sim::SimConfig;

use crate::definition;
use crate::helpers::{spawn_app_with_sim, TestApp};

const CONFIG: &str = r#"
timeout: 10s
clouds:
  - name: c
    region: ap-southeast-1
    project_id: {project}
    auth: { password: { domain: demo-domain, user: monitoring, password: demo-password } }
    endpoints: {endpoints}
    dcs: { include_failure: true }
    koophone: { discovery: { pool_scene_tag: CLOUD_PHONE, pool_name: pool-a } }
    ddm: { cache_ttl: 0s }
probes:
  echo:
    cloud: c
    command: getprop sys.boot_completed
    timeout: 10s
"#;

/// An exporter that has scraped once and run one probe, against a simulator whose jobs finish
/// at once; the simulator kept every request.
async fn exercised() -> TestApp {
    let sim = crate::spawn(SimConfig {
        phones: 1000,
        tick: std::time::Duration::ZERO,
        job_delay: std::time::Duration::ZERO,
        ..SimConfig::default()
    })
    .await;
    let app = spawn_app_with_sim(sim, CONFIG).await;
    let m = app.scrape().await;
    for collector in ["dcs", "dcs_instances", "koophone", "ddm"] {
        assert_eq!(m.success("c", collector), 1.0, "collector {collector}");
    }
    let target = app.sim.phone_ids()[0].clone();
    let resp = app
        .http
        .get(app.url(&format!("/probe?module=echo&target={target}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app
}

async fn check(
    endpoint: &huaweicloud_exporter::transport::Operation,
    service: &str,
    operation: &str,
) {
    let app = exercised().await;
    definition(service, operation).check_requests(&app.sim.requests(endpoint));
}

#[tokio::test]
async fn iam_token_requests_keep_the_definition() {
    check(&op::IAM_TOKEN, "IAM", "KeystoneCreateUserTokenByPassword").await;
}

#[tokio::test]
async fn dcs_status_requests_keep_the_definition() {
    check(
        &op::DCS_STATUS,
        "DCS",
        "ListNumberOfInstancesInDifferentStatus",
    )
    .await;
}

#[tokio::test]
async fn dcs_listing_requests_keep_the_definition() {
    check(&op::DCS_LIST, "DCS", "ListInstances").await;
}

/// The listing takes `x-request-id` in the query, unlike the other KooPhone calls.
#[tokio::test]
async fn koophone_listing_requests_keep_the_definition() {
    let def = definition("KooPhone", "ListInstances");
    assert_eq!(def.parameter_in("x-request-id").as_deref(), Some("query"));
    let app = exercised().await;
    let sent = app.sim.requests(&op::KOOPHONE_LIST);
    def.check_requests(&sent);
    // A quarter of 1,000 phones match the filters: more than one page was asked for.
    assert!(sent.len() > 1, "{} listing calls", sent.len());
}

#[tokio::test]
async fn koophone_batch_status_requests_keep_the_definition() {
    check(&op::KOOPHONE_BATCH_STATUS, "KooPhone", "BatchShowInstance").await;
}

#[tokio::test]
async fn koophone_command_requests_keep_the_definition() {
    check(
        &op::KOOPHONE_ASYNC_COMMAND,
        "KooPhone",
        "AsyncInvokeInstance",
    )
    .await;
}

#[tokio::test]
async fn koophone_task_requests_keep_the_definition() {
    check(&op::KOOPHONE_TASK, "KooPhone", "ExecuteJob").await;
}

#[tokio::test]
async fn ddm_listing_requests_keep_the_definition() {
    check(&op::DDM_LIST, "DDM", "ListInstances").await;
}

#[tokio::test]
async fn ddm_restore_target_requests_keep_the_definition() {
    check(&op::DDM_RESTORABLE, "DDM", "ShowAvalibleDdms").await;
}
