//! The families of one `/probe` answer, built fresh for each request from its result.

use std::time::Duration;

use super::outcome::ProbeResult;
use crate::metrics::{Families, Family};

/// Whether the probe succeeded.
pub static PROBE_SUCCESS: Family = Family::gauge(
    "probe_success",
    &[],
    "Whether the probe succeeded: every phone's job succeeded and its output matched the module's expect pattern.",
);

/// How long its command run took.
pub static PROBE_DURATION: Family = Family::gauge(
    "probe_duration_seconds",
    &[],
    "How long the probe's command run took (of the run that produced this answer, when shared or cached).",
);

/// Whether the answer is the last result served again.
pub static CACHED: Family = Family::gauge(
    "huaweicloud_koophone_probe_cached",
    &[],
    "Whether this answer is the last result, served again within the module's min_interval (1), or comes from a command run for it (0).",
);

/// The age of the run that produced the answer.
pub static RESULT_AGE: Family = Family::gauge(
    "huaweicloud_koophone_probe_result_age_seconds",
    &[],
    "Time since the run that produced this answer finished.",
);

/// Per phone: did its job succeed.
pub static JOB_SUCCESS: Family = Family::gauge(
    "huaweicloud_koophone_probe_job_success",
    &["instance_id"],
    "Whether the probe command's job on this phone succeeded (1) or failed, timed out or could not run (0).",
);

/// Per phone: did its output match.
pub static OUTPUT_MATCHED: Family = Family::gauge(
    "huaweicloud_koophone_probe_output_matched",
    &["instance_id"],
    "Whether the probe command's output on this phone matched the module's expect pattern (any output when unset; a failed job without output matches nothing).",
);

/// Per phone: why its job failed.
pub static JOB_ERROR_INFO: Family = Family::gauge(
    "huaweicloud_koophone_probe_job_error_info",
    &["instance_id", "error_code"],
    "Why the probe command's job on this phone did not succeed: the job's error code, or timeout, missing or upstream_<result> when the API did not tell.",
);

/// The families of one `/probe` answer, built fresh for each request.
pub fn families(result: &ProbeResult, cached: bool, age: Duration) -> Families {
    let mut f = Families::new();
    let b = |v: bool| if v { 1.0 } else { 0.0 };
    f.gauge(&PROBE_SUCCESS, &[], b(result.success()));
    f.gauge(&PROBE_DURATION, &[], result.duration.as_secs_f64());
    f.gauge(&CACHED, &[], b(cached));
    f.gauge(&RESULT_AGE, &[], age.as_secs_f64());
    for (id, outcome) in &result.jobs {
        let labels = [("instance_id", id.as_str())];
        f.gauge(&JOB_SUCCESS, &labels, b(outcome.succeeded()));
        f.gauge(&OUTPUT_MATCHED, &labels, b(outcome.matched()));
        if let Some(code) = outcome.error_code() {
            f.gauge(
                &JOB_ERROR_INFO,
                &[("instance_id", id.as_str()), ("error_code", code.as_str())],
                1.0,
            );
        }
    }
    f
}
