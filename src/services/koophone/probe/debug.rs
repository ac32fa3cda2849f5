//! `/probe?module=…&target=…&debug=true`: the probe's log — every upstream call with its request
//! id, the command's task and each poll of it, each phone's outcome — then the metrics the probe
//! would have returned and the module's configuration, as `text/plain`, the way
//! blackbox_exporter answers `debug=true`.
//!
//! A debug probe runs its own command with the log on ([`crate::debug_log`]): it is never
//! answered from the probe cache, never joins a shared run, and its result is never stored where
//! non-debug requests look, so they answer exactly as if it had not happened. Commands cost (they
//! run on real phones; Huawei classes the action as a write), so debug runs have a budget of their
//! own, per module and phone set: one at a time, and at most one per quarter of the module's
//! `min_interval` — what a failing target already costs (see [`cache_ttl`]). A debug
//! request inside that window gets the last debug run's output again, headed by a line that says
//! how old it is and when a fresh run is allowed. With `min_interval: 0s` every debug request
//! runs (one after another).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::families::families;
use super::outcome::{JobOutcome, ProbeResult};
use super::run::{run, FINAL_POLL_MARGIN};
use super::share::ProbeRuns;
use super::share::{cache_ttl, Key};
use super::target::{budget_spent, resolve};
use crate::debug_log::{self, line, value};
use crate::services::fleet::Fleet;
use crate::services::koophone::api::MAX_IDS_PER_CALL;
use crate::services::koophone::modules::ProbeModule;
use crate::services::prober::Refusal;
use crate::sync::lock;

/// The last debug run of one module and phone set.
struct LastDebug {
    /// Until when it is replayed instead of running again.
    until: Instant,
    /// When it finished.
    finished: Instant,
    /// Its output.
    body: Arc<String>,
    /// Its result, for the recent-probes table.
    result: Arc<ProbeResult>,
}

type DebugSlot = Arc<tokio::sync::Mutex<Option<LastDebug>>>;

/// Debug runs in flight and the last one of each module and phone set.
#[derive(Default)]
pub struct DebugRuns {
    /// By (module, sorted phone ids); the async lock makes runs of one key take turns.
    entries: Mutex<HashMap<Key, DebugSlot>>,
}

impl DebugRuns {
    fn slot(&self, key: &Key) -> DebugSlot {
        let mut entries = lock(&self.entries);
        if let Some(s) = entries.get(key) {
            return s.clone();
        }
        // Forget keys nobody waits on whose last run can no longer be replayed, so the map stays
        // as small as the set of targets debugged recently.
        let now = Instant::now();
        entries.retain(|_, s| {
            Arc::strong_count(s) > 1
                || match s.try_lock() {
                    Ok(last) => last.as_ref().is_some_and(|l| now < l.until),
                    Err(_) => true,
                }
        });
        entries.entry(key.clone()).or_default().clone()
    }
}

/// Serves one debug probe: `Ok` is the text (HTTP 200), `Err` a refusal (400, or 429 when
/// the module's command budget is spent).
pub async fn serve(
    fleet: &Fleet,
    runs: &DebugRuns,
    prober: &ProbeRuns,
    params: &[(String, String)],
    timeout_header: Option<&str>,
) -> Result<String, Refusal> {
    let req = resolve(fleet, params, timeout_header).await?;
    let (name, target, module, ids) = (req.name, req.target, req.module, req.ids);
    let deadline = Instant::now() + req.budget;
    let key = (name.to_string(), ids.clone());
    let slot = runs.slot(&key);
    let Ok(mut last) = tokio::time::timeout_at(deadline, slot.lock()).await else {
        return Ok(format!(
            "Another debug probe of module {} on this target is still running past this request's deadline; ask again when it has finished.\n",
            value(name)
        ));
    };
    let count = |source: &str| {
        fleet
            .metrics
            .probe_commands
            .with_label_values(&[name, source])
            .inc();
    };
    let now = Instant::now();
    if let Some(l) = last.as_ref().filter(|l| now < l.until) {
        count("cached");
        fleet
            .status
            .record_probe(l.result.record(name, target, "debug, replayed"));
        let budget = cache_ttl(false, module.min_interval);
        return Ok(format!(
            "Replayed: this is the output of the debug run that finished {:.1}s ago. A debug probe runs its own command at most once per {} (a quarter of min_interval) for each module and target; a fresh run is allowed in {:.1}s.\n\n{}",
            now.saturating_duration_since(l.finished).as_secs_f64(),
            humantime::format_duration(budget),
            l.until.saturating_duration_since(now).as_secs_f64(),
            l.body
        ));
    }
    // No poll could happen before the deadline: a command would spend the module's budget
    // on nothing (the rule of every budget: charged only with time to finish).
    if req.budget <= FINAL_POLL_MARGIN {
        count("too_short");
        return Ok(format!(
            "No command sent: this request's deadline ({:.3}s, from the scrape-timeout header) leaves no time to poll the command's task; ask with more time.\n",
            req.budget.as_secs_f64()
        ));
    }
    // A fresh debug run sends commands like any probe: it draws on the module's budget.
    let calls = ids.len().div_ceil(MAX_IDS_PER_CALL);
    if let Err(retry_after) = prober.spend(name, module.max_commands_per_minute, calls, now) {
        count("throttled");
        return Err(budget_spent(name, module, retry_after));
    }
    let begin = line(
        "info",
        "beginning probe",
        &[
            ("module", name.to_string()),
            ("target", target.to_string()),
            ("cloud", module.cloud.clone()),
            ("phones", ids.len().to_string()),
            (
                "timeout_seconds",
                format!(
                    "{:.3}",
                    deadline.saturating_duration_since(now).as_secs_f64()
                ),
            ),
        ],
    );
    let (result, log) =
        debug_log::capture(run(&req.client, name, target, module, &ids, deadline)).await;
    count("command");
    let result = Arc::new(result);
    fleet
        .status
        .record_probe(result.record(name, target, "debug"));
    let body = Arc::new(render(&begin, &log, &result, module));
    *last = Some(LastDebug {
        until: result.finished + cache_ttl(false, module.min_interval),
        finished: result.finished,
        body: body.clone(),
        result,
    });
    Ok(body.to_string())
}

/// The debug text of one run.
fn render(begin: &str, log: &[String], result: &ProbeResult, module: &ProbeModule) -> String {
    let mut out = String::with_capacity(4096 + 160 * (log.len() + result.jobs.len()));
    out.push_str("Logs for the probe:\n");
    out.push_str(begin);
    out.push('\n');
    for l in log {
        out.push_str(l);
        out.push('\n');
    }
    for (id, outcome) in &result.jobs {
        let mut f = vec![
            ("instance_id", id.clone()),
            ("outcome", outcome_name(outcome)),
        ];
        f.push(("matched", outcome.matched().to_string()));
        if let Some(code) = outcome.error_code() {
            f.push(("error_code", code));
        }
        let level = if outcome.succeeded() && outcome.matched() {
            "info"
        } else {
            "warn"
        };
        out.push_str(&line(level, "phone outcome", &f));
        out.push('\n');
    }
    let (level, msg) = if result.success() {
        ("info", "probe succeeded")
    } else {
        ("error", "probe failed")
    };
    out.push_str(&line(
        level,
        msg,
        &[(
            "duration_seconds",
            format!("{:.3}", result.duration.as_secs_f64()),
        )],
    ));
    out.push_str("\n\nMetrics that would have been returned:\n");
    let mut metrics = Vec::with_capacity(2048);
    families(result, false, Duration::ZERO).encode(&mut metrics);
    out.push_str(&String::from_utf8_lossy(&metrics));
    out.push_str("\nModule configuration:\n");
    let _ = writeln!(out, "cloud: {}", value(&module.cloud));
    let _ = writeln!(out, "command: {}", value(&module.command));
    let expect = module.expect.as_ref().map(|r| r.as_str()).unwrap_or("");
    let _ = writeln!(out, "expect: {}", value(expect));
    for (k, d) in [
        ("timeout", module.timeout),
        ("poll_interval", module.poll_interval),
        ("min_interval", module.min_interval),
    ] {
        let _ = writeln!(out, "{k}: {}", humantime::format_duration(d));
    }
    let _ = writeln!(out, "groups: {}", module.groups.len());
    out
}

fn outcome_name(o: &JobOutcome) -> String {
    match o {
        JobOutcome::Succeeded { .. } => "succeeded".into(),
        JobOutcome::Failed { .. } => "failed".into(),
        JobOutcome::TimedOut => "timed_out".into(),
        JobOutcome::Upstream(kind) => format!("upstream_{}", kind.result()),
        JobOutcome::Missing => "missing".into(),
    }
}
