//! Signals to the running binary: SIGHUP reloads (keeping the `--shard.*` flags), SIGTERM
//! exits 0; a SIGHUP naming a FIFO fails and the next one reloads.

use super::{one_cloud, signal, start_binary, start_binary_with};

#[tokio::test]
async fn sighup_reloads_and_sigterm_exits_0() {
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let mut run = start_binary(&sim, "first").await;
    let url = format!("http://127.0.0.1:{}/metrics", run.port);
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(text.contains("cloud=\"first\""));

    std::fs::write(&run.path, one_cloud(&sim, "second")).unwrap();
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
