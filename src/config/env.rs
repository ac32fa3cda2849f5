//! `${VAR}` expansion in every string value of the file (`$$` is a literal `$`), done on the
//! YAML tree before it is decoded.

use std::convert::Infallible;

use serde_yaml::Value;

use super::validate::Validator;

/// Keys whose values are secrets (or, for `access_key`, never echoed): an `${…}` error in them
/// does not quote the text around it.
const SECRET_KEYS: &[&str] = &["password", "value", "secret_key", "access_key"];

/// Stands in for `${` and its `}` while YAML is parsed: `${VAR}` is then safe in flow mappings
/// (`{ password: ${PW} }`), where `{` and `}` would otherwise end the mapping. Same length in
/// characters, so YAML error columns stay right.
const REF_OPEN: &str = "\u{E000}\u{E001}";
const REF_CLOSE: char = '\u{E002}';

/// Copies `text`, each `$$` as `escaped` and each `${` handed to `reference` with the text
/// after it: that writes what stands for the reference and says how many bytes of that text it
/// took (the `}` included), or `None` to keep the `$` as it is. Any other `$` is kept.
fn scan<E>(
    text: &str,
    escaped: &str,
    mut reference: impl FnMut(&str, &mut String) -> Result<Option<usize>, E>,
) -> Result<String, E> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push_str(escaped);
            rest = tail;
            continue;
        }
        if let Some(tail) = after.strip_prefix('{') {
            if let Some(used) = reference(tail, &mut out)? {
                rest = &tail[used..];
                continue;
            }
        }
        out.push('$');
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// Replaces each `${NAME}` (letters, digits, `_`) by its [`REF_OPEN`]/[`REF_CLOSE`] stand-in,
/// for the YAML parser; `$$` and every other `$` stay as written.
pub(super) fn protect_env_refs(text: &str) -> String {
    let protected = scan(text, "$$", |tail, out| {
        let name_len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if name_len == 0 || !tail[name_len..].starts_with('}') {
            return Ok(None);
        }
        out.push_str(REF_OPEN);
        out.push_str(&tail[..name_len]);
        out.push(REF_CLOSE);
        Ok::<_, Infallible>(Some(name_len + 1))
    });
    match protected {
        Ok(text) => text,
        Err(never) => match never {},
    }
}

/// Expands `${VAR}` in every string value (`$$` is a literal `$`). Every bad or missing
/// reference is recorded in `v` and its field left out of later checks, so one missing
/// variable hides nothing else of the file; a `$NAME` without braces is a warning. Under a
/// secret key no message quotes the text, which is part of the secret.
pub(super) fn expand_env(
    value: &mut Value,
    path: &mut String,
    env: &dyn Fn(&str) -> Option<String>,
    is_secret: bool,
    v: &mut Validator<'_>,
) {
    match value {
        Value::String(s) => {
            if s.contains('$') || s.contains(REF_CLOSE) {
                let restored = s.replace(REF_OPEN, "${").replace(REF_CLOSE, "}");
                if let Some(name) = bare_reference(&restored) {
                    v.warn(path.clone(), bare_reference_warning(&name, is_secret));
                }
                match expand_one(&restored, env, is_secret) {
                    Ok(expanded) => *s = expanded,
                    Err(message) => {
                        v.fail(path.clone(), message);
                        v.taint(path.clone());
                        *s = restored;
                    }
                }
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                expand_env(item, path, env, is_secret, v);
                path.truncate(len);
            }
        }
        Value::Mapping(map) => {
            for (k, item) in map.iter_mut() {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key);
                let secret = is_secret || is_secret_key(&key);
                expand_env(item, path, env, secret, v);
                path.truncate(len);
            }
        }
        Value::Tagged(t) => expand_env(&mut t.value, path, env, is_secret, v),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Whether values under `key` are secrets (never quoted in a message).
pub(super) fn is_secret_key(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
}

/// The first `$NAME` of `s` that is neither `${NAME}` nor escaped as `$$NAME`: a variable the
/// operator most likely meant to be expanded (`password: $HWC_PASSWORD` is taken literally).
fn bare_reference(s: &str) -> Option<String> {
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
            continue;
        }
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if name_len > 0 && after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return Some(after[..name_len].to_string());
        }
        rest = after;
    }
    None
}

fn bare_reference_warning(name: &str, is_secret: bool) -> String {
    if is_secret {
        "holds a `$` followed by a name, which looks like an environment variable that was not expanded (not shown: this field is a secret); write `${NAME}` to take it from the environment, or `$$` for a literal `$`".to_string()
    } else {
        format!("`${name}` looks like an environment variable that was not expanded; write `${{{name}}}` to take it from the environment, or `$${name}` for a literal `$`")
    }
}

/// One string value (its YAML stand-ins restored) with its references expanded.
fn expand_one(
    restored: &str,
    env: &dyn Fn(&str) -> Option<String>,
    is_secret: bool,
) -> Result<String, String> {
    scan(restored, "$", |tail, out| {
        let end = tail.find('}').ok_or_else(|| {
            "an unterminated `${` reference; write `${NAME}`, or `$$` for a literal `$`".to_string()
        })?;
        let name = &tail[..end];
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid && is_secret {
            return Err("holds a `${` that is not a valid environment variable reference (not shown: this field is a secret); names use letters, digits and `_`, and `$$` is a literal `$`".into());
        }
        if !valid {
            return Err(format!(
                "`${{{name}}}` is not a valid environment variable reference; names use letters, digits and `_`"
            ));
        }
        let value = env(name).ok_or_else(|| {
            format!("environment variable {name} is not set; export it before starting, or write the value (or a *_file path) instead")
        })?;
        out.push_str(&value);
        Ok(Some(end + 1))
    })
}
