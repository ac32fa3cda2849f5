//! Builds the rustls server config (ring provider, as reqwest uses) from `tls_server_config`:
//! reads the PEM files and maps exporter-toolkit's `client_auth_type` onto client verifiers.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig};

use super::schema::{ClientAuth, TlsSettings, TlsVersion};

/// The process's crypto provider: the one rustls picks from its crate features (ring, as
/// reqwest uses), named through the default builder because rustls 0.23.48 deprecates
/// `crypto::ring::default_provider` itself. The builder's default versions always suit that
/// provider, and the features are fixed at build time, so this cannot fail on any input.
fn process_provider() -> Arc<rustls::crypto::CryptoProvider> {
    ServerConfig::builder().crypto_provider().clone()
}

/// Reads the certificate, key and client CAs named by `tls` and builds the server config.
/// Errors are (field path, message).
pub fn server_config(tls: &TlsSettings) -> Result<Arc<ServerConfig>, (String, String)> {
    let at = |field: &str| format!("tls_server_config.{field}");
    let provider = process_provider();
    let certs = read_certs(&tls.cert_file).map_err(|m| (at("cert_file"), m))?;
    let key_error = |e: String| {
        format!(
            "cannot load a PEM private key from {}: {e}; point it at the key of cert_file",
            tls.key_file.display(),
        )
    };
    let key_pem = crate::files::read_bytes(&tls.key_file)
        .map_err(|e| (at("key_file"), e.describe(|e| key_error(e.to_string()))))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| (at("key_file"), key_error(pem_error(e))))?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (tls.min_version..=tls.max_version).contains(v))
    .map(|(_, p)| p)
    .collect();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| (at("min_version"), format!("{e}; use TLS12 or TLS13")))?;
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match tls.client_auth {
        ClientAuth::NoClientCert => None,
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Some(Arc::new(AnyClientCert {
                mandatory: tls.client_auth == ClientAuth::RequireAnyClientCert,
                algorithms: provider.signature_verification_algorithms,
            }))
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let Some(ca_file) = &tls.client_ca_file else {
                return Err((
                    at("client_ca_file"),
                    "is missing; set it to a PEM CA bundle".into(),
                ));
            };
            let mut roots = RootCertStore::empty();
            for ca in read_certs(ca_file).map_err(|m| (at("client_ca_file"), m))? {
                roots.add(ca).map_err(|e| {
                    (
                        at("client_ca_file"),
                        format!(
                            "{} holds a certificate that is not a usable CA: {e}; fix the bundle",
                            ca_file.display()
                        ),
                    )
                })?;
            }
            let mut b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if tls.client_auth == ClientAuth::VerifyClientCertIfGiven {
                b = b.allow_unauthenticated();
            }
            Some(b.build().map_err(|e| {
                (
                    at("client_ca_file"),
                    format!("{}: {e}; fix the bundle", ca_file.display()),
                )
            })?)
        }
    };
    let builder = match verifier {
        None => builder.with_no_client_auth(),
        Some(v) => builder.with_client_cert_verifier(v),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        let message = match e {
            rustls::Error::InconsistentKeys(_) => {
                "is not the private key of cert_file; use the key the certificate was issued for"
                    .to_string()
            }
            other => format!("cannot be used with cert_file: {other}; use an RSA, ECDSA or Ed25519 key matching the certificate"),
        };
        (at("key_file"), message)
    })?;
    // This exporter speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates of the PEM file at `path` (read as [`crate::files`] says).
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let fail = |e: String| {
        format!(
            "cannot load PEM certificates from {}: {e}; fix the path (relative paths resolve against the web config file's directory)",
            path.display(),
        )
    };
    let pem = crate::files::read_bytes(path).map_err(|e| e.describe(|e| fail(e.to_string())))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(pem_error(e)))?;
    if certs.is_empty() {
        return Err(format!(
            "{} holds no PEM CERTIFICATE block; point it at a PEM certificate file",
            path.display()
        ));
    }
    Ok(certs)
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM block of that kind".to_string(),
        other => format!("{other:?}"),
    }
}

/// `RequestClientCert` / `RequireAnyClientCert`: asks for a certificate and takes whatever
/// comes, checking only that the client holds its key (as Go's crypto/tls does).
#[derive(Debug)]
struct AnyClientCert {
    /// Whether a certificate is required.
    mandatory: bool,
    /// The provider's signature algorithms, for the proof of key possession.
    algorithms: WebPkiSupportedAlgorithms,
}

/// A proof-of-key-possession check of [`ClientCertVerifier`], done by the rustls function of
/// the same name with the provider's algorithms (the TLS 1.2 and 1.3 checks differ only there).
macro_rules! signature_check {
    ($check:ident) => {
        fn $check(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::$check(message, cert, dss, &self.algorithms)
        }
    };
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    signature_check!(verify_tls12_signature);
    signature_check!(verify_tls13_signature);

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
