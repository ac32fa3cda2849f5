//! The Prometheus text format's small parts, written by hand because they run once per label
//! value of every sample: escaping, number formatting as `TextEncoder` does it, and reading a
//! rendered line back (tests).

use std::fmt::Write as _;

/// Appends `v` escaped as the text format wants: `\\` and newline always, `"` in a label
/// value (`quote`). In a label value every control character (C0, DEL, C1; a newline too) is
/// replaced by U+FFFD instead: the last line for text no service bounded, so no control
/// character reaches Prometheus' storage. One byte scan decides, as nearly every value is
/// plain ASCII (`0xC2` leads every C1 character).
pub(super) fn escape_into(out: &mut String, v: &str, quote: bool) {
    let special = if quote { &LABEL_SPECIAL } else { &HELP_SPECIAL };
    // One table load per byte: the scan runs over every label value of every sample.
    if !v.bytes().any(|b| special[usize::from(b)]) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' if quote => out.push_str("\\\""),
            c if quote && c.is_control() => out.push('\u{FFFD}'),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Bytes that send a label value down [`escape_into`]'s slow path: `\\`, `"`, C0, DEL and
/// `0xC2` (the lead byte of every C1 character).
static LABEL_SPECIAL: [bool; 256] = special_bytes(true);
/// The same for a help text: `\\` and newline.
static HELP_SPECIAL: [bool; 256] = special_bytes(false);

const fn special_bytes(label: bool) -> [bool; 256] {
    let mut t = [false; 256];
    t[b'\\' as usize] = true;
    t[b'\n' as usize] = true;
    if label {
        let mut b = 0;
        while b < 0x20 {
            t[b] = true;
            b += 1;
        }
        t[b'"' as usize] = true;
        t[0x7f] = true;
        t[0xc2] = true;
    }
    t
}

/// Appends `value` as `f64`'s `Display` writes it (what `TextEncoder` uses). Integral values,
/// nearly all of them here, take a short path that writes the same digits.
pub(super) fn write_value(out: &mut String, value: f64) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer up to here is exact
    if value.fract() == 0.0 && value.abs() < EXACT && !(value == 0.0 && value.is_sign_negative()) {
        let n = value as i64;
        if n < 0 {
            out.push('-');
        }
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut m = n.unsigned_abs();
        loop {
            i -= 1;
            digits[i] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 {
                break;
            }
        }
        for d in &digits[i..] {
            out.push(char::from(*d));
        }
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Splits `{k="v",...} value` (the part of a line after the name) into unescaped label pairs
/// and the value.
pub(super) fn parse_line(rest: &str) -> Option<(Vec<(String, String)>, f64)> {
    let mut pairs = Vec::new();
    let mut chars = rest.chars().peekable();
    if chars.peek() == Some(&'{') {
        chars.next();
        loop {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            if chars.next() != Some('"') {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    c => value.push(c),
                }
            }
            pairs.push((key, value));
            match chars.next()? {
                ',' => continue,
                '}' => break,
                _ => return None,
            }
        }
    }
    let value: String = chars.collect();
    Some((pairs, value.trim().parse().ok()?))
}
