//! The writer's key-value state in `sled`: file locations (grouped by directory), the
//! embedding cache and the generation the file table belongs to.
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
    /// The directory whose files were looked up last, decoded: a scan looks files up in path
    /// order, so one directory's files follow one another (without it, a change to every file
    /// of a directory would decode the directory once per file).
    last_dir: std::sync::Mutex<Option<(String, Vec<FileLoc>)>>,
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

/// The file table: one entry per directory (see [`dir_key`]), its files' locations sorted by
/// path. Entries per directory rather than per file keep sled's page count — and with it what
/// opening and closing the database costs — a fraction of the file count: a scan told about
/// one file costs about the same in a small and a large repository.
const FILES_TREE: &str = "files_by_dir";

/// Where versions before [`FILES_TREE`] kept the table, a key per file.
const OLD_FILES_TREE: &[u8] = b"files";

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
        let state = open_tree("state")?;
        if db.tree_names().iter().any(|n| n.as_ref() == OLD_FILES_TREE) {
            // The table as earlier versions kept it (a key per file): dropped, and the
            // generation with it, so that the writer rebuilds the table from the segments.
            db.drop_tree(OLD_FILES_TREE).map_err(|e| sled_err(path, e))?;
            state.remove(GENERATION).map_err(|e| sled_err(path, e))?;
        }
        Ok(Kv {
            files: open_tree(FILES_TREE)?,
            cache: open_tree("embedding_cache")?,
            state,
            last_flush: std::sync::Mutex::new(
                std::time::Instant::now().checked_sub(FLUSH_INTERVAL).unwrap_or_else(std::time::Instant::now),
            ),
            last_dir: std::sync::Mutex::new(None),
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

    /// A file's location.
    pub(crate) fn file(&self, path: &str) -> Result<Option<FileLoc>, StoreError> {
        let key = dir_key(path);
        let mut last = self.last_dir.lock().map_err(|_| StoreError::Invalid("a file lookup panicked".into()))?;
        if last.as_ref().is_none_or(|(dir, _)| *dir != key) {
            let files = self.directory(key.as_bytes())?;
            *last = Some((key, files));
        }
        let files = last.as_ref().map_or(&[][..], |(_, files)| files.as_slice());
        Ok(files.binary_search_by(|l| l.record.path.as_str().cmp(path)).ok().map(|i| files[i].clone()))
    }

    /// Every file with its location, sorted by path.
    pub(crate) fn files(&self) -> Result<Vec<(String, FileLoc)>, StoreError> {
        let mut out = Vec::new();
        for item in self.files.iter().values() {
            let v = item.map_err(|e| sled_err(&self.path, e))?;
            out.extend(self.decode(&v)?.into_iter().map(|l| (l.record.path.clone(), l)));
        }
        // Directories sort by their own path ("/a/b" before "/a/b.c" before "/a/b/c"), files
        // by theirs: the two orders differ.
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The files whose paths start with `prefix`, which ends with `/` (a directory's contents).
    pub(crate) fn files_under(&self, prefix: &str) -> Result<Vec<(String, FileLoc)>, StoreError> {
        if prefix.trim_end_matches('/').is_empty() {
            // The root's contents: everything.
            return self.files();
        }
        let dir = format!("/{}", prefix.trim_end_matches('/'));
        let mut out: Vec<(String, FileLoc)> =
            self.directory(dir.as_bytes())?.into_iter().map(|l| (l.record.path.clone(), l)).collect();
        for item in self.files.scan_prefix(format!("{dir}/").as_bytes()).values() {
            let v = item.map_err(|e| sled_err(&self.path, e))?;
            out.extend(self.decode(&v)?.into_iter().map(|l| (l.record.path.clone(), l)));
        }
        out.retain(|(p, _)| p.starts_with(prefix));
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Every file's record, sorted by path.
    pub(crate) fn records(&self) -> Result<Vec<FileRecord>, StoreError> {
        Ok(self.files()?.into_iter().map(|(_, l)| l.record).collect())
    }

    /// Applies file-table changes (`None` removes) and records the generation, durably.
    pub(crate) fn apply_files(
        &self,
        changes: impl IntoIterator<Item = (String, Option<FileLoc>)>,
        generation: u64,
        replace_all: bool,
    ) -> Result<(), StoreError> {
        // The table changes: no directory read before stands.
        if let Ok(mut last) = self.last_dir.lock() {
            *last = None;
        }
        if replace_all {
            self.files.clear().map_err(|e| sled_err(&self.path, e))?;
        }
        // Each directory's entry is read once, changed, and written back.
        let mut by_dir: std::collections::BTreeMap<String, Vec<(String, Option<FileLoc>)>> =
            std::collections::BTreeMap::new();
        for (path, loc) in changes {
            by_dir.entry(dir_key(&path)).or_default().push((path, loc));
        }
        let mut batch = sled::Batch::default();
        for (dir, changes) in by_dir {
            let mut files = if replace_all { Vec::new() } else { self.directory(dir.as_bytes())? };
            for (path, loc) in changes {
                let at = files.binary_search_by(|l| l.record.path.as_str().cmp(&path));
                match (at, loc) {
                    (Ok(i), Some(loc)) => files[i] = loc,
                    (Err(i), Some(loc)) => files.insert(i, loc),
                    (Ok(i), None) => {
                        files.remove(i);
                    }
                    (Err(_), None) => {}
                }
            }
            if files.is_empty() {
                batch.remove(dir.as_bytes());
            } else {
                batch.insert(dir.as_bytes(), postcard::to_stdvec(&files).map_err(StoreError::backend)?);
            }
        }
        self.files.apply_batch(batch).map_err(|e| sled_err(&self.path, e))?;
        self.state.insert(GENERATION, &generation.to_le_bytes()).map_err(|e| sled_err(&self.path, e))?;
        self.db.flush().map_err(|e| sled_err(&self.path, e))?;
        Ok(())
    }

    /// One directory's files, sorted by path (empty when it has none).
    fn directory(&self, key: &[u8]) -> Result<Vec<FileLoc>, StoreError> {
        match self.files.get(key).map_err(|e| sled_err(&self.path, e))? {
            Some(v) => self.decode(&v),
            None => Ok(Vec::new()),
        }
    }

    pub(crate) fn cached(
        &self,
        ns: &CacheNamespace,
        hashes: &[ContentHash],
    ) -> Result<Vec<Option<Embedding>>, StoreError> {
        let prefix = ns_prefix(ns);
        if self.cache.scan_prefix(prefix).next().is_none() {
            // Nothing cached under this namespace (a provider that is never cached, or a new
            // model): no lookup per hash.
            return Ok(vec![None; hashes.len()]);
        }
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

    fn decode(&self, bytes: &[u8]) -> Result<Vec<FileLoc>, StoreError> {
        postcard::from_bytes(bytes)
            .map_err(|e| StoreError::Corrupted { path: self.path.clone(), message: format!("bad file record: {e}") })
    }
}

/// The file table's key for the directory holding `path`: `/` and the directory's path
/// (`/` alone for the root).
fn dir_key(path: &str) -> String {
    format!("/{}", path.rsplit_once('/').map_or("", |(dir, _)| dir))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(path: &str, segment: u32) -> FileLoc {
        FileLoc {
            record: FileRecord::new(path, 1, 2, ContentHash::of(path.as_bytes()), 1),
            segment,
            first: 0,
            count: 1,
        }
    }

    fn paths(v: &[(String, FileLoc)]) -> Vec<&str> {
        v.iter().map(|(p, _)| p.as_str()).collect()
    }

    /// Names whose directory order and path order differ: `a/b` holds files, `a/b.c` is a
    /// file beside it, `a/bc` and `a/b/c` are directories.
    const PATHS: [&str; 7] = ["top.rs", "a/b.c", "a/b/x.rs", "a/b/c/y.rs", "a/bc/z.rs", "a/b/w.rs", "a/b-/v.rs"];

    #[test]
    fn the_table_grouped_by_directory_reads_back_by_file_sorted_and_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let kv = Kv::open(&dir.path().join("db"), dir.path()).unwrap();
        kv.apply_files(PATHS.iter().map(|p| (p.to_string(), Some(loc(p, 1)))), 1, false).unwrap();
        let mut sorted = PATHS.to_vec();
        sorted.sort_unstable();
        assert_eq!(paths(&kv.files().unwrap()), sorted);
        assert_eq!(kv.records().unwrap().iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), sorted);
        assert_eq!(paths(&kv.files_under("a/b/").unwrap()), ["a/b/c/y.rs", "a/b/w.rs", "a/b/x.rs"]);
        assert_eq!(paths(&kv.files_under("a/").unwrap()), &sorted[..6]);
        assert_eq!(paths(&kv.files_under("top.rs/").unwrap()), Vec::<&str>::new());
        assert_eq!(paths(&kv.files_under("/").unwrap()), sorted);
        assert_eq!(kv.file("a/b/x.rs").unwrap(), Some(loc("a/b/x.rs", 1)));
        assert_eq!(kv.file("top.rs").unwrap(), Some(loc("top.rs", 1)));
        assert_eq!(kv.file("a/b").unwrap(), None);
        assert_eq!(kv.generation().unwrap(), 1);

        // Changes: one replaced, one removed, the last file of a directory removed, one added.
        let changes = vec![
            ("a/b/x.rs".to_string(), Some(loc("a/b/x.rs", 2))),
            ("a/b/w.rs".to_string(), None),
            ("a/bc/z.rs".to_string(), None),
            ("a/b/a.rs".to_string(), Some(loc("a/b/a.rs", 2))),
            ("never/was.rs".to_string(), None),
        ];
        kv.apply_files(changes, 2, false).unwrap();
        assert_eq!(kv.file("a/b/x.rs").unwrap(), Some(loc("a/b/x.rs", 2)));
        assert_eq!(paths(&kv.files_under("a/b/").unwrap()), ["a/b/a.rs", "a/b/c/y.rs", "a/b/x.rs"]);
        assert_eq!(paths(&kv.files().unwrap()), ["a/b-/v.rs", "a/b.c", "a/b/a.rs", "a/b/c/y.rs", "a/b/x.rs", "top.rs"]);
        assert!(kv.files.get(b"/a/bc").unwrap().is_none(), "an emptied directory leaves the table");

        // Replacing everything.
        kv.apply_files([("n.rs".to_string(), Some(loc("n.rs", 3)))], 3, true).unwrap();
        assert_eq!(paths(&kv.files().unwrap()), ["n.rs"]);
    }

    #[test]
    fn a_table_in_the_old_layout_is_dropped_with_its_generation() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        {
            let old = sled::Config::new().path(&db).flush_every_ms(None).open().unwrap();
            old.open_tree(OLD_FILES_TREE).unwrap().insert(b"a.rs", b"old".as_slice()).unwrap();
            old.open_tree("state").unwrap().insert(GENERATION, &7u64.to_le_bytes()).unwrap();
            old.flush().unwrap();
        }
        let kv = Kv::open(&db, dir.path()).unwrap();
        assert_eq!(kv.generation().unwrap(), 0, "the writer rebuilds the table from the segments");
        assert!(kv.files().unwrap().is_empty());
        assert!(!kv.db.tree_names().iter().any(|n| n.as_ref() == OLD_FILES_TREE));
    }
}
