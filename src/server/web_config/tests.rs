//! The web config handle on the file watcher: what a re-read keeps, refuses and tells.

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::basic_auth::Verdict;
use super::WebConfigHandle;

/// Log lines written while `f` runs on a current-thread runtime (where the re-reads tell).
fn logged(f: impl std::future::Future<Output = ()>) -> String {
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            crate::sync::lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    });
    let bytes = crate::sync::lock(&out.0).clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn users(hash: &str) -> String {
    format!("basic_auth_users:\n  alice: \"{hash}\"\n")
}

/// A self-signed certificate and its key, written next to the web config.
fn write_pem(dir: &Path, name: &str) -> String {
    let cert = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("certificate");
    std::fs::write(dir.join("server.crt"), cert.cert.pem()).expect("write");
    std::fs::write(dir.join("server.key"), cert.key_pair.serialize_pem()).expect("write");
    "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n".to_string()
}

#[test]
fn a_re_read_keeps_verdicts_refuses_a_tls_switch_and_tells_a_broken_file_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("web.yml");
    let hash = bcrypt::hash("right", 4).expect("hash");
    std::fs::write(&path, users(&hash)).expect("write");
    let log = logged(async {
        let handle = WebConfigHandle::load(&path).await.expect("loads");
        let first = handle.current().await;
        assert_eq!(
            first.auth.verify("alice", "right", None).await,
            Verdict::Allowed
        );

        let headers = "http_server_config:\n  headers:\n    X-Frame-Options: deny\n";
        std::fs::write(&path, format!("{}{headers}", users(&hash))).expect("write");
        let second = handle.current().await;
        assert!(!Arc::ptr_eq(&first, &second), "the change was read");
        assert_eq!(second.config.headers.len(), 1);
        assert_eq!(
            second.auth.verify("alice", "right", None).await,
            Verdict::Allowed
        );
        assert_eq!(second.auth.bcrypt_runs(), 0, "alice's verdict carried over");

        let tls = write_pem(dir.path(), "localhost");
        std::fs::write(&path, format!("{}{tls}", users(&hash))).expect("write");
        for _ in 0..2 {
            assert!(Arc::ptr_eq(&second, &handle.current().await), "TLS refused");
        }
        assert!(!handle.tls_enabled());

        std::fs::write(&path, "basic_auth_users: [").expect("write");
        for _ in 0..2 {
            assert!(Arc::ptr_eq(&second, &handle.current().await), "broken kept");
        }
    });
    let count = |s: &str| log.matches(s).count();
    assert_eq!(count("web config reloaded"), 1, "{log}");
    assert_eq!(
        count("web config re-read: tls_server_config was added; switching between HTTP and HTTPS needs a restart, keeping the previous settings"),
        1,
        "{log}"
    );
    assert_eq!(
        count("web config re-read failed; keeping the previous settings"),
        1,
        "{log}"
    );
}

#[test]
fn a_rotated_certificate_is_read_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("web.yml");
    std::fs::write(&path, write_pem(dir.path(), "localhost")).expect("write");
    logged(async {
        let handle = WebConfigHandle::load(&path).await.expect("loads");
        let first = handle.current().await;
        assert!(handle.tls_enabled());
        assert!(Arc::ptr_eq(&first, &handle.current().await), "unchanged");
        // Another name: another length, so the change is seen whatever the clock's grain.
        write_pem(dir.path(), "exporter.example.com");
        let second = handle.current().await;
        assert!(
            !Arc::ptr_eq(&first, &second),
            "the new certificate was read"
        );
        assert!(second.tls.is_some());
    });
}
