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
