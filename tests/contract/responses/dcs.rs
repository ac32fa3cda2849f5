//! DCS: the status counts (`ListNumberOfInstancesInDifferentStatus`) and the listing
//! (`ListInstances`). The definitions give the error statuses no schema; the error page's body
//! (`error_code` of 9 digits, `error_msg`, `error_ext_msg`) stands in.

use serde_json::{json, Value};

use crate::{definition, frozen, get};

/// DCS's error body by its error page: a 9-digit `error_code` (`111400002`), `error_msg` of at
/// most 1,024 characters, `error_ext_msg` "not used currently and set to null".
pub fn dcs_error() -> Value {
    json!({
        "type": "object",
        "properties": {
            "error_code": {"type": "string", "pattern": "^[0-9]{9}$"},
            "error_msg": {"type": "string", "maxLength": 1024},
            "error_ext_msg": {"type": ["string", "null"], "maxLength": 1024},
        },
        "required": ["error_code", "error_msg"],
    })
}

#[tokio::test]
async fn dcs_status_counts_answer_as_defined() {
    let sim = frozen().await;
    let def = definition("DCS", "ListNumberOfInstancesInDifferentStatus");
    let project = sim.project_id();
    for query in ["", "?include_failure=true", "?include_failure=false"] {
        let ok = get(&sim, &format!("/v2/{project}/instances/status{query}")).await;
        assert_eq!(ok.status, 200, "{query}: {}", ok.body);
        def.check(&ok, &dcs_error(), &[]);
    }
    let bad = get(&sim, "/v2/not-a-project/instances/status").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.body["error_code"], "111400002");
    def.check(&bad, &dcs_error(), &[]);
}

#[tokio::test]
async fn dcs_listing_answers_as_defined() {
    let sim = frozen().await;
    let def = definition("DCS", "ListInstances");
    let project = sim.project_id();
    let all = get(
        &sim,
        &format!("/v2/{project}/instances?offset=0&limit=1000&include_failure=true"),
    )
    .await;
    assert_eq!(all.status, 200, "{}", all.body);
    def.check(&all, &dcs_error(), &[]);
    // Across the rows every field of the model is served (a field the cloud leaves null, such as
    // `order_id` of a pay-per-use instance, is left out where it would be null).
    let fields: std::collections::BTreeSet<&str> = all.body["instances"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_object().unwrap().keys().map(String::as_str))
        .collect();
    let model = crate::definitions::property_names(&def, "InstanceListInfo");
    assert_eq!(model.len(), 41);
    let missing: Vec<&String> = model
        .iter()
        .filter(|f| !fields.contains(f.as_str()))
        .collect();
    assert!(missing.is_empty(), "fields never served: {missing:?}");

    for query in [
        "?tags=env=prod",
        "?ip=192.168.0.20",
        "?include_delete=true",
        "?name=sessions&name_equal=false",
    ] {
        let a = get(&sim, &format!("/v2/{project}/instances{query}")).await;
        assert_eq!(a.status, 200, "{query}: {}", a.body);
        def.check(&a, &dcs_error(), &[]);
    }
    for (query, code) in [
        ("", "111400002"),
        ("?limit=0", "111400001"),
        ("?offset=-1", "111400001"),
    ] {
        let path = if query.is_empty() {
            "/v2/not-a-project/instances".to_string()
        } else {
            format!("/v2/{project}/instances{query}")
        };
        let bad = get(&sim, &path).await;
        assert_eq!(bad.status, 400, "{path}: {}", bad.body);
        assert_eq!(bad.body["error_code"], code, "{path}");
        def.check(&bad, &dcs_error(), &[]);
    }
}
