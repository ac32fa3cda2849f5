//! KooPhone command probes: `/probe?module=NAME&target=T`, the blackbox_exporter pattern.
//!
//! Owns the query (a configured module and a target; never a command), target resolution (one
//! configured phone of the module's cloud, or a group of the module whose members all are), the
//! run (async-command in calls of at most 100 phones, then each task polled every
//! `poll_interval` until no job runs or the deadline passes), the mapping of the jobs to a fresh
//! set of families per request, and cost control:
//!
//! - identical concurrent probes (same module, same resolved phones) share one command;
//! - a repeat within `min_interval` is answered from the last result, with no new command.
//!   A failed result is kept for only a quarter of `min_interval`, so a recovery shows up
//!   soon, while a failing fleet (or a failing API) still costs at most four commands per
//!   `min_interval` instead of one per scrape.
//!
//! `huaweicloud_koophone_probe_commands_total{module,source}` counts which of the three answered
//! (`command`, `shared`, `cached`). An upstream failure answers 200 with `probe_success 0` and a
//! log line carrying the request id. Command output is only matched, never exported.
//! `debug=true` answers a run's log and metrics as text instead, apart from this cache, with a
//! budget of its own (see [`debug`]).

pub mod debug;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};
use regex::Regex;
use tokio::time::Instant;

use crate::cloud::koophone::{JobDetail, MAX_IDS_PER_CALL};
use crate::cloud::{ApiError, CloudClient, ErrorKind};
use crate::config::{check_instance_id, ProbeModule, MAX_INSTANCE_ID_LEN};
use crate::metrics::Families;
use crate::scrape::{deadline_for, Exporter};

/// The last poll of a task happens this long before the deadline, so it can still answer.
const FINAL_POLL_MARGIN: Duration = Duration::from_millis(200);
/// A requester waits this long past the run's deadline for the run's own (detailed) result
/// before answering "timed out" by itself.
const ANSWER_GRACE: Duration = Duration::from_millis(100);
/// Longest job error code put into a label; longer ones are cut.
const MAX_ERROR_CODE_LEN: usize = 64;

/// How one phone's job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// Status 2; whether its output matched the module's `expect`.
    Succeeded {
        /// Output matched (`expect` unset matches anything).
        matched: bool,
    },
    /// Status -1 (or any status the page does not document), with the job's error code. The
    /// page says output comes back either way, so it is still matched.
    Failed {
        /// The job's `error_code`, or `failed` / `status_<n>` when it gave none.
        code: String,
        /// It returned (non-empty) output, and that matched `expect`.
        matched: bool,
    },
    /// Still running (or not yet reported) when the deadline passed.
    TimedOut,
    /// The call that would have started or reported the job failed.
    Upstream(ErrorKind),
    /// The async-command answer listed no job for this phone.
    Missing,
}

impl JobOutcome {
    /// 1 when the job ran and succeeded.
    pub fn succeeded(&self) -> bool {
        matches!(self, JobOutcome::Succeeded { .. })
    }

    /// 1 when the job's output matched `expect`.
    pub fn matched(&self) -> bool {
        match self {
            JobOutcome::Succeeded { matched } | JobOutcome::Failed { matched, .. } => *matched,
            _ => false,
        }
    }

    /// The `error_code` label of a job that did not succeed; `None` for a success.
    pub fn error_code(&self) -> Option<String> {
        match self {
            JobOutcome::Succeeded { .. } => None,
            JobOutcome::Failed { code, .. } => Some(code.clone()),
            JobOutcome::TimedOut | JobOutcome::Upstream(ErrorKind::Timeout) => {
                Some("timeout".into())
            }
            JobOutcome::Upstream(kind) => Some(format!("upstream_{}", kind.result())),
            JobOutcome::Missing => Some("missing".into()),
        }
    }
}

/// The result of one run of a module's command on a set of phones.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    /// Each phone and how its job ended, sorted by phone id.
    pub jobs: Vec<(String, JobOutcome)>,
    /// How long the run took.
    pub duration: Duration,
    /// When the run finished (the age of a cached answer counts from here).
    pub finished: Instant,
}

impl ProbeResult {
    /// Every job succeeded and every output matched.
    pub fn success(&self) -> bool {
        !self.jobs.is_empty() && self.jobs.iter().all(|(_, o)| o.succeeded() && o.matched())
    }

    /// Every phone with the same outcome (a run that could not start or finish at all).
    fn all(ids: &[String], outcome: JobOutcome, started: Instant) -> ProbeResult {
        let now = Instant::now();
        ProbeResult {
            jobs: ids.iter().map(|id| (id.clone(), outcome.clone())).collect(),
            duration: now.saturating_duration_since(started),
            finished: now,
        }
    }
}

/// How long a result is served again: `min_interval` when it succeeded, a quarter of that when it
/// failed (see the module doc).
pub fn cache_ttl(success: bool, min_interval: Duration) -> Duration {
    if success {
        min_interval
    } else {
        min_interval / 4
    }
}

/// Where an answer came from: the `source` label of `huaweicloud_koophone_probe_commands_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// This request ran a new command.
    Command,
    /// This request joined an identical run already in flight.
    Shared,
    /// This request was answered from the last result, within `min_interval`.
    Cached,
}

impl Source {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Source::Command => "command",
            Source::Shared => "shared",
            Source::Cached => "cached",
        }
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
        "is not a phone of cloud {:?} (its koophone instance_ids or instance_ids_file, on this replica's shard)",
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

/// How a finished job ended, or `None` while it runs (status 1).
pub fn job_outcome(job: &JobDetail, expect: Option<&Regex>) -> Option<JobOutcome> {
    let matches = |out: &str| {
        // Shell output usually ends in a newline; `^1$` should still match `1\n`.
        let out = out.trim_end_matches(['\r', '\n']);
        expect.is_none_or(|re| re.is_match(out))
    };
    match job.status {
        1 => None,
        2 => Some(JobOutcome::Succeeded {
            matched: matches(job.execute_msg.as_deref().unwrap_or("")),
        }),
        status => {
            let code = job
                .error_code
                .as_deref()
                .map(label_safe)
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| {
                    if status == -1 {
                        "failed".to_string()
                    } else {
                        format!("status_{status}")
                    }
                });
            Some(JobOutcome::Failed {
                code,
                // A job that failed without output (the phone never ran it) matches nothing,
                // even when `expect` is unset.
                matched: job
                    .execute_msg
                    .as_deref()
                    .is_some_and(|o| !o.is_empty() && matches(o)),
            })
        }
    }
}

/// An upstream error code made fit for a label: at most [`MAX_ERROR_CODE_LEN`] characters of
/// letters, digits and `. _ -`, anything else replaced by `_`.
fn label_safe(code: &str) -> String {
    code.trim()
        .chars()
        .take(MAX_ERROR_CODE_LEN)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The families of one `/probe` answer, built fresh for each request.
pub fn families(result: &ProbeResult, cached: bool, age: Duration) -> Families {
    let mut f = Families::new();
    let b = |v: bool| if v { 1.0 } else { 0.0 };
    f.gauge(
        "probe_success",
        "Whether the probe succeeded: every phone's job succeeded and its output matched the module's expect pattern.",
        &[],
        b(result.success()),
    );
    f.gauge(
        "probe_duration_seconds",
        "How long the probe's command run took (of the run that produced this answer, when shared or cached).",
        &[],
        result.duration.as_secs_f64(),
    );
    f.gauge(
        "huaweicloud_koophone_probe_cached",
        "Whether this answer is the last result, served again within the module's min_interval (1), or comes from a command run for it (0).",
        &[],
        b(cached),
    );
    f.gauge(
        "huaweicloud_koophone_probe_result_age_seconds",
        "Time since the run that produced this answer finished.",
        &[],
        age.as_secs_f64(),
    );
    for (id, outcome) in &result.jobs {
        let labels = [("instance_id", id.as_str())];
        f.gauge(
            "huaweicloud_koophone_probe_job_success",
            "Whether the probe command's job on this phone succeeded (1) or failed, timed out or could not run (0).",
            &labels,
            b(outcome.succeeded()),
        );
        f.gauge(
            "huaweicloud_koophone_probe_output_matched",
            "Whether the probe command's output on this phone matched the module's expect pattern (any output when unset; a failed job without output matches nothing).",
            &labels,
            b(outcome.matched()),
        );
        if let Some(code) = outcome.error_code() {
            f.gauge(
                "huaweicloud_koophone_probe_job_error_info",
                "Why the probe command's job on this phone did not succeed: the job's error code, or timeout, missing or upstream_<result> when the API did not tell.",
                &[("instance_id", id.as_str()), ("error_code", code.as_str())],
                1.0,
            );
        }
    }
    f
}

/// Serves one `/probe` request: `Ok` is the exposition (HTTP 200), `Err` a one-line reason for a
/// 400.
pub async fn serve(
    exporter: &Exporter,
    params: &[(String, String)],
    timeout_header: Option<&str>,
) -> Result<Vec<u8>, String> {
    let Resolved {
        name,
        target,
        module,
        client,
        ids,
        deadline,
    } = resolve(exporter, params, timeout_header)?;
    let (result, source) = exporter
        .probes
        .probe(name, module, target, client, ids, deadline)
        .await;
    exporter
        .metrics
        .probe_commands
        .with_label_values(&[name, source.label()])
        .inc();
    exporter.status.record_probe(crate::status::ProbeRecord::of(
        name,
        target,
        &result,
        source.label(),
    ));
    let age = Instant::now().saturating_duration_since(result.finished);
    let fams = families(&result, source == Source::Cached, age);
    let mut out = Vec::with_capacity(4096);
    fams.encode(&mut out);
    Ok(out)
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
    /// The run's deadline (module timeout, capped by the scrape-timeout header).
    pub deadline: Instant,
}

/// Checks the query against the config: a configured module, a cloud with phones, a target of
/// that cloud's phones. `Err` is a one-line reason for a 400.
pub(crate) fn resolve<'a>(
    exporter: &'a Exporter,
    params: &'a [(String, String)],
    timeout_header: Option<&str>,
) -> Result<Resolved<'a>, String> {
    let (name, target) = parse_params(params)?;
    let module = exporter.config.probes.get(name).ok_or_else(|| {
        let known: Vec<&str> = exporter.config.probes.keys().map(String::as_str).collect();
        if known.is_empty() {
            format!("module {name:?} is not configured; this exporter has no `probes:`")
        } else {
            format!(
                "module {name:?} is not configured; configured modules: {}",
                known.join(", ")
            )
        }
    })?;
    let (client, configured) = match exporter.cloud(&module.cloud) {
        Some(c) => match &c.phones {
            Some(p) => (c.client.clone(), p.current()),
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
    let deadline = Instant::now() + deadline_for(module.timeout, timeout_header);
    Ok(Resolved {
        name,
        target,
        module,
        client,
        ids,
        deadline,
    })
}

type Run = Shared<BoxFuture<'static, Arc<ProbeResult>>>;
/// A module name and the sorted phone ids it runs on: what makes two probes identical.
type Key = (String, Vec<String>);

/// One module + phone set: its run in flight and its last result.
#[derive(Default)]
struct Entry {
    /// The run in flight, which identical probes join.
    inflight: Option<Run>,
    /// The last result and until when it is served again.
    last: Option<(Arc<ProbeResult>, Instant)>,
}

/// Probe state that lives between requests (in the [`Exporter`]; a reload starts afresh).
#[derive(Default)]
pub struct Prober {
    /// By (module, sorted phone ids).
    entries: Arc<Mutex<HashMap<Key, Entry>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Prober {
    /// Answers a probe of `ids` by `module`: from the last result, by joining an identical run in
    /// flight, or by starting one (which finishes and is kept even if this request goes away).
    pub async fn probe(
        &self,
        name: &str,
        module: &ProbeModule,
        target: &str,
        client: Arc<CloudClient>,
        ids: Vec<String>,
        deadline: Instant,
    ) -> (Arc<ProbeResult>, Source) {
        let started = Instant::now();
        let key = (name.to_string(), ids.clone());
        let (run, source) = {
            let mut entries = lock(&self.entries);
            let now = Instant::now();
            let entry = entries.entry(key.clone()).or_default();
            if let Some((last, until)) = &entry.last {
                if now < *until {
                    return (last.clone(), Source::Cached);
                }
            }
            // A run that resolved but is still listed died without clearing itself (a panic):
            // start a fresh one rather than serve its stand-in result forever.
            match entry.inflight.clone().filter(|r| r.peek().is_none()) {
                Some(run) => (run, Source::Shared),
                None => {
                    let run = self.start(name, module, target, client, key.clone(), deadline);
                    if let Some(e) = entries.get_mut(&key) {
                        e.inflight = Some(run.clone());
                    }
                    // Forget what can no longer be served, so the map stays as small as the
                    // set of targets probed recently.
                    entries.retain(|_, e| {
                        e.inflight.is_some() || e.last.as_ref().is_some_and(|(_, u)| now < *u)
                    });
                    (run, Source::Command)
                }
            }
        };
        match tokio::time::timeout_at(deadline + ANSWER_GRACE, run).await {
            Ok(result) => (result, source),
            // Joined a run with a later deadline than ours: answer in time, as timed out.
            Err(_) => (
                Arc::new(ProbeResult::all(&ids, JobOutcome::TimedOut, started)),
                source,
            ),
        }
    }

    fn start(
        &self,
        name: &str,
        module: &ProbeModule,
        target: &str,
        client: Arc<CloudClient>,
        key: Key,
        deadline: Instant,
    ) -> Run {
        let entries = self.entries.clone();
        let module = module.clone();
        let (name, target) = (name.to_string(), target.to_string());
        let ids = key.1.clone();
        let handle = tokio::spawn(async move {
            let result = Arc::new(run(&client, &name, &target, &module, &key.1, deadline).await);
            let until = result.finished + cache_ttl(result.success(), module.min_interval);
            let mut entries = lock(&entries);
            let entry = entries.entry(key).or_default();
            entry.inflight = None;
            entry.last = Some((result.clone(), until));
            result
        });
        let started = Instant::now();
        async move {
            match handle.await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "probe run died");
                    Arc::new(ProbeResult::all(&ids, JobOutcome::Missing, started))
                }
            }
        }
        .boxed()
        .shared()
    }
}

/// Runs the module's command on `ids` (at most 100 per call, the calls concurrently) and polls
/// each task until its jobs finish or the deadline passes.
async fn run(
    client: &CloudClient,
    name: &str,
    target: &str,
    module: &ProbeModule,
    ids: &[String],
    deadline: Instant,
) -> ProbeResult {
    let started = Instant::now();
    let calls = ids
        .chunks(MAX_IDS_PER_CALL)
        .map(|chunk| run_call(client, name, target, module, chunk, deadline));
    let mut jobs: Vec<(String, JobOutcome)> = futures::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .collect();
    jobs.sort_by(|a, b| a.0.cmp(&b.0));
    let finished = Instant::now();
    let result = ProbeResult {
        jobs,
        duration: finished.saturating_duration_since(started),
        finished,
    };
    tracing::debug!(
        module = name,
        target,
        phones = ids.len(),
        success = result.success(),
        seconds = result.duration.as_secs_f64(),
        "probe run finished"
    );
    result
}

fn log_api_error(name: &str, target: &str, what: &str, e: &ApiError) {
    tracing::warn!(
        module = name,
        target,
        result = e.kind.result(),
        request_id = e.request_id.as_deref().unwrap_or("-"),
        error = %e,
        "probe {what} failed"
    );
}

/// One async-command call and the polling of its task.
async fn run_call(
    client: &CloudClient,
    name: &str,
    target: &str,
    module: &ProbeModule,
    ids: &[String],
    deadline: Instant,
) -> Vec<(String, JobOutcome)> {
    let every = |o: JobOutcome| ids.iter().map(|id| (id.clone(), o.clone())).collect();
    let info = match tokio::time::timeout_at(
        deadline,
        client.koophone_command(&module.command, ids, deadline),
    )
    .await
    {
        Ok(Ok(info)) => info,
        Ok(Err(e)) => {
            log_api_error(name, target, "command", &e);
            return every(JobOutcome::Upstream(e.kind));
        }
        Err(_) => {
            tracing::warn!(
                module = name,
                target,
                "probe command got no answer before the deadline"
            );
            return every(JobOutcome::TimedOut);
        }
    };
    crate::debug_log::event("info", "command accepted", || {
        vec![
            ("task_id", info.task_id.clone()),
            ("jobs", info.cmd_jobs.len().to_string()),
            ("phones", ids.len().to_string()),
        ]
    });
    let mut out = Vec::with_capacity(ids.len());
    // job id → phone, for the jobs still running.
    let mut pending: HashMap<String, String> = HashMap::with_capacity(ids.len());
    for id in ids {
        match info.cmd_jobs.iter().find(|j| &j.instance_id == id) {
            Some(j) => {
                pending.insert(j.job_id.clone(), id.clone());
            }
            None => out.push((id.clone(), JobOutcome::Missing)),
        }
    }
    let last_chance = deadline.checked_sub(FINAL_POLL_MARGIN).unwrap_or(deadline);
    let mut stop = None;
    while !pending.is_empty() {
        let now = Instant::now();
        let wake = (now + module.poll_interval).min(last_chance);
        if wake <= now {
            break;
        }
        tokio::time::sleep_until(wake).await;
        let jobs =
            match tokio::time::timeout_at(deadline, client.koophone_task(&info.task_id, deadline))
                .await
            {
                Ok(Ok(jobs)) => jobs,
                Ok(Err(e)) if e.kind == ErrorKind::Timeout => break,
                Ok(Err(e)) => {
                    log_api_error(name, target, "task query", &e);
                    stop = Some(JobOutcome::Upstream(e.kind));
                    break;
                }
                Err(_) => break,
            };
        for job in &jobs {
            if let Some(outcome) = job_outcome(job, module.expect.as_ref()) {
                if let Some(id) = pending.remove(&job.job_id) {
                    out.push((id, outcome));
                }
            }
        }
        crate::debug_log::event("info", "task polled", || {
            vec![
                ("task_id", info.task_id.clone()),
                ("jobs", jobs.len().to_string()),
                ("still_running", pending.len().to_string()),
            ]
        });
    }
    let left = stop.unwrap_or(JobOutcome::TimedOut);
    out.extend(pending.into_values().map(|id| (id, left.clone())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn module(groups: &[(&str, &[&str])]) -> ProbeModule {
        ProbeModule {
            cloud: "pw".into(),
            command: "getprop sys.boot_completed".into(),
            expect: Some(Regex::new("^1$").unwrap()),
            timeout: Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
            groups: groups
                .iter()
                .map(|(n, ids)| (n.to_string(), ids.iter().map(|s| s.to_string()).collect()))
                .collect::<BTreeMap<_, _>>(),
            min_interval: Duration::from_secs(60),
        }
    }

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn job(status: i64, code: &str, out: Option<&str>) -> JobDetail {
        JobDetail {
            job_id: "j".into(),
            status,
            error_code: Some(code.into()),
            error_msg: None,
            execute_msg: out.map(str::to_string),
        }
    }

    #[test]
    fn params_need_module_and_target_and_refuse_a_command() {
        let q = pairs(&[
            ("module", "boot"),
            ("target", "a44uhlf7"),
            ("debug", "true"),
        ]);
        assert_eq!(parse_params(&q).unwrap(), ("boot", "a44uhlf7"));
        for (q, want) in [
            (vec![("target", "a")], "missing `module`"),
            (vec![("module", "boot")], "missing `target`"),
            (vec![("module", ""), ("target", "a")], "missing `module`"),
            (
                vec![("module", "boot"), ("module", "x"), ("target", "a")],
                "`module` is given more than once",
            ),
            (
                vec![("module", "boot"), ("target", "a"), ("command", "reboot")],
                "cannot carry a command",
            ),
        ] {
            let e = parse_params(&pairs(&q)).unwrap_err();
            assert!(e.contains(want), "{q:?}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn targets_resolve_to_configured_phones_only() {
        let configured: Vec<String> = ["a44uhlf7", "efjy72gs", "zz000001"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let m = module(&[
            ("canary", &["efjy72gs", "a44uhlf7"]),
            ("stray", &["a44uhlf7", "notmine1"]),
            ("zz000001", &["efjy72gs"]),
        ]);
        assert_eq!(
            resolve_target("boot", &m, "a44uhlf7", &configured).unwrap(),
            vec!["a44uhlf7"]
        );
        assert_eq!(
            resolve_target("boot", &m, "canary", &configured).unwrap(),
            vec!["a44uhlf7", "efjy72gs"],
            "sorted, so the same set is the same key"
        );
        assert_eq!(
            resolve_target("boot", &m, "zz000001", &configured).unwrap(),
            vec!["efjy72gs"],
            "a group wins over a phone of the same spelling"
        );
        let e = resolve_target("boot", &m, "stray", &configured).unwrap_err();
        assert!(
            e.contains("\"notmine1\"") && e.contains("cloud \"pw\""),
            "{e}"
        );
        let e = resolve_target("boot", &m, "other001", &configured).unwrap_err();
        assert!(e.contains("is not a phone of cloud \"pw\""), "{e}");
        let e = resolve_target("boot", &m, "bad id!", &configured).unwrap_err();
        assert!(e.contains("contains ' '"), "{e}");
        let e = resolve_target("boot", &m, &"x".repeat(5000), &configured).unwrap_err();
        assert!(e.len() < 200, "long input is not echoed: {e}");
    }

    #[test]
    fn jobs_map_to_outcomes() {
        let re = Regex::new("^1$").unwrap();
        assert_eq!(job_outcome(&job(1, "", None), Some(&re)), None);
        assert_eq!(
            job_outcome(&job(2, "", Some("1\n")), Some(&re)),
            Some(JobOutcome::Succeeded { matched: true })
        );
        assert_eq!(
            job_outcome(&job(2, "", Some("0")), Some(&re)),
            Some(JobOutcome::Succeeded { matched: false })
        );
        assert_eq!(
            job_outcome(&job(2, "", None), None),
            Some(JobOutcome::Succeeded { matched: true }),
            "no expect: any output, even none"
        );
        assert_eq!(
            job_outcome(&job(-1, "CPS0005", None), Some(&re)),
            Some(JobOutcome::Failed {
                code: "CPS0005".into(),
                matched: false
            })
        );
        assert_eq!(
            job_outcome(&job(-1, "", Some("")), None),
            Some(JobOutcome::Failed {
                code: "failed".into(),
                matched: false
            })
        );
        assert_eq!(
            job_outcome(&job(-1, "", Some("1")), Some(&re)),
            Some(JobOutcome::Failed {
                code: "failed".into(),
                matched: true
            })
        );
        assert_eq!(
            job_outcome(&job(7, "a b\"c", None), None),
            Some(JobOutcome::Failed {
                code: "a_b_c".into(),
                matched: false
            })
        );
        assert_eq!(
            job_outcome(&job(7, "", None), None).and_then(|o| o.error_code()),
            Some("status_7".into())
        );
        assert_eq!(
            JobOutcome::Upstream(ErrorKind::ServerError).error_code(),
            Some("upstream_server_error".into())
        );
        assert_eq!(
            JobOutcome::Upstream(ErrorKind::Timeout).error_code(),
            Some("timeout".into())
        );
    }

    #[test]
    fn results_map_to_families() {
        let now = Instant::now();
        let result = ProbeResult {
            jobs: vec![
                ("a44uhlf7".into(), JobOutcome::Succeeded { matched: true }),
                ("efjy72gs".into(), JobOutcome::Succeeded { matched: false }),
                ("gone0001".into(), JobOutcome::TimedOut),
            ],
            duration: Duration::from_millis(1500),
            finished: now,
        };
        assert!(!result.success());
        let f = families(&result, true, Duration::from_secs(3));
        assert_eq!(f.value("probe_success", &[]), Some(0.0));
        assert_eq!(f.value("probe_duration_seconds", &[]), Some(1.5));
        assert_eq!(f.value("huaweicloud_koophone_probe_cached", &[]), Some(1.0));
        assert_eq!(
            f.value("huaweicloud_koophone_probe_result_age_seconds", &[]),
            Some(3.0)
        );
        let id = |i: &'static str| [("instance_id", i)];
        assert_eq!(
            f.value("huaweicloud_koophone_probe_job_success", &id("efjy72gs")),
            Some(1.0)
        );
        assert_eq!(
            f.value("huaweicloud_koophone_probe_output_matched", &id("efjy72gs")),
            Some(0.0)
        );
        assert_eq!(f.len_of("huaweicloud_koophone_probe_job_error_info"), 1);
        assert_eq!(
            f.value(
                "huaweicloud_koophone_probe_job_error_info",
                &[("instance_id", "gone0001"), ("error_code", "timeout")]
            ),
            Some(1.0)
        );
        let ok = ProbeResult {
            jobs: vec![("a44uhlf7".into(), JobOutcome::Succeeded { matched: true })],
            ..result
        };
        assert!(ok.success());
        let empty = ProbeResult {
            jobs: Vec::new(),
            ..ok.clone()
        };
        assert!(!empty.success(), "no phone, no success");
    }

    #[test]
    fn failures_are_kept_a_quarter_as_long() {
        let m = Duration::from_secs(60);
        assert_eq!(cache_ttl(true, m), m);
        assert_eq!(cache_ttl(false, m), Duration::from_secs(15));
        assert_eq!(cache_ttl(false, Duration::ZERO), Duration::ZERO);
    }
}
