//! The simulator's shared state behind every route ([`SimState`]: config, fleet, faults, call
//! counters, tokens and the fleet clock), what a handler reads of a request ([`Call`]), what it
//! answers before faults touch it ([`SimReply`]), and the JSON response every answer goes out as.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use super::config::SimConfig;
use super::faults::FaultTable;
use super::faults::Operations;
use super::fleet::{Instances, SimFleet};
use super::record::RequestLog;
use super::tokens::TokenStore;
use crate::sync::{read, write};

/// Shared state behind every route.
pub(crate) struct SimState {
    /// What the simulator was started with.
    pub(crate) config: SimConfig,
    /// The phones; the control endpoint and churn change it.
    fleet: RwLock<SimFleet>,
    /// DCS and DDM instances; the control endpoint and churn change them.
    instances: RwLock<Instances>,
    /// The faults in force, per operation.
    pub(super) faults: FaultTable,
    /// The operations the routes declare, which faults are set for by name.
    pub(super) operations: Operations,
    /// A call counter per declared operation, by name (built from `operations`, so every
    /// routed call has one).
    pub(super) calls: BTreeMap<&'static str, AtomicU64>,
    /// The last calls as they arrived, for tests that check what the exporter sends.
    pub(super) requests: RequestLog,
    /// IAM-issued tokens, which the auth check consults.
    pub(super) tokens: TokenStore,
    /// Tick zero; tokio's clock so that paused-time tests move the fleet.
    started: Instant,
    /// Ticks added by [`SimState::advance`].
    advanced: AtomicU64,
    /// Wakes hung calls on shutdown.
    pub(super) shutdown: watch::Receiver<bool>,
    /// AK → SK, wrapped for the verifier.
    pub(super) secret_keys: Vec<(String, secrecy::SecretString)>,
}

impl SimState {
    /// The state of a simulator serving `operations`; an operation in `config.faults` that is
    /// not declared is refused, naming the declared ones.
    pub(super) fn new(
        config: SimConfig,
        operations: Operations,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, super::faults::ParseNameError> {
        let fleet = SimFleet::new(config.seed, config.phones);
        let faults = FaultTable::default();
        for (op, spec) in &config.faults {
            faults.set(operations.find(op.name)?.name, spec.clone());
        }
        let calls = operations.names().map(|n| (n, AtomicU64::new(0))).collect();
        let instances = Instances::new(
            config.seed,
            config.dcs_instances,
            config.ddm_instances.clone(),
        );
        let secret_keys = config
            .access_keys
            .iter()
            .map(|k| {
                (
                    k.access_key.clone(),
                    secrecy::SecretString::from(k.secret_key.clone()),
                )
            })
            .collect();
        Ok(SimState {
            secret_keys,
            tokens: TokenStore::new(config.token_ttl),
            fleet: RwLock::new(fleet),
            instances: RwLock::new(instances),
            faults,
            operations,
            calls,
            requests: RequestLog::default(),
            started: Instant::now(),
            advanced: AtomicU64::new(0),
            shutdown,
            config,
        })
    }

    /// The fleet's current tick: ticks of the clock since the start, plus those advanced.
    pub(crate) fn tick(&self) -> u64 {
        let tick = self.config.tick.as_nanos();
        let by_clock = self
            .started
            .elapsed()
            .as_nanos()
            .checked_div(tick)
            .map_or(0, |t| u64::try_from(t).unwrap_or(u64::MAX));
        by_clock.saturating_add(self.advanced.load(Ordering::Relaxed))
    }

    /// Moves the fleet forward `ticks` ticks, whatever the clock says.
    pub(crate) fn advance(&self, ticks: u64) {
        self.advanced.fetch_add(ticks, Ordering::Relaxed);
    }

    pub(crate) fn fleet(&self) -> RwLockReadGuard<'_, SimFleet> {
        read(&self.fleet)
    }

    pub(crate) fn fleet_mut(&self) -> RwLockWriteGuard<'_, SimFleet> {
        write(&self.fleet)
    }

    pub(crate) fn instances(&self) -> RwLockReadGuard<'_, Instances> {
        read(&self.instances)
    }

    pub(crate) fn instances_mut(&self) -> RwLockWriteGuard<'_, Instances> {
        write(&self.instances)
    }

    /// One churn step: buys (even steps) or releases (odd steps) `phones` phones, and creates
    /// or deletes one DCS and one DDM instance.
    pub(super) fn churn_step(&self, step: u64, phones: usize) {
        let seed = self.config.seed;
        if step % 2 == 0 {
            self.fleet_mut().add(phones);
            let mut i = self.instances_mut();
            i.add_dcs(seed, 1);
            i.add_ddm(seed, 1, 20);
        } else {
            self.fleet_mut().release_newest(phones);
            let mut i = self.instances_mut();
            i.remove_dcs(1);
            i.remove_ddm(1);
        }
    }
}

/// The parts of a request the pipeline, the auth check and the handlers need, extracted once.
pub(crate) struct Call {
    /// The request's headers (tokens, signatures, `x-request-id`).
    pub(crate) headers: HeaderMap,
    /// The request's method, which a signature covers.
    pub(crate) method: Method,
    /// Path and query.
    pub(crate) uri: Uri,
    /// The whole body, at most [`MAX_REQUEST_BODY`] bytes.
    pub(crate) body: Bytes,
}

/// Largest request body the simulated gateway reads (100 ids and a 1,024-byte command fit).
const MAX_REQUEST_BODY: usize = 1024 * 1024;

impl<S: Send + Sync> axum::extract::FromRequest<S> for Call {
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, MAX_REQUEST_BODY)
            .await
            .map_err(|_| {
                gateway_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "APIGW.0201",
                    "Request entity too large.",
                )
            })?;
        Ok(Call {
            headers: parts.headers,
            method: parts.method,
            uri: parts.uri,
            body,
        })
    }
}

/// A service's answer before faults touch it.
pub(crate) struct SimReply {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// The JSON body.
    pub(crate) body: Value,
    /// Headers added to the response (IAM's `X-Subject-Token`).
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

impl SimReply {
    pub(crate) fn new(status: StatusCode, body: Value) -> Self {
        SimReply {
            status,
            body,
            headers: Vec::new(),
        }
    }

    pub(crate) fn ok(body: Value) -> Self {
        SimReply::new(StatusCode::OK, body)
    }
}

/// An answer of the API gateway rather than of a service (`APIG.xxxx`/`APIGW.xxxx`). Its body
/// is finished by the router's request-id layer, which adds `request_id` (the same id as the
/// `X-Request-Id` header), as the gateway's error bodies carry one.
#[derive(Clone, Debug)]
pub(crate) struct GatewayError {
    /// `error_code`.
    pub(crate) code: &'static str,
    /// `error_msg`.
    pub(crate) msg: String,
}

impl GatewayError {
    /// The body, with the request id the answer goes out with.
    pub(crate) fn body(&self, request_id: &str) -> Value {
        json!({"error_code": self.code, "error_msg": self.msg, "request_id": request_id})
    }
}

/// The gateway's `status` answer with `code` and `msg`; see [`GatewayError`].
pub(crate) fn gateway_error(status: StatusCode, code: &'static str, msg: &str) -> Response {
    let error = GatewayError {
        code,
        msg: msg.to_string(),
    };
    let mut resp = json_response(status, &error.body(""));
    resp.extensions_mut().insert(error);
    resp
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes_response(status, Bytes::from(bytes))
}

pub(crate) fn bytes_response(status: StatusCode, body: Bytes) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=UTF-8"),
        )],
        body,
    )
        .into_response()
}

/// A fresh 32-hex request id.
pub(crate) fn hex_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}
