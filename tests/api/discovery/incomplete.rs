//! The one rule for incomplete listings (`inventory::listed`) as every service's log says it:
//! a listing whose total lies is one `warn` line per listing, naming its collector, the
//! shortfall and the listing's request id, the same words for a per-scrape listing (DCS) and
//! for discovered inventories (KooPhone, DDM).

use std::time::Duration;

use huaweicloud_exporter::sim::{FaultKind, SimConfig, SimDdmInstance};

use crate::helpers::{fault, frozen_sim, op, spawn_binary, spawn_sim, with_endpoints, Exposition};

const CONFIG: &str = r#"timeout: 5s
clouds:
  - name: c
    region: ap-southeast-1
    project_id: {project}
    auth: { token: { value: demo-static-token } }
    endpoints: {endpoints}
    koophone: { discovery: {} }
    ddm: { discovery: {}, cache_ttl: 0s }
    dcs: {}
"#;

#[tokio::test]
async fn a_lying_total_is_one_log_line_with_its_request_id_in_every_service() {
    let sim = spawn_sim(SimConfig {
        ddm_instances: (0..3)
            .map(|i| SimDdmInstance {
                id: format!("{:032x}in09", 0xdd00 + i),
                targets: 1,
            })
            .collect(),
        faults: [&op::DCS_LIST, &op::KOOPHONE_LIST, &op::DDM_LIST]
            .into_iter()
            .map(|e| (e, fault(FaultKind::ListTotalLies)))
            .collect(),
        ..frozen_sim(50)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let yaml = with_endpoints(CONFIG)
        .replace("{base}", &sim.base_url())
        .replace("{project}", &sim.project_id());
    std::fs::write(&path, yaml).unwrap();
    let (mut child, port) = spawn_binary(&path, &[], &[]).await;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let collectors = ["dcs_instances", "koophone_discovery", "ddm_discovery"];
    let mut seen = None;
    // The default refresh interval (5m): one listing per discovery, and one scrape, so one
    // DCS listing.
    for _ in 0..80 {
        if let Ok(r) = reqwest::get(&url).await {
            seen = Some(Exposition::parse(&r.text().await.unwrap_or_default()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = crate::helpers::stop_and_read_logs(&mut child);
    let m = seen.expect("no scrape");
    for collector in collectors {
        assert_eq!(m.success("c", collector), 0.0, "{collector}\n{logs}");
        let lines: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("partial listing") && l.contains(collector))
            .collect();
        assert_eq!(lines.len(), 1, "{collector}: {lines:?}\n{logs}");
        assert!(lines[0].contains("level=warn"), "{}", lines[0]);
        assert!(
            crate::helpers::has_hex_request_id(lines[0]),
            "{collector}: no request id in {:?}",
            lines[0]
        );
    }
    // Served all the same: some resources are better than none.
    assert!(!m.find("huaweicloud_dcs_instance_status", &[]).is_empty());
    assert_eq!(m.find("huaweicloud_ddm_instance_info", &[]).len(), 3);
    assert_eq!(m.find("huaweicloud_koophone_instance_info", &[]).len(), 50);
}
