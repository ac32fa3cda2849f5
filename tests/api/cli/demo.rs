//! `--demo` takes the shard flags as a configured exporter does: checked the same way, and
//! applied to the demo's phones.

use std::process::Command;

use super::{decode_log_line, signal, start_binary_with};

#[test]
fn the_demo_refuses_the_shard_flags_a_configured_exporter_refuses() {
    let error_of = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--config.file",
                "/nonexistent.yaml",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        decode_log_line("logfmt", stderr.trim_end())["error"].clone()
    };
    for flags in [
        ["--shard.index=3", "--shard.total=3"],
        ["--shard.index=0", "--shard.total=0"],
    ] {
        let configured = error_of(&flags);
        let demo = error_of(&[&["--demo"][..], &flags[..]].concat());
        assert!(configured.contains("must be below total"), "{configured}");
        assert_eq!(demo, configured, "{flags:?}");
    }
}

#[tokio::test]
async fn the_demo_applies_the_shard_flags_to_its_phones() {
    let mut run =
        start_binary_with("", &["--demo", "--shard.index", "1", "--shard.total", "2"]).await;
    let url = format!("http://127.0.0.1:{}/metrics", run.port);
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let m = crate::helpers::Exposition::parse(&text);
    let phones: Vec<String> = m
        .find(
            "huaweicloud_koophone_instance_status",
            &[("cloud", "demo-ap")],
        )
        .iter()
        .map(|s| s.labels["instance_id"].clone())
        .collect();
    assert!(phones.len() > 10, "{} phones", phones.len());
    assert!(
        phones
            .iter()
            .all(|id| huaweicloud_exporter::config::shard_of(id, 2) == 1),
        "a phone of the other shard"
    );
    // DCS and DDM are shard 0's.
    assert!(m.find("huaweicloud_dcs_instances", &[]).is_empty());
    signal(&run.child, "-TERM");
    assert!(run.child.wait().unwrap().success());
}
