//! KooPhone command probes: `/probe?module=NAME&target=T`, the blackbox_exporter pattern.
//!
//! Owns the query (a configured module and a target; never a command), target resolution (one
//! configured phone of the module's cloud, or a group of the module whose members all are), the
//! run (async-command in calls of at most 100 phones, then each task polled every
//! `poll_interval` until no job runs or the deadline passes), the mapping of the jobs to a fresh
//! set of families per request, and cost control:
//!
//! - a run is given the module's `timeout`, whatever its caller's deadline (the rule of every
//!   budget, in `crate::transport`'s `budget` module doc): a caller with a shorter
//!   scrape-timeout header is answered "timeout" at its own deadline (that answer is never
//!   kept), while the run goes on, is kept and serves the next caller, so a short caller's
//!   command is never thrown away;
//! - identical concurrent probes (same module, same resolved phones) share one command: a
//!   probe joins the run in flight, which gives its jobs at least as long as the probe's own
//!   deadline would;
//! - a repeat within `min_interval` is answered from the last result, with no new command.
//!   A failed result is kept for only a quarter of `min_interval`, so a recovery shows up
//!   soon, while a failing fleet (or a failing API) still costs at most four commands per
//!   `min_interval` instead of one per scrape;
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
//!
//! Files: `target` (the query, the target's phones, refusals), `outcome` (how a job ends, a
//! run's result), `assign` (answers mapped onto the phones asked), `run` (the command and the
//! polling), `share` (the [`ProbeRuns`]: shared runs, last results, budgets), `families` (the
//! answer's metrics), [`debug`] (`debug=true`).

mod assign;
pub mod debug;
pub mod families;
mod outcome;
mod run;
mod share;
pub mod state;
mod target;
#[cfg(test)]
mod tests;

pub use crate::services::prober::Refusal;
pub use assign::{assign_jobs, settle_jobs, Assignment, DUPLICATE_JOB_ID};
pub use families::families;
pub use outcome::{job_outcome, JobOutcome, ProbeResult};
pub use share::{cache_ttl, ProbeRuns, Served, STALE_FACTOR};
pub use target::{parse_params, resolve_target};

use tokio::time::Instant;

use crate::services::fleet::Fleet;
use target::{budget_spent, resolve};

/// Serves one `/probe` request: `Ok` is the exposition (HTTP 200), `Err` a refusal (400 with a
/// one-line reason, or 429 when the module's command budget is spent).
pub async fn serve(
    fleet: &Fleet,
    runs: &ProbeRuns,
    params: &[(String, String)],
    timeout_header: Option<&str>,
) -> Result<Vec<u8>, Refusal> {
    let req = resolve(fleet, params, timeout_header).await?;
    let (name, target, module) = (req.name, req.target, req.module);
    let answer = runs
        .probe(name, module, target, req.client, req.ids, req.budget)
        .await;
    let source = match &answer {
        Ok((_, source)) => *source,
        Err(_) => Served::Throttled,
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
        .record_probe(result.record(name, target, source.label()));
    let age = Instant::now().saturating_duration_since(result.finished);
    let fams = families(&result, source.is_last_result(), age);
    let mut out = Vec::with_capacity(4096);
    fams.encode(&mut out);
    Ok(out)
}
