//! The upstream HTTP client: one connection pool and one in-flight limit per cloud, request ids,
//! authentication, retries within the scrape deadline, body size limits, and the
//! `huaweicloud_api_*` metrics for every call. It knows no service by name: each service's
//! module holds its typed calls and describes each with an [`Operation`].
//!
//! Boundaries held here for every service: redirects are never followed (a 3xx is
//! [`ErrorKind::Redirect`], and the log names only the `Location` host), so credentials go
//! only to the configured endpoint; a service with a documented [`Budget`] has one sliding
//! window per cloud that every call (retries included) draws on, charged only for a call sent
//! with time to finish (the rule of every budget is in `budget`'s module doc, with [`RunOn`]
//! for budgeted work that outlives its caller); [`drop_duplicates`] is the one rule for
//! repeated rows of a list.
//!
//! Files, lowest first (each imports only from those before it, never through this file):
//! `budget`, `request` (what a call is), `url`, `body` (decoding), `error` (classifying an
//! answer), `http` (the single-attempt [`Transport`]), `auth/` (token provider, signer),
//! `client` ([`CloudClient`]: auth, retries); `dedup` stands alone. What a call can fail with
//! lives below the transport, in [`crate::upstream`].

pub mod auth;
mod body;
mod budget;
mod client;
mod dedup;
mod error;
mod http;
mod request;
mod url;

pub use crate::upstream::{ApiError, ErrorKind};
pub use body::{decode_json, BodyError};
pub use budget::{Budget, BudgetWindow, RunOn, Started, MIN_TIME_TO_FINISH};
pub use client::CloudClient;
pub use dedup::drop_duplicates;
pub use error::location_host;
pub use http::{Transport, MAX_BODY_BYTES};
pub use request::{Operation, Permission, Reply, Request};
pub use url::{build_url, encode_component, new_request_id};
