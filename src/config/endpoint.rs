//! The check of a cloud's endpoint overrides — a base URL over HTTPS (plain HTTP only to
//! loopback, or where the cloud allows it), with no path, query, credentials or stray spaces —
//! and of the upstream `tls:` settings.

use std::net::IpAddr;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::model::UpstreamTls;
use super::raw::RawTls;
use super::validate::{field_path, Validator};

/// Whether `host` (as a URL writes it, IPv6 in brackets) is this machine: `localhost` or a
/// loopback address.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Validator<'_> {
    /// The endpoint at `path`: `raw` checked, or `default` when it is not given (or invalid,
    /// with an error then). `allow_insecure` is the cloud's `allow_insecure_endpoints`.
    pub fn endpoint(
        &mut self,
        path: &str,
        raw: Option<String>,
        default: String,
        allow_insecure: bool,
    ) -> String {
        let Some(url) = raw else { return default };
        if url.trim() != url {
            self.fail(
                path,
                format!(
                    "{url:?} has spaces around it; write it without them: {:?}",
                    url.trim()
                ),
            );
            return default;
        }
        let trimmed = url.trim_end_matches('/').to_string();
        let parsed = match reqwest::Url::parse(&trimmed) {
            Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host().is_some() => u,
            _ => {
                self.fail(
                    path,
                    format!("{url:?} is not an http(s) URL; give a base URL like {default}"),
                );
                return default;
            }
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            // Not quoted: the text holds a credential.
            self.fail(
                path,
                format!("holds a user name or password (`user:password@`, not shown); remove it and give the base URL alone, like {default}: credentials go under auth:"),
            );
            return default;
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            self.fail(
                path,
                format!("{url:?} has a query or fragment; give a base URL like {default}"),
            );
            return default;
        }
        if !matches!(parsed.path(), "" | "/") {
            let mut base = parsed.clone();
            base.set_path("");
            self.fail(
                path,
                format!(
                    "{url:?} has a path ({:?}); give the base URL alone, {:?}: the exporter adds each API's path",
                    parsed.path(),
                    base.as_str().trim_end_matches('/')
                ),
            );
            return default;
        }
        if parsed.scheme() == "http" && !parsed.host_str().is_some_and(is_loopback) {
            let at = path
                .rsplit_once(".endpoints")
                .map_or(path, |(cloud, _)| cloud);
            if !allow_insecure {
                self.fail(
                    path,
                    format!("{url:?} is plain HTTP, so the IAM password, tokens and signatures would travel in clear; use https://, or set `allow_insecure_endpoints: true` on this cloud ({at}) if the link is protected otherwise"),
                );
                return default;
            }
            self.warn(
                path,
                format!("{url:?} is plain HTTP (allowed by {at}.allow_insecure_endpoints): the IAM password, tokens and signatures travel in clear"),
            );
        }
        trimmed
    }

    /// The upstream TLS settings of the `tls:` at `p`: its CA file read and checked.
    pub(super) fn upstream_tls(&mut self, p: &str, raw: RawTls) -> UpstreamTls {
        let mut tls = UpstreamTls {
            extra_roots: Vec::new(),
            insecure_skip_verify: raw.insecure_skip_verify,
        };
        if raw.insecure_skip_verify {
            self.warn(
                field_path(p, "insecure_skip_verify"),
                "is true: the certificates of this cloud's endpoints are NOT verified, so anyone on the path can pose as Huawei Cloud and take the IAM password, tokens and signatures; trust your proxy's CA with ca_file instead",
            );
        }
        let Some(file) = raw.ca_file else { return tls };
        let at = field_path(p, "ca_file");
        let full = self.resolve(&file);
        let pem = match std::fs::read(&full) {
            Ok(pem) => pem,
            Err(e) => {
                self.fail(
                    at,
                    format!(
                        "cannot read {}: {e}; check the path and its permissions",
                        full.display()
                    ),
                );
                return tls;
            }
        };
        for cert in CertificateDer::pem_slice_iter(&pem) {
            match cert {
                Ok(der) => match reqwest::Certificate::from_der(&der) {
                    Ok(_) => tls.extra_roots.push(der.to_vec()),
                    Err(e) => self.fail(
                        at.clone(),
                        format!(
                            "{} holds a certificate that cannot be used: {e}; fix the bundle",
                            full.display()
                        ),
                    ),
                },
                Err(e) => {
                    self.fail(
                        at.clone(),
                        format!("{} is not a PEM bundle ({e}); give a file of `-----BEGIN CERTIFICATE-----` blocks", full.display()),
                    );
                    return tls;
                }
            }
        }
        if tls.extra_roots.is_empty() {
            self.fail(
                at,
                format!("{} holds no PEM certificate; give a file of `-----BEGIN CERTIFICATE-----` blocks", full.display()),
            );
        }
        tls
    }
}
