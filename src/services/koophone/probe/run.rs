//! One run of a module's command: async-command in calls of at most 100 phones, then each task
//! polled every `poll_interval` until no job runs or the deadline passes.

use std::time::Duration;

use tokio::time::Instant;

use super::assign::{assign_jobs, settle_jobs, Assignment};
use super::outcome::{label_safe, JobOutcome, ProbeResult};
use crate::services::koophone::api::MAX_IDS_PER_CALL;
use crate::services::koophone::modules::ProbeModule;
use crate::transport::{ApiError, CloudClient, ErrorKind};

/// The last poll of a task happens this long before the deadline, so it can still answer.
pub(super) const FINAL_POLL_MARGIN: Duration = Duration::from_millis(200);

/// Runs the module's command on `ids` (at most 100 per call, the calls concurrently) and polls
/// each task until its jobs finish or the deadline passes.
pub(super) async fn run(
    client: &CloudClient,
    name: &str,
    target: &str,
    module: &ProbeModule,
    ids: &[String],
    deadline: Instant,
) -> ProbeResult {
    let started = Instant::now();
    let call = CommandCall {
        client,
        name,
        target,
        module,
        deadline,
    };
    let calls = ids.chunks(MAX_IDS_PER_CALL).map(|chunk| call.run(chunk));
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

/// What the calls of one run share.
struct CommandCall<'a> {
    /// The client of the module's cloud.
    client: &'a CloudClient,
    /// Module name, for log lines.
    name: &'a str,
    /// Target as given, for log lines.
    target: &'a str,
    /// The module: its command, `expect` and `poll_interval`.
    module: &'a ProbeModule,
    /// When the run's time is up.
    deadline: Instant,
}

impl CommandCall<'_> {
    fn log_api_error(&self, what: &str, e: &ApiError) {
        tracing::warn!(
            module = self.name,
            target = self.target,
            result = e.kind.result(),
            request_id = e.request_id.as_deref().unwrap_or("-"),
            error = %e,
            "probe {what} failed"
        );
    }

    /// One async-command call for `ids` (at most 100) and the polling of its task.
    async fn run(&self, ids: &[String]) -> Vec<(String, JobOutcome)> {
        let (client, name, target, module) = (self.client, self.name, self.target, self.module);
        let deadline = self.deadline;
        let every = |o: JobOutcome| ids.iter().map(|id| (id.clone(), o.clone())).collect();
        let (info, request_id) = match tokio::time::timeout_at(
            deadline,
            client.koophone_command(&module.command, ids, deadline),
        )
        .await
        {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                self.log_api_error("command", &e);
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
            let (rows, request_id) = match tokio::time::timeout_at(
                deadline,
                client.koophone_task(&info.task_id, deadline),
            )
            .await
            {
                Ok(Ok(answer)) => answer,
                Ok(Err(e)) if e.kind == ErrorKind::Timeout => break,
                Ok(Err(e)) => {
                    self.log_api_error("task query", &e);
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
}
