//! Dashboards and alerts agree: thresholds sit where the alerts fire, firing alerts are
//! annotated, and each alert's `dashboard_url` opens the panel that names it, filtered to its cloud.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::common::{panels, read_yaml, root};
use crate::{alerts, dashboards, variable, DS, RULES};

#[test]
fn dashboard_thresholds_sit_where_the_alerts_fire() {
    // (alert, panel, the threshold the panel shows, the literal in the alert's expression)
    let pairs = [
        (
            "HuaweiCloudAPIThrottled",
            "Throttled share of upstream requests",
            0.1,
            "> 0.1",
        ),
        (
            "HuaweiCloudAPIErrors",
            "Failed share of upstream requests",
            0.25,
            "> 0.25",
        ),
        (
            "HuaweiCloudAuthTokenExpiringSoon",
            "IAM token expires in",
            3600.0,
            "< 3600",
        ),
        (
            "HuaweiCloudDCSInstancesFailed",
            "DCS instances in error or createfailed",
            1.0,
            "> 0",
        ),
        (
            "HuaweiCloudKooPhonesInException",
            "Share of phones in exception",
            0.05,
            "> 0.05",
        ),
        (
            "HuaweiCloudDiscoveryStale",
            "Inventory age",
            1800.0,
            "> 1800",
        ),
        (
            "HuaweiCloudDDMNoRestoreTarget",
            "Available restore targets per DDM instance",
            1.0,
            "== 1",
        ),
    ];
    let rules = read_yaml(&root().join(RULES));
    let alerts = alerts(&rules);
    for (path, d) in dashboards() {
        let file = path.display();
        let all = panels(&d);
        for (alert, title, value, literal) in pairs {
            let rule = alerts
                .iter()
                .find(|a| a["alert"] == alert)
                .unwrap_or_else(|| panic!("no alert {alert}"));
            assert!(
                rule["expr"].as_str().unwrap_or("").contains(literal),
                "alert {alert} no longer fires at {literal}: update the panel {title:?} threshold"
            );
            let p = all
                .iter()
                .find(|p| p["title"] == title)
                .unwrap_or_else(|| panic!("{file}: no panel {title:?}"));
            let defaults = &p["fieldConfig"]["defaults"];
            let steps: Vec<f64> = defaults["thresholds"]["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["value"].as_f64())
                .collect();
            assert!(
                steps.iter().any(|s| (s - value).abs() < 1e-9),
                "{file}: panel {title:?} has no threshold at {value} (where {alert} fires): {steps:?}"
            );
            if p["type"] == "timeseries" {
                let style = defaults["custom"]["thresholdsStyle"]["mode"]
                    .as_str()
                    .unwrap_or("off");
                assert_ne!(
                    style, "off",
                    "{file}: panel {title:?} does not draw its threshold"
                );
            }
            assert!(
                p["description"].as_str().unwrap_or("").contains(alert),
                "{file}: panel {title:?}: its description should name {alert}"
            );
        }
    }
}

#[test]
fn dashboard_annotates_firing_alerts() {
    for (path, d) in dashboards() {
        let file = path.display();
        let annotation = d["annotations"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| {
                a["expr"]
                    .as_str()
                    .is_some_and(|e| e.contains("ALERTS{") && e.contains(r#"alertstate="firing""#))
            })
            .unwrap_or_else(|| panic!("{file}: no annotation of ALERTS{{alertstate=\"firing\"}}"));
        assert_eq!(annotation["datasource"]["type"], "prometheus", "{file}");
        assert_eq!(annotation["datasource"]["uid"], DS, "{file}");
        assert_eq!(
            annotation["enable"], true,
            "{file}: the alert annotation is off"
        );
        assert!(
            annotation["titleFormat"]
                .as_str()
                .unwrap_or("")
                .contains("{{alertname}}"),
            "{file}: the alert annotation's title should be the alert name"
        );
    }
}

#[test]
fn dashboard_urls_of_alerts_open_the_panel_that_names_them_filtered_to_their_cloud() {
    let rules = read_yaml(&root().join(RULES));
    let boards: BTreeMap<String, Json> = dashboards()
        .into_iter()
        .map(|(_, d)| (d["uid"].as_str().unwrap_or("").to_string(), d))
        .collect();
    let url_re =
        regex::Regex::new(r"^http://localhost:3000/d/([A-Za-z0-9_-]+)/[A-Za-z0-9_-]+\?(.*)$")
            .expect("regex");
    let mut linked = 0;
    for alert in alerts(&rules) {
        let name = alert["alert"].as_str().expect("alert name");
        let Some(url) = alert["annotations"]["dashboard_url"].as_str() else {
            continue;
        };
        linked += 1;
        let caps = url_re.captures(url).unwrap_or_else(|| {
            panic!(
                "alert {name}: dashboard_url {url} is not http://localhost:3000/d/<uid>/<slug>?…"
            )
        });
        let d = boards.get(&caps[1]).unwrap_or_else(|| {
            panic!(
                "alert {name}: dashboard_url names unknown dashboard {}",
                &caps[1]
            )
        });
        let params: BTreeMap<&str, &str> = caps
            .get(2)
            .map_or("", |m| m.as_str())
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        assert_eq!(
            params.get("var-cloud").copied(),
            Some("{{ $labels.cloud }}"),
            "alert {name}: dashboard_url must filter to the alert's cloud"
        );
        for key in params.keys().filter_map(|k| k.strip_prefix("var-")) {
            assert!(
                variable(d, key).is_some(),
                "alert {name}: dashboard_url sets unknown variable {key}"
            );
        }
        let id: u64 = params
            .get("viewPanel")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                panic!("alert {name}: dashboard_url opens no panel (viewPanel=<id>)")
            });
        let panel = panels(d)
            .into_iter()
            .find(|p| p["id"].as_u64() == Some(id))
            .unwrap_or_else(|| {
                panic!("alert {name}: dashboard_url opens panel {id}, which does not exist")
            });
        assert!(
            panel["description"].as_str().unwrap_or("").contains(name),
            "alert {name}: panel {id} ({}) it opens should name the alert in its description",
            panel["title"]
        );
    }
    assert!(
        linked >= 4,
        "expected dashboard_url on the fleet-level alerts"
    );
}
