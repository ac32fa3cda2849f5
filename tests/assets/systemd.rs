//! The systemd unit in deploy/systemd/: hardened, reloads with SIGHUP, reads secrets from an
//! EnvironmentFile, passes only flags the binary has, and passes `systemd-analyze`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{require_tool, root, run_ok};
use crate::EXPORTER;

/// The systemd unit the package installs.
const UNIT: &str = "deploy/systemd/huaweicloud-exporter.service";

/// `key=value` settings of one `[section]` of a systemd unit, in order (keys may repeat).
fn unit_settings(text: &str, section: &str) -> Vec<(String, String)> {
    let mut current = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            current = line.trim_matches(|c| c == '[' || c == ']').to_string();
        } else if current == section {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    out
}

#[test]
fn systemd_unit_is_hardened_reloads_and_reads_secrets_from_an_environment_file() {
    let text = fs::read_to_string(root().join(UNIT)).expect("systemd unit");
    let service = unit_settings(&text, "Service");
    let get = |key: &str| -> Vec<&str> {
        service
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let one = |key: &str| get(key).last().copied().unwrap_or("");
    assert!(
        one("DynamicUser") == "yes" || !matches!(one("User"), "" | "root" | "0"),
        "{UNIT}: runs as root (set DynamicUser=yes or a dedicated User=)"
    );
    assert_eq!(
        one("ExecReload"),
        "/bin/kill -HUP $MAINPID",
        "{UNIT}: reload = SIGHUP"
    );
    assert!(
        one("EnvironmentFile")
            .trim_start_matches('-')
            .starts_with("/etc/"),
        "{UNIT}: secrets must come from an EnvironmentFile"
    );
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(one(key), value, "{UNIT}: {key}");
    }
    // The flags it passes are flags the binary has.
    let help = run_ok(Command::new(EXPORTER).arg("--help"));
    let help = String::from_utf8_lossy(&help.stdout);
    for exec in get("ExecStart").into_iter().chain(get("ExecStartPre")) {
        let mut words = exec.split_whitespace();
        assert!(
            words
                .next()
                .is_some_and(|b| b.ends_with("/huaweicloud-exporter")),
            "{UNIT}: {exec} does not run huaweicloud-exporter"
        );
        for flag in words {
            let name = flag.split('=').next().unwrap_or(flag);
            assert!(
                help.contains(name),
                "{UNIT}: {name} is not a flag of the exporter"
            );
        }
    }
    assert!(
        get("ExecStart")
            .iter()
            .any(|e| e.contains("--config.file=/etc/huaweicloud-exporter/")),
        "{UNIT}: the config file lives in /etc/huaweicloud-exporter/"
    );
}

/// The unit with its binary path pointed at the freshly built exporter, in a temp dir.
fn unit_for_the_built_binary(dir: &Path) -> PathBuf {
    let text = fs::read_to_string(root().join(UNIT)).expect("systemd unit");
    let path = dir.join("huaweicloud-exporter.service");
    fs::write(
        &path,
        text.replace("/usr/local/bin/huaweicloud-exporter", EXPORTER),
    )
    .expect("write unit");
    path
}

#[test]
fn systemd_analyze_verifies_the_unit_and_rates_it_ok() {
    let Some(analyze) = require_tool("systemd-analyze", "needed to verify the systemd unit") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let unit = unit_for_the_built_binary(tmp.path());
    // verify only warns about unknown keys and bad values: any output is a failure.
    let out = run_ok(Command::new(&analyze).arg("verify").arg(&unit));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify {UNIT}:\n{said}"
    );
    // Exposure "OK" (at most 2.0 of 10).
    run_ok(
        Command::new(&analyze)
            .args(["security", "--offline=true", "--threshold=20", "--no-pager"])
            .arg(&unit),
    );

    // Negative control: a misspelt key is reported.
    let text = fs::read_to_string(&unit).expect("unit");
    fs::write(&unit, text.replacen("ProtectHome=", "ProtectHomes=", 1)).expect("write unit");
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ProtectHomes"),
        "systemd-analyze verify did not report an unknown key"
    );
}
