//! DCS: `GET /v2/{project_id}/instances/status`, instance counts per state, overall and per
//! engine, from the fleet's counts at the current tick.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::fleet::{DCS_ENGINES, DCS_STATES};
use super::{Call, FaultKind, Inner, Operation, Reply};

pub(crate) async fn status(
    State(inner): State<Arc<Inner>>,
    Path(project_id): Path<String>,
    call: Call,
) -> Response {
    inner
        .serve(Operation::DcsStatus, &call, |inner, fault| {
            answer(inner, &project_id, call.uri.query(), fault)
        })
        .await
}

/// `include_failure=true` asks for `createfailed_count`; anything else leaves it out.
fn include_failure(query: Option<&str>) -> bool {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .any(|(k, v)| k == "include_failure" && v == "true")
}

fn answer(inner: &Inner, project_id: &str, query: Option<&str>, fault: Option<FaultKind>) -> Reply {
    if project_id != inner.config.project_id {
        return Reply::new(
            StatusCode::BAD_REQUEST,
            json!({
                "error_code": "DCS.4800",
                "error_msg": "Invalid project ID in the request URL.",
                "error_ext_msg": null,
            }),
        );
    }
    let mut value = body(
        &inner.fleet().dcs_counts(inner.tick()),
        include_failure(query),
        fault == Some(FaultKind::NewState),
    );
    match fault {
        Some(FaultKind::ManyFields) => many_fields(&mut value),
        Some(FaultKind::InsaneFieldNames) => insane_field_names(&mut value),
        _ => {}
    }
    Reply::ok(value)
}

/// Fields `many_fields` adds at the top level and in `redis`.
pub const MANY_FIELDS: usize = 5_000;

fn many_fields(value: &mut Value) {
    for i in 0..MANY_FIELDS {
        value[format!("state{i}_count")] = json!(1);
        value["redis"][format!("state{i}_count")] = json!(1);
    }
}

/// Names `insane_field_names` adds, each a `_count` field; plus an engine named `bad "engine"`.
pub fn insane_names() -> Vec<String> {
    vec![
        "quo\"te_count".to_string(),
        "new\nline_count".to_string(),
        "ünïcode_count".to_string(),
        format!("{}_count", "x".repeat(300)),
        "sp ace_count".to_string(),
    ]
}

fn insane_field_names(value: &mut Value) {
    for name in insane_names() {
        value[name.as_str()] = json!(3);
    }
    value["bad \"engine\""] = json!({"running_count": 1});
}

/// The answer body; `new_state` adds `hibernating_count` everywhere and a `valkey` engine.
pub(crate) fn body(
    counts: &[[u64; DCS_STATES.len()]; DCS_ENGINES.len()],
    include_failure: bool,
    new_state: bool,
) -> Value {
    let shown = |state: &str| include_failure || state != "createfailed";
    let mut engines: Vec<(String, Vec<(String, u64)>)> = DCS_ENGINES
        .iter()
        .zip(counts)
        .map(|(engine, row)| {
            let fields = DCS_STATES
                .iter()
                .zip(row)
                .filter(|(state, _)| shown(state))
                .map(|(state, n)| (format!("{state}_count"), *n))
                .collect();
            (engine.to_string(), fields)
        })
        .collect();
    if new_state {
        for (i, (_, fields)) in engines.iter_mut().enumerate() {
            fields.push(("hibernating_count".to_string(), 1 + i as u64));
        }
        let mut valkey: Vec<(String, u64)> = DCS_STATES
            .iter()
            .filter(|state| shown(state))
            .map(|state| (format!("{state}_count"), u64::from(*state == "running") * 5))
            .collect();
        valkey.push(("hibernating_count".to_string(), 2));
        engines.push(("valkey".to_string(), valkey));
    }
    let mut top = Map::new();
    for (_, fields) in &engines {
        for (name, n) in fields {
            let total = top.get(name).and_then(Value::as_u64).unwrap_or(0) + n;
            top.insert(name.clone(), json!(total));
        }
    }
    for (engine, fields) in engines {
        let obj: Map<String, Value> = fields.into_iter().map(|(k, n)| (k, json!(n))).collect();
        top.insert(engine, Value::Object(obj));
    }
    Value::Object(top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::fleet::Fleet;

    #[test]
    fn top_level_is_sum_of_engines() {
        let counts = Fleet::new(1, 1).dcs_counts(3);
        let body = body(&counts, true, false);
        for state in DCS_STATES {
            let key = format!("{state}_count");
            let sum =
                body["redis"][&key].as_u64().unwrap() + body["memcached"][&key].as_u64().unwrap();
            assert_eq!(body[&key].as_u64(), Some(sum), "{key}");
            assert!(sum > 0, "{key}");
        }
    }

    #[test]
    fn createfailed_only_on_request() {
        let counts = Fleet::new(1, 1).dcs_counts(0);
        let without = body(&counts, false, false);
        assert!(without.get("createfailed_count").is_none());
        assert!(without["redis"].get("createfailed_count").is_none());
        assert!(body(&counts, true, false)
            .get("createfailed_count")
            .is_some());
        assert!(include_failure(Some("include_failure=true")));
        assert!(!include_failure(Some("include_failure=false")));
        assert!(!include_failure(None));
    }

    #[test]
    fn new_state_adds_field_and_engine() {
        let counts = Fleet::new(1, 1).dcs_counts(0);
        let body = body(&counts, true, true);
        assert_eq!(body["hibernating_count"], 5);
        assert_eq!(body["valkey"]["hibernating_count"], 2);
        assert_eq!(body["redis"]["hibernating_count"], 1);
        let running = body["redis"]["running_count"].as_u64().unwrap()
            + body["memcached"]["running_count"].as_u64().unwrap()
            + 5;
        assert_eq!(body["running_count"].as_u64(), Some(running));
    }
}
