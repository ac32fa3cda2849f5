//! How the command's and the task's answers map onto the phones asked: every phone asked gets
//! exactly one outcome, whatever the answers list (missing phones, shared or repeated job ids,
//! rows for phones not asked, conflicting rows).

use std::collections::{HashMap, HashSet};

use regex::Regex;

use super::outcome::{job_outcome, JobOutcome};
use crate::services::koophone::api::{CmdJob, JobDetail};

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
    pub(super) fn missing(&self) -> usize {
        self.settled
            .iter()
            .filter(|(_, o)| *o == JobOutcome::Missing)
            .count()
    }

    pub(super) fn shared_job_ids(&self) -> usize {
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
