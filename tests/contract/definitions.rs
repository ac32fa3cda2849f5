//! Huawei's published definitions of the operations the exporter calls, read from the
//! `huawei-cloud-api-definitions-<SERVICE>` crates (dev-dependencies, pinned in Cargo.lock), and
//! the two checks made with them: an answer against the schema of its status code, a request
//! against the operation's parameters.
//!
//! The crates are found with `cargo metadata` (dev-dependencies get no `DEP_` variables), so a
//! fresh machine that built this test has them. Schemas are Swagger 2.0 (a subset of JSON Schema
//! draft 4) with local `$ref`s to `#/definitions/…`; every object that lists its properties is
//! checked closed (`additionalProperties: false`), so a field the simulator invents or puts in
//! the wrong place fails, named by its JSON pointer.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::Answer;

/// One service's definition crate as Cargo.lock pins it.
#[derive(Clone, Debug)]
pub struct DefinitionCrate {
    /// `huawei-cloud-api-definitions-DCS`, …
    pub name: String,
    /// Its locked version.
    pub version: String,
    /// Its `src/` folder, where `<Operation>.json` lie.
    pub src: PathBuf,
}

/// Every `huawei-cloud-api-definitions-*` package of this build, by name.
fn crates() -> &'static BTreeMap<String, DefinitionCrate> {
    static CRATES: OnceLock<BTreeMap<String, DefinitionCrate>> = OnceLock::new();
    CRATES.get_or_init(|| {
        let root = env!("CARGO_MANIFEST_DIR");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // Offline first: the build already fetched every crate this test links. Online only if
        // the offline graph is incomplete (crates for other platforms).
        let run = |offline: bool| {
            let mut cmd = Command::new(&cargo);
            cmd.args(["metadata", "--format-version", "1", "--locked"])
                .current_dir(root);
            if offline {
                cmd.arg("--offline");
            }
            cmd.output().ok().filter(|o| o.status.success())
        };
        let out = run(true)
            .or_else(|| run(false))
            .expect("`cargo metadata` failed: the definition crates cannot be located");
        let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON");
        let mut found = BTreeMap::new();
        for p in meta["packages"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or_default();
            if !name.starts_with("huawei-cloud-api-definitions-") {
                continue;
            }
            let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap_or_default());
            let src = manifest.parent().expect("a manifest's folder").join("src");
            found.insert(
                name.to_string(),
                DefinitionCrate {
                    name: name.to_string(),
                    version: p["version"].as_str().unwrap_or_default().to_string(),
                    src,
                },
            );
        }
        found
    })
}

/// The locked definition crate of `service` (`DCS`, `DDM`, `KooPhone`, `IAM`).
pub fn definition_crate(service: &str) -> DefinitionCrate {
    let name = format!("huawei-cloud-api-definitions-{service}");
    crates()
        .get(&name)
        .unwrap_or_else(|| panic!("{name} is not a dependency of this build"))
        .clone()
}

/// A place where the definition is wrong by the reference page (its table and its example
/// agree with each other, the definition with neither), replaced before any check. Each is
/// quoted, with both sources, in docs/fidelity.md, which `fidelity` checks names its pointer.
pub struct Waiver {
    pub service: &'static str,
    pub operation: &'static str,
    /// JSON pointer into the definition file.
    pub pointer: &'static str,
    /// What stands there instead, as JSON.
    pub replacement: &'static str,
}

pub const WAIVERS: &[Waiver] = &[
    // The batch-status page's table has eight codes (0 idle … 7 data loaded); the definition's
    // enum stops at 5.
    Waiver {
        service: "KooPhone",
        operation: "BatchShowInstance",
        pointer: "/definitions/StatusResult/properties/status/enum",
        replacement: "[0, 1, 2, 3, 4, 5, 6, 7]",
    },
    // The task page: "1: running 2: successful -1: failed", its example a job with -1; the
    // definition's enum is [0, 1, 2, 3, 1] (1 twice, no -1).
    Waiver {
        service: "KooPhone",
        operation: "ExecuteJob",
        pointer: "/definitions/JobDetail/properties/status/enum",
        replacement: "[1, 2, -1]",
    },
];

/// One operation's definition.
pub struct Definition {
    /// `DCS/ListInstances@0.1.20260626`, for messages.
    pub label: String,
    /// The whole file.
    doc: Value,
    /// `get`, `post`, …
    pub method: String,
    /// The path template, base path included (`/v1/instances/batch-query`).
    pub path: String,
    /// The operation object (parameters, responses).
    op: Value,
}

/// Loads `src/<operation>.json` of `service`'s crate.
pub fn definition(service: &str, operation: &str) -> Definition {
    let krate = definition_crate(service);
    let file = krate.src.join(format!("{operation}.json"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let doc: Value = serde_json::from_str(&text).expect("a definition is JSON");
    let (path, item) = doc["paths"]
        .as_object()
        .and_then(|p| p.iter().next())
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("a definition has one path");
    let (method, op) = item
        .as_object()
        .and_then(|m| m.iter().next())
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("a path has one method");
    let mut doc = doc;
    for w in WAIVERS
        .iter()
        .filter(|w| w.service == service && w.operation == operation)
    {
        let slot = doc.pointer_mut(w.pointer).unwrap_or_else(|| {
            panic!(
                "{service}/{operation}: waiver {} no longer applies (the definition changed): drop it and its docs/fidelity.md entry",
                w.pointer
            )
        });
        *slot = serde_json::from_str(w.replacement).expect("a waiver's replacement is JSON");
    }
    let base = doc["base_path"]
        .as_str()
        .unwrap_or("/")
        .trim_end_matches('/');
    Definition {
        label: format!("{service}/{operation}@{}", krate.version),
        method,
        path: format!("{base}{path}"),
        doc,
        op,
    }
}

/// Sets `additionalProperties: false` on every schema object that lists its properties.
fn closed(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("properties").is_some_and(Value::is_object)
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".into(), json!(false));
            }
            for (key, v) in map.iter_mut() {
                // `properties` maps names to schemas: close the schemas, not the map.
                if key == "properties" {
                    if let Value::Object(props) = v {
                        props.values_mut().for_each(closed);
                    }
                } else {
                    closed(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(closed),
        _ => {}
    }
}

/// A closed draft-4 validator for `schema`, its `$ref`s resolved against `definitions`.
fn validator(schema: &Value, definitions: &Value) -> jsonschema::Validator {
    let mut root = match schema {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    root.insert("definitions".into(), definitions.clone());
    let mut root = Value::Object(root);
    closed(&mut root);
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema does not compile: {e}"))
}

/// Every violation of `schema` by `instance`, each as `<JSON pointer>: <what>`.
pub fn violations(schema: &Value, definitions: &Value, instance: &Value) -> Vec<String> {
    validator(schema, definitions)
        .iter_errors(instance)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!("{}: {e}", if at.is_empty() { "/" } else { &at })
        })
        .collect()
}

/// The same violation in many rows of an array said once: indices become `*`, with a count.
fn grouped(found: Vec<String>) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for v in found {
        let (at, what) = v.split_once(": ").unwrap_or((&v, ""));
        let at: Vec<String> = at
            .split('/')
            .map(|s| {
                if s.parse::<usize>().is_ok() {
                    "*".into()
                } else {
                    s.to_string()
                }
            })
            .collect();
        *seen.entry(format!("{}: {what}", at.join("/"))).or_default() += 1;
    }
    seen.into_iter()
        .map(|(v, n)| if n > 1 { format!("{v} ({n} times)") } else { v })
        .collect()
}

impl Definition {
    /// The response object of `status`, if the definition documents it.
    fn response(&self, status: u16) -> Option<&Value> {
        self.op["responses"].get(status.to_string())
    }

    /// The statuses the definition documents.
    fn statuses(&self) -> Vec<String> {
        self.op["responses"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Panics, naming every field, unless `answer` is what the definition says for its status:
    /// a documented status, its schema (closed), its documented headers. A status whose
    /// definition has no schema is held to `fallback` (the service's error page), and a status
    /// the definition leaves out is allowed only when `undocumented` names it (a choice of the
    /// simulator that docs/fidelity.md records), and is then held to `fallback` too.
    pub fn check(&self, answer: &Answer, fallback: &Value, undocumented: &[u16]) {
        let mut problems = Vec::new();
        let schema = match self.response(answer.status) {
            Some(r) => {
                for name in r["headers"].as_object().into_iter().flatten().map(|h| h.0) {
                    if !answer.headers.contains_key(name.as_str()) {
                        problems.push(format!("header {name}: documented, not sent"));
                    }
                }
                r.get("schema").cloned().unwrap_or_else(|| fallback.clone())
            }
            None if undocumented.contains(&answer.status) => fallback.clone(),
            None => panic!(
                "{}: status {} is not documented (documented: {:?}); body {}",
                self.label,
                answer.status,
                self.statuses(),
                answer.body
            ),
        };
        problems.extend(grouped(violations(
            &schema,
            &self.doc["definitions"],
            &answer.body,
        )));
        let body = answer.body.to_string();
        assert!(
            problems.is_empty(),
            "{}: the {} answer breaks the definition:\n  {}\nbody: {}",
            self.label,
            answer.status,
            problems.join("\n  "),
            body.get(..2000).unwrap_or(&body)
        );
    }

    /// The definition's parameters.
    fn parameters(&self) -> Vec<&Value> {
        self.op["parameters"]
            .as_array()
            .map(|p| p.iter().collect())
            .unwrap_or_default()
    }

    /// Everything wrong with `req` by the definition's parameters: method and path; query
    /// parameters known, required ones present, types and bounds kept; required headers
    /// present; the body (when the definition takes one) valid against its schema, closed.
    pub fn request_problems(
        &self,
        req: &huaweicloud_exporter::sim::RecordedRequest,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if !req.method.eq_ignore_ascii_case(&self.method) {
            problems.push(format!(
                "method {} where the definition has {}",
                req.method, self.method
            ));
        }
        let params = self.parameters();
        let path_values = match_path(&self.path, &req.path);
        match &path_values {
            None => problems.push(format!("path {} does not match {}", req.path, self.path)),
            Some(values) => {
                for (name, value) in values {
                    if let Some(p) = params
                        .iter()
                        .find(|p| p["in"] == "path" && p["name"] == name.as_str())
                    {
                        problems.extend(value_problems(p, value));
                    }
                }
            }
        }
        for (name, value) in &req.query {
            match params
                .iter()
                .find(|p| p["in"] == "query" && p["name"] == name.as_str())
            {
                Some(p) => problems.extend(value_problems(p, value)),
                None => problems.push(format!("query {name}: not a parameter of the operation")),
            }
        }
        for p in &params {
            let name = p["name"].as_str().unwrap_or_default();
            if p["required"] != true {
                continue;
            }
            let present = match p["in"].as_str() {
                Some("query") => req.query.iter().any(|(k, _)| k == name),
                Some("header") => req
                    .header_names
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(name)),
                Some("body") => !req.body.is_empty(),
                _ => true,
            };
            if !present {
                problems.push(format!(
                    "{} {name}: required, not sent",
                    p["in"].as_str().unwrap_or("?")
                ));
            }
        }
        match params.iter().find(|p| p["in"] == "body") {
            Some(p) => match serde_json::from_slice::<Value>(&req.body) {
                Ok(body) => problems.extend(
                    violations(&p["schema"], &self.doc["definitions"], &body)
                        .into_iter()
                        .map(|v| format!("body {v}")),
                ),
                Err(e) if !req.body.is_empty() => problems.push(format!("body: not JSON ({e})")),
                Err(_) => {}
            },
            None if !req.body.is_empty() => problems.push("body: the operation takes none".into()),
            None => {}
        }
        problems
    }

    /// Panics, naming every problem, unless each of `requests` (at least one) keeps the
    /// definition's parameters.
    pub fn check_requests(&self, requests: &[huaweicloud_exporter::sim::RecordedRequest]) {
        assert!(
            !requests.is_empty(),
            "{}: the exporter sent no such request",
            self.label
        );
        let problems: Vec<String> = requests
            .iter()
            .flat_map(|r| {
                self.request_problems(r)
                    .into_iter()
                    .map(move |p| format!("{} {}: {p}", r.method, r.path))
            })
            .collect();
        assert!(
            problems.is_empty(),
            "{}: the exporter's requests break the definition:\n  {}",
            self.label,
            problems.join("\n  ")
        );
    }
}

/// The property names of schema `name` in the definitions.
pub fn property_names(def: &Definition, name: &str) -> Vec<String> {
    def.doc["definitions"][name]["properties"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

impl Definition {
    /// Where parameter `name` goes (`query`, `header`, …), if the definition takes it.
    pub fn parameter_in(&self, name: &str) -> Option<String> {
        self.parameters()
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["in"].as_str().map(str::to_string))
    }
}

/// The path parameters of `path` by `template` (`/v1/{project_id}/x`), or `None` when it does
/// not match.
fn match_path(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let want: Vec<&str> = template.trim_matches('/').split('/').collect();
    let got: Vec<&str> = path.trim_matches('/').split('/').collect();
    if want.len() != got.len() {
        return None;
    }
    let mut values = Vec::new();
    for (w, g) in want.iter().zip(&got) {
        match w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            Some(name) if !g.is_empty() => values.push((name.to_string(), g.to_string())),
            Some(_) => return None,
            None if w == g => {}
            None => return None,
        }
    }
    Some(values)
}

/// What is wrong with `value` for parameter `p`: its type (an integer parameter must parse as
/// one), its `minimum`/`maximum` (also on the string-typed numbers KooPhone's listing declares),
/// its `maxLength`/`minLength`, its `enum`.
fn value_problems(p: &Value, value: &str) -> Vec<String> {
    let name = p["name"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    let number = value.parse::<i64>().ok();
    if p["type"] == "integer" && number.is_none() {
        out.push(format!("{name}={value:?}: not an integer"));
    }
    let bounded = p.get("minimum").is_some() || p.get("maximum").is_some();
    if bounded {
        match number {
            None => out.push(format!(
                "{name}={value:?}: not a number, and the definition bounds it"
            )),
            Some(n) => {
                if let Some(min) = p["minimum"].as_i64().filter(|m| n < *m) {
                    out.push(format!("{name}={n}: below the minimum {min}"));
                }
                if let Some(max) = p["maximum"].as_i64().filter(|m| n > *m) {
                    out.push(format!("{name}={n}: above the maximum {max}"));
                }
            }
        }
    }
    let chars = value.chars().count() as u64;
    if let Some(max) = p["maxLength"].as_u64().filter(|m| chars > *m) {
        out.push(format!(
            "{name}: {chars} characters, more than the maxLength {max}"
        ));
    }
    if let Some(min) = p["minLength"].as_u64().filter(|m| chars < *m) {
        out.push(format!(
            "{name}: {chars} characters, fewer than the minLength {min}"
        ));
    }
    if let Some(allowed) = p["enum"].as_array() {
        if !allowed.iter().any(|a| a.as_str() == Some(value)) {
            out.push(format!("{name}={value:?}: not one of {allowed:?}"));
        }
    }
    out
}

#[test]
fn a_misplaced_field_and_a_null_are_named() {
    let defs = json!({"Row": {"properties": {"n": {"type": "integer"}, "s": {"type": "string"}}}});
    let schema =
        json!({"properties": {"rows": {"items": {"$ref": "#/definitions/Row"}, "type": "array"}}});
    let found = violations(
        &schema,
        &defs,
        &json!({"rows": [{"n": 1, "s": null, "extra": 2}], "top": 1}),
    );
    let text = found.join("\n");
    assert!(text.contains("/rows/0/s"), "{text}");
    assert!(text.contains("extra"), "{text}");
    assert!(text.contains("top"), "{text}");
    assert!(violations(&schema, &defs, &json!({"rows": [{"n": 1, "s": "x"}]})).is_empty());
}

#[test]
fn a_request_out_of_bounds_is_named() {
    let p =
        json!({"in": "query", "name": "limit", "type": "integer", "minimum": 1, "maximum": 128});
    assert!(value_problems(&p, "128").is_empty());
    assert_eq!(
        value_problems(&p, "129"),
        vec!["limit=129: above the maximum 128"]
    );
    assert!(!value_problems(&p, "x").is_empty());
    assert_eq!(
        match_path("/v1/{p}/x", "/v1/abc/x"),
        Some(vec![("p".into(), "abc".into())])
    );
    assert_eq!(match_path("/v1/{p}/x", "/v1/abc/y"), None);
}
