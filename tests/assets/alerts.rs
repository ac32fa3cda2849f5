//! The alerting rules: promtool checks them and their unit tests, every alert is annotated and
//! tested firing and quiet, and the PrometheusRule carries the same rules.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::common::{read_yaml, require_tool, root, run_ok};
use crate::{alerts, RULES};

/// promtool unit tests of [`RULES`].
const RULE_TESTS: &str = "alerts/huaweicloud.rules.test.yml";
/// [`RULES`] as a prometheus-operator object (generated).
const PROMETHEUS_RULE: &str = "deploy/kubernetes/prometheus-operator/prometheusrule.yaml";

#[test]
#[ignore = "runs promtool, an external tool: cargo test -- --include-ignored runs it"]
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
#[ignore = "runs promtool, an external tool: cargo test -- --include-ignored runs it"]
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
        "{PROMETHEUS_RULE} differs from {RULES}: run `cargo xtask gen`"
    );
}
