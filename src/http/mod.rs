//! The HTTP face: landing page, `/metrics`, `/probe`, health and readiness, and `/-/reload`.

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
        metrics.config_reload_ok.set(1);
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
        match self.exporter.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
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
        let result = source
            .load()
            .map_err(|e| e.to_string())
            .and_then(|cfg| Exporter::new(cfg, self.metrics.clone(), Some(&previous)));
        match result {
            Ok(exporter) => {
                let shard = exporter.config.shard;
                let new = Arc::new(exporter);
                match self.exporter.write() {
                    Ok(mut g) => *g = new,
                    Err(p) => *p.into_inner() = new,
                }
                self.metrics.config_reload_ok.set(1);
                tracing::info!(file = %source.path.display(), shard = %shard, "configuration reloaded");
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
        .route(&telemetry, get(metrics_handler))
        .route("/probe", get(probe_handler))
        .route("/-/healthy", get(|| async { "Healthy.\n" }))
        .route("/-/ready", get(|| async { "Ready.\n" }))
        .route("/-/reload", post(reload_handler))
        .with_state(state)
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
    let mut clouds = String::new();
    for c in &exporter.clouds {
        let mut collectors = Vec::new();
        if c.cfg.dcs.is_some() {
            collectors.push("dcs".to_string());
        }
        if let Some(p) = &c.phones {
            collectors.push(format!("koophone ({} phones)", p.current().len()));
        }
        if c.ddm.is_some() {
            collectors.push("ddm".to_string());
        }
        clouds.push_str(&format!(
            "<li><b>{}</b> — {} / {} — auth: {} — collectors: {}</li>\n",
            escape(&c.cfg.name),
            escape(&c.cfg.region),
            escape(&c.cfg.project_id),
            c.cfg.auth.method(),
            escape(&collectors.join(", "))
        ));
    }
    let mut links = format!(
        "<li><a href=\"{0}\">{0}</a> — metrics</li>\n",
        escape(&state.telemetry_path)
    );
    for (href, text) in &state.extra_links {
        links.push_str(&format!(
            "<li><a href=\"{}\">{}</a></li>\n",
            escape(href),
            escape(text)
        ));
    }
    Html(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Huawei Cloud Exporter</title></head>\n<body>\n<h1>Huawei Cloud Exporter</h1>\n<p>Version {version}. Management-plane state of Huawei Cloud (DCS, KooPhone, DDM) as Prometheus metrics.</p>\n<ul>\n{links}<li><a href=\"/-/healthy\">/-/healthy</a> · <a href=\"/-/ready\">/-/ready</a> · POST /-/reload</li>\n</ul>\n<h2>Clouds</h2>\n<ul>\n{clouds}</ul>\n</body></html>\n",
        version = env!("CARGO_PKG_VERSION"),
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
