//! The log of one request that asked for it (`/probe?…&debug=true`): every upstream call
//! (operation, method, URL, HTTP status, request id, duration, outcome), what the caller did in
//! between (a command's task, each poll of it), in logfmt, like blackbox_exporter's debug
//! output.
//!
//! A request turns the log on for the work it awaits itself by running that work inside
//! [`capture`]; hooks at the points that know the facts call [`event`] (or the typed helpers),
//! which cost one task-local lookup when no capture is on. Nothing secret is written: no header,
//! no request or response body, no URL userinfo. Every value is quoted when needed and its
//! control characters escaped, so a hostile peer's text cannot forge a line. Bounded: at most
//! [`MAX_LINES`] lines, each value cut to [`MAX_VALUE`] characters.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::sync::lock;
use crate::upstream::ApiError;

/// Most lines one log keeps; one more line says how many were left out.
pub const MAX_LINES: usize = 2_000;
/// Longest value written (longer ones are cut with `…`).
pub const MAX_VALUE: usize = 300;

/// The lines of one capture.
#[derive(Default)]
struct Log {
    /// At most [`MAX_LINES`], oldest first.
    lines: Vec<String>,
    /// Lines left out once `lines` was full.
    dropped: usize,
}

tokio::task_local! {
    static LOG: Arc<Mutex<Log>>;
}

/// Runs `f` with a log on and returns its output and the lines logged while it ran.
pub async fn capture<F: Future>(f: F) -> (F::Output, Vec<String>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let out = LOG.scope(log.clone(), f).await;
    let mut log = lock(&log);
    let mut lines = std::mem::take(&mut log.lines);
    if log.dropped > 0 {
        lines.push(line(
            "warn",
            "log truncated",
            &[("lines_left_out", log.dropped.to_string())],
        ));
    }
    (out, lines)
}

/// Carries the current task's log (if one is on) into `f`, for work spawned on another task
/// on this request's behalf (the shared IAM token request).
pub fn carry<F: Future>(f: F) -> impl Future<Output = F::Output> {
    let log = LOG.try_with(Arc::clone).ok();
    async move {
        match log {
            Some(log) => LOG.scope(log, f).await,
            None => f.await,
        }
    }
}

/// Whether the current task is capturing a log.
pub fn enabled() -> bool {
    LOG.try_with(|_| ()).is_ok()
}

/// Logs one event when a capture is on; `fields` is only called then.
pub fn event(level: &str, msg: &str, fields: impl FnOnce() -> Vec<(&'static str, String)>) {
    if !enabled() {
        return;
    }
    let text = line(level, msg, &fields());
    let _ = LOG.try_with(|log| {
        let mut log = lock(log);
        if log.lines.len() < MAX_LINES {
            log.lines.push(text);
        } else {
            log.dropped += 1;
        }
    });
}

/// What an upstream call that was answered (with a 2xx) came back with, for its log line.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    /// HTTP status.
    pub status: u16,
    /// The answer's request id, or the one sent.
    pub request_id: Option<&'a str>,
    /// Size of the body.
    pub bytes: usize,
}

/// One upstream exchange, as the transport saw it (the body is judged later, see
/// [`answer_refused`]): `operation` label, HTTP method, the URL sent to, and the outcome.
pub fn upstream_call(
    operation: &str,
    method: &str,
    url: &str,
    outcome: Result<Answered<'_>, &ApiError>,
    took: Duration,
) {
    event(
        if outcome.is_ok() { "info" } else { "warn" },
        "upstream call",
        || {
            let mut f = vec![
                ("operation", operation.to_string()),
                ("method", method.to_string()),
                ("url", safe_url(url)),
            ];
            match outcome {
                Ok(reply) => {
                    f.push(("status", reply.status.to_string()));
                    f.push(("request_id", id(reply.request_id)));
                    f.push(("bytes", reply.bytes.to_string()));
                }
                Err(e) => {
                    if let Some(s) = e.status {
                        f.push(("status", s.to_string()));
                    }
                    f.push(("request_id", id(e.request_id.as_deref())));
                    f.push(("result", e.kind.result().to_string()));
                    f.push(("error", e.to_string()));
                }
            }
            f.push(("duration_seconds", format!("{:.3}", took.as_secs_f64())));
            f
        },
    );
}

/// An answered call whose body was refused (a KooPhone error inside HTTP 200, or a body that is
/// not what the API documents).
pub fn answer_refused(e: &ApiError) {
    event("warn", "upstream answer refused", || {
        vec![
            ("operation", e.operation.to_string()),
            ("request_id", id(e.request_id.as_deref())),
            ("result", e.kind.result().to_string()),
            ("error", e.to_string()),
        ]
    });
}

fn id(request_id: Option<&str>) -> String {
    request_id.unwrap_or("-").to_string()
}

/// `url` without userinfo (and without anything at all when it does not parse).
fn safe_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "(unparsable URL)".into(),
    }
}

/// One logfmt line: `ts=… level=… msg=… key=value…`.
pub fn line(level: &str, msg: &str, fields: &[(&str, String)]) -> String {
    let ts = humantime::format_rfc3339_millis(SystemTime::now());
    let mut out = format!("ts={ts} level={} msg={}", value(level), value(msg));
    for (k, v) in fields {
        let _ = write!(out, " {k}={}", value(v));
    }
    out
}

/// A logfmt value, as the process log writes it ([`crate::logging::logfmt_value`]: bare when it
/// is a plain token, else quoted with `"`, `\` and every control character escaped), cut to
/// [`MAX_VALUE`] characters (then ending in `…`).
pub fn value(v: &str) -> String {
    let mut out = String::with_capacity(v.len().min(MAX_VALUE * 4) + 2);
    if v.chars().nth(MAX_VALUE).is_some() {
        let mut cut: String = v.chars().take(MAX_VALUE).collect();
        cut.push('…');
        crate::logging::logfmt_value(&mut out, &cut);
    } else {
        crate::logging::logfmt_value(&mut out, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_forge_lines() {
        assert_eq!(value("koophone_task"), "koophone_task");
        assert_eq!(value(""), "\"\"");
        assert_eq!(value("a b"), "\"a b\"");
        assert_eq!(
            value("x\nlevel=info msg=\"forged\"\r\u{1b}[2J"),
            "\"x\\nlevel=info msg=\\\"forged\\\"\\r\\u001b[2J\""
        );
        let long = value(&"y".repeat(5000));
        assert_eq!(long.chars().count(), MAX_VALUE + 1);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn urls_lose_their_userinfo() {
        assert_eq!(
            safe_url("https://user:secret@iam.example.com/v3/auth/tokens?x=1"),
            "https://iam.example.com/v3/auth/tokens?x=1"
        );
        assert_eq!(safe_url("not a url"), "(unparsable URL)");
    }

    #[tokio::test]
    async fn events_are_kept_only_inside_a_capture_and_bounded() {
        event("info", "outside", || {
            panic!("fields are not built without a capture")
        });
        let ((), lines) = capture(async {
            for n in 0..MAX_LINES + 3 {
                event("info", "step", || vec![("n", n.to_string())]);
            }
        })
        .await;
        assert_eq!(lines.len(), MAX_LINES + 1);
        assert!(
            lines[0].contains(" level=info msg=step n=0"),
            "{}",
            lines[0]
        );
        assert!(lines[MAX_LINES].contains("lines_left_out=3"));
        assert!(!enabled());
    }
}
