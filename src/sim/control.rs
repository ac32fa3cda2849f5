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

use super::{json_response, FaultSpec, Inner, Operation, ParseNameError};

pub(super) fn routes() -> Router<Arc<Inner>> {
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
}

fn bad_request(msg: String) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({ "error": msg }))
}

fn faults_json(inner: &Inner) -> Response {
    json_response(StatusCode::OK, &json!(inner.faults.snapshot()))
}

async fn list_faults(State(inner): State<Arc<Inner>>) -> Response {
    faults_json(&inner)
}

async fn clear_faults(State(inner): State<Arc<Inner>>) -> Response {
    inner.faults.clear();
    faults_json(&inner)
}

fn unknown_operation(e: ParseNameError) -> Response {
    json_response(StatusCode::NOT_FOUND, &json!({ "error": e.to_string() }))
}

async fn set_fault(
    State(inner): State<Arc<Inner>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let op = match name.parse::<Operation>() {
        Ok(op) => op,
        Err(e) => return unknown_operation(e),
    };
    match serde_json::from_slice::<FaultSpec>(&body) {
        Ok(spec) => {
            inner.faults.set(op, spec);
            faults_json(&inner)
        }
        Err(e) => bad_request(format!(
            "body is not a fault spec ({e}); example: {{\"kind\":\"server_error\",\"times\":2,\"latency_ms\":100,\"retry_after_secs\":1}}"
        )),
    }
}

async fn clear_fault(State(inner): State<Arc<Inner>>, Path(name): Path<String>) -> Response {
    match name.parse::<Operation>() {
        Ok(op) => {
            inner.faults.clear_op(op);
            faults_json(&inner)
        }
        Err(e) => unknown_operation(e),
    }
}

async fn calls(State(inner): State<Arc<Inner>>) -> Response {
    let calls: BTreeMap<&str, u64> = Operation::ALL
        .iter()
        .map(|op| (op.as_str(), inner.calls[op.index()].load(Ordering::Relaxed)))
        .collect();
    json_response(StatusCode::OK, &json!(calls))
}

async fn expire_tokens(State(inner): State<Arc<Inner>>) -> Response {
    inner.tokens.revoke_all();
    StatusCode::NO_CONTENT.into_response()
}

async fn advance(State(inner): State<Arc<Inner>>, RawQuery(query): RawQuery) -> Response {
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
    inner.advance(ticks);
    json_response(StatusCode::OK, &json!({ "tick": inner.tick() }))
}

/// The fleet's phone ids, one per line (the format of the exporter's `instance_ids_file`).
async fn phones(State(inner): State<Arc<Inner>>) -> Response {
    let mut text = inner.fleet.ids().join("\n");
    text.push('\n');
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}
