//! DDM: the instance listing (`ListInstances`, errors `{"errCode","externalMessage"}`) and the
//! restore targets (`ShowAvalibleDdms`, errors `{"error_code","error_msg"}`).

use serde_json::json;

use crate::{definition, frozen, get};

const INSTANCE: &str = "1f5c9fd6cd984056ba89c8c87cc03278in09";

#[tokio::test]
async fn ddm_listing_answers_as_defined() {
    let sim = frozen().await;
    let def = definition("DDM", "ListInstances");
    let project = sim.project_id();
    let ok = get(&sim, &format!("/v1/{project}/instances?offset=0&limit=128")).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    def.check(&ok, &json!({}), &[]);
    for path in [
        format!("/v1/{project}/instances?limit=129"),
        format!("/v1/{project}/instances?offset=-1"),
        "/v1/not-a-project/instances".to_string(),
    ] {
        let bad = get(&sim, &path).await;
        assert_eq!(bad.status, 400, "{path}: {}", bad.body);
        def.check(&bad, &json!({}), &[]);
    }
}

#[tokio::test]
async fn ddm_restore_targets_answer_as_defined() {
    let sim = frozen().await;
    let def = definition("DDM", "ShowAvalibleDdms");
    let project = sim.project_id();
    let path = format!("/v3/{project}/instances/{INSTANCE}/backups/restorable-instances");
    let ok = get(&sim, &format!("{path}?offset=0&limit=128")).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let rows = ok.body["instances"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["available"] == false), "{}", ok.body);
    def.check(&ok, &json!({}), &[]);
    let bad = get(&sim, &format!("{path}?limit=0")).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    def.check(&bad, &json!({}), &[]);
    // An instance the account does not have: 404, which neither the page nor the definition
    // lists (docs/fidelity.md); its body is the operation's own error shape.
    let gone = get(
        &sim,
        &format!("/v3/{project}/instances/0000deadin09/backups/restorable-instances"),
    )
    .await;
    assert_eq!(gone.status, 404, "{}", gone.body);
    def.check(
        &gone,
        &json!({"$ref": "#/definitions/ErrorResponse"}),
        &[404],
    );
}
