//! The top-level `probes:` section: the command-probe modules, their schema and checks.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde_yaml::Value;

use super::config::{ids, KoophoneConfig, KEY};
use crate::config::{dedup, CloudConfig, Config, Validator};

/// The async-command API accepts commands of at most this many bytes.
pub const MAX_COMMAND_BYTES: usize = 1024;

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

/// The configured modules, by name (the `probes:` section).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProbeModules(pub BTreeMap<String, ProbeModule>);

/// Same settings; a pattern compares by its text.
impl PartialEq for ProbeModule {
    fn eq(&self, o: &ProbeModule) -> bool {
        self.cloud == o.cloud
            && self.command == o.command
            && self.expect.as_ref().map(Regex::as_str) == o.expect.as_ref().map(Regex::as_str)
            && self.timeout == o.timeout
            && self.poll_interval == o.poll_interval
            && self.groups == o.groups
            && self.min_interval == o.min_interval
            && self.max_commands_per_minute == o.max_commands_per_minute
    }
}

/// One `probes.<module>` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    /// The cloud whose phones it runs on.
    cloud: String,
    /// The ADB shell command it runs.
    command: String,
    /// A pattern every job's output must match.
    expect: Option<String>,
    /// Upper bound of one probe, a duration.
    timeout: Option<String>,
    /// How often the task is polled, a duration.
    poll_interval: Option<String>,
    /// Within how long a repeat answers from the last result, a duration.
    min_interval: Option<String>,
    /// Async-command calls it may send per minute.
    max_commands_per_minute: Option<u32>,
    /// Named groups of phone ids that `target` may name.
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
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

fn groups(
    v: &mut Validator<'_>,
    p: &str,
    groups: BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, Vec<String>> {
    for (name, list) in &groups {
        if list.is_empty() {
            v.fail(
                format!("{p}.{name}"),
                "is empty; list the phone ids of the group",
            );
        }
        ids(v, &format!("{p}.{name}"), list);
    }
    groups.into_iter().map(|(k, v)| (k, dedup(v))).collect()
}

/// Decodes and checks the top-level `probes:` section against the configured `clouds`; a
/// module's default timeout is the file's `default_timeout`, at least 60s.
pub fn decode(
    value: Value,
    clouds: &[CloudConfig],
    default_timeout: Duration,
    v: &mut Validator<'_>,
) -> Option<ProbeModules> {
    let probes: BTreeMap<String, RawProbe> = v.decode("probes", value)?;
    let mut out = BTreeMap::new();
    for (name, m) in probes {
        let p = format!("probes.{name}");
        match clouds.iter().find(|c| c.name == m.cloud) {
            None => v.fail(
                format!("{p}.cloud"),
                format!(
                    "{:?} is not a configured cloud; use one of the names under clouds:",
                    m.cloud
                ),
            ),
            Some(c) if c.sections.get::<KoophoneConfig>(KEY).is_none() => v.fail(
                format!("{p}.cloud"),
                format!(
                    "cloud {:?} has no koophone section; probes run on its configured phones",
                    m.cloud
                ),
            ),
            Some(_) => {}
        }
        if let Err(e) = check_command(&m.command) {
            v.fail(format!("{p}.command"), e);
        }
        let expect = match m.expect.as_deref().map(Regex::new) {
            None => None,
            Some(Ok(r)) => Some(r),
            Some(Err(e)) => {
                v.fail(
                    format!("{p}.expect"),
                    format!("is not a valid regular expression: {e}"),
                );
                None
            }
        };
        let timeout = v.duration(
            &p,
            "timeout",
            m.timeout.as_deref(),
            default_timeout.max(Duration::from_secs(60)),
        );
        let poll_interval = v.duration(
            &p,
            "poll_interval",
            m.poll_interval.as_deref(),
            Duration::from_secs(1),
        );
        let min_interval = v.duration(
            &p,
            "min_interval",
            m.min_interval.as_deref(),
            Duration::from_secs(60),
        );
        let groups = groups(v, &format!("{p}.groups"), m.groups);
        if poll_interval.is_zero() {
            v.fail(
                format!("{p}.poll_interval"),
                "must be more than 0s; the default is 1s",
            );
        }
        if timeout.is_zero() {
            v.fail(
                format!("{p}.timeout"),
                "must be more than 0s; the default is 60s",
            );
        }
        let max_commands_per_minute = m
            .max_commands_per_minute
            .unwrap_or(DEFAULT_MAX_COMMANDS_PER_MINUTE);
        if max_commands_per_minute == 0 {
            v.fail(
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
                v.fail(
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
    Some(ProbeModules(out))
}

/// The configured probe modules (none without a `probes:` section).
pub fn modules_of(config: &Config) -> &ProbeModules {
    static NONE: std::sync::OnceLock<ProbeModules> = std::sync::OnceLock::new();
    config
        .sections
        .get::<ProbeModules>(KEY)
        .unwrap_or_else(|| NONE.get_or_init(ProbeModules::default))
}
