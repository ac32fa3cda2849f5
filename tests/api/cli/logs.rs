//! The log lines, in logfmt and JSON: every line has `ts`, `level` and `msg`, and an error line
//! escapes whatever a path holds.

use std::process::Command;

use super::{decode_log_line, git_revision, one_cloud, Spawned};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_line_has_ts_level_msg_in_logfmt_and_json() {
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, one_cloud(&sim, "logs")).unwrap();
    // A config path with a quote, a newline and spaces: its error line needs every escape.
    let odd = dir.path().join("we\"ird\n dir").join("conf ig.yaml");
    for format in ["logfmt", "json"] {
        // Arrange: a run that starts, scrapes and stops, at debug level for many kinds of line.
        let mut run = Spawned::start(&[
            "--config.file",
            config.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.level",
            "debug",
            "--log.format",
            format,
        ]);
        let listening = run.wait_for("listening", 1).await;
        let line = decode_log_line(format, &listening[0]);
        let address = line["address"].clone();

        // Act
        let text = reqwest::get(format!("http://{address}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines = run.stop();
        let failed = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
            .args([
                "--log.format",
                format,
                "--config.file",
                odd.to_str().unwrap(),
            ])
            .output()
            .unwrap();

        // Assert
        assert!(text.contains("huaweicloud_exporter_build_info"));
        assert!(lines.len() >= 3, "{lines:?}");
        let decoded: Vec<_> = lines.iter().map(|l| decode_log_line(format, l)).collect();
        let msgs: Vec<&str> = decoded.iter().map(|l| l["msg"].as_str()).collect();
        assert!(
            msgs.contains(&"listening") && msgs.contains(&"shutting down"),
            "{msgs:?}"
        );
        assert_eq!(line["level"], "info");
        assert_eq!(line["revision"], git_revision());
        assert!(line["source"].starts_with("main.rs:"), "{line:?}");

        assert!(!failed.status.success());
        let stderr = String::from_utf8(failed.stderr).unwrap();
        let stderr_lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            stderr_lines.len(),
            1,
            "one log line and nothing else: {stderr}"
        );
        let error = decode_log_line(format, stderr_lines[0]);
        assert_eq!(error["level"], "error");
        assert_eq!(error["msg"], "exiting");
        assert_eq!(
            error["error"],
            format!(
                "{}: cannot read the config file: No such file or directory (os error 2); pass the right path with --config.file",
                odd.display()
            )
        );
    }
}

/// At `--log.level=debug` a scrape logs one line per upstream call, with what an operator
/// needs to follow it up (operation, status, request id, duration, bytes), as a debug probe's
/// own log does; at the default level there is none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_level_logs_each_upstream_call_of_a_scrape() {
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, one_cloud(&sim, "dbg")).unwrap();
    for (level, want_lines) in [("debug", true), ("info", false)] {
        // Arrange
        let mut run = Spawned::start(&[
            "--config.file",
            config.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.level",
            level,
        ]);
        let address = run.listening(1).await[0];

        // Act: one scrape (DCS counts and the DCS listing: two calls).
        let text = reqwest::get(format!("http://{address}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines = run.stop();

        // Assert
        assert!(text.contains("huaweicloud_dcs_instances"), "{text}");
        let calls: Vec<std::collections::BTreeMap<String, String>> = lines
            .iter()
            .filter(|l| l.contains("msg=\"upstream call\""))
            .map(|l| super::parse_logfmt(l).into_iter().collect())
            .collect();
        if !want_lines {
            assert!(calls.is_empty(), "{lines:?}");
            continue;
        }
        let mut operations: Vec<&str> = calls.iter().map(|c| c["operation"].as_str()).collect();
        operations.sort_unstable();
        assert_eq!(operations, ["dcs_list", "dcs_status"], "{lines:?}");
        for call in &calls {
            assert_eq!(call["level"], "debug");
            assert_eq!(call["cloud"], "dbg");
            assert_eq!(call["method"], "GET");
            assert_eq!(call["status"], "200");
            assert_ne!(call["request_id"], "-", "{call:?}");
            assert!(call["bytes"].parse::<usize>().unwrap() > 0, "{call:?}");
            assert!(call["duration_seconds"].parse::<f64>().is_ok(), "{call:?}");
        }
    }
}

/// A collector failing scrape after scrape with the same error logs it once (the repeats
/// within the minute are counted, not written), a change of error at once, and its recovery
/// with the count of what went unlogged. (The once-a-minute repeat is `repeats`' unit test, on
/// chosen instants.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_failing_every_scrape_logs_its_first_failure_changes_and_recovery() {
    use crate::helpers::op;
    use huaweicloud_exporter::sim::FaultKind;
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, one_cloud(&sim, "rep")).unwrap();
    let mut run = Spawned::start(&[
        "--config.file",
        config.to_str().unwrap(),
        "--web.listen-address",
        "127.0.0.1:0",
    ]);
    let address = run.listening(1).await[0];
    let scrape = || async {
        reqwest::get(format!("http://{address}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };

    // Act: three scrapes with DCS answering 500, two with it throttling, one healthy.
    sim.set_fault(
        &op::DCS_STATUS,
        crate::helpers::fault(FaultKind::ServerError),
    );
    for _ in 0..3 {
        scrape().await;
    }
    sim.set_fault(&op::DCS_STATUS, crate::helpers::fault(FaultKind::Throttled));
    for _ in 0..2 {
        scrape().await;
    }
    sim.clear_faults();
    scrape().await;
    let lines = run.stop();

    // Assert
    let about_dcs: Vec<std::collections::BTreeMap<String, String>> = lines
        .iter()
        .map(|l| {
            super::parse_logfmt(l)
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>()
        })
        .filter(|l| l.get("collector").map(String::as_str) == Some("dcs"))
        .collect();
    let summary: Vec<(String, String, String)> = about_dcs
        .iter()
        .map(|l| {
            (
                l["msg"].clone(),
                l.get("result").cloned().unwrap_or_default(),
                l.get("previous_error_repeats")
                    .or(l.get("unlogged_repeats"))
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "collector failed".into(),
                "server_error".into(),
                String::new()
            ),
            ("collector failed".into(), "throttled".into(), "2".into()),
            ("collector recovered".into(), String::new(), "1".into()),
        ],
        "{lines:#?}"
    );
}
