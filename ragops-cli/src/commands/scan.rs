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
    let mut options = ScanOptions::default()
        .rebuild(args.rebuild)
        .base_ref(args.base_ref.clone())
        .wait(args.wait())
        .paths(args.only()?);
    let draw = crate::progress::enabled(g.json || crate::logging::format(g) == crate::cli::LogFormat::Json);
    let progress = Arc::new(crate::progress::ScanProgress::new(draw));
    options = options.observer(progress.clone());
    // Ctrl-C or SIGTERM stops the scan between two awaits: the commit itself never yields, so
    // the index is either the previous generation or the new one, never half of each.
    let summary = tokio::select! {
        // Biased: the signal handlers are installed before the scan starts.
        biased;
        signal = crate::signals::interrupted() => {
            progress.abandon();
            return interrupted(g, &index, &progress, signal);
        }
        summary = index.scan_with(&options) => summary?,
    };
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

/// Reports an interrupted scan: nothing was published, and what the cache kept.
fn interrupted(
    g: &GlobalArgs,
    index: &ragops_lib::Index,
    progress: &crate::progress::ScanProgress,
    signal: crate::signals::Signal,
) -> anyhow::Result<ExitCode> {
    let (files, chunks) = progress.done();
    tracing::warn!(
        event = "scan.interrupted",
        signal = signal.name(),
        files_kept = files,
        chunks_kept = chunks,
        "scan interrupted by {}",
        signal.name()
    );
    if g.json {
        print_json(&json!({
            "interrupted": true,
            "signal": signal.name(),
            "files_processed": files,
            "chunks_processed": chunks,
            "index_dir": index.index_dir(),
        }))?;
    } else {
        let cached = index.embedder().is_ok_and(|e| !e.cheap_to_recompute());
        let kept = if cached {
            format!(
                "The embeddings of {chunks} chunks ({files} files) processed before the interruption are kept in \
                 the cache; the next scan will not compute them again."
            )
        } else {
            format!(
                "{chunks} chunks ({files} files) were processed before the interruption; this provider's \
                 embeddings cost less to compute again than to cache, so the next scan embeds them again."
            )
        };
        eprintln!(
            "ragops: scan interrupted ({}). Nothing was published: the index is as the last completed scan \
             left it. {kept}",
            signal.name()
        );
    }
    Ok(ExitCode::from(signal.exit_code()))
}
