//! `POST {base_url}/api/chat`, whole or streamed (NDJSON).

use async_trait::async_trait;
use ragops_http::stream::{Step, fragments};
use ragops_http::{settings, validate};
use ragops_lib::error::{Error, ProviderError};
use ragops_lib::provider::{Completion, CompletionRequest, CompletionStream, LlmProvider, ModelId, ProviderSettings};
use serde_json::{Value, json};

use crate::{
    DEFAULT_CHAT_MODEL, DEFAULT_CONCURRENCY, DEFAULT_CONTEXT_WINDOW, Endpoint, OLLAMA_PROVIDER, OllamaOptions,
};

/// A chat model served by Ollama.
#[derive(Debug)]
pub struct OllamaLlm {
    endpoint: Endpoint,
    model: ModelId,
    context_window: usize,
    num_ctx: Option<usize>,
    keep_alive: Option<String>,
}

impl OllamaLlm {
    /// Builds the chat model from `[llm]` settings; `env` reads environment variables.
    ///
    /// # Errors
    /// As [`crate::OllamaEmbedder::try_new`], for `[llm.ollama]`.
    pub fn try_new(s: &ProviderSettings, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let table = "llm.ollama";
        let o: OllamaOptions = settings::parse_table(table, &s.options)?;
        if o.truncate.is_some() {
            return Err(settings::invalid(&format!("{table}.truncate"), "applies to [embedding.ollama] only"));
        }
        if o.context_window == Some(0) {
            return Err(settings::invalid(&format!("{table}.context_window"), "must be at least 1"));
        }
        let model = s.model.clone().unwrap_or_else(|| DEFAULT_CHAT_MODEL.to_string());
        let endpoint = crate::endpoint(table, &o, s.concurrency.unwrap_or(DEFAULT_CONCURRENCY), env)?;
        Ok(OllamaLlm {
            endpoint,
            model: ModelId::new(OLLAMA_PROVIDER, model),
            context_window: o.context_window.unwrap_or(DEFAULT_CONTEXT_WINDOW),
            num_ctx: o.context_window,
            keep_alive: o.keep_alive,
        })
    }

    fn body(&self, req: &CompletionRequest, stream: bool) -> Value {
        let mut options = serde_json::Map::new();
        if let Some(n) = req.max_tokens {
            options.insert("num_predict".into(), json!(n));
        }
        if let Some(t) = req.temperature {
            options.insert("temperature".into(), json!(t));
        }
        if let Some(n) = self.num_ctx {
            options.insert("num_ctx".into(), json!(n));
        }
        let mut body = json!({"model": self.model.name, "messages": req.messages, "stream": stream});
        if !options.is_empty() {
            body["options"] = Value::Object(options);
        }
        if let Some(k) = &self.keep_alive {
            body["keep_alive"] = json!(k);
        }
        body
    }

    fn url(&self) -> String {
        format!("{}/api/chat", self.endpoint.base_url)
    }
}

fn malformed(message: impl Into<String>) -> ProviderError {
    ProviderError::MalformedResponse { provider: OLLAMA_PROVIDER.into(), message: message.into() }
}

/// `{"error": "..."}` inside a 200 answer or a streamed line.
fn error_in(v: &Value) -> Option<ProviderError> {
    let message = v.get("error")?.as_str().unwrap_or("unknown error");
    let lower = message.to_lowercase();
    let provider = OLLAMA_PROVIDER.to_string();
    let message = format!("the server reported: {message}");
    Some(if lower.contains("context length") || lower.contains("context window") {
        ProviderError::ContextLengthExceeded { provider, message }
    } else {
        ProviderError::Permanent { provider, message }
    })
}

#[async_trait]
impl LlmProvider for OllamaLlm {
    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, ProviderError> {
        let answer = self.endpoint.http.post_json(&self.url(), &self.body(req, false)).await?;
        if let Some(e) = error_in(&answer) {
            return Err(e);
        }
        let text = answer
            .pointer("/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("no `message.content`"))?;
        Ok(Completion::new(validate::text(OLLAMA_PROVIDER, text.to_string())?))
    }

    async fn complete_stream(&self, req: &CompletionRequest) -> Result<CompletionStream, ProviderError> {
        let lines = self.endpoint.http.post_lines(&self.url(), &self.body(req, true)).await?;
        // NDJSON: one object per line, `"done": true` on the last.
        Ok(fragments(OLLAMA_PROVIDER, lines, |line| {
            if line.trim().is_empty() {
                return Step::Skip;
            }
            match serde_json::from_str::<Value>(line) {
                Err(e) => Step::Fail(malformed(format!("a line is not valid JSON ({e})"))),
                Ok(v) => {
                    if let Some(e) = error_in(&v) {
                        return Step::Fail(e);
                    }
                    let text = v.pointer("/message/content").and_then(Value::as_str).unwrap_or_default();
                    match (text.is_empty(), v.get("done").and_then(Value::as_bool).unwrap_or(false)) {
                        (false, _) => Step::Text(text.to_string()),
                        (true, true) => Step::Done,
                        (true, false) => Step::Skip,
                    }
                }
            }
        }))
    }

    fn model(&self) -> &ModelId {
        &self.model
    }

    fn context_window(&self) -> usize {
        self.context_window
    }
}
