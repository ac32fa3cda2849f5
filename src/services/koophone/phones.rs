//! The listed phones of one cloud: the config's ids plus the `instance_ids_file`'s, this
//! replica's shard of them; the file is watched ([`crate::watch`]) and read again, off the
//! async threads, when it changes.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::task::JoinError;

use super::config::{read_id_file, KoophoneConfig};
use crate::config::{dedup, Shard};
use crate::watch::{Loader, Watched};

/// The phone list of one cloud: the config's ids plus the file's, re-read when the file changes.
pub struct PhoneList(Watched<PhoneFile>);

/// What a phone list is read from.
#[derive(Debug)]
pub struct PhoneFile {
    /// The ids written in the config itself.
    static_ids: Vec<String>,
    /// The `instance_ids_file`, when there is one.
    file: Option<PathBuf>,
    /// This replica's shard.
    shard: Shard,
}

/// One reading of a phone list.
#[derive(Debug)]
pub struct Phones {
    /// The merged, deduplicated, sharded list.
    ids: Arc<Vec<String>>,
    /// How many ids were listed (merged and deduplicated) before sharding.
    listed: usize,
}

impl Loader for PhoneFile {
    type Value = Phones;
    type Error = String;

    fn files(&self) -> Vec<PathBuf> {
        self.file.iter().cloned().collect()
    }

    fn load(&self, _previous: Option<&Phones>) -> Result<Phones, String> {
        let mut all = self.static_ids.clone();
        if let Some(f) = &self.file {
            all.extend(read_id_file(f)?);
        }
        let n = all.len();
        let all = dedup(all);
        let listed = all.len();
        let ids: Vec<String> = all.into_iter().filter(|id| self.shard.keeps(id)).collect();
        if self.file.is_some() {
            tracing::info!(phones = ids.len(), listed = n, "phone list loaded");
        }
        Ok(Phones {
            ids: Arc::new(ids),
            listed,
        })
    }

    fn interrupted(&self, error: JoinError) -> String {
        format!("the re-read was interrupted: {error}")
    }

    fn report(&self, outcome: Result<&Phones, &String>) {
        // A good re-read logs itself in `load`.
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "instance_ids_file could not be re-read; keeping the previous phone list");
        }
    }
}

impl PhoneList {
    /// Builds the list; reads the file now (an unreadable file is an error at start).
    pub fn new(cfg: &KoophoneConfig, shard: Shard) -> Result<PhoneList, String> {
        let file = PhoneFile {
            static_ids: cfg.instance_ids.clone(),
            file: cfg.instance_ids_file.clone(),
            shard,
        };
        Watched::load_blocking(file).map(PhoneList)
    }

    /// The current ids; the file is read again first if it changed. A bad re-read keeps the
    /// old list and logs why, once per state of the file.
    pub async fn current(&self) -> Arc<Vec<String>> {
        self.0.current().await.ids.clone()
    }

    /// Phones listed (config and file, deduplicated) and, of those, this replica's shard, as
    /// last read (no look at the file).
    pub fn sizes(&self) -> (usize, usize) {
        let p = self.0.latest();
        (p.listed, p.ids.len())
    }
}

impl std::fmt::Debug for PhoneList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PhoneList").field(self.0.loader()).finish()
    }
}
