//! The IAM token body. Its model (`auth::token::TokenBody`) is private, so this mirrors its shape
//! and runs the same steps the provider runs: `cloud::decode_json`, then
//! `humantime::parse_rfc3339_weak` on `token.expires_at`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

#[derive(Deserialize)]
struct TokenBody {
    token: TokenInfo,
}

#[derive(Deserialize)]
struct TokenInfo {
    #[serde(default)]
    expires_at: Option<String>,
}

fuzz_target!(|body: &[u8]| {
    if let Ok(info) = huaweicloud_exporter::cloud::decode_json::<TokenBody>(body) {
        if let Some(t) = info.token.expires_at.as_deref() {
            let _ = humantime::parse_rfc3339_weak(t);
        }
    }
});
