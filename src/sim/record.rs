//! What the simulator was asked: the last calls of each operation as they arrived (method, path,
//! query, header names, body), so that a test can check the exporter's requests against the
//! published definitions without a recording proxy in between. Kept in memory only, bounded,
//! and read through [`crate::sim::SimHandle::requests`]; no route serves it, since bodies carry
//! passwords and headers tokens.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::sync::lock;
use axum::http::{HeaderMap, Method, Uri};

/// Calls kept per simulator; older ones are forgotten first.
const KEPT: usize = 512;

/// One call as it arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// The name of the operation the router took it for.
    pub endpoint: &'static str,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, not decoded.
    pub path: String,
    /// The query's `(name, value)` pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The headers' names, lower case; values are left out (they carry tokens and signatures).
    pub header_names: Vec<String>,
    /// The body as sent.
    pub body: Vec<u8>,
}

/// The last [`KEPT`] calls.
#[derive(Default)]
pub(crate) struct RequestLog {
    /// Oldest first.
    calls: Mutex<VecDeque<RecordedRequest>>,
}

impl RequestLog {
    pub(crate) fn record(
        &self,
        endpoint: &'static str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) {
        let query = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|q| q.0)
            .unwrap_or_default();
        let entry = RecordedRequest {
            endpoint,
            method: method.as_str().to_string(),
            path: uri.path().to_string(),
            query,
            header_names: headers.keys().map(|k| k.as_str().to_string()).collect(),
            body: body.to_vec(),
        };
        let mut calls = lock(&self.calls);
        if calls.len() == KEPT {
            calls.pop_front();
        }
        calls.push_back(entry);
    }

    /// The kept calls of `endpoint`, oldest first.
    pub(crate) fn of(&self, endpoint: &str) -> Vec<RecordedRequest> {
        lock(&self.calls)
            .iter()
            .filter(|c| c.endpoint == endpoint)
            .cloned()
            .collect()
    }
}
