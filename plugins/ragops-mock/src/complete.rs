//! The mock language model.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use ragops_lib::error::ProviderError;
use ragops_lib::provider::{Completion, CompletionRequest, CompletionStream, LlmProvider, ModelId, Role};
use serde::Deserialize;

/// What the mock model answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum MockBehavior {
    /// Echoes the question's first line and the number of messages.
    #[default]
    Echo,
    /// Answers citing the first two sources of the prompt (`[n] path:start-end` lines).
    Cite,
    /// As `cite`, plus a citation of lines it was never given (`src/invented.rs:1-3`).
    Invent,
    /// An answer with no citation at all.
    Uncited,
    /// Fails with a permanent error (like an HTTP 4xx or a malformed response).
    Fail,
    /// Fails with a transient error (like an HTTP 5xx).
    Transient,
}

/// Knobs of the mock language model (`[llm.mock]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MockLlmOptions {
    /// What it answers.
    pub behavior: Option<MockBehavior>,
    /// Characters per streamed fragment (default 8).
    pub fragment_chars: Option<usize>,
    /// A pause before each fragment, in milliseconds.
    pub fragment_delay_ms: Option<u64>,
    /// The context window it reports (default 8192 tokens).
    pub context_window: Option<usize>,
}

/// A deterministic language model: same request, same answer (see [`MockBehavior`]). It
/// streams its answer in small fragments so streaming paths are exercised.
#[derive(Debug)]
pub struct MockLlm {
    model: ModelId,
    options: MockLlmOptions,
}

/// The citation [`MockBehavior::Invent`] makes up.
pub const INVENTED_CITATION: &str = "src/invented.rs:1-3";

impl MockLlm {
    /// A mock language model that echoes.
    pub fn new() -> Self {
        MockLlm::with_options(MockLlmOptions::default())
    }

    /// A mock language model with these knobs.
    pub fn with_options(options: MockLlmOptions) -> Self {
        MockLlm { model: ModelId::new(crate::MOCK_PROVIDER, "mock-echo"), options }
    }

    fn answer(&self, req: &CompletionRequest) -> Result<String, ProviderError> {
        let question =
            req.messages.iter().rev().find(|m| m.role == Role::User).map(|m| m.content.as_str()).ok_or_else(|| {
                ProviderError::Permanent {
                    provider: crate::MOCK_PROVIDER.into(),
                    message: "request has no user message".into(),
                }
            })?;
        // Sources are labelled `[n] path:start-end` at the start of a line.
        let sources: Vec<&str> = question
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix('[')?;
                let (n, rest) = rest.split_once("] ")?;
                n.parse::<u32>().ok()?;
                rest.split_whitespace().next()
            })
            .collect();
        let cited = |sources: &[&str]| match sources {
            [] => "The sources do not answer this.".to_string(),
            [one] => format!("The answer is in {one}."),
            [one, two, ..] => format!("The answer is in {one}, with more in {two}."),
        };
        Ok(match self.options.behavior.unwrap_or_default() {
            MockBehavior::Echo => format!(
                "mock answer to: {} ({} messages)",
                question.lines().next().unwrap_or_default(),
                req.messages.len()
            ),
            MockBehavior::Cite => cited(&sources),
            MockBehavior::Invent => format!("{} See also {INVENTED_CITATION}.", cited(&sources)),
            MockBehavior::Uncited => "It is handled somewhere in the code.".to_string(),
            MockBehavior::Fail => {
                return Err(ProviderError::Permanent {
                    provider: crate::MOCK_PROVIDER.into(),
                    message: "injected failure (HTTP 400 Bad Request)".into(),
                });
            }
            MockBehavior::Transient => {
                return Err(ProviderError::Transient {
                    provider: crate::MOCK_PROVIDER.into(),
                    message: "injected failure (HTTP 503 Service Unavailable)".into(),
                });
            }
        })
    }
}

impl Default for MockLlm {
    fn default() -> Self {
        MockLlm::new()
    }
}

#[async_trait]
impl LlmProvider for MockLlm {
    async fn complete(&self, req: &CompletionRequest) -> Result<Completion, ProviderError> {
        self.answer(req).map(Completion::new)
    }
    async fn complete_stream(&self, req: &CompletionRequest) -> Result<CompletionStream, ProviderError> {
        let text = self.answer(req)?;
        let size = self.options.fragment_chars.unwrap_or(8).max(1);
        let chars: Vec<char> = text.chars().collect();
        let fragments: Vec<String> = chars.chunks(size).map(|c| c.iter().collect()).collect();
        let delay = self.options.fragment_delay_ms.map(Duration::from_millis);
        Ok(stream::iter(fragments)
            .then(move |f| async move {
                if let Some(d) = delay {
                    tokio::time::sleep(d).await;
                }
                Ok(f)
            })
            .boxed())
    }
    fn model(&self) -> &ModelId {
        &self.model
    }
    fn context_window(&self) -> usize {
        self.options.context_window.unwrap_or(8192)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ragops_lib::provider::Message;

    fn req(user: &str) -> CompletionRequest {
        CompletionRequest::new(vec![Message::new(Role::System, "s"), Message::new(Role::User, user)])
    }

    fn with(behavior: MockBehavior) -> MockLlm {
        MockLlm::with_options(MockLlmOptions { behavior: Some(behavior), ..Default::default() })
    }

    #[tokio::test]
    async fn answers_deterministically() {
        let llm = MockLlm::new();
        assert_eq!(llm.complete(&req("why?")).await.unwrap().text, "mock answer to: why? (2 messages)");
        assert!(llm.complete(&CompletionRequest::default()).await.is_err());
    }

    #[tokio::test]
    async fn cites_the_sources_it_was_given() {
        let prompt = "Sources:\n\n[1] src/a.rs:1-9 (fn a)\n```rust\nfn a() {}\n```\n\n[2] b.py:3-4\n```\n";
        assert_eq!(
            with(MockBehavior::Cite).complete(&req(prompt)).await.unwrap().text,
            "The answer is in src/a.rs:1-9, with more in b.py:3-4."
        );
        let invented = with(MockBehavior::Invent).complete(&req(prompt)).await.unwrap().text;
        assert!(invented.ends_with(&format!("See also {INVENTED_CITATION}.")), "{invented}");
        assert!(!with(MockBehavior::Uncited).complete(&req(prompt)).await.unwrap().text.contains(':'));
    }

    #[tokio::test]
    async fn streams_in_fragments_and_fails_on_request() {
        let llm = MockLlm::with_options(MockLlmOptions { fragment_chars: Some(4), ..Default::default() });
        let parts: Vec<String> = llm.complete_stream(&req("why?")).await.unwrap().map(|p| p.unwrap()).collect().await;
        assert!(parts.len() > 2);
        assert_eq!(parts.concat(), "mock answer to: why? (2 messages)");
        assert!(!with(MockBehavior::Fail).complete(&req("q")).await.unwrap_err().is_transient());
        let Err(err) = with(MockBehavior::Transient).complete_stream(&req("q")).await else {
            panic!("a transient failure is injected")
        };
        assert!(err.is_transient());
    }
}
