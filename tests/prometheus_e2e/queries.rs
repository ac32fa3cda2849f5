//! Dashboard queries as Grafana runs them: template variables resolved and interpolated, the
//! metric names a query reads, and which series the demo may lack.

use super::*;

/// Escapes a label value for a regex matcher inside a PromQL string, as Grafana's Prometheus
/// datasource does for multi-value variables.
pub(crate) fn regex_escape(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            // One backslash for the regex, doubled for the PromQL string literal.
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

/// Replaces `$var`, `${var}`, `${var:fmt}` and `[[var]]` from `vars`; panics on unknown names.
pub(crate) fn interpolate(expr: &str, vars: &BTreeMap<String, String>) -> String {
    let re = regex::Regex::new(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)").expect("regex");
    re.replace_all(expr, |caps: &regex::Captures| {
        let name = caps
            .get(1)
            .or(caps.get(2))
            .or(caps.get(3))
            .expect("a group")
            .as_str();
        vars.get(name)
            .unwrap_or_else(|| panic!("query {expr:?} uses unknown variable ${name}"))
            .clone()
    })
    .into_owned()
}

/// Grafana's built-in variables, sized for a Prometheus scraping every second.
pub(crate) fn builtin_variables() -> BTreeMap<String, String> {
    [
        ("__rate_interval", RATE_INTERVAL),
        ("__interval", "2s"),
        ("__interval_ms", "2000"),
        ("__range", "1m"),
        ("__range_s", "60"),
        ("__range_ms", "60000"),
        ("datasource", "prometheus"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Resolves the dashboard's query variables in order, as Grafana does with "All" selected:
/// `label_values(selector, label)` through the labels API, then `(v1|v2|...)`.
pub(crate) async fn resolve_variables(
    prom: &Prom,
    dashboard: &Json,
    probe_served: bool,
) -> BTreeMap<String, String> {
    let mut vars = builtin_variables();
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = var["name"].as_str().expect("variable name").to_string();
        if var["type"] != "query" {
            continue;
        }
        let query = var["query"]["query"]
            .as_str()
            .or(var["query"].as_str())
            .unwrap_or_else(|| panic!("variable {name}: no query"));
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {name}: {query:?} is not label_values(...)"));
        let (selector, label) = match inner.rsplit_once(',') {
            Some((sel, label)) => (Some(interpolate(sel.trim(), &vars)), label.trim()),
            None => (None, inner.trim()),
        };
        let mut params = Vec::new();
        if let Some(sel) = &selector {
            params.push(("match[]", sel.as_str()));
        }
        let values = prom
            .get(&format!("/api/v1/label/{label}/values"), &params)
            .await
            .unwrap_or_else(|e| panic!("variable {name}: {query:?}: {e}"));
        let values: Vec<String> = values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(regex_escape))
            .collect();
        let value = if values.is_empty() {
            // Only the probe job may be missing, and only while the exporter has no /probe.
            assert!(
                name == "probe_job" && !probe_served,
                "variable {name}: {query:?} has no values"
            );
            ".*".to_string()
        } else if let Some(all) = var["allValue"].as_str().filter(|s| !s.is_empty()) {
            all.to_string()
        } else {
            format!("({})", values.join("|"))
        };
        vars.insert(name, value);
    }
    vars
}

// ---------------------------------------------------------------- alerting rules

/// Metric names an expression selects (not functions, keywords, labels or durations).
pub(crate) fn metric_names(expr: &str) -> BTreeSet<String> {
    let grouping =
        regex::Regex::new(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
            .expect("regex");
    let matchers = regex::Regex::new(r#"\{[^}]*\}|\[[^\]]*\]|"[^"]*""#).expect("regex");
    let ident = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?").expect("regex");
    let stripped = grouping.replace_all(expr, " ");
    let stripped = matchers.replace_all(&stripped, " ");
    let keywords = ["and", "or", "unless", "bool", "offset", "by", "without"];
    ident
        .captures_iter(&stripped)
        .filter(|c| c.get(1).is_none())
        .map(|c| c[0].to_string())
        .filter(|n| !keywords.contains(&n.as_str()))
        .collect()
}

/// Metrics only `/probe` serves.
pub(crate) fn is_probe_metric(name: &str) -> bool {
    name.starts_with("probe_") || name.starts_with("huaweicloud_koophone_probe_")
}

// ---------------------------------------------------------------- the tests
