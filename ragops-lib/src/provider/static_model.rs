//! The static embedding model shipped inside the crate: one vector per WordPiece token,
//! distilled from all-MiniLM-L6-v2 (see `models/minilm-static/README.md`).
//!
//! A text is split into code-aware words ([`crate::lexical::tokenize`], identifiers split on
//! `snake_case` / `camelCase`), each word into WordPiece tokens (greedy longest match, `##`
//! continuations, as BERT's uncased tokenizer does for lowercase words); the text's vector is
//! the mean of its tokens' vectors, L2-normalised. The weights are int8 with one f32 scale per
//! row and are verified against [`MODEL_BLAKE3`] when first loaded.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::lexical::{TokenLike, tokenize};

/// The weights: `RGSE`, u32 version, u32 rows, u32 dims, rows × f32 scale, rows × dims int8.
static EMBEDDINGS: &[u8] = include_bytes!("../../models/minilm-static/embeddings.bin");
/// The WordPiece vocabulary, one token per line (line i = row i).
static VOCAB: &[u8] = include_bytes!("../../models/minilm-static/vocab.txt");

/// blake3 of `embeddings.bin` followed by `vocab.txt`, as printed by `distill.py`.
pub const MODEL_BLAKE3: &str = "2f726c9e8cacb0002e2dde66420b8a7c4e1b2d08a3d3d974fdf58d0fc9ae73b7";

/// Short name of the shipped model (the index records it with the weights' hash).
pub const MODEL_NAME: &str = "minilm-l6-static";

const MAGIC: &[u8; 4] = b"RGSE";
const FORMAT_VERSION: u32 = 1;
/// BERT's WordPiece gives up on longer words (they become `[UNK]`).
const MAX_WORD_CHARS: usize = 100;

/// Why the model could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The bytes are not the ones the crate was built with.
    #[error(
        "built-in embedding model: checksum mismatch (expected blake3 {expected}, found {actual}); the model files are corrupt: reinstall ragops"
    )]
    Checksum {
        /// The checksum the crate expects.
        expected: String,
        /// The checksum of the bytes found.
        actual: String,
    },
    /// The bytes do not follow the weights format.
    #[error("built-in embedding model: malformed weights: {0}")]
    Format(String),
}

/// A loaded static embedding model.
#[derive(Debug)]
pub struct StaticModel {
    dims: usize,
    scales: Vec<f32>,
    /// The int8 weights, row after row: borrowed from the crate's own bytes for the shipped
    /// model (no 7.5 MB copy, no page faults, in every process that loads it).
    weights: std::borrow::Cow<'static, [u8]>,
    /// Word-initial pieces.
    starts: HashMap<Box<str>, u32, crate::fxhash::FxBuild>,
    /// `##` continuation pieces, stored without the `##`.
    continuations: HashMap<Box<str>, u32, crate::fxhash::FxBuild>,
}

impl StaticModel {
    /// The model shipped in the crate, loaded and verified once per process.
    ///
    /// # Errors
    /// [`ModelError`] if the embedded bytes do not match [`MODEL_BLAKE3`] or are malformed.
    pub fn builtin() -> Result<&'static StaticModel, ModelError> {
        static MODEL: OnceLock<Result<StaticModel, ModelError>> = OnceLock::new();
        MODEL.get_or_init(|| StaticModel::load(EMBEDDINGS.into(), VOCAB, MODEL_BLAKE3)).as_ref().map_err(Clone::clone)
    }

    /// Loads a model from its two files' bytes after checking their blake3 against `expected`.
    ///
    /// # Errors
    /// [`ModelError::Checksum`] on a mismatch, [`ModelError::Format`] on malformed bytes.
    pub fn from_bytes(embeddings: &[u8], vocab: &[u8], expected: &str) -> Result<StaticModel, ModelError> {
        StaticModel::load(embeddings.to_vec().into(), vocab, expected)
    }

    /// [`from_bytes`](Self::from_bytes), keeping the weights' bytes as they are given.
    fn load(bytes: std::borrow::Cow<'static, [u8]>, vocab: &[u8], expected: &str) -> Result<StaticModel, ModelError> {
        let embeddings: &[u8] = &bytes;
        let mut hasher = blake3::Hasher::new();
        hasher.update(embeddings);
        hasher.update(vocab);
        let actual = hasher.finalize().to_hex().to_string();
        if actual != expected {
            return Err(ModelError::Checksum { expected: expected.to_string(), actual });
        }
        let format = |m: &str| ModelError::Format(m.to_string());
        if embeddings.len() < 16 || &embeddings[..4] != MAGIC {
            return Err(format("missing RGSE header"));
        }
        let word =
            |i: usize| u32::from_le_bytes([embeddings[i], embeddings[i + 1], embeddings[i + 2], embeddings[i + 3]]);
        if word(4) != FORMAT_VERSION {
            return Err(format("unknown format version"));
        }
        let (rows, dims) = (word(8) as usize, word(12) as usize);
        let body = &embeddings[16..];
        if dims == 0 || body.len() != rows * 4 + rows * dims {
            return Err(format("size does not match rows x dims"));
        }
        let scales: Vec<f32> =
            body[..rows * 4].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let vocab = std::str::from_utf8(vocab).map_err(|_| format("vocabulary is not UTF-8"))?;
        let tokens: Vec<&str> = vocab.strip_suffix('\n').unwrap_or(vocab).split('\n').collect();
        if tokens.len() != rows {
            return Err(format("vocabulary length differs from the number of rows"));
        }
        let (mut starts, mut continuations) = (HashMap::default(), HashMap::default());
        for (id, token) in tokens.iter().enumerate() {
            let id = id as u32;
            if token.starts_with('[') && token.ends_with(']') {
                continue; // [PAD], [UNK]: never produced for a word
            }
            match token.strip_prefix("##") {
                Some(rest) if !rest.is_empty() => continuations.insert(Box::from(rest), id),
                _ => starts.insert(Box::from(*token), id),
            };
        }
        let header = 16 + rows * 4;
        let weights = match bytes {
            std::borrow::Cow::Borrowed(all) => std::borrow::Cow::Borrowed(&all[header..]),
            std::borrow::Cow::Owned(mut all) => {
                all.drain(..header);
                std::borrow::Cow::Owned(all)
            }
        };
        Ok(StaticModel { dims, scales, weights, starts, continuations })
    }

    /// Length of the vectors.
    pub fn dimensions(&self) -> usize {
        self.dims
    }

    /// Appends the WordPiece ids of one lowercase word; a word that cannot be split into known
    /// pieces adds nothing (BERT would give `[UNK]`, which the pooling skips).
    pub fn word_pieces(&self, word: &str, out: &mut Vec<u32>) {
        if word.chars().count() > MAX_WORD_CHARS {
            return;
        }
        let before = out.len();
        let mut start = 0;
        while start < word.len() {
            let table = if start == 0 { &self.starts } else { &self.continuations };
            let rest = &word[start..];
            let mut end = rest.len();
            let found = loop {
                if let Some(&id) = table.get(&rest[..end]) {
                    break Some(id);
                }
                match rest[..end].char_indices().next_back() {
                    Some((i, _)) if i > 0 => end = i,
                    _ => break None,
                }
            };
            match found {
                Some(id) => {
                    out.push(id);
                    start += end;
                }
                None => {
                    out.truncate(before);
                    return;
                }
            }
        }
    }

    /// The words of a text the model is fed: identifiers split into their parts (`parse_config`
    /// gives `parse`, `config`), lowercased, stopwords and single characters dropped.
    pub fn words(text: &str) -> Vec<String> {
        let tokens = tokenize(text);
        let mut words = Vec::with_capacity(tokens.len());
        for_each_word(&tokens, |w| words.push(w.to_string()));
        words
    }

    /// The mean of the token vectors of `text`'s words, L2-normalised (zero if no word is known).
    pub fn embed(&self, text: &str) -> Vec<f32> {
        self.embed_tokens(&tokenize(text))
    }

    /// [`embed`](Self::embed) from the text's code-aware tokens (shared with other consumers).
    pub fn embed_tokens<T: TokenLike>(&self, tokens: &[T]) -> Vec<f32> {
        // Each distinct word is split and looked up once, then weighted by its count; words are
        // summed in order of first appearance, so the result is bit-for-bit deterministic.
        let mut slots: HashMap<&str, usize, crate::fxhash::FxBuild> = HashMap::default();
        let mut counts: Vec<(&str, u32)> = Vec::new();
        for_each_word(tokens, |w| {
            let slot = *slots.entry(w).or_insert_with(|| {
                counts.push((w, 0));
                counts.len() - 1
            });
            counts[slot].1 += 1;
        });
        let mut acc = vec![0.0f32; self.dims];
        let mut ids = Vec::new();
        for (word, count) in counts {
            ids.clear();
            self.word_pieces(word, &mut ids);
            for &id in &ids {
                self.add_piece(id, count, &mut acc);
            }
        }
        super::builtin::normalize(&mut acc);
        acc
    }

    /// Adds `count` times WordPiece `piece`'s vector to `acc`.
    pub(crate) fn add_piece(&self, piece: u32, count: u32, acc: &mut [f32]) {
        let row = piece as usize;
        let scale = self.scales[row] * count as f32;
        let weights = &self.weights[row * self.dims..(row + 1) * self.dims];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            avx2::add_scaled(acc, weights, scale);
            return;
        }
        add_scaled(acc, weights, scale);
    }
}

/// `acc += scale · weights`, element by element (the same operations whatever the CPU: a
/// multiplication then an addition, never fused, so vectors are the same bit for bit).
#[inline(always)]
fn add_scaled(acc: &mut [f32], weights: &[u8], scale: f32) {
    for (a, &w) in acc.iter_mut().zip(weights) {
        *a += scale * f32::from(w as i8);
    }
}

/// [`add_scaled`] compiled for AVX2 (eight lanes, one instruction to widen eight weights):
/// pooling is the embedder's hottest loop, and a portable build only has SSE2.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    /// [`add_scaled`](super::add_scaled) on a CPU with AVX2.
    ///
    /// # Panics
    /// Never; callers check the CPU first (see `StaticModel::add_piece`).
    pub(super) fn add_scaled(acc: &mut [f32], weights: &[u8], scale: f32) {
        debug_assert!(std::arch::is_x86_feature_detected!("avx2"));
        // SAFETY: the only caller checks `is_x86_feature_detected!("avx2")` first.
        unsafe { add_scaled_avx2(acc, weights, scale) }
    }

    #[target_feature(enable = "avx2")]
    fn add_scaled_avx2(acc: &mut [f32], weights: &[u8], scale: f32) {
        super::add_scaled(acc, weights, scale);
    }
}

/// Calls `f` with each word the model is fed, in order ([`crate::lexical::for_each_word`]).
fn for_each_word<'a, T: TokenLike>(tokens: &'a [T], mut f: impl FnMut(&'a str)) {
    crate::lexical::for_each_word(tokens, T::whole, |t| f(t.text()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn shipped_model_loads_and_is_verified() {
        let m = StaticModel::builtin().unwrap();
        assert_eq!(m.dimensions(), 256);
        assert_eq!(m.scales.len(), 29_525);
    }

    #[test]
    fn corrupted_weights_are_a_clear_error() {
        let mut bytes = EMBEDDINGS.to_vec();
        bytes[1000] ^= 1;
        let err = StaticModel::from_bytes(&bytes, VOCAB, MODEL_BLAKE3).unwrap_err();
        assert!(matches!(err, ModelError::Checksum { .. }));
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        let mut vocab = VOCAB.to_vec();
        vocab.push(b'x');
        assert!(matches!(StaticModel::from_bytes(EMBEDDINGS, &vocab, MODEL_BLAKE3), Err(ModelError::Checksum { .. })));
    }

    #[test]
    fn malformed_weights_are_a_clear_error() {
        let truncated = &EMBEDDINGS[..EMBEDDINGS.len() - 1];
        let hash = |e: &[u8], v: &[u8]| {
            let mut h = blake3::Hasher::new();
            h.update(e);
            h.update(v);
            h.finalize().to_hex().to_string()
        };
        let err = StaticModel::from_bytes(truncated, VOCAB, &hash(truncated, VOCAB)).unwrap_err();
        assert!(matches!(err, ModelError::Format(_)), "{err}");
        let err = StaticModel::from_bytes(b"nope", b"", &hash(b"nope", b"")).unwrap_err();
        assert!(err.to_string().contains("malformed"), "{err}");
    }

    #[test]
    fn wordpiece_splits_like_bert() {
        let m = StaticModel::builtin().unwrap();
        let pieces = |w: &str| {
            let mut ids = Vec::new();
            m.word_pieces(w, &mut ids);
            ids.len()
        };
        assert_eq!(pieces("timer"), 1);
        assert!(pieces("deserializer") > 1);
        assert_eq!(pieces("\u{1F600}\u{1F600}"), 0);
    }

    #[test]
    fn words_are_identifier_parts() {
        assert_eq!(
            StaticModel::words("fn parseHttpResponse(max_size)"),
            ["fn", "parse", "http", "response", "max", "size"]
        );
    }

    #[test]
    fn similar_texts_are_closer_than_unrelated_ones() {
        let m = StaticModel::builtin().unwrap();
        let q = m.embed("how are sleep deadlines tracked by the timer wheel");
        let near = m.embed("struct TimerWheel { levels: Vec<Level> } fn insert_sleep(deadline: Instant)");
        let far = m.embed("fn parse_json_string(bytes: &[u8]) -> Result<String, SyntaxError>");
        assert!(dot(&q, &near) > dot(&q, &far) + 0.1, "{} vs {}", dot(&q, &near), dot(&q, &far));
        assert_eq!(m.embed("timer wheel"), m.embed("timer wheel"));
        assert!((dot(&q, &q) - 1.0).abs() < 1e-4);
    }
}
