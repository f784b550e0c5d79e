//! The built-in offline embedder: code-aware feature hashing.
//!
//! Each text is split into code-aware tokens ([`crate::lexical::tokenize`]); every token adds a
//! sublinear weight (`1 + ln tf`, whole identifiers counting more than their parts) to one of
//! `dimensions` buckets chosen by a hash, with a sign from the same hash so that collisions
//! cancel out on average; the vector is L2-normalised. It needs no model file, no network and
//! no server, is deterministic, and runs at hundreds of MB/s.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{EmbeddingProvider, ModelId};
use crate::error::ProviderError;
use crate::lexical::tokenize;
use crate::model::Embedding;

/// The provider name of the built-in embedder.
pub const BUILTIN_PROVIDER: &str = "builtin";

/// Default vector length of the built-in embedder.
pub const DEFAULT_DIMENSIONS: usize = 384;

/// Version of the hashing scheme; bump it whenever the vectors it makes change.
const SCHEME_VERSION: u32 = 1;
/// Weight of an identifier's parts relative to the identifier itself.
const PART_WEIGHT: f32 = 0.5;

/// The built-in feature-hashing embedder.
#[derive(Debug, Clone)]
pub struct BuiltinEmbedder {
    model: ModelId,
    dimensions: usize,
}

impl BuiltinEmbedder {
    /// An embedder producing vectors of `dimensions` values (at least 16).
    pub fn new(dimensions: usize) -> Self {
        let dimensions = dimensions.max(16);
        // The name pins every parameter that shapes the vectors, so an index built with other
        // parameters is never mixed with this one.
        let params = format!(
            "feature-hash v{SCHEME_VERSION} fnv1a64 part={PART_WEIGHT} dims={dimensions} stopwords={}",
            crate::lexical::stopwords().join(",")
        );
        let digest = blake3::hash(params.as_bytes()).to_hex();
        let name = format!("feature-hash-v{SCHEME_VERSION}-{dimensions}d-{}", &digest[..12]);
        BuiltinEmbedder { model: ModelId::new(BUILTIN_PROVIDER, name), dimensions }
    }

    /// Embeds one text synchronously.
    pub fn embed_one(&self, text: &str) -> Embedding {
        let mut weights: HashMap<&str, (f32, bool)> = HashMap::new();
        let tokens = tokenize(text);
        for token in &tokens {
            let entry = weights.entry(token.text.as_str()).or_insert((0.0, token.whole));
            entry.0 += 1.0;
            entry.1 |= token.whole;
        }
        let mut v = vec![0.0f32; self.dimensions];
        for (token, (tf, whole)) in weights {
            let h = fnv1a64(token.as_bytes());
            let bucket = (h % self.dimensions as u64) as usize;
            let sign = if h >> 63 == 1 { -1.0 } else { 1.0 };
            let w = (1.0 + tf.ln()) * if whole { 1.0 } else { PART_WEIGHT };
            v[bucket] += sign * w;
        }
        normalize(&mut v);
        v
    }
}

impl Default for BuiltinEmbedder {
    fn default() -> Self {
        BuiltinEmbedder::new(DEFAULT_DIMENSIONS)
    }
}

#[async_trait]
impl EmbeddingProvider for BuiltinEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, ProviderError> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
    fn model(&self) -> &ModelId {
        &self.model
    }
    fn dimensions(&self) -> usize {
        self.dimensions
    }
    fn max_batch_size(&self) -> usize {
        256
    }
    fn max_concurrency(&self) -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
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
        let a = e.embed_one("fn parse_config(path: &Path) -> Config");
        assert_eq!(a, e.embed_one("fn parse_config(path: &Path) -> Config"));
        assert_eq!(a.len(), DEFAULT_DIMENSIONS);
        assert!((dot(&a, &a) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn related_texts_score_higher() {
        let e = BuiltinEmbedder::default();
        let q = e.embed_one("parse config");
        let near = e.embed_one("fn parse_config(path: &Path) -> Config { todo() }");
        let far = e.embed_one("struct HttpClient { retries: u32, timeout: Duration }");
        assert!(dot(&q, &near) > dot(&q, &far) + 0.2);
    }

    #[test]
    fn model_name_pins_dimensions() {
        assert_ne!(BuiltinEmbedder::new(128).model().name, BuiltinEmbedder::new(256).model().name);
    }

    #[test]
    fn empty_text_gives_zero_vector() {
        let v = BuiltinEmbedder::default().embed_one("  ;; {} ");
        assert!(v.iter().all(|x| *x == 0.0));
    }
}
