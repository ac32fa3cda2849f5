//! docs/simulator.md names every operation and fault kind the simulator knows (derived from
//! its own lists), each as a row of its tables, so a new one cannot be left undocumented.

use std::fs;

use huaweicloud_exporter::sim::{Endpoint, FaultKind};

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
    let missing: Vec<&str> = Endpoint::ALL
        .iter()
        .map(Endpoint::as_str)
        .chain(FaultKind::ALL.iter().map(FaultKind::as_str))
        .filter(|name| !rows.iter().any(|r| r == name))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/simulator.md has no table row for {missing:?}"
    );
}
