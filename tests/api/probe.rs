//! Black-box command probes: `/probe?module=&target=` against the simulator.

use std::time::{Duration, Instant};

use huaweicloud_exporter::sim::{Endpoint, FaultKind, FaultSpec, SimConfig};

use crate::helpers::*;

/// Phones of the `pw` cloud: the fleet's first ten and one the fleet does not have. The `tok`
/// cloud has `{other}`; `{healthy}` are three of `pw`'s phones that can run commands.
const CONFIG: &str = r#"
timeout: 5s
clouds:
  - name: pw
    region: ap-southeast-1
    project_id: {project}
    auth: { password: { domain: demo-domain, user: monitoring, password: demo-password } }
    endpoints: { iam: "{base}", dcs: "{base}", ddm: "{base}", koophone: "{base}" }
    koophone: { instance_ids: [{phones10}, gone0001] }
  - name: tok
    region: eu-west-101
    project_id: {project}
    auth: { token: { value: demo-static-token } }
    endpoints: { iam: "{base}", dcs: "{base}", ddm: "{base}", koophone: "{base}" }
    koophone: { instance_ids: [{other}] }
probes:
  boot:
    cloud: pw
    command: getprop sys.boot_completed
    expect: "^1$"
    timeout: 5s
    poll_interval: 50ms
    groups:
      healthy: [{healthy}]
      stray: [{healthy}, {other}]
  model:
    cloud: pw
    command: getprop ro.product.model
    expect: "^no-such-model$"
    poll_interval: 50ms
  any:
    cloud: pw
    command: echo hello
    poll_interval: 50ms
  often:
    cloud: pw
    command: getprop sys.boot_completed
    expect: "^1$"
    poll_interval: 50ms
    min_interval: 1s
  patient:
    cloud: pw
    command: getprop sys.boot_completed
    expect: "^1$"
    poll_interval: 50ms
    min_interval: 4s
  short:
    cloud: pw
    command: getprop sys.boot_completed
    timeout: 1s
    poll_interval: 50ms
"#;

/// The phone of the fleet configured for `tok` only.
const OTHER: usize = 15;
/// A phone of the fleet configured for no cloud.
const UNCONFIGURED: usize = 12;

/// An exporter with [`CONFIG`] on a frozen fleet of 20 phones whose jobs take `job_delay`.
async fn probe_app(job_delay: Duration) -> (TestApp, Vec<String>) {
    let sim = spawn_sim(SimConfig {
        job_delay,
        ..frozen_sim(20)
    })
    .await;
    let ids = sim.phone_ids();
    // Phones in an exception state (5, 6) refuse commands; the frozen fleet keeps its states.
    let healthy: Vec<String> = statuses(&sim, &ids[..10])
        .await
        .into_iter()
        .filter(|(_, s)| !matches!(s, 5 | 6))
        .map(|(id, _)| id)
        .take(3)
        .collect();
    assert_eq!(healthy.len(), 3, "the fleet has healthy phones");
    let config = CONFIG
        .replace("{healthy}", &healthy.join(", "))
        .replace("{other}", &ids[OTHER]);
    (spawn_app_with_sim(sim, &config).await, healthy)
}

async fn get(app: &TestApp, query: &str, timeout_header: Option<&str>) -> (u16, String, String) {
    let mut req = app.http.get(app.url(&format!("/probe?{query}")));
    if let Some(t) = timeout_header {
        req = req.header("X-Prometheus-Scrape-Timeout-Seconds", t);
    }
    let resp = req.send().await.expect("probe");
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ctype, resp.text().await.expect("body"))
}

async fn probe(app: &TestApp, query: &str) -> Exposition {
    let (status, _, text) = get(app, query, None).await;
    assert_eq!(status, 200, "{query}: {text}");
    Exposition::parse(&text)
}

fn job(m: &Exposition, metric: &str, id: &str) -> f64 {
    m.value(metric, &[("instance_id", id)])
}

async fn commands_total(app: &TestApp, module: &str, source: &str) -> f64 {
    app.scrape().await.sum(
        "huaweicloud_koophone_probe_commands_total",
        &[("module", module), ("source", source)],
    )
}

#[tokio::test]
async fn one_phone_succeeds_when_its_output_matches() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    let id = &healthy[0];

    let m = probe(&app, &format!("module=boot&target={id}")).await;

    assert_eq!(m.value("probe_success", &[]), 1.0);
    assert!(m.value("probe_duration_seconds", &[]) > 0.0);
    assert_eq!(job(&m, "huaweicloud_koophone_probe_job_success", id), 1.0);
    assert_eq!(
        job(&m, "huaweicloud_koophone_probe_output_matched", id),
        1.0
    );
    assert!(m
        .find("huaweicloud_koophone_probe_job_error_info", &[])
        .is_empty());
    assert_eq!(m.value("huaweicloud_koophone_probe_cached", &[]), 0.0);
    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 1);
    assert!(m.helps.contains_key("probe_success"));
}

#[tokio::test]
async fn a_group_runs_one_command_for_all_its_phones() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;

    let m = probe(&app, "module=boot&target=healthy").await;

    assert_eq!(m.value("probe_success", &[]), 1.0);
    assert_eq!(
        m.find("huaweicloud_koophone_probe_job_success", &[]).len(),
        3
    );
    for id in &healthy {
        assert_eq!(job(&m, "huaweicloud_koophone_probe_job_success", id), 1.0);
        assert_eq!(
            job(&m, "huaweicloud_koophone_probe_output_matched", id),
            1.0
        );
    }
    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 1);
}

#[tokio::test]
async fn an_expect_mismatch_fails_the_probe_but_not_the_job() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    let id = &healthy[0];

    let m = probe(&app, &format!("module=model&target={id}")).await;

    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(job(&m, "huaweicloud_koophone_probe_job_success", id), 1.0);
    assert_eq!(
        job(&m, "huaweicloud_koophone_probe_output_matched", id),
        0.0
    );
    assert!(
        m.find("huaweicloud_koophone_probe_job_error_info", &[])
            .is_empty(),
        "the job itself did not fail"
    );
}

#[tokio::test]
async fn without_expect_any_output_matches() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;

    let m = probe(&app, &format!("module=any&target={}", healthy[1])).await;

    assert_eq!(m.value("probe_success", &[]), 1.0);
    assert_eq!(
        job(&m, "huaweicloud_koophone_probe_output_matched", &healthy[1]),
        1.0
    );
}

#[tokio::test]
async fn a_configured_phone_missing_from_the_fleet_fails_with_its_error_code() {
    let (app, _) = probe_app(Duration::from_millis(200)).await;

    let m = probe(&app, "module=boot&target=gone0001").await;

    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(
        job(&m, "huaweicloud_koophone_probe_job_success", "gone0001"),
        0.0
    );
    assert_eq!(
        m.value(
            "huaweicloud_koophone_probe_job_error_info",
            &[("instance_id", "gone0001"), ("error_code", "CPS0005")]
        ),
        1.0
    );
}

#[tokio::test]
async fn bad_requests_answer_400_with_a_one_line_reason() {
    let (app, _) = probe_app(Duration::from_millis(200)).await;
    let ids = app.sim.phone_ids();
    let first = ids[0].clone();
    let cases = [
        (
            "module=nope&target=healthy".to_string(),
            "module \"nope\" is not configured",
        ),
        (
            format!("module=boot&target={}", ids[UNCONFIGURED]),
            "is not a phone of cloud \"pw\"",
        ),
        (
            format!("module=boot&target={}", ids[OTHER]),
            "is not a phone of cloud \"pw\"",
        ),
        ("module=boot&target=stray".to_string(), "group \"stray\""),
        ("module=boot&target=bad%20id".to_string(), "contains ' '"),
        (
            format!("module=boot&target={}", "x".repeat(40)),
            "at most 32",
        ),
        ("module=boot".to_string(), "missing `target`"),
        (format!("target={first}"), "missing `module`"),
        (String::new(), "missing `module`"),
        (
            "module=boot&target=healthy&target=gone0001".to_string(),
            "more than once",
        ),
    ];
    for (query, want) in cases {
        let (status, ctype, text) = get(&app, &query, None).await;
        assert_eq!(status, 400, "{query}: {text}");
        assert!(ctype.starts_with("text/plain"), "{query}: {ctype}");
        assert!(text.contains(want), "{query}: {text}");
        assert_eq!(text.trim_end().lines().count(), 1, "{query}: {text}");
    }
    assert_eq!(
        app.sim.calls(Endpoint::KoophoneAsyncCommand),
        0,
        "no command for a refused probe"
    );
}

#[tokio::test]
async fn a_command_in_the_query_is_refused() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;

    let (status, _, text) = get(
        &app,
        &format!("module=boot&target={}&command=reboot", healthy[0]),
        None,
    )
    .await;

    assert_eq!(status, 400);
    assert!(text.contains("cannot carry a command"), "{text}");
    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 0);
}

#[tokio::test]
async fn a_job_still_running_at_the_deadline_fails_in_time() {
    // Jobs take a minute; the module gives them one second.
    let (app, healthy) = probe_app(Duration::from_secs(60)).await;
    let id = &healthy[0];
    let started = Instant::now();

    let m = probe(&app, &format!("module=short&target={id}")).await;

    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(job(&m, "huaweicloud_koophone_probe_job_success", id), 0.0);
    assert_eq!(
        m.value(
            "huaweicloud_koophone_probe_job_error_info",
            &[("instance_id", id), ("error_code", "timeout")]
        ),
        1.0
    );
    assert!(app.sim.calls(Endpoint::KoophoneTask) >= 1, "it polled");
}

#[tokio::test]
async fn a_hung_task_query_is_cut_by_the_scrape_timeout_header() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    app.sim
        .set_fault(Endpoint::KoophoneTask, fault(FaultKind::Hang));
    let started = Instant::now();

    // The module allows 5 s; Prometheus allows 1.5 s, minus the offset.
    let (status, _, text) = get(
        &app,
        &format!("module=boot&target={}", healthy[0]),
        Some("1.5"),
    )
    .await;

    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status, 200, "{text}");
    let m = Exposition::parse(&text);
    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(
        m.value(
            "huaweicloud_koophone_probe_job_error_info",
            &[("instance_id", &healthy[0]), ("error_code", "timeout")]
        ),
        1.0
    );
}

#[tokio::test]
async fn an_upstream_fault_answers_200_with_probe_success_0() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    app.sim.set_fault(
        Endpoint::KoophoneAsyncCommand,
        fault(FaultKind::ServerError),
    );
    let id = &healthy[0];

    let m = probe(&app, &format!("module=boot&target={id}")).await;

    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(job(&m, "huaweicloud_koophone_probe_job_success", id), 0.0);
    assert_eq!(
        m.value(
            "huaweicloud_koophone_probe_job_error_info",
            &[("instance_id", id), ("error_code", "upstream_server_error")]
        ),
        1.0
    );
    assert_eq!(
        app.sim.calls(Endpoint::KoophoneAsyncCommand),
        1,
        "a command is never retried"
    );
}

#[tokio::test]
async fn concurrent_identical_probes_share_one_command() {
    let (app, _) = probe_app(Duration::from_millis(300)).await;

    let answers =
        futures::future::join_all((0..5).map(|_| get(&app, "module=boot&target=healthy", None)))
            .await;

    for (status, _, text) in &answers {
        assert_eq!(*status, 200, "{text}");
        assert_eq!(Exposition::parse(text).value("probe_success", &[]), 1.0);
    }
    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 1);
    assert_eq!(commands_total(&app, "boot", "command").await, 1.0);
    let joined =
        commands_total(&app, "boot", "shared").await + commands_total(&app, "boot", "cached").await;
    assert_eq!(joined, 4.0);
}

#[tokio::test]
async fn a_repeat_within_min_interval_is_answered_from_the_last_result() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    let first = probe(&app, "module=boot&target=healthy").await;

    let again = probe(&app, "module=boot&target=healthy").await;

    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 1);
    assert_eq!(again.value("huaweicloud_koophone_probe_cached", &[]), 1.0);
    assert_eq!(again.value("probe_success", &[]), 1.0);
    assert_eq!(
        again.value("probe_duration_seconds", &[]),
        first.value("probe_duration_seconds", &[]),
        "the same run answers"
    );
    assert!(again.value("huaweicloud_koophone_probe_result_age_seconds", &[]) >= 0.0);
    assert_eq!(commands_total(&app, "boot", "cached").await, 1.0);
    // Another target, or another module on the same target, is another probe.
    probe(&app, &format!("module=boot&target={}", healthy[0])).await;
    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 2);
    probe(&app, &format!("module=any&target={}", healthy[0])).await;
    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 3);
}

#[tokio::test]
async fn after_min_interval_a_new_command_runs() {
    let (app, healthy) = probe_app(Duration::from_millis(100)).await;
    let q = format!("module=often&target={}", healthy[0]);
    probe(&app, &q).await;
    probe(&app, &q).await;
    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 1);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let m = probe(&app, &q).await;

    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 2);
    assert_eq!(m.value("huaweicloud_koophone_probe_cached", &[]), 0.0);
}

#[tokio::test]
async fn a_failure_is_kept_a_quarter_of_min_interval() {
    // min_interval 4 s: a failure is served again for 1 s, a success for 4 s.
    let (app, healthy) = probe_app(Duration::from_millis(100)).await;
    app.sim.set_fault(
        Endpoint::KoophoneAsyncCommand,
        FaultSpec {
            times: Some(1),
            ..fault(FaultKind::ServerError)
        },
    );
    let q = format!("module=patient&target={}", healthy[0]);
    assert_eq!(probe(&app, &q).await.value("probe_success", &[]), 0.0);
    let cached = probe(&app, &q).await;
    assert_eq!(cached.value("huaweicloud_koophone_probe_cached", &[]), 1.0);
    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 1);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let m = probe(&app, &q).await;

    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 2);
    assert_eq!(m.value("probe_success", &[]), 1.0);
}

#[tokio::test]
async fn more_than_100_phones_take_several_calls() {
    let app = spawn_app(Opts {
        sim: SimConfig {
            job_delay: Duration::from_millis(100),
            ..frozen_sim(150)
        },
        config: r#"
clouds:
  - name: pw
    region: ap-southeast-1
    project_id: {project}
    auth: { token: { value: demo-static-token } }
    endpoints: { iam: "{base}", dcs: "{base}", ddm: "{base}", koophone: "{base}" }
    koophone: { instance_ids: [{phones}] }
probes:
  any:
    cloud: pw
    command: echo hello
    poll_interval: 50ms
    groups:
      all: [{phones}]
"#
        .into(),
    })
    .await;

    let m = probe(&app, "module=any&target=all").await;

    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 2);
    assert_eq!(
        m.find("huaweicloud_koophone_probe_job_success", &[]).len(),
        150
    );
    let succeeded = m
        .find("huaweicloud_koophone_probe_job_success", &[])
        .iter()
        .filter(|s| s.value == 1.0)
        .count();
    assert_eq!(
        succeeded
            + m.find("huaweicloud_koophone_probe_job_error_info", &[])
                .len(),
        150,
        "every phone either ran the command or says why not"
    );
}

fn error_code(m: &Exposition, id: &str) -> Vec<String> {
    m.find(
        "huaweicloud_koophone_probe_job_error_info",
        &[("instance_id", id)],
    )
    .iter()
    .map(|s| s.labels["error_code"].clone())
    .collect()
}

#[tokio::test]
async fn a_probe_cut_short_by_its_callers_deadline_is_not_kept() {
    // Jobs take 1.5 s; the module allows 5 s, the first caller 1 s (header 1.5 minus 0.5).
    let (app, healthy) = probe_app(Duration::from_millis(1500)).await;
    let q = format!("module=boot&target={}", healthy[0]);
    let (status, _, text) = get(&app, &q, Some("1.5")).await;
    assert_eq!(status, 200, "{text}");
    let short = Exposition::parse(&text);
    assert_eq!(short.value("probe_success", &[]), 0.0);
    assert_eq!(error_code(&short, &healthy[0]), ["timeout"]);

    // Act: a normal probe right after, well within min_interval.
    let m = probe(&app, &q).await;

    // Assert: it ran its own command instead of being served the caller-made timeout.
    assert_eq!(m.value("huaweicloud_koophone_probe_cached", &[]), 0.0);
    assert_eq!(m.value("probe_success", &[]), 1.0);
    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 2);
    // That full result is kept.
    let again = probe(&app, &q).await;
    assert_eq!(again.value("huaweicloud_koophone_probe_cached", &[]), 1.0);
    assert_eq!(again.value("probe_success", &[]), 1.0);
}

#[tokio::test]
async fn a_tiny_header_probe_sends_no_command_and_spoils_nothing() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    let q = format!("module=boot&target={}", healthy[0]);

    let (status, _, text) = get(&app, &q, Some("0.004")).await;

    assert_eq!(status, 200, "{text}");
    let tiny = Exposition::parse(&text);
    assert_eq!(tiny.value("probe_success", &[]), 0.0);
    assert_eq!(error_code(&tiny, &healthy[0]), ["timeout"]);
    assert_eq!(
        app.sim.calls(Endpoint::KoophoneAsyncCommand),
        0,
        "no time to poll, so no command"
    );
    assert_eq!(commands_total(&app, "boot", "too_short").await, 1.0);
    let m = probe(&app, &q).await;
    assert_eq!(m.value("huaweicloud_koophone_probe_cached", &[]), 0.0);
    assert_eq!(m.value("probe_success", &[]), 1.0);
}

#[tokio::test]
async fn a_probe_never_shares_a_run_with_a_shorter_deadline() {
    // Jobs take 1.5 s. A probe allowing 1 s starts a run; a normal probe sent once that run's
    // command is out must not join it; a second short probe, sent once the normal run's command
    // is out too, joins a run (either gives it enough time) rather than sending a command.
    let (app, healthy) = probe_app(Duration::from_millis(1500)).await;
    let q = format!("module=boot&target={}", healthy[0]);
    let sim = &app.sim;
    let commands_sent = |n: u64| async move {
        while sim.calls(Endpoint::KoophoneAsyncCommand) < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let short = get(&app, &q, Some("1.5"));
    let normal = async {
        commands_sent(1).await;
        get(&app, &q, None).await
    };
    let short_again = async {
        commands_sent(2).await;
        get(&app, &q, Some("1.5")).await
    };

    let (short, normal, short_again) = futures::join!(short, normal, short_again);

    let parse = |(status, _, text): &(u16, String, String)| {
        assert_eq!(*status, 200, "{text}");
        Exposition::parse(text)
    };
    let (short, normal, short_again) = (parse(&short), parse(&normal), parse(&short_again));
    assert_eq!(normal.value("probe_success", &[]), 1.0);
    assert_eq!(normal.value("huaweicloud_koophone_probe_cached", &[]), 0.0);
    assert_eq!(short.value("probe_success", &[]), 0.0);
    assert_eq!(short_again.value("probe_success", &[]), 0.0);
    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 2);
    assert_eq!(commands_total(&app, "boot", "command").await, 2.0);
    assert_eq!(commands_total(&app, "boot", "shared").await, 1.0);
}

#[tokio::test]
async fn phones_given_the_same_job_id_fail_and_none_vanishes() {
    let (app, mut healthy) = probe_app(Duration::from_millis(200)).await;
    healthy.sort();
    // The simulator gives the first two phones of the call (ids are sent sorted) one job id.
    app.sim.set_fault(
        Endpoint::KoophoneAsyncCommand,
        fault(FaultKind::DuplicateJobIds),
    );

    let m = probe(&app, "module=boot&target=healthy").await;

    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(
        m.find("huaweicloud_koophone_probe_job_success", &[]).len(),
        3,
        "every phone asked appears"
    );
    for id in &healthy[..2] {
        assert_eq!(job(&m, "huaweicloud_koophone_probe_job_success", id), 0.0);
        assert_eq!(error_code(&m, id), ["duplicate_job_id"], "{id}");
    }
    assert_eq!(
        job(&m, "huaweicloud_koophone_probe_job_success", &healthy[2]),
        1.0
    );
    assert!(error_code(&m, &healthy[2]).is_empty());
}

#[tokio::test]
async fn a_task_answer_with_conflicting_rows_for_a_job_fails_that_phone() {
    let (app, healthy) = probe_app(Duration::from_millis(200)).await;
    // Every job listed twice under its id, the copy saying it failed.
    app.sim
        .set_fault(Endpoint::KoophoneTask, fault(FaultKind::DuplicateJobIds));

    let m = probe(&app, "module=boot&target=healthy").await;

    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(
        m.find("huaweicloud_koophone_probe_job_success", &[]).len(),
        3
    );
    for id in &healthy {
        assert_eq!(error_code(&m, id), ["duplicate_job_id"], "{id}");
    }
}

/// A fleet of 120 phones, all configured, and a module allowed 5 commands a minute.
async fn budget_app(min_interval: &str, per_minute: u32) -> TestApp {
    spawn_app(Opts {
        sim: SimConfig {
            job_delay: Duration::from_millis(100),
            ..frozen_sim(120)
        },
        config: format!(
            r#"
clouds:
  - name: pw
    region: ap-southeast-1
    project_id: {{project}}
    auth: {{ token: {{ value: demo-static-token }} }}
    endpoints: {{ iam: "{{base}}", dcs: "{{base}}", ddm: "{{base}}", koophone: "{{base}}" }}
    koophone: {{ instance_ids: [{{phones}}] }}
probes:
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
    let sent = app.sim.calls(Endpoint::KoophoneAsyncCommand);
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
        app.sim.calls(Endpoint::KoophoneTask) <= sent * 10,
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
    assert_eq!(app.sim.calls(Endpoint::KoophoneAsyncCommand), 1);
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
    endpoints: {{ iam: "{base}", dcs: "{base}", ddm: "{base}", koophone: "{base}" }}
    koophone: {{ instance_ids: [{phones}] }}
probes:
  any:
    cloud: pw
    command: echo hello
    poll_interval: 50ms
    max_commands_per_minute: 2
"#,
        project = sim.project_id(),
        base = sim.base_url(),
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
    assert_eq!(sim.calls(Endpoint::KoophoneAsyncCommand), 2);
}
