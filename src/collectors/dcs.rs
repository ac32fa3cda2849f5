//! DCS instance counts by state, account-wide and per engine. An answer that would make more
//! than `dcs.max_series` series (default 1,000) fails the collector; a field whose name is no
//! sane label value is left out and logged (see [`crate::cloud::dcs::sane_label`]).

use crate::cloud::dcs::DcsStatus;
use crate::cloud::{ApiError, CloudClient, ErrorKind};
use crate::config::DcsConfig;
use crate::metrics::Families;
use tokio::time::Instant;

/// Account-wide instance count per state.
pub const INSTANCES: &str = "huaweicloud_dcs_instances";
/// Per-engine instance count per state.
pub const ENGINE_INSTANCES: &str = "huaweicloud_dcs_engine_instances";

/// Fetches and maps.
pub async fn collect(
    client: &CloudClient,
    cfg: &DcsConfig,
    deadline: Instant,
) -> Result<Families, ApiError> {
    let (status, request_id) = client.dcs_status(cfg.include_failure, deadline).await?;
    if status.series() > cfg.max_series {
        return Err(ApiError {
            request_id,
            ..ApiError::new(
                ErrorKind::LimitExceeded,
                crate::cloud::dcs::DCS_STATUS.name,
                format!(
                    "the answer would make {} series, more than dcs.max_series ({}); raise it if the answer is real",
                    status.series(),
                    cfg.max_series
                ),
            )
        });
    }
    if status.rejected > 0 {
        tracing::warn!(
            cloud = %client.cloud,
            rejected = status.rejected,
            example = status.rejected_example.as_deref().unwrap_or(""),
            request_id = request_id.as_deref().unwrap_or("-"),
            "DCS answered fields whose names are no sane label value; left them out"
        );
    }
    Ok(map(&client.cloud, &status))
}

/// Pure mapping: one series per top-level state, one per engine and state.
pub fn map(cloud: &str, s: &DcsStatus) -> Families {
    let mut f = Families::new();
    for (state, n) in &s.states {
        f.gauge(
            INSTANCES,
            "DCS instances in the account, by lifecycle state (from the <state>_count fields).",
            &[("cloud", cloud), ("state", state)],
            *n as f64,
        );
    }
    for (engine, states) in &s.engines {
        for (state, n) in states {
            f.gauge(
                ENGINE_INSTANCES,
                "DCS instances per cache engine, by lifecycle state.",
                &[("cloud", cloud), ("engine", engine), ("state", state)],
                *n as f64,
            );
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::dcs::parse;

    #[test]
    fn maps_the_page_example() {
        let body = r#"{ "running_count" : 16, "createfailed_count" : 44, "redis" : { "running_count" : 8, "createfailed_count" : 22 }, "memcached" : { "running_count" : 8, "createfailed_count" : 22 } }"#;
        let f = map("prod", &parse(body.as_bytes()).unwrap());
        assert_eq!(
            f.value(INSTANCES, &[("cloud", "prod"), ("state", "running")]),
            Some(16.0)
        );
        assert_eq!(f.value(INSTANCES, &[("state", "createfailed")]), Some(44.0));
        assert_eq!(
            f.value(
                ENGINE_INSTANCES,
                &[("engine", "redis"), ("state", "running")]
            ),
            Some(8.0)
        );
        assert_eq!(f.len_of(ENGINE_INSTANCES), 4);
    }
}
