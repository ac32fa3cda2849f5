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

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The algorithm name, first word of the `Authorization` header and first line
/// of the string to sign.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// Header carrying the signing time, `YYYYMMDDTHHMMSSZ` in UTC.
pub const HEADER_X_SDK_DATE: &str = "X-Sdk-Date";
/// Header the SDK adds for non-JSON content types.
pub const HEADER_CONTENT_SHA256: &str = "X-Sdk-Content-Sha256";
/// Hex SHA-256 of the empty string: the payload hash of an empty body.
pub const EMPTY_BODY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Largest accepted difference between `X-Sdk-Date` and the verifier's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

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

/// Python's `str.strip()` whitespace: Unicode White_Space plus U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Lower-cased names of the headers to sign (all without `_`), sorted.
/// Like the SDK, a name present twice in different case is listed twice.
fn signed_header_names(headers: &[(String, String)]) -> Vec<String> {
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
fn payload_hash(headers: &[(String, String)], body: &[u8]) -> String {
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
fn build_canonical_request(
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

fn hmac_sha256(secret_key: &SecretString, data: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail; fall back to an
    // empty-key MAC rather than panic if the crate ever says otherwise.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret_key.expose_secret().as_bytes())
        .unwrap_or_else(|_| <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default()));
    mac.update(data.as_bytes());
    mac
}

/// Percent-encode like Python's `quote(s, safe='~')`: only
/// `A–Z a–z 0–9 - _ . ~` are left bare, everything else is `%XX` (upper-case
/// hex) of its UTF-8 bytes.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
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
        out.push_str(&url_encode(seg));
    }
    if !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Canonical query string (also the query string to send): raw pairs sorted
/// by key then value, each encoded with [`url_encode`], `k=v` joined by `&`.
pub fn canonical_query_string(query: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = query.iter().collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&url_encode(k));
        out.push('=');
        out.push_str(&url_encode(v));
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

// ---------------------------------------------------------------------------
// X-Sdk-Date

/// Format `t` as `YYYYMMDDTHHMMSSZ` in UTC, dropping sub-seconds.
pub fn format_sdk_date(t: SystemTime) -> String {
    let secs: i64 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            // Before the epoch: floor to the whole second below.
            let d = e.duration();
            let s = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() > 0 {
                -s - 1
            } else {
                -s
            }
        }
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Parse a `YYYYMMDDTHHMMSSZ` value; `None` unless it is exactly that shape
/// and a valid date and time.
pub fn parse_sdk_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            Some(part.iter().fold(0i64, |a, &c| a * 10 + i64::from(c - b'0')))
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59
    {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se;
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01; inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// ---------------------------------------------------------------------------
// Verification (simulator side)

/// A request as a server received it.
#[derive(Debug, Clone, Copy)]
pub struct ReceivedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// The path as received (still percent-encoded).
    pub path: &'a str,
    /// The raw query string after `?` (empty when there was none).
    pub raw_query: &'a str,
    /// All received headers, any case.
    pub headers: &'a [(String, String)],
    /// The received body.
    pub body: &'a [u8],
}

/// A request [`verify`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The access key that signed it.
    pub access_key: String,
}

/// Why [`verify`] rejected a request. Never holds a secret key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The `Authorization` header does not use `SDK-HMAC-SHA256`.
    #[error("unsupported signing algorithm")]
    UnsupportedAlgorithm,
    /// The `Authorization` header could not be parsed.
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(&'static str),
    /// `X-Sdk-Date` is not `YYYYMMDDTHHMMSSZ`.
    #[error("malformed X-Sdk-Date {0:?}")]
    MalformedDate(String),
    /// `X-Sdk-Date` differs from the server clock by more than 15 minutes.
    #[error("X-Sdk-Date {date} is {skew_secs}s away from the server clock (max 900s)")]
    ClockSkew {
        /// The received `X-Sdk-Date`.
        date: String,
        /// Absolute difference in seconds.
        skew_secs: u64,
    },
    /// `host` or `x-sdk-date` is not among the signed headers.
    #[error("header {0} must be signed")]
    HeaderNotSigned(&'static str),
    /// A header listed in `SignedHeaders` was not received.
    #[error("signed header {0:?} not present in request")]
    SignedHeaderMissing(String),
    /// No secret key is known for the access key.
    #[error("unknown access key {0:?}")]
    UnknownAccessKey(String),
    /// The signature does not match.
    #[error("signature mismatch")]
    BadSignature,
}

/// Verify a received `SDK-HMAC-SHA256` request.
///
/// `lookup` maps an access key to its secret key. Checks, in order: the
/// `Authorization` header is present and well formed; `X-Sdk-Date` is present,
/// well formed and within [`MAX_CLOCK_SKEW`] of `now`; `host` and
/// `x-sdk-date` are signed and every signed header is present; the access key
/// is known; the signature matches (compared in constant time). The query is
/// decoded with [`parse_query`] and re-canonicalised, so a query sent in any
/// order or encoding of the same pairs verifies.
pub fn verify<'s, F>(
    req: &ReceivedRequest<'_>,
    lookup: F,
    now: SystemTime,
) -> Result<Verified, VerifyError>
where
    F: FnOnce(&str) -> Option<&'s SecretString>,
{
    let find = |name: &str| -> Option<&str> {
        req.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };

    let auth = find("authorization").ok_or(VerifyError::MissingHeader("Authorization"))?;
    let rest = auth
        .trim()
        .strip_prefix(ALGORITHM)
        .ok_or(VerifyError::UnsupportedAlgorithm)?;
    if !rest.starts_with(' ') {
        return Err(VerifyError::UnsupportedAlgorithm);
    }
    let (mut access, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Access=") {
            access = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v);
        } else {
            return Err(VerifyError::MalformedAuthorization("unexpected field"));
        }
    }
    let access = access
        .filter(|a| !a.is_empty())
        .ok_or(VerifyError::MalformedAuthorization("no Access"))?;
    let signed = signed
        .filter(|s| !s.is_empty())
        .ok_or(VerifyError::MalformedAuthorization("no SignedHeaders"))?;
    let sig = sig.ok_or(VerifyError::MalformedAuthorization("no Signature"))?;
    let sig_bytes = hex::decode(sig)
        .map_err(|_| VerifyError::MalformedAuthorization("Signature is not hex"))?;

    let date = find(HEADER_X_SDK_DATE).ok_or(VerifyError::MissingHeader("X-Sdk-Date"))?;
    let date = py_strip(date);
    let signed_at =
        parse_sdk_date(date).ok_or_else(|| VerifyError::MalformedDate(date.to_owned()))?;
    let skew = match now.duration_since(signed_at) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > MAX_CLOCK_SKEW {
        return Err(VerifyError::ClockSkew {
            date: date.to_owned(),
            skew_secs: skew.as_secs(),
        });
    }

    let names: Vec<String> = signed.split(';').map(str::to_owned).collect();
    if !names.iter().any(|n| n == "host") {
        return Err(VerifyError::HeaderNotSigned("host"));
    }
    if !names.iter().any(|n| n == "x-sdk-date") {
        return Err(VerifyError::HeaderNotSigned("x-sdk-date"));
    }
    let mut signed_values: Vec<(String, String)> = Vec::with_capacity(names.len());
    for n in &names {
        let v = find(n).ok_or_else(|| VerifyError::SignedHeaderMissing(n.clone()))?;
        signed_values.push((n.clone(), v.to_owned()));
    }

    let secret = lookup(access).ok_or_else(|| VerifyError::UnknownAccessKey(access.to_owned()))?;

    // Payload: like the SDK, an X-Sdk-Content-Sha256 header stands in for the
    // body hash when the body is not empty.
    let mut payload_headers = signed_values.clone();
    if let Some(v) = find(HEADER_CONTENT_SHA256) {
        payload_headers.push((HEADER_CONTENT_SHA256.to_owned(), py_strip(v).to_owned()));
    }
    let canonical = build_canonical_request(
        req.method,
        req.path,
        &canonical_query_string(&parse_query(req.raw_query)),
        &signed_values,
        &names,
        &payload_hash(&payload_headers, req.body),
    );
    let sts = string_to_sign(date, &canonical);
    hmac_sha256(secret, &sts)
        .verify_slice(&sig_bytes)
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(Verified {
        access_key: access.to_owned(),
    })
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
    fn sdk_date_round_trips() {
        for (secs, txt) in [
            (0u64, "19700101T000000Z"),
            (951_782_400, "20000229T000000Z"),
            (1_709_251_199, "20240229T235959Z"),
            (1_573_789_015, "20191115T033655Z"),
            (4_102_444_800, "21000101T000000Z"),
        ] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(format_sdk_date(t), txt);
            assert_eq!(parse_sdk_date(txt), Some(t));
        }
        let t = UNIX_EPOCH + Duration::from_millis(1_573_789_015_999);
        assert_eq!(format_sdk_date(t), "20191115T033655Z");
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(format_sdk_date(before), "19691231T235959Z");
        assert_eq!(parse_sdk_date("19691231T235959Z"), Some(before));
        for bad in [
            "",
            "20190229T000000Z",
            "20191115T246000Z",
            "20191115 033655Z",
            "2019111T5033655Z",
            "20191315T033655Z",
            "+0191115T033655Z",
            "20191115T033655",
        ] {
            assert_eq!(parse_sdk_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn encoding_matches_python_quote() {
        assert_eq!(url_encode("aZ09-_.~"), "aZ09-_.~");
        assert_eq!(url_encode("a b+/=&ü"), "a%20b%2B%2F%3D%26%C3%BC");
        assert_eq!(url_decode("a%20b+%2f%zz%4"), "a b+/%zz%4");
        assert_eq!(url_decode("%FF"), "\u{fffd}");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/v1/x/"), "/v1/x/");
        assert_eq!(canonical_uri("/v1/a%2Fb"), "/v1/a/b/");
        assert_eq!(canonical_uri("/v1/a:b"), "/v1/a%3Ab/");
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

    #[test]
    fn sign_rejects_bad_input() {
        let sk = SecretString::from("sk");
        let h = s(&[("x-sdk-date", "20191115T033655Z")]);
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
