//! Starting a simulator ([`Simulator::start`]: the router on a listener, the churn loop) and
//! controlling a running one from a test or the demo ([`SimHandle`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::watch;

use super::config::{SimConfig, SimDdmInstance};
use super::faults::FaultSpec;
use super::fleet::{personal_values, SimDcsInstance};
use super::record::RecordedRequest;
use super::router::{declared, router};
use super::routes::Simulated;
use super::state::SimState;
use crate::transport::Operation;

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Serves IAM and `services` (the registry's, `crate::services::SIMULATED`) on `listener`
    /// until [`SimHandle::shutdown`] or until every handle is dropped. Spawns onto the current
    /// tokio runtime. A fault in `config` for an operation no route declares is refused, as is
    /// an operation declared twice.
    pub async fn start(
        services: &[&Simulated],
        config: SimConfig,
        listener: tokio::net::TcpListener,
    ) -> std::io::Result<SimHandle> {
        let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        let addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let churn = config.churn.clone();
        let (routes, operations) = declared(services).map_err(invalid)?;
        let state = SimState::new(config, operations, shutdown_rx.clone())
            .map_err(|e| invalid(format!("simulator faults: {e}")))?;
        let state = Arc::new(state);
        let app = router(routes, state.clone());
        if let Some(churn) = churn {
            let state = state.clone();
            let mut stop = shutdown_rx.clone();
            tokio::spawn(async move {
                let mut step = 0u64;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(churn.every) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    state.churn_step(step, churn.phones);
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
            state,
            addr,
            shutdown: Arc::new(shutdown_tx),
        })
    }
}

/// Controls a running simulator. Dropping the last clone stops it.
#[derive(Clone)]
pub struct SimHandle {
    /// The state the routes share.
    state: Arc<SimState>,
    /// Where it listens.
    addr: SocketAddr,
    /// Stops it; dropped with the last handle, which stops it too.
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
        self.state.fleet().live_ids()
    }

    /// Buys `n` phones; returns their ids.
    pub fn add_phones(&self, n: usize) -> Vec<String> {
        self.state.fleet_mut().add(n)
    }

    /// Releases the phones `ids` names; returns the ones the account had.
    pub fn remove_phones(&self, ids: &[String]) -> Vec<String> {
        self.state.fleet_mut().release(ids)
    }

    /// The DCS instances the account has now.
    pub fn dcs_instances(&self) -> Vec<SimDcsInstance> {
        self.state.instances().dcs.clone()
    }

    /// The DDM instances the account has now.
    pub fn ddm_instances(&self) -> Vec<SimDdmInstance> {
        self.state.instances().ddm.clone()
    }

    /// The simulated persons' values of phone `id` (assigned user, member and account names),
    /// which the listing answers and no label may carry.
    pub fn personal_values(&self, id: &str) -> Option<[String; 3]> {
        self.state.fleet().index_of(id).map(personal_values)
    }

    pub fn project_id(&self) -> String {
        self.state.config.project_id.clone()
    }

    /// Sets (replaces) the fault of `op`. An operation no route declares never runs, so its
    /// fault is refused with a warning naming the declared ones.
    pub fn set_fault(&self, op: &'static Operation, fault: FaultSpec) {
        match self.state.operations.find(op.name) {
            Ok(op) => self.state.faults.set(op.name, fault),
            Err(e) => tracing::warn!(error = %e, "simulator: fault not set"),
        }
    }

    /// The names of the operations the simulator serves (IAM's and every declared
    /// service's), sorted: what `--fault` and `/_sim/faults/{operation}` accept.
    pub fn operations(&self) -> Vec<&'static str> {
        self.state.operations.names().collect()
    }

    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Service calls received for `op`, faulted or not; 0 for an operation no route declares.
    pub fn calls(&self, op: &Operation) -> u64 {
        self.state
            .calls
            .get(op.name)
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }

    /// The last calls of `op` as they arrived (oldest first, at most 512 of all operations).
    pub fn requests(&self, op: &Operation) -> Vec<RecordedRequest> {
        self.state.requests.of(op.name)
    }

    /// The status code phone `id` reports now, if the fleet has it.
    pub fn phone_status(&self, id: &str) -> Option<u8> {
        let fleet = self.state.fleet();
        let idx = fleet.index_of(id)?;
        Some(fleet.phone_status(idx, self.state.tick()))
    }

    /// Every IAM token issued (and not yet forgotten), so tests can prove none leaks.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.tokens.issued()
    }

    /// Revokes every IAM-issued token; static tokens stay valid.
    pub fn expire_tokens(&self) {
        self.state.tokens.revoke_all();
    }

    /// Moves the fleet forward `ticks` ticks, whatever the clock says.
    pub fn advance(&self, ticks: u64) {
        self.state.advance(ticks);
    }

    /// The DDM instances the simulator lists now, in listing order.
    pub fn ddm_instance_ids(&self) -> Vec<String> {
        self.state
            .instances()
            .ddm
            .iter()
            .map(|d| d.id.clone())
            .collect()
    }

    /// Adds `n` DDM instances (each with `targets` restore targets) at the end of the
    /// listing, as instances bought while the simulator runs; returns their ids.
    pub fn add_ddm_instances(&self, n: usize, targets: usize) -> Vec<String> {
        let seed = self.state.config.seed;
        self.state.instances_mut().add_ddm(seed, n, targets)
    }

    /// Removes the DDM instances `ids` (released); unknown ids are ignored.
    pub fn remove_ddm_instances(&self, ids: &[String]) {
        self.state
            .instances_mut()
            .ddm
            .retain(|d| !ids.contains(&d.id));
    }

    /// The fleet's current tick.
    pub fn tick(&self) -> u64 {
        self.state.tick()
    }

    /// Stops accepting connections and lets in-flight calls finish (hung calls are woken).
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}
