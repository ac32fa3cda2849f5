//! The IAM token body: `auth::token::parse_expiry`, the provider's own decoder.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = huaweicloud_exporter::transport::auth::token::parse_expiry(body);
});
