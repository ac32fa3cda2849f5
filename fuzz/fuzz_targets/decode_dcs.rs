//! `cloud::dcs::parse` on arbitrary bodies: an error is fine, a panic is a bug.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = huaweicloud_exporter::services::dcs::api::parse(body);
});
