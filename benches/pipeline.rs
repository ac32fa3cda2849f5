//! CPU cost of the exporter's per-scrape work without the network, and of the phone-list file:
//! decoding batch-status bodies, mapping them to families, text encoding, loading a 100,000-line
//! `instance_ids_file`, and the unchanged-file check every scrape makes.
//!
//! `cargo bench --bench pipeline` (release profile, plain `main`; see BENCHMARKS.md). It prints
//! figures; it asserts nothing.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use huaweicloud_exporter::config::Shard;
use huaweicloud_exporter::services::koophone::api::{parse_status, StatusResult};
use huaweicloud_exporter::services::koophone::config::{KoophoneConfig, StatusNames};
use huaweicloud_exporter::services::koophone::phones::PhoneList;
use huaweicloud_exporter::services::koophone::status as koophone;

fn phone_id(i: usize) -> String {
    format!("p{i:07x}")
}

/// Runs `f` `iters` times and returns the mean duration of one run (after one warm-up run).
fn time<T>(iters: u32, mut f: impl FnMut() -> T) -> Duration {
    black_box(f());
    let start = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    start.elapsed() / iters
}

fn status_body(ids: &[String]) -> Vec<u8> {
    let mut s = String::from(r#"{"data":{"status_results":["#);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(r#"{{"instance_id":"{id}","status":{}}}"#, i % 8));
    }
    s.push_str(r#"]},"error_code":"0","error_msg":"ok"}"#);
    s.into_bytes()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    // `cargo bench` passes `--bench`; without it (`cargo test --all-targets`) one quick pass
    // only checks that the benchmark still runs.
    let quick = !args.iter().any(|a| a == "--bench");
    let sizes: &[usize] = if quick {
        &[1_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    let want = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let names = StatusNames::default();

    println!("{:<48} {:>14} {:>12}", "benchmark", "per run", "per phone");
    for &n in sizes {
        let ids: Vec<String> = (0..n).map(phone_id).collect();
        let iters = if quick {
            1
        } else {
            (2_000_000 / n as u32).clamp(3, 200)
        };

        if want("decode") {
            let bodies: Vec<Vec<u8>> = ids.chunks(100).map(status_body).collect();
            let d = time(iters, || {
                bodies
                    .iter()
                    .map(|b| parse_status(b).map(|v| v.len()).unwrap_or(0))
                    .sum::<usize>()
            });
            report(&format!("decode batch-status bodies, {n} phones"), d, n);
        }

        let results: Vec<StatusResult> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| StatusResult {
                instance_id: id.clone(),
                status: ((i % 9) as i64).into(),
            })
            .collect();
        if want("map") {
            let d = time(iters, || koophone::map("bench", n, &results, &names));
            report(&format!("map to families, {n} phones"), d, n);
        }
        if want("encode") {
            let mut bytes = 0;
            let d = time(iters, || {
                let fams = koophone::map("bench", n, &results, &names);
                let mut out = Vec::new();
                fams.encode(&mut out);
                bytes = out.len();
                out
            });
            report(&format!("map + encode, {n} phones ({bytes} B)"), d, n);
        }
        if want("idfile") {
            let dir = std::env::temp_dir().join(format!("hwc-bench-ids-{}", std::process::id()));
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join("ids.txt");
            let mut text = ids.join("\n");
            text.push('\n');
            if std::fs::write(&path, text).is_err() {
                eprintln!("cannot write {}", path.display());
                continue;
            }
            let cfg = KoophoneConfig {
                instance_ids: Vec::new(),
                instance_ids_file: Some(path.clone()),
                status_names: Arc::new(StatusNames::default()),
                max_series:
                    huaweicloud_exporter::services::koophone::config::DEFAULT_KOOPHONE_MAX_SERIES,
                discovery: None,
            };
            let d = time(iters.min(20), || PhoneList::new(&cfg, Shard::default()));
            report(&format!("instance_ids_file first load, {n} ids"), d, n);
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                continue;
            };
            if let Ok(list) = PhoneList::new(&cfg, Shard::default()).map(Arc::new) {
                let d = time(iters * 10, || rt.block_on(list.current()).len());
                report(&format!("instance_ids_file unchanged, {n} ids"), d, n);
                // A changed file (one more id, so its length differs) is re-read on the next use.
                let rounds = 5;
                let mut total = Duration::ZERO;
                let mut seen = 0;
                for round in 0..rounds {
                    let mut text = ids.join("\n");
                    text.push_str(&format!("\nextra{round}\n"));
                    if round % 2 == 1 {
                        text.push_str("extra-odd\n");
                    }
                    if std::fs::write(&path, text).is_err() {
                        break;
                    }
                    let start = Instant::now();
                    seen = rt.block_on(list.current()).len();
                    total += start.elapsed();
                }
                report(
                    &format!("instance_ids_file changed, re-read, {n} ids"),
                    total / rounds,
                    n,
                );
                if seen != n + 1 {
                    eprintln!(
                        "the changed file was not re-read: {seen} ids, expected {}",
                        n + 1
                    );
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

fn report(what: &str, d: Duration, n: usize) {
    println!(
        "{what:<48} {:>11.1} µs {:>9.1} ns",
        d.as_secs_f64() * 1e6,
        d.as_secs_f64() * 1e9 / n as f64
    );
}
