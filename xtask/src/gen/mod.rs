//! The files derived from the code, as `cargo xtask gen` writes them and `cargo xtask gen --check`
//! (and `tests/assets/generated.rs`, which includes this module) compares them.
//!
//! Inputs are the registry (`SERVICES`: each service's key, operations and folder) and the
//! sources beside the outputs: `dashboards/src/`, `alerts/src/`, and each service's
//! `dashboard.json` and `alerts.yml` in `src/services/<key>/`. Nothing here names a service.
//!
//! - [`dashboards`]: `dashboards/*.json`, rows, grid positions and panel ids computed.
//! - [`alerts`]: `alerts/huaweicloud.rules.yml` (the job selectors and addresses from
//!   `alerts/config.yml`), its promtool tests, and the PrometheusRule in
//!   `deploy/kubernetes/prometheus-operator/`.
//! - [`readme`]: the blocks of README.md between `BEGIN GENERATED` / `END GENERATED` markers.
//! - [`runbooks`]: a stub section in docs/runbooks.md for each alert that has none.

pub mod alerts;
pub mod dashboards;
pub mod readme;
pub mod runbooks;

use std::fs;
use std::path::Path;

use huaweicloud_exporter::services::{Service, SERVICES};

/// One generated file: where it goes (relative to the repository root) and what it holds.
#[derive(Debug)]
pub struct Generated {
    /// Path from the repository root.
    pub path: String,
    /// Its whole text.
    pub text: String,
}

/// Every service of the registry with its key (its folder under `src/services/`).
pub fn services() -> Vec<(&'static str, &'static dyn Service)> {
    SERVICES.iter().map(|s| (s.identity().key, *s)).collect()
}

/// Reads `rel` under `root`, naming the file on failure.
pub fn read(root: &Path, rel: &str) -> Result<String, String> {
    fs::read_to_string(root.join(rel)).map_err(|e| format!("{rel}: {e}"))
}

/// Reads `rel` under `root` when it exists.
pub fn read_optional(root: &Path, rel: &str) -> Result<Option<String>, String> {
    match fs::read_to_string(root.join(rel)) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{rel}: {e}")),
    }
}

/// Every generated file, from the code and the sources under `root`.
pub fn all(root: &Path) -> Result<Vec<Generated>, String> {
    let (mut out, panels) = dashboards::generate(root)?;
    let (rules, tests) = alerts::generate(root, &panels)?;
    out.push(tests);
    out.push(runbooks::generate(root, &rules.text)?);
    out.push(alerts::prometheus_rule(&rules.text));
    out.push(rules);
    out.push(readme::generate(root)?);
    Ok(out)
}

/// The generated files whose committed text differs from what the code gives now.
pub fn stale(root: &Path) -> Result<Vec<String>, String> {
    let mut stale = Vec::new();
    for file in all(root)? {
        let now = read_optional(root, &file.path)?;
        if now.as_deref() != Some(file.text.as_str()) {
            stale.push(file.path);
        }
    }
    Ok(stale)
}

/// Writes every generated file; returns those that changed.
pub fn write(root: &Path) -> Result<Vec<String>, String> {
    let mut changed = Vec::new();
    for file in all(root)? {
        let now = read_optional(root, &file.path)?;
        if now.as_deref() != Some(file.text.as_str()) {
            fs::write(root.join(&file.path), &file.text)
                .map_err(|e| format!("{}: {e}", file.path))?;
            changed.push(file.path);
        }
    }
    Ok(changed)
}

/// Replaces the text between `<!-- BEGIN GENERATED: name … -->` and `<!-- END GENERATED: name -->`
/// (both kept) with `body`.
pub fn replace_block(text: &str, file: &str, name: &str, body: &str) -> Result<String, String> {
    let begin = format!("<!-- BEGIN GENERATED: {name} ");
    let end = format!("<!-- END GENERATED: {name} -->");
    let start = text
        .find(&begin)
        .ok_or_else(|| format!("{file}: no `{begin}…-->` marker"))?;
    let after_begin = text[start..]
        .find("-->\n")
        .map(|i| start + i + 4)
        .ok_or_else(|| format!("{file}: the {name} BEGIN marker is not closed on its line"))?;
    let stop = text[after_begin..]
        .find(&end)
        .map(|i| after_begin + i)
        .ok_or_else(|| format!("{file}: no `{end}` marker after its BEGIN"))?;
    Ok(format!("{}{}{}", &text[..after_begin], body, &text[stop..]))
}
