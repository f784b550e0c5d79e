//! `ragops scan`

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use ragops_lib::ScanOptions;
use serde_json::json;

use super::{human_bytes, open_index, print_json};
use crate::cli::{GlobalArgs, ScanArgs};

pub(crate) async fn run(g: &GlobalArgs, args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let index = open_index(g, args.path.as_ref())?;
    let mut options = ScanOptions::default().rebuild(args.rebuild).base_ref(args.base_ref.clone());
    if crate::progress::enabled(g.json || crate::logging::format(g) == crate::cli::LogFormat::Json) {
        options = options.observer(Arc::new(crate::progress::ScanProgress::new()));
    }
    let summary = index.scan_with(&options).await?;
    if g.json {
        let mut v = serde_json::to_value(&summary)?;
        v["mb_per_s"] = json!(summary.mb_per_second());
        v["index_dir"] = json!(index.index_dir());
        v["root"] = json!(index.root());
        print_json(&v)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Indexed {} files ({} unchanged, {} removed): {} chunks, {} in {:.2} s ({:.1} MB/s)",
        summary.files_indexed,
        summary.files_unchanged,
        summary.files_deleted,
        summary.chunks,
        human_bytes(summary.bytes),
        summary.seconds,
        summary.mb_per_second(),
    )?;
    if !summary.skipped.is_empty() {
        let parts: Vec<String> = summary.skipped.iter().map(|(k, v)| format!("{v} {k}")).collect();
        writeln!(out, "Skipped: {}", parts.join(", "))?;
    }
    writeln!(out, "Embedding cache: {} hits, {} misses", summary.cache_hits, summary.cache_misses)?;
    if let Some(changes) = &summary.changes {
        writeln!(out, "Changes against {}: {} files", args.base_ref.as_deref().unwrap_or("?"), changes.len())?;
        for c in changes {
            match &c.old_path {
                Some(old) => writeln!(out, "  {:?} {} (from {old}), {} chunks", c.status, c.path, c.chunks)?,
                None => writeln!(out, "  {:?} {}, {} chunks", c.status, c.path, c.chunks)?,
            }
        }
    }
    writeln!(
        out,
        "Index: {} ({} files, {} chunks)",
        index.index_dir().display(),
        summary.index.files,
        summary.index.chunks
    )?;
    Ok(ExitCode::SUCCESS)
}
