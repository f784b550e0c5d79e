//! Retrieval: the vector leg, the lexical leg (when the store has one), fusion, and ranking
//! per file.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::error::Result;
use crate::model::{ChunkId, Hit, Leg, LineRange};
use crate::provider::EmbeddingProvider;
use crate::store::{Filter, IndexStore, StoreQuery};

/// Reciprocal-rank-fusion constant.
const RRF_K: f32 = 60.0;
/// Chunks fetched per file asked for, when ranking files.
const CHUNKS_PER_FILE: usize = 5;
/// Weight decay over a file's best chunks (`Σ DECAY^i · s_i`).
const FILE_DECAY: f32 = 0.7;

/// Which legs to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RetrieverKind {
    /// Both legs, fused (the default; the vector leg alone when the store has no lexical one).
    #[default]
    Hybrid,
    /// Lexical only.
    Lexical,
    /// Vector only.
    Vector,
}

/// A file ranked by its chunks.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct FileHit {
    /// Path relative to the repository root.
    pub path: String,
    /// Aggregated score.
    pub score: f32,
    /// Lines of the best chunk.
    pub best: LineRange,
    /// Language of the file.
    pub language: String,
}

/// Finds the chunks and files that answer a query.
#[derive(Debug, Clone)]
pub struct Retriever {
    embedder: Arc<dyn EmbeddingProvider>,
    store: Arc<dyn IndexStore>,
    kind: RetrieverKind,
}

impl Retriever {
    /// A hybrid retriever.
    pub fn new(embedder: Arc<dyn EmbeddingProvider>, store: Arc<dyn IndexStore>) -> Self {
        Retriever { embedder, store, kind: RetrieverKind::Hybrid }
    }

    /// Selects the legs.
    pub fn with_kind(mut self, kind: RetrieverKind) -> Self {
        self.kind = kind;
        self
    }

    /// The best `limit` chunks, best first.
    ///
    /// # Errors
    /// A provider failure embedding the query, or a store failure.
    pub async fn search(&self, query: &str, limit: usize, filters: &[Filter]) -> Result<Vec<Hit>> {
        let started = Instant::now();
        let lexical = self.store.capabilities().lexical && self.kind != RetrieverKind::Vector;
        let vector = self.kind != RetrieverKind::Lexical || !self.store.capabilities().lexical;
        let fetch = if lexical && vector { limit * 2 } else { limit };
        let mut legs = Vec::new();
        if vector {
            let started = Instant::now();
            let mut v = self.embedder.embed(&[query.to_string()]).await?;
            tracing::info!(
                event = "embed.query",
                path = "query",
                latency_ms = crate::telemetry::elapsed_ms(started),
                batch_size = 1,
                provider = %self.embedder.model().provider,
                model = %self.embedder.model().name,
            );
            let v = v.pop().unwrap_or_default();
            let started = Instant::now();
            let mut hits = self.store.search(&StoreQuery::vector(v, fetch).with_filters(filters.to_vec())).await?;
            tracing::info!(
                event = "store.search",
                leg = "vector",
                k = fetch,
                hits = hits.len(),
                latency_ms = crate::telemetry::elapsed_ms(started),
            );
            // A similarity of zero or less shares nothing with the query.
            hits.retain(|h| h.score > 0.0);
            legs.push(hits);
        }
        if lexical {
            let started = Instant::now();
            let hits = self.store.search(&StoreQuery::text(query, fetch).with_filters(filters.to_vec())).await?;
            tracing::info!(
                event = "store.search",
                leg = "lexical",
                k = fetch,
                hits = hits.len(),
                latency_ms = crate::telemetry::elapsed_ms(started),
            );
            legs.push(hits);
        }
        let mut hits = if legs.len() == 1 { legs.pop().unwrap_or_default() } else { fuse(legs) };
        hits.truncate(limit);
        tracing::info!(
            event = "retrieve",
            hits = hits.len(),
            top_score = hits.first().map(|h| h.score),
            retriever = ?self.kind,
            latency_ms = crate::telemetry::elapsed_ms(started),
        );
        Ok(hits)
    }

    /// The best `limit` files, ranked by their best chunks.
    ///
    /// # Errors
    /// As [`Retriever::search`].
    pub async fn search_files(&self, query: &str, limit: usize, filters: &[Filter]) -> Result<Vec<FileHit>> {
        let hits = self.search(query, limit * CHUNKS_PER_FILE, filters).await?;
        Ok(rank_files(&hits, limit))
    }
}

/// Reciprocal rank fusion of several ranked lists.
pub fn fuse(legs: Vec<Vec<Hit>>) -> Vec<Hit> {
    let mut by_id: HashMap<ChunkId, (f32, Hit)> = HashMap::new();
    for leg in legs {
        for (rank, hit) in leg.into_iter().enumerate() {
            let s = 1.0 / (RRF_K + rank as f32 + 1.0);
            by_id.entry(hit.id).and_modify(|(score, _)| *score += s).or_insert((s, hit));
        }
    }
    let mut out: Vec<Hit> = by_id
        .into_values()
        .map(|(score, mut hit)| {
            hit.score = score;
            hit.leg = Leg::Hybrid;
            hit
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    out
}

/// Ranks files by a decayed sum over their best chunks' scores (`Σ 0.7^i · s_i`, top 5).
pub fn rank_files(hits: &[Hit], limit: usize) -> Vec<FileHit> {
    let mut files: Vec<(String, Vec<&Hit>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for h in hits {
        let i = *index.entry(h.chunk.path.as_str()).or_insert_with(|| {
            files.push((h.chunk.path.clone(), Vec::new()));
            files.len() - 1
        });
        files[i].1.push(h);
    }
    let mut out: Vec<FileHit> = files
        .into_iter()
        .map(|(path, hs)| {
            let score = hs
                .iter()
                .take(CHUNKS_PER_FILE)
                .enumerate()
                .map(|(i, h)| FILE_DECAY.powi(i as i32) * h.score.max(0.0))
                .sum();
            FileHit { path, score, best: hs[0].chunk.lines, language: hs[0].chunk.language.clone() }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.path.cmp(&b.path)));
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Chunk;

    fn hit(id: u64, path: &str, score: f32) -> Hit {
        Hit::new(ChunkId(id), Chunk::new(path, LineRange::new(1, 2), "text", format!("c{id}")), score, Leg::Vector)
    }

    #[test]
    fn fusion_rewards_agreement() {
        let a = vec![hit(1, "a", 0.9), hit(2, "b", 0.8)];
        let b = vec![hit(2, "b", 5.0), hit(3, "c", 4.0)];
        let fused = fuse(vec![a, b]);
        assert_eq!(fused[0].id, ChunkId(2));
        assert_eq!(fused.len(), 3);
        assert!(fused.iter().all(|h| h.leg == Leg::Hybrid));
    }

    #[test]
    fn files_aggregate_their_chunks() {
        let hits = vec![hit(1, "a", 0.5), hit(2, "b", 0.45), hit(3, "b", 0.44), hit(4, "c", 0.1)];
        let files = rank_files(&hits, 2);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, "b");
        assert!((files[0].score - (0.45 + 0.7 * 0.44)).abs() < 1e-6);
        assert_eq!(files[1].path, "a");
    }
}
