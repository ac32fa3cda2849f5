//! The HTTP face: the routes (landing page, `/metrics`, `/probe` and its `debug=true` log,
//! health and readiness, `/-/reload`), gzip on the two expositions, and the front door they sit
//! behind.
//!
//! # Layout
//!
//! - this file: the routes and their handlers, [`AppState`].
//! - `landing`: the landing page.
//! - [`listen`]: `--web.listen-address` parsing and binding.
//! - [`accept`]: the accept loop, TLS handshakes, request limits, the auth/header gate, the
//!   shutdown grace.
//! - [`web_config`]: `--web.config.file` (TLS, basic auth, headers), re-read as it changes.

pub mod accept;
mod landing;
pub mod listen;
pub mod web_config;

use std::sync::{Arc, RwLock};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;

use crate::config;
use crate::deadline::deadline_for;
use crate::metrics::{encode, SelfMetrics};
use crate::scrape::Exporter;
use crate::services::{ProbeAnswer, ProbeRequest, Refusal, PROBER};
use crate::sync::{read, write};

/// Content type of the Prometheus text format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Shared state of the HTTP handlers.
pub struct AppState {
    /// The exporter serving now; replaced whole on reload.
    exporter: RwLock<Arc<Exporter>>,
    /// Long-lived self metrics (outlive reloads).
    pub metrics: SelfMetrics,
    /// Where the config came from (file and command-line overrides, applied again on every
    /// reload); `None` for the demo's built-in config (not reloadable).
    source: Option<config::Source>,
    /// Where `/metrics` lives.
    telemetry_path: String,
    /// Extra landing-page links (e.g. the demo's probe).
    extra_links: Vec<(String, String)>,
    /// Serialises reloads.
    reload_lock: tokio::sync::Mutex<()>,
}

impl AppState {
    /// State serving `exporter`.
    pub fn new(
        exporter: Exporter,
        source: Option<config::Source>,
        telemetry_path: &str,
        extra_links: Vec<(String, String)>,
    ) -> AppState {
        let metrics = exporter.metrics.clone();
        metrics.record_reload(true);
        AppState {
            exporter: RwLock::new(Arc::new(exporter)),
            metrics,
            source,
            telemetry_path: telemetry_path.to_string(),
            extra_links,
            reload_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The exporter serving now.
    pub fn exporter(&self) -> Arc<Exporter> {
        read(&self.exporter).clone()
    }

    /// Re-reads the config file, applies the command-line overrides again, and swaps the
    /// exporter. What did not change carries over from the previous exporter (each unchanged
    /// cloud's client with its token, pool and budgets, its DDM cache, its phone list: see
    /// [`Exporter::new`]). A broken file keeps the old one serving and sets
    /// `huaweicloud_exporter_config_last_reload_successful` to 0.
    pub async fn reload(&self) -> Result<(), String> {
        let _guard = self.reload_lock.lock().await;
        let Some(source) = &self.source else {
            return Err(
                "this exporter runs a built-in config (--demo); there is no file to reload".into(),
            );
        };
        let previous = self.exporter();
        // The file, and the secret and phone files it names, are read off the async threads.
        let (owned, metrics) = (source.clone(), self.metrics.clone());
        let result = tokio::task::spawn_blocking(move || {
            let cfg = crate::services::load(&owned).map_err(|e| e.to_string())?;
            cfg.log_warnings();
            Exporter::new(cfg, metrics, Some(&previous))
        })
        .await
        .unwrap_or_else(|e| Err(format!("reading the configuration was interrupted: {e}")));
        match result {
            Ok(exporter) => {
                let shard = exporter.config.shard;
                let new = Arc::new(exporter);
                *write(&self.exporter) = new;
                self.metrics.record_reload(true);
                tracing::info!(file = %source.path.display(), shard = %shard, "configuration reloaded");
                Ok(())
            }
            Err(e) => {
                self.metrics.record_reload(false);
                tracing::error!(error = %e, "configuration reload failed; keeping the previous configuration");
                Err(e)
            }
        }
    }
}

/// Whether the lifecycle endpoints (`POST /-/reload`) act, as Prometheus'
/// `--web.enable-lifecycle`: off by default, since anyone who reaches the port could otherwise
/// make the exporter re-read its files. SIGHUP reloads either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lifecycle {
    /// `POST /-/reload` answers 403 and does nothing.
    #[default]
    Disabled,
    /// `POST /-/reload` reloads, unless a browser sent it from another site.
    Enabled,
}

/// All routes.
pub fn router(state: Arc<AppState>, lifecycle: Lifecycle) -> Router {
    let telemetry = state.telemetry_path.clone();
    let reload = match lifecycle {
        Lifecycle::Enabled => post(reload_handler),
        Lifecycle::Disabled => post(lifecycle_disabled),
    };
    Router::new()
        .route("/", get(landing))
        .route(&telemetry, with_gzip(get(metrics_handler)))
        .route("/probe", with_gzip(get(probe_handler)))
        .route("/-/healthy", get(|| async { "Healthy.\n" }))
        .route("/-/ready", get(|| async { "Ready.\n" }))
        .route("/-/reload", reload)
        .with_state(state)
}

/// gzip for an exposition route, negotiated from `Accept-Encoding` as client_golang does
/// ([`accepts_gzip`]): the header is first reduced to that verdict, then tower-http's
/// `CompressionLayer` compresses as the body streams (so no `Content-Length`) and adds
/// `Vary: Accept-Encoding`. The fastest level: on exposition text it already gives ~11x for a
/// few percent more CPU (BENCHMARKS.md, "gzip").
fn with_gzip(route: MethodRouter<Arc<AppState>>) -> MethodRouter<Arc<AppState>> {
    route
        .layer::<_, std::convert::Infallible>(
            tower_http::compression::CompressionLayer::new()
                .gzip(true)
                .quality(tower_http::CompressionLevel::Fastest),
        )
        .layer::<_, std::convert::Infallible>(tower::util::MapRequestLayer::new(
            |mut req: axum::extract::Request| {
                let gzip = req
                    .headers()
                    .get_all(header::ACCEPT_ENCODING)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect::<Vec<_>>()
                    .join(",");
                let headers = req.headers_mut();
                if accepts_gzip(&gzip) {
                    headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
                } else {
                    headers.remove(header::ACCEPT_ENCODING);
                }
                req
            },
        ))
}

/// Whether an `Accept-Encoding` value chooses gzip over plain text, the way client_golang's
/// promhttp negotiates (its `NegotiateContentEncoding` over the offers identity, then gzip):
/// the offer with the highest q-value wins, `*` matches either, a tie goes to identity (the
/// first offer), and q=0 means "not this one". Nothing acceptable, or a header that does not
/// parse from some element on, falls back to plain text (client_golang answers an error there;
/// an exporter had better answer). Unlike client_golang, codings compare case-insensitively and
/// `x-gzip` counts as gzip, as RFC 9110 asks.
pub fn accepts_gzip(header: &str) -> bool {
    let mut best: Option<(&str, u16)> = None; // (offer, q in thousandths)
    let specs = parse_accept_encoding(header);
    for offer in ["identity", "gzip"] {
        for (coding, q) in &specs {
            let matches = *coding == "*"
                || coding.eq_ignore_ascii_case(offer)
                || (offer == "gzip" && coding.eq_ignore_ascii_case("x-gzip"));
            if matches && best.is_none_or(|(_, b)| *q > b) {
                best = Some((offer, *q));
            }
        }
    }
    matches!(best, Some(("gzip", q)) if q > 0)
}

/// `coding[;q=N], …` as (coding, q × 1000); parsing stops at the first element that is not of
/// that shape, as client_golang's does.
fn parse_accept_encoding(header: &str) -> Vec<(&str, u16)> {
    let mut out = Vec::new();
    for element in header.split(',') {
        let mut parts = element.split(';');
        let coding = parts.next().unwrap_or("").trim();
        if coding.is_empty()
            || !coding
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            break;
        }
        let q = match parts.next() {
            None => Some(1000),
            Some(param) => param
                .trim()
                .strip_prefix("q=")
                .or_else(|| param.trim().strip_prefix("Q="))
                .and_then(parse_qvalue),
        };
        match (q, parts.next()) {
            (Some(q), None) => out.push((coding, q)),
            _ => break,
        }
    }
    out
}

/// An RFC 9110 qvalue (`0`, `0.5`, `1.000`) in thousandths.
fn parse_qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

async fn metrics_handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let exporter = state.exporter();
    let header = headers
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok());
    let collected = exporter
        .scrape(deadline_for(exporter.config.timeout, header))
        .await;
    let mut own = Vec::with_capacity(16 * 1024);
    if let Err(e) = encode(&state.metrics.registry.gather(), &mut own) {
        tracing::error!(error = %e, "encoding self metrics failed");
    }
    // The collection (shared by coalesced scrapes, megabytes at fleet scale) is sent as it is,
    // not copied; the self metrics follow it.
    let chunks = [collected, bytes::Bytes::from(own)].map(Ok::<_, std::convert::Infallible>);
    let body = axum::body::Body::from_stream(futures::stream::iter(chunks));
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response()
}

async fn probe_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let params = match query {
        Ok(Query(p)) => p,
        Err(e) => return bad_request(format!("the query string is malformed: {e}")),
    };
    let exporter = state.exporter();
    let header = headers
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok());
    // As blackbox_exporter: `debug=true` answers the probe's log and metrics as plain text.
    let debug = params.iter().any(|(k, v)| k == "debug" && v == "true");
    let request = ProbeRequest {
        params: &params,
        timeout_header: header,
        debug,
    };
    match PROBER.probe(&exporter, request).await {
        Ok(ProbeAnswer::Exposition(body)) => {
            ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response()
        }
        Ok(ProbeAnswer::Debug(text)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        Err(Refusal::BadRequest(reason)) => {
            if !debug {
                tracing::debug!(reason = %reason, "probe request refused");
            }
            bad_request(reason)
        }
        Err(Refusal::Throttled {
            retry_after,
            reason,
        }) => too_many_requests(retry_after, reason),
    }
}

/// A 429 with `Retry-After` (whole seconds, at least 1) and a one-line plain-text reason.
fn too_many_requests(retry_after: std::time::Duration, reason: String) -> Response {
    let mut line = reason.replace(['\r', '\n'], " ");
    line.push('\n');
    let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (header::RETRY_AFTER, secs.to_string()),
        ],
        line,
    )
        .into_response()
}

/// A 400 with a one-line plain-text reason.
fn bad_request(reason: String) -> Response {
    let mut line = reason.replace(['\r', '\n'], " ");
    line.push('\n');
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        line,
    )
        .into_response()
}

async fn lifecycle_disabled() -> Response {
    forbidden(
        "Lifecycle API is not enabled: start the exporter with --web.enable-lifecycle to reload \
         over HTTP, or send it SIGHUP.\n",
    )
}

fn forbidden(why: &'static str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        why,
    )
        .into_response()
}

/// Whether a browser sent this request from a page of another site: its `Sec-Fetch-Site`
/// says so, or its `Origin` names a host other than the one it was sent to. A browser adds
/// `Origin` to every cross-site POST (a form or a `fetch` included) and a page cannot forge
/// either header; curl, Prometheus and a configmap-reload sidecar send neither.
fn cross_site(headers: &HeaderMap, uri: &Uri) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if matches!(text("sec-fetch-site"), Some(site) if site != "same-origin" && site != "none") {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    // `Origin: null` (a sandboxed frame, a redirect) and anything unreadable count as foreign.
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host.trim_end_matches('/'));
    // HTTP/2 carries the host in the URI's authority, HTTP/1.1 in `Host`.
    let host = text("host").or_else(|| uri.authority().map(|a| a.as_str()));
    match (origin_host, host) {
        (Some(o), Some(host)) => !o.eq_ignore_ascii_case(host),
        _ => true,
    }
}

async fn reload_handler(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if cross_site(&headers, &uri) {
        tracing::warn!(
            origin = headers
                .get(header::ORIGIN)
                .map(|v| crate::metrics::label_text(&String::from_utf8_lossy(v.as_bytes())))
                .unwrap_or_default(),
            "refused a cross-site POST /-/reload"
        );
        return forbidden("A reload is not taken from a page of another site.\n");
    }
    match state.reload().await {
        Ok(()) => (StatusCode::OK, "Configuration reloaded.\n").into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Reload failed: {e}\n"),
        )
            .into_response(),
    }
}

async fn landing(State(state): State<Arc<AppState>>) -> Html<String> {
    let exporter = state.exporter();
    Html(landing::render(
        &exporter,
        &state.telemetry_path,
        &state.extra_links,
    ))
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_is_negotiated_as_client_golang_does() {
        for (header, gzip) in [
            ("gzip", true),
            ("", false),
            ("gzip;q=0", false),
            ("gzip;q=0.000", false),
            ("gzip;q=0.001", true),
            ("gzip; q=0.5", true),
            ("deflate, gzip;q=0.5", true),
            ("br, zstd", false),
            ("identity", false),
            // A tie goes to identity, the first offer; a higher q wins.
            ("gzip, identity", false),
            ("identity;q=0.5, gzip", true),
            ("identity;q=1, gzip;q=0.5", false),
            ("*", false),
            ("*;q=0.5, gzip", true),
            ("gzip;q=0, *", false),
            ("identity;q=0", false),
            // Case and x-gzip as RFC 9110 asks.
            ("GZIP", true),
            ("x-gzip", true),
            // Malformed from some element on: what came before it counts.
            ("gzip;q=nonsense", false),
            ("gzip;q=1.5", false),
            ("gzip, bad coding", true),
            ("bad coding, gzip", false),
            ("gzip;level=9", false),
        ] {
            assert_eq!(accepts_gzip(header), gzip, "{header:?}");
        }
    }
}
