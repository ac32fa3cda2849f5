//! docs/runbooks.md: a stub section for every alert of the rendered rules that has no
//! `## <alert>` section yet, appended at the end. The stub carries [`STUB`], which the runbook
//! test refuses, so a stub is where a runbook is written, never what ships.

use std::path::Path;

use serde_yaml::Value;

use super::{read, Generated};

/// The runbooks.
pub const RUNBOOKS: &str = "docs/runbooks.md";
/// What marks a stub that is still to be written.
pub const STUB: &str = "<!-- runbook stub written by `cargo xtask gen`: replace every TODO -->";

/// docs/runbooks.md with a stub for each alert of `rules` (the rendered rules file) it lacks.
pub fn generate(root: &Path, rules: &str) -> Result<Generated, String> {
    let mut text = read(root, RUNBOOKS)?;
    let rules: Value = serde_yaml::from_str(rules).map_err(|e| format!("rules: {e}"))?;
    let alerts = rules["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_sequence().into_iter().flatten());
    for alert in alerts {
        let Some(name) = alert["alert"].as_str() else {
            continue;
        };
        let heading = format!("## {name}");
        if text.lines().any(|l| l.trim_end() == heading) {
            continue;
        }
        let summary = alert["annotations"]["summary"].as_str().unwrap_or("");
        let expr = alert["expr"].as_str().unwrap_or("").trim();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "\n{heading}\n\n{STUB}\n\n**Means**: TODO: what fires it ({summary}), and what it costs the user.\n\n\
             **Check**:\n\n- TODO: the queries and log lines that confirm it, starting from its expression:\n\n  ```promql\n  {}\n  ```\n\n\
             **Do**: TODO: what to change, in the exporter or the cloud.\n",
            expr.replace('\n', "\n  ")
        ));
    }
    Ok(Generated {
        path: RUNBOOKS.into(),
        text,
    })
}
