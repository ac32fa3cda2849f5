//! `cloud::koophone::parse_command` on arbitrary bodies.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = huaweicloud_exporter::services::koophone::api::parse_command(body);
});
