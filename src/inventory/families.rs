//! The series a discovery writes: its self metrics (resources, last success, its collector's
//! success and duration, which the landing page hears of too), and the one-per-resource series of a listing.

use std::time::SystemTime;

use crate::inventory::state::{Names, Stats};
use crate::metrics::{Families, Family};
use crate::status::Status;

/// Resources in the current inventory.
pub static RESOURCES: Family = Family::gauge(
    "huaweicloud_discovery_resources",
    &["cloud", "service"],
    "Resources in the current discovered inventory (KooPhone: the phones this replica keeps after sharding).",
);
/// When the inventory was last listed in full.
pub static LAST_SUCCESS: Family = Family::gauge(
    "huaweicloud_discovery_last_success_timestamp_seconds",
    &["cloud", "service"],
    "When the inventory was last listed in full (Unix time).",
);
/// Listings held because they would have removed more than half of the inventory.
pub static REFUSED_SHRINKS: Family = Family::counter(
    "huaweicloud_discovery_refused_shrinks_total",
    &["cloud", "service"],
    "Listings that would have removed more than half of a non-empty inventory, held (the last inventory kept) until the next listing agreed.",
);

/// Seconds since the Unix epoch.
pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Writes the self metrics of one cloud's discovery from its `stats` (see
/// [`crate::inventory::Inventory::families`]); `resources` is what the caller counts.
pub(crate) fn self_metrics(
    f: &mut Families,
    cloud: &str,
    names: Names,
    stats: &Stats,
    resources: usize,
    status: &Status,
) {
    let svc = [("cloud", cloud), ("service", names.service)];
    if stats.size.is_some() {
        f.gauge(&RESOURCES, &svc, resources as f64);
    }
    if let Some(t) = stats.last_success {
        f.gauge(&LAST_SUCCESS, &svc, unix(t));
    }
    if stats.last.is_some() {
        f.counter(&REFUSED_SHRINKS, &svc, stats.refused_shrinks as f64);
    }
    if let Some(last) = &stats.last {
        status.report_collector(
            f,
            cloud,
            names.collector,
            last.error.as_ref(),
            last.took,
            last.at,
        );
    }
}

/// One series of value 1 for one listed resource: `cloud` and `instance_id`, then `labels` (a
/// listing's `…_instance_info` and `…_instance_status`).
pub fn resource_series(
    f: &mut Families,
    family: &'static Family,
    cloud: &str,
    instance_id: &str,
    labels: &[(&str, &str)],
) {
    let mut all = Vec::with_capacity(2 + labels.len());
    all.push(("cloud", cloud));
    all.push(("instance_id", instance_id));
    all.extend_from_slice(labels);
    f.gauge(family, &all, 1.0);
}
