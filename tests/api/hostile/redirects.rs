//! Redirects are never followed: a 3xx on any operation fails that call, and the host it points
//! to receives nothing. The operations are the registry's (IAM's token request and every
//! service's calls), so a new service's calls are covered with no edit here.

use std::sync::atomic::Ordering;
use std::time::Duration;

use huaweicloud_exporter::sim::{FaultKind, FaultSpec, SimConfig};

use crate::helpers::*;

use super::{api_results, recorder};

/// One password cloud that makes every call: each collector in every scrape, KooPhone and DDM
/// discovered (listings), and a probe module (async command and task query).
const EVERY_CALL: &str = r#"
timeout: 5s
clouds:
  - name: c
    region: ap-southeast-1
    project_id: {project}
    auth: { password: { domain: demo-domain, user: monitoring, password: demo-password } }
    endpoints: {endpoints}
    dcs: {}
    koophone: { discovery: { refresh_interval: 1s } }
    ddm: { discovery: { refresh_interval: 1s }, cache_ttl: 0s }
probes:
  echo:
    cloud: c
    command: echo ok
    expect: "^ok$"
    timeout: 5s
    poll_interval: 50ms
    min_interval: 0s
"#;

#[tokio::test]
async fn a_redirect_on_any_operation_is_never_followed() {
    let ops = all_operations();
    assert!(
        ops.len() >= 9,
        "the registry lists the operations: {}",
        ops.len()
    );
    for op in ops {
        let name = op.name;
        let other = recorder().await;
        let redirect = FaultSpec {
            kind: Some(FaultKind::Redirect),
            location: Some(other.base.clone()),
            ..FaultSpec::default()
        };
        // The fault is there from the start: every call of `op` is redirected, the first one
        // included; the others (the token request among them) answer, so calls carry a token.
        let sim = spawn_sim(SimConfig {
            job_delay: Duration::from_millis(50),
            faults: vec![(op, redirect)],
            ..frozen_sim(30)
        })
        .await;
        // Read from the simulator's state: asking its API would make (and count) the call.
        let phone = sim
            .phone_ids()
            .into_iter()
            .find(|id| matches!(sim.phone_status(id), Some(s) if s != 5 && s != 6))
            .unwrap();
        let app = spawn_app_with_sim(sim, EVERY_CALL).await;
        // Scrapes and a probe until the call was made (listings run in the background).
        for _ in 0..100 {
            app.scrape().await;
            // Its answer depends on the fault (a phone not yet discovered is refused): only
            // the calls it makes matter here.
            let url = app.url(&format!("/probe?module=echo&target={phone}"));
            app.http.get(url).send().await.unwrap();
            if app.sim.calls(op) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(app.sim.calls(op) > 0, "{name}: never called");
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
