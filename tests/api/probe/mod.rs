//! Black-box command probes: `/probe?module=&target=` against the simulator. This file holds
//! the fixture (a config with modules, a frozen fleet) and the calls every test makes; one
//! module per subject.

mod budget;
mod deadlines;
mod requests;
mod results;
mod reuse;

use std::time::Duration;

use huaweicloud_exporter::sim::SimConfig;

use crate::helpers::*;

/// Phones of the `pw` cloud: the fleet's first ten and one the fleet does not have. The `tok`
/// cloud has `{other}`; `{healthy}` are three of `pw`'s phones that can run commands.
const CONFIG: &str = r#"
timeout: 5s
clouds:
  - name: pw
    region: ap-southeast-1
    project_id: {project}
    auth: { password: { domain: demo-domain, user: monitoring, password: demo-password } }
    endpoints: {endpoints}
    koophone: { instance_ids: [{phones10}, gone0001] }
  - name: tok
    region: eu-west-101
    project_id: {project}
    auth: { token: { value: demo-static-token } }
    endpoints: {endpoints}
    koophone: { instance_ids: [{other}] }
probes:
  boot:
    cloud: pw
    command: getprop sys.boot_completed
    expect: "^1$"
    timeout: 5s
    poll_interval: 50ms
    groups:
      healthy: [{healthy}]
      stray: [{healthy}, {other}]
  model:
    cloud: pw
    command: getprop ro.product.model
    expect: "^no-such-model$"
    poll_interval: 50ms
  any:
    cloud: pw
    command: echo hello
    poll_interval: 50ms
  often:
    cloud: pw
    command: getprop sys.boot_completed
    expect: "^1$"
    poll_interval: 50ms
    min_interval: 1s
  patient:
    cloud: pw
    command: getprop sys.boot_completed
    expect: "^1$"
    poll_interval: 50ms
    min_interval: 4s
  short:
    cloud: pw
    command: getprop sys.boot_completed
    timeout: 1s
    poll_interval: 50ms
"#;

/// The phone of the fleet configured for `tok` only.
const OTHER: usize = 15;
/// A phone of the fleet configured for no cloud.
const UNCONFIGURED: usize = 12;

/// An exporter with [`CONFIG`] on a frozen fleet of 20 phones whose jobs take `job_delay`.
async fn probe_app(job_delay: Duration) -> (TestApp, Vec<String>) {
    let sim = spawn_sim(SimConfig {
        job_delay,
        ..frozen_sim(20)
    })
    .await;
    let ids = sim.phone_ids();
    // Phones in an exception state (5, 6) refuse commands; the frozen fleet keeps its states.
    let healthy: Vec<String> = statuses(&sim, &ids[..10])
        .await
        .into_iter()
        .filter(|(_, s)| !matches!(s, 5 | 6))
        .map(|(id, _)| id)
        .take(3)
        .collect();
    assert_eq!(healthy.len(), 3, "the fleet has healthy phones");
    let config = CONFIG
        .replace("{healthy}", &healthy.join(", "))
        .replace("{other}", &ids[OTHER]);
    (spawn_app_with_sim(sim, &config).await, healthy)
}

async fn get(app: &TestApp, query: &str, timeout_header: Option<&str>) -> (u16, String, String) {
    let mut req = app.http.get(app.url(&format!("/probe?{query}")));
    if let Some(t) = timeout_header {
        req = req.header("X-Prometheus-Scrape-Timeout-Seconds", t);
    }
    let resp = req.send().await.expect("probe");
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ctype, resp.text().await.expect("body"))
}

async fn probe(app: &TestApp, query: &str) -> Exposition {
    let (status, _, text) = get(app, query, None).await;
    assert_eq!(status, 200, "{query}: {text}");
    Exposition::parse(&text)
}

fn job(m: &Exposition, metric: &str, id: &str) -> f64 {
    m.value(metric, &[("instance_id", id)])
}

async fn commands_total(app: &TestApp, module: &str, source: &str) -> f64 {
    app.scrape().await.sum(
        "huaweicloud_koophone_probe_commands_total",
        &[("module", module), ("source", source)],
    )
}

fn error_code(m: &Exposition, id: &str) -> Vec<String> {
    m.find(
        "huaweicloud_koophone_probe_job_error_info",
        &[("instance_id", id)],
    )
    .iter()
    .map(|s| s.labels["error_code"].clone())
    .collect()
}
