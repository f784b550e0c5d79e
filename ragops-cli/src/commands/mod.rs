//! One module per command: arguments → library call → rendering.

pub(crate) mod chat;
pub(crate) mod config;
pub(crate) mod eval;
pub(crate) mod scan;
pub(crate) mod search;
pub(crate) mod status;
pub(crate) mod watch;

use std::io::Write;
use std::path::PathBuf;

use ragops_lib::{Index, Registry};

use crate::cli::GlobalArgs;

/// The registry with every provider compiled into this binary.
pub(crate) fn registry() -> Registry {
    #[allow(unused_mut)]
    let mut r = Registry::with_builtins();
    #[cfg(feature = "mock")]
    ragops_mock::register(&mut r);
    #[cfg(feature = "openai")]
    ragops_openai::register(&mut r);
    #[cfg(feature = "ollama")]
    ragops_ollama::register(&mut r);
    r
}

/// Opens the repository's index handle from the global flags (and an optional positional path).
pub(crate) fn open_index(g: &GlobalArgs, path: Option<&PathBuf>) -> ragops_lib::Result<Index> {
    let index = Index::builder()
        .repo(path.or(g.repo.as_ref()).cloned().unwrap_or_else(|| PathBuf::from(".")))
        .index_dir(g.index.clone())
        .config_file(g.config.clone())
        .trust_repo_config(g.trust_repo_config)
        .registry(registry())
        .with_env(true)
        .build()?;
    tracing::Span::current().record("collection", index.collection());
    tracing::debug!(
        event = "config.loaded",
        source = index.config().source.as_ref().map(|p| p.display().to_string()),
        config = %index.config().to_display_toml(),
    );
    Ok(index)
}

/// Writes one JSON document and a newline to stdout.
pub(crate) fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    // Serialize first so that a closed stdout surfaces as a plain io::Error (exit 0).
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// Human-readable bytes.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}
