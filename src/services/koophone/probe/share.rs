//! What probes share between requests, the [`ProbeRuns`]: identical concurrent probes share one
//! run, a repeat is answered from the last result, and each module has a command budget (the
//! rules are in the module doc of [`super`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::outcome::{JobOutcome, ProbeResult};
use super::run::{run, FINAL_POLL_MARGIN};
use crate::services::koophone::api::MAX_IDS_PER_CALL;
use crate::services::koophone::modules::ProbeModule;
use crate::sync::{lock, spawn_flight, Flight};
use crate::transport::CloudClient;

/// A requester waits this long past the run's deadline for the run's own (detailed) result
/// before answering "timed out" by itself.
const ANSWER_GRACE: Duration = Duration::from_millis(100);

/// How long a result is served again: `min_interval` when it succeeded, a quarter of that when it
/// failed (see the module doc of [`super`]).
pub fn cache_ttl(success: bool, min_interval: Duration) -> Duration {
    if success {
        min_interval
    } else {
        min_interval / 4
    }
}

/// Where an answer came from: the `source` label of `huaweicloud_koophone_probe_commands_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
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

impl Served {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Served::Command => "command",
            Served::Shared => "shared",
            Served::Cached => "cached",
            Served::Throttled => "throttled",
            Served::TooShort => "too_short",
        }
    }

    /// The answer is a result kept from an earlier run.
    pub(super) fn is_last_result(self) -> bool {
        matches!(self, Served::Cached | Served::Throttled)
    }
}

/// A run in flight, awaited by every probe that joined it.
type Run = Flight<Arc<ProbeResult>>;
/// A module name and the sorted phone ids it runs on: what makes two probes identical.
pub(super) type Key = (String, Vec<String>);

/// A run in flight and what it promises a probe that joins it.
struct RunInFlight {
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
    inflight: Vec<RunInFlight>,
    /// The last result of a run (each ran under the module's timeout).
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

/// Probe state that lives between requests (in the `Exporter`; a reload starts afresh).
#[derive(Default)]
pub struct ProbeRuns {
    /// By (module, sorted phone ids).
    entries: Arc<Mutex<HashMap<Key, Entry>>>,
    /// Command budgets by module name (bounded by the configured modules). Shared with the
    /// prober of the next config: a reload (which anyone may ask for when no web config guards
    /// `/-/reload`) must not refill them.
    budgets: Arc<Mutex<HashMap<String, Bucket>>>,
    /// Numbers runs.
    next_run: AtomicU64,
}

impl ProbeRuns {
    /// The prober of a reloaded config: no results or runs carried over (the modules may have
    /// changed), but the command budgets spent so far still count.
    pub fn after_reload(previous: &ProbeRuns) -> ProbeRuns {
        ProbeRuns {
            budgets: Arc::clone(&previous.budgets),
            ..ProbeRuns::default()
        }
    }

    /// Answers a probe of `ids` by `module` whose caller allows `budget`: from the last result,
    /// by joining a run in flight that gives its jobs at least `budget`, or by starting one
    /// when the module's command budget allows. `Err` is the wait until it does. A run follows
    /// the rule of every budget (`crate::transport`'s `budget` module doc): it is given the
    /// module's `timeout`, whatever `budget` says, and finishes and is kept even when this
    /// request stops waiting at its own deadline, so a short caller's command serves the next
    /// caller instead of being thrown away.
    ///
    /// A run joined that failed was started by an earlier caller, perhaps before a fault
    /// cleared: while this caller has time to poll, it asks once more (served as any probe).
    pub async fn probe(
        &self,
        name: &str,
        module: &ProbeModule,
        target: &str,
        client: Arc<CloudClient>,
        ids: Vec<String>,
        budget: Duration,
    ) -> Result<(Arc<ProbeResult>, Served), Duration> {
        let deadline = Instant::now() + budget;
        let first = self
            .probe_once(name, module, target, client.clone(), ids.clone(), budget)
            .await?;
        let left = deadline.saturating_duration_since(Instant::now());
        if first.1 != Served::Shared || first.0.success() || left <= FINAL_POLL_MARGIN {
            return Ok(first);
        }
        Ok(self
            .probe_once(name, module, target, client, ids, left)
            .await
            .unwrap_or(first))
    }

    /// One answer to a probe (see [`probe`](Self::probe)).
    async fn probe_once(
        &self,
        name: &str,
        module: &ProbeModule,
        target: &str,
        client: Arc<CloudClient>,
        ids: Vec<String>,
        budget: Duration,
    ) -> Result<(Arc<ProbeResult>, Served), Duration> {
        let started = Instant::now();
        let deadline = started + budget;
        let key = (name.to_string(), ids.clone());
        let (run, source) = {
            let mut entries = lock(&self.entries);
            let now = Instant::now();
            let entry = entries.entry(key.clone()).or_default();
            if let Some(last) = &entry.last {
                if now < last.fresh_until {
                    return Ok((last.result.clone(), Served::Cached));
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
                (run, Served::Shared)
            } else if budget <= FINAL_POLL_MARGIN {
                // No poll could happen before the deadline: a command would only cost.
                return Ok((
                    Arc::new(ProbeResult::all(&ids, JobOutcome::TimedOut, started)),
                    Served::TooShort,
                ));
            } else {
                let calls = ids.len().div_ceil(MAX_IDS_PER_CALL);
                if let Err(wait) = self.spend(name, module.max_commands_per_minute, calls, now) {
                    return match entry.last.as_ref().filter(|l| now < l.stale_until) {
                        Some(last) => Ok((last.result.clone(), Served::Throttled)),
                        None => Err(wait),
                    };
                }
                let id = self.next_run.fetch_add(1, Ordering::Relaxed);
                let run = self.start(name, module, target, client, key.clone(), id);
                entry.inflight.push(RunInFlight {
                    id,
                    budget: module.timeout,
                    started: now,
                    run: run.clone(),
                });
                // Forget what can no longer be served, so the map stays as small as the set
                // of targets probed recently.
                entries.retain(|_, e| {
                    !e.inflight.is_empty() || e.last.as_ref().is_some_and(|l| now < l.stale_until)
                });
                (run, Served::Command)
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

    /// Starts run `id` of `key` on its own task, under the module's `timeout`.
    fn start(
        &self,
        name: &str,
        module: &ProbeModule,
        target: &str,
        client: Arc<CloudClient>,
        key: Key,
        id: u64,
    ) -> Run {
        let entries = self.entries.clone();
        let module = module.clone();
        let (name, target) = (name.to_string(), target.to_string());
        let ids = key.1.clone();
        let deadline = Instant::now() + module.timeout;
        // Counted from here, for a run that died (a panic) without a result of its own.
        let started = Instant::now();
        spawn_flight(
            async move {
                let result =
                    Arc::new(run(&client, &name, &target, &module, &key.1, deadline).await);
                // Never cut short by a caller (it has the module's timeout): kept for the next.
                let mut entries = lock(&entries);
                let entry = entries.entry(key).or_default();
                entry.inflight.retain(|r| r.id != id);
                let ttl = cache_ttl(result.success(), module.min_interval);
                entry.last = Some(Last {
                    result: result.clone(),
                    fresh_until: result.finished + ttl,
                    stale_until: result.finished + module.min_interval * STALE_FACTOR,
                });
                result
            },
            move |e| {
                tracing::error!(error = %e, "probe run died");
                Arc::new(ProbeResult::all(&ids, JobOutcome::Missing, started))
            },
        )
    }
}
