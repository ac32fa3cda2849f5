//! DCS: `GET /v2/{project_id}/instances/status`, decoded without a fixed field list so that a new
//! `<state>_count` field or a new engine object needs no code change; and
//! `GET /v2/{project_id}/instances`, the instances one by one, paged by offset and limit.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::config::KEY;
use crate::inventory::{offset_request, page_all, Cursor, Listing, Page, Rules};
use crate::transport::{decode_json, ApiError, CloudClient, Operation, Permission, Request};

/// The DCS status operation.
pub static DCS_STATUS: Operation = Operation {
    service: KEY,
    name: "dcs_status",
    idempotent: true,
    sends_request_id: false,
    budget: None,
    // Huawei's pages name no action for the counts; this is DCS's instance query action.
    iam: Some(Permission {
        action: "dcs:instance:list",
        api: "GET /v2/{project_id}/instances/status",
        used_by: "DCS collector (counts by state)",
    }),
};

/// The DCS instance listing.
pub static DCS_LIST: Operation = Operation {
    service: KEY,
    name: "dcs_list",
    idempotent: true,
    sends_request_id: false,
    budget: None,
    iam: Some(Permission {
        action: "dcs:instance:list",
        api: "GET /v2/{project_id}/instances",
        used_by: "DCS instance listing (per-instance metrics, every scrape)",
    }),
};

/// Largest page the listing serves (and the one asked for: one call for most projects).
pub const LIST_LIMIT: u32 = 1000;
/// Most pages of one listing (100 × 1,000 instances); a listing not done by then fails.
pub const LIST_MAX_PAGES: u32 = 100;

/// One page of the listing (`ListInstancesResponse`); fields the exporter does not use are
/// ignored, personal ones (`user_name`, `access_user`…) included.
#[derive(Debug, Deserialize, PartialEq, Clone)]
pub struct DcsListPage {
    /// Instances matching the query (not the page length); `None` when the answer leaves it out.
    pub instance_num: Option<u64>,
    /// The page.
    #[serde(default)]
    pub instances: Vec<DcsInstance>,
}

/// One DCS instance (`InstanceListInfo`), the fields the metrics use.
#[derive(Debug, Deserialize, PartialEq, Clone)]
pub struct DcsInstance {
    /// Instance id.
    pub instance_id: String,
    /// Instance name.
    pub name: Option<String>,
    /// `Redis` or `Memcached` (compared case-insensitively).
    pub engine: Option<String>,
    /// E.g. `5.0`.
    pub engine_version: Option<String>,
    /// E.g. `RUNNING`; unknown values are data.
    pub status: Option<String>,
}

impl crate::inventory::Resource for DcsInstance {
    fn id(&self) -> &str {
        &self.instance_id
    }
}

/// Decodes one page of the listing.
pub fn parse_list_page(body: &[u8]) -> Result<DcsListPage, String> {
    decode_json(body)
}

/// Instance counts: account-wide per state, and per engine per state.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DcsStatus {
    /// `(state, count)` from the top-level `<state>_count` fields, sorted by state.
    pub states: Vec<(String, u64)>,
    /// `(engine, [(state, count)])` from every object of counts, sorted by engine.
    pub engines: Vec<(String, Vec<(String, u64)>)>,
    /// Fields left out because their name is no sane label value (see [`sane_label`]).
    pub rejected: usize,
    /// The first such name, escaped and shortened for a log line.
    pub rejected_example: Option<String>,
}

pub use crate::metrics::{sane_label, MAX_LABEL_CHARS};

fn example(name: &str) -> String {
    let mut out: String = name.escape_debug().take(40).collect();
    if name.escape_debug().nth(40).is_some() {
        out.push('…');
    }
    out
}

/// Decodes the body. Every top-level `<state>_count` integer is a state, every object holding
/// `<state>_count` integers is an engine; a `_count` field that is not a non-negative integer is
/// an error, and so is a body with no counts at all.
pub fn parse(body: &[u8]) -> Result<DcsStatus, String> {
    let map: Map<String, Value> = decode_json(body)?;
    let mut out = DcsStatus::default();
    out.states = counts(&map, "", &mut out)?;
    for (key, value) in &map {
        if let Value::Object(inner) = value {
            let c = counts(inner, key, &mut out)?;
            if c.is_empty() {
                continue;
            }
            if !sane_label(key) {
                out.reject(key);
                continue;
            }
            out.engines.push((key.clone(), c));
        }
    }
    if out.states.is_empty() && out.engines.is_empty() {
        return Err("no <state>_count fields in the answer".into());
    }
    out.engines.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

impl DcsStatus {
    fn reject(&mut self, name: &str) {
        self.rejected += 1;
        if self.rejected_example.is_none() {
            self.rejected_example = Some(example(name));
        }
    }

    /// Series this answer makes: one per state, one per engine and state.
    pub fn series(&self) -> usize {
        self.states.len() + self.engines.iter().map(|(_, s)| s.len()).sum::<usize>()
    }
}

fn counts(
    map: &Map<String, Value>,
    prefix: &str,
    out: &mut DcsStatus,
) -> Result<Vec<(String, u64)>, String> {
    let mut v = Vec::new();
    for (key, value) in map {
        let Some(state) = key.strip_suffix("_count") else {
            continue;
        };
        if state.is_empty() {
            continue;
        }
        let n = match value {
            Value::Null => continue,
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
        .ok_or_else(|| {
            let at = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            format!(
                "at {at}: expected a non-negative integer, got {}",
                kind(value)
            )
        })?;
        if !sane_label(state) {
            out.reject(key);
            continue;
        }
        v.push((state.to_string(), n));
    }
    v.sort();
    Ok(v)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a negative or fractional number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl CloudClient {
    /// Instance counts by state, and the answer's request id.
    pub async fn dcs_status(
        &self,
        include_failure: bool,
        deadline: Instant,
    ) -> Result<(DcsStatus, Option<String>), ApiError> {
        let req = Request {
            op: &DCS_STATUS,
            method: Method::GET,
            base: self.endpoints.get(KEY).to_string(),
            path: format!("/v2/{}/instances/status", self.project_id),
            query: vec![("include_failure".into(), include_failure.to_string())],
            body: None,
        };
        self.call_with_id(&req, deadline, parse).await
    }

    /// One page of the instance listing, and the answer's request id.
    pub async fn dcs_list_page(
        &self,
        offset: u64,
        limit: u32,
        include_failure: bool,
        deadline: Instant,
    ) -> Result<(DcsListPage, Option<String>), ApiError> {
        let path = format!("/v2/{}/instances", self.project_id);
        let mut req = offset_request(&DCS_LIST, &self.endpoints, path, offset, limit);
        req.query
            .push(("include_failure".into(), include_failure.to_string()));
        self.call_with_id(&req, deadline, parse_list_page).await
    }

    /// Every instance, paged by [`crate::inventory::pager`], [`LIST_LIMIT`] rows a page, at most
    /// [`LIST_MAX_PAGES`] pages; repeated rows are dropped, the first wins.
    pub async fn dcs_list_all(
        &self,
        include_failure: bool,
        deadline: Instant,
    ) -> Result<Listing<DcsInstance>, ApiError> {
        let rules = Rules {
            limit: Some(LIST_LIMIT),
            max_pages: u64::from(LIST_MAX_PAGES),
            ..Rules::of(&DCS_LIST, &self.cloud)
        };
        let fetch = |c: Cursor| async move {
            let (page, request_id) = self
                .dcs_list_page(c.rows, LIST_LIMIT, include_failure, deadline)
                .await?;
            Ok(Page {
                rows: page.instances,
                total: page.instance_num,
                request_id,
            })
        };
        page_all(rules, |r: &DcsInstance| r.instance_id.as_str(), fetch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example response of the reference page.
    pub const PAGE_EXAMPLE: &str = r#"{ "extending_count" : 0, "creating_count" : 0, "running_count" : 16, "error_count" : 0, "frozen_count" : 0, "createfailed_count" : 44, "restarting_count" : 0, "paying_count" : 0, "freezing_count" : 0, "migrating_count" : 0, "flushing_count" : 0, "upgrading_count" : 0, "redis" : { "extending_count" : 0, "creating_count" : 0, "running_count" : 8, "error_count" : 0, "frozen_count" : 0, "createfailed_count" : 22, "restarting_count" : 0, "paying_count" : 0, "freezing_count" : 0, "migrating_count" : 0, "flushing_count" : 0, "upgrading_count" : 0 }, "memcached" : { "extending_count" : 0, "creating_count" : 0, "running_count" : 8, "error_count" : 0, "frozen_count" : 0, "createfailed_count" : 22, "restarting_count" : 0, "paying_count" : 0, "freezing_count" : 0, "migrating_count" : 0, "flushing_count" : 0, "upgrading_count" : 0 } }"#;

    #[test]
    fn parses_the_page_example() {
        let s = parse(PAGE_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(s.states.len(), 12);
        assert!(s.states.contains(&("running".into(), 16)));
        assert!(s.states.contains(&("createfailed".into(), 44)));
        let engines: Vec<&str> = s.engines.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(engines, ["memcached", "redis"]);
        assert!(s.engines[1].1.contains(&("createfailed".into(), 22)));
    }

    #[test]
    fn new_states_and_engines_need_no_code() {
        let s = parse(br#"{"running_count":1,"hibernating_count":2,"valkey":{"running_count":3,"hibernating_count":4},"note":"x"}"#).unwrap();
        assert_eq!(
            s.states,
            vec![("hibernating".into(), 2), ("running".into(), 1)]
        );
        assert_eq!(
            s.engines,
            vec![(
                "valkey".into(),
                vec![("hibernating".into(), 4), ("running".into(), 3)]
            )]
        );
    }

    #[test]
    fn insane_field_names_are_left_out() {
        let long = "x".repeat(65);
        let body = format!(
            r#"{{"running_count":1,"bad\"name_count":2,"{long}_count":3,"ünï_count":4,"redis":{{"running_count":1,"a b_count":5}},"bad engine":{{"running_count":9}}}}"#
        );
        let s = parse(body.as_bytes()).unwrap();
        assert_eq!(s.states, vec![("running".into(), 1)]);
        assert_eq!(
            s.engines,
            vec![("redis".into(), vec![("running".into(), 1)])]
        );
        assert_eq!(s.rejected, 5);
        assert!(s.rejected_example.is_some());
        assert_eq!(s.series(), 2);
        assert!(sane_label("createfailed") && sane_label("v-1.2_x"));
        assert!(!sane_label("") && !sane_label(&long) && !sane_label("a\nb"));
    }

    #[test]
    fn wrong_types_and_empty_answers_are_errors() {
        let e = parse(br#"{"running_count":"16"}"#).unwrap_err();
        assert_eq!(
            e,
            "at running_count: expected a non-negative integer, got a string"
        );
        let e = parse(br#"{"redis":{"running_count":-1}}"#).unwrap_err();
        assert_eq!(e, "at redis.running_count: expected a non-negative integer, got a negative or fractional number");
        assert_eq!(
            parse(b"{}").unwrap_err(),
            "no <state>_count fields in the answer"
        );
        assert_eq!(parse(b"").unwrap_err(), "empty body");
        assert!(parse(b"[1,2]").unwrap_err().starts_with("unexpected JSON"));
        assert!(parse(b"<html>").unwrap_err().starts_with("malformed JSON"));
        assert!(parse(br#"{"running_count": 1"#)
            .unwrap_err()
            .starts_with("truncated JSON"));
    }
}
