//! Test harness: a simulator and an exporter on port 0, a scrape, and a parsed exposition.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use huaweicloud_exporter::app::Application;
use huaweicloud_exporter::server::AppState;
use huaweicloud_exporter::services::load_str;
use huaweicloud_exporter::services::{SERVICES, SIMULATED};
use huaweicloud_exporter::sim::{FaultKind, FaultSpec, SimConfig, SimHandle, Simulator};
use huaweicloud_exporter::transport::Operation;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running simulator + exporter pair.
pub struct TestApp {
    pub sim: SimHandle,
    pub addr: SocketAddr,
    /// For tests that reload or look inside the exporter.
    pub state: Arc<AppState>,
    pub http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

/// One sample of the exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug, Default)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    pub types: BTreeMap<String, String>,
    pub helps: BTreeMap<String, String>,
}

impl Exposition {
    pub fn parse(text: &str) -> Exposition {
        let mut e = Exposition::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (n, t) = rest.split_once(' ').expect("TYPE line");
                assert!(
                    e.types.insert(n.into(), t.into()).is_none(),
                    "duplicate TYPE for {n}"
                );
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (n, h) = rest.split_once(' ').expect("HELP line");
                e.helps.insert(n.into(), h.into());
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            e.samples.push(parse_sample(line));
        }
        e
    }

    /// Samples of `name` whose labels include all of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The one value of `name` with `labels`; panics when there is not exactly one.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found = self.find(name, labels);
        assert_eq!(
            found.len(),
            1,
            "expected one {name}{labels:?}, found {found:?}"
        );
        found[0].value
    }

    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).iter().map(|s| s.value).sum()
    }

    /// The collectors that report a success for `cloud`, sorted.
    pub fn collectors(&self, cloud: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .samples
            .iter()
            .filter(|s| s.name == "huaweicloud_scrape_collector_success")
            .filter(|s| s.labels.get("cloud").map(String::as_str) == Some(cloud))
            .filter_map(|s| s.labels.get("collector").cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    pub fn success(&self, cloud: &str, collector: &str) -> f64 {
        self.value(
            "huaweicloud_scrape_collector_success",
            &[("cloud", cloud), ("collector", collector)],
        )
    }
}

fn parse_sample(line: &str) -> Sample {
    let (head, value) = line.rsplit_once(' ').expect("sample line");
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
    };
    let (name, labels) = match head.find('{') {
        None => (head.to_string(), BTreeMap::new()),
        Some(i) => {
            let name = head[..i].to_string();
            let body = head[i + 1..].strip_suffix('}').expect("closing brace");
            (name, parse_labels(body))
        }
    };
    Sample {
        name,
        labels,
        value,
    }
}

fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = body.chars().peekable();
    loop {
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('='));
        assert_eq!(chars.next(), Some('"'));
        let mut val = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => val.push('\n'),
                    Some(o) => val.push(o),
                    None => break,
                },
                '"' => break,
                c => val.push(c),
            }
        }
        out.insert(key.trim_start_matches(',').to_string(), val);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

/// Options for [`spawn_app`].
pub struct Opts {
    pub sim: SimConfig,
    /// Config YAML; `{base}`, `{project}`, `{phones}` (all fleet ids, comma-separated) and
    /// `{phones10}` (first ten) are substituted.
    pub config: String,
}

/// The standard two-cloud config: `pw` (password auth, dcs + koophone + ddm), `tok` (static token, dcs).
pub const TWO_CLOUDS: &str = r#"
timeout: 5s
clouds:
  - name: pw
    region: ap-southeast-1
    project_id: {project}
    auth: { password: { domain: demo-domain, user: monitoring, password: demo-password } }
    endpoints: {endpoints}
    dcs: {}
    koophone: { instance_ids: [{phones}] }
    ddm: { instance_ids: [1f5c9fd6cd984056ba89c8c87cc03278in09], cache_ttl: 0s }
  - name: tok
    region: eu-west-101
    project_id: {project}
    auth: { token: { value: demo-static-token } }
    endpoints: {endpoints}
    dcs: { include_failure: false }
"#;

/// The operations tests name one by one: the clients' own, which the simulator serves under
/// the same names. Matrices over every operation use [`all_operations`] instead.
#[allow(unused_imports)] // each test binary names only some
pub mod op {
    pub use huaweicloud_exporter::services::dcs::api::{DCS_LIST, DCS_STATUS};
    pub use huaweicloud_exporter::services::ddm::api::{
        LIST as DDM_LIST, RESTORABLE as DDM_RESTORABLE,
    };
    pub use huaweicloud_exporter::services::koophone::api::{
        ASYNC_COMMAND as KOOPHONE_ASYNC_COMMAND, BATCH_STATUS as KOOPHONE_BATCH_STATUS,
        LIST as KOOPHONE_LIST, TASK as KOOPHONE_TASK,
    };
    pub use huaweicloud_exporter::transport::auth::IAM_TOKEN;
}

/// Every upstream operation: the IAM token request and every registered service's calls, from
/// the registry (so a new service's calls are in every matrix without a test edit).
pub fn all_operations() -> Vec<&'static Operation> {
    std::iter::once(&op::IAM_TOKEN)
        .chain(SERVICES.iter().flat_map(|s| s.operations().iter().copied()))
        .collect()
}

/// A cloud's `endpoints:` flow map sending IAM and every registered service to `base`, so that
/// no test cloud calls the real one for a service the test did not think of.
pub fn endpoints(base: &str) -> String {
    let keys = std::iter::once("iam").chain(SERVICES.iter().map(|s| s.identity().key));
    let pairs: Vec<String> = keys.map(|k| format!("{k}: \"{base}\"")).collect();
    format!("{{ {} }}", pairs.join(", "))
}

/// `text` with `{endpoints}` expanded by [`endpoints`] to `{base}` for every service.
pub fn with_endpoints(text: &str) -> String {
    text.replace("{endpoints}", &endpoints("{base}"))
}

/// A fault of `kind` on every call, for ever (set it with `sim.set_fault`).
pub fn fault(kind: FaultKind) -> FaultSpec {
    FaultSpec {
        kind: Some(kind),
        ..FaultSpec::default()
    }
}

pub fn frozen_sim(phones: usize) -> SimConfig {
    SimConfig {
        phones,
        tick: std::time::Duration::ZERO,
        ..SimConfig::default()
    }
}

pub async fn spawn_app(opts: Opts) -> TestApp {
    let sim = spawn_sim(opts.sim).await;
    spawn_app_with_sim(sim, &opts.config).await
}

/// A simulator alone, for tests that look at it before writing the exporter's config.
pub async fn spawn_sim(config: SimConfig) -> SimHandle {
    let sim_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(SIMULATED, config, sim_listener)
        .await
        .unwrap()
}

/// `config` with `{endpoints}`, `{base}`, `{project}`, `{phones10}` and `{phones}` filled in
/// from `sim`, loaded.
pub fn load_for(sim: &SimHandle, config: &str) -> huaweicloud_exporter::config::Config {
    let ids = sim.phone_ids();
    let yaml = with_endpoints(config)
        .replace("{base}", &sim.base_url())
        .replace("{project}", &sim.project_id())
        .replace("{phones10}", &ids[..ids.len().min(10)].join(", "))
        .replace("{phones}", &ids.join(", "));
    load_str(&yaml, "test.yaml", std::path::Path::new("."), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Builds an application for `config` on 127.0.0.1:0, `POST /-/reload` enabled (as with
/// `--web.enable-lifecycle`) so tests can reload it.
pub async fn build(
    config: huaweicloud_exporter::config::Config,
    path: Option<std::path::PathBuf>,
) -> Application {
    Application::build(
        config,
        path,
        "127.0.0.1:0".parse().unwrap(),
        "/metrics",
        Vec::new(),
    )
    .await
    .unwrap()
    .with_lifecycle(huaweicloud_exporter::server::Lifecycle::Enabled)
}

/// Serves `app` in the background until the returned sender is dropped.
pub fn serve(app: Application) -> (SocketAddr, Arc<AppState>, oneshot::Sender<()>) {
    let addr = app.local_addr();
    let state = app.state();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    (addr, state, tx)
}

/// An exporter serving the config file `path`, which `POST /-/reload` rereads (see [`serve`]).
pub async fn serve_file(
    path: &std::path::Path,
) -> (SocketAddr, Arc<AppState>, oneshot::Sender<()>) {
    let cfg = huaweicloud_exporter::services::load_file(path).unwrap();
    serve(build(cfg, Some(path.to_path_buf())).await)
}

/// Writes `text` to the config file `path`, then `POST /-/reload` to the exporter at `addr`,
/// which must answer 200.
pub async fn reload_file(
    http: &reqwest::Client,
    addr: SocketAddr,
    path: &std::path::Path,
    text: String,
) {
    std::fs::write(path, text).unwrap();
    let r = http
        .post(format!("http://{addr}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// An exporter against `sim`; `config` is substituted as in [`Opts::config`].
pub async fn spawn_app_with_sim(sim: SimHandle, config: &str) -> TestApp {
    let (addr, state, stop) = serve(build(load_for(&sim, config), None).await);
    TestApp {
        sim,
        addr,
        state,
        http: reqwest::Client::new(),
        _stop: stop,
    }
}

impl TestApp {
    /// The IAM token provider of `cloud` (a cloud with password or token auth).
    pub fn token_provider(
        &self,
        cloud: &str,
    ) -> std::sync::Arc<huaweicloud_exporter::transport::auth::token::TokenProvider> {
        self.state
            .exporter()
            .cloud(cloud)
            .and_then(|c| c.client.token_provider().cloned())
            .expect("a cloud with IAM token auth")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET /metrics → (status, raw text).
    pub async fn scrape_raw(&self, timeout_header: Option<&str>) -> (u16, String) {
        let mut req = self.http.get(self.url("/metrics"));
        if let Some(t) = timeout_header {
            req = req.header("X-Prometheus-Scrape-Timeout-Seconds", t);
        }
        let resp = req.send().await.expect("scrape");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    pub async fn scrape(&self) -> Exposition {
        let (status, text) = self.scrape_raw(None).await;
        assert_eq!(status, 200);
        Exposition::parse(&text)
    }

    /// GET `path` → its body, whatever the status (e.g. the landing page, `/`).
    pub async fn page(&self, path: &str) -> String {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// Status codes of `ids`, asked of the simulator directly.
pub async fn statuses(sim: &SimHandle, ids: &[String]) -> Vec<(String, i64)> {
    let body = serde_json::to_vec(&serde_json::json!({ "instance_ids": ids })).unwrap();
    let text = reqwest::Client::new()
        .post(format!(
            "{}/v1/instances/batch-query-status",
            sim.base_url()
        ))
        .header("X-Auth-Token", "demo-static-token")
        .header("x-request-id", "probe-test-setup")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["data"]["status_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["instance_id"].as_str().unwrap().to_string(),
                r["status"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The `clouds:` list of one cloud `name` with a static token and every endpoint on the
/// simulator (`{project}` and `{base}` are filled in by `spawn_app`), then `sections`: its
/// service sections, as YAML lines indented under the cloud.
pub fn token_cloud(name: &str, sections: &str) -> String {
    format!(
        r#"clouds:
  - name: {name}
    region: ap-southeast-1
    project_id: {{project}}
    auth: {{ token: {{ value: demo-static-token }} }}
    endpoints: {{endpoints}}
{sections}"#
    )
}

/// One password cloud with every collector, and a probe module (the fault suites' cloud).
pub const ONE_CLOUD: &str = r#"
timeout: 5s
clouds:
  - name: c
    region: ap-southeast-1
    project_id: {project}
    auth: { password: { domain: demo-domain, user: monitoring, password: demo-password } }
    endpoints: {endpoints}
    dcs: {}
    koophone: { instance_ids: [{phones}] }
    ddm: { instance_ids: [1f5c9fd6cd984056ba89c8c87cc03278in09], cache_ttl: 0s }
probes:
  echo:
    cloud: c
    command: echo ok
    expect: "^ok$"
    timeout: 5s
    poll_interval: 50ms
    min_interval: 0s
"#;

/// One scrape of the exporter serving on `addr` (for tests that serve it themselves, e.g. from a
/// file so it can be reloaded), parsed.
pub async fn scrape_addr(addr: SocketAddr) -> Exposition {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    Exposition::parse(&text)
}

/// The exporter binary reading `config`, with `args` and `env` added, on a free port of
/// 127.0.0.1, its stdout and stderr piped: the child and its port. The caller waits for it.
pub async fn spawn_binary(
    config: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .args([
            "--config.file",
            config.to_str().unwrap(),
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ])
        .args(args)
        .envs(env.iter().copied())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    (child, port)
}

/// Stops a binary started by a test and returns all it wrote, its stderr and then its stdout.
pub fn stop_and_read_logs(child: &mut std::process::Child) -> String {
    use std::io::Read;
    let _ = child.kill();
    let _ = child.wait();
    let mut logs = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut logs).unwrap();
    }
    if let Some(mut pipe) = child.stdout.take() {
        pipe.read_to_string(&mut logs).unwrap();
    }
    logs
}

/// Whether a log line carries a `request_id=` that starts with 32 hexadecimal characters (the
/// ids the simulator and the exporter make).
pub fn has_hex_request_id(line: &str) -> bool {
    line.split("request_id=")
        .nth(1)
        .map(|rest| rest.trim_start_matches('"'))
        .is_some_and(|id| id.len() >= 32 && id[..32].bytes().all(|b| b.is_ascii_hexdigit()))
}
