//! DCS: `GET /v2/{project_id}/instances/status`, instance counts per state, overall and per
//! engine, from the fleet's counts at the current tick; and `GET /v2/{project_id}/instances`,
//! the instances themselves, one per count, so the two answers agree at every tick; their rows
//! are `rows`. Codes the pages do not give, chosen here (docs/fidelity.md): bad paging and the
//! `api_error` fault 400 `111400001`, the `server_error` fault 500 `111500001`; a wrong project
//! is the page's 400 `111400002`.

mod rows;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::api;
use crate::sim::faults::FaultKind;
use crate::sim::fleet::{hash3, mix};
use crate::sim::listing::{list_page, totals_as_faulted};
use crate::sim::pipeline::{Ctx, SimService, GET};
use crate::sim::routes::{Routes, Simulated};
use crate::sim::state::{json_response, SimReply, SimState};

/// DCS states, as in the `<state>_count` fields of the reference page.
#[rustfmt::skip]
pub const DCS_STATES: [&str; 13] = [
    "paying", "freezing", "migrating", "flushing", "upgrading", "restoring", "extending",
    "creating", "running", "error", "frozen", "createfailed", "restarting",
];

/// DCS engines, each an object of counts in the answer.
pub const DCS_ENGINES: [&str; 2] = ["redis", "memcached"];

const RUNNING: usize = 8;
const CREATEFAILED: usize = 11;
/// Keeps the counts' choices apart from the fleet's other choices.
const SALT_COUNTS: u64 = 0x0044_4353;

/// The fleet's DCS counts at `tick`: `[engine][state]`, indices as in [`DCS_ENGINES`] and [`DCS_STATES`].
/// Every state is non-zero for at least one engine.
pub(crate) fn counts(seed: u64, tick: u64) -> [[u64; DCS_STATES.len()]; DCS_ENGINES.len()] {
    let mut counts = [[0u64; DCS_STATES.len()]; DCS_ENGINES.len()];
    for (e, engine) in counts.iter_mut().enumerate() {
        for (s, count) in engine.iter_mut().enumerate() {
            let h = hash3(seed ^ SALT_COUNTS, (e * 100 + s) as u64, tick);
            *count = match s {
                RUNNING if e == 0 => 40 + h % 40,
                RUNNING => 10 + h % 15,
                CREATEFAILED => h % 5,
                _ if h % 100 < 30 => 1 + (h >> 8) % 3,
                _ => 0,
            };
        }
    }
    for s in 0..DCS_STATES.len() {
        if counts.iter().all(|engine| engine[s] == 0) {
            let e = (hash3(seed, s as u64, tick) % DCS_ENGINES.len() as u64) as usize;
            counts[e][s] = 1;
        }
    }
    counts
}

/// DCS as the pipeline sees it: errors carry `error_ext_msg: null`.
#[derive(Clone, Copy)]
pub(crate) struct SimDcs;

impl SimService for SimDcs {
    fn error(&self, status: StatusCode, code: &str, msg: &str) -> Response {
        json_response(
            status,
            &json!({"error_code": code, "error_msg": msg, "error_ext_msg": null}),
        )
    }

    // DCS codes are nine digits: `111`, the HTTP status, a number (the error-code page's
    // `111400002` "Invalid project ID format."). The page gives no code for these two; they
    // follow its scheme (docs/fidelity.md).
    const SERVER_ERROR: (&'static str, &'static str) = ("111500001", "Internal service error.");
    const API_ERROR: (StatusCode, &'static str, &'static str) =
        (StatusCode::BAD_REQUEST, INVALID_REQUEST, "Invalid request.");
}

/// The error-code page's code for a project id that is not the caller's, or not one at all.
const INVALID_PROJECT: &str = "111400002";
/// A request the service refuses for a bad parameter (offset, limit); chosen, see [`SimDcs`].
const INVALID_REQUEST: &str = "111400001";

/// The counts' path.
const STATUS: &str = "/v2/{project_id}/instances/status";
/// The listing's path.
const LIST: &str = "/v2/{project_id}/instances";

/// DCS as the simulator serves it.
pub static SIMULATED: Simulated = Simulated { routes };

/// The status counts and the instance listing.
fn routes() -> Routes {
    Routes::new()
        .route(STATUS, GET, SimDcs, &api::DCS_STATUS, status)
        .route(LIST, GET, SimDcs, &api::DCS_LIST, list)
}

fn status(cx: Ctx<'_>, Path(project_id): Path<String>) -> SimReply {
    answer(cx.sim, &project_id, cx.call.uri.query(), cx.fault)
}

/// 400 `code` with `message`, in the DCS error shape (`error_ext_msg` "is set to null", the page says).
fn invalid(code: &str, message: &str) -> SimReply {
    SimReply::new(
        StatusCode::BAD_REQUEST,
        json!({"error_code": code, "error_msg": message, "error_ext_msg": null}),
    )
}

/// The project check both DCS calls make first.
fn check_project(sim: &SimState, project_id: &str) -> Result<(), SimReply> {
    if project_id == sim.config.project_id {
        Ok(())
    } else {
        Err(invalid(INVALID_PROJECT, "Invalid project ID format."))
    }
}

/// `include_failure=true` asks for `createfailed_count`; anything else leaves it out.
fn include_failure(query: Option<&str>) -> bool {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .any(|(k, v)| k == "include_failure" && v == "true")
}

fn answer(
    sim: &SimState,
    project_id: &str,
    query: Option<&str>,
    fault: Option<FaultKind>,
) -> SimReply {
    if let Err(wrong) = check_project(sim, project_id) {
        return wrong;
    }
    let mut counts = counts(sim.config.seed, sim.tick());
    // The instances the control endpoint and churn created count too (see [`instances`]).
    for i in &sim.instances().dcs {
        let e = usize::from(i.engine.eq_ignore_ascii_case("memcached"));
        let state = i.status.to_ascii_lowercase();
        if let Some(s) = DCS_STATES.iter().position(|x| *x == state) {
            counts[e][s] += 1;
        }
    }
    let mut value = body(
        &counts,
        include_failure(query),
        fault == Some(FaultKind::NewState),
    );
    match fault {
        Some(FaultKind::ManyFields) => many_fields(&mut value),
        Some(FaultKind::InsaneFieldNames) => insane_field_names(&mut value),
        _ => {}
    }
    SimReply::ok(value)
}

/// Fields `many_fields` adds at the top level and in `redis`.
pub const MANY_FIELDS: usize = 5_000;

fn many_fields(value: &mut Value) {
    for i in 0..MANY_FIELDS {
        value[format!("state{i}_count")] = json!(1);
        value["redis"][format!("state{i}_count")] = json!(1);
    }
}

/// Names `insane_field_names` adds, each a `_count` field; plus an engine named `bad "engine"`.
pub fn insane_names() -> Vec<String> {
    vec![
        "quo\"te_count".to_string(),
        "new\nline_count".to_string(),
        "ünïcode_count".to_string(),
        format!("{}_count", "x".repeat(300)),
        "sp ace_count".to_string(),
    ]
}

fn insane_field_names(value: &mut Value) {
    for name in insane_names() {
        value[name.as_str()] = json!(3);
    }
    value["bad \"engine\""] = json!({"running_count": 1});
}

/// The answer body; `new_state` adds `hibernating_count` everywhere and a `valkey` engine.
pub(crate) fn body(
    counts: &[[u64; DCS_STATES.len()]; DCS_ENGINES.len()],
    include_failure: bool,
    new_state: bool,
) -> Value {
    let shown = |state: &str| include_failure || state != "createfailed";
    let mut engines: Vec<(String, Vec<(String, u64)>)> = DCS_ENGINES
        .iter()
        .zip(counts)
        .map(|(engine, row)| {
            let fields = DCS_STATES
                .iter()
                .zip(row)
                .filter(|(state, _)| shown(state))
                .map(|(state, n)| (format!("{state}_count"), *n))
                .collect();
            (engine.to_string(), fields)
        })
        .collect();
    if new_state {
        for (i, (_, fields)) in engines.iter_mut().enumerate() {
            fields.push(("hibernating_count".to_string(), 1 + i as u64));
        }
        let mut valkey: Vec<(String, u64)> = DCS_STATES
            .iter()
            .filter(|state| shown(state))
            .map(|state| (format!("{state}_count"), u64::from(*state == "running") * 5))
            .collect();
        valkey.push(("hibernating_count".to_string(), 2));
        engines.push(("valkey".to_string(), valkey));
    }
    let mut top = Map::new();
    for (_, fields) in &engines {
        for (name, n) in fields {
            let total = top.get(name).and_then(Value::as_u64).unwrap_or(0) + n;
            top.insert(name.clone(), json!(total));
        }
    }
    for (engine, fields) in engines {
        let obj: Map<String, Value> = fields.into_iter().map(|(k, n)| (k, json!(n))).collect();
        top.insert(engine, Value::Object(obj));
    }
    Value::Object(top)
}

/// Largest `limit` the listing serves; its default is 10.
pub const LIST_MAX_LIMIT: u64 = 1000;
const LIST_DEFAULT_LIMIT: u64 = 10;

/// One simulated DCS instance.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DcsRow {
    /// `instance_id`, UUID-shaped.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `redis` or `memcached`, as in [`DCS_ENGINES`].
    pub engine: &'static str,
    /// `status` as the API spells it (`RUNNING`, …).
    pub status: String,
    /// `engine_version`.
    pub engine_version: &'static str,
}

/// The fleet's own DCS instances at `tick`: for each engine, one instance per count of each
/// state, the k-th instance of an engine keeping its id whatever its state. The listing adds
/// the instances the control endpoint and churn create ([`crate::sim::fleet::Instances`]), and the
/// counts count them too, so the two answers agree.
pub(crate) fn instances(
    counts: &[[u64; DCS_STATES.len()]; DCS_ENGINES.len()],
    seed: u64,
) -> Vec<DcsRow> {
    const NAMES: [&str; 5] = ["orders-cache", "sessions", "catalog", "rate-limit", "feed"];
    let mut out = Vec::new();
    for (e, engine) in DCS_ENGINES.iter().enumerate() {
        let mut k: u64 = 0;
        for (s, state) in DCS_STATES.iter().enumerate() {
            for _ in 0..counts[e][s] {
                let h = hash3(seed ^ 0x4443_534c, e as u64, k);
                let m = mix(h);
                let id = format!(
                    "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                    h >> 32,
                    (h >> 16) & 0xffff,
                    h & 0xffff,
                    m >> 48,
                    m & 0xffff_ffff_ffff
                );
                out.push(DcsRow {
                    id,
                    name: format!("{}-{}-{k}", NAMES[(m % 5) as usize], engine),
                    engine,
                    status: state.to_ascii_uppercase(),
                    engine_version: if e == 0 { "5.0" } else { "1.5" },
                });
                k += 1;
            }
        }
    }
    out
}

/// The listing's query: paging, `include_failure` and the filters.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ListQuery {
    /// Records skipped.
    pub offset: u64,
    /// Records asked, 1–1000.
    pub limit: u64,
    /// Whether `CREATEFAILED` instances are listed.
    pub include_failure: bool,
    /// Only this instance.
    pub instance_id: Option<String>,
    /// Only names containing (or, with `name_equal`, equal to) this.
    pub name: Option<String>,
    /// `name` must match whole.
    pub name_equal: bool,
    /// Only instances in this status.
    pub status: Option<String>,
    /// Deleted instances are listed too.
    pub include_delete: bool,
    /// Only instances carrying these tags (`key=value`, comma-separated).
    pub tags: Option<String>,
    /// Only instances reached at this address.
    pub ip: Option<String>,
}

/// Parses the listing's query; `None` for an offset below 0 or a limit outside 1–1000.
pub(crate) fn list_query(query: Option<&str>) -> Option<ListQuery> {
    let mut q = ListQuery {
        limit: LIST_DEFAULT_LIMIT,
        ..ListQuery::default()
    };
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "offset" => q.offset = value.parse::<u64>().ok()?,
            "limit" => {
                q.limit = value
                    .parse::<u64>()
                    .ok()
                    .filter(|l| (1..=LIST_MAX_LIMIT).contains(l))?
            }
            "include_failure" => q.include_failure = value == "true",
            "instance_id" => q.instance_id = Some(value),
            "name" => q.name = Some(value),
            "name_equal" => q.name_equal = value == "true",
            "status" => q.status = Some(value),
            "include_delete" => q.include_delete = value == "true",
            "tags" => q.tags = Some(value),
            "ip" => q.ip = Some(value),
            _ => {}
        }
    }
    Some(q)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn list(cx: Ctx<'_>, Path(project_id): Path<String>) -> SimReply {
    let sim = cx.sim;
    if let Err(wrong) = check_project(sim, &project_id) {
        return wrong;
    }
    let Some(q) = list_query(cx.call.uri.query()) else {
        return invalid(
            INVALID_REQUEST,
            "Invalid offset or limit: offset must be at least 0 and limit between 1 and 1000.",
        );
    };
    let seed = sim.config.seed;
    let mut all = instances(&counts(seed, sim.tick()), seed);
    let held = sim.instances();
    let own = |i: &crate::sim::fleet::SimDcsInstance, status: &str| {
        let memcached = i.engine.eq_ignore_ascii_case("memcached");
        DcsRow {
            id: i.id.clone(),
            name: i.name.clone(),
            engine: if memcached { "memcached" } else { "redis" },
            status: status.to_string(),
            // The listing has always served these versions (the golden /metrics shows them).
            engine_version: if memcached { "1.5" } else { "5.0" },
        }
    };
    all.extend(held.dcs.iter().map(|i| own(i, i.status)));
    // Which status a deleted instance lists with, no source says; `DELETED` is the word the
    // flag's name suggests (docs/fidelity.md).
    if q.include_delete {
        all.extend(held.deleted_dcs.iter().map(|i| own(i, "DELETED")));
    }
    drop(held);
    let matching: Vec<&DcsRow> = all
        .iter()
        .filter(|i| q.include_failure || i.status != "CREATEFAILED")
        .filter(|i| q.instance_id.as_ref().is_none_or(|id| &i.id == id))
        .filter(|i| q.status.as_ref().is_none_or(|s| &i.status == s))
        .filter(|i| q.tags.as_ref().is_none_or(|t| rows::has_tags(&i.id, t)))
        .filter(|i| q.ip.as_ref().is_none_or(|a| rows::has_ip(&i.id, a)))
        .filter(|i| {
            q.name.as_ref().is_none_or(|n| {
                if q.name_equal {
                    &i.name == n
                } else {
                    i.name.contains(n.as_str())
                }
            })
        })
        .collect();
    let (rows, reported) = list_page(&matching, q.offset, q.limit, cx.fault);
    let instances: Vec<Value> = rows
        .into_iter()
        .map(|i| {
            rows::row(&rows::RowFacts {
                id: &i.id,
                name: &i.name,
                engine: if i.engine == "memcached" {
                    "Memcached"
                } else {
                    "Redis"
                },
                engine_version: i.engine_version,
                status: &i.status,
            })
        })
        .collect();
    let body = json!({"instance_num": reported, "instances": instances});
    SimReply::ok(totals_as_faulted(body, "", &["instance_num"], cx.fault))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_agree_with_the_counts() {
        let counts = counts(1, 4);
        let all = instances(&counts, 1);
        for (e, engine) in DCS_ENGINES.iter().enumerate() {
            for (s, state) in DCS_STATES.iter().enumerate() {
                let n = all
                    .iter()
                    .filter(|i| i.engine == *engine && i.status == state.to_ascii_uppercase())
                    .count() as u64;
                assert_eq!(n, counts[e][s], "{engine} {state}");
            }
        }
        let ids: std::collections::HashSet<_> = all.iter().map(|i| &i.id).collect();
        assert_eq!(ids.len(), all.len());
    }

    #[test]
    fn list_query_bounds() {
        let q = list_query(Some("offset=5&limit=1000&include_failure=true")).unwrap();
        assert_eq!((q.offset, q.limit, q.include_failure), (5, 1000, true));
        assert_eq!(list_query(None).unwrap().limit, 10);
        for bad in ["limit=0", "limit=1001", "offset=-1", "limit=x", "offset="] {
            assert_eq!(list_query(Some(bad)), None, "{bad}");
        }
        assert_eq!(
            list_query(Some("name=a%20b")).unwrap().name.as_deref(),
            Some("a b")
        );
    }

    #[test]
    fn top_level_is_sum_of_engines() {
        let counts = counts(1, 3);
        let body = body(&counts, true, false);
        for state in DCS_STATES {
            let key = format!("{state}_count");
            let sum =
                body["redis"][&key].as_u64().unwrap() + body["memcached"][&key].as_u64().unwrap();
            assert_eq!(body[&key].as_u64(), Some(sum), "{key}");
            assert!(sum > 0, "{key}");
        }
    }

    #[test]
    fn createfailed_only_on_request() {
        let counts = counts(1, 0);
        let without = body(&counts, false, false);
        assert!(without.get("createfailed_count").is_none());
        assert!(without["redis"].get("createfailed_count").is_none());
        assert!(body(&counts, true, false)
            .get("createfailed_count")
            .is_some());
        assert!(include_failure(Some("include_failure=true")));
        assert!(!include_failure(Some("include_failure=false")));
        assert!(!include_failure(None));
    }

    #[test]
    fn new_state_adds_field_and_engine() {
        let counts = counts(1, 0);
        let body = body(&counts, true, true);
        assert_eq!(body["hibernating_count"], 5);
        assert_eq!(body["valkey"]["hibernating_count"], 2);
        assert_eq!(body["redis"]["hibernating_count"], 1);
        let running = body["redis"]["running_count"].as_u64().unwrap()
            + body["memcached"]["running_count"].as_u64().unwrap()
            + 5;
        assert_eq!(body["running_count"].as_u64(), Some(running));
    }

    #[test]
    fn dcs_every_state_nonzero_somewhere() {
        for tick in 0..500 {
            let counts = counts(1, tick);
            for s in 0..DCS_STATES.len() {
                assert!(counts.iter().any(|e| e[s] > 0), "tick {tick} state {s}");
            }
        }
        assert_ne!(counts(1, 1), counts(1, 2));
    }
}
