//! Deterministic mock providers for tests and CI: no network, no model, same output for the
//! same input. Select them with `provider = "mock"` in `[embedding]` or `[llm]`.
//!
//! `[embedding.mock]` accepts `dimensions`-independent knobs for failure tests:
//! `fail_after_calls = N` makes every call after the N-th fail (a transient error).
//!
//! `[llm.mock]` chooses what the model answers: `behavior = "echo"` (default), `"cite"` (cites
//! the first sources of its prompt), `"invent"` (also cites lines it was never given),
//! `"uncited"`, `"fail"` (a permanent error) or `"transient"`; `fragment_chars`,
//! `fragment_delay_ms` shape its stream and `context_window` sets the window it reports.

mod complete;
mod embed;

pub use complete::{INVENTED_CITATION, MockBehavior, MockLlm, MockLlmOptions};
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
            let options: MockLlmOptions = toml::Value::Table(s.options.clone())
                .try_into()
                .map_err(|e: toml::de::Error| invalid("llm.mock", e))?;
            Ok(Arc::new(MockLlm::with_options(options)) as _)
        }),
    );
}

fn invalid(key: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(ConfigError::Invalid {
        key: key.to_string(),
        origin: String::new(),
        // One line: toml's messages span several.
        message: e.to_string().split_whitespace().collect::<Vec<_>>().join(" "),
    })
}
