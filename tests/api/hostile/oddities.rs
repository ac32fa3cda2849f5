//! Every silent oddity is said once: one log line each, with the request id.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, FaultSpec};

use crate::helpers::*;

use super::recorder;

#[tokio::test]
async fn each_oddity_gets_a_log_line_with_its_request_id() {
    let sim = spawn_sim(frozen_sim(20)).await;
    let other = recorder().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = ONE_CLOUD
        .split("probes:")
        .next()
        .unwrap()
        .replace("{endpoints}", &crate::helpers::endpoints("{base}"))
        .replace("{base}", &sim.base_url())
        .replace("{project}", &sim.project_id())
        .replace("{phones}", &sim.phone_ids().join(", "));
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (mut child, port) = spawn_binary(&path, &[], &[]).await;
    sim.set_fault(&op::KOOPHONE_BATCH_STATUS, fault(FaultKind::DuplicateRows));
    sim.set_fault(&op::DDM_RESTORABLE, fault(FaultKind::DuplicateRows));
    sim.set_fault(&op::DCS_STATUS, fault(FaultKind::InsaneFieldNames));
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut up = false;
    for _ in 0..100 {
        if http.get(&url).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the exporter never answered");
    sim.set_fault(&op::KOOPHONE_BATCH_STATUS, fault(FaultKind::UnaskedIds));
    sim.set_fault(
        &op::DCS_STATUS,
        FaultSpec {
            kind: Some(FaultKind::Redirect),
            location: Some(format!("{}/secret?q=token", other.base)),
            ..FaultSpec::default()
        },
    );
    http.get(&url).send().await.unwrap();
    sim.clear_faults();
    sim.expire_tokens();
    http.get(&url).send().await.unwrap();
    let logs = crate::helpers::stop_and_read_logs(&mut child);
    let hex_id = crate::helpers::has_hex_request_id;
    for what in [
        "KooPhone answered for phones not asked, or for a phone more than once",
        "DDM listed the same restore target more than once",
        "the total DDM reported disagrees",
        "DCS answered fields whose names are no sane label value",
        "redirected to host",
        "token refused",
    ] {
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(what)).collect();
        assert!(!lines.is_empty(), "no log line for {what:?}:\n{logs}");
        assert!(
            lines.iter().all(|l| hex_id(l)),
            "{what:?} without a request id: {lines:?}"
        );
    }
    // The Location's host is named; its path and query are not.
    assert!(!logs.contains("secret?q=token"), "{logs}");
    assert_eq!(other.connections.load(Ordering::SeqCst), 0);
}
