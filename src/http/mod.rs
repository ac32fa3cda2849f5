//! The HTTP face: landing page, `/metrics`, `/probe` (and its `debug=true` log), health and
//! readiness, and `/-/reload`; gzip on the two expositions.

mod landing;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::time::Instant;

use crate::config;
use crate::metrics::{encode, SelfMetrics};
use crate::scrape::{deadline_for, Exporter};

/// Content type of the Prometheus text format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Shared state of the HTTP handlers.
pub struct AppState {
    /// The exporter serving now; replaced whole on reload.
    exporter: RwLock<Arc<Exporter>>,
    /// Long-lived self metrics (outlive reloads).
    pub metrics: SelfMetrics,
    /// Where the config came from; `None` for the demo's built-in config (not reloadable).
    config_path: Option<PathBuf>,
    /// Where `/metrics` lives.
    telemetry_path: String,
    /// Extra landing-page links (e.g. the demo's probe).
    extra_links: Vec<(String, String)>,
    /// Serialises reloads.
    reload_lock: tokio::sync::Mutex<()>,
    /// `--shard.*` flags, which outrank the file on every reload too.
    shard_override: std::sync::Mutex<Option<config::Shard>>,
}

impl AppState {
    /// State serving `exporter`.
    pub fn new(
        exporter: Exporter,
        config_path: Option<PathBuf>,
        telemetry_path: &str,
        extra_links: Vec<(String, String)>,
    ) -> AppState {
        let metrics = exporter.metrics.clone();
        metrics.config_reload_ok.set(1);
        AppState {
            exporter: RwLock::new(Arc::new(exporter)),
            metrics,
            config_path,
            telemetry_path: telemetry_path.to_string(),
            extra_links,
            reload_lock: tokio::sync::Mutex::new(()),
            shard_override: std::sync::Mutex::new(None),
        }
    }

    /// Makes `shard` outrank the config file's `shard:` on reloads.
    pub fn set_shard_override(&self, shard: Option<config::Shard>) {
        if let Ok(mut g) = self.shard_override.lock() {
            *g = shard;
        }
    }

    /// The exporter serving now.
    pub fn exporter(&self) -> Arc<Exporter> {
        match self.exporter.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Re-reads the config file and swaps the exporter. A broken file keeps the old one serving
    /// and sets `huaweicloud_exporter_config_last_reload_successful` to 0.
    pub async fn reload(&self) -> Result<(), String> {
        let _guard = self.reload_lock.lock().await;
        let Some(path) = &self.config_path else {
            return Err(
                "this exporter runs a built-in config (--demo); there is no file to reload".into(),
            );
        };
        let shard = self.shard_override.lock().ok().and_then(|g| *g);
        let result = config::load_file(path)
            .map_err(|e| e.to_string())
            .and_then(|mut cfg| {
                if let Some(s) = shard {
                    cfg.shard = s;
                }
                Exporter::new(cfg, self.metrics.clone())
            })
            .map(|mut exporter| {
                // The landing page keeps what it knew (it shows only the clouds configured now).
                exporter.status = self.exporter().status.clone();
                let names: Vec<&str> = exporter
                    .clouds
                    .iter()
                    .map(|c| c.cfg.name.as_str())
                    .collect();
                exporter.status.retain_clouds(&names);
                exporter
            });
        match result {
            Ok(exporter) => {
                let new = Arc::new(exporter);
                match self.exporter.write() {
                    Ok(mut g) => *g = new,
                    Err(p) => *p.into_inner() = new,
                }
                self.metrics.config_reload_ok.set(1);
                tracing::info!(file = %path.display(), "configuration reloaded");
                Ok(())
            }
            Err(e) => {
                self.metrics.config_reload_ok.set(0);
                tracing::error!(error = %e, "configuration reload failed; keeping the previous configuration");
                Err(e)
            }
        }
    }
}

/// All routes.
pub fn router(state: Arc<AppState>) -> Router {
    let telemetry = state.telemetry_path.clone();
    Router::new()
        .route("/", get(landing))
        .route(&telemetry, get(metrics_handler).layer(gzip()))
        .route("/probe", get(probe_handler).layer(gzip()))
        .route("/-/healthy", get(|| async { "Healthy.\n" }))
        .route("/-/ready", get(|| async { "Ready.\n" }))
        .route("/-/reload", post(reload_handler))
        .with_state(state)
}

/// gzip for the expositions, negotiated from `Accept-Encoding` as client_golang does: gzip when
/// the client accepts it with a q-value above 0 (`gzip;q=0` refuses it), plain text otherwise
/// (identity is the fallback, never an error). The body is compressed as it streams, so the
/// answer has no `Content-Length` and carries `Vary: Accept-Encoding`. The fastest level: on
/// exposition text it already gives ~10x for a fraction of the CPU of the default level
/// (BENCHMARKS.md, "gzip").
fn gzip() -> tower_http::compression::CompressionLayer {
    tower_http::compression::CompressionLayer::new()
        .gzip(true)
        .quality(tower_http::CompressionLevel::Fastest)
}

async fn metrics_handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let exporter = state.exporter();
    let header = headers
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok());
    let deadline = Instant::now() + deadline_for(exporter.config.timeout, header);
    let collected = exporter.scrape(deadline).await;
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
    if params.iter().any(|(k, v)| k == "debug" && v == "true") {
        return match crate::probe::debug::serve(&exporter, &params, header).await {
            Ok(text) => {
                ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
            }
            Err(reason) => bad_request(reason),
        };
    }
    match crate::probe::serve(&exporter, &params, header).await {
        Ok(body) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response(),
        Err(reason) => {
            tracing::debug!(reason = %reason, "probe request refused");
            bad_request(reason)
        }
    }
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

async fn reload_handler(State(state): State<Arc<AppState>>) -> Response {
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

/// Minimal HTML escaping for text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
