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
use std::sync::Arc;

use tokio::task::JoinError;

pub use schema::{WebConfig, WebConfigError};

use crate::watch::{read_text, Loader, Watched};
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

/// The web config in force, re-read when the file (or a PEM file it names) changes.
pub struct WebConfigHandle {
    /// The file and what was last loaded from it.
    watched: Watched<WebConfigFile>,
}

impl std::fmt::Debug for WebConfigHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfigHandle")
            .field("path", &self.path())
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
    let err = |field: String, message: String| WebConfigError {
        file: file.clone(),
        path: field,
        message,
    };
    let text = read_text(path, "web config file", "--web.config.file")
        .map_err(|message| err(String::new(), message))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let config = schema::parse(&text, &file, &base)?;
    let tls = match &config.tls {
        None => None,
        Some(t) => Some(tls::server_config(t).map_err(|(field, message)| err(field, message))?),
    };
    let auth = Arc::new(match previous {
        Some(p) => BasicAuth::carrying_over(config.users.clone(), p),
        None => BasicAuth::new(config.users.clone()),
    });
    Ok(ActiveWebConfig { config, tls, auth })
}

/// `--web.config.file` as the watcher sees it: the file, and the PEM files it names.
struct WebConfigFile {
    /// The web config file.
    path: PathBuf,
}

/// Why a (re-)read of the web config was not taken.
enum Kept {
    /// The file, or a PEM file it names, is wrong.
    Invalid(WebConfigError),
    /// The read never finished.
    Interrupted(JoinError),
    /// The re-read would turn TLS on (`added`) or off: that needs a restart.
    TlsSwitch {
        /// Whether `tls_server_config` was added (else removed).
        added: bool,
    },
}

impl Kept {
    /// The start-up error: nothing is serving yet, so every problem stops the start.
    fn into_error(self, path: &Path) -> WebConfigError {
        let file = path.display().to_string();
        match self {
            Kept::Invalid(e) => e,
            Kept::Interrupted(e) => WebConfigError {
                file,
                path: String::new(),
                message: format!("loading was interrupted: {e}"),
            },
            Kept::TlsSwitch { .. } => WebConfigError {
                file,
                path: "tls_server_config".into(),
                message: "switching between HTTP and HTTPS needs a restart".into(),
            },
        }
    }
}

impl Loader for WebConfigFile {
    type Value = ActiveWebConfig;
    type Error = Kept;

    fn files(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }

    fn named_files(&self, value: &ActiveWebConfig) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if let Some(t) = &value.config.tls {
            files.push(t.cert_file.clone());
            files.push(t.key_file.clone());
            files.extend(t.client_ca_file.clone());
        }
        files
    }

    fn load(&self, previous: Option<&ActiveWebConfig>) -> Result<ActiveWebConfig, Kept> {
        let new = load_after(&self.path, previous.map(|p| &*p.auth)).map_err(Kept::Invalid)?;
        match previous {
            Some(p) if new.tls.is_some() != p.tls.is_some() => Err(Kept::TlsSwitch {
                added: new.tls.is_some(),
            }),
            _ => Ok(new),
        }
    }

    fn interrupted(&self, error: JoinError) -> Kept {
        Kept::Interrupted(error)
    }

    fn report(&self, outcome: Result<&ActiveWebConfig, &Kept>) {
        match outcome {
            Err(Kept::Interrupted(e)) => {
                tracing::error!(error = %e, "re-reading the web config was interrupted; keeping the previous settings");
            }
            Err(Kept::Invalid(e)) => {
                tracing::error!(error = %e, "web config re-read failed; keeping the previous settings");
            }
            Err(Kept::TlsSwitch { added }) => {
                tracing::error!(
                    file = %self.path.display(),
                    "web config re-read: tls_server_config was {}; switching between HTTP and HTTPS needs a restart, keeping the previous settings",
                    if *added { "added" } else { "removed" }
                );
            }
            Ok(new) => {
                tracing::info!(
                    file = %self.path.display(),
                    tls = new.tls.is_some(),
                    users = new.config.users.len(),
                    "web config reloaded"
                );
            }
        }
    }
}

impl WebConfigHandle {
    /// Loads `path`; any problem is an error (at startup nothing is serving yet).
    pub async fn load(path: &Path) -> Result<Arc<WebConfigHandle>, WebConfigError> {
        let file = WebConfigFile {
            path: path.to_path_buf(),
        };
        let watched = Watched::load(file)
            .await
            .map_err(|kept| kept.into_error(path))?;
        Ok(Arc::new(WebConfigHandle { watched }))
    }

    /// The web config file.
    pub fn path(&self) -> &Path {
        &self.watched.loader().path
    }

    /// Whether TLS is on. Fixed for the life of the process: switching between HTTP and HTTPS
    /// needs a restart.
    pub fn tls_enabled(&self) -> bool {
        self.watched.latest().tls.is_some()
    }

    /// The config in force, after re-reading the files if they changed since last looked at.
    /// A bad re-read keeps the previous config and logs why.
    pub async fn current(&self) -> Arc<ActiveWebConfig> {
        self.watched.current().await
    }
}

#[cfg(test)]
mod tests;
