//! The Grafana dashboards on their own: templated on `$datasource` and `$cloud`, panels of core
//! types with descriptions and units, queries that parse as PromQL, and JSON that satisfies
//! @grafana/schema's types.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::common::{panels, require_tool, root, run_fails, run_ok};
use crate::{dashboards, variable, DS};

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
#[ignore = "runs promtool, an external tool: cargo test -- --include-ignored runs it"]
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
#[ignore = "runs node and npm, an external tool: cargo test -- --include-ignored runs it"]
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
