//! huaweicloud-exporter: Prometheus metrics for the management-plane state of Huawei Cloud —
//! DCS instance lifecycle counts, the status of every KooPhone cloud phone, DDM restore readiness,
//! and command probes on phones.
//!
//! # Layout
//!
//! Layers run one way: [`server`] → [`scrape`] → [`services`] → [`inventory`] → [`transport`]
//! → [`config`], [`metrics`], [`status`], [`upstream`], [`sync`], [`watch`], [`files`],
//! [`logging`], [`repeats`]. No
//! module imports one above it, and no file imports a file that imports it.
//!
//! - [`server`]: the routes (`/`, `/metrics`, `/probe`, `/-/healthy`, `/-/ready`, `/-/reload`
//!   behind `--web.enable-lifecycle`), the landing page, the listeners and accept loop with its
//!   request limits, and
//!   `--web.config.file` (exporter-toolkit format: TLS, client certificates, basic auth,
//!   response headers, re-read on change) in `server::web_config`.
//! - [`scrape`]: the [`scrape::Exporter`]: the scrape deadline, the fan-out over every cloud's
//!   services' collectors, per-collector success and duration, and coalescing of concurrent
//!   scrapes. Knows no service.
//! - [`services`]: the registry — the one list of services ([`services::SERVICES`]) and of
//!   what the simulator serves of them ([`services::SIMULATED`]), the trait each implements, the
//!   [`services::Fleet`] a config builds (and a reload carries over), the runtime of
//!   listing-shaped services (`services::listing`: a listing declared as data) — and
//!   one folder per service (`dcs`, `koophone`, `ddm`) owning its config section, its typed
//!   calls and models (each call's IAM permission on its `Operation`), its collectors (pure
//!   mappings), its discovery, its probe, its simulated endpoints, and the sources of its
//!   dashboard rows and alert rules (`dashboard.json`, `alerts.yml`, rendered by `cargo xtask
//!   gen`). "Adding a service" in CONTRIBUTING.md walks through one.
//! - [`inventory`]: the generic discovered inventory (last good listing, background refresh,
//!   single flight), the one pager every list API goes through, and the one rule for what a
//!   listing does to what the last showed (`inventory::listed`: incomplete listings, shrinks).
//! - [`transport`]: the upstream HTTP client (pool and in-flight limit per cloud, request ids,
//!   retries inside the deadline, budgets, body limits, no redirects, `huaweicloud_api_*`
//!   metrics) and `transport::auth`: the IAM token provider and the `SDK-HMAC-SHA256` signer.
//! - [`config`]: the file's top-level schema, `${VAR}` expansion, secrets, endpoints (the
//!   region's site, the override checks) and upstream TLS, the validator that reports every
//!   error as file/field/fix in one pass, and warnings; each service's section is decoded by
//!   the service.
//! - [`metrics`]: per-scrape metric families, each declared once as a [`metrics::Family`]
//!   (name, type, labels, help: the README's metrics table is generated from them), label-value
//!   rules (the one bound for upstream text and echoed ids), the long-lived self metrics, text
//!   encoding.
//! - [`status`]: what the landing page shows: each collector's last outcome and error, the
//!   inventory sizes, the recent probes.
//! - [`upstream`]: what an upstream call can fail with ([`upstream::ApiError`]).
//! - [`deadline`]: a request's deadline from the scrape-timeout header.
//! - [`sync`]: the one lock helper and the one single-flight.
//! - [`watch`]: the one file watcher: a value loaded from files and loaded again, off the async
//!   threads, when they change (the web config).
//! - [`files`]: reading the files settings name (config, secrets, id lists, web config, PEM):
//!   regular files only, 1 MiB at most, within a timeout, so a reload always finishes.
//! - [`repeats`]: which occurrences of a recurring failure get a log line (the first, each
//!   change, a repeat at most once a minute with its count, the recovery).
//! - [`debug_log`]: the per-request log of upstream calls behind `/probe?…&debug=true`.
//! - [`logging`]: log lines with the Prometheus ecosystem's keys (`ts`, `level`, `source`,
//!   `msg`) in logfmt or JSON.
//! - [`sim`]: a simulated Huawei Cloud (IAM, and the endpoints of the services it is handed:
//!   [`services::SIMULATED`], each route declaring the client's `Operation` it serves) with
//!   faults on demand by operation name, used by `--demo`, the tests and the benchmarks. It
//!   imports no service.
//! - [`app`]: wiring — build from a config, bind (port 0 allowed), serve until shutdown; the demo.

pub mod app;
pub mod config;
pub mod deadline;
pub mod debug_log;
pub mod files;
pub mod inventory;
pub mod logging;
pub mod metrics;
pub mod repeats;
pub mod scrape;
pub mod server;
pub mod services;
pub mod sim;
pub mod status;
pub mod sync;
pub mod transport;
pub mod upstream;
pub mod watch;
