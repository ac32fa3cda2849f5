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
use crate::server::{router, AppState};

/// One `--web.listen-address` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddress {
    /// An IP address and port: `127.0.0.1:10071`, `[::1]:10071`, `0.0.0.0:10071` (every IPv4
    /// interface), `[::]:10071` (every IPv6 one; IPv4 too where the host's default says so).
    Ip(SocketAddr),
    /// `:10071`: every interface, IPv6 and IPv4 on one dual-stack socket as Go listens, or
    /// IPv4 only on a host without IPv6.
    AllInterfaces(u16),
    /// A host name and port, resolved when binding: `localhost:10071`.
    Host {
        /// The name as given.
        host: String,
        /// The port (0: any free one, the same for every address of the name where possible).
        port: u16,
    },
}

impl std::fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddress::Ip(a) => write!(f, "{a}"),
            ListenAddress::AllInterfaces(port) => write!(f, ":{port}"),
            ListenAddress::Host { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// Longest host name DNS allows.
const MAX_HOST_NAME: usize = 253;

/// Parses a Prometheus-style listen address: `host:port` where host is an IPv4 address, an
/// IPv6 address in brackets, a host name, or empty (`:10071`, every interface).
pub fn parse_listen_address(s: &str) -> anyhow::Result<ListenAddress> {
    let bad = |why: &str| {
        anyhow::anyhow!(
            "--web.listen-address {s:?} {why} (e.g. :10071, localhost:10071, 127.0.0.1:10071 or [::1]:10071)"
        )
    };
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(bad("is not host:port"));
    };
    let port: u16 = match port.parse() {
        Ok(p) if !port.starts_with('+') => p,
        _ => return Err(bad("does not end in a port from 0 to 65535")),
    };
    if host.is_empty() {
        return Ok(ListenAddress::AllInterfaces(port));
    }
    if let Some(inner) = host.strip_prefix('[') {
        let Some(ip) = inner.strip_suffix(']') else {
            return Err(bad("is not host:port"));
        };
        return match ip.parse::<std::net::Ipv6Addr>() {
            Ok(ip) => Ok(ListenAddress::Ip(SocketAddr::from((ip, port)))),
            Err(_) => Err(bad("has no IPv6 address between its brackets")),
        };
    }
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err(bad(
            "is an IPv6 address without brackets; write it as [addr]:port",
        ));
    }
    if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
        return Ok(ListenAddress::Ip(SocketAddr::from((ip, port))));
    }
    let valid_name = host.len() <= MAX_HOST_NAME
        && host.split('.').enumerate().all(|(i, label)| {
            // A trailing dot (fully qualified) leaves one empty last label.
            let last = i == host.split('.').count() - 1;
            (label.is_empty() && last && i > 0)
                || (!label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        });
    if !valid_name {
        return Err(bad(
            "is not host:port: the host is neither an IP address nor a host name",
        ));
    }
    if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad(
            "is not host:port: the host is not a valid IPv4 address",
        ));
    }
    Ok(ListenAddress::Host {
        host: host.to_string(),
        port,
    })
}

/// Binds every address: an IP address as given; a host name on each address it resolves to
/// (`localhost`: 127.0.0.1 and ::1 where both exist), so clients reach it whichever address
/// they pick. Of a name's addresses, one that cannot be bound here (e.g. ::1 in a container
/// without IPv6) is skipped with a warning as long as another is bound; an address in use or
/// not permitted fails, as does an IP address given literally. An address reached twice (two
/// flags naming the same place) is bound once.
pub async fn bind_listen_addresses(addrs: &[ListenAddress]) -> anyhow::Result<Vec<TcpListener>> {
    let mut listeners: Vec<TcpListener> = Vec::new();
    let mut bound: Vec<SocketAddr> = Vec::new();
    for addr in addrs {
        match addr {
            ListenAddress::AllInterfaces(port) => {
                let v6 = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, *port));
                let v4 = SocketAddr::from(([0, 0, 0, 0], *port));
                if *port != 0 && (bound.contains(&v6) || bound.contains(&v4)) {
                    continue;
                }
                let listener = match bind_dual_stack(v6) {
                    Ok(l) => l,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::AddrInUse | std::io::ErrorKind::PermissionDenied
                        ) =>
                    {
                        return Err(anyhow::Error::new(e)
                            .context(format!("cannot listen on {addr} (every interface)")));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "no dual-stack IPv6 socket; listening on IPv4 only");
                        TcpListener::bind(v4)
                            .await
                            .with_context(|| format!("cannot listen on {v4}"))?
                    }
                };
                bound.push(listener.local_addr().unwrap_or(v6));
                listeners.push(listener);
            }
            ListenAddress::Ip(ip) => {
                if ip.port() != 0 && bound.contains(ip) {
                    continue;
                }
                let listener = TcpListener::bind(ip)
                    .await
                    .with_context(|| format!("cannot listen on {ip}"))?;
                bound.push(listener.local_addr().unwrap_or(*ip));
                listeners.push(listener);
            }
            ListenAddress::Host { host, port } => {
                let mut resolved: Vec<SocketAddr> = Vec::new();
                for a in tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .with_context(|| {
                        format!(
                            "--web.listen-address {:?}: cannot resolve {host:?}",
                            addr.to_string()
                        )
                    })?
                {
                    if !resolved.contains(&a) {
                        resolved.push(a);
                    }
                }
                let mut port = *port;
                let mut skipped: Vec<String> = Vec::new();
                let mut any = false;
                for mut a in resolved {
                    // Port 0: every address of the name on the port the first one got.
                    if a.port() == 0 {
                        a.set_port(port);
                    }
                    if a.port() != 0 && bound.contains(&a) {
                        any = true;
                        continue;
                    }
                    match TcpListener::bind(a).await {
                        Ok(listener) => {
                            let local = listener.local_addr().unwrap_or(a);
                            port = local.port();
                            bound.push(local);
                            listeners.push(listener);
                            any = true;
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::AddrInUse
                                    | std::io::ErrorKind::PermissionDenied
                            ) =>
                        {
                            return Err(anyhow::Error::new(e).context(format!(
                                "cannot listen on {a} (--web.listen-address {:?})",
                                addr.to_string()
                            )));
                        }
                        Err(e) => skipped.push(format!("{a}: {e}")),
                    }
                }
                if !any {
                    anyhow::bail!(
                        "--web.listen-address {:?}: cannot listen on any address of {host:?}: {}",
                        addr.to_string(),
                        if skipped.is_empty() {
                            "it resolves to none".to_string()
                        } else {
                            skipped.join("; ")
                        }
                    );
                }
                for why in skipped {
                    tracing::warn!(listen_address = %addr, skipped = %why, "not listening on this address of the host name");
                }
            }
        }
    }
    if listeners.is_empty() {
        anyhow::bail!("no --web.listen-address to listen on");
    }
    Ok(listeners)
}

/// A listener on `[::]:port` that takes IPv4 too (`IPV6_V6ONLY` off, whatever the host's
/// default), with the options tokio's `TcpListener::bind` sets.
fn bind_dual_stack(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_only_v6(false)?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// A bound, ready-to-run exporter.
pub struct Application {
    /// One per listen address; all serve the same routes under the same web config.
    listeners: Vec<TcpListener>,
    state: Arc<AppState>,
    /// The demo's simulator: it serves as long as the application runs.
    sim: Option<crate::sim::SimHandle>,
    /// `--web.config.file`: TLS, basic auth and headers; `None` serves plain, open HTTP.
    web: Option<Arc<WebConfigHandle>>,
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
    /// [`bind_listen_addresses`]).
    pub fn from_source_on(
        source: crate::config::Source,
        listeners: Vec<TcpListener>,
        telemetry_path: &str,
    ) -> anyhow::Result<Application> {
        let config = source.load()?;
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
        })
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
        let routes = router(self.state).layer(axum::extract::DefaultBodyLimit::max(limit));
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
    ddm_instance: &str,
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
    ddm: {{ instance_ids: [{ddm_instance}], cache_ttl: 30s }}
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
) -> anyhow::Result<Application> {
    use crate::sim::{FaultKind, FaultSpec, Operation, SimConfig, Simulator};
    let sim_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the simulator")?;
    let sim_config = SimConfig {
        // The first DCS call is throttled once (then retried), as busy real accounts are now
        // and then: the throttling series, its dashboard panel and its alert have data from the
        // first scrape, and the share stays far below the alert's threshold.
        faults: vec![(
            Operation::DcsStatus,
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
    let ddm_instance = sim_config
        .ddm_instances
        .first()
        .map(|d| d.id.clone())
        .unwrap_or_else(|| "1f5c9fd6cd984056ba89c8c87cc03278in09".into());
    let sim = Simulator::start(sim_config, sim_listener)
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
    let yaml = demo_config_yaml(
        &sim.base_url(),
        &sim.project_id(),
        &phones,
        &canary,
        &ddm_instance,
    );
    let config =
        crate::config::load_str(&yaml, "<demo config>", std::path::Path::new("."), &|_| None)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let canary = config
        .probes
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

#[cfg(test)]
mod listen_tests {
    use super::*;

    fn host(h: &str, port: u16) -> ListenAddress {
        ListenAddress::Host {
            host: h.into(),
            port,
        }
    }

    #[test]
    fn listen_addresses_take_ips_names_and_bare_ports() {
        let ip = |s: &str| ListenAddress::Ip(s.parse().unwrap());
        for (input, want) in [
            (":10071", ListenAddress::AllInterfaces(10071)),
            (":0", ListenAddress::AllInterfaces(0)),
            ("0.0.0.0:10071", ip("0.0.0.0:10071")),
            ("127.0.0.1:10071", ip("127.0.0.1:10071")),
            ("[::1]:10071", ip("[::1]:10071")),
            ("[::]:10071", ip("[::]:10071")),
            ("localhost:10071", host("localhost", 10071)),
            ("localhost:0", host("localhost", 0)),
            (
                "exporter-1.example.com.:80",
                host("exporter-1.example.com.", 80),
            ),
            ("my_host:1", host("my_host", 1)),
        ] {
            assert_eq!(parse_listen_address(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn bad_listen_addresses_say_what_is_wrong() {
        let tail = " (e.g. :10071, localhost:10071, 127.0.0.1:10071 or [::1]:10071)";
        for (input, why) in [
            ("", "is not host:port"),
            ("garbage", "is not host:port"),
            ("10071", "is not host:port"),
            ("localhost:", "does not end in a port from 0 to 65535"),
            ("localhost:65536", "does not end in a port from 0 to 65535"),
            ("localhost:+80", "does not end in a port from 0 to 65535"),
            (":http", "does not end in a port from 0 to 65535"),
            (
                "::1:80",
                "is an IPv6 address without brackets; write it as [addr]:port",
            ),
            ("[::1:80", "is not host:port"),
            ("[nope]:80", "has no IPv6 address between its brackets"),
            (
                "1.2.3:80",
                "is not host:port: the host is not a valid IPv4 address",
            ),
            (
                "256.1.1.1:80",
                "is not host:port: the host is not a valid IPv4 address",
            ),
            (
                "foo bar:80",
                "is not host:port: the host is neither an IP address nor a host name",
            ),
            (
                "http://localhost:80",
                "is not host:port: the host is neither an IP address nor a host name",
            ),
            (
                "-x:80",
                "is not host:port: the host is neither an IP address nor a host name",
            ),
            (
                "a..b:80",
                "is not host:port: the host is neither an IP address nor a host name",
            ),
            (
                ".:80",
                "is not host:port: the host is neither an IP address nor a host name",
            ),
        ] {
            let err = parse_listen_address(input).unwrap_err().to_string();
            assert_eq!(err, format!("--web.listen-address {input:?} {why}{tail}"));
        }
        let long = format!("{}:80", "a.".repeat(127));
        assert!(parse_listen_address(&long).is_err());
    }

    #[tokio::test]
    async fn a_name_listens_on_each_of_its_addresses_on_one_port() {
        let want: Vec<std::net::IpAddr> = tokio::net::lookup_host(("localhost", 0))
            .await
            .unwrap()
            .map(|a| a.ip())
            .collect();
        let listeners = bind_listen_addresses(&[host("localhost", 0)])
            .await
            .unwrap();
        let got: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let mut ips: Vec<_> = got.iter().map(SocketAddr::ip).collect();
        ips.dedup();
        let mut want_unique = want.clone();
        want_unique.dedup();
        assert_eq!(ips, want_unique);
        assert!(got
            .iter()
            .all(|a| a.port() == got[0].port() && a.port() != 0));
    }

    #[tokio::test]
    async fn a_bare_port_takes_ipv4_and_where_the_host_has_it_ipv6() {
        let listeners = bind_listen_addresses(&[ListenAddress::AllInterfaces(0)])
            .await
            .unwrap();
        assert_eq!(listeners.len(), 1);
        let port = listeners[0].local_addr().unwrap().port();
        let (accepted, connected) = tokio::join!(
            listeners[0].accept(),
            tokio::net::TcpStream::connect(("127.0.0.1", port))
        );
        assert!(accepted.is_ok() && connected.is_ok());
        let has_ipv6 = std::net::TcpListener::bind("[::1]:0").is_ok();
        if has_ipv6 {
            let (accepted, connected) = tokio::join!(
                listeners[0].accept(),
                tokio::net::TcpStream::connect(("::1", port))
            );
            assert!(accepted.is_ok() && connected.is_ok());
        } else {
            println!("no IPv6 on this host: checked IPv4 only");
        }
    }

    #[tokio::test]
    async fn the_same_address_twice_is_bound_once() {
        let first = bind_listen_addresses(&[ListenAddress::Ip("127.0.0.1:0".parse().unwrap())])
            .await
            .unwrap();
        let port = first[0].local_addr().unwrap().port();
        drop(first);
        let both = bind_listen_addresses(&[
            ListenAddress::Ip(SocketAddr::from(([127, 0, 0, 1], port))),
            ListenAddress::Ip(SocketAddr::from(([127, 0, 0, 1], port))),
        ])
        .await
        .unwrap();
        assert_eq!(both.len(), 1);
    }
}
