//! What the README tells a user to do works: its Metrics table names every metric the rules and
//! dashboards read, its IAM policy grants exactly the actions the exporter calls, and its
//! configs pass `--config.check` run as its steps say.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use huaweicloud_exporter::services::SERVICES;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::common::{panels, read_yaml, root};
use crate::{alert_metrics, alerts, dashboards, EXPORTER, RULES};

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

/// Every IAM action the exporter calls, with the APIs it authorises (README, "IAM
/// permissions"), from the operations each registered service declares, and whether some call
/// that needs it only reads.
fn exporter_actions() -> BTreeMap<&'static str, (Vec<&'static str>, bool)> {
    let mut actions: BTreeMap<&str, (Vec<&str>, bool)> = BTreeMap::new();
    for service in SERVICES {
        for op in service.operations() {
            if let Some(p) = &op.iam {
                let entry = actions.entry(p.action).or_default();
                entry.0.push(p.api);
                entry.1 |= op.idempotent;
            }
        }
    }
    actions
}

/// The probes' action, which Huawei classes Write.
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
    let actions = exporter_actions();
    assert!(actions.len() >= 7, "the registry declares only {actions:?}");
    let wanted: BTreeSet<String> = actions.keys().map(|a| a.to_string()).collect();
    assert_eq!(
        granted, wanted,
        "README policy must grant exactly the actions the exporter calls"
    );

    // An action only calls that change state need (the probe's command) is a statement of its
    // own, so it can be left out.
    let writes: Vec<&str> = actions
        .iter()
        .filter(|(_, (_, reads))| !reads)
        .map(|(a, _)| *a)
        .collect();
    assert!(writes.contains(&PROBE_ACTION), "{PROBE_ACTION} only reads?");
    let write_statement = statements
        .iter()
        .find(|s| {
            s["Action"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == PROBE_ACTION))
        })
        .expect("a statement for the probes");
    let listed: Vec<&str> = write_statement["Action"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .collect();
    assert_eq!(
        listed, writes,
        "the actions of calls that change state must be alone in their statement"
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
    for (action, (apis, _)) in &actions {
        let row = section
            .lines()
            .find(|l| l.starts_with(&format!("| `{action}`")))
            .unwrap_or_else(|| panic!("README: no table row for {action}"));
        for api in apis {
            assert!(
                row.contains(api),
                "README: the row of {action} does not name {api}"
            );
        }
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
             checked the policy against the registry's operations only"
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
