//! The listed phones of one cloud: the config's ids plus the `instance_ids_file`'s, this
//! replica's shard of them; the file is watched ([`crate::watch`]) and read again, off the
//! async threads, when it changes.
//!
//! A list never vanishes on one reading (the rule of [`crate::inventory::shrink`]): a re-read
//! that lists no id where there were some, that would remove more than half of the phones in
//! use, or whose last id has no newline after it (a write in progress) is held, the old list
//! kept and one log line saying why, until a later look reads the same text again; a reading
//! that is none of these applies at once and forgets the held one.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::task::JoinError;

use super::config::{parse_id_text, read_id_text, KoophoneConfig};
use crate::config::{dedup, Shard};
use crate::inventory::shrink::{is_shrink, removed};
use crate::sync::lock;
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
    /// The text of a re-read held until the file reads the same again.
    held: Mutex<Option<String>>,
}

/// Why a re-read of the file is not in force.
#[derive(Debug)]
pub enum Reread {
    /// The file could not be read or parsed.
    Failed(String),
    /// The reading is held until the file reads the same again: why, in one line.
    Held(String),
}

impl std::fmt::Display for Reread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reread::Failed(e) | Reread::Held(e) => f.write_str(e),
        }
    }
}

/// Why the reading `text` of a file, making `new` out of `old`, is to be held, if it is.
fn suspicious(text: Option<&str>, old: &Phones, new: &Phones) -> Option<String> {
    if text.is_some_and(|t| !t.is_empty() && !t.ends_with('\n')) {
        return Some("its last id has no newline after it (a write in progress?)".into());
    }
    if old.listed > 0 && new.listed == 0 {
        return Some(format!(
            "it lists no phone, where {} were listed",
            old.listed
        ));
    }
    let gone = removed(&old.ids, &new.ids);
    is_shrink(old.ids.len(), gone).then(|| {
        format!(
            "it would remove {gone} of the {} phones in use (to {}), more than half",
            old.ids.len(),
            new.ids.len()
        )
    })
}

/// One reading of a phone list.
#[derive(Debug)]
pub struct Phones {
    /// The merged, deduplicated, sharded list.
    ids: Arc<Vec<String>>,
    /// How many ids were listed (merged and deduplicated) before sharding.
    listed: usize,
}

impl PhoneFile {
    /// The phones of the config and of the file's `text`.
    fn phones(&self, text: Option<&str>) -> Result<Phones, Reread> {
        let mut all = self.static_ids.clone();
        if let (Some(f), Some(text)) = (&self.file, text) {
            all.extend(parse_id_text(f, text).map_err(Reread::Failed)?);
        }
        let all = dedup(all);
        let listed = all.len();
        let ids: Vec<String> = all.into_iter().filter(|id| self.shard.keeps(id)).collect();
        Ok(Phones {
            ids: Arc::new(ids),
            listed,
        })
    }
}

impl Loader for PhoneFile {
    type Value = Phones;
    type Error = Reread;

    fn files(&self) -> Vec<PathBuf> {
        self.file.iter().cloned().collect()
    }

    fn load(&self, previous: Option<&Phones>) -> Result<Phones, Reread> {
        let text = match &self.file {
            Some(f) => Some(read_id_text(f).map_err(Reread::Failed)?),
            None => None,
        };
        let new = self.phones(text.as_deref())?;
        let mut held = lock(&self.held);
        let why = previous.and_then(|old| suspicious(text.as_deref(), old, &new));
        match (why, previous) {
            (Some(why), Some(old)) if held.as_deref() != text.as_deref() => {
                *held = text;
                return Err(Reread::Held(format!(
                    "instance_ids_file {}: {why}; keeping the {} phones in use until the file reads the same again",
                    self.file.as_ref().map_or_else(String::new, |f| f.display().to_string()),
                    old.ids.len()
                )));
            }
            (Some(_), _) => tracing::info!(
                phones = new.ids.len(),
                listed = new.listed,
                "instance_ids_file read the same twice; applying it"
            ),
            (None, _) if self.file.is_some() => tracing::info!(
                phones = new.ids.len(),
                listed = new.listed,
                "phone list loaded"
            ),
            (None, _) => {}
        }
        *held = None;
        Ok(new)
    }

    fn interrupted(&self, error: JoinError) -> Reread {
        Reread::Failed(format!("the re-read was interrupted: {error}"))
    }

    fn report(&self, outcome: Result<&Phones, &Reread>) {
        // A good re-read logs itself in `load`.
        match outcome {
            Ok(_) => {}
            Err(Reread::Failed(e)) => {
                tracing::warn!(error = %e, "instance_ids_file could not be re-read; keeping the previous phone list")
            }
            Err(Reread::Held(e)) => tracing::warn!("{e}"),
        }
    }

    fn again(&self, error: &Reread) -> bool {
        matches!(error, Reread::Held(_))
    }
}

impl PhoneList {
    /// Builds the list; reads the file now (an unreadable file is an error at start).
    pub fn new(cfg: &KoophoneConfig, shard: Shard) -> Result<PhoneList, String> {
        let file = PhoneFile {
            static_ids: cfg.instance_ids.clone(),
            file: cfg.instance_ids_file.clone(),
            shard,
            held: Mutex::new(None),
        };
        Watched::load_blocking(file)
            .map(PhoneList)
            .map_err(|e| e.to_string())
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
