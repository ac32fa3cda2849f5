//! The `ddm:` section of a cloud: its schema, defaults and checks.

use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde_yaml::Value;

use crate::config::{dedup, Validator};

/// The service's key: its section under a cloud, its endpoint key, its `service` label.
pub const KEY: &str = "ddm";

/// Default series cap of the DDM collector (all instances of a cloud together).
pub const DEFAULT_DDM_MAX_SERIES: usize = 20_000;

/// DDM collector settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DdmConfig {
    /// DDM instances whose restore targets are listed; empty when they are discovered.
    pub instance_ids: Vec<String>,
    /// Discovery of the DDM instances, when no `instance_ids` are given.
    pub discovery: Option<DdmDiscoveryConfig>,
    /// How long an answer is served before it is fetched again (DDM allows 60 calls/min).
    pub cache_ttl: Duration,
    /// Most series the answers of all instances may become; beyond it the collector fails.
    pub max_series: usize,
}

/// DDM discovery settings (`ddm.discovery`).
#[derive(Debug, Clone)]
pub struct DdmDiscoveryConfig {
    /// How often the instance listing is read again (at least 1s; default 5m).
    pub refresh_interval: Duration,
    /// Only instances whose name matches are kept.
    pub name_regex: Option<Regex>,
}

impl PartialEq for DdmDiscoveryConfig {
    fn eq(&self, other: &Self) -> bool {
        self.refresh_interval == other.refresh_interval
            && self.name_regex.as_ref().map(Regex::as_str)
                == other.name_regex.as_ref().map(Regex::as_str)
    }
}

/// `clouds[].ddm` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDdm {
    /// Instances to check; none: every discovered instance.
    #[serde(default)]
    instance_ids: Vec<String>,
    /// How instances are discovered when none are listed.
    discovery: Option<RawDdmDiscovery>,
    /// How long an answer is reused, a duration (default 5m).
    cache_ttl: Option<String>,
    /// The series cap.
    max_series: Option<usize>,
}

/// `ddm.discovery` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDdmDiscovery {
    /// How often the listing is refreshed, a duration.
    refresh_interval: Option<String>,
    /// Only instances whose name matches.
    name_regex: Option<String>,
}

/// Decodes and checks `clouds[i].ddm` at `p`.
pub fn decode(value: Value, p: &str, v: &mut Validator<'_>) -> Option<DdmConfig> {
    let d: RawDdm = v.decode(p, value)?;
    let discovery = if d.instance_ids.is_empty() {
        let raw = d.discovery.unwrap_or(RawDdmDiscovery {
            refresh_interval: None,
            name_regex: None,
        });
        Some(decode_discovery(v, &format!("{p}.discovery"), raw))
    } else {
        if d.discovery.is_some() {
            v.fail(
                format!("{p}.discovery"),
                "is set, but instances are listed (instance_ids), so nothing is discovered; remove one of them",
            );
        }
        None
    };
    for (j, id) in d.instance_ids.iter().enumerate() {
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            v.fail(format!("{p}.instance_ids[{j}]"), format!("{id:?} is not a DDM instance id; copy it from the console (like 1f5c9fd6cd984056ba89c8c87cc03278in09)"));
        }
    }
    let cache_ttl = v.duration(
        p,
        "cache_ttl",
        d.cache_ttl.as_deref(),
        Duration::from_secs(300),
    );
    let max_series = v.max_series(p, d.max_series, DEFAULT_DDM_MAX_SERIES);
    Some(DdmConfig {
        max_series,
        discovery,
        instance_ids: dedup(d.instance_ids),
        cache_ttl,
    })
}

fn decode_discovery(v: &mut Validator<'_>, p: &str, d: RawDdmDiscovery) -> DdmDiscoveryConfig {
    let refresh_interval = v.refresh_interval(p, d.refresh_interval.as_deref());
    let name_regex = v.name_regex(p, d.name_regex.as_deref());
    DdmDiscoveryConfig {
        refresh_interval,
        name_regex,
    }
}
