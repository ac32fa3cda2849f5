//! Configuration: the YAML schema, defaults, `${VAR}` expansion, `*_file` secrets and validation.
//!
//! Loading is strict: unknown keys are errors, and every error names the file, the field path and
//! the fix. Secrets are read as [`SecretText`], whose decoding accepts text only and refuses every
//! other YAML type without echoing it; the sections that hold secrets refuse anything but a
//! mapping the same way ([`Section`]). Nothing is redacted afterwards: no message ever held a
//! secret to begin with.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use regex::Regex;
use secrecy::{ExposeSecret, SecretString};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_yaml::Value;

/// The KooPhone API accepts instance ids of at most this many characters.
pub const MAX_INSTANCE_ID_LEN: usize = 32;
/// The async-command API accepts commands of at most this many bytes.
pub const MAX_COMMAND_BYTES: usize = 1024;

/// A config error: always carries the file, the field path and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {path}{sep}{message}", sep = if path.is_empty() { "" } else { ": " })]
pub struct ConfigError {
    /// The file the error is in, as given on the command line.
    pub file: String,
    /// Dotted field path, e.g. `clouds[0].koophone.instance_ids[3]`; empty for whole-file errors.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The validated configuration the exporter runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Every cloud (credentials + region + project) to collect from.
    pub clouds: Vec<CloudConfig>,
    /// Upper bound of one scrape, before the scrape-timeout header lowers it.
    pub timeout: Duration,
    /// In-flight upstream calls allowed per cloud.
    pub max_concurrency: usize,
    /// Command-probe modules, by name.
    pub probes: BTreeMap<String, ProbeModule>,
    /// Sharding of phones across replicas.
    pub shard: Shard,
}

/// One shard of the fleet: this replica keeps phones whose hash falls in `index` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index of this replica.
    pub index: u32,
    /// Number of replicas; 1 means no sharding.
    pub total: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, total: 1 }
    }
}

/// One cloud: a set of credentials scoped to one project in one region.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudConfig {
    /// The `cloud` label value.
    pub name: String,
    /// Region id, e.g. `ap-southeast-1`.
    pub region: String,
    /// Project id the token is scoped to and DCS/DDM paths carry.
    pub project_id: String,
    /// How requests authenticate.
    pub auth: AuthConfig,
    /// Base URLs of each service.
    pub endpoints: Endpoints,
    /// DCS collector settings; `None` means no DCS collector.
    pub dcs: Option<DcsConfig>,
    /// KooPhone collector settings; `None` means no KooPhone collector.
    pub koophone: Option<KoophoneConfig>,
    /// DDM collector settings; `None` means no DDM collector.
    pub ddm: Option<DdmConfig>,
}

/// How a cloud's requests authenticate.
#[derive(Debug, Clone)]
pub enum AuthConfig {
    /// IAM password flow: a project-scoped token fetched and cached.
    Password {
        /// Account (domain) name.
        domain: String,
        /// IAM user name.
        user: String,
        /// The user's password.
        password: SecretString,
    },
    /// A fixed IAM token supplied by the operator.
    Token {
        /// The token itself.
        value: SecretString,
    },
    /// AK/SK request signing (`SDK-HMAC-SHA256`).
    Aksk {
        /// Access key id (not secret, but not logged either).
        access_key: String,
        /// Secret access key.
        secret_key: SecretString,
    },
}

/// Same method, same names, same secrets: a reload compares configs to keep what did not change.
impl PartialEq for AuthConfig {
    fn eq(&self, other: &AuthConfig) -> bool {
        let same = |a: &SecretString, b: &SecretString| a.expose_secret() == b.expose_secret();
        match (self, other) {
            (
                AuthConfig::Password {
                    domain,
                    user,
                    password,
                },
                AuthConfig::Password {
                    domain: d,
                    user: u,
                    password: p,
                },
            ) => domain == d && user == u && same(password, p),
            (AuthConfig::Token { value }, AuthConfig::Token { value: v }) => same(value, v),
            (
                AuthConfig::Aksk {
                    access_key,
                    secret_key,
                },
                AuthConfig::Aksk {
                    access_key: a,
                    secret_key: k,
                },
            ) => access_key == a && same(secret_key, k),
            _ => false,
        }
    }
}

impl AuthConfig {
    /// The method name as written in config.
    pub fn method(&self) -> &'static str {
        match self {
            AuthConfig::Password { .. } => "password",
            AuthConfig::Token { .. } => "token",
            AuthConfig::Aksk { .. } => "aksk",
        }
    }
}

/// Base URLs of each service, resolved from the region unless overridden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// IAM, where tokens come from.
    pub iam: String,
    /// Distributed Cache Service.
    pub dcs: String,
    /// Distributed Database Middleware.
    pub ddm: String,
    /// KooPhone (one global host).
    pub koophone: String,
}

impl Endpoints {
    /// The documented public endpoints of a region.
    pub fn for_region(region: &str) -> Endpoints {
        Endpoints {
            iam: format!("https://iam.{region}.myhuaweicloud.com"),
            dcs: format!("https://dcs.{region}.myhuaweicloud.com"),
            ddm: format!("https://ddm.{region}.myhuaweicloud.com"),
            koophone: "https://koophone.myhuaweicloud.com".to_string(),
        }
    }
}

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
/// Default series cap of the KooPhone collector: 100,000 phones fit twice over.
pub const DEFAULT_KOOPHONE_MAX_SERIES: usize = 250_000;
/// Default series cap of the DDM collector (all instances of a cloud together).
pub const DEFAULT_DDM_MAX_SERIES: usize = 20_000;
/// Largest series cap accepted for any collector.
pub const MAX_SERIES_LIMIT: usize = 10_000_000;

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
            refresh_interval: crate::inventory::DEFAULT_REFRESH_INTERVAL,
            name_regex: None,
            pool_scene_tag: None,
            pool_name: None,
        }
    }
}

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

/// A command-probe module.
#[derive(Debug, Clone)]
pub struct ProbeModule {
    /// The cloud whose phones it runs on.
    pub cloud: String,
    /// The ADB shell command, checked against the API's rules at load.
    pub command: String,
    /// Pattern every job's output must match.
    pub expect: Option<Regex>,
    /// Upper bound of one probe.
    pub timeout: Duration,
    /// How often the task is polled.
    pub poll_interval: Duration,
    /// Named groups of phone ids that `target` may name instead of one phone.
    pub groups: BTreeMap<String, Vec<String>>,
    /// A repeat within this interval answers from the last result.
    pub min_interval: Duration,
    /// Async-command calls this module may send per minute (one call carries up to 100
    /// phones); beyond it `/probe` answers 429, or from an older result.
    pub max_commands_per_minute: u32,
}

/// Default of a probe module's `max_commands_per_minute`.
pub const DEFAULT_MAX_COMMANDS_PER_MINUTE: u32 = 60;

/// The mapping from KooPhone status codes to `status` label values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusNames {
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

// ---------------------------------------------------------------------------------------------
// Raw schema, as written in YAML.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    clouds: Vec<RawCloud>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    max_concurrency: Option<usize>,
    #[serde(default)]
    probes: BTreeMap<String, RawProbe>,
    #[serde(default)]
    shard: Option<RawShard>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShard {
    index: u32,
    total: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloud {
    name: String,
    region: String,
    project_id: String,
    auth: Section<RawAuth>,
    #[serde(default)]
    endpoints: RawEndpoints,
    #[serde(default)]
    dcs: Option<RawDcs>,
    #[serde(default)]
    koophone: Option<RawKoophone>,
    #[serde(default)]
    ddm: Option<RawDdm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(default)]
    password: Option<Section<RawPassword>>,
    #[serde(default)]
    token: Option<Section<RawToken>>,
    #[serde(default)]
    aksk: Option<Section<RawAksk>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPassword {
    domain: String,
    user: String,
    #[serde(default)]
    password: Option<SecretText>,
    #[serde(default)]
    password_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    #[serde(default)]
    value: Option<SecretText>,
    #[serde(default)]
    value_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAksk {
    /// Not a secret (it travels in the `Authorization` header), but never echoed either.
    access_key: SecretText,
    #[serde(default)]
    secret_key: Option<SecretText>,
    #[serde(default)]
    secret_key_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEndpoints {
    #[serde(default)]
    iam: Option<String>,
    #[serde(default)]
    dcs: Option<String>,
    #[serde(default)]
    ddm: Option<String>,
    #[serde(default)]
    koophone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDcs {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default = "yes")]
    include_failure: bool,
    #[serde(default = "yes")]
    instances: bool,
    #[serde(default)]
    max_series: Option<usize>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKoophone {
    #[serde(default)]
    instance_ids: Vec<String>,
    #[serde(default)]
    instance_ids_file: Option<String>,
    #[serde(default)]
    status_names: BTreeMap<i64, String>,
    #[serde(default)]
    max_series: Option<usize>,
    #[serde(default)]
    discovery: Option<RawKoophoneDiscovery>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawKoophoneDiscovery {
    #[serde(default)]
    refresh_interval: Option<String>,
    #[serde(default)]
    name_regex: Option<String>,
    #[serde(default)]
    pool_scene_tag: Option<String>,
    #[serde(default)]
    pool_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDdm {
    #[serde(default)]
    instance_ids: Vec<String>,
    #[serde(default)]
    discovery: Option<RawDdmDiscovery>,
    #[serde(default)]
    cache_ttl: Option<String>,
    #[serde(default)]
    max_series: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDdmDiscovery {
    #[serde(default)]
    refresh_interval: Option<String>,
    #[serde(default)]
    name_regex: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    cloud: String,
    command: String,
    #[serde(default)]
    expect: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    poll_interval: Option<String>,
    #[serde(default)]
    min_interval: Option<String>,
    #[serde(default)]
    max_commands_per_minute: Option<u32>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
}

/// Keys whose values are secrets (or, for `access_key`, never echoed): an `${…}` error in them
/// does not quote the text around it.
const SECRET_KEYS: &[&str] = &["password", "value", "secret_key", "access_key"];

// ---------------------------------------------------------------------------------------------
// Types that decode secrets without ever echoing them.

/// A secret as written in a file: text only. Its decoding refuses every other YAML type (number,
/// boolean, null, list, mapping, tagged value) with a message that names the type and never the
/// value; it has no `Display`, and `Debug` shows nothing of it. The web config's password hashes
/// use it too, since a plaintext password is what ends up there by mistake.
pub struct SecretText(SecretString);

impl SecretText {
    /// The secret, still wrapped.
    pub fn into_secret(self) -> SecretString {
        self.0
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText([REDACTED])")
    }
}

/// In every message about a secret that is not text; the config file's errors add where a
/// secret had better come from.
const NOT_SHOWN: &str = "(its value is not shown: this field holds a secret)";

/// What a secret field holds instead of text, and how to fix it. Never the value itself.
fn not_text(kind: &str, fix: &str) -> String {
    format!("is {kind}, not text {NOT_SHOWN}; {fix}")
}

const QUOTE_IT: &str = "quote it, since YAML reads unquoted digits, true/false and ~ as other types and can change them (leading zeros, exponents)";
const ONE_STRING: &str = "write the secret as one quoted string";

struct SecretTextVisitor;

impl<'de> Visitor<'de> for SecretTextVisitor {
    type Value = SecretText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretText, E> {
        Ok(SecretText(SecretString::from(v)))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<SecretText, E> {
        Ok(SecretText(SecretString::from(v)))
    }

    fn visit_char<E: de::Error>(self, v: char) -> Result<SecretText, E> {
        Ok(SecretText(SecretString::from(v.to_string())))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretText, E> {
        Err(E::custom(not_text("a boolean", QUOTE_IT)))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretText, E> {
        Err(E::custom(not_text("a number", QUOTE_IT)))
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<SecretText, E> {
        Err(E::custom(not_text("a number", QUOTE_IT)))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretText, E> {
        Err(E::custom(not_text("a number", QUOTE_IT)))
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<SecretText, E> {
        Err(E::custom(not_text("a number", QUOTE_IT)))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretText, E> {
        Err(E::custom(not_text("a number", QUOTE_IT)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<SecretText, E> {
        Err(E::custom(
            "is empty (null); set it, for example from an environment variable: ${VAR}",
        ))
    }

    fn visit_none<E: de::Error>(self) -> Result<SecretText, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<SecretText, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<SecretText, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<SecretText, E> {
        Err(E::custom(not_text("binary data", ONE_STRING)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<SecretText, A::Error> {
        Err(de::Error::custom(not_text("a list", ONE_STRING)))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<SecretText, A::Error> {
        Err(de::Error::custom(not_text("a mapping", ONE_STRING)))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<SecretText, A::Error> {
        Err(de::Error::custom(not_text(
            "a tagged value (`!tag …`)",
            ONE_STRING,
        )))
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SecretText, D::Error> {
        // `deserialize_any`, not `deserialize_string`: the latter lets the format report a wrong
        // type itself, quoting the value (``invalid type: integer `86753091234567` ``).
        d.deserialize_any(SecretTextVisitor)
    }
}

/// A section that holds secrets (`auth`, `auth.password`, …): a mapping decoded as `T`, field
/// paths and unknown-key errors intact. Anything else is refused by its type, never quoted: a
/// secret written where its section belongs (`auth: { password: ${PW} }`) would otherwise be
/// echoed by the "expected struct" error.
pub struct Section<T>(pub T);

struct SectionVisitor<T>(std::marker::PhantomData<T>);

const A_MAPPING: &str =
    "write this section as a mapping of its fields (see the annotated config.yaml)";

impl<'de, T: Deserialize<'de>> Visitor<'de> for SectionVisitor<T> {
    type Value = Section<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Section<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Section)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Section<T>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Section<T>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Section<T>, E> {
        Err(E::custom(not_mapping("text")))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Section<T>, E> {
        Err(E::custom(not_mapping("a boolean")))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Section<T>, E> {
        Err(E::custom(not_mapping("a number")))
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Section<T>, E> {
        Err(E::custom(not_mapping("a number")))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Section<T>, E> {
        Err(E::custom(not_mapping("a number")))
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Section<T>, E> {
        Err(E::custom(not_mapping("a number")))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Section<T>, E> {
        Err(E::custom(not_mapping("a number")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Section<T>, E> {
        Err(E::custom(not_mapping("empty (null)")))
    }

    fn visit_none<E: de::Error>(self) -> Result<Section<T>, E> {
        self.visit_unit()
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Section<T>, E> {
        Err(E::custom(not_mapping("binary data")))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Section<T>, A::Error> {
        Err(de::Error::custom(not_mapping("a list")))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<Section<T>, A::Error> {
        Err(de::Error::custom(not_mapping("a tagged value (`!tag …`)")))
    }
}

fn not_mapping(kind: &str) -> String {
    format!("is {kind}, not a mapping (its value is not shown: this section holds secrets); {A_MAPPING}")
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Section<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Section<T>, D::Error> {
        d.deserialize_any(SectionVisitor(std::marker::PhantomData))
    }
}

// ---------------------------------------------------------------------------------------------
// Loading.

/// Reads, expands, decodes and validates `path`.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        path: String::new(),
        message: format!(
            "cannot read the config file: {e}; pass the right path with --config.file"
        ),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load_str(&text, &file, &base, &|name| std::env::var(name).ok())
}

/// Decodes config text. `file` names it in errors; relative `*_file` paths resolve against `base`;
/// `env` looks up `${VAR}` references.
pub fn load_str(
    text: &str,
    file: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let err = |path: String, message: String| ConfigError {
        file: file.to_string(),
        path,
        message,
    };
    let protected = protect_env_refs(text);
    let mut value: Value = serde_yaml::from_str(&protected).map_err(|e| {
        err(
            String::new(),
            format!("not valid YAML: {e}; fix the syntax at that position"),
        )
    })?;
    if value.is_null() {
        return Err(err(
            String::new(),
            "the file is empty; it needs at least a `clouds:` list (see the annotated config.yaml)"
                .into(),
        ));
    }
    expand_env(&mut value, &mut String::new(), env, false)
        .map_err(|(path, message)| err(path, message))?;
    // Secrets are refused by their own types when they are not text, so no message below ever
    // holds one: nothing is blanked out afterwards.
    let raw: RawConfig = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        err(path, decode_hint(e.into_inner().to_string()))
    })?;
    Validator {
        file,
        base,
        errors: Vec::new(),
    }
    .validate(raw)
}

/// Adds the usual fix to serde's wording.
fn decode_hint(message: String) -> String {
    if message.contains(NOT_SHOWN) {
        format!("{message}, or better take it from ${{VAR}} or the *_file form of this key")
    } else if message.starts_with("unknown field") {
        format!("{message}; remove it or fix its spelling")
    } else if message.starts_with("missing field") {
        format!("{message}; add it (see the annotated config.yaml)")
    } else {
        message
    }
}

/// Stands in for `${` and its `}` while YAML is parsed: `${VAR}` is then safe in flow mappings
/// (`{ password: ${PW} }`), where `{` and `}` would otherwise end the mapping. Same length in
/// characters, so YAML error columns stay right.
const REF_OPEN: &str = "\u{E000}\u{E001}";
const REF_CLOSE: char = '\u{E002}';

fn protect_env_refs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push_str("$$");
            rest = tail;
            continue;
        }
        if let Some(tail) = after.strip_prefix('{') {
            let name_len = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            if name_len > 0 && tail[name_len..].starts_with('}') {
                out.push_str(REF_OPEN);
                out.push_str(&tail[..name_len]);
                out.push(REF_CLOSE);
                rest = &tail[name_len + 1..];
                continue;
            }
        }
        out.push('$');
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Expands `${VAR}` in every string value (`$$` is a literal `$`). Under a secret key an error
/// does not quote the reference, which is part of the secret's text.
fn expand_env(
    value: &mut Value,
    path: &mut String,
    env: &dyn Fn(&str) -> Option<String>,
    is_secret: bool,
) -> Result<(), (String, String)> {
    match value {
        Value::String(s) => {
            if s.contains('$') || s.contains(REF_CLOSE) {
                *s = expand_one(s, env, is_secret).map_err(|m| (path.clone(), m))?;
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                expand_env(item, path, env, is_secret)?;
                path.truncate(len);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key);
                let secret = is_secret || SECRET_KEYS.contains(&key.as_str());
                expand_env(v, path, env, secret)?;
                path.truncate(len);
            }
        }
        Value::Tagged(t) => expand_env(&mut t.value, path, env, is_secret)?,
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

fn expand_one(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
    is_secret: bool,
) -> Result<String, String> {
    let restored = s.replace(REF_OPEN, "${").replace(REF_CLOSE, "}");
    let s = restored.as_str();
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail.find('}').ok_or_else(|| {
                "an unterminated `${` reference; write `${NAME}`, or `$$` for a literal `$`"
                    .to_string()
            })?;
            let name = &tail[..end];
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid && is_secret {
                return Err("holds a `${` that is not a valid environment variable reference (not shown: this field is a secret); names use letters, digits and `_`, and `$$` is a literal `$`".into());
            }
            if !valid {
                return Err(format!(
                    "`${{{name}}}` is not a valid environment variable reference; names use letters, digits and `_`"
                ));
            }
            let value = env(name).ok_or_else(|| {
                format!("environment variable {name} is not set; export it before starting, or write the value (or a *_file path) instead")
            })?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses a Prometheus-style duration (`10s`, `5m`, `1h30m`, `500ms`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration ({e}); write it like 10s, 5m or 1h30m"))
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

/// Checks an async-command command against the API's rules (letters, digits, `_ . / : -`, and
/// the spaces the page's own example uses; at most 1,024 bytes).
pub fn check_command(command: &str) -> Result<(), String> {
    if command.trim().is_empty() {
        return Err("is empty; write the ADB shell command to run".into());
    }
    if command.len() > MAX_COMMAND_BYTES {
        return Err(format!(
            "is {} bytes; the API allows at most {MAX_COMMAND_BYTES}",
            command.len()
        ));
    }
    if let Some(c) = command
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_./:- ".contains(*c)))
    {
        return Err(format!(
            "contains {c:?}; the API allows only letters, digits, spaces and `_ . / : -`"
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
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_id_file(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Deduplicates, keeping the first occurrence's order.
pub fn dedup(ids: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

struct Validator<'a> {
    file: &'a str,
    base: &'a Path,
    errors: Vec<ConfigError>,
}

impl Validator<'_> {
    fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            path: path.into(),
            message: message.into(),
        });
    }

    fn duration(&mut self, path: &str, raw: Option<&str>, default: Duration) -> Duration {
        match raw {
            None => default,
            Some(s) => match parse_duration(s) {
                Ok(d) => d,
                Err(e) => {
                    self.fail(path, e);
                    default
                }
            },
        }
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn secret(
        &mut self,
        path: &str,
        key: &str,
        inline: Option<SecretText>,
        file: Option<String>,
    ) -> SecretString {
        match (inline, file) {
            (Some(v), None) => {
                if v.is_empty() {
                    self.fail(
                        format!("{path}.{key}"),
                        "is empty; set it, for example from an environment variable: ${VAR}",
                    );
                }
                v.into_secret()
            }
            (None, Some(f)) => {
                let full = self.resolve(&f);
                match std::fs::read_to_string(&full) {
                    Ok(s) => {
                        let v = s.trim_end_matches(['\r', '\n']).to_string();
                        if v.is_empty() {
                            self.fail(
                                format!("{path}.{key}_file"),
                                format!("{} is empty; put the secret in it", full.display()),
                            );
                        }
                        SecretString::from(v)
                    }
                    Err(e) => {
                        self.fail(
                            format!("{path}.{key}_file"),
                            format!(
                                "cannot read {}: {e}; check the path and its permissions",
                                full.display()
                            ),
                        );
                        SecretString::from(String::new())
                    }
                }
            }
            (Some(_), Some(_)) => {
                self.fail(path, format!("both {key} and {key}_file are set; keep one"));
                SecretString::from(String::new())
            }
            (None, None) => {
                self.fail(
                    path,
                    format!("missing {key}; set {key} (e.g. ${{VAR}}) or {key}_file"),
                );
                SecretString::from(String::new())
            }
        }
    }

    fn endpoint(&mut self, path: &str, raw: Option<String>, default: String) -> String {
        let Some(url) = raw else { return default };
        let trimmed = url.trim_end_matches('/').to_string();
        match reqwest::Url::parse(&trimmed) {
            Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => {
                if u.query().is_some() || u.fragment().is_some() {
                    self.fail(path, format!("{url:?} has a query or fragment; give a base URL like https://dcs.ap-southeast-1.myhuaweicloud.com"));
                }
                trimmed
            }
            _ => {
                self.fail(path, format!("{url:?} is not an http(s) URL; give a base URL like https://dcs.ap-southeast-1.myhuaweicloud.com"));
                default
            }
        }
    }

    fn validate(mut self, raw: RawConfig) -> Result<Config, ConfigError> {
        let timeout = self.duration("timeout", raw.timeout.as_deref(), Duration::from_secs(10));
        if timeout.is_zero() {
            self.fail("timeout", "must be more than 0s; the default is 10s");
        }
        let max_concurrency = raw.max_concurrency.unwrap_or(16);
        if !(1..=1024).contains(&max_concurrency) {
            self.fail(
                "max_concurrency",
                format!("is {max_concurrency}; it must be between 1 and 1024 (default 16)"),
            );
        }
        if raw.clouds.is_empty() {
            self.fail("clouds", "is empty; configure at least one cloud");
        }
        let name_re = Regex::new(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$").expect("static regex");
        let mut names = HashSet::new();
        let mut clouds = Vec::new();
        for (i, c) in raw.clouds.into_iter().enumerate() {
            let p = format!("clouds[{i}]");
            if !name_re.is_match(&c.name) {
                self.fail(format!("{p}.name"), format!("{:?} is not a valid cloud name; use letters, digits, `_`, `.` and `-` (at most 64)", c.name));
            } else if !names.insert(c.name.clone()) {
                self.fail(
                    format!("{p}.name"),
                    format!(
                        "{:?} is used by an earlier cloud; names must be unique",
                        c.name
                    ),
                );
            }
            if c.region.is_empty()
                || !c
                    .region
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
            {
                self.fail(
                    format!("{p}.region"),
                    format!(
                        "{:?} is not a region id; write it like ap-southeast-1",
                        c.region
                    ),
                );
            }
            if c.project_id.is_empty()
                || c.project_id.len() > 64
                || !c.project_id.chars().all(|ch| ch.is_ascii_alphanumeric())
            {
                self.fail(format!("{p}.project_id"), format!("{:?} is not a project id; copy the 32-character id from My Credentials > Projects", c.project_id));
            }
            let auth = self.auth(&format!("{p}.auth"), c.auth.0);
            let defaults = Endpoints::for_region(&c.region);
            let endpoints = Endpoints {
                iam: self.endpoint(&format!("{p}.endpoints.iam"), c.endpoints.iam, defaults.iam),
                dcs: self.endpoint(&format!("{p}.endpoints.dcs"), c.endpoints.dcs, defaults.dcs),
                ddm: self.endpoint(&format!("{p}.endpoints.ddm"), c.endpoints.ddm, defaults.ddm),
                koophone: self.endpoint(
                    &format!("{p}.endpoints.koophone"),
                    c.endpoints.koophone,
                    defaults.koophone,
                ),
            };
            let dcs = c.dcs.filter(|d| d.enabled).map(|d| DcsConfig {
                include_failure: d.include_failure,
                instances: d.instances,
                max_series: self.max_series(
                    &format!("{p}.dcs.max_series"),
                    d.max_series,
                    DEFAULT_DCS_MAX_SERIES,
                ),
            });
            let koophone = c
                .koophone
                .map(|k| self.koophone(&format!("{p}.koophone"), k));
            if koophone.is_some() {
                if let Some(AuthConfig::Aksk { .. }) = &auth {
                    self.fail(format!("{p}.koophone"), "KooPhone accepts only IAM tokens; give this cloud `password` or `token` auth, or move the phones to a cloud that has it");
                }
            }
            let ddm = c.ddm.map(|d| self.ddm(&format!("{p}.ddm"), d));
            if dcs.is_none() && koophone.is_none() && ddm.is_none() {
                self.fail(
                    &p,
                    "collects nothing; add a `dcs: {}`, `koophone:` or `ddm:` section",
                );
            }
            if let Some(auth) = auth {
                clouds.push(CloudConfig {
                    name: c.name,
                    region: c.region,
                    project_id: c.project_id,
                    auth,
                    endpoints,
                    dcs,
                    koophone,
                    ddm,
                });
            }
        }
        let probes = self.probes(raw.probes, &clouds, timeout);
        let shard = match raw.shard {
            None => Shard::default(),
            Some(s) => {
                if s.total == 0 || s.index >= s.total {
                    self.fail("shard", format!("index {} of total {} is impossible; index counts from 0 and must be below total", s.index, s.total));
                }
                Shard {
                    index: s.index,
                    total: s.total.max(1),
                }
            }
        };
        if let Some(first) = self.errors.into_iter().next() {
            return Err(first);
        }
        Ok(Config {
            clouds,
            timeout,
            max_concurrency,
            probes,
            shard,
        })
    }

    fn auth(&mut self, p: &str, a: RawAuth) -> Option<AuthConfig> {
        let count = a.password.is_some() as u8 + a.token.is_some() as u8 + a.aksk.is_some() as u8;
        if count != 1 {
            self.fail(
                p,
                format!("has {count} methods; give exactly one of `password`, `token` or `aksk`"),
            );
            return None;
        }
        if let Some(Section(pw)) = a.password {
            let pp = format!("{p}.password");
            if pw.domain.is_empty() {
                self.fail(
                    format!("{pp}.domain"),
                    "is empty; it is the account (domain) name",
                );
            }
            if pw.user.is_empty() {
                self.fail(format!("{pp}.user"), "is empty; it is the IAM user name");
            }
            let password = self.secret(&pp, "password", pw.password, pw.password_file);
            return Some(AuthConfig::Password {
                domain: pw.domain,
                user: pw.user,
                password,
            });
        }
        if let Some(Section(t)) = a.token {
            let value = self.secret(&format!("{p}.token"), "value", t.value, t.value_file);
            return Some(AuthConfig::Token { value });
        }
        let Section(k) = a.aksk?;
        let pp = format!("{p}.aksk");
        let access_key = k.access_key.into_secret().expose_secret().to_string();
        if access_key.is_empty() {
            self.fail(
                format!("{pp}.access_key"),
                "is empty; set it, e.g. ${HWC_AK}",
            );
        }
        let secret_key = self.secret(&pp, "secret_key", k.secret_key, k.secret_key_file);
        Some(AuthConfig::Aksk {
            access_key,
            secret_key,
        })
    }

    fn ids(&mut self, p: &str, ids: &[String]) {
        for (j, id) in ids.iter().enumerate() {
            if let Err(e) = check_instance_id(id) {
                self.fail(format!("{p}[{j}]"), e);
            }
        }
    }

    fn koophone(&mut self, p: &str, k: RawKoophone) -> KoophoneConfig {
        self.ids(&format!("{p}.instance_ids"), &k.instance_ids);
        let file = k.instance_ids_file.map(|f| self.resolve(&f));
        if let Some(f) = &file {
            if let Err(e) = read_id_file(f) {
                self.fail(
                    format!("{p}.instance_ids_file"),
                    format!("{e}; fix the file (one id per line, # for comments)"),
                );
            }
        }
        let listed = !k.instance_ids.is_empty() || file.is_some();
        if listed && k.discovery.is_some() {
            self.fail(
                format!("{p}.discovery"),
                "is set, but phones are listed (instance_ids or instance_ids_file), so nothing is discovered; remove one of them",
            );
        }
        let discovery = if listed {
            None
        } else {
            Some(
                self.koophone_discovery(&format!("{p}.discovery"), k.discovery.unwrap_or_default()),
            )
        };
        let label_re = Regex::new(r"^[a-z_][a-z0-9_]*$").expect("static regex");
        for (code, name) in &k.status_names {
            if !label_re.is_match(name) {
                self.fail(format!("{p}.status_names.{code}"), format!("{name:?} is not a usable label value; use lower_snake_case like backup_exception"));
            }
        }
        let max_series = self.max_series(
            &format!("{p}.max_series"),
            k.max_series,
            DEFAULT_KOOPHONE_MAX_SERIES,
        );
        KoophoneConfig {
            discovery,
            max_series,
            instance_ids: dedup(k.instance_ids),
            instance_ids_file: file,
            status_names: Arc::new(StatusNames::default().with_overrides(&k.status_names)),
        }
    }

    /// `{p}.refresh_interval`: a duration of at least 1s, 5m when absent.
    fn refresh_interval(&mut self, p: &str, raw: Option<&str>) -> Duration {
        let default = crate::inventory::DEFAULT_REFRESH_INTERVAL;
        let field = format!("{p}.refresh_interval");
        let refresh_interval = self.duration(&field, raw, default);
        if refresh_interval < crate::inventory::MIN_REFRESH_INTERVAL {
            self.fail(
                field,
                "must be at least 1s (5m is a sensible production value)",
            );
            return default;
        }
        refresh_interval
    }

    /// `{p}.name_regex`, built (bounded in size) when given.
    fn name_regex(&mut self, p: &str, raw: Option<&str>) -> Option<Regex> {
        match regex::RegexBuilder::new(raw?).size_limit(1 << 20).build() {
            Ok(r) => Some(r),
            Err(e) => {
                let first = e.to_string().lines().last().unwrap_or_default().to_string();
                self.fail(
                    format!("{p}.name_regex"),
                    format!("is not a valid regular expression ({first})"),
                );
                None
            }
        }
    }

    fn koophone_discovery(&mut self, p: &str, d: RawKoophoneDiscovery) -> KoophoneDiscovery {
        let refresh_interval = self.refresh_interval(p, d.refresh_interval.as_deref());
        self.name_regex(p, d.name_regex.as_deref());
        let text = |this: &mut Self, field: &str, v: Option<String>| {
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
        let pool_scene_tag = text(self, "pool_scene_tag", d.pool_scene_tag);
        let pool_name = text(self, "pool_name", d.pool_name);
        KoophoneDiscovery {
            refresh_interval,
            name_regex: d.name_regex,
            pool_scene_tag,
            pool_name,
        }
    }

    fn max_series(&mut self, p: &str, value: Option<usize>, default: usize) -> usize {
        let v = value.unwrap_or(default);
        if !(1..=MAX_SERIES_LIMIT).contains(&v) {
            self.fail(
                p,
                format!("is {v}; it must be between 1 and {MAX_SERIES_LIMIT} (default {default})"),
            );
            return default;
        }
        v
    }

    fn ddm(&mut self, p: &str, d: RawDdm) -> DdmConfig {
        let discovery = if d.instance_ids.is_empty() {
            let raw = d.discovery.unwrap_or(RawDdmDiscovery {
                refresh_interval: None,
                name_regex: None,
            });
            Some(self.ddm_discovery(&format!("{p}.discovery"), raw))
        } else {
            if d.discovery.is_some() {
                self.fail(
                    format!("{p}.discovery"),
                    "is set, but instances are listed (instance_ids), so nothing is discovered; remove one of them",
                );
            }
            None
        };
        for (j, id) in d.instance_ids.iter().enumerate() {
            if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                self.fail(format!("{p}.instance_ids[{j}]"), format!("{id:?} is not a DDM instance id; copy it from the console (like 1f5c9fd6cd984056ba89c8c87cc03278in09)"));
            }
        }
        let cache_ttl = self.duration(
            &format!("{p}.cache_ttl"),
            d.cache_ttl.as_deref(),
            Duration::from_secs(300),
        );
        let max_series = self.max_series(
            &format!("{p}.max_series"),
            d.max_series,
            DEFAULT_DDM_MAX_SERIES,
        );
        DdmConfig {
            max_series,
            discovery,
            instance_ids: dedup(d.instance_ids),
            cache_ttl,
        }
    }

    fn ddm_discovery(&mut self, p: &str, d: RawDdmDiscovery) -> DdmDiscoveryConfig {
        let refresh_interval = self.refresh_interval(p, d.refresh_interval.as_deref());
        let name_regex = self.name_regex(p, d.name_regex.as_deref());
        DdmDiscoveryConfig {
            refresh_interval,
            name_regex,
        }
    }

    fn groups(
        &mut self,
        p: &str,
        groups: BTreeMap<String, Vec<String>>,
    ) -> BTreeMap<String, Vec<String>> {
        for (name, ids) in &groups {
            if ids.is_empty() {
                self.fail(
                    format!("{p}.{name}"),
                    "is empty; list the phone ids of the group",
                );
            }
            self.ids(&format!("{p}.{name}"), ids);
        }
        groups.into_iter().map(|(k, v)| (k, dedup(v))).collect()
    }

    fn probes(
        &mut self,
        probes: BTreeMap<String, RawProbe>,
        clouds: &[CloudConfig],
        default_timeout: Duration,
    ) -> BTreeMap<String, ProbeModule> {
        let mut out = BTreeMap::new();
        for (name, m) in probes {
            let p = format!("probes.{name}");
            match clouds.iter().find(|c| c.name == m.cloud) {
                None => self.fail(
                    format!("{p}.cloud"),
                    format!(
                        "{:?} is not a configured cloud; use one of the names under clouds:",
                        m.cloud
                    ),
                ),
                Some(c) if c.koophone.is_none() => self.fail(
                    format!("{p}.cloud"),
                    format!(
                        "cloud {:?} has no koophone section; probes run on its configured phones",
                        m.cloud
                    ),
                ),
                Some(_) => {}
            }
            if let Err(e) = check_command(&m.command) {
                self.fail(format!("{p}.command"), e);
            }
            let expect = match m.expect.as_deref().map(Regex::new) {
                None => None,
                Some(Ok(r)) => Some(r),
                Some(Err(e)) => {
                    self.fail(
                        format!("{p}.expect"),
                        format!("is not a valid regular expression: {e}"),
                    );
                    None
                }
            };
            let timeout = self.duration(
                &format!("{p}.timeout"),
                m.timeout.as_deref(),
                default_timeout.max(Duration::from_secs(60)),
            );
            let poll_interval = self.duration(
                &format!("{p}.poll_interval"),
                m.poll_interval.as_deref(),
                Duration::from_secs(1),
            );
            let min_interval = self.duration(
                &format!("{p}.min_interval"),
                m.min_interval.as_deref(),
                Duration::from_secs(60),
            );
            let groups = self.groups(&format!("{p}.groups"), m.groups);
            if poll_interval.is_zero() {
                self.fail(
                    format!("{p}.poll_interval"),
                    "must be more than 0s; the default is 1s",
                );
            }
            if timeout.is_zero() {
                self.fail(
                    format!("{p}.timeout"),
                    "must be more than 0s; the default is 60s",
                );
            }
            let max_commands_per_minute = m
                .max_commands_per_minute
                .unwrap_or(DEFAULT_MAX_COMMANDS_PER_MINUTE);
            if max_commands_per_minute == 0 {
                self.fail(
                    format!("{p}.max_commands_per_minute"),
                    format!("must be at least 1; the default is {DEFAULT_MAX_COMMANDS_PER_MINUTE}"),
                );
            }
            // A group probe sends one call per 100 phones; a group the budget can never pay for
            // would answer 429 forever.
            for (group, ids) in &groups {
                let calls = ids
                    .len()
                    .div_ceil(crate::services::koophone::api::MAX_IDS_PER_CALL);
                if max_commands_per_minute > 0 && calls > max_commands_per_minute as usize {
                    self.fail(
                        format!("{p}.max_commands_per_minute"),
                        format!(
                            "is {max_commands_per_minute}, but group {group:?} has {} phones, {calls} calls per probe; raise it to at least {calls}",
                            ids.len()
                        ),
                    );
                }
            }
            out.insert(
                name,
                ProbeModule {
                    cloud: m.cloud,
                    command: m.command,
                    expect,
                    timeout,
                    poll_interval,
                    groups,
                    min_interval,
                    max_commands_per_minute,
                },
            );
        }
        out
    }
}

/// The phone list of one cloud: the config's ids plus the file's, re-read when the file changes.
#[derive(Debug)]
pub struct PhoneList {
    static_ids: Vec<String>,
    file: Option<PathBuf>,
    shard: Shard,
    state: std::sync::Mutex<PhoneListState>,
}

#[derive(Debug)]
struct PhoneListState {
    /// Modification time and length of the file when it was last read.
    stamp: Option<(SystemTime, u64)>,
    /// The current merged, deduplicated, sharded list.
    ids: Arc<Vec<String>>,
    /// How many ids were listed (merged and deduplicated) before sharding.
    listed: usize,
}

impl PhoneList {
    /// Builds the list; reads the file now (an unreadable file is an error at start).
    pub fn new(cfg: &KoophoneConfig, shard: Shard) -> Result<PhoneList, String> {
        let list = PhoneList {
            static_ids: cfg.instance_ids.clone(),
            file: cfg.instance_ids_file.clone(),
            shard,
            state: std::sync::Mutex::new(PhoneListState {
                stamp: None,
                ids: Arc::new(Vec::new()),
                listed: 0,
            }),
        };
        list.refresh()?;
        Ok(list)
    }

    /// The current ids; re-reads the file first if it changed. A bad re-read keeps the old list
    /// and logs why.
    pub fn current(&self) -> Arc<Vec<String>> {
        if let Err(e) = self.refresh() {
            tracing::warn!(error = %e, "instance_ids_file could not be re-read; keeping the previous phone list");
        }
        match self.state.lock() {
            Ok(s) => s.ids.clone(),
            Err(p) => p.into_inner().ids.clone(),
        }
    }

    /// Phones listed (config and file, deduplicated) and, of those, this replica's shard, as
    /// last read (no re-read).
    pub fn sizes(&self) -> (usize, usize) {
        let s = match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        (s.listed, s.ids.len())
    }

    fn refresh(&self) -> Result<(), String> {
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let from_file = match &self.file {
            None => {
                if state.stamp.is_none() && state.ids.is_empty() {
                    state.listed = self.static_ids.len();
                    state.ids = Arc::new(self.shard_filter(self.static_ids.clone()));
                    state.stamp = Some((SystemTime::UNIX_EPOCH, 0));
                }
                return Ok(());
            }
            Some(f) => {
                let meta = std::fs::metadata(f)
                    .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
                let stamp = (
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    meta.len(),
                );
                if state.stamp == Some(stamp) {
                    return Ok(());
                }
                let ids = read_id_file(f)?;
                state.stamp = Some(stamp);
                ids
            }
        };
        let mut all = self.static_ids.clone();
        all.extend(from_file);
        let n = all.len();
        let all = dedup(all);
        state.listed = all.len();
        state.ids = Arc::new(self.shard_filter(all));
        tracing::info!(phones = state.ids.len(), listed = n, "phone list loaded");
        Ok(())
    }

    fn shard_filter(&self, ids: Vec<String>) -> Vec<String> {
        if self.shard.total <= 1 {
            return ids;
        }
        ids.into_iter()
            .filter(|id| shard_of(id, self.shard.total) == self.shard.index)
            .collect()
    }
}

/// Stable shard of an instance id: FNV-1a 64 of its bytes, modulo `total`. Stable across
/// versions and platforms, so replicas agree without talking to each other.
pub fn shard_of(id: &str, total: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(total.max(1))) as u32
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// Command-line settings that outrank the file. They are part of where the config comes from
/// ([`Source`]), so every load applies them: at start, on SIGHUP and on `POST /-/reload` alike.
/// A new flag that overrides a config setting belongs here and nowhere else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--shard.index` / `--shard.total`: replaces the file's `shard:`.
    pub shard: Option<Shard>,
}

impl Overrides {
    /// The overrides of the `--shard.index` / `--shard.total` flags, checked as the file's
    /// `shard:` is.
    pub fn from_shard_flags(index: Option<u32>, total: Option<u32>) -> Result<Overrides, String> {
        let shard = match (index, total) {
            (None, None) => None,
            (Some(index), Some(total)) if total > 0 && index < total => {
                Some(Shard { index, total })
            }
            (Some(index), Some(total)) => {
                return Err(format!("--shard.index {index} --shard.total {total}: index counts from 0 and must be below total"))
            }
            _ => return Err("--shard.index and --shard.total go together; give both".into()),
        };
        Ok(Overrides { shard })
    }

    /// Applies the overrides to a freshly loaded config.
    pub fn apply(&self, config: &mut Config) {
        if let Some(shard) = self.shard {
            config.shard = shard;
        }
    }
}

/// Where the config comes from: the file and the command-line overrides on top of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The config file (`--config.file`).
    pub path: PathBuf,
    /// The flags that outrank it.
    pub overrides: Overrides,
}

impl Source {
    /// The file alone, no overrides.
    pub fn file(path: PathBuf) -> Source {
        Source {
            path,
            overrides: Overrides::default(),
        }
    }

    /// Reads the file, then applies the overrides.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut config = load_file(&self.path)?;
        self.overrides.apply(&mut config);
        Ok(config)
    }
}
