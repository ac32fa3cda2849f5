//! Reading an answered call's body: [`decode_json`] (the field path of a mismatch, never more
//! than a little of the body) and [`BodyError`], what a service's decoder may say about a body.

use serde::de::DeserializeOwned;

use crate::upstream::truncate;

/// Decodes JSON, naming the field path of any mismatch and never echoing more than a little of
/// the body.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("empty body".into());
    }
    // Fast path: most bodies decode; tracking the field path costs on every field, so it is
    // paid only to explain a wrong type or a missing field (decoding again gives the same error,
    // now with its path). Broken JSON (syntax, truncation) has no meaningful field path.
    // (No check for trailing bytes, as before: a complete document followed by junk decodes.)
    match T::deserialize(&mut serde_json::Deserializer::from_slice(body)) {
        Ok(v) => return Ok(v),
        Err(e) if e.is_eof() => {
            let mut msg = e.to_string();
            truncate(&mut msg, 200);
            return Err(format!("truncated JSON: {msg}"));
        }
        Err(e) if e.is_syntax() || e.is_io() => {
            let mut msg = e.to_string();
            truncate(&mut msg, 200);
            return Err(format!("malformed JSON: {msg}"));
        }
        Err(_) => {}
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let mut msg = e.into_inner().to_string();
        truncate(&mut msg, 200);
        if path == "." {
            format!("unexpected JSON: {msg}")
        } else {
            format!("at {path}: {msg}")
        }
    })
}

/// Why an answered call's body is not a success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not what the API documents (malformed, truncated, wrong types, missing fields).
    #[error("{0}")]
    Decode(String),
    /// A well-formed answer that says failure (KooPhone `error_code` other than "0").
    #[error("{code}: {message}")]
    Api {
        /// The service's `error_code`.
        code: String,
        /// The service's `error_msg`.
        message: String,
    },
}

impl From<String> for BodyError {
    fn from(m: String) -> Self {
        BodyError::Decode(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Doc {
        /// Numbers.
        a: Vec<u32>,
    }

    #[test]
    fn decode_json_names_the_path_of_wrong_types_only() {
        assert_eq!(
            decode_json::<Doc>(br#"{"a":[1,2]}"#),
            Ok(Doc { a: vec![1, 2] })
        );
        assert_eq!(
            decode_json::<Doc>(br#"{"a":[1,"x"]}"#).unwrap_err(),
            "at a[1]: invalid type: string \"x\", expected u32 at line 1 column 11"
        );
        assert_eq!(
            decode_json::<Doc>(br#"{"a":[1,2]"#).unwrap_err(),
            "truncated JSON: EOF while parsing an object at line 1 column 10"
        );
        assert!(decode_json::<Doc>(br#"{"a":[1,}"#)
            .unwrap_err()
            .starts_with("malformed JSON: "));
        assert_eq!(decode_json::<Doc>(b" \n").unwrap_err(), "empty body");
        // A complete document followed by junk decodes, as it always has.
        assert_eq!(
            decode_json::<Doc>(br#"{"a":[]} junk"#),
            Ok(Doc { a: vec![] })
        );
    }
}
