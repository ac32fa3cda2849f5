//! `/probe?module=&target=` (blackbox_exporter's pattern) as the server sees it: the [`Prober`]
//! a service with probes implements, its answers and refusals, and the modules the landing page
//! lists. Nothing here names a service.

use std::time::Duration;

use futures::future::BoxFuture;

use crate::config::Config;

use super::fleet::Fleet;

/// A service that answers `/probe?module=&target=` (blackbox_exporter's pattern).
pub trait Prober: Sync {
    /// Answers one probe: the exposition, or a refusal.
    fn probe<'a>(&'a self, fleet: &'a Fleet, request: ProbeRequest<'a>) -> Probing<'a>;

    /// The configured modules, as the landing page lists them.
    fn modules(&self, config: &Config) -> Vec<ModuleInfo>;
}

/// One `/probe` request as the server received it.
#[derive(Debug, Clone, Copy)]
pub struct ProbeRequest<'a> {
    /// The query's parameters, in order.
    pub params: &'a [(String, String)],
    /// `X-Prometheus-Scrape-Timeout-Seconds`, when sent.
    pub timeout_header: Option<&'a str>,
    /// `debug=true`: answer the run's log and families as text.
    pub debug: bool,
}

/// A probe being answered.
pub type Probing<'a> = BoxFuture<'a, Result<ProbeAnswer, Refusal>>;

/// A probe's answer.
pub enum ProbeAnswer {
    /// The probe's families, in the Prometheus text format.
    Exposition(Vec<u8>),
    /// `debug=true`: the probe's log and families as plain text.
    Debug(String),
}

/// Why `/probe` did not answer with an exposition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The query is wrong (HTTP 400), with a one-line reason.
    BadRequest(String),
    /// The module's command budget is spent (HTTP 429); try again after `retry_after`.
    Throttled {
        /// When the budget holds enough for this probe again.
        retry_after: Duration,
        /// A one-line reason.
        reason: String,
    },
}

impl From<String> for Refusal {
    fn from(reason: String) -> Self {
        Refusal::BadRequest(reason)
    }
}

/// A probe module as the landing page lists it.
pub struct ModuleInfo {
    /// Its name.
    pub name: String,
    /// The cloud it runs on.
    pub cloud: String,
    /// What it runs.
    pub command: String,
    /// What the output must match.
    pub expect: String,
    /// Named targets it accepts besides one resource.
    pub groups: Vec<String>,
}
