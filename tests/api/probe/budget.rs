//! The command budget of a module (`max_commands_per_minute`): a flood is held to it, a refused
//! probe is answered 429 or from an older result, and a reload does not refill it.

use std::time::{Duration, Instant};

use crate::helpers::op;
use huaweicloud_exporter::sim::SimConfig;

use crate::helpers::*;

use super::{commands_total, get, probe};

/// A fleet of 120 phones, all configured, and a module allowed `per_minute` commands a minute.
async fn budget_app(min_interval: &str, per_minute: u32) -> TestApp {
    budget_app_with(Duration::from_millis(100), min_interval, per_minute).await
}

/// [`budget_app`] whose jobs take `job_delay`.
async fn budget_app_with(job_delay: Duration, min_interval: &str, per_minute: u32) -> TestApp {
    spawn_app(Opts {
        sim: SimConfig {
            job_delay,
            ..frozen_sim(120)
        },
        config: token_cloud("pw", "    koophone: { instance_ids: [{phones}] }\n")
            + &format!(
                r#"probes:
  any:
    cloud: pw
    command: echo hello
    poll_interval: 50ms
    min_interval: {min_interval}
    max_commands_per_minute: {per_minute}
"#
            ),
    })
    .await
}

#[tokio::test]
async fn a_flood_of_distinct_probes_is_held_to_the_command_budget() {
    let app = budget_app("60s", 5).await;
    let ids = app.sim.phone_ids();
    let started = Instant::now();

    let app = &app;
    let answers = futures::future::join_all(ids.iter().map(|id| async move {
        let resp = app
            .http
            .get(app.url(&format!("/probe?module=any&target={id}")))
            .send()
            .await
            .expect("probe");
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        (status, retry_after, resp.text().await.expect("body"))
    }))
    .await;
    let elapsed = started.elapsed();

    let answered = answers.iter().filter(|(s, _, _)| *s == 200).count();
    let refused: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 429).collect();
    assert_eq!(answered + refused.len(), ids.len(), "only 200 and 429");
    for (_, retry_after, text) in &refused {
        assert!(retry_after.is_some_and(|s| s >= 1), "Retry-After: {text}");
        assert!(text.contains("max_commands_per_minute"), "{text}");
    }
    // The budget holds 5, refilled at 5 a minute while the flood lasted.
    let allowed = 5 + (elapsed.as_secs_f64() * 5.0 / 60.0).floor() as u64;
    let sent = app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND);
    assert!(
        (1..=allowed).contains(&sent),
        "{sent} commands, budget {allowed}"
    );
    assert_eq!(sent as usize, answered, "each answer ran its own command");
    assert_eq!(
        commands_total(app, "any", "throttled").await,
        refused.len() as f64
    );
    assert!(
        app.sim.calls(&op::KOOPHONE_TASK) <= sent * 10,
        "polls only for commands sent"
    );
}

#[tokio::test]
async fn a_refused_probe_is_answered_from_an_older_result_when_there_is_one() {
    let app = budget_app("1s", 1).await;
    let ids = app.sim.phone_ids();
    let (a, b) = (&ids[0], &ids[1]);
    let first = probe(&app, &format!("module=any&target={a}")).await;
    assert_eq!(first.value("probe_success", &[]), 1.0);
    tokio::time::sleep(Duration::from_millis(1100)).await; // past min_interval

    // Act: the budget (one a minute) is spent.
    let again = probe(&app, &format!("module=any&target={a}")).await;
    let (status, _, text) = get(&app, &format!("module=any&target={b}"), None).await;

    // Assert: `a` has a result to serve; `b` has none and is refused.
    assert_eq!(again.value("huaweicloud_koophone_probe_cached", &[]), 1.0);
    assert_eq!(again.value("probe_success", &[]), 1.0);
    assert!(again.value("huaweicloud_koophone_probe_result_age_seconds", &[]) >= 1.0);
    assert_eq!(status, 429, "{text}");
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 1);
    assert_eq!(commands_total(&app, "any", "throttled").await, 2.0);
}

#[tokio::test]
async fn a_reload_does_not_refill_the_command_budget() {
    // Arrange: a module allowed 2 commands a minute, served from a file so it can be reloaded.
    let sim = spawn_sim(SimConfig {
        job_delay: Duration::from_millis(100),
        ..frozen_sim(20)
    })
    .await;
    let ids = sim.phone_ids();
    let yaml = format!(
        r#"
clouds:
  - name: pw
    region: ap-southeast-1
    project_id: {project}
    auth: {{ token: {{ value: demo-static-token }} }}
    endpoints: {endpoints}
    koophone: {{ instance_ids: [{phones}] }}
probes:
  any:
    cloud: pw
    command: echo hello
    poll_interval: 50ms
    max_commands_per_minute: 2
"#,
        project = sim.project_id(),
        endpoints = crate::helpers::endpoints(&sim.base_url()),
        phones = ids.join(", ")
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let cfg = load_for(&sim, &yaml);
    let (addr, _state, _stop) = serve(build(cfg, Some(path)).await);
    let http = reqwest::Client::new();
    let probe = |target: String| {
        let http = http.clone();
        async move {
            http.get(format!("http://{addr}/probe?module=any&target={target}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(probe(ids[0].clone()).await, 200);
    assert_eq!(probe(ids[1].clone()).await, 200);
    assert_eq!(probe(ids[2].clone()).await, 429, "the budget is spent");

    // Act: anyone on the port may ask for a reload when no web config guards it.
    let reload = http
        .post(format!("http://{addr}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);

    // Assert: still spent, and no command was sent for the refused probe.
    assert_eq!(probe(ids[3].clone()).await, 429, "a reload refills nothing");
    assert_eq!(sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 2);
}

#[tokio::test]
async fn short_probe_timeouts_cannot_spend_the_command_budget() {
    // Jobs take 1 s; the module may send 3 commands a minute. 25 probes of one phone whose
    // scrape-timeout headers leave from no time at all to 0.4 s.
    let app = budget_app_with(Duration::from_secs(1), "60s", 3).await;
    let ids = app.sim.phone_ids();
    let id = statuses(&app.sim, &ids[..10])
        .await
        .into_iter()
        .find(|(_, s)| !matches!(s, 5 | 6))
        .map(|(id, _)| id)
        .unwrap();
    let q = format!("module=any&target={id}");
    for header in ["0.000001", "0.001", "0.1", "0.6", "0.9"].repeat(5) {
        let (status, _, text) = get(&app, &q, Some(header)).await;
        assert_eq!(status, 200, "header {header}: {text}");
    }
    assert_eq!(
        app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND),
        1,
        "one run, under the module's timeout, served every later caller"
    );

    let m = probe(&app, &q).await;

    assert_eq!(m.value("probe_success", &[]), 1.0);
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 1);
    // Two commands of the three are left: a probe of another phone still gets its own.
    let (status, _, text) = get(&app, &format!("module=any&target={}", ids[1]), None).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn a_tiny_header_debug_probe_sends_no_command() {
    let app = budget_app("60s", 3).await;
    let id = &app.sim.phone_ids()[0];
    let q = format!("module=any&target={id}&debug=true");

    let (status, _, text) = get(&app, &q, Some("0.001")).await;

    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with("No command sent"), "{text}");
    assert_eq!(app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND), 0);
    assert_eq!(commands_total(&app, "any", "too_short").await, 1.0);
}
