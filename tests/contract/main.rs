//! Contract tests: the simulator answers, and the exporter asks, as Huawei's published API
//! definitions say (OpenAPI 2.0 per operation, from the `huawei-cloud-api-definitions-*` crates).
//! `responses` asks the simulator as the exporter does, for a normal answer and each documented
//! error it can give, and validates each answer against the schema of its status code;
//! `requests` runs the exporter against the simulator and validates what it sent against each
//! operation's parameters. A later definition that the simulator no longer matches fails here,
//! naming the field. `docs/fidelity.md` records the versions and the choices the sources leave
//! open; `fidelity` checks that it names the versions locked.

mod definitions;
mod fidelity;
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
mod requests;
mod responses;

use huaweicloud_exporter::sim::{SimConfig, SimHandle};
use serde_json::{json, Value};

pub use definitions::definition;
#[path = "../common/sim_client.rs"]
mod sim_client;
pub use sim_client::{answer, iam, spawn, Answer};

/// The static token the simulator takes by default.
pub const TOKEN: &str = "demo-static-token";

/// A simulator whose fleet stands still.
pub async fn frozen() -> SimHandle {
    spawn(SimConfig {
        tick: std::time::Duration::ZERO,
        ..SimConfig::default()
    })
    .await
}

/// `method path` with the static token and, when given, `x-request-id` and a JSON body.
pub async fn call(
    sim: &SimHandle,
    method: reqwest::Method,
    path: &str,
    request_id: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.base_url()))
        .header("x-auth-token", TOKEN);
    if let Some(id) = request_id {
        req = req.header("x-request-id", id);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    answer(req.send().await.unwrap()).await
}

pub async fn get(sim: &SimHandle, path: &str) -> Answer {
    call(sim, reqwest::Method::GET, path, Some("contract-0001"), None).await
}

pub async fn post(sim: &SimHandle, path: &str, body: Value) -> Answer {
    call(
        sim,
        reqwest::Method::POST,
        path,
        Some("contract-0001"),
        Some(body),
    )
    .await
}

/// The API gateway's error body, which no service definition carries: the gateway's error-code
/// page (`APIG.xxxx`/`APIGW.xxxx`, a message, the request id).
pub fn gateway_error() -> Value {
    json!({
        "type": "object",
        "properties": {
            "error_code": {"type": "string", "pattern": "^APIGW?\\.[0-9]{4}$"},
            "error_msg": {"type": "string"},
            "request_id": {"type": "string", "minLength": 1},
        },
        "required": ["error_code", "error_msg", "request_id"],
    })
}
