//! huaweicloud-exporter: Prometheus metrics for the management-plane state of Huawei Cloud —
//! DCS instance lifecycle counts, the status of every KooPhone cloud phone, DDM restore readiness,
//! and command probes on phones.
//!
//! # Layout
//!
//! - [`config`]: the YAML schema, `${VAR}` expansion, secrets from files, validation with
//!   file/field/fix errors, and the phone-list file that is re-read when it changes.
//! - [`auth`]: the IAM token provider (cache, refresh ahead, single flight, backoff) and the
//!   `SDK-HMAC-SHA256` AK/SK signer.
//! - [`cloud`]: the upstream HTTP client (pool and in-flight limit per cloud, request ids,
//!   retries inside the deadline, body limits, `huaweicloud_api_*` metrics), one file of typed
//!   calls and models per service, and `cloud::listing`, the offset/limit pager of the DCS and
//!   DDM instance listings.
//! - [`collectors`]: one file per API family, each a pure mapping from API models to metric
//!   families plus the fetch that feeds it; `koophone_isolate` splits a KooPhone batch that
//!   fails for some of its ids and remembers the phones it isolated.
//! - [`scrape`]: the scrape deadline, the fan-out over clouds and collectors, per-collector
//!   success and duration, and coalescing of concurrent scrapes.
//! - [`probe`]: KooPhone command probes (`/probe?module=&target=`): target resolution, the
//!   command run and task polling, the per-request families, and sharing of concurrent identical
//!   probes and of recent results.
//! - [`logging`]: log lines with the Prometheus ecosystem's keys (`ts`, `level`, `source`,
//!   `msg`) in logfmt or JSON.
//! - [`metrics`]: per-scrape metric families, the long-lived self metrics, text encoding.
//! - [`status`]: what the landing page shows: each collector's last outcome and error, the
//!   inventory sizes, the recent probes.
//! - [`discovery`]: the generic inventory (last good listing, background refresh, single
//!   flight) and the pager every list API goes through.
//! - [`watch`]: the one file watcher: a value loaded from files and loaded again, off the async
//!   threads, when they change (the web config, a phone-list file).
//! - [`debug_log`]: the per-request log of upstream calls behind `/probe?…&debug=true`.
//! - [`http`]: the routes (`/`, `/metrics`, `/probe`, `/-/healthy`, `/-/ready`, `/-/reload`).
//! - [`sim`]: a simulated Huawei Cloud (IAM, DCS, KooPhone, DDM) with faults on demand, used by
//!   `--demo`, the tests and the benchmarks.
//! - [`web`]: `--web.config.file` (exporter-toolkit format: TLS, client certificates, basic auth,
//!   response headers, re-read on change) and the server loop with its request limits.
//! - [`app`]: wiring — build from a config, bind (port 0 allowed), serve until shutdown; the demo.

pub mod app;
pub mod config;
pub mod deadline;
pub mod debug_log;
pub mod inventory;
pub mod logging;
pub mod metrics;
pub mod scrape;
pub mod server;
pub mod services;
pub mod sim;
pub mod status;
pub mod sync;
pub mod transport;
pub mod upstream;
pub mod watch;
