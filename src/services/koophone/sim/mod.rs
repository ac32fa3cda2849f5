//! KooPhone: batch status, async ADB commands and their tasks. KooPhone reports errors inside
//! HTTP 200 (`error_code` != "0") and needs an `x-request-id` on every call.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::sim::fleet::Fleet;
use crate::sim::{hex_id, Call, FaultKind, Inner, Operation, Reply};

/// The API's limits on `instance_ids`.
pub const MAX_IDS: usize = 100;
pub const MAX_ID_CHARS: usize = 32;
/// The task page's limit on `execute_msg`.
pub const MAX_OUTPUT_BYTES: usize = 1024;
/// Tasks are answered for this long, then forgotten.
const TASK_RETENTION: Duration = Duration::from_secs(3600);
/// A status code no table knows, reported under the `unknown_status` fault.
const UNKNOWN_STATUS: u8 = 42;

/// A KooPhone error inside HTTP 200 (a non-"0" `error_code`): how the service reports a
/// valid request it could not serve.
pub(crate) fn error(code: &str, msg: &str) -> Reply {
    Reply::ok(json!({"error_code": code, "error_msg": msg}))
}

/// A request the pages list under HTTP 400 (bad parameters, an unknown task): the same body.
fn rejected(code: &str, msg: &str) -> Reply {
    Reply::new(
        StatusCode::BAD_REQUEST,
        json!({"error_code": code, "error_msg": msg}),
    )
}

fn bad_param(detail: &str) -> Reply {
    rejected(
        "KOOPHONE.API.1000",
        &format!("The request parameter is incorrect: {detail}"),
    )
}

const TASK_NOT_FOUND: (&str, &str) = ("KOOPHONE.API.1323", "The task does not exist.");

/// The rejection `request_rejected` (HTTP 400) and `errors_in_200` (HTTP 200) serve.
pub(crate) fn rejection(op: Operation, status: StatusCode) -> Response {
    let (code, msg) = match op {
        Operation::KoophoneTask => TASK_NOT_FOUND,
        _ => (
            "KOOPHONE.API.1000",
            "The request parameter is incorrect: rejected by the simulator's fault",
        ),
    };
    crate::sim::json_response(status, &json!({"error_code": code, "error_msg": msg}))
}

/// The answer of a batch-status call asking for any phone a `forbidden_ids` or `released_ids`
/// fault names: the whole batch fails, as the real API fails a batch for one bad id. A call the
/// handler would reject anyway (no request id, a bad body) is left to it.
pub(crate) fn denied_ids(op: Operation, fault: &crate::sim::FaultSpec, call: &Call) -> Option<Response> {
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
    if op != Operation::KoophoneBatchStatus || !has_request_id(&call.headers) {
        return None;
    }
    let bad = fault.ids.as_deref().unwrap_or_default();
    let value = serde_json::from_slice::<Value>(&call.body).ok()?;
    let ids = parse_ids(&value).ok()?;
    ids.iter()
        .any(|id| bad.iter().any(|b| b == id))
        .then(|| crate::sim::json_response(status, &json!({"error_code": code, "error_msg": msg})))
}

fn success(data: Value) -> Reply {
    Reply::ok(json!({"data": data, "error_code": "0", "error_msg": "ok"}))
}

fn has_request_id(headers: &HeaderMap) -> bool {
    headers
        .get("x-request-id")
        .is_some_and(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
}

fn missing_request_id() -> Reply {
    error(
        "KOOPHONE.API.0002",
        "The request header x-request-id is missing.",
    )
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
    crate::config::check_command(command).map_err(|why| format!("command {why}"))
}

pub(crate) async fn batch_status(State(inner): State<Arc<Inner>>, call: Call) -> Response {
    inner
        .serve(Operation::KoophoneBatchStatus, &call, |inner, fault| {
            if !has_request_id(&call.headers) {
                return missing_request_id();
            }
            let Ok(value) = serde_json::from_slice::<Value>(&call.body) else {
                return bad_param("the body is not valid JSON");
            };
            match parse_ids(&value) {
                Ok(ids) => success(json!({
                    "status_results": status_results(&inner.fleet(), inner.tick(), &ids, fault)
                })),
                Err(why) => bad_param(&why),
            }
        })
        .await
}

/// One `{instance_id, status}` per requested phone the fleet has; unknown ids are absent.
pub(crate) fn status_results(
    fleet: &Fleet,
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

pub(crate) async fn async_command(State(inner): State<Arc<Inner>>, call: Call) -> Response {
    inner
        .serve(Operation::KoophoneAsyncCommand, &call, |inner, fault| {
            if !has_request_id(&call.headers) {
                return missing_request_id();
            }
            let Ok(value) = serde_json::from_slice::<Value>(&call.body) else {
                return bad_param("the body is not valid JSON");
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
            let share = fault == Some(FaultKind::DuplicateJobIds);
            let task = inner
                .tasks
                .create(&inner.fleet(), inner.tick(), command, &ids, share);
            success(task)
        })
        .await
}

pub(crate) async fn task(
    State(inner): State<Arc<Inner>>,
    Path(task_id): Path<String>,
    call: Call,
) -> Response {
    inner
        .serve(Operation::KoophoneTask, &call, |inner, fault| {
            if !has_request_id(&call.headers) {
                return missing_request_id();
            }
            match inner
                .tasks
                .jobs(&inner.fleet(), &task_id, inner.config.job_delay)
            {
                Some(jobs) if fault == Some(FaultKind::DuplicateJobIds) => {
                    success(json!({ "jobs": with_failed_copies(jobs) }))
                }
                Some(jobs) => success(json!({ "jobs": jobs })),
                None => rejected(TASK_NOT_FOUND.0, TASK_NOT_FOUND.1),
            }
        })
        .await
}

struct Job {
    job_id: String,
    /// Fleet index, `None` for a phone the fleet does not have.
    phone: Option<usize>,
}

struct Task {
    created: Instant,
    /// The fleet tick when the command was sent; fixes each phone's status for its job.
    tick: u64,
    command: String,
    jobs: Vec<Job>,
}

#[derive(Default)]
struct Tasks {
    by_id: HashMap<String, Task>,
    /// Creation order, to forget tasks older than [`TASK_RETENTION`] in O(1) each.
    order: VecDeque<(Instant, String)>,
}

/// Async-command tasks, kept for an hour.
#[derive(Default)]
pub(crate) struct TaskStore {
    tasks: Mutex<Tasks>,
}

impl TaskStore {
    fn lock(&self) -> MutexGuard<'_, Tasks> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a task and answers `{task_id, cmd_jobs}`; with `share`, the first two phones get
    /// the same job id (the `duplicate_job_ids` fault).
    fn create(&self, fleet: &Fleet, tick: u64, command: &str, ids: &[&str], share: bool) -> Value {
        let task_id = hex_id();
        let mut jobs: Vec<Job> = ids
            .iter()
            .map(|id| Job {
                job_id: hex_id(),
                phone: fleet.index_of(id),
            })
            .collect();
        if share && jobs.len() >= 2 {
            jobs[1].job_id = jobs[0].job_id.clone();
        }
        let cmd_jobs: Vec<Value> = ids
            .iter()
            .zip(&jobs)
            .map(|(id, job)| json!({"instance_id": id, "job_id": job.job_id}))
            .collect();
        let now = Instant::now();
        let mut tasks = self.lock();
        while let Some((created, _)) = tasks.order.front() {
            if *created + TASK_RETENTION > now {
                break;
            }
            if let Some((_, old)) = tasks.order.pop_front() {
                tasks.by_id.remove(&old);
            }
        }
        tasks.order.push_back((now, task_id.clone()));
        tasks.by_id.insert(
            task_id.clone(),
            Task {
                created: now,
                tick,
                command: command.to_string(),
                jobs,
            },
        );
        json!({"task_id": task_id, "cmd_jobs": cmd_jobs})
    }

    /// The task's jobs as the tasks page shows them, or `None` for an unknown (or forgotten) task.
    fn jobs(&self, fleet: &Fleet, task_id: &str, job_delay: Duration) -> Option<Vec<Value>> {
        let tasks = self.lock();
        let task = tasks.by_id.get(task_id)?;
        if task.created.elapsed() >= TASK_RETENTION {
            return None;
        }
        let done = task.created.elapsed() >= job_delay;
        Some(
            task.jobs
                .iter()
                .map(|job| job_detail(fleet, task, job, done))
                .collect(),
        )
    }
}

/// Each job followed by a copy under the same id saying it failed (the `duplicate_job_ids` fault
/// on the task query).
fn with_failed_copies(jobs: Vec<Value>) -> Vec<Value> {
    jobs.into_iter()
        .flat_map(|job| {
            let copy = json!({
                "job_id": job["job_id"],
                "status": -1,
                "error_code": "CPS9999",
                "error_msg": "Internal error.",
                "execute_msg": null,
            });
            [job, copy]
        })
        .collect()
}

fn job_detail(fleet: &Fleet, task: &Task, job: &Job, done: bool) -> Value {
    let (status, code, msg, output) = match job.phone {
        _ if !done => (1, "", "", Value::Null),
        None => (-1, "CPS0005", "Phone not found.", Value::Null),
        Some(idx) => match fleet.phone_status(idx, task.tick) {
            5 | 6 => (
                -1,
                "CPS0102",
                "The phone is in an abnormal state and cannot execute the command.",
                json!(""),
            ),
            _ => (
                2,
                "",
                "",
                json!(execute(fleet, idx, task.tick, &task.command)),
            ),
        },
    };
    json!({
        "job_id": job.job_id,
        "status": status,
        "error_code": code,
        "error_msg": msg,
        "execute_msg": output,
    })
}

const LS_SYSTEM: &str = "total 96
drwxr-xr-x  48 root root   4096 2009-01-01 08:00 app
drwxr-xr-x   3 root shell  8192 2009-01-01 08:00 bin
-rw-------   1 root root   3526 2009-01-01 08:00 build.prop
drwxr-xr-x  16 root root   4096 2009-01-01 08:00 etc
drwxr-xr-x   2 root root  12288 2009-01-01 08:00 fonts
drwxr-xr-x   5 root root   4096 2009-01-01 08:00 framework
drwxr-xr-x   7 root root  16384 2009-01-01 08:00 lib
drwxr-xr-x   5 root root  20480 2009-01-01 08:00 lib64
drwxr-xr-x   3 root root   4096 2009-01-01 08:00 media
drwxr-xr-x  71 root root   4096 2009-01-01 08:00 priv-app
drwxr-xr-x   8 root root   4096 2009-01-01 08:00 usr
drwxr-x--x   4 root shell  4096 2009-01-01 08:00 xbin";

/// What the phone prints for a few well-known commands; nothing for the rest.
fn execute(fleet: &Fleet, idx: usize, tick: u64, command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let out = match words.as_slice() {
        ["getprop", "sys.boot_completed"] => "1".to_string(),
        ["getprop", "ro.product.model"] => fleet.phone_model(idx).to_string(),
        ["echo", rest @ ..] => rest.join(" "),
        ["ls", "-l", "/system"] => LS_SYSTEM.to_string(),
        ["uptime"] => uptime(fleet.phone_uptime_secs(idx, tick), idx),
        _ => String::new(),
    };
    truncate(out, MAX_OUTPUT_BYTES)
}

fn uptime(up: u64, idx: usize) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        % 86_400;
    let days = up / 86_400;
    let (h, m) = ((up % 86_400) / 3600, (up % 3600) / 60);
    let load = (idx % 90) as f64 / 100.0 + 0.1;
    format!(
        " {:02}:{:02}:{:02} up {days} days, {h:2}:{m:02},  0 users,  load average: {:.2}, {:.2}, {:.2}",
        now / 3600,
        (now % 3600) / 60,
        now % 60,
        load,
        load * 0.9,
        load * 0.8
    )
}

/// Cuts at a character boundary at or below `max` bytes (`execute_msg` holds at most 1,024).
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Largest `page_size` the listing accepts; a larger one is refused with 400. Sizes above
/// [`LIST_PAGE_CLAMP`] are served as that many rows, echoed in `data.page_size`.
pub const MAX_LIST_PAGE_SIZE: u64 = 1_000;
/// Rows one listing page holds at most, whatever was asked.
pub const LIST_PAGE_CLAMP: u64 = 100;

/// `GET /v1/instances/batch-query`: the phones the account has, paged by `page_no` (from
/// `list_first_page`) and `page_size`; `x-request-id` is a query parameter here; filters
/// `instance_id`, `instance_name` (exact), `pool_scene_tag`, `pool_name`. Listing faults shape
/// the page (see `listing::page_view`).
pub(crate) async fn list(State(inner): State<Arc<Inner>>, call: Call) -> Response {
    inner
        .serve(Operation::KoophoneList, &call, |inner, fault| {
            let query: Vec<(String, String)> =
                match axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&call.uri) {
                    Ok(q) => q.0,
                    Err(_) => return bad_param("the query string is not valid"),
                };
            let get = |k: &str| query.iter().find(|(q, _)| q == k).map(|(_, v)| v.as_str());
            if get("x-request-id").is_none_or(|v| v.trim().is_empty()) {
                return error(
                    "KOOPHONE.API.0002",
                    "The request parameter x-request-id is missing.",
                );
            }
            let number = |k: &str| -> Result<u64, Reply> {
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
            let first = inner.config.list_first_page;
            if page_no < first {
                return bad_param(&format!("page_no must be at least {first}"));
            }
            let max = inner.config.list_max_page_size.min(MAX_LIST_PAGE_SIZE);
            if asked == 0 || asked > max {
                return bad_param(&format!("page_size must be between 1 and {max}"));
            }
            let scene = get("pool_scene_tag");
            if scene.is_some_and(|t| t != "CLOUD_APP" && t != "CLOUD_PHONE") {
                return bad_param("pool_scene_tag must be CLOUD_APP or CLOUD_PHONE");
            }
            let pool = get("pool_name");
            let by_id = get("instance_id");
            let by_name = get("instance_name");
            let size = asked.min(LIST_PAGE_CLAMP) as usize;
            let fleet = inner.fleet();
            let filtered =
                scene.is_some() || pool.is_some() || by_id.is_some() || by_name.is_some();
            let matching: Vec<usize> = if filtered {
                fleet
                    .live()
                    .iter()
                    .copied()
                    .filter(|&i| {
                        let (s, p) = fleet.pool_of(i);
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
            let view = crate::sim::listing::page_view(rows.len(), offset, size, fault);
            let tick = inner.tick();
            let result: Vec<Value> = rows[view.start..view.end]
                .iter()
                .map(|&i| fleet.listing_row(i, tick))
                .collect();
            Reply::ok(json!({
                "data": {
                    "result": result,
                    "page_no": page_no,
                    "page_size": size,
                    "total_count": view.total,
                    "error_code": "0",
                    "error_msg": "ok",
                },
                "error_code": "0",
                "error_msg": "ok",
            }))
        })
        .await
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
    fn duplicate_job_ids_fault() {
        let fleet = Fleet::new(1, 50);
        let ids: Vec<&str> = fleet.ids()[..3].iter().map(String::as_str).collect();
        let store = TaskStore::default();
        let plain = store.create(&fleet, 0, "echo ok", &ids, false);
        let jobs = |v: &Value| -> Vec<String> {
            v["cmd_jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["job_id"].as_str().unwrap().to_string())
                .collect()
        };
        let j = jobs(&plain);
        assert!(j[0] != j[1] && j[1] != j[2]);
        let shared = jobs(&store.create(&fleet, 0, "echo ok", &ids, true));
        assert_eq!(shared[0], shared[1]);
        assert_ne!(shared[1], shared[2]);
        let task = plain["task_id"].as_str().unwrap();
        let rows = store.jobs(&fleet, task, Duration::ZERO).unwrap();
        let doubled = with_failed_copies(rows.clone());
        assert_eq!(doubled.len(), 2 * rows.len());
        assert_eq!(doubled[0], rows[0]);
        assert_eq!(doubled[1]["job_id"], rows[0]["job_id"]);
        assert_eq!(doubled[1]["status"], -1);
    }

    #[test]
    fn status_results_faults() {
        let fleet = Fleet::new(1, 50);
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

    #[test]
    fn outputs() {
        let fleet = Fleet::new(1, 5);
        assert_eq!(execute(&fleet, 0, 0, "getprop sys.boot_completed"), "1");
        assert_eq!(execute(&fleet, 0, 0, "echo hello  world"), "hello world");
        assert!(execute(&fleet, 0, 0, "ls -l /system").contains("build.prop"));
        assert!(execute(&fleet, 0, 0, "uptime").contains("load average"));
        assert!(!execute(&fleet, 0, 0, "getprop ro.product.model").is_empty());
        assert_eq!(execute(&fleet, 0, 0, "reboot"), "");
        assert_eq!(truncate("ééé".to_string(), 3), "é");
    }
}
