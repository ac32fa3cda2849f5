//! The validated configuration's types: the file's own settings, each cloud with its auth and
//! endpoints, the shard, and the services' sections kept as opaque [`Section`]s.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

/// A config error (or warning): always carries the file, the field path and what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: {path}{sep}{message}", sep = if path.is_empty() { "" } else { ": " })]
pub struct ConfigError {
    /// The file the error is in, as given on the command line.
    pub file: String,
    /// Dotted field path, e.g. `clouds[0].koophone.instance_ids[3]`; empty for whole-file errors.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Every error a config file has, in the order they were found (at least one).
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl ConfigErrors {
    /// The first error (there is always one).
    pub fn first(&self) -> Option<&ConfigError> {
        self.0.first()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
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
    /// Sharding of phones across replicas.
    pub shard: Shard,
    /// The services' top-level sections (KooPhone's `probes`), by service.
    pub sections: Sections,
    /// What the file sets that works but is probably not meant or not safe (an unexpanded-
    /// looking `$NAME`, plain HTTP allowed, TLS verification skipped): printed by
    /// `--config.check` and logged once at start.
    pub warnings: Vec<ConfigError>,
}

impl Config {
    /// Logs each of [`warnings`](Config::warnings) as one warning line (at start and after a
    /// reload: the settings they name are in force from then on).
    pub fn log_warnings(&self) {
        for w in &self.warnings {
            tracing::warn!(file = %w.file, field = %w.path, "{}", w.message);
        }
    }
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
    /// Base URLs of IAM and of each service.
    pub endpoints: Endpoints,
    /// How the certificates of those endpoints are verified.
    pub tls: UpstreamTls,
    /// Each configured service's validated section, by service: what this cloud collects.
    pub sections: Sections,
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

/// Base URLs of IAM and of each service, resolved from the region unless overridden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// IAM, where tokens come from.
    pub iam: String,
    /// Each service's base URL, by service key.
    pub services: BTreeMap<&'static str, String>,
}

impl Endpoints {
    /// The base URL of `service` (empty for a service with no endpoint).
    pub fn get(&self, service: &str) -> &str {
        self.services.get(service).map(String::as_str).unwrap_or("")
    }
}

/// The documented IAM endpoint of a region, on the region's site.
pub fn iam_endpoint(region: &str) -> String {
    super::site::on_site(region, format!("https://iam.{region}.myhuaweicloud.com"))
}

/// How the certificates of a cloud's endpoints are verified (the cloud's `tls:`, else the
/// file's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTls {
    /// DER of each CA certificate of `ca_file`, trusted besides the public roots (read at
    /// load, so a reload re-reads the file).
    pub extra_roots: Vec<Vec<u8>>,
    /// Accept any certificate: for a test bench only (warned about at start).
    pub insecure_skip_verify: bool,
}

/// Largest series cap accepted for any collector.
pub const MAX_SERIES_LIMIT: usize = 10_000_000;

/// One service's validated section, kept by the config without knowing its type; the service
/// reads it back with [`Sections::get`].
pub trait Section: Any + fmt::Debug + Send + Sync {
    /// Itself, for the downcast in [`Sections::get`].
    fn as_any(&self) -> &dyn Any;
    /// Whether `other` is the same section with the same settings (a reload keeps what did
    /// not change).
    fn same(&self, other: &dyn Section) -> bool;
}

impl<T: Any + fmt::Debug + PartialEq + Send + Sync> Section for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn same(&self, other: &dyn Section) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
}

/// The services' sections of one cloud (or of the file's top level), by service key, in the
/// order of the registry.
#[derive(Debug, Clone, Default)]
pub struct Sections(Vec<(&'static str, Arc<dyn Section>)>);

impl Sections {
    /// Adds `service`'s section.
    pub fn insert(&mut self, service: &'static str, section: Arc<dyn Section>) {
        self.0.retain(|(k, _)| *k != service);
        self.0.push((service, section));
    }

    /// `service`'s section, when it is configured (and is a `T`).
    pub fn get<T: Section>(&self, service: &str) -> Option<&T> {
        self.raw(service).and_then(|s| s.as_any().downcast_ref())
    }

    /// `service`'s section, whatever its type.
    pub fn raw(&self, service: &str) -> Option<&dyn Section> {
        self.0
            .iter()
            .find(|(k, _)| *k == service)
            .map(|(_, s)| s.as_ref())
    }

    /// Whether no service is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Same services, each with the same settings.
impl PartialEq for Sections {
    fn eq(&self, other: &Sections) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .all(|(k, s)| other.raw(k).is_some_and(|o| s.same(o)))
    }
}

/// Parses a Prometheus-style duration (`10s`, `5m`, `1h30m`, `500ms`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration ({e}); write it like 10s, 5m or 1h30m"))
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

impl Shard {
    /// Whether this replica keeps resource `id` (the shard rule for per-resource services).
    pub fn keeps(&self, id: &str) -> bool {
        self.total <= 1 || shard_of(id, self.total) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}
