//! The file's own schema as written in YAML (the services' sections are taken out before it
//! is decoded: see `sections`).

use serde::Deserialize;
use serde_yaml::Value;

use super::secret::{Mapping, SecretText};

/// The file's top level as written. Each field is decoded on its own (in `load`), so that a
/// mistake in one hides none of the others.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    /// `clouds`: every cloud to collect from, each decoded on its own.
    pub clouds: Vec<Value>,
    /// `timeout`: the scrape deadline, a duration (default 10s).
    pub timeout: Option<Value>,
    /// `max_concurrency`: in-flight upstream calls per cloud (default 16).
    pub max_concurrency: Option<Value>,
    /// `shard`: which share of the phones this replica keeps.
    pub shard: Option<Value>,
    /// `tls`: how upstream TLS is verified, for every cloud that has no `tls:` of its own.
    pub tls: Option<Value>,
}

/// `shard` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShard {
    /// 0-based index of this replica.
    pub index: u32,
    /// Number of replicas.
    pub total: u32,
}

/// One `clouds[]` entry as written, its services' sections taken out. Every field is decoded
/// on its own, and a missing one is reported by name, so one cloud's mistakes are all found.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCloud {
    /// The `cloud` label value.
    pub name: Option<Value>,
    /// Region id.
    pub region: Option<Value>,
    /// Project id.
    pub project_id: Option<Value>,
    /// How its requests authenticate (a [`Mapping<RawAuth>`]).
    pub auth: Option<Value>,
    /// By `iam` or service key; checked against the registry in `take_sections`.
    pub endpoints: Option<Value>,
    /// Whether a plain `http://` endpoint on a host other than loopback is accepted.
    pub allow_insecure_endpoints: Option<Value>,
    /// How upstream TLS is verified for this cloud (a [`RawTls`]).
    pub tls: Option<Value>,
}

/// `tls` (top level or a cloud's) as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    /// PEM file of CA certificates trusted besides the public roots.
    pub ca_file: Option<String>,
    /// Accept any certificate (loudly warned about).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// `auth` as written: exactly one method is to be set.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    /// The IAM password flow.
    pub password: Option<Mapping<RawPassword>>,
    /// A fixed IAM token.
    pub token: Option<Mapping<RawToken>>,
    /// AK/SK signing.
    pub aksk: Option<Mapping<RawAksk>>,
}

/// `auth.password` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPassword {
    /// Account (domain) name.
    pub domain: String,
    /// IAM user name.
    pub user: String,
    /// The password itself, or
    pub password: Option<SecretText>,
    /// a file holding it.
    pub password_file: Option<String>,
}

/// `auth.token` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToken {
    /// The token itself, or
    pub value: Option<SecretText>,
    /// a file holding it.
    pub value_file: Option<String>,
}

/// `auth.aksk` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAksk {
    /// Not a secret (it travels in the `Authorization` header), but never echoed either.
    pub access_key: SecretText,
    /// The secret access key itself, or
    pub secret_key: Option<SecretText>,
    /// a file holding it.
    pub secret_key_file: Option<String>,
}

/// Services' sections taken out of a mapping: service key and value.
pub(super) type Claimed = Vec<(&'static str, Value)>;
