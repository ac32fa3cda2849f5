//! What the binary says it is: `--version` (version, revision, rustc, build details),
//! `huaweicloud_exporter_build_info`, and the revision the Dockerfile passes into the build.

use std::process::Command;

use super::{git_revision, looks_like_rustc_version, start_binary};

#[test]
fn version_prints_version_revision_rustc_and_build_details() {
    let out = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "huaweicloud-exporter, version {} (revision: {})",
            env!("CARGO_PKG_VERSION"),
            git_revision()
        ),
        "{text}"
    );
    let field = |name: &str| -> String {
        let prefix = format!("  {name}:");
        let line = lines
            .iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {name:?} line in {text}"));
        line[prefix.len()..].trim().to_string()
    };
    let rustc = field("rustc version");
    assert!(looks_like_rustc_version(&rustc), "{rustc:?}");
    let date = field("build date");
    assert!(humantime::parse_rfc3339(&date).is_ok(), "{date:?}");
    assert!(!field("build user").is_empty());
    assert!(!field("platform").is_empty());
    assert_eq!(lines.len(), 5, "{text}");
    // `-V` is the same.
    let short = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .arg("-V")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(short.stdout).unwrap(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_info_carries_the_git_revision_and_rustc_version() {
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let mut run = start_binary(&sim, "build").await;
    let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", run.port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let _ = run.child.kill();
    let _ = run.child.wait();
    let m = crate::helpers::Exposition::parse(&text);
    let info = m.find("huaweicloud_exporter_build_info", &[]);
    assert_eq!(info.len(), 1, "{info:?}");
    let labels = &info[0].labels;
    assert_eq!(info[0].value, 1.0);
    assert_eq!(labels["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(labels["revision"], git_revision());
    assert_ne!(
        labels["revision"], "unknown",
        "built from a git checkout, the revision is known"
    );
    assert!(
        looks_like_rustc_version(&labels["rustc_version"]),
        "{labels:?}"
    );
    let version = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8(version.stdout)
        .unwrap()
        .contains(&format!(
            "  rustc version:    {}\n",
            labels["rustc_version"]
        )));
}

#[test]
fn the_dockerfile_passes_the_revision_into_the_build() {
    // .dockerignore keeps .git out of the build context, so build.rs cannot ask git there.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == ".git"));
    let text = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let builder = text
        .split("\nFROM ")
        .find(|stage| stage.contains("cargo build"))
        .expect("a stage that runs cargo build");
    assert!(
        builder
            .lines()
            .any(|l| l.trim().starts_with("ARG REVISION")),
        "{builder}"
    );
    let run = &builder[builder.find("RUN ").expect("RUN")..];
    let run = &run[..run.find("cargo build").unwrap()];
    assert!(
        run.contains("HUAWEICLOUD_EXPORTER_REVISION=\"${REVISION}\""),
        "{run}"
    );
}
