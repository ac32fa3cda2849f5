//! The HTTP face: landing page, health, readiness, reload.

use crate::helpers::*;

#[tokio::test]
async fn landing_health_and_readiness() {
    let app = spawn_app(Opts {
        sim: frozen_sim(10),
        config: TWO_CLOUDS.into(),
    })
    .await;
    let page = app.page("/").await;
    assert!(page.contains("href=\"/metrics\""), "{page}");
    assert!(
        page.contains("<b>pw</b>") && page.contains("<b>tok</b>"),
        "{page}"
    );
    assert!(!page.contains("demo-password") && !page.contains("demo-static-token"));
    for path in ["/-/healthy", "/-/ready"] {
        assert_eq!(
            app.http.get(app.url(path)).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }
    assert_eq!(
        app.http
            .get(app.url("/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // A config that did not come from a file cannot be reloaded, and says so.
    let err = app.state.reload().await.unwrap_err();
    assert!(err.contains("no file to reload"), "{err}");
}

#[tokio::test]
async fn reload_swaps_a_good_config_and_keeps_the_old_one_on_a_bad_one() {
    let sim = spawn_app(Opts {
        sim: frozen_sim(10),
        config: TWO_CLOUDS.into(),
    })
    .await
    .sim;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let cloud = |name: &str| {
        format!(
            "clouds:\n  - name: {name}\n    region: ap-southeast-1\n    project_id: {}\n    auth: {{ token: {{ value: demo-static-token }} }}\n    endpoints: {b}\n    dcs: {{}}\n",
            sim.project_id(),
            b = crate::helpers::endpoints(&sim.base_url())
        )
    };
    std::fs::write(&path, cloud("first")).unwrap();
    let (addr, _state, tx) = serve_file(&path).await;
    let http = reqwest::Client::new();
    let scrape = || crate::helpers::scrape_addr(addr);
    assert_eq!(scrape().await.success("first", "dcs"), 1.0);

    std::fs::write(&path, cloud("second")).unwrap();
    let r = http
        .post(format!("http://{addr}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m = scrape().await;
    assert_eq!(m.success("second", "dcs"), 1.0);
    assert!(m
        .find(
            "huaweicloud_scrape_collector_success",
            &[("cloud", "first")]
        )
        .is_empty());
    assert_eq!(
        m.value("huaweicloud_exporter_config_last_reload_successful", &[]),
        1.0
    );

    std::fs::write(&path, "clouds: [oops").unwrap();
    let r = http
        .post(format!("http://{addr}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let body = r.text().await.unwrap();
    assert!(body.contains("config.yaml: not valid YAML"), "{body}");
    let m = scrape().await;
    assert_eq!(
        m.success("second", "dcs"),
        1.0,
        "the old config keeps serving"
    );
    assert_eq!(
        m.value("huaweicloud_exporter_config_last_reload_successful", &[]),
        0.0
    );
    drop(tx);
}

/// [`TWO_CLOUDS`] plus probe modules on `pw`: `boot` (default min_interval 60s, a `canary` group
/// of `{healthy}` phones) and `fresh` (min_interval 0s).
fn with_probes(healthy: &[String]) -> String {
    format!(
        "{TWO_CLOUDS}probes:\n  boot:\n    cloud: pw\n    command: getprop sys.boot_completed\n    expect: \"^1$\"\n    timeout: 5s\n    poll_interval: 50ms\n    groups:\n      canary: [{}]\n  fresh:\n    cloud: pw\n    command: getprop sys.boot_completed\n    expect: \"^1$\"\n    timeout: 5s\n    poll_interval: 50ms\n    min_interval: 0s\n",
        healthy.join(", ")
    )
}

/// An exporter with [`with_probes`] on a frozen fleet of 10 phones, and its healthy phones.
async fn probe_app() -> (TestApp, Vec<String>) {
    let sim = spawn_sim(huaweicloud_exporter::sim::SimConfig {
        job_delay: std::time::Duration::from_millis(100),
        ..frozen_sim(10)
    })
    .await;
    let ids = sim.phone_ids();
    let healthy: Vec<String> = statuses(&sim, &ids)
        .await
        .into_iter()
        .filter(|(_, s)| !matches!(s, 5 | 6))
        .map(|(id, _)| id)
        .take(2)
        .collect();
    assert_eq!(healthy.len(), 2, "the fleet has healthy phones");
    let app = spawn_app_with_sim(sim, &with_probes(&healthy)).await;
    (app, healthy)
}

/// GET `path` with `Accept-Encoding: accept` (none when `None`): status, headers, raw body.
async fn get_raw(
    app: &TestApp,
    path: &str,
    accept: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = app.http.get(app.url(path));
    if let Some(a) = accept {
        req = req.header("Accept-Encoding", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn gunzip(body: &[u8]) -> String {
    use std::io::Read;
    let mut out = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut out)
        .expect("a complete gzip stream of UTF-8 text");
    out
}

/// A sample as (name, labels, value) for comparing.
type Series = (String, Vec<(String, String)>, String);

/// The series of an exposition whose values do not move between two scrapes of a frozen fleet
/// (self metrics that count or time the scrapes themselves left out).
fn steady(m: &Exposition) -> Vec<Series> {
    let mut v: Vec<_> = m
        .samples
        .iter()
        .filter(|s| {
            !s.name.starts_with("huaweicloud_api_")
                && !s.name.starts_with("process_")
                && !s.name.starts_with("huaweicloud_exporter_scrapes")
                && !s.name.ends_with("_duration_seconds")
                && !s.name.ends_with("_timestamp_seconds")
        })
        .map(|s| {
            (
                s.name.clone(),
                s.labels.clone().into_iter().collect(),
                s.value.to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn metrics_are_gzipped_exactly_when_the_client_accepts_gzip() {
    let app = spawn_app(Opts {
        sim: frozen_sim(10),
        config: TWO_CLOUDS.into(),
    })
    .await;
    app.scrape().await; // token cached, every series present from now on

    let (status, h, body) = get_raw(&app, "/metrics", None).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-encoding"), None);
    assert!(
        header(&h, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
        "{h:?}"
    );
    let plain = Exposition::parse(std::str::from_utf8(&body).unwrap());
    assert_eq!(plain.success("pw", "koophone"), 1.0);

    // As client_golang negotiates: gzip when accepted with q > 0, else identity (never an error).
    for (accept, gzipped) in [
        ("gzip", true),
        ("GZIP", true),
        ("deflate, gzip;q=0.5", true),
        ("x-gzip", true),
        ("gzip;q=0", false),
        ("gzip;q=0.000", false),
        ("identity", false),
        ("identity;q=1, gzip;q=0.5", false),
        ("gzip, identity", false),
        ("*", false),
        ("br, zstd", false),
        ("", false),
        ("gzip;q=nonsense", false),
    ] {
        let (status, h, body) = get_raw(&app, "/metrics", Some(accept)).await;
        assert_eq!(status, 200, "{accept:?}");
        let text = if gzipped {
            assert_eq!(header(&h, "content-encoding"), Some("gzip"), "{accept:?}");
            // Compressed as it streams: no length known up front.
            assert_eq!(header(&h, "content-length"), None, "{accept:?}");
            gunzip(&body)
        } else {
            assert_eq!(header(&h, "content-encoding"), None, "{accept:?}");
            String::from_utf8(body).unwrap()
        };
        assert!(
            header(&h, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
            "{accept:?}: {h:?}"
        );
        assert!(
            header(&h, "content-type").is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
            "{accept:?}"
        );
        let m = Exposition::parse(&text);
        assert_eq!(steady(&m), steady(&plain), "{accept:?}");
    }
}

#[tokio::test]
async fn probe_answers_are_gzipped_when_accepted() {
    let (app, healthy) = probe_app().await;
    let path = format!("/probe?module=boot&target={}", healthy[0]);

    let (status, h, body) = get_raw(&app, &path, Some("gzip")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    let zipped = Exposition::parse(&gunzip(&body));
    assert_eq!(zipped.value("probe_success", &[]), 1.0);

    // The second answer comes from the cache: same result, in plain text.
    let (status, h, body) = get_raw(&app, &path, Some("gzip;q=0")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-encoding"), None);
    let plain = Exposition::parse(std::str::from_utf8(&body).unwrap());
    assert_eq!(plain.value("probe_success", &[]), 1.0);
    let id = [("instance_id", healthy[0].as_str())];
    assert_eq!(
        zipped.value("huaweicloud_koophone_probe_job_success", &id),
        plain.value("huaweicloud_koophone_probe_job_success", &id)
    );

    // A refusal is compressed too, and still says why.
    let (status, h, body) = get_raw(&app, "/probe?module=nope&target=x", Some("gzip")).await;
    assert_eq!(status, 400);
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert!(gunzip(&body).contains("module \"nope\" is not configured"));
}

/// GET a debug probe: (status, content type, text).
async fn debug_probe(app: &TestApp, query: &str) -> (u16, String, String) {
    let resp = app
        .http
        .get(app.url(&format!("/probe?{query}&debug=true")))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ctype = header(resp.headers(), "content-type")
        .unwrap_or("")
        .to_string();
    (status, ctype, resp.text().await.unwrap())
}

/// The log lines and the metrics of a debug answer.
fn split_debug(text: &str) -> (Vec<&str>, Exposition) {
    let (logs, rest) = text
        .split_once("\n\nMetrics that would have been returned:\n")
        .unwrap_or_else(|| panic!("no metrics section in:\n{text}"));
    let (metrics, config) = rest
        .split_once("\nModule configuration:\n")
        .unwrap_or_else(|| panic!("no module configuration in:\n{text}"));
    assert!(
        config.contains("command: \"getprop sys.boot_completed\""),
        "{config}"
    );
    let logs = logs
        .strip_prefix("Logs for the probe:\n")
        .unwrap_or_else(|| panic!("no log header in:\n{text}"));
    (logs.lines().collect(), Exposition::parse(metrics))
}

/// The value of `key=` in a logfmt line (quoted values unquoted, escapes left as they are).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[at..];
    match rest.strip_prefix('"') {
        Some(q) => {
            let mut end = 0;
            let b = q.as_bytes();
            while end < b.len() && b[end] != b'"' {
                end += if b[end] == b'\\' { 2 } else { 1 };
            }
            Some(&q[..end.min(q.len())])
        }
        None => Some(rest.split(' ').next().unwrap_or("")),
    }
}

fn is_request_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn a_debug_probe_answers_its_log_then_its_metrics() {
    let (app, healthy) = probe_app().await;

    let (status, ctype2, text2) =
        debug_probe(&app, &format!("module=fresh&target={}", healthy[0])).await;

    assert_eq!(status, 200, "{text2}");
    assert_eq!(ctype2, "text/plain; charset=utf-8");
    let (lines, m) = split_debug(&text2);
    assert!(lines.iter().all(|l| l.starts_with("ts=")), "{text2}");
    let calls: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| field(l, "msg") == Some("upstream call"))
        .collect();
    let ops: Vec<&str> = calls.iter().filter_map(|l| field(l, "operation")).collect();
    assert_eq!(
        ops.first(),
        Some(&"iam_token"),
        "first probe fetches the token: {text2}"
    );
    assert!(ops.contains(&"koophone_async_command"), "{text2}");
    assert!(
        ops.contains(&"koophone_task"),
        "the task is polled: {text2}"
    );
    for c in &calls {
        let rid = field(c, "request_id").unwrap_or("");
        assert!(is_request_id(rid), "every call has its request id: {c}");
        assert!(
            field(c, "status").is_some_and(|s| s.starts_with('2')),
            "{c}"
        );
    }
    let accepted = lines
        .iter()
        .find(|l| field(l, "msg") == Some("command accepted"))
        .unwrap_or_else(|| panic!("{text2}"));
    let task = field(accepted, "task_id").unwrap();
    assert!(lines
        .iter()
        .any(|l| field(l, "msg") == Some("task polled") && field(l, "task_id") == Some(task)));
    let outcome = lines
        .iter()
        .find(|l| field(l, "msg") == Some("phone outcome"))
        .unwrap_or_else(|| panic!("{text2}"));
    assert_eq!(field(outcome, "instance_id"), Some(healthy[0].as_str()));
    assert_eq!(field(outcome, "outcome"), Some("succeeded"));
    assert_eq!(m.value("probe_success", &[]), 1.0);
    assert_eq!(
        m.value(
            "huaweicloud_koophone_probe_job_success",
            &[("instance_id", &healthy[0])]
        ),
        1.0
    );

    // Never a secret: not the password, not any token the cloud issued.
    let tokens = app.sim.issued_tokens();
    assert!(!tokens.is_empty());
    for secret in tokens.iter().map(String::as_str).chain(["demo-password"]) {
        assert!(!text2.contains(secret), "a secret in the debug output");
    }
}

#[tokio::test]
async fn a_debug_probe_neither_reads_nor_changes_the_probe_cache() {
    use crate::helpers::op;
    let (app, healthy) = probe_app().await;
    let commands = || app.sim.calls(&op::KOOPHONE_ASYNC_COMMAND);
    let probe = |q: &'static str| {
        let app = &app;
        async move {
            let (status, _, body) = get_raw(app, &format!("/probe?{q}"), None).await;
            assert_eq!(status, 200);
            Exposition::parse(std::str::from_utf8(&body).unwrap())
        }
    };

    let first = probe("module=boot&target=canary").await;
    assert_eq!(first.value("huaweicloud_koophone_probe_cached", &[]), 0.0);
    assert_eq!(commands(), 1);

    // Within min_interval a plain probe is cached; a debug probe still runs its own command.
    let (status, _, text) = debug_probe(&app, "module=boot&target=canary").await;
    assert_eq!(status, 200);
    assert!(!text.starts_with("Replayed"), "{text}");
    assert_eq!(commands(), 2);
    let (_, m) = split_debug(&text);
    assert_eq!(m.value("huaweicloud_koophone_probe_cached", &[]), 0.0);

    // The plain probe's answer is still the first run's, from the cache: the debug run did not
    // replace it.
    let again = probe("module=boot&target=canary").await;
    assert_eq!(again.value("huaweicloud_koophone_probe_cached", &[]), 1.0);
    assert_eq!(
        again.value("probe_duration_seconds", &[]),
        first.value("probe_duration_seconds", &[])
    );
    assert_eq!(commands(), 2);

    // A second debug probe inside its budget (a quarter of min_interval) replays the last
    // debug run instead of sending another command.
    let (status, _, replay) = debug_probe(&app, "module=boot&target=canary").await;
    assert_eq!(status, 200);
    assert!(replay.starts_with("Replayed: "), "{replay}");
    assert!(
        replay.ends_with(&text),
        "the replay carries the run's output"
    );
    assert_eq!(commands(), 2);

    // A debug run first does not make the next plain probe a cached one; with min_interval
    // 0s every debug probe runs.
    let target = format!("module=fresh&target={}", healthy[1]);
    let (_, _, one) = debug_probe(&app, &target).await;
    assert!(one.starts_with("Logs for the probe:\n"), "{one}");
    assert_eq!(commands(), 3);
    let (_, _, body) = get_raw(&app, &format!("/probe?{target}"), None).await;
    let plain = Exposition::parse(std::str::from_utf8(&body).unwrap());
    assert_eq!(plain.value("huaweicloud_koophone_probe_cached", &[]), 0.0);
    assert_eq!(commands(), 4);
    let (_, _, two) = debug_probe(&app, &target).await;
    assert!(two.starts_with("Logs for the probe:\n"), "{two}");
    assert_eq!(commands(), 5);
}

#[tokio::test]
async fn hostile_error_text_cannot_forge_debug_lines_or_page_markup() {
    use crate::helpers::op;
    use huaweicloud_exporter::sim::FaultKind;
    let (app, healthy) = probe_app().await;
    let hostile = fault(FaultKind::HostileMessage);
    app.sim
        .set_fault(&op::KOOPHONE_ASYNC_COMMAND, hostile.clone());
    app.sim.set_fault(&op::DCS_STATUS, hostile);

    let (status, _, text) = debug_probe(&app, &format!("module=fresh&target={}", healthy[0])).await;
    assert_eq!(status, 200, "{text}");
    let (lines, m) = split_debug(&text);
    assert!(
        lines.iter().all(|l| l.starts_with("ts=")),
        "a forged line in:\n{text}"
    );
    let refused = lines
        .iter()
        .find(|l| {
            field(l, "msg") == Some("upstream answer refused")
                && field(l, "operation") == Some("koophone_async_command")
        })
        .unwrap_or_else(|| panic!("KooPhone's error inside HTTP 200 is logged: {text}"));
    assert_eq!(field(refused, "result"), Some("api_error"), "{refused}");
    assert!(
        is_request_id(field(refused, "request_id").unwrap_or("")),
        "{refused}"
    );
    assert!(
        refused.contains("\\nlevel=info msg=\\\"forged line\\\""),
        "{refused}"
    );
    assert_eq!(m.value("probe_success", &[]), 0.0);
    assert_eq!(m.find("probe_success", &[]).len(), 1, "no forged sample");

    app.scrape().await;
    let page = app.page("/").await;
    assert!(
        !page.contains("<script>") && !page.contains("<img"),
        "{page}"
    );
    assert!(page.contains("&lt;script&gt;document.title="), "{page}");
}

#[tokio::test]
async fn a_reload_drops_the_landing_page_rows_of_collectors_no_longer_configured() {
    let sim = spawn_sim(frozen_sim(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let config = |ddm: &str| {
        token_cloud("c", &format!("    dcs: {{}}\n    ddm: {ddm}\n"))
            .replace("{endpoints}", &crate::helpers::endpoints("{base}"))
            .replace("{base}", &sim.base_url())
            .replace("{project}", &sim.project_id())
    };
    std::fs::write(&path, config("{ discovery: {}, cache_ttl: 0s }")).unwrap();
    let (addr, _state, _stop) = serve_file(&path).await;
    let http = reqwest::Client::new();
    let page = || async {
        http.get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let m = scrape_addr(addr).await;
    assert_eq!(m.success("c", "ddm_discovery"), 1.0);
    assert!(page().await.contains("id=\"collector-c-ddm_discovery\""));

    // The instances listed instead of discovered: no discovery row any more.
    let listed = format!(
        "{{ instance_ids: [{}], cache_ttl: 0s }}",
        sim.ddm_instance_ids().join(", ")
    );
    reload_file(&http, addr, &path, config(&listed)).await;
    let m = scrape_addr(addr).await;
    assert!(m
        .find(
            "huaweicloud_scrape_collector_success",
            &[("collector", "ddm_discovery")]
        )
        .is_empty());
    let after = page().await;
    assert!(!after.contains("collector-c-ddm_discovery"), "{after}");
    assert!(after.contains("id=\"collector-c-ddm\""), "{after}");
}
