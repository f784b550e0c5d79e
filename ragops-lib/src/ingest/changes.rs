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
    let repo = open(root, "--base-ref")?;
    let base = base_tree(&repo, root, base_ref)?;
    let diff = workdir_diff(&repo, Some(&base), false)?;
    let mut out: Vec<FileChange> = diff.deltas().filter_map(|d| change_of(&d)).collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Which changes to describe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeSpec {
    /// Uncommitted changes (staged, unstaged, untracked-not-ignored) against HEAD when there
    /// are any, else the last commit (against its parent, or everything for a root commit).
    #[default]
    Auto,
    /// From this ref's tree to the working tree (as `scan --base-ref`).
    Since(String),
}

/// Which range a [`ChangeSet`] covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChangeRange {
    /// `uncommitted`, `last_commit` or `since_ref`.
    pub kind: &'static str,
    /// The range in words, e.g. `uncommitted changes against HEAD (1a2b3c4)`.
    pub description: String,
    /// The ref asked for (`since_ref`).
    pub base_ref: Option<String>,
    /// The commit compared from, if any.
    pub base_commit: Option<String>,
    /// The commit compared to (`last_commit`); `None` means the working tree.
    pub head_commit: Option<String>,
}

/// One changed file with its changed lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FileDiff {
    /// The file and how it changed.
    #[serde(flatten)]
    pub change: FileChange,
    /// Added or modified lines on the new side, merged into ranges.
    pub changed_lines: Vec<crate::model::LineRange>,
    /// Lines added.
    pub added: u32,
    /// Lines removed.
    pub removed: u32,
    /// Whether git sees the file as binary (no lines).
    pub binary: bool,
    /// The new content (not for deleted or binary files, nor for invalid UTF-8).
    #[serde(skip)]
    pub new_text: Option<String>,
}

/// The changed files of a range, with their changed lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChangeSet {
    /// The range used.
    pub range: ChangeRange,
    /// The files, by path.
    pub files: Vec<FileDiff>,
}

/// The changes `spec` names in the repository at `root`, with changed line ranges.
///
/// # Errors
/// Not a git repository; a ref that does not exist; a git failure.
pub fn change_set(root: &Path, spec: &ChangeSpec) -> Result<ChangeSet, Error> {
    let repo = open(root, "answering what changed")?;
    let git = |e: git2::Error| Error::Ingest(IngestError::Git(e.message().to_string()));
    let short = |id: git2::Oid| id.to_string()[..7].to_string();
    let head = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let (range, diff, from_workdir) = match spec {
        ChangeSpec::Since(base_ref) => {
            let base = base_tree(&repo, root, base_ref)?;
            let commit = repo.revparse_single(base_ref).ok().and_then(|o| o.peel_to_commit().ok()).map(|c| c.id());
            let description = match commit {
                Some(id) => format!("changes since {base_ref} ({}) in the working tree", short(id)),
                None => format!("changes since {base_ref} in the working tree"),
            };
            let range = ChangeRange {
                kind: "since_ref",
                description,
                base_ref: Some(base_ref.clone()),
                base_commit: commit.map(|id| id.to_string()),
                head_commit: None,
            };
            (range, workdir_diff(&repo, Some(&base), true)?, true)
        }
        ChangeSpec::Auto => {
            let head_tree = head.as_ref().map(|c| c.tree()).transpose().map_err(git)?;
            let uncommitted = workdir_diff(&repo, head_tree.as_ref(), true)?;
            match &head {
                None => {
                    let range = ChangeRange {
                        kind: "uncommitted",
                        description: "uncommitted changes (the repository has no commit yet)".into(),
                        base_ref: None,
                        base_commit: None,
                        head_commit: None,
                    };
                    (range, uncommitted, true)
                }
                Some(h) if uncommitted.deltas().len() > 0 => {
                    let range = ChangeRange {
                        kind: "uncommitted",
                        description: format!("uncommitted changes against HEAD ({})", short(h.id())),
                        base_ref: Some("HEAD".into()),
                        base_commit: Some(h.id().to_string()),
                        head_commit: None,
                    };
                    (range, uncommitted, true)
                }
                Some(h) => {
                    let parent = h.parents().next();
                    let parent_tree = parent.as_ref().map(|p| p.tree()).transpose().map_err(git)?;
                    let description = match &parent {
                        Some(p) => {
                            format!("the last commit: {}..{} (no uncommitted changes)", short(p.id()), short(h.id()))
                        }
                        None => format!("the last commit {} (the root commit; no uncommitted changes)", short(h.id())),
                    };
                    let range = ChangeRange {
                        kind: "last_commit",
                        description,
                        base_ref: Some(if parent.is_some() { "HEAD~1".into() } else { "(empty tree)".into() }),
                        base_commit: parent.as_ref().map(|p| p.id().to_string()),
                        head_commit: Some(h.id().to_string()),
                    };
                    let mut opts = diff_options(true);
                    let mut diff = repo
                        .diff_tree_to_tree(parent_tree.as_ref(), head_tree.as_ref(), Some(&mut opts))
                        .map_err(git)?;
                    let mut find = git2::DiffFindOptions::new();
                    find.renames(true);
                    diff.find_similar(Some(&mut find)).map_err(git)?;
                    (range, diff, false)
                }
            }
        }
    };
    let mut files = Vec::new();
    for (i, delta) in diff.deltas().enumerate() {
        let Some(change) = change_of(&delta) else { continue };
        let mut file = FileDiff {
            change,
            changed_lines: Vec::new(),
            added: 0,
            removed: 0,
            binary: delta.flags().is_binary(),
            new_text: None,
        };
        if let Ok(Some(patch)) = git2::Patch::from_diff(&diff, i) {
            file.binary |= patch.delta().flags().is_binary();
            let mut lines: Vec<u32> = Vec::new();
            for h in 0..patch.num_hunks() {
                for l in 0..patch.num_lines_in_hunk(h).unwrap_or(0) {
                    let Ok(line) = patch.line_in_hunk(h, l) else { continue };
                    match line.origin() {
                        '+' => {
                            file.added += 1;
                            lines.extend(line.new_lineno());
                        }
                        '-' => file.removed += 1,
                        _ => {}
                    }
                }
            }
            file.changed_lines = merge_lines(lines);
        }
        if file.change.status != ChangeStatus::Deleted && !file.binary {
            file.new_text = if from_workdir {
                std::fs::read(root.join(&file.change.path)).ok().and_then(|b| String::from_utf8(b).ok())
            } else {
                repo.find_blob(delta.new_file().id()).ok().and_then(|b| String::from_utf8(b.content().to_vec()).ok())
            };
        }
        files.push(file);
    }
    files.sort_by(|a, b| a.change.path.cmp(&b.change.path));
    Ok(ChangeSet { range, files })
}

/// Consecutive line numbers as ranges.
fn merge_lines(mut lines: Vec<u32>) -> Vec<crate::model::LineRange> {
    lines.sort_unstable();
    lines.dedup();
    let mut out: Vec<crate::model::LineRange> = Vec::new();
    for n in lines {
        match out.last_mut() {
            Some(r) if r.end + 1 == n => r.end = n,
            _ => out.push(crate::model::LineRange::new(n, n)),
        }
    }
    out
}

fn open(root: &Path, what: &str) -> Result<git2::Repository, Error> {
    git2::Repository::open(root).map_err(|_| {
        Error::Config(ConfigError::Path {
            path: root.to_path_buf(),
            message: format!("{what} needs a git repository (this directory is not a git work tree)"),
        })
    })
}

fn base_tree<'r>(repo: &'r git2::Repository, root: &Path, base_ref: &str) -> Result<git2::Tree<'r>, Error> {
    repo.revparse_single(base_ref).and_then(|o| o.peel_to_tree()).map_err(|_| {
        let hint = if repo.is_shallow() {
            format!("this is a shallow clone that lacks it: fetch it, e.g. `git fetch --deepen=100 origin {base_ref}` or `git fetch --unshallow`")
        } else {
            format!("run `git fetch origin {base_ref}` or check the name")
        };
        Error::Ingest(IngestError::Git(format!("base ref `{base_ref}` not found in {}: {hint}", root.display())))
    })
}

fn diff_options(lines: bool) -> git2::DiffOptions {
    let mut opts = git2::DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_typechange(true);
    if lines {
        opts.show_untracked_content(true).context_lines(0);
    }
    opts
}

/// The base tree (none: the empty tree) against the working tree with the index, untracked
/// files included, renames detected.
fn workdir_diff<'r>(
    repo: &'r git2::Repository,
    base: Option<&git2::Tree<'r>>,
    lines: bool,
) -> Result<git2::Diff<'r>, Error> {
    let git = |e: git2::Error| Error::Ingest(IngestError::Git(e.message().to_string()));
    let mut opts = diff_options(lines);
    let mut diff = repo.diff_tree_to_workdir_with_index(base, Some(&mut opts)).map_err(git)?;
    let mut find = git2::DiffFindOptions::new();
    find.renames(true).for_untracked(true);
    diff.find_similar(Some(&mut find)).map_err(git)?;
    Ok(diff)
}

fn change_of(delta: &git2::DiffDelta<'_>) -> Option<FileChange> {
    let path_of = |f: git2::DiffFile<'_>| f.path().map(|p| p.to_string_lossy().replace('\\', "/"));
    let (status, path, old_path) = match delta.status() {
        git2::Delta::Added | git2::Delta::Untracked | git2::Delta::Copied => {
            (ChangeStatus::Added, path_of(delta.new_file()), None)
        }
        git2::Delta::Modified | git2::Delta::Typechange => (ChangeStatus::Modified, path_of(delta.new_file()), None),
        git2::Delta::Deleted => (ChangeStatus::Deleted, path_of(delta.old_file()), None),
        git2::Delta::Renamed => (ChangeStatus::Renamed, path_of(delta.new_file()), path_of(delta.old_file())),
        _ => return None,
    };
    Some(FileChange { path: path?, status, old_path, chunks: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit_all(repo: &git2::Repository, message: &str) {
        let mut index = repo.index().unwrap();
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).unwrap();
    }

    #[test]
    fn auto_prefers_uncommitted_then_last_commit() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("a.txt"), "1\n2\n3\n4\n").unwrap();
        std::fs::write(dir.path().join("gone.txt"), "x\n").unwrap();
        commit_all(&repo, "one");
        let root_commit = change_set(dir.path(), &ChangeSpec::Auto).unwrap();
        assert_eq!(root_commit.range.kind, "last_commit");
        assert_eq!(root_commit.files.len(), 2);
        std::fs::write(dir.path().join("a.txt"), "1\nTWO\n3\n4\nfive\n").unwrap();
        std::fs::remove_file(dir.path().join("gone.txt")).unwrap();
        commit_all(&repo, "two");
        let last = change_set(dir.path(), &ChangeSpec::Auto).unwrap();
        assert_eq!(last.range.kind, "last_commit");
        assert!(last.range.description.contains(".."), "{}", last.range.description);
        let a = &last.files[0];
        assert_eq!(a.change.path, "a.txt");
        assert_eq!(a.changed_lines, [crate::model::LineRange::new(2, 2), crate::model::LineRange::new(5, 5)]);
        assert_eq!((a.added, a.removed), (2, 1));
        assert_eq!(a.new_text.as_deref(), Some("1\nTWO\n3\n4\nfive\n"));
        assert_eq!(last.files[1].change.status, ChangeStatus::Deleted);
        std::fs::write(dir.path().join("new.txt"), "n1\nn2\n").unwrap();
        let now = change_set(dir.path(), &ChangeSpec::Auto).unwrap();
        assert_eq!(now.range.kind, "uncommitted");
        assert_eq!(now.files.len(), 1);
        assert_eq!(now.files[0].change.status, ChangeStatus::Added);
        assert_eq!(now.files[0].changed_lines, [crate::model::LineRange::new(1, 2)]);
        let since = change_set(dir.path(), &ChangeSpec::Since("HEAD~1".into())).unwrap();
        assert_eq!(since.range.kind, "since_ref");
        assert_eq!(since.files.len(), 3);
        let err = change_set(dir.path(), &ChangeSpec::Since("nope".into())).unwrap_err().to_string();
        assert!(err.contains("`nope` not found"), "{err}");
    }

    #[test]
    fn outside_git_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = change_set(dir.path(), &ChangeSpec::Auto).unwrap_err();
        assert!(err.is_usage());
        assert!(err.to_string().contains("not a git work tree"), "{err}");
    }
}
