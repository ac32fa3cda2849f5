//! The binary's command line: `--config.check` verdicts, `--version` and build info, the log
//! line formats, and listen addresses (host names, several of them, garbage refused).

use std::collections::BTreeMap;
use std::process::Command;

fn check(config: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"));
    cmd.args(["--config.check", "--config.file", path.to_str().unwrap()]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn config_check_prints_a_one_line_verdict_and_exits_0_or_1() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml")).unwrap();
    let (ok, text) = check(&example, &[("HWC_PASSWORD", "x")]);
    assert!(ok, "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("valid (1 clouds, 1 probe modules)"), "{text}");

    let (ok, text) = check(&example, &[]);
    assert!(!ok);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.ends_with("config.yaml: clouds[0].auth.password.password: environment variable HWC_PASSWORD is not set; export it before starting, or write the value (or a *_file path) instead\n"), "{text}");
}

/// The binary with a one-cloud config against `sim`, on a free port.
struct Running {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

async fn start_binary(sim: &huaweicloud_exporter::sim::SimHandle, name: &str) -> Running {
    start_binary_with(&one_cloud(sim, name), &[]).await
}

fn one_cloud(sim: &huaweicloud_exporter::sim::SimHandle, name: &str) -> String {
    format!(
        "clouds:\n  - name: {name}\n    region: ap-southeast-1\n    project_id: {}\n    auth: {{ token: {{ value: demo-static-token }} }}\n    endpoints: {{ iam: \"{b}\", dcs: \"{b}\", ddm: \"{b}\", koophone: \"{b}\" }}\n    dcs: {{}}\n",
        sim.project_id(),
        b = sim.base_url()
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

#[tokio::test]
async fn sighup_reloads_and_sigterm_exits_0() {
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let mut run = start_binary(&sim, "first").await;
    let url = format!("http://127.0.0.1:{}/metrics", run.port);
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(text.contains("cloud=\"first\""));

    std::fs::write(&run.path, one_cloud(&sim, "second")).unwrap();
    signal(&run.child, "-HUP");
    let mut reloaded = false;
    for _ in 0..50 {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        if text.contains("cloud=\"second\"") {
            reloaded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(reloaded, "SIGHUP did not reload the config");

    signal(&run.child, "-TERM");
    let status = run.child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
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

#[test]
fn version_prints_version_revision_rustc_and_build_details() {
    let out = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "huaweicloud-exporter, version {} (revision: {})",
            env!("CARGO_PKG_VERSION"),
            git_revision()
        ),
        "{text}"
    );
    let field = |name: &str| -> String {
        let prefix = format!("  {name}:");
        let line = lines
            .iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {name:?} line in {text}"));
        line[prefix.len()..].trim().to_string()
    };
    let rustc = field("rustc version");
    assert!(looks_like_rustc_version(&rustc), "{rustc:?}");
    let date = field("build date");
    assert!(humantime::parse_rfc3339(&date).is_ok(), "{date:?}");
    assert!(!field("build user").is_empty());
    assert!(!field("platform").is_empty());
    assert_eq!(lines.len(), 5, "{text}");
    // `-V` is the same.
    let short = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .arg("-V")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(short.stdout).unwrap(), text);
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
    child: std::process::Child,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_line_has_ts_level_msg_in_logfmt_and_json() {
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, one_cloud(&sim, "logs")).unwrap();
    // A config path with a quote, a newline and spaces: its error line needs every escape.
    let odd = dir.path().join("we\"ird\n dir").join("conf ig.yaml");
    for format in ["logfmt", "json"] {
        // Arrange: a run that starts, scrapes and stops, at debug level for many kinds of line.
        let mut run = Spawned::start(&[
            "--config.file",
            config.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.level",
            "debug",
            "--log.format",
            format,
        ]);
        let listening = run.wait_for("listening", 1).await;
        let line = decode_log_line(format, &listening[0]);
        let address = line["address"].clone();

        // Act
        let text = reqwest::get(format!("http://{address}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let lines = run.stop();
        let failed = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
            .args([
                "--log.format",
                format,
                "--config.file",
                odd.to_str().unwrap(),
            ])
            .output()
            .unwrap();

        // Assert
        assert!(text.contains("huaweicloud_exporter_build_info"));
        assert!(lines.len() >= 3, "{lines:?}");
        let decoded: Vec<_> = lines.iter().map(|l| decode_log_line(format, l)).collect();
        let msgs: Vec<&str> = decoded.iter().map(|l| l["msg"].as_str()).collect();
        assert!(
            msgs.contains(&"listening") && msgs.contains(&"shutting down"),
            "{msgs:?}"
        );
        assert_eq!(line["level"], "info");
        assert_eq!(line["revision"], git_revision());
        assert!(line["source"].starts_with("main.rs:"), "{line:?}");

        assert!(!failed.status.success());
        let stderr = String::from_utf8(failed.stderr).unwrap();
        let stderr_lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            stderr_lines.len(),
            1,
            "one log line and nothing else: {stderr}"
        );
        let error = decode_log_line(format, stderr_lines[0]);
        assert_eq!(error["level"], "error");
        assert_eq!(error["msg"], "exiting");
        assert_eq!(
            error["error"],
            format!(
                "{}: cannot read the config file: No such file or directory (os error 2); pass the right path with --config.file",
                odd.display()
            )
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_info_carries_the_git_revision_and_rustc_version() {
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let mut run = start_binary(&sim, "build").await;
    let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", run.port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let _ = run.child.kill();
    let _ = run.child.wait();
    let m = crate::helpers::Exposition::parse(&text);
    let info = m.find("huaweicloud_exporter_build_info", &[]);
    assert_eq!(info.len(), 1, "{info:?}");
    let labels = &info[0].labels;
    assert_eq!(info[0].value, 1.0);
    assert_eq!(labels["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(labels["revision"], git_revision());
    assert_ne!(
        labels["revision"], "unknown",
        "built from a git checkout, the revision is known"
    );
    assert!(
        looks_like_rustc_version(&labels["rustc_version"]),
        "{labels:?}"
    );
    let version = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8(version.stdout)
        .unwrap()
        .contains(&format!(
            "  rustc version:    {}\n",
            labels["rustc_version"]
        )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_listen_address_answers_with_the_same_tls_and_basic_auth() {
    // Arrange: an IP address and a host name on free ports, behind TLS and basic auth.
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, one_cloud(&sim, "multi")).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.path().join("server.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("server.key"), cert.key_pair.serialize_pem()).unwrap();
    let web = dir.path().join("web.yml");
    let hash = bcrypt::hash("wonderland", 4).unwrap();
    std::fs::write(
        &web,
        format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: \"{hash}\"\n"),
    )
    .unwrap();
    let localhost: Vec<std::net::IpAddr> = tokio::net::lookup_host(("localhost", 0))
        .await
        .unwrap()
        .map(|a| a.ip())
        .collect();
    let mut run = Spawned::start(&[
        "--config.file",
        config.to_str().unwrap(),
        "--web.config.file",
        web.to_str().unwrap(),
        "--web.listen-address",
        "127.0.0.1:0",
        "--web.listen-address",
        "localhost:0",
    ]);

    // Act
    let addrs = run.listening(1 + localhost.len()).await;

    // Assert: the IP first, then every address localhost resolves to, on one port.
    assert_eq!(addrs.len(), 1 + localhost.len(), "{addrs:?}");
    assert_eq!(addrs[0].ip(), std::net::IpAddr::from([127, 0, 0, 1]));
    let named = &addrs[1..];
    assert_eq!(named.iter().map(|a| a.ip()).collect::<Vec<_>>(), localhost);
    assert!(named.iter().all(|a| a.port() == named[0].port()));
    assert_ne!(addrs[0].port(), named[0].port());
    // The certificate is self-signed: what is checked here is that every listener speaks TLS.
    let https = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    for addr in &addrs {
        let url = format!("https://{addr}/metrics");
        let anonymous = https.get(&url).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{addr}");
        let scrape = https
            .get(&url)
            .basic_auth("alice", Some("wonderland"))
            .send()
            .await
            .unwrap();
        assert_eq!(scrape.status(), 200, "{addr}");
        let m = crate::helpers::Exposition::parse(&scrape.text().await.unwrap());
        assert_eq!(m.success("multi", "dcs"), 1.0, "{addr}");
        let plain = reqwest::get(format!("http://{addr}/-/healthy")).await;
        assert!(plain.is_err(), "{addr} answered plain HTTP: {plain:?}");
    }
    // A host name by its name too.
    let by_name = https
        .get(format!("https://localhost:{}/-/healthy", named[0].port()))
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.status(), 200);
    run.stop();
}

#[test]
fn a_garbage_listen_address_is_refused_with_what_to_write() {
    for (address, why) in [
        ("garbage", "is not host:port"),
        ("localhost:http", "does not end in a port from 0 to 65535"),
        (
            "no such host!:80",
            "is not host:port: the host is neither an IP address nor a host name",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
            .args([
                "--demo",
                "--web.listen-address",
                ":0",
                "--web.listen-address",
                address,
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{address}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        let line = decode_log_line("logfmt", stderr.trim_end());
        assert_eq!(
            line["error"],
            format!("--web.listen-address {address:?} {why} (e.g. :10071, localhost:10071, 127.0.0.1:10071 or [::1]:10071)")
        );
    }
}

#[test]
fn the_dockerfile_passes_the_revision_into_the_build() {
    // .dockerignore keeps .git out of the build context, so build.rs cannot ask git there.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == ".git"));
    let text = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let builder = text
        .split("\nFROM ")
        .find(|stage| stage.contains("cargo build"))
        .expect("a stage that runs cargo build");
    assert!(
        builder
            .lines()
            .any(|l| l.trim().starts_with("ARG REVISION")),
        "{builder}"
    );
    let run = &builder[builder.find("RUN ").expect("RUN")..];
    let run = &run[..run.find("cargo build").unwrap()];
    assert!(
        run.contains("HUAWEICLOUD_EXPORTER_REVISION=\"${REVISION}\""),
        "{run}"
    );
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

/// The phones of cloud `name` in a scrape of `url`, sorted; `None` when the cloud is absent.
async fn phones_of(url: &str, name: &str) -> Option<Vec<String>> {
    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
    let m = crate::helpers::Exposition::parse(&text);
    m.find("huaweicloud_cloud_info", &[("cloud", name)])
        .first()?;
    let mut ids: Vec<String> = m
        .find("huaweicloud_koophone_instance_status", &[("cloud", name)])
        .iter()
        .map(|s| s.labels["instance_id"].clone())
        .collect();
    ids.sort();
    Some(ids)
}

#[tokio::test]
async fn sighup_keeps_the_shard_flags() {
    // Arrange: shard 1 of 3 by flags; the file names every phone and no shard.
    let sim = crate::helpers::spawn_sim(crate::helpers::frozen_sim(60)).await;
    let ids = sim.phone_ids();
    let mut mine: Vec<String> = ids
        .iter()
        .filter(|id| huaweicloud_exporter::config::shard_of(id, 3) == 1)
        .cloned()
        .collect();
    mine.sort();
    let config = |name: &str| {
        format!(
            "{}    koophone: {{ instance_ids: [{}] }}\n",
            one_cloud(&sim, name),
            ids.join(", ")
        )
    };
    let mut run = start_binary_with(
        &config("first"),
        &["--shard.index", "1", "--shard.total", "3"],
    )
    .await;
    let url = format!("http://127.0.0.1:{}/metrics", run.port);
    let before = phones_of(&url, "first").await;

    // Act: a changed file, then SIGHUP.
    std::fs::write(&run.path, config("second")).unwrap();
    signal(&run.child, "-HUP");
    let mut after = None;
    for _ in 0..50 {
        after = phones_of(&url, "second").await;
        if after.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    signal(&run.child, "-TERM");
    let _ = run.child.wait();

    // Assert
    assert_eq!(before.as_ref(), Some(&mine));
    assert_eq!(
        after.as_ref(),
        Some(&mine),
        "after SIGHUP: shard 1 of 3 still"
    );
}

#[test]
fn config_check_applies_the_shard_flags() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, example).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_huaweicloud-exporter"))
        .args(["--config.check", "--config.file", path.to_str().unwrap()])
        .args(["--shard.index", "3", "--shard.total", "3"])
        .env("HWC_PASSWORD", "x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "--shard.index 3 --shard.total 3: index counts from 0 and must be below total\n"
    );
}

#[test]
fn config_check_never_prints_a_numeric_password() {
    let config = "clouds:\n  - name: prod\n    region: ap-southeast-1\n    project_id: 0123456789abcdef0123456789abcdef\n    auth: { password: { domain: acme, user: mon, password: 86753091234567 } }\n    dcs: {}\n";
    let (ok, text) = check(config, &[]);
    assert!(!ok);
    assert!(!text.contains("3091"), "{text}");
    assert!(
        text.ends_with("config.yaml: clouds[0].auth.password.password: is a number, not text (its value is not shown: this field holds a secret); quote it, since YAML reads unquoted digits, true/false and ~ as other types and can change them (leading zeros, exponents), or better take it from ${VAR} or the *_file form of this key\n"),
        "{text}"
    );
}
