//! Wiring: build the exporter from a config, bind (port 0 allowed, so tests can spawn it), serve
//! until shutdown (TLS and auth from the web config when given), reload on SIGHUP; and the `--demo` setup against the in-process simulator.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::metrics::SelfMetrics;
use crate::scrape::Exporter;
use crate::server::accept::{serve_all, MAX_BODY_BYTES};
use crate::server::web_config::WebConfigHandle;
use crate::server::{router, AppState, Lifecycle};

/// A bound, ready-to-run exporter.
pub struct Application {
    /// One per listen address; all serve the same routes under the same web config.
    listeners: Vec<TcpListener>,
    state: Arc<AppState>,
    /// The demo's simulator: it serves as long as the application runs.
    sim: Option<crate::sim::SimHandle>,
    /// `--web.config.file`: TLS, basic auth and headers; `None` serves plain, open HTTP.
    web: Option<Arc<WebConfigHandle>>,
    /// `--web.enable-lifecycle`: whether `POST /-/reload` acts.
    lifecycle: Lifecycle,
}

impl Application {
    /// Builds the exporter from `config` and binds `listen`. A reload re-reads `config_path`
    /// as it is, with no command-line overrides: use [`from_source`](Self::from_source) for those.
    pub async fn build(
        config: Config,
        config_path: Option<PathBuf>,
        listen: SocketAddr,
        telemetry_path: &str,
        extra_links: Vec<(String, String)>,
    ) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let source = config_path.map(crate::config::Source::file);
        Application::build_on(config, source, vec![listener], telemetry_path, extra_links)
    }

    /// Loads `source` (the file, then the command-line overrides, exactly as every reload will)
    /// and serves on `listen`.
    pub async fn from_source(
        source: crate::config::Source,
        listen: SocketAddr,
        telemetry_path: &str,
    ) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        Application::from_source_on(source, vec![listener], telemetry_path)
    }

    /// [`from_source`](Self::from_source) on listeners already bound (see
    /// [`crate::server::listen::bind_listen_addresses`]).
    pub fn from_source_on(
        source: crate::config::Source,
        listeners: Vec<TcpListener>,
        telemetry_path: &str,
    ) -> anyhow::Result<Application> {
        let config = crate::services::load(&source)?;
        config.log_warnings();
        Application::build_on(config, Some(source), listeners, telemetry_path, Vec::new())
    }

    /// Builds the exporter from `config` to serve on `listeners` (at least one); `source`, when
    /// given, is what a reload loads.
    pub fn build_on(
        config: Config,
        source: Option<crate::config::Source>,
        listeners: Vec<TcpListener>,
        telemetry_path: &str,
        extra_links: Vec<(String, String)>,
    ) -> anyhow::Result<Application> {
        if listeners.is_empty() {
            anyhow::bail!("no address to listen on");
        }
        let metrics = SelfMetrics::new().context("registering self metrics")?;
        let exporter = Exporter::new(config, metrics, None).map_err(anyhow::Error::msg)?;
        let state = Arc::new(AppState::new(exporter, source, telemetry_path, extra_links));
        Ok(Application {
            listeners,
            state,
            sim: None,
            web: None,
            lifecycle: Lifecycle::Disabled,
        })
    }

    /// Serves the lifecycle endpoints (`POST /-/reload`) as `lifecycle` says; they answer 403
    /// until enabled (`--web.enable-lifecycle`).
    pub fn with_lifecycle(mut self, lifecycle: Lifecycle) -> Application {
        self.lifecycle = lifecycle;
        self
    }

    /// Serves with the TLS, basic auth and headers of the web config at `path` (exporter-toolkit
    /// format), re-read whenever it or the PEM files it names change.
    pub async fn with_web_config(mut self, path: &Path) -> anyhow::Result<Application> {
        let web = WebConfigHandle::load(path).await?;
        let current = web.current().await;
        tracing::info!(
            file = %path.display(),
            tls = current.tls.is_some(),
            users = current.config.users.len(),
            "web config loaded"
        );
        self.web = Some(web);
        Ok(self)
    }

    /// `https` when the web config turns TLS on, else `http`.
    pub fn scheme(&self) -> &'static str {
        match &self.web {
            Some(w) if w.tls_enabled() => "https",
            _ => "http",
        }
    }

    /// The (first) bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs()
            .into_iter()
            .next()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Every bound address, in the order of the listen addresses.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The shared state (reload, exporter access).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves; in-flight requests get up to
    /// [`crate::server::accept::SHUTDOWN_GRACE`] to finish.
    pub async fn run_until<F>(self, shutdown: F) -> anyhow::Result<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        #[cfg(unix)]
        {
            let state = self.state.clone();
            tokio::spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let Ok(mut hup) = signal(SignalKind::hangup()) else {
                    tracing::warn!("cannot install the SIGHUP handler; use POST /-/reload");
                    return;
                };
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading the configuration");
                    let _ = state.reload().await;
                }
            });
        }
        let limit = usize::try_from(MAX_BODY_BYTES).unwrap_or(usize::MAX);
        let routes =
            router(self.state, self.lifecycle).layer(axum::extract::DefaultBodyLimit::max(limit));
        let result = serve_all(self.listeners, routes, self.web, shutdown)
            .await
            .context("HTTP server failed");
        if let Some(sim) = self.sim {
            sim.shutdown();
        }
        result
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// Phones of the demo fleet the first demo cloud's canary group is taken from; the rest are
/// listed for the second (the first discovers every phone).
const DEMO_SPLIT: usize = 250;

/// The demo's built-in config: two clouds against the simulator at `base`.
pub fn demo_config_yaml(
    base: &str,
    project_id: &str,
    phones: &[String],
    canary: &[String],
) -> String {
    let (_ap, eu) = phones.split_at(DEMO_SPLIT.min(phones.len()));
    let list = |ids: &[String]| ids.join(", ");
    format!(
        r#"timeout: 10s
max_concurrency: 16
clouds:
  - name: demo-ap
    region: ap-southeast-1
    project_id: {project_id}
    auth: {{ password: {{ domain: demo-domain, user: monitoring, password: demo-password }} }}
    endpoints: {{ iam: "{base}", dcs: "{base}", ddm: "{base}", koophone: "{base}" }}
    dcs: {{ include_failure: true }}
    # Discovery: every phone the account has, listed again every 10s (the simulator's churn
    # buys and releases phones meanwhile, so the inventory is seen changing).
    koophone: {{ discovery: {{ refresh_interval: 10s }} }}
    # DDM discovered too: every instance the account has, and its restore targets.
    ddm: {{ discovery: {{ refresh_interval: 30s }}, cache_ttl: 30s }}
  - name: demo-eu
    region: eu-west-101
    project_id: {project_id}
    auth: {{ token: {{ value: demo-static-token }} }}
    endpoints: {{ iam: "{base}", dcs: "{base}", ddm: "{base}", koophone: "{base}" }}
    dcs: {{ include_failure: false }}
    # Two ids the fleet does not have, so requested and reported differ as they do in real life.
    koophone: {{ instance_ids: [{eu}, gone0001, gone0002] }}
probes:
  boot_completed:
    cloud: demo-ap
    command: getprop sys.boot_completed
    expect: "^1$"
    timeout: 30s
    poll_interval: 500ms
    min_interval: 30s
    groups:
      canary: [{canary}]
"#,
        eu = list(eu),
        canary = list(canary),
    )
}

/// Starts the simulator on a free loopback port and an exporter on `listeners` pointed at it.
pub async fn demo(
    listeners: Vec<TcpListener>,
    telemetry_path: &str,
    overrides: &crate::config::Overrides,
) -> anyhow::Result<Application> {
    use crate::sim::{FaultKind, FaultSpec, SimConfig, Simulator};
    let sim_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the simulator")?;
    let sim_config = SimConfig {
        // The first DCS call is throttled once (then retried), as busy real accounts are now
        // and then: the throttling series, its dashboard panel and its alert have data from the
        // first scrape, and the share stays far below the alert's threshold.
        faults: vec![(
            &crate::services::dcs::api::DCS_STATUS,
            FaultSpec {
                kind: Some(FaultKind::Throttled),
                times: Some(1),
                ..FaultSpec::default()
            },
        )],
        // Phones are bought and released while the demo runs, so discovery is seen working.
        churn: Some(crate::sim::Churn {
            phones: 5,
            every: std::time::Duration::from_secs(20),
        }),
        ..SimConfig::default()
    };
    let sim = Simulator::start(crate::services::SIMULATED, sim_config, sim_listener)
        .await
        .context("starting the simulator")?;
    // The canary group: five of the first cloud's phones that are healthy now, so the landing
    // page's probe links show a passing probe (phones drift into exception states later, as
    // real ones do, and the probe then says which job failed).
    let phones = sim.phone_ids();
    let canary: Vec<String> = phones
        .iter()
        .take(DEMO_SPLIT)
        .filter(|id| !matches!(sim.phone_status(id), Some(5 | 6) | None))
        .take(5)
        .cloned()
        .collect();
    let yaml = demo_config_yaml(&sim.base_url(), &sim.project_id(), &phones, &canary);
    let mut config =
        crate::services::load_str(&yaml, "<demo config>", std::path::Path::new("."), &|_| None)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    overrides.apply(&mut config);
    let canary = crate::services::koophone::modules::modules_of(&config)
        .0
        .get("boot_completed")
        .and_then(|p| p.groups.get("canary"))
        .and_then(|g| g.first().cloned())
        .unwrap_or_default();
    let links = vec![
        (
            format!("/probe?module=boot_completed&target={canary}"),
            format!("/probe?module=boot_completed&target={canary} — command probe of one phone"),
        ),
        (
            "/probe?module=boot_completed&target=canary".to_string(),
            "/probe?module=boot_completed&target=canary — command probe of a group".to_string(),
        ),
        (
            format!("{}/_sim/faults", sim.base_url()),
            "simulator fault knobs (GET/PUT/DELETE /_sim/faults)".to_string(),
        ),
    ];
    tracing::info!(simulator = %sim.base_url(), phones = sim.phone_ids().len(), "demo: simulated Huawei Cloud started");
    let mut app = Application::build_on(config, None, listeners, telemetry_path, links)?;
    // The simulator serves as long as the application runs (the caller logs the URL, with the
    // scheme a web config may change).
    app.sim = Some(sim);
    Ok(app)
}
