//! The binary's command line: `--config.check` verdicts, `--version` and build info, the log
//! line formats, and listen addresses (host names, several of them, garbage refused). This
//! file holds the harness (the binary started on a free port, its stderr read line by line,
//! log lines decoded); one module per subject.

mod config_check;
mod demo;
mod help;
mod listen;
mod logs;
mod signals;
mod version;

use std::collections::BTreeMap;
use std::process::Command;

/// The binary with a one-cloud config against `sim`, on a free port.
struct Running {
    /// The exporter process.
    child: std::process::Child,
    /// The port it listens on, on 127.0.0.1.
    port: u16,
    /// The temp dir holding its config, removed when this is dropped.
    _dir: tempfile::TempDir,
    /// Its config file: rewrite it, then SIGHUP, to reload.
    path: std::path::PathBuf,
}

async fn start_binary(sim: &huaweicloud_exporter::sim::SimHandle, name: &str) -> Running {
    start_binary_with(&one_cloud(sim, name), &[]).await
}

fn one_cloud(sim: &huaweicloud_exporter::sim::SimHandle, name: &str) -> String {
    format!(
        "clouds:\n  - name: {name}\n    region: ap-southeast-1\n    project_id: {}\n    auth: {{ token: {{ value: demo-static-token }} }}\n    endpoints: {b}\n    dcs: {{}}\n",
        sim.project_id(),
        b = crate::helpers::endpoints(&sim.base_url())
    )
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// The repository's `git rev-parse --short=12 HEAD`, or `unknown` outside a git checkout (as a
/// source tarball builds).
fn git_revision() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    if !std::path::Path::new(dir).join(".git").exists() {
        return "unknown".into();
    }
    let out = Command::new("git")
        .args(["-C", dir, "rev-parse", "--short=12", "HEAD"])
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8(o.stdout).unwrap().trim().to_string(),
        _ => "unknown".into(),
    }
}

/// `1.95.0 (59807616e 2026-04-14)`-shaped: what `rustc -V` says after `rustc `.
fn looks_like_rustc_version(v: &str) -> bool {
    regex::Regex::new(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?( \(.+\))?$")
        .unwrap()
        .is_match(v)
}

/// One logfmt line as go-logfmt decodes it: `key=value` pairs, values bare or double-quoted
/// with `\"`, `\\`, `\n`, `\r`, `\t` and `\uXXXX` escapes. Fails the test on anything else.
fn parse_logfmt(line: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return pairs;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            assert!(c > ' ' && c != '"', "bad key character {c:?} in {line:?}");
            key.push(c);
            chars.next();
        }
        assert!(!key.is_empty(), "empty key in {line:?}");
        assert_eq!(chars.next(), Some('='), "key {key:?} without = in {line:?}");
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => panic!("unterminated quote in {line:?}"),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('"') => value.push('"'),
                        Some('\\') => value.push('\\'),
                        Some('n') => value.push('\n'),
                        Some('r') => value.push('\r'),
                        Some('t') => value.push('\t'),
                        Some('u') => {
                            let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                            let c = u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .unwrap_or_else(|| panic!("bad \\u{hex} in {line:?}"));
                            value.push(c);
                        }
                        other => panic!("bad escape {other:?} in {line:?}"),
                    },
                    Some(c) => {
                        assert!(!c.is_control(), "raw control character in {line:?}");
                        value.push(c)
                    }
                }
            }
            assert!(
                matches!(chars.peek(), None | Some(' ')),
                "text after a quoted value in {line:?}"
            );
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                assert!(
                    c > ' ' && c != '"' && c != '=',
                    "{c:?} in a bare value in {line:?}"
                );
                value.push(c);
                chars.next();
            }
        }
        pairs.push((key, value));
    }
}

/// A log line's keys and values, decoded from either format, checked for the keys every line
/// has: `ts` (RFC 3339), `level` (a known name) and `msg` (in logfmt first, in that order,
/// `source` between).
fn decode_log_line(format: &str, line: &str) -> BTreeMap<String, String> {
    let pairs: Vec<(String, String)> = match format {
        "logfmt" => parse_logfmt(line),
        "json" => {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
            let obj = v
                .as_object()
                .unwrap_or_else(|| panic!("not an object: {line:?}"));
            obj.iter()
                .map(|(k, v)| {
                    assert!(
                        !v.is_object() && !v.is_array(),
                        "field {k} is not flat in {line:?}"
                    );
                    let text = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()
        }
        _ => unreachable!(),
    };
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    // JSON objects have no order (and serde_json sorts them); logfmt lines do.
    if format == "logfmt" {
        assert!(
            keys.starts_with(&["ts", "level", "source", "msg"])
                || keys.starts_with(&["ts", "level", "msg"]),
            "{line:?}"
        );
    }
    assert!(
        ["ts", "level", "msg"].iter().all(|k| keys.contains(k)),
        "{line:?}"
    );
    let count = keys.len();
    let map: BTreeMap<String, String> = pairs.into_iter().collect();
    assert_eq!(map.len(), count, "a key twice in {line:?}");
    assert!(humantime::parse_rfc3339(&map["ts"]).is_ok(), "{line:?}");
    assert!(
        ["error", "warn", "info", "debug"].contains(&map["level"].as_str()),
        "{line:?}"
    );
    assert!(
        !map.contains_key("message") && !map.contains_key("target"),
        "{line:?}"
    );
    map
}

/// The binary with `args`, its stderr read line by line as it comes.
struct Spawned {
    /// The exporter process.
    child: std::process::Child,
    /// Its stderr lines, as a reader thread receives them.
    lines: std::sync::mpsc::Receiver<String>,
    /// Every stderr line so far.
    seen: Vec<String>,
}

impl Spawned {
    fn start(args: &[&str]) -> Spawned {
        let mut child = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
            .args(args)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Spawned {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until `count` lines have `needle` in them (or fails, showing what came).
    async fn wait_for(&mut self, needle: &str, count: usize) -> Vec<String> {
        for _ in 0..600 {
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            let hits: Vec<String> = self
                .seen
                .iter()
                .filter(|l| l.contains(needle))
                .cloned()
                .collect();
            if hits.len() >= count {
                return hits;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                while let Ok(line) = self.lines.recv() {
                    self.seen.push(line);
                }
                panic!(
                    "exited ({status}) before logging {needle:?}:\n{}",
                    self.seen.join("\n")
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "no {count} lines with {needle:?}:\n{}",
            self.seen.join("\n")
        );
    }

    /// SIGTERM, wait for the exit, and every stderr line.
    fn stop(mut self) -> Vec<String> {
        signal(&self.child, "-TERM");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit status after SIGTERM: {status}");
        while let Ok(line) = self.lines.recv() {
            self.seen.push(line);
        }
        self.seen
    }

    /// The addresses of the "listening" lines (logfmt).
    async fn listening(&mut self, count: usize) -> Vec<std::net::SocketAddr> {
        self.wait_for("msg=listening", count)
            .await
            .iter()
            .map(|l| {
                let pairs: BTreeMap<String, String> = parse_logfmt(l).into_iter().collect();
                pairs["address"].parse().unwrap()
            })
            .collect()
    }
}

/// The binary with `config` and `args` on a free port.
async fn start_binary_with(config: &str, args: &[&str]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .args([
            "--config.file",
            path.to_str().unwrap(),
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ])
        .args(args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if reqwest::get(format!("http://127.0.0.1:{port}/-/healthy"))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Running {
        child,
        port,
        _dir: dir,
        path,
    }
}
