//! The writer's key-value state in `sled`: file locations, the embedding cache and the
//! generation the file table belongs to.
//!
//! sled takes an exclusive lock on its directory, so only the writer opens it; readers use the
//! published segments and never need this handle.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CacheNamespace;
use crate::error::StoreError;
use crate::model::{ContentHash, Embedding, FileRecord};

/// Where a file's chunks live: a contiguous run of ordinals in one segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileLoc {
    pub(crate) record: FileRecord,
    pub(crate) segment: u32,
    pub(crate) first: u32,
    pub(crate) count: u32,
}

#[derive(Debug)]
pub(crate) struct Kv {
    path: PathBuf,
    db: sled::Db,
    files: sled::Tree,
    cache: sled::Tree,
    state: sled::Tree,
    last_flush: std::sync::Mutex<std::time::Instant>,
}

/// The longest a freshly cached embedding waits before it is on disk.
const FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

impl Drop for Kv {
    fn drop(&mut self) {
        // sled runs no flusher thread here (see `open`): flush what is still in memory.
        let _ = self.db.flush();
    }
}

const GENERATION: &[u8] = b"generation";

impl Kv {
    /// Opens (or creates) the database; another process holding it gives [`StoreError::Busy`].
    pub(crate) fn open(path: &Path, index_dir: &Path) -> Result<Kv, StoreError> {
        // No background flusher: ragops flushes at commit, and without the thread a dropped
        // handle releases sled's directory lock at once (a later scan in this process can
        // open it again).
        let config = sled::Config::new().path(path).flush_every_ms(None);
        let mut attempt = 0;
        let opened = loop {
            match config.open() {
                Err(sled::Error::Io(io)) if is_lock_error(&io) && attempt < 10 => {
                    // A handle being dropped in this process may still hold the lock briefly.
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other,
            }
        };
        let db = opened.map_err(|e| match e {
            sled::Error::Io(io) if is_lock_error(&io) => {
                StoreError::Busy { path: index_dir.to_path_buf(), holder: "another process".into() }
            }
            sled::Error::Io(io) => StoreError::io(path, io),
            // Anything else at open time (a bad checksum, an unreadable config or snapshot) is
            // damage to the writer's state.
            other => StoreError::Corrupted { path: path.to_path_buf(), message: other.to_string() },
        })?;
        let open_tree = |name: &str| db.open_tree(name).map_err(|e| sled_err(path, e));
        Ok(Kv {
            files: open_tree("files")?,
            cache: open_tree("embedding_cache")?,
            state: open_tree("state")?,
            last_flush: std::sync::Mutex::new(
                std::time::Instant::now().checked_sub(FLUSH_INTERVAL).unwrap_or_else(std::time::Instant::now),
            ),
            db,
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn generation(&self) -> Result<u64, StoreError> {
        match self.state.get(GENERATION).map_err(|e| sled_err(&self.path, e))? {
            Some(v) => Ok(u64::from_le_bytes(v.as_ref().try_into().map_err(|_| StoreError::Corrupted {
                path: self.path.clone(),
                message: "bad generation record".into(),
            })?)),
            None => Ok(0),
        }
    }

    pub(crate) fn file(&self, path: &str) -> Result<Option<FileLoc>, StoreError> {
        match self.files.get(path.as_bytes()).map_err(|e| sled_err(&self.path, e))? {
            Some(v) => Ok(Some(self.decode(&v)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn files(&self) -> Result<Vec<(String, FileLoc)>, StoreError> {
        let mut out = Vec::new();
        for item in self.files.iter() {
            let (k, v) = item.map_err(|e| sled_err(&self.path, e))?;
            out.push((String::from_utf8_lossy(&k).into_owned(), self.decode(&v)?));
        }
        Ok(out)
    }

    /// The files whose paths start with `prefix`.
    pub(crate) fn files_under(&self, prefix: &str) -> Result<Vec<(String, FileLoc)>, StoreError> {
        let mut out = Vec::new();
        for item in self.files.scan_prefix(prefix.as_bytes()) {
            let (k, v) = item.map_err(|e| sled_err(&self.path, e))?;
            out.push((String::from_utf8_lossy(&k).into_owned(), self.decode(&v)?));
        }
        Ok(out)
    }

    /// Every file's record, sorted by path.
    pub(crate) fn records(&self) -> Result<Vec<FileRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.files.iter().values() {
            let v = item.map_err(|e| sled_err(&self.path, e))?;
            out.push(self.decode(&v)?.record);
        }
        Ok(out)
    }

    /// Applies file-table changes (`None` removes) and records the generation, durably.
    pub(crate) fn apply_files(
        &self,
        changes: impl IntoIterator<Item = (String, Option<FileLoc>)>,
        generation: u64,
        replace_all: bool,
    ) -> Result<(), StoreError> {
        if replace_all {
            self.files.clear().map_err(|e| sled_err(&self.path, e))?;
        }
        // In key order: sled then fills its leaves one after another rather than jumping
        // between them.
        let mut changes: Vec<(String, Option<FileLoc>)> = changes.into_iter().collect();
        changes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut batch = sled::Batch::default();
        for (path, loc) in changes {
            match loc {
                Some(loc) => {
                    let bytes = postcard::to_stdvec(&loc).map_err(StoreError::backend)?;
                    batch.insert(path.as_bytes(), bytes);
                }
                None => batch.remove(path.as_bytes()),
            }
        }
        self.files.apply_batch(batch).map_err(|e| sled_err(&self.path, e))?;
        self.state.insert(GENERATION, &generation.to_le_bytes()).map_err(|e| sled_err(&self.path, e))?;
        self.db.flush().map_err(|e| sled_err(&self.path, e))?;
        Ok(())
    }

    pub(crate) fn cached(
        &self,
        ns: &CacheNamespace,
        hashes: &[ContentHash],
    ) -> Result<Vec<Option<Embedding>>, StoreError> {
        let prefix = ns_prefix(ns);
        hashes
            .iter()
            .map(|h| {
                let v = self.cache.get(cache_key(&prefix, h)).map_err(|e| sled_err(&self.path, e))?;
                // A value of the wrong shape is treated as a miss (and embedded again).
                Ok(v.filter(|bytes| bytes.len() % 4 == 0).map(|bytes| super::f32s_from_le(&bytes)))
            })
            .collect()
    }

    pub(crate) fn cache(&self, ns: &CacheNamespace, entries: Vec<(ContentHash, Embedding)>) -> Result<(), StoreError> {
        let prefix = ns_prefix(ns);
        let mut batch = sled::Batch::default();
        for (h, v) in entries {
            let mut bytes = Vec::with_capacity(v.len() * 4);
            super::push_f32s_le(&mut bytes, &v);
            batch.insert(cache_key(&prefix, &h).as_slice(), bytes);
        }
        self.cache.apply_batch(batch).map_err(|e| sled_err(&self.path, e))?;
        // Durable within FLUSH_INTERVAL: a scan interrupted later (Ctrl-C, a kill, a provider
        // outage) keeps these and the next scan does not pay for them again. (An orderly exit,
        // including an error or Ctrl-C, flushes everything when the handle is dropped.)
        let due = self.last_flush.lock().map(|t| t.elapsed() >= FLUSH_INTERVAL).unwrap_or(true);
        if due {
            self.db.flush().map_err(|e| sled_err(&self.path, e))?;
            if let Ok(mut t) = self.last_flush.lock() {
                *t = std::time::Instant::now();
            }
            crate::failpoint::hit("cache-written");
        }
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<FileLoc, StoreError> {
        postcard::from_bytes(bytes)
            .map_err(|e| StoreError::Corrupted { path: self.path.clone(), message: format!("bad file record: {e}") })
    }
}

fn is_lock_error(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::WouldBlock || io.raw_os_error() == Some(11) || io.to_string().contains("lock")
}

fn ns_prefix(ns: &CacheNamespace) -> [u8; 8] {
    let h = blake3::hash(ns.as_str().as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.as_bytes()[..8]);
    out
}

fn cache_key(prefix: &[u8; 8], hash: &ContentHash) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(prefix);
    key[8..].copy_from_slice(&hash.0);
    key
}

fn sled_err(path: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) => StoreError::io(path, io),
        sled::Error::Corruption { .. } => StoreError::Corrupted { path: path.to_path_buf(), message: e.to_string() },
        other => StoreError::backend(other),
    }
}
