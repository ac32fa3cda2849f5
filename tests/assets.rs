//! Checks of the operational assets: alerting rules, dashboards, Dockerfile, deploy/.
//!
//! Tests that need an external tool (promtool, node/npm, hadolint, kubernetes-validate)
//! skip with a `skipped: ...` line when it is missing, unless `REQUIRE_PROMETHEUS=1`,
//! which makes a missing tool a failure (see `common::require_tool`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use common::{files_with_ext, panels, read_yaml, require_tool, root, run_fails, run_ok};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

const RULES: &str = "alerts/huaweicloud.rules.yml";
const RULE_TESTS: &str = "alerts/huaweicloud.rules.test.yml";
const PROMETHEUS_RULE: &str = "deploy/kubernetes/prometheus-operator/prometheusrule.yaml";
const DS: &str = "${datasource}";

// ---------------------------------------------------------------- alerting rules

#[test]
#[ignore = "needs promtool: cargo test -- --include-ignored runs it (.ci/run does)"]
fn promtool_check_rules() {
    let Some(promtool) = require_tool("promtool", "needed to check alerting rules") else {
        return;
    };
    let out = run_ok(
        Command::new(promtool)
            .arg("check")
            .arg("rules")
            .arg(root().join(RULES)),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));
}

#[test]
#[ignore = "needs promtool: cargo test -- --include-ignored runs it (.ci/run does)"]
fn promtool_test_rules() {
    let Some(promtool) = require_tool("promtool", "needed to unit-test alerting rules") else {
        return;
    };
    run_ok(
        Command::new(promtool)
            .arg("test")
            .arg("rules")
            .arg(root().join(RULE_TESTS)),
    );
}

#[test]
#[ignore = "needs promtool: cargo test -- --include-ignored runs it (.ci/run does)"]
fn promtool_check_compose_prometheus_config() {
    let Some(promtool) = require_tool("promtool", "needed to check prometheus.yml") else {
        return;
    };
    run_ok(
        Command::new(promtool)
            .args(["check", "config", "--syntax-only"])
            .arg(root().join("deploy/prometheus/prometheus.yml")),
    );
}

fn alerts(rules: &Yaml) -> Vec<&Yaml> {
    let groups = rules["groups"].as_sequence().expect("groups is a list");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules is a list"))
        .filter(|r| r.get("alert").is_some())
        .collect()
}

#[test]
fn every_alert_is_annotated_and_has_firing_and_quiet_test_cases() {
    let rules = read_yaml(&root().join(RULES));
    let tests = read_yaml(&root().join(RULE_TESTS));

    // alertname -> (cases where it fires, cases where it is expected quiet)
    let mut cases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for test in tests["tests"].as_sequence().expect("tests is a list") {
        for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
            let name = case["alertname"].as_str().expect("alertname").to_string();
            let firing = case["exp_alerts"]
                .as_sequence()
                .is_some_and(|a| !a.is_empty());
            let entry = cases.entry(name).or_default();
            if firing {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
    }

    let alerts = alerts(&rules);
    assert!(!alerts.is_empty(), "{RULES} has no alert");
    let mut names = BTreeSet::new();
    for alert in alerts {
        let name = alert["alert"].as_str().expect("alert name is a string");
        assert!(names.insert(name), "alert {name} is defined twice");
        let severity = alert["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("critical" | "warning" | "info")),
            "alert {name}: severity label is {severity:?}"
        );
        for key in ["summary", "description"] {
            let text = alert["annotations"][key].as_str().unwrap_or("");
            assert!(!text.trim().is_empty(), "alert {name}: no {key} annotation");
        }
        assert!(
            alert["annotations"]["description"]
                .as_str()
                .unwrap_or("")
                .contains("{{"),
            "alert {name}: description is not templated with labels or value"
        );
        let (fires, quiet) = cases.get(name).copied().unwrap_or_default();
        assert!(
            fires > 0,
            "alert {name}: no test case in {RULE_TESTS} where it fires"
        );
        assert!(
            quiet > 0,
            "alert {name}: no test case in {RULE_TESTS} where it stays quiet"
        );
    }
    for tested in cases.keys() {
        assert!(
            names.contains(tested.as_str()),
            "{RULE_TESTS} tests unknown alert {tested}"
        );
    }
}

#[test]
fn prometheusrule_carries_the_same_rules() {
    let rules = read_yaml(&root().join(RULES));
    let crd = read_yaml(&root().join(PROMETHEUS_RULE));
    assert_eq!(crd["kind"].as_str(), Some("PrometheusRule"));
    assert_eq!(
        crd["spec"], rules,
        "{PROMETHEUS_RULE} differs from {RULES}: run deploy/kubernetes/prometheus-operator/generate-prometheusrule.sh"
    );
}

// ---------------------------------------------------------------- dashboards

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

fn variable<'a>(dashboard: &'a Json, name: &str) -> Option<&'a Json> {
    dashboard["templating"]["list"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
}

/// Every `datasource` object anywhere in the JSON.
fn datasource_refs<'a>(value: &'a Json, out: &mut Vec<&'a Json>) {
    match value {
        Json::Object(map) => {
            for (key, v) in map {
                if key == "datasource" {
                    out.push(v);
                }
                datasource_refs(v, out);
            }
        }
        Json::Array(items) => items.iter().for_each(|v| datasource_refs(v, out)),
        _ => {}
    }
}

const CORE_PANELS: [&str; 8] = [
    "row",
    "timeseries",
    "stat",
    "table",
    "bargauge",
    "gauge",
    "state-timeline",
    "text",
];

#[test]
fn dashboards_are_templated_on_datasource_and_cloud() {
    let mut uids = BTreeSet::new();
    for (path, d) in dashboards() {
        let file = path.display();
        let uid = d["uid"].as_str().unwrap_or("");
        assert!(
            !uid.is_empty() && uid.len() <= 40,
            "{file}: uid {uid:?} must be set, at most 40 characters"
        );
        assert!(
            uids.insert(uid.to_string()),
            "{file}: uid {uid} is used by another dashboard"
        );
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{file}: no title"
        );
        assert!(
            d.get("id").is_none_or(Json::is_null),
            "{file}: id must be absent or null"
        );

        let ds =
            variable(&d, "datasource").unwrap_or_else(|| panic!("{file}: no datasource variable"));
        assert_eq!(ds["type"], "datasource", "{file}: datasource variable type");
        assert_eq!(
            ds["query"], "prometheus",
            "{file}: datasource variable must list Prometheus"
        );

        let cloud = variable(&d, "cloud").unwrap_or_else(|| panic!("{file}: no cloud variable"));
        assert_eq!(cloud["type"], "query", "{file}: cloud variable type");
        assert_eq!(
            cloud["multi"], true,
            "{file}: cloud variable must be multi-select"
        );
        assert_eq!(
            cloud["includeAll"], true,
            "{file}: cloud variable must include All"
        );
        let query = cloud["query"]["query"]
            .as_str()
            .or(cloud["query"].as_str())
            .unwrap_or("");
        assert_eq!(
            query, "label_values(huaweicloud_cloud_info, cloud)",
            "{file}: cloud variable query"
        );

        for var in d["templating"]["list"].as_array().into_iter().flatten() {
            if var["type"] == "query" {
                assert_eq!(
                    var["datasource"]["uid"], DS,
                    "{file}: variable {} datasource",
                    var["name"]
                );
            }
        }

        // No hard-coded Prometheus datasource anywhere.
        let mut refs = Vec::new();
        datasource_refs(&d, &mut refs);
        for r in refs {
            let builtin = r["type"] == "grafana" || r["uid"] == "-- Grafana --";
            assert!(
                builtin || r["uid"] == DS,
                "{file}: datasource {r} does not use {DS}"
            );
        }
    }
}

#[test]
fn dashboard_panels_use_the_datasource_variable_and_are_described() {
    for (path, d) in dashboards() {
        let file = path.display();
        let mut ids = BTreeSet::new();
        let all = panels(&d);
        assert!(all.iter().any(|p| p["type"] != "row"), "{file}: no panel");
        for p in all {
            let kind = p["type"].as_str().unwrap_or("");
            let title = p["title"].as_str().unwrap_or("");
            assert!(
                CORE_PANELS.contains(&kind),
                "{file}: panel {title:?} has non-core type {kind:?}"
            );
            let id = p["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{file}: panel {title:?} has no id"));
            assert!(ids.insert(id), "{file}: panel id {id} is used twice");
            assert!(
                p["gridPos"].is_object(),
                "{file}: panel {title:?} has no gridPos"
            );
            if kind == "row" || kind == "text" {
                continue;
            }
            assert!(!title.is_empty(), "{file}: panel {id} has no title");
            assert!(
                p["description"]
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty()),
                "{file}: panel {title:?} has no description"
            );
            assert_eq!(
                p["datasource"]["uid"], DS,
                "{file}: panel {title:?} datasource"
            );
            assert!(
                p["fieldConfig"]["defaults"]["unit"]
                    .as_str()
                    .is_some_and(|u| !u.is_empty()),
                "{file}: panel {title:?} has no unit"
            );
            let targets = p["targets"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert!(!targets.is_empty(), "{file}: panel {title:?} has no query");
            let mut refs = BTreeSet::new();
            for t in targets {
                assert_eq!(
                    t["datasource"]["uid"], DS,
                    "{file}: panel {title:?} target datasource"
                );
                assert!(
                    t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                    "{file}: panel {title:?} has a target without expr"
                );
                let r = t["refId"].as_str().unwrap_or("");
                assert!(
                    !r.is_empty() && refs.insert(r),
                    "{file}: panel {title:?}: refId {r:?} missing or repeated"
                );
            }
        }
    }
}

/// Grafana's variables replaced by values that keep each query valid PromQL.
fn expand_grafana_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("$cloud", ".*")
        .replace("$engine", ".*")
        .replace("$status", ".*")
        .replace("$ddm_instance", ".*")
        .replace("$probe_job", ".*")
        .replace("$job", ".*")
}

#[test]
#[ignore = "needs promtool: cargo test -- --include-ignored runs it (.ci/run does)"]
fn dashboard_queries_are_valid_promql() {
    let Some(promtool) = require_tool("promtool", "needed to parse dashboard queries") else {
        return;
    };
    // Each query becomes a recording rule, which `promtool check rules` parses.
    let mut rules = Vec::new();
    let mut exprs = Vec::new();
    for (_, d) in dashboards() {
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    exprs.push(expr.to_string());
                }
            }
        }
        for a in d["annotations"]["list"].as_array().into_iter().flatten() {
            if let Some(expr) = a["expr"].as_str() {
                exprs.push(expr.to_string());
            }
        }
        for var in d["templating"]["list"].as_array().into_iter().flatten() {
            let q = var["query"]["query"]
                .as_str()
                .or(var["query"].as_str())
                .unwrap_or("");
            // label_values(<selector>, label): the selector must parse.
            if let Some(inner) = q
                .strip_prefix("label_values(")
                .and_then(|s| s.rsplit_once(','))
            {
                exprs.push(inner.0.to_string());
            }
        }
    }
    assert!(!exprs.is_empty());
    for (i, expr) in exprs.iter().enumerate() {
        let mut rule = serde_yaml::Mapping::new();
        rule.insert("record".into(), format!("dashboard:query_{i}").into());
        rule.insert("expr".into(), expand_grafana_variables(expr).into());
        rules.push(Yaml::Mapping(rule));
    }
    let file = serde_yaml::to_string(
        &serde_yaml::from_str::<Yaml>(&format!(
            "groups: [{{name: dashboards, rules: {}}}]",
            serde_json::to_string(&rules).expect("rules serialize")
        ))
        .expect("valid yaml"),
    )
    .expect("yaml serializes");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dashboard-queries.yml");
    fs::write(&path, file).expect("write temp rules");
    run_ok(Command::new(promtool).args(["check", "rules"]).arg(&path));
}

fn typecheck_dir() -> PathBuf {
    root().join("dashboards/typecheck")
}

#[test]
#[ignore = "needs node and npm: cargo test -- --include-ignored runs it (.ci/run does)"]
fn dashboards_satisfy_grafana_schema_types() {
    let why = "needed to type-check dashboards against @grafana/schema";
    let Some(node) = require_tool("node", why) else {
        return;
    };
    let dir = typecheck_dir();
    if !dir.join("node_modules/typescript").is_dir() {
        // .ci/run normally does this; doing it here keeps `cargo test` self-sufficient.
        let Some(npm) = require_tool("npm", why) else {
            return;
        };
        run_ok(
            Command::new(npm)
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
        );
    }
    let out = run_ok(Command::new(&node).arg("check.mjs").current_dir(&dir));
    let n = dashboards().len();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("typecheck: {n} dashboard(s)")),
        "check.mjs did not check all {n} dashboards"
    );

    // The check must reject a panel key the schema does not know.
    let (path, mut d) = dashboards().remove(0);
    let panel = d["panels"]
        .as_array_mut()
        .and_then(|ps| ps.iter_mut().find(|p| p["type"] != "row"))
        .expect("a non-row panel");
    panel["notAGrafanaKey"] = Json::Bool(true);
    let tmp = tempfile::tempdir().expect("temp dir");
    let bad = tmp.path().join(path.file_name().expect("file name"));
    fs::write(&bad, serde_json::to_string(&d).expect("serialize")).expect("write");
    let out = run_fails(
        Command::new(&node)
            .arg("check.mjs")
            .arg(&bad)
            .current_dir(&dir),
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("notAGrafanaKey")
            || String::from_utf8_lossy(&out.stderr).contains("notAGrafanaKey"),
        "the type check failed, but not on the unknown key"
    );
    // Leave generated/ describing the real dashboards.
    run_ok(Command::new(&node).arg("check.mjs").current_dir(&dir));
}

// ---------------------------------------------------------------- container and deploy

#[test]
#[ignore = "needs hadolint: cargo test -- --include-ignored runs it (.ci/run does)"]
fn hadolint_dockerfile() {
    let Some(hadolint) = require_tool("hadolint", "needed to lint the Dockerfile") else {
        return;
    };
    run_ok(Command::new(hadolint).arg(root().join("Dockerfile")));
}

#[test]
fn dockerfile_exposes_the_port_and_runs_as_non_root() {
    let text = fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert!(
        lines.contains(&"EXPOSE 10071"),
        "Dockerfile must EXPOSE 10071"
    );
    let stages = lines.iter().filter(|l| l.starts_with("FROM ")).count();
    assert!(stages >= 2, "Dockerfile must be multi-stage");
    let user = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("a USER line");
    assert!(
        !user.contains("root") || user.contains("nonroot"),
        "runtime user is {user}"
    );
    assert!(!user.starts_with("USER 0"), "runtime user is {user}");
    assert!(
        text.contains("/etc/huaweicloud-exporter/config.yaml"),
        "config path not documented"
    );
    assert!(root().join(".dockerignore").is_file(), "no .dockerignore");
}

fn plain_manifests() -> Vec<PathBuf> {
    files_with_ext(&root().join("deploy/kubernetes"), &[".yaml", ".yml"])
}

#[test]
#[ignore = "needs kubernetes-validate: cargo test -- --include-ignored runs it (.ci/run does)"]
fn kubernetes_manifests_validate_strictly() {
    let Some(kv) = require_tool(
        "kubernetes-validate",
        "needed to validate Kubernetes manifests",
    ) else {
        return;
    };
    let files = plain_manifests();
    assert!(
        files.len() >= 3,
        "expected the plain manifests in deploy/kubernetes/"
    );
    run_ok(Command::new(&kv).args(["--strict", "--quiet"]).args(&files));

    // The validator must reject an unknown field.
    let sts =
        fs::read_to_string(root().join("deploy/kubernetes/statefulset.yaml")).expect("statefulset");
    let bad = sts.replacen("readOnlyRootFilesystem:", "readOnlyRootFS:", 1);
    assert_ne!(bad, sts);
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("statefulset.yaml");
    fs::write(&path, bad).expect("write");
    run_fails(Command::new(&kv).args(["--strict", "--quiet"]).arg(&path));
}

fn documents(path: &Path) -> Vec<Yaml> {
    let text = fs::read_to_string(path).expect("manifest");
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Yaml::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|d| !d.is_null())
        .collect()
}

fn find_kind(kind: &str, dir: &Path) -> Vec<Yaml> {
    files_with_ext(dir, &[".yaml", ".yml"])
        .iter()
        .flat_map(|f| documents(f))
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

#[test]
fn statefulset_shards_by_pod_ordinal_and_is_locked_down() {
    let dir = root().join("deploy/kubernetes");
    let sts = find_kind("StatefulSet", &dir);
    assert_eq!(sts.len(), 1, "expected one StatefulSet");
    let sts = &sts[0];
    let replicas = sts["spec"]["replicas"].as_u64().expect("spec.replicas");
    let pod = &sts["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert!(
        args.contains(&format!("--shard.total={replicas}").as_str()),
        "--shard.total must equal replicas ({replicas}): {args:?}"
    );
    assert!(args.contains(&"--shard.index=$(SHARD_INDEX)"), "{args:?}");
    let env = container["env"].as_sequence().expect("env");
    let shard = env
        .iter()
        .find(|e| e["name"] == "SHARD_INDEX")
        .expect("SHARD_INDEX env");
    assert_eq!(
        shard["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("metadata.labels['apps.kubernetes.io/pod-index']")
    );
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    for kind in ["requests", "limits"] {
        assert!(
            container["resources"][kind]["memory"].is_string(),
            "resources.{kind}.memory"
        );
    }
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/-/healthy")
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/-/ready")
    );

    // The governing Service is headless, and the ServiceMonitor selects it.
    let services = find_kind("Service", &dir);
    let governing = services
        .iter()
        .find(|s| s["metadata"]["name"] == sts["spec"]["serviceName"])
        .expect("the StatefulSet's serviceName names a Service");
    assert_eq!(governing["spec"]["clusterIP"].as_str(), Some("None"));
    let monitors = find_kind("ServiceMonitor", &dir.join("prometheus-operator"));
    assert_eq!(monitors.len(), 1, "expected one ServiceMonitor");
    let wanted = monitors[0]["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .expect("matchLabels");
    let selected: Vec<&Yaml> = services
        .iter()
        .filter(|s| {
            wanted
                .iter()
                .all(|(k, v)| s["metadata"]["labels"][k.as_str().unwrap_or("")] == *v)
        })
        .collect();
    assert_eq!(
        selected.len(),
        1,
        "the ServiceMonitor must select exactly one Service"
    );
    assert_eq!(
        selected[0]["metadata"]["name"],
        governing["metadata"]["name"]
    );
}

#[test]
fn docker_compose_parses_and_references_existing_files() {
    let deploy = root().join("deploy");
    let compose = read_yaml(&deploy.join("docker-compose.yml"));
    let services = compose["services"].as_mapping().expect("services");
    for name in ["exporter", "prometheus", "grafana"] {
        assert!(services.contains_key(name), "no {name} service");
    }
    let exporter = &compose["services"]["exporter"];
    let command: Vec<&str> = exporter["command"]
        .as_sequence()
        .expect("command")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert!(
        command.contains(&"--demo"),
        "the exporter must run --demo: {command:?}"
    );
    let context = deploy.join(
        exporter["build"]["context"]
            .as_str()
            .expect("build.context"),
    );
    let dockerfile = exporter["build"]["dockerfile"]
        .as_str()
        .unwrap_or("Dockerfile");
    assert!(
        context.join(dockerfile).is_file(),
        "{} has no {dockerfile}",
        context.display()
    );

    let mut mounted = BTreeMap::new();
    for (name, service) in services {
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let spec = volume.as_str().expect("short volume syntax");
            let mut parts = spec.split(':');
            let (src, dst) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if src.starts_with('.') || src.starts_with('/') {
                let host = deploy.join(src);
                let host = fs::canonicalize(&host).unwrap_or_else(|e| {
                    panic!("service {name:?}: {} does not exist: {e}", host.display())
                });
                mounted.insert(dst.to_string(), host);
            }
        }
    }
    let rules = mounted.values().any(|p| p.ends_with(RULES));
    assert!(rules, "Prometheus does not mount {RULES}");
    for (path, _) in dashboards() {
        let path = fs::canonicalize(&path).expect("dashboard path");
        assert!(
            mounted.values().any(|m| *m == path),
            "{} is not mounted into Grafana: {mounted:?}",
            path.display()
        );
    }

    // prometheus.yml loads the mounted rules and scrapes the exporter service.
    let prom = read_yaml(&deploy.join("prometheus/prometheus.yml"));
    let rule_globs: Vec<&str> = prom["rule_files"]
        .as_sequence()
        .expect("rule_files")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    let rules_dst = mounted
        .iter()
        .find(|(_, p)| p.ends_with(RULES))
        .map(|(d, _)| d.as_str())
        .unwrap_or("");
    assert!(
        rule_globs
            .iter()
            .any(|g| Path::new(g).parent() == Path::new(rules_dst).parent()),
        "rule_files {rule_globs:?} do not cover {rules_dst}"
    );
    let text = serde_yaml::to_string(&prom["scrape_configs"]).expect("yaml");
    assert!(
        text.contains("exporter:10071"),
        "prometheus.yml does not scrape exporter:10071"
    );

    // Grafana's provisioning files exist where the compose file mounts them.
    let provisioning = deploy.join("grafana/provisioning");
    assert!(!files_with_ext(&provisioning.join("datasources"), &[".yml", ".yaml"]).is_empty());
    let providers = files_with_ext(&provisioning.join("dashboards"), &[".yml", ".yaml"]);
    assert!(!providers.is_empty());
    for provider in providers {
        let p = read_yaml(&provider);
        for prov in p["providers"].as_sequence().expect("providers") {
            let path = prov["options"]["path"].as_str().expect("options.path");
            assert!(
                mounted.keys().any(|dst| dst.starts_with(path)),
                "{}: dashboards path {path} is not mounted",
                provider.display()
            );
        }
    }
}

// ---------------------------------------------------------------- runbooks

const RUNBOOKS: &str = "docs/runbooks.md";
/// Where every alert's `runbook_url` points: docs/runbooks.md on the project's default branch.
const RUNBOOK_BASE: &str =
    "https://github.com/huaweicloud-exporter/huaweicloud-exporter/blob/main/docs/runbooks.md";

/// The anchor GitHub gives a Markdown heading: lower case, every character other than a
/// letter, a digit, a space, `-` or `_` dropped, spaces turned into `-`.
fn github_slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// One heading of a Markdown file and the text under it, up to the next heading.
struct Section {
    level: usize,
    title: String,
    anchor: String,
    body: String,
}

/// The ATX headings of a Markdown file (not those inside fenced code), with the anchors
/// GitHub renders for them: a repeated anchor gets `-1`, `-2`, … as on GitHub.
fn markdown_sections(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let level = line.chars().take_while(|c| *c == '#').count();
        let is_heading = !fenced
            && (1..=6).contains(&level)
            && line[level..].starts_with(' ')
            && !line[level..].trim().is_empty();
        if is_heading {
            let title = line[level..]
                .trim()
                .trim_end_matches('#')
                .trim()
                .to_string();
            let slug = github_slug(&title);
            let n = seen.entry(slug.clone()).or_insert(0);
            let anchor = if *n == 0 {
                slug.clone()
            } else {
                format!("{slug}-{n}")
            };
            *n += 1;
            sections.push(Section {
                level,
                title,
                anchor,
                body: String::new(),
            });
        } else if let Some(s) = sections.last_mut() {
            s.body.push_str(line);
            s.body.push('\n');
        }
    }
    sections
}

#[test]
fn github_slugs_and_duplicate_anchors_follow_github() {
    assert_eq!(
        github_slug("HuaweiCloudExporterDown"),
        "huaweicloudexporterdown"
    );
    assert_eq!(
        github_slug("Checking the exporter (logs, `PromQL`)"),
        "checking-the-exporter-logs-promql"
    );
    let sections = markdown_sections("# A\n```\n# not a heading\n```\n## A\ntext\n## B #\n");
    let anchors: Vec<&str> = sections.iter().map(|s| s.anchor.as_str()).collect();
    assert_eq!(anchors, ["a", "a-1", "b"]);
    assert_eq!(sections[1].body, "text\n");
}

/// Metric names an alerting expression reads (enough to recognise them in a runbook).
fn alert_metrics(expr: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\b(huaweicloud_[a-z_]+|probe_[a-z_]+|up)\b").expect("regex");
    re.find_iter(expr).map(|m| m.as_str().to_string()).collect()
}

#[test]
fn every_alert_links_its_own_runbook_section() {
    let rules = read_yaml(&root().join(RULES));
    let text = fs::read_to_string(root().join(RUNBOOKS)).expect("docs/runbooks.md");
    let sections = markdown_sections(&text);
    let alerts = alerts(&rules);
    let names: BTreeSet<&str> = alerts.iter().filter_map(|a| a["alert"].as_str()).collect();
    for alert in &alerts {
        let name = alert["alert"].as_str().expect("alert name");
        let url = alert["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_else(|| panic!("alert {name}: no runbook_url annotation"));
        let anchor = url
            .strip_prefix(RUNBOOK_BASE)
            .and_then(|rest| rest.strip_prefix('#'))
            .unwrap_or_else(|| panic!("alert {name}: runbook_url {url} is not {RUNBOOK_BASE}#…"));
        assert_eq!(
            anchor,
            github_slug(name),
            "alert {name}: runbook_url must point at its own section"
        );
        let section = sections
            .iter()
            .find(|s| s.anchor == anchor)
            .unwrap_or_else(|| {
                panic!("alert {name}: {RUNBOOKS} has no heading with anchor #{anchor}")
            });
        assert_eq!(
            section.level, 2,
            "alert {name}: its runbook heading must be `## {name}`"
        );
        for part in ["**Means**", "**Check**", "**Do**"] {
            assert!(
                section.body.contains(part),
                "{RUNBOOKS} section {name} has no {part} part"
            );
        }
        let metrics = alert_metrics(alert["expr"].as_str().unwrap_or(""));
        assert!(
            metrics.iter().any(|m| section.body.contains(m.as_str())),
            "{RUNBOOKS} section {name}: its checks name none of the alert's metrics {metrics:?}"
        );
    }
    // No section for an alert that does not exist (renamed or deleted).
    for s in sections.iter().filter(|s| s.level == 2) {
        if s.title.starts_with("HuaweiCloud") {
            assert!(
                names.contains(s.title.as_str()),
                "{RUNBOOKS} has a section for {:?}, which is not an alert of {RULES}",
                s.title
            );
        }
    }
}

/// The alerts a Markdown table row lists in its last cell (`A, B, C`).
fn listed_alerts(row: &str) -> BTreeSet<String> {
    let cells: Vec<&str> = row.trim().trim_matches('|').split('|').collect();
    cells
        .last()
        .map(|c| {
            c.split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| a.starts_with("HuaweiCloud"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn alert_severities_follow_the_documented_rule() {
    let rules = read_yaml(&root().join(RULES));
    let severities: BTreeMap<String, String> = alerts(&rules)
        .iter()
        .map(|a| {
            (
                a["alert"].as_str().unwrap_or("").to_string(),
                a["labels"]["severity"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();

    // docs/runbooks.md, "Severities": the critical row lists every critical alert; every
    // other alert is a warning.
    let text = fs::read_to_string(root().join(RUNBOOKS)).expect("docs/runbooks.md");
    let row = text
        .lines()
        .find(|l| l.starts_with("| `critical`"))
        .expect("docs/runbooks.md: no `critical` row in the severities table");
    let critical = listed_alerts(row);
    assert!(!critical.is_empty(), "the critical row lists no alert");
    assert!(
        text.lines()
            .any(|l| l.starts_with("| `warning`") && l.contains("all others")),
        "docs/runbooks.md: the warning row must say it covers all other alerts"
    );
    for (name, severity) in &severities {
        let wanted = if critical.contains(name) {
            "critical"
        } else {
            "warning"
        };
        assert_eq!(
            severity, wanted,
            "alert {name}: severity {severity}, but docs/runbooks.md's rule makes it {wanted}"
        );
    }
    for name in &critical {
        assert!(
            severities.contains_key(name),
            "{RUNBOOKS} lists unknown alert {name}"
        );
    }

    // docs/operations.md's alert table says the same.
    let ops = fs::read_to_string(root().join("docs/operations.md")).expect("docs/operations.md");
    let mut tabled = BTreeSet::new();
    for line in ops.lines().filter(|l| l.starts_with("| HuaweiCloud")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let (name, severity) = (cells[0], cells[cells.len() - 1]);
        assert_eq!(
            severities.get(name).map(String::as_str),
            Some(severity),
            "docs/operations.md: {name} is listed as {severity}"
        );
        tabled.insert(name.to_string());
    }
    assert_eq!(
        tabled,
        severities.keys().cloned().collect::<BTreeSet<_>>(),
        "docs/operations.md's alert table must list every alert once"
    );
}

// ---------------------------------------------------------------- dashboards: per cloud, links, thresholds

/// The aggregations in `expr` whose result drops `label`: `sum(x)`, `sum by (other) (x)`,
/// `sum(x) by (other)`, `count without (label) (x)`. Each is returned as written.
fn aggregations_dropping(expr: &str, label: &str) -> Vec<String> {
    let agg = regex::Regex::new(
        r"\b(sum|min|max|avg|group|stddev|stdvar|count|count_values|topk|bottomk|quantile|limitk|limit_ratio)\s*(?:(by|without)\s*\(([^)]*)\)\s*)?\(",
    )
    .expect("regex");
    let trailing = regex::Regex::new(r"^\s*(by|without)\s*\(([^)]*)\)").expect("regex");
    let keeps = |kind: &str, labels: &str| {
        let has = labels.split(',').any(|l| l.trim() == label);
        (kind == "by") == has
    };
    let mut dropping = Vec::new();
    for caps in agg.captures_iter(expr) {
        let whole = caps.get(0).expect("match");
        if inside_string(expr, whole.start()) {
            continue;
        }
        let op = &caps[1];
        // topk/bottomk/quantile/limitk keep the labels of the series they select.
        let selects = matches!(op, "topk" | "bottomk" | "limitk" | "limit_ratio");
        let close = matching_paren(expr, whole.end() - 1);
        let (kind, labels) = match (caps.get(2), caps.get(3)) {
            (Some(k), Some(l)) => (k.as_str().to_string(), l.as_str().to_string()),
            _ => match trailing.captures(&expr[close + 1..]) {
                Some(t) => (t[1].to_string(), t[2].to_string()),
                None if selects => continue,
                None => (String::from("by"), String::new()),
            },
        };
        if !keeps(&kind, &labels) {
            dropping.push(expr[whole.start()..=close].to_string());
        }
    }
    dropping
}

/// Whether byte `pos` of a PromQL expression lies inside a quoted string.
fn inside_string(expr: &str, pos: usize) -> bool {
    let bytes = expr.as_bytes();
    let (mut i, mut quote) = (0, None::<u8>);
    while i < pos.min(bytes.len()) {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' || b == b'`' => quote = Some(b),
            None => {}
        }
        i += 1;
    }
    quote.is_some()
}

/// The index of the `)` closing the `(` at `open`, skipping quoted strings.
fn matching_paren(expr: &str, open: usize) -> usize {
    let bytes = expr.as_bytes();
    let (mut depth, mut i, mut quote) = (0usize, open, None::<u8>);
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' || b == b'`' => quote = Some(b),
            None if b == b'(' => depth += 1,
            None if b == b')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            None => {}
        }
        i += 1;
    }
    bytes.len() - 1
}

#[test]
fn the_cloud_grouping_check_catches_what_it_should() {
    let drops = |e: &str| aggregations_dropping(e, "cloud");
    assert!(drops("sum by (cloud, state) (huaweicloud_dcs_instances)").is_empty());
    assert!(drops("sum(huaweicloud_dcs_instances) by (state, cloud)").is_empty());
    assert!(drops("huaweicloud_koophone_instance_status == 1").is_empty());
    assert!(drops("topk(5, huaweicloud_dcs_instances)").is_empty());
    assert!(drops(r#"count_over_time(x{a="sum(b)"}[5m])"#).is_empty());
    assert_eq!(drops("sum by (state) (x)"), ["sum by (state) (x)"]);
    assert_eq!(drops("sum(x) or vector(0)"), ["sum(x)"]);
    assert_eq!(drops("max(x) by (state)"), ["max(x)"]);
    assert_eq!(
        drops("count without (cloud) (x)"),
        ["count without (cloud) (x)"]
    );
    assert_eq!(
        drops("sum by (cloud) (x) / sum(y)"),
        ["sum(y)"],
        "each aggregation is checked on its own"
    );
}

/// Whether a query reads DCS or KooPhone resource metrics (those carry `cloud`; the
/// KooPhone probe metrics come from /probe and do not).
fn reads_dcs_or_koophone(expr: &str) -> bool {
    let re = regex::Regex::new(r"huaweicloud_[a-z_]+").expect("regex");
    let reads = re.find_iter(expr).any(|m| {
        let name = m.as_str();
        name.starts_with("huaweicloud_dcs_")
            || (name.starts_with("huaweicloud_koophone_")
                && !name.starts_with("huaweicloud_koophone_probe_"))
    });
    reads
}

#[test]
fn dcs_and_koophone_panels_break_down_by_cloud() {
    for (path, d) in dashboards() {
        let file = path.display();
        let mut checked = 0;
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or("?");
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap_or("");
                if !reads_dcs_or_koophone(expr) {
                    continue;
                }
                checked += 1;
                let dropping = aggregations_dropping(expr, "cloud");
                assert!(
                    dropping.is_empty(),
                    "{file}: panel {title:?}: {dropping:?} drops `cloud`, so one cloud's state \
                     is lost when several are selected; group by (cloud, …)"
                );
                let legend = t["legendFormat"].as_str().unwrap_or("");
                let is_table = t["format"] == "table";
                assert!(
                    is_table || legend.is_empty() || legend.contains("{{cloud}}"),
                    "{file}: panel {title:?}: legend {legend:?} does not show {{{{cloud}}}}"
                );
            }
        }
        assert!(
            checked >= 8,
            "{file}: only {checked} DCS/KooPhone queries found"
        );
    }
}

/// Every data link of a panel: field defaults and overrides.
fn data_links(panel: &Json) -> Vec<&Json> {
    let mut links: Vec<&Json> = panel["fieldConfig"]["defaults"]["links"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    for o in panel["fieldConfig"]["overrides"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for prop in o["properties"].as_array().into_iter().flatten() {
            if prop["id"] == "links" {
                links.extend(prop["value"].as_array().into_iter().flatten());
            }
        }
    }
    links
}

#[test]
fn dashboard_tables_link_to_a_filtered_view() {
    let var_param = regex::Regex::new(r"var-([A-Za-z0-9_]+)=").expect("regex");
    let field_ref = regex::Regex::new(r"\$\{__data\.fields\.([A-Za-z0-9_]+)\}").expect("regex");
    for (path, d) in dashboards() {
        let file = path.display();
        let uid = d["uid"].as_str().unwrap_or("");
        let variables: BTreeSet<&str> = d["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["name"].as_str())
            .collect();
        let mut tables = 0;
        for p in panels(&d).into_iter().filter(|p| p["type"] == "table") {
            tables += 1;
            let title = p["title"].as_str().unwrap_or("?");
            let links = data_links(p);
            assert!(
                !links.is_empty(),
                "{file}: table {title:?} has no data link"
            );
            let excluded = &p["transformations"][0]["options"]["excludeByName"];
            for link in &links {
                let url = link["url"].as_str().unwrap_or("");
                assert!(
                    link["title"].as_str().is_some_and(|t| !t.is_empty()),
                    "{file}: table {title:?}: a link has no title"
                );
                for caps in var_param.captures_iter(url) {
                    assert!(
                        variables.contains(&caps[1]),
                        "{file}: table {title:?}: link {url} sets unknown variable {}",
                        &caps[1]
                    );
                }
                for caps in field_ref.captures_iter(url) {
                    assert!(
                        excluded[&caps[1]] != true,
                        "{file}: table {title:?}: link {url} reads field {} the table hides",
                        &caps[1]
                    );
                }
                if url.contains("var-") {
                    assert!(
                        url.starts_with(&format!("/d/{uid}/")),
                        "{file}: table {title:?}: link {url} is not to this dashboard"
                    );
                    assert!(
                        url.contains("${__url_time_range}")
                            && url.contains("${datasource:queryparam}"),
                        "{file}: table {title:?}: link {url} loses the time range or data source"
                    );
                }
            }
            // Resource tables (phones with a status, DDM targets) link to the view filtered to
            // the row's cloud and to its phone status or DDM instance.
            let expr = p["targets"][0]["expr"].as_str().unwrap_or("");
            let renamed = &p["transformations"][0]["options"]["renameByName"];
            let phone_status =
                expr.contains("huaweicloud_koophone_") && renamed["status"].is_string();
            if phone_status || expr.contains("huaweicloud_ddm_") {
                let filtered = links.iter().any(|l| {
                    let url = l["url"].as_str().unwrap_or("");
                    let vars: BTreeSet<&str> = var_param
                        .captures_iter(url)
                        .filter_map(|c| c.get(1).map(|m| m.as_str()))
                        .collect();
                    url.contains("var-cloud=${__data.fields.cloud}")
                        && vars.iter().any(|v| !matches!(*v, "cloud" | "datasource"))
                });
                assert!(
                    filtered,
                    "{file}: table {title:?} has no link to the view filtered to its row's \
                     cloud and status/instance"
                );
            }
        }
        assert!(
            tables >= 3,
            "{file}: expected the phone, DDM and build tables"
        );
    }
}

#[test]
fn dashboard_links_reach_the_runbooks_and_the_exporter() {
    for (path, d) in dashboards() {
        let file = path.display();
        let urls: Vec<&str> = d["links"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["url"].as_str())
            .collect();
        assert!(
            urls.contains(&RUNBOOK_BASE),
            "{file}: no dashboard link to the runbooks ({RUNBOOK_BASE}): {urls:?}"
        );
        let repo = RUNBOOK_BASE.split("/blob/").next().unwrap_or(RUNBOOK_BASE);
        assert!(
            urls.iter()
                .any(|u| u.starts_with(repo) && *u != RUNBOOK_BASE),
            "{file}: no dashboard link to the exporter's README: {urls:?}"
        );
        // The exporters themselves: the build table links each `instance` to its landing page.
        let landing = panels(&d)
            .into_iter()
            .flat_map(data_links)
            .any(|l| l["url"].as_str() == Some("http://${__data.fields.instance}/"));
        assert!(
            landing,
            "{file}: no data link to an exporter's landing page"
        );
    }
}

#[test]
fn dashboard_thresholds_sit_where_the_alerts_fire() {
    // (alert, panel, the threshold the panel shows, the literal in the alert's expression)
    let pairs = [
        (
            "HuaweiCloudAPIThrottled",
            "Throttled share of upstream requests",
            0.1,
            "> 0.1",
        ),
        (
            "HuaweiCloudAPIErrors",
            "Failed share of upstream requests",
            0.25,
            "> 0.25",
        ),
        (
            "HuaweiCloudAuthTokenExpiringSoon",
            "IAM token expires in",
            3600.0,
            "< 3600",
        ),
        (
            "HuaweiCloudDCSInstancesFailed",
            "DCS instances in error or createfailed",
            1.0,
            "> 0",
        ),
        (
            "HuaweiCloudKooPhonesInException",
            "Share of phones in exception",
            0.05,
            "> 0.05",
        ),
        (
            "HuaweiCloudDiscoveryStale",
            "Inventory age",
            1800.0,
            "> 1800",
        ),
        (
            "HuaweiCloudDDMNoRestoreTarget",
            "Available restore targets per DDM instance",
            1.0,
            "== 1",
        ),
    ];
    let rules = read_yaml(&root().join(RULES));
    let alerts = alerts(&rules);
    for (path, d) in dashboards() {
        let file = path.display();
        let all = panels(&d);
        for (alert, title, value, literal) in pairs {
            let rule = alerts
                .iter()
                .find(|a| a["alert"] == alert)
                .unwrap_or_else(|| panic!("no alert {alert}"));
            assert!(
                rule["expr"].as_str().unwrap_or("").contains(literal),
                "alert {alert} no longer fires at {literal}: update the panel {title:?} threshold"
            );
            let p = all
                .iter()
                .find(|p| p["title"] == title)
                .unwrap_or_else(|| panic!("{file}: no panel {title:?}"));
            let defaults = &p["fieldConfig"]["defaults"];
            let steps: Vec<f64> = defaults["thresholds"]["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["value"].as_f64())
                .collect();
            assert!(
                steps.iter().any(|s| (s - value).abs() < 1e-9),
                "{file}: panel {title:?} has no threshold at {value} (where {alert} fires): {steps:?}"
            );
            if p["type"] == "timeseries" {
                let style = defaults["custom"]["thresholdsStyle"]["mode"]
                    .as_str()
                    .unwrap_or("off");
                assert_ne!(
                    style, "off",
                    "{file}: panel {title:?} does not draw its threshold"
                );
            }
            assert!(
                p["description"].as_str().unwrap_or("").contains(alert),
                "{file}: panel {title:?}: its description should name {alert}"
            );
        }
    }
}

#[test]
fn dashboard_annotates_firing_alerts() {
    for (path, d) in dashboards() {
        let file = path.display();
        let annotation = d["annotations"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| {
                a["expr"]
                    .as_str()
                    .is_some_and(|e| e.contains("ALERTS{") && e.contains(r#"alertstate="firing""#))
            })
            .unwrap_or_else(|| panic!("{file}: no annotation of ALERTS{{alertstate=\"firing\"}}"));
        assert_eq!(annotation["datasource"]["type"], "prometheus", "{file}");
        assert_eq!(annotation["datasource"]["uid"], DS, "{file}");
        assert_eq!(
            annotation["enable"], true,
            "{file}: the alert annotation is off"
        );
        assert!(
            annotation["titleFormat"]
                .as_str()
                .unwrap_or("")
                .contains("{{alertname}}"),
            "{file}: the alert annotation's title should be the alert name"
        );
    }
}

#[test]
fn dashboard_urls_of_alerts_open_the_panel_that_names_them_filtered_to_their_cloud() {
    let rules = read_yaml(&root().join(RULES));
    let boards: BTreeMap<String, Json> = dashboards()
        .into_iter()
        .map(|(_, d)| (d["uid"].as_str().unwrap_or("").to_string(), d))
        .collect();
    let url_re =
        regex::Regex::new(r"^http://localhost:3000/d/([A-Za-z0-9_-]+)/[A-Za-z0-9_-]+\?(.*)$")
            .expect("regex");
    let mut linked = 0;
    for alert in alerts(&rules) {
        let name = alert["alert"].as_str().expect("alert name");
        let Some(url) = alert["annotations"]["dashboard_url"].as_str() else {
            continue;
        };
        linked += 1;
        let caps = url_re.captures(url).unwrap_or_else(|| {
            panic!(
                "alert {name}: dashboard_url {url} is not http://localhost:3000/d/<uid>/<slug>?…"
            )
        });
        let d = boards.get(&caps[1]).unwrap_or_else(|| {
            panic!(
                "alert {name}: dashboard_url names unknown dashboard {}",
                &caps[1]
            )
        });
        let params: BTreeMap<&str, &str> = caps
            .get(2)
            .map_or("", |m| m.as_str())
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        assert_eq!(
            params.get("var-cloud").copied(),
            Some("{{ $labels.cloud }}"),
            "alert {name}: dashboard_url must filter to the alert's cloud"
        );
        for key in params.keys().filter_map(|k| k.strip_prefix("var-")) {
            assert!(
                variable(d, key).is_some(),
                "alert {name}: dashboard_url sets unknown variable {key}"
            );
        }
        let id: u64 = params
            .get("viewPanel")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                panic!("alert {name}: dashboard_url opens no panel (viewPanel=<id>)")
            });
        let panel = panels(d)
            .into_iter()
            .find(|p| p["id"].as_u64() == Some(id))
            .unwrap_or_else(|| {
                panic!("alert {name}: dashboard_url opens panel {id}, which does not exist")
            });
        assert!(
            panel["description"].as_str().unwrap_or("").contains(name),
            "alert {name}: panel {id} ({}) it opens should name the alert in its description",
            panel["title"]
        );
    }
    assert!(
        linked >= 4,
        "expected dashboard_url on the fleet-level alerts"
    );
}

/// The metric names the README's Metrics table documents: full names, and the `…_suffix` /
/// `_suffix` shorthands of a row read against the row's first full name.
fn readme_metrics(readme: &str) -> (BTreeSet<String>, Vec<(String, String)>) {
    let section = markdown_section(readme, "## Metrics");
    let name = regex::Regex::new(r"`([a-z_…]+)`").expect("regex");
    let mut full = BTreeSet::new();
    let mut short = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cell = row.trim_matches('|').split('|').next().unwrap_or("");
        let mut first: Option<String> = None;
        for caps in name.captures_iter(cell) {
            let n = caps[1].to_string();
            if n.starts_with('…') || n.starts_with('_') {
                let base = first.clone().unwrap_or_default();
                short.push((base, n.trim_start_matches('…').to_string()));
            } else {
                first.get_or_insert(n.clone());
                full.insert(n);
            }
        }
    }
    (full, short)
}

#[test]
fn every_metric_the_rules_and_dashboards_read_is_documented_in_the_readme() {
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    let (full, short) = readme_metrics(&readme);
    assert!(
        full.contains("huaweicloud_cloud_info"),
        "README metrics table not found"
    );
    let documented = |m: &str| {
        let m = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| m.strip_suffix(s).filter(|b| full.contains(*b)))
            .unwrap_or(m);
        full.contains(m)
            || short.iter().any(|(base, suffix)| {
                // `…_probe_output_matched` of `huaweicloud_koophone_probe_job_success`: same
                // service prefix, same ending.
                let service: Vec<&str> = base.splitn(3, '_').take(2).collect();
                m.ends_with(suffix.as_str()) && m.starts_with(&format!("{}_", service.join("_")))
            })
    };
    // Names outside quoted strings (`job=~"$probe_job"` names no metric).
    let strings = regex::Regex::new(r#""[^"]*""#).expect("regex");
    let names = |e: &str| alert_metrics(&strings.replace_all(e, "\"\""));
    let mut read = BTreeSet::new();
    for alert in alerts(&read_yaml(&root().join(RULES))) {
        read.extend(names(alert["expr"].as_str().unwrap_or("")));
    }
    for (_, d) in dashboards() {
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                read.extend(names(t["expr"].as_str().unwrap_or("")));
            }
        }
    }
    // Prometheus' own series, not the exporter's.
    read.retain(|m| m != "up");
    assert!(read.len() > 10, "found only {read:?}");
    let missing: Vec<&String> = read.iter().filter(|m| !documented(m)).collect();
    assert!(
        missing.is_empty(),
        "read by an alert or panel but not in README's Metrics table (a typo, or an undocumented metric): {missing:?}"
    );
    // The check itself catches a misspelt name.
    assert!(!documented("huaweicloud_koophone_isolated_instance"));
    assert!(documented("huaweicloud_koophone_probe_output_matched"));
    assert!(documented(
        "huaweicloud_api_request_duration_seconds_bucket"
    ));
}

// ---------------------------------------------------------------- systemd, kustomize

const UNIT: &str = "deploy/systemd/huaweicloud-exporter.service";
const EXPORTER: &str = env!("CARGO_BIN_EXE_huaweicloud-exporter");

/// `key=value` settings of one `[section]` of a systemd unit, in order (keys may repeat).
fn unit_settings(text: &str, section: &str) -> Vec<(String, String)> {
    let mut current = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            current = line.trim_matches(|c| c == '[' || c == ']').to_string();
        } else if current == section {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    out
}

#[test]
fn systemd_unit_is_hardened_reloads_and_reads_secrets_from_an_environment_file() {
    let text = fs::read_to_string(root().join(UNIT)).expect("systemd unit");
    let service = unit_settings(&text, "Service");
    let get = |key: &str| -> Vec<&str> {
        service
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let one = |key: &str| get(key).last().copied().unwrap_or("");
    assert!(
        one("DynamicUser") == "yes" || !matches!(one("User"), "" | "root" | "0"),
        "{UNIT}: runs as root (set DynamicUser=yes or a dedicated User=)"
    );
    assert_eq!(
        one("ExecReload"),
        "/bin/kill -HUP $MAINPID",
        "{UNIT}: reload = SIGHUP"
    );
    assert!(
        one("EnvironmentFile")
            .trim_start_matches('-')
            .starts_with("/etc/"),
        "{UNIT}: secrets must come from an EnvironmentFile"
    );
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(one(key), value, "{UNIT}: {key}");
    }
    // The flags it passes are flags the binary has.
    let help = run_ok(Command::new(EXPORTER).arg("--help"));
    let help = String::from_utf8_lossy(&help.stdout);
    for exec in get("ExecStart").into_iter().chain(get("ExecStartPre")) {
        let mut words = exec.split_whitespace();
        assert!(
            words
                .next()
                .is_some_and(|b| b.ends_with("/huaweicloud-exporter")),
            "{UNIT}: {exec} does not run huaweicloud-exporter"
        );
        for flag in words {
            let name = flag.split('=').next().unwrap_or(flag);
            assert!(
                help.contains(name),
                "{UNIT}: {name} is not a flag of the exporter"
            );
        }
    }
    assert!(
        get("ExecStart")
            .iter()
            .any(|e| e.contains("--config.file=/etc/huaweicloud-exporter/")),
        "{UNIT}: the config file lives in /etc/huaweicloud-exporter/"
    );
}

/// The unit with its binary path pointed at the freshly built exporter, in a temp dir.
fn unit_for_the_built_binary(dir: &Path) -> PathBuf {
    let text = fs::read_to_string(root().join(UNIT)).expect("systemd unit");
    let path = dir.join("huaweicloud-exporter.service");
    fs::write(
        &path,
        text.replace("/usr/local/bin/huaweicloud-exporter", EXPORTER),
    )
    .expect("write unit");
    path
}

#[test]
fn systemd_analyze_verifies_the_unit_and_rates_it_ok() {
    let Some(analyze) = require_tool("systemd-analyze", "needed to verify the systemd unit") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let unit = unit_for_the_built_binary(tmp.path());
    // verify only warns about unknown keys and bad values: any output is a failure.
    let out = run_ok(Command::new(&analyze).arg("verify").arg(&unit));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify {UNIT}:\n{said}"
    );
    // Exposure "OK" (at most 2.0 of 10).
    run_ok(
        Command::new(&analyze)
            .args(["security", "--offline=true", "--threshold=20", "--no-pager"])
            .arg(&unit),
    );

    // Negative control: a misspelt key is reported.
    let text = fs::read_to_string(&unit).expect("unit");
    fs::write(&unit, text.replacen("ProtectHome=", "ProtectHomes=", 1)).expect("write unit");
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ProtectHomes"),
        "systemd-analyze verify did not report an unknown key"
    );
}

#[test]
fn kustomization_labels_the_operator_objects_for_kube_prometheus_stack() {
    let dir = root().join("deploy/kubernetes/prometheus-operator");
    let k = read_yaml(&dir.join("kustomization.yaml"));
    assert_eq!(k["kind"].as_str(), Some("Kustomization"));
    let resources: BTreeSet<String> = k["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .filter_map(|r| r.as_str().map(String::from))
        .collect();
    let manifests: BTreeSet<String> = files_with_ext(&dir, &[".yaml", ".yml"])
        .iter()
        .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(String::from))
        .filter(|n| n != "kustomization.yaml")
        .collect();
    assert_eq!(
        resources, manifests,
        "kustomization.yaml must list every manifest beside it"
    );
    let labels = k["labels"]
        .as_sequence()
        .expect("labels (not commonLabels)");
    let release = labels
        .iter()
        .find(|l| l["pairs"]["release"].is_string())
        .expect("a `release` label for kube-prometheus-stack's selectors");
    assert_eq!(
        release["includeSelectors"].as_bool(),
        Some(false),
        "the release label must not be added to the ServiceMonitor's selector"
    );
    assert!(
        k.get("commonLabels").is_none(),
        "commonLabels rewrites selectors"
    );
    let kinds: BTreeSet<String> = manifests
        .iter()
        .flat_map(|m| documents(&dir.join(m)))
        .filter_map(|d| d["kind"].as_str().map(String::from))
        .collect();
    for kind in ["ServiceMonitor", "Probe", "PrometheusRule"] {
        assert!(
            kinds.contains(kind),
            "no {kind} among the kustomization's resources"
        );
    }
}

// ---------------------------------------------------------------- README: a real account

/// The text of a Markdown section: from its heading to the next heading of the same or a
/// higher level.
fn markdown_section<'a>(text: &'a str, heading: &str) -> &'a str {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let start = text
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no heading {heading:?}"))
        + 1;
    let body = &text[start + heading.len()..];
    let end = body
        .lines()
        .scan(0usize, |pos, line| {
            let at = *pos;
            *pos += line.len() + 1;
            Some((at, line))
        })
        .find(|(_, line)| {
            let l = line.chars().take_while(|c| *c == '#').count();
            (1..=level).contains(&l) && line[l..].starts_with(' ')
        })
        .map_or(body.len(), |(at, _)| at);
    &text[start..start + heading.len() + end]
}

/// The fenced code blocks of `lang` in a Markdown text, de-indented (blocks inside list
/// items are indented like the item).
fn code_blocks(text: &str, lang: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        match &mut current {
            None if trimmed == format!("```{lang}") => current = Some((indent, String::new())),
            Some((_, body)) if trimmed == "```" => {
                blocks.push(std::mem::take(body));
                current = None;
            }
            Some((ind, body)) => {
                body.push_str(line.get(*ind..).unwrap_or(line.trim_start()));
                body.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// Every IAM action the exporter calls, with the API it authorises (README, "IAM permissions").
const EXPORTER_ACTIONS: [(&str, &str); 7] = [
    ("dcs:instance:list", "GET /v2/{project_id}/instances/status"),
    (
        "ddm:instance:get",
        "GET /v3/{project_id}/instances/{instance_id}/backups/restorable-instances",
    ),
    ("ddm:instance:list", "GET /v1/{project_id}/instances"),
    (
        "koophone:cloudphoneResource:queryBatchShowInstance",
        "POST /v1/instances/batch-query-status",
    ),
    (
        "koophone:cloudphoneResource:queryInstanceBatch",
        "GET /v1/instances/batch-query",
    ),
    (
        "koophone:cloudphoneResource:queryExecuteJob",
        "GET /v1/instances/tasks/{task_id}",
    ),
    (
        "koophone:cloudphoneResource:asyncInvokeInstance",
        "POST /v1/instances/async-command",
    ),
];
const PROBE_ACTION: &str = "koophone:cloudphoneResource:asyncInvokeInstance";

/// Huawei's API reference pages the exporter implements (DESIGN.md: `../shared/api-docs/`),
/// when they are present next to the checkout; `HUAWEICLOUD_API_DOCS` names another place.
fn api_docs_dir() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("HUAWEICLOUD_API_DOCS")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(root().join("../shared/api-docs"));
    candidates.push(root().join("../../shared/api-docs"));
    candidates.into_iter().find(|p| p.is_dir())
}

#[test]
fn readme_iam_policy_is_valid_and_lists_exactly_the_actions_the_exporter_calls() {
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    let section = markdown_section(&readme, "### IAM permissions");
    let blocks = code_blocks(section, "json");
    assert_eq!(
        blocks.len(),
        1,
        "README, IAM permissions: expected one JSON policy"
    );
    let policy: Json = serde_json::from_str(&blocks[0])
        .unwrap_or_else(|e| panic!("README's IAM policy is not JSON: {e}\n{}", blocks[0]));
    assert_eq!(
        policy["Version"], "1.1",
        "Huawei IAM custom policies are Version 1.1"
    );
    let keys: BTreeSet<&str> = policy
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["Statement", "Version"]),
        "unknown top-level keys"
    );
    let statements = policy["Statement"].as_array().expect("Statement is a list");
    let action_re = regex::Regex::new(r"^[a-z]+:[A-Za-z]+:[A-Za-z]+$").expect("regex");
    let mut granted = BTreeSet::new();
    for s in statements {
        assert_eq!(
            s["Effect"], "Allow",
            "README policy: every statement allows"
        );
        for key in s.as_object().expect("statement object").keys() {
            assert!(
                matches!(key.as_str(), "Effect" | "Action" | "Condition" | "Resource"),
                "README policy: unknown statement key {key}"
            );
        }
        let actions = s["Action"].as_array().expect("Action is a list");
        assert!(
            !actions.is_empty(),
            "README policy: a statement without actions"
        );
        for a in actions {
            let a = a.as_str().expect("an action is a string");
            assert!(
                action_re.is_match(a),
                "README policy: {a:?} is not service:resource:action (no wildcards)"
            );
            assert!(
                granted.insert(a.to_string()),
                "README policy: {a} is listed twice"
            );
        }
    }
    let wanted: BTreeSet<String> = EXPORTER_ACTIONS
        .iter()
        .map(|(a, _)| a.to_string())
        .collect();
    assert_eq!(
        granted, wanted,
        "README policy must grant exactly the actions the exporter calls"
    );

    // The probe's Write action is a statement of its own, so it can be left out.
    let probe = statements
        .iter()
        .find(|s| {
            s["Action"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == PROBE_ACTION))
        })
        .expect("a statement for the probes");
    assert_eq!(
        probe["Action"].as_array().map(Vec::len),
        Some(1),
        "{PROBE_ACTION} (Write) must be alone in its statement"
    );
    let said = section
        .split("\n\n")
        .any(|para| para.contains(PROBE_ACTION) && para.contains("Write"));
    assert!(
        said,
        "README must say that {PROBE_ACTION} is a Write action"
    );
    for name in [
        "DCS ReadOnlyAccess",
        "DDM ReadOnlyAccess",
        "KooPhone ReadOnlyUser",
    ] {
        assert!(
            section.contains(name),
            "README: no system permission {name}"
        );
    }

    // The table explains every action, with the API it is for.
    for (action, api) in EXPORTER_ACTIONS {
        let row = section
            .lines()
            .find(|l| l.starts_with(&format!("| `{action}`")))
            .unwrap_or_else(|| panic!("README: no table row for {action}"));
        assert!(
            row.contains(api),
            "README: the row of {action} does not name {api}"
        );
    }

    // Every action the API reference pages name (where they are present) is granted.
    match api_docs_dir() {
        Some(dir) => {
            let named =
                regex::Regex::new(r"\b(?:dcs|ddm|koophone):[A-Za-z]+:[A-Za-z]+\b").expect("regex");
            let mut found = 0;
            for entry in fs::read_dir(&dir).expect("api-docs").flatten() {
                let text = fs::read_to_string(entry.path()).unwrap_or_default();
                for m in named.find_iter(&text) {
                    found += 1;
                    assert!(
                        granted.contains(m.as_str()),
                        "{} names action {}, which the README policy does not grant",
                        entry.path().display(),
                        m.as_str()
                    );
                }
            }
            assert!(
                found > 0,
                "{}: no action found in the API pages",
                dir.display()
            );
        }
        None => println!(
            "note: API reference pages not found (../shared/api-docs or HUAWEICLOUD_API_DOCS); \
             checked the policy against EXPORTER_ACTIONS only"
        ),
    }
}

/// The commands of the README's step "Check it, then run it": the environment it exports
/// and each `huaweicloud-exporter` command line.
fn readme_run_steps(section: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let block = code_blocks(section, "sh")
        .into_iter()
        .find(|b| b.contains("--config.check"))
        .expect("README: no sh block running --config.check");
    let mut exports = Vec::new();
    let mut commands = Vec::new();
    for line in block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let line = line.split(" #").next().unwrap_or(line).trim();
        if let Some(assign) = line.strip_prefix("export ") {
            assert!(
                commands.is_empty(),
                "README step: `{line}` comes after a command, which then runs without it"
            );
            let name = assign.split('=').next().unwrap_or("").to_string();
            exports.push(name);
        } else if line.starts_with("huaweicloud-exporter") {
            commands.push(line.split_whitespace().skip(1).map(String::from).collect());
        } else {
            panic!("README step: unexpected command {line:?}");
        }
    }
    (exports, commands)
}

#[test]
fn readme_configs_pass_config_check_run_as_the_readme_says() {
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    let section = markdown_section(&readme, "## Point it at a real cloud");
    let (exports, commands) = readme_run_steps(section);
    assert!(
        !exports.is_empty(),
        "the README step must export the secret before the check"
    );
    let check = commands
        .iter()
        .find(|c| c.iter().any(|a| a == "--config.check"))
        .expect("a --config.check command");
    let serve: Vec<&Vec<String>> = commands.iter().filter(|c| *c != check).collect();
    assert_eq!(serve.len(), 1, "expected the check and the run command");
    let without_check: Vec<&String> = check.iter().filter(|a| *a != "--config.check").collect();
    assert_eq!(
        serve[0].iter().collect::<Vec<_>>(),
        without_check,
        "the run command must use the config the check checked"
    );

    let configs = code_blocks(section, "yaml");
    assert!(configs.len() >= 2, "expected the config and the EU example");
    let mut eu = 0;
    for yaml in &configs {
        let tmp = tempfile::tempdir().expect("temp dir");
        fs::write(tmp.path().join("config.yaml"), yaml).expect("write config");
        let run = |with_env: bool| {
            let mut cmd = Command::new(EXPORTER);
            cmd.args(check).current_dir(tmp.path());
            for name in &exports {
                cmd.env_remove(name);
                if with_env {
                    cmd.env(name, "not-a-real-secret");
                }
            }
            cmd.output().expect("run the exporter")
        };
        let out = run(true);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("valid"),
            "README config fails the README's check:\n{said}{}\n{yaml}",
            String::from_utf8_lossy(&out.stderr)
        );
        // In the opposite order (the check before the export) it fails, naming the variable.
        let out = run(false);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            !out.status.success() && exports.iter().any(|v| said.contains(v.as_str())),
            "without the export the check should fail naming the variable: {said}"
        );

        let parsed: Yaml = serde_yaml::from_str(yaml).expect("README config is YAML");
        for cloud in parsed["clouds"].as_sequence().into_iter().flatten() {
            let endpoints = &cloud["endpoints"];
            if !endpoints.is_mapping() {
                continue;
            }
            eu += 1;
            let region = cloud["region"].as_str().expect("region");
            for service in ["iam", "dcs", "ddm", "koophone"] {
                let url = endpoints[service]
                    .as_str()
                    .unwrap_or_else(|| panic!("EU example: no {service} endpoint"));
                let host = url
                    .strip_prefix("https://")
                    .unwrap_or_else(|| panic!("EU example: {url} is not https"));
                assert!(host.ends_with(".myhuaweicloud.eu"), "EU example: {url}");
                if matches!(service, "dcs" | "ddm") {
                    assert_eq!(host, format!("{service}.{region}.myhuaweicloud.eu"));
                }
            }
        }
    }
    assert_eq!(
        eu, 1,
        "expected one example with .myhuaweicloud.eu endpoints"
    );
}
