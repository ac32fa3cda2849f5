//! The processes of the test: the demo exporter and a real `prometheus`, on free ports, killed
//! when the test ends; Prometheus's HTTP API.

use super::*;

pub(crate) struct Guard {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Guard {
    pub(crate) fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Guard {
        let out = fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Guard { name, child, log }
    }

    /// Fails the test with the process's log if it has exited.
    pub(crate) fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early with {status}; its log:\n{}",
                self.name,
                fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }

    pub(crate) fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(40))
        .build()
        .expect("HTTP client")
}

/// Waits until `url` answers 200, failing early if `guard`'s process exits.
pub(crate) async fn wait_ready(client: &reqwest::Client, guard: &mut Guard, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        guard.assert_running();
        if let Ok(resp) = client.get(url).send().await {
            if resp.status().is_success() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready at {url} after 30s; its log:\n{}",
            guard.name,
            guard.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts `huaweicloud-exporter --demo` on a free loopback port; returns it and its base URL.
pub(crate) async fn start_demo(client: &reqwest::Client, dir: &Path) -> (Guard, String) {
    let port = free_port();
    let mut guard = Guard::spawn(
        "huaweicloud-exporter --demo",
        Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
            .arg("--demo")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn"),
        dir.join("exporter.log"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(client, &mut guard, &format!("{base}/-/ready")).await;
    (guard, base)
}

// ---------------------------------------------------------------- Prometheus API

pub(crate) struct Prom {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
}

impl Prom {
    /// GET an API path; returns `data` on `status: success`, the error text otherwise.
    pub(crate) async fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<Json, String> {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .query(params)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let text = resp
            .text()
            .await
            .map_err(|e| format!("reading the body: {e}"))?;
        let body: Json =
            serde_json::from_str(&text).map_err(|e| format!("not JSON ({e}): {text}"))?;
        if body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(format!("{}: {}", body["errorType"], body["error"]))
        }
    }

    /// An instant query's result list.
    pub(crate) async fn query(&self, expr: &str) -> Result<Vec<Json>, String> {
        let data = self.get("/api/v1/query", &[("query", expr)]).await?;
        match &data["result"] {
            Json::Array(items) => Ok(items.clone()),
            // Scalars and strings: one value.
            other if !other.is_null() => Ok(vec![other.clone()]),
            _ => Ok(Vec::new()),
        }
    }

    /// The single value of a query returning one sample, if any.
    pub(crate) async fn value(&self, expr: &str) -> Option<f64> {
        let result = self.query(expr).await.ok()?;
        result.first()?["value"][1].as_str()?.parse().ok()
    }
}

pub(crate) fn prometheus_config(exporter: &str, rules: &Path) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {rules:?}
scrape_configs:
  - job_name: {EXPORTER_JOB}
    static_configs:
      - targets: ["{exporter}"]
  # As blackbox_exporter users do: the target becomes ?target=, the module ?module=, and
  # both are kept as labels; the address is the exporter's.
  - job_name: {PROBE_JOB}
    metrics_path: /probe
    scrape_interval: 5s
    scrape_timeout: 5s
    params:
      module: [boot_completed]
    static_configs:
      - targets: [canary]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: target
      - source_labels: [__param_module]
        target_label: module
      - target_label: __address__
        replacement: "{exporter}"
"#,
        rules = rules.display().to_string(),
    )
}

// ---------------------------------------------------------------- dashboards
