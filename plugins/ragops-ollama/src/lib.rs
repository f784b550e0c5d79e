//! Ollama providers: `POST {base_url}/api/embed` and `POST {base_url}/api/chat` (streamed as
//! NDJSON). The base URL defaults to `OLLAMA_HOST` when set, else `http://localhost:11434`.
//!
//! The design decision: this crate only speaks Ollama's protocol; retries, timeouts,
//! concurrency, error classification and secret hygiene come from [`ragops_http`], shared with
//! every HTTP provider. Select it with `provider = "ollama"` in `[embedding]` or `[llm]`; its
//! own settings go in `[embedding.ollama]` / `[llm.ollama]` (see [`OllamaOptions`]).

mod complete;
mod embed;

pub use complete::OllamaLlm;
pub use embed::OllamaEmbedder;

use std::sync::Arc;

use ragops_http::settings::{self, KeySource};
use ragops_http::{AuthScheme, HttpClient};
use ragops_lib::error::Error;
use ragops_lib::provider::{ProviderSettings, Registry};
use serde::Deserialize;

/// The provider name.
pub const OLLAMA_PROVIDER: &str = "ollama";
/// The base URL when neither config nor `OLLAMA_HOST` says.
pub const DEFAULT_BASE_URL: &str = "http://localhost:11434";
/// The default embedding model.
pub const DEFAULT_EMBEDDING_MODEL: &str = "nomic-embed-text";
/// The default chat model.
pub const DEFAULT_CHAT_MODEL: &str = "llama3.2";
/// Texts per embedding request unless `batch_size` says otherwise (Ollama has no hard limit;
/// larger batches only delay the first answer on a busy local server).
pub const DEFAULT_BATCH_SIZE: usize = 32;
/// Requests in flight unless `concurrency` says otherwise (Ollama serves 4 per model by
/// default, `OLLAMA_NUM_PARALLEL`).
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Context window assumed unless `context_window` says (Ollama's default `num_ctx` is smaller
/// for many models; set it to what the model is run with).
pub const DEFAULT_CONTEXT_WINDOW: usize = 8192;

/// `[embedding.ollama]` / `[llm.ollama]`: every key optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OllamaOptions {
    /// Server URL (default `OLLAMA_HOST`, else `http://localhost:11434`). Trusted config only.
    pub base_url: Option<String>,
    /// An environment variable holding a key, for an Ollama behind an authenticating proxy
    /// (sent as `Authorization: Bearer`). Trusted config only.
    pub api_key_env: Option<String>,
    /// Seconds a request may take (default 60; the first call may load the model).
    pub timeout_secs: Option<f64>,
    /// Retries after the first attempt (default 5).
    pub max_retries: Option<u32>,
    /// First backoff in milliseconds (default 500; doubled per retry, jittered).
    pub initial_backoff_ms: Option<u64>,
    /// Let Ollama cut inputs longer than the model's context (its default, `true`); with
    /// `false` an over-long chunk is a context-length error instead.
    pub truncate: Option<bool>,
    /// How long Ollama keeps the model loaded after a request (e.g. `"5m"`).
    pub keep_alive: Option<String>,
    /// The chat model's context window in tokens; also sent as `num_ctx`.
    pub context_window: Option<usize>,
}

/// What both providers share: the client and the base URL.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub(crate) http: HttpClient,
    pub(crate) base_url: String,
}

/// `OLLAMA_HOST` as Ollama's own client reads it: `host`, `host:port` or a URL.
pub fn base_url_from_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    let with_scheme = if host.starts_with("http://") || host.starts_with("https://") {
        host.to_string()
    } else {
        format!("http://{host}")
    };
    let after_scheme = with_scheme.split_once("://").map_or("", |(_, rest)| rest);
    // A bare host gets Ollama's port (an IPv6 literal's colons are inside brackets).
    let authority = after_scheme.split('/').next().unwrap_or_default();
    let has_port = authority.rsplit_once(':').is_some_and(|(_, p)| !p.is_empty() && !p.contains(']'));
    if has_port || with_scheme.starts_with("https://") { with_scheme } else { format!("{with_scheme}:11434") }
}

pub(crate) fn endpoint(
    table: &str,
    o: &OllamaOptions,
    concurrency: usize,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Endpoint, Error> {
    let url = match &o.base_url {
        Some(u) => u.clone(),
        None => env("OLLAMA_HOST")
            .filter(|h| !h.trim().is_empty())
            .map_or_else(|| DEFAULT_BASE_URL.to_string(), |h| base_url_from_host(&h)),
    };
    let base_url = settings::base_url(table, &url)?;
    let mut source = KeySource::new(table);
    source.api_key_env = o.api_key_env.as_deref();
    let key = source.resolve(env)?;
    let http_options = settings::http_options(table, o.timeout_secs, o.max_retries, o.initial_backoff_ms, concurrency)?;
    let mut b = HttpClient::builder(OLLAMA_PROVIDER).options(http_options);
    if let Some(k) = key {
        b = b.api_key(k, AuthScheme::Bearer);
    }
    let http = b.build().map_err(|e| settings::invalid(table, e))?;
    Ok(Endpoint { http, base_url })
}

/// Registers the Ollama embedder and chat model under `ollama`, reading `OLLAMA_HOST` and key
/// variables from the process environment.
pub fn register(registry: &mut Registry) {
    registry.register_embedder(
        OLLAMA_PROVIDER,
        Arc::new(|s: &ProviderSettings| Ok(Arc::new(OllamaEmbedder::try_new(s, &|k| std::env::var(k).ok())?) as _)),
    );
    registry.register_llm(
        OLLAMA_PROVIDER,
        Arc::new(|s: &ProviderSettings| Ok(Arc::new(OllamaLlm::try_new(s, &|k| std::env::var(k).ok())?) as _)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_host_forms() {
        assert_eq!(base_url_from_host("0.0.0.0"), "http://0.0.0.0:11434");
        assert_eq!(base_url_from_host("gpu-box:8080"), "http://gpu-box:8080");
        assert_eq!(base_url_from_host("http://gpu-box"), "http://gpu-box:11434");
        assert_eq!(base_url_from_host("https://ollama.example/"), "https://ollama.example");
        assert_eq!(base_url_from_host("[::1]"), "http://[::1]:11434");
    }
}
