//! Collectors: one file per API family. Each fetches through [`crate::cloud::CloudClient`] and
//! maps the answer to metric families with a pure function tested on the reference pages'
//! examples. Collectors never record their own success or duration: [`crate::scrape`] does.

pub mod dcs;
pub mod ddm;
pub mod ddm_discovery;
pub mod koophone;
pub mod koophone_isolate;

/// Names of the collectors, as the `collector` label spells them.
pub const DCS: &str = "dcs";
/// KooPhone status collector.
pub const KOOPHONE: &str = "koophone";
/// DDM restore-readiness collector.
pub const DDM: &str = "ddm";
/// DCS per-instance collector (the listing), apart from the counts.
pub const DCS_INSTANCES: &str = "dcs_instances";
