//! Token storms and token recovery: a refused token is replaced at once (a revocation at any
//! age heals on the next scrape); a refusing upstream costs at most two IAM requests in its
//! first 30 s, then the backoff (30 s doubling to 300 s); a nonsense expiry costs one request;
//! and an IAM failure states one retry delay. IAM requests are counted by the simulator; the
//! provider's clock is moved with `backdate`, never waited for.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, FaultSpec};

use crate::helpers::*;

use super::one_cloud_app;

const ALL: [&str; 3] = ["dcs", "koophone", "ddm"];

#[tokio::test]
async fn a_nonsense_token_expiry_costs_one_iam_request() {
    let app = one_cloud_app().await;
    app.sim
        .set_fault(&op::IAM_TOKEN, fault(FaultKind::ExpiredTokenIssued));
    for _ in 0..10 {
        let m = app.scrape().await;
        for c in ALL {
            assert_eq!(m.success("c", c), 1.0, "{c}");
        }
    }
    assert_eq!(app.sim.calls(&op::IAM_TOKEN), 1);
}

#[tokio::test]
async fn a_revocation_at_any_age_of_the_token_is_healed_on_the_next_scrape() {
    let app = one_cloud_app().await;
    app.scrape().await;
    // Revoked moments after IAM issued it (a password rotation right after the first scrape).
    app.sim.expire_tokens();
    let m = app.scrape().await;
    for c in ALL {
        assert_eq!(m.success("c", c), 1.0, "{c}, token revoked when young");
    }
    assert_eq!(app.sim.calls(&op::IAM_TOKEN), 2, "one replacement");
    // Revoked an hour into its life.
    app.token_provider("c")
        .backdate(Duration::from_secs(3600))
        .await;
    app.sim.expire_tokens();
    let m = app.scrape().await;
    for c in ALL {
        assert_eq!(m.success("c", c), 1.0, "{c}, token revoked when old");
    }
    assert_eq!(app.sim.calls(&op::IAM_TOKEN), 3, "one replacement");
    assert!(
        m.sum(
            "huaweicloud_api_requests_total",
            &[("cloud", "c"), ("result", "unauthorized")]
        ) >= 2.0,
        "each revocation was seen as a 401"
    );
}

#[tokio::test]
async fn a_token_revoked_at_issue_is_replaced_within_the_first_scrape() {
    let app = one_cloud_app().await;
    app.sim.set_fault(
        &op::IAM_TOKEN,
        FaultSpec {
            times: Some(1),
            ..fault(FaultKind::RevokedTokenIssued)
        },
    );
    let m = app.scrape().await;
    for c in ALL {
        assert_eq!(m.success("c", c), 1.0, "{c}");
    }
    assert_eq!(app.sim.calls(&op::IAM_TOKEN), 2);
}

/// Scrapes `n` times; every scrape the DCS collector fails and KooPhone (which takes the same
/// token) succeeds.
async fn scrape_refused(app: &TestApp, n: usize) {
    for _ in 0..n {
        let m = app.scrape().await;
        assert_eq!(m.success("c", "dcs"), 0.0);
        assert_eq!(m.success("c", "koophone"), 1.0);
    }
}

#[tokio::test]
async fn a_refusing_upstream_costs_at_most_two_iam_requests_in_its_first_30_s_then_the_backoff() {
    let app = one_cloud_app().await;
    app.scrape().await;
    assert_eq!(app.sim.calls(&op::IAM_TOKEN), 1);
    app.sim
        .set_fault(&op::DCS_STATUS, fault(FaultKind::TokenExpired));
    let provider = app.token_provider("c");
    scrape_refused(&app, 10).await;
    assert_eq!(
        app.sim.calls(&op::IAM_TOKEN),
        2,
        "the first refusal replaced the token at once; its replacement, refused young, waits"
    );
    // Then 30 s, 60 s, 120 s, 240 s, 300 s, 300 s between requests: ten seconds short of each
    // wait asks nothing, the wait itself asks once. (Ten, not one: real time passes while the
    // scrapes run, and on a loaded machine two scrapes can take more than a second.)
    let mut iam = 2;
    for wait in [30, 60, 120, 240, 300, 300] {
        provider.backdate(Duration::from_secs(wait - 10)).await;
        scrape_refused(&app, 2).await;
        assert_eq!(app.sim.calls(&op::IAM_TOKEN), iam, "{wait} s wait: early");
        provider.backdate(Duration::from_secs(10)).await;
        scrape_refused(&app, 2).await;
        iam += 1;
        assert_eq!(app.sim.calls(&op::IAM_TOKEN), iam, "{wait} s wait: due");
    }
    // Once the upstream takes tokens again: the token refused last is replaced when its wait
    // is over, and a revocation after the replacement has lived 30 s is healed at once.
    app.sim.clear_faults();
    provider.backdate(Duration::from_secs(300)).await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "dcs"), 1.0);
    assert_eq!(app.sim.calls(&op::IAM_TOKEN), iam + 1);
    provider.backdate(Duration::from_secs(30)).await;
    app.sim.expire_tokens();
    let m = app.scrape().await;
    for c in ALL {
        assert_eq!(m.success("c", c), 1.0, "{c}");
    }
    assert_eq!(app.sim.calls(&op::IAM_TOKEN), iam + 2);
}

#[tokio::test]
async fn tokens_revoked_at_every_issue_cost_two_iam_requests_in_30_s() {
    let app = one_cloud_app().await;
    app.sim
        .set_fault(&op::IAM_TOKEN, fault(FaultKind::RevokedTokenIssued));
    for _ in 0..10 {
        let m = app.scrape().await;
        for c in ALL {
            assert_eq!(m.success("c", c), 0.0, "{c}");
        }
    }
    assert_eq!(app.sim.calls(&op::IAM_TOKEN), 2);
    app.token_provider("c")
        .backdate(Duration::from_secs(30))
        .await;
    app.scrape().await;
    assert_eq!(app.sim.calls(&op::IAM_TOKEN), 3);
}

/// Log lines written while it is the thread's subscriber (a `#[tokio::test]` runs the
/// exporter and the simulator on its one thread).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn an_iam_failure_states_one_retry_delay() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = spawn_app(Opts {
        sim: frozen_sim(10),
        config: ONE_CLOUD.replace("password: demo-password", "password: wrong"),
    })
    .await;
    let m = app.scrape().await;
    assert_eq!(m.success("c", "dcs"), 0.0);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let iam_line = text
        .lines()
        .find(|l| l.contains("IAM token request failed"))
        .unwrap_or_else(|| panic!("no IAM failure line in:\n{text}"));
    let retry: u64 = iam_line
        .split("retry_in_s=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retry_in_s in {iam_line}"));
    assert_eq!(retry, 30, "the first failure waits 30 s");
    let said = format!("not asking IAM again for another {retry}s");
    let failed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("collector failed"))
        .collect();
    assert_eq!(
        failed.len(),
        4,
        "dcs, dcs_instances, koophone, ddm:\n{text}"
    );
    for line in failed {
        assert!(line.contains(&said), "not the same {retry} s: {line}");
    }
}
