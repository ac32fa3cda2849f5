//! The HTTP server loop: accepts connections (TLS when the web config says so), bounds what a
//! client may send, puts every request through the auth/header gate, and on shutdown lets
//! in-flight requests finish for at most [`SHUTDOWN_GRACE`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::web_config::basic_auth::{Verdict, RETRY_AFTER_SECS};
use super::web_config::WebConfigHandle;

/// Request line plus headers may take at most this many bytes (hyper's read buffer).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// At most this many request headers.
pub const MAX_HEADERS: usize = 64;
/// Request bodies above this are refused with 413. No route reads a body today; this keeps it so.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;
/// A client must send its request headers within this (slow-loris guard; also closes idle
/// keep-alive connections).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A TLS handshake must finish within this.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// On shutdown, in-flight requests get this long to finish before their connections are dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The one path served without credentials. Liveness probes (kubelet `httpGet`, systemd, load
/// balancers) carry no credentials, and putting the password into every pod spec to let them
/// through would spread the secret further than the exporter's data is worth; the answer is a
/// constant "Healthy." that reveals nothing. TLS still applies. Everything else — `/metrics`,
/// `/probe`, `/-/ready`, `/-/reload`, the landing page and 404s — needs credentials, as in
/// exporter-toolkit.
pub const UNAUTHENTICATED_PATH: &str = "/-/healthy";

/// Serves `router` on every one of `listeners` (one per `--web.listen-address`) until
/// `shutdown` resolves. With `web`, TLS, basic auth and extra headers follow the web config
/// (re-read as it changes), the same for every listener. On shutdown every listener stops
/// accepting and in-flight requests get [`SHUTDOWN_GRACE`].
pub async fn serve_all<F>(
    listeners: Vec<TcpListener>,
    router: Router,
    web: Option<Arc<WebConfigHandle>>,
    shutdown: F,
) -> std::io::Result<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    {
        let accepting = futures::future::join_all(
            listeners
                .iter()
                .map(|listener| accept_loop(listener, &router, &web, &graceful)),
        );
        tokio::select! {
            _ = accepting => {},
            () = shutdown => {},
        }
    }
    drop(listeners);
    match tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await {
        Ok(()) => tracing::debug!("all connections closed"),
        Err(_) => tracing::warn!(
            grace = ?SHUTDOWN_GRACE,
            "in-flight requests did not finish within the grace period; dropping them"
        ),
    }
    Ok(())
}

/// Accepts connections on `listener` and serves each in its own task, until dropped.
async fn accept_loop(
    listener: &TcpListener,
    router: &Router,
    web: &Option<Arc<WebConfigHandle>>,
    graceful: &GracefulShutdown,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let web = web.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match &web {
                Some(w) => w.current().await.tls.clone(),
                None => None,
            };
            match tls {
                None => serve_connection(stream, router, web, watcher, peer.ip()).await,
                Some(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls_stream)) => {
                            serve_connection(tls_stream, router, web, watcher, peer.ip()).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

async fn serve_connection<I>(
    io: I,
    router: Router,
    web: Option<Arc<WebConfigHandle>>,
    watcher: Watcher,
    peer: std::net::IpAddr,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let router = router.clone();
        let web = web.clone();
        async move { Ok::<_, Infallible>(gate(req, router, web, peer).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}

/// Body limit, authentication, then the routes; the configured headers go on every answer.
/// Credentials that cannot be checked now (no free hashing slot for this client, see
/// [`super::web_config::basic_auth`]) are answered 429 with `Retry-After` at once.
async fn gate(
    req: Request<Incoming>,
    router: Router,
    web: Option<Arc<WebConfigHandle>>,
    peer: std::net::IpAddr,
) -> Response<Body> {
    let active = match &web {
        Some(w) => Some(w.current().await),
        None => None,
    };
    let too_big = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES);
    let mut response = if too_big {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body too large.\n".into(),
        )
    } else {
        let verdict = match &active {
            Some(a) if req.uri().path() != UNAUTHENTICATED_PATH => {
                a.auth
                    .check(req.headers().get(header::AUTHORIZATION), Some(peer))
                    .await
            }
            _ => Verdict::Allowed,
        };
        match verdict {
            Verdict::Allowed => match router.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            },
            Verdict::Denied => {
                let mut r = plain(StatusCode::UNAUTHORIZED, "Unauthorized\n".into());
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
                r
            }
            Verdict::Busy => {
                let mut r = plain(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many password checks in progress; retry later.\n".into(),
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
                r
            }
        }
    };
    if let Some(a) = &active {
        for (name, value) in &a.config.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

fn plain(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
