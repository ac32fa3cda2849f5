//! The services the exporter knows, and the one list of them.
//!
//! Each Huawei service is one module that owns everything about it: its config section
//! ([`Schema`]), its typed calls and models, its collectors (pure mappings from answers to
//! families), its discovery, its probe where it has one, and its simulated endpoints. It joins
//! the exporter through the [`Service`] trait and one line in [`SERVICES`]; config loading, the
//! fleet a config builds (and a reload carries over), the scrape fan-out, the shard rule, the
//! landing page and `/probe` all iterate that list and know no service by name. Beside it,
//! [`SIMULATED`] (`simulated`) lists what each service's `sim` module serves; the top level
//! hands it to the simulator, which imports no service. "Adding a service" in CONTRIBUTING.md walks through it.

pub mod dcs;
pub mod ddm;
pub mod fleet;
pub mod koophone;
pub mod listing;
pub mod prober;
pub mod service;
pub mod simulated;

pub use fleet::{Cloud, Fleet};
pub use prober::{ModuleInfo, ProbeAnswer, ProbeRequest, Prober, Probing, Refusal};
pub use service::{Before, Build, Job, Runtime, Service};
pub use simulated::SIMULATED;

use crate::config::{Config, ConfigErrors, Schema, Source};

/// Every service, in the order their sections, collectors and landing-page rows appear.
pub static SERVICES: &[&dyn Service] = &[&dcs::Dcs, &koophone::Koophone, &ddm::Ddm];

/// The service that answers `/probe` (the one with command probes).
pub static PROBER: &dyn Prober = &koophone::Koophone;

/// The titles of the services `pick` keeps, in registry order, as text says them: `A`,
/// `A and B`, `A, B and C`. Help and log text name services through it, never by hand.
pub fn titles(pick: impl Fn(&crate::config::Identity) -> bool) -> String {
    let titles: Vec<&str> = SERVICES
        .iter()
        .map(|s| s.identity())
        .filter(|id| pick(id))
        .map(|id| id.title)
        .collect();
    match titles.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The shard rule as help and log text say it, from each service's `Identity::account_wide`:
/// `(split, whole)`, the services whose resources the shards split and those only shard 0
/// collects.
pub fn shard_rule() -> (String, String) {
    (titles(|id| !id.account_wide), titles(|id| id.account_wide))
}

/// The registry's schemas, for the config loader.
pub fn schemas() -> Vec<&'static dyn Schema> {
    SERVICES.iter().map(|s| *s as &dyn Schema).collect()
}

/// Reads the config `source` names, every service's section decoded by its schema.
pub fn load(source: &Source) -> Result<Config, ConfigErrors> {
    source.load(&schemas())
}

/// Decodes config text (see [`crate::config::load_str`]) with every service's schema.
pub fn load_str(
    text: &str,
    file: &str,
    base: &std::path::Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    crate::config::load_str(text, file, base, env, &schemas())
}

/// Reads, expands, decodes and validates the config file at `path` with every service's schema.
pub fn load_file(path: &std::path::Path) -> Result<Config, ConfigErrors> {
    crate::config::load_file(path, &schemas())
}
