//! Running an evaluation: index the corpus straight from git (reusing cached embeddings from
//! one item to the next), query, score. Always the shipped defaults unless told otherwise.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::history::{HistoryItem, HistoryOptions, select_items};
use super::metrics;
use super::queries::LabelledQuery;
use crate::error::{Error, Result, StoreError};

use crate::index::Index;
use crate::ingest::{GitTree, Scanner, Source, WalkOptions};
use crate::retrieve::{Retriever, RetrieverKind};
use crate::store::{IndexStore, OpenMode};

/// Receives evaluation progress.
pub trait EvalObserver: Send + Sync + std::fmt::Debug {
    /// `done` of `total` items are scored.
    fn item_done(&self, done: usize, total: usize) {
        let _ = (done, total);
    }
}

/// How to evaluate.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct EvalOptions {
    /// Which retrieval legs.
    pub retriever: RetrieverKind,
    /// Where to build the evaluation index (default: a temporary directory).
    pub work_dir: Option<PathBuf>,
}

/// One git-history item's outcome.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct HistoryRow {
    /// The item.
    #[serde(flatten)]
    pub item: HistoryItem,
    /// The top 10 files, best first.
    pub ranked: Vec<String>,
    /// 1-based rank of the first target found, if any in the ranking.
    pub first_rank: Option<usize>,
    /// Reciprocal rank of the first target.
    pub reciprocal_rank: f64,
    /// Recall at 1, 5, 10.
    pub recall: [f64; 3],
    /// Chunks in the index for this item.
    pub chunks: u64,
}

/// The outcome of a git-history evaluation.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct HistoryReport {
    /// The repository evaluated.
    pub repo: PathBuf,
    /// The commit the items were selected from.
    pub head: String,
    /// The retrieval legs used.
    pub retriever: RetrieverKind,
    /// Items scored.
    pub items: usize,
    /// Mean recall@1.
    pub recall_at_1: f64,
    /// Mean recall@5.
    pub recall_at_5: f64,
    /// Mean recall@10.
    pub recall_at_10: f64,
    /// Mean reciprocal rank of the first target.
    pub mrr: f64,
    /// Mean chunks per indexed tree.
    pub chunks: f64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Per-item rows.
    pub rows: Vec<HistoryRow>,
}

/// One labelled query's outcome.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct QueryRow {
    /// The query.
    pub query: String,
    /// Its category, when labelled.
    pub category: Option<String>,
    /// The targets' paths.
    pub targets: Vec<String>,
    /// The top 10 chunks as `path:start-end`.
    pub ranked: Vec<String>,
    /// NDCG@10 as semble computes it.
    pub ndcg_at_10: f64,
    /// MRR@10.
    pub mrr_at_10: f64,
}

/// The outcome of a labelled-query evaluation.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct QueryReport {
    /// The repository evaluated.
    pub repo: PathBuf,
    /// The revision indexed.
    pub rev: String,
    /// The subtree indexed, if any.
    pub root: Option<String>,
    /// The retrieval legs used.
    pub retriever: RetrieverKind,
    /// Queries scored.
    pub queries: usize,
    /// Mean NDCG@10.
    pub ndcg_at_10: f64,
    /// Mean MRR@10.
    pub mrr_at_10: f64,
    /// Chunks in the index.
    pub chunks: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Per-query rows.
    pub rows: Vec<QueryRow>,
}

/// An evaluation index in a work directory (temporary unless given).
struct WorkIndex {
    _temp: Option<tempfile::TempDir>,
    store: Arc<dyn IndexStore>,
}

fn work_index(index: &Index, options: &EvalOptions) -> Result<WorkIndex> {
    let (temp, dir) = match &options.work_dir {
        Some(d) => (None, d.clone()),
        None => {
            let t = tempfile::Builder::new()
                .prefix("ragops-eval-")
                .tempdir()
                .map_err(|e| StoreError::io(std::env::temp_dir(), e))?;
            let d = t.path().join("index");
            (Some(t), d)
        }
    };
    let store = index.open_store_at(&dir, OpenMode::Write)?;
    Ok(WorkIndex { _temp: temp, store })
}

fn scanner(index: &Index, store: Arc<dyn IndexStore>) -> Result<(Scanner, Arc<dyn crate::EmbeddingProvider>)> {
    let embedder = index.embedder()?;
    let walk = WalkOptions::new(&index.config().scan, None);
    Ok((Scanner::new(embedder.clone(), store, index.chunker(), walk).with_skip_warnings(false), embedder))
}

/// Evaluates retrieval on `repo`'s own git history (SPEC: commit messages as queries, the
/// files each commit changed as targets, the parent commit's tree as the corpus).
///
/// # Errors
/// Not a git repository, a missing revision, or a scan/search failure.
pub async fn run_history(
    index: &Index,
    repo: &Path,
    history: &HistoryOptions,
    options: &EvalOptions,
    observer: Option<&dyn EvalObserver>,
) -> Result<HistoryReport> {
    let started = Instant::now();
    let (items, head) = {
        let git = crate::ingest::git_tree::open_repo(repo)?;
        let head =
            crate::ingest::git_tree::resolve_commit(&git, history.rev.as_deref().unwrap_or("HEAD"))?.id().to_string();
        (select_items(&git, history)?, head)
    };
    let log = if index.config().scan.history {
        let git = crate::ingest::git_tree::open_repo(repo)?;
        Some(crate::ingest::history::commit_log(&git, &head, crate::ingest::history::DEFAULT_MAX_COMMITS)?)
    } else {
        None
    };
    let work = work_index(index, options)?;
    let (scanner, embedder) = scanner(index, work.store.clone())?;
    let retriever = Retriever::new(embedder.clone(), work.store.clone())
        .with_kind(options.retriever)
        .with_params(index.config().ranking);
    // Oldest first: neighbouring parents share most files, so each scan is incremental.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| (items[i].time, items[i].commit.clone()));
    let mut rows: Vec<Option<HistoryRow>> = vec![None; items.len()];
    for (done, &i) in order.iter().enumerate() {
        let item = &items[i];
        let mut meta = index.expected_metadata(embedder.as_ref());
        meta.repo_commit = Some(item.parent.clone());
        let source = Source::Git(GitTree::new(repo, item.parent.clone(), None));
        // Only history strictly before the item's parent commit: no leakage of the answer.
        let history = log.as_ref().map(|log| {
            let parent_time = log.iter().find(|c| c.id == item.parent).map_or(item.time, |c| c.time);
            Arc::new(crate::ingest::history::file_histories(
                log,
                Some(parent_time),
                crate::ingest::history::DEFAULT_PER_FILE,
            ))
        });
        let summary = scanner.clone().with_history(history).scan_source(&source, meta).await?;
        let files = retriever.search_files(&item.query, 10, &[]).await?;
        let ranked: Vec<String> = files.into_iter().map(|f| f.path).collect();
        let rr = metrics::reciprocal_rank(&ranked, &item.targets);
        let recall = [1, 5, 10].map(|k| metrics::recall_at(&ranked, &item.targets, k));
        let first_rank = ranked.iter().position(|p| item.targets.contains(p)).map(|r| r + 1);
        rows[i] = Some(HistoryRow {
            item: item.clone(),
            ranked,
            first_rank,
            reciprocal_rank: rr,
            recall,
            chunks: summary.index.chunks,
        });
        if let Some(o) = observer {
            o.item_done(done + 1, items.len());
        }
    }
    let rows: Vec<HistoryRow> = rows.into_iter().flatten().collect();
    let n = rows.len().max(1) as f64;
    let mean = |f: &dyn Fn(&HistoryRow) -> f64| rows.iter().map(f).sum::<f64>() / n;
    Ok(HistoryReport {
        repo: repo.to_path_buf(),
        head,
        retriever: options.retriever,
        items: rows.len(),
        recall_at_1: mean(&|r| r.recall[0]),
        recall_at_5: mean(&|r| r.recall[1]),
        recall_at_10: mean(&|r| r.recall[2]),
        mrr: mean(&|r| r.reciprocal_rank),
        chunks: mean(&|r| r.chunks as f64),
        seconds: started.elapsed().as_secs_f64(),
        rows,
    })
}

/// Evaluates retrieval on labelled queries against the tree at `rev` (under `root`, if given).
///
/// # Errors
/// Not a git repository, a missing revision or subdirectory, or a scan/search failure.
pub async fn run_queries(
    index: &Index,
    repo: &Path,
    rev: &str,
    root: Option<&str>,
    queries: &[LabelledQuery],
    options: &EvalOptions,
    observer: Option<&dyn EvalObserver>,
) -> Result<QueryReport> {
    let started = Instant::now();
    let work = work_index(index, options)?;
    let (scanner, embedder) = scanner(index, work.store.clone())?;
    let mut meta = index.expected_metadata(embedder.as_ref());
    meta.repo_commit = Some(rev.to_string());
    let source = Source::Git(GitTree::new(repo, rev, root.map(str::to_string)));
    let summary = scanner.scan_source(&source, meta).await?;
    let retriever =
        Retriever::new(embedder, work.store.clone()).with_kind(options.retriever).with_params(index.config().ranking);
    let mut rows = Vec::with_capacity(queries.len());
    for (done, q) in queries.iter().enumerate() {
        let hits = retriever.search(&q.query, 10, &[]).await?;
        let ranked: Vec<(String, crate::LineRange)> =
            hits.iter().map(|h| (h.chunk.path.clone(), h.chunk.lines)).collect();
        rows.push(QueryRow {
            query: q.query.clone(),
            category: q.category.clone(),
            targets: q.targets.iter().map(|t| t.path.clone()).collect(),
            ranked: hits.iter().map(|h| h.chunk.citation()).collect(),
            ndcg_at_10: metrics::ndcg_at_10(&ranked, &q.targets),
            mrr_at_10: metrics::mrr_at_10(&ranked, &q.targets),
        });
        if let Some(o) = observer {
            o.item_done(done + 1, queries.len());
        }
    }
    let n = rows.len().max(1) as f64;
    Ok(QueryReport {
        repo: repo.to_path_buf(),
        rev: rev.to_string(),
        root: root.map(str::to_string),
        retriever: options.retriever,
        queries: rows.len(),
        ndcg_at_10: rows.iter().map(|r| r.ndcg_at_10).sum::<f64>() / n,
        mrr_at_10: rows.iter().map(|r| r.mrr_at_10).sum::<f64>() / n,
        chunks: summary.index.chunks,
        seconds: started.elapsed().as_secs_f64(),
        rows,
    })
}

/// Errors for an evaluation that has nothing to score.
pub fn nothing_to_score(what: &str) -> Error {
    Error::Ingest(crate::error::IngestError::Git(format!("no {what} to evaluate")))
}
