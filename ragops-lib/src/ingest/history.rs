//! History-aware retrieval: each file's own past commit messages become a searchable field.
//!
//! A "where would this change go?" question is often answered by the file whose earlier
//! commits talked about the same thing. [`commit_log`] reads the history once (the paths each
//! non-merge commit changed, with its subject); [`file_histories`] turns it into one text per
//! file, using only commits strictly older than a given time — `ragops eval` passes the item's
//! parent commit time, so an item's own message (or anything after it) never leaks in.

use std::collections::HashMap;

use crate::error::{Error, IngestError};

/// One commit: when, what it said, which paths it changed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitTouch {
    /// Committer time, seconds since the epoch.
    pub time: i64,
    /// The commit id.
    pub id: String,
    /// The message's first line.
    pub subject: String,
    /// Paths added, modified or deleted (relative to the repository root).
    pub paths: Vec<String>,
}

/// Subjects kept per file.
pub const DEFAULT_PER_FILE: usize = 20;
/// Commits read at most.
pub const DEFAULT_MAX_COMMITS: usize = 20_000;
/// Commits changing more files than this are left out (mass renames, reformatting).
const MAX_PATHS_PER_COMMIT: usize = 50;

/// The non-merge commits reachable from `rev`, newest first, at most `max_commits`.
///
/// # Errors
/// A revision that does not exist, or a git failure.
pub fn commit_log(repo: &git2::Repository, rev: &str, max_commits: usize) -> Result<Vec<CommitTouch>, Error> {
    let git = |e: git2::Error| Error::Ingest(IngestError::Git(e.message().to_string()));
    let start = super::git_tree::resolve_commit(repo, rev)?.id();
    let mut walk = repo.revwalk().map_err(git)?;
    walk.set_sorting(git2::Sort::TIME).map_err(git)?;
    walk.push(start).map_err(git)?;
    let mut out = Vec::new();
    let mut opts = git2::DiffOptions::new();
    opts.skip_binary_check(true);
    for oid in walk.take(max_commits) {
        let commit = repo.find_commit(oid.map_err(git)?).map_err(git)?;
        if commit.parent_count() > 1 {
            continue;
        }
        let tree = commit.tree().map_err(git)?;
        let parent_tree = match commit.parent(0) {
            Ok(p) => Some(p.tree().map_err(git)?),
            Err(_) => None,
        };
        let diff = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut opts)).map_err(git)?;
        let paths: Vec<String> = diff
            .deltas()
            .filter_map(|d| {
                d.new_file().path().or_else(|| d.old_file().path()).map(|p| p.to_string_lossy().into_owned())
            })
            .collect();
        if paths.is_empty() || paths.len() > MAX_PATHS_PER_COMMIT {
            continue;
        }
        out.push(CommitTouch {
            time: commit.time().seconds(),
            id: oid_string(&commit),
            subject: commit.summary().ok().flatten().unwrap_or_default().to_string(),
            paths,
        });
    }
    Ok(out)
}

fn oid_string(c: &git2::Commit<'_>) -> String {
    c.id().to_string()
}

/// Per file, the subjects of the commits that changed it, newest first, at most `per_file`,
/// from commits strictly older than `before` (all commits when `None`).
pub fn file_histories(log: &[CommitTouch], before: Option<i64>, per_file: usize) -> HashMap<String, String> {
    let mut lists: HashMap<&str, Vec<&str>> = HashMap::new();
    for c in log.iter().filter(|c| before.is_none_or(|t| c.time < t)) {
        for p in &c.paths {
            let l = lists.entry(p.as_str()).or_default();
            if l.len() < per_file {
                l.push(c.subject.as_str());
            }
        }
    }
    lists.into_iter().map(|(p, l)| (p.to_string(), l.join("\n"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(time: i64, subject: &str, paths: &[&str]) -> CommitTouch {
        CommitTouch {
            time,
            id: format!("{time}"),
            subject: subject.into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn only_strictly_older_commits_are_used() {
        // Newest first, as commit_log returns them.
        let log = vec![
            touch(300, "the item itself: fix retry storm", &["src/retry.rs"]),
            touch(200, "parent: tune backoff", &["src/retry.rs"]),
            touch(100, "add retry loop", &["src/retry.rs", "src/lib.rs"]),
        ];
        let h = file_histories(&log, Some(200), 10);
        assert_eq!(h["src/retry.rs"], "add retry loop", "neither the parent nor the item leak in");
        assert_eq!(h["src/lib.rs"], "add retry loop");
        let all = file_histories(&log, None, 2);
        assert_eq!(all["src/retry.rs"], "the item itself: fix retry storm\nparent: tune backoff");
    }

    #[test]
    fn reads_a_real_history() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let mut parent: Option<git2::Oid> = None;
        for (i, (file, msg)) in [("a.rs", "create a"), ("b.rs", "create b"), ("a.rs", "change a")].iter().enumerate() {
            std::fs::write(dir.path().join(file), format!("{i}")).unwrap();
            let mut index = repo.index().unwrap();
            index.add_path(std::path::Path::new(file)).unwrap();
            index.write().unwrap();
            let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
            let parents: Vec<git2::Commit> = parent.map(|p| repo.find_commit(p).unwrap()).into_iter().collect();
            let parents: Vec<&git2::Commit> = parents.iter().collect();
            parent = Some(repo.commit(Some("HEAD"), &sig, &sig, msg, &tree, &parents).unwrap());
        }
        let log = commit_log(&repo, "HEAD", 100).unwrap();
        assert_eq!(log.len(), 3);
        let h = file_histories(&log, None, 10);
        assert_eq!(h["a.rs"], "change a\ncreate a");
        assert_eq!(h["b.rs"], "create b");
    }
}
