//! The `--web.config.file` schema (Prometheus exporter-toolkit format): strict decoding and
//! validation into a [`WebConfig`]. Pure: no file is read here, so it is tested on literals.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_yaml::Value;

/// A web config error: the same file/field/fix shape as the main config's.
pub type WebConfigError = crate::config::ConfigError;

/// The validated web config.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WebConfig {
    /// TLS settings; `None` serves plain HTTP.
    pub tls: Option<TlsSettings>,
    /// User name → bcrypt hash; empty means no authentication.
    pub users: BTreeMap<String, String>,
    /// Extra response headers, from exporter-toolkit's allowed set.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

// Hand-written so that bcrypt hashes never reach a log line through `{:?}`.
impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers)
            .finish()
    }
}

/// `tls_server_config`, with paths already resolved against the web config's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key of the leaf.
    pub key_file: PathBuf,
    /// PEM CA bundle that client certificates are verified against.
    pub client_ca_file: Option<PathBuf>,
    /// Whether and how client certificates are asked for.
    pub client_auth: ClientAuth,
    /// Lowest TLS version accepted.
    pub min_version: TlsVersion,
    /// Highest TLS version accepted.
    pub max_version: TlsVersion,
}

/// exporter-toolkit's `client_auth_type` values (Go's `tls.ClientAuthType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    NoClientCert,
    /// A certificate is asked for but neither required nor verified.
    RequestClientCert,
    /// A certificate is required but not verified.
    RequireAnyClientCert,
    /// A certificate is optional; if sent, it must verify against `client_ca_file`.
    VerifyClientCertIfGiven,
    /// A certificate is required and must verify against `client_ca_file`.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    const NAMES: &'static str = "NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert";

    fn parse(s: &str) -> Option<ClientAuth> {
        Some(match s {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            // exporter-toolkit keeps the old name as an alias.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }

    /// Whether client certificates are checked against `client_ca_file`.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// TLS protocol versions rustls offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    fn parse(s: &str) -> Result<TlsVersion, String> {
        match s {
            "TLS12" => Ok(TlsVersion::Tls12),
            "TLS13" => Ok(TlsVersion::Tls13),
            "TLS10" | "TLS11" => Err(format!(
                "{s} is not supported (it is insecure and rustls does not implement it); use TLS12 or TLS13"
            )),
            _ => Err(format!("{s:?} is not a TLS version; use TLS12 or TLS13")),
        }
    }
}

/// Response headers exporter-toolkit lets a web config set, with the values it allows (empty:
/// any). Kept identical so that one web config works across the Prometheus ecosystem.
pub const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    http_server_config: Option<RawHttp>,
    /// Read as secrets: a plaintext password put here by mistake (a number, say) must not be
    /// quoted back by a type error.
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, crate::config::SecretText>>,
    /// exporter-toolkit has it; we refuse it by name rather than as an unknown key.
    #[serde(default)]
    rate_limit: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    #[serde(default)]
    cert_file: Option<String>,
    #[serde(default)]
    key_file: Option<String>,
    #[serde(default)]
    client_ca_file: Option<String>,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
    // exporter-toolkit settings this exporter does not implement; refused with a reason.
    #[serde(default)]
    cert: Option<Value>,
    #[serde(default)]
    key: Option<Value>,
    #[serde(default)]
    client_ca: Option<Value>,
    #[serde(default)]
    cipher_suites: Option<Value>,
    #[serde(default)]
    curve_preferences: Option<Value>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<Value>,
    #[serde(default)]
    client_allowed_sans: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    /// Accepted for compatibility; this exporter serves HTTP/1.1 only.
    #[serde(default)]
    #[allow(dead_code)]
    http2: Option<bool>,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
}

/// Decodes and validates web config text. `file` names it in errors; relative paths resolve
/// against `base` (the web config file's directory).
pub fn parse(text: &str, file: &str, base: &Path) -> Result<WebConfig, WebConfigError> {
    let err = |path: &str, message: String| WebConfigError {
        file: file.to_string(),
        path: path.to_string(),
        message,
    };
    let value: Value = serde_yaml::from_str(text).map_err(|e| {
        err(
            "",
            format!("not valid YAML: {e}; fix the syntax at that position"),
        )
    })?;
    if value.is_null() {
        // exporter-toolkit accepts an empty file: plain HTTP, no authentication.
        return Ok(WebConfig::default());
    }
    let raw: RawWebConfig = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let message = e.into_inner().to_string();
        let message = if message.starts_with("unknown field") {
            format!("{message}; remove it or fix its spelling")
        } else {
            message
        };
        err(&path, message)
    })?;
    if raw.rate_limit.is_some() {
        return Err(err(
            "rate_limit",
            "is not supported by huaweicloud-exporter; remove it (rate-limit in front of the exporter instead)".into(),
        ));
    }
    let tls = match raw.tls_server_config {
        None => None,
        Some(t) => Some(validate_tls(t, base).map_err(|(p, m)| err(&p, m))?),
    };
    let mut users = BTreeMap::new();
    for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
        let hash = secrecy::ExposeSecret::expose_secret(&hash.into_secret()).to_string();
        let path = format!("basic_auth_users.{user}");
        if user.is_empty() {
            return Err(err(
                "basic_auth_users",
                "has an empty user name; name every user".into(),
            ));
        }
        if user.contains(':') {
            return Err(err(
                &path,
                "user names cannot contain ':' (HTTP basic auth splits user and password at the first ':'); rename the user".into(),
            ));
        }
        // The hash itself never goes into a message.
        if hash.parse::<bcrypt::HashParts>().is_err() {
            return Err(err(
                &path,
                "is not a bcrypt hash ($2y$<cost>$ followed by 53 characters); hash the password with bcrypt, e.g. `htpasswd -nBC 10 \"\" | tr -d ':\\n'`".into(),
            ));
        }
        users.insert(user, hash);
    }
    let mut headers = Vec::new();
    let raw_headers = raw
        .http_server_config
        .and_then(|h| h.headers)
        .unwrap_or_default();
    for (name, value) in raw_headers {
        let path = format!("http_server_config.headers.{name}");
        let Some((canonical, allowed)) = ALLOWED_HEADERS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        else {
            let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
            return Err(err(
                &path,
                format!(
                    "HTTP header {name:?} can not be configured; use one of {}",
                    names.join(", ")
                ),
            ));
        };
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(err(
                &path,
                format!("{value:?} is not allowed; use one of {allowed:?}"),
            ));
        }
        let Ok(header_value) = HeaderValue::from_str(&value) else {
            return Err(err(
                &path,
                "is not a valid header value (control characters or non-ASCII); fix the value"
                    .into(),
            ));
        };
        headers.push((HeaderName::from_static(lower(canonical)), header_value));
    }
    Ok(WebConfig {
        tls,
        users,
        headers,
    })
}

/// `HeaderName::from_static` wants lower case.
fn lower(name: &str) -> &'static str {
    match name {
        "Strict-Transport-Security" => "strict-transport-security",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-Frame-Options" => "x-frame-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "content-security-policy",
    }
}

fn validate_tls(t: RawTls, base: &Path) -> Result<TlsSettings, (String, String)> {
    let at = |field: &str| format!("tls_server_config.{field}");
    for (field, present, reason) in [
        ("cert", t.cert.is_some(), "inline certificates are not supported; put the PEM in a file and set cert_file"),
        ("key", t.key.is_some(), "inline keys are not supported; put the PEM in a file and set key_file"),
        ("client_ca", t.client_ca.is_some(), "inline CAs are not supported; put the PEM in a file and set client_ca_file"),
        ("cipher_suites", t.cipher_suites.is_some(), "is not supported (rustls offers only modern AEAD suites); remove it"),
        ("curve_preferences", t.curve_preferences.is_some(), "is not supported (rustls picks X25519, P-256, P-384); remove it"),
        ("prefer_server_cipher_suites", t.prefer_server_cipher_suites.is_some(), "is not supported (rustls always prefers the server's order); remove it"),
        ("client_allowed_sans", t.client_allowed_sans.is_some(), "is not supported by huaweicloud-exporter; remove it and issue client certificates from a dedicated CA instead"),
    ] {
        if present {
            return Err((at(field), reason.to_string()));
        }
    }
    let path = |field: &str, v: Option<String>| -> Result<Option<PathBuf>, (String, String)> {
        match v {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Err((
                at(field),
                "is empty; set a path or remove the key".to_string(),
            )),
            Some(s) => Ok(Some(base.join(s))),
        }
    };
    let cert_file = path("cert_file", t.cert_file)?.ok_or_else(|| {
        (
            at("cert_file"),
            "is missing; set it to the PEM certificate chain, or remove tls_server_config to serve plain HTTP".to_string(),
        )
    })?;
    let key_file = path("key_file", t.key_file)?.ok_or_else(|| {
        (
            at("key_file"),
            "is missing; set it to the PEM private key of cert_file".to_string(),
        )
    })?;
    let client_ca_file = path("client_ca_file", t.client_ca_file)?;
    let auth_name = t.client_auth_type.unwrap_or_default();
    let client_auth = ClientAuth::parse(&auth_name).ok_or_else(|| {
        (
            at("client_auth_type"),
            format!(
                "{auth_name:?} is not a client auth type; use one of {}",
                ClientAuth::NAMES
            ),
        )
    })?;
    if client_ca_file.is_some() && client_auth == ClientAuth::NoClientCert {
        return Err((
            at("client_auth_type"),
            "client_ca_file is set but no client certificate is asked for; set client_auth_type (e.g. RequireAndVerifyClientCert) or remove client_ca_file".to_string(),
        ));
    }
    if client_auth.verifies() && client_ca_file.is_none() {
        return Err((
            at("client_ca_file"),
            format!("is missing; client_auth_type {auth_name} verifies client certificates against it, so set it to a PEM CA bundle"),
        ));
    }
    let version = |field: &str, v: Option<String>, default: TlsVersion| match v {
        None => Ok(default),
        Some(s) => TlsVersion::parse(&s).map_err(|m| (at(field), m)),
    };
    let min_version = version("min_version", t.min_version, TlsVersion::Tls12)?;
    let max_version = version("max_version", t.max_version, TlsVersion::Tls13)?;
    if min_version > max_version {
        return Err((
            at("min_version"),
            "is above max_version; lower min_version or raise max_version".to_string(),
        ));
    }
    Ok(TlsSettings {
        cert_file,
        key_file,
        client_ca_file,
        client_auth,
        min_version,
        max_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$04$bLm5hJ0mI2eAu1pP3H4c4.dAYR0gNnDX2z3wH5OQ0Nw3F6NQG0n0G";

    #[test]
    fn full_config_decodes_and_resolves_paths() {
        let text = format!(
            "tls_server_config:\n  cert_file: tls/server.crt\n  key_file: /abs/server.key\n  client_ca_file: ca.pem\n  client_auth_type: RequireAndVerifyClientCert\n  min_version: TLS13\nhttp_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    strict-transport-security: max-age=31536000\nbasic_auth_users:\n  prometheus: \"{HASH}\"\n"
        );
        let cfg = parse(&text, "web.yml", Path::new("/etc/hwc")).unwrap();
        let tls = cfg.tls.as_ref().unwrap();
        assert_eq!(tls.cert_file, Path::new("/etc/hwc/tls/server.crt"));
        assert_eq!(tls.key_file, Path::new("/abs/server.key"));
        assert_eq!(
            tls.client_ca_file.as_deref(),
            Some(Path::new("/etc/hwc/ca.pem"))
        );
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerifyClientCert);
        assert_eq!(tls.min_version, TlsVersion::Tls13);
        assert_eq!(tls.max_version, TlsVersion::Tls13);
        assert_eq!(cfg.users.get("prometheus").map(String::as_str), Some(HASH));
        assert_eq!(cfg.headers.len(), 2);
        assert!(!format!("{cfg:?}").contains(HASH));
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../../web-config.example.yml");
        let cfg = parse(text, "web-config.example.yml", Path::new("/etc/hwc")).unwrap();
        assert!(cfg.tls.is_some());
        assert_eq!(cfg.users.len(), 1);
        assert_eq!(cfg.headers.len(), 3);
    }

    #[test]
    fn empty_file_means_plain_http_without_auth() {
        assert_eq!(
            parse("", "web.yml", Path::new(".")).unwrap(),
            WebConfig::default()
        );
    }
}
