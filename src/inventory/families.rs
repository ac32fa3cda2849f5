//! The series a discovery writes: its self metrics (resources, last success, its collector's
//! success and duration, which the landing page hears of too), and the one-per-resource series of a listing.

use std::time::SystemTime;

use crate::inventory::state::{Names, Stats};
use crate::metrics::Families;
use crate::status::Status;

/// Resources in the current inventory.
pub const RESOURCES: &str = "huaweicloud_discovery_resources";
/// When the inventory was last listed in full.
pub const LAST_SUCCESS: &str = "huaweicloud_discovery_last_success_timestamp_seconds";
/// Listings held because they would have removed more than half of the inventory.
pub const REFUSED_SHRINKS: &str = "huaweicloud_discovery_refused_shrinks_total";
/// The help of [`REFUSED_SHRINKS`].
pub const REFUSED_SHRINKS_HELP: &str = "Listings that would have removed more than half of a non-empty inventory, held (the last inventory kept) until the next listing agreed.";

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
        f.gauge(
            RESOURCES,
            "Resources in the current discovered inventory (KooPhone: the phones this replica keeps after sharding).",
            &svc,
            resources as f64,
        );
    }
    if let Some(t) = stats.last_success {
        f.gauge(
            LAST_SUCCESS,
            "When the inventory was last listed in full (Unix time).",
            &svc,
            unix(t),
        );
    }
    if stats.last.is_some() {
        f.counter(
            REFUSED_SHRINKS,
            REFUSED_SHRINKS_HELP,
            &svc,
            stats.refused_shrinks as f64,
        );
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
    name: &'static str,
    help: &'static str,
    cloud: &str,
    instance_id: &str,
    labels: &[(&str, &str)],
) {
    let mut all = Vec::with_capacity(2 + labels.len());
    all.push(("cloud", cloud));
    all.push(("instance_id", instance_id));
    all.extend_from_slice(labels);
    f.gauge(name, help, &all, 1.0);
}
