//! Locating the repository (SPEC contract 5) and reading its HEAD.

use std::path::{Path, PathBuf};

use crate::error::{ConfigError, Error};

/// The repository a command works on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepoRoot {
    /// The git top level containing the path, or the path itself outside git.
    pub root: PathBuf,
    /// Whether `root` is a git work tree.
    pub is_git: bool,
    /// The git directory (`.git`, or a bare repository) when there is one: the history that
    /// `ragops eval` reads.
    pub git_dir: Option<PathBuf>,
}

impl RepoRoot {
    /// Resolves the root for `path`.
    ///
    /// # Errors
    /// A path that does not exist, is not a directory, or cannot be read.
    pub fn discover(path: &Path) -> Result<RepoRoot, Error> {
        let meta = std::fs::metadata(path).map_err(|e| {
            Error::Config(ConfigError::Path {
                path: path.to_path_buf(),
                message: match e.kind() {
                    std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                    std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    _ => e.to_string(),
                },
            })
        })?;
        if !meta.is_dir() {
            return Err(Error::Config(ConfigError::Path {
                path: path.to_path_buf(),
                message: "not a directory (scan a repository or directory)".into(),
            }));
        }
        std::fs::read_dir(path).map_err(|e| {
            Error::Config(ConfigError::Path {
                path: path.to_path_buf(),
                message: format!("cannot read directory: {e}"),
            })
        })?;
        let canonical = path
            .canonicalize()
            .map_err(|e| Error::Config(ConfigError::Path { path: path.to_path_buf(), message: e.to_string() }))?;
        if let Ok(repo) = git2::Repository::discover(&canonical) {
            let git_dir = repo.path().canonicalize().unwrap_or_else(|_| repo.path().to_path_buf());
            // Pointing at a git directory itself (a bare mirror, or `.git`): no work tree.
            let inside_git_dir = canonical.starts_with(&git_dir);
            if let (Some(workdir), false) = (repo.workdir(), inside_git_dir || repo.is_bare()) {
                let root = workdir.canonicalize().unwrap_or_else(|_| workdir.to_path_buf());
                return Ok(RepoRoot { root, is_git: true, git_dir: Some(git_dir) });
            }
            return Ok(RepoRoot { root: canonical, is_git: false, git_dir: Some(git_dir) });
        }
        Ok(RepoRoot { root: canonical, is_git: false, git_dir: None })
    }

    /// The HEAD commit id, if this is a git repository with at least one commit.
    pub fn head_commit(&self) -> Option<String> {
        if !self.is_git {
            return None;
        }
        let repo = git2::Repository::open(self.git_dir.as_ref()?).ok()?;
        let head = repo.head().ok()?.peel_to_commit().ok()?;
        Some(head.id().to_string())
    }

    /// The default collection name: the root directory's name.
    pub fn default_collection(&self) -> String {
        self.root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "ragops".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_git_the_path_is_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let r = RepoRoot::discover(dir.path()).unwrap();
        assert!(!r.is_git);
        assert_eq!(r.head_commit(), None);
    }

    #[test]
    fn inside_git_the_top_level_is_the_root() {
        let dir = tempfile::tempdir().unwrap();
        git2::Repository::init(dir.path()).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let r = RepoRoot::discover(&dir.path().join("sub")).unwrap();
        assert!(r.is_git);
        assert_eq!(r.root, dir.path().canonicalize().unwrap());
    }

    #[test]
    fn a_git_directory_itself_has_no_work_tree() {
        let dir = tempfile::tempdir().unwrap();
        git2::Repository::init_bare(dir.path()).unwrap();
        let r = RepoRoot::discover(dir.path()).unwrap();
        assert!(!r.is_git);
        assert_eq!(r.git_dir, Some(dir.path().canonicalize().unwrap()));
        assert_eq!(r.root, dir.path().canonicalize().unwrap());
    }

    #[test]
    fn missing_path_is_a_clear_error() {
        let err = RepoRoot::discover(Path::new("/definitely/not/here")).unwrap_err();
        assert!(err.to_string().contains("no such file or directory"), "{err}");
    }
}
