//! A `/probe` request: the query (a configured module and a target, never a command), the
//! target resolved to configured phones (one phone of the module's cloud, or a group of the module
//! whose members all are), and why a request is refused.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::deadline::deadline_for;
use crate::services::fleet::Fleet;
use crate::services::koophone::config::{check_instance_id, KEY, MAX_INSTANCE_ID_LEN};
use crate::services::koophone::modules::{modules_of, ProbeModule};
use crate::services::koophone::runtime::KoophoneRuntime;
use crate::services::prober::Refusal;
use crate::transport::CloudClient;

/// Module `name`'s command budget is spent until `retry_after`.
pub(crate) fn budget_spent(name: &str, module: &ProbeModule, retry_after: Duration) -> Refusal {
    Refusal::Throttled {
        retry_after,
        reason: format!(
            "module {name:?} has sent its max_commands_per_minute ({}); try again later",
            module.max_commands_per_minute
        ),
    }
}

/// Splits the query into `(module, target)`. Parameters other than these are ignored, as
/// blackbox_exporter ignores them, except `command`, which is refused outright.
pub fn parse_params(pairs: &[(String, String)]) -> Result<(&str, &str), String> {
    let mut module = None;
    let mut target = None;
    for (k, v) in pairs {
        let slot = match k.as_str() {
            "module" => &mut module,
            "target" => &mut target,
            "command" => return Err("the query string cannot carry a command; commands come only from a module's `command` in the config file".into()),
            _ => continue,
        };
        if slot.replace(v.as_str()).is_some() {
            return Err(format!("`{k}` is given more than once; give it once"));
        }
    }
    let usage = "use /probe?module=NAME&target=PHONE_ID_OR_GROUP";
    let module = module
        .filter(|m| !m.is_empty())
        .ok_or_else(|| format!("missing `module` parameter; {usage}"))?;
    let target = target
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("missing `target` parameter; {usage}"))?;
    Ok((module, target))
}

/// The phones a probe runs on, sorted: the members of the module's group `target`, or `target`
/// itself as one phone id. Either way every phone must be in `configured` (the current phone list
/// of the module's cloud). A group name wins over a phone id of the same spelling.
pub fn resolve_target(
    name: &str,
    module: &ProbeModule,
    target: &str,
    configured: &[String],
) -> Result<Vec<String>, String> {
    let not_configured = format!(
        "is not a phone of cloud {:?} (its koophone instance_ids or instance_ids_file, or the phones it discovered, on this replica's shard)",
        module.cloud
    );
    if let Some(members) = module.groups.get(target) {
        let known: HashSet<&str> = configured.iter().map(String::as_str).collect();
        if let Some(m) = members.iter().find(|m| !known.contains(m.as_str())) {
            return Err(format!(
                "group {target:?} of module {name:?} names {m:?}, which {not_configured}; fix the group or the phone list"
            ));
        }
        let mut ids = members.clone();
        ids.sort();
        ids.dedup();
        return Ok(ids);
    }
    if target.chars().count() > MAX_INSTANCE_ID_LEN {
        return Err(format!(
            "target has {} characters; a phone id has at most {MAX_INSTANCE_ID_LEN}, and module {name:?} has no group of that name",
            target.chars().count()
        ));
    }
    check_instance_id(target)
        .map_err(|e| format!("target {e}; or name a group of module {name:?}"))?;
    if !configured.iter().any(|id| id == target) {
        return Err(format!(
            "target {target:?} is not a group of module {name:?} and {not_configured}"
        ));
    }
    Ok(vec![target.to_string()])
}

/// A `/probe` request checked against the config: what a run needs.
pub(crate) struct Resolved<'a> {
    /// Module name.
    pub name: &'a str,
    /// Target as given.
    pub target: &'a str,
    /// The module.
    pub module: &'a ProbeModule,
    /// The client of the module's cloud.
    pub client: Arc<CloudClient>,
    /// The phones the target resolves to, sorted.
    pub ids: Vec<String>,
    /// The run's time (module timeout, capped by the scrape-timeout header).
    pub budget: Duration,
}

/// Checks the query against the config: a configured module, a cloud with phones, a target of
/// that cloud's phones. `Err` is a one-line reason for a 400.
pub(crate) async fn resolve<'a>(
    fleet: &'a Fleet,
    params: &'a [(String, String)],
    timeout_header: Option<&str>,
) -> Result<Resolved<'a>, String> {
    let (name, target) = parse_params(params)?;
    let modules = &modules_of(&fleet.config).0;
    let module = modules.get(name).ok_or_else(|| {
        let known: Vec<&str> = modules.keys().map(String::as_str).collect();
        if known.is_empty() {
            format!("module {name:?} is not configured; this exporter has no `probes:`")
        } else {
            format!(
                "module {name:?} is not configured; configured modules: {}",
                known.join(", ")
            )
        }
    })?;
    let (client, configured) = match fleet.cloud(&module.cloud) {
        Some(c) => match c.runtime::<KoophoneRuntime>(KEY) {
            Some(k) => (k.client().clone(), k.phones().await),
            None => {
                return Err(format!(
                    "module {name:?} runs on cloud {:?}, which has no koophone section",
                    module.cloud
                ))
            }
        },
        None => {
            return Err(format!(
                "module {name:?} runs on cloud {:?}, which is not configured",
                module.cloud
            ))
        }
    };
    let ids = resolve_target(name, module, target, &configured)?;
    let budget = deadline_for(module.timeout, timeout_header);
    Ok(Resolved {
        name,
        target,
        module,
        client,
        ids,
        budget,
    })
}
