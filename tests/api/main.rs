//! Black-box and integration tests: one binary, one module per area.

mod auth;
mod cli;
mod collectors;
mod config;
mod dcs_instances;
mod ddm_discovery;
mod discovery;
mod faults;
mod golden;
mod helpers;
mod hostile;
mod http;
mod isolate;
mod probe;
mod reload_files;
mod scrape;
mod upstream_tls;
mod web;
