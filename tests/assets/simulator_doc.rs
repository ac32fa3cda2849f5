//! docs/simulator.md names every operation and fault kind the simulator knows (the registry's
//! operations, IAM's and each service's, and the fault kinds' own list), each as a row of its
//! tables, so a new one cannot be left undocumented.

use std::fs;

use huaweicloud_exporter::services::SERVICES;
use huaweicloud_exporter::sim::FaultKind;
use huaweicloud_exporter::transport::auth::IAM_TOKEN;

use crate::common::root;

/// The first cells of the page's table rows (`| `name` | …`).
fn documented() -> Vec<String> {
    let page = fs::read_to_string(root().join("docs/simulator.md")).expect("docs/simulator.md");
    page.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(name, _)| name.to_string()))
        .collect()
}

#[test]
fn the_simulator_page_names_every_operation_and_fault_kind() {
    let rows = documented();
    let operations = SERVICES
        .iter()
        .flat_map(|s| s.operations().iter().map(|op| op.name));
    let missing: Vec<&str> = std::iter::once(IAM_TOKEN.name)
        .chain(operations)
        .chain(FaultKind::ALL.iter().map(FaultKind::as_str))
        .filter(|name| !rows.iter().any(|r| r == name))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/simulator.md has no table row for {missing:?}"
    );
}
