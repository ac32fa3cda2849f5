//! The Kubernetes manifests in deploy/kubernetes/: strict validation, the sharded and locked-down
//! StatefulSet with its Service and ServiceMonitor, and the prometheus-operator kustomization.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value as Yaml;

use crate::common::{files_with_ext, read_yaml, require_tool, root, run_fails, run_ok};

fn plain_manifests() -> Vec<PathBuf> {
    files_with_ext(&root().join("deploy/kubernetes"), &[".yaml", ".yml"])
}

#[test]
#[ignore = "runs kubernetes-validate, an external tool: cargo test -- --include-ignored runs it"]
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
