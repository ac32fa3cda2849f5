//! The one set of rules for text that comes from upstream and leaves as a label value, a log
//! field, an error or a line of the landing page: names are bounded with control characters
//! replaced ([`label_text`]), upstream enum words become their lower snake case or `unknown`
//! ([`label_word`]), field-derived names are checked ([`sane_label`]), and ids echoed from a
//! header are cut to a short token ([`bounded_id`]). Every service goes through these, so a
//! hostile answer cannot put a NUL byte into Prometheus' storage or a 100 kB header into a log
//! line.

/// Longest state or engine name taken as a label value.
pub const MAX_LABEL_CHARS: usize = 64;

/// Longest name (instance name, target name, reason) put into a label; longer ones are cut
/// with `…`.
pub const MAX_NAME_CHARS: usize = 128;

/// Longest id echoed from upstream (a response's `x-request-id`, an error code) that is kept.
pub const MAX_ID_CHARS: usize = 64;

/// What a control character in an upstream name becomes: visible, one character, and never a
/// byte that a terminal, a log parser or Prometheus' storage reads as anything but text.
const REPLACEMENT: char = '\u{FFFD}';

/// Whether a field-derived name (a state or an engine) is a sane label value: 1 to
/// [`MAX_LABEL_CHARS`] characters of ASCII letters, digits, `_`, `-` and `.`. Anything else
/// (quotes, control characters, non-ASCII, a 10 KB key) is left out of the answer and logged,
/// never exported.
pub fn sane_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LABEL_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A label value from an upstream enum word (a status, an engine, a version): its lower snake
/// case, the one rule every service uses. The word is trimmed; it is *bounded* when it is then
/// 1 to [`MAX_LABEL_CHARS`] bytes of ASCII letters, digits, `_`, `-`, `.` and spaces, with
/// letters or digits somewhere in it. A bounded word is lower-cased and each run of spaces
/// becomes one `_` (`STORAGE FULL` → `storage_full`, `MODIFYING INSTANCE TYPE` →
/// `modifying_instance_type`, `Redis` → `redis`, `5.0` → `5.0`). Anything else (missing,
/// empty, too long, a quote, a control character, a tab, non-ASCII) is `unknown`.
pub fn label_word(v: Option<&str>) -> String {
    const UNKNOWN: &str = "unknown";
    let Some(s) = v.map(|s| s.trim_matches(' ')) else {
        return UNKNOWN.to_string();
    };
    let bounded = !s.is_empty()
        && s.len() <= MAX_LABEL_CHARS
        && s.bytes().any(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b' '));
    if !bounded {
        return UNKNOWN.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for word in s.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push('_');
        }
        out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
    }
    out
}

/// An upstream name as a label value: at most [`MAX_NAME_CHARS`] characters (a longer one is
/// cut, its last character then `…`), every control character (C0 with NUL, CR, LF and ESC;
/// DEL; C1) replaced by U+FFFD. The one helper every service uses for free text it exports.
pub fn label_text(v: &str) -> String {
    bounded_label(v, MAX_NAME_CHARS)
}

/// [`label_text`] with a bound of `max_chars` characters (at least 1).
pub fn bounded_label(v: &str, max_chars: usize) -> String {
    let max_chars = max_chars.max(1);
    let mut out = String::with_capacity(v.len().min(max_chars.saturating_mul(4)));
    for (n, c) in v.chars().enumerate() {
        if n + 1 == max_chars && v.chars().nth(max_chars).is_some() {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { REPLACEMENT } else { c });
    }
    out
}

/// An id echoed by upstream (a response's `x-request-id`, an error code, a task id) as it may
/// be logged, labelled or shown: trimmed, its first [`MAX_ID_CHARS`] characters, each outside
/// `[A-Za-z0-9._-]` replaced by `_`; `None` when nothing is left. Ids and codes the cloud
/// documents (32 hex characters, `APIG.0301`, `KOOPHONE.API.1000`) pass unchanged.
pub fn bounded_id(v: &str) -> Option<String> {
    let id: String = v
        .trim()
        .chars()
        .take(MAX_ID_CHARS)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_text_replaces_every_control_character_and_bounds_the_length() {
        assert_eq!(
            label_text("redis\0prod\r\n\x1b[31m\x7f\u{85}\u{9b}x"),
            "redis\u{FFFD}prod\u{FFFD}\u{FFFD}\u{FFFD}[31m\u{FFFD}\u{FFFD}\u{FFFD}x"
        );
        assert_eq!(label_text("ü→ plain name"), "ü→ plain name");
        let long = label_text(&"n".repeat(500));
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
        assert!(long.ends_with('…'));
        assert_eq!(
            label_text(&"n".repeat(MAX_NAME_CHARS)),
            "n".repeat(MAX_NAME_CHARS)
        );
        assert_eq!(bounded_label("abcdef", 4), "abc…");
        assert_eq!(bounded_label("abcd", 4), "abcd");
        assert_eq!(bounded_label("", 4), "");
    }

    #[test]
    fn label_word_is_the_lower_snake_case_of_a_bounded_word() {
        let w = |s: &str| label_word(Some(s));
        let words = [
            ("STORAGE FULL", "storage_full"),
            ("MODIFYING INSTANCE TYPE", "modifying_instance_type"),
            ("BACKING UP", "backing_up"),
            ("  RUNNING  ", "running"),
            ("Redis", "redis"),
            ("5.0", "5.0"),
            ("v-1.2_x", "v-1.2_x"),
            ("A  B", "a_b"),
        ];
        for (upstream, label) in words {
            assert_eq!(w(upstream), label, "{upstream:?}");
        }
        assert_eq!(w(&"A".repeat(MAX_LABEL_CHARS)), "a".repeat(MAX_LABEL_CHARS));
        for bad in ["", "   ", "_ -", "a\"b", "a\nb", "a\tb", "läuft", "x{y}"] {
            assert_eq!(w(bad), "unknown", "{bad:?}");
        }
        assert_eq!(w(&"A".repeat(MAX_LABEL_CHARS + 1)), "unknown");
        assert_eq!(label_word(None), "unknown");
    }

    #[test]
    fn bounded_id_keeps_at_most_64_token_characters() {
        assert_eq!(
            bounded_id("0123456789abcdef0123456789abcdef").as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(
            bounded_id("KOOPHONE.API.1000").as_deref(),
            Some("KOOPHONE.API.1000")
        );
        assert_eq!(
            bounded_id("a b\"c\r\nlevel=error\0").as_deref(),
            Some("a_b_c__level_error_")
        );
        assert_eq!(
            bounded_id(&"x".repeat(100_000)).map(|s| s.len()),
            Some(MAX_ID_CHARS)
        );
        assert_eq!(bounded_id(" \r\n "), None);
        assert_eq!(bounded_id(""), None);
    }
}
