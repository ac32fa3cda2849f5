//! The canonical forms `SDK-HMAC-SHA256` signs, as Huawei's SDK builds them: canonical URI,
//! query and headers, the payload hash, the canonical request, the string to sign and the
//! signature. Shared by the signing side and the verifying side.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::transport::url::encode_component;

/// HMAC-SHA256, keyed by the secret key.
type HmacSha256 = Hmac<Sha256>;

/// The algorithm name, first word of the `Authorization` header and first line
/// of the string to sign.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// Header the SDK adds for non-JSON content types.
pub const HEADER_CONTENT_SHA256: &str = "X-Sdk-Content-Sha256";
/// Hex SHA-256 of the empty string: the payload hash of an empty body.
pub const EMPTY_BODY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// What is signed instead of the body hash for a non-JSON content type.
pub(super) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Python's `str.strip()` whitespace: Unicode White_Space plus U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

pub(super) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Lower-cased names of the headers to sign (all without `_`), sorted.
/// Like the SDK, a name present twice in different case is listed twice.
pub(super) fn signed_header_names(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .filter(|(k, _)| !k.contains('_'))
        .map(|(k, _)| k.to_lowercase())
        .collect();
    names.sort();
    names
}

/// The payload hash the SDK signs: empty body -> hash of nothing; else a
/// non-empty `X-Sdk-Content-Sha256` header value; else hex SHA-256 of the body.
pub(super) fn payload_hash(headers: &[(String, String)], body: &[u8]) -> String {
    if body.is_empty() {
        return EMPTY_BODY_SHA256.to_owned();
    }
    if let Some((_, v)) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(HEADER_CONTENT_SHA256))
    {
        if !v.is_empty() {
            return v.clone();
        }
    }
    hex::encode(Sha256::digest(body))
}

/// Canonical request for already-final headers (Host and X-Sdk-Date included).
pub(super) fn build_canonical_request(
    method: &str,
    path: &str,
    canonical_query: &str,
    headers: &[(String, String)],
    signed_names: &[String],
    payload_hash: &str,
) -> String {
    let mut out = String::with_capacity(256 + path.len() + canonical_query.len());
    out.push_str(&method.to_uppercase());
    out.push('\n');
    out.push_str(&canonical_uri(path));
    out.push('\n');
    out.push_str(canonical_query);
    out.push('\n');
    for name in signed_names {
        // The SDK keeps the last value for a lower-cased name.
        let value = headers
            .iter()
            .rev()
            .find(|(k, _)| k.to_lowercase() == *name)
            .map(|(_, v)| py_strip(v))
            .unwrap_or("");
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_names.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// The canonical request for `method`, `path` (as sent), raw `query` pairs,
/// the *final* headers (including `Host` and `X-Sdk-Date`; every header
/// without `_` is signed) and `body`.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    body: &[u8],
) -> String {
    let names = signed_header_names(headers);
    build_canonical_request(
        method,
        path,
        &canonical_query_string(query),
        headers,
        &names,
        &payload_hash(headers, body),
    )
}

/// `SDK-HMAC-SHA256\n<X-Sdk-Date>\n<hex sha256 of canonical request>`.
pub fn string_to_sign(x_sdk_date: &str, canonical_request: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("{ALGORITHM}\n{x_sdk_date}\n{hash}")
}

/// Hex HMAC-SHA256 of `string_to_sign` keyed by the secret key.
pub fn signature_hex(secret_key: &SecretString, string_to_sign: &str) -> String {
    hex::encode(
        hmac_sha256(secret_key, string_to_sign)
            .finalize()
            .into_bytes(),
    )
}

pub(super) fn hmac_sha256(secret_key: &SecretString, data: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail; fall back to an
    // empty-key MAC rather than panic if the crate ever says otherwise.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret_key.expose_secret().as_bytes())
        .unwrap_or_else(|_| <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default()));
    mac.update(data.as_bytes());
    mac
}

/// Percent-decode like Python's `unquote`: valid `%XX` escapes are decoded,
/// invalid ones left as they are, `+` is left alone, and the bytes are read
/// as UTF-8 with invalid sequences replaced by U+FFFD.
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    if !bytes.contains(&b'%') {
        return s.to_owned();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Canonical URI: decode the path, split on `/`, encode each segment, join
/// with `/`, and append `/` unless it already ends in one.
pub fn canonical_uri(path: &str) -> String {
    let decoded = url_decode(path);
    let mut out = String::with_capacity(decoded.len() + 8);
    for (i, seg) in decoded.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&encode_component(seg));
    }
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Canonical query string (also the query string to send): raw pairs sorted
/// by key then value, each encoded with [`encode_component`], `k=v` joined by `&`.
pub fn canonical_query_string(query: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = query.iter().collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&encode_component(k));
        out.push('=');
        out.push_str(&encode_component(v));
    }
    out
}

/// Split a raw (as received) query string into decoded pairs: `&`-separated,
/// first `=` splits key from value (no `=`: empty value), empty segments
/// skipped, both sides decoded with [`url_decode`].
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (url_decode(k), url_decode(v)),
            None => (url_decode(s), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn decoding_matches_python_unquote() {
        for (raw, decoded) in [("a%20b+%2f%zz%4", "a b+/%zz%4"), ("%FF", "\u{fffd}")] {
            assert_eq!(url_decode(raw), decoded, "{raw}");
        }
    }

    #[test]
    fn the_canonical_uri_splits_on_decoded_slashes_and_ends_in_one() {
        for (path, canonical) in [
            ("/", "/"),
            ("/v1/x/", "/v1/x/"),
            ("/v1/a%2Fb", "/v1/a/b/"),
            ("/v1/a:b", "/v1/a%3Ab/"),
        ] {
            assert_eq!(canonical_uri(path), canonical, "{path}");
        }
    }

    #[test]
    fn query_sorting_and_parsing() {
        let q = s(&[("b", "2"), ("a", "z"), ("a", "y"), ("c", "")]);
        assert_eq!(canonical_query_string(&q), "a=y&a=z&b=2&c=");
        assert_eq!(
            parse_query("a=y&&a=z&b=2&c"),
            s(&[("a", "y"), ("a", "z"), ("b", "2"), ("c", "")])
        );
    }
}
