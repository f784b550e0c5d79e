//! An example third-party provider, built as a dynamic library and loaded by ragops at run time
//! with `[[plugins]] path = "target/release/libragops_plugin_example.so"`.
//!
//! It registers the embedding provider `example`, which POSTs `{"model", "texts"}` to
//! `{base_url}/embed` and expects `{"vectors": [[...], ...]}`:
//!
//! ```toml
//! [[plugins]]
//! path = "/opt/ragops/libragops_plugin_example.so"
//!
//! [embedding]
//! provider = "example"
//! dimensions = 384
//! [embedding.example]
//! base_url = "http://127.0.0.1:9000"
//! ```
//!
//! The design decision, and the classic trap it avoids: this library carries its **own copy**
//! of tokio (a `cdylib` links its dependencies statically), whose thread-locals are not the
//! host's. Code here that needs "the current runtime" (reqwest's connection pool, timers,
//! `tokio::spawn`) would find none on the host's threads and panic — and a panic must never
//! unwind out of a plugin (another std copy: the host aborts). So all I/O runs on a runtime
//! owned by the plugin ([`runtime`]), and the host only awaits the `JoinHandle`, which is an
//! ordinary future any executor can poll. A panic inside the plugin's task stays a `JoinError`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use ragops_lib::error::{ConfigError, Error, ProviderError};
use ragops_lib::model::Embedding;
use ragops_lib::provider::{EmbeddingProvider, ModelId, ProviderSettings, Registry};
use serde::Deserialize;

/// The provider name this plugin registers.
pub const EXAMPLE_PROVIDER: &str = "example";

ragops_lib::declare_plugin!(register);

/// Registers the `example` embedding provider.
pub fn register(registry: &mut Registry) {
    registry.register_embedder(
        EXAMPLE_PROVIDER,
        Arc::new(|s: &ProviderSettings| Ok(Arc::new(ExampleEmbedder::try_new(s)?) as _)),
    );
}

/// The plugin's own runtime: two worker threads, started on first use and kept for the life of
/// the process (the library is never unloaded).
///
/// # Errors
/// The runtime could not start (no threads left).
pub fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("ragops-plugin-example")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    base_url: Option<String>,
    timeout_secs: Option<u64>,
}

/// Embeds by calling an HTTP service, on the plugin's own runtime.
#[derive(Debug)]
pub struct ExampleEmbedder {
    client: reqwest::Client,
    url: String,
    model: ModelId,
    dimensions: usize,
}

impl ExampleEmbedder {
    /// Builds the provider from `[embedding]` settings.
    ///
    /// # Errors
    /// An unknown key in `[embedding.example]`, or no `base_url` / `dimensions`.
    pub fn try_new(s: &ProviderSettings) -> Result<Self, Error> {
        let invalid = |key: &str, message: String| {
            Error::Config(ConfigError::Invalid { key: key.into(), origin: String::new(), message })
        };
        let o: Options = toml::Value::Table(s.options.clone())
            .try_into()
            .map_err(|e: toml::de::Error| invalid("embedding.example", e.message().to_string()))?;
        let base = o.base_url.ok_or_else(|| invalid("embedding.example.base_url", "is required".into()))?;
        let dimensions = s.dimensions.ok_or_else(|| invalid("embedding.dimensions", "is required".into()))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(o.timeout_secs.unwrap_or(30)))
            .build()
            .map_err(|e| invalid("embedding.example", format!("cannot build the HTTP client: {e}")))?;
        let model = s.model.clone().unwrap_or_else(|| "example-v1".into());
        Ok(ExampleEmbedder {
            client,
            url: format!("{}/embed", base.trim_end_matches('/')),
            model: ModelId::new(EXAMPLE_PROVIDER, model),
            dimensions,
        })
    }
}

#[derive(Deserialize)]
struct Answer {
    vectors: Vec<Vec<f32>>,
}

fn failed(message: String) -> ProviderError {
    ProviderError::Permanent { provider: EXAMPLE_PROVIDER.into(), message }
}

#[async_trait]
impl EmbeddingProvider for ExampleEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, ProviderError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let request = self.client.post(&self.url).json(&serde_json::json!({"model": self.model.name, "texts": texts}));
        // The HTTP call runs on the plugin's runtime; the host awaits the handle.
        let task = runtime().map_err(failed)?.spawn(async move {
            let response = request.send().await.map_err(|e| format!("request failed: {}", e.without_url()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("HTTP {status}"));
            }
            response.json::<Answer>().await.map_err(|e| format!("malformed answer: {}", e.without_url()))
        });
        let answer = task.await.map_err(|e| failed(format!("the plugin's task failed: {e}")))?.map_err(failed)?;
        if answer.vectors.len() != texts.len() || answer.vectors.iter().any(|v| v.len() != self.dimensions) {
            return Err(ProviderError::MalformedResponse {
                provider: EXAMPLE_PROVIDER.into(),
                message: format!("expected {} vectors of {} values", texts.len(), self.dimensions),
            });
        }
        Ok(answer.vectors)
    }
    fn model(&self) -> &ModelId {
        &self.model
    }
    fn dimensions(&self) -> usize {
        self.dimensions
    }
}
