//! The receiving side of `SDK-HMAC-SHA256` ([`verify`]), which the simulator uses to check
//! what the exporter signs: the `Authorization` header parsed, `X-Sdk-Date` within
//! [`MAX_CLOCK_SKEW`], the signed headers present, the signature recomputed and compared in
//! constant time.

use std::time::{Duration, SystemTime};

use hmac::Mac;
use secrecy::SecretString;

use crate::transport::auth::signer::canonical::{
    build_canonical_request, canonical_query_string, hmac_sha256, parse_query, payload_hash,
    py_strip, string_to_sign, ALGORITHM, HEADER_CONTENT_SHA256,
};
use crate::transport::auth::signer::date::{parse_sdk_date, HEADER_X_SDK_DATE};

/// Largest accepted difference between `X-Sdk-Date` and the verifier's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

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
