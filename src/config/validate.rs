//! Validation: the [`Validator`] that collects every error of a file in the file/field/fix
//! form, the checks of the top-level schema, and the checks the services' sections share
//! (durations, series caps, refresh intervals, name patterns, `*_file` secrets).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use secrecy::SecretString;
use serde_yaml::Value;

use super::model::{parse_duration, ConfigError, ConfigErrors, MAX_SERIES_LIMIT};
use super::secret::{SecretText, NOT_SHOWN};

/// Default interval of a discovery's background refresh.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// Shortest refresh interval accepted.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// Most unknown keys one section reports before its decoding is given up.
const MAX_UNKNOWN_KEYS: usize = 64;

/// Removes the key `path` ends with from the mapping the rest of `path` leads to; whether
/// there was one.
fn remove_at(value: &mut Value, path: &[serde_path_to_error::Segment]) -> bool {
    use serde_path_to_error::Segment;
    let Some((Segment::Map { key }, parent)) = path.split_last() else {
        return false;
    };
    let mut at = value;
    for segment in parent {
        let next = match segment {
            Segment::Map { key } => at.get_mut(key.as_str()),
            Segment::Seq { index } => at.get_mut(*index),
            _ => None,
        };
        let Some(next) = next else { return false };
        at = next;
    }
    at.as_mapping_mut()
        .and_then(|m| m.remove(key.as_str()))
        .is_some()
}

/// Adds the usual fix to serde's wording.
pub(super) fn decode_hint(message: String) -> String {
    if message.contains(NOT_SHOWN) {
        format!("{message}, or better take it from ${{VAR}} or the *_file form of this key")
    } else if message.starts_with("unknown field") {
        format!("{message}; remove it or fix its spelling")
    } else if message.starts_with("missing field") {
        format!("{message}; add it (see the annotated config.yaml)")
    } else if message.starts_with("invalid type: ") && message.ends_with("expected a string") {
        format!("{message}; quote it, since YAML reads unquoted digits, true/false and ~ as other types")
    } else {
        message
    }
}

/// The path of `field` in the section at `parent`: `parent.field`, or `field` at the top level.
pub(super) fn field_path(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

/// Deduplicates, keeping the first occurrence's order.
pub fn dedup(ids: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// Collects every error of one file while its sections are validated. The services' schemas
/// use it too, so every section reports in the same file/field/fix form.
pub struct Validator<'a> {
    /// The file, as errors name it.
    pub(super) file: &'a str,
    /// Where relative `*_file` paths resolve.
    pub(super) base: &'a Path,
    /// Every error found so far.
    pub(super) errors: Vec<ConfigError>,
    /// What is accepted but probably not meant (an unexpanded-looking `$NAME`, a plain-HTTP
    /// endpoint allowed by the cloud, skipped TLS verification): shown by `--config.check` and
    /// logged at start.
    pub(super) warnings: Vec<ConfigError>,
    /// Fields already reported at an earlier stage (a missing variable, an unquoted big
    /// number): later checks of the same field would only repeat the error in other words.
    tainted: Vec<String>,
}

impl<'a> Validator<'a> {
    /// A validator of `file`, whose relative paths resolve against `base`.
    pub fn new(file: &'a str, base: &'a Path) -> Validator<'a> {
        Validator {
            file,
            base,
            errors: Vec::new(),
            warnings: Vec::new(),
            tainted: Vec::new(),
        }
    }

    /// The errors found, as the loader's answer.
    pub fn finish<T>(self) -> Result<T, ConfigErrors> {
        Err(ConfigErrors(self.errors))
    }

    /// How many errors were found so far.
    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// Decodes `value` as `T`; a decode error is recorded at `at` plus serde's inner path, with
    /// the usual fix, and yields `None`. An unknown key is recorded, taken out and the decoding
    /// tried again, so that every unknown key of a section is reported in one run, along with
    /// the first error of another kind.
    pub fn decode<T: serde::de::DeserializeOwned>(
        &mut self,
        at: &str,
        mut value: Value,
    ) -> Option<T> {
        for _ in 0..MAX_UNKNOWN_KEYS {
            let e = match serde_path_to_error::deserialize(value.clone()) {
                Ok(t) => return Some(t),
                Err(e) => e,
            };
            let inner = e.path().to_string();
            let path = match (at.is_empty(), inner == ".") {
                (_, true) => at.to_string(),
                (true, false) => inner,
                (false, false) => format!("{at}.{inner}"),
            };
            let segments: Vec<serde_path_to_error::Segment> = e.path().iter().cloned().collect();
            let message = e.into_inner().to_string();
            let unknown = message.starts_with("unknown field `");
            self.fail(path, decode_hint(message));
            if !unknown || !remove_at(&mut value, &segments) {
                return None;
            }
        }
        None
    }

    /// Records an error at `path`, unless that field was already reported (see
    /// [`taint`](Self::taint)).
    pub fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        if self.is_tainted(&path) {
            return;
        }
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            path,
            message: message.into(),
        });
    }

    /// Records a warning at `path`: accepted, but said by `--config.check` and at start.
    pub fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(ConfigError {
            file: self.file.to_string(),
            path: path.into(),
            message: message.into(),
        });
    }

    /// Marks the field at `path` (and everything under it) as reported: later errors there are
    /// not recorded.
    pub(super) fn taint(&mut self, path: String) {
        self.tainted.push(path);
    }

    fn is_tainted(&self, path: &str) -> bool {
        self.tainted.iter().any(|t| {
            path.strip_prefix(t.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
    }

    /// `field` of the section at `p`, a duration written as `raw`: `default` when it is not
    /// given, and when it is not a duration (an error at `p.field` then).
    pub fn duration(
        &mut self,
        p: &str,
        field: &str,
        raw: Option<&str>,
        default: Duration,
    ) -> Duration {
        match raw {
            None => default,
            Some(s) => match parse_duration(s) {
                Ok(d) => d,
                Err(e) => {
                    self.fail(field_path(p, field), e);
                    default
                }
            },
        }
    }

    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    pub fn secret(
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
                match crate::files::read_text(&full) {
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
                            e.describe(|e| {
                                format!(
                                    "cannot read {}: {e}; check the path and its permissions",
                                    full.display()
                                )
                            }),
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

    /// `{p}.refresh_interval`: at least [`MIN_REFRESH_INTERVAL`], [`DEFAULT_REFRESH_INTERVAL`]
    /// when not given or not valid.
    pub fn refresh_interval(&mut self, p: &str, raw: Option<&str>) -> Duration {
        let default = DEFAULT_REFRESH_INTERVAL;
        let refresh_interval = self.duration(p, "refresh_interval", raw, default);
        if refresh_interval < MIN_REFRESH_INTERVAL {
            self.fail(
                field_path(p, "refresh_interval"),
                "must be at least 1s (5m is a sensible production value)",
            );
            return default;
        }
        refresh_interval
    }

    /// `{p}.name_regex`, built (bounded in size) when given.
    pub fn name_regex(&mut self, p: &str, raw: Option<&str>) -> Option<Regex> {
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

    /// `{p}.max_series`, the series cap of the section at `p`: `value`, or `default` when it
    /// is not given, and when it is out of range (an error then).
    pub fn max_series(&mut self, p: &str, value: Option<usize>, default: usize) -> usize {
        let v = value.unwrap_or(default);
        if !(1..=MAX_SERIES_LIMIT).contains(&v) {
            self.fail(
                field_path(p, "max_series"),
                format!("is {v}; it must be between 1 and {MAX_SERIES_LIMIT} (default {default})"),
            );
            return default;
        }
        v
    }
}
