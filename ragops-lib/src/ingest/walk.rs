//! Walking the repository: gitignore-aware (also outside git, and `.ragopsignore`), hidden
//! files and the index directory left out, and files that cannot be indexed skipped with a
//! counted reason.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use ignore::WalkBuilder;
use ignore::overrides::OverrideBuilder;
use serde::Serialize;

use crate::error::{ConfigError, Error};

/// Why a file inside the tree was not indexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// NUL bytes in its first 8 KiB.
    Binary,
    /// Larger than `scan.max_file_size`.
    Oversized,
    /// Not valid UTF-8.
    InvalidUtf8,
    /// Could not be read (permissions, vanished).
    Unreadable,
    /// Inside a vendored directory.
    Vendored,
}

impl SkipReason {
    /// The reason's name, as in JSON output.
    pub fn as_str(&self) -> &'static str {
        match self {
            SkipReason::Binary => "binary",
            SkipReason::Oversized => "oversized",
            SkipReason::InvalidUtf8 => "invalid_utf8",
            SkipReason::Unreadable => "unreadable",
            SkipReason::Vendored => "vendored",
        }
    }
}

/// What to walk and what to leave out.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WalkOptions {
    /// Larger files are skipped as oversized.
    pub max_file_size: u64,
    /// Extra gitignore-style exclusions.
    pub exclude: Vec<String>,
    /// Directory names whose contents are vendored.
    pub vendored_dirs: Vec<String>,
    /// The index directory, never walked.
    pub index_dir: Option<PathBuf>,
    /// Only these files, or directories' contents (relative, `/`-separated), when set: the
    /// walk reads only the directories on their way, so its cost is theirs, not the tree's;
    /// the same ignore rules apply.
    pub only: Option<std::sync::Arc<std::collections::HashSet<String>>>,
}

impl WalkOptions {
    /// Options from the scan config.
    pub fn new(scan: &crate::config::ScanConfig, index_dir: Option<PathBuf>) -> Self {
        WalkOptions {
            max_file_size: scan.max_file_size,
            exclude: scan.exclude.clone(),
            vendored_dirs: scan.vendored_dirs.clone(),
            index_dir,
            only: None,
        }
    }

    /// Walks only these files (see [`WalkOptions::only`]).
    pub fn with_only(mut self, only: Option<std::sync::Arc<std::collections::HashSet<String>>>) -> Self {
        self.only = only;
        self
    }
}

/// A file the walk found that may be indexed.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Absolute path.
    pub abs: PathBuf,
    /// Path relative to the root, `/`-separated.
    pub rel: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time in ns since the epoch (0 when unknown). For files read from git,
    /// a stand-in derived from the blob id, so that "same size and mtime" means "same blob".
    pub mtime_ns: u64,
    /// The content, when it does not come from the file system (e.g. a git blob).
    pub data: Option<Vec<u8>>,
}

/// The files found, sorted by path, and those skipped before reading.
#[derive(Debug, Default)]
pub struct WalkResult {
    /// Files to read.
    pub files: Vec<Candidate>,
    /// Files skipped, with their reasons.
    pub skipped: Vec<(String, SkipReason)>,
}

/// Walks `root`.
///
/// # Errors
/// An invalid exclusion pattern.
pub fn walk(root: &Path, options: &WalkOptions) -> Result<WalkResult, Error> {
    let overrides = exclude_overrides(root, &options.exclude)?;
    let index_dir = options.index_dir.as_ref().and_then(|d| d.canonicalize().ok());
    let mut builder = WalkBuilder::new(root);
    builder
        .hidden(true)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(true)
        .require_git(false)
        .ignore(true)
        .parents(true)
        .follow_links(false)
        .overrides(overrides)
        .add_custom_ignore_filename(".ragopsignore");
    // Only a directory of the same name can be the index directory: nothing else is resolved
    // (a syscall per path component each).
    let index_name = index_dir.as_ref().and_then(|d| d.file_name()).map(|n| n.to_os_string());
    // With a list of paths: the directories on their way, and everything at or under them.
    let only = options.only.clone().map(|paths| {
        let dirs: std::collections::HashSet<String> =
            paths.iter().flat_map(|f| f.match_indices('/').map(|(i, _)| f[..i].to_string())).collect();
        (paths, dirs)
    });
    let filter_root = root.to_path_buf();
    if index_dir.is_some() || only.is_some() {
        builder.filter_entry(move |e| {
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            if let Some((paths, dirs)) = &only
                && e.depth() > 0
            {
                let rel = relative(&filter_root, e.path());
                if !(covers(paths, &rel) || is_dir && dirs.contains(&rel)) {
                    return false;
                }
            }
            !is_dir
                || index_name.as_deref() != Some(e.file_name())
                || index_dir.as_ref().is_none_or(|d| e.path().canonicalize().map_or(true, |p| p != *d))
        });
    }
    // Walked on every core (a re-scan of a large tree is mostly this walk's `stat`s); the
    // outcomes are logged here, in the scan's span, not on the walker's threads.
    let (tx, rx) = std::sync::mpsc::channel::<Outcome>();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    builder.threads(threads).build_parallel().run(|| {
        let tx = tx.clone();
        let mut stat = DirStat::default();
        Box::new(move |entry| {
            if let Some(outcome) = visit(root, options, entry, &mut stat) {
                let _ = tx.send(outcome);
            }
            ignore::WalkState::Continue
        })
    });
    drop(tx);
    let mut result = WalkResult::default();
    let mut vendored: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for outcome in rx {
        match outcome {
            Outcome::File(c) => result.files.push(c),
            Outcome::Vendored(dir, rel) => {
                *vendored.entry(dir).or_insert(0usize) += 1;
                result.skipped.push((rel, SkipReason::Vendored));
            }
            Outcome::Skipped(rel, reason, why) => {
                tracing::info!(event = "scan.skip", path = %rel, reason = reason.as_str(), "skipping {rel}: {why}");
                result.skipped.push((rel, reason));
            }
        }
    }
    for (dir, n) in vendored {
        tracing::info!(event = "scan.skip", path = %dir, reason = "vendored", files = n, "skipping {n} files under {dir}/: vendored");
    }
    result.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    result.skipped.sort();
    Ok(result)
}

/// What the walk makes of one entry.
enum Outcome {
    File(Candidate),
    /// The vendored directory, and the file's path.
    Vendored(String, String),
    /// The path, the reason, and what to tell the user.
    Skipped(String, SkipReason, String),
}

fn visit(
    root: &Path,
    options: &WalkOptions,
    entry: Result<ignore::DirEntry, ignore::Error>,
    stat: &mut DirStat,
) -> Option<Outcome> {
    let entry = match entry {
        Ok(e) => e,
        Err(err) => {
            let path = error_path(&err).map(|p| relative(root, &p)).unwrap_or_default();
            return Some(Outcome::Skipped(path, SkipReason::Unreadable, err.to_string()));
        }
    };
    if !entry.file_type().is_some_and(|t| t.is_file()) {
        return None;
    }
    let rel = relative(root, entry.path());
    if let Some(dir) = vendored_dir(&rel, &options.vendored_dirs) {
        return Some(Outcome::Vendored(dir, rel));
    }
    let (size, mtime_ns) = match stat.size_and_mtime(entry.path()) {
        Ok(m) => m,
        Err(err) => return Some(Outcome::Skipped(rel, SkipReason::Unreadable, err.to_string())),
    };
    if size > options.max_file_size {
        let why = format!("oversized ({size} bytes > {})", options.max_file_size);
        return Some(Outcome::Skipped(rel, SkipReason::Oversized, why));
    }
    Some(Outcome::File(Candidate { abs: entry.into_path(), rel, size, mtime_ns, data: None }))
}

/// `stat`s the walk's files (without following links) relative to their directory, which
/// stays open while the walk's thread is in it: the kernel resolves one path component per
/// file rather than the whole path (most of an unchanged re-scan is these `stat`s).
#[derive(Default)]
struct DirStat {
    #[cfg(unix)]
    dir: Option<(PathBuf, std::os::fd::OwnedFd)>,
}

impl DirStat {
    /// Size in bytes and modification time in ns since the epoch (0 when unknown or earlier).
    #[cfg(unix)]
    fn size_and_mtime(&mut self, path: &Path) -> std::io::Result<(u64, u64)> {
        use rustix::fs::{AtFlags, Mode, OFlags};
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return metadata_size_and_mtime(path);
        };
        if self.dir.as_ref().is_none_or(|(d, _)| d != parent) {
            let fd = rustix::fs::open(parent, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
            self.dir = Some((parent.to_path_buf(), fd));
        }
        let Some((_, fd)) = &self.dir else { return metadata_size_and_mtime(path) };
        let st = rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let mtime_ns = u64::try_from(st.st_mtime)
            .ok()
            .map_or(0, |secs| secs.saturating_mul(1_000_000_000).saturating_add(st.st_mtime_nsec as u64));
        Ok((st.st_size as u64, mtime_ns))
    }

    /// Size in bytes and modification time in ns since the epoch (0 when unknown or earlier).
    #[cfg(not(unix))]
    fn size_and_mtime(&mut self, path: &Path) -> std::io::Result<(u64, u64)> {
        metadata_size_and_mtime(path)
    }
}

fn metadata_size_and_mtime(path: &Path) -> std::io::Result<(u64, u64)> {
    let meta = fs::symlink_metadata(path)?;
    let mtime_ns =
        meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64);
    Ok((meta.len(), mtime_ns))
}

/// The `scan.exclude` patterns as ignore overrides rooted at `root`.
pub(crate) fn exclude_overrides(root: &Path, patterns: &[String]) -> Result<ignore::overrides::Override, Error> {
    let invalid = |message: String| {
        Error::Config(ConfigError::Invalid { key: "scan.exclude".into(), origin: String::new(), message })
    };
    let mut overrides = OverrideBuilder::new(root);
    for pattern in patterns {
        overrides.add(&format!("!{pattern}")).map_err(|e| invalid(format!("bad pattern `{pattern}`: {e}")))?;
    }
    overrides.build().map_err(|e| invalid(e.to_string()))
}

/// Reads a candidate's text, or says why it cannot be indexed.
pub fn read_source(path: &Path) -> Result<String, SkipReason> {
    decode_source(fs::read(path).map_err(|_| SkipReason::Unreadable)?)
}

/// Checks that bytes are indexable text: no NUL in the first 8 KiB, valid UTF-8.
pub fn decode_source(bytes: Vec<u8>) -> Result<String, SkipReason> {
    check_source(&bytes)?;
    String::from_utf8(bytes).map_err(|_| SkipReason::InvalidUtf8)
}

/// [`decode_source`] without taking the bytes.
pub fn check_source(bytes: &[u8]) -> Result<&str, SkipReason> {
    if looks_binary(bytes) {
        return Err(SkipReason::Binary);
    }
    std::str::from_utf8(bytes).map_err(|_| SkipReason::InvalidUtf8)
}

/// How many bytes from a file's start decide whether it is binary.
pub(crate) const BINARY_SNIFF_BYTES: usize = 8192;

/// Whether a file starting with `bytes` is binary: a NUL byte among its first
/// [`BINARY_SNIFF_BYTES`] (as git decides).
pub(crate) fn looks_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0)
}

/// The vendored directory (path up to and including the first vendored component) holding
/// `rel`, if any.
pub(crate) fn vendored_dir(rel: &str, dirs: &[String]) -> Option<String> {
    let components: Vec<&str> = rel.split('/').collect();
    let (_, parents) = components.split_last()?;
    let i = parents.iter().position(|c| dirs.iter().any(|d| d == c))?;
    Some(parents[..=i].join("/"))
}

/// Whether `rel` is one of `paths` or inside one of them.
pub(crate) fn covers(paths: &std::collections::HashSet<String>, rel: &str) -> bool {
    paths.contains(rel) || rel.match_indices('/').any(|(i, _)| paths.contains(&rel[..i]))
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    if std::path::MAIN_SEPARATOR == '/' {
        return rel.to_string_lossy().into_owned();
    }
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn error_path(err: &ignore::Error) -> Option<PathBuf> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => error_path(err),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> WalkOptions {
        WalkOptions::new(&crate::config::ScanConfig::default(), None)
    }

    fn paths(r: &WalkResult) -> Vec<&str> {
        r.files.iter().map(|c| c.rel.as_str()).collect()
    }

    #[test]
    fn honours_gitignore_outside_git_and_ragopsignore() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("src")).unwrap();
        fs::write(root.join(".gitignore"), "*.log\n").unwrap();
        fs::write(root.join(".ragopsignore"), "secret.txt\n").unwrap();
        fs::write(root.join("src/a.rs"), "fn a() {}").unwrap();
        fs::write(root.join("debug.log"), "x").unwrap();
        fs::write(root.join("secret.txt"), "x").unwrap();
        fs::write(root.join(".hidden"), "x").unwrap();
        let r = walk(root, &options()).unwrap();
        assert_eq!(paths(&r), ["src/a.rs"]);
    }

    #[test]
    fn skips_vendored_and_oversized_and_index_dir() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("vendor/lib")).unwrap();
        fs::create_dir_all(root.join("idx")).unwrap();
        fs::write(root.join("vendor/lib/x.go"), "package x").unwrap();
        fs::write(root.join("big.txt"), "x".repeat(100)).unwrap();
        fs::write(root.join("idx/data"), "x").unwrap();
        fs::write(root.join("ok.txt"), "x").unwrap();
        let mut o = options();
        o.max_file_size = 50;
        o.index_dir = Some(root.join("idx"));
        let r = walk(root, &o).unwrap();
        assert_eq!(paths(&r), ["ok.txt"]);
        assert_eq!(
            r.skipped,
            [("big.txt".to_string(), SkipReason::Oversized), ("vendor/lib/x.go".to_string(), SkipReason::Vendored)]
        );
    }

    #[test]
    fn sizes_and_mtimes_are_those_the_file_system_reports() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        for (i, p) in ["top.rs", "a/one.rs", "a/b/two.rs", "a/b/three.rs"].iter().enumerate() {
            fs::write(root.join(p), "x".repeat(i * 7 + 1)).unwrap();
        }
        let r = walk(root, &options()).unwrap();
        assert_eq!(r.files.len(), 4);
        for c in &r.files {
            assert_eq!((c.size, c.mtime_ns), metadata_size_and_mtime(&c.abs).unwrap(), "{}", c.rel);
            assert!(c.mtime_ns > 0);
        }
        // A file that vanished between listing and stat is unreadable, not an error.
        let mut stat = DirStat::default();
        assert!(stat.size_and_mtime(&root.join("a/b/gone.rs")).is_err());
        assert_eq!(stat.size_and_mtime(&root.join("a/b/two.rs")).unwrap().0, 15);
    }

    #[test]
    fn excludes_patterns() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.md"), "x").unwrap();
        fs::write(dir.path().join("b.rs"), "x").unwrap();
        let mut o = options();
        o.exclude = vec!["*.md".into()];
        assert_eq!(paths(&walk(dir.path(), &o).unwrap()), ["b.rs"]);
    }

    #[test]
    fn classifies_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, b"ab\0cd").unwrap();
        assert_eq!(read_source(&p), Err(SkipReason::Binary));
        fs::write(&p, [0xff, 0xfe, b'a']).unwrap();
        assert_eq!(read_source(&p), Err(SkipReason::InvalidUtf8));
        fs::write(&p, "héllo").unwrap();
        assert_eq!(read_source(&p).unwrap(), "héllo");
        assert_eq!(read_source(&dir.path().join("missing")), Err(SkipReason::Unreadable));
    }
}
