//! The one file watcher: a value loaded from files and loaded again when one of them changes
//! (its size or modification time), for every setting read from a file while the exporter runs
//! (the web config and the PEM files it names; a list of phones kept in a file).
//!
//! Nothing here blocks an async thread: each look at the files and each load runs on tokio's
//! blocking pool. A re-load that fails, or that its [`Loader`] refuses, keeps the value in force
//! and is told once per state of the files: they must change again before they are tried again,
//! unless the loader holds the reading until a later look reads the same ([`Loader::again`]).
//! Bottom layer: knows no setting, imports only std, tokio, tracing, [`crate::sync`] and
//! [`crate::files`].

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use tokio::task::JoinError;

use crate::sync::{lock, read, write};

/// What a [`Watched`] value is made from, and how its re-loads are told.
pub trait Loader: Send + Sync + 'static {
    /// What is loaded.
    type Value: Send + Sync + 'static;
    /// Why a load failed or was refused.
    type Error: Send + 'static;

    /// The files known before loading (the file the setting names). Their state is taken before
    /// they are read, so a write racing the read is noticed at the next look.
    fn files(&self) -> Vec<PathBuf>;

    /// Further files that a loaded value names (the certificate a config points at). Their
    /// state is taken after the load. None by default.
    fn named_files(&self, _value: &Self::Value) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Reads the files and builds the value. `previous` is the value in force when this is a
    /// re-load (to carry state over, or to refuse a change that needs a restart with an
    /// error); `None` on the first load. Blocking: it runs on the blocking pool.
    fn load(&self, previous: Option<&Self::Value>) -> Result<Self::Value, Self::Error>;

    /// The error of a load that never finished (its task panicked, or the runtime is shutting
    /// down).
    fn interrupted(&self, error: JoinError) -> Self::Error;

    /// Tells how a re-load went: `Ok` with the value now in force, `Err` with why the previous
    /// one is kept. Called once per state of the files; never for the first load.
    fn report(&self, outcome: Result<&Self::Value, &Self::Error>);

    /// Whether a refused re-load should be tried again at the next look even if the files do
    /// not change (a reading held until the files read the same twice). No by default: a bad
    /// state is tried once.
    fn again(&self, _error: &Self::Error) -> bool {
        false
    }
}

/// The state of the files a value was loaded from: size and modification time of each
/// ([`Loader::files`], then [`Loader::named_files`]); `None` for a file that cannot be stat'ed.
type Fingerprint = Vec<Option<(SystemTime, u64)>>;

/// A value loaded from files, loaded again when they change.
pub struct Watched<L: Loader> {
    /// Reads the files and tells of re-loads.
    loader: Arc<L>,
    /// The value in force; replaced whole on a good re-load.
    value: RwLock<Arc<L::Value>>,
    /// The state of the files last acted on, good or bad, so a bad state is told once.
    seen: Mutex<Fingerprint>,
    /// Serialises re-loads.
    reloading: tokio::sync::Mutex<()>,
    /// Re-loads done, so a caller that waited for another's knows it has its answer.
    loads: std::sync::atomic::AtomicU64,
}

impl<L: Loader> Watched<L> {
    /// Loads the value on the calling thread: for callers that are not on an async thread
    /// (start-up, a config check). Any problem is an error: nothing is in force yet.
    pub fn load_blocking(loader: L) -> Result<Watched<L>, L::Error> {
        let (value, seen) = load_stamped(&loader, None)?;
        Ok(Watched {
            loader: Arc::new(loader),
            value: RwLock::new(Arc::new(value)),
            seen: Mutex::new(seen),
            reloading: tokio::sync::Mutex::new(()),
            loads: Default::default(),
        })
    }

    /// [`load_blocking`](Self::load_blocking) on the blocking pool.
    pub async fn load(loader: L) -> Result<Watched<L>, L::Error> {
        let loader = Arc::new(loader);
        let loading = loader.clone();
        let (value, seen) = tokio::task::spawn_blocking(move || load_stamped(&*loading, None))
            .await
            .unwrap_or_else(|e| Err(loader.interrupted(e)))?;
        Ok(Watched {
            loader,
            value: RwLock::new(Arc::new(value)),
            seen: Mutex::new(seen),
            reloading: tokio::sync::Mutex::new(()),
            loads: Default::default(),
        })
    }

    /// What the value is loaded from.
    pub fn loader(&self) -> &L {
        &self.loader
    }

    /// The value in force, without looking at the files.
    pub fn latest(&self) -> Arc<L::Value> {
        read(&self.value).clone()
    }

    /// The value in force, after loading it again if its files changed since they were last
    /// looked at. A bad re-load keeps the previous value (and is told, once).
    pub async fn current(&self) -> Arc<L::Value> {
        let value = self.latest();
        if self.changed(&value).await.is_none() {
            return value;
        }
        let loads = self.loads.load(Ordering::SeqCst);
        let _guard = self.reloading.lock().await;
        // Another caller may have re-loaded while this one waited: its answer is this one's
        // (a reading it held is not confirmed by a second look at the same moment).
        let value = self.latest();
        if self.loads.load(Ordering::SeqCst) != loads {
            return value;
        }
        let Some(now) = self.changed(&value).await else {
            return value;
        };
        let loader = self.loader.clone();
        let previous = value.clone();
        let loaded = tokio::task::spawn_blocking(move || load_stamped(&*loader, Some(&previous)))
            .await
            .unwrap_or_else(|e| Err(self.loader.interrupted(e)));
        self.loads.fetch_add(1, Ordering::SeqCst);
        match loaded {
            Err(e) => {
                // This state of the files has been dealt with: a refused one is told once, not
                // on every call, unless the loader wants another look.
                if !self.loader.again(&e) {
                    *lock(&self.seen) = now;
                }
                self.loader.report(Err(&e));
                value
            }
            Ok((new, seen)) => {
                let new = Arc::new(new);
                *lock(&self.seen) = seen;
                *write(&self.value) = new.clone();
                self.loader.report(Ok(&new));
                new
            }
        }
    }

    /// The state of `value`'s files now, when it is not the one last acted on. A look that
    /// never finished counts as no change.
    async fn changed(&self, value: &L::Value) -> Option<Fingerprint> {
        let mut files = self.loader.files();
        files.extend(self.loader.named_files(value));
        if files.is_empty() {
            // Nothing to look at (a list given in the config alone): nothing ever changes.
            return None;
        }
        let now = tokio::task::spawn_blocking(move || fingerprint(&files))
            .await
            .ok()?;
        (*lock(&self.seen) != now).then_some(now)
    }
}

impl<L: Loader + std::fmt::Debug> std::fmt::Debug for Watched<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("loader", &self.loader)
            .finish_non_exhaustive()
    }
}

/// Loads with `previous` in force, and the state of the files it came from: the known files
/// stat'ed before the read, the files the new value names after it.
fn load_stamped<L: Loader>(
    loader: &L,
    previous: Option<&L::Value>,
) -> Result<(L::Value, Fingerprint), L::Error> {
    let mut seen = fingerprint(&loader.files());
    let value = loader.load(previous)?;
    seen.extend(fingerprint(&loader.named_files(&value)));
    Ok((value, seen))
}

fn fingerprint(files: &[PathBuf]) -> Fingerprint {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
        })
        .collect()
}

/// Reads a whole file that a setting names, or says what to fix, in the words every such
/// error uses: `cannot read the {what}: {error}; pass the right path with {flag}`.
/// The file is read as [`crate::files`] says (a regular file, bounded in size and time).
pub fn read_text(path: &Path, what: &str, flag: &str) -> Result<String, String> {
    crate::files::read_text(path).map_err(|e| {
        e.describe(|e| format!("cannot read the {what}: {e}; pass the right path with {flag}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A number read from one file; a file holding "refuse" is refused, like a change that
    /// needs a restart.
    struct Number {
        path: PathBuf,
        loads: AtomicUsize,
        told: Mutex<Vec<Result<u32, String>>>,
    }

    impl Loader for Number {
        type Value = u32;
        type Error = String;

        fn files(&self) -> Vec<PathBuf> {
            vec![self.path.clone()]
        }

        fn load(&self, previous: Option<&u32>) -> Result<u32, String> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            let text = read_text(&self.path, "number file", "--number.file")?;
            if text.trim() == "refuse" && previous.is_some() {
                return Err("refused".into());
            }
            text.trim().parse().map_err(|e| format!("{e}"))
        }

        fn interrupted(&self, error: JoinError) -> String {
            error.to_string()
        }

        fn report(&self, outcome: Result<&u32, &String>) {
            lock(&self.told).push(outcome.copied().map_err(Clone::clone));
        }
    }

    fn number(dir: &tempfile::TempDir, text: &str) -> Number {
        let path = dir.path().join("n");
        std::fs::write(&path, text).unwrap();
        Number {
            path,
            loads: AtomicUsize::new(0),
            told: Mutex::new(Vec::new()),
        }
    }

    #[tokio::test]
    async fn a_change_is_loaded_and_a_bad_state_is_told_once() {
        let dir = tempfile::tempdir().unwrap();
        let watched = Watched::load(number(&dir, "1")).await.unwrap();
        let path = watched.loader().path.clone();
        assert_eq!(*watched.current().await, 1);
        assert_eq!(
            watched.loader().loads.load(Ordering::SeqCst),
            1,
            "unchanged"
        );

        std::fs::write(&path, "22").unwrap();
        assert_eq!(*watched.current().await, 22);
        std::fs::write(&path, "not a number").unwrap();
        assert_eq!(
            *watched.current().await,
            22,
            "a bad re-load keeps the value"
        );
        assert_eq!(*watched.current().await, 22);
        std::fs::write(&path, "refuse").unwrap();
        assert_eq!(*watched.current().await, 22, "a refused one too");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(*watched.current().await, 22);
        assert_eq!(*watched.current().await, 22);
        std::fs::write(&path, "333").unwrap();
        assert_eq!(*watched.current().await, 333);
        assert_eq!(*watched.latest(), 333);

        let told = lock(&watched.loader().told).clone();
        assert_eq!(told.len(), 5, "once per state of the file: {told:?}");
        assert_eq!(told[0], Ok(22));
        assert!(matches!(&told[1], Err(e) if e.contains("invalid digit")));
        assert_eq!(told[2], Err("refused".to_string()));
        assert!(
            matches!(&told[3], Err(e) if e.starts_with("cannot read the number file: ")
            && e.ends_with("; pass the right path with --number.file"))
        );
        assert_eq!(told[4], Ok(333));
    }

    /// A value from no file at all (a list given in the config alone).
    struct Fixed(AtomicUsize);

    impl Loader for Fixed {
        type Value = u32;
        type Error = String;

        fn files(&self) -> Vec<PathBuf> {
            Vec::new()
        }

        fn load(&self, _: Option<&u32>) -> Result<u32, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(4)
        }

        fn interrupted(&self, error: JoinError) -> String {
            error.to_string()
        }

        fn report(&self, _: Result<&u32, &String>) {}
    }

    #[tokio::test]
    async fn a_value_without_files_is_loaded_once() {
        let watched = Watched::load_blocking(Fixed(AtomicUsize::new(0))).unwrap();
        assert_eq!(*watched.current().await, 4);
        assert_eq!(*watched.current().await, 4);
        assert_eq!(watched.loader().0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_first_load_that_fails_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let got = Watched::load_blocking(number(&dir, "x")).map(|_| ());
        assert!(got.is_err());
    }
}
