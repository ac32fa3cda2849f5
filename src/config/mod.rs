//! The config file: its top-level schema (clouds, their auth and endpoints, timeout,
//! concurrency, shard), `${VAR}` expansion, `*_file` secrets, and the error format.
//!
//! Each service's section (`clouds[].dcs`, `clouds[].koophone`, `probes`…) is decoded and
//! validated by the service itself, through the [`Schema`] it gives the loader; this module
//! stores the result as an opaque [`Section`] in the cloud's [`Sections`], and knows no service.
//!
//! Loading is strict: unknown keys are errors, and every error names the file, the field path and
//! the fix; the loader reports every error it finds ([`ConfigErrors`]). Secrets are read as
//! [`SecretText`], whose decoding accepts text only and refuses every other YAML type without
//! echoing it; the sections that hold secrets refuse anything but a mapping the same way
//! ([`Mapping`]). Nothing is redacted afterwards: no message ever held a secret to begin with.

mod env;
mod raw;
mod secret;
mod validate;

pub use secret::{Mapping, SecretText};
pub use validate::{dedup, Validator, DEFAULT_REFRESH_INTERVAL, MIN_REFRESH_INTERVAL};

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_yaml::Value;

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

/// The documented IAM endpoint of a region.
pub fn iam_endpoint(region: &str) -> String {
    format!("https://iam.{region}.myhuaweicloud.com")
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

/// What a service is, as constants: what the loader, the registry and the landing page need.
#[derive(Debug)]
pub struct Identity {
    /// Its key: its section under a cloud (`clouds[].dcs`), its endpoint key, its `service`
    /// label.
    pub key: &'static str,
    /// Its name as people write it (`KooPhone`).
    pub title: &'static str,
    /// How a cloud enables it, for the "collects nothing" hint (`` `dcs: {}` ``).
    pub example: &'static str,
    /// Its documented public endpoint in a region.
    pub endpoint: fn(region: &str) -> String,
    /// The top-level key it owns, if any (KooPhone's `probes`).
    pub top_key: Option<&'static str>,
    /// Whether it collects account-wide state, which only shard 0 collects (the shard rule);
    /// otherwise its resources are split across the shards.
    pub account_wide: bool,
}

impl Identity {
    /// An account-wide service (collected by shard 0 alone) with no top-level section.
    pub const fn new(
        key: &'static str,
        title: &'static str,
        example: &'static str,
        endpoint: fn(&str) -> String,
    ) -> Identity {
        Identity {
            key,
            title,
            example,
            endpoint,
            top_key: None,
            account_wide: true,
        }
    }

    /// The same service, its resources split across the shards instead.
    pub const fn per_resource(self) -> Identity {
        Identity {
            account_wide: false,
            ..self
        }
    }

    /// The same service, owning the top-level section `key`.
    pub const fn owning(self, key: &'static str) -> Identity {
        Identity {
            top_key: Some(key),
            ..self
        }
    }
}

/// One service section to decode: its YAML, where it is, and what its checks may need.
pub struct SectionInput<'i, 'v> {
    /// The section as written (after `${VAR}` expansion).
    pub value: Value,
    /// Its path (`clouds[0].dcs`, `probes`).
    pub at: &'i str,
    /// The cloud's auth, when the section is a cloud's and the auth is valid.
    pub auth: Option<&'i AuthConfig>,
    /// Every cloud, when the section is a top-level one (decoded after the clouds).
    pub clouds: &'i [CloudConfig],
    /// The file's scrape timeout.
    pub timeout: Duration,
    /// Where errors go.
    pub v: &'i mut Validator<'v>,
}

impl SectionInput<'_, '_> {
    /// Decodes the section with the service's `decode` (its schema and checks), boxed for
    /// [`Sections`].
    pub fn decode<T: Section>(
        self,
        decode: fn(Value, &str, &mut Validator<'_>) -> Option<T>,
    ) -> Option<Arc<dyn Section>> {
        decode(self.value, self.at, self.v).map(section)
    }
}

/// Boxes a validated section for [`Sections`].
pub fn section<T: Section>(t: T) -> Arc<dyn Section> {
    Arc::new(t)
}

/// What a service gives the loader: who it is, and how to decode and validate its sections.
/// Implemented by each service; the loader iterates the registry's list.
pub trait Schema: Sync {
    /// Who it is.
    fn identity(&self) -> &'static Identity;

    /// Decodes and validates its section of one cloud; `None` when the section turns the
    /// service off or is invalid (the error is in `input.v`).
    fn cloud_section(&self, input: SectionInput<'_, '_>) -> Option<Arc<dyn Section>>;

    /// Decodes and validates its top-level section ([`Identity::top_key`]), once every cloud
    /// is known.
    fn top_section(&self, _input: SectionInput<'_, '_>) -> Option<Arc<dyn Section>> {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Loading.

/// Reads, expands, decodes and validates `path`; `schemas` are the services' (the registry's).
pub fn load_file(path: &Path, schemas: &[&dyn Schema]) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        path: String::new(),
        message: format!(
            "cannot read the config file: {e}; pass the right path with --config.file"
        ),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load_str(
        &text,
        &file,
        &base,
        &|name| std::env::var(name).ok(),
        schemas,
    )
}

/// Decodes config text. `file` names it in errors; relative `*_file` paths resolve against `base`;
/// `env` looks up `${VAR}` references; `schemas` decode the services' sections.
pub fn load_str(
    text: &str,
    file: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    schemas: &[&dyn Schema],
) -> Result<Config, ConfigErrors> {
    let err = |path: String, message: String| ConfigError {
        file: file.to_string(),
        path,
        message,
    };
    let protected = env::protect_env_refs(text);
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
        )
        .into());
    }
    env::expand_env(&mut value, &mut String::new(), env, false)
        .map_err(|(path, message)| err(path, message))?;
    let mut v = Validator::new(file, base);
    let (top, clouds) = raw::take_sections(&mut value, schemas, &mut v);
    if v.error_count() > 0 {
        // An unknown key stops decoding, as serde's own check would.
        return v.finish();
    }
    // Secrets are refused by their own types when they are not text, so no message below ever
    // holds one: nothing is blanked out afterwards.
    let Some(raw) = v.decode::<raw::RawConfig>("", value) else {
        return v.finish();
    };
    v.validate(raw, clouds, top, schemas)
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

    /// Reads the file (its services' sections decoded by `schemas`), then applies the
    /// overrides.
    pub fn load(&self, schemas: &[&dyn Schema]) -> Result<Config, ConfigErrors> {
        let mut config = load_file(&self.path, schemas)?;
        self.overrides.apply(&mut config);
        Ok(config)
    }
}
