//! The `/_sim/` control routes: faults, call counters, token revocation, fleet ticks. They need
//! no auth, take no latency and are never faulted.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use bytes::Bytes;
use serde_json::json;

use super::faults::{FaultSpec, ParseNameError};
use super::state::{json_response, SimState};

pub(super) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/_sim/faults", get(list_faults).delete(clear_faults))
        .route(
            "/_sim/faults/{operation}",
            put(set_fault).delete(clear_fault),
        )
        .route("/_sim/calls", get(calls))
        .route("/_sim/tokens/expire", post(expire_tokens))
        .route("/_sim/advance", post(advance))
        .route("/_sim/phones", get(phones))
        .route("/_sim/fleet", get(fleet).post(change_fleet))
}

fn bad_request(msg: String) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({ "error": msg }))
}

fn faults_json(sim: &SimState) -> Response {
    json_response(StatusCode::OK, &json!(sim.faults.snapshot()))
}

async fn list_faults(State(sim): State<Arc<SimState>>) -> Response {
    faults_json(&sim)
}

async fn clear_faults(State(sim): State<Arc<SimState>>) -> Response {
    sim.faults.clear();
    faults_json(&sim)
}

fn unknown_operation(e: ParseNameError) -> Response {
    json_response(StatusCode::NOT_FOUND, &json!({ "error": e.to_string() }))
}

async fn set_fault(
    State(sim): State<Arc<SimState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let op = match sim.operations.find(&name) {
        Ok(op) => op.name,
        Err(e) => return unknown_operation(e),
    };
    match serde_json::from_slice::<FaultSpec>(&body) {
        Ok(spec) => {
            sim.faults.set(op, spec);
            faults_json(&sim)
        }
        Err(e) => bad_request(format!(
            "body is not a fault spec ({e}); example: {{\"kind\":\"server_error\",\"times\":2,\"latency_ms\":100,\"retry_after_secs\":1}}"
        )),
    }
}

async fn clear_fault(State(sim): State<Arc<SimState>>, Path(name): Path<String>) -> Response {
    match sim.operations.find(&name) {
        Ok(op) => {
            sim.faults.clear_op(op.name);
            faults_json(&sim)
        }
        Err(e) => unknown_operation(e),
    }
}

async fn calls(State(sim): State<Arc<SimState>>) -> Response {
    let calls: BTreeMap<&str, u64> = sim
        .calls
        .iter()
        .map(|(op, n)| (*op, n.load(Ordering::Relaxed)))
        .collect();
    json_response(StatusCode::OK, &json!(calls))
}

async fn expire_tokens(State(sim): State<Arc<SimState>>) -> Response {
    sim.tokens.revoke_all();
    StatusCode::NO_CONTENT.into_response()
}

async fn advance(State(sim): State<Arc<SimState>>, RawQuery(query): RawQuery) -> Response {
    let ticks = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "ticks")
        .map(|(_, v)| v.parse::<u64>());
    let ticks = match ticks {
        None => 1,
        Some(Ok(n)) => n,
        Some(Err(_)) => return bad_request("ticks must be a non-negative integer".to_string()),
    };
    sim.advance(ticks);
    json_response(StatusCode::OK, &json!({ "tick": sim.tick() }))
}

/// The fleet's phone ids, one per line (the format of the exporter's `instance_ids_file`).
async fn phones(State(sim): State<Arc<SimState>>) -> Response {
    let mut text = sim.fleet().live_ids().join("\n");
    text.push('\n');
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

fn fleet_json(sim: &SimState, changed: serde_json::Value) -> Response {
    let phones = sim.fleet().live().len();
    let i = sim.instances();
    json_response(
        StatusCode::OK,
        &json!({
            "phones": phones,
            "dcs_instances": i.dcs.len(),
            "ddm_instances": i.ddm.len(),
            "changed": changed,
        }),
    )
}

/// The fleet's size: phones, DCS and DDM instances.
async fn fleet(State(sim): State<Arc<SimState>>) -> Response {
    fleet_json(&sim, json!({}))
}

/// What `POST /_sim/fleet` may ask; every field optional.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FleetChange {
    /// Phones to buy.
    #[serde(default)]
    add_phones: usize,
    /// How many of the newest phones to release.
    #[serde(default)]
    remove_phones: usize,
    /// Phones to release by id.
    #[serde(default)]
    remove_phone_ids: Vec<String>,
    /// DCS instances to create.
    #[serde(default)]
    add_dcs: usize,
    /// How many of the newest DCS instances to delete.
    #[serde(default)]
    remove_dcs: usize,
    /// DDM instances to create.
    #[serde(default)]
    add_ddm: usize,
    /// How many of the newest DDM instances to delete.
    #[serde(default)]
    remove_ddm: usize,
    /// Restore targets of each DDM instance added (default 20).
    #[serde(default)]
    ddm_targets: Option<usize>,
}

/// Most resources one change may add (the control route is unauthenticated, but bounded).
const MAX_CHANGE: usize = 200_000;

/// Buys and releases phones, creates and deletes DCS and DDM instances; answers the new size
/// and the ids added and removed.
async fn change_fleet(State(sim): State<Arc<SimState>>, body: Bytes) -> Response {
    let change: FleetChange = if body.is_empty() {
        FleetChange::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(c) => c,
            Err(e) => {
                return bad_request(format!(
                    "body is not a fleet change ({e}); example: {{\"add_phones\":5,\"remove_phones\":2,\"remove_phone_ids\":[\"a44uhlf7\"],\"add_dcs\":1,\"remove_dcs\":1,\"add_ddm\":1,\"remove_ddm\":1}}"
                ))
            }
        }
    };
    if change.add_phones > MAX_CHANGE || change.add_dcs > MAX_CHANGE || change.add_ddm > MAX_CHANGE
    {
        return bad_request(format!(
            "at most {MAX_CHANGE} resources may be added at once"
        ));
    }
    let seed = sim.config.seed;
    let (added_phones, removed_phones) = {
        let mut f = sim.fleet_mut();
        let mut removed = f.release(&change.remove_phone_ids);
        removed.extend(f.release_newest(change.remove_phones));
        (f.add(change.add_phones), removed)
    };
    let changed = {
        let mut i = sim.instances_mut();
        let removed_dcs = i.remove_dcs(change.remove_dcs);
        let removed_ddm = i.remove_ddm(change.remove_ddm);
        json!({
            "added_phones": added_phones,
            "removed_phones": removed_phones,
            "added_dcs": i.add_dcs(seed, change.add_dcs),
            "removed_dcs": removed_dcs,
            "added_ddm": i.add_ddm(seed, change.add_ddm, change.ddm_targets.unwrap_or(20)),
            "removed_ddm": removed_ddm,
        })
    };
    fleet_json(&sim, changed)
}
