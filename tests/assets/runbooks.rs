//! docs/runbooks.md: every alert links its own section (with GitHub's anchors), and the
//! severities follow the rule the runbooks and docs/operations.md document.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use crate::common::{read_yaml, root};
use crate::{alert_metrics, alerts, RULES, RUNBOOK_BASE};

/// The runbooks every alert links.
const RUNBOOKS: &str = "docs/runbooks.md";

/// The anchor GitHub gives a Markdown heading: lower case, every character other than a
/// letter, a digit, a space, `-` or `_` dropped, spaces turned into `-`.
fn github_slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// One heading of a Markdown file and the text under it, up to the next heading.
struct Section {
    /// 1 for `#`, 2 for `##`, …
    level: usize,
    /// The heading's text, without the `#`s.
    title: String,
    /// The anchor GitHub renders for it (`-1`, `-2`, … on a repeat).
    anchor: String,
    /// The lines under the heading, up to the next one.
    body: String,
}

/// The ATX headings of a Markdown file (not those inside fenced code), with the anchors
/// GitHub renders for them: a repeated anchor gets `-1`, `-2`, … as on GitHub.
fn markdown_sections(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let level = line.chars().take_while(|c| *c == '#').count();
        let is_heading = !fenced
            && (1..=6).contains(&level)
            && line[level..].starts_with(' ')
            && !line[level..].trim().is_empty();
        if is_heading {
            let title = line[level..]
                .trim()
                .trim_end_matches('#')
                .trim()
                .to_string();
            let slug = github_slug(&title);
            let n = seen.entry(slug.clone()).or_insert(0);
            let anchor = if *n == 0 {
                slug.clone()
            } else {
                format!("{slug}-{n}")
            };
            *n += 1;
            sections.push(Section {
                level,
                title,
                anchor,
                body: String::new(),
            });
        } else if let Some(s) = sections.last_mut() {
            s.body.push_str(line);
            s.body.push('\n');
        }
    }
    sections
}

#[test]
fn github_slugs_and_duplicate_anchors_follow_github() {
    assert_eq!(
        github_slug("HuaweiCloudExporterDown"),
        "huaweicloudexporterdown"
    );
    assert_eq!(
        github_slug("Checking the exporter (logs, `PromQL`)"),
        "checking-the-exporter-logs-promql"
    );
    let sections = markdown_sections("# A\n```\n# not a heading\n```\n## A\ntext\n## B #\n");
    let anchors: Vec<&str> = sections.iter().map(|s| s.anchor.as_str()).collect();
    assert_eq!(anchors, ["a", "a-1", "b"]);
    assert_eq!(sections[1].body, "text\n");
}

#[test]
fn every_alert_links_its_own_runbook_section() {
    let rules = read_yaml(&root().join(RULES));
    let text = fs::read_to_string(root().join(RUNBOOKS)).expect("docs/runbooks.md");
    let sections = markdown_sections(&text);
    let alerts = alerts(&rules);
    let names: BTreeSet<&str> = alerts.iter().filter_map(|a| a["alert"].as_str()).collect();
    for alert in &alerts {
        let name = alert["alert"].as_str().expect("alert name");
        let url = alert["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_else(|| panic!("alert {name}: no runbook_url annotation"));
        let anchor = url
            .strip_prefix(RUNBOOK_BASE)
            .and_then(|rest| rest.strip_prefix('#'))
            .unwrap_or_else(|| panic!("alert {name}: runbook_url {url} is not {RUNBOOK_BASE}#…"));
        assert_eq!(
            anchor,
            github_slug(name),
            "alert {name}: runbook_url must point at its own section"
        );
        let section = sections
            .iter()
            .find(|s| s.anchor == anchor)
            .unwrap_or_else(|| {
                panic!("alert {name}: {RUNBOOKS} has no heading with anchor #{anchor}")
            });
        assert_eq!(
            section.level, 2,
            "alert {name}: its runbook heading must be `## {name}`"
        );
        assert!(
            !section
                .body
                .contains("runbook stub written by `cargo xtask gen`"),
            "{RUNBOOKS} section {name} is still the stub `cargo xtask gen` wrote: write it"
        );
        for part in ["**Means**", "**Check**", "**Do**"] {
            assert!(
                section.body.contains(part),
                "{RUNBOOKS} section {name} has no {part} part"
            );
        }
        let metrics = alert_metrics(alert["expr"].as_str().unwrap_or(""));
        assert!(
            metrics.iter().any(|m| section.body.contains(m.as_str())),
            "{RUNBOOKS} section {name}: its checks name none of the alert's metrics {metrics:?}"
        );
    }
    // No section for an alert that does not exist (renamed or deleted).
    for s in sections.iter().filter(|s| s.level == 2) {
        if s.title.starts_with("HuaweiCloud") {
            assert!(
                names.contains(s.title.as_str()),
                "{RUNBOOKS} has a section for {:?}, which is not an alert of {RULES}",
                s.title
            );
        }
    }
}

/// The alerts a Markdown table row lists in its last cell (`A, B, C`).
fn listed_alerts(row: &str) -> BTreeSet<String> {
    let cells: Vec<&str> = row.trim().trim_matches('|').split('|').collect();
    cells
        .last()
        .map(|c| {
            c.split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| a.starts_with("HuaweiCloud"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn alert_severities_follow_the_documented_rule() {
    let rules = read_yaml(&root().join(RULES));
    let severities: BTreeMap<String, String> = alerts(&rules)
        .iter()
        .map(|a| {
            (
                a["alert"].as_str().unwrap_or("").to_string(),
                a["labels"]["severity"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();

    // docs/runbooks.md, "Severities": the critical row lists every critical alert; every
    // other alert is a warning.
    let text = fs::read_to_string(root().join(RUNBOOKS)).expect("docs/runbooks.md");
    let row = text
        .lines()
        .find(|l| l.starts_with("| `critical`"))
        .expect("docs/runbooks.md: no `critical` row in the severities table");
    let critical = listed_alerts(row);
    assert!(!critical.is_empty(), "the critical row lists no alert");
    assert!(
        text.lines()
            .any(|l| l.starts_with("| `warning`") && l.contains("all others")),
        "docs/runbooks.md: the warning row must say it covers all other alerts"
    );
    for (name, severity) in &severities {
        let wanted = if critical.contains(name) {
            "critical"
        } else {
            "warning"
        };
        assert_eq!(
            severity, wanted,
            "alert {name}: severity {severity}, but docs/runbooks.md's rule makes it {wanted}"
        );
    }
    for name in &critical {
        assert!(
            severities.contains_key(name),
            "{RUNBOOKS} lists unknown alert {name}"
        );
    }

    // docs/operations.md's alert table says the same.
    let ops = fs::read_to_string(root().join("docs/operations.md")).expect("docs/operations.md");
    let mut tabled = BTreeSet::new();
    for line in ops.lines().filter(|l| l.starts_with("| HuaweiCloud")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let (name, severity) = (cells[0], cells[cells.len() - 1]);
        assert_eq!(
            severities.get(name).map(String::as_str),
            Some(severity),
            "docs/operations.md: {name} is listed as {severity}"
        );
        tabled.insert(name.to_string());
    }
    assert_eq!(
        tabled,
        severities.keys().cloned().collect::<BTreeSet<_>>(),
        "docs/operations.md's alert table must list every alert once"
    );
}
