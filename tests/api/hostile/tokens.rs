//! Token storms: a nonsense expiry or a refusing upstream costs at most one IAM request per
//! 30 s.

use std::time::Duration;

use huaweicloud_exporter::sim::{Endpoint, FaultKind};

use crate::helpers::*;

use super::one_cloud_app;

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
    let provider = app.token_provider("c");
    provider.backdate(Duration::from_secs(30)).await;
    app.scrape().await;
    assert_eq!(app.sim.calls(Endpoint::IamToken), 2);
}
