//! `cloud::ddm::parse_page` on arbitrary bodies.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = huaweicloud_exporter::services::ddm::api::parse_page(body);
});
