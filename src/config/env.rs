//! `${VAR}` expansion in every string value of the file (`$$` is a literal `$`), done on the
//! YAML tree before it is decoded.

use std::convert::Infallible;

use serde_yaml::Value;

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

/// Expands `${VAR}` in every string value (`$$` is a literal `$`). Under a secret key an error
/// does not quote the reference, which is part of the secret's text.
pub(super) fn expand_env(
    value: &mut Value,
    path: &mut String,
    env: &dyn Fn(&str) -> Option<String>,
    is_secret: bool,
) -> Result<(), (String, String)> {
    match value {
        Value::String(s) => {
            if s.contains('$') || s.contains(REF_CLOSE) {
                *s = expand_one(s, env, is_secret).map_err(|m| (path.clone(), m))?;
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                expand_env(item, path, env, is_secret)?;
                path.truncate(len);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
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
                let secret = is_secret || SECRET_KEYS.contains(&key.as_str());
                expand_env(v, path, env, secret)?;
                path.truncate(len);
            }
        }
        Value::Tagged(t) => expand_env(&mut t.value, path, env, is_secret)?,
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// One string value with its references expanded (the YAML stand-ins restored first).
fn expand_one(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
    is_secret: bool,
) -> Result<String, String> {
    let restored = s.replace(REF_OPEN, "${").replace(REF_CLOSE, "}");
    scan(&restored, "$", |tail, out| {
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
