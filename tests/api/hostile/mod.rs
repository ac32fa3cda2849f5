//! Hostile upstream peers (issue 11, the upstream half): redirects, DDM paging and budget
//! (also against clients with tiny scrape timeouts),
//! duplicate and unasked rows, token storms, cardinality, unreadable statuses, and both forms
//! of a KooPhone rejection. Each case is a simulator fault named after what it models. This
//! file holds the fixtures and checks the cases share; one module per subject.

mod budgets;
mod cardinality;
mod ddm;
mod koophone;
mod oddities;
mod redirects;
mod text;
mod tokens;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use crate::helpers::*;

/// [`ONE_CLOUD`] against a frozen fleet of 10 phones.
async fn one_cloud_app() -> TestApp {
    spawn_app(Opts {
        sim: frozen_sim(10),
        config: ONE_CLOUD.into(),
    })
    .await
}

/// A second listener standing for another host: it counts connections and bytes received.
struct Recorder {
    /// `http://127.0.0.1:<port>`: where a redirect sends the exporter.
    base: String,
    /// Connections accepted so far.
    connections: Arc<AtomicUsize>,
    /// Bytes received so far, over every connection.
    bytes: Arc<AtomicUsize>,
}

async fn recorder() -> Recorder {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let bytes = Arc::new(AtomicUsize::new(0));
    let (c, b) = (connections.clone(), bytes.clone());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let b = b.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = sock.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    b.fetch_add(n, Ordering::SeqCst);
                }
            });
        }
    });
    Recorder {
        base,
        connections,
        bytes,
    }
}

async fn probe(app: &TestApp, target: &str) -> Exposition {
    let r = app
        .http
        .get(app.url(&format!("/probe?module=echo&target={target}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    Exposition::parse(&r.text().await.unwrap())
}

/// A phone that runs commands (not in backup/restoration exception).
async fn healthy_phone(app: &TestApp) -> String {
    statuses(&app.sim, &app.sim.phone_ids())
        .await
        .into_iter()
        .find(|(_, s)| !matches!(s, 5 | 6))
        .map(|(id, _)| id)
        .unwrap()
}

fn api_results(m: &Exposition, operation: &str, result: &str) -> f64 {
    m.sum(
        "huaweicloud_api_requests_total",
        &[("operation", operation), ("result", result)],
    )
}

/// No two samples share a name and label set (Prometheus would reject the scrape's duplicates).
fn assert_no_duplicate_series(m: &Exposition) {
    let mut seen = HashSet::new();
    for s in &m.samples {
        assert!(
            seen.insert((s.name.clone(), s.labels.clone())),
            "duplicate series {} {:?}",
            s.name,
            s.labels
        );
    }
}
