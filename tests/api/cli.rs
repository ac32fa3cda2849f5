//! The binary's command line: `--config.check` verdicts.

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
