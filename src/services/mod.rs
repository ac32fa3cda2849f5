//! Collectors: one file per API family. Each fetches through [`crate::transport::CloudClient`] and
//! maps the answer to metric families with a pure function tested on the reference pages'
//! examples. Collectors never record their own success or duration: [`crate::scrape`] does.

pub mod dcs;
pub mod ddm;
pub mod koophone;

/// Names of the collectors, as the `collector` label spells them.
pub const DCS: &str = "dcs";
/// KooPhone status collector.
pub const KOOPHONE: &str = "koophone";
/// DDM restore-readiness collector.
pub const DDM: &str = "ddm";
/// DCS per-instance collector (the listing), apart from the counts.
pub const DCS_INSTANCES: &str = "dcs_instances";

/// Longest name (instance name, target name) put into a label; longer ones are cut with `…`.
pub const MAX_NAME_CHARS: usize = 128;

/// A label value from an upstream word (status, engine, version): lower case, or `unknown` when
/// it is missing or not 1–64 of `[A-Za-z0-9_.-]`.
pub(crate) fn label_word(v: Option<&str>) -> String {
    match v.map(str::trim) {
        Some(s) if crate::services::dcs::api::sane_label(s) => s.to_ascii_lowercase(),
        _ => "unknown".to_string(),
    }
}

/// An upstream name cut to [`MAX_NAME_CHARS`] characters (the last one then `…`).
pub(crate) fn bounded_name(v: Option<&str>) -> String {
    let v = v.unwrap_or("");
    if v.chars().count() <= MAX_NAME_CHARS {
        return v.to_string();
    }
    let mut out: String = v.chars().take(MAX_NAME_CHARS - 1).collect();
    out.push('…');
    out
}
