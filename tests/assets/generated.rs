//! The files `cargo xtask gen` derives from the code (dashboards, alert rules, the
//! PrometheusRule, the README's generated blocks, runbook stubs) are committed as the code
//! gives them now: a stale one fails here, in the README's `cargo test`, as
//! `cargo xtask gen --check` does. The generator is xtask's own module, compiled in here.

#[allow(dead_code)]
#[path = "../../xtask/src/gen/mod.rs"]
mod gen;

use crate::common::root;

#[test]
fn every_generated_file_is_up_to_date() {
    let stale = gen::stale(&root()).unwrap_or_else(|e| panic!("cargo xtask gen fails: {e}"));
    assert!(
        stale.is_empty(),
        "stale generated files: {stale:?}. Edit their sources (see CONTRIBUTING.md, \"Adding a \
         service\"), run `cargo xtask gen` and commit the result"
    );
}

#[test]
fn the_generator_covers_every_generated_file() {
    let files = gen::all(&root()).unwrap_or_else(|e| panic!("cargo xtask gen fails: {e}"));
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for wanted in [
        "dashboards/huaweicloud-overview.json",
        "alerts/huaweicloud.rules.yml",
        "alerts/huaweicloud.rules.test.yml",
        "deploy/kubernetes/prometheus-operator/prometheusrule.yaml",
        "docs/runbooks.md",
        "README.md",
    ] {
        assert!(
            paths.contains(&wanted),
            "{wanted} is not generated: {paths:?}"
        );
    }
}

#[test]
fn a_new_alert_gets_a_runbook_stub_that_the_runbook_test_refuses() {
    let rules = "groups:\n  - name: g\n    rules:\n      - alert: HuaweiCloudBrandNew\n        expr: huaweicloud_cloud_info == 2\n        annotations:\n          summary: \"it is new\"\n";
    let out = gen::runbooks::generate(&root(), rules).expect("stubs");
    let stub = out
        .text
        .split("\n## HuaweiCloudBrandNew\n")
        .nth(1)
        .expect("a stub section for the new alert");
    assert!(stub.contains(gen::runbooks::STUB));
    for part in [
        "**Means**",
        "**Check**",
        "**Do**",
        "huaweicloud_cloud_info == 2",
        "it is new",
    ] {
        assert!(stub.contains(part), "stub lacks {part}:\n{stub}");
    }
    // An alert that has its section gets no stub.
    let kept = "groups:\n  - name: g\n    rules:\n      - alert: HuaweiCloudExporterDown\n        expr: up == 0\n";
    let out = gen::runbooks::generate(&root(), kept).expect("stubs");
    assert!(!out.text.contains(gen::runbooks::STUB));
}

#[test]
fn the_iam_policy_lists_every_registered_call_in_the_statement_of_its_kind() {
    let block = gen::readme::iam_policy(&gen::readme::operations());
    let json = block
        .strip_prefix("```json\n")
        .and_then(|b| b.split_once("\n```\n"))
        .map(|(j, _)| j)
        .expect("a JSON block first");
    let policy: serde_json::Value = serde_json::from_str(json).expect("the policy is JSON");
    let statements = policy["Statement"].as_array().expect("statements");
    assert_eq!(statements.len(), 2, "{policy}");
    for op in gen::readme::operations() {
        let Some(p) = &op.iam else { continue };
        let at = usize::from(!op.idempotent);
        let listed = statements[at]["Action"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == p.action));
        // An action that both a read and a write need is granted with the reads.
        let with_reads = statements[0]["Action"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == p.action));
        assert!(
            listed || with_reads,
            "{} ({}) is not granted",
            p.action,
            op.name
        );
        assert!(block.contains(p.api), "{} is not in the table", p.api);
    }
}

#[test]
fn the_job_selectors_are_parameters_with_the_default_shipped() {
    let root = root();
    let (_, panels) = gen::dashboards::generate(&root).expect("dashboards");
    let text = std::fs::read_to_string(root.join(gen::alerts::CONFIG)).expect("alerts/config.yml");
    let mut params = gen::alerts::config(&text, gen::alerts::CONFIG).expect("config");
    assert_eq!(
        params.get("job_selector").map(String::as_str),
        Some(r#"job="huaweicloud-exporter""#),
        "the shipped default"
    );
    params.insert("job_selector".into(), r#"job="hwc", team="obs""#.into());
    params.insert("probe_job_selector".into(), r#"job="hwc-probe""#.into());
    let rendered = gen::alerts::render(&root, &params, "mine.yml", &panels).expect("render");
    let rules: serde_yaml::Value = serde_yaml::from_str(&rendered).expect("YAML");
    let exprs: Vec<&str> = crate::alerts(&rules)
        .iter()
        .filter_map(|a| a["expr"].as_str())
        .collect();
    assert!(
        exprs
            .iter()
            .any(|e| e.contains(r#"up{job="hwc", team="obs"}"#)),
        "{exprs:?}"
    );
    assert!(exprs
        .iter()
        .any(|e| e.contains(r#"absent(up{job="hwc", team="obs"})"#)));
    assert!(exprs
        .iter()
        .any(|e| e.contains(r#"probe_success{job="hwc-probe"}"#)));
    for e in &exprs {
        assert!(
            !e.contains("huaweicloud-exporter\""),
            "a job name is left in {e}"
        );
        assert!(!e.contains("%("), "an unrendered parameter in {e}");
    }
}

/// The golden `/metrics` of `tests/api/golden.rs`: each family's `# HELP`, `# TYPE` and the label
/// names of its first sample.
fn golden_families() -> Vec<(String, String, String, Vec<String>)> {
    let text = std::fs::read_to_string(root().join("tests/fixtures/golden_metrics.txt"))
        .expect("golden file");
    let mut out: Vec<(String, String, String, Vec<String>)> = Vec::new();
    let mut help = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, h) = rest.split_once(' ').unwrap_or((rest, ""));
            help.insert(name.to_string(), h.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let h = help.get(name).cloned().unwrap_or_default();
            out.push((name.to_string(), kind.to_string(), h, Vec::new()));
        } else if let Some(last) = out.last_mut() {
            if last.3.is_empty() {
                if let Some((_, labels)) = line.split_once('{') {
                    let labels = labels.split_once('}').map_or("", |(l, _)| l);
                    last.3 = labels
                        .split("\",")
                        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string()))
                        .collect();
                }
            }
        }
    }
    out
}

#[test]
fn every_family_served_is_declared_with_its_type_help_and_labels() {
    let declared = gen::readme::families();
    let served = golden_families();
    assert!(served.len() > 20, "golden file read as {served:?}");
    for (name, kind, help, labels) in &served {
        let f = declared
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} is served but declared by no service nor the core"));
        assert_eq!(f.kind.as_str(), kind, "{name}: type");
        assert_eq!(f.help, help, "{name}: help");
        if !labels.is_empty() {
            // The prometheus crate writes a vec's labels sorted; `Families` in declared order
            // (which it asserts in debug builds).
            let mut got: Vec<&str> = labels.iter().map(String::as_str).collect();
            let mut want: Vec<&str> = f.labels.to_vec();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "{name}: label names");
        }
    }
    // And the README table names each declared family, the reload timestamp among them.
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    for f in &declared {
        assert!(
            readme.contains(&format!("| `{}` | {} |", f.name, f.kind.as_str())),
            "README's metrics table lacks {}",
            f.name
        );
    }
    assert!(declared
        .iter()
        .any(|f| f.name == "huaweicloud_exporter_config_last_reload_success_timestamp_seconds"));
}
