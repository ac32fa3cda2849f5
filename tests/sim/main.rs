//! Black-box tests of the simulated Huawei Cloud over HTTP: the simulator on port 0, reqwest
//! against it, assertions on status codes, headers and parsed JSON. One module per area;
//! the helpers that spawn the simulator and call it are here.

pub(crate) use std::time::Duration;

mod dcs;
mod faults;
mod iam;
mod koophone;
mod registry;
mod services;

pub(crate) use huaweicloud_exporter::sim::{FaultKind, FaultSpec, SimConfig, SimHandle, Simulator};
pub(crate) use serde_json::{json, Value};

/// The operations these tests name: the clients' own, which the simulator serves by name.
#[allow(unused_imports)] // the tests name only some
pub(crate) mod op {
    pub(crate) use huaweicloud_exporter::services::dcs::api::{DCS_LIST, DCS_STATUS};
    pub(crate) use huaweicloud_exporter::services::ddm::api::{
        LIST as DDM_LIST, RESTORABLE as DDM_RESTORABLE,
    };
    pub(crate) use huaweicloud_exporter::services::koophone::api::{
        ASYNC_COMMAND as KOOPHONE_ASYNC_COMMAND, BATCH_STATUS as KOOPHONE_BATCH_STATUS,
        LIST as KOOPHONE_LIST, TASK as KOOPHONE_TASK,
    };
    pub(crate) use huaweicloud_exporter::transport::auth::IAM_TOKEN;
}

pub(crate) const STATIC_TOKEN: &str = "demo-static-token";

pub(crate) async fn spawn(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(huaweicloud_exporter::services::SIMULATED, config, listener)
        .await
        .unwrap()
}

pub(crate) struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (`null` when it is not JSON).
    pub body: Value,
}

pub(crate) async fn answer(resp: reqwest::Response) -> Answer {
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

pub(crate) fn header<'a>(a: &'a Answer, name: &str) -> &'a str {
    a.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

pub(crate) async fn iam(sim: &SimHandle, user: &str, password: &str, project: &str) -> Answer {
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

pub(crate) async fn koophone_post(
    sim: &SimHandle,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Answer {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .header("content-type", "application/json")
        .header("x-request-id", "req-123")
        .body(body.to_string());
    if let Some(token) = token {
        req = req.header("x-auth-token", token);
    }
    answer(req.send().await.unwrap()).await
}

pub(crate) async fn get(sim: &SimHandle, path: &str, token: &str) -> Answer {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .header("x-auth-token", token)
        .header("x-request-id", "req-456")
        .send()
        .await
        .unwrap();
    answer(resp).await
}

pub(crate) fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|c| c.is_ascii_hexdigit())
}
