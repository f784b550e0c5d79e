//! `ragops status`

use std::io::Write;
use std::process::ExitCode;

use super::{human_bytes, open_index, print_json};
use crate::cli::GlobalArgs;

pub(crate) async fn run(g: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let index = open_index(g, None)?;
    let status = index.status().await?;
    if g.json {
        print_json(&serde_json::to_value(&status)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let m = &status.metadata;
    let s = &status.stats;
    let mut out = std::io::stdout().lock();
    writeln!(out, "Index:      {} ({})", status.index_dir.display(), m.collection)?;
    writeln!(out, "Repository: {}", status.root.display())?;
    let commit = m.repo_commit.as_deref().unwrap_or("(not a git repository)");
    writeln!(
        out,
        "Commit:     {commit}{}",
        if status.stale { "  (stale: HEAD has moved; run `ragops scan`)" } else { "" }
    )?;
    writeln!(out, "Embedding:  {} / {} ({} dims)", m.embedding_provider, m.embedding_model, m.embedding_dimensions)?;
    writeln!(out, "Chunking:   {} lines, overlap {}", m.chunk_size, m.chunk_overlap)?;
    writeln!(out, "Contents:   {} files, {} chunks, {} of source", s.files, s.chunks, human_bytes(s.bytes))?;
    writeln!(
        out,
        "On disk:    {} (generation {}, format {})",
        human_bytes(s.disk_bytes),
        s.generation,
        m.index_version
    )?;
    writeln!(out, "Created:    {}", m.created_at)?;
    if let Some(last) = m.extra.get("last_scan") {
        writeln!(
            out,
            "Last scan:  {} — {} files indexed, {} unchanged, {:.2} s, {:.1} MB/s",
            last["finished_at"].as_str().unwrap_or("?"),
            last["files_indexed"],
            last["files_unchanged"],
            last["seconds"].as_f64().unwrap_or(0.0),
            last["mb_per_s"].as_f64().unwrap_or(0.0),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
