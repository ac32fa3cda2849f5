//! `docs/fidelity.md` names the definition versions the contract tests check against: the
//! versions Cargo.lock pins, so a definition update that forgets the report fails here.

use crate::definitions::{definition_crate, WAIVERS};

#[test]
fn the_fidelity_report_names_the_locked_definitions() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/fidelity.md");
    let report = std::fs::read_to_string(path).expect("docs/fidelity.md");
    for service in ["DCS", "DDM", "KooPhone", "IAM"] {
        let krate = definition_crate(service);
        let named = format!("`{}` {}", krate.name, krate.version);
        assert!(
            report.contains(&named),
            "docs/fidelity.md does not name {named}"
        );
    }
    for w in WAIVERS {
        let named = format!("`{}`", w.pointer);
        assert!(
            report.contains(&named),
            "docs/fidelity.md does not explain the waiver {}/{} {named}",
            w.service,
            w.operation
        );
    }
}
