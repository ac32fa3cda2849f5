//! KooPhone phone status: ids chunked ≤ 100 per call, calls concurrent within the cloud's
//! in-flight limit, mapped to one series per phone plus counts per status.
//!
//! Only phones asked for are kept, once each (the first row wins); rows for ids not asked and
//! repeated rows get one log line per answer with its request id. A status that is no `i64`
//! code maps to `status="unknown"` with its raw text in `code`. A phone list that would make
//! more than `koophone.max_series` series fails the collector before any call.

use std::borrow::Cow;
use std::collections::HashMap;

use futures::future::{try_join_all, FutureExt};
use tokio::time::Instant;

use super::config::{StatusNames, UNKNOWN_STATUS};
use super::isolate::fetch::{fetch as fetch_isolating, map_isolated, ISOLATED_SERIES};
use super::isolate::memory::Isolation;
use crate::metrics::{Families, Family};
use crate::services::koophone::api::{
    ListFilter, Phone, StatusResult, StatusValue, MAX_IDS_PER_CALL,
};
use crate::transport::{ApiError, CloudClient, ErrorKind};

/// One series per phone.
pub static INSTANCE_STATUS: Family = Family::gauge(
    "huaweicloud_koophone_instance_status",
    &["cloud", "instance_id", "status", "code"],
    "Current status of each KooPhone cloud phone: 1 for its status name, with the raw status code.",
);
/// Phones per status.
pub static INSTANCES: Family = Family::gauge(
    "huaweicloud_koophone_instances",
    &["cloud", "status"],
    "KooPhone cloud phones by status.",
);
/// Phones asked for.
pub static REQUESTED: Family = Family::gauge(
    "huaweicloud_koophone_instances_requested",
    &["cloud"],
    "KooPhone phones this exporter asked the API about.",
);
/// Phones answered for.
pub static REPORTED: Family = Family::gauge(
    "huaweicloud_koophone_instances_reported",
    &["cloud"],
    "KooPhone phones the API returned a status for.",
);

/// One series per discovered phone: its name, SKU and region.
pub static INSTANCE_INFO: Family = Family::gauge(
    "huaweicloud_koophone_instance_info",
    &["cloud", "instance_id", "instance_name", "sku", "region"],
    "Discovered KooPhone cloud phones: 1 per phone, with its name, SKU and region.",
);
/// One series per discovered phone: its running status.
pub static RUNNING_STATUS: Family = Family::gauge(
    "huaweicloud_koophone_instance_running_status",
    &["cloud", "instance_id", "status", "code"],
    "Running status of each discovered KooPhone phone as of the last listing: 1 for its status, with the raw code.",
);
/// One series per discovered phone: 1 when frozen.
pub static FROZEN: Family = Family::gauge(
    "huaweicloud_koophone_instance_frozen",
    &["cloud", "instance_id"],
    "Whether each discovered KooPhone phone is frozen (1) or not (0), as of the last listing.",
);
/// Discovered phones per running status.
pub static BY_RUNNING_STATUS: Family = Family::gauge(
    "huaweicloud_koophone_instances_by_running_status",
    &["cloud", "status"],
    "Discovered KooPhone phones by running status, as of the last listing.",
);

/// The listing's `running_status` codes, by code (0..=5); anything else is `unknown`.
pub const RUNNING_STATUSES: [&str; 6] = [
    "unknown",
    "stopped",
    "running",
    "going_offline",
    "starting",
    "shut_down",
];

/// The lister discovery runs for this cloud: every page of the listing with the query filters,
/// then `name_regex` applied to `instance_name` (after the completeness check, which counts
/// against the API's own total).
pub fn lister(
    client: std::sync::Arc<CloudClient>,
    d: &super::config::KoophoneDiscovery,
) -> crate::inventory::Lister<Phone> {
    let filter = std::sync::Arc::new(ListFilter {
        pool_scene_tag: d.pool_scene_tag.clone(),
        pool_name: d.pool_name.clone(),
    });
    // Validated at config load; a pattern that still fails to build filters nothing out.
    let name_re = d.name_regex.as_deref().and_then(|re| {
        regex::RegexBuilder::new(re)
            .size_limit(1 << 20)
            .build()
            .ok()
    });
    std::sync::Arc::new(move |deadline| {
        let client = client.clone();
        let filter = filter.clone();
        let name_re = name_re.clone();
        async move {
            let mut listing = client.koophone_list_all(&filter, deadline).await?;
            if let Some(re) = &name_re {
                listing.items.retain(|p| re.is_match(&p.instance_name));
            }
            Ok(listing)
        }
        .boxed()
    })
}

/// Pure mapping of the discovered phones this replica keeps: info, running status, frozen,
/// and the count per running status (every known status present).
pub fn map_inventory<'a>(cloud: &str, phones: impl Iterator<Item = &'a Phone>) -> Families {
    let mut f = Families::new();
    let mut counts = [0u64; RUNNING_STATUSES.len()];
    let (n, _) = phones.size_hint();
    for family in [&INSTANCE_INFO, &RUNNING_STATUS, &FROZEN] {
        f.reserve(family, n);
    }
    for p in phones {
        let id = p.instance_id.as_str();
        f.gauge(
            &INSTANCE_INFO,
            &[
                ("cloud", cloud),
                ("instance_id", id),
                ("instance_name", &p.instance_name),
                ("sku", &p.sku),
                ("region", &p.region),
            ],
            1.0,
        );
        let (status, code) = match &p.running_status {
            StatusValue::Code(c) => {
                let i = usize::try_from(*c)
                    .ok()
                    .filter(|i| *i < RUNNING_STATUSES.len());
                (i.map_or(0, |i| i), code_label(*c))
            }
            StatusValue::Unreadable(raw) => (0, Cow::Borrowed(raw.as_str())),
        };
        counts[status] += 1;
        f.gauge(
            &RUNNING_STATUS,
            &[
                ("cloud", cloud),
                ("instance_id", id),
                ("status", RUNNING_STATUSES[status]),
                ("code", &*code),
            ],
            1.0,
        );
        f.gauge(
            &FROZEN,
            &[("cloud", cloud), ("instance_id", id)],
            if p.frozen == Some(true) { 1.0 } else { 0.0 },
        );
    }
    per_status(
        &mut f,
        &BY_RUNNING_STATUS,
        cloud,
        &RUNNING_STATUSES,
        &counts,
    );
    f
}

/// Fetches every phone's status and maps it. A batch that fails for some of its ids (no
/// permission, released: see [`super::isolate`]) is split to isolate them and the rest is
/// reported, the families then marked incomplete (success 0); any other failed batch fails
/// the collector.
pub async fn collect(
    client: &CloudClient,
    ids: &[String],
    names: &StatusNames,
    max_series: usize,
    deadline: Instant,
    isolated: &Isolation,
) -> Result<Families, ApiError> {
    // Only asked phones are kept, so the phone list bounds the series: checked before any call
    // (requested, reported, and one isolated count per reason are the rest).
    let series = ids.len() + names.all_names().len() + 2 + ISOLATED_SERIES;
    if series > max_series {
        return Err(ApiError::new(
            ErrorKind::LimitExceeded,
            crate::services::koophone::api::BATCH_STATUS.name,
            format!(
                "{} phones would make {series} series, more than koophone.max_series ({max_series}); raise it or shard the phones",
                ids.len()
            ),
        ));
    }
    let fetched = fetch_isolating(client, ids, deadline, isolated).await?;
    let mut f = map(&client.cloud, ids.len(), &fetched.results, names);
    f.merge(map_isolated(&client.cloud, &fetched.isolated));
    if let Some(why) = fetched.incomplete {
        f.mark_incomplete(why);
    }
    Ok(f)
}

/// Statuses of `ids` (already deduplicated), keeping only answers for phones asked for, once
/// each; any failed chunk fails the whole (no isolation: see [`collect`]).
pub async fn fetch(
    client: &CloudClient,
    ids: &[String],
    deadline: Instant,
) -> Result<Vec<StatusResult>, ApiError> {
    let calls = ids
        .chunks(MAX_IDS_PER_CALL)
        .map(|chunk| async move { status_chunk(client, chunk, deadline).await.map(|r| r.0) });
    let chunks = try_join_all(calls).await?;
    Ok(chunks.into_iter().flatten().collect())
}

/// One batch-status call for `chunk` (at most 100 ids, no duplicates): the answers for phones
/// asked, once each (one log line when the answer held others), and the answer's request id.
pub async fn status_chunk(
    client: &CloudClient,
    chunk: &[String],
    deadline: Instant,
) -> Result<(Vec<StatusResult>, Option<String>), ApiError> {
    let (results, request_id) = client.koophone_status(chunk, deadline).await?;
    let (kept, odd) = keep_asked_once(chunk, results);
    if odd.not_asked > 0 || odd.repeated > 0 {
        tracing::warn!(
            cloud = %client.cloud,
            not_asked = odd.not_asked,
            repeated = odd.repeated,
            request_id = request_id.as_deref().unwrap_or("-"),
            "KooPhone answered for phones not asked, or for a phone more than once; kept the first row of each phone asked"
        );
    }
    Ok((kept, request_id))
}

/// The answers for phones in `asked` (which holds no duplicates: the phone list is
/// deduplicated), the first one only for each, in the order received. The API answers in the
/// order asked, so that case is checked first without hashing; otherwise one map of at most 100
/// borrowed ids marks what was seen, so no id is cloned.
fn keep_asked_once(asked: &[String], results: Vec<StatusResult>) -> (Vec<StatusResult>, Oddities) {
    let mut odd = Oddities::default();
    if results.len() <= asked.len()
        && results
            .iter()
            .zip(asked)
            .all(|(r, id)| r.instance_id == *id)
    {
        return (results, odd);
    }
    let mut seen: HashMap<&str, bool> = asked.iter().map(|id| (id.as_str(), false)).collect();
    let kept = results
        .into_iter()
        .filter(|r| match seen.get_mut(r.instance_id.as_str()) {
            Some(s) if !*s => {
                *s = true;
                true
            }
            Some(_) => {
                odd.repeated += 1;
                false
            }
            None => {
                odd.not_asked += 1;
                false
            }
        })
        .collect();
    (kept, odd)
}

/// What [`keep_asked_once`] dropped.
#[derive(Debug, Default, PartialEq, Eq)]
struct Oddities {
    /// Rows for ids not asked.
    not_asked: usize,
    /// Repeated rows of a phone asked.
    repeated: usize,
}

/// `code` label values of the documented statuses, so the common case allocates nothing.
const CODES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// The `code` label value of status code `c`.
fn code_label(c: i64) -> Cow<'static, str> {
    match usize::try_from(c).ok().and_then(|i| CODES.get(i)) {
        Some(s) => Cow::Borrowed(*s),
        None => Cow::Owned(c.to_string()),
    }
}

/// One `family` series per status name in `names`, labelled with `cloud` and the name, at the
/// count in `counts` at the same place.
fn per_status(
    f: &mut Families,
    family: &'static Family,
    cloud: &str,
    names: &[&str],
    counts: &[u64],
) {
    for (name, n) in names.iter().zip(counts) {
        f.gauge(family, &[("cloud", cloud), ("status", name)], *n as f64);
    }
}

/// Pure mapping. Every known status name gets a count (0 when none); an unknown code maps to
/// `status="unknown"` with its raw `code`.
pub fn map(
    cloud: &str,
    requested: usize,
    results: &[StatusResult],
    names: &StatusNames,
) -> Families {
    let mut f = Families::new();
    let all = names.all_names();
    let mut counts = vec![0u64; all.len()];
    f.reserve(&INSTANCE_STATUS, results.len());
    for r in results {
        let (name, code) = match &r.status {
            StatusValue::Code(c) => (names.name(*c), code_label(*c)),
            StatusValue::Unreadable(raw) => (UNKNOWN_STATUS, Cow::Borrowed(raw.as_str())),
        };
        if let Ok(i) = all.binary_search(&name) {
            counts[i] += 1;
        }
        f.gauge(
            &INSTANCE_STATUS,
            &[
                ("cloud", cloud),
                ("instance_id", &r.instance_id),
                ("status", name),
                ("code", &*code),
            ],
            1.0,
        );
    }
    per_status(&mut f, &INSTANCES, cloud, &all, &counts);
    f.gauge(&REQUESTED, &[("cloud", cloud)], requested as f64);
    f.gauge(&REPORTED, &[("cloud", cloud)], results.len() as f64);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(id: &str, status: i64) -> StatusResult {
        StatusResult {
            instance_id: id.into(),
            status: StatusValue::Code(status),
        }
    }

    /// Asserts that `f` holds a phone status series with `labels` (among others), at 1.
    fn assert_phone(f: &Families, labels: &[(&str, &str)]) {
        assert_eq!(
            f.value(INSTANCE_STATUS.name, labels),
            Some(1.0),
            "{labels:?}"
        );
    }

    #[test]
    fn an_unreadable_status_is_unknown_with_its_raw_text() {
        let names = StatusNames::default();
        let odd = StatusResult {
            instance_id: "x".into(),
            status: StatusValue::Unreadable("9223372036854775808".into()),
        };
        let f = map("c", 2, &[odd, r("y", 3)], &names);
        assert_phone(
            &f,
            &[
                ("instance_id", "x"),
                ("status", "unknown"),
                ("code", "9223372036854775808"),
            ],
        );
        assert_phone(&f, &[("instance_id", "y"), ("status", "streaming")]);
        assert_eq!(f.value(INSTANCES.name, &[("status", "unknown")]), Some(1.0));
    }

    #[test]
    fn maps_statuses_and_counts_every_known_status() {
        let names = StatusNames::default();
        let f = map(
            "c",
            4,
            &[r("a44uhlf7", 0), r("b", 5), r("c", 7), r("d", 42)],
            &names,
        );
        assert_phone(
            &f,
            &[
                ("instance_id", "a44uhlf7"),
                ("status", "idle"),
                ("code", "0"),
            ],
        );
        assert_phone(
            &f,
            &[
                ("instance_id", "c"),
                ("status", "data_loaded"),
                ("code", "7"),
            ],
        );
        assert_phone(
            &f,
            &[("instance_id", "d"), ("status", "unknown"), ("code", "42")],
        );
        assert_eq!(
            f.value(INSTANCES.name, &[("status", "backup_exception")]),
            Some(1.0)
        );
        assert_eq!(
            f.value(INSTANCES.name, &[("status", "streaming")]),
            Some(0.0)
        );
        assert_eq!(f.value(INSTANCES.name, &[("status", "unknown")]), Some(1.0));
        assert_eq!(f.len_of(INSTANCES.name), 8, "7 distinct names + unknown");
        assert_eq!(f.value(REQUESTED.name, &[]), Some(4.0));
        assert_eq!(f.value(REPORTED.name, &[]), Some(4.0));
    }

    #[test]
    fn keeps_only_asked_phones_once_each() {
        let asked = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let (kept, odd) = keep_asked_once(
            &asked,
            vec![r("b", 1), r("x", 0), r("a", 2), r("b", 3), r("a", 4)],
        );
        assert_eq!(kept, vec![r("b", 1), r("a", 2)]);
        assert_eq!(
            odd,
            Oddities {
                not_asked: 1,
                repeated: 2
            }
        );
        let in_order = vec![r("a", 1), r("b", 2)];
        assert_eq!(
            keep_asked_once(&asked, in_order.clone()),
            (in_order, Oddities::default())
        );
        assert_eq!(
            keep_asked_once(&asked, vec![r("a", 1), r("b", 2), r("c", 3), r("a", 4)]).0,
            vec![r("a", 1), r("b", 2), r("c", 3)]
        );
    }

    #[test]
    fn overrides_rename_codes() {
        let mut o = std::collections::BTreeMap::new();
        o.insert(7, "data_loaded_alt".to_string());
        o.insert(42, "hibernating".to_string());
        let names = StatusNames::default().with_overrides(&o);
        let f = map("c", 2, &[r("x", 7), r("y", 42)], &names);
        assert_phone(&f, &[("instance_id", "x"), ("status", "data_loaded_alt")]);
        assert_eq!(
            f.value(INSTANCES.name, &[("status", "hibernating")]),
            Some(1.0)
        );
    }
}
