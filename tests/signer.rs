//! The signer against vectors from Huawei's official Python SDK
//! (tests/fixtures/sdk_signer_vectors.json, made by scripts/gen_signer_vectors.py),
//! against the worked example in Huawei's API Request Signing Guide, and
//! `verify` against what `sign` produces.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use huaweicloud_exporter::transport::auth::signer::{
    canonical_request, format_sdk_date, parse_sdk_date, sign, signature_hex, string_to_sign,
    verify, ReceivedRequest, SignInput, Signed, VerifyError,
};
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    access_key: String,
    secret_key: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    id: String,
    method: String,
    host: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    project_id: Option<String>,
    body: Option<String>,
    x_sdk_date: String,
    expected: Expected,
}

#[derive(Deserialize)]
struct Expected {
    canonical_request: String,
    string_to_sign: String,
    authorization: String,
    x_sdk_date: String,
    signed_headers: String,
    canonical_query: String,
    uri: String,
    headers: Vec<(String, String)>,
}

fn fixture() -> Fixture {
    let text = include_str!("fixtures/sdk_signer_vectors.json");
    match serde_json::from_str(text) {
        Ok(f) => f,
        Err(e) => panic!("bad fixture: {e}"),
    }
}

fn date(s: &str) -> SystemTime {
    match parse_sdk_date(s) {
        Some(t) => t,
        None => panic!("bad date {s}"),
    }
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

fn input_headers(v: &Vector) -> Vec<(String, String)> {
    let mut h = v.headers.clone();
    if let Some(pid) = &v.project_id {
        h.push(("X-Project-Id".to_owned(), pid.clone()));
    }
    h
}

fn sign_vector(v: &Vector, ak: &str, sk: &SecretString) -> Signed {
    let headers = input_headers(v);
    let input = SignInput {
        method: &v.method,
        host: &v.host,
        path: &v.path,
        query: &v.query,
        headers: &headers,
        body: v.body.as_deref().unwrap_or("").as_bytes(),
    };
    match sign(&input, ak, sk, date(&v.x_sdk_date)) {
        Ok(s) => s,
        Err(e) => panic!("{}: sign failed: {e}", v.id),
    }
}

#[test]
fn every_sdk_vector_matches() {
    let f = fixture();
    assert!(f.vectors.len() >= 20);
    let sk = SecretString::from(f.secret_key.clone());
    for v in &f.vectors {
        let s = sign_vector(v, &f.access_key, &sk);
        let e = &v.expected;
        assert_eq!(s.canonical_request, e.canonical_request, "{}", v.id);
        assert_eq!(s.string_to_sign, e.string_to_sign, "{}", v.id);
        assert_eq!(s.authorization, e.authorization, "{}", v.id);
        assert_eq!(s.x_sdk_date, e.x_sdk_date, "{}", v.id);
        assert_eq!(s.signed_headers, e.signed_headers, "{}", v.id);
        assert_eq!(s.canonical_query, e.canonical_query, "{}", v.id);
        assert_eq!(s.path_and_query(&v.path), e.uri, "{}", v.id);
        // Same header set as the SDK sends (the SDK's dict order differs only
        // in where X-Sdk-Date and X-Project-Id were inserted).
        assert_eq!(
            sorted(s.headers.clone()),
            sorted(e.headers.clone()),
            "{}",
            v.id
        );

        // The building blocks agree with sign().
        let without_auth: Vec<(String, String)> = s
            .headers
            .iter()
            .filter(|(k, _)| k != "Authorization")
            .cloned()
            .collect();
        let body = v.body.as_deref().unwrap_or("").as_bytes();
        let cr = canonical_request(&v.method, &v.path, &v.query, &without_auth, body);
        assert_eq!(cr, e.canonical_request, "{}", v.id);
        assert_eq!(
            string_to_sign(&v.x_sdk_date, &cr),
            e.string_to_sign,
            "{}",
            v.id
        );

        // And the simulator accepts exactly what the SDK would send.
        let keys = HashMap::from([(f.access_key.clone(), sk.clone())]);
        let req = ReceivedRequest {
            method: &v.method,
            path: &v.path,
            raw_query: &e.canonical_query,
            headers: &e.headers,
            body,
        };
        let now = date(&v.x_sdk_date) + Duration::from_secs(60);
        match verify(&req, |ak| keys.get(ak), now) {
            Ok(ok) => assert_eq!(ok.access_key, f.access_key),
            Err(err) => panic!("{}: verify rejected SDK request: {err}", v.id),
        }
    }
}

/// The worked example of Huawei's "API Request Signing Guide" (Developer
/// Guide > AK/SK Signing and Authentication Algorithm): the VPC list request
/// `GET https://service.region.example.com/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs?limit=2&marker=13551d6b-755d-4757-b956-536f674975c0`
/// with `Content-Type: application/json` and `X-Sdk-Date: 20191115T033655Z`.
/// Canonical request, hashed canonical request, string to sign and
/// Authorization header are the guide's literal values.
#[test]
fn huawei_published_example() {
    const CANONICAL: &str = "GET\n\
/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs/\n\
limit=2&marker=13551d6b-755d-4757-b956-536f674975c0\n\
content-type:application/json\n\
host:service.region.example.com\n\
x-sdk-date:20191115T033655Z\n\
\n\
content-type;host;x-sdk-date\n\
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const STS: &str = "SDK-HMAC-SHA256\n20191115T033655Z\n\
b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a";
    const AUTH: &str = "SDK-HMAC-SHA256 Access=QTWAOYTTINDUT2QVKYUC, \
SignedHeaders=content-type;host;x-sdk-date, \
Signature=7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe";

    let sk = SecretString::from("MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc");
    let query = vec![
        ("limit".to_owned(), "2".to_owned()),
        (
            "marker".to_owned(),
            "13551d6b-755d-4757-b956-536f674975c0".to_owned(),
        ),
    ];
    let headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let input = SignInput {
        method: "GET",
        host: "service.region.example.com",
        path: "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs",
        query: &query,
        headers: &headers,
        body: b"",
    };
    let t = date("20191115T033655Z");
    let s = match sign(&input, "QTWAOYTTINDUT2QVKYUC", &sk, t) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(s.canonical_request, CANONICAL);
    assert_eq!(s.string_to_sign, STS);
    assert_eq!(s.authorization, AUTH);
    assert_eq!(s.x_sdk_date, "20191115T033655Z");
    assert_eq!(format_sdk_date(t), "20191115T033655Z");
    assert_eq!(
        signature_hex(&sk, STS),
        "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
    );
}

struct Case {
    signed: Signed,
    path: String,
    body: Vec<u8>,
    now: SystemTime,
}

const AK: &str = "AKEXAMPLE0123456789";
const SK: &str = "sk-super-secret-value-do-not-print";

fn signed_case() -> Case {
    let query = vec![
        ("limit".to_owned(), "10".to_owned()),
        ("name".to_owned(), "a b/c".to_owned()),
    ];
    let headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("X-Project-Id".to_owned(), "proj".to_owned()),
    ];
    let body = br#"{"x":1}"#.to_vec();
    let path = "/v2/proj/instances/i%20d".to_owned();
    let now = date("20240307T081530Z");
    let input = SignInput {
        method: "POST",
        host: "127.0.0.1:18443",
        path: &path,
        query: &query,
        headers: &headers,
        body: &body,
    };
    let signed = match sign(&input, AK, &SecretString::from(SK), now) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    Case {
        signed,
        path,
        body,
        now,
    }
}

fn run_verify(
    c: &Case,
    headers: &[(String, String)],
    raw_query: &str,
    body: &[u8],
    sk: &str,
    now: SystemTime,
) -> Result<String, VerifyError> {
    let keys = HashMap::from([(AK.to_owned(), SecretString::from(sk))]);
    let req = ReceivedRequest {
        method: "POST",
        path: &c.path,
        raw_query,
        headers,
        body,
    };
    verify(&req, |ak| keys.get(ak), now).map(|v| v.access_key)
}

#[test]
fn verify_accepts_what_sign_produced() {
    let c = signed_case();
    let q = c.signed.canonical_query.clone();
    assert_eq!(
        run_verify(&c, &c.signed.headers, &q, &c.body, SK, c.now),
        Ok(AK.to_owned())
    );
    // Within the 15-minute window on both sides.
    for d in [Duration::from_secs(899), Duration::from_secs(900)] {
        assert!(run_verify(&c, &c.signed.headers, &q, &c.body, SK, c.now + d).is_ok());
        assert!(run_verify(&c, &c.signed.headers, &q, &c.body, SK, c.now - d).is_ok());
    }
    // Header names in another case, query pairs in another order.
    let lower: Vec<(String, String)> = c
        .signed
        .headers
        .iter()
        .map(|(k, v)| (k.to_lowercase(), v.clone()))
        .collect();
    assert!(run_verify(&c, &lower, "name=a%20b%2Fc&limit=10", &c.body, SK, c.now).is_ok());
}

#[test]
fn verify_rejects_tampering() {
    let c = signed_case();
    let q = c.signed.canonical_query.clone();
    let h = &c.signed.headers;
    assert_eq!(
        run_verify(&c, h, &q, br#"{"x":2}"#, SK, c.now),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        run_verify(&c, h, &q, b"", SK, c.now),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        run_verify(&c, h, "limit=11&name=a%20b%2Fc", &c.body, SK, c.now),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        run_verify(&c, h, "limit=10", &c.body, SK, c.now),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        run_verify(&c, h, &q, &c.body, "wrong-secret", c.now),
        Err(VerifyError::BadSignature)
    );
    // A signed header changed.
    let tampered: Vec<(String, String)> = h
        .iter()
        .map(|(k, v)| {
            if k == "X-Project-Id" {
                (k.clone(), "other".to_owned())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    assert_eq!(
        run_verify(&c, &tampered, &q, &c.body, SK, c.now),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn verify_rejects_clock_skew() {
    let c = signed_case();
    let q = c.signed.canonical_query.clone();
    for now in [
        c.now + Duration::from_secs(901),
        c.now - Duration::from_secs(901),
        c.now + Duration::from_secs(86_400),
    ] {
        assert!(matches!(
            run_verify(&c, &c.signed.headers, &q, &c.body, SK, now),
            Err(VerifyError::ClockSkew { .. })
        ));
    }
}

#[test]
fn verify_reports_why() {
    let c = signed_case();
    let q = c.signed.canonical_query.clone();
    let without = |name: &str| -> Vec<(String, String)> {
        c.signed
            .headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
            .cloned()
            .collect()
    };
    let replace = |name: &str, value: &str| -> Vec<(String, String)> {
        c.signed
            .headers
            .iter()
            .map(|(k, v)| {
                if k.eq_ignore_ascii_case(name) {
                    (k.clone(), value.to_owned())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect()
    };
    assert_eq!(
        run_verify(&c, &without("Authorization"), &q, &c.body, SK, c.now),
        Err(VerifyError::MissingHeader("Authorization"))
    );
    assert_eq!(
        run_verify(&c, &without("X-Sdk-Date"), &q, &c.body, SK, c.now),
        Err(VerifyError::MissingHeader("X-Sdk-Date"))
    );
    assert_eq!(
        run_verify(&c, &without("X-Project-Id"), &q, &c.body, SK, c.now),
        Err(VerifyError::SignedHeaderMissing("x-project-id".to_owned()))
    );
    assert!(matches!(
        run_verify(
            &c,
            &replace("X-Sdk-Date", "2024-03-07"),
            &q,
            &c.body,
            SK,
            c.now
        ),
        Err(VerifyError::MalformedDate(_))
    ));
    let other_ak = c.signed.authorization.replace(AK, "AKUNKNOWN");
    assert_eq!(
        run_verify(
            &c,
            &replace("Authorization", &other_ak),
            &q,
            &c.body,
            SK,
            c.now
        ),
        Err(VerifyError::UnknownAccessKey("AKUNKNOWN".to_owned()))
    );
    let other_alg = c
        .signed
        .authorization
        .replace("SDK-HMAC-SHA256", "SDK-HMAC-SM3");
    assert_eq!(
        run_verify(
            &c,
            &replace("Authorization", &other_alg),
            &q,
            &c.body,
            SK,
            c.now
        ),
        Err(VerifyError::UnsupportedAlgorithm)
    );
    let no_host = c.signed.authorization.replace(
        "SignedHeaders=content-type;host;",
        "SignedHeaders=content-type;",
    );
    assert_eq!(
        run_verify(
            &c,
            &replace("Authorization", &no_host),
            &q,
            &c.body,
            SK,
            c.now
        ),
        Err(VerifyError::HeaderNotSigned("host"))
    );
    assert!(matches!(
        run_verify(
            &c,
            &replace("Authorization", "SDK-HMAC-SHA256 Access=x"),
            &q,
            &c.body,
            SK,
            c.now
        ),
        Err(VerifyError::MalformedAuthorization(_))
    ));
}

#[test]
fn secret_key_never_shown() {
    let c = signed_case();
    let sk = SecretString::from(SK);
    assert!(!format!("{sk:?}").contains(SK));
    assert!(!format!("{:?}", c.signed).contains(SK));
    let keys = HashMap::from([(AK.to_owned(), sk)]);
    assert!(!format!("{keys:?}").contains(SK));
    let q = c.signed.canonical_query.clone();
    for now in [c.now, c.now + Duration::from_secs(3600)] {
        for body in [&c.body[..], b"tampered"] {
            if let Err(e) = run_verify(&c, &c.signed.headers, &q, body, "other-secret", now) {
                assert!(!format!("{e:?} {e}").contains(SK));
                assert!(!format!("{e:?} {e}").contains("other-secret"));
            }
        }
    }
}
