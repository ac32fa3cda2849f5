//! DCS instance counts by state, account-wide and per engine.

use crate::cloud::dcs::DcsStatus;
use crate::cloud::{ApiError, CloudClient};
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
    let status = client.dcs_status(cfg.include_failure, deadline).await?;
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
