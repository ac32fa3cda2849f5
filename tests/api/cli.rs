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
