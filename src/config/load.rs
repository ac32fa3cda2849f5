//! The check of the file's own schema — clouds, their names, regions, projects, auth and
//! endpoints, the shard — and of each service's sections through its [`Schema`], every error
//! recorded by the [`Validator`].

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use regex::Regex;
use secrecy::ExposeSecret;

use serde_yaml::Value;

use super::model::{
    iam_endpoint, AuthConfig, CloudConfig, Config, ConfigErrors, Endpoints, Sections, Shard,
    UpstreamTls,
};
use super::raw::{Claimed, RawAuth, RawCloud, RawConfig, RawShard, RawTls};
use super::schema::{Schema, SectionInput};
use super::secret::Mapping;
use super::site::on_site;
use super::validate::Validator;

/// `a`, `a or b`, `a, b or c`.
fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

impl Validator<'_> {
    /// Checks the decoded file and builds the config, or returns every error found.
    pub(super) fn validate(
        mut self,
        raw: RawConfig,
        mut cloud_sections: Vec<Claimed>,
        mut top_sections: Claimed,
        schemas: &[&dyn Schema],
    ) -> Result<Config, ConfigErrors> {
        let timeout_text: Option<String> = raw.timeout.and_then(|t| self.decode("timeout", t));
        let timeout = self.duration(
            "",
            "timeout",
            timeout_text.as_deref(),
            Duration::from_secs(10),
        );
        if timeout.is_zero() {
            self.fail("timeout", "must be more than 0s; the default is 10s");
        }
        let max_concurrency = raw
            .max_concurrency
            .and_then(|m| self.decode::<usize>("max_concurrency", m))
            .unwrap_or(16);
        if !(1..=1024).contains(&max_concurrency) {
            self.fail(
                "max_concurrency",
                format!("is {max_concurrency}; it must be between 1 and 1024 (default 16)"),
            );
        }
        let global_tls = match raw.tls {
            Some(t) => self
                .decode::<RawTls>("tls", t)
                .map(|t| self.upstream_tls("tls", t)),
            None => Some(UpstreamTls::default()),
        };
        if raw.clouds.is_empty() {
            self.fail("clouds", "is empty; configure at least one cloud");
        }
        let name_re = Regex::new(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$").expect("static regex");
        let mut names = HashSet::new();
        let mut clouds = Vec::new();
        for (i, value) in raw.clouds.into_iter().enumerate() {
            let p = format!("clouds[{i}]");
            let Some(c) = self.decode::<RawCloud>(&p, value) else {
                continue;
            };
            let name = self.required::<String>(&p, "name", c.name);
            let region = self.required::<String>(&p, "region", c.region);
            let project_id = self.required::<String>(&p, "project_id", c.project_id);
            let auth_value = self.required::<Value>(&p, "auth", c.auth);
            if let Some(name) = &name {
                if !name_re.is_match(name) {
                    self.fail(format!("{p}.name"), format!("{name:?} is not a valid cloud name; use letters, digits, `_`, `.` and `-` (at most 64)"));
                } else if !names.insert(name.clone()) {
                    self.fail(
                        format!("{p}.name"),
                        format!("{name:?} is used by an earlier cloud; names must be unique"),
                    );
                }
            }
            if let Some(region) = &region {
                if region.is_empty()
                    || !region
                        .chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
                {
                    self.fail(
                        format!("{p}.region"),
                        format!("{region:?} is not a region id; write it like ap-southeast-1"),
                    );
                }
            }
            if let Some(id) = &project_id {
                self.project_id(&format!("{p}.project_id"), id);
            }
            let region = region.unwrap_or_default();
            let auth = auth_value
                .and_then(|a| self.decode::<Mapping<RawAuth>>(&format!("{p}.auth"), a))
                .and_then(|Mapping(a)| self.auth(&format!("{p}.auth"), a));
            let allow_insecure = c
                .allow_insecure_endpoints
                .and_then(|a| self.decode::<bool>(&format!("{p}.allow_insecure_endpoints"), a))
                .unwrap_or(false);
            let tls = match c.tls {
                Some(t) => self
                    .decode::<RawTls>(&format!("{p}.tls"), t)
                    .map(|t| self.upstream_tls(&format!("{p}.tls"), t)),
                None => global_tls.clone(),
            };
            let overrides: BTreeMap<String, Option<String>> = c
                .endpoints
                .filter(|e| !e.is_null())
                .and_then(|e| self.decode(&format!("{p}.endpoints"), e))
                .unwrap_or_default();
            let iam = self.endpoint(
                &format!("{p}.endpoints.iam"),
                overrides.get("iam").cloned().flatten(),
                iam_endpoint(&region),
                allow_insecure,
            );
            let mut endpoints = Endpoints {
                iam,
                services: BTreeMap::new(),
            };
            for schema in schemas {
                let id = schema.identity();
                let key = id.key;
                let url = self.endpoint(
                    &format!("{p}.endpoints.{key}"),
                    overrides.get(key).cloned().flatten(),
                    on_site(&region, (id.endpoint)(&region)),
                    allow_insecure,
                );
                endpoints.services.insert(key, url);
            }
            let mut sections = Sections::default();
            let errors_before = self.errors.len();
            let mut mine = cloud_sections
                .get_mut(i)
                .map(std::mem::take)
                .unwrap_or_default();
            for schema in schemas {
                let key = schema.identity().key;
                let Some(at) = mine.iter().position(|(k, _)| *k == key) else {
                    continue;
                };
                let (_, value) = mine.swap_remove(at);
                let input = SectionInput {
                    value,
                    at: &format!("{p}.{key}"),
                    auth: auth.as_ref(),
                    clouds: &[],
                    timeout,
                    v: &mut self,
                };
                if let Some(s) = schema.cloud_section(input) {
                    sections.insert(key, s);
                }
            }
            if sections.is_empty() && self.errors.len() == errors_before {
                let examples: Vec<&str> = schemas.iter().map(|s| s.identity().example).collect();
                self.fail(
                    &p,
                    format!("collects nothing; add a {} section", or_list(&examples)),
                );
            }
            if let (Some(name), Some(project_id), Some(auth), Some(tls)) =
                (name, project_id, auth, tls)
            {
                clouds.push(CloudConfig {
                    name,
                    region,
                    project_id,
                    auth,
                    endpoints,
                    tls,
                    sections,
                });
            }
        }
        let mut sections = Sections::default();
        for schema in schemas {
            let id = schema.identity();
            let (Some(top), Some(i)) = (
                id.top_key,
                top_sections.iter().position(|(k, _)| *k == id.key),
            ) else {
                continue;
            };
            let (_, value) = top_sections.swap_remove(i);
            let input = SectionInput {
                value,
                at: top,
                auth: None,
                clouds: &clouds,
                timeout,
                v: &mut self,
            };
            if let Some(s) = schema.top_section(input) {
                sections.insert(id.key, s);
            }
        }
        let shard = match raw.shard.and_then(|s| self.decode::<RawShard>("shard", s)) {
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
        if !self.errors.is_empty() {
            return Err(ConfigErrors(self.errors));
        }
        Ok(Config {
            clouds,
            timeout,
            max_concurrency,
            shard,
            sections,
            warnings: self.warnings,
        })
    }

    /// The field `key` of the section at `p`, decoded as `T`; `None`, with an error, when it is
    /// missing or not a `T`.
    fn required<T: serde::de::DeserializeOwned>(
        &mut self,
        p: &str,
        key: &str,
        value: Option<Value>,
    ) -> Option<T> {
        match value {
            Some(value) => self.decode(&format!("{p}.{key}"), value),
            None => {
                self.fail(
                    p,
                    format!("missing field `{key}`; add it (see the annotated config.yaml)"),
                );
                None
            }
        }
    }

    /// A project id: exactly 32 lowercase hexadecimal characters, as the console shows it.
    fn project_id(&mut self, at: &str, id: &str) {
        const FIX: &str = "a project id is 32 lowercase hexadecimal characters; copy it from My Credentials > API Credentials > Projects";
        if id.chars().count() != 32 {
            self.fail(
                at,
                format!("{id:?} has {} characters; {FIX}", id.chars().count()),
            );
        } else if !id
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, 'a'..='f'))
        {
            let bad = id
                .chars()
                .find(|c| !(c.is_ascii_digit() || matches!(c, 'a'..='f')))
                .unwrap_or(' ');
            self.fail(at, format!("{id:?} contains {bad:?}; {FIX}"));
        }
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
        if let Some(Mapping(pw)) = a.password {
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
        if let Some(Mapping(t)) = a.token {
            let value = self.secret(&format!("{p}.token"), "value", t.value, t.value_file);
            return Some(AuthConfig::Token { value });
        }
        let Mapping(k) = a.aksk?;
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
}
