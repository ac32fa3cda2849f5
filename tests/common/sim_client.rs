//! Calling the simulator as a client does, shared by the test binaries that talk to it over
//! HTTP (`tests/sim`, `tests/contract`): start it on port 0, read an answer, ask IAM for a token.

use huaweicloud_exporter::sim::{SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};

/// A simulator with every registered service, on a free loopback port.
pub async fn spawn(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(huaweicloud_exporter::services::SIMULATED, config, listener)
        .await
        .unwrap()
}

/// One answer of the simulator, read whole.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (`null` when it is not JSON).
    pub body: Value,
}

/// Reads `resp` into an [`Answer`].
pub async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// IAM `POST /v3/auth/tokens` with the password method, scoped to `project`.
pub async fn iam(sim: &SimHandle, user: &str, password: &str, project: &str) -> Answer {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "password": password, "domain": {"name": "demo-domain"}}}},
        "scope": {"project": {"id": project}}}});
    let resp = reqwest::Client::new()
        .post(format!("{}/v3/auth/tokens", sim.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    answer(resp).await
}
