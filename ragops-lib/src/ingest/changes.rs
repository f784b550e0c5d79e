//! What changed between a git ref and the working tree (committed, staged, unstaged and
//! untracked-but-not-ignored): the work list of `ragops scan --incremental --base-ref REF` and
//! the `changes` of its summary (SPEC contract 4).

use std::path::Path;

use serde::Serialize;

use crate::error::{ConfigError, Error, IngestError};

/// How a file changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeStatus {
    /// New (committed since REF, staged, or untracked).
    Added,
    /// Content changed.
    Modified,
    /// Gone.
    Deleted,
    /// Moved (`old_path` says from where).
    Renamed,
}

/// One changed file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FileChange {
    /// Path relative to the repository root (the new path of a rename).
    pub path: String,
    /// How it changed.
    pub status: ChangeStatus,
    /// The path before a rename.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// Chunks the file has in the index after the scan (0 for deleted or skipped files).
    pub chunks: u32,
}

/// The files that differ between `base_ref` and the working tree of the repository at `root`.
///
/// # Errors
/// Not a git repository; `base_ref` not found (with a hint to fetch it, or to deepen a shallow
/// clone); a git failure.
pub fn changes_against(root: &Path, base_ref: &str) -> Result<Vec<FileChange>, Error> {
    let repo = git2::Repository::open(root).map_err(|_| {
        Error::Config(ConfigError::Path {
            path: root.to_path_buf(),
            message: "--base-ref needs a git repository (this directory is not a git work tree)".into(),
        })
    })?;
    let git = |e: git2::Error| Error::Ingest(IngestError::Git(e.message().to_string()));
    let base = repo.revparse_single(base_ref).and_then(|o| o.peel_to_tree()).map_err(|_| {
        let hint = if repo.is_shallow() {
            format!("this is a shallow clone that lacks it: fetch it, e.g. `git fetch --deepen=100 origin {base_ref}` or `git fetch --unshallow`")
        } else {
            format!("run `git fetch origin {base_ref}` or check the name")
        };
        Error::Ingest(IngestError::Git(format!("base ref `{base_ref}` not found in {}: {hint}", root.display())))
    })?;
    let mut opts = git2::DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_typechange(true);
    let mut diff = repo.diff_tree_to_workdir_with_index(Some(&base), Some(&mut opts)).map_err(git)?;
    let mut find = git2::DiffFindOptions::new();
    find.renames(true).for_untracked(true);
    diff.find_similar(Some(&mut find)).map_err(git)?;
    let path_of = |f: git2::DiffFile<'_>| f.path().map(|p| p.to_string_lossy().replace('\\', "/"));
    let mut out = Vec::new();
    for delta in diff.deltas() {
        let (status, path, old_path) = match delta.status() {
            git2::Delta::Added | git2::Delta::Untracked | git2::Delta::Copied => {
                (ChangeStatus::Added, path_of(delta.new_file()), None)
            }
            git2::Delta::Modified | git2::Delta::Typechange => {
                (ChangeStatus::Modified, path_of(delta.new_file()), None)
            }
            git2::Delta::Deleted => (ChangeStatus::Deleted, path_of(delta.old_file()), None),
            git2::Delta::Renamed => (ChangeStatus::Renamed, path_of(delta.new_file()), path_of(delta.old_file())),
            _ => continue,
        };
        if let Some(path) = path {
            out.push(FileChange { path, status, old_path, chunks: 0 });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}
