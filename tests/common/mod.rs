//! Helpers shared by the asset tests: where the repository is, and how a test finds the
//! external tool it shells out to (or skips when the tool is missing).
//!
//! Each test binary that includes this module uses only some of these helpers.
#![allow(dead_code)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (where Cargo.toml is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Looks `tool` up on PATH.
///
/// Returns its path when found. When it is missing: if `REQUIRE_PROMETHEUS=1` the test
/// fails (CI must have installed it); otherwise this writes
/// `skipped: <test>: <tool> not found (<why>)` to the process's stderr and returns `None`, and
/// the caller returns. The line goes to the stderr file itself, not through `eprintln!`, which
/// the test harness captures and shows only for a failure: a skip must be seen without
/// `--nocapture`, or a test that checked nothing would pass as `ok` unnoticed.
///
/// The slow ones are marked `#[ignore = "runs <tool>, an external tool: cargo test --
/// --include-ignored runs it"]`, so a plain `cargo test` stays quick; they run when asked for
/// (`--include-ignored`, as `.ci/run` does with `REQUIRE_PROMETHEUS=1`).
pub fn require_tool(tool: &str, why: &str) -> Option<PathBuf> {
    if let Some(path) = find_on_path(tool) {
        return Some(path);
    }
    if env::var("REQUIRE_PROMETHEUS").as_deref() == Ok("1") {
        panic!("{tool} not found on PATH ({why}), and REQUIRE_PROMETHEUS=1 makes that a failure");
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let line = format!("skipped: {test}: {tool} not found on PATH ({why})\n");
    // Past the harness's capture: see above.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    None
}

fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Runs `cmd` and fails the test, showing its output, unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd` and fails the test if it exits 0: for checks that a tool rejects bad input.
pub fn run_fails(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"));
    assert!(
        !out.status.success(),
        "{cmd:?} accepted input it should reject\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Reads and parses a YAML file, failing the test with the path on error.
pub fn read_yaml(path: &Path) -> serde_yaml::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()))
}

/// Every file directly in `dir` whose name ends with one of `exts`, sorted.
pub fn files_with_ext(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: cannot list: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| exts.iter().any(|ext| n.ends_with(ext)))
        })
        .collect();
    files.sort();
    files
}

/// Every panel of a Grafana dashboard, with the panels nested in collapsed rows.
pub fn panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        all.push(panel);
        all.extend(panel["panels"].as_array().into_iter().flatten());
    }
    all
}
