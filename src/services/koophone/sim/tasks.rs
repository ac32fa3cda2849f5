//! KooPhone's async-command tasks: the store of tasks sent (kept for an hour), each phone's
//! job and what the phone prints for a few well-known commands.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::sim::fleet::SimFleet;
use crate::sim::state::hex_id;
use crate::sync::lock;

/// The task page's limit on `execute_msg`.
pub const MAX_OUTPUT_BYTES: usize = 1024;
/// Tasks are answered for this long, then forgotten.
const TASK_RETENTION: Duration = Duration::from_secs(3600);

/// One phone's job of a task.
struct SimJob {
    /// The id the answer and the task query give it.
    job_id: String,
    /// SimFleet index, `None` for a phone the fleet does not have.
    phone: Option<usize>,
}

/// One async command sent to some phones.
struct Task {
    /// When it was sent; it finishes `job_delay` later and is forgotten after an hour.
    created: Instant,
    /// The fleet tick when the command was sent; fixes each phone's status for its job.
    tick: u64,
    /// The command, whose output the jobs report.
    command: String,
    /// One job per phone asked, in the order asked.
    jobs: Vec<SimJob>,
}

#[derive(Default)]
struct Tasks {
    /// Task id → task.
    by_id: HashMap<String, Task>,
    /// Creation order, to forget tasks older than [`TASK_RETENTION`] in O(1) each.
    order: VecDeque<(Instant, String)>,
}

/// Async-command tasks, kept for an hour.
#[derive(Default)]
pub(crate) struct TaskStore {
    /// The tasks, by id and in creation order.
    tasks: Mutex<Tasks>,
}

impl TaskStore {
    /// Records a task and answers `{task_id, cmd_jobs}`; with `share`, the first two phones get
    /// the same job id (the `duplicate_job_ids` fault).
    pub(super) fn create(
        &self,
        fleet: &SimFleet,
        tick: u64,
        command: &str,
        ids: &[&str],
        share: bool,
    ) -> Value {
        let task_id = hex_id();
        let mut jobs: Vec<SimJob> = ids
            .iter()
            .map(|id| SimJob {
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
        let mut tasks = lock(&self.tasks);
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
    pub(super) fn jobs(
        &self,
        fleet: &SimFleet,
        task_id: &str,
        job_delay: Duration,
    ) -> Option<Vec<Value>> {
        let tasks = lock(&self.tasks);
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
pub(super) fn with_failed_copies(jobs: Vec<Value>) -> Vec<Value> {
    jobs.into_iter()
        .flat_map(|job| {
            let copy = json!({
                "job_id": job["job_id"],
                "status": -1,
                "error_code": "CPS9999",
                "error_msg": "Internal error.",
            });
            [job, copy]
        })
        .collect()
}

fn job_detail(fleet: &SimFleet, task: &Task, job: &SimJob, done: bool) -> Value {
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
    let mut detail = json!({
        "job_id": job.job_id,
        "status": status,
        "error_code": code,
        "error_msg": msg,
    });
    // The page's example has `"execute_msg": null` for a job with no output; the definition
    // types it a string, so no output leaves it out.
    if !output.is_null() {
        detail["execute_msg"] = output;
    }
    detail
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
fn execute(fleet: &SimFleet, idx: usize, tick: u64, command: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_job_ids_fault() {
        let fleet = SimFleet::new(1, 50);
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
    fn outputs() {
        let fleet = SimFleet::new(1, 5);
        assert_eq!(execute(&fleet, 0, 0, "getprop sys.boot_completed"), "1");
        assert_eq!(execute(&fleet, 0, 0, "echo hello  world"), "hello world");
        assert!(execute(&fleet, 0, 0, "ls -l /system").contains("build.prop"));
        assert!(execute(&fleet, 0, 0, "uptime").contains("load average"));
        assert!(!execute(&fleet, 0, 0, "getprop ro.product.model").is_empty());
        assert_eq!(execute(&fleet, 0, 0, "reboot"), "");
        assert_eq!(truncate("ééé".to_string(), 3), "é");
    }
}
