//! Redirects are never followed: a 3xx on any operation fails that call, and the host it points
//! to receives nothing.

use std::sync::atomic::Ordering;
use std::time::Duration;

use huaweicloud_exporter::sim::{Endpoint, FaultKind, FaultSpec, SimConfig};

use crate::helpers::*;

use super::{api_results, healthy_phone, probe, recorder};

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
