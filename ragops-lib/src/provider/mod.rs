//! Provider traits: embedding models and language models, the built-in offline embedder, and
//! the registry that maps config names to factories.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::error::ProviderError;
use crate::lexical::TextTerms;
use crate::model::Embedding;

pub mod builtin;
pub mod registry;
pub mod static_model;

pub use builtin::BuiltinEmbedder;
pub use registry::{EmbeddingFactory, LlmFactory, ProviderSettings, Registry, StoreFactory, StoreSettings};

/// Names a model: which provider serves it and the model's own name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelId {
    /// The provider, e.g. `builtin`, `mock`, `openai`.
    pub provider: String,
    /// The model, precise enough that different weights get different names.
    pub name: String,
}

impl ModelId {
    /// A model id.
    pub fn new(provider: impl Into<String>, name: impl Into<String>) -> Self {
        ModelId { provider: provider.into(), name: name.into() }
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.name)
    }
}

/// Turns texts into vectors.
#[async_trait]
pub trait EmbeddingProvider: Send + Sync + fmt::Debug {
    /// Embeds one batch; output order = input order, one vector per text, each of
    /// [`dimensions`](Self::dimensions) values.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, ProviderError>;
    /// [`embed`](Self::embed) for texts whose tokens a scan has already counted (`terms[i]` is
    /// [`crate::lexical::analyze`] of `texts[i]`, for the lexical index): a provider that works
    /// from those tokens (the built-in one) need not tokenize again. The default ignores them.
    async fn embed_analyzed(
        &self,
        texts: &[String],
        terms: &[Arc<TextTerms>],
    ) -> Result<Vec<Embedding>, ProviderError> {
        let _ = terms;
        self.embed(texts).await
    }
    /// The model: recorded in the index metadata and part of the embedding cache key.
    fn model(&self) -> &ModelId;
    /// Length of every vector.
    fn dimensions(&self) -> usize;
    /// Most texts one [`embed`](Self::embed) call accepts.
    fn max_batch_size(&self) -> usize {
        64
    }
    /// Most calls worth running at once.
    fn max_concurrency(&self) -> usize {
        4
    }
    /// Whether embedding a text again costs less than keeping its vector in the embedding
    /// cache until the scan commits (a fast, local, deterministic embedder such as the
    /// built-in one). A scan then keeps such vectors only in the index: they are still reused
    /// from it (renamed and copied files, identical chunks), but a scan stopped before its
    /// commit embeds its files again. Default `false`: a remote provider's vectors are cached
    /// as they arrive, so an interrupted scan does not pay for them twice.
    fn cheap_to_recompute(&self) -> bool {
        false
    }
}

/// A message role in a completion request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The user's words.
    User,
    /// The model's earlier answers.
    Assistant,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: String,
}

impl Message {
    /// A message.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message { role, content: content.into() }
    }
}

/// A request to a language model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompletionRequest {
    /// The conversation, system prompt first.
    pub messages: Vec<Message>,
    /// Upper bound on generated tokens.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// The request id of the command or chat turn, forwarded to servers that accept one
    /// (callers fill it from [`crate::telemetry::current_request_id`]).
    pub request_id: Option<String>,
}

impl CompletionRequest {
    /// A request with these messages.
    pub fn new(messages: Vec<Message>) -> Self {
        CompletionRequest { messages, ..Default::default() }
    }
}

/// A language model's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Completion {
    /// The generated text.
    pub text: String,
}

impl Completion {
    /// A completion.
    pub fn new(text: impl Into<String>) -> Self {
        Completion { text: text.into() }
    }
}

/// A stream of text fragments of a completion.
pub type CompletionStream = BoxStream<'static, Result<String, ProviderError>>;

/// Generates text.
#[async_trait]
pub trait LlmProvider: Send + Sync + fmt::Debug {
    /// Completes a request.
    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, ProviderError>;
    /// Streams a completion. The default yields the whole completion once, so providers
    /// without streaming work wherever streaming is used.
    async fn complete_stream(&self, req: &CompletionRequest) -> Result<CompletionStream, ProviderError> {
        let completion = self.complete(req).await?;
        Ok(stream::once(async move { Ok(completion.text) }).boxed())
    }
    /// The model.
    fn model(&self) -> &ModelId;
    /// How many tokens the model accepts, prompt and answer together.
    fn context_window(&self) -> usize {
        8192
    }
}

#[async_trait]
impl<T: EmbeddingProvider + ?Sized> EmbeddingProvider for Arc<T> {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, ProviderError> {
        (**self).embed(texts).await
    }
    async fn embed_analyzed(
        &self,
        texts: &[String],
        terms: &[Arc<TextTerms>],
    ) -> Result<Vec<Embedding>, ProviderError> {
        (**self).embed_analyzed(texts, terms).await
    }
    fn model(&self) -> &ModelId {
        (**self).model()
    }
    fn dimensions(&self) -> usize {
        (**self).dimensions()
    }
    fn max_batch_size(&self) -> usize {
        (**self).max_batch_size()
    }
    fn max_concurrency(&self) -> usize {
        (**self).max_concurrency()
    }
    fn cheap_to_recompute(&self) -> bool {
        (**self).cheap_to_recompute()
    }
}

#[async_trait]
impl<T: EmbeddingProvider + ?Sized> EmbeddingProvider for Box<T> {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, ProviderError> {
        (**self).embed(texts).await
    }
    async fn embed_analyzed(
        &self,
        texts: &[String],
        terms: &[Arc<TextTerms>],
    ) -> Result<Vec<Embedding>, ProviderError> {
        (**self).embed_analyzed(texts, terms).await
    }
    fn model(&self) -> &ModelId {
        (**self).model()
    }
    fn dimensions(&self) -> usize {
        (**self).dimensions()
    }
    fn max_batch_size(&self) -> usize {
        (**self).max_batch_size()
    }
    fn max_concurrency(&self) -> usize {
        (**self).max_concurrency()
    }
    fn cheap_to_recompute(&self) -> bool {
        (**self).cheap_to_recompute()
    }
}

#[async_trait]
impl<T: LlmProvider + ?Sized> LlmProvider for Arc<T> {
    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, ProviderError> {
        (**self).complete(req).await
    }
    async fn complete_stream(&self, req: &CompletionRequest) -> Result<CompletionStream, ProviderError> {
        (**self).complete_stream(req).await
    }
    fn model(&self) -> &ModelId {
        (**self).model()
    }
    fn context_window(&self) -> usize {
        (**self).context_window()
    }
}

#[async_trait]
impl<T: LlmProvider + ?Sized> LlmProvider for Box<T> {
    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, ProviderError> {
        (**self).complete(req).await
    }
    async fn complete_stream(&self, req: &CompletionRequest) -> Result<CompletionStream, ProviderError> {
        (**self).complete_stream(req).await
    }
    fn model(&self) -> &ModelId {
        (**self).model()
    }
    fn context_window(&self) -> usize {
        (**self).context_window()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Echo(ModelId);

    #[async_trait]
    impl LlmProvider for Echo {
        async fn complete(&self, req: &CompletionRequest) -> Result<Completion, ProviderError> {
            Ok(Completion::new(req.messages.last().map(|m| m.content.clone()).unwrap_or_default()))
        }
        fn model(&self) -> &ModelId {
            &self.0
        }
    }

    #[tokio::test]
    async fn default_stream_yields_whole_completion_once() {
        let llm: Arc<dyn LlmProvider> = Arc::new(Echo(ModelId::new("echo", "e")));
        let req = CompletionRequest::new(vec![Message::new(Role::User, "hello")]);
        let parts: Vec<_> = llm.complete_stream(&req).await.unwrap().collect().await;
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].as_ref().unwrap(), "hello");
    }
}
