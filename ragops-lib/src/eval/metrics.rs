//! Retrieval metrics.
//!
//! Two families, each computed exactly as its reference does:
//!
//! - **file level**, for git-history items (reference: `bench/git-history/baselines.py`): the
//!   ranking is a list of distinct files; recall@k is the share of targets among the top k files
//!   and the reciprocal rank is 1 / rank of the first target found anywhere in the ranking (0
//!   when none is ranked), with exact path equality;
//! - **chunk level**, for labelled queries (reference: semble's benchmark): the ranking is the top
//!   10 chunks, not de-duplicated by file. A target's rank is the first position whose chunk path
//!   matches (equal, or one ends with `/` followed by the other) and, when the target has a line
//!   span, whose lines overlap it. Gain is binary, a position counts once, and the ideal DCG is
//!   over min(10, number of targets). MRR@10 is 1 / the first position matching any target.

use crate::eval::queries::Target;
use crate::model::LineRange;

/// The rank cut-off of the chunk-level metrics.
pub const CHUNK_CUTOFF: usize = 10;

/// semble's path match: equal, or one ends with `/` followed by the other (backslashes read as
/// `/`), so a path relative to a sub-directory matches the repository-relative label.
pub fn path_matches(chunk_path: &str, target_path: &str) -> bool {
    let chunk = chunk_path.replace('\\', "/");
    let target = target_path.replace('\\', "/");
    chunk == target || chunk.ends_with(&format!("/{target}")) || target.ends_with(&format!("/{chunk}"))
}

/// Whether a chunk at `path`, `lines` answers `target`.
pub fn chunk_matches(path: &str, lines: &LineRange, target: &Target) -> bool {
    path_matches(path, &target.path) && target.lines.is_none_or(|span| span.overlaps(lines))
}

/// semble's DCG: the sum of `rel / log2(i + 2)` over the positions `i` (0-based), in order.
fn dcg(relevances: &[u8]) -> f64 {
    relevances.iter().enumerate().map(|(i, &rel)| f64::from(rel) / ((i + 2) as f64).log2()).sum()
}

/// NDCG over the top `k` chunks of a ranking, as semble computes it.
pub fn ndcg_at_k(ranked: &[(String, LineRange)], targets: &[Target], k: usize) -> f64 {
    if targets.is_empty() || k == 0 {
        return 0.0;
    }
    let top = &ranked[..ranked.len().min(k)];
    let mut relevances = vec![0u8; k];
    for target in targets {
        if let Some(pos) = top.iter().position(|(path, lines)| chunk_matches(path, lines, target)) {
            relevances[pos] = 1;
        }
    }
    let ideal = dcg(&vec![1u8; k.min(targets.len())]);
    if ideal > 0.0 { dcg(&relevances) / ideal } else { 0.0 }
}

/// NDCG@10 over the top 10 chunks, as semble computes it: binary gain, each target counted at
/// its first matching position, a position counted once, ideal DCG over min(10, #targets).
pub fn ndcg_at_10(ranked: &[(String, LineRange)], targets: &[Target]) -> f64 {
    ndcg_at_k(ranked, targets, CHUNK_CUTOFF)
}

/// MRR@10: 1 / the position of the first of the top 10 chunks that matches any target, or 0.
pub fn mrr_at_10(ranked: &[(String, LineRange)], targets: &[Target]) -> f64 {
    ranked
        .iter()
        .take(CHUNK_CUTOFF)
        .position(|(path, lines)| targets.iter().any(|t| chunk_matches(path, lines, t)))
        .map_or(0.0, |pos| 1.0 / (pos + 1) as f64)
}

/// The 0-based rank of `path` among distinct files: its first occurrence.
fn file_rank(ranked_files: &[String], path: &str) -> Option<usize> {
    ranked_files.iter().position(|p| p == path)
}

/// The share of `targets` ranked within the top `k` files (0 when there are no targets). The
/// ranking is expected to hold each file once; a repeated file counts at its first position.
pub fn recall_at(ranked_files: &[String], targets: &[String], k: usize) -> f64 {
    if targets.is_empty() {
        return 0.0;
    }
    let found = targets.iter().filter(|t| file_rank(ranked_files, t).is_some_and(|r| r < k)).count();
    found as f64 / targets.len() as f64
}

/// 1 / the rank of the first target in the whole ranking (no cut-off), or 0 when no target is
/// ranked.
pub fn reciprocal_rank(ranked_files: &[String], targets: &[String]) -> f64 {
    targets.iter().filter_map(|t| file_rank(ranked_files, t)).min().map_or(0.0, |r| 1.0 / (r + 1) as f64)
}

/// The file-level scores of one git-history item.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct FileScores {
    /// Recall@1.
    pub recall_at_1: f64,
    /// Recall@5.
    pub recall_at_5: f64,
    /// Recall@10.
    pub recall_at_10: f64,
    /// Reciprocal rank of the first target.
    pub reciprocal_rank: f64,
}

impl FileScores {
    /// Scores a ranking of distinct files against the item's targets.
    pub fn score(ranked_files: &[String], targets: &[String]) -> Self {
        FileScores {
            recall_at_1: recall_at(ranked_files, targets, 1),
            recall_at_5: recall_at(ranked_files, targets, 5),
            recall_at_10: recall_at(ranked_files, targets, 10),
            reciprocal_rank: reciprocal_rank(ranked_files, targets),
        }
    }
}

/// The chunk-level scores of one labelled query.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct ChunkScores {
    /// NDCG@10.
    pub ndcg_at_10: f64,
    /// MRR@10.
    pub mrr_at_10: f64,
}

impl ChunkScores {
    /// Scores a ranking of chunks (path, lines), best first, against the query's targets.
    pub fn score(ranked: &[(String, LineRange)], targets: &[Target]) -> Self {
        ChunkScores { ndcg_at_10: ndcg_at_10(ranked, targets), mrr_at_10: mrr_at_10(ranked, targets) }
    }
}

/// The mean of some values, 0 when there are none.
pub fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = values.into_iter().fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Means of the file-level scores over git-history items.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// The number of items.
    pub count: usize,
    /// Mean recall@1.
    pub recall_at_1: f64,
    /// Mean recall@5.
    pub recall_at_5: f64,
    /// Mean recall@10.
    pub recall_at_10: f64,
    /// Mean reciprocal rank (MRR).
    pub mrr: f64,
}

impl Summary {
    /// The means over `scores` (all 0 when empty).
    pub fn of(scores: &[FileScores]) -> Self {
        Summary {
            count: scores.len(),
            recall_at_1: mean(scores.iter().map(|s| s.recall_at_1)),
            recall_at_5: mean(scores.iter().map(|s| s.recall_at_5)),
            recall_at_10: mean(scores.iter().map(|s| s.recall_at_10)),
            mrr: mean(scores.iter().map(|s| s.reciprocal_rank)),
        }
    }
}

/// Means of the chunk-level scores over labelled queries.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct QuerySummary {
    /// The number of queries.
    pub count: usize,
    /// Mean NDCG@10.
    pub ndcg_at_10: f64,
    /// Mean MRR@10.
    pub mrr_at_10: f64,
}

impl QuerySummary {
    /// The means over `scores` (all 0 when empty).
    pub fn of(scores: &[ChunkScores]) -> Self {
        QuerySummary {
            count: scores.len(),
            ndcg_at_10: mean(scores.iter().map(|s| s.ndcg_at_10)),
            mrr_at_10: mean(scores.iter().map(|s| s.mrr_at_10)),
        }
    }

    /// The unweighted mean over several sets (semble's overall score is the mean over
    /// repositories); `count` is the total number of queries.
    pub fn macro_mean(summaries: &[QuerySummary]) -> Self {
        QuerySummary {
            count: summaries.iter().map(|s| s.count).sum(),
            ndcg_at_10: mean(summaries.iter().map(|s| s.ndcg_at_10)),
            mrr_at_10: mean(summaries.iter().map(|s| s.mrr_at_10)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn chunks(list: &[(&str, u32, u32)]) -> Vec<(String, LineRange)> {
        list.iter().map(|(p, s, e)| (p.to_string(), LineRange::new(*s, *e))).collect()
    }

    fn files(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const L2: f64 = 0.630_929_753_571_457_4; // 1 / log2(3)
    const L3: f64 = 0.5; // 1 / log2(4)

    #[test]
    fn ndcg_single_target() {
        let t = [Target::file("a.rs")];
        assert!(close(ndcg_at_10(&chunks(&[("a.rs", 1, 9)]), &t), 1.0));
        // found at position 3: DCG = 1/log2(4) = 0.5, IDCG = 1
        assert!(close(ndcg_at_10(&chunks(&[("x.rs", 1, 9), ("y.rs", 1, 9), ("a.rs", 1, 9)]), &t), L3));
        assert_eq!(ndcg_at_10(&chunks(&[("x.rs", 1, 9)]), &t), 0.0);
        assert_eq!(ndcg_at_10(&[], &t), 0.0);
        assert_eq!(ndcg_at_10(&chunks(&[("a.rs", 1, 9)]), &[]), 0.0);
    }

    #[test]
    fn ndcg_relevant_plus_secondary_with_duplicate_paths() {
        // relevant a.rs, secondary b.rs; a.rs fills positions 1 and 2, b.rs is at 4.
        let t = [Target::file("a.rs"), Target::file("b.rs")];
        let ranked = chunks(&[("a.rs", 1, 50), ("a.rs", 51, 99), ("x.rs", 1, 9), ("b.rs", 1, 9)]);
        // DCG = 1/log2(2) + 1/log2(5); IDCG = 1 + 1/log2(3)
        let expected = (1.0 + 1.0 / 5f64.log2()) / (1.0 + L2);
        assert!(close(ndcg_at_10(&ranked, &t), expected), "{}", ndcg_at_10(&ranked, &t));
        assert!((ndcg_at_10(&ranked, &t) - 0.877_215_3).abs() < 1e-6);
        // the secondary target is not down-weighted: swapping roles gives the same value
        let swapped = [Target::file("b.rs"), Target::file("a.rs")];
        assert!(close(ndcg_at_10(&ranked, &swapped), expected));
    }

    #[test]
    fn ndcg_line_spans_must_overlap() {
        let t = [Target::span("lib/rack/response.rb", 23, 62)];
        let ranked = chunks(&[
            ("lib/rack/response.rb", 1, 22),  // same file, no overlap
            ("lib/rack/request.rb", 20, 70),  // overlap, other file
            ("lib/rack/response.rb", 62, 90), // overlaps on line 62
        ]);
        assert!(close(ndcg_at_10(&ranked, &t), L3));
        assert!(close(mrr_at_10(&ranked, &t), 1.0 / 3.0));
        let whole = [Target::file("lib/rack/response.rb")];
        assert!(close(ndcg_at_10(&ranked, &whole), 1.0));
    }

    #[test]
    fn ndcg_counts_a_position_once_and_cuts_at_10() {
        // Two span targets in the same file, both matched by the first chunk: DCG = 1, IDCG = 1 + 1/log2(3).
        let t = [Target::span("a.rs", 1, 5), Target::span("a.rs", 6, 9)];
        let ranked = chunks(&[("a.rs", 1, 20), ("a.rs", 1, 20)]);
        assert!(close(ndcg_at_10(&ranked, &t), 1.0 / (1.0 + L2)));
        // A target at position 11 is not found.
        let mut long: Vec<(&str, u32, u32)> = vec![("x.rs", 1, 1); 10];
        long.push(("a.rs", 1, 1));
        assert_eq!(ndcg_at_10(&chunks(&long), &[Target::file("a.rs")]), 0.0);
        assert_eq!(mrr_at_10(&chunks(&long), &[Target::file("a.rs")]), 0.0);
        // IDCG is over min(10, #targets): 12 targets, all ranked 1..10 -> 1.0
        let targets: Vec<Target> = (0..12).map(|i| Target::file(format!("f{i}.rs"))).collect();
        let names: Vec<String> = (0..10).map(|i| format!("f{i}.rs")).collect();
        let ranked: Vec<(String, LineRange)> = names.iter().map(|n| (n.clone(), LineRange::new(1, 1))).collect();
        assert!(close(ndcg_at_10(&ranked, &targets), 1.0));
    }

    #[test]
    fn paths_match_as_semble_does() {
        assert!(path_matches("src/a.rs", "src/a.rs"));
        assert!(path_matches("/tmp/bench/tokio/tokio/src/sync/mutex.rs", "tokio/src/sync/mutex.rs"));
        assert!(path_matches("sync/mutex.rs", "tokio/src/sync/mutex.rs"), "relative to --root");
        assert!(path_matches("src\\a.rs", "src/a.rs"));
        assert!(!path_matches("src/xa.rs", "a.rs"));
        assert!(!path_matches("src/a.rs", "src/a.rs.bak"));
    }

    #[test]
    fn mrr_at_10_is_the_first_match_of_any_target() {
        let t = [Target::file("a.rs"), Target::file("b.rs")];
        assert!(close(mrr_at_10(&chunks(&[("x.rs", 1, 1), ("b.rs", 1, 1), ("a.rs", 1, 1)]), &t), 0.5));
        assert_eq!(mrr_at_10(&chunks(&[("x.rs", 1, 1)]), &t), 0.0);
        let s = ChunkScores::score(&chunks(&[("x.rs", 1, 1), ("b.rs", 1, 1)]), &t);
        assert!(close(s.mrr_at_10, 0.5) && close(s.ndcg_at_10, L2 / (1.0 + L2)));
    }

    #[test]
    fn file_level_scores_match_baselines_py() {
        let ranked = files(&["x.rs", "a.rs", "y.rs", "z.rs", "w.rs", "b.rs", "c.rs"]);
        let targets = files(&["a.rs", "b.rs", "q.rs"]);
        assert_eq!(recall_at(&ranked, &targets, 1), 0.0);
        assert!(close(recall_at(&ranked, &targets, 5), 1.0 / 3.0));
        assert!(close(recall_at(&ranked, &targets, 10), 2.0 / 3.0));
        assert!(close(reciprocal_rank(&ranked, &targets), 0.5));
        // no cut-off on the reciprocal rank
        let far: Vec<String> = (0..30).map(|i| format!("f{i}.rs")).chain(["a.rs".to_string()]).collect();
        assert!(close(reciprocal_rank(&far, &files(&["a.rs"])), 1.0 / 31.0));
        assert_eq!(reciprocal_rank(&ranked, &files(&["q.rs"])), 0.0);
        assert_eq!(recall_at(&ranked, &[], 5), 0.0);
        // a repeated file counts at its first position
        assert!(close(reciprocal_rank(&files(&["a.rs", "b.rs", "a.rs"]), &files(&["a.rs"])), 1.0));
    }

    #[test]
    fn summaries_are_means() {
        let a = FileScores::score(&files(&["a.rs"]), &files(&["a.rs"]));
        let b = FileScores::score(&files(&["x.rs", "y.rs", "b.rs"]), &files(&["b.rs", "c.rs"]));
        assert_eq!(b, FileScores { recall_at_1: 0.0, recall_at_5: 0.5, recall_at_10: 0.5, reciprocal_rank: 1.0 / 3.0 });
        let s = Summary::of(&[a, b]);
        assert_eq!(s.count, 2);
        assert!(close(s.recall_at_1, 0.5) && close(s.recall_at_5, 0.75) && close(s.recall_at_10, 0.75));
        assert!(close(s.mrr, (1.0 + 1.0 / 3.0) / 2.0));
        assert_eq!(Summary::of(&[]), Summary::default());

        let q = QuerySummary::of(&[
            ChunkScores { ndcg_at_10: 1.0, mrr_at_10: 1.0 },
            ChunkScores { ndcg_at_10: 0.5, mrr_at_10: 0.0 },
        ]);
        assert_eq!(q, QuerySummary { count: 2, ndcg_at_10: 0.75, mrr_at_10: 0.5 });
        let m = QuerySummary::macro_mean(&[q, QuerySummary { count: 4, ndcg_at_10: 0.25, mrr_at_10: 0.5 }]);
        assert_eq!(m, QuerySummary { count: 6, ndcg_at_10: 0.5, mrr_at_10: 0.5 });
    }
}
