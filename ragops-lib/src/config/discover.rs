//! Which config file applies (SPEC contract 5): the first found of `--config FILE`,
//! `<root>/ragops.toml`, `$XDG_CONFIG_HOME/ragops/config.toml` (or `~/.config/...`). No merging.

use std::path::{Path, PathBuf};

/// Where a config file was found, which decides how far it is trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigOrigin {
    /// Named with `--config`: trusted.
    CommandLine,
    /// The repository's own `ragops.toml`: untrusted.
    Repository,
    /// The user's config file: trusted.
    User,
    /// No file: built-in defaults.
    Defaults,
}

/// The repository config file name.
pub const REPO_CONFIG: &str = "ragops.toml";

/// Finds the config file that applies, if any.
pub fn find_config(explicit: Option<&Path>, root: &Path) -> Option<(PathBuf, ConfigOrigin)> {
    if let Some(p) = explicit {
        return Some((p.to_path_buf(), ConfigOrigin::CommandLine));
    }
    let repo = root.join(REPO_CONFIG);
    if repo.is_file() {
        return Some((repo, ConfigOrigin::Repository));
    }
    let user = user_config_path()?;
    user.is_file().then_some((user, ConfigOrigin::User))
}

/// `$XDG_CONFIG_HOME/ragops/config.toml`, else `$HOME/.config/ragops/config.toml`.
pub fn user_config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("ragops").join("config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_wins_then_repo() {
        let dir = tempfile::tempdir().unwrap();
        let explicit = dir.path().join("x.toml");
        assert_eq!(find_config(Some(&explicit), dir.path()), Some((explicit.clone(), ConfigOrigin::CommandLine)));
        std::fs::write(dir.path().join(REPO_CONFIG), "").unwrap();
        assert_eq!(find_config(None, dir.path()), Some((dir.path().join(REPO_CONFIG), ConfigOrigin::Repository)));
    }
}
