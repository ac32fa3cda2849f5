//! The file's own schema as written in YAML (the services' sections are taken out before it
//! is decoded: see `sections`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

use super::secret::{Mapping, SecretText};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    /// `clouds`: every cloud to collect from.
    pub clouds: Vec<RawCloud>,
    /// `timeout`: the scrape deadline, a duration (default 10s).
    pub timeout: Option<String>,
    /// `max_concurrency`: in-flight upstream calls per cloud (default 16).
    pub max_concurrency: Option<usize>,
    /// `shard`: which share of the phones this replica keeps.
    pub shard: Option<RawShard>,
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

/// One `clouds[]` entry as written, its services' sections taken out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCloud {
    /// The `cloud` label value.
    pub name: String,
    /// Region id.
    pub region: String,
    /// Project id.
    pub project_id: String,
    /// How its requests authenticate.
    pub auth: Mapping<RawAuth>,
    /// By `iam` or service key; checked against the registry in [`take_sections`].
    #[serde(default)]
    pub endpoints: BTreeMap<String, Option<String>>,
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
