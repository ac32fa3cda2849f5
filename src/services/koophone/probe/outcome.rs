//! How a probe's jobs end: one phone's [`JobOutcome`] read from its task row, and the
//! [`ProbeResult`] of one run of a module's command on a set of phones.

use std::time::Duration;

use regex::Regex;
use tokio::time::Instant;

use crate::services::koophone::api::JobDetail;
use crate::transport::ErrorKind;

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
    /// What the landing page keeps of this result, answered for `module` and `target`.
    pub(crate) fn record(
        &self,
        module: &str,
        target: &str,
        source: &'static str,
    ) -> crate::status::ProbeRecord {
        crate::status::ProbeRecord {
            module: module.to_string(),
            target: target.to_string(),
            at: std::time::SystemTime::now(),
            took: self.duration,
            success: self.success(),
            phones: self.jobs.len(),
            failed: self
                .jobs
                .iter()
                .filter(|(_, o)| !(o.succeeded() && o.matched()))
                .count(),
            source,
        }
    }

    /// Every job succeeded and every output matched.
    pub fn success(&self) -> bool {
        !self.jobs.is_empty() && self.jobs.iter().all(|(_, o)| o.succeeded() && o.matched())
    }

    /// Every phone with the same outcome (a run that could not start or finish at all).
    pub(super) fn all(ids: &[String], outcome: JobOutcome, started: Instant) -> ProbeResult {
        let now = Instant::now();
        ProbeResult {
            jobs: ids.iter().map(|id| (id.clone(), outcome.clone())).collect(),
            duration: now.saturating_duration_since(started),
            finished: now,
        }
    }
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

/// An upstream error code made fit for a label (see [`crate::metrics::bounded_id`]).
pub(super) fn label_safe(code: &str) -> String {
    crate::metrics::bounded_id(code).unwrap_or_default()
}
