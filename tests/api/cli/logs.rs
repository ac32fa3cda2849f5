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
