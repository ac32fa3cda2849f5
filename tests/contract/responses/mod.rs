//! Each operation the exporter calls, asked as the exporter asks it, for a normal answer and for
//! each documented error the simulator gives; every answer is validated against the published
//! schema of its status code (closed: a field the definition does not name fails too).

pub(crate) mod dcs;
mod ddm;
mod koophone;

use serde_json::{json, Value};

use crate::{answer, definition, frozen, gateway_error, get, TOKEN};

/// IAM's error body (`{"error": {"code", "message", "title"}}`), from IAM's error page; the
/// definition gives the error statuses no schema.
fn iam_error() -> Value {
    json!({
        "type": "object",
        "properties": {"error": {
            "type": "object",
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "title": {"type": "string"},
            },
            "required": ["code", "message", "title"],
        }},
        "required": ["error"],
    })
}

async fn token_call(sim: &huaweicloud_exporter::sim::SimHandle, password: &str) -> crate::Answer {
    crate::iam(sim, "monitoring", password, &sim.project_id()).await
}

#[tokio::test]
async fn iam_token_answers_as_defined() {
    let sim = frozen().await;
    let def = definition("IAM", "KeystoneCreateUserTokenByPassword");
    let ok = token_call(&sim, "demo-password").await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    def.check(&ok, &iam_error(), &[]);

    let refused = token_call(&sim, "wrong-password").await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    def.check(&refused, &iam_error(), &[]);

    let resp = reqwest::Client::new()
        .post(format!("{}/v3/auth/tokens", sim.base_url()))
        .header("content-type", "application/json")
        .body(r#"{"auth": {}}"#)
        .send()
        .await
        .unwrap();
    let bad = answer(resp).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    def.check(&bad, &iam_error(), &[]);
}

/// The gateway's answers (no token, an unknown path, a known path with the wrong method) carry
/// `request_id`, the same as the `X-Request-Id` header, and a wrong method is a 404 `APIGW.0101`
/// as for an unknown path: the gateway routes by method and path together.
#[tokio::test]
async fn gateway_errors_carry_their_request_id() {
    let sim = frozen().await;
    let project = sim.project_id();
    let base = sim.base_url();
    let http = reqwest::Client::new();
    let no_token = answer(
        http.get(format!("{base}/v2/{project}/instances/status"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let unknown = get(&sim, "/v2/nothing/here").await;
    let wrong_method = answer(
        http.delete(format!("{base}/v2/{project}/instances/status"))
            .header("x-auth-token", TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    sim.set_fault(
        &crate::helpers::op::DCS_STATUS,
        huaweicloud_exporter::sim::FaultSpec {
            kind: Some(huaweicloud_exporter::sim::FaultKind::Throttled),
            ..Default::default()
        },
    );
    let throttled = get(&sim, &format!("/v2/{project}/instances/status")).await;
    for (what, a, status, code) in [
        ("throttled", &throttled, 429, "APIG.0308"),
        ("no token", &no_token, 401, "APIGW.0301"),
        ("unknown path", &unknown, 404, "APIGW.0101"),
        ("wrong method", &wrong_method, 404, "APIGW.0101"),
    ] {
        assert_eq!(a.status, status, "{what}: {}", a.body);
        assert_eq!(a.body["error_code"], code, "{what}");
        let errors = crate::definitions::violations(&gateway_error(), &json!({}), &a.body);
        assert!(errors.is_empty(), "{what}: {errors:?}");
        let header = a.headers.get("x-request-id").and_then(|v| v.to_str().ok());
        assert_eq!(a.body["request_id"].as_str(), header, "{what}");
    }
}

/// The `server_error` fault's 500 of every operation, against the definition's 500.
#[tokio::test]
async fn every_operation_s_500_answers_as_defined() {
    use huaweicloud_exporter::sim::{FaultKind, FaultSpec};
    let sim = frozen().await;
    let project = sim.project_id();
    let phone = sim.phone_ids()[0].clone();
    let ddm = "1f5c9fd6cd984056ba89c8c87cc03278in09";
    for op in crate::helpers::all_operations() {
        sim.set_fault(
            op,
            FaultSpec {
                kind: Some(FaultKind::ServerError),
                ..Default::default()
            },
        );
        let (def, fallback, answer) = match op.name {
            "iam_token" => (
                definition("IAM", "KeystoneCreateUserTokenByPassword"),
                iam_error(),
                token_call(&sim, "demo-password").await,
            ),
            "dcs_status" => (
                definition("DCS", "ListNumberOfInstancesInDifferentStatus"),
                dcs::dcs_error(),
                get(&sim, &format!("/v2/{project}/instances/status")).await,
            ),
            "dcs_list" => (
                definition("DCS", "ListInstances"),
                dcs::dcs_error(),
                get(&sim, &format!("/v2/{project}/instances")).await,
            ),
            "koophone_list" => (
                definition("KooPhone", "ListInstances"),
                json!({}),
                get(
                    &sim,
                    "/v1/instances/batch-query?x-request-id=c&page_no=1&page_size=10",
                )
                .await,
            ),
            "koophone_batch_status" => (
                definition("KooPhone", "BatchShowInstance"),
                json!({}),
                crate::post(
                    &sim,
                    "/v1/instances/batch-query-status",
                    json!({"instance_ids": [phone]}),
                )
                .await,
            ),
            "koophone_async_command" => (
                definition("KooPhone", "AsyncInvokeInstance"),
                json!({}),
                crate::post(
                    &sim,
                    "/v1/instances/async-command",
                    json!({"command": "getprop ro.product.model", "instance_ids": [phone]}),
                )
                .await,
            ),
            "koophone_task" => (
                definition("KooPhone", "ExecuteJob"),
                json!({}),
                get(&sim, "/v1/instances/tasks/0000000000000000000000000000dead").await,
            ),
            "ddm_list" => (
                definition("DDM", "ListInstances"),
                json!({}),
                get(&sim, &format!("/v1/{project}/instances")).await,
            ),
            "ddm_restorable" => (
                definition("DDM", "ShowAvalibleDdms"),
                json!({}),
                get(
                    &sim,
                    &format!("/v3/{project}/instances/{ddm}/backups/restorable-instances"),
                )
                .await,
            ),
            other => panic!(
                "operation {other} has no contract case here: add how to call it and its definition"
            ),
        };
        assert_eq!(answer.status, 500, "{}: {}", op.name, answer.body);
        def.check(&answer, &fallback, &[]);
        sim.clear_faults();
    }
}
