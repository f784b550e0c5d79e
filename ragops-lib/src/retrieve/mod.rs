//! Retrieval: the vector leg, the lexical leg (when the store has one), their fusion, priors
//! by kind of file, and ranking per file.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::{ChunkId, Hit, Leg, LineRange};
use crate::provider::EmbeddingProvider;
use crate::store::{Filter, IndexStore, StoreQuery};

mod prior;

pub use prior::{FileKind, file_kind};

/// Reciprocal-rank-fusion constant.
const RRF_K: f32 = 60.0;

/// Which legs to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// How the legs are combined and results ranked. The defaults are tuned with `ragops eval`
/// (docs/benchmarks.md); `[retrieval]` in the config overrides them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RankingParams {
    /// Weight of the lexical leg's normalised score.
    pub lexical_weight: f32,
    /// Weight of the vector leg's normalised score.
    pub vector_weight: f32,
    /// Score multiplier for documentation, changelogs, data and config files.
    pub non_code_weight: f32,
    /// Score multiplier for tests, examples and benchmarks.
    pub test_weight: f32,
    /// A file's score is `Σ decay^i · s_i` over its best `file_chunks` chunks.
    pub file_decay: f32,
    /// Chunks per file in the file score.
    pub file_chunks: usize,
    /// Candidates fetched from each leg (at least the number of results asked for).
    pub candidates: usize,
    /// How much a chunk gains from other chunks of its file that also match (several chunks
    /// of one file agreeing): `s + file_boost · Σ decay^i · s_other_i`.
    pub file_boost: f32,
    /// When ranking files: weight of the whole-file lexical leg (each file scored as one
    /// document) against the chunk ranking aggregated per file.
    pub file_leg_weight: f32,
    /// For a symbol-like query (one or two identifiers): a chunk that defines the named symbol
    /// scores `× (1 + definition_boost)`, a chunk of a file named after it `× (1 + boost / 2)`.
    pub definition_boost: f32,
    /// For any other query: a chunk of a file whose name shares a word with the query
    /// (`sessions.py` for "how sessions keep state", `auth.py` for "authentication") scores
    /// `× (1 + file_name_boost · share)`, `share` being the matched fraction of the name's words.
    pub file_name_boost: f32,
}

impl Default for RankingParams {
    fn default() -> Self {
        RankingParams {
            lexical_weight: 0.5,
            vector_weight: 0.5,
            non_code_weight: 0.3,
            test_weight: 0.3,
            file_decay: 0.7,
            file_chunks: 5,
            candidates: 200,
            file_boost: 0.2,
            file_leg_weight: 0.3,
            definition_boost: 1.0,
            file_name_boost: 0.4,
        }
    }
}

/// A search's ranked hits plus each leg's own ranking ([`Retriever::search_with_legs`]).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Searched {
    /// The fused, ranked hits (what [`Retriever::search`] returns).
    pub hits: Vec<Hit>,
    /// The lexical leg's hits, best first (empty when the leg did not run).
    pub lexical: Vec<Hit>,
    /// The vector leg's hits, best first (empty when the leg did not run).
    pub vector: Vec<Hit>,
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
    params: RankingParams,
}

impl Retriever {
    /// A hybrid retriever with the default ranking.
    pub fn new(embedder: Arc<dyn EmbeddingProvider>, store: Arc<dyn IndexStore>) -> Self {
        Retriever { embedder, store, kind: RetrieverKind::Hybrid, params: RankingParams::default() }
    }

    /// Selects the legs.
    pub fn with_kind(mut self, kind: RetrieverKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the ranking parameters.
    pub fn with_params(mut self, params: RankingParams) -> Self {
        self.params = params;
        self
    }

    /// The score multiplier for a file of this kind.
    fn prior(&self, path: &str, language: &str) -> f32 {
        match file_kind(path, language) {
            FileKind::Code => 1.0,
            FileKind::Test => self.params.test_weight,
            FileKind::NonCode => self.params.non_code_weight,
        }
    }

    /// The best `limit` chunks, best first.
    ///
    /// # Errors
    /// A provider failure embedding the query, or a store failure.
    pub async fn search(&self, query: &str, limit: usize, filters: &[Filter]) -> Result<Vec<Hit>> {
        Ok(self.search_inner(query, limit, filters, false).await?.hits)
    }

    /// As [`Retriever::search`], also returning each leg's own ranking (before fusion and
    /// priors), from the same query embedding and the same store searches: for evidence such as
    /// how far the legs agree.
    ///
    /// # Errors
    /// As [`Retriever::search`].
    pub async fn search_with_legs(&self, query: &str, limit: usize, filters: &[Filter]) -> Result<Searched> {
        self.search_inner(query, limit, filters, true).await
    }

    async fn search_inner(&self, query: &str, limit: usize, filters: &[Filter], keep_legs: bool) -> Result<Searched> {
        // The legs fetch many candidates and the caller keeps a few: a store that can, reads
        // the texts of the kept hits only (not when the legs' own rankings are returned).
        if !keep_legs && self.store.capabilities().deferred_texts {
            let mut searched = self.search_once(query, limit, filters, false, true).await?;
            let ids: Vec<ChunkId> = searched.hits.iter().map(|h| h.id).collect();
            let texts = self.store.chunk_texts(&ids).await?;
            if texts.iter().all(Option::is_some) {
                for (hit, text) in searched.hits.iter_mut().zip(texts) {
                    hit.chunk.text = text.unwrap_or_default();
                }
                return Ok(searched);
            }
            // A newer generation replaced a hit's segment meanwhile: search again, with texts.
        }
        self.search_once(query, limit, filters, keep_legs, false).await
    }

    async fn search_once(
        &self,
        query: &str,
        limit: usize,
        filters: &[Filter],
        keep_legs: bool,
        without_texts: bool,
    ) -> Result<Searched> {
        let started = Instant::now();
        let mut searched = Searched::default();
        let has_lexical = self.store.capabilities().lexical;
        let lexical = has_lexical && self.kind != RetrieverKind::Vector;
        let vector = self.kind != RetrieverKind::Lexical || !has_lexical;
        let fetch = self.params.candidates.max(limit);
        let mut legs: Vec<(Vec<Hit>, f32)> = Vec::new();
        // The lexical leg runs beside the vector leg (on another worker thread when the runtime
        // has several): a warm query costs the slower leg, not the sum.
        let lexical_leg = lexical.then(|| {
            let store = Arc::clone(&self.store);
            let q = StoreQuery::text(query, fetch).with_filters(filters.to_vec()).without_texts(without_texts);
            beside(async move {
                let started = Instant::now();
                let hits = store.search(&q).await;
                (hits, started)
            })
        });
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
            let q = StoreQuery::vector(v, fetch).with_filters(filters.to_vec()).without_texts(without_texts);
            let mut hits = self.store.search(&q).await?;
            tracing::info!(
                event = "store.search",
                leg = "vector",
                k = fetch,
                hits = hits.len(),
                latency_ms = crate::telemetry::elapsed_ms(started),
            );
            // A similarity of zero or less shares nothing with the query.
            hits.retain(|h| h.score > 0.0);
            if keep_legs {
                searched.vector.clone_from(&hits);
            }
            legs.push((hits, self.params.vector_weight));
        }
        if let Some(leg) = lexical_leg {
            let (hits, started) = leg.wait().await?;
            let hits = hits?;
            tracing::info!(
                event = "store.search",
                leg = "lexical",
                k = fetch,
                hits = hits.len(),
                latency_ms = crate::telemetry::elapsed_ms(started),
            );
            if keep_legs {
                searched.lexical.clone_from(&hits);
            }
            legs.push((hits, self.params.lexical_weight));
        }
        let mut hits = if legs.len() == 1 { legs.pop().map(|(h, _)| h).unwrap_or_default() } else { blend(legs) };
        let symbols = symbol_query(query);
        let words = if symbols.is_empty() { query_words(query) } else { Vec::new() };
        // What depends on the file alone is worked out once per file (hits share files).
        let name_boost = if words.is_empty() { 0.0 } else { self.params.file_name_boost };
        let mut per_file: HashMap<String, f32> = HashMap::new();
        for h in &mut hits {
            let factor = match per_file.get(&h.chunk.path) {
                Some(f) => *f,
                None => {
                    let f = self.prior(&h.chunk.path, &h.chunk.language)
                        * (1.0 + name_boost * file_name_match(&h.chunk.path, &words));
                    per_file.insert(h.chunk.path.clone(), f);
                    f
                }
            };
            h.score *= factor;
            if !symbols.is_empty() {
                h.score *= 1.0 + self.params.definition_boost * definition_match(&h.chunk, &symbols);
            }
        }
        if self.params.file_boost > 0.0 {
            boost_by_file(&mut hits, self.params.file_boost, self.params.file_decay, self.params.file_chunks);
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(limit);
        tracing::info!(
            event = "retrieve",
            hits = hits.len(),
            top_score = hits.first().map(|h| h.score),
            retriever = ?self.kind,
            latency_ms = crate::telemetry::elapsed_ms(started),
        );
        searched.hits = hits;
        Ok(searched)
    }

    /// The best `limit` files, ranked by their best chunks.
    ///
    /// # Errors
    /// As [`Retriever::search`].
    pub async fn search_files(&self, query: &str, limit: usize, filters: &[Filter]) -> Result<Vec<FileHit>> {
        let depth = self.params.candidates.max(limit * self.params.file_chunks);
        let hits = self.search(query, depth, filters).await?;
        let chunk_files = rank_files(&hits, depth, self.params.file_decay, self.params.file_chunks);
        let w = self.params.file_leg_weight;
        if w <= 0.0 || !self.store.capabilities().lexical || self.kind == RetrieverKind::Vector {
            let mut files = chunk_files;
            files.truncate(limit);
            return Ok(files);
        }
        let file_leg =
            self.store.search(&StoreQuery::text(query, depth).with_filters(filters.to_vec()).per_file(true)).await?;
        let chunk_max = chunk_files.iter().map(|f| f.score).fold(0.0f32, f32::max).max(f32::MIN_POSITIVE);
        let file_max = file_leg.iter().map(|h| h.score).fold(0.0f32, f32::max).max(f32::MIN_POSITIVE);
        let mut merged: HashMap<String, FileHit> = HashMap::new();
        for f in chunk_files {
            let mut f = f;
            f.score = (1.0 - w) * f.score / chunk_max;
            merged.insert(f.path.clone(), f);
        }
        for h in file_leg {
            let s = w * self.prior(&h.chunk.path, &h.chunk.language) * h.score / file_max;
            merged.entry(h.chunk.path.clone()).and_modify(|f| f.score += s).or_insert(FileHit {
                path: h.chunk.path.clone(),
                score: s,
                best: h.chunk.lines,
                language: h.chunk.language,
            });
        }
        let mut files: Vec<FileHit> = merged.into_values().collect();
        files.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.path.cmp(&b.path)));
        files.truncate(limit);
        Ok(files)
    }
}

/// An identifier a symbol-like query names, as typed and lowercased.
#[derive(Clone, Debug, PartialEq)]
struct SymbolName {
    typed: String,
    lower: String,
}

/// A future run beside the caller: on a thread of the current tokio runtime's blocking pool
/// when the runtime has several worker threads (a task spawned from a worker waits in that
/// worker's unstealable LIFO slot until the caller yields: no overlap), else run where it is
/// awaited (any executor works).
enum Beside<T> {
    Spawned(tokio::task::JoinHandle<T>),
    Inline(std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>),
}

fn beside<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> Beside<T> {
    use tracing::Instrument;
    match tokio::runtime::Handle::try_current() {
        Ok(rt) if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            let f = f.instrument(tracing::Span::current());
            let handle = rt.clone();
            Beside::Spawned(rt.spawn_blocking(move || handle.block_on(f)))
        }
        _ => Beside::Inline(Box::pin(f)),
    }
}

impl<T> Beside<T> {
    async fn wait(self) -> Result<T> {
        match self {
            Beside::Spawned(handle) => match handle.await {
                Ok(v) => Ok(v),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => Err(crate::error::StoreError::Invalid("the search was cancelled".into()).into()),
            },
            Beside::Inline(f) => Ok(f.await),
        }
    }
}

/// The identifiers a symbol-like query names (one or two whole identifiers of at least three
/// characters), or nothing for a natural-language query.
fn symbol_query(query: &str) -> Vec<SymbolName> {
    if query.split_whitespace().count() > 2 {
        return Vec::new();
    }
    let mut names = Vec::new();
    for word in query.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if word.chars().count() >= 3 && word.chars().any(char::is_alphabetic) {
            let lower = word.to_lowercase();
            if !names.iter().any(|n: &SymbolName| n.lower == lower) {
                names.push(SymbolName { typed: word.to_string(), lower });
            }
        }
    }
    names
}

/// How well a name in a chunk's symbol path matches the query: 1 typed as in the query (or the
/// query is all lowercase), 0.5 the same name in another case (`serialize` for `Serialize`).
fn name_match(name: &str, symbols: &[SymbolName]) -> f32 {
    let mut best = 0.0f32;
    for s in symbols {
        if name == s.typed || (s.typed == s.lower && name.to_lowercase() == s.lower) {
            return 1.0;
        }
        if name.to_lowercase() == s.lower {
            best = 0.5;
        }
    }
    best
}

/// How far the chunk defines one of `symbols`: 1 when a definition on its symbol path (its
/// own or an enclosing one: a method of the named class) names it, less for a match in another
/// case, 0.5 when its file is named after one, else 0. `impl Trait for Type` defines `Type`,
/// not the trait: the many implementations of a trait are not its definition.
fn definition_match(chunk: &crate::model::Chunk, symbols: &[SymbolName]) -> f32 {
    const KEYWORDS: &[&str] = &[
        "impl",
        "fn",
        "struct",
        "enum",
        "trait",
        "class",
        "def",
        "func",
        "function",
        "method",
        "interface",
        "type",
        "mod",
        "module",
        "namespace",
        "for",
        "const",
        "static",
        "var",
        "let",
    ];
    let mut best = 0.0f32;
    if let Some(symbol) = &chunk.symbol {
        for label in symbol.split(" > ") {
            // `impl Display for Searcher`: only what follows `for` is defined here.
            let defined = match label.strip_prefix("impl ").and_then(|rest| rest.split_once(" for ")) {
                Some((_, ty)) => ty,
                None => label,
            };
            for name in defined.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                if !name.is_empty() && !KEYWORDS.contains(&name) {
                    best = best.max(name_match(name, symbols));
                }
            }
        }
    }
    let file = chunk.path.rsplit('/').next().unwrap_or(&chunk.path);
    let stem = file.split('.').next().unwrap_or(file).to_lowercase();
    if symbols.iter().any(|s| s.lower == stem) { best.max(0.5) } else { best }
}

/// A content word of a natural-language query, with its English stem.
#[derive(Clone, Debug, PartialEq)]
struct QueryWord {
    text: String,
    stem: String,
}

/// A natural-language query's content words: lowercased, at least three letters, no stopwords.
fn query_words(query: &str) -> Vec<QueryWord> {
    let mut words: Vec<QueryWord> = Vec::new();
    for word in query.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        if word.chars().count() >= 3 && !crate::lexical::is_stopword(&word) && !words.iter().any(|w| w.text == word) {
            words.push(QueryWord { stem: stem(&word), text: word });
        }
    }
    words
}

/// The Snowball English stem of a lowercased word.
fn stem(word: &str) -> String {
    rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English).stem(word).into_owned()
}

/// Whether two lowercased words (with their stems) are forms of one another: equal, their
/// stems equal, or one stem a prefix of the other at least four letters long
/// (`auth`/`authentication`, `formatter`/`formatting`, `certs`/`certificate`, but not
/// `transfer`/`transform`).
fn same_form(a: &str, a_stem: &str, b: &str, b_stem: &str) -> bool {
    if a == b {
        return true;
    }
    let (short, long) = if a_stem.len() <= b_stem.len() { (a_stem, b_stem) } else { (b_stem, a_stem) };
    short.len() >= 4 && long.starts_with(short)
}

/// The share of the words of a file's name (`BooleanUtils.java`: boolean, utils) that are
/// forms of the query's words, 0 to 1.
fn file_name_match(path: &str, words: &[QueryWord]) -> f32 {
    if words.is_empty() {
        return 0.0;
    }
    let file = path.rsplit('/').next().unwrap_or(path);
    let name = file.split('.').next().unwrap_or(file);
    let mut parts: Vec<String> = Vec::new();
    for piece in name.split(|c: char| !c.is_alphanumeric()).filter(|p| !p.is_empty()) {
        let tokens = crate::lexical::tokenize(piece);
        let split: Vec<String> = tokens.iter().filter(|t| !t.whole).map(|t| t.text.clone()).collect();
        if split.is_empty() {
            parts.extend(tokens.into_iter().map(|t| t.text));
        } else {
            parts.extend(split);
        }
    }
    if parts.is_empty() {
        return 0.0;
    }
    let matched = parts
        .iter()
        .filter(|p| {
            let p_stem = stem(p);
            words.iter().any(|w| same_form(p, &p_stem, &w.text, &w.stem))
        })
        .count();
    matched as f32 / parts.len() as f32
}

/// Adds to each chunk a share of the decayed sum of its file's other matching chunks.
fn boost_by_file(hits: &mut [Hit], boost: f32, decay: f32, per_file: usize) {
    let mut by_file: HashMap<&str, Vec<f32>> = HashMap::new();
    for h in hits.iter() {
        by_file.entry(h.chunk.path.as_str()).or_default().push(h.score);
    }
    let totals: HashMap<String, f32> = by_file
        .into_iter()
        .map(|(path, mut scores)| {
            scores.sort_by(|a, b| b.total_cmp(a));
            let total = scores.iter().take(per_file.max(1)).enumerate().map(|(i, s)| decay.powi(i as i32) * s).sum();
            (path.to_string(), total)
        })
        .collect();
    for h in hits.iter_mut() {
        let total = totals.get(&h.chunk.path).copied().unwrap_or(h.score);
        h.score += boost * (total - h.score).max(0.0);
    }
}

/// Blends legs by weighted scores, each normalised by its leg's best score.
pub fn blend(legs: Vec<(Vec<Hit>, f32)>) -> Vec<Hit> {
    let mut by_id: HashMap<ChunkId, (f32, Hit)> = HashMap::new();
    for (leg, weight) in legs {
        let max = leg.iter().map(|h| h.score).fold(0.0f32, f32::max);
        if max <= 0.0 {
            continue;
        }
        for hit in leg {
            let s = weight * hit.score / max;
            by_id.entry(hit.id).and_modify(|(score, _)| *score += s).or_insert((s, hit));
        }
    }
    fused(by_id)
}

/// Fused scores into hits, best first.
fn fused(by_id: HashMap<ChunkId, (f32, Hit)>) -> Vec<Hit> {
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

/// Reciprocal rank fusion of several ranked lists.
pub fn fuse(legs: Vec<Vec<Hit>>) -> Vec<Hit> {
    let mut by_id: HashMap<ChunkId, (f32, Hit)> = HashMap::new();
    for leg in legs {
        for (rank, hit) in leg.into_iter().enumerate() {
            let s = 1.0 / (RRF_K + rank as f32 + 1.0);
            by_id.entry(hit.id).and_modify(|(score, _)| *score += s).or_insert((s, hit));
        }
    }
    fused(by_id)
}

/// Ranks files by a decayed sum over their best chunks' scores (`Σ decay^i · s_i`, top `per_file`).
pub fn rank_files(hits: &[Hit], limit: usize, decay: f32, per_file: usize) -> Vec<FileHit> {
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
        .map(|(path, mut hs)| {
            hs.sort_by(|a, b| b.score.total_cmp(&a.score));
            let score =
                hs.iter().take(per_file.max(1)).enumerate().map(|(i, h)| decay.powi(i as i32) * h.score.max(0.0)).sum();
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
        let fused = fuse(vec![a.clone(), b.clone()]);
        assert_eq!(fused[0].id, ChunkId(2));
        assert_eq!(fused.len(), 3);
        assert!(fused.iter().all(|h| h.leg == Leg::Hybrid));
        let blended = blend(vec![(a, 0.5), (b, 0.5)]);
        assert_eq!(blended[0].id, ChunkId(2));
        assert!((blended[0].score - (0.5 * 0.8 / 0.9 + 0.5)).abs() < 1e-6);
    }

    #[test]
    fn symbol_queries_favour_definitions() {
        let names = |q: &str| symbol_query(q).into_iter().map(|s| s.lower).collect::<Vec<_>>();
        assert_eq!(names("Runtime"), ["runtime"]);
        assert_eq!(names("Rack::Builder"), ["rack", "builder"]);
        assert!(symbol_query("how does the runtime schedule tasks").is_empty());
        let def = Chunk::new("src/rt/mod.rs", LineRange::new(1, 9), "rust", "pub struct Runtime;")
            .with_symbol(Some("struct Runtime".into()));
        let user = Chunk::new("src/main.rs", LineRange::new(1, 9), "rust", "Runtime::new()")
            .with_symbol(Some("fn main".into()));
        let named = Chunk::new("src/runtime.rs", LineRange::new(1, 9), "rust", "// helpers");
        let q = symbol_query("Runtime");
        assert_eq!(definition_match(&def, &q), 1.0);
        assert_eq!(definition_match(&user, &q), 0.0);
        assert_eq!(definition_match(&named, &q), 0.5);
        // A method of the named type is part of its definition.
        let method = Chunk::new("src/rt/mod.rs", LineRange::new(10, 19), "rust", "fn block_on() {}")
            .with_symbol(Some("impl Runtime > fn block_on".into()));
        assert_eq!(definition_match(&method, &q), 1.0);
    }

    #[test]
    fn trait_implementations_and_other_cases_are_weaker_matches() {
        let q = symbol_query("Serialize");
        let trait_def = Chunk::new("ser/mod.rs", LineRange::new(1, 9), "rust", "pub trait Serialize {")
            .with_symbol(Some("trait Serialize".into()));
        let implementation = Chunk::new("ser/impls.rs", LineRange::new(1, 9), "rust", "impl Serialize for bool {")
            .with_symbol(Some("impl Serialize for bool".into()));
        let method = Chunk::new("ser/impls.rs", LineRange::new(1, 9), "rust", "fn serialize() {}")
            .with_symbol(Some("fn serialize".into()));
        assert_eq!(definition_match(&trait_def, &q), 1.0);
        assert_eq!(definition_match(&implementation, &q), 0.0);
        assert_eq!(definition_match(&method, &q), 0.5);
        // Typed in lowercase, any case matches fully.
        assert_eq!(definition_match(&trait_def, &symbol_query("serialize")), 1.0);
    }

    #[test]
    fn file_names_match_forms_of_query_words() {
        let words = query_words("How does the authentication of sessions work?");
        assert_eq!(words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(), ["authentication", "sessions", "work"]);
        assert_eq!(file_name_match("src/requests/sessions.py", &words), 1.0);
        assert_eq!(file_name_match("src/requests/auth.py", &words), 1.0);
        assert_eq!(file_name_match("src/AuthUtils.java", &words), 0.5);
        assert_eq!(file_name_match("src/adapters.py", &words), 0.0);
        let words = query_words("how errors are formatting");
        assert_eq!(file_name_match("error/formatter.ts", &words), 1.0);
        // Short words only match whole; unrelated words sharing a few letters do not match.
        let same_word = |a: &str, b: &str| same_form(a, &stem(a), b, &stem(b));
        assert!(!same_word("transform", "transfer"));
        assert!(!same_word("run", "runtime"));
        assert!(same_word("certs", "certificate"));
        assert!(same_word("utility", "utils"));
        assert!(same_word("spawn", "spawned"));
        assert_eq!(file_name_match("lib/cf-h1-proxy.c", &query_words("proxy tunnels")), 1.0 / 3.0);
    }

    #[test]
    fn files_aggregate_their_chunks() {
        let hits = vec![hit(1, "a", 0.5), hit(2, "b", 0.45), hit(3, "b", 0.44), hit(4, "c", 0.1)];
        let files = rank_files(&hits, 2, 0.7, 5);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, "b");
        assert!((files[0].score - (0.45 + 0.7 * 0.44)).abs() < 1e-6);
        assert_eq!(files[1].path, "a");
    }
}
