//! The mock embedding provider.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use ragops_lib::error::ProviderError;
use ragops_lib::model::Embedding;
use ragops_lib::provider::{EmbeddingProvider, ModelId};
use serde::Deserialize;

/// Knobs of the mock embedder (`[embedding.mock]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MockEmbedderOptions {
    /// Every call after this many fails with a transient error.
    pub fail_after_calls: Option<usize>,
}

/// Hashes each text into a deterministic unit vector. Texts that share words share
/// dimensions, so search results are meaningful enough for tests.
#[derive(Debug)]
pub struct MockEmbedder {
    model: ModelId,
    dimensions: usize,
    options: MockEmbedderOptions,
    calls: AtomicUsize,
}

impl MockEmbedder {
    /// A mock embedder with vectors of `dimensions` values.
    pub fn new(dimensions: usize, options: MockEmbedderOptions) -> Self {
        MockEmbedder {
            model: ModelId::new(crate::MOCK_PROVIDER, format!("mock-words-{dimensions}")),
            dimensions: dimensions.max(1),
            options,
            calls: AtomicUsize::new(0),
        }
    }

    /// Embed calls made so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn vector(&self, text: &str) -> Embedding {
        let mut v = vec![0.0f32; self.dimensions];
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let h = blake3::hash(word.to_lowercase().as_bytes());
            let b = h.as_bytes();
            let i = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as usize % self.dimensions;
            v[i] += 1.0;
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }
}

#[async_trait]
impl EmbeddingProvider for MockEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, ProviderError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.options.fail_after_calls.is_some_and(|n| call > n) {
            return Err(ProviderError::Transient {
                provider: crate::MOCK_PROVIDER.into(),
                message: format!("injected failure on call {call}"),
            });
        }
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }
    fn model(&self) -> &ModelId {
        &self.model
    }
    fn dimensions(&self) -> usize {
        self.dimensions
    }
    fn max_batch_size(&self) -> usize {
        16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conforms() {
        let e = MockEmbedder::new(32, MockEmbedderOptions::default());
        ragops_lib::testing::embedding_provider_conformance(&e).await;
    }

    #[tokio::test]
    async fn injected_failures_are_transient() {
        let e = MockEmbedder::new(8, MockEmbedderOptions { fail_after_calls: Some(1) });
        e.embed(&["a".into()]).await.unwrap();
        let err = e.embed(&["a".into()]).await.unwrap_err();
        assert!(err.is_transient());
    }
}
