//! The listed phones of one cloud: the config's ids plus the `instance_ids_file`'s, re-read when
//! the file changes, this replica's shard of them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use super::config::{read_id_file, KoophoneConfig};
use crate::config::{dedup, Shard};
use crate::sync::lock;

/// The phone list of one cloud: the config's ids plus the file's, re-read when the file changes.
#[derive(Debug)]
pub struct PhoneList {
    static_ids: Vec<String>,
    file: Option<PathBuf>,
    shard: Shard,
    state: std::sync::Mutex<PhoneListState>,
}

#[derive(Debug)]
struct PhoneListState {
    /// Modification time and length of the file when it was last read.
    stamp: Option<(SystemTime, u64)>,
    /// The current merged, deduplicated, sharded list.
    ids: Arc<Vec<String>>,
    /// How many ids were listed (merged and deduplicated) before sharding.
    listed: usize,
}

impl PhoneList {
    /// Builds the list; reads the file now (an unreadable file is an error at start).
    pub fn new(cfg: &KoophoneConfig, shard: Shard) -> Result<PhoneList, String> {
        let list = PhoneList {
            static_ids: cfg.instance_ids.clone(),
            file: cfg.instance_ids_file.clone(),
            shard,
            state: std::sync::Mutex::new(PhoneListState {
                stamp: None,
                ids: Arc::new(Vec::new()),
                listed: 0,
            }),
        };
        list.refresh()?;
        Ok(list)
    }

    /// The current ids; re-reads the file first if it changed, off the async threads (a stat,
    /// and a read only when it changed). A bad re-read keeps the old list and logs why.
    pub async fn current(self: &Arc<Self>) -> Arc<Vec<String>> {
        if self.file.is_some() {
            let me = self.clone();
            let refreshed = tokio::task::spawn_blocking(move || me.refresh())
                .await
                .unwrap_or_else(|e| Err(format!("the re-read was interrupted: {e}")));
            if let Err(e) = refreshed {
                tracing::warn!(error = %e, "instance_ids_file could not be re-read; keeping the previous phone list");
            }
        }
        lock(&self.state).ids.clone()
    }

    /// Phones listed (config and file, deduplicated) and, of those, this replica's shard, as
    /// last read (no re-read).
    pub fn sizes(&self) -> (usize, usize) {
        let s = lock(&self.state);
        (s.listed, s.ids.len())
    }

    fn refresh(&self) -> Result<(), String> {
        let mut state = lock(&self.state);
        let from_file = match &self.file {
            None => {
                if state.stamp.is_none() && state.ids.is_empty() {
                    state.listed = self.static_ids.len();
                    state.ids = Arc::new(self.shard_filter(self.static_ids.clone()));
                    state.stamp = Some((SystemTime::UNIX_EPOCH, 0));
                }
                return Ok(());
            }
            Some(f) => {
                let meta = std::fs::metadata(f)
                    .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
                let stamp = (
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    meta.len(),
                );
                if state.stamp == Some(stamp) {
                    return Ok(());
                }
                let ids = read_id_file(f)?;
                state.stamp = Some(stamp);
                ids
            }
        };
        let mut all = self.static_ids.clone();
        all.extend(from_file);
        let n = all.len();
        let all = dedup(all);
        state.listed = all.len();
        state.ids = Arc::new(self.shard_filter(all));
        tracing::info!(phones = state.ids.len(), listed = n, "phone list loaded");
        Ok(())
    }

    fn shard_filter(&self, ids: Vec<String>) -> Vec<String> {
        if self.shard.total <= 1 {
            return ids;
        }
        ids.into_iter().filter(|id| self.shard.keeps(id)).collect()
    }
}
