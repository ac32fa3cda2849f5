//! Metric plumbing: per-scrape families built fresh for each scrape, the long-lived self metrics
//! (upstream calls, tokens, build info, reloads, process), and the text encoding of both.

mod family;

pub use family::{Family, Kind, SELF_FAMILIES};

use std::collections::BTreeMap;
use std::fmt::Write as _;

use prometheus::proto::MetricFamily;
mod labels;
pub use labels::{
    bounded_id, bounded_label, label_text, label_word, sane_label, MAX_ID_CHARS, MAX_LABEL_CHARS,
    MAX_NAME_CHARS,
};

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Families of one scrape, keyed by metric name so samples from many clouds and collectors
/// land in one family each.
///
/// Samples are kept as the text lines they will be served as, rendered when added: at 100,000
/// phones, one `prometheus::proto::Metric` with its `LabelPair`s per sample cost ~14 allocations
/// and ~1 KB each, and re-encoding them with `TextEncoder` cost as much again. The output is
/// byte for byte what `TextEncoder` writes for the same families.
#[derive(Default, Debug, Clone)]
pub struct Families {
    families: BTreeMap<&'static str, Lines>,
    /// Set by a collector that answered for part of what it was asked (its families are
    /// served, its `huaweicloud_scrape_collector_success` is 0): why. Never merged.
    incomplete: Option<crate::upstream::ApiError>,
}

/// One family: its help, its type and its samples, already rendered.
#[derive(Debug, Clone)]
struct Lines {
    /// `# HELP` text, unescaped.
    help: &'static str,
    /// `# TYPE`: `gauge`, or `counter` for a count kept across scrapes.
    kind: &'static str,
    /// `name{labels} value\n` lines, in the order they were added.
    lines: String,
    /// Samples in `lines`.
    samples: usize,
}

impl Families {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample of the gauge `family`. `labels` are (name, value) pairs, the names
    /// those `family` declares, in its order.
    pub fn gauge(&mut self, family: &'static Family, labels: &[(&str, &str)], value: f64) {
        self.declared(family, Kind::Gauge, labels, value);
    }

    /// Adds one gauge sample of `name`, undeclared (the unit tests' literals); the first
    /// `help` given for a name is kept.
    #[cfg(test)]
    fn push(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        self.sample(name, help, "gauge", labels, value);
    }

    /// Adds one sample of the counter `family`, whose count its owner keeps (e.g. an
    /// inventory's). `labels` as for [`Families::gauge`].
    pub fn counter(&mut self, family: &'static Family, labels: &[(&str, &str)], value: f64) {
        self.declared(family, Kind::Counter, labels, value);
    }

    /// One sample of `family`, which debug builds check is of `kind` with exactly its declared
    /// label names, in order.
    fn declared(
        &mut self,
        family: &'static Family,
        kind: Kind,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        debug_assert!(
            family.kind == kind
                && labels
                    .iter()
                    .map(|(k, _)| *k)
                    .eq(family.labels.iter().copied()),
            "{}: a {:?} with labels {labels:?}, declared a {:?} with {:?}",
            family.name,
            kind,
            family.kind,
            family.labels
        );
        self.sample(family.name, family.help, kind.as_str(), labels, value);
    }

    fn sample(
        &mut self,
        name: &'static str,
        help: &'static str,
        kind: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let family = self.families.entry(name).or_insert_with(|| Lines {
            help,
            kind,
            lines: String::new(),
            samples: 0,
        });
        let out = &mut family.lines;
        out.push_str(name);
        if !labels.is_empty() {
            let mut separator = '{';
            for (k, v) in labels {
                out.push(separator);
                out.push_str(k);
                out.push_str("=\"");
                escape_into(out, v, true);
                out.push('"');
                separator = ',';
            }
            out.push('}');
        }
        out.push(' ');
        write_value(out, value);
        out.push('\n');
        family.samples += 1;
    }

    /// Marks these families as a partial answer: served, but the collector's success is 0,
    /// with `why` on the landing page.
    pub fn mark_incomplete(&mut self, why: crate::upstream::ApiError) {
        self.incomplete = Some(why);
    }

    /// Why these families are a partial answer, if they are (taken, so it is said once).
    pub fn take_incomplete(&mut self) -> Option<crate::upstream::ApiError> {
        self.incomplete.take()
    }

    /// Moves every sample of `other` into `self`.
    pub fn merge(&mut self, other: Families) {
        for (name, fam) in other.families {
            match self.families.get_mut(name) {
                Some(existing) => {
                    existing.lines.push_str(&fam.lines);
                    existing.samples += fam.samples;
                }
                None => {
                    self.families.insert(name, fam);
                }
            }
        }
    }

    /// Writes every family, sorted by name, in the Prometheus text format (what
    /// `TextEncoder` writes for the same gauges).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let size: usize = self
            .families
            .iter()
            .map(|(name, f)| 2 * name.len() + 2 * f.help.len() + f.lines.len() + 32)
            .sum();
        out.reserve(size);
        let mut help = String::new();
        for (name, f) in &self.families {
            if !f.help.is_empty() {
                help.clear();
                escape_into(&mut help, f.help, false);
                out.extend_from_slice(b"# HELP ");
                out.extend_from_slice(name.as_bytes());
                out.push(b' ');
                out.extend_from_slice(help.as_bytes());
                out.push(b'\n');
            }
            out.extend_from_slice(b"# TYPE ");
            out.extend_from_slice(name.as_bytes());
            out.push(b' ');
            out.extend_from_slice(f.kind.as_bytes());
            out.push(b'\n');
            out.extend_from_slice(f.lines.as_bytes());
        }
    }

    /// Samples held under `name` (tests and benchmarks).
    pub fn len_of(&self, name: &str) -> usize {
        self.families.get(name).map(|f| f.samples).unwrap_or(0)
    }

    /// Value of the sample of `name` whose labels include every pair in `labels` (tests).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let fam = self.families.get(name)?;
        fam.lines.lines().find_map(|line| {
            let (pairs, value) = parse_line(line.strip_prefix(name)?)?;
            let all = labels
                .iter()
                .all(|(k, v)| pairs.iter().any(|(pk, pv)| pk == k && pv == v));
            all.then_some(value)
        })
    }
}

/// Appends `v` escaped as the text format wants: `\\` and newline always, `"` in a label
/// value (`quote`). In a label value every control character (C0, DEL, C1; a newline too) is
/// replaced by U+FFFD instead: the last line for text no service bounded, so no control
/// character reaches Prometheus' storage. One byte scan decides, as nearly every value is
/// plain ASCII (`0xC2` leads every C1 character).
fn escape_into(out: &mut String, v: &str, quote: bool) {
    if !v.bytes().any(|b| {
        b == b'\\' || b == b'\n' || (quote && (b == b'"' || b < 0x20 || b == 0x7f || b == 0xc2))
    }) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' if quote => out.push_str("\\\""),
            c if quote && c.is_control() => out.push('\u{FFFD}'),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends `value` as `f64`'s `Display` writes it (what `TextEncoder` uses). Integral values,
/// nearly all of them here, take a short path that writes the same digits.
fn write_value(out: &mut String, value: f64) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer up to here is exact
    if value.fract() == 0.0 && value.abs() < EXACT && !(value == 0.0 && value.is_sign_negative()) {
        let n = value as i64;
        if n < 0 {
            out.push('-');
        }
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut m = n.unsigned_abs();
        loop {
            i -= 1;
            digits[i] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 {
                break;
            }
        }
        for d in &digits[i..] {
            out.push(char::from(*d));
        }
    } else {
        let _ = write!(out, "{value}");
    }
}

/// Splits `{k="v",...} value` (the part of a line after the name) into unescaped label pairs
/// and the value.
fn parse_line(rest: &str) -> Option<(Vec<(String, String)>, f64)> {
    let mut pairs = Vec::new();
    let mut chars = rest.chars().peekable();
    if chars.peek() == Some(&'{') {
        chars.next();
        loop {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            if chars.next() != Some('"') {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    c => value.push(c),
                }
            }
            pairs.push((key, value));
            match chars.next()? {
                ',' => continue,
                '}' => break,
                _ => return None,
            }
        }
    }
    let value: String = chars.collect();
    Some((pairs, value.trim().parse().ok()?))
}

/// Encodes families in the Prometheus text format.
pub fn encode(families: &[MetricFamily], out: &mut Vec<u8>) -> Result<(), prometheus::Error> {
    TextEncoder::new().encode(families, out)
}

/// Buckets for upstream latency: 5 ms to ~40 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0,
];

/// Metrics that live as long as the process.
#[derive(Clone)]
pub struct SelfMetrics {
    /// Holds every family below plus the process collector.
    pub registry: Registry,
    /// Every upstream call by its outcome.
    pub api_requests: IntCounterVec,
    /// Upstream latency.
    pub api_duration: HistogramVec,
    /// When each cloud's cached token expires.
    pub token_expiry: GaugeVec,
    /// Token requests to IAM by outcome.
    pub token_requests: IntCounterVec,
    /// 1 when the last config reload worked.
    pub config_reload_ok: IntGauge,
    /// When the last good config was loaded.
    pub config_reload_time: prometheus::Gauge,
    /// Probe cache state, for `/probe` callers who want to know.
    pub probe_commands: IntCounterVec,
    /// Scrapes served by outcome of coalescing.
    pub scrapes: IntCounterVec,
    /// build info, kept so it is registered.
    _build_info: IntGaugeVec,
}

impl SelfMetrics {
    /// Records a config load (at start or on a reload): whether it worked and, when it did, when.
    /// The one place the reload metrics are set.
    pub fn record_reload(&self, ok: bool) {
        self.config_reload_ok.set(i64::from(ok));
        if ok {
            self.config_reload_time.set(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0),
            );
        }
    }

    /// Registers everything on a fresh registry.
    pub fn new() -> Result<SelfMetrics, prometheus::Error> {
        let registry = Registry::new();
        use family::*;
        let opts = |f: &Family| Opts::new(f.name, f.help);
        let api_requests = IntCounterVec::new(opts(&API_REQUESTS), API_REQUESTS.labels)?;
        let api_duration = HistogramVec::new(
            HistogramOpts::new(API_DURATION.name, API_DURATION.help)
                .buckets(LATENCY_BUCKETS.to_vec()),
            API_DURATION.labels,
        )?;
        let token_expiry = GaugeVec::new(opts(&TOKEN_EXPIRY), TOKEN_EXPIRY.labels)?;
        let token_requests = IntCounterVec::new(opts(&TOKEN_REQUESTS), TOKEN_REQUESTS.labels)?;
        let config_reload_ok = IntGauge::new(RELOAD_OK.name, RELOAD_OK.help)?;
        let config_reload_time = prometheus::Gauge::new(RELOAD_TIME.name, RELOAD_TIME.help)?;
        let probe_commands = IntCounterVec::new(opts(&PROBE_COMMANDS), PROBE_COMMANDS.labels)?;
        let scrapes = IntCounterVec::new(opts(&SCRAPES), SCRAPES.labels)?;
        let build_info = IntGaugeVec::new(opts(&BUILD_INFO), BUILD_INFO.labels)?;
        build_info
            .with_label_values(&[build::VERSION, build::REVISION, build::RUSTC_VERSION])
            .set(1);
        registry.register(Box::new(api_requests.clone()))?;
        registry.register(Box::new(api_duration.clone()))?;
        registry.register(Box::new(token_expiry.clone()))?;
        registry.register(Box::new(token_requests.clone()))?;
        registry.register(Box::new(config_reload_ok.clone()))?;
        registry.register(Box::new(config_reload_time.clone()))?;
        registry.register(Box::new(probe_commands.clone()))?;
        registry.register(Box::new(scrapes.clone()))?;
        registry.register(Box::new(build_info.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(SelfMetrics {
            registry,
            api_requests,
            api_duration,
            token_expiry,
            token_requests,
            config_reload_ok,
            config_reload_time,
            probe_commands,
            scrapes,
            _build_info: build_info,
        })
    }
}

/// What this build is, as `build.rs` found it: for `huaweicloud_exporter_build_info` and
/// `--version`. Each is `unknown` when it could not be found out.
pub mod build {
    /// The crate version.
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    /// Short git revision (or `HUAWEICLOUD_EXPORTER_REVISION` at build time).
    pub const REVISION: &str = or_unknown(option_env!("HUAWEICLOUD_EXPORTER_BUILD_REVISION"));
    /// `rustc -V` without the leading `rustc `.
    pub const RUSTC_VERSION: &str = or_unknown(option_env!("HUAWEICLOUD_EXPORTER_BUILD_RUSTC"));
    /// `user@host` that built it.
    pub const USER: &str = or_unknown(option_env!("HUAWEICLOUD_EXPORTER_BUILD_USER"));
    /// When (RFC 3339, UTC; `SOURCE_DATE_EPOCH` when set).
    pub const DATE: &str = or_unknown(option_env!("HUAWEICLOUD_EXPORTER_BUILD_DATE"));
    /// The target triple.
    pub const PLATFORM: &str = or_unknown(option_env!("HUAWEICLOUD_EXPORTER_BUILD_PLATFORM"));

    const fn or_unknown(v: Option<&'static str>) -> &'static str {
        match v {
            Some(v) if !v.is_empty() => v,
            _ => "unknown",
        }
    }

    /// `--version`, laid out as the Prometheus Go exporters print it.
    pub fn version_text() -> String {
        format!(
            "huaweicloud-exporter, version {VERSION} (revision: {REVISION})\n  build user:       {USER}\n  build date:       {DATE}\n  rustc version:    {RUSTC_VERSION}\n  platform:         {PLATFORM}\n"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::proto::{Gauge, LabelPair, Metric, MetricType};

    /// What `TextEncoder` writes for the same samples, built the way `Families` used to build
    /// them.
    /// Name, help, labels, value.
    type Sample<'a> = (&'static str, &'static str, Vec<(&'a str, &'a str)>, f64);

    fn reference(samples: &[Sample<'_>]) -> String {
        let mut fams: BTreeMap<&str, MetricFamily> = BTreeMap::new();
        for (name, help, labels, value) in samples {
            let f = fams.entry(name).or_insert_with(|| {
                let mut f = MetricFamily::default();
                f.set_name(name.to_string());
                f.set_help(help.to_string());
                f.set_field_type(MetricType::GAUGE);
                f
            });
            let pairs = labels
                .iter()
                .map(|(k, v)| {
                    let mut lp = LabelPair::default();
                    lp.set_name(k.to_string());
                    lp.set_value(v.to_string());
                    lp
                })
                .collect();
            let mut g = Gauge::default();
            g.set_value(*value);
            let mut m = Metric::from_gauge(g);
            m.set_label(pairs);
            f.mut_metric().push(m);
        }
        let mut out = Vec::new();
        encode(&fams.into_values().collect::<Vec<_>>(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn encodes_exactly_what_the_text_encoder_writes() {
        let samples = vec![
            (
                "b_metric",
                "Help with \\ and\nnewline \"quoted\".",
                vec![("cloud", "c"), ("v", "a\"b\\c")],
                1.0,
            ),
            ("a_metric", "", vec![], 0.0),
            (
                "b_metric",
                "ignored: first help wins",
                vec![("cloud", "ü→")],
                -0.0,
            ),
            ("a_metric", "", vec![("x", "")], 0.1),
            ("c", "h", vec![("k", "v")], 1e21),
            ("c", "h", vec![("k", "v")], -3.0),
            ("c", "h", vec![("k", "v")], 12345.678),
            ("c", "h", vec![("k", "v")], f64::NAN),
            ("c", "h", vec![("k", "v")], f64::INFINITY),
            ("c", "h", vec![("k", "v")], f64::NEG_INFINITY),
            ("c", "h", vec![("k", "v")], 9_007_199_254_740_993.0),
            ("c", "h", vec![("k", "v")], 1e-7),
            ("c", "h", vec![("k", "v")], 4_294_967_296.0),
            ("c", "h", vec![("k", "v")], -9_007_199_254_740_991.0),
            ("c", "h", vec![("k", "v")], 10.0),
            ("c", "h", vec![("k", "v")], 100_000.0),
        ];
        let mut left = Families::new();
        let mut right = Families::new();
        for (i, (name, help, labels, value)) in samples.iter().enumerate() {
            let f = if i % 2 == 0 { &mut left } else { &mut right };
            f.push(name, help, labels, *value);
        }
        left.merge(right);
        let mut out = Vec::new();
        left.encode(&mut out);
        // Merging keeps each side's order, so compare against the same order.
        let mut ordered: Vec<_> = samples.iter().step_by(2).cloned().collect();
        ordered.extend(samples.iter().skip(1).step_by(2).cloned());
        assert_eq!(String::from_utf8(out).unwrap(), reference(&ordered));
    }

    #[test]
    fn no_control_character_leaves_in_a_label_value() {
        let mut f = Families::new();
        f.push("m", "h", &[("name", "a\0b\r\nc\x1bd\u{9b}e")], 1.0);
        let mut out = Vec::new();
        f.encode(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("m{name=\"a\u{FFFD}b\u{FFFD}\u{FFFD}c\u{FFFD}d\u{FFFD}e\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn value_and_len_of_read_back_unescaped_labels() {
        let mut f = Families::new();
        f.push("m", "h", &[("a", "x\"y"), ("b", "line break")], 2.5);
        f.push("m", "h", &[("a", "x"), ("b", "\\")], 7.0);
        f.push("n", "h", &[], 3.0);
        assert_eq!(f.len_of("m"), 2);
        assert_eq!(f.len_of("absent"), 0);
        assert_eq!(f.value("m", &[("a", "x\"y")]), Some(2.5));
        assert_eq!(f.value("m", &[("b", "line break")]), Some(2.5));
        assert_eq!(f.value("m", &[("a", "x"), ("b", "\\")]), Some(7.0));
        assert_eq!(f.value("m", &[("a", "x"), ("b", "line break")]), None);
        assert_eq!(f.value("n", &[]), Some(3.0));
    }
}
