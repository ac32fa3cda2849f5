//! Basic auth under a password storm: how long a legitimate client's first (uncached) request
//! takes while N attackers send random passwords. Figures, not a test (see BENCHMARKS.md).
//!
//! ```sh
//! cargo bench --bench bcrypt_flood                          # this tree's release binary
//! EXPORTER_BIN=/tmp/hwc-before cargo bench --bench bcrypt_flood   # another build (e.g. main)
//! ATTACKERS=0,100,250 SAMPLES=5 COST=10 WARMUP_MS=2000 cargo bench --bench bcrypt_flood
//! ```
//!
//! Each round starts the binary with `--demo` and a web config of bcrypt hashes at `COST`,
//! starts `ATTACKERS` tasks (one connection each, from 127.0.0.1) that loop on `GET /-/ready`
//! with user `prometheus` and a fresh random password, waits `WARMUP_MS`, then makes `SAMPLES`
//! first logins of distinct legitimate users from another address (127.0.0.2), then `SAMPLES`
//! from the attackers' own address (127.0.0.1), one after another, and reports for each group
//! the statuses and the latency (median and worst) of those first requests, plus the attackers'
//! request rate and share of 429s.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn client_from(ip: &str, timeout: Duration) -> reqwest::Client {
    let ip: IpAddr = ip.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
    reqwest::Client::builder()
        .local_address(ip)
        .timeout(timeout)
        .build()
        .unwrap_or_default()
}

struct Exporter {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(bin: &str, web_config: &str) -> Exporter {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("web.yml");
    std::fs::write(&path, web_config).expect("write web.yml");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = std::process::Command::new(bin)
        .args(["--demo", "--log.level", "error"])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .args(["--web.config.file", &path.display().to_string()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    for _ in 0..400 {
        if reqwest::get(format!("http://127.0.0.1:{port}/-/healthy"))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Exporter {
        child,
        port,
        _dir: dir,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing to filter here.
    let bin = std::env::var("EXPORTER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_huaweicloud-exporter").to_string());
    let attackers: Vec<usize> = std::env::var("ATTACKERS")
        .unwrap_or_else(|_| "0,100,250".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let samples: usize = env_or("SAMPLES", 5);
    let cost: u32 = env_or("COST", 10);
    let warmup = Duration::from_millis(env_or("WARMUP_MS", 2000));
    let legit_timeout = Duration::from_secs(env_or("LEGIT_TIMEOUT_S", 60));

    let mut users = String::from("basic_auth_users:\n");
    let hash = |pw: &str| bcrypt::hash(pw, cost).expect("bcrypt");
    users.push_str(&format!("  prometheus: \"{}\"\n", hash("the-real-one")));
    for i in 0..2 * samples {
        users.push_str(&format!("  legit{i}: \"{}\"\n", hash(&format!("pw{i}"))));
    }
    println!(
        "binary: {bin}\ncost {cost}, {samples} first logins per group, warm-up {} ms, cores {}",
        warmup.as_millis(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| attackers | legit from | statuses | median ms | max ms | attacker req/s | attacker 429 |"
    );
    println!("|---:|---|---|---:|---:|---:|---:|");
    for &n in &attackers {
        let exporter = start(&bin, &users).await;
        let url = format!("http://127.0.0.1:{}/-/ready", exporter.port);
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let throttled = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for t in 0..n {
            let (stop, sent, throttled, url) =
                (stop.clone(), sent.clone(), throttled.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let client = client_from("127.0.0.1", Duration::from_secs(120));
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let guess = format!("{t}-{i}-{}", rand::random::<u64>());
                    let r = client
                        .get(&url)
                        .basic_auth("prometheus", Some(guess))
                        .send()
                        .await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if r.is_ok_and(|r| r.status() == 429) {
                        throttled.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        tokio::time::sleep(warmup).await;
        let started = Instant::now();
        let sent_before = sent.load(Ordering::Relaxed);
        let throttled_before = throttled.load(Ordering::Relaxed);
        let mut rows = Vec::new();
        for (group, from, offset) in [
            ("another address", "127.0.0.2", 0),
            ("the attackers' address", "127.0.0.1", samples),
        ] {
            let client = client_from(from, legit_timeout);
            let mut statuses = BTreeMap::<String, usize>::new();
            let mut latencies = Vec::new();
            for i in offset..offset + samples {
                let t0 = Instant::now();
                let r = client
                    .get(&url)
                    .basic_auth(format!("legit{i}"), Some(format!("pw{i}")))
                    .send()
                    .await;
                latencies.push(t0.elapsed());
                let s = match r {
                    Ok(r) => r.status().as_u16().to_string(),
                    Err(e) if e.is_timeout() => "timeout".into(),
                    Err(_) => "error".into(),
                };
                *statuses.entry(s).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            latencies.sort();
            let median = latencies[latencies.len() / 2];
            let max = latencies[latencies.len() - 1];
            let statuses: Vec<String> = statuses.iter().map(|(s, c)| format!("{c}×{s}")).collect();
            rows.push((group, statuses.join(" "), median, max));
        }
        let elapsed = started.elapsed().as_secs_f64();
        let sent_during = sent.load(Ordering::Relaxed) - sent_before;
        let throttled_during = throttled.load(Ordering::Relaxed) - throttled_before;
        stop.store(true, Ordering::Relaxed);
        drop(exporter);
        for t in tasks {
            let _ = t.await;
        }
        let share = if sent_during == 0 {
            0.0
        } else {
            throttled_during as f64 / sent_during as f64 * 100.0
        };
        for (group, statuses, median, max) in rows {
            println!(
                "| {n} | {group} | {statuses} | {:.0} | {:.0} | {:.0} | {share:.1} % |",
                ms(median),
                ms(max),
                sent_during as f64 / elapsed
            );
        }
    }
}
