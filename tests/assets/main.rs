//! Checks of the operational assets: alerting rules, dashboards, Dockerfile, deploy/.
//!
//! Tests that need an external tool (promtool, node/npm, hadolint, kubernetes-validate)
//! skip with a `skipped: ...` line when it is missing, unless `REQUIRE_PROMETHEUS=1`,
//! which makes a missing tool a failure (see `common::require_tool`).
//!
//! One module per asset; this file holds what several of them read: the rules, the
//! dashboards, the runbooks' address and the built binary.

#[path = "../common/mod.rs"]
mod common;

mod alerts;
mod dashboard_alerts;
mod dashboard_cloud;
mod dashboard_links;
mod dashboards;
mod docker;
mod generated;
mod kubernetes;
mod readme;
mod readme_toc;
mod runbooks;
mod simulator_doc;
mod systemd;

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use common::{files_with_ext, root};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

/// The alerting rules every deployment loads.
const RULES: &str = "alerts/huaweicloud.rules.yml";
/// The data source every dashboard query names: the `datasource` variable.
const DS: &str = "${datasource}";
/// Where every alert's `runbook_url` points: docs/runbooks.md on the project's default branch.
const RUNBOOK_BASE: &str =
    "https://github.com/huaweicloud-exporter/huaweicloud-exporter/blob/main/docs/runbooks.md";
/// The exporter binary this test run built.
const EXPORTER: &str = env!("CARGO_BIN_EXE_huaweicloud-exporter");

/// Every alerting rule (not the recording rules) of a rules file.
fn alerts(rules: &Yaml) -> Vec<&Yaml> {
    let groups = rules["groups"].as_sequence().expect("groups is a list");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules is a list"))
        .filter(|r| r.get("alert").is_some())
        .collect()
}

/// Every dashboards/*.json, parsed, with its path.
fn dashboards() -> Vec<(PathBuf, Json)> {
    let files = files_with_ext(&root().join("dashboards"), &[".json"]);
    assert!(!files.is_empty(), "no dashboards/*.json");
    files
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).expect("readable dashboard");
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
            (path, json)
        })
        .collect()
}

/// The template variable `name` of a dashboard.
fn variable<'a>(dashboard: &'a Json, name: &str) -> Option<&'a Json> {
    dashboard["templating"]["list"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
}

/// Metric names an alerting expression reads (enough to recognise them in a runbook).
fn alert_metrics(expr: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\b(huaweicloud_[a-z_]+|probe_[a-z_]+|up)\b").expect("regex");
    re.find_iter(expr).map(|m| m.as_str().to_string()).collect()
}
