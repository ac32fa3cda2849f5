//! A golden `/metrics`: one scrape of a fixed config against the frozen, seeded simulator,
//! with the series that depend on time or on the build filtered out, compared with
//! `tests/fixtures/golden_metrics.txt`.
//!
//! After an intended change to the exposition, rewrite the file and review the diff:
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test --test api golden
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use huaweicloud_exporter::sim::{SimConfig, SimDdmInstance};
use regex::Regex;

use crate::helpers::*;

/// Metric names (families and samples) left out of the golden file, and why. Matched with
/// `Regex::is_match`, so anchor them.
const EXCLUDED: &[(&str, &str)] = &[
    (
        "^process_",
        "the exporter process's CPU, memory, file descriptors, start time",
    ),
    ("_duration_seconds", "timings of API calls and collectors"),
    ("_bucket$", "histogram buckets"),
    ("_sum$", "histogram and summary sums"),
    ("_count$", "histogram and summary counts"),
    (
        "_timestamp_seconds$",
        "wall-clock times: token expiry, last reload",
    ),
    (
        "_age_seconds$",
        "ages measured from now (DDM restorable data)",
    ),
    ("_expiry", "token expiry"),
    (
        "^huaweicloud_exporter_build_info$",
        "version, revision and rustc of the build",
    ),
];

/// Fixed config: the demo's shape (password-auth cloud with every collector and its phones
/// discovered, static-token cloud with DCS and listed phones of which two do not exist), on a
/// small fleet.
const GOLDEN_CONFIG: &str = r#"
timeout: 5s
clouds:
  - name: golden-ap
    region: ap-southeast-1
    project_id: {project}
    auth: { password: { domain: demo-domain, user: monitoring, password: demo-password } }
    endpoints: {endpoints}
    dcs: { include_failure: true }
    # Discovered, as in the demo.
    koophone: {}
    ddm: { instance_ids: [1f5c9fd6cd984056ba89c8c87cc03278in09], cache_ttl: 0s }
  - name: golden-eu
    region: eu-west-101
    project_id: {project}
    auth: { token: { value: demo-static-token } }
    endpoints: {endpoints}
    dcs: { include_failure: false }
    koophone: { instance_ids: [{phones10}, gone0001, gone0002] }
"#;

/// Phones in the simulated fleet.
const PHONES: usize = 24;
/// Restore targets of the simulated DDM instance: a few, so the golden file stays readable.
const DDM_TARGETS: usize = 24;

/// The frozen, seeded simulator of [`frozen_sim`], with a smaller DDM instance.
fn golden_sim() -> SimConfig {
    SimConfig {
        ddm_instances: vec![SimDdmInstance {
            id: "1f5c9fd6cd984056ba89c8c87cc03278in09".into(),
            targets: DDM_TARGETS,
        }],
        ..frozen_sim(PHONES)
    }
}

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden_metrics.txt")
}

fn excluded(name: &str, patterns: &[Regex]) -> bool {
    patterns.iter().any(|p| p.is_match(name))
}

/// The exposition with excluded metrics dropped, families sorted by name, each family's
/// `# HELP`/`# TYPE` first and its samples sorted.
fn normalise(text: &str) -> String {
    let patterns: Vec<Regex> = EXCLUDED
        .iter()
        .map(|(p, _)| Regex::new(p).expect("pattern"))
        .collect();
    // family → (HELP/TYPE lines, sample lines)
    let mut families: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
        {
            current = rest.split(' ').next().unwrap_or_default().to_string();
            if !excluded(&current, &patterns) {
                families
                    .entry(current.clone())
                    .or_default()
                    .0
                    .push(line.to_string());
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name = line.split(['{', ' ']).next().expect("a sample has a name");
        if excluded(&current, &patterns) || excluded(name, &patterns) {
            continue;
        }
        let family = if name.starts_with(current.as_str()) {
            current.clone()
        } else {
            name.to_string()
        };
        families.entry(family).or_default().1.push(line.to_string());
    }
    let mut out = String::new();
    for (_, (mut meta, mut samples)) in families {
        // HELP before TYPE, whatever the encoder's order.
        meta.sort();
        samples.sort();
        for line in meta.into_iter().chain(samples) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

#[tokio::test]
async fn metrics_match_the_golden_file() {
    let app = spawn_app(Opts {
        sim: golden_sim(),
        config: GOLDEN_CONFIG.into(),
    })
    .await;
    let (status, text) = app.scrape_raw(None).await;
    assert_eq!(status, 200);
    // Sanity: the scrape was healthy, so the golden file never records a failure by accident.
    // golden-eu's koophone lists two phones the cloud does not answer for: its families are
    // served, and its success is 0 on purpose (the fleet is not complete).
    let m = Exposition::parse(&text);
    for (cloud, collector, want) in [
        ("golden-ap", "dcs", 1.0),
        ("golden-ap", "koophone", 1.0),
        ("golden-ap", "ddm", 1.0),
        ("golden-eu", "dcs", 1.0),
        ("golden-eu", "koophone", 0.0),
    ] {
        assert_eq!(m.success(cloud, collector), want, "{cloud}/{collector}");
    }

    let got = normalise(&text);
    let path = golden_path();
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, &got).expect("write the golden file");
        println!("rewrote {}", path.display());
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with UPDATE_GOLDEN=1 cargo test --test api golden",
            path.display()
        )
    });
    if got != want {
        let want_lines: std::collections::BTreeSet<&str> = want.lines().collect();
        let got_lines: std::collections::BTreeSet<&str> = got.lines().collect();
        let mut diff = String::new();
        for l in want_lines.difference(&got_lines).take(40) {
            diff.push_str(&format!("- {l}\n"));
        }
        for l in got_lines.difference(&want_lines).take(40) {
            diff.push_str(&format!("+ {l}\n"));
        }
        panic!(
            "/metrics differs from {} (- golden, + now; first 40 each):\n{diff}\n\
             If the change is intended: UPDATE_GOLDEN=1 cargo test --test api golden",
            path.display()
        );
    }
}

#[test]
fn normalise_filters_and_sorts() {
    let text =
        "# HELP b_total B.\n# TYPE b_total counter\nb_total{x=\"2\"} 2\nb_total{x=\"1\"} 1\n\
                # HELP a_duration_seconds A.\n# TYPE a_duration_seconds histogram\n\
                a_duration_seconds_bucket{le=\"1\"} 1\na_duration_seconds_sum 0.5\n\
                a_duration_seconds_count 1\n# HELP process_cpu_seconds_total C.\n\
                # TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3\n\
                # HELP a_info I.\n# TYPE a_info gauge\na_info 1\n";
    assert_eq!(
        normalise(text),
        "# HELP a_info I.\n# TYPE a_info gauge\na_info 1\n\
         # HELP b_total B.\n# TYPE b_total counter\nb_total{x=\"1\"} 1\nb_total{x=\"2\"} 2\n"
    );
}
