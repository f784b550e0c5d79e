//! `POST {base_url}/api/embed`.

use async_trait::async_trait;
use ragops_http::{settings, validate};
use ragops_lib::error::{Error, ProviderError};
use ragops_lib::model::Embedding;
use ragops_lib::provider::{EmbeddingProvider, ModelId, ProviderSettings};
use serde_json::json;

use crate::{
    DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, DEFAULT_EMBEDDING_MODEL, Endpoint, OLLAMA_PROVIDER, OllamaOptions,
};

/// Embeddings from an Ollama server.
#[derive(Debug)]
pub struct OllamaEmbedder {
    endpoint: Endpoint,
    model: ModelId,
    dimensions: usize,
    truncate: Option<bool>,
    keep_alive: Option<String>,
    batch_size: usize,
    concurrency: usize,
}

/// Vector lengths of common Ollama embedding models (tag ignored), for when `dimensions` is not set.
fn known_dimensions(model: &str) -> Option<usize> {
    match model.split(':').next().unwrap_or(model) {
        "nomic-embed-text" => Some(768),
        "mxbai-embed-large" | "snowflake-arctic-embed" | "bge-m3" | "bge-large" => Some(1024),
        "all-minilm" => Some(384),
        _ => None,
    }
}

impl OllamaEmbedder {
    /// Builds the embedder from `[embedding]` settings; `env` reads environment variables.
    ///
    /// # Errors
    /// An unknown key in `[embedding.ollama]`, an invalid URL, an unset `api_key_env` variable,
    /// or an unknown model without `dimensions`.
    pub fn try_new(s: &ProviderSettings, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let table = "embedding.ollama";
        let o: OllamaOptions = settings::parse_table(table, &s.options)?;
        if o.context_window.is_some() {
            return Err(settings::invalid(&format!("{table}.context_window"), "applies to [llm.ollama] only"));
        }
        let model = s.model.clone().unwrap_or_else(|| DEFAULT_EMBEDDING_MODEL.to_string());
        let dimensions = s.dimensions.or_else(|| known_dimensions(&model)).ok_or_else(|| {
            settings::invalid("embedding.dimensions", format!("the vector length of `{model}` is not known: set it"))
        })?;
        let concurrency = s.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        let endpoint = crate::endpoint(table, &o, concurrency, env)?;
        Ok(OllamaEmbedder {
            endpoint,
            model: ModelId::new(OLLAMA_PROVIDER, model),
            dimensions,
            truncate: o.truncate,
            keep_alive: o.keep_alive,
            batch_size: s.batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
            concurrency,
        })
    }
}

#[async_trait]
impl EmbeddingProvider for OllamaEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, ProviderError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut body = json!({"model": self.model.name, "input": texts});
        if let Some(t) = self.truncate {
            body["truncate"] = json!(t);
        }
        if let Some(k) = &self.keep_alive {
            body["keep_alive"] = json!(k);
        }
        let url = format!("{}/api/embed", self.endpoint.base_url);
        let answer = self.endpoint.http.post_json(&url, &body).await?;
        let items =
            answer.get("embeddings").and_then(|e| e.as_array()).ok_or_else(|| ProviderError::MalformedResponse {
                provider: OLLAMA_PROVIDER.into(),
                message: "no `embeddings` array".into(),
            })?;
        let vectors = items.iter().map(|v| validate::vector(OLLAMA_PROVIDER, v)).collect::<Result<Vec<_>, _>>()?;
        validate::embeddings(OLLAMA_PROVIDER, texts.len(), self.dimensions, vectors)
    }
    fn model(&self) -> &ModelId {
        &self.model
    }
    fn dimensions(&self) -> usize {
        self.dimensions
    }
    fn max_batch_size(&self) -> usize {
        self.batch_size
    }
    fn max_concurrency(&self) -> usize {
        self.concurrency
    }
}
