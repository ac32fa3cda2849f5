//! The landing page in a real browser: headless Chromium renders it after a scrape in which one
//! collector failed (a simulator fault whose error message is hostile markup) and after a probe,
//! and the rendered DOM must hold the facts an operator looks for — each collector's outcome,
//! the error with its request id, the inventory, the recent probe with its debug link — with
//! the hostile text shown as text, never run.
//!
//! Needs `chromium` (Debian's package; `.ci/run` installs it). Without it the test says it
//! skipped, unless `REQUIRE_PROMETHEUS=1`, which makes a missing browser a failure.

mod common;
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::time::Duration;

use crate::helpers::op;
use helpers::*;
use huaweicloud_exporter::sim::{FaultKind, SimConfig, HOSTILE_MESSAGE};

/// Renders `url` in headless Chromium and returns the DOM after load.
async fn dump_dom(chromium: &std::path::Path, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", url])
        .kill_on_drop(true)
        .output()
        .await
        .expect("chromium starts");
    assert!(
        out.status.success(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the DOM is UTF-8")
}

/// The element `<tag …id="id"…>…</tag>` of a serialized DOM (no nesting of the same tag inside).
fn element<'a>(dom: &'a str, tag: &str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<{tag} id=\"{id}\""))
        .unwrap_or_else(|| panic!("no <{tag} id={id:?}> in the rendered page:\n{dom}"));
    let end = dom[start..]
        .find(&format!("</{tag}>"))
        .unwrap_or_else(|| panic!("<{tag} id={id:?}> is not closed"));
    &dom[start..start + end]
}

/// Text content of an HTML fragment: tags dropped, the entities Chromium writes decoded.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

fn has_request_id(s: &str) -> bool {
    s.split(|c: char| !c.is_ascii_hexdigit())
        .any(|w| w.len() == 32)
}

#[tokio::test]
async fn the_landing_page_shows_collectors_errors_inventory_and_probes_in_a_browser() {
    let Some(chromium) = common::require_tool("chromium", "renders the landing page") else {
        return;
    };
    let sim = spawn_sim(SimConfig {
        job_delay: Duration::from_millis(100),
        ..frozen_sim(10)
    })
    .await;
    let healthy = statuses(&sim, &sim.phone_ids())
        .await
        .into_iter()
        .find(|(_, s)| !matches!(s, 5 | 6))
        .map(|(id, _)| id)
        .expect("a healthy phone");
    let config = format!(
        "{TWO_CLOUDS}probes:\n  boot:\n    cloud: pw\n    command: getprop sys.boot_completed\n    expect: \"^1$\"\n    timeout: 5s\n    poll_interval: 50ms\n"
    );
    let app = spawn_app_with_sim(sim, &config).await;

    // Arrange: a good scrape, then one where the DCS collector fails with a hostile message,
    // then a probe.
    app.scrape().await;
    app.sim
        .set_fault(&op::DCS_STATUS, fault(FaultKind::HostileMessage));
    let m = app.scrape().await;
    assert_eq!(m.success("pw", "dcs"), 0.0, "the fault hit DCS");
    assert_eq!(m.success("pw", "koophone"), 1.0);
    app.sim.clear_faults();
    let probe = app
        .http
        .get(app.url(&format!("/probe?module=boot&target={healthy}")))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);

    // Act
    let dom = dump_dom(&chromium, &app.url("/")).await;

    // Assert: nothing injected ran (the title and body are untouched).
    assert!(
        dom.contains("<title>Huawei Cloud Exporter</title>"),
        "{dom}"
    );
    assert!(!dom.contains("data-owned"), "the hostile markup ran: {dom}");
    assert!(
        !dom.contains("<img src=\"x\""),
        "the hostile markup became an element"
    );

    let failed = text(element(&dom, "tr", "collector-pw-dcs"));
    assert!(failed.contains("failed"), "{failed}");
    assert!(failed.contains("client_error"), "{failed}");
    assert!(
        failed.contains(&HOSTILE_MESSAGE.replace(['\r', '\n'], " ")[..60]),
        "the hostile message is shown as text: {failed}"
    );
    assert!(failed.contains("request id"), "{failed}");
    assert!(has_request_id(&failed), "a request id in: {failed}");
    assert!(failed.contains(" ms"), "how long it took: {failed}");
    assert!(
        failed.contains(" ago)"),
        "when it ran, and when it last succeeded: {failed}"
    );

    let phones = text(element(&dom, "tr", "collector-pw-koophone"));
    assert!(phones.contains("succeeded"), "{phones}");
    assert!(phones.contains("10 phones"), "the inventory: {phones}");
    let ddm = text(element(&dom, "tr", "collector-pw-ddm"));
    assert!(
        ddm.contains("succeeded") && ddm.contains("1 instance"),
        "{ddm}"
    );
    let tok = text(element(&dom, "tr", "collector-tok-dcs"));
    assert!(tok.contains("failed") && has_request_id(&tok), "{tok}");
    assert!(dom.contains("<time datetime=\""), "when it ran");

    let probes = element(&dom, "table", "probes");
    assert!(text(probes).contains("boot"), "{probes}");
    assert!(text(probes).contains(&healthy), "{probes}");
    assert!(text(probes).contains("success"), "{probes}");
    let link = format!("href=\"/probe?module=boot&amp;target={healthy}&amp;debug=true\"");
    assert!(
        probes.contains(&link),
        "a link to the probe's debug output: {probes}"
    );

    // The link answers the probe's log.
    let debug = app
        .http
        .get(app.url(&format!("/probe?module=boot&target={healthy}&debug=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(debug.status(), 200);
    let body = debug.text().await.unwrap();
    assert!(body.starts_with("Logs for the probe:\n"), "{body}");
    assert!(
        body.contains("Metrics that would have been returned:"),
        "{body}"
    );
}

#[tokio::test]
async fn every_collector_the_metric_reports_has_its_row_and_a_failing_refresh_shows() {
    let Some(chromium) = common::require_tool("chromium", "renders the landing page") else {
        return;
    };
    let sim = spawn_sim(frozen_sim(10)).await;
    let config = token_cloud(
        "c",
        "    dcs: {}\n    koophone: { discovery: { refresh_interval: 1s } }\n    ddm: { discovery: { refresh_interval: 1s }, cache_ttl: 0s }\n",
    );
    let app = spawn_app_with_sim(sim, &config).await;

    // Arrange: a good first listing, then every listing refused until both discoveries say so.
    app.scrape().await;
    for op in [&op::KOOPHONE_LIST, &op::DDM_LIST] {
        app.sim.set_fault(op, fault(FaultKind::ServerError));
    }
    let mut m = app.scrape().await;
    for _ in 0..40 {
        if m.success("c", "koophone_discovery") == 0.0 && m.success("c", "ddm_discovery") == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        m = app.scrape().await;
    }
    assert_eq!(
        m.success("c", "koophone_discovery"),
        0.0,
        "a failed refresh"
    );
    assert_eq!(m.success("c", "ddm_discovery"), 0.0, "a failed refresh");
    let reported: Vec<(String, f64)> = m
        .find("huaweicloud_scrape_collector_success", &[("cloud", "c")])
        .iter()
        .map(|s| (s.labels["collector"].clone(), s.value))
        .collect();
    for c in [
        "dcs",
        "dcs_instances",
        "koophone",
        "koophone_discovery",
        "ddm",
        "ddm_discovery",
    ] {
        assert!(reported.iter().any(|(r, _)| r == c), "{c} in {reported:?}");
    }

    // Act
    let dom = dump_dom(&chromium, &app.url("/")).await;

    // Assert: one row per collector the metric reports, saying what the metric says.
    assert!(
        !dom.contains("InventorySummary"),
        "a type name as a column header"
    );
    for (collector, value) in &reported {
        let row = text(element(&dom, "tr", &format!("collector-c-{collector}")));
        let outcome = if *value == 1.0 { "succeeded" } else { "failed" };
        assert!(row.contains(outcome), "{collector}: {outcome}: {row}");
        assert!(
            row.contains(" ms") || row.contains(" s"),
            "{collector}: took: {row}"
        );
        assert!(row.contains(" ago)"), "{collector}: when: {row}");
    }
    for collector in ["koophone_discovery", "ddm_discovery"] {
        let row = text(element(&dom, "tr", &format!("collector-c-{collector}")));
        assert!(row.contains("server_error"), "{collector}: {row}");
        assert!(has_request_id(&row), "{collector}: a request id in {row}");
        assert!(
            !row.contains("never"),
            "{collector}: the first listing's success is shown: {row}"
        );
    }
}
