//! `--config.check`: a one-line verdict and exit 0 or 1, the shard flags applied, and a numeric
//! password refused without being printed.

use std::process::Command;

fn check(config: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"));
    cmd.args(["--config.check", "--config.file", path.to_str().unwrap()]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn config_check_prints_a_one_line_verdict_and_exits_0_or_1() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml")).unwrap();
    let (ok, text) = check(&example, &[("HWC_PASSWORD", "x")]);
    assert!(ok, "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("valid (1 clouds, 1 probe modules)"), "{text}");

    let (ok, text) = check(&example, &[]);
    assert!(!ok);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.ends_with("config.yaml: clouds[0].auth.password.password: environment variable HWC_PASSWORD is not set; export it before starting, or write the value (or a *_file path) instead\n"), "{text}");
}

#[test]
fn config_check_applies_the_shard_flags() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, example).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .args(["--config.check", "--config.file", path.to_str().unwrap()])
        .args(["--shard.index", "3", "--shard.total", "3"])
        .env("HWC_PASSWORD", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "--shard.index 3 --shard.total 3: index counts from 0 and must be below total\n"
    );
}

#[test]
fn config_check_never_prints_a_numeric_password() {
    let config = "clouds:\n  - name: prod\n    region: ap-southeast-1\n    project_id: 0123456789abcdef0123456789abcdef\n    auth: { password: { domain: acme, user: mon, password: 86753091234567 } }\n    dcs: {}\n";
    let (ok, text) = check(config, &[]);
    assert!(!ok);
    assert!(!text.contains("3091"), "{text}");
    assert!(
        text.ends_with("config.yaml: clouds[0].auth.password.password: is a number, not text (its value is not shown: this field holds a secret); quote it, since YAML reads unquoted digits, true/false and ~ as other types and can change them (leading zeros, exponents), or better take it from ${VAR} or the *_file form of this key\n"),
        "{text}"
    );
}

/// The operator's file with four mistakes of different kinds: one run names them all; and a
/// valid file with a risky setting is valid, its warning printed first.
#[test]
fn config_check_names_every_error_in_one_run_and_prints_warnings() {
    let bad = "clouds:\n  - name: prod\n    region: ap-southeast-1\n    project_id: 0123456789abcdef0123456789abcde\n    auth: { password: { domain: acme, user: mon, password: \"${HWC_UNSET}\" } }\n    endpoints: { dcs: \"https://dcs.example.com/v2/\" }\n    dcs: {}\n    colour: blue\n";
    let (ok, text) = check(bad, &[]);
    assert!(!ok);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    for field in [
        "clouds[0].auth.password.password: environment variable HWC_UNSET is not set",
        "clouds[0].colour: unknown field `colour`",
        "clouds[0].project_id: \"0123456789abcdef0123456789abcde\" has 31 characters",
        "clouds[0].endpoints.dcs: \"https://dcs.example.com/v2/\" has a path",
    ] {
        assert!(lines.iter().any(|l| l.contains(field)), "{field} in {text}");
    }

    let risky = "clouds:\n  - name: prod\n    region: ap-southeast-1\n    project_id: 0123456789abcdef0123456789abcdef\n    auth: { token: { value: t } }\n    tls: { insecure_skip_verify: true }\n    dcs: {}\n";
    let (ok, text) = check(risky, &[]);
    assert!(ok, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("warning: ") && lines[0].contains("clouds[0].tls.insecure_skip_verify: is true: the certificates of this cloud's endpoints are NOT verified"), "{text}");
    assert!(
        lines[1].ends_with("valid (1 clouds, 0 probe modules)"),
        "{text}"
    );
}
