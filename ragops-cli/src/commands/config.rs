//! `ragops config show`

use std::io::Write;
use std::process::ExitCode;

use serde_json::json;

use super::{open_index, print_json};
use crate::cli::GlobalArgs;

pub(crate) fn show(g: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let index = open_index(g, None)?;
    let config = index.config();
    let source = config.source.as_ref().map(|p| p.display().to_string());
    if g.json {
        let shown: toml::Value = toml::from_str(&config.to_display_toml())?;
        print_json(&json!({
            "source": source,
            "origin": config.origin,
            "root": index.root(),
            "index_dir": index.index_dir(),
            "config": shown,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "# source: {}", source.as_deref().unwrap_or("built-in defaults"))?;
    writeln!(out, "# root: {}", index.root().display())?;
    writeln!(out, "# index: {}", index.index_dir().display())?;
    write!(out, "{}", config.to_display_toml())?;
    Ok(ExitCode::SUCCESS)
}
