//! Outbound TLS and proxies: a cloud's endpoints behind a TLS front whose certificate comes
//! from a private CA (trusted with `tls.ca_file`, refused without it, accepted blindly with
//! `insecure_skip_verify`), and the same calls through an `HTTPS_PROXY` that must see only a
//! `CONNECT` tunnel, never a credential in clear.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use huaweicloud_exporter::sim::SimHandle;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{build, frozen_sim, load_for, scrape_addr, serve, spawn_binary, spawn_sim};

/// A private CA's certificate (PEM) and a TLS server config for `localhost` signed by it.
fn private_pki() -> (String, Arc<rustls::ServerConfig>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "internal proxy CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca_cert, &ca_key)
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    (ca_cert.pem(), Arc::new(config))
}

/// A TLS front on 127.0.0.1 that hands each decrypted connection to the simulator at `sim`:
/// what an internal HTTPS proxy with its own CA looks like to the exporter.
async fn tls_front(sim: SocketAddr, config: Arc<rustls::ServerConfig>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(sim).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    port
}

/// The simulator's address.
fn sim_addr(sim: &SimHandle) -> SocketAddr {
    sim.base_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap()
}

/// A password cloud (so the IAM password goes out) with every endpoint on `base`, and `tls`.
fn cloud(base: &str, tls: &str) -> String {
    let endpoints = crate::helpers::endpoints(base);
    format!(
        r#"timeout: 5s
clouds:
  - name: c
    region: ap-southeast-1
    project_id: {{project}}
    auth: {{ password: {{ domain: demo-domain, user: monitoring, password: demo-password }} }}
    endpoints: {endpoints}
    dcs: {{}}
{tls}"#
    )
}

#[tokio::test]
async fn a_private_ca_in_tls_ca_file_is_trusted_and_nothing_else_is() {
    // Arrange: the simulator behind a TLS front with a private CA.
    let sim = spawn_sim(frozen_sim(3)).await;
    let (ca_pem, server) = private_pki();
    let port = tls_front(sim_addr(&sim), server).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let base = format!("https://localhost:{port}");
    let cases = [
        (
            "with ca_file",
            format!("    tls: {{ ca_file: {:?} }}\n", ca_file),
            1.0,
        ),
        ("public roots only", String::new(), 0.0),
        (
            "global ca_file",
            format!("tls: {{ ca_file: {:?} }}\n", ca_file),
            1.0,
        ),
        (
            "insecure_skip_verify",
            "    tls: { insecure_skip_verify: true }\n".to_string(),
            1.0,
        ),
    ];
    for (name, tls, want) in cases {
        // Act
        let cfg = load_for(&sim, &cloud(&base, &tls));
        let (addr, _state, _stop) = serve(build(cfg, None).await);
        let m = scrape_addr(addr).await;

        // Assert: the collector succeeds only when the front's certificate is trusted.
        assert_eq!(m.success("c", "dcs"), want, "{name}");
        assert_eq!(m.success("c", "dcs_instances"), want, "{name}");
    }
}

/// What a proxy received: each connection's bytes from the exporter, in clear (for a tunnel,
/// the `CONNECT` head and then the TLS records).
type Seen = Arc<Mutex<Vec<Vec<u8>>>>;

/// A forward proxy on 127.0.0.1 that tunnels `CONNECT host:port` and refuses anything else
/// (a plain-HTTP request through a proxy would carry its headers in clear).
async fn proxy() -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match client.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let index = {
                    let mut seen = record.lock().unwrap();
                    seen.push(head.clone());
                    seen.len() - 1
                };
                let text = String::from_utf8_lossy(&head).to_string();
                let Some(target) = text
                    .strip_prefix("CONNECT ")
                    .and_then(|rest| rest.split_whitespace().next())
                else {
                    let _ = client
                        .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                        .await;
                    return;
                };
                let Ok(upstream) = TcpStream::connect(target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_upstream, mut to_upstream) = upstream.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_upstream, &mut to_client).await;
                });
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match from_client.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            record.lock().unwrap()[index].extend_from_slice(&buf[..n]);
                            if to_upstream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_gets_a_connect_tunnel_and_never_a_credential_in_clear() {
    // Arrange: the TLS front as the cloud's endpoints, and the exporter binary told to go
    // through a proxy by HTTPS_PROXY (its own process: the variable is process-wide).
    let sim = spawn_sim(frozen_sim(3)).await;
    let (ca_pem, server) = private_pki();
    let port = tls_front(sim_addr(&sim), server).await;
    let (proxy_port, seen) = proxy().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let base = format!("https://localhost:{port}");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        cloud(&base, &format!("    tls: {{ ca_file: {:?} }}\n", ca_file))
            .replace("{project}", &sim.project_id()),
    )
    .unwrap();
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    let (mut child, exporter) = spawn_binary(
        &config,
        &[],
        &[
            ("HTTPS_PROXY", proxy_url.as_str()),
            ("https_proxy", proxy_url.as_str()),
            ("NO_PROXY", ""),
            ("no_proxy", ""),
        ],
    )
    .await;

    // Act: scrape once it listens.
    let client = reqwest::Client::new();
    let mut text = None;
    for _ in 0..200 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{exporter}/metrics"))
            .send()
            .await
        {
            text = r.text().await.ok();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let m = crate::helpers::Exposition::parse(&text.expect("the exporter answered"));

    // Assert: the calls went through the tunnel and succeeded; the proxy saw only CONNECTs
    // to the endpoint's host, and none of the password, the token or a header in clear.
    assert_eq!(m.success("c", "dcs"), 1.0);
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the proxy saw no connection");
    for conn in &seen {
        assert!(
            conn.starts_with(format!("CONNECT localhost:{port} HTTP/1.1\r\n").as_bytes()),
            "{:?}",
            String::from_utf8_lossy(&conn[..conn.len().min(200)])
        );
        for secret in [
            &b"demo-password"[..],
            b"X-Auth-Token",
            b"x-auth-token",
            b"/v3/auth/tokens",
        ] {
            assert!(
                !conn.windows(secret.len()).any(|w| w == secret),
                "the proxy saw {:?} in clear",
                String::from_utf8_lossy(secret)
            );
        }
    }
}
