//! KooPhone command probes: `/probe?module=NAME&target=T`, the blackbox_exporter pattern.
//!
//! Owns the query (a configured module and a target; never a command), target resolution (one
//! configured phone of the module's cloud, or a group of the module whose members all are), the
//! run (async-command in calls of at most 100 phones, then each task polled every
//! `poll_interval` until no job runs or the deadline passes), the mapping of the jobs to a fresh
//! set of families per request, and cost control:
//!
//! - identical concurrent probes (same module, same resolved phones) share one command, but a
//!   probe joins a run only when that run gives its jobs at least as long as the probe's own
//!   deadline would (the same rule as coalesced scrapes); otherwise it runs its own;
//! - a repeat within `min_interval` is answered from the last result, with no new command.
//!   A failed result is kept for only a quarter of `min_interval`, so a recovery shows up
//!   soon, while a failing fleet (or a failing API) still costs at most four commands per
//!   `min_interval` instead of one per scrape. A result cut short by its caller's deadline
//!   (a scrape-timeout header below the module's `timeout`) says something about that caller,
//!   not the phones: it is never kept;
//! - a caller whose deadline leaves no time to poll a task gets "timeout" at once, and no
//!   command is sent for it;
//! - each module has a command budget (`max_commands_per_minute`, a token bucket holding a
//!   minute's worth): a new command beyond it is refused at once, answered from an older last
//!   result when there is one, else with 429 and `Retry-After`. Nothing queues.
//!
//! The async-command answer is checked against the phones asked: every phone asked appears in
//! the output, a phone the answer leaves out fails with `error_code="missing"`, phones given the
//! same job id (whose results cannot be told apart) fail with `duplicate_job_id`, rows for phones
//! not asked are ignored; a task answer that lists a job twice with different results fails that
//! phone the same way. Each such answer gets one log line with its request id.
//!
//! `huaweicloud_koophone_probe_commands_total{module,source}` counts how each request was
//! answered (`command`, `shared`, `cached`, `throttled`, `too_short`). An upstream failure
//! answers 200 with `probe_success 0` and a log line carrying the request id. Command output is
//! only matched, never exported.
//! `debug=true` answers a run's log and metrics as text instead, apart from this cache, with a
//! budget of its own (see [`debug`]); its commands also count against the module's command budget.

pub mod debug;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};
use regex::Regex;
use tokio::time::Instant;

use super::config::{check_instance_id, MAX_INSTANCE_ID_LEN};
use super::modules::ProbeModule;
use crate::deadline::deadline_for;
use crate::metrics::Families;
use crate::services::fleet::Fleet;
use crate::services::koophone::api::{CmdJob, JobDetail, MAX_IDS_PER_CALL};
use crate::services::prober::Refusal;
use crate::transport::{ApiError, CloudClient, ErrorKind};

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

    /// Some job ran out of time (its own, or the call's that would have reported it).
    pub fn timed_out(&self) -> bool {
        self.jobs.iter().any(|(_, o)| {
            matches!(
                o,
                JobOutcome::TimedOut | JobOutcome::Upstream(ErrorKind::Timeout)
            )
        })
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
    /// This request joined a run already in flight that gives its jobs at least as long.
    Shared,
    /// This request was answered from the last result, within `min_interval`.
    Cached,
    /// The module's command budget refused a new command: answered 429, or from an older last
    /// result (within [`STALE_FACTOR`] × `min_interval`).
    Throttled,
    /// The caller's deadline left no time to poll a task: answered "timeout" at once, without
    /// sending a command.
    TooShort,
}

impl Source {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Source::Command => "command",
            Source::Shared => "shared",
            Source::Cached => "cached",
            Source::Throttled => "throttled",
            Source::TooShort => "too_short",
        }
    }

    /// The answer is a result kept from an earlier run.
    fn is_last_result(self) -> bool {
        matches!(self, Source::Cached | Source::Throttled)
    }
}

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

/// Serves one `/probe` request: `Ok` is the exposition (HTTP 200), `Err` a refusal (400 with a
/// one-line reason, or 429 when the module's command budget is spent).
pub async fn serve(
    fleet: &Fleet,
    params: &[(String, String)],
    timeout_header: Option<&str>,
) -> Result<Vec<u8>, Refusal> {
    let Resolved {
        name,
        target,
        module,
        client,
        ids,
        budget,
    } = resolve(fleet, params, timeout_header).await?;
    let answer = state(fleet)?
        .probes
        .probe(name, module, target, client, ids, budget)
        .await;
    let source = match &answer {
        Ok((_, source)) => *source,
        Err(_) => Source::Throttled,
    };
    fleet
        .metrics
        .probe_commands
        .with_label_values(&[name, source.label()])
        .inc();
    let (result, source) = answer.map_err(|retry_after| {
        tracing::debug!(
            module = name,
            target,
            retry_after_s = retry_after.as_secs_f64(),
            "probe refused: command budget spent"
        );
        budget_spent(name, module, retry_after)
    })?;
    fleet
        .status
        .record_probe(record(name, target, &result, source.label()));
    let age = Instant::now().saturating_duration_since(result.finished);
    let fams = families(&result, source.is_last_result(), age);
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
    let modules = &super::modules_of(&fleet.config).0;
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
        Some(c) => match c.runtime::<super::KoophoneRuntime>(super::KEY) {
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

type Run = Shared<BoxFuture<'static, Arc<ProbeResult>>>;
/// A module name and the sorted phone ids it runs on: what makes two probes identical.
type Key = (String, Vec<String>);

/// A run in flight and what it promises a probe that joins it.
struct InFlight {
    /// Tells runs of one key apart, so a run only removes its own entry.
    id: u64,
    /// The time the run gives its jobs: a probe joins it only when this is at least its own.
    budget: Duration,
    /// When it started (of the covering runs, the earliest answers soonest).
    started: Instant,
    /// The run, shared by every probe that joined it.
    run: Run,
}

/// A result kept for later probes.
struct Last {
    /// The result.
    result: Arc<ProbeResult>,
    /// Served to any probe until then ([`cache_ttl`]).
    fresh_until: Instant,
    /// Served to a probe the command budget refuses until then.
    stale_until: Instant,
}

/// One module + phone set: its runs in flight and its last result.
#[derive(Default)]
struct Entry {
    /// The runs in flight, each with its own budget.
    inflight: Vec<InFlight>,
    /// The last result that was not cut short by its caller's deadline.
    last: Option<Last>,
}

/// A module's command budget: a token bucket holding `max_commands_per_minute`, refilled at that
/// rate.
struct Bucket {
    /// Commands that may be sent now.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

/// A result refused a new command by the budget is still served for this many `min_interval`s
/// after it finished.
pub const STALE_FACTOR: u32 = 5;

/// Probe state that lives between requests (in the [`Exporter`]; a reload starts afresh).
#[derive(Default)]
pub struct Prober {
    /// By (module, sorted phone ids).
    entries: Arc<Mutex<HashMap<Key, Entry>>>,
    /// Command budgets by module name (bounded by the configured modules). Shared with the
    /// prober of the next config: a reload (which anyone may ask for when no web config guards
    /// `/-/reload`) must not refill them.
    budgets: Arc<Mutex<HashMap<String, Bucket>>>,
    /// Numbers runs.
    next_run: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Prober {
    /// The prober of a reloaded config: no results or runs carried over (the modules may have
    /// changed), but the command budgets spent so far still count.
    pub fn after_reload(previous: &Prober) -> Prober {
        Prober {
            budgets: Arc::clone(&previous.budgets),
            ..Prober::default()
        }
    }

    /// Answers a probe of `ids` by `module` whose caller allows `budget`: from the last result,
    /// by joining a run in flight that gives its jobs at least `budget`, or by starting one
    /// (which finishes and is kept even if this request goes away) when the module's command
    /// budget allows. `Err` is the wait until it does.
    pub async fn probe(
        &self,
        name: &str,
        module: &ProbeModule,
        target: &str,
        client: Arc<CloudClient>,
        ids: Vec<String>,
        budget: Duration,
    ) -> Result<(Arc<ProbeResult>, Source), Duration> {
        let started = Instant::now();
        let deadline = started + budget;
        let key = (name.to_string(), ids.clone());
        let (run, source) = {
            let mut entries = lock(&self.entries);
            let now = Instant::now();
            let entry = entries.entry(key.clone()).or_default();
            if let Some(last) = &entry.last {
                if now < last.fresh_until {
                    return Ok((last.result.clone(), Source::Cached));
                }
            }
            // A run that resolved but is still listed died without clearing itself (a panic).
            entry.inflight.retain(|r| r.run.peek().is_none());
            let covering = entry
                .inflight
                .iter()
                .filter(|r| r.budget >= budget)
                .min_by_key(|r| r.started)
                .map(|r| r.run.clone());
            if let Some(run) = covering {
                (run, Source::Shared)
            } else if budget <= FINAL_POLL_MARGIN {
                // No poll could happen before the deadline: a command would only cost.
                return Ok((
                    Arc::new(ProbeResult::all(&ids, JobOutcome::TimedOut, started)),
                    Source::TooShort,
                ));
            } else {
                let calls = ids.len().div_ceil(MAX_IDS_PER_CALL);
                if let Err(wait) = self.spend(name, module.max_commands_per_minute, calls, now) {
                    return match entry.last.as_ref().filter(|l| now < l.stale_until) {
                        Some(last) => Ok((last.result.clone(), Source::Throttled)),
                        None => Err(wait),
                    };
                }
                let id = self.next_run.fetch_add(1, Ordering::Relaxed);
                let run = self.start(name, module, target, client, key.clone(), id, budget);
                entry.inflight.push(InFlight {
                    id,
                    budget,
                    started: now,
                    run: run.clone(),
                });
                // Forget what can no longer be served, so the map stays as small as the set
                // of targets probed recently.
                entries.retain(|_, e| {
                    !e.inflight.is_empty() || e.last.as_ref().is_some_and(|l| now < l.stale_until)
                });
                (run, Source::Command)
            }
        };
        match tokio::time::timeout_at(deadline + ANSWER_GRACE, run).await {
            Ok(result) => Ok((result, source)),
            // Joined a run with a later deadline than ours, still running at ours: answer in
            // time, as timed out (which is what a run of our own would have had).
            Err(_) => Ok((
                Arc::new(ProbeResult::all(&ids, JobOutcome::TimedOut, started)),
                source,
            )),
        }
    }

    /// Takes `calls` commands from module `name`'s budget, or says how long until it has them.
    pub(crate) fn spend(
        &self,
        name: &str,
        per_minute: u32,
        calls: usize,
        now: Instant,
    ) -> Result<(), Duration> {
        let capacity = f64::from(per_minute.max(1));
        let rate = capacity / 60.0;
        let need = calls as f64;
        let mut budgets = lock(&self.budgets);
        let bucket = budgets.entry(name.to_string()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        if need > capacity {
            // Never affordable (the config check keeps groups within the budget).
            return Err(Duration::from_secs(60));
        }
        if bucket.tokens >= need {
            bucket.tokens -= need;
            return Ok(());
        }
        Err(Duration::from_secs_f64(
            ((need - bucket.tokens) / rate).min(60.0),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        &self,
        name: &str,
        module: &ProbeModule,
        target: &str,
        client: Arc<CloudClient>,
        key: Key,
        id: u64,
        budget: Duration,
    ) -> Run {
        let entries = self.entries.clone();
        let module = module.clone();
        let (name, target) = (name.to_string(), target.to_string());
        let ids = key.1.clone();
        let deadline = Instant::now() + budget;
        let handle = tokio::spawn(async move {
            let result = Arc::new(run(&client, &name, &target, &module, &key.1, deadline).await);
            // Cut short by a caller who allowed less than the module's timeout: that says
            // something about the caller, not the phones, so it is not kept for anyone else.
            let cut_short = budget < module.timeout && result.timed_out();
            let mut entries = lock(&entries);
            let entry = entries.entry(key).or_default();
            entry.inflight.retain(|r| r.id != id);
            if cut_short {
                tracing::debug!(
                    module = %name,
                    target = %target,
                    budget_s = budget.as_secs_f64(),
                    "probe run cut short by its caller's deadline; not kept"
                );
            } else {
                let ttl = cache_ttl(result.success(), module.min_interval);
                entry.last = Some(Last {
                    result: result.clone(),
                    fresh_until: result.finished + ttl,
                    stale_until: result.finished + module.min_interval * STALE_FACTOR,
                });
            }
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

/// The `error_code` of a phone whose job the API's answers cannot tell apart from another's.
pub const DUPLICATE_JOB_ID: &str = "duplicate_job_id";

/// How an async-command answer's jobs map onto the phones asked.
#[derive(Debug, Default, PartialEq)]
pub struct Assignment {
    /// Job id → phone, for the jobs to poll.
    pub pending: HashMap<String, String>,
    /// Phones settled without polling: missing from the answer, or sharing a job id with
    /// another phone.
    pub settled: Vec<(String, JobOutcome)>,
    /// Rows for phones that were not asked (ignored).
    pub unasked: usize,
    /// Rows repeating a phone already listed (the first wins).
    pub repeated: usize,
}

impl Assignment {
    fn missing(&self) -> usize {
        self.settled
            .iter()
            .filter(|(_, o)| *o == JobOutcome::Missing)
            .count()
    }

    fn shared_job_ids(&self) -> usize {
        self.settled.len() - self.missing()
    }
}

/// Maps the async-command answer onto `ids` (distinct): every phone asked ends up either pending
/// under its own job id or settled, whatever the answer lists.
pub fn assign_jobs(ids: &[String], jobs: &[CmdJob]) -> Assignment {
    let mut out = Assignment::default();
    let asked: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut job_of: HashMap<&str, &str> = HashMap::with_capacity(ids.len());
    for j in jobs {
        if !asked.contains(j.instance_id.as_str()) {
            out.unasked += 1;
        } else if job_of.contains_key(j.instance_id.as_str()) {
            out.repeated += 1;
        } else {
            job_of.insert(&j.instance_id, &j.job_id);
        }
    }
    let mut holders: HashMap<&str, usize> = HashMap::with_capacity(job_of.len());
    for job in job_of.values() {
        *holders.entry(job).or_default() += 1;
    }
    for id in ids {
        match job_of.get(id.as_str()) {
            None => out.settled.push((id.clone(), JobOutcome::Missing)),
            Some(job) if holders.get(job).copied().unwrap_or(0) > 1 => out.settled.push((
                id.clone(),
                JobOutcome::Failed {
                    code: DUPLICATE_JOB_ID.into(),
                    matched: false,
                },
            )),
            Some(job) => {
                out.pending.insert(job.to_string(), id.clone());
            }
        }
    }
    out
}

/// What one task answer settles: the pending jobs it reports finished, each removed from
/// `pending`. A job id answered by several rows that disagree cannot be read: its phone fails
/// with [`DUPLICATE_JOB_ID`]. Rows of jobs not pending (settled earlier, or not this task's) are
/// ignored. Also returns how many job ids came in rows that repeat (agreeing) and that conflict.
pub fn settle_jobs(
    pending: &mut HashMap<String, String>,
    rows: &[JobDetail],
    expect: Option<&Regex>,
) -> (Vec<(String, JobOutcome)>, usize, usize) {
    let mut by_job: HashMap<&str, Vec<&JobDetail>> = HashMap::new();
    for row in rows {
        if pending.contains_key(&row.job_id) {
            by_job.entry(&row.job_id).or_default().push(row);
        }
    }
    let (mut repeated, mut conflicting) = (0, 0);
    let mut out = Vec::new();
    for (job, rows) in by_job {
        let first = rows[0];
        let outcome = if rows.iter().all(|r| *r == first) {
            if rows.len() > 1 {
                repeated += 1;
            }
            job_outcome(first, expect)
        } else {
            conflicting += 1;
            Some(JobOutcome::Failed {
                code: DUPLICATE_JOB_ID.into(),
                matched: false,
            })
        };
        if let Some(outcome) = outcome {
            if let Some(id) = pending.remove(job) {
                out.push((id, outcome));
            }
        }
    }
    (out, repeated, conflicting)
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
    let (info, request_id) = match tokio::time::timeout_at(
        deadline,
        client.koophone_command(&module.command, ids, deadline),
    )
    .await
    {
        Ok(Ok(answer)) => answer,
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
    let assignment = assign_jobs(ids, &info.cmd_jobs);
    let (missing, shared) = (assignment.missing(), assignment.shared_job_ids());
    let Assignment {
        mut pending,
        settled: mut out,
        unasked,
        repeated,
    } = assignment;
    if missing + shared + unasked + repeated > 0 {
        tracing::warn!(
            module = name,
            target,
            request_id = request_id.as_deref().unwrap_or("-"),
            task_id = %label_safe(&info.task_id),
            missing,
            sharing_a_job_id = shared,
            not_asked = unasked,
            repeated_rows = repeated,
            "probe command answer does not list one job per phone asked; those phones fail"
        );
    }
    let last_chance = deadline.checked_sub(FINAL_POLL_MARGIN).unwrap_or(deadline);
    let mut stop = None;
    let mut noted = false;
    while !pending.is_empty() {
        let now = Instant::now();
        let wake = (now + module.poll_interval).min(last_chance);
        if wake <= now {
            break;
        }
        tokio::time::sleep_until(wake).await;
        let (rows, request_id) =
            match tokio::time::timeout_at(deadline, client.koophone_task(&info.task_id, deadline))
                .await
            {
                Ok(Ok(answer)) => answer,
                Ok(Err(e)) if e.kind == ErrorKind::Timeout => break,
                Ok(Err(e)) => {
                    log_api_error(name, target, "task query", &e);
                    stop = Some(JobOutcome::Upstream(e.kind));
                    break;
                }
                Err(_) => break,
            };
        let (done, repeated, conflicting) =
            settle_jobs(&mut pending, &rows, module.expect.as_ref());
        out.extend(done);
        if (repeated > 0 || conflicting > 0) && !noted {
            // Once per call: a task polled every second would otherwise say it every second.
            noted = true;
            tracing::warn!(
                module = name,
                target,
                request_id = request_id.as_deref().unwrap_or("-"),
                repeated_job_ids = repeated,
                conflicting_job_ids = conflicting,
                "probe task answer lists a job more than once; conflicting ones fail"
            );
        }
        crate::debug_log::event("info", "task polled", || {
            vec![
                ("task_id", info.task_id.clone()),
                ("rows", rows.len().to_string()),
                ("still_running", pending.len().to_string()),
            ]
        });
    }
    let left = stop.unwrap_or(JobOutcome::TimedOut);
    out.extend(pending.into_values().map(|id| (id, left.clone())));
    out
}

/// The probe state shared by every cloud.
pub(crate) fn state(fleet: &Fleet) -> Result<&super::ProbeState, Refusal> {
    fleet
        .shared::<super::ProbeState>(super::KEY)
        .ok_or_else(|| Refusal::BadRequest("this exporter runs no probes".into()))
}

/// What the landing page keeps of one answered probe.
pub(crate) fn record(
    module: &str,
    target: &str,
    result: &ProbeResult,
    source: &'static str,
) -> crate::status::ProbeRecord {
    crate::status::ProbeRecord {
        module: module.to_string(),
        target: target.to_string(),
        at: std::time::SystemTime::now(),
        took: result.duration,
        success: result.success(),
        phones: result.jobs.len(),
        failed: result
            .jobs
            .iter()
            .filter(|(_, o)| !(o.succeeded() && o.matched()))
            .count(),
        source,
    }
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
            max_commands_per_minute: 60,
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

    fn cmd(phone: &str, job: &str) -> CmdJob {
        CmdJob {
            instance_id: phone.into(),
            job_id: job.into(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_phone_asked_is_assigned_whatever_the_command_answer_lists() {
        let ids = strings(&["a", "b", "c", "d", "e"]);
        let answer = [
            cmd("a", "j1"),
            cmd("b", "j2"),
            cmd("c", "j2"),        // shares b's job id
            cmd("a", "j9"),        // a repeated: the first row wins
            cmd("stranger", "j3"), // not asked
            cmd("e", "j5"),
            // d missing
        ];
        let a = assign_jobs(&ids, &answer);
        assert_eq!(
            a.pending,
            HashMap::from([
                ("j1".to_string(), "a".to_string()),
                ("j5".into(), "e".into())
            ])
        );
        let dup = JobOutcome::Failed {
            code: DUPLICATE_JOB_ID.into(),
            matched: false,
        };
        assert_eq!(
            a.settled,
            vec![
                ("b".to_string(), dup.clone()),
                ("c".to_string(), dup),
                ("d".to_string(), JobOutcome::Missing),
            ]
        );
        assert_eq!((a.unasked, a.repeated), (1, 1));
        assert_eq!((a.missing(), a.shared_job_ids()), (1, 2));
        let clean = assign_jobs(&ids[..2], &[cmd("b", "x"), cmd("a", "y")]);
        assert_eq!(clean.pending.len(), 2);
        assert!(clean.settled.is_empty());
    }

    #[test]
    fn task_rows_settle_pending_jobs_and_conflicts_fail() {
        let row = |id: &str, status: i64, out: Option<&str>| JobDetail {
            job_id: id.into(),
            ..job(status, "", out)
        };
        let mut pending: HashMap<String, String> =
            [("j1", "a"), ("j2", "b"), ("j3", "c"), ("j4", "d")]
                .iter()
                .map(|(j, p)| (j.to_string(), p.to_string()))
                .collect();
        let rows = [
            row("j1", 2, Some("1")),
            row("j1", 2, Some("1")), // identical repeat: fine
            row("j2", 2, Some("1")),
            row("j2", -1, None),      // conflicting: b cannot be read
            row("j3", 1, None),       // still running
            row("old", 2, Some("1")), // not pending: ignored
        ];
        let (mut done, repeated, conflicting) = settle_jobs(&mut pending, &rows, None);
        done.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            done,
            vec![
                ("a".to_string(), JobOutcome::Succeeded { matched: true }),
                (
                    "b".to_string(),
                    JobOutcome::Failed {
                        code: DUPLICATE_JOB_ID.into(),
                        matched: false
                    }
                ),
            ]
        );
        assert_eq!((repeated, conflicting), (1, 1));
        let mut left: Vec<_> = pending.values().cloned().collect();
        left.sort();
        assert_eq!(left, ["c", "d"]);
    }

    #[test]
    fn the_command_budget_holds_a_minute_and_refills_at_its_rate() {
        let p = Prober::default();
        let t0 = Instant::now();
        for _ in 0..6 {
            assert_eq!(p.spend("m", 6, 1, t0), Ok(()));
        }
        // Spent: one more comes back every 10 s.
        let wait = p.spend("m", 6, 1, t0).unwrap_err();
        assert_eq!(wait.as_secs_f64().round(), 10.0);
        assert!(p.spend("m", 6, 1, t0 + Duration::from_secs(5)).is_err());
        assert_eq!(p.spend("m", 6, 1, t0 + Duration::from_secs(10)), Ok(()));
        // Another module has its own budget; a run of two calls needs two.
        assert_eq!(p.spend("other", 6, 2, t0), Ok(()));
        // Never more than a minute's worth, however long it was idle.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(p.spend("m", 6, 6, later), Ok(()));
        assert!(p.spend("m", 6, 1, later).is_err());
        // A run the budget can never pay for is refused, not queued.
        assert!(p
            .spend("m", 6, 7, later + Duration::from_secs(3600))
            .is_err());
    }

    #[test]
    fn failures_are_kept_a_quarter_as_long() {
        let m = Duration::from_secs(60);
        assert_eq!(cache_ttl(true, m), m);
        assert_eq!(cache_ttl(false, m), Duration::from_secs(15));
        assert_eq!(cache_ttl(false, Duration::ZERO), Duration::ZERO);
    }
}
