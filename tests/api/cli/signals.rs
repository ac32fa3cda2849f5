//! Signals to the running binary: SIGHUP reloads (keeping the `--shard.*` flags) whether or
//! not `POST /-/reload` is enabled, SIGTERM exits 0; a SIGHUP naming a FIFO fails and the next
//! one reloads; and `--web.enable-lifecycle`.

use super::{one_cloud, signal, start_binary, start_binary_with};

#[tokio::test]
async fn sighup_reloads_without_the_lifecycle_flag_and_sigterm_exits_0() {
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let mut run = start_binary(&sim, "first").await;
    let url = format!("http://127.0.0.1:{}/metrics", run.port);
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(text.contains("cloud=\"first\""));

    std::fs::write(&run.path, one_cloud(&sim, "second")).unwrap();
    // Without --web.enable-lifecycle, HTTP cannot reload; SIGHUP can.
    let refused = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/-/reload", run.port))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let why = refused.text().await.unwrap();
    assert!(why.contains("--web.enable-lifecycle"), "{why}");
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(
        text.contains("cloud=\"first\""),
        "a refused POST reloaded nothing"
    );
    signal(&run.child, "-HUP");
    let mut reloaded = false;
    for _ in 0..50 {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        if text.contains("cloud=\"second\"") {
            reloaded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(reloaded, "SIGHUP did not reload the config");

    signal(&run.child, "-TERM");
    let status = run.child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

/// The phones of cloud `name` in a scrape of `url`, sorted; `None` when the cloud is absent.
async fn phones_of(url: &str, name: &str) -> Option<Vec<String>> {
    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
    let m = crate::helpers::Exposition::parse(&text);
    m.find("huaweicloud_cloud_info", &[("cloud", name)])
        .first()?;
    let mut ids: Vec<String> = m
        .find("huaweicloud_koophone_instance_status", &[("cloud", name)])
        .iter()
        .map(|s| s.labels["instance_id"].clone())
        .collect();
    ids.sort();
    Some(ids)
}

#[tokio::test]
async fn sighup_keeps_the_shard_flags() {
    // Arrange: shard 1 of 3 by flags; the file names every phone and no shard.
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(60)).await;
    let ids = sim.phone_ids();
    let mut mine: Vec<String> = ids
        .iter()
        .filter(|id| huaweicloud_exporter::config::shard_of(id, 3) == 1)
        .cloned()
        .collect();
    mine.sort();
    let config = |name: &str| {
        format!(
            "{}    koophone: {{ instance_ids: [{}] }}\n",
            one_cloud(&sim, name),
            ids.join(", ")
        )
    };
    let mut run = start_binary_with(
        &config("first"),
        &["--shard.index", "1", "--shard.total", "3"],
    )
    .await;
    let url = format!("http://127.0.0.1:{}/metrics", run.port);
    let before = phones_of(&url, "first").await;

    // Act: a changed file, then SIGHUP.
    std::fs::write(&run.path, config("second")).unwrap();
    signal(&run.child, "-HUP");
    let mut after = None;
    for _ in 0..50 {
        after = phones_of(&url, "second").await;
        if after.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    signal(&run.child, "-TERM");
    let _ = run.child.wait();

    // Assert
    assert_eq!(before.as_ref(), Some(&mine));
    assert_eq!(
        after.as_ref(),
        Some(&mine),
        "after SIGHUP: shard 1 of 3 still"
    );
}

#[tokio::test]
async fn the_lifecycle_flag_enables_post_reload_but_never_from_another_site() {
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let mut run = start_binary_with(&one_cloud(&sim, "first"), &["--web.enable-lifecycle"]).await;
    let base = format!("http://127.0.0.1:{}", run.port);
    let http = reqwest::Client::new();
    let clouds = || async {
        let text = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let m = crate::helpers::Exposition::parse(&text);
        let mut names: Vec<String> = m
            .find("huaweicloud_cloud_info", &[])
            .iter()
            .map(|s| s.labels["cloud"].clone())
            .collect();
        names.sort();
        names
    };
    assert_eq!(clouds().await, ["first"]);
    std::fs::write(&run.path, one_cloud(&sim, "second")).unwrap();

    // A page of another site posting (a form, a fetch): refused, nothing reloaded.
    for (header, value) in [
        ("origin", "http://evil.example".to_string()),
        ("origin", "null".to_string()),
        ("origin", format!("http://127.0.0.1:{}", run.port + 1)),
        ("sec-fetch-site", "cross-site".to_string()),
        ("sec-fetch-site", "same-site".to_string()),
    ] {
        let r = http
            .post(format!("{base}/-/reload"))
            .header(header, &value)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("x=1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{header}: {value}");
        assert_eq!(clouds().await, ["first"], "{header}: {value} reloaded");
    }

    // curl (no Origin) and the exporter's own page (same origin) reload.
    let r = http
        .post(format!("{base}/-/reload"))
        .header("origin", &base)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(clouds().await, ["second"]);
    std::fs::write(&run.path, one_cloud(&sim, "third")).unwrap();
    let r = http.post(format!("{base}/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(clouds().await, ["third"]);

    signal(&run.child, "-TERM");
    assert!(run.child.wait().unwrap().success());
}

/// A SIGHUP whose config names a FIFO as a secret file fails at once (nothing writes to the
/// FIFO, so a plain read would block forever and every later reload behind it); the next
/// SIGHUP, with the file fixed, reloads.
#[tokio::test]
async fn a_sighup_naming_a_fifo_fails_and_the_next_sighup_reloads() {
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let mut run = start_binary(&sim, "first").await;
    let url = format!("http://127.0.0.1:{}/metrics", run.port);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("token");
    crate::reload_files::mkfifo(&fifo);
    let with_fifo = one_cloud(&sim, "second").replace(
        "{ value: demo-static-token }",
        &format!("{{ value_file: \"{}\" }}", fifo.display()),
    );
    assert!(with_fifo.contains("value_file"));
    std::fs::write(&run.path, with_fifo).unwrap();
    signal(&run.child, "-HUP");
    let reload_ok = |text: &str| {
        crate::helpers::Exposition::parse(text)
            .value("huaweicloud_exporter_config_last_reload_successful", &[])
    };
    let mut failed = false;
    for _ in 0..50 {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        if reload_ok(&text) == 0.0 {
            assert!(text.contains("cloud=\"first\""), "the old config serves");
            failed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(failed, "the SIGHUP naming a FIFO never failed");

    std::fs::write(&run.path, one_cloud(&sim, "second")).unwrap();
    signal(&run.child, "-HUP");
    let mut reloaded = false;
    for _ in 0..50 {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        if text.contains("cloud=\"second\"") && reload_ok(&text) == 1.0 {
            reloaded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    signal(&run.child, "-TERM");
    let _ = run.child.wait();
    assert!(reloaded, "the SIGHUP after the failed one did not reload");
}
