//! A real Prometheus in the loop: the `--demo` exporter binary scraped by the `prometheus`
//! binary, which also loads `alerts/huaweicloud.rules.yml`; then every dashboard query and
//! annotation query (with its template variables resolved the way Grafana does) and every
//! rule expression is run through Prometheus's HTTP API. And `promtool check metrics` on the demo's `/metrics`.
//!
//! Needs `prometheus` and `promtool` on PATH (Debian: `apt-get install prometheus`); without
//! them the tests print `skipped: ...` and pass, unless `REQUIRE_PROMETHEUS=1`.

#[path = "../common/mod.rs"]
mod common;
mod harness;
mod queries;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{panels, read_yaml, require_tool, root};
use harness::*;
use queries::*;
use serde_json::Value as Json;

pub(crate) const RULES: &str = "alerts/huaweicloud.rules.yml";
/// The job names the alerting rules expect (`up{job="huaweicloud-exporter"}`,
/// `probe_success{job=~"huaweicloud.*probe.*"}`).
pub(crate) const EXPORTER_JOB: &str = "huaweicloud-exporter";
pub(crate) const PROBE_JOB: &str = "huaweicloud-exporter-probe";
/// Grafana's `$__rate_interval` is at least four scrape intervals; we scrape every second.
pub(crate) const RATE_INTERVAL: &str = "10s";
/// Samples of the exporter job to wait for before querying, so `[10s]` windows hold several.
pub(crate) const MIN_SAMPLES: f64 = 8.0;

/// A child process killed (and reaped) when dropped, also when the test panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs prometheus, an external tool: cargo test -- --include-ignored runs it"]
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
                // No panel may be empty: the demo's fleet has every state a panel lists (frozen
                // phones, DDM instances), and counts are exported with zeros.
                match prom.query(&expr).await {
                    Err(e) => failures.push(format!("{file}: panel {title:?}: {expr}: {e}")),
                    Ok(result) if result.is_empty() && (probe_served || !reads_probe_job) => {
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
                match prom.query(&format!("count({metric})")).await {
                    Ok(r) if !r.is_empty() => {}
                    other => failures.push(format!(
                        "rule {name}: metric {metric} has no series ({other:?})"
                    )),
                }
            }
        }
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
#[ignore = "runs promtool, an external tool: cargo test -- --include-ignored runs it"]
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
