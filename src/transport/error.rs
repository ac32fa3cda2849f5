//! Turning an HTTP answer into success or a classified [`ApiError`]: the status decides the
//! [`ErrorKind`], the documented error body gives the code and message, and a 3xx names only the
//! host its `Location` points at.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;

use crate::metrics::bounded_id;
use crate::transport::request::{Operation, Reply};
use crate::upstream::{truncate, ApiError, ErrorKind};

/// The documented service error body.
#[derive(Deserialize, Default)]
struct ErrorBody {
    /// DDM's current pages spell it `errCode`.
    #[serde(default, alias = "errCode")]
    error_code: Option<String>,
    /// DDM's current pages spell it `externalMessage`.
    #[serde(default, alias = "externalMessage")]
    error_msg: Option<String>,
    /// IAM's shape: `{"error": {"code", "message", "title"}}`.
    #[serde(default)]
    error: Option<IamError>,
}

/// IAM's error object.
#[derive(Deserialize, Default)]
struct IamError {
    /// What went wrong.
    #[serde(default)]
    message: Option<String>,
    /// The status's name (`Unauthorized`), when there is no message.
    #[serde(default)]
    title: Option<String>,
}

/// Turns an HTTP answer into success or a classified error.
pub fn classify(op: &'static Operation, status: StatusCode, reply: &Reply) -> Result<(), ApiError> {
    let base = |kind: ErrorKind| ApiError {
        kind,
        operation: op.name,
        status: Some(status.as_u16()),
        code: None,
        message: String::new(),
        request_id: reply.request_id.clone(),
        retry_after: None,
    };
    if status.is_success() {
        // An error inside a 200 (KooPhone's `error_code`) is read with the payload, in one
        // pass, by the service's decoder (a `BodyError::Api`).
        return Ok(());
    }
    if status.is_redirection() {
        let mut e = base(ErrorKind::Redirect);
        e.message = format!(
            "redirected to {}; redirects are never followed (credentials go only to the configured endpoint)",
            location_host(&reply.headers)
        );
        return Err(e);
    }
    let kind = match status.as_u16() {
        429 => ErrorKind::Throttled,
        401 => ErrorKind::Unauthorized,
        500..=599 => ErrorKind::ServerError,
        _ => ErrorKind::ClientError,
    };
    let mut e = base(kind);
    let body: ErrorBody = serde_json::from_slice(&reply.body).unwrap_or_default();
    e.code = body.error_code.as_deref().and_then(bounded_id);
    e.message = body
        .error_msg
        .or_else(|| {
            body.error
                .map(|i| i.message.or(i.title).unwrap_or_default())
        })
        .unwrap_or_else(|| {
            if reply.body.is_empty() {
                String::new()
            } else {
                "(body is not the documented error JSON)".to_string()
            }
        });
    truncate(&mut e.message, 200);
    e.retry_after = reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    Err(e)
}

/// The host a 3xx's `Location` names, for the log line: bounded, only the characters a host
/// name or address holds, never the path or query (they may carry anything). A relative
/// `Location` names the same host.
pub fn location_host(headers: &HeaderMap) -> String {
    let Some(raw) = headers.get(reqwest::header::LOCATION) else {
        return "no Location header".into();
    };
    let Ok(text) = raw.to_str() else {
        return "a Location that is not text".into();
    };
    let text = text.trim();
    if !text.contains("://") && !text.starts_with("//") {
        return "a relative Location on the same host".into();
    }
    let url = if text.starts_with("//") {
        reqwest::Url::parse(&format!("http:{text}"))
    } else {
        reqwest::Url::parse(text)
    };
    match url.ok().and_then(|u| {
        let host = u.host_str()?.to_string();
        Some(match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        })
    }) {
        Some(host) => {
            let mut clean: String = host
                .chars()
                .filter(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_')
                })
                .collect();
            truncate(&mut clean, 100);
            format!("host {clean:?}")
        }
        None => "a Location that is not a URL".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::header::HeaderValue;

    fn with_location(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::LOCATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn the_location_host_is_named_never_its_path_or_query() {
        assert_eq!(
            location_host(&with_location(
                "https://evil.example.com:8443/v3/auth/tokens?token=abc"
            )),
            "host \"evil.example.com:8443\""
        );
        assert_eq!(
            location_host(&with_location("//other.example/x?y")),
            "host \"other.example\""
        );
        assert_eq!(
            location_host(&with_location("/v2/elsewhere?secret=1")),
            "a relative Location on the same host"
        );
        assert_eq!(
            location_host(&with_location("http://user:pw@[::1]:9/")),
            "host \"[::1]:9\""
        );
        assert_eq!(location_host(&HeaderMap::new()), "no Location header");
        let long = format!("http://{}.example/", "a".repeat(300));
        let named = location_host(&with_location(&long));
        assert!(named.len() < 120, "{named}");
        assert_eq!(
            location_host(&with_location("http://%zz/")),
            "a Location that is not a URL"
        );
    }

    #[test]
    fn a_3xx_is_a_redirect_error() {
        let reply = Reply {
            status: 307,
            body: Bytes::new(),
            request_id: Some("r".into()),
            headers: with_location("http://other.example/x"),
        };
        const READ: Operation = Operation {
            service: "svc",
            name: "Read",
            idempotent: true,
            sends_request_id: false,
            budget: None,
            iam: None,
        };
        let e = classify(&READ, StatusCode::TEMPORARY_REDIRECT, &reply).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Redirect);
        assert_eq!(e.kind.result(), "redirect");
        assert!(!e.retryable());
        assert!(e.message.contains("other.example"), "{e}");
    }
}
