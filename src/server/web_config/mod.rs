//! `--web.config.file`, in Prometheus exporter-toolkit's format: TLS, client certificates, basic
//! auth and extra response headers, and the handle that keeps it in force, re-read when the file
//! or a PEM file it names changes.
//!
//! # Layout
//!
//! - [`schema`]: strict decoding and validation of the file (pure, tested on literals).
//! - [`basic_auth`]: basic auth against bcrypt hashes, with the dummy hash, the verdict caches
//!   and the bounded hashing pool that answers 429 rather than queue.
//! - `tls`: the rustls server config and client-certificate verifiers.

pub mod basic_auth;
pub mod schema;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

pub use schema::{WebConfig, WebConfigError};

use basic_auth::BasicAuth;

/// One loaded web config: the validated file plus what was built from it.
pub struct ActiveWebConfig {
    /// The validated file.
    pub config: WebConfig,
    /// The TLS server config, when `tls_server_config` is set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The basic-auth gate (open when no users are configured).
    pub auth: Arc<BasicAuth>,
}

/// Size and modification time of each file a web config depends on; a change means re-read.
type Fingerprint = Vec<Option<(SystemTime, u64)>>;

/// The web config in force, re-read when the file (or a PEM file it names) changes.
pub struct WebConfigHandle {
    /// The web config file.
    path: PathBuf,
    /// The config serving now; replaced whole on a good re-read.
    active: RwLock<Arc<ActiveWebConfig>>,
    /// The fingerprint last acted on (good or bad), so a broken file is reported once.
    seen: Mutex<Fingerprint>,
    /// Serialises re-reads.
    reload_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for WebConfigHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfigHandle")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Reads and builds everything `path` asks for. Blocking (file reads, one bcrypt run for the
/// dummy hash).
pub fn load(path: &Path) -> Result<ActiveWebConfig, WebConfigError> {
    load_after(path, None)
}

/// [`load`], keeping the cached basic-auth verdicts of `previous` that still hold.
fn load_after(
    path: &Path,
    previous: Option<&BasicAuth>,
) -> Result<ActiveWebConfig, WebConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| WebConfigError {
        file: file.clone(),
        path: String::new(),
        message: format!(
            "cannot read the web config file: {e}; pass the right path with --web.config.file"
        ),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let config = schema::parse(&text, &file, &base)?;
    let tls = match &config.tls {
        None => None,
        Some(t) => Some(
            tls::server_config(t).map_err(|(p, message)| WebConfigError {
                file: file.clone(),
                path: p,
                message,
            })?,
        ),
    };
    let auth = Arc::new(match previous {
        Some(p) => BasicAuth::carrying_over(config.users.clone(), p),
        None => BasicAuth::new(config.users.clone()),
    });
    Ok(ActiveWebConfig { config, tls, auth })
}

fn fingerprint(path: &Path, config: Option<&WebConfig>) -> Fingerprint {
    let mut files = vec![path.to_path_buf()];
    if let Some(t) = config.and_then(|c| c.tls.as_ref()) {
        files.push(t.cert_file.clone());
        files.push(t.key_file.clone());
        files.extend(t.client_ca_file.clone());
    }
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
        })
        .collect()
}

impl WebConfigHandle {
    /// Loads `path`; any problem is an error (at startup nothing is serving yet).
    pub async fn load(path: &Path) -> Result<Arc<WebConfigHandle>, WebConfigError> {
        let owned = path.to_path_buf();
        let (active, seen) = tokio::task::spawn_blocking(move || {
            let seen = fingerprint(&owned, None);
            let active = load(&owned)?;
            let mut seen = seen;
            seen.extend(
                fingerprint(&owned, Some(&active.config))
                    .into_iter()
                    .skip(1),
            );
            Ok::<_, WebConfigError>((active, seen))
        })
        .await
        .map_err(|e| WebConfigError {
            file: path.display().to_string(),
            path: String::new(),
            message: format!("loading was interrupted: {e}"),
        })??;
        Ok(Arc::new(WebConfigHandle {
            path: path.to_path_buf(),
            active: RwLock::new(Arc::new(active)),
            seen: Mutex::new(seen),
            reload_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// The web config file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn snapshot(&self) -> Arc<ActiveWebConfig> {
        match self.active.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Whether TLS is on. Fixed for the life of the process: switching between HTTP and HTTPS
    /// needs a restart.
    pub fn tls_enabled(&self) -> bool {
        self.snapshot().tls.is_some()
    }

    /// The config in force, after re-reading the files if they changed since last looked at.
    /// A bad re-read keeps the previous config and logs why.
    pub async fn current(&self) -> Arc<ActiveWebConfig> {
        let active = self.snapshot();
        let now = fingerprint(&self.path, Some(&active.config));
        if self.seen.lock().map(|s| *s == now).unwrap_or(true) {
            return active;
        }
        let _guard = self.reload_lock.lock().await;
        // Another request may have re-read while we waited.
        let active = self.snapshot();
        let now = fingerprint(&self.path, Some(&active.config));
        if self.seen.lock().map(|s| *s == now).unwrap_or(true) {
            return active;
        }
        let path = self.path.clone();
        let previous = active.auth.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            // The web config's own stat is taken before the read, so a write racing the read
            // is noticed next time.
            let before = fingerprint(&path, None);
            load_after(&path, Some(&previous)).map(|new| {
                let seen: Fingerprint = before
                    .into_iter()
                    .chain(fingerprint(&path, Some(&new.config)).into_iter().skip(1))
                    .collect();
                (new, seen)
            })
        })
        .await;
        // Whatever happens, this state of the files has been dealt with; a refused one is
        // reported once, not on every request.
        if let Ok(mut s) = self.seen.lock() {
            *s = now;
        }
        let (new, seen) = match loaded {
            Err(e) => {
                tracing::error!(error = %e, "re-reading the web config was interrupted; keeping the previous settings");
                return active;
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "web config re-read failed; keeping the previous settings");
                return active;
            }
            Ok(Ok((new, _))) if new.tls.is_some() != active.tls.is_some() => {
                tracing::error!(
                    file = %self.path.display(),
                    "web config re-read: tls_server_config was {}; switching between HTTP and HTTPS needs a restart, keeping the previous settings",
                    if new.tls.is_some() { "added" } else { "removed" }
                );
                return active;
            }
            Ok(Ok((new, seen))) => (Arc::new(new), seen),
        };
        if let Ok(mut s) = self.seen.lock() {
            *s = seen;
        }
        match self.active.write() {
            Ok(mut g) => *g = new.clone(),
            Err(p) => *p.into_inner() = new.clone(),
        }
        tracing::info!(
            file = %self.path.display(),
            tls = new.tls.is_some(),
            users = new.config.users.len(),
            "web config reloaded"
        );
        new
    }
}
