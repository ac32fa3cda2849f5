//! Metric plumbing: per-scrape families built fresh for each scrape, the long-lived self metrics
//! (upstream calls, tokens, build info, reloads, process), and the text encoding of both.

use std::collections::BTreeMap;

use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Families of one scrape, keyed by metric name so samples from many clouds and collectors
/// land in one family each.
#[derive(Default, Debug)]
pub struct Families {
    families: BTreeMap<&'static str, MetricFamily>,
}

impl Families {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one gauge sample. `labels` are (name, value) pairs in a fixed order per metric.
    pub fn gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let family = self.families.entry(name).or_insert_with(|| {
            let mut f = MetricFamily::default();
            f.set_name(name.to_string());
            f.set_help(help.to_string());
            f.set_field_type(MetricType::GAUGE);
            f
        });
        let mut pairs = Vec::with_capacity(labels.len());
        for (k, v) in labels {
            let mut lp = LabelPair::default();
            lp.set_name((*k).to_string());
            lp.set_value((*v).to_string());
            pairs.push(lp);
        }
        let mut g = Gauge::default();
        g.set_value(value);
        let mut m = Metric::from_gauge(g);
        m.set_label(pairs);
        family.mut_metric().push(m);
    }

    /// Moves every sample of `other` into `self`.
    pub fn merge(&mut self, other: Families) {
        for (name, mut fam) in other.families {
            match self.families.get_mut(name) {
                Some(existing) => existing.mut_metric().append(fam.mut_metric()),
                None => {
                    self.families.insert(name, fam);
                }
            }
        }
    }

    /// The families, sorted by name.
    pub fn into_vec(self) -> Vec<MetricFamily> {
        self.families.into_values().collect()
    }

    /// Samples held under `name` (tests and benchmarks).
    pub fn len_of(&self, name: &str) -> usize {
        self.families
            .get(name)
            .map(|f| f.get_metric().len())
            .unwrap_or(0)
    }

    /// Value of the sample of `name` whose labels include every pair in `labels` (tests).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let fam = self.families.get(name)?;
        fam.get_metric().iter().find_map(|m| {
            let all = labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|lp| lp.name() == *k && lp.value() == *v)
            });
            all.then(|| m.get_gauge().get_value())
        })
    }
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
    /// Registers everything on a fresh registry.
    pub fn new() -> Result<SelfMetrics, prometheus::Error> {
        let registry = Registry::new();
        let api_requests = IntCounterVec::new(
            Opts::new(
                "huaweicloud_api_requests_total",
                "Upstream Huawei Cloud API calls made, by service, operation and result.",
            ),
            &["cloud", "service", "operation", "result"],
        )?;
        let api_duration = HistogramVec::new(
            HistogramOpts::new(
                "huaweicloud_api_request_duration_seconds",
                "Latency of upstream Huawei Cloud API calls, including reading the body.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["cloud", "service", "operation"],
        )?;
        let token_expiry = GaugeVec::new(
            Opts::new(
                "huaweicloud_auth_token_expiry_timestamp_seconds",
                "Unix time at which the cached IAM token of this cloud expires.",
            ),
            &["cloud"],
        )?;
        let token_requests = IntCounterVec::new(
            Opts::new(
                "huaweicloud_auth_token_requests_total",
                "Token requests sent to IAM, by result.",
            ),
            &["cloud", "result"],
        )?;
        let config_reload_ok = IntGauge::new(
            "huaweicloud_exporter_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful (1) or not (0).",
        )?;
        let config_reload_time = prometheus::Gauge::new(
            "huaweicloud_exporter_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load.",
        )?;
        let probe_commands = IntCounterVec::new(
            Opts::new(
                "huaweicloud_koophone_probe_commands_total",
                "Probe requests by how they were answered: a new command, a shared in-flight one, or the cached last result.",
            ),
            &["module", "source"],
        )?;
        let scrapes = IntCounterVec::new(
            Opts::new(
                "huaweicloud_exporter_scrapes_total",
                "Scrapes of the metrics endpoint, by whether they ran a collection or joined one already in flight.",
            ),
            &["mode"],
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "huaweicloud_exporter_build_info",
                "A metric with a constant '1' value labeled by version, revision and rustc_version of the exporter build.",
            ),
            &["version", "revision", "rustc_version"],
        )?;
        build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                option_env!("HWC_EXPORTER_REVISION").unwrap_or("unknown"),
                option_env!("HWC_EXPORTER_RUSTC").unwrap_or("unknown"),
            ])
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
