//! Simulated Huawei Cloud: IAM, DCS, KooPhone and DDM on one local port, following the API
//! reference pages to the letter, with a fleet that changes state over time and faults on demand.
//! This file owns the public API ([`SimConfig`], [`Simulator`], [`SimHandle`]), the router, the
//! auth check and the per-call pipeline: count the call, check auth, take the fault (counting
//! `times` down), sleep the latency, then answer with the fault's error or the real answer (whose
//! body a body-level fault may mangle).
//!
//! Layout: `fleet` (phones and DCS counts), `faults` (operations and fault knobs), `iam`, `dcs`,
//! `koophone`, `ddm` (one service each), `control` (the `/_sim/` routes), `cli` (standalone mode).
//!
//! Control routes, same port, no auth: `GET /_sim/faults`, `PUT /_sim/faults/{operation}` (a
//! [`FaultSpec`] as JSON), `DELETE /_sim/faults`, `DELETE /_sim/faults/{operation}`,
//! `GET /_sim/calls`, `POST /_sim/tokens/expire`, `POST /_sim/advance?ticks=N`, `GET /_sim/phones`,
//! `GET /_sim/fleet` and `POST /_sim/fleet` (buy and release phones, create and delete DCS and
//! DDM instances: `{"add_phones":5,"remove_phones":2,"remove_phone_ids":["…"],"add_dcs":1,
//! "remove_dcs":1,"add_ddm":1,"remove_ddm":1}`). `SimConfig::churn` (`simulate --churn N/PERIOD`)
//! does the same steadily while it runs.
//!
//! Codes the pages do not give, chosen here: DDM unknown instance 404 `DBS.280108`; DDM wrong
//! project 400 `DBS.280001`; DCS wrong project and `api_error` 400 `DCS.4800`; DCS 500
//! `DCS.5000`; a job on a phone in backup/restoration exception fails with `CPS0102`; a hung call
//! that is finally released gets 504 `APIG.0201`; an unknown path 404 `APIGW.0101`; the
//! `redirect` fault's 307 carries `APIGW.0307`. KooPhone rejections (bad parameters, an unknown
//! task) are HTTP 400 with the `KOOPHONE.API.1000` / `.1323` body, as the reference pages list
//! them; the `errors_in_200` fault serves them inside HTTP 200 instead.

mod cli;
mod control;
pub(crate) mod faults;
pub(crate) mod fleet;
mod iam;
pub(crate) mod listing;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

pub use cli::{run_standalone, FaultArg, SimArgs};
pub use faults::{parse_fault_arg, FaultKind, FaultSpec, Operation, ParseNameError};
pub use fleet::{personal_values, SimDcsInstance, DCS_STATES};

use faults::FaultTable;
use fleet::{Fleet, Instances};
use iam::{TokenCheck, TokenStore};
use crate::services::dcs::sim as dcs;
use crate::services::ddm::sim as ddm;
use crate::services::koophone::sim as koophone;
use koophone::TaskStore;

/// An AK/SK pair the simulated gateway knows.
#[derive(Clone)]
pub struct SimAccessKey {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
}

impl std::fmt::Debug for SimAccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimAccessKey")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// Everything the simulator is started with.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seeds the fleet: ids, statuses, DCS counts, DDM targets.
    pub seed: u64,
    /// Number of KooPhone phones.
    pub phones: usize,
    /// Added to every service call (not to the `/_sim/` routes).
    pub latency: Duration,
    /// The fleet moves one tick every `tick` of (tokio) time; zero freezes it.
    pub tick: Duration,
    /// Lifetime of IAM-issued tokens.
    pub token_ttl: Duration,
    /// How long an async-command job runs before it finishes.
    pub job_delay: Duration,
    /// The one project the simulated account has.
    pub project_id: String,
    /// Accepted IAM password credentials.
    pub users: Vec<SimUser>,
    /// Tokens accepted without IAM, for the exporter's fixed-token auth.
    pub static_tokens: Vec<String>,
    /// AK/SK pairs whose `SDK-HMAC-SHA256` signatures DCS and DDM accept (KooPhone does not).
    pub access_keys: Vec<SimAccessKey>,
    /// DDM instances and how many restore targets each has.
    pub ddm_instances: Vec<SimDdmInstance>,
    /// Faults in force from the start.
    pub faults: Vec<(Operation, FaultSpec)>,
    /// DCS instances the account has at the start (the per-instance list; counts stay apart).
    pub dcs_instances: usize,
    /// Resources bought and released while it runs; `None` keeps the fleet as it is.
    pub churn: Option<Churn>,
    /// The `page_no` of the KooPhone listing's first page (1, or 0 for the other reading of
    /// the page); a smaller `page_no` is refused with 400 `KOOPHONE.API.1000`.
    pub list_first_page: u64,
    /// The DDM instance listing reads `offset` as a page number (1-based; 0 is page 1), as
    /// older and regional editions of its page say, instead of a record offset.
    pub ddm_offset_is_page: bool,
    /// The largest `page_size` the KooPhone listing accepts (larger: 400 `KOOPHONE.API.1000`);
    /// sizes above 100 are served as 100 rows.
    pub list_max_page_size: u64,
}

/// Churn: every `every`, `phones` phones are bought (even steps) or the newest released (odd
/// steps), and one DCS and one DDM instance created or deleted, so the fleet grows and shrinks
/// around its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Churn {
    /// Phones bought or released per step.
    pub phones: usize,
    /// Time between steps.
    pub every: Duration,
}

impl std::str::FromStr for Churn {
    type Err = String;

    /// `N/PERIOD`, e.g. `5/10s`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (n, every) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not N/PERIOD (e.g. 5/10s)"))?;
        let phones = n
            .trim()
            .parse()
            .map_err(|_| format!("{n:?} is not a number of phones"))?;
        let every = humantime::parse_duration(every.trim()).map_err(|e| e.to_string())?;
        if every.is_zero() {
            return Err("the period must be more than 0s".into());
        }
        Ok(Churn { phones, every })
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            phones: 300,
            latency: Duration::ZERO,
            tick: Duration::from_secs(30),
            token_ttl: Duration::from_secs(24 * 3600),
            job_delay: Duration::from_secs(2),
            project_id: "0123456789abcdef0123456789abcdef".to_string(),
            users: vec![SimUser {
                domain: "demo-domain".to_string(),
                user: "monitoring".to_string(),
                password: "demo-password".to_string(),
            }],
            static_tokens: vec!["demo-static-token".to_string()],
            access_keys: vec![SimAccessKey {
                access_key: "DEMOACCESSKEY0000001".to_string(),
                secret_key: "demo-secret-key-do-not-use".to_string(),
            }],
            ddm_instances: vec![SimDdmInstance {
                id: "1f5c9fd6cd984056ba89c8c87cc03278in09".to_string(),
                targets: 300,
            }],
            faults: Vec::new(),
            dcs_instances: 6,
            churn: None,
            list_first_page: 1,
            ddm_offset_is_page: false,
            list_max_page_size: 1_000,
        }
    }
}

/// One IAM user the simulator accepts with the password method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimUser {
    pub domain: String,
    pub user: String,
    pub password: String,
}

/// One DDM instance and the number of restore targets it lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimDdmInstance {
    pub id: String,
    pub targets: usize,
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Serves on `listener` until [`SimHandle::shutdown`] or until every handle is dropped.
    /// Spawns onto the current tokio runtime.
    pub async fn start(
        config: SimConfig,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<SimHandle> {
        let addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let churn = config.churn.clone();
        let inner = Arc::new(Inner::new(config, shutdown_rx.clone()));
        let app = router(inner.clone());
        if let Some(churn) = churn {
            let inner = inner.clone();
            let mut stop = shutdown_rx.clone();
            tokio::spawn(async move {
                let mut step = 0u64;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(churn.every) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    inner.churn_step(step, churn.phones);
                    step += 1;
                }
            });
        }
        let mut rx = shutdown_rx;
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // Returns on shutdown() and when the last handle (the sender) is dropped.
                    let _ = rx.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(err) = served {
                tracing::warn!(error = %err, "simulator stopped serving");
            }
        });
        Ok(SimHandle {
            inner,
            addr,
            shutdown: Arc::new(shutdown_tx),
        })
    }
}

/// Controls a running simulator. Dropping the last clone stops it.
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Inner>,
    addr: SocketAddr,
    shutdown: Arc<watch::Sender<bool>>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (an unspecified listen address is reached via loopback).
    pub fn base_url(&self) -> String {
        let ip = if self.addr.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            self.addr.ip()
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// The phones the account has now.
    pub fn phone_ids(&self) -> Vec<String> {
        self.inner.fleet().live_ids()
    }

    /// Buys `n` phones; returns their ids.
    pub fn add_phones(&self, n: usize) -> Vec<String> {
        self.inner.fleet_mut().add(n)
    }

    /// Releases the phones `ids` names; returns the ones the account had.
    pub fn remove_phones(&self, ids: &[String]) -> Vec<String> {
        self.inner.fleet_mut().release(ids)
    }

    /// The DCS instances the account has now.
    pub fn dcs_instances(&self) -> Vec<SimDcsInstance> {
        self.inner.instances().dcs.clone()
    }

    /// The DDM instances the account has now.
    pub fn ddm_instances(&self) -> Vec<SimDdmInstance> {
        self.inner.instances().ddm.clone()
    }

    /// The simulated persons' values of phone `id` (assigned user, member and account names),
    /// which the listing answers and no label may carry.
    pub fn personal_values(&self, id: &str) -> Option<[String; 3]> {
        self.inner.fleet().index_of(id).map(personal_values)
    }

    pub fn project_id(&self) -> String {
        self.inner.config.project_id.clone()
    }

    pub fn set_fault(&self, op: Operation, fault: FaultSpec) {
        self.inner.faults.set(op, fault);
    }

    pub fn clear_faults(&self) {
        self.inner.faults.clear();
    }

    /// Service calls received for `op`, faulted or not.
    pub fn calls(&self, op: Operation) -> u64 {
        self.inner.calls[op.index()].load(Ordering::Relaxed)
    }

    /// The status code phone `id` reports now, if the fleet has it.
    pub fn phone_status(&self, id: &str) -> Option<u8> {
        let fleet = self.inner.fleet();
        let idx = fleet.index_of(id)?;
        Some(fleet.phone_status(idx, self.inner.tick()))
    }

    /// Every IAM token issued (and not yet forgotten), so tests can prove none leaks.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.inner.tokens.issued()
    }

    /// Revokes every IAM-issued token; static tokens stay valid.
    pub fn expire_tokens(&self) {
        self.inner.tokens.revoke_all();
    }

    /// Moves the fleet forward `ticks` ticks, whatever the clock says.
    pub fn advance(&self, ticks: u64) {
        self.inner.advance(ticks);
    }

    /// The DDM instances the simulator lists now, in listing order.
    pub fn ddm_instance_ids(&self) -> Vec<String> {
        self.inner
            .instances()
            .ddm
            .iter()
            .map(|d| d.id.clone())
            .collect()
    }

    /// Adds `n` DDM instances (each with `targets` restore targets) at the end of the
    /// listing, as instances bought while the simulator runs; returns their ids.
    pub fn add_ddm_instances(&self, n: usize, targets: usize) -> Vec<String> {
        let seed = self.inner.config.seed;
        self.inner.instances_mut().add_ddm(seed, n, targets)
    }

    /// Removes the DDM instances `ids` (released); unknown ids are ignored.
    pub fn remove_ddm_instances(&self, ids: &[String]) {
        self.inner
            .instances_mut()
            .ddm
            .retain(|d| !ids.contains(&d.id));
    }

    /// The fleet's current tick.
    pub fn tick(&self) -> u64 {
        self.inner.tick()
    }

    /// Stops accepting connections and lets in-flight calls finish (hung calls are woken).
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

/// Shared state behind every route.
pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    /// The phones; the control endpoint and churn change it.
    fleet: RwLock<Fleet>,
    /// DCS and DDM instances; the control endpoint and churn change them.
    instances: RwLock<Instances>,
    faults: FaultTable,
    /// Per-operation call counters, indexed by [`Operation::index`].
    calls: [AtomicU64; Operation::ALL.len()],
    tokens: TokenStore,
    pub(crate) tasks: TaskStore,
    /// Tick zero; tokio's clock so that paused-time tests move the fleet.
    started: Instant,
    /// Ticks added by [`SimHandle::advance`].
    advanced: AtomicU64,
    /// Wakes hung calls on shutdown.
    shutdown: watch::Receiver<bool>,
    /// AK → SK, wrapped for the verifier.
    secret_keys: Vec<(String, secrecy::SecretString)>,
}

impl Inner {
    fn new(config: SimConfig, shutdown: watch::Receiver<bool>) -> Self {
        let fleet = Fleet::new(config.seed, config.phones);
        let faults = FaultTable::default();
        for (op, spec) in &config.faults {
            faults.set(*op, spec.clone());
        }
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
        Inner {
            secret_keys,
            tokens: TokenStore::new(config.token_ttl),
            tasks: TaskStore::default(),
            fleet: RwLock::new(fleet),
            instances: RwLock::new(instances),
            faults,
            calls: Default::default(),
            started: Instant::now(),
            advanced: AtomicU64::new(0),
            shutdown,
            config,
        }
    }

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

    pub(crate) fn advance(&self, ticks: u64) {
        self.advanced.fetch_add(ticks, Ordering::Relaxed);
    }

    pub(crate) fn fleet(&self) -> RwLockReadGuard<'_, Fleet> {
        self.fleet.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn fleet_mut(&self) -> RwLockWriteGuard<'_, Fleet> {
        self.fleet.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn instances(&self) -> RwLockReadGuard<'_, Instances> {
        self.instances.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn instances_mut(&self) -> RwLockWriteGuard<'_, Instances> {
        self.instances.write().unwrap_or_else(|p| p.into_inner())
    }

    /// One churn step: buys (even steps) or releases (odd steps) `phones` phones, and creates
    /// or deletes one DCS and one DDM instance.
    fn churn_step(&self, step: u64, phones: usize) {
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

    /// The one place a service call's credentials are checked: an `X-Auth-Token` that IAM issued
    /// (live, not revoked) or a static token. AK/SK (`SDK-HMAC-SHA256`) verification belongs here
    /// too, which is why it sees the method, URI and body. The error is the finished 401, so the
    /// check alone decides what the caller sees; it is rare and cold, hence the large `Err`.
    #[allow(clippy::result_large_err)]
    fn authenticate(
        &self,
        op: Operation,
        headers: &HeaderMap,
        method: &Method,
        uri: &Uri,
        body: &[u8],
    ) -> Result<(), Response> {
        let Some(token) = headers.get("x-auth-token") else {
            if headers.contains_key(header::AUTHORIZATION) {
                return self.verify_signature(op, headers, method, uri, body);
            }
            return Err(unauthorized("x-auth-token not found"));
        };
        let Ok(token) = token.to_str() else {
            return Err(unauthorized("token is not valid"));
        };
        if self.config.static_tokens.iter().any(|t| t == token) {
            return Ok(());
        }
        match self.tokens.check(token) {
            TokenCheck::Valid => Ok(()),
            TokenCheck::Expired => Err(unauthorized("token expired")),
            TokenCheck::Unknown => Err(unauthorized("token is not valid")),
        }
    }

    /// AK/SK: DCS and DDM accept an `SDK-HMAC-SHA256` signature within 15 minutes of the
    /// clock; KooPhone accepts only tokens.
    #[allow(clippy::result_large_err)] // same shape as `authenticate`: the error is the answer
    fn verify_signature(
        &self,
        op: Operation,
        headers: &HeaderMap,
        method: &Method,
        uri: &Uri,
        body: &[u8],
    ) -> Result<(), Response> {
        if op.is_koophone() {
            return Err(unauthorized("KooPhone accepts only X-Auth-Token"));
        }
        let pairs: Vec<(String, String)> = headers
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_string(), v.to_string()))
            })
            .collect();
        let req = crate::transport::auth::signer::ReceivedRequest {
            method: method.as_str(),
            path: uri.path(),
            raw_query: uri.query().unwrap_or(""),
            headers: &pairs,
            body,
        };
        let keys = &self.secret_keys;
        crate::transport::auth::signer::verify(
            &req,
            |ak| keys.iter().find(|(a, _)| a == ak).map(|(_, sk)| sk),
            std::time::SystemTime::now(),
        )
        .map(|_| ())
        .map_err(|e| unauthorized(&format!("signature rejected: {e}")))
    }

    /// The pipeline every service call goes through: count, auth, take the fault, sleep the
    /// latency, answer with the fault's error or with `answer` (whose body the fault may mangle).
    pub(crate) async fn serve<F>(&self, op: Operation, call: &Call, answer: F) -> Response
    where
        F: FnOnce(&Inner, Option<FaultKind>) -> Reply,
    {
        // Latency is the time from arrival to answer, the work of checking the call included.
        let arrived = Instant::now();
        self.calls[op.index()].fetch_add(1, Ordering::Relaxed);
        let auth = if op == Operation::IamToken {
            Ok(())
        } else {
            self.authenticate(op, &call.headers, &call.method, &call.uri, &call.body)
        };
        let fault = self.faults.take(op, auth.is_ok());
        let extra = fault.as_ref().and_then(|f| f.latency).unwrap_or_default();
        let latency = self.config.latency.saturating_add(extra);
        if !latency.is_zero() {
            tokio::time::sleep_until(arrived + latency).await;
        }
        let kind = fault.as_ref().and_then(|f| f.kind);
        if kind == Some(FaultKind::TokenExpired) {
            return token_expired(op);
        }
        if let Err(denied) = auth {
            return denied;
        }
        match kind {
            Some(FaultKind::Hang) => {
                let mut shutdown = self.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                    _ = shutdown.wait_for(|stop| *stop) => {}
                }
                return service_error(
                    op,
                    StatusCode::GATEWAY_TIMEOUT,
                    "APIG.0201",
                    "Backend timeout.",
                );
            }
            Some(FaultKind::ServerError) => return server_error(op),
            Some(FaultKind::Throttled) => {
                let retry_after = fault.and_then(|f| f.retry_after_secs).unwrap_or(1);
                let mut resp = json_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    &json!({"error_code": "APIG.0308", "error_msg": "The request is throttled."}),
                );
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                return resp;
            }
            Some(FaultKind::ApiError) => return api_error(op),
            Some(FaultKind::Redirect) => {
                let to = fault
                    .and_then(|f| f.location)
                    .unwrap_or_else(|| "http://127.0.0.1:9".to_string());
                return redirect(&to, &call.uri);
            }
            Some(FaultKind::RequestRejected) if op.is_koophone() => {
                return koophone::rejection(op, StatusCode::BAD_REQUEST)
            }
            Some(FaultKind::ErrorsIn200) if op.is_koophone() => {
                return koophone::rejection(op, StatusCode::OK)
            }
            Some(FaultKind::HostileMessage) => return hostile_error(op),
            _ => {}
        }
        if let Some(denied) = fault
            .as_ref()
            .and_then(|f| koophone::denied_ids(op, f, call))
        {
            return denied;
        }
        finish(answer(self, kind), kind)
    }
}

/// The parts of a request the pipeline, the auth check and the handlers need, extracted once.
pub(crate) struct Call {
    pub(crate) headers: HeaderMap,
    pub(crate) method: Method,
    pub(crate) uri: Uri,
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
                json_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &json!({"error_code": "APIGW.0201", "error_msg": "Request entity too large."}),
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
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    pub(crate) fn new(status: StatusCode, body: Value) -> Self {
        Reply {
            status,
            body,
            headers: Vec::new(),
        }
    }

    pub(crate) fn ok(body: Value) -> Self {
        Reply::new(StatusCode::OK, body)
    }
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes_response(status, Bytes::from(bytes))
}

fn bytes_response(status: StatusCode, body: Bytes) -> Response {
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

/// The gateway's 401 for a missing, unknown, revoked or expired token.
fn unauthorized(detail: &str) -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!({
            "error_code": "APIGW.0301",
            "error_msg": format!("Incorrect IAM authentication information: {detail}"),
        }),
    )
}

fn token_expired(op: Operation) -> Response {
    if op == Operation::IamToken {
        iam::error(
            StatusCode::UNAUTHORIZED,
            "The request you have made requires authentication.",
        )
    } else {
        unauthorized("token expired")
    }
}

fn server_error(op: Operation) -> Response {
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    match op {
        Operation::IamToken => iam::error(
            status,
            "An unexpected error prevented the server from fulfilling your request.",
        ),
        Operation::DcsStatus | Operation::DcsList => {
            service_error(op, status, "DCS.5000", "Internal service error.")
        }
        Operation::DdmList => ddm::list_error(status, "DBS.200412", "Server failure."),
        Operation::KoophoneBatchStatus
        | Operation::KoophoneAsyncCommand
        | Operation::KoophoneTask
        | Operation::KoophoneList => {
            service_error(op, status, "KOOPHONE.API.9999", "Internal service error.")
        }
        // The reference page's own 500 example carries this code and message.
        Operation::DdmRestorable => service_error(op, status, "DBS.280001", "Parameter error."),
    }
}

fn api_error(op: Operation) -> Response {
    match op {
        Operation::IamToken => iam::error(StatusCode::BAD_REQUEST, "The request body is invalid."),
        Operation::DcsStatus | Operation::DcsList => {
            service_error(op, StatusCode::BAD_REQUEST, "DCS.4800", "Invalid request.")
        }
        Operation::DdmList => {
            ddm::list_error(StatusCode::BAD_REQUEST, "DBS.280001", "Parameter error.")
        }
        Operation::KoophoneBatchStatus
        | Operation::KoophoneAsyncCommand
        | Operation::KoophoneTask
        | Operation::KoophoneList => {
            koophone::error("KOOPHONE.API.9999", "Internal service error.").into_plain()
        }
        Operation::DdmRestorable => ddm::param_error(),
    }
}

/// 307 to `to` plus the call's path and query: method and body would be sent again there.
fn redirect(to: &str, uri: &Uri) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let location = format!("{}{path}", to.trim_end_matches('/'));
    let mut resp = json_response(
        StatusCode::TEMPORARY_REDIRECT,
        &json!({"error_code": "APIGW.0307", "error_msg": "Moved."}),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// What a hostile peer puts in an error message: markup that runs if a page does not escape it,
/// and a forged log line and sample for text that does not escape newlines.
pub const HOSTILE_MESSAGE: &str = "<script>document.title='owned'</script><img src=x onerror=\"document.body.dataset.owned='yes'\">\nlevel=info msg=\"forged line\"\r\nprobe_success 1";

fn hostile_error(op: Operation) -> Response {
    match op {
        Operation::IamToken => iam::error(StatusCode::BAD_REQUEST, HOSTILE_MESSAGE),
        Operation::KoophoneBatchStatus
        | Operation::KoophoneAsyncCommand
        | Operation::KoophoneTask
        | Operation::KoophoneList => {
            koophone::error("KOOPHONE.API.9999", HOSTILE_MESSAGE).into_plain()
        }
        _ => service_error(op, StatusCode::BAD_REQUEST, "APIG.1000", HOSTILE_MESSAGE),
    }
}

/// `{"error_code","error_msg"}` in the service's shape (DCS adds `error_ext_msg: null`).
pub(crate) fn service_error(op: Operation, status: StatusCode, code: &str, msg: &str) -> Response {
    let body = match op {
        Operation::IamToken => return iam::error(status, msg),
        Operation::DcsStatus | Operation::DcsList => {
            json!({"error_code": code, "error_msg": msg, "error_ext_msg": null})
        }
        _ => json!({"error_code": code, "error_msg": msg}),
    };
    json_response(status, &body)
}

impl Reply {
    pub(crate) fn into_plain(self) -> Response {
        let mut resp = json_response(self.status, &self.body);
        for (name, value) in self.headers {
            resp.headers_mut().insert(name, value);
        }
        resp
    }
}

/// Renders a reply, mangling its body as a body-level fault says.
fn finish(reply: Reply, kind: Option<FaultKind>) -> Response {
    let Reply {
        status,
        body,
        headers,
    } = reply;
    let mut resp = match kind {
        Some(FaultKind::Malformed) => bytes_response(
            status,
            Bytes::from_static(
                b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>",
            ),
        ),
        Some(FaultKind::Truncated) => {
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            let half = bytes.len() / 2;
            bytes_response(status, Bytes::from(bytes).slice(..half))
        }
        Some(FaultKind::Empty) => bytes_response(status, Bytes::new()),
        Some(FaultKind::WrongTypes) => json_response(status, &wrong_types(body, None)),
        Some(FaultKind::Huge) => huge_response(status),
        _ => json_response(status, &body),
    };
    for (name, value) in headers {
        resp.headers_mut().insert(name, value);
    }
    resp
}

/// Keeps the shape, breaks the types: numbers and booleans become strings, and timestamps,
/// ids and messages that should be strings become numbers.
fn wrong_types(value: Value, key: Option<&str>) -> Value {
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::String(s) => match key {
            Some("expires_at" | "issued_at" | "task_id" | "job_id" | "instance_id") => json!(12345),
            _ => Value::String(s),
        },
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| wrong_types(v, None)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = wrong_types(v, Some(&k));
                    (k, v)
                })
                .collect(),
        ),
        Value::Null => Value::Null,
    }
}

/// About 50 MB of valid-looking JSON, streamed from one static chunk so that concurrent huge
/// answers cost no memory.
fn huge_response(status: StatusCode) -> Response {
    static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];
    const CHUNKS: usize = 800;
    let head = Bytes::from_static(br#"{"error_code":"0","error_msg":"ok","data":{"padding":""#);
    let tail = Bytes::from_static(br#""}}"#);
    let len = head.len() + CHUNKS * CHUNK.len() + tail.len();
    let parts = std::iter::once(head)
        .chain(std::iter::repeat_n(Bytes::from_static(&CHUNK), CHUNKS))
        .chain(std::iter::once(tail))
        .map(Ok::<Bytes, std::io::Error>);
    let mut resp = Response::new(Body::from_stream(futures::stream::iter(parts)));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

/// A fresh 32-hex request id.
pub(crate) fn hex_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Every response carries `X-Request-Id`: KooPhone echoes the caller's, the others mint one.
async fn request_id(req: Request, next: Next) -> Response {
    let echo = if req.uri().path().starts_with("/v1/") {
        req.headers().get("x-request-id").cloned()
    } else {
        None
    };
    let mut resp = next.run(req).await;
    if !resp.headers().contains_key("x-request-id") {
        let id = echo.or_else(|| HeaderValue::from_str(&hex_id()).ok());
        if let Some(id) = id {
            resp.headers_mut().insert("x-request-id", id);
        }
    }
    resp
}

/// What the API gateway says about a path it does not know.
async fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({
            "error_code": "APIGW.0101",
            "error_msg": "The API does not exist or has not been published in the environment",
        }),
    )
}

/// The gateway's answer to a known path called with the wrong method.
async fn method_not_allowed() -> Response {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"error_code": "APIGW.0101", "error_msg": "The API does not exist or has not been published in the environment"}),
    )
}

fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/v3/auth/tokens", post(iam::tokens))
        .route("/v2/{project_id}/instances/status", get(dcs::status))
        .route("/v2/{project_id}/instances", get(dcs::list))
        .route("/v1/{project_id}/instances", get(ddm::list))
        .route(
            "/v1/instances/batch-query-status",
            post(koophone::batch_status),
        )
        .route("/v1/instances/async-command", post(koophone::async_command))
        .route("/v1/instances/batch-query", get(koophone::list))
        .route("/v1/instances/tasks/{task_id}", get(koophone::task))
        .route(
            "/v3/{project_id}/instances/{instance_id}/backups/restorable-instances",
            get(ddm::restorable),
        )
        .merge(control::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(request_id))
        .with_state(inner)
}
