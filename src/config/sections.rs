//! The step that takes each service's sections out of the YAML tree before the file's own
//! schema decodes it, checking every key against the file's schema and the registry's.

use serde_yaml::Value;

use super::raw::Claimed;
use super::schema::Schema;
use super::validate::{decode_hint, field_path, Validator};

/// Top-level keys of the file's own schema, before and after the services' top-level keys
/// (the order serde's "expected one of" lists them in).
const TOP_KEYS: (&[&str], &[&str]) = (&["clouds", "timeout", "max_concurrency"], &["shard", "tls"]);
/// Keys of a cloud's own schema; the services' keys follow.
const CLOUD_KEYS: &[&str] = &[
    "name",
    "region",
    "project_id",
    "auth",
    "endpoints",
    "allow_insecure_endpoints",
    "tls",
];

/// The whole file as written, the services' sections taken out.
/// serde's wording for an unknown field, with the usual fix.
fn unknown_field(field: &str, expected: &[&str]) -> String {
    let quoted: Vec<String> = expected.iter().map(|k| format!("`{k}`")).collect();
    let message = match quoted.as_slice() {
        [] => format!("unknown field `{field}`, there are no fields"),
        [one] => format!("unknown field `{field}`, expected {one}"),
        [a, b] => format!("unknown field `{field}`, expected {a} or {b}"),
        all => format!(
            "unknown field `{field}`, expected one of {}",
            all.join(", ")
        ),
    };
    decode_hint(message)
}

/// Each string key of `map` that is not in `known` is an error at `at.key`; of those, the ones
/// `take(key)` claims are removed and returned with their values (a null value is no section).
fn claim(
    map: &mut serde_yaml::Mapping,
    at: &str,
    known: &[&str],
    expected: &[&str],
    take: &dyn Fn(&str) -> Option<&'static str>,
    v: &mut Validator<'_>,
) -> Claimed {
    let keys: Vec<String> = map
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    let mut out = Vec::new();
    for key in keys {
        if known.contains(&key.as_str()) {
            continue;
        }
        match take(&key) {
            Some(service) => {
                if let Some(value) = map.remove(key.as_str()).filter(|v| !v.is_null()) {
                    out.push((service, value));
                }
            }
            None => {
                // Reported, and taken out so that the rest of the file is still checked.
                v.fail(field_path(at, &key), unknown_field(&key, expected));
                map.remove(key.as_str());
            }
        }
    }
    out
}

/// Takes the services' sections out of `value`: the top-level ones (by service key) and each
/// cloud's (by cloud index, by service key). A key that neither the file's schema nor any
/// service knows is an error, worded as serde words its own; so are unknown endpoint keys.
pub(super) fn take_sections(
    value: &mut Value,
    schemas: &[&dyn Schema],
    v: &mut Validator<'_>,
) -> (Claimed, Vec<Claimed>) {
    let Some(map) = value.as_mapping_mut() else {
        return (Vec::new(), Vec::new());
    };
    let tops: Vec<&'static str> = schemas
        .iter()
        .filter_map(|s| s.identity().top_key)
        .collect();
    let known_top: Vec<&str> = TOP_KEYS.0.iter().chain(TOP_KEYS.1).copied().collect();
    let expected_top: Vec<&str> = TOP_KEYS
        .0
        .iter()
        .copied()
        .chain(tops.iter().copied())
        .chain(TOP_KEYS.1.iter().copied())
        .collect();
    let top_owner = |key: &str| {
        schemas
            .iter()
            .map(|s| s.identity())
            .find(|id| id.top_key == Some(key))
            .map(|id| id.key)
    };
    let top = claim(map, "", &known_top, &expected_top, &top_owner, v);
    let service_keys: Vec<&'static str> = schemas.iter().map(|s| s.identity().key).collect();
    let expected_cloud: Vec<&str> = CLOUD_KEYS
        .iter()
        .copied()
        .chain(service_keys.iter().copied())
        .collect();
    let mut endpoint_keys: Vec<&str> = service_keys.clone();
    endpoint_keys.sort_unstable();
    endpoint_keys.insert(0, "iam");
    let owner = |key: &str| service_keys.iter().find(|k| **k == key).copied();
    let mut clouds = Vec::new();
    if let Some(list) = map.get_mut("clouds").and_then(Value::as_sequence_mut) {
        for (i, cloud) in list.iter_mut().enumerate() {
            let at = format!("clouds[{i}]");
            let Some(cloud) = cloud.as_mapping_mut() else {
                clouds.push(Vec::new());
                continue;
            };
            if let Some(endpoints) = cloud.get_mut("endpoints").and_then(Value::as_mapping_mut) {
                claim(
                    endpoints,
                    &format!("{at}.endpoints"),
                    &endpoint_keys,
                    &endpoint_keys,
                    &|_| None,
                    v,
                );
            }
            clouds.push(claim(cloud, &at, CLOUD_KEYS, &expected_cloud, &owner, v));
        }
    }
    (top, clouds)
}
