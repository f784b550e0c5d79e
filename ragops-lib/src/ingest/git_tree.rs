//! Reading a tree straight from a git repository's object database (no checkout): the corpus
//! of `ragops eval` (a parent commit's tree, a pinned revision).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::walk::{Candidate, SkipReason, WalkOptions, WalkResult, exclude_overrides, vendored_dir};
use crate::error::{ConfigError, Error, IngestError};
use crate::model::FileRecord;

/// Where a git corpus comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GitTree {
    /// The repository (work tree or bare).
    pub repo: std::path::PathBuf,
    /// A revision (`HEAD`, a sha, a branch).
    pub rev: String,
    /// Only this subdirectory (paths stay relative to the repository root).
    pub subdir: Option<String>,
}

impl GitTree {
    /// A tree at `rev` of `repo`.
    pub fn new(repo: impl Into<std::path::PathBuf>, rev: impl Into<String>, subdir: Option<String>) -> Self {
        GitTree { repo: repo.into(), rev: rev.into(), subdir: subdir.map(|s| s.trim_matches('/').to_string()) }
    }
}

/// Opens a repository (bare or not) with a clear error.
pub fn open_repo(path: &Path) -> Result<git2::Repository, Error> {
    git2::Repository::open(path).map_err(|e| {
        Error::Config(ConfigError::Path {
            path: path.to_path_buf(),
            message: format!("not a git repository ({})", e.message()),
        })
    })
}

/// Resolves a revision to a commit, with a clear error naming it.
pub fn resolve_commit<'r>(repo: &'r git2::Repository, rev: &str) -> Result<git2::Commit<'r>, Error> {
    repo.revparse_single(rev).and_then(|o| o.peel_to_commit()).map_err(|_| {
        Error::Ingest(IngestError::Git(format!(
            "revision `{rev}` not found in {} (run `git fetch`, or check the name)",
            repo.path().display()
        )))
    })
}

/// Lists the files of the tree like a walk of a checkout would: hidden paths, vendored
/// directories, exclusions and oversized blobs are left out (counted), symlinks and submodules
/// ignored. Files whose blob matches `known` (same size and blob-derived mtime) are listed
/// without their content; the others carry it.
pub fn list(tree: &GitTree, options: &WalkOptions, known: &HashMap<String, FileRecord>) -> Result<WalkResult, Error> {
    let repo = open_repo(&tree.repo)?;
    let commit = resolve_commit(&repo, &tree.rev)?;
    let mut root = commit.tree().map_err(git_err)?;
    let prefix = match tree.subdir.as_deref().filter(|s| !s.is_empty()) {
        Some(sub) => {
            let entry = root.get_path(Path::new(sub)).map_err(|_| {
                Error::Config(ConfigError::Path {
                    path: sub.into(),
                    message: format!("no such directory in {} at {}", tree.repo.display(), tree.rev),
                })
            })?;
            root = entry.to_object(&repo).and_then(|o| o.peel_to_tree()).map_err(git_err)?;
            format!("{sub}/")
        }
        None => String::new(),
    };
    let overrides = exclude_overrides(Path::new("/"), &options.exclude)?;
    let odb = repo.odb().map_err(git_err)?;
    let mut blobs: Vec<(String, git2::Oid)> = Vec::new();
    root.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        let name = entry.name().unwrap_or_default();
        if name.starts_with('.') {
            return git2::TreeWalkResult::Skip;
        }
        if entry.kind() == Some(git2::ObjectType::Blob) && entry.filemode() != 0o120000 {
            blobs.push((format!("{prefix}{dir}{name}"), entry.id()));
        }
        git2::TreeWalkResult::Ok
    })
    .map_err(git_err)?;
    let mut result = WalkResult::default();
    let mut vendored: BTreeMap<String, usize> = BTreeMap::new();
    for (rel, oid) in blobs {
        if !options.exclude.is_empty() && overrides.matched(&rel, false).is_ignore() {
            continue;
        }
        if let Some(dir) = vendored_dir(&rel, &options.vendored_dirs) {
            *vendored.entry(dir).or_default() += 1;
            result.skipped.push((rel, SkipReason::Vendored));
            continue;
        }
        let size = match odb.read_header(oid) {
            Ok((size, _)) => size as u64,
            Err(_) => {
                result.skipped.push((rel, SkipReason::Unreadable));
                continue;
            }
        };
        if size > options.max_file_size {
            result.skipped.push((rel, SkipReason::Oversized));
            continue;
        }
        // Never 0: 0 means "unknown" and disables the unchanged fast path.
        let mtime_ns = u64::from_le_bytes(oid.as_bytes()[..8].try_into().unwrap_or([1; 8])) | 1;
        let unchanged = known.get(&rel).is_some_and(|r| r.size == size && r.mtime_ns == mtime_ns);
        let data = if unchanged {
            None
        } else {
            match repo.find_blob(oid) {
                Ok(blob) => Some(blob.content().to_vec()),
                Err(_) => {
                    result.skipped.push((rel, SkipReason::Unreadable));
                    continue;
                }
            }
        };
        result.files.push(Candidate { abs: tree.repo.join(&rel), rel, size, mtime_ns, data });
    }
    for (dir, n) in vendored {
        tracing::debug!(event = "scan.skip", path = %dir, reason = "vendored", files = n, "skipping {n} files under {dir}/");
    }
    result.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    result.skipped.sort();
    Ok(result)
}

fn git_err(e: git2::Error) -> Error {
    Error::Ingest(IngestError::Git(e.message().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit_files(dir: &Path, files: &[(&str, &str)]) -> String {
        let repo = git2::Repository::open(dir).unwrap_or_else(|_| git2::Repository::init(dir).unwrap());
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let mut index = repo.index().unwrap();
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let parents: Vec<git2::Commit> = repo.head().ok().and_then(|h| h.peel_to_commit().ok()).into_iter().collect();
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, "c", &tree, &parents).unwrap().to_string()
    }

    #[test]
    fn lists_a_subtree_with_contents_and_skips() {
        let dir = tempfile::tempdir().unwrap();
        let first = commit_files(
            dir.path(),
            &[("src/a.rs", "fn a() {}"), ("src/vendor/v.rs", "x"), ("src/.hidden", "x"), ("docs/x.md", "# x")],
        );
        let tree = GitTree::new(dir.path(), first.clone(), Some("src".into()));
        let r = list(&tree, &WalkOptions::new(&crate::config::ScanConfig::default(), None), &HashMap::new()).unwrap();
        let paths: Vec<&str> = r.files.iter().map(|c| c.rel.as_str()).collect();
        assert_eq!(paths, ["src/a.rs"]);
        assert_eq!(r.files[0].data.as_deref(), Some(b"fn a() {}".as_slice()));
        assert_eq!(r.skipped, [("src/vendor/v.rs".to_string(), SkipReason::Vendored)]);
        // Same blob as a known record: listed without content.
        let c = &r.files[0];
        let known = HashMap::from([(
            c.rel.clone(),
            FileRecord::new(c.rel.clone(), c.size, c.mtime_ns, crate::model::ContentHash::of(b"fn a() {}"), 1),
        )]);
        let again = list(&tree, &WalkOptions::new(&crate::config::ScanConfig::default(), None), &known).unwrap();
        assert!(again.files[0].data.is_none());
    }

    #[test]
    fn missing_revision_and_subdir_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        commit_files(dir.path(), &[("a.rs", "fn a() {}")]);
        let opts = WalkOptions::new(&crate::config::ScanConfig::default(), None);
        let err = list(&GitTree::new(dir.path(), "nope", None), &opts, &HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("revision `nope` not found"), "{err}");
        assert!(err.to_string().contains("git fetch"), "{err}");
        let err = list(&GitTree::new(dir.path(), "HEAD", Some("missing".into())), &opts, &HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("no such directory"), "{err}");
    }
}
