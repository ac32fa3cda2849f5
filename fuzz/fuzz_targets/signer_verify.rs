//! `auth::signer::verify` on an arbitrary request. The input is split on 0xFF into method, path,
//! raw query, Authorization, X-Sdk-Date, Host, X-Sdk-Content-Sha256, an extra `name:value`
//! header, and the body. The clock is set to the request's own date when it parses, so the
//! checks after the skew check are reached too.
#![no_main]
use libfuzzer_sys::fuzz_target;

use huaweicloud_exporter::transport::auth::signer::{parse_sdk_date, verify, ReceivedRequest};
use secrecy::SecretString;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\u{ff}');
    let mut next = || parts.next().unwrap_or("").to_string();
    let method = next();
    let path = next();
    let raw_query = next();
    let authorization = next();
    let date = next();
    let host = next();
    let content_sha = next();
    let extra = next();
    let body = next();
    let mut headers = vec![
        ("Authorization".to_string(), authorization),
        ("X-Sdk-Date".to_string(), date.clone()),
        ("host".to_string(), host),
    ];
    if !content_sha.is_empty() {
        headers.push(("X-Sdk-Content-Sha256".to_string(), content_sha));
    }
    if let Some((k, v)) = extra.split_once(':') {
        headers.push((k.to_string(), v.to_string()));
    }
    let now = parse_sdk_date(date.trim()).unwrap_or(std::time::UNIX_EPOCH);
    let secret = SecretString::from("fuzz-secret-key".to_string());
    let req = ReceivedRequest {
        method: &method,
        path: &path,
        raw_query: &raw_query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let _ = verify(&req, |_| Some(&secret), now);
});
