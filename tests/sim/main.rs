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

#[path = "../common/sim_client.rs"]
mod sim_client;
pub(crate) use sim_client::{answer, iam, spawn, Answer};

pub(crate) fn header<'a>(a: &'a Answer, name: &str) -> &'a str {
    a.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
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
