//! The families of one `/probe` answer, built fresh for each request from its result.

use std::time::Duration;

use super::outcome::ProbeResult;
use crate::metrics::Families;

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
