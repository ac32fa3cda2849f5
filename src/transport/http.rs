//! The single-attempt sender ([`Transport`]): one connection pool and one in-flight limit per
//! cloud, the call budgets, the `x-request-id` a call sends, body size limits, and the
//! `huaweicloud_api_*` metrics of every call. Redirects are never followed.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::config::UpstreamTls;
use crate::debug_log::Answered;
use crate::metrics::bounded_id;
use crate::metrics::SelfMetrics;
use crate::transport::budget::{Budgets, MIN_TIME_TO_FINISH};
use crate::transport::error::classify;
use crate::transport::request::{Operation, Reply, Request};
use crate::transport::url::new_request_id;
use crate::upstream::{truncate, ApiError, ErrorKind};

/// Largest upstream body accepted; a larger one fails the call, not the process.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Single-attempt sender shared by the API client and the token provider: one pool, one limit,
/// one place where calls are counted and timed.
pub struct Transport {
    /// `cloud` label.
    pub cloud: String,
    /// The connection pool (redirects off).
    http: reqwest::Client,
    /// At most `max_concurrency` calls in flight for this cloud.
    limiter: Arc<Semaphore>,
    /// Where calls are counted and timed.
    metrics: SelfMetrics,
    /// One window per service that has a budget, for every call of this cloud.
    budgets: Budgets,
}

impl Transport {
    /// A pool and a limiter for one cloud, verifying its endpoints' certificates as `tls`
    /// says. `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` are honoured (reqwest reads them): an
    /// HTTPS call goes through the proxy as a `CONNECT` tunnel, so the proxy sees host names,
    /// never a credential.
    pub fn new(
        cloud: &str,
        max_concurrency: usize,
        tls: &UpstreamTls,
        metrics: SelfMetrics,
    ) -> Result<Transport, reqwest::Error> {
        let mut builder = reqwest::Client::builder();
        for der in &tls.extra_roots {
            builder = builder.add_root_certificate(reqwest::Certificate::from_der(der)?);
        }
        let http = builder
            .danger_accept_invalid_certs(tls.insecure_skip_verify)
            .user_agent(concat!("huaweicloud-exporter/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(max_concurrency)
            .pool_idle_timeout(Duration::from_secs(90))
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            // A redirect would carry `X-Auth-Token`, a signature or the IAM password body to
            // whatever host `Location` names: a 3xx is an error for that call instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Transport {
            cloud: cloud.to_string(),
            http,
            limiter: Arc::new(Semaphore::new(max_concurrency)),
            metrics,
            budgets: Budgets::default(),
        })
    }

    /// Calls `op`'s budget lets through now on this cloud (`None`: it has no budget), so a
    /// collector can spread its calls instead of being refused mid-listing.
    pub fn budget_available(&self, op: &Operation) -> Option<usize> {
        let budget = op.budget?;
        Some(self.budgets.available(op.service, budget))
    }

    /// Sends once, reads the body within the limit, counts and times the call, and classifies the
    /// answer. `headers` are added as given (auth included).
    pub async fn execute(
        &self,
        req: &Request,
        url: &str,
        headers: HeaderMap,
        deadline: Instant,
    ) -> Result<Reply, ApiError> {
        let started = std::time::Instant::now();
        let result = async {
            let sent_id = request_id_to_send(req);
            let builder = self.prepare(req, url, headers, sent_id.as_deref());
            self.exchange(req.op, builder, sent_id, deadline).await
        }
        .await;
        let outcome = result.as_ref().map(|reply| Answered {
            status: reply.status,
            request_id: reply.request_id.as_deref(),
            bytes: reply.body.len(),
        });
        let took = started.elapsed();
        crate::debug_log::upstream_call(req.op.name, req.method.as_str(), url, outcome, took);
        self.log_call(req, &result, took);
        result
    }

    /// At `--log.level=debug`, one line per upstream call (of a scrape, a discovery or a
    /// probe): operation, status, request id, duration, bytes. No URL, header or body: the line
    /// holds nothing secret.
    fn log_call(&self, req: &Request, result: &Result<Reply, ApiError>, took: Duration) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let duration_seconds = took.as_secs_f64();
        match result {
            Ok(reply) => tracing::debug!(
                cloud = %self.cloud,
                operation = req.op.name,
                method = %req.method,
                status = reply.status,
                request_id = reply.request_id.as_deref().unwrap_or("-"),
                duration_seconds,
                bytes = reply.body.len(),
                "upstream call"
            ),
            Err(e) => tracing::debug!(
                cloud = %self.cloud,
                operation = req.op.name,
                method = %req.method,
                status = e.status.map_or_else(|| "-".to_string(), |s| s.to_string()),
                request_id = e.request_id.as_deref().unwrap_or("-"),
                duration_seconds,
                result = e.kind.result(),
                error = %e,
                "upstream call"
            ),
        }
    }

    /// Takes one call from `op`'s budget, if it has one, as the call goes out (a connection slot
    /// held, time left to finish); a call the budget refuses is not sent (and not counted).
    fn take_budget(&self, op: &Operation) -> Result<(), ApiError> {
        let Some(budget) = op.budget else {
            return Ok(());
        };
        self.budgets
            .try_acquire(op.service, budget)
            .map_err(|wait| {
                ApiError::new(
                    ErrorKind::LimitExceeded,
                    op.name,
                    format!(
                        "call not sent: the {} budget of {} calls per {}s for this cloud is used up; the next call may go in {:.0}s",
                        op.service,
                        budget.calls,
                        budget.per.as_secs(),
                        wait.as_secs_f64().ceil()
                    ),
                )
            })
    }

    /// The request as it goes out: `headers` as given, the request id, the JSON body.
    fn prepare(
        &self,
        req: &Request,
        url: &str,
        headers: HeaderMap,
        sent_id: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let has_content_type = headers.contains_key(CONTENT_TYPE);
        let mut builder = self.http.request(req.method.clone(), url).headers(headers);
        if let Some(id) = sent_id {
            builder = builder.header("x-request-id", id);
        }
        if let Some(body) = &req.body {
            if !has_content_type {
                builder = builder.header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/json;charset=UTF-8"),
                );
            }
            builder = builder.body(body.clone());
        }
        builder
    }

    /// Waits for a connection slot, sends `builder` within the deadline, reads the body within
    /// the limit, times and (unless it answered 2xx) counts the call, and classifies the answer.
    async fn exchange(
        &self,
        op: &'static Operation,
        builder: reqwest::RequestBuilder,
        sent_id: Option<String>,
        deadline: Instant,
    ) -> Result<Reply, ApiError> {
        let permit = match tokio::time::timeout_at(deadline, self.limiter.acquire()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => {
                return Err(ApiError::new(
                    ErrorKind::TransportError,
                    op.name,
                    "client is shutting down",
                ))
            }
            Err(_) => return Err(self.count(
                op,
                ApiError::new(
                    ErrorKind::Timeout,
                    op.name,
                    "deadline passed while waiting for a free connection slot (max_concurrency)",
                ),
            )),
        };
        let started = std::time::Instant::now();
        let remaining = deadline.saturating_duration_since(Instant::now());
        if op.budget.is_some() && remaining < MIN_TIME_TO_FINISH {
            // Not sent, so not charged (or counted): a caller with no time left cannot spend
            // the budget every caller of the cloud shares.
            return Err(ApiError::new(
                ErrorKind::Timeout,
                op.name,
                format!(
                    "call not sent: {:.3}s of the deadline left, and a call on the {} budget goes only with at least {}ms",
                    remaining.as_secs_f64(),
                    op.service,
                    MIN_TIME_TO_FINISH.as_millis()
                ),
            ));
        }
        if remaining.is_zero() {
            return Err(self.count(
                op,
                ApiError::new(
                    ErrorKind::Timeout,
                    op.name,
                    "deadline passed before the call",
                ),
            ));
        }
        // Charged here, the last step before the call goes out.
        self.take_budget(op)?;
        let builder = builder.timeout(remaining);
        let result = tokio::time::timeout_at(deadline, async {
            let resp = builder.send().await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = read_limited(resp).await?;
            Ok::<_, ReadError>((status, headers, body))
        })
        .await;
        drop(permit);
        let elapsed = started.elapsed();
        self.metrics
            .api_duration
            .with_label_values(&[&self.cloud, op.service, op.name])
            .observe(elapsed.as_secs_f64());
        let (status, headers, body) = match result {
            Err(_) => {
                let mut e = ApiError::new(
                    ErrorKind::Timeout,
                    op.name,
                    format!(
                        "no answer within the scrape deadline ({:.1}s)",
                        elapsed.as_secs_f64()
                    ),
                );
                e.request_id = sent_id;
                return Err(self.count(op, e));
            }
            Ok(Err(ReadError::TooLarge)) => {
                let mut e = ApiError::new(
                    ErrorKind::DecodeError,
                    op.name,
                    format!("response body larger than {MAX_BODY_BYTES} bytes; refused"),
                );
                e.request_id = sent_id;
                return Err(self.count(op, e));
            }
            Ok(Err(ReadError::Http(err))) => {
                let kind = if err.is_timeout() {
                    ErrorKind::Timeout
                } else if err.is_decode() || err.is_body() {
                    ErrorKind::DecodeError
                } else {
                    ErrorKind::TransportError
                };
                let mut e = ApiError::new(kind, op.name, describe_reqwest(&err));
                e.request_id = sent_id;
                return Err(self.count(op, e));
            }
            Ok(Ok(x)) => x,
        };
        // The id an answer echoes goes into log lines, labels, errors and the landing page:
        // only a short token of it is kept (a hostile peer may send 100 kB of anything).
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| bounded_id(&String::from_utf8_lossy(v.as_bytes())))
            .or(sent_id);
        let reply = Reply {
            status: status.as_u16(),
            body,
            request_id,
            headers,
        };
        match classify(op, status, &reply) {
            // Counted by the caller once the body has decoded (or failed to).
            Ok(()) => Ok(reply),
            Err(e) => Err(self.count(op, e)),
        }
    }

    /// Counts an answered call whose body was then decoded: `ok`, or `decode_error`.
    pub fn record_decoded<T>(
        &self,
        op: &Operation,
        decoded: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        match decoded {
            Ok(v) => {
                self.metrics
                    .api_requests
                    .with_label_values(&[&self.cloud, op.service, op.name, "ok"])
                    .inc();
                Ok(v)
            }
            Err(e) => Err(self.count(op, e)),
        }
    }

    fn count(&self, op: &Operation, e: ApiError) -> ApiError {
        self.metrics
            .api_requests
            .with_label_values(&[&self.cloud, op.service, op.name, e.kind.result()])
            .inc();
        e
    }
}

/// The `x-request-id` a call of `req.op` sends, if it sends one: an operation that carries its
/// id in the query (a listing) sends the same one, any other a fresh one.
fn request_id_to_send(req: &Request) -> Option<String> {
    req.op.sends_request_id.then(|| {
        req.query
            .iter()
            .find(|(k, _)| k == "x-request-id")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(new_request_id)
    })
}

/// Why reading an answer failed.
enum ReadError {
    /// The body is larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// The connection or the HTTP exchange failed.
    Http(reqwest::Error),
}

impl From<reqwest::Error> for ReadError {
    fn from(e: reqwest::Error) -> Self {
        ReadError::Http(e)
    }
}

async fn read_limited(mut resp: reqwest::Response) -> Result<Bytes, ReadError> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp.chunk().await? {
        if buf.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ReadError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn describe_reqwest(err: &reqwest::Error) -> String {
    use std::error::Error;
    let mut msg = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    // reqwest puts the URL in its message; URLs carry no secrets here, but keep lines short.
    truncate(&mut msg, 300);
    msg
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use reqwest::Method;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::transport::budget::Budget;

    static BUDGETED: Operation = Operation {
        service: "budgeted",
        name: "budgeted_read",
        idempotent: true,
        sends_request_id: false,
        budget: Some(Budget {
            calls: 60,
            per: Duration::from_secs(60),
        }),
        iam: None,
    };

    #[tokio::test]
    async fn a_budgeted_call_without_time_to_finish_is_not_sent_nor_charged() {
        // A peer that answers `{}` and counts the connections it was sent.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                        .await;
                });
            }
        });
        let transport =
            Transport::new("c", 4, &UpstreamTls::default(), SelfMetrics::new().unwrap()).unwrap();
        let req = Request {
            op: &BUDGETED,
            method: Method::GET,
            base: base.clone(),
            path: "/x".into(),
            query: Vec::new(),
            body: None,
        };
        let url = format!("{base}/x");
        let short = Instant::now() + MIN_TIME_TO_FINISH / 2;

        let refused = transport
            .execute(&req, &url, HeaderMap::new(), short)
            .await
            .unwrap_err();

        assert_eq!(refused.kind, ErrorKind::Timeout);
        assert_eq!(transport.budget_available(&BUDGETED), Some(60));
        assert_eq!(connections.load(Ordering::SeqCst), 0);
        let sent = Instant::now() + Duration::from_secs(5);
        let reply = transport
            .execute(&req, &url, HeaderMap::new(), sent)
            .await
            .unwrap();
        assert_eq!(&reply.body[..], b"{}");
        assert_eq!(transport.budget_available(&BUDGETED), Some(59));
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }
}
