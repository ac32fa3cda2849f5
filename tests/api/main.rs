//! Black-box and integration tests: one binary, one module per area.

mod config;
mod helpers;
mod scrape;
mod web;
