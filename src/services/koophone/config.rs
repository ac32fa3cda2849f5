//! The `koophone:` section of a cloud: its schema, defaults and checks, the status-name table,
//! and the phone-id rules the API enforces (also used by the phone-list file and probe groups).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde_yaml::Value;

use crate::config::{dedup, Validator};

/// The service's key: its section under a cloud, its endpoint key, its `service` label.
pub const KEY: &str = "koophone";
/// The status collector.
pub const COLLECTOR: &str = "koophone";

/// The KooPhone API accepts instance ids of at most this many characters.
pub const MAX_INSTANCE_ID_LEN: usize = 32;

/// Default series cap of the KooPhone collector: 100,000 phones fit twice over.
pub const DEFAULT_KOOPHONE_MAX_SERIES: usize = 250_000;

/// KooPhone collector settings.
#[derive(Debug, Clone, PartialEq)]
pub struct KoophoneConfig {
    /// Phone ids written in the config itself (deduplicated, validated).
    pub instance_ids: Vec<String>,
    /// A file of phone ids, one per line, re-read when it changes.
    pub instance_ids_file: Option<PathBuf>,
    /// Status code → name, the defaults with the config's overrides applied.
    pub status_names: Arc<StatusNames>,
    /// Most series one scrape of this cloud's phones may become; beyond it the collector fails.
    pub max_series: usize,
    /// Discovery settings; `Some` exactly when neither `instance_ids` nor `instance_ids_file`
    /// is given (then every phone the listing finds is collected).
    pub discovery: Option<KoophoneDiscovery>,
}

/// `koophone.discovery`: how phones are found when no ids are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KoophoneDiscovery {
    /// How often the listing is refreshed in the background (at least 1s; default 5m).
    pub refresh_interval: Duration,
    /// Only phones whose `instance_name` matches (client-side, anywhere in the name unless
    /// anchored); validated at load.
    pub name_regex: Option<String>,
    /// `pool_scene_tag` query filter (`CLOUD_PHONE`, `CLOUD_APP`).
    pub pool_scene_tag: Option<String>,
    /// `pool_name` query filter.
    pub pool_name: Option<String>,
}

impl Default for KoophoneDiscovery {
    fn default() -> Self {
        KoophoneDiscovery {
            refresh_interval: crate::config::DEFAULT_REFRESH_INTERVAL,
            name_regex: None,
            pool_scene_tag: None,
            pool_name: None,
        }
    }
}

/// The mapping from KooPhone status codes to `status` label values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusNames {
    /// Status code → label value.
    names: BTreeMap<i64, String>,
}

impl Default for StatusNames {
    /// The response-field table of the batch-status page (DESIGN.md picks it over the prose).
    fn default() -> Self {
        let names = [
            (0, "idle"),
            (1, "restoring"),
            (2, "data_loaded"),
            (3, "streaming"),
            (4, "backing_up"),
            (5, "backup_exception"),
            (6, "restoration_exception"),
            (7, "data_loaded"),
        ];
        StatusNames {
            names: names.iter().map(|(c, n)| (*c, n.to_string())).collect(),
        }
    }
}

impl StatusNames {
    /// The label value for `code`, `"unknown"` when no table knows it.
    pub fn name(&self, code: i64) -> &str {
        self.names
            .get(&code)
            .map(String::as_str)
            .unwrap_or(UNKNOWN_STATUS)
    }

    /// Every distinct known status name, sorted, plus `unknown`.
    pub fn all_names(&self) -> Vec<&str> {
        let mut set: BTreeSet<&str> = self.names.values().map(String::as_str).collect();
        set.insert(UNKNOWN_STATUS);
        set.into_iter().collect()
    }

    /// Overrides or adds names.
    pub fn with_overrides(mut self, overrides: &BTreeMap<i64, String>) -> Self {
        for (code, name) in overrides {
            self.names.insert(*code, name.clone());
        }
        self
    }
}

/// Label value for a status code that no table names.
pub const UNKNOWN_STATUS: &str = "unknown";

/// `clouds[].koophone` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKoophone {
    /// Phones to collect.
    #[serde(default)]
    instance_ids: Vec<String>,
    /// A file of phone ids, one per line.
    instance_ids_file: Option<String>,
    /// Overrides of the status names, by code.
    #[serde(default)]
    status_names: BTreeMap<i64, String>,
    /// The series cap.
    max_series: Option<usize>,
    /// How phones are discovered when none are listed.
    discovery: Option<RawKoophoneDiscovery>,
}

/// `koophone.discovery` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawKoophoneDiscovery {
    /// How often the listing is refreshed, a duration.
    refresh_interval: Option<String>,
    /// Only phones whose name matches.
    name_regex: Option<String>,
    /// `pool_scene_tag` query filter.
    pool_scene_tag: Option<String>,
    /// `pool_name` query filter.
    pool_name: Option<String>,
}

/// Checks one phone id as the KooPhone API will.
pub fn check_instance_id(id: &str) -> Result<(), String> {
    let n = id.chars().count();
    if n == 0 {
        return Err("is empty; remove it".into());
    }
    if n > MAX_INSTANCE_ID_LEN {
        return Err(format!(
            "{id:?} has {n} characters; KooPhone allows at most {MAX_INSTANCE_ID_LEN}"
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "{id:?} contains {c:?}; instance ids are letters, digits, `-` and `_`"
        ));
    }
    Ok(())
}

/// Parses an id list file: one id per line; blank lines and `#` comments ignored.
/// Errors name the 1-based line.
pub fn parse_id_file(text: &str) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        check_instance_id(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        ids.push(line.to_string());
    }
    Ok(ids)
}

/// Reads and parses an id list file.
pub fn read_id_file(path: &Path) -> Result<Vec<String>, String> {
    parse_id_text(path, &read_id_text(path)?)
}

/// Reads an id list file (see [`crate::files`]).
pub fn read_id_text(path: &Path) -> Result<String, String> {
    crate::files::read_text(path)
        .map_err(|e| e.describe(|e| format!("cannot read {}: {e}", path.display())))
}

/// Parses the `text` of the id list file at `path`; errors name it.
pub fn parse_id_text(path: &Path, text: &str) -> Result<Vec<String>, String> {
    parse_id_file(text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn ids(v: &mut Validator<'_>, p: &str, ids: &[String]) {
    for (j, id) in ids.iter().enumerate() {
        if let Err(e) = check_instance_id(id) {
            v.fail(format!("{p}[{j}]"), e);
        }
    }
}

/// Decodes and checks `clouds[i].koophone` at `p`.
pub fn decode(value: Value, p: &str, v: &mut Validator<'_>) -> Option<KoophoneConfig> {
    let k: RawKoophone = v.decode(p, value)?;
    ids(v, &format!("{p}.instance_ids"), &k.instance_ids);
    let file = k.instance_ids_file.map(|f| v.resolve(&f));
    if let Some(f) = &file {
        if let Err(e) = read_id_file(f) {
            v.fail(
                format!("{p}.instance_ids_file"),
                format!("{e}; fix the file (one id per line, # for comments)"),
            );
        }
    }
    let listed = !k.instance_ids.is_empty() || file.is_some();
    if listed && k.discovery.is_some() {
        v.fail(
            format!("{p}.discovery"),
            "is set, but phones are listed (instance_ids or instance_ids_file), so nothing is discovered; remove one of them",
        );
    }
    let discovery = if listed {
        None
    } else {
        Some(decode_discovery(
            v,
            &format!("{p}.discovery"),
            k.discovery.unwrap_or_default(),
        ))
    };
    let label_re = Regex::new(r"^[a-z_][a-z0-9_]*$").expect("static regex");
    for (code, name) in &k.status_names {
        if !label_re.is_match(name) {
            v.fail(format!("{p}.status_names.{code}"), format!("{name:?} is not a usable label value; use lower_snake_case like backup_exception"));
        }
    }
    let max_series = v.max_series(p, k.max_series, DEFAULT_KOOPHONE_MAX_SERIES);
    Some(KoophoneConfig {
        discovery,
        max_series,
        instance_ids: dedup(k.instance_ids),
        instance_ids_file: file,
        status_names: Arc::new(StatusNames::default().with_overrides(&k.status_names)),
    })
}

/// `{p}.discovery`: refresh interval, name pattern and the listing's query filters.
fn decode_discovery(v: &mut Validator<'_>, p: &str, d: RawKoophoneDiscovery) -> KoophoneDiscovery {
    let refresh_interval = v.refresh_interval(p, d.refresh_interval.as_deref());
    v.name_regex(p, d.name_regex.as_deref());
    let text = |this: &mut Validator<'_>, field: &str, v: Option<String>| {
        let v = v.filter(|v| !v.is_empty())?;
        if v.chars().count() > 64 || v.chars().any(|c| c.is_control()) {
            this.fail(
                format!("{p}.{field}"),
                "must be at most 64 characters without control characters",
            );
            return None;
        }
        Some(v)
    };
    let pool_scene_tag = text(v, "pool_scene_tag", d.pool_scene_tag);
    let pool_name = text(v, "pool_name", d.pool_name);
    KoophoneDiscovery {
        refresh_interval,
        name_regex: d.name_regex,
        pool_scene_tag,
        pool_name,
    }
}
