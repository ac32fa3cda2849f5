//! The `dcs:` section of a cloud: its schema, defaults and checks.

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::Validator;

/// The service's key: its section under a cloud, its endpoint key, its `service` label.
pub const KEY: &str = "dcs";

/// DCS collector settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcsConfig {
    /// Ask for `createfailed_count` too (and list instances that failed to be created).
    pub include_failure: bool,
    /// Per-instance metrics from the instance listing, in every scrape (default true).
    pub instances: bool,
    /// Most series (states plus engine × state) one answer may become; beyond it the
    /// collector fails.
    pub max_series: usize,
}

/// Default series cap of the DCS collector: states and engines × states.
pub const DEFAULT_DCS_MAX_SERIES: usize = 1_000;

/// `clouds[].dcs` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDcs {
    /// `false` turns the service off for the cloud.
    #[serde(default = "yes")]
    enabled: bool,
    /// Whether to ask for instances that failed to be created too.
    #[serde(default = "yes")]
    include_failure: bool,
    /// Whether to collect per-instance metrics from the listing.
    #[serde(default = "yes")]
    instances: bool,
    /// The series cap.
    max_series: Option<usize>,
}

fn yes() -> bool {
    true
}

/// Decodes and checks `clouds[i].dcs` at `at`; `None` when it is invalid or `enabled: false`.
pub fn decode(value: Value, at: &str, v: &mut Validator<'_>) -> Option<DcsConfig> {
    let d: RawDcs = v.decode(at, value)?;
    if !d.enabled {
        return None;
    }
    Some(DcsConfig {
        include_failure: d.include_failure,
        instances: d.instances,
        max_series: v.max_series(at, d.max_series, DEFAULT_DCS_MAX_SERIES),
    })
}
