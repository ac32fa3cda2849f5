//! `config::parse_id_file` on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = huaweicloud_exporter::services::koophone::config::parse_id_file(text);
    }
});
