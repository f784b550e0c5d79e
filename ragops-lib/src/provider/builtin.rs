//! The built-in offline embedder: a static embedding model shipped in the crate, optionally
//! mixed with code-aware feature hashing.
//!
//! The semantic part is [`StaticModel`] (token vectors distilled from all-MiniLM-L6-v2, mean
//! pooled over the identifier-split words of the text). The hashing part splits the text into
//! code-aware tokens ([`crate::lexical::tokenize`]); every token adds a sublinear weight
//! (`1 + ln tf`, whole identifiers counting more than their parts) to one of `hash_dims` buckets
//! chosen by a hash, with a sign from the same hash so that collisions cancel out on average.
//! Both parts are L2-normalised and concatenated with weights `√share` and `√(1 − share)`, so
//! the cosine of two vectors is `share · cos_semantic + (1 − share) · cos_hashing`. It needs no
//! model download, no network and no server, and is deterministic.

use async_trait::async_trait;

use super::static_model::{MODEL_BLAKE3, MODEL_NAME, ModelError, StaticModel};
use super::{EmbeddingProvider, ModelId};
use crate::error::ProviderError;
use crate::lexical::{TermTable, TextTerms};
use crate::model::Embedding;

/// The provider name of the built-in embedder.
pub const BUILTIN_PROVIDER: &str = "builtin";

/// Default length of the feature-hashing part of the vector (`embedding.dimensions` sets it).
pub const DEFAULT_DIMENSIONS: usize = 384;

/// Default share of the semantic (static model) part in the cosine.
pub const DEFAULT_SEMANTIC_SHARE: f32 = 0.5;

/// Version of the hashing scheme; bump it whenever the vectors it makes change.
const SCHEME_VERSION: u32 = 2;
/// Weight of an identifier's parts relative to the identifier itself.
const PART_WEIGHT: f32 = 0.5;

/// The built-in embedder.
#[derive(Debug, Clone)]
pub struct BuiltinEmbedder {
    model: ModelId,
    hash_dims: usize,
    semantic_share: f32,
    semantic_dims: usize,
}

impl BuiltinEmbedder {
    /// The default mix with a hashing part of `dimensions` values (at least 16).
    pub fn new(dimensions: usize) -> Self {
        BuiltinEmbedder::with_share(dimensions, DEFAULT_SEMANTIC_SHARE)
    }

    /// A mix giving the semantic part `semantic_share` of the cosine (clamped to 0..=1; 1 drops
    /// the hashing part, 0 the semantic part) and the hashing part `hash_dims` values.
    pub fn with_share(hash_dims: usize, semantic_share: f32) -> Self {
        let semantic_share = if semantic_share.is_finite() { semantic_share.clamp(0.0, 1.0) } else { 1.0 };
        let hash_dims = if semantic_share >= 1.0 { 0 } else { hash_dims.max(16) };
        let semantic_dims = if semantic_share > 0.0 { 256 } else { 0 };
        // The name pins every parameter that shapes the vectors (the weights by their hash),
        // so an index built with other parameters is never mixed with this one.
        let params = format!(
            "v{SCHEME_VERSION} static={MODEL_NAME}:{MODEL_BLAKE3} share={semantic_share} fnv1a64 part={PART_WEIGHT} \
             hash_dims={hash_dims} stopwords={}",
            crate::lexical::stopwords().join(",")
        );
        let digest = blake3::hash(params.as_bytes()).to_hex();
        let name = format!("{MODEL_NAME}-{}+hash{hash_dims}-v{SCHEME_VERSION}-{}", &MODEL_BLAKE3[..8], &digest[..12]);
        BuiltinEmbedder { model: ModelId::new(BUILTIN_PROVIDER, name), hash_dims, semantic_share, semantic_dims }
    }

    /// Checks that the shipped model loads (its checksum matches).
    ///
    /// # Errors
    /// The model's [`ModelError`].
    pub fn verify(&self) -> Result<(), ModelError> {
        if self.semantic_dims > 0 {
            StaticModel::builtin()?;
        }
        Ok(())
    }

    /// Embeds one text synchronously.
    ///
    /// # Errors
    /// The shipped model failed its checksum or is malformed.
    pub fn embed_one(&self, text: &str) -> Result<Embedding, ModelError> {
        self.embed_terms(&crate::lexical::analyze(text))
    }

    /// Embeds a text from its counted tokens ([`crate::lexical::analyze`]): what a scan does,
    /// having counted them once for the lexical index too. The same values, bit for bit, as
    /// the static model's and the hashing part's vectors of [`crate::lexical::tokenize`]'s
    /// tokens mixed.
    ///
    /// # Errors
    /// The shipped model failed its checksum or is malformed.
    pub fn embed_terms(&self, terms: &TextTerms) -> Result<Embedding, ModelError> {
        let model = if self.semantic_dims > 0 { Some(StaticModel::builtin()?) } else { None };
        let mut v = Vec::with_capacity(self.semantic_dims + self.hash_dims);
        if let Some(model) = model {
            let w = self.semantic_share.sqrt();
            v.extend(PIECES.with_borrow_mut(|pieces| semantic(model, terms, pieces)).into_iter().map(|x| x * w));
        }
        if self.hash_dims > 0 {
            let w = (1.0 - self.semantic_share).sqrt();
            let mut hashed = vec![0.0f32; self.hash_dims];
            for (_, hash, tf, whole) in terms.iter_hashed() {
                add_hashed(&mut hashed, hash, tf as f32, whole);
            }
            normalize(&mut hashed);
            v.extend(hashed.into_iter().map(|x| x * w));
        }
        // Re-normalise: a text with words for one part only still gets a unit vector.
        normalize(&mut v);
        Ok(v)
    }
}

thread_local! {
    /// Each thread's memo of the words it has split into WordPieces.
    static PIECES: std::cell::RefCell<PieceMemo> = std::cell::RefCell::new(PieceMemo::default());
}

/// Words already split into WordPiece ids: each distinct word is looked up in the vocabulary
/// once per thread (all forgotten past `max_words`).
struct PieceMemo {
    max_words: usize,
    /// Short words with few pieces, in a direct-mapped cache whose keys are inline (the common
    /// words of a corpus stay in the processor's cache; no pointer to follow); then the
    /// table of every word.
    recent: Vec<RecentWord>,
    words: TermTable,
    /// Per word id: its pieces, a span of `pieces`.
    spans: Vec<(u32, u32)>,
    pieces: Vec<u32>,
}

/// Slots of [`PieceMemo::recent`].
const RECENT_SLOTS: usize = 1 << 14;
/// The longest word [`PieceMemo::recent`] holds.
const RECENT_WORD_BYTES: usize = 22;

/// A word and its pieces in [`PieceMemo::recent`].
#[derive(Clone, Copy, Default)]
struct RecentWord {
    hash: u64,
    /// 0: an empty slot (words are never empty).
    len: u8,
    pieces_len: u8,
    word: [u8; RECENT_WORD_BYTES],
    pieces: [u32; 4],
}

impl Default for PieceMemo {
    fn default() -> Self {
        PieceMemo::with_max_words(1 << 20)
    }
}

impl PieceMemo {
    fn with_max_words(max_words: usize) -> Self {
        PieceMemo {
            max_words,
            recent: vec![RecentWord::default(); RECENT_SLOTS],
            words: TermTable::default(),
            spans: Vec::new(),
            pieces: Vec::new(),
        }
    }

    /// Calls `f` with each WordPiece id of `word` (whose [`crate::lexical::fnv1a64`] is `hash`).
    fn for_each_piece(&mut self, model: &StaticModel, word: &str, hash: u64, mut f: impl FnMut(u32)) {
        let slot = (crate::lexical::table_hash(hash) as usize) & (RECENT_SLOTS - 1);
        let recent = &self.recent[slot];
        if recent.hash == hash && usize::from(recent.len) == word.len() && &recent.word[..word.len()] == word.as_bytes()
        {
            recent.pieces[..usize::from(recent.pieces_len)].iter().for_each(|&p| f(p));
            return;
        }
        let id = self.words.intern_hashed(word, hash) as usize;
        if id == self.spans.len() {
            let start = self.pieces.len() as u32;
            model.word_pieces(word, &mut self.pieces);
            self.spans.push((start, self.pieces.len() as u32 - start));
        }
        let (start, len) = self.spans[id];
        let pieces = &self.pieces[start as usize..(start + len) as usize];
        if word.len() <= RECENT_WORD_BYTES && pieces.len() <= 4 {
            let mut entry =
                RecentWord { hash, len: word.len() as u8, pieces_len: pieces.len() as u8, ..Default::default() };
            entry.word[..word.len()].copy_from_slice(word.as_bytes());
            entry.pieces[..pieces.len()].copy_from_slice(pieces);
            self.recent[slot] = entry;
        }
        pieces.iter().for_each(|&p| f(p));
    }
}

/// The static model's vector of a text's words ([`StaticModel::embed_tokens`] of its tokens):
/// the mean of their pieces' vectors, each word weighted by its count, summed in order of
/// first appearance; L2-normalised.
fn semantic(model: &StaticModel, terms: &TextTerms, memo: &mut PieceMemo) -> Vec<f32> {
    if memo.words.size() > memo.max_words {
        *memo = PieceMemo::with_max_words(memo.max_words);
    }
    let mut acc = vec![0.0f32; model.dimensions()];
    for (word, hash, count) in terms.words_hashed() {
        memo.for_each_piece(model, word, hash, |piece| model.add_piece(piece, count, &mut acc));
    }
    normalize(&mut acc);
    acc
}

impl Default for BuiltinEmbedder {
    fn default() -> Self {
        BuiltinEmbedder::new(DEFAULT_DIMENSIONS)
    }
}

#[async_trait]
impl EmbeddingProvider for BuiltinEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, ProviderError> {
        texts
            .iter()
            .map(|t| {
                self.embed_one(t)
                    .map_err(|e| ProviderError::Permanent { provider: BUILTIN_PROVIDER.into(), message: e.to_string() })
            })
            .collect()
    }
    async fn embed_analyzed(
        &self,
        texts: &[String],
        terms: &[std::sync::Arc<TextTerms>],
    ) -> Result<Vec<Embedding>, ProviderError> {
        if terms.len() != texts.len() {
            return self.embed(texts).await;
        }
        terms
            .iter()
            .map(|t| {
                self.embed_terms(t)
                    .map_err(|e| ProviderError::Permanent { provider: BUILTIN_PROVIDER.into(), message: e.to_string() })
            })
            .collect()
    }
    fn model(&self) -> &ModelId {
        &self.model
    }
    fn dimensions(&self) -> usize {
        self.semantic_dims + self.hash_dims
    }
    fn max_batch_size(&self) -> usize {
        256
    }
    fn max_concurrency(&self) -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }
    fn cheap_to_recompute(&self) -> bool {
        // Embedding a chunk costs about what caching its vector in sled does, and the cache
        // would hold a second copy of every vector of the index.
        true
    }
}

/// The feature-hashing vector of a text's tokens, L2-normalised (the reference for
/// [`BuiltinEmbedder::embed_terms`]'s hashing part).
#[cfg(test)]
fn hash_embed<T: crate::lexical::TokenLike>(tokens: &[T], dimensions: usize) -> Vec<f32> {
    use std::collections::HashMap;
    // Distinct tokens in order of first appearance (a deterministic summation order).
    let mut slots: HashMap<&str, usize, crate::fxhash::FxBuild> = HashMap::default();
    let mut weights: Vec<(&str, f32, bool)> = Vec::new();
    for token in tokens {
        let slot = *slots.entry(token.text()).or_insert_with(|| {
            weights.push((token.text(), 0.0, token.whole()));
            weights.len() - 1
        });
        weights[slot].1 += 1.0;
        weights[slot].2 |= token.whole();
    }
    let mut v = vec![0.0f32; dimensions];
    for (token, tf, whole) in weights {
        add_hashed(&mut v, crate::lexical::fnv1a64(token.as_bytes()), tf, whole);
    }
    normalize(&mut v);
    v
}

/// Adds a token's weight (`1 + ln tf`, less for a part of an identifier) to the bucket its
/// hash picks, with the sign its top bit picks.
fn add_hashed(v: &mut [f32], hash: u64, tf: f32, whole: bool) {
    let bucket = (hash % v.len() as u64) as usize;
    let sign = if hash >> 63 == 1 { -1.0 } else { 1.0 };
    let w = (1.0 + tf.ln()) * if whole { 1.0 } else { PART_WEIGHT };
    v[bucket] += sign * w;
}

/// Scales a vector to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn deterministic_and_unit_length() {
        let e = BuiltinEmbedder::default();
        let a = e.embed_one("fn parse_config(path: &Path) -> Config").unwrap();
        assert_eq!(a, e.embed_one("fn parse_config(path: &Path) -> Config").unwrap());
        assert_eq!(a.len(), e.dimensions());
        assert_eq!(e.dimensions(), 256 + DEFAULT_DIMENSIONS);
        assert!((dot(&a, &a) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn related_texts_score_higher() {
        for share in [0.0, DEFAULT_SEMANTIC_SHARE, 1.0] {
            let e = BuiltinEmbedder::with_share(DEFAULT_DIMENSIONS, share);
            let q = e.embed_one("parse config").unwrap();
            let near = e.embed_one("fn parse_config(path: &Path) -> Config { todo() }").unwrap();
            let far = e.embed_one("struct HttpClient { retries: u32, timeout: Duration }").unwrap();
            assert!(dot(&q, &near) > dot(&q, &far) + 0.2, "share {share}");
        }
    }

    #[test]
    fn semantic_part_relates_different_words() {
        let e = BuiltinEmbedder::default();
        let q = e.embed_one("retry a failed network request").unwrap();
        let near = e.embed_one("fn resend_on_connection_error(req: &HttpRequest, attempts: u32)").unwrap();
        let far = e.embed_one("fn render_table_border(style: &Style, width: usize)").unwrap();
        assert!(dot(&q, &near) > dot(&q, &far) + 0.05, "{} vs {}", dot(&q, &near), dot(&q, &far));
    }

    #[test]
    fn model_name_pins_dimensions_share_and_weights() {
        let name = |d, s| BuiltinEmbedder::with_share(d, s).model().name.clone();
        assert_ne!(name(128, 0.5), name(256, 0.5));
        assert_ne!(name(384, 0.5), name(384, 0.7));
        assert!(name(384, 0.5).contains(&MODEL_BLAKE3[..8]), "{}", name(384, 0.5));
        assert_eq!(BuiltinEmbedder::with_share(384, 1.0).dimensions(), 256);
        assert_eq!(BuiltinEmbedder::with_share(384, 0.0).dimensions(), 384);
    }

    /// The vector as the two parts define it, from the plain tokenizer's tokens.
    fn reference(e: &BuiltinEmbedder, text: &str) -> Embedding {
        let tokens = crate::lexical::tokenize(text);
        let mut v = Vec::new();
        if e.semantic_dims > 0 {
            let w = e.semantic_share.sqrt();
            v.extend(StaticModel::builtin().unwrap().embed_tokens(&tokens).into_iter().map(|x| x * w));
        }
        if e.hash_dims > 0 {
            let w = (1.0 - e.semantic_share).sqrt();
            v.extend(hash_embed(&tokens, e.hash_dims).into_iter().map(|x| x * w));
        }
        normalize(&mut v);
        v
    }

    #[test]
    fn interned_tokens_give_the_reference_vectors_bit_for_bit() {
        let texts = [
            "fn parse_config(path: &Path) -> Config { let cfg = parse_config(path); cfg }",
            "parseHTTPResponse_v2 the café_Über x86_64 retry retry __init__ IOError 1st2nd",
            // A whole identifier whose parts were all dropped, then one whose whole was dropped.
            "foo aNd bar_x in_x iF",
            "σίσυφος ΣΊΣΥΦΟΣ 日本語のテキスト emoji 😀 done",
            "",
            "  ;; {} 42 7 ",
            "supercalifragilisticexpialidocious_antidisestablishmentarianism unknownwordzzqx",
        ];
        for share in [0.0, DEFAULT_SEMANTIC_SHARE, 1.0] {
            let e = BuiltinEmbedder::with_share(64, share);
            // Twice: the second time every token is already interned.
            for _ in 0..2 {
                for text in texts {
                    let got = e.embed_one(text).unwrap();
                    let want = reference(&e, text);
                    assert_eq!(
                        got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        want.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                        "share {share}: {text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_full_piece_memo_starts_afresh_with_the_same_vectors() {
        let model = StaticModel::builtin().unwrap();
        let mut memo = PieceMemo::with_max_words(1000);
        let text = crate::lexical::analyze("fn retry_with_backoff(request: &Request, attempts: u32) -> Response");
        let first = semantic(model, &text, &mut memo);
        let filler: String = (0..1001).map(|i| format!("w{i} ")).collect();
        semantic(model, &crate::lexical::analyze(&filler), &mut memo);
        assert!(memo.words.size() > 1000);
        assert_eq!(semantic(model, &text, &mut memo), first);
        assert!(memo.words.size() < 100, "{}", memo.words.size());
    }

    #[test]
    fn empty_text_gives_zero_vector() {
        let v = BuiltinEmbedder::default().embed_one("  ;; {} ").unwrap();
        assert!(v.iter().all(|x| *x == 0.0));
    }
}
