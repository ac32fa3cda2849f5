//! DCS instance counts by state, account-wide and per engine. An answer that would make more
//! than `dcs.max_series` series (default 1,000) fails the collector; a field whose name is no
//! sane label value is left out and logged (see [`crate::services::dcs::api::sane_label`]).
//!
//! And the instances one by one ([`INSTANCE_LISTING`], the `dcs_instances` collector, apart
//! from `dcs` so that a failing listing never hides the counts, nor failing counts the
//! instances): `huaweicloud_dcs_instance_info` and `huaweicloud_dcs_instance_status`, read in
//! every scrape (state, not inventory). Statuses, engines and versions are upstream words
//! ([`crate::metrics::label_word`]: lower snake case, `unknown` outside a bounded word), a name is cut to [`crate::metrics::MAX_NAME_CHARS`]; a row
//! whose id is no sane label value is left out and logged. The listing's series (two per
//! instance) are capped at `dcs.max_series` too.
//! An incomplete listing and one that would remove more than half of the instances follow the
//! one rule of [`crate::inventory::listed`].

use super::config::DcsConfig;
use crate::inventory::resource_series;
use crate::inventory::Names;
use crate::metrics::{label_text, label_word};
use crate::metrics::{Families, Family};
use crate::services::dcs::api::{sane_label, DcsInstance, DcsStatus};
use crate::services::listing::ListingSpec;
use crate::transport::{ApiError, CloudClient, ErrorKind};

use tokio::time::Instant;

/// Account-wide instance count per state.
pub static INSTANCES: Family = Family::gauge(
    "huaweicloud_dcs_instances",
    &["cloud", "state"],
    "DCS instances in the account, by lifecycle state (from the <state>_count fields).",
);
/// Per-engine instance count per state.
pub static ENGINE_INSTANCES: Family = Family::gauge(
    "huaweicloud_dcs_engine_instances",
    &["cloud", "engine", "state"],
    "DCS instances per cache engine, by lifecycle state.",
);

/// One series per DCS instance, value 1, with its name, engine and version.
pub static INSTANCE_INFO: Family = Family::gauge(
    "huaweicloud_dcs_instance_info",
    &["cloud", "instance_id", "name", "engine", "engine_version"],
    "DCS instances: 1 per instance, with its name, cache engine and engine version.",
);
/// One series per DCS instance, value 1, with its status in lower case.
pub static INSTANCE_STATUS: Family = Family::gauge(
    "huaweicloud_dcs_instance_status",
    &["cloud", "instance_id", "status"],
    "DCS instance status (lower case, as the listing says it; unknown when unreadable): 1 per instance.",
);

/// The per-instance collector (the listing), apart from the counts.
pub const INSTANCES_COLLECTOR: &str = "dcs_instances";

/// The instance listing, as the generic runtime of [`crate::services::listing`] reads it in
/// every scrape.
pub static INSTANCE_LISTING: ListingSpec<DcsInstance> = ListingSpec {
    names: Names {
        service: super::config::KEY,
        collector: INSTANCES_COLLECTOR,
        // `api::DCS_LIST.name` (a test checks it).
        operation: "dcs_list",
    },
    what: "DCS instance",
    unit: "instances",
    series_per_row: 2,
    max_series_setting: "dcs.max_series",
    map: map_instances,
};

/// Pure mapping of the listing: info and status per instance; also the number of rows left
/// out because their id is no sane label value.
pub fn map_instances(cloud: &str, rows: &[DcsInstance]) -> (Families, usize) {
    let mut f = Families::new();
    let mut rejected = 0;
    for r in rows {
        if !sane_label(&r.instance_id) {
            rejected += 1;
            continue;
        }
        let name = label_text(r.name.as_deref().unwrap_or(""));
        let engine = label_word(r.engine.as_deref());
        let version = label_word(r.engine_version.as_deref());
        let status = label_word(r.status.as_deref());
        resource_series(
            &mut f,
            &INSTANCE_INFO,
            cloud,
            &r.instance_id,
            &[
                ("name", &name),
                ("engine", &engine),
                ("engine_version", &version),
            ],
        );
        resource_series(
            &mut f,
            &INSTANCE_STATUS,
            cloud,
            &r.instance_id,
            &[("status", &status)],
        );
    }
    (f, rejected)
}

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
                crate::services::dcs::api::DCS_STATUS.name,
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
        f.gauge(&INSTANCES, &[("cloud", cloud), ("state", state)], *n as f64);
    }
    for (engine, states) in &s.engines {
        for (state, n) in states {
            f.gauge(
                &ENGINE_INSTANCES,
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
    use crate::services::dcs::api::parse;

    #[test]
    fn the_listing_is_named_by_its_operation() {
        assert_eq!(
            INSTANCE_LISTING.names.operation,
            crate::services::dcs::api::DCS_LIST.name
        );
    }

    #[test]
    fn maps_the_listing_example() {
        let body = r#"{"instance_num": 2, "instances": [
  {"instance_id": "7687a66e-9cfb-45f9-9118-2fa7237751aa", "name": "orders-cache", "engine": "Redis",
   "engine_version": "5.0", "capacity": 4, "ip": "192.168.0.20", "port": 6379, "status": "RUNNING",
   "spec_code": "redis.ha.xu1.large.r2.4", "charging_mode": 0, "created_at": "2025-10-01T12:24:46.297Z"},
  {"instance_id": "e5f6db1d-9acd-414b-9560-efb68de4ab47", "name": "sessions", "engine": "Memcached",
   "engine_version": "1.5", "capacity": 2, "ip": "192.168.0.22", "port": 11211, "status": "ERROR",
   "spec_code": "dcs.memcached.single_node", "charging_mode": 1, "created_at": "2025-10-03T09:00:00.000Z"}]}"#;
        let page = crate::services::dcs::api::parse_list_page(body.as_bytes()).unwrap();
        assert_eq!(page.instance_num, Some(2));
        let (f, rejected) = map_instances("prod", &page.instances);
        assert_eq!(rejected, 0);
        assert_eq!(
            f.value(
                INSTANCE_INFO.name,
                &[
                    ("instance_id", "7687a66e-9cfb-45f9-9118-2fa7237751aa"),
                    ("name", "orders-cache"),
                    ("engine", "redis"),
                    ("engine_version", "5.0")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            f.value(
                INSTANCE_STATUS.name,
                &[
                    ("instance_id", "e5f6db1d-9acd-414b-9560-efb68de4ab47"),
                    ("status", "error")
                ]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn odd_rows_map_to_bounded_labels() {
        let body = format!(
            r#"{{"instances": [{{"instance_id": "a"}}, {{"instance_id": "b", "status": "HIBERNATING", "engine": "Valkey", "name": "{}"}}, {{"instance_id": "c", "status": "bad \"one\"\n", "engine_version": ""}}, {{"instance_id": "d e"}}]}}"#,
            "n".repeat(500)
        );
        let page = crate::services::dcs::api::parse_list_page(body.as_bytes()).unwrap();
        assert_eq!(page.instance_num, None);
        let (f, rejected) = map_instances("c", &page.instances);
        assert_eq!(rejected, 1);
        assert_eq!(
            f.value(
                INSTANCE_STATUS.name,
                &[("instance_id", "a"), ("status", "unknown")]
            ),
            Some(1.0)
        );
        assert_eq!(
            f.value(
                INSTANCE_STATUS.name,
                &[("instance_id", "b"), ("status", "hibernating")]
            ),
            Some(1.0)
        );
        assert_eq!(
            f.value(
                INSTANCE_STATUS.name,
                &[("instance_id", "c"), ("status", "unknown")]
            ),
            Some(1.0)
        );
        assert_eq!(
            f.value(
                INSTANCE_INFO.name,
                &[
                    ("instance_id", "b"),
                    ("engine", "valkey"),
                    ("engine_version", "unknown")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            label_text(&"n".repeat(500)).chars().count(),
            crate::metrics::MAX_NAME_CHARS
        );
        assert_eq!(f.len_of(INSTANCE_INFO.name), 3);
        assert!(
            crate::services::dcs::api::parse_list_page(br#"{"instances":[{"name":"x"}]}"#).is_err()
        );
    }

    #[test]
    fn maps_the_page_example() {
        let body = r#"{ "running_count" : 16, "createfailed_count" : 44, "redis" : { "running_count" : 8, "createfailed_count" : 22 }, "memcached" : { "running_count" : 8, "createfailed_count" : 22 } }"#;
        let f = map("prod", &parse(body.as_bytes()).unwrap());
        assert_eq!(
            f.value(INSTANCES.name, &[("cloud", "prod"), ("state", "running")]),
            Some(16.0)
        );
        assert_eq!(
            f.value(INSTANCES.name, &[("state", "createfailed")]),
            Some(44.0)
        );
        assert_eq!(
            f.value(
                ENGINE_INSTANCES.name,
                &[("engine", "redis"), ("state", "running")]
            ),
            Some(8.0)
        );
        assert_eq!(f.len_of(ENGINE_INSTANCES.name), 4);
    }
}
