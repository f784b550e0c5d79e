//! `POST {base_url}/embeddings`.

use async_trait::async_trait;
use ragops_http::{settings, validate};
use ragops_lib::error::{Error, ProviderError};
use ragops_lib::model::Embedding;
use ragops_lib::provider::{EmbeddingProvider, ModelId, ProviderSettings};
use serde_json::json;

use crate::{
    DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, DEFAULT_EMBEDDING_MODEL, Endpoint, OPENAI_PROVIDER, OpenAiOptions,
};

/// Embeddings from OpenAI or an OpenAI-compatible server.
#[derive(Debug)]
pub struct OpenAiEmbedder {
    endpoint: Endpoint,
    model: ModelId,
    dimensions: usize,
    send_dimensions: bool,
    batch_size: usize,
    concurrency: usize,
}

/// Vector lengths of OpenAI's embedding models, for when `dimensions` is not set.
fn known_dimensions(model: &str) -> Option<usize> {
    match model {
        "text-embedding-3-small" | "text-embedding-ada-002" => Some(1536),
        "text-embedding-3-large" => Some(3072),
        _ => None,
    }
}

impl OpenAiEmbedder {
    /// Builds the embedder from `[embedding]` settings; `env` reads environment variables.
    ///
    /// # Errors
    /// An unknown key in `[embedding.openai]`, a missing key for api.openai.com, an unset
    /// `api_key_env` variable, an invalid URL, or an unknown model without `dimensions`.
    pub fn try_new(s: &ProviderSettings, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let table = "embedding.openai";
        let o: OpenAiOptions = settings::parse_table(table, &s.options)?;
        if o.context_window.is_some() {
            return Err(settings::invalid(&format!("{table}.context_window"), "applies to [llm.openai] only"));
        }
        let model = s.model.clone().unwrap_or_else(|| DEFAULT_EMBEDDING_MODEL.to_string());
        let dimensions = s.dimensions.or_else(|| known_dimensions(&model)).ok_or_else(|| {
            settings::invalid("embedding.dimensions", format!("the vector length of `{model}` is not known: set it"))
        })?;
        let send_dimensions =
            o.send_dimensions.unwrap_or(s.dimensions.is_some() && model.starts_with("text-embedding-3"));
        let concurrency = s.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        let endpoint = crate::endpoint(table, &o, concurrency, env)?;
        Ok(OpenAiEmbedder {
            endpoint,
            model: ModelId::new(OPENAI_PROVIDER, model),
            dimensions,
            send_dimensions,
            batch_size: s.batch_size.unwrap_or(DEFAULT_BATCH_SIZE),
            concurrency,
        })
    }
}

#[async_trait]
impl EmbeddingProvider for OpenAiEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, ProviderError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut body = json!({"model": self.model.name, "input": texts, "encoding_format": "float"});
        if self.send_dimensions {
            body["dimensions"] = json!(self.dimensions);
        }
        let answer = self.endpoint.http.post_json(&self.endpoint.url("embeddings"), &body).await?;
        let malformed = |message: &str| ProviderError::MalformedResponse {
            provider: OPENAI_PROVIDER.into(),
            message: message.to_string(),
        };
        let data = answer.get("data").and_then(|d| d.as_array()).ok_or_else(|| malformed("no `data` array"))?;
        let mut slots: Vec<Option<Embedding>> = vec![None; data.len()];
        for (i, item) in data.iter().enumerate() {
            let index = match item.get("index") {
                Some(v) => v.as_u64().map(|n| n as usize).ok_or_else(|| malformed("an `index` is not a number"))?,
                None => i,
            };
            let slot = slots.get_mut(index).ok_or_else(|| malformed("an `index` is out of range"))?;
            if slot.is_some() {
                return Err(malformed("two embeddings share one `index`"));
            }
            let v = item.get("embedding").ok_or_else(|| malformed("an item has no `embedding`"))?;
            *slot = Some(validate::vector(OPENAI_PROVIDER, v)?);
        }
        let vectors: Vec<Embedding> = slots.into_iter().flatten().collect();
        validate::embeddings(OPENAI_PROVIDER, texts.len(), self.dimensions, vectors)
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
