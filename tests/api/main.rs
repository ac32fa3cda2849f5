//! Black-box and integration tests: one binary, one module per area.

mod config;
mod golden;
mod helpers;
mod scrape;
