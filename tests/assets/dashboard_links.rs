//! The dashboards' links: tables link to a view filtered to their row, and every dashboard links
//! the runbooks, the README and each exporter's landing page.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use crate::common::panels;
use crate::{dashboards, RUNBOOK_BASE};

/// Every data link of a panel: field defaults and overrides.
fn data_links(panel: &Json) -> Vec<&Json> {
    let mut links: Vec<&Json> = panel["fieldConfig"]["defaults"]["links"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    for o in panel["fieldConfig"]["overrides"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for prop in o["properties"].as_array().into_iter().flatten() {
            if prop["id"] == "links" {
                links.extend(prop["value"].as_array().into_iter().flatten());
            }
        }
    }
    links
}

#[test]
fn dashboard_tables_link_to_a_filtered_view() {
    let var_param = regex::Regex::new(r"var-([A-Za-z0-9_]+)=").expect("regex");
    let field_ref = regex::Regex::new(r"\$\{__data\.fields\.([A-Za-z0-9_]+)\}").expect("regex");
    for (path, d) in dashboards() {
        let file = path.display();
        let uid = d["uid"].as_str().unwrap_or("");
        let variables: BTreeSet<&str> = d["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["name"].as_str())
            .collect();
        let mut tables = 0;
        for p in panels(&d).into_iter().filter(|p| p["type"] == "table") {
            tables += 1;
            let title = p["title"].as_str().unwrap_or("?");
            let links = data_links(p);
            assert!(
                !links.is_empty(),
                "{file}: table {title:?} has no data link"
            );
            let excluded = &p["transformations"][0]["options"]["excludeByName"];
            for link in &links {
                let url = link["url"].as_str().unwrap_or("");
                assert!(
                    link["title"].as_str().is_some_and(|t| !t.is_empty()),
                    "{file}: table {title:?}: a link has no title"
                );
                for caps in var_param.captures_iter(url) {
                    assert!(
                        variables.contains(&caps[1]),
                        "{file}: table {title:?}: link {url} sets unknown variable {}",
                        &caps[1]
                    );
                }
                for caps in field_ref.captures_iter(url) {
                    assert!(
                        excluded[&caps[1]] != true,
                        "{file}: table {title:?}: link {url} reads field {} the table hides",
                        &caps[1]
                    );
                }
                if url.contains("var-") {
                    assert!(
                        url.starts_with(&format!("/d/{uid}/")),
                        "{file}: table {title:?}: link {url} is not to this dashboard"
                    );
                    assert!(
                        url.contains("${__url_time_range}")
                            && url.contains("${datasource:queryparam}"),
                        "{file}: table {title:?}: link {url} loses the time range or data source"
                    );
                }
            }
            // Resource tables (phones with a status, DDM targets) link to the view filtered to
            // the row's cloud and to its phone status or DDM instance.
            let expr = p["targets"][0]["expr"].as_str().unwrap_or("");
            let renamed = &p["transformations"][0]["options"]["renameByName"];
            let phone_status =
                expr.contains("huaweicloud_koophone_") && renamed["status"].is_string();
            if phone_status || expr.contains("huaweicloud_ddm_") {
                let filtered = links.iter().any(|l| {
                    let url = l["url"].as_str().unwrap_or("");
                    let vars: BTreeSet<&str> = var_param
                        .captures_iter(url)
                        .filter_map(|c| c.get(1).map(|m| m.as_str()))
                        .collect();
                    url.contains("var-cloud=${__data.fields.cloud}")
                        && vars.iter().any(|v| !matches!(*v, "cloud" | "datasource"))
                });
                assert!(
                    filtered,
                    "{file}: table {title:?} has no link to the view filtered to its row's \
                     cloud and status/instance"
                );
            }
        }
        assert!(
            tables >= 3,
            "{file}: expected the phone, DDM and build tables"
        );
    }
}

#[test]
fn dashboard_links_reach_the_runbooks_and_the_exporter() {
    for (path, d) in dashboards() {
        let file = path.display();
        let urls: Vec<&str> = d["links"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["url"].as_str())
            .collect();
        assert!(
            urls.contains(&RUNBOOK_BASE),
            "{file}: no dashboard link to the runbooks ({RUNBOOK_BASE}): {urls:?}"
        );
        let repo = RUNBOOK_BASE.split("/blob/").next().unwrap_or(RUNBOOK_BASE);
        assert!(
            urls.iter()
                .any(|u| u.starts_with(repo) && *u != RUNBOOK_BASE),
            "{file}: no dashboard link to the exporter's README: {urls:?}"
        );
        // The exporters themselves: the build table links each `instance` to its landing page.
        let landing = panels(&d)
            .into_iter()
            .flat_map(data_links)
            .any(|l| l["url"].as_str() == Some("http://${__data.fields.instance}/"));
        assert!(
            landing,
            "{file}: no data link to an exporter's landing page"
        );
    }
}
