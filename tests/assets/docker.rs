//! The container and the compose demo: the Dockerfile (hadolint, port, non-root user) and
//! deploy/docker-compose.yml with the Prometheus config and Grafana provisioning it mounts.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use serde_yaml::Value as Yaml;

use crate::common::{files_with_ext, read_yaml, require_tool, root, run_ok};
use crate::{dashboards, RULES};

#[test]
#[ignore = "runs promtool, an external tool: cargo test -- --include-ignored runs it"]
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

#[test]
#[ignore = "runs hadolint, an external tool: cargo test -- --include-ignored runs it"]
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
