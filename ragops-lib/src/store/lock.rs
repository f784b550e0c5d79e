//! One writer per index: an advisory lock file holding the owner's pid, host and start time.
//!
//! The lock is an OS file lock (`flock`-style, [`File::try_lock`]) on `<index>/LOCK`, so the
//! kernel releases it when the owner dies, however it dies: a crashed or killed scan never
//! leaves a stale lock behind, and the next writer takes over safely. The file's contents only
//! describe the holder for the "busy" message; the lock itself is what excludes.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// The lock file's name inside the index directory.
pub const LOCK_FILE: &str = "LOCK";

/// How long to poll between attempts while waiting for the lock.
const POLL: Duration = Duration::from_millis(100);

/// Who holds (or last held) the writer lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// When the holder took the lock (RFC 3339, UTC).
    pub started_at: String,
}

impl LockHolder {
    fn current() -> Self {
        LockHolder {
            pid: std::process::id(),
            host: host_name(),
            started_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {} since {}", self.pid, self.host, self.started_at)
    }
}

/// The writer lock of an index directory, held until dropped.
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    path: PathBuf,
}

impl WriterLock {
    /// Takes the lock of `dir` (created if missing). With `wait`, polls until the holder
    /// releases it or `wait` has passed; without, refuses at once.
    ///
    /// A lock file left by a process that died is taken over (the OS released its lock); the
    /// takeover is logged with the previous holder.
    ///
    /// # Errors
    /// [`StoreError::Busy`] naming the holder; [`StoreError::Io`] when the file cannot be
    /// created or locked.
    pub fn acquire(dir: &Path, wait: Option<Duration>) -> Result<WriterLock, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let deadline = wait.map(|w| Instant::now() + w);
        let mut announced = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
                    match deadline {
                        Some(d) if Instant::now() < d => {
                            if !announced {
                                announced = true;
                                tracing::info!(
                                    event = "store.lock_wait",
                                    holder = %describe(holder.as_ref()),
                                    "waiting for the index writer lock"
                                );
                            }
                            std::thread::sleep(POLL.min(d.saturating_duration_since(Instant::now())));
                        }
                        _ => {
                            return Err(StoreError::Busy {
                                path: dir.to_path_buf(),
                                holder: describe(holder.as_ref()),
                            });
                        }
                    }
                }
                Err(TryLockError::Error(e)) => return Err(StoreError::io(&path, e)),
            }
        }
        // Ours now. Anything still written there is a holder that ended without cleaning up.
        if let Some(previous) = read_holder(&mut file) {
            tracing::warn!(
                event = "store.lock_taken_over",
                previous = %previous,
                "the previous writer ended without releasing the index; taking over"
            );
        }
        let mut lock = WriterLock { file, path };
        lock.write_holder(&LockHolder::current())?;
        Ok(lock)
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_holder(&mut self, holder: &LockHolder) -> Result<(), StoreError> {
        let text = serde_json::to_string(holder).map_err(StoreError::backend)?;
        let io = |e| StoreError::io(&self.path, e);
        self.file.set_len(0).map_err(io)?;
        self.file.seek(SeekFrom::Start(0)).map_err(io)?;
        self.file.write_all(text.as_bytes()).map_err(io)?;
        // Not synced: other processes read it from the page cache at once, and what a crash
        // of the machine could lose is only the "taken over" warning of the next writer (the
        // OS lock, not this text, excludes writers).
        self.file.write_all(b"\n").map_err(io)
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // An empty file means "released cleanly"; the OS lock goes with the handle.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

fn describe(holder: Option<&LockHolder>) -> String {
    holder.map_or_else(|| "another process".to_string(), |h| format!("ragops {h}"))
}

/// The host name, for the lock file ("unknown" where the platform does not say).
fn host_name() -> String {
    let from_file = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    from_file
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriterLock::acquire(dir.path(), None).unwrap();
        let err = WriterLock::acquire(dir.path(), None).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Busy { .. }), "{text}");
        assert!(text.contains(&format!("pid {}", std::process::id())), "{text}");
        assert!(text.contains("--wait"), "{text}");
        drop(first);
        WriterLock::acquire(dir.path(), None).unwrap();
    }

    #[test]
    fn waiting_gets_the_lock_when_the_holder_releases_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriterLock::acquire(dir.path(), None).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        let started = Instant::now();
        WriterLock::acquire(dir.path(), Some(Duration::from_secs(10))).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(250));
        releaser.join().unwrap();
    }

    #[test]
    fn waiting_gives_up_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let _first = WriterLock::acquire(dir.path(), None).unwrap();
        let started = Instant::now();
        let err = WriterLock::acquire(dir.path(), Some(Duration::from_millis(250))).unwrap_err();
        assert!(matches!(err, StoreError::Busy { .. }), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(250));
    }

    #[test]
    fn a_lock_file_left_by_a_dead_writer_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let stale = LockHolder { pid: 999_999, host: "elsewhere".into(), started_at: "2020-01-01T00:00:00Z".into() };
        std::fs::write(dir.path().join(LOCK_FILE), serde_json::to_string(&stale).unwrap()).unwrap();
        let mut lock = WriterLock::acquire(dir.path(), None).unwrap();
        let now = read_holder(&mut lock.file).unwrap();
        assert_eq!(now.pid, std::process::id());
        drop(lock);
        assert_eq!(std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap(), "");
    }
}
