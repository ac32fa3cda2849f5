//! Text from upstream stays bounded text: an echoed request id is cut to a short token before
//! it reaches a log line, an error or the landing page, and no name carries a control
//! character into a label value.

use std::time::Duration;

use crate::helpers::op;
use huaweicloud_exporter::sim::{FaultKind, CONTROL_CHARACTERS, HUGE_REQUEST_ID_BYTES};

use crate::helpers::*;

/// What the exporter may keep of the `huge_request_id` fault's header, worked out here from
/// the rule (at most 64 characters, each outside `[A-Za-z0-9._-]` made `_`).
fn kept_id() -> String {
    huaweicloud_exporter::sim::huge_request_id()
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The value of every `request_id=` field in `logs`.
fn request_ids(logs: &str) -> Vec<String> {
    logs.split("request_id=")
        .skip(1)
        .map(|rest| {
            let rest = rest.strip_prefix('"').unwrap_or(rest);
            rest.split([' ', '"', ']', '\n'])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn a_100_kb_request_id_is_cut_to_64_token_characters_everywhere() {
    let sim = spawn_sim(frozen_sim(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = ONE_CLOUD
        .replace("{endpoints}", &crate::helpers::endpoints("{base}"))
        .replace("{base}", &sim.base_url())
        .replace("{project}", &sim.project_id())
        .replace("{phones}", &sim.phone_ids().join(", "));
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (mut child, port) = spawn_binary(&path, &[], &[]).await;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if http.get(format!("{base}/metrics")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the exporter never answered");

    // Arrange: every scrape operation answers an error with a 100 kB x-request-id.
    for op in [
        &op::DCS_STATUS,
        &op::KOOPHONE_BATCH_STATUS,
        &op::DDM_RESTORABLE,
    ] {
        sim.set_fault(op, fault(FaultKind::HugeRequestId));
    }
    // Act
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let m = Exposition::parse(&text);
    let page = http.get(&base).send().await.unwrap().text().await.unwrap();
    // And IAM, on the token request that a refused token causes.
    sim.clear_faults();
    sim.set_fault(&op::IAM_TOKEN, fault(FaultKind::HugeRequestId));
    sim.expire_tokens();
    let after = Exposition::parse(
        &http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let logs = crate::helpers::stop_and_read_logs(&mut child);

    // Assert: the collectors failed on it, as they should…
    for c in ["dcs", "koophone", "ddm"] {
        assert_eq!(m.success("c", c), 0.0, "{c}");
        assert_eq!(after.success("c", c), 0.0, "{c} while IAM fails");
    }
    // …and nothing anywhere carries more of the header than the 64 characters kept.
    let kept = kept_id();
    assert_eq!(kept.len(), 64);
    let longest = logs.lines().map(str::len).max().unwrap_or(0);
    assert!(
        longest < 2_048,
        "a log line of {longest} bytes from a {HUGE_REQUEST_ID_BYTES}-byte header"
    );
    let ids = request_ids(&logs);
    let echoed: Vec<&String> = ids.iter().filter(|id| **id == kept).collect();
    assert!(
        echoed.len() >= 4,
        "the collectors' and IAM's lines name the id kept: {ids:?}\n{logs}"
    );
    for id in &ids {
        assert!(
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "request_id={id:?}"
        );
    }
    assert!(!logs.contains("msg=\"forged\""), "{logs}");
    assert!(page.contains(&kept), "the landing page names the id kept");
    assert!(
        page.len() < 64 * 1024 && !page.contains("&lt;b&gt;") && !page.contains("<b>x"),
        "landing page of {} bytes",
        page.len()
    );
}

#[tokio::test]
async fn control_characters_in_instance_and_target_names_never_reach_a_label() {
    // Arrange: every listing and the restore targets name things with NUL, ESC, CR, DEL, C1.
    let sim = spawn_sim(frozen_sim(10)).await;
    for op in [
        &op::DCS_LIST,
        &op::DDM_LIST,
        &op::KOOPHONE_LIST,
        &op::DDM_RESTORABLE,
    ] {
        sim.set_fault(op, fault(FaultKind::ControlCharactersInNames));
    }
    let app = spawn_app_with_sim(
        sim,
        &token_cloud(
            "c",
            "    dcs: {}\n    koophone: { discovery: {} }\n    ddm: { discovery: {}, cache_ttl: 0s }\n",
        ),
    )
    .await;

    // Act
    let (status, text) = app.scrape_raw(None).await;

    // Assert
    assert_eq!(status, 200);
    let m = Exposition::parse(&text);
    for c in [
        "dcs_instances",
        "koophone_discovery",
        "ddm_discovery",
        "ddm",
    ] {
        assert_eq!(m.success("c", c), 1.0, "{c}");
    }
    assert!(
        !text.bytes().any(|b| (b < 0x20 && b != b'\n') || b == 0x7f),
        "a raw control byte in the exposition"
    );
    assert!(
        !text.contains('\u{85}') && !text.contains('\u{9b}'),
        "a C1 character"
    );
    // Each name label went through the one rule: its control characters replaced, the rest
    // of the name kept (the forged text is inert inside the value).
    let replaced = String::from(
        "\u{FFFD}\u{FFFD}[31m\u{FFFD}\u{FFFD}level=error msg=forged\u{FFFD}\u{FFFD}\u{FFFD}",
    );
    assert_eq!(CONTROL_CHARACTERS.chars().count(), replaced.chars().count());
    for (family, label) in [
        ("huaweicloud_dcs_instance_info", "name"),
        ("huaweicloud_ddm_instance_info", "name"),
        ("huaweicloud_koophone_instance_info", "instance_name"),
        (
            "huaweicloud_ddm_restorable_instance_available",
            "target_instance_name",
        ),
        ("huaweicloud_ddm_restorable_instance_available", "vpc_name"),
    ] {
        let samples = m.find(family, &[("cloud", "c")]);
        assert!(!samples.is_empty(), "{family}");
        for s in samples {
            let v = &s.labels[label];
            assert!(v.ends_with(&replaced), "{family} {label}={v:?}");
            assert!(
                v.chars().count() <= 128,
                "{family} {label}: {} characters",
                v.len()
            );
            assert!(!v.chars().any(char::is_control), "{family} {label}={v:?}");
        }
    }
}
