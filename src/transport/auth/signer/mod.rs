//! The AK/SK request signer `SDK-HMAC-SHA256`, byte-identical to Huawei's
//! official SDKs (checked against `huaweicloudsdkcore` 3.1.219,
//! `huaweicloudsdkcore/signer/signer.py`), and its server-side counterpart
//! [`verify`] for the simulator.
//!
//! This module owns: canonical URI / query / headers, the canonical request,
//! the string to sign, the signature and `Authorization` header, the
//! `X-Sdk-Date` format, and the exact query string that must go on the wire.
//! It does no I/O and reads no clock: the time is always a parameter.
//!
//! What the SDK does, and so what [`sign`] does:
//! * canonical URI: the path is percent-*decoded* (like Python's `unquote`,
//!   invalid escapes left as they are, invalid UTF-8 replaced by U+FFFD),
//!   split on `/` (so an encoded `%2F` becomes a separator), each segment
//!   re-encoded leaving only `A–Z a–z 0–9 - _ . ~` bare, and a `/` appended
//!   unless it already ends in one. The path *sent* is the caller's path,
//!   unchanged.
//! * canonical query: pairs sorted by (key, value) on the raw strings, both
//!   encoded like path segments, `k=v` joined by `&`; an empty value gives
//!   `k=`; repeated keys are all kept. This string is also exactly what must
//!   be sent after `?` ([`Signed::canonical_query`]).
//! * headers: names lower-cased, values trimmed of whitespace (and the values
//!   sent are the trimmed ones); every header whose name has no `_` is signed;
//!   `Host` is added (value = the URL authority, port included whenever the
//!   URL has one) unless the caller already has a `Host` header.
//! * if the caller sends `Content-Type` (exactly that spelling) with a value
//!   not starting with `application/json` or `application/bson`, the SDK adds
//!   `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD` and, for a non-empty body,
//!   signs the literal `UNSIGNED-PAYLOAD` instead of the body hash.
//! * an empty body hashes to SHA-256 of nothing.
//!
//! What the SDK's *client* adds before signing is the caller's business and
//! must be in [`SignInput::headers`]: `X-Project-Id` (BasicCredentials with a
//! project id), `Content-Type: application/json` (the client's default),
//! `User-Agent`.
//!
//! Files: this one signs ([`sign`]); `canonical` builds the canonical request, the string to
//! sign and the signature; `date` formats and parses `X-Sdk-Date`; `verify` is the receiving
//! side. They import from `canonical` and `date` only, never through this file.

mod canonical;
mod date;
mod verify;

use std::time::SystemTime;

use secrecy::{ExposeSecret, SecretString};

use canonical::{
    build_canonical_request, payload_hash, py_strip, signed_header_names, UNSIGNED_PAYLOAD,
};

pub use canonical::{
    canonical_query_string, canonical_request, canonical_uri, parse_query, signature_hex,
    string_to_sign, url_decode, ALGORITHM, EMPTY_BODY_SHA256, HEADER_CONTENT_SHA256,
};
pub use date::{format_sdk_date, parse_sdk_date, HEADER_X_SDK_DATE};
pub use verify::{verify, ReceivedRequest, Verified, VerifyError, MAX_CLOCK_SKEW};

/// A request to sign.
#[derive(Debug, Clone, Copy)]
pub struct SignInput<'a> {
    /// HTTP method; upper-cased in the canonical request.
    pub method: &'a str,
    /// The URL authority exactly as in the URL the request goes to:
    /// `host` or `host:port`. Used as the `Host` header value unless
    /// `headers` already holds a `Host` header. Note that reqwest/hyper derive
    /// `Host` from the URL and drop a default port (`:443`), so either pass
    /// the authority without a default port or send [`Signed::headers`]'s
    /// `Host` explicitly.
    pub host: &'a str,
    /// The path as it will be sent, already percent-encoded where needed
    /// (e.g. path parameters quoted with nothing left safe, like the SDK's
    /// client does). Must start with `/`.
    pub path: &'a str,
    /// Query parameters, raw (not encoded). Order does not matter.
    pub query: &'a [(String, String)],
    /// The caller's headers (e.g. `Content-Type`, `X-Project-Id`,
    /// `User-Agent`). Must not contain `X-Sdk-Date` or `Authorization`.
    pub headers: &'a [(String, String)],
    /// The exact body bytes that will be sent.
    pub body: &'a [u8],
}

/// The result of [`sign`]: everything the caller must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// Every header to send, in the SDK's order: the caller's headers with
    /// trimmed values, then `X-Sdk-Content-Sha256` (when added), `X-Sdk-Date`,
    /// `Host` (when added), `Authorization`.
    pub headers: Vec<(String, String)>,
    /// Exactly what to put after `?` (empty: send no `?`).
    pub canonical_query: String,
    /// The `X-Sdk-Date` value.
    pub x_sdk_date: String,
    /// The `Authorization` value.
    pub authorization: String,
    /// `;`-joined lower-case names of the signed headers.
    pub signed_headers: String,
    /// The canonical request that was signed (for debugging signature
    /// mismatches; holds no secret).
    pub canonical_request: String,
    /// The string to sign (holds no secret).
    pub string_to_sign: String,
}

impl Signed {
    /// `path` followed by `?` and [`Signed::canonical_query`] when that is not
    /// empty: the request target to send.
    pub fn path_and_query(&self, path: &str) -> String {
        if self.canonical_query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", self.canonical_query)
        }
    }
}

/// Why [`sign`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The access key is empty.
    #[error("access key is empty")]
    EmptyAccessKey,
    /// The secret key is empty.
    #[error("secret key is empty")]
    EmptySecretKey,
    /// The path does not start with `/`.
    #[error("request path must start with '/': {0:?}")]
    InvalidPath(String),
    /// The caller passed a header the signer owns (`X-Sdk-Date`, `Authorization`).
    #[error("header {0:?} is set by the signer and must not be passed in")]
    ReservedHeader(String),
}

/// Sign a request the way Huawei's SDKs do, at time `now`.
///
/// Pure: no I/O, no clock. The secret key never appears in the result or in
/// any error.
pub fn sign(
    input: &SignInput<'_>,
    access_key: &str,
    secret_key: &SecretString,
    now: SystemTime,
) -> Result<Signed, SignError> {
    if access_key.is_empty() {
        return Err(SignError::EmptyAccessKey);
    }
    if secret_key.expose_secret().is_empty() {
        return Err(SignError::EmptySecretKey);
    }
    if !input.path.starts_with('/') {
        return Err(SignError::InvalidPath(input.path.to_owned()));
    }
    for (name, _) in input.headers {
        if name.eq_ignore_ascii_case(HEADER_X_SDK_DATE)
            || name.eq_ignore_ascii_case("authorization")
        {
            return Err(SignError::ReservedHeader(name.clone()));
        }
    }

    let x_sdk_date = format_sdk_date(now);

    // Build the header set exactly as the SDK's dict ends up before signing.
    let mut headers: Vec<(String, String)> = Vec::with_capacity(input.headers.len() + 4);
    headers.extend(input.headers.iter().cloned());
    // Signer._process_content_header: exact-key lookup, untrimmed value.
    let content_type = headers
        .iter()
        .find(|(k, _)| k == "Content-Type")
        .map(|(_, v)| v.as_str());
    if let Some(ct) = content_type {
        if !ct.is_empty()
            && !ct.starts_with("application/json")
            && !ct.starts_with("application/bson")
        {
            set_exact(&mut headers, HEADER_CONTENT_SHA256, UNSIGNED_PAYLOAD);
        }
    }
    headers.push((HEADER_X_SDK_DATE.to_owned(), x_sdk_date.clone()));
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        headers.push(("Host".to_owned(), input.host.to_owned()));
    }
    for (_, v) in headers.iter_mut() {
        let t = py_strip(v);
        if t.len() != v.len() {
            *v = t.to_owned();
        }
    }

    let signed_names = signed_header_names(&headers);
    let payload_hash = payload_hash(&headers, input.body);
    let canonical_query = canonical_query_string(input.query);
    let canonical_request = build_canonical_request(
        input.method,
        input.path,
        &canonical_query,
        &headers,
        &signed_names,
        &payload_hash,
    );
    let string_to_sign = string_to_sign(&x_sdk_date, &canonical_request);
    let signature = signature_hex(secret_key, &string_to_sign);
    let signed_headers = signed_names.join(";");
    let authorization = format!(
        "{ALGORITHM} Access={access_key}, SignedHeaders={signed_headers}, Signature={signature}"
    );
    headers.push(("Authorization".to_owned(), authorization.clone()));

    Ok(Signed {
        headers,
        canonical_query,
        x_sdk_date,
        authorization,
        signed_headers,
        canonical_request,
        string_to_sign,
    })
}

/// Replace the value of the header named exactly `name`, or append it
/// (Python dict assignment semantics).
fn set_exact(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    if let Some(slot) = headers.iter_mut().find(|(k, _)| k == name) {
        slot.1 = value.to_owned();
    } else {
        headers.push((name.to_owned(), value.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn sign_rejects_bad_input() {
        let sk = SecretString::from("sk");
        let h = [("x-sdk-date".to_owned(), "20191115T033655Z".to_owned())];
        let mut input = SignInput {
            method: "GET",
            host: "h",
            path: "/",
            query: &[],
            headers: &h,
            body: b"",
        };
        assert!(matches!(
            sign(&input, "ak", &sk, UNIX_EPOCH),
            Err(SignError::ReservedHeader(_))
        ));
        input.headers = &[];
        input.path = "v1";
        assert!(matches!(
            sign(&input, "ak", &sk, UNIX_EPOCH),
            Err(SignError::InvalidPath(_))
        ));
        input.path = "/";
        assert_eq!(
            sign(&input, "", &sk, UNIX_EPOCH),
            Err(SignError::EmptyAccessKey)
        );
        assert_eq!(
            sign(&input, "ak", &SecretString::from(""), UNIX_EPOCH),
            Err(SignError::EmptySecretKey)
        );
    }
}
