//! What a metric family is, declared once beside the code that writes it ([`Family`]): its
//! name, type, label names and help. Samples take their help and label names from it, and the
//! README's metrics table is generated from every declared family (`cargo xtask gen`); the
//! self metrics' own declarations are here.

/// The type of a family, as `# TYPE` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A count that only grows.
    Counter,
    /// Observations in buckets, with their sum and count.
    Histogram,
}

impl Kind {
    /// The word `# TYPE` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family as users see it.
#[derive(Debug)]
pub struct Family {
    /// The metric name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its label names, in the order every sample gives them.
    pub labels: &'static [&'static str],
    /// Its `# HELP` text.
    pub help: &'static str,
}

impl Family {
    /// A gauge.
    pub const fn gauge(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Family {
        Family {
            name,
            kind: Kind::Gauge,
            labels,
            help,
        }
    }

    /// A counter.
    pub const fn counter(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Family {
        Family {
            name,
            kind: Kind::Counter,
            labels,
            help,
        }
    }

    /// A histogram.
    pub const fn histogram(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Family {
        Family {
            name,
            kind: Kind::Histogram,
            labels,
            help,
        }
    }
}

/// Every upstream call.
pub static API_REQUESTS: Family = Family::counter(
    "huaweicloud_api_requests_total",
    &["cloud", "service", "operation", "result"],
    "Upstream Huawei Cloud API calls made, by service, operation and result.",
);
/// Upstream latency.
pub static API_DURATION: Family = Family::histogram(
    "huaweicloud_api_request_duration_seconds",
    &["cloud", "service", "operation"],
    "Latency of upstream Huawei Cloud API calls, including reading the body.",
);
/// When the cached token expires.
pub static TOKEN_EXPIRY: Family = Family::gauge(
    "huaweicloud_auth_token_expiry_timestamp_seconds",
    &["cloud"],
    "Unix time at which the cached IAM token of this cloud expires.",
);
/// Token requests to IAM.
pub static TOKEN_REQUESTS: Family = Family::counter(
    "huaweicloud_auth_token_requests_total",
    &["cloud", "result"],
    "Token requests sent to IAM, by result.",
);
/// Whether the last reload worked.
pub static RELOAD_OK: Family = Family::gauge(
    "huaweicloud_exporter_config_last_reload_successful",
    &[],
    "Whether the last configuration reload attempt was successful (1) or not (0).",
);
/// When the config was last loaded.
pub static RELOAD_TIME: Family = Family::gauge(
    "huaweicloud_exporter_config_last_reload_success_timestamp_seconds",
    &[],
    "Unix time of the last successful configuration load.",
);
/// Probe requests by how they were answered.
pub static PROBE_COMMANDS: Family = Family::counter(
    "huaweicloud_koophone_probe_commands_total",
    &["module", "source"],
    "Probe requests by how they were answered: a new command, a shared in-flight run, the cached last result, refused by the command budget (throttled), or a deadline too short to poll (too_short).",
);
/// Scrapes, by whether they collected.
pub static SCRAPES: Family = Family::counter(
    "huaweicloud_exporter_scrapes_total",
    &["mode"],
    "Scrapes of the metrics endpoint, by whether they ran a collection or joined one already in flight.",
);
/// The build.
pub static BUILD_INFO: Family = Family::gauge(
    "huaweicloud_exporter_build_info",
    &["version", "revision", "rustc_version"],
    "A metric with a constant '1' value labeled by version, revision and rustc_version of the exporter build.",
);

/// The long-lived self metrics ([`super::SelfMetrics`]), every one of them.
pub static SELF_FAMILIES: &[&Family] = &[
    &API_REQUESTS,
    &API_DURATION,
    &TOKEN_EXPIRY,
    &TOKEN_REQUESTS,
    &RELOAD_OK,
    &RELOAD_TIME,
    &PROBE_COMMANDS,
    &SCRAPES,
    &BUILD_INFO,
];
