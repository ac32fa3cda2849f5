//! KooPhone: batch status, async ADB commands and their tasks (`tasks`), and the phone
//! listing. KooPhone reports errors inside HTTP 200 (`error_code` != "0") and needs an
//! `x-request-id` on every call. Rejections (bad parameters, an unknown task) are HTTP 400 with
//! the `KOOPHONE.API.1000` / `.1323` body, as the reference pages list them (the `errors_in_200`
//! fault serves them inside HTTP 200 instead); a job on a phone in backup/restoration exception
//! fails with `CPS0102`, a code the pages do not give (docs/fidelity.md).

mod tasks;
mod times;

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::api;
use crate::sim::faults::{FaultKind, FaultSpec};
use crate::sim::fleet::{hash3, personal_values, SimFleet};
use crate::sim::listing::{page_view, totals_as_faulted};
use crate::sim::pipeline::{Ctx, SimService, GET, HOSTILE_MESSAGE, POST};
use crate::sim::routes::{Routes, Simulated};
use crate::sim::state::{Call, SimReply};
use crate::transport::Operation;
use tasks::{with_failed_copies, TaskStore};
use times::check_time_range;

/// The API's limits on `instance_ids`: how many.
pub const MAX_IDS: usize = 100;
/// The API's limits on `instance_ids`: how long each.
pub const MAX_ID_CHARS: usize = 32;
/// A status code no table knows, reported under the `unknown_status` fault.
const UNKNOWN_STATUS: u8 = 42;

/// KooPhone as the pipeline sees it: tokens only, errors mostly inside HTTP 200, and the
/// rejection and denied-ids faults.
#[derive(Clone, Copy)]
pub(crate) struct SimKoophone;

impl SimService for SimKoophone {
    const SIGNATURES_REFUSED: Option<&'static str> = Some("KooPhone accepts only X-Auth-Token");
    const SERVER_ERROR: (&'static str, &'static str) =
        ("KOOPHONE.API.9999", "Internal service error.");
    const API_ERROR: (StatusCode, &'static str, &'static str) = (
        StatusCode::OK,
        "KOOPHONE.API.9999",
        "Internal service error.",
    );

    fn hostile_error(&self) -> Response {
        self.error(StatusCode::OK, "KOOPHONE.API.9999", HOSTILE_MESSAGE)
    }

    fn fault_answer(&self, op: &Operation, fault: &FaultSpec, call: &Call) -> Option<Response> {
        match fault.kind? {
            FaultKind::RequestRejected => Some(rejection(op, StatusCode::BAD_REQUEST)),
            FaultKind::ErrorsIn200 => Some(rejection(op, StatusCode::OK)),
            _ => denied_ids(op, fault, call),
        }
    }
}

/// Batch status, async commands, their tasks and the listing. The tasks live as long as the
/// router this is merged into: one store per simulator.
fn routes() -> Routes {
    let tasks = Arc::new(TaskStore::default());
    let queried = tasks.clone();
    Routes::new()
        .route(
            "/v1/instances/batch-query-status",
            POST,
            SimKoophone,
            &api::BATCH_STATUS,
            batch_status,
        )
        .route(
            "/v1/instances/async-command",
            POST,
            SimKoophone,
            &api::ASYNC_COMMAND,
            move |cx, ()| async_command(cx, &tasks),
        )
        .route(
            "/v1/instances/batch-query",
            GET,
            SimKoophone,
            &api::LIST,
            list,
        )
        .route(
            "/v1/instances/tasks/{task_id}",
            GET,
            SimKoophone,
            &api::TASK,
            move |cx, Path(task_id): Path<String>| task(cx, &queried, &task_id),
        )
}

/// KooPhone as the simulator serves it.
pub static SIMULATED: Simulated = Simulated { routes };

/// A KooPhone error inside HTTP 200 (a non-"0" `error_code`): how the service reports a
/// valid request it could not serve.
fn error(code: &str, msg: &str) -> SimReply {
    SimReply::ok(json!({"error_code": code, "error_msg": msg}))
}

/// A request the pages list under HTTP 400 (bad parameters, an unknown task): the same body.
fn rejected(code: &str, msg: &str) -> SimReply {
    SimReply::new(
        StatusCode::BAD_REQUEST,
        json!({"error_code": code, "error_msg": msg}),
    )
}

fn bad_param(detail: &str) -> SimReply {
    rejected(
        "KOOPHONE.API.1000",
        &format!("The request parameter is incorrect: {detail}"),
    )
}

const TASK_NOT_FOUND: (&str, &str) = ("KOOPHONE.API.1323", "The task does not exist.");

/// The rejection `request_rejected` (HTTP 400) and `errors_in_200` (HTTP 200) serve.
fn rejection(op: &Operation, status: StatusCode) -> Response {
    let (code, msg) = if op.name == api::TASK.name {
        TASK_NOT_FOUND
    } else {
        (
            "KOOPHONE.API.1000",
            "The request parameter is incorrect: rejected by the simulator's fault",
        )
    };
    SimKoophone.error(status, code, msg)
}

/// The answer of a batch-status call asking for any phone a `forbidden_ids` or `released_ids`
/// fault names: the whole batch fails, as the real API fails a batch for one bad id. A call the
/// handler would reject anyway (no request id, a bad body) is left to it.
fn denied_ids(op: &Operation, fault: &FaultSpec, call: &Call) -> Option<Response> {
    let (status, code, msg) = match fault.kind? {
        FaultKind::ForbiddenIds => (
            StatusCode::OK,
            "KOOPHONE.API.1001",
            "You do not have permission to access the requested instances.",
        ),
        FaultKind::ReleasedIds => (
            StatusCode::BAD_REQUEST,
            "KOOPHONE.API.1000",
            "The request parameter is incorrect: instance_ids contains an instance that does not exist.",
        ),
        FaultKind::ReleasedIdsIn200 => (
            StatusCode::OK,
            "KOOPHONE.API.1000",
            "The request parameter is incorrect: instance_ids contains an instance that does not exist.",
        ),
        _ => return None,
    };
    if op.name != api::BATCH_STATUS.name || !has_request_id(&call.headers) {
        return None;
    }
    let bad = fault.ids.as_deref().unwrap_or_default();
    let value = serde_json::from_slice::<Value>(&call.body).ok()?;
    let ids = parse_ids(&value).ok()?;
    ids.iter()
        .any(|id| bad.iter().any(|b| b == id))
        .then(|| SimKoophone.error(status, code, msg))
}

fn success(data: Value) -> SimReply {
    SimReply::ok(json!({"data": data, "error_code": "0", "error_msg": "ok"}))
}

fn has_request_id(headers: &HeaderMap) -> bool {
    headers
        .get("x-request-id")
        .is_some_and(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
}

fn missing_request_id() -> SimReply {
    error(
        "KOOPHONE.API.0002",
        "The request header x-request-id is missing.",
    )
}

/// The JSON body of a call that must carry `x-request-id`, or the answer refusing it.
fn request_body(call: &Call) -> Result<Value, SimReply> {
    if !has_request_id(&call.headers) {
        return Err(missing_request_id());
    }
    serde_json::from_slice::<Value>(&call.body).map_err(|_| bad_param("the body is not valid JSON"))
}

/// `instance_ids`: 1..=100 strings of 1..=32 characters; duplicates are answered once.
pub(crate) fn parse_ids(body: &Value) -> Result<Vec<&str>, String> {
    let ids = body
        .get("instance_ids")
        .ok_or("instance_ids is required")?
        .as_array()
        .ok_or("instance_ids must be an array of strings")?;
    if ids.is_empty() {
        return Err("instance_ids must not be empty".to_string());
    }
    if ids.len() > MAX_IDS {
        return Err(format!(
            "instance_ids has {} items; at most {MAX_IDS} are allowed",
            ids.len()
        ));
    }
    let mut seen = HashSet::with_capacity(ids.len());
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let id = id
            .as_str()
            .ok_or("instance_ids must be an array of strings")?;
        let chars = id.chars().count();
        if chars == 0 || chars > MAX_ID_CHARS {
            return Err(format!(
                "instance id {id:?} has {chars} characters; 1 to {MAX_ID_CHARS} are allowed"
            ));
        }
        if seen.insert(id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// At most 1,024 bytes of letters, digits, `_ . / : -` and spaces (the page's example has spaces):
/// the same rule the exporter checks its probe modules against at start.
pub fn validate_command(command: &str) -> Result<(), String> {
    crate::services::koophone::modules::check_command(command)
        .map_err(|why| format!("command {why}"))
}

fn batch_status(cx: Ctx<'_>, (): ()) -> SimReply {
    let value = match request_body(cx.call) {
        Ok(value) => value,
        Err(refused) => return refused,
    };
    match parse_ids(&value) {
        Ok(ids) => success(json!({
            "status_results": status_results(&cx.sim.fleet(), cx.sim.tick(), &ids, cx.fault)
        })),
        Err(why) => bad_param(&why),
    }
}

/// One `{instance_id, status}` per requested phone the fleet has; unknown ids are absent.
pub(crate) fn status_results(
    fleet: &SimFleet,
    tick: u64,
    ids: &[&str],
    fault: Option<FaultKind>,
) -> Vec<Value> {
    let skip = usize::from(fault == Some(FaultKind::MissingPhone));
    let mut rows: Vec<Value> = ids
        .iter()
        .skip(skip)
        .filter_map(|id| fleet.index_of(id).map(|idx| (*id, idx)))
        .enumerate()
        .map(|(n, (id, idx))| {
            let status = match fault {
                Some(FaultKind::UnknownStatus) if n % 5 == 0 => json!(UNKNOWN_STATUS),
                Some(FaultKind::StatusOutOfRange) if n % 4 == 0 => match n / 4 % 3 {
                    0 => json!(9_223_372_036_854_775_808u64),
                    1 => json!("3"),
                    _ => json!(2.5),
                },
                _ => json!(fleet.phone_status(idx, tick)),
            };
            json!({"instance_id": id, "status": status})
        })
        .collect();
    match fault {
        Some(FaultKind::DuplicateRows) => {
            // Every row twice, the repeat saying another status: the first must win.
            let repeats: Vec<Value> = rows
                .iter()
                .map(|r| json!({"instance_id": r["instance_id"], "status": 6}))
                .collect();
            rows.extend(repeats);
        }
        Some(FaultKind::UnaskedIds) => {
            for i in 0..3 {
                rows.push(json!({"instance_id": format!("notasked{i}"), "status": 0}));
            }
        }
        _ => {}
    }
    rows
}

fn async_command(cx: Ctx<'_>, tasks: &TaskStore) -> SimReply {
    let value = match request_body(cx.call) {
        Ok(value) => value,
        Err(refused) => return refused,
    };
    let Some(command) = value.get("command").and_then(Value::as_str) else {
        return bad_param("command is required and must be a string");
    };
    if let Err(why) = validate_command(command) {
        return bad_param(&why);
    }
    let ids = match parse_ids(&value) {
        Ok(ids) => ids,
        Err(why) => return bad_param(&why),
    };
    let share = cx.fault == Some(FaultKind::DuplicateJobIds);
    let sim = cx.sim;
    success(tasks.create(&sim.fleet(), sim.tick(), command, &ids, share))
}

fn task(cx: Ctx<'_>, tasks: &TaskStore, task_id: &str) -> SimReply {
    if !has_request_id(&cx.call.headers) {
        return missing_request_id();
    }
    let sim = cx.sim;
    match tasks.jobs(&sim.fleet(), task_id, sim.config.job_delay) {
        Some(jobs) if cx.fault == Some(FaultKind::DuplicateJobIds) => {
            success(json!({ "jobs": with_failed_copies(jobs) }))
        }
        Some(jobs) => success(json!({ "jobs": jobs })),
        None => rejected(TASK_NOT_FOUND.0, TASK_NOT_FOUND.1),
    }
}

/// Largest `page_size` the listing accepts, the definition's `maximum` (the page gives none); a
/// larger one is refused with 400. Sizes above [`LIST_PAGE_CLAMP`] are served as that many rows,
/// echoed in `data.page_size`.
pub const MAX_LIST_PAGE_SIZE: u64 = 200;
/// Rows one listing page holds at most, whatever was asked.
pub const LIST_PAGE_CLAMP: u64 = 100;

/// `GET /v1/instances/batch-query`: the phones the account has, paged by `page_no` (from
/// `list_first_page`) and `page_size`; `x-request-id` is a query parameter here; filters
/// `instance_id`, `instance_name` (exact), `pool_scene_tag`, `pool_name`. Listing faults shape
/// the page (see `listing::page_view`).
fn list(cx: Ctx<'_>, (): ()) -> SimReply {
    let sim = cx.sim;
    let query: Vec<(String, String)> =
        match axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&cx.call.uri) {
            Ok(q) => q.0,
            Err(_) => return bad_param("the query string is not valid"),
        };
    let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
    if get("x-request-id").is_none_or(|v| v.trim().is_empty()) {
        // The definition's 200 schema has the codes inside `data` only.
        return SimReply::ok(json!({"data": {
            "error_code": "KOOPHONE.API.0002",
            "error_msg": "The request parameter x-request-id is missing.",
        }}));
    }
    let number = |k: &str| -> Result<u64, SimReply> {
        get(k)
            .ok_or_else(|| bad_param(&format!("{k} is required")))?
            .trim()
            .parse::<u64>()
            .map_err(|_| bad_param(&format!("{k} must be a non-negative integer")))
    };
    let page_no = match number("page_no") {
        Ok(n) => n,
        Err(r) => return r,
    };
    let asked = match number("page_size") {
        Ok(n) => n,
        Err(r) => return r,
    };
    let first = sim.config.list_first_page;
    if page_no < first {
        return bad_param(&format!("page_no must be at least {first}"));
    }
    let max = sim.config.list_max_page_size.min(MAX_LIST_PAGE_SIZE);
    if asked == 0 || asked > max {
        return bad_param(&format!("page_size must be between 1 and {max}"));
    }
    if let Err((code, msg)) = check_time_range(get("query_start_time"), get("query_end_time")) {
        return rejected(code, &msg);
    }
    let scene = get("pool_scene_tag");
    if scene.is_some_and(|t| t != "CLOUD_APP" && t != "CLOUD_PHONE") {
        return bad_param("pool_scene_tag must be CLOUD_APP or CLOUD_PHONE");
    }
    let pool = get("pool_name");
    let by_id = get("instance_id");
    let by_name = get("instance_name");
    let size = asked.min(LIST_PAGE_CLAMP) as usize;
    let fleet = sim.fleet();
    let filtered = scene.is_some() || pool.is_some() || by_id.is_some() || by_name.is_some();
    let matching: Vec<usize> = if filtered {
        fleet
            .live()
            .iter()
            .copied()
            .filter(|&i| {
                let (s, p) = pool_of(&fleet, i);
                scene.is_none_or(|t| t == s)
                    && pool.is_none_or(|n| n == p)
                    && by_id.is_none_or(|id| fleet.ids()[i] == id)
                    && by_name.is_none_or(|n| n == format!("phone-{i:05}"))
            })
            .collect()
    } else {
        Vec::new()
    };
    let rows: &[usize] = if filtered { &matching } else { fleet.live() };
    let offset = usize::try_from(page_no - first)
        .unwrap_or(usize::MAX)
        .saturating_mul(size);
    let view = page_view(rows.len(), offset, size, cx.fault);
    let tick = sim.tick();
    let result: Vec<Value> = rows[view.start..view.end]
        .iter()
        .map(|&i| listing_row(&fleet, i, tick))
        .collect();
    // The definition (InstanceBatchQueryRsp) puts `error_code`/`error_msg` inside `data` and
    // nowhere else; the exporter reads them in either place.
    let body = json!({
        "data": {
            "result": result,
            "page_no": page_no,
            "page_size": size,
            "total_count": view.total,
            "error_code": "0",
            "error_msg": "ok",
        },
    });
    SimReply::ok(totals_as_faulted(body, "/data", &["total_count"], cx.fault))
}

/// The region every simulated phone is in.
const SIM_REGION: &str = "ap-southeast-1";

/// The listing row of phone `idx` at `tick`, with the personal fields a real answer has.
fn listing_row(fleet: &SimFleet, idx: usize, tick: u64) -> Value {
    let [user, member, account] = personal_values(idx);
    // The listing's running status follows the phone's status code.
    const RUNNING: [u8; 8] = [2, 4, 1, 2, 3, 5, 0, 2];
    let running = RUNNING[usize::from(fleet.phone_status(idx, tick)) % RUNNING.len()];
    let h = hash3(fleet.seed(), idx as u64, 0x4c49_5354);
    json!({
        "instance_id": fleet.ids()[idx],
        "instance_name": format!("phone-{idx:05}"),
        "region": SIM_REGION,
        "instance_sku": format!("{} | 8 vCPUs | 16 GB", if h % 3 == 0 { "Professional" } else { "Standard" }),
        "frozen_status": u8::from(h % 40 == 7),
        "running_status": running,
        "login_status": h % 2,
        "assign_status": 1,
        "assign_user": user,
        "billing_mode": "ON_DEMAND",
        "project_id": "0123456789abcdef0123456789abcdef",
        "project_name": SIM_REGION,
        "phone_id": format!("{:016x}", h),
        "member_name": member,
        "account_name": account,
        "region_name": "AP-Singapore",
        "region_name_en": "AP-Singapore",
        "backup_status": 2,
        "backup_time": "2025-11-02 10:00:00",
        // The definition types these an integer and a string; a phone never restored still gets
        // values (the last restore succeeded), as a null would break the type.
        "restore_status": restore_status(fleet.phone_status(idx, tick)),
        "restore_time": "2025-10-20 08:30:00",
    })
}

/// `restore_status` (0 preparing, 1 running, 2 succeeded, 3 failed) by the phone's status code:
/// restoring (1) is a running restore, a restoration exception (6) a failed one.
fn restore_status(code: u8) -> u8 {
    match code {
        1 => 1,
        6 => 3,
        _ => 2,
    }
}

/// The pool a phone belongs to: (`pool_scene_tag`, `pool_name`).
fn pool_of(fleet: &SimFleet, idx: usize) -> (&'static str, &'static str) {
    let h = hash3(fleet.seed(), idx as u64, 0x504f_4f4c);
    let scene = if h % 5 == 0 {
        "CLOUD_APP"
    } else {
        "CLOUD_PHONE"
    };
    const POOLS: [&str; 3] = ["pool-a", "pool-b", "pool-c"];
    (scene, POOLS[((h >> 8) % 3) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_validation() {
        assert!(validate_command("ls -l /system").is_ok());
        assert!(validate_command("getprop sys.boot_completed").is_ok());
        assert!(validate_command("a:b_c-d.e/f").is_ok());
        assert!(validate_command(&"a".repeat(1024)).is_ok());
        assert!(validate_command(&"a".repeat(1025)).is_err());
        assert!(validate_command("").is_err());
        assert!(validate_command("   ").is_err());
        for bad in [
            "ls; rm -rf /",
            "echo $HOME",
            "a|b",
            "a\"b",
            "a\nb",
            "é",
            "a\tb",
        ] {
            assert!(validate_command(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn id_validation() {
        let ok = json!({"instance_ids": ["a44uhlf7", "efjy72gs", "a44uhlf7"]});
        assert_eq!(parse_ids(&ok).unwrap(), vec!["a44uhlf7", "efjy72gs"]);
        let many: Vec<String> = (0..101).map(|i| format!("p{i}")).collect();
        let hundred = &many[..100];
        assert!(parse_ids(&json!({ "instance_ids": hundred })).is_ok());
        for bad in [
            json!({}),
            json!({"instance_ids": []}),
            json!({"instance_ids": "a44uhlf7"}),
            json!({"instance_ids": [1]}),
            json!({"instance_ids": [""]}),
            json!({"instance_ids": ["x".repeat(33)]}),
            json!({ "instance_ids": many }),
        ] {
            assert!(parse_ids(&bad).is_err(), "{bad}");
        }
        assert!(parse_ids(&json!({"instance_ids": ["x".repeat(32)]})).is_ok());
    }

    #[test]
    fn status_results_faults() {
        let fleet = SimFleet::new(1, 50);
        let ids: Vec<&str> = fleet.ids()[..10].iter().map(String::as_str).collect();
        let mut with_unknown = ids.clone();
        with_unknown.insert(1, "zzzzzzzz");
        let plain = status_results(&fleet, 0, &with_unknown, None);
        assert_eq!(plain.len(), 10);
        assert_eq!(plain[0]["instance_id"], "a44uhlf7");
        let missing = status_results(&fleet, 0, &ids, Some(FaultKind::MissingPhone));
        assert_eq!(missing.len(), 9);
        assert_eq!(missing[0]["instance_id"], "efjy72gs");
        let unknown = status_results(&fleet, 0, &ids, Some(FaultKind::UnknownStatus));
        assert!(unknown.iter().any(|r| r["status"] == 42));
        assert!(unknown.iter().any(|r| r["status"] != 42));
    }
}
