//! The mock language model.

use async_trait::async_trait;
use ragops_lib::error::ProviderError;
use ragops_lib::provider::{Completion, CompletionRequest, LlmProvider, ModelId, Role};

/// Answers with a fixed, deterministic text built from the request: the last user message and
/// the number of messages, so tests can check what the model was given.
#[derive(Debug)]
pub struct MockLlm {
    model: ModelId,
}

impl MockLlm {
    /// A mock language model.
    pub fn new() -> Self {
        MockLlm { model: ModelId::new(crate::MOCK_PROVIDER, "mock-echo") }
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
        let question =
            req.messages.iter().rev().find(|m| m.role == Role::User).map(|m| m.content.as_str()).ok_or_else(|| {
                ProviderError::Permanent {
                    provider: crate::MOCK_PROVIDER.into(),
                    message: "request has no user message".into(),
                }
            })?;
        Ok(Completion::new(format!(
            "mock answer to: {} ({} messages)",
            question.lines().next().unwrap_or_default(),
            req.messages.len()
        )))
    }
    fn model(&self) -> &ModelId {
        &self.model
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ragops_lib::provider::Message;

    #[tokio::test]
    async fn answers_deterministically() {
        let llm = MockLlm::new();
        let req = CompletionRequest::new(vec![Message::new(Role::System, "s"), Message::new(Role::User, "why?")]);
        assert_eq!(llm.complete(&req).await.unwrap().text, "mock answer to: why? (2 messages)");
        assert!(llm.complete(&CompletionRequest::default()).await.is_err());
    }
}
