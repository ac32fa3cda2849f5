//! The probe's pure parts on literals: the query, target resolution, job outcomes, the mapping
//! of answers onto phones, the families, the command budget and how long results are kept.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use regex::Regex;
use tokio::time::Instant;

use super::assign::{assign_jobs, settle_jobs, DUPLICATE_JOB_ID};
use super::families::families;
use super::outcome::{job_outcome, JobOutcome, ProbeResult};
use super::share::{cache_ttl, ProbeRuns};
use super::target::{parse_params, resolve_target};
use crate::services::koophone::api::{CmdJob, JobDetail};
use crate::services::koophone::modules::ProbeModule;
use crate::transport::ErrorKind;

fn module(groups: &[(&str, &[&str])]) -> ProbeModule {
    ProbeModule {
        cloud: "pw".into(),
        command: "getprop sys.boot_completed".into(),
        expect: Some(Regex::new("^1$").unwrap()),
        timeout: Duration::from_secs(5),
        poll_interval: Duration::from_secs(1),
        groups: groups
            .iter()
            .map(|(n, ids)| (n.to_string(), ids.iter().map(|s| s.to_string()).collect()))
            .collect::<BTreeMap<_, _>>(),
        min_interval: Duration::from_secs(60),
        max_commands_per_minute: 60,
    }
}

fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
    q.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn job(status: i64, code: &str, out: Option<&str>) -> JobDetail {
    JobDetail {
        job_id: "j".into(),
        status,
        error_code: Some(code.into()),
        error_msg: None,
        execute_msg: out.map(str::to_string),
    }
}

#[test]
fn params_need_module_and_target_and_refuse_a_command() {
    let q = pairs(&[
        ("module", "boot"),
        ("target", "a44uhlf7"),
        ("debug", "true"),
    ]);
    assert_eq!(parse_params(&q).unwrap(), ("boot", "a44uhlf7"));
    for (q, want) in [
        (vec![("target", "a")], "missing `module`"),
        (vec![("module", "boot")], "missing `target`"),
        (vec![("module", ""), ("target", "a")], "missing `module`"),
        (
            vec![("module", "boot"), ("module", "x"), ("target", "a")],
            "`module` is given more than once",
        ),
        (
            vec![("module", "boot"), ("target", "a"), ("command", "reboot")],
            "cannot carry a command",
        ),
    ] {
        let e = parse_params(&pairs(&q)).unwrap_err();
        assert!(e.contains(want), "{q:?}: {e}");
        assert!(!e.contains('\n'));
    }
}

#[test]
fn targets_resolve_to_configured_phones_only() {
    let configured: Vec<String> = ["a44uhlf7", "efjy72gs", "zz000001"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let m = module(&[
        ("canary", &["efjy72gs", "a44uhlf7"]),
        ("stray", &["a44uhlf7", "notmine1"]),
        ("zz000001", &["efjy72gs"]),
    ]);
    assert_eq!(
        resolve_target("boot", &m, "a44uhlf7", &configured).unwrap(),
        vec!["a44uhlf7"]
    );
    assert_eq!(
        resolve_target("boot", &m, "canary", &configured).unwrap(),
        vec!["a44uhlf7", "efjy72gs"],
        "sorted, so the same set is the same key"
    );
    assert_eq!(
        resolve_target("boot", &m, "zz000001", &configured).unwrap(),
        vec!["efjy72gs"],
        "a group wins over a phone of the same spelling"
    );
    let e = resolve_target("boot", &m, "stray", &configured).unwrap_err();
    assert!(
        e.contains("\"notmine1\"") && e.contains("cloud \"pw\""),
        "{e}"
    );
    let e = resolve_target("boot", &m, "other001", &configured).unwrap_err();
    assert!(e.contains("is not a phone of cloud \"pw\""), "{e}");
    let e = resolve_target("boot", &m, "bad id!", &configured).unwrap_err();
    assert!(e.contains("contains ' '"), "{e}");
    let e = resolve_target("boot", &m, &"x".repeat(5000), &configured).unwrap_err();
    assert!(e.len() < 200, "long input is not echoed: {e}");
}

#[test]
fn jobs_map_to_outcomes() {
    let re = Regex::new("^1$").unwrap();
    assert_eq!(job_outcome(&job(1, "", None), Some(&re)), None);
    assert_eq!(
        job_outcome(&job(2, "", Some("1\n")), Some(&re)),
        Some(JobOutcome::Succeeded { matched: true })
    );
    assert_eq!(
        job_outcome(&job(2, "", Some("0")), Some(&re)),
        Some(JobOutcome::Succeeded { matched: false })
    );
    assert_eq!(
        job_outcome(&job(2, "", None), None),
        Some(JobOutcome::Succeeded { matched: true }),
        "no expect: any output, even none"
    );
    assert_eq!(
        job_outcome(&job(-1, "CPS0005", None), Some(&re)),
        Some(JobOutcome::Failed {
            code: "CPS0005".into(),
            matched: false
        })
    );
    assert_eq!(
        job_outcome(&job(-1, "", Some("")), None),
        Some(JobOutcome::Failed {
            code: "failed".into(),
            matched: false
        })
    );
    assert_eq!(
        job_outcome(&job(-1, "", Some("1")), Some(&re)),
        Some(JobOutcome::Failed {
            code: "failed".into(),
            matched: true
        })
    );
    assert_eq!(
        job_outcome(&job(7, "a b\"c", None), None),
        Some(JobOutcome::Failed {
            code: "a_b_c".into(),
            matched: false
        })
    );
    assert_eq!(
        job_outcome(&job(7, "", None), None).and_then(|o| o.error_code()),
        Some("status_7".into())
    );
    assert_eq!(
        JobOutcome::Upstream(ErrorKind::ServerError).error_code(),
        Some("upstream_server_error".into())
    );
    assert_eq!(
        JobOutcome::Upstream(ErrorKind::Timeout).error_code(),
        Some("timeout".into())
    );
}

#[test]
fn results_map_to_families() {
    let now = Instant::now();
    let result = ProbeResult {
        jobs: vec![
            ("a44uhlf7".into(), JobOutcome::Succeeded { matched: true }),
            ("efjy72gs".into(), JobOutcome::Succeeded { matched: false }),
            ("gone0001".into(), JobOutcome::TimedOut),
        ],
        duration: Duration::from_millis(1500),
        finished: now,
    };
    assert!(!result.success());
    let f = families(&result, true, Duration::from_secs(3));
    assert_eq!(f.value("probe_success", &[]), Some(0.0));
    assert_eq!(f.value("probe_duration_seconds", &[]), Some(1.5));
    assert_eq!(f.value("huaweicloud_koophone_probe_cached", &[]), Some(1.0));
    assert_eq!(
        f.value("huaweicloud_koophone_probe_result_age_seconds", &[]),
        Some(3.0)
    );
    let id = |i: &'static str| [("instance_id", i)];
    assert_eq!(
        f.value("huaweicloud_koophone_probe_job_success", &id("efjy72gs")),
        Some(1.0)
    );
    assert_eq!(
        f.value("huaweicloud_koophone_probe_output_matched", &id("efjy72gs")),
        Some(0.0)
    );
    assert_eq!(f.len_of("huaweicloud_koophone_probe_job_error_info"), 1);
    assert_eq!(
        f.value(
            "huaweicloud_koophone_probe_job_error_info",
            &[("instance_id", "gone0001"), ("error_code", "timeout")]
        ),
        Some(1.0)
    );
    let ok = ProbeResult {
        jobs: vec![("a44uhlf7".into(), JobOutcome::Succeeded { matched: true })],
        ..result
    };
    assert!(ok.success());
    let empty = ProbeResult {
        jobs: Vec::new(),
        ..ok.clone()
    };
    assert!(!empty.success(), "no phone, no success");
}

fn cmd(phone: &str, job: &str) -> CmdJob {
    CmdJob {
        instance_id: phone.into(),
        job_id: job.into(),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_phone_asked_is_assigned_whatever_the_command_answer_lists() {
    let ids = strings(&["a", "b", "c", "d", "e"]);
    let answer = [
        cmd("a", "j1"),
        cmd("b", "j2"),
        cmd("c", "j2"),        // shares b's job id
        cmd("a", "j9"),        // a repeated: the first row wins
        cmd("stranger", "j3"), // not asked
        cmd("e", "j5"),
        // d missing
    ];
    let a = assign_jobs(&ids, &answer);
    assert_eq!(
        a.pending,
        HashMap::from([
            ("j1".to_string(), "a".to_string()),
            ("j5".into(), "e".into())
        ])
    );
    let dup = JobOutcome::Failed {
        code: DUPLICATE_JOB_ID.into(),
        matched: false,
    };
    assert_eq!(
        a.settled,
        vec![
            ("b".to_string(), dup.clone()),
            ("c".to_string(), dup),
            ("d".to_string(), JobOutcome::Missing),
        ]
    );
    assert_eq!((a.unasked, a.repeated), (1, 1));
    assert_eq!((a.missing(), a.shared_job_ids()), (1, 2));
    let clean = assign_jobs(&ids[..2], &[cmd("b", "x"), cmd("a", "y")]);
    assert_eq!(clean.pending.len(), 2);
    assert!(clean.settled.is_empty());
}

#[test]
fn task_rows_settle_pending_jobs_and_conflicts_fail() {
    let row = |id: &str, status: i64, out: Option<&str>| JobDetail {
        job_id: id.into(),
        ..job(status, "", out)
    };
    let mut pending: HashMap<String, String> = [("j1", "a"), ("j2", "b"), ("j3", "c"), ("j4", "d")]
        .iter()
        .map(|(j, p)| (j.to_string(), p.to_string()))
        .collect();
    let rows = [
        row("j1", 2, Some("1")),
        row("j1", 2, Some("1")), // identical repeat: fine
        row("j2", 2, Some("1")),
        row("j2", -1, None),      // conflicting: b cannot be read
        row("j3", 1, None),       // still running
        row("old", 2, Some("1")), // not pending: ignored
    ];
    let (mut done, repeated, conflicting) = settle_jobs(&mut pending, &rows, None);
    done.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        done,
        vec![
            ("a".to_string(), JobOutcome::Succeeded { matched: true }),
            (
                "b".to_string(),
                JobOutcome::Failed {
                    code: DUPLICATE_JOB_ID.into(),
                    matched: false
                }
            ),
        ]
    );
    assert_eq!((repeated, conflicting), (1, 1));
    let mut left: Vec<_> = pending.values().cloned().collect();
    left.sort();
    assert_eq!(left, ["c", "d"]);
}

#[test]
fn the_command_budget_holds_a_minute_and_refills_at_its_rate() {
    let p = ProbeRuns::default();
    let t0 = Instant::now();
    for _ in 0..6 {
        assert_eq!(p.spend("m", 6, 1, t0), Ok(()));
    }
    // Spent: one more comes back every 10 s.
    let wait = p.spend("m", 6, 1, t0).unwrap_err();
    assert_eq!(wait.as_secs_f64().round(), 10.0);
    assert!(p.spend("m", 6, 1, t0 + Duration::from_secs(5)).is_err());
    assert_eq!(p.spend("m", 6, 1, t0 + Duration::from_secs(10)), Ok(()));
    // Another module has its own budget; a run of two calls needs two.
    assert_eq!(p.spend("other", 6, 2, t0), Ok(()));
    // Never more than a minute's worth, however long it was idle.
    let later = t0 + Duration::from_secs(3600);
    assert_eq!(p.spend("m", 6, 6, later), Ok(()));
    assert!(p.spend("m", 6, 1, later).is_err());
    // A run the budget can never pay for is refused, not queued.
    assert!(p
        .spend("m", 6, 7, later + Duration::from_secs(3600))
        .is_err());
}

#[test]
fn failures_are_kept_a_quarter_as_long() {
    let m = Duration::from_secs(60);
    assert_eq!(cache_ttl(true, m), m);
    assert_eq!(cache_ttl(false, m), Duration::from_secs(15));
    assert_eq!(cache_ttl(false, Duration::ZERO), Duration::ZERO);
}
