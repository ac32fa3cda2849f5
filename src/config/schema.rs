//! What a service gives the config loader: its [`Identity`] and its [`Schema`], which decodes
//! and validates its sections from a [`SectionInput`].

use std::sync::Arc;
use std::time::Duration;

use serde_yaml::Value;

use super::model::{AuthConfig, CloudConfig, Section};
use super::validate::Validator;

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
    /// [`Sections`](super::model::Sections).
    pub fn decode<T: Section>(
        self,
        decode: fn(Value, &str, &mut Validator<'_>) -> Option<T>,
    ) -> Option<Arc<dyn Section>> {
        decode(self.value, self.at, self.v).map(section)
    }
}

/// Boxes a validated section for [`Sections`](super::model::Sections).
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
