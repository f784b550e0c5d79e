//! Deterministic mock providers for tests and CI: no network, no model, same output for the
//! same input. Select them with `provider = "mock"` in `[embedding]` or `[llm]`.
//!
//! `[embedding.mock]` accepts `dimensions`-independent knobs for failure tests:
//! `fail_after_calls = N` makes every call after the N-th fail (a transient error).

mod complete;
mod embed;

pub use complete::MockLlm;
pub use embed::{MockEmbedder, MockEmbedderOptions};

use std::sync::Arc;

use ragops_lib::error::{ConfigError, Error};
use ragops_lib::provider::{ProviderSettings, Registry};

/// The provider name.
pub const MOCK_PROVIDER: &str = "mock";

/// Registers the mock embedder and language model under `mock`.
pub fn register(registry: &mut Registry) {
    registry.register_embedder(
        MOCK_PROVIDER,
        Arc::new(|s: &ProviderSettings| {
            let options: MockEmbedderOptions = toml::Value::Table(s.options.clone())
                .try_into()
                .map_err(|e: toml::de::Error| invalid("embedding.mock", e))?;
            Ok(Arc::new(MockEmbedder::new(s.dimensions.unwrap_or(64), options)) as _)
        }),
    );
    registry.register_llm(
        MOCK_PROVIDER,
        Arc::new(|s: &ProviderSettings| {
            if let Some(k) = s.options.keys().next() {
                return Err(invalid("llm.mock", format!("unknown key `{k}`")));
            }
            Ok(Arc::new(MockLlm::new()) as _)
        }),
    );
}

fn invalid(key: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(ConfigError::Invalid {
        key: key.to_string(),
        origin: String::new(),
        message: e.to_string().trim().to_string(),
    })
}
