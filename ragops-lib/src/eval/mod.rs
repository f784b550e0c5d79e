//! The building blocks of `ragops eval`: benchmark items from the repository's own git history,
//! labelled query sets, and the retrieval metrics.
//!
//! - [`history`] picks commits from the history as items (query = cleaned commit message,
//!   targets = the non-test source files the commit modified, corpus = the parent commit's tree),
//!   following the reference protocol script `bench/git-history/make_localization_set.py` so that
//!   both pick the same items. Only history strictly before an item's parent commit may be used
//!   to answer it.
//! - [`queries`] reads a labelled query set: semble's annotation format (a JSON array) or JSON
//!   lines with the same keys.
//! - [`metrics`] scores a ranking: file-level recall@k and reciprocal rank for git-history items
//!   (as the reference `baselines.py` computes them), chunk-level NDCG@10 and MRR@10 for labelled
//!   queries (as semble computes them).
//!
//! ```
//! use ragops_lib::eval::{FileScores, Summary};
//!
//! let ranked = vec!["src/a.rs".to_string(), "src/b.rs".to_string()];
//! let targets = vec!["src/b.rs".to_string()];
//! let scores = FileScores::score(&ranked, &targets);
//! assert_eq!(scores.recall_at_1, 0.0);
//! assert_eq!(scores.reciprocal_rank, 0.5);
//! assert_eq!(Summary::of(&[scores]).recall_at_5, 1.0);
//! ```

pub mod history;
pub mod metrics;
pub mod queries;
pub mod run;

pub use history::{HistoryItem, HistoryOptions, Selection, SelectionStats, select, select_items};
pub use metrics::{ChunkScores, FileScores, QuerySummary, Summary, mrr_at_10, ndcg_at_10, recall_at, reciprocal_rank};
pub use queries::{LabelledQuery, Target, load_queries};
