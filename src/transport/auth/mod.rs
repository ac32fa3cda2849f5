//! Authentication: the IAM token provider (`token`, with the token request itself in
//! `password`) and AK/SK request signing.

mod password;
pub mod signer;
pub mod token;

pub use password::IAM_TOKEN;

use std::time::SystemTime;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;

use crate::transport::request::Request;

/// Signs `req` with `SDK-HMAC-SHA256` as the official SDKs do. Returns the headers to send and
/// the URL to send to (its query exactly as signed).
pub fn sign_request(
    req: &Request,
    project_id: &str,
    access_key: &str,
    secret_key: &SecretString,
    now: SystemTime,
) -> Result<(HeaderMap, String), String> {
    let base =
        reqwest::Url::parse(&req.base).map_err(|e| format!("bad endpoint {}: {e}", req.base))?;
    let host = match (base.host_str(), base.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return Err(format!("endpoint {} has no host", req.base)),
    };
    let prefix = base.path().trim_end_matches('/');
    let path = format!("{prefix}{}", req.path);
    let headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("X-Project-Id".to_string(), project_id.to_string()),
    ];
    let body = req.body.as_deref().unwrap_or(&[]);
    let signed = signer::sign(
        &signer::SignInput {
            method: req.method.as_str(),
            host: &host,
            path: &path,
            query: &req.query,
            headers: &headers,
            body,
        },
        access_key,
        secret_key,
        now,
    )
    .map_err(|e| format!("cannot sign the request: {e}"))?;
    let mut out = HeaderMap::new();
    for (name, value) in &signed.headers {
        // reqwest sets Host from the URL, which is the authority we signed.
        if name.eq_ignore_ascii_case("host") {
            continue;
        }
        let n =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header {name}: {e}"))?;
        let mut v =
            HeaderValue::from_bytes(value.as_bytes()).map_err(|e| format!("header {name}: {e}"))?;
        if name.eq_ignore_ascii_case("authorization") {
            v.set_sensitive(true);
        }
        out.append(n, v);
    }
    let url = format!(
        "{}://{}{}",
        base.scheme(),
        host,
        signed.path_and_query(&path)
    );
    Ok((out, url))
}
