//! Listen addresses: an IP and a host name (every address it resolves to) answer with the same
//! TLS and basic auth, and a garbage address is refused saying what to write.

use std::process::Command;

use super::{decode_log_line, one_cloud, Spawned};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_listen_address_answers_with_the_same_tls_and_basic_auth() {
    // Arrange: an IP address and a host name on free ports, behind TLS and basic auth.
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, one_cloud(&sim, "multi")).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.path().join("server.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("server.key"), cert.key_pair.serialize_pem()).unwrap();
    let web = dir.path().join("web.yml");
    let hash = bcrypt::hash("wonderland", 4).unwrap();
    std::fs::write(
        &web,
        format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: \"{hash}\"\n"),
    )
    .unwrap();
    let localhost: Vec<std::net::IpAddr> = tokio::net::lookup_host(("localhost", 0))
        .await
        .unwrap()
        .map(|a| a.ip())
        .collect();
    let mut run = Spawned::start(&[
        "--config.file",
        config.to_str().unwrap(),
        "--web.config.file",
        web.to_str().unwrap(),
        "--web.listen-address",
        "127.0.0.1:0",
        "--web.listen-address",
        "localhost:0",
    ]);

    // Act
    let addrs = run.listening(1 + localhost.len()).await;

    // Assert: the IP first, then every address localhost resolves to, on one port.
    assert_eq!(addrs.len(), 1 + localhost.len(), "{addrs:?}");
    assert_eq!(addrs[0].ip(), std::net::IpAddr::from([127, 0, 0, 1]));
    let named = &addrs[1..];
    assert_eq!(named.iter().map(|a| a.ip()).collect::<Vec<_>>(), localhost);
    assert!(named.iter().all(|a| a.port() == named[0].port()));
    assert_ne!(addrs[0].port(), named[0].port());
    // The certificate is self-signed: what is checked here is that every listener speaks TLS.
    let https = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    for addr in &addrs {
        let url = format!("https://{addr}/metrics");
        let anonymous = https.get(&url).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{addr}");
        let scrape = https
            .get(&url)
            .basic_auth("alice", Some("wonderland"))
            .send()
            .await
            .unwrap();
        assert_eq!(scrape.status(), 200, "{addr}");
        let m = crate::helpers::Exposition::parse(&scrape.text().await.unwrap());
        assert_eq!(m.success("multi", "dcs"), 1.0, "{addr}");
        let plain = reqwest::get(format!("http://{addr}/-/healthy")).await;
        assert!(plain.is_err(), "{addr} answered plain HTTP: {plain:?}");
    }
    // A host name by its name too.
    let by_name = https
        .get(format!("https://localhost:{}/-/healthy", named[0].port()))
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.status(), 200);
    run.stop();
}

#[test]
fn a_garbage_listen_address_is_refused_with_what_to_write() {
    for (address, why) in [
        ("garbage", "is not host:port"),
        ("localhost:http", "does not end in a port from 0 to 65535"),
        (
            "no such host!:80",
            "is not host:port: the host is neither an IP address nor a host name",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
            .args([
                "--demo",
                "--web.listen-address",
                ":0",
                "--web.listen-address",
                address,
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{address}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        let line = decode_log_line("logfmt", stderr.trim_end());
        assert_eq!(
            line["error"],
            format!("--web.listen-address {address:?} {why} (e.g. :10071, localhost:10071, 127.0.0.1:10071 or [::1]:10071)")
        );
    }
}
