//! OpenAI and OpenAI-compatible providers (vLLM, llama.cpp server, LM Studio, Azure-style
//! gateways): `POST {base_url}/embeddings` and `POST {base_url}/chat/completions`, streaming
//! as server-sent events.
//!
//! The design decision: this crate only speaks the protocol (request bodies, response shapes);
//! retries, timeouts, concurrency, error classification and secret hygiene come from
//! [`ragops_http`], shared with every HTTP provider. Select it with `provider = "openai"` in
//! `[embedding]` or `[llm]`; its own settings go in `[embedding.openai]` / `[llm.openai]`
//! (see [`OpenAiOptions`] and docs/configuration.md).

mod complete;
mod embed;

pub use complete::OpenAiLlm;
pub use embed::OpenAiEmbedder;

use std::collections::BTreeMap;
use std::sync::Arc;

use ragops_http::settings::{self, KeySource};
use ragops_http::{AuthScheme, HttpClient};
use ragops_lib::error::Error;
use ragops_lib::provider::{ProviderSettings, Registry};
use serde::Deserialize;

/// The provider name.
pub const OPENAI_PROVIDER: &str = "openai";
/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The variable the key is read from unless `api_key_env` names another.
pub const DEFAULT_KEY_ENV: &str = "OPENAI_API_KEY";
/// The default embedding model.
pub const DEFAULT_EMBEDDING_MODEL: &str = "text-embedding-3-small";
/// The default chat model.
pub const DEFAULT_CHAT_MODEL: &str = "gpt-4o-mini";
/// Texts per embedding request unless `batch_size` says otherwise. OpenAI accepts 2048 inputs
/// and 300k tokens per request; 128 chunks of at most 8 KiB (about 2k tokens) stay under both.
pub const DEFAULT_BATCH_SIZE: usize = 128;
/// Requests in flight unless `concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Context window assumed for models the table below does not know.
pub const DEFAULT_CONTEXT_WINDOW: usize = 8192;

/// `[embedding.openai]` / `[llm.openai]`: every key optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OpenAiOptions {
    /// Server URL up to the API version (default `https://api.openai.com/v1`). Trusted config only.
    pub base_url: Option<String>,
    /// The environment variable holding the key (default `OPENAI_API_KEY`). Trusted config only.
    pub api_key_env: Option<String>,
    /// A key written in the file (accepted with a warning). Trusted config only.
    pub api_key: Option<String>,
    /// `OpenAI-Organization` header.
    pub organization: Option<String>,
    /// `OpenAI-Project` header.
    pub project: Option<String>,
    /// Send the key alone in this header instead of `Authorization: Bearer` (Azure: `api-key`).
    pub auth_header: Option<String>,
    /// Query parameters added to every request (Azure: `api-version`).
    pub query: Option<BTreeMap<String, String>>,
    /// Seconds a request may take (default 60).
    pub timeout_secs: Option<f64>,
    /// Retries after the first attempt (default 5).
    pub max_retries: Option<u32>,
    /// First backoff in milliseconds (default 500; doubled per retry, jittered).
    pub initial_backoff_ms: Option<u64>,
    /// Send `dimensions` in embedding requests (default: when `dimensions` is set and the model
    /// is a `text-embedding-3` model; other servers may refuse the field).
    pub send_dimensions: Option<bool>,
    /// The chat model's context window in tokens, for prompt budgeting.
    pub context_window: Option<usize>,
}

/// What both providers share: the client and the resolved endpoint.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub(crate) http: HttpClient,
    pub(crate) base_url: String,
    pub(crate) query: String,
}

impl Endpoint {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{path}{}", self.base_url, self.query)
    }
}

/// Builds the client from a table; `env` reads environment variables.
pub(crate) fn endpoint(
    table: &str,
    o: &OpenAiOptions,
    concurrency: usize,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Endpoint, Error> {
    let base_url = settings::base_url(table, o.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL))?;
    let mut source = KeySource::new(table);
    source.api_key_env = o.api_key_env.as_deref();
    source.api_key = o.api_key.as_deref();
    source.default_env = Some(DEFAULT_KEY_ENV);
    let key = source.resolve(env)?;
    if key.is_none() && base_url == DEFAULT_BASE_URL {
        return Err(settings::invalid(
            &format!("{table}.api_key_env"),
            format!(
                "no API key for {DEFAULT_BASE_URL}: set {DEFAULT_KEY_ENV} (or name another variable with `api_key_env`)"
            ),
        ));
    }
    let http_options = settings::http_options(table, o.timeout_secs, o.max_retries, o.initial_backoff_ms, concurrency)?;
    let mut b = HttpClient::builder(OPENAI_PROVIDER).options(http_options);
    if let Some(k) = key {
        let scheme = match &o.auth_header {
            Some(h) => AuthScheme::Header(h.clone()),
            None => AuthScheme::Bearer,
        };
        b = b.api_key(k, scheme);
    }
    if let Some(org) = &o.organization {
        b = b.header("OpenAI-Organization", org);
    }
    if let Some(p) = &o.project {
        b = b.header("OpenAI-Project", p);
    }
    let http = b.build().map_err(|e| settings::invalid(table, e))?;
    let query = match &o.query {
        Some(q) if !q.is_empty() => {
            let pairs: Vec<String> = q.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
            format!("?{}", pairs.join("&"))
        }
        _ => String::new(),
    };
    Ok(Endpoint { http, base_url, query })
}

/// Percent-encodes a query component.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Registers the OpenAI embedder and chat model under `openai`, reading keys from the process
/// environment.
pub fn register(registry: &mut Registry) {
    registry.register_embedder(
        OPENAI_PROVIDER,
        Arc::new(|s: &ProviderSettings| Ok(Arc::new(OpenAiEmbedder::try_new(s, &|k| std::env::var(k).ok())?) as _)),
    );
    registry.register_llm(
        OPENAI_PROVIDER,
        Arc::new(|s: &ProviderSettings| Ok(Arc::new(OpenAiLlm::try_new(s, &|k| std::env::var(k).ok())?) as _)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components_are_encoded() {
        assert_eq!(encode("api-version"), "api-version");
        assert_eq!(encode("a b&c"), "a%20b%26c");
    }
}
