//! Standalone mode (`huaweicloud-exporter simulate ...`): flags, start, log how to use it, run
//! until Ctrl-C. The services it serves are the registry's, handed in by the caller.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;

use super::config::{Churn, SimConfig};
use super::faults::{parse_fault_arg, FaultKind, FaultSpec};
use super::router::declared;
use super::routes::Simulated;
use super::server::Simulator;

/// `OP=KIND[:TIMES]`, e.g. `dcs_status=server_error:2`; `OP` is checked against the declared
/// operations when the simulator starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultArg(pub String, pub FaultSpec);

impl FromStr for FaultArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_fault_arg(s).map(|(op, spec)| FaultArg(op, spec))
    }
}

/// Flags of the simulator's standalone mode.
#[derive(clap::Args, Clone, Debug)]
pub struct SimArgs {
    /// Address to serve IAM, every simulated service and the /_sim/ control routes on.
    #[arg(long, default_value = "127.0.0.1:18080")]
    pub listen: SocketAddr,
    /// Number of phones in the fleet.
    #[arg(long, default_value_t = 300)]
    pub phones: usize,
    /// Seed of the fleet: ids, statuses, counts and restore targets follow from it.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Latency added to every service call, e.g. 50ms.
    #[arg(long, default_value = "0s")]
    pub latency: humantime::Duration,
    /// The fleet changes state every TICK; 0s freezes it.
    #[arg(long, default_value = "30s")]
    pub tick: humantime::Duration,
    /// How long an async-command job runs before it finishes.
    #[arg(long, default_value = "2s")]
    pub job_delay: humantime::Duration,
    /// A fault from the start, OP=KIND[:TIMES] (e.g. dcs_status=throttled:3); repeatable.
    #[arg(long = "fault", value_name = "OP=KIND[:TIMES]")]
    pub faults: Vec<FaultArg>,
    /// Buy and release resources while running, N/PERIOD (e.g. 5/10s: every 10s, 5 phones
    /// bought or the 5 newest released, and one instance of each other kind created or deleted).
    #[arg(long, value_name = "N/PERIOD")]
    pub churn: Option<Churn>,
    /// Write the phone ids there, one per line (for the exporter's `instance_ids_file`).
    #[arg(long, value_name = "PATH")]
    pub write_ids: Option<PathBuf>,
}

impl SimArgs {
    /// The simulator's config; a `--fault` naming no operation of `services` (or IAM) is an
    /// error listing the ones there are.
    pub fn config(&self, services: &[&Simulated]) -> anyhow::Result<SimConfig> {
        let (_, operations) = declared(services).map_err(anyhow::Error::msg)?;
        let faults = self
            .faults
            .iter()
            .map(|FaultArg(op, spec)| {
                let op = operations
                    .find(op)
                    .with_context(|| format!("--fault {op}={}", kind_name(spec)))?;
                Ok((op, spec.clone()))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(SimConfig {
            seed: self.seed,
            phones: self.phones,
            latency: self.latency.into(),
            tick: self.tick.into(),
            job_delay: self.job_delay.into(),
            faults,
            churn: self.churn.clone(),
            ..SimConfig::default()
        })
    }
}

/// The fault kind of a `--fault` spec, for its error.
fn kind_name(spec: &FaultSpec) -> &'static str {
    spec.kind.map_or("", |k| k.as_str())
}

/// Runs the simulator, serving IAM and `services`, until Ctrl-C.
pub async fn run_standalone(services: &[&Simulated], args: SimArgs) -> anyhow::Result<()> {
    let config = args.config(services)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("simulator: cannot listen on {}", args.listen))?;
    let handle = Simulator::start(services, config.clone(), listener)
        .await
        .context("simulator: cannot start")?;
    if let Some(path) = &args.write_ids {
        let mut text = handle.phone_ids().join("\n");
        text.push('\n');
        std::fs::write(path, text)
            .with_context(|| format!("simulator: cannot write phone ids to {}", path.display()))?;
        tracing::info!(path = %path.display(), phones = config.phones, "wrote phone ids");
    }
    let url = handle.base_url();
    tracing::info!(
        url = %url,
        project_id = %config.project_id,
        phones = config.phones,
        seed = config.seed,
        "simulated Huawei Cloud serving IAM and every service's operations listed below; point every endpoint override here"
    );
    for user in &config.users {
        tracing::info!(
            domain = %user.domain,
            user = %user.user,
            password = %user.password,
            "demo IAM password credentials (simulator only)"
        );
    }
    for token in &config.static_tokens {
        tracing::info!(token = %token, "demo static X-Auth-Token (simulator only)");
    }
    tracing::info!(
        "control: GET {url}/_sim/faults | PUT {url}/_sim/faults/OPERATION {{\"kind\":\"server_error\",\"times\":2,\"latency_ms\":100}} | DELETE {url}/_sim/faults | GET {url}/_sim/calls | POST {url}/_sim/tokens/expire | POST {url}/_sim/advance?ticks=N | GET {url}/_sim/phones"
    );
    tracing::info!(
        "operations: {}; fault kinds: {}",
        handle.operations().join(", "),
        FaultKind::ALL.map(|k| k.as_str()).join(", ")
    );
    tokio::signal::ctrl_c()
        .await
        .context("simulator: cannot wait for Ctrl-C")?;
    tracing::info!("Ctrl-C: simulator shutting down");
    handle.shutdown();
    Ok(())
}
