//! Per-cloud dashboards: every DCS and KooPhone query keeps the `cloud` label through its
//! aggregations and shows it in its legend, and the check that says so is itself checked.

use crate::common::panels;
use crate::dashboards;

/// The aggregations in `expr` whose result drops `label`: `sum(x)`, `sum by (other) (x)`,
/// `sum(x) by (other)`, `count without (label) (x)`. Each is returned as written.
fn aggregations_dropping(expr: &str, label: &str) -> Vec<String> {
    let agg = regex::Regex::new(
        r"\b(sum|min|max|avg|group|stddev|stdvar|count|count_values|topk|bottomk|quantile|limitk|limit_ratio)\s*(?:(by|without)\s*\(([^)]*)\)\s*)?\(",
    )
    .expect("regex");
    let trailing = regex::Regex::new(r"^\s*(by|without)\s*\(([^)]*)\)").expect("regex");
    let keeps = |kind: &str, labels: &str| {
        let has = labels.split(',').any(|l| l.trim() == label);
        (kind == "by") == has
    };
    let mut dropping = Vec::new();
    for caps in agg.captures_iter(expr) {
        let whole = caps.get(0).expect("match");
        if inside_string(expr, whole.start()) {
            continue;
        }
        let op = &caps[1];
        // topk/bottomk/quantile/limitk keep the labels of the series they select.
        let selects = matches!(op, "topk" | "bottomk" | "limitk" | "limit_ratio");
        let close = matching_paren(expr, whole.end() - 1);
        let (kind, labels) = match (caps.get(2), caps.get(3)) {
            (Some(k), Some(l)) => (k.as_str().to_string(), l.as_str().to_string()),
            _ => match trailing.captures(&expr[close + 1..]) {
                Some(t) => (t[1].to_string(), t[2].to_string()),
                None if selects => continue,
                None => (String::from("by"), String::new()),
            },
        };
        if !keeps(&kind, &labels) {
            dropping.push(expr[whole.start()..=close].to_string());
        }
    }
    dropping
}

/// Whether byte `pos` of a PromQL expression lies inside a quoted string.
fn inside_string(expr: &str, pos: usize) -> bool {
    let bytes = expr.as_bytes();
    let (mut i, mut quote) = (0, None::<u8>);
    while i < pos.min(bytes.len()) {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' || b == b'`' => quote = Some(b),
            None => {}
        }
        i += 1;
    }
    quote.is_some()
}

/// The index of the `)` closing the `(` at `open`, skipping quoted strings.
fn matching_paren(expr: &str, open: usize) -> usize {
    let bytes = expr.as_bytes();
    let (mut depth, mut i, mut quote) = (0usize, open, None::<u8>);
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' || b == b'`' => quote = Some(b),
            None if b == b'(' => depth += 1,
            None if b == b')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            None => {}
        }
        i += 1;
    }
    bytes.len() - 1
}

#[test]
fn the_cloud_grouping_check_catches_what_it_should() {
    let drops = |e: &str| aggregations_dropping(e, "cloud");
    assert!(drops("sum by (cloud, state) (huaweicloud_dcs_instances)").is_empty());
    assert!(drops("sum(huaweicloud_dcs_instances) by (state, cloud)").is_empty());
    assert!(drops("huaweicloud_koophone_instance_status == 1").is_empty());
    assert!(drops("topk(5, huaweicloud_dcs_instances)").is_empty());
    assert!(drops(r#"count_over_time(x{a="sum(b)"}[5m])"#).is_empty());
    assert_eq!(drops("sum by (state) (x)"), ["sum by (state) (x)"]);
    assert_eq!(drops("sum(x) or vector(0)"), ["sum(x)"]);
    assert_eq!(drops("max(x) by (state)"), ["max(x)"]);
    assert_eq!(
        drops("count without (cloud) (x)"),
        ["count without (cloud) (x)"]
    );
    assert_eq!(
        drops("sum by (cloud) (x) / sum(y)"),
        ["sum(y)"],
        "each aggregation is checked on its own"
    );
}

/// Whether a query reads DCS or KooPhone resource metrics (those carry `cloud`; the
/// KooPhone probe metrics come from /probe and do not).
fn reads_dcs_or_koophone(expr: &str) -> bool {
    let re = regex::Regex::new(r"huaweicloud_[a-z_]+").expect("regex");
    let reads = re.find_iter(expr).any(|m| {
        let name = m.as_str();
        name.starts_with("huaweicloud_dcs_")
            || (name.starts_with("huaweicloud_koophone_")
                && !name.starts_with("huaweicloud_koophone_probe_"))
    });
    reads
}

#[test]
fn dcs_and_koophone_panels_break_down_by_cloud() {
    for (path, d) in dashboards() {
        let file = path.display();
        let mut checked = 0;
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or("?");
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap_or("");
                if !reads_dcs_or_koophone(expr) {
                    continue;
                }
                checked += 1;
                let dropping = aggregations_dropping(expr, "cloud");
                assert!(
                    dropping.is_empty(),
                    "{file}: panel {title:?}: {dropping:?} drops `cloud`, so one cloud's state \
                     is lost when several are selected; group by (cloud, …)"
                );
                let legend = t["legendFormat"].as_str().unwrap_or("");
                let is_table = t["format"] == "table";
                assert!(
                    is_table || legend.is_empty() || legend.contains("{{cloud}}"),
                    "{file}: panel {title:?}: legend {legend:?} does not show {{{{cloud}}}}"
                );
            }
        }
        assert!(
            checked >= 8,
            "{file}: only {checked} DCS/KooPhone queries found"
        );
    }
}
