//! The config file: its top-level schema (clouds, their auth and endpoints, timeout,
//! concurrency, shard), `${VAR}` expansion, `*_file` secrets, and the error format.
//!
//! Endpoints default to the region's site (`site`) and overrides are checked (`endpoint`);
//! what is accepted but probably not meant is a warning of the [`Config`].
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

mod endpoint;
mod env;
mod load;
mod model;
mod raw;
mod schema;
mod secret;
mod sections;
mod site;
mod validate;
mod yaml;

pub use model::{
    iam_endpoint, parse_duration, shard_of, AuthConfig, CloudConfig, Config, ConfigError,
    ConfigErrors, Endpoints, Section, Sections, Shard, UpstreamTls, MAX_SERIES_LIMIT,
};
pub use schema::{section, Identity, Schema, SectionInput};
pub use secret::{Mapping, SecretText};
pub use site::{is_eu_site, on_site};
pub use validate::{dedup, Validator, DEFAULT_REFRESH_INTERVAL, MIN_REFRESH_INTERVAL};

use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Loading.

/// Reads, expands, decodes and validates `path`; `schemas` are the services' (the registry's).
pub fn load_file(path: &Path, schemas: &[&dyn Schema]) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let text = crate::files::read_text(path).map_err(|e| ConfigError {
        file: file.clone(),
        path: String::new(),
        message: e.describe(|e| {
            format!("cannot read the config file: {e}; pass the right path with --config.file")
        }),
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
    let mut v = Validator::new(file, base);
    let protected = env::protect_env_refs(text);
    let mut value = match yaml::parse(protected, &mut v) {
        Ok(value) => value,
        Err(message) => {
            v.fail("", message);
            return v.finish();
        }
    };
    if value.is_null() && v.error_count() == 0 {
        return Err(err(
            String::new(),
            "the file is empty; it needs at least a `clouds:` list (see the annotated config.yaml)"
                .into(),
        )
        .into());
    }
    env::expand_env(&mut value, &mut String::new(), env, false, &mut v);
    let (top, clouds) = sections::take_sections(&mut value, schemas, &mut v);
    // Secrets are refused by their own types when they are not text, so no message below ever
    // holds one: nothing is blanked out afterwards.
    let Some(raw) = v.decode::<raw::RawConfig>("", value) else {
        return v.finish();
    };
    v.validate(raw, clouds, top, schemas)
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
