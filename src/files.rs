//! Reading the files settings name (the config file, `*_file` secrets, `instance_ids_file`,
//! the web config and its PEM files), at start and on every reload: regular files only, at
//! most [`MAX_FILE_BYTES`], within [`READ_TIMEOUT`]. A FIFO would block a reader until a writer
//! comes, a device or a sparse 4 GiB file would never end or exhaust memory, and a reload
//! holds its lock while it reads: each is refused with an error naming the file and what it
//! is, so a reload either completes or fails. Bottom layer: std only.

use std::fmt;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// Largest file a setting may name.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Longest one file may take to read (a stalled network file system).
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a setting's file was not read. Its `Display` names the file and says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong, in words that follow the path.
    pub reason: String,
    /// The operating system's error, when that is what went wrong (not found, permissions).
    pub io: Option<String>,
}

impl FileError {
    /// The message: for an error of the operating system, what `io` makes of its text (each
    /// caller keeps its own wording for those); for a file refused, the path and why.
    pub fn describe(&self, io: impl FnOnce(&str) -> String) -> String {
        match &self.io {
            Some(e) => io(e),
            None => self.to_string(),
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for FileError {}

/// What a file that is not a regular one is, for the message.
fn kind_of(m: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = m.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if m.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Refuses what is not a regular file of at most [`MAX_FILE_BYTES`].
fn check(path: &Path, m: &Metadata) -> Result<(), FileError> {
    let err = |reason: String| FileError {
        path: path.to_path_buf(),
        reason,
        io: None,
    };
    if !m.is_file() {
        return Err(err(format!(
            "is {}, not a regular file; point the setting at a file",
            kind_of(m)
        )));
    }
    if m.len() > MAX_FILE_BYTES {
        return Err(err(format!(
            "holds {} bytes, more than the {} a setting's file may hold (1 MiB); point the setting at the right file",
            m.len(),
            MAX_FILE_BYTES
        )));
    }
    Ok(())
}

/// Reads now, on this thread: the type and size checked before the file is opened (opening
/// a FIFO blocks) and again on the open file (it may have been replaced), then at most one
/// byte past the cap read.
fn read_now(path: &Path) -> Result<Vec<u8>, FileError> {
    let io = |e: std::io::Error| FileError {
        path: path.to_path_buf(),
        reason: format!("cannot be read: {e}; check the path and its permissions"),
        io: Some(e.to_string()),
    };
    check(path, &std::fs::metadata(path).map_err(io)?)?;
    let file = File::open(path).map_err(io)?;
    check(path, &file.metadata().map_err(io)?)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(FileError {
            path: path.to_path_buf(),
            reason: format!(
                "grew past {MAX_FILE_BYTES} bytes while read (1 MiB at most); point the setting at the right file"
            ),
            io: None,
        });
    }
    Ok(bytes)
}

/// Runs `read` on a thread of its own and waits at most `timeout` for it: a read that never
/// ends costs that thread, never the caller.
fn within<T: Send + 'static>(
    path: &Path,
    timeout: Duration,
    read: impl FnOnce() -> Result<T, FileError> + Send + 'static,
) -> Result<T, FileError> {
    let late = || FileError {
        path: path.to_path_buf(),
        reason: format!(
            "could not be read within {timeout:?} (a stalled file system?); check the file"
        ),
        io: None,
    };
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("read-setting-file".into())
        .spawn(move || {
            let _ = tx.send(read());
        })
        .map_err(|e| FileError {
            path: path.to_path_buf(),
            reason: format!("cannot be read: no thread to read it ({e})"),
            io: None,
        })?;
    rx.recv_timeout(timeout).unwrap_or_else(|_| Err(late()))
}

/// The bytes of the file at `path`, as the module doc says. Blocking (at most
/// [`READ_TIMEOUT`]): call it off the async threads.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, FileError> {
    let owned = path.to_path_buf();
    within(path, READ_TIMEOUT, move || read_now(&owned))
}

/// [`read_bytes`] as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String, FileError> {
    String::from_utf8(read_bytes(path)?).map_err(|_| FileError {
        path: path.to_path_buf(),
        reason: "is not UTF-8 text; save it as UTF-8".into(),
        io: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_and_others_refused_by_what_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "secret\n").unwrap();
        assert_eq!(read_text(&ok).unwrap(), "secret\n");
        let e = read_bytes(dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("is a directory, not a regular file; point the setting at a file"),
            "{e}"
        );
        let big = dir.path().join("big");
        File::create(&big).unwrap().set_len(4 << 30).unwrap();
        let e = read_bytes(&big).unwrap_err();
        assert!(
            e.reason
                .starts_with("holds 4294967296 bytes, more than the 1048576"),
            "{e}"
        );
        let missing = read_bytes(&dir.path().join("nope")).unwrap_err();
        assert!(missing.reason.starts_with("cannot be read: "), "{missing}");
        #[cfg(unix)]
        {
            let null = read_bytes(Path::new("/dev/null")).unwrap_err();
            assert!(null.reason.starts_with("is a character device"), "{null}");
        }
    }

    #[test]
    fn a_read_that_never_ends_is_given_up() {
        let (_keep, rx) = mpsc::channel::<()>();
        let e = within(Path::new("/stuck"), Duration::from_millis(1), move || {
            let _ = rx.recv();
            Ok(())
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/stuck could not be read within 1ms (a stalled file system?); check the file"
        );
    }
}
