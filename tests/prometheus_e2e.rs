//! A real Prometheus in the loop: the `--demo` exporter binary scraped by the `prometheus`
//! binary, which also loads `alerts/huaweicloud.rules.yml`; then every dashboard query and
//! annotation query (with its template variables resolved the way Grafana does) and every
//! rule expression is run through Prometheus's HTTP API. And `promtool check metrics` on the demo's `/metrics`.
//!
//! Needs `prometheus` and `promtool` on PATH (Debian: `apt-get install prometheus`); without
//! them the tests print `skipped: ...` and pass, unless `REQUIRE_PROMETHEUS=1`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{panels, read_yaml, require_tool, root};
use serde_json::Value as Json;

const RULES: &str = "alerts/huaweicloud.rules.yml";
/// The job names the alerting rules expect (`up{job="huaweicloud-exporter"}`,
/// `probe_success{job=~"huaweicloud.*probe.*"}`).
const EXPORTER_JOB: &str = "huaweicloud-exporter";
const PROBE_JOB: &str = "huaweicloud-exporter-probe";
/// Grafana's `$__rate_interval` is at least four scrape intervals; we scrape every second.
const RATE_INTERVAL: &str = "10s";
/// Samples of the exporter job to wait for before querying, so `[10s]` windows hold several.
const MIN_SAMPLES: f64 = 8.0;

/// A child process killed (and reaped) when dropped, also when the test panics.
struct Guard {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Guard {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Guard {
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
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early with {status}; its log:\n{}",
                self.name,
                fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(40))
        .build()
        .expect("HTTP client")
}

/// Waits until `url` answers 200, failing early if `guard`'s process exits.
async fn wait_ready(client: &reqwest::Client, guard: &mut Guard, url: &str) {
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
async fn start_demo(client: &reqwest::Client, dir: &Path) -> (Guard, String) {
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

struct Prom {
    client: reqwest::Client,
    base: String,
}

impl Prom {
    /// GET an API path; returns `data` on `status: success`, the error text otherwise.
    async fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<Json, String> {
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
    async fn query(&self, expr: &str) -> Result<Vec<Json>, String> {
        let data = self.get("/api/v1/query", &[("query", expr)]).await?;
        match &data["result"] {
            Json::Array(items) => Ok(items.clone()),
            // Scalars and strings: one value.
            other if !other.is_null() => Ok(vec![other.clone()]),
            _ => Ok(Vec::new()),
        }
    }

    /// The single value of a query returning one sample, if any.
    async fn value(&self, expr: &str) -> Option<f64> {
        let result = self.query(expr).await.ok()?;
        result.first()?["value"][1].as_str()?.parse().ok()
    }
}

fn prometheus_config(exporter: &str, rules: &Path) -> String {
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

/// Escapes a label value for a regex matcher inside a PromQL string, as Grafana's Prometheus
/// datasource does for multi-value variables.
fn regex_escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            // One backslash for the regex, doubled for the PromQL string literal.
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

/// Replaces `$var`, `${var}`, `${var:fmt}` and `[[var]]` from `vars`; panics on unknown names.
fn interpolate(expr: &str, vars: &BTreeMap<String, String>) -> String {
    let re = regex::Regex::new(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)").expect("regex");
    re.replace_all(expr, |caps: &regex::Captures| {
        let name = caps
            .get(1)
            .or(caps.get(2))
            .or(caps.get(3))
            .expect("a group")
            .as_str();
        vars.get(name)
            .unwrap_or_else(|| panic!("query {expr:?} uses unknown variable ${name}"))
            .clone()
    })
    .into_owned()
}

/// Grafana's built-in variables, sized for a Prometheus scraping every second.
fn builtin_variables() -> BTreeMap<String, String> {
    [
        ("__rate_interval", RATE_INTERVAL),
        ("__interval", "2s"),
        ("__interval_ms", "2000"),
        ("__range", "1m"),
        ("__range_s", "60"),
        ("__range_ms", "60000"),
        ("datasource", "prometheus"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Resolves the dashboard's query variables in order, as Grafana does with "All" selected:
/// `label_values(selector, label)` through the labels API, then `(v1|v2|...)`.
async fn resolve_variables(
    prom: &Prom,
    dashboard: &Json,
    probe_served: bool,
) -> BTreeMap<String, String> {
    let mut vars = builtin_variables();
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = var["name"].as_str().expect("variable name").to_string();
        if var["type"] != "query" {
            continue;
        }
        let query = var["query"]["query"]
            .as_str()
            .or(var["query"].as_str())
            .unwrap_or_else(|| panic!("variable {name}: no query"));
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {name}: {query:?} is not label_values(...)"));
        let (selector, label) = match inner.rsplit_once(',') {
            Some((sel, label)) => (Some(interpolate(sel.trim(), &vars)), label.trim()),
            None => (None, inner.trim()),
        };
        let mut params = Vec::new();
        if let Some(sel) = &selector {
            params.push(("match[]", sel.as_str()));
        }
        let values = prom
            .get(&format!("/api/v1/label/{label}/values"), &params)
            .await
            .unwrap_or_else(|e| panic!("variable {name}: {query:?}: {e}"));
        let values: Vec<String> = values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(regex_escape))
            .collect();
        let value = if values.is_empty() {
            // Only the probe job may be missing, and only while the exporter has no /probe.
            assert!(
                name == "probe_job" && !probe_served,
                "variable {name}: {query:?} has no values"
            );
            ".*".to_string()
        } else if let Some(all) = var["allValue"].as_str().filter(|s| !s.is_empty()) {
            all.to_string()
        } else {
            format!("({})", values.join("|"))
        };
        vars.insert(name, value);
    }
    vars
}

// ---------------------------------------------------------------- alerting rules

/// Metric names an expression selects (not functions, keywords, labels or durations).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let grouping =
        regex::Regex::new(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
            .expect("regex");
    let matchers = regex::Regex::new(r#"\{[^}]*\}|\[[^\]]*\]|"[^"]*""#).expect("regex");
    let ident = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?").expect("regex");
    let stripped = grouping.replace_all(expr, " ");
    let stripped = matchers.replace_all(&stripped, " ");
    let keywords = ["and", "or", "unless", "bool", "offset", "by", "without"];
    ident
        .captures_iter(&stripped)
        .filter(|c| c.get(1).is_none())
        .map(|c| c[0].to_string())
        .filter(|n| !keywords.contains(&n.as_str()))
        .collect()
}

/// Panels that may return no series in the healthy demo, each with a witness query that says
/// whether it should: when the witness has series, the panel must have data too. They list rare
/// states the simulated fleet is in now and then, or not at all.
const MAY_BE_EMPTY: [(&str, &str, &str); 3] = [
    (
        "DDM instances",
        "huaweicloud_ddm_instance_info",
        "lists discovered DDM instances; the demo's DDM section may list its instance id",
    ),
    (
        "Frozen phones",
        "huaweicloud_koophone_instance_frozen == 1",
        "lists frozen phones; the simulated fleet may have none frozen",
    ),
    (
        "Isolated phones by reason",
        "huaweicloud_koophone_isolated_instances",
        "isolated_instances is absent while no phone is isolated; the demo's phones all answer",
    ),
];

/// Metrics an alerting rule reads that the healthy demo has no series of, by design, and why.
/// The rule still has to parse; that the name is right is held by tests/assets/readme.rs (every metric
/// a rule reads is in README's Metrics table).
const ABSENT_IN_THE_DEMO: [(&str, &str); 1] = [(
    "huaweicloud_koophone_isolated_instances",
    "absent when no phone is isolated (HuaweiCloudKooPhonesIsolated); the demo's phones all answer",
)];

/// Metrics only `/probe` serves.
fn is_probe_metric(name: &str) -> bool {
    name.starts_with("probe_") || name.starts_with("huaweicloud_koophone_probe_")
}

// ---------------------------------------------------------------- the tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus: cargo test -- --include-ignored runs it (.ci/run does)"]
async fn prometheus_scrapes_the_demo_and_every_dashboard_query_and_rule_works() {
    let Some(prometheus) = require_tool("prometheus", "needed to scrape the demo end to end")
    else {
        return;
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temp dir");
    let client = http();
    let (mut exporter, exporter_url) = start_demo(&client, dir.path()).await;

    // /probe is served by the exporter once it has command probes; the probe panels and rules
    // are held to returning data only when it answers.
    let probe = client
        .get(format!(
            "{exporter_url}/probe?module=boot_completed&target=canary"
        ))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let probe_served = probe == 200;
    println!("/probe?module=boot_completed&target=canary answered {probe}");

    let rules_file = root().join(RULES);
    let config = dir.path().join("prometheus.yml");
    fs::write(
        &config,
        prometheus_config(exporter_url.trim_start_matches("http://"), &rules_file),
    )
    .expect("write prometheus.yml");
    let prom_port = free_port();
    let storage = dir.path().join("data");
    let mut prom_proc = Guard::spawn(
        "prometheus",
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", storage.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--log.level=warn"),
        dir.path().join("prometheus.log"),
    );
    let prom = Prom {
        client: client.clone(),
        base: format!("http://127.0.0.1:{prom_port}"),
    };
    wait_ready(&client, &mut prom_proc, &format!("{}/-/ready", prom.base)).await;

    // Wait for enough samples for the rate windows, for the probe job when /probe exists,
    // and for every rule to have been evaluated once.
    let expected_rules = read_yaml(&rules_file)["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|g| g["rules"].as_sequence().map_or(0, |r| r.len()))
        .sum::<usize>();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        exporter.assert_running();
        prom_proc.assert_running();
        let up = prom
            .value(&format!(
                "min(count_over_time(up{{job=\"{EXPORTER_JOB}\"}}[1m]) and up{{job=\"{EXPORTER_JOB}\"}} == 1)"
            ))
            .await
            .unwrap_or(0.0);
        let probe_up = !probe_served
            || prom
                .value(&format!(
                    "min(count_over_time(up{{job=\"{PROBE_JOB}\"}}[1m]) and up{{job=\"{PROBE_JOB}\"}} == 1)"
                ))
                .await
                .unwrap_or(0.0)
                >= 2.0;
        let rules = prom.get("/api/v1/rules", &[]).await.unwrap_or(Json::Null);
        let evaluated: Vec<&Json> = rules["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .filter(|r| r["health"] != "unknown")
            .collect();
        if up >= MIN_SAMPLES && probe_up && evaluated.len() == expected_rules {
            for r in evaluated {
                assert_eq!(
                    r["health"], "ok",
                    "Prometheus failed to evaluate rule {}: {}",
                    r["name"], r["lastError"]
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no data after 60s (exporter samples×up {up}, probe ready {probe_up}, {} of \
             {expected_rules} rules evaluated); targets: {}\nprometheus log:\n{}\nexporter log:\n{}",
            evaluated.len(),
            prom.get("/api/v1/targets", &[]).await.unwrap_or_default(),
            prom_proc.log(),
            exporter.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("data ready after {:?}", started.elapsed());

    let mut failures = Vec::new();

    // Every dashboard panel's every query: parses, and returns data.
    let mut checked = 0;
    for path in common::files_with_ext(&root().join("dashboards"), &[".json"]) {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        let dashboard: Json =
            serde_json::from_str(&fs::read_to_string(&path).expect("dashboard")).expect("JSON");
        let vars = resolve_variables(&prom, &dashboard, probe_served).await;
        for panel in panels(&dashboard) {
            let title = panel["title"].as_str().unwrap_or("?");
            for target in panel["targets"].as_array().into_iter().flatten() {
                let Some(raw) = target["expr"].as_str() else {
                    continue;
                };
                checked += 1;
                let expr = interpolate(raw, &vars);
                let reads_probe_job = raw.contains("probe_job");
                let may_be_empty = match MAY_BE_EMPTY.iter().find(|(t, _, _)| *t == title) {
                    Some((_, witness, why)) => {
                        let empty = prom.query(witness).await.map_or(true, |r| r.is_empty());
                        if empty {
                            println!("allowed empty: {file}: panel {title:?}: {why}");
                        }
                        empty
                    }
                    None => false,
                };
                match prom.query(&expr).await {
                    Err(e) => failures.push(format!("{file}: panel {title:?}: {expr}: {e}")),
                    Ok(result)
                        if result.is_empty()
                            && !may_be_empty
                            && (probe_served || !reads_probe_job) =>
                    {
                        failures.push(format!("{file}: panel {title:?}: no data for {expr}"))
                    }
                    Ok(result) => println!(
                        "ok ({} series): {file}: panel {title:?}: {expr}",
                        result.len()
                    ),
                }
            }
        }
    }
    assert!(checked > 0, "no dashboard queries found");
    for (title, _, _) in MAY_BE_EMPTY {
        let exists = common::files_with_ext(&root().join("dashboards"), &[".json"])
            .iter()
            .filter_map(|p| serde_json::from_str::<Json>(&fs::read_to_string(p).ok()?).ok())
            .any(|d| panels(&d).iter().any(|p| p["title"] == title));
        assert!(
            exists,
            "MAY_BE_EMPTY names panel {title:?}, which no dashboard has"
        );
    }

    // Every annotation query parses and runs (firing alerts: usually none in the healthy demo).
    for path in common::files_with_ext(&root().join("dashboards"), &[".json"]) {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        let dashboard: Json =
            serde_json::from_str(&fs::read_to_string(&path).expect("dashboard")).expect("JSON");
        let vars = resolve_variables(&prom, &dashboard, probe_served).await;
        for a in dashboard["annotations"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let Some(raw) = a["expr"].as_str() else {
                continue;
            };
            let expr = interpolate(raw, &vars);
            match prom.query(&expr).await {
                Err(e) => failures.push(format!("{file}: annotation {}: {expr}: {e}", a["name"])),
                Ok(result) => println!("ok ({} series): {file}: annotation {expr}", result.len()),
            }
        }
    }

    // Every alerting rule: its expression parses and the metrics it reads exist.
    let rules = read_yaml(&rules_file);
    for group in rules["groups"].as_sequence().into_iter().flatten() {
        for rule in group["rules"].as_sequence().into_iter().flatten() {
            let name = rule["alert"]
                .as_str()
                .or(rule["record"].as_str())
                .unwrap_or("?");
            let expr = rule["expr"].as_str().expect("rule expr");
            if let Err(e) = prom.query(expr).await {
                failures.push(format!("rule {name}: {expr}: {e}"));
                continue;
            }
            let names = metric_names(expr);
            if names.is_empty() {
                failures.push(format!("rule {name}: no metric found in {expr}"));
            }
            for metric in names {
                if is_probe_metric(&metric) && !probe_served {
                    continue;
                }
                if let Some((_, why)) = ABSENT_IN_THE_DEMO.iter().find(|(m, _)| *m == metric) {
                    println!("allowed absent: rule {name}: {metric}: {why}");
                    continue;
                }
                match prom.query(&format!("count({metric})")).await {
                    Ok(r) if !r.is_empty() => {}
                    other => failures.push(format!(
                        "rule {name}: metric {metric} has no series ({other:?})"
                    )),
                }
            }
        }
    }

    for (metric, _) in ABSENT_IN_THE_DEMO {
        let read = rules["groups"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_sequence().into_iter().flatten())
            .any(|r| metric_names(r["expr"].as_str().unwrap_or("")).contains(metric));
        assert!(
            read,
            "ABSENT_IN_THE_DEMO names {metric}, which no rule reads"
        );
    }

    assert!(
        failures.is_empty(),
        "{} failing queries:\n- {}\nprometheus log:\n{}",
        failures.len(),
        failures.join("\n- "),
        prom_proc.log()
    );
    println!(
        "{checked} dashboard queries and the rules checked in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
#[ignore = "needs promtool: cargo test -- --include-ignored runs it (.ci/run does)"]
async fn promtool_check_metrics_finds_nothing_in_the_demo() {
    let Some(promtool) = require_tool("promtool", "needed to lint the exposition") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let client = http();
    let (_exporter, base) = start_demo(&client, dir.path()).await;
    let body = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    assert!(body.contains("huaweicloud_dcs_instances"), "{body}");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics ({}) reports:\n{report}",
        out.status
    );
}
