//! Build metadata for `huaweicloud_exporter_build_info` and `--version`: the git revision, the
//! rustc version, who built it, when, and for which target.
//!
//! The revision comes from, in order: `HUAWEICLOUD_EXPORTER_REVISION` (set it for builds without
//! `.git`, e.g. the Dockerfile's `--build-arg REVISION=…`); `git rev-parse` when this directory
//! is a git checkout (worktrees included); the `sha1` that `cargo package` writes into
//! `.cargo_vcs_info.json`; else `unknown`. The build date is `SOURCE_DATE_EPOCH` when set
//! (reproducible builds), else the time this script ran. Nothing here can fail the build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// Longest revision we accept from the override or `.cargo_vcs_info.json`.
const MAX_REVISION: usize = 40;
/// Characters kept in the revision (git's short hash is 12).
const SHORT_REVISION: usize = 12;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HUAWEICLOUD_EXPORTER_REVISION");
    println!("cargo:rerun-if-env-changed=HUAWEICLOUD_EXPORTER_BUILD_USER");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());

    let revision = override_revision()
        .or_else(|| git_revision(&manifest_dir))
        .or_else(|| vcs_info_revision(&manifest_dir))
        .unwrap_or_else(|| "unknown".to_string());
    let rustc = rustc_version().unwrap_or_else(|| "unknown".to_string());
    let user = build_user().unwrap_or_else(|| "unknown".to_string());
    let date = build_date();
    let platform = clean(&env::var("TARGET").unwrap_or_default(), 100)
        .unwrap_or_else(|| "unknown".to_string());

    println!("cargo:rustc-env=HUAWEICLOUD_EXPORTER_BUILD_REVISION={revision}");
    println!("cargo:rustc-env=HUAWEICLOUD_EXPORTER_BUILD_RUSTC={rustc}");
    println!("cargo:rustc-env=HUAWEICLOUD_EXPORTER_BUILD_USER={user}");
    println!("cargo:rustc-env=HUAWEICLOUD_EXPORTER_BUILD_DATE={date}");
    println!("cargo:rustc-env=HUAWEICLOUD_EXPORTER_BUILD_PLATFORM={platform}");
}

/// `HUAWEICLOUD_EXPORTER_REVISION`, when set to something that looks like a revision. An empty
/// value (the Dockerfile's default) means "not set".
fn override_revision() -> Option<String> {
    let value = env::var("HUAWEICLOUD_EXPORTER_REVISION").ok()?;
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let ok = value.len() <= MAX_REVISION
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
    if !ok {
        println!(
            "cargo:warning=HUAWEICLOUD_EXPORTER_REVISION is not a revision (at most {MAX_REVISION} of [A-Za-z0-9._+-]); ignoring it"
        );
        return None;
    }
    Some(value.to_string())
}

/// `git rev-parse --short=12 HEAD`, only when this directory is itself a checkout (so a source
/// tarball unpacked inside some other repository does not take that repository's revision).
/// Also tells cargo to re-run when HEAD or the branch it points to moves.
fn git_revision(dir: &Path) -> Option<String> {
    if !dir.join(".git").exists() {
        return None;
    }
    // `.git` may be a directory or, in a worktree or submodule, a file naming the real one;
    // git resolves both.
    let dirs = git(dir, &["rev-parse", "--git-dir", "--git-common-dir"])?;
    let mut lines = dirs.lines().map(|l| dir.join(l.trim()));
    let git_dir = lines.next()?;
    let common_dir = lines.next().unwrap_or_else(|| git_dir.clone());
    watch_head(&git_dir, &common_dir);
    let rev = git(
        dir,
        &["rev-parse", &format!("--short={SHORT_REVISION}"), "HEAD"],
    )?;
    let rev = rev.trim();
    (rev.len() >= 4 && rev.len() <= MAX_REVISION && rev.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| rev.to_string())
}

/// Re-run when HEAD changes (checkout, detached commit) or the branch it names moves (commit,
/// reset), whether that ref is a loose file or packed.
fn watch_head(git_dir: &Path, common_dir: &Path) {
    let head = git_dir.join("HEAD");
    watch(&head);
    let Ok(text) = std::fs::read_to_string(&head) else {
        return;
    };
    let Some(reference) = text.trim().strip_prefix("ref:").map(str::trim) else {
        return;
    };
    // Refs under refs/heads live in the common dir; per-worktree refs in the worktree's dir.
    for base in [common_dir, git_dir] {
        let loose = base.join(reference);
        if loose.is_file() {
            watch(&loose);
        } else if let Some(parent) = loose.parent().filter(|p| p.is_dir()) {
            // Not written yet (a new branch, or packed): its creation changes the directory.
            watch(parent);
        }
        let packed = base.join("packed-refs");
        if packed.is_file() {
            watch(&packed);
        }
    }
}

fn watch(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

/// The commit `cargo package` recorded (`{"git":{"sha1":"…"}}`), for builds from a crate file.
fn vcs_info_revision(dir: &Path) -> Option<String> {
    let path = dir.join(".cargo_vcs_info.json");
    // Only an existing file is watched: cargo re-runs a script whose watched path is missing
    // on every build.
    if !path.is_file() {
        return None;
    }
    watch(&path);
    let text = std::fs::read_to_string(&path).ok()?;
    let after = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let after = after.trim_start().strip_prefix(':')?.trim_start();
    let hash = after.strip_prefix('"')?.split('"').next()?;
    (hash.len() >= SHORT_REVISION && hash.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hash[..SHORT_REVISION].to_string())
}

/// `rustc -V` of the compiler cargo uses, without the leading `rustc `:
/// `1.95.0 (59807616e 2026-04-14)`.
fn rustc_version() -> Option<String> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("-V").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.lines().next()?.trim();
    clean(line.strip_prefix("rustc ").unwrap_or(line), 100)
}

/// `user@host`, as the Go exporters print it; `HUAWEICLOUD_EXPORTER_BUILD_USER` overrides.
fn build_user() -> Option<String> {
    if let Some(v) = env::var("HUAWEICLOUD_EXPORTER_BUILD_USER")
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return clean(v.trim(), 100);
    }
    let user = env::var("USER")
        .or_else(|_| env::var("USERNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| env::var("HOSTNAME").ok())
        .or_else(|| env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    clean(
        &match host {
            Some(h) => format!("{user}@{h}"),
            None => user,
        },
        100,
    )
}

/// RFC 3339 UTC: `SOURCE_DATE_EPOCH` when set, else now.
fn build_date() -> String {
    let time = env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap_or_else(SystemTime::now);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// `s` when it is printable ASCII of at most `max` bytes (it ends up in an environment variable,
/// a metric label and `--version`).
fn clean(s: &str, max: usize) -> Option<String> {
    (!s.is_empty() && s.len() <= max && s.chars().all(|c| c.is_ascii_graphic() || c == ' '))
        .then(|| s.to_string())
}
