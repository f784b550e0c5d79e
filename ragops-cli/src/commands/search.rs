//! `ragops search`

use std::io::Write;
use std::process::ExitCode;

use ragops_lib::store::Filter;
use serde_json::json;

use super::{open_index, print_json};
use crate::cli::{GlobalArgs, SearchArgs};

/// Lines of a chunk shown under its citation.
const SNIPPET_LINES: usize = 4;

pub(crate) async fn run(g: &GlobalArgs, args: &SearchArgs) -> anyhow::Result<ExitCode> {
    let index = open_index(g, None)?;
    let limit = args.limit.map_or(index.config().limit, |n| n as usize);
    let mut filters = Vec::new();
    if let Some(glob) = &args.path {
        filters.push(Filter::PathGlob(glob.clone()));
    }
    if let Some(lang) = &args.lang {
        filters.push(Filter::Language(lang.clone()));
    }
    if args.files {
        let hits = index.search_files(&args.query, limit, &filters).await?;
        if g.json {
            let hits: Vec<_> = hits
                .iter()
                .map(|h| {
                    json!({
                        "path": h.path,
                        "score": h.score,
                        "language": h.language,
                        "best": {"start_line": h.best.start, "end_line": h.best.end},
                    })
                })
                .collect();
            print_json(&json!({"query": args.query, "hits": hits}))?;
        } else {
            let mut out = std::io::stdout().lock();
            if hits.is_empty() {
                writeln!(out, "No matches.")?;
            }
            for (i, h) in hits.iter().enumerate() {
                writeln!(out, "{:>2}. {}:{}  (score {:.3})", i + 1, h.path, h.best, h.score)?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let hits = index.search(&args.query, limit, &filters).await?;
    if g.json {
        let hits: Vec<_> = hits
            .iter()
            .map(|h| {
                json!({
                    "path": h.chunk.path,
                    "start_line": h.chunk.lines.start,
                    "end_line": h.chunk.lines.end,
                    "score": h.score,
                    "language": h.chunk.language,
                    "symbol": h.chunk.symbol,
                    "text": h.chunk.text,
                })
            })
            .collect();
        print_json(&json!({"query": args.query, "hits": hits}))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    if hits.is_empty() {
        writeln!(out, "No matches.")?;
    }
    for (i, h) in hits.iter().enumerate() {
        write!(out, "{:>2}. {}  (score {:.3}, {})", i + 1, h.chunk.citation(), h.score, h.chunk.language)?;
        match &h.chunk.symbol {
            Some(symbol) => writeln!(out, "  {symbol}")?,
            None => writeln!(out)?,
        }
        for line in h.chunk.text.lines().filter(|l| !l.trim().is_empty()).take(SNIPPET_LINES) {
            let line: String = line.chars().take(120).collect();
            writeln!(out, "      {line}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
