//! The binary's command line: `--config.check` verdicts.

use std::process::Command;

fn check(config: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"));
    cmd.args(["--config.check", "--config.file", path.to_str().unwrap()]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn config_check_prints_a_one_line_verdict_and_exits_0_or_1() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml")).unwrap();
    let (ok, text) = check(&example, &[("HWC_PASSWORD", "x")]);
    assert!(ok, "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("valid (1 clouds, 1 probe modules)"), "{text}");

    let (ok, text) = check(&example, &[]);
    assert!(!ok);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.ends_with("config.yaml: clouds[0].auth.password.password: environment variable HWC_PASSWORD is not set; export it before starting, or write the value (or a *_file path) instead\n"), "{text}");
}

/// The binary with a one-cloud config against `sim`, on a free port.
struct Running {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

async fn start_binary(sim: &huaweicloud_exporter::sim::SimHandle, name: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, one_cloud(sim, name)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .args([
            "--config.file",
            path.to_str().unwrap(),
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if reqwest::get(format!("http://127.0.0.1:{port}/-/healthy"))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Running {
        child,
        port,
        _dir: dir,
        path,
    }
}

fn one_cloud(sim: &huaweicloud_exporter::sim::SimHandle, name: &str) -> String {
    format!(
        "clouds:\n  - name: {name}\n    region: ap-southeast-1\n    project_id: {}\n    auth: {{ token: {{ value: demo-static-token }} }}\n    endpoints: {{ iam: \"{b}\", dcs: \"{b}\", ddm: \"{b}\", koophone: \"{b}\" }}\n    dcs: {{}}\n",
        sim.project_id(),
        b = sim.base_url()
    )
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

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

/// The binary with `config` and `args` on a free port.
async fn start_binary_with(config: &str, args: &[&str]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .args([
            "--config.file",
            path.to_str().unwrap(),
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ])
        .args(args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if reqwest::get(format!("http://127.0.0.1:{port}/-/healthy"))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Running {
        child,
        port,
        _dir: dir,
        path,
    }
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

#[test]
fn config_check_applies_the_shard_flags() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, example).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .args(["--config.check", "--config.file", path.to_str().unwrap()])
        .args(["--shard.index", "3", "--shard.total", "3"])
        .env("HWC_PASSWORD", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "--shard.index 3 --shard.total 3: index counts from 0 and must be below total\n"
    );
}

#[test]
fn config_check_never_prints_a_numeric_password() {
    let config = "clouds:\n  - name: prod\n    region: ap-southeast-1\n    project_id: 0123456789abcdef0123456789abcdef\n    auth: { password: { domain: acme, user: mon, password: 86753091234567 } }\n    dcs: {}\n";
    let (ok, text) = check(config, &[]);
    assert!(!ok);
    assert!(!text.contains("3091"), "{text}");
    assert!(
        text.ends_with("config.yaml: clouds[0].auth.password.password: is a number, not text (its value is not shown: this field holds a secret); quote it, since YAML reads unquoted digits, true/false and ~ as other types and can change them (leading zeros, exponents), or better take it from ${VAR} or the *_file form of this key\n"),
        "{text}"
    );
}
