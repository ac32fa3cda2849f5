//! `--web.config.file`: TLS (with a throwaway CA made here), client certificates, basic auth,
//! extra headers, re-reading on change, and the table of invalid files with their messages.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use huaweicloud_exporter::server::web_config as web;
use huaweicloud_exporter::sim::{SimHandle, Simulator};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::helpers::{build, frozen_sim, load_for, serve, Exposition};

const CONFIG: &str = r#"
timeout: 5s
clouds:
  - name: tok
    region: eu-west-101
    project_id: {project}
    auth: { token: { value: demo-static-token } }
    endpoints: {endpoints}
    dcs: {}
"#;

/// A throwaway CA, a server certificate for 127.0.0.1 and a client identity, written to `dir`.
struct Pki {
    dir: tempfile::TempDir,
    /// The loopback address this test's clients connect from.
    source: std::net::IpAddr,
    ca_pem: String,
    /// Client certificate + key, signed by the CA.
    client_identity: String,
    /// Client certificate + key from a CA the server does not know.
    stranger_identity: String,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    (params.self_signed(&key).expect("CA"), key)
}

fn leaf(
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &rcgen::Certificate,
    issuer_key: &KeyPair,
) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
    params.extended_key_usages = vec![usage];
    let cert = params
        .signed_by(&key, issuer, issuer_key)
        .expect("signed leaf");
    (cert.pem(), key.serialize_pem())
}

fn make_pki() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca_cert, ca_key) = ca("test CA");
    let (server_cert, server_key) = leaf(
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
        &ca_cert,
        &ca_key,
    );
    let (client_cert, client_key) = leaf(
        &["prometheus"],
        ExtendedKeyUsagePurpose::ClientAuth,
        &ca_cert,
        &ca_key,
    );
    let (other_ca, other_key) = ca("another CA");
    let (stranger_cert, stranger_key) = leaf(
        &["stranger"],
        ExtendedKeyUsagePurpose::ClientAuth,
        &other_ca,
        &other_key,
    );
    std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).expect("write");
    std::fs::write(dir.path().join("server.crt"), server_cert).expect("write");
    std::fs::write(dir.path().join("server.key"), server_key).expect("write");
    static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(10);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Pki {
        source: std::net::IpAddr::from([127, 0, 1, n]),
        ca_pem: ca_cert.pem(),
        client_identity: format!("{client_cert}{client_key}"),
        stranger_identity: format!("{stranger_cert}{stranger_key}"),
        dir,
    }
}

impl Pki {
    /// Writes `web.yml` next to the PEM files (so relative paths are exercised) and returns it.
    fn write_web_config(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("web.yml");
        std::fs::write(&path, text).expect("write web config");
        path
    }

    fn client(&self) -> reqwest::Client {
        self.client_builder().build().expect("client")
    }

    fn client_builder(&self) -> reqwest::ClientBuilder {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("CA pem");
        reqwest::Client::builder()
            .add_root_certificate(ca)
            .tls_built_in_root_certs(false)
            // An address of this test's own: basic auth allows one password check in flight per
            // client address, and tests run in parallel.
            .local_address(self.source)
    }

    fn client_with_identity(&self, pem: &str) -> reqwest::Client {
        let id = reqwest::Identity::from_pem(pem.as_bytes()).expect("identity");
        self.client_builder().identity(id).build().expect("client")
    }
}

fn hash(password: &str) -> String {
    // Cost 4: the lowest bcrypt allows, to keep the tests fast.
    bcrypt::hash(password, 4).expect("bcrypt")
}

const TLS: &str = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

struct WebApp {
    addr: SocketAddr,
    _sim: SimHandle,
    _stop: oneshot::Sender<()>,
}

impl WebApp {
    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }
}

async fn spawn_web_app(web_config: &Path) -> WebApp {
    let sim = Simulator::start(
        huaweicloud_exporter::services::SIMULATED,
        frozen_sim(5),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let app = build(load_for(&sim, CONFIG), None)
        .await
        .with_web_config(web_config)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let (addr, _, tx) = serve(app);
    WebApp {
        addr,
        _sim: sim,
        _stop: tx,
    }
}

#[tokio::test]
async fn tls_serves_https_and_refuses_plain_http() {
    // Arrange
    let pki = make_pki();
    let app = spawn_web_app(&pki.write_web_config(TLS)).await;
    let client = pki.client();

    // Act
    let scrape = client
        .get(app.url("https", "/metrics"))
        .send()
        .await
        .expect("HTTPS scrape");
    let status = scrape.status();
    let text = scrape.text().await.expect("body");
    let plain = reqwest::Client::new()
        .get(app.url("http", "/metrics"))
        .send()
        .await;

    // Assert
    assert_eq!(status, 200);
    let exposition = Exposition::parse(&text);
    assert_eq!(exposition.success("tok", "dcs"), 1.0);
    assert!(
        plain.is_err(),
        "plain HTTP to the TLS port must fail, got {plain:?}"
    );
}

#[tokio::test]
async fn basic_auth_guards_every_path_but_healthy_probe_and_reload_included_and_headers_are_set() {
    // Arrange
    let pki = make_pki();
    let web_config = format!(
        "{TLS}http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\nbasic_auth_users:\n  alice: \"{}\"\n",
        hash("wonderland")
    );
    let app = spawn_web_app(&pki.write_web_config(&web_config)).await;
    let client = pki.client();
    let get = |path: &str, auth: Option<(&str, &str)>| {
        let mut req = client.get(app.url("https", path));
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        async move { req.send().await.expect("request") }
    };

    // Act
    let anonymous = get("/metrics", None).await;
    let wrong = get("/metrics", Some(("alice", "looking-glass"))).await;
    let unknown = get("/metrics", Some(("mallory", "wonderland"))).await;
    let right = get("/metrics", Some(("alice", "wonderland"))).await;
    let ready = get("/-/ready", None).await;
    let landing = get("/", None).await;
    let missing = get("/no-such-page", None).await;
    let healthy = get("/-/healthy", None).await;
    // What runs commands on phones and what reloads are behind the same door.
    let probe = get("/probe?module=boot&target=canary", None).await;
    let reload = client
        .post(app.url("https", "/-/reload"))
        .send()
        .await
        .expect("request");

    // Assert
    assert_eq!(probe.status(), 401, "/probe without credentials");
    assert_eq!(reload.status(), 401, "/-/reload without credentials");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Basic"[..])
    );
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert_eq!(right.status(), 200);
    assert_eq!(ready.status(), 401);
    assert_eq!(landing.status(), 401);
    assert_eq!(
        missing.status(),
        401,
        "unknown paths must not reveal themselves"
    );
    assert_eq!(healthy.status(), 200);
    for r in [&anonymous, &right, &healthy] {
        assert_eq!(r.headers()["x-frame-options"], "deny");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    }
}

#[tokio::test]
async fn require_and_verify_client_cert_rejects_clients_without_a_good_cert() {
    // Arrange
    let pki = make_pki();
    let web_config =
        format!("{TLS}  client_ca_file: ca.pem\n  client_auth_type: RequireAndVerifyClientCert\n");
    let app = spawn_web_app(&pki.write_web_config(&web_config)).await;
    let url = app.url("https", "/-/healthy");

    // Act
    let without = pki.client().get(&url).send().await;
    let stranger = pki
        .client_with_identity(&pki.stranger_identity)
        .get(&url)
        .send()
        .await;
    let with = pki
        .client_with_identity(&pki.client_identity)
        .get(&url)
        .send()
        .await
        .expect("a client with a certificate from the CA gets through");

    // Assert
    assert!(
        without.is_err(),
        "a client without a certificate got {without:?}"
    );
    assert!(
        stranger.is_err(),
        "a certificate from an unknown CA got {stranger:?}"
    );
    assert_eq!(with.status(), 200);
}

#[tokio::test]
async fn a_changed_web_config_is_picked_up_and_a_broken_one_ignored() {
    // Arrange
    let pki = make_pki();
    let alice = format!("  alice: \"{}\"\n", hash("wonderland"));
    let path = pki.write_web_config(&format!("{TLS}basic_auth_users:\n{alice}"));
    let app = spawn_web_app(&path).await;
    let client = pki.client();
    let status = |user: &'static str, password: &'static str| {
        let req = client
            .get(app.url("https", "/metrics"))
            .basic_auth(user, Some(password));
        async move { req.send().await.expect("request").status().as_u16() }
    };
    assert_eq!(status("bob", "builder").await, 401);

    // Act: add bob.
    std::fs::write(
        &path,
        format!(
            "{TLS}basic_auth_users:\n{alice}  bob: \"{}\"\n",
            hash("builder")
        ),
    )
    .unwrap();
    let bob_after_adding = status("bob", "builder").await;
    // Act: break the file.
    std::fs::write(
        &path,
        format!("{TLS}basic_auth_users:\n  bob: not-a-hash\n"),
    )
    .unwrap();
    let bob_after_breaking = status("bob", "builder").await;
    let alice_after_breaking = status("alice", "wonderland").await;

    // Assert
    assert_eq!(bob_after_adding, 200);
    assert_eq!(
        bob_after_breaking, 200,
        "a broken file keeps the previous settings"
    );
    assert_eq!(alice_after_breaking, 200);
}

#[test]
fn invalid_web_configs_are_refused_with_file_field_and_fix() {
    let h = "$2y$04$bLm5hJ0mI2eAu1pP3H4c4.dAYR0gNnDX2z3wH5OQ0Nw3F6NQG0n0G";
    let tls = "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n";
    let cases: Vec<(String, &str)> = vec![
        ("tls_server_config: [".into(), "web.yml: not valid YAML: did not find expected node content at line 2 column 1, while parsing a flow node; fix the syntax at that position"),
        ("basic_auth_user: {}\n".into(), "web.yml: basic_auth_user: unknown field `basic_auth_user`, expected one of `tls_server_config`, `http_server_config`, `basic_auth_users`, `rate_limit`; remove it or fix its spelling"),
        ("tls_server_config:\n  key_file: s.key\n".into(), "web.yml: tls_server_config.cert_file: is missing; set it to the PEM certificate chain, or remove tls_server_config to serve plain HTTP"),
        ("tls_server_config:\n  cert_file: s.crt\n".into(), "web.yml: tls_server_config.key_file: is missing; set it to the PEM private key of cert_file"),
        (format!("{tls}  client_auth_type: Sometimes\n"), "web.yml: tls_server_config.client_auth_type: \"Sometimes\" is not a client auth type; use one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert"),
        (format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n"), "web.yml: tls_server_config.client_ca_file: is missing; client_auth_type RequireAndVerifyClientCert verifies client certificates against it, so set it to a PEM CA bundle"),
        (format!("{tls}  client_ca_file: ca.pem\n"), "web.yml: tls_server_config.client_auth_type: client_ca_file is set but no client certificate is asked for; set client_auth_type (e.g. RequireAndVerifyClientCert) or remove client_ca_file"),
        (format!("{tls}  min_version: TLS11\n"), "web.yml: tls_server_config.min_version: TLS11 is not supported (it is insecure and rustls does not implement it); use TLS12 or TLS13"),
        (format!("{tls}  min_version: TLS13\n  max_version: TLS12\n"), "web.yml: tls_server_config.min_version: is above max_version; lower min_version or raise max_version"),
        (format!("{tls}  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"), "web.yml: tls_server_config.cipher_suites: is not supported (rustls offers only modern AEAD suites); remove it"),
        (format!("{tls}  colour: blue\n"), "web.yml: tls_server_config.colour: unknown field `colour`, expected one of `cert_file`, `key_file`, `client_ca_file`, `client_auth_type`, `min_version`, `max_version`, `cert`, `key`, `client_ca`, `cipher_suites`, `curve_preferences`, `prefer_server_cipher_suites`, `client_allowed_sans`; remove it or fix its spelling"),
        ("basic_auth_users:\n  alice: 86753091234567\n".into(), "web.yml: basic_auth_users.alice: is a number, not text (its value is not shown: this field holds a secret); quote it, since YAML reads unquoted digits, true/false and ~ as other types and can change them (leading zeros, exponents)"),
        ("basic_auth_users:\n  alice: [s3cr3t]\n".into(), "web.yml: basic_auth_users.alice: is a list, not text (its value is not shown: this field holds a secret); write the secret as one quoted string"),
        ("basic_auth_users:\n  alice: s3cr3t\n".into(), "web.yml: basic_auth_users.alice: is not a bcrypt hash ($2y$<cost>$ followed by 53 characters); hash the password with bcrypt, e.g. `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"),
        (format!("basic_auth_users:\n  \"a:b\": \"{h}\"\n"), "web.yml: basic_auth_users.a:b: user names cannot contain ':' (HTTP basic auth splits user and password at the first ':'); rename the user"),
        ("http_server_config:\n  headers:\n    Server: hwc\n".into(), "web.yml: http_server_config.headers.Server: HTTP header \"Server\" can not be configured; use one of Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy"),
        ("http_server_config:\n  headers:\n    X-Frame-Options: allow-from\n".into(), "web.yml: http_server_config.headers.X-Frame-Options: \"allow-from\" is not allowed; use one of [\"deny\", \"sameorigin\"]"),
        ("rate_limit: { burst: 1, interval: 1s }\n".into(), "web.yml: rate_limit: is not supported by huaweicloud-exporter; remove it (rate-limit in front of the exporter instead)"),
    ];
    for (text, want) in cases {
        let got = web::schema::parse(&text, "web.yml", Path::new("/etc/hwc"))
            .map(|_| "accepted".to_string())
            .unwrap_or_else(|e| e.to_string());
        assert_eq!(got, want, "for\n{text}");
        assert!(!got.contains("s3cr3t"), "a secret leaked into: {got}");
        assert!(!got.contains("3091"), "a secret leaked into: {got}");
    }
}

#[test]
fn unreadable_or_mismatched_pem_files_are_refused_with_their_path() {
    let pki = make_pki();
    let dir = pki.dir.path();
    let other_key = KeyPair::generate().unwrap().serialize_pem();
    std::fs::write(dir.join("other.key"), other_key).unwrap();
    let cases: Vec<(&str, String)> = vec![
        (
            "tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n",
            format!(
                "{web}: tls_server_config.cert_file: cannot load PEM certificates from {crt}: No such file or directory (os error 2); fix the path (relative paths resolve against the web config file's directory)",
                web = dir.join("web.yml").display(),
                crt = dir.join("nope.crt").display()
            ),
        ),
        (
            "tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n",
            format!(
                "{web}: tls_server_config.cert_file: {key} holds no PEM CERTIFICATE block; point it at a PEM certificate file",
                web = dir.join("web.yml").display(),
                key = dir.join("server.key").display()
            ),
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
            format!(
                "{web}: tls_server_config.key_file: is not the private key of cert_file; use the key the certificate was issued for",
                web = dir.join("web.yml").display()
            ),
        ),
    ];
    for (text, want) in cases {
        let path = pki.write_web_config(text);
        let got = web::load(&path)
            .map(|_| "accepted".to_string())
            .unwrap_or_else(|e| e.to_string());
        assert_eq!(got, want, "for\n{text}");
    }
    let missing = dir.join("missing.yml");
    let got = web::load(&missing).map(|_| ()).unwrap_err().to_string();
    assert_eq!(
        got,
        format!(
            "{}: cannot read the web config file: No such file or directory (os error 2); pass the right path with --web.config.file",
            missing.display()
        )
    );
}

/// A web config, or a PEM file it names, that is a FIFO (or a sparse 4 GiB file) is refused
/// at once naming the file and the field: nothing blocks on a FIFO no one writes to.
#[test]
fn a_web_config_or_pem_file_that_is_a_fifo_or_huge_is_refused_naming_it() {
    let pki = make_pki();
    let dir = pki.dir.path();
    let fifo = dir.join("fifo.pem");
    crate::reload_files::mkfifo(&fifo);
    crate::reload_files::sparse_4_gib(&dir.join("huge.pem"));
    let web = dir.join("web.yml");
    for (field, file, what) in [
        (
            "key_file",
            "fifo.pem",
            "is a FIFO (named pipe), not a regular file",
        ),
        (
            "cert_file",
            "fifo.pem",
            "is a FIFO (named pipe), not a regular file",
        ),
        (
            "cert_file",
            "huge.pem",
            "holds 4294967296 bytes, more than the 1048576",
        ),
    ] {
        let other = if field == "key_file" {
            "cert_file: server.crt"
        } else {
            "key_file: server.key"
        };
        let path = pki.write_web_config(&format!(
            "tls_server_config:\n  {other}\n  {field}: {file}\n"
        ));
        let got = web::load(&path).map(|_| ()).unwrap_err().to_string();
        let want = format!(
            "{}: tls_server_config.{field}: {} {what}",
            web.display(),
            dir.join(file).display()
        );
        assert!(got.starts_with(&want), "{got}");
    }
    let got = web::load(&fifo).map(|_| ()).unwrap_err().to_string();
    assert!(
        got.ends_with(&format!(
            "{} is a FIFO (named pipe), not a regular file; point the setting at a file",
            fifo.display()
        )),
        "{got}"
    );
}

/// The exporter binary, in its own process (so its hashing pool is its own), with `--demo` and
/// the web config `web_config`; killed on drop.
struct Binary {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_demo_binary(web_config: &str) -> Binary {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.yml");
    std::fs::write(&path, web_config).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .args([
            "--demo",
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--web.config.file", path.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if reqwest::get(format!("http://127.0.0.1:{port}/-/healthy"))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Binary {
        child,
        port,
        _dir: dir,
    }
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address is local on Linux).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_password_storm_is_answered_429_at_once_and_spares_the_legitimate() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    // Arrange: two users; the storm guesses the first one's password from one address.
    let web_config = format!(
        "basic_auth_users:\n  prometheus: \"{}\"\n  late: \"{}\"\n",
        bcrypt::hash("right", 6).unwrap(),
        bcrypt::hash("also-right", 6).unwrap()
    );
    let bin = start_demo_binary(&web_config).await;
    let url = format!("http://127.0.0.1:{}/-/ready", bin.port);
    let prometheus = client_from("127.0.0.2");
    let ask = |client: &reqwest::Client, user: &str, password: &str| {
        client.get(&url).basic_auth(user, Some(password)).send()
    };
    assert_eq!(
        ask(&prometheus, "prometheus", "right")
            .await
            .unwrap()
            .status(),
        200,
        "before the storm"
    );

    // Act: 32 connections from 127.0.0.3 sending random passwords until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let throttled = Arc::new(AtomicU64::new(0));
    let answers = Arc::new(Mutex::new(std::collections::BTreeMap::<u16, u64>::new()));
    let retry_after = Arc::new(Mutex::new(std::collections::BTreeSet::<String>::new()));
    let mut storm = Vec::new();
    for t in 0..32 {
        let (stop, throttled, answers, retry_after) = (
            stop.clone(),
            throttled.clone(),
            answers.clone(),
            retry_after.clone(),
        );
        let attacker = client_from("127.0.0.3");
        let url = url.clone();
        storm.push(tokio::spawn(async move {
            // Bounded either way: 20 checked (401) guesses per connection is what a pool that
            // never refuses would give before this test fails, and 20,000 tries in all.
            let (mut n, mut checked) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) && checked < 20 && n < 20_000 {
                n += 1;
                let guess = format!("guess-{t}-{n}");
                let Ok(r) = attacker
                    .get(&url)
                    .basic_auth("prometheus", Some(guess))
                    .send()
                    .await
                else {
                    continue;
                };
                let status = r.status().as_u16();
                checked += u64::from(status == 401);
                if status == 429 {
                    throttled.fetch_add(1, Ordering::Relaxed);
                    if let Some(v) = r.headers().get("retry-after") {
                        let v = v.to_str().unwrap_or("?").to_string();
                        retry_after.lock().unwrap().insert(v);
                    }
                }
                *answers.lock().unwrap().entry(status).or_default() += 1;
            }
        }));
    }
    // Waits for the storm to be refused (bounded: the storm ends by itself).
    while throttled.load(Ordering::Relaxed) == 0 && !storm.iter().all(|t| t.is_finished()) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // During the storm: the cached credential, and a first (uncached) login from elsewhere.
    let mut cached = Vec::new();
    for _ in 0..5 {
        cached.push(
            ask(&prometheus, "prometheus", "right")
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    let first_login = ask(&client_from("127.0.0.4"), "late", "also-right")
        .await
        .unwrap()
        .status()
        .as_u16();
    let storm_was_on = !storm.iter().all(|t| t.is_finished());
    stop.store(true, Ordering::Relaxed);
    for t in storm {
        t.await.unwrap();
    }

    // Assert
    let answers = answers.lock().unwrap().clone();
    assert!(
        answers.get(&429).copied().unwrap_or(0) > 0,
        "no guess was answered 429: {answers:?}"
    );
    assert!(
        answers.keys().all(|s| *s == 401 || *s == 429),
        "guesses get 401 or 429 only: {answers:?}"
    );
    assert_eq!(
        *retry_after.lock().unwrap(),
        std::collections::BTreeSet::from(["1".to_string()])
    );
    assert!(
        storm_was_on,
        "the storm ended before the legitimate requests"
    );
    assert_eq!(
        cached,
        vec![200; 5],
        "a cached credential never waits for the pool"
    );
    assert_eq!(
        first_login, 200,
        "one address holds at most one hashing slot, so another address gets one"
    );
}
