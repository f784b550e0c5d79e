//! `POST {base_url}/chat/completions`, whole or streamed (server-sent events).

use async_trait::async_trait;
use ragops_http::stream::{Step, fragments};
use ragops_http::{settings, validate};
use ragops_lib::error::{Error, ProviderError};
use ragops_lib::provider::{Completion, CompletionRequest, CompletionStream, LlmProvider, ModelId, ProviderSettings};
use serde_json::{Value, json};

use crate::{
    DEFAULT_CHAT_MODEL, DEFAULT_CONCURRENCY, DEFAULT_CONTEXT_WINDOW, Endpoint, OPENAI_PROVIDER, OpenAiOptions,
};

/// A chat model served by OpenAI or an OpenAI-compatible server.
#[derive(Debug)]
pub struct OpenAiLlm {
    endpoint: Endpoint,
    model: ModelId,
    context_window: usize,
}

/// Context windows of common OpenAI chat models, for when `context_window` is not set.
fn known_context_window(model: &str) -> Option<usize> {
    let m = model.to_lowercase();
    if m.starts_with("gpt-4.1") {
        Some(1_047_576)
    } else if m.starts_with("gpt-4o") || m.starts_with("gpt-4-turbo") || m.starts_with("o1") || m.starts_with("o3") {
        Some(128_000)
    } else if m.starts_with("gpt-3.5-turbo") {
        Some(16_385)
    } else {
        None
    }
}

impl OpenAiLlm {
    /// Builds the chat model from `[llm]` settings; `env` reads environment variables.
    ///
    /// # Errors
    /// As [`crate::OpenAiEmbedder::try_new`], for `[llm.openai]`.
    pub fn try_new(s: &ProviderSettings, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let table = "llm.openai";
        let o: OpenAiOptions = settings::parse_table(table, &s.options)?;
        if o.send_dimensions.is_some() {
            return Err(settings::invalid(&format!("{table}.send_dimensions"), "applies to [embedding.openai] only"));
        }
        if o.context_window == Some(0) {
            return Err(settings::invalid(&format!("{table}.context_window"), "must be at least 1"));
        }
        let model = s.model.clone().unwrap_or_else(|| DEFAULT_CHAT_MODEL.to_string());
        let context_window =
            o.context_window.or_else(|| known_context_window(&model)).unwrap_or(DEFAULT_CONTEXT_WINDOW);
        let endpoint = crate::endpoint(table, &o, s.concurrency.unwrap_or(DEFAULT_CONCURRENCY), env)?;
        Ok(OpenAiLlm { endpoint, model: ModelId::new(OPENAI_PROVIDER, model), context_window })
    }

    fn body(&self, req: &CompletionRequest, stream: bool) -> Value {
        let mut body = json!({"model": self.model.name, "messages": req.messages, "stream": stream});
        if let Some(n) = req.max_tokens {
            body["max_tokens"] = json!(n);
        }
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        body
    }
}

fn malformed(message: impl Into<String>) -> ProviderError {
    ProviderError::MalformedResponse { provider: OPENAI_PROVIDER.into(), message: message.into() }
}

/// An error object inside a 200 answer or an event.
fn error_in(v: &Value) -> Option<ProviderError> {
    let e = v.get("error")?;
    let message = e.get("message").and_then(Value::as_str).or_else(|| e.as_str()).unwrap_or("unknown error");
    Some(ProviderError::Permanent {
        provider: OPENAI_PROVIDER.into(),
        message: format!("the server reported: {message}"),
    })
}

#[async_trait]
impl LlmProvider for OpenAiLlm {
    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, ProviderError> {
        let answer =
            self.endpoint.http.post_json(&self.endpoint.url("chat/completions"), &self.body(req, false)).await?;
        if let Some(e) = error_in(&answer) {
            return Err(e);
        }
        let text = answer
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("no `choices[0].message.content`"))?;
        Ok(Completion::new(validate::text(OPENAI_PROVIDER, text.to_string())?))
    }

    async fn complete_stream(&self, req: &CompletionRequest) -> Result<CompletionStream, ProviderError> {
        let lines =
            self.endpoint.http.post_lines(&self.endpoint.url("chat/completions"), &self.body(req, true)).await?;
        // Server-sent events: `data: {json}` lines, `data: [DONE]` at the end; other lines
        // (comments, blank separators, `event:`) carry no text.
        Ok(fragments(OPENAI_PROVIDER, lines, |line| match line.strip_prefix("data:").map(str::trim) {
            None => Step::Skip,
            Some("[DONE]") => Step::Done,
            Some(data) => match serde_json::from_str::<Value>(data) {
                Err(e) => Step::Fail(malformed(format!("an event is not valid JSON ({e})"))),
                Ok(v) => match error_in(&v) {
                    Some(e) => Step::Fail(e),
                    None => match v.pointer("/choices/0/delta/content").and_then(Value::as_str) {
                        Some(t) => Step::Text(t.to_string()),
                        None => Step::Skip,
                    },
                },
            },
        }))
    }

    fn model(&self) -> &ModelId {
        &self.model
    }

    fn context_window(&self) -> usize {
        self.context_window
    }
}
