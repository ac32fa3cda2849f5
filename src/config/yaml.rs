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
/// range of the digits in `text`.
fn big_integer(text: &str, message: &str, e: &serde_yaml::Error) -> Option<(String, usize, usize)> {
    let at = message.find("invalid type: integer `")?;
    if !(message.contains("` as u128") || message.contains("` as i128")) {
        return None;
    }
    let path = message[..at].trim_end_matches(": ").to_string();
    let start = e.location()?.index();
    let rest = text.get(start..)?;
    let len = rest
        .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}' | '#'))
        .unwrap_or(rest.len());
    let token = &rest[..len];
    let digits = token.strip_prefix(['-', '+']).unwrap_or(token);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    Some((path, start, start + len))
}
