//! What the landing page shows about the exporter's recent work: the last collection of every
//! cloud × collector (outcome, when, how long), its last error with the request id, the size of
//! each inventory, and the recent probes (blackbox_exporter's "Recent Probes").
//!
//! Written by one-line hooks where the facts are known (the scrape's per-collector wrapper, the
//! probe handler), read only by the landing page. Bounded whatever the traffic: one entry per
//! configured cloud × collector, the last [`RECENT_PROBES`] probes, error texts cut to
//! [`MAX_TEXT`] characters. Kept across reloads (the page filters by the clouds configured now).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use crate::sync::lock;
use std::time::{Duration, SystemTime};

use crate::metrics::{Families, Family};
use crate::upstream::ApiError;

/// How many probes the page lists.
pub const RECENT_PROBES: usize = 100;
/// Longest error message or target kept (longer ones are cut).
pub const MAX_TEXT: usize = 300;

/// The last collection of one cloud × collector.
#[derive(Debug, Clone)]
pub struct CollectorStatus {
    /// When the last collection started.
    pub at: SystemTime,
    /// How long it took.
    pub took: Duration,
    /// Whether it succeeded.
    pub ok: bool,
    /// When it last succeeded, if ever since start.
    pub last_success: Option<SystemTime>,
    /// Its last failure, kept after later successes so a flapping collector can be diagnosed.
    pub last_error: Option<ErrorRecord>,
}

/// One failure, as the log line said it.
#[derive(Debug, Clone)]
pub struct ErrorRecord {
    /// When the failed collection started.
    pub at: SystemTime,
    /// The `result` label of the failure (`server_error`, `timeout`, …).
    pub result: &'static str,
    /// Operation, HTTP status, service code and message (cut to [`MAX_TEXT`]; may carry a
    /// hostile peer's text: escape it).
    pub message: String,
    /// The upstream request id, or the one we sent.
    pub request_id: Option<String>,
}

/// One answered `/probe` request.
#[derive(Debug, Clone)]
pub struct ProbeRecord {
    /// Module name (from the config).
    pub module: String,
    /// Target as the request gave it (a configured phone or group; cut to [`MAX_TEXT`]).
    pub target: String,
    /// When the answer was sent.
    pub at: SystemTime,
    /// `probe_duration_seconds` of the answer.
    pub took: Duration,
    /// `probe_success` of the answer.
    pub success: bool,
    /// Phones probed.
    pub phones: usize,
    /// Phones whose job failed, timed out or did not match.
    pub failed: usize,
    /// Where the answer came from: `command`, `shared`, `cached`, or `debug`.
    pub source: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventorySource {
    /// Ids written in the config file.
    Config,
    /// Ids from an `instance_ids_file` (and the config, when both are given).
    File,
    /// Listed from the cloud's list API; when it was last listed in full.
    Discovered {
        /// Last complete listing, `None` before the first.
        refreshed: Option<SystemTime>,
    },
    /// The API answers for the whole account; there is no list of resources.
    AccountWide,
}

/// The size of what one collector reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventorySummary {
    /// What is counted: `phones`, `instances`.
    pub unit: &'static str,
    /// Where the list comes from.
    pub source: InventorySource,
    /// Resources listed or discovered, before sharding.
    pub total: usize,
    /// Of those, the ones this replica collects (its shard).
    pub collected: usize,
}

/// The recorded state. One per exporter lineage (carried over reloads).
#[derive(Debug, Default)]
pub struct Status {
    /// By (cloud, collector).
    collectors: Mutex<BTreeMap<(String, &'static str), CollectorStatus>>,
    /// Newest last.
    probes: Mutex<VecDeque<ProbeRecord>>,
}

/// `s` cut to [`MAX_TEXT`] characters, control characters replaced by spaces.
pub fn bounded(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_TEXT)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX_TEXT).is_some() {
        out.push('…');
    }
    out
}

/// An error as the page shows it: operation, HTTP status, service code and message (its kind
/// and request id have columns of their own).
fn describe(e: &ApiError) -> String {
    let mut out = e.operation.to_string();
    if let Some(s) = e.status {
        out.push_str(&format!(" (HTTP {s})"));
    }
    if let Some(c) = &e.code {
        out.push(' ');
        out.push_str(c);
    }
    if !e.message.is_empty() {
        out.push_str(": ");
        out.push_str(&e.message);
    }
    out
}

/// Whether a collector succeeded: written by the scrape for each run, and by a discovery for
/// its latest refresh, both through [`Status::report_collector`].
pub static COLLECTOR_SUCCESS: Family = Family::gauge(
    "huaweicloud_scrape_collector_success",
    &["cloud", "collector"],
    "Whether this collector of this cloud succeeded in this scrape (1) or not (0).",
);

/// How long a collector took.
pub static COLLECTOR_DURATION: Family = Family::gauge(
    "huaweicloud_scrape_collector_duration_seconds",
    &["cloud", "collector"],
    "How long this collector of this cloud took in this scrape.",
);

impl Status {
    /// Writes [`COLLECTOR_SUCCESS`] and [`COLLECTOR_DURATION`] for one run of `collector` of
    /// `cloud` (started `at`, took `took`, ended in `error`; `None`: success) and records that
    /// run for the landing page. The one way either series is written (scrape collectors and
    /// discovery refreshes alike), so every collector the metric reports has its row.
    pub fn report_collector(
        &self,
        out: &mut Families,
        cloud: &str,
        collector: &'static str,
        error: Option<&ApiError>,
        took: Duration,
        at: SystemTime,
    ) {
        let labels = [("cloud", cloud), ("collector", collector)];
        out.gauge(
            &COLLECTOR_SUCCESS,
            &labels,
            if error.is_none() { 1.0 } else { 0.0 },
        );
        out.gauge(&COLLECTOR_DURATION, &labels, took.as_secs_f64());
        self.record_run(cloud, collector, error, took, at);
    }

    /// Records one collector run started `at`. Recording the same run again (a discovery
    /// refresh, reported by every scrape until the next one) changes nothing.
    fn record_run(
        &self,
        cloud: &str,
        collector: &'static str,
        error: Option<&ApiError>,
        took: Duration,
        at: SystemTime,
    ) {
        let mut map = lock(&self.collectors);
        let entry = map
            .entry((cloud.to_string(), collector))
            .or_insert(CollectorStatus {
                at,
                took,
                ok: false,
                last_success: None,
                last_error: None,
            });
        entry.at = at;
        entry.took = took;
        entry.ok = error.is_none();
        match error {
            None => entry.last_success = Some(at),
            Some(e) => {
                entry.last_error = Some(ErrorRecord {
                    at,
                    result: e.kind.result(),
                    message: bounded(&describe(e)),
                    request_id: e.request_id.as_deref().map(bounded),
                })
            }
        }
    }

    /// Records one answered probe.
    pub fn record_probe(&self, record: ProbeRecord) {
        let mut ring = lock(&self.probes);
        if ring.len() >= RECENT_PROBES {
            ring.pop_front();
        }
        ring.push_back(ProbeRecord {
            target: bounded(&record.target),
            ..record
        });
    }

    /// Forgets every cloud × collector not in `configured` (after a reload), so the map stays
    /// as small as the configuration and the page shows no collector that no longer runs.
    pub fn retain_collectors(&self, configured: &[(&str, &'static str)]) {
        lock(&self.collectors).retain(|(cloud, collector), _| {
            configured.iter().any(|(c, n)| c == cloud && n == collector)
        });
    }

    /// The last run of `cloud` × `collector`, if it ran since start.
    pub fn collector(&self, cloud: &str, collector: &'static str) -> Option<CollectorStatus> {
        lock(&self.collectors)
            .get(&(cloud.to_string(), collector))
            .cloned()
    }

    /// Every collector of `cloud` that has run since start, by name, with its last run.
    pub fn collectors_of(&self, cloud: &str) -> Vec<(&'static str, CollectorStatus)> {
        lock(&self.collectors)
            .iter()
            .filter(|((c, _), _)| c == cloud)
            .map(|((_, name), s)| (*name, s.clone()))
            .collect()
    }

    /// The recent probes, newest first.
    pub fn recent_probes(&self) -> Vec<ProbeRecord> {
        lock(&self.probes).iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::ErrorKind;

    fn probe(n: usize) -> ProbeRecord {
        ProbeRecord {
            module: "boot".into(),
            target: format!("t{n}"),
            at: SystemTime::now(),
            took: Duration::from_millis(5),
            success: true,
            phones: 1,
            failed: 0,
            source: "command",
        }
    }

    #[test]
    fn a_failure_is_kept_after_a_later_success() {
        let s = Status::default();
        let mut e = ApiError::new(ErrorKind::ServerError, "dcs_status", "boom\n<b>");
        e.request_id = Some("rid-1".into());
        let mut f = Families::new();
        let ran = |took| SystemTime::now() - Duration::from_millis(took);
        s.report_collector(
            &mut f,
            "c",
            "dcs",
            Some(&e),
            Duration::from_millis(20),
            ran(20),
        );
        assert_eq!(
            f.value(COLLECTOR_SUCCESS.name, &[("collector", "dcs")]),
            Some(0.0)
        );
        let got = s.collector("c", "dcs").unwrap();
        assert!(!got.ok && got.last_success.is_none());
        let err = got.last_error.unwrap();
        assert_eq!(err.result, "server_error");
        assert_eq!(err.request_id.as_deref(), Some("rid-1"));
        assert_eq!(err.message, "dcs_status: boom <b>");

        s.report_collector(&mut f, "c", "dcs", None, Duration::from_millis(10), ran(10));
        assert_eq!(s.collectors_of("c").len(), 1);
        let got = s.collector("c", "dcs").unwrap();
        assert!(got.ok && got.last_success.is_some());
        assert_eq!(got.took, Duration::from_millis(10));
        assert_eq!(got.last_error.unwrap().request_id.as_deref(), Some("rid-1"));
        assert!(s.collector("c", "ddm").is_none());

        s.retain_collectors(&[("c", "dcs")]);
        assert!(s.collector("c", "dcs").is_some(), "still configured");
        s.retain_collectors(&[("c", "ddm"), ("other", "dcs")]);
        assert!(
            s.collector("c", "dcs").is_none(),
            "a collector gone from the config"
        );
    }

    #[test]
    fn the_probe_ring_and_texts_are_bounded() {
        let s = Status::default();
        for n in 0..RECENT_PROBES + 5 {
            s.record_probe(probe(n));
        }
        let recent = s.recent_probes();
        assert_eq!(recent.len(), RECENT_PROBES);
        assert_eq!(recent[0].target, format!("t{}", RECENT_PROBES + 4));
        s.record_probe(ProbeRecord {
            target: "x".repeat(10_000),
            ..probe(0)
        });
        assert_eq!(s.recent_probes()[0].target.chars().count(), MAX_TEXT + 1);
    }
}
