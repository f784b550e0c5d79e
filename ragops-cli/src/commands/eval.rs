//! `ragops eval`

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use ragops_lib::eval::history::HistoryOptions;
use ragops_lib::eval::queries::load_queries;
use ragops_lib::eval::run::{EvalObserver, EvalOptions, run_history, run_queries};
use ragops_lib::retrieve::RetrieverKind;

use super::{open_index, print_json};
use crate::cli::{EvalArgs, GlobalArgs, RetrieverArg};

pub(crate) async fn run(g: &GlobalArgs, args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let index = open_index(g, None)?;
    let mut options = EvalOptions::default();
    options.retriever = match args.retriever {
        RetrieverArg::Hybrid => RetrieverKind::Hybrid,
        RetrieverArg::Lexical => RetrieverKind::Lexical,
        RetrieverArg::Vector => RetrieverKind::Vector,
    };
    options.work_dir = args.work_dir.clone();
    let progress = crate::progress::enabled(g.json || crate::logging::format(g) == crate::cli::LogFormat::Json)
        .then(crate::progress::ItemProgress::new);
    let observer = progress.as_ref().map(|p| p as &dyn EvalObserver);
    let Some(repo) = index.git_dir().map(Path::to_path_buf) else {
        return Err(ragops_lib::Error::Config(ragops_lib::ConfigError::Path {
            path: index.root().to_path_buf(),
            message: "not a git repository: `ragops eval` reads the repository's history".into(),
        })
        .into());
    };
    if let Some(file) = &args.queries {
        let queries = load_queries(file)?;
        let rev = args.rev.clone().unwrap_or_else(|| "HEAD".into());
        let report = run_queries(&index, &repo, &rev, args.root.as_deref(), &queries, &options, observer).await?;
        drop(progress);
        if g.json {
            print_json(&serde_json::to_value(&report)?)?;
            return Ok(ExitCode::SUCCESS);
        }
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{} queries on {}@{} ({} chunks, retriever {:?})",
            report.queries,
            repo.display(),
            rev,
            report.chunks,
            report.retriever
        )?;
        writeln!(out, "NDCG@10 {:.3}   MRR@10 {:.3}   ({:.1} s)", report.ndcg_at_10, report.mrr_at_10, report.seconds)?;
        return Ok(ExitCode::SUCCESS);
    }
    let history = HistoryOptions {
        max_items: args.max_items as usize,
        since: args.since.as_deref().map(parse_date).transpose()?,
        until: args.until.as_deref().map(parse_date).transpose()?,
        rev: args.rev.clone(),
    };
    let report = run_history(&index, &repo, &history, &options, observer).await?;
    drop(progress);
    if g.json {
        print_json(&serde_json::to_value(&report)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} items from the history of {} (HEAD {}), {:.0} chunks per tree, retriever {:?}",
        report.items,
        repo.display(),
        &report.head[..report.head.len().min(12)],
        report.chunks,
        report.retriever
    )?;
    writeln!(
        out,
        "R@1 {:.3}   R@5 {:.3}   R@10 {:.3}   MRR {:.3}   ({:.1} s)",
        report.recall_at_1, report.recall_at_5, report.recall_at_10, report.mrr, report.seconds
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `YYYY-MM-DD` or RFC 3339 → seconds since the epoch.
fn parse_date(s: &str) -> anyhow::Result<i64> {
    let full = if s.len() == 10 { format!("{s}T00:00:00Z") } else { s.to_string() };
    let t = humantime::parse_rfc3339_weak(&full).map_err(|e| {
        ragops_lib::Error::Config(ragops_lib::ConfigError::Invalid {
            key: "--since/--until".into(),
            origin: String::new(),
            message: format!("`{s}` is not a date (YYYY-MM-DD): {e}"),
        })
    })?;
    Ok(t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64))
}
