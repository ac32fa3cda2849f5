//! A reload always finishes: a `*_file` setting (a secret, `instance_ids_file`) that names a
//! FIFO, a device, a directory or a sparse 4 GiB file fails the reload at once with an error
//! naming the field and the file, the old config keeps serving, and the next reload works
//! (the reload lock is released). A FIFO nobody writes to would block a reader forever.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helpers::*;

/// A FIFO at `path`, made with `mkfifo`.
pub fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// A sparse file of 4 GiB at `path` (no disk used).
pub fn sparse_4_gib(path: &Path) {
    std::fs::File::create(path)
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
}

/// One cloud `name` whose token comes from `value_file`, with listed phones from `ids_file`.
fn config(
    sim: &huaweicloud_exporter::sim::SimHandle,
    name: &str,
    token: &Path,
    ids: &Path,
) -> String {
    format!(
        r#"clouds:
  - name: {name}
    region: ap-southeast-1
    project_id: {project}
    auth: {{ token: {{ value_file: "{token}" }} }}
    endpoints: {endpoints}
    koophone: {{ instance_ids_file: "{ids}" }}
"#,
        project = sim.project_id(),
        endpoints = crate::helpers::endpoints(&sim.base_url()),
        token = token.display(),
        ids = ids.display(),
    )
}

#[tokio::test]
async fn a_reload_naming_a_fifo_a_device_a_directory_or_a_huge_file_fails_and_the_next_works() {
    let sim = spawn_sim(frozen_sim(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    std::fs::write(at("token"), "demo-static-token\n").unwrap();
    std::fs::write(at("phones.txt"), sim.phone_ids().join("\n") + "\n").unwrap();
    let path = at("config.yaml");
    std::fs::write(
        &path,
        config(&sim, "first", &at("token"), &at("phones.txt")),
    )
    .unwrap();
    let (addr, state, _stop) = serve_file(&path).await;
    assert_eq!(scrape_addr(addr).await.success("first", "koophone"), 1.0);

    mkfifo(&at("fifo"));
    sparse_4_gib(&at("huge"));
    let cases: [(&str, PathBuf, &str); 5] = [
        (
            "auth.token.value_file",
            at("fifo"),
            "is a FIFO (named pipe), not a regular file",
        ),
        (
            "auth.token.value_file",
            PathBuf::from("/dev/zero"),
            "is a character device, not a regular file",
        ),
        (
            "auth.token.value_file",
            dir.path().to_path_buf(),
            "is a directory, not a regular file",
        ),
        (
            "auth.token.value_file",
            at("huge"),
            "holds 4294967296 bytes, more than the 1048576",
        ),
        (
            "koophone.instance_ids_file",
            at("fifo"),
            "is a FIFO (named pipe), not a regular file",
        ),
    ];
    for (field, bad, what) in &cases {
        let (token, ids) = if field.starts_with("auth") {
            (bad.clone(), at("phones.txt"))
        } else {
            (at("token"), bad.clone())
        };
        std::fs::write(&path, config(&sim, "second", &token, &ids)).unwrap();
        let reload = tokio::time::timeout(Duration::from_secs(60), state.reload()).await;
        let e = reload
            .unwrap_or_else(|_| panic!("the reload naming {} never finished", bad.display()))
            .unwrap_err();
        assert!(
            e.contains(&format!("clouds[0].{field}: {} {what}", bad.display())),
            "{field} = {}: {e}",
            bad.display()
        );
        let m = scrape_addr(addr).await;
        assert_eq!(m.success("first", "koophone"), 1.0, "the old config serves");
        assert_eq!(
            m.value("huaweicloud_exporter_config_last_reload_successful", &[]),
            0.0
        );
    }
    // Over HTTP too, then a good file: the lock was released every time.
    std::fs::write(
        &path,
        config(&sim, "second", &at("fifo"), &at("phones.txt")),
    )
    .unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let r = http
        .post(format!("http://{addr}/-/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert!(r.text().await.unwrap().contains("is a FIFO (named pipe)"));
    reload_file(
        &http,
        addr,
        &path,
        config(&sim, "second", &at("token"), &at("phones.txt")),
    )
    .await;
    let m = scrape_addr(addr).await;
    assert_eq!(m.success("second", "koophone"), 1.0);
    assert_eq!(
        m.value("huaweicloud_exporter_config_last_reload_successful", &[]),
        1.0
    );
}
