//! Parsing the file's text into a YAML tree, so that a number YAML cannot hold (an unquoted
//! all-digit project id of 32 digits is one) is one error of the file, with its fix, rather than
//! the end of the check.

use serde_yaml::Value;

use super::env::is_secret_key;
use super::secret::NOT_SHOWN;
use super::validate::{decode_hint, Validator};

/// Most out-of-range numbers quoted before the file is given up on as a whole.
const MAX_REPAIRS: usize = 100;

/// The tree of `text`. A plain scalar of digits too large for YAML's 64-bit integers stops
/// serde_yaml's tree: each is recorded in `v` at its field (with the advice to quote it), quoted,
/// and the text parsed again, so the rest of the file is still checked. Any other syntax
/// error is the file's one error (`Err`, the message).
pub(super) fn parse(mut text: String, v: &mut Validator<'_>) -> Result<Value, String> {
    for _ in 0..=MAX_REPAIRS {
        let e = match serde_yaml::from_str::<Value>(&text) {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let message = e.to_string();
        let Some((path, start, end)) = big_integer(&text, &message, &e) else {
            return Err(format!(
                "not valid YAML: {message}; fix the syntax at that position"
            ));
        };
        let token = text[start..end].to_string();
        let secret = path
            .split(['.', '['])
            .any(|segment| is_secret_key(segment.trim_end_matches(']')));
        let advice = if secret {
            decode_hint(format!("is a number, not text {NOT_SHOWN}; quote it, since YAML reads unquoted digits as a number"))
        } else {
            format!("{token} is an unquoted number, too large for YAML's integers; quote it (\"{token}\") so that it is read as text")
        };
        v.fail(path.clone(), advice);
        v.taint(path);
        text.replace_range(start..end, &format!("\"{token}\""));
    }
    Err("not valid YAML: too many unquoted numbers out of range; quote them".into())
}

/// Where serde_yaml's error is an integer out of its range: the field's path and the byte
/// range of the digits in `text`. The digits are found by value on the error's line, since
/// the parser's offsets count characters, not bytes.
fn big_integer(text: &str, message: &str, e: &serde_yaml::Error) -> Option<(String, usize, usize)> {
    let marker = "invalid type: integer `";
    let at = message.find(marker)?;
    let rest = &message[at + marker.len()..];
    let (number, tail) = rest.split_once('`')?;
    if !(tail.starts_with(" as u128") || tail.starts_with(" as i128")) {
        return None;
    }
    let path = message[..at].trim_end_matches(": ").to_string();
    let line_no = e.location()?.line();
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line_no.checked_sub(1)?)
        .map(str::len)
        .sum();
    let line = text.get(line_start..)?.lines().next()?;
    let is_part = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.');
    let mut from = 0;
    while let Some(pos) = line.get(from..)?.find(number) {
        let start = from + pos;
        let end = start + number.len();
        let before = line[..start].chars().next_back();
        let after = line[end..].chars().next();
        if !before.is_some_and(is_part) && !after.is_some_and(is_part) {
            return Some((path, line_start + start, line_start + end));
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_numbers_are_quoted_wherever_they_are_on_their_line() {
        // Multi-byte text before the number (as the `${…}` stand-ins are) and the same digits
        // inside a longer word on the line: only the number itself is quoted.
        let text = "a: \u{E000}\u{E001}X\u{E002}\nb: { c: x12345678901234567890123, d: 12345678901234567890123 }\n";
        let mut v = Validator::new("f.yaml", std::path::Path::new("."));
        let value = parse(text.to_string(), &mut v).unwrap();
        assert_eq!(value["b"]["d"].as_str(), Some("12345678901234567890123"));
        assert_eq!(value["b"]["c"].as_str(), Some("x12345678901234567890123"));
        assert_eq!(v.error_count(), 1);
    }
}
