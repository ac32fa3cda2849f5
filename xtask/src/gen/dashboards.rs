//! The Grafana dashboards: each `dashboards/src/<name>.json` is a dashboard whose `rows` list
//! replaces its `panels`; the entry `"$services"` stands for every service's rows, taken in
//! registry order from `src/services/<key>/dashboard.json` (`{"rows": [...]}`; a service
//! without one has no rows). A row is `{"row": {title, …}, "panels": [...]}`, each panel a
//! Grafana panel without `id` whose `gridPos` gives only `w` and `h`.
//!
//! The layout is computed: rows stack; in a row each panel goes to the highest free place that
//! fits its width, leftmost first (Grafana's own gravity), so a new panel never means shifting
//! the `y` of every later one. Ids number every row and panel from 1, in order.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::{read, read_optional, services, Generated};

/// Grafana's grid is 24 columns wide.
const COLUMNS: usize = 24;
/// The entry of a dashboard's `rows` that stands for every service's rows.
const SERVICES: &str = "$services";

/// A panel as an alert's `dashboard_url` opens it: the dashboard's uid and the panel's id.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelRef {
    /// The dashboard's uid.
    pub uid: String,
    /// The panel's id.
    pub id: u64,
}

/// The panels (not rows) of every dashboard by title; a title two panels share maps to `None`,
/// so that referring to it is an error rather than a guess.
pub type Panels = BTreeMap<String, Option<PanelRef>>;

/// Every dashboard, and its panels by title.
pub fn generate(root: &Path) -> Result<(Vec<Generated>, Panels), String> {
    let dir = root.join("dashboards/src");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .map_err(|e| format!("dashboards/src: {e}"))?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err("dashboards/src: no *.json dashboard".into());
    }
    let mut out = Vec::new();
    let mut titles = BTreeMap::new();
    for name in names {
        let src = format!("dashboards/src/{name}");
        let frame: Value = serde_json::from_str(&read(root, &src)?)
            .map_err(|e| format!("{src}: not JSON: {e}"))?;
        let rows = rows_of(root, &src, &frame)?;
        let uid = frame["uid"].as_str().unwrap_or_default().to_string();
        let panels = layout(&src, rows)?;
        for p in &panels {
            if p["type"] == "row" {
                continue;
            }
            let title = p["title"].as_str().unwrap_or_default().to_string();
            let id = p["id"].as_u64().unwrap_or_default();
            let seen = titles.contains_key(&title);
            titles.insert(
                title,
                (!seen).then(|| PanelRef {
                    uid: uid.clone(),
                    id,
                }),
            );
        }
        let mut dashboard = frame
            .as_object()
            .cloned()
            .ok_or_else(|| format!("{src}: not a JSON object"))?;
        dashboard.remove("rows");
        dashboard.insert("panels".into(), Value::Array(panels));
        let text = serde_json::to_string_pretty(&Value::Object(dashboard))
            .map_err(|e| format!("{src}: {e}"))?;
        out.push(Generated {
            path: format!("dashboards/{name}"),
            text: text + "\n",
        });
    }
    Ok((out, titles))
}

/// The rows of a dashboard source, `"$services"` expanded.
fn rows_of(root: &Path, src: &str, frame: &Value) -> Result<Vec<(String, Value)>, String> {
    let listed = frame["rows"]
        .as_array()
        .ok_or_else(|| format!("{src}: no `rows` list"))?;
    let mut rows = Vec::new();
    for row in listed {
        if row.as_str() == Some(SERVICES) {
            for (key, _) in services() {
                let file = format!("src/services/{key}/dashboard.json");
                let Some(text) = read_optional(root, &file)? else {
                    continue;
                };
                let spec: Value =
                    serde_json::from_str(&text).map_err(|e| format!("{file}: not JSON: {e}"))?;
                let own = spec["rows"]
                    .as_array()
                    .ok_or_else(|| format!("{file}: no `rows` list"))?;
                rows.extend(own.iter().map(|r| (file.clone(), r.clone())));
            }
        } else {
            rows.push((src.to_string(), row.clone()));
        }
    }
    Ok(rows)
}

/// The dashboard's `panels`: every row and its panels, placed and numbered.
fn layout(src: &str, rows: Vec<(String, Value)>) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let mut top = 0u64;
    let mut ids = 1u64..;
    for (file, row) in rows {
        let title = row["row"]["title"].as_str().unwrap_or_default().to_string();
        let mut head: Map<String, Value> = row["row"]
            .as_object()
            .cloned()
            .ok_or_else(|| format!("{file}: a row without its `row` object"))?;
        head.insert("type".into(), "row".into());
        head.insert("id".into(), json!(ids.next()));
        head.insert(
            "gridPos".into(),
            json!({"h": 1, "w": COLUMNS, "x": 0, "y": top}),
        );
        let collapsed = head.get("collapsed") == Some(&Value::Bool(true));
        head.insert("collapsed".into(), collapsed.into());
        head.insert("panels".into(), json!([]));
        let row_at = out.len();
        out.push(Value::Object(head));
        // The lowest free y of each column.
        let mut skyline = [top + 1; COLUMNS];
        let panels = row["panels"]
            .as_array()
            .ok_or_else(|| format!("{file}: row {title:?} has no `panels` list"))?;
        for panel in panels {
            let name = panel["title"].as_str().unwrap_or_default();
            let size = |k: &str| panel["gridPos"][k].as_u64().filter(|v| *v > 0);
            let (Some(w), Some(h)) = (size("w"), size("h")) else {
                return Err(format!(
                    "{file}: panel {name:?} needs gridPos {{w, h}} (its x, y and id are computed)"
                ));
            };
            let w = usize::try_from(w).unwrap_or(usize::MAX);
            if w > COLUMNS {
                return Err(format!(
                    "{file}: panel {name:?} is {w} wide; the grid has {COLUMNS} columns"
                ));
            }
            for key in ["id", "x", "y"] {
                if panel.get(key).is_some() || panel["gridPos"].get(key).is_some() {
                    return Err(format!(
                        "{file}: panel {name:?} sets {key}, which is computed"
                    ));
                }
            }
            let (x, y) = (0..=COLUMNS - w)
                .map(|x| {
                    (
                        x,
                        skyline[x..x + w].iter().copied().max().unwrap_or(top + 1),
                    )
                })
                .min_by_key(|(x, y)| (*y, *x))
                .unwrap_or((0, top + 1));
            skyline[x..x + w].iter_mut().for_each(|c| *c = y + h);
            let mut placed = panel
                .as_object()
                .cloned()
                .ok_or_else(|| format!("{file}: a panel of row {title:?} is not an object"))?;
            placed.insert("id".into(), json!(ids.next()));
            placed.insert("gridPos".into(), json!({"h": h, "w": w, "x": x, "y": y}));
            out.push(Value::Object(placed));
        }
        if collapsed {
            // A collapsed row holds its panels (placed as when it is open); the next row
            // follows right below it.
            let inside: Vec<Value> = out.drain(row_at + 1..).collect();
            out[row_at]["panels"] = Value::Array(inside);
            top += 1;
        } else {
            top = skyline.iter().copied().max().unwrap_or(top + 1);
        }
    }
    if out.is_empty() {
        return Err(format!("{src}: no rows"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(title: &str, w: u64, h: u64) -> Value {
        json!({"type": "stat", "title": title, "gridPos": {"w": w, "h": h}})
    }

    #[test]
    fn panels_take_the_highest_leftmost_place_that_fits_and_rows_stack() {
        let rows = vec![
            (
                "a".to_string(),
                json!({"row": {"title": "A"}, "panels": [
                    panel("wide", 20, 8), panel("small1", 4, 4), panel("small2", 4, 4),
                    panel("full", 24, 2)
                ]}),
            ),
            (
                "b".to_string(),
                json!({"row": {"title": "B"}, "panels": [panel("one", 12, 3)]}),
            ),
        ];
        let out = layout("t", rows).expect("layout");
        let at: Vec<(u64, u64, u64, u64)> = out
            .iter()
            .map(|p| {
                let g = &p["gridPos"];
                let n = |k: &str| g[k].as_u64().unwrap_or(99);
                (p["id"].as_u64().unwrap_or(0), n("x"), n("y"), n("w"))
            })
            .collect();
        assert_eq!(
            at,
            [
                (1, 0, 0, 24),
                (2, 0, 1, 20),
                (3, 20, 1, 4),
                (4, 20, 5, 4),
                (5, 0, 9, 24),
                (6, 0, 11, 24),
                (7, 0, 12, 12)
            ]
        );
    }

    #[test]
    fn a_collapsed_row_holds_its_panels_and_the_next_row_follows_it() {
        let rows = vec![
            (
                "a".to_string(),
                json!({"row": {"title": "A", "collapsed": true}, "panels": [panel("p", 12, 8)]}),
            ),
            (
                "b".to_string(),
                json!({"row": {"title": "B"}, "panels": [panel("q", 12, 8)]}),
            ),
        ];
        let out = layout("t", rows).expect("layout");
        assert_eq!(out.len(), 3, "A, B and q at the top level: {out:?}");
        assert_eq!(out[0]["panels"][0]["title"], "p");
        assert_eq!(out[0]["panels"][0]["gridPos"]["y"], 1);
        assert_eq!(out[1]["gridPos"]["y"], 1);
        assert_eq!(out[2]["gridPos"]["y"], 2);
        assert_eq!(
            out[2]["id"], 4,
            "ids count the panels inside collapsed rows"
        );
    }

    #[test]
    fn a_panel_that_places_itself_is_refused() {
        let mut p = panel("p", 4, 4);
        p["gridPos"]["y"] = json!(3);
        let err = layout(
            "t",
            vec![("f".into(), json!({"row": {"title": "A"}, "panels": [p]}))],
        );
        assert!(err.is_err_and(|e| e.contains("sets y")));
    }
}
