//! Keeping an index up to date as files change: a file watcher is the change feed.
//!
//! [`Index::watch`] scans once (the index catches up with the tree), then waits for the
//! operating system's file events (inotify on Linux, FSEvents on macOS, through `notify`),
//! gathers the paths that changed until the tree has been quiet for a moment, and re-scans
//! only them ([`ScanOptions::paths`]): each re-scan costs what changed, not what the tree
//! holds, because nothing walks the tree to find the change. When the events may have missed
//! some (the kernel's queue overflowed, the watcher failed), the next scan is a whole one.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use crate::error::{ConfigError, Error, Result};
use crate::index::{Index, ScanOptions};
use crate::ingest::ScanSummary;

/// How [`Index::watch`] runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WatchOptions {
    /// How long the tree must stay quiet before the changes gathered are scanned (an editor's
    /// save, a `git checkout` become one scan).
    pub debounce: Duration,
    /// The longest a change waits for its scan while files keep changing (a build writing
    /// without pause never lets the tree go quiet).
    pub max_delay: Duration,
    /// How long a scan waits for another one holding the index.
    pub wait: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            wait: Duration::from_secs(60),
        }
    }
}

impl WatchOptions {
    /// Sets `debounce`.
    pub fn debounce(mut self, debounce: Duration) -> Self {
        self.debounce = debounce;
        self
    }

    /// Sets `max_delay`.
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }
}

/// One scan of a watch.
#[derive(Debug)]
#[non_exhaustive]
pub struct WatchScan {
    /// The paths scanned (relative to the root), or `None` for a whole scan (the first one,
    /// or after events were lost).
    pub paths: Option<Vec<String>>,
    /// What the scan did, or why it failed (the watch goes on).
    pub result: Result<ScanSummary>,
}

impl Index {
    /// Scans, then re-scans what changes until `stop` completes, telling `on_scan` about each
    /// scan. A failed scan is reported and the watch goes on; the paths it had are scanned
    /// with the next ones.
    ///
    /// # Errors
    /// The file watcher cannot start (e.g. the system's limit on watches is reached).
    pub async fn watch(
        &self,
        options: &WatchOptions,
        mut on_scan: impl FnMut(&WatchScan),
        stop: impl Future<Output = ()>,
    ) -> Result<()> {
        let root = self.root().to_path_buf();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<notify::Result<notify::Event>>();
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        })
        .map_err(|e| watch_error(&root, &e))?;
        watcher.watch(&root, RecursiveMode::Recursive).map_err(|e| watch_error(&root, &e))?;
        let filter = EventFilter::new(&root, self.index_dir());
        tokio::pin!(stop);
        let scan_options = |paths: Option<Vec<String>>| {
            ScanOptions::default()
                .wait(Some(options.wait))
                .paths(paths.map(|p| p.into_iter().map(PathBuf::from).collect()))
        };
        // The first scan catches up with the tree (events from now on are kept meanwhile).
        let mut pending = Pending::Whole;
        loop {
            let paths = match std::mem::replace(&mut pending, Pending::Paths(BTreeSet::new())) {
                Pending::Whole => None,
                Pending::Paths(paths) => Some(paths.into_iter().collect::<Vec<_>>()),
            };
            let result = self.scan_with(&scan_options(paths.clone())).await;
            if result.is_err() {
                // Kept for the next scan.
                pending = match &paths {
                    None => Pending::Whole,
                    Some(p) => Pending::Paths(p.iter().cloned().collect()),
                };
            }
            on_scan(&WatchScan { paths, result });
            // Wait for a change, then for a quiet moment (or `max_delay` after the change).
            let mut deadline: Option<Instant> = None;
            let mut first: Option<Instant> = None;
            loop {
                let quiet = async {
                    match deadline {
                        Some(at) => tokio::time::sleep_until(at.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = &mut stop => return Ok(()),
                    () = quiet => break,
                    event = rx.recv() => {
                        let Some(event) = event else { return Ok(()) };
                        if filter.apply(event, &mut pending) {
                            let now = Instant::now();
                            let latest = *first.get_or_insert(now) + options.max_delay;
                            deadline = Some((now + options.debounce).min(latest));
                        }
                    }
                }
            }
        }
    }
}

/// What the next scan covers.
enum Pending {
    /// The whole tree.
    Whole,
    /// These paths (relative, `/`-separated).
    Paths(BTreeSet<String>),
}

/// Which events matter: not those of the index directory or of `.git`.
struct EventFilter {
    root: PathBuf,
    canonical_root: PathBuf,
    index_dir: PathBuf,
}

impl EventFilter {
    fn new(root: &Path, index_dir: &Path) -> Self {
        EventFilter {
            root: root.to_path_buf(),
            canonical_root: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
            index_dir: index_dir.canonicalize().unwrap_or_else(|_| index_dir.to_path_buf()),
        }
    }

    /// Adds an event's paths to `pending`; whether it changed anything.
    fn apply(&self, event: notify::Result<notify::Event>, pending: &mut Pending) -> bool {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(event = "watch.error", "file events may have been lost ({err}): the next scan is whole");
                *pending = Pending::Whole;
                return true;
            }
        };
        if event.need_rescan() {
            tracing::warn!(event = "watch.overflow", "file events were lost: the next scan is whole");
            *pending = Pending::Whole;
            return true;
        }
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return false;
        }
        let mut changed = false;
        for path in &event.paths {
            if path.starts_with(&self.index_dir) {
                continue;
            }
            let Some(rel) = self.relative(path) else { continue };
            if rel.is_empty() || rel == ".git" || rel.starts_with(".git/") {
                continue;
            }
            changed = true;
            if let Pending::Paths(paths) = pending {
                paths.insert(rel);
            }
        }
        changed
    }

    fn relative(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).or_else(|_| path.strip_prefix(&self.canonical_root)).ok()?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        Some(parts?.join("/"))
    }
}

fn watch_error(root: &Path, err: &notify::Error) -> Error {
    let hint = match &err.kind {
        notify::ErrorKind::MaxFilesWatch => {
            " (the system's limit on watched directories is reached: raise fs.inotify.max_user_watches)"
        }
        _ => "",
    };
    Error::Config(ConfigError::Path {
        path: root.to_path_buf(),
        message: format!("cannot watch for changes: {err}{hint}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: notify::EventKind, paths: &[&Path]) -> notify::Result<notify::Event> {
        let mut e = notify::Event::new(kind);
        for p in paths {
            e = e.add_path(p.to_path_buf());
        }
        Ok(e)
    }

    #[test]
    fn events_become_relative_paths_without_the_index_and_git() {
        let root = Path::new("/repo");
        let filter = EventFilter::new(root, Path::new("/repo/.ragops"));
        let mut pending = Pending::Paths(BTreeSet::new());
        let modify = notify::EventKind::Modify(notify::event::ModifyKind::Any);
        assert!(filter.apply(event(modify, &[Path::new("/repo/src/a.rs")]), &mut pending));
        assert!(!filter.apply(event(modify, &[Path::new("/repo/.ragops/db/x")]), &mut pending));
        assert!(!filter.apply(event(modify, &[Path::new("/repo/.git/index")]), &mut pending));
        assert!(!filter.apply(event(modify, &[Path::new("/elsewhere/b.rs")]), &mut pending));
        let access = notify::EventKind::Access(notify::event::AccessKind::Any);
        assert!(!filter.apply(event(access, &[Path::new("/repo/src/c.rs")]), &mut pending));
        let Pending::Paths(paths) = &pending else { panic!("still paths") };
        assert_eq!(paths.iter().collect::<Vec<_>>(), ["src/a.rs"]);

        let lost = notify::Event::new(notify::EventKind::Other).set_flag(notify::event::Flag::Rescan);
        assert!(filter.apply(Ok(lost), &mut pending));
        assert!(matches!(pending, Pending::Whole), "lost events make the next scan whole");
        assert!(filter.apply(event(modify, &[Path::new("/repo/src/d.rs")]), &mut pending));
        assert!(matches!(pending, Pending::Whole));
    }
}
