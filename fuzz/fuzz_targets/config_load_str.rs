//! `config::load_str` on arbitrary text, with no environment. Relative `*_file` paths resolve
//! under a directory that does not exist, so nothing on disk is read.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = huaweicloud_exporter::services::load_str(
            text,
            "fuzz.yaml",
            std::path::Path::new("/nonexistent-fuzz-dir"),
            &|_| None,
        );
    }
});
