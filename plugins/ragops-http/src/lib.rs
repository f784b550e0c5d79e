//! Robust HTTP for ragops providers, in one place so every provider fails the same way.
//!
//! The design decision: a provider describes *what* to send ([`HttpClient::post_json`],
//! [`HttpClient::post_lines`]); this crate owns *how*: a timeout on every request, at most
//! `concurrency` requests in flight, retries with exponential backoff and full jitter on 429,
//! 408, 5xx and connection errors (a `Retry-After` header wins over the backoff), and after the
//! last attempt one clear [`ProviderError`] naming the provider, the URL (credentials and query
//! removed) and the status. Client errors are classified once: 401/403 →
//! [`ProviderError::Unauthorized`], "context length" answers →
//! [`ProviderError::ContextLengthExceeded`], anything else → [`ProviderError::Permanent`]. The
//! API key lives in a [`Redacted`] and in a sensitive header; it is scrubbed from any server
//! text quoted in an error, and never logged.
//!
//! [`validate`] checks responses before anything is stored: vector count, dimension, finite
//! values, non-empty text.

pub mod settings;
pub mod stream;
pub mod validate;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{BoxStream, StreamExt};
use ragops_lib::error::ProviderError;
use ragops_lib::secret::{MASK, Redacted, redact_url};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use tokio::sync::Semaphore;

/// Default time a request may take, end to end.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// Default first backoff (doubled per retry, with full jitter).
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Default cap on one backoff.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A `Retry-After` longer than this is not waited for: the call fails at once, saying so.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// Most characters of a server's error text quoted in an error.
const MAX_DETAIL_CHARS: usize = 300;

/// How a client retries and times out.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Time a request may take (for streams: the longest silence between two reads).
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubled per retry, capped at `max_backoff`, fully jittered.
    pub initial_backoff: Duration,
    /// Cap on one backoff.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one fails the call at once.
    pub max_retry_after: Duration,
    /// Requests in flight at once through this client.
    pub concurrency: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            concurrency: 8,
        }
    }
}

impl HttpOptions {
    /// The backoff before retry number `retry` (0-based): a uniformly random duration between
    /// zero and `initial_backoff * 2^retry`, capped at `max_backoff` ("full jitter").
    pub fn backoff(&self, retry: u32) -> Duration {
        let cap = self.initial_backoff.saturating_mul(1u32 << retry.min(20)).min(self.max_backoff);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

/// How the API key is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `Authorization: Bearer <key>` (OpenAI and most compatible servers).
    Bearer,
    /// The key alone in the named header (e.g. `api-key` for Azure-style gateways).
    Header(String),
}

/// An HTTP client for one provider, with its retries, timeouts and credentials.
#[derive(Clone)]
pub struct HttpClient {
    provider: String,
    client: reqwest::Client,
    options: HttpOptions,
    key: Option<Redacted<String>>,
    permits: Arc<Semaphore>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("provider", &self.provider)
            .field("options", &self.options)
            .field("key", &self.key)
            .finish()
    }
}

/// Builds an [`HttpClient`].
#[derive(Debug)]
pub struct HttpClientBuilder {
    provider: String,
    options: HttpOptions,
    key: Option<(Redacted<String>, AuthScheme)>,
    headers: Vec<(String, String)>,
}

impl HttpClientBuilder {
    /// Retries, timeouts and concurrency.
    pub fn options(mut self, options: HttpOptions) -> Self {
        self.options = options;
        self
    }

    /// The API key and how to send it.
    pub fn api_key(mut self, key: Redacted<String>, scheme: AuthScheme) -> Self {
        self.key = Some((key, scheme));
        self
    }

    /// A header sent with every request (e.g. `OpenAI-Organization`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// An invalid header name or value (the key's value is never quoted), or a TLS setup failure.
    pub fn build(self) -> Result<HttpClient, ProviderError> {
        let provider = self.provider;
        let permanent = |message: String| ProviderError::Permanent { provider: provider.clone(), message };
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let n =
                HeaderName::try_from(name.as_str()).map_err(|_| permanent(format!("invalid header name `{name}`")))?;
            let v = HeaderValue::try_from(value.as_str())
                .map_err(|_| permanent(format!("invalid value for header `{name}`")))?;
            headers.insert(n, v);
        }
        let mut key = None;
        if let Some((secret, scheme)) = self.key {
            let (name, value) = match &scheme {
                AuthScheme::Bearer => ("authorization".to_string(), format!("Bearer {}", secret.expose())),
                AuthScheme::Header(h) => (h.clone(), secret.expose().clone()),
            };
            let n =
                HeaderName::try_from(name.as_str()).map_err(|_| permanent(format!("invalid header name `{name}`")))?;
            let mut v = HeaderValue::try_from(value)
                .map_err(|_| permanent("the API key contains characters not allowed in an HTTP header".into()))?;
            v.set_sensitive(true);
            headers.insert(n, v);
            key = Some(secret);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(self.options.timeout.min(Duration::from_secs(10)))
            .read_timeout(self.options.timeout)
            .user_agent(concat!("ragops/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| permanent(format!("cannot build the HTTP client: {}", cause_chain(&e))))?;
        let permits = Arc::new(Semaphore::new(self.options.concurrency.max(1)));
        Ok(HttpClient { provider, client, options: self.options, key, permits })
    }
}

/// Why one attempt failed.
#[derive(Debug)]
struct Failure {
    kind: FailureKind,
    status: Option<StatusCode>,
    detail: String,
    retry_after: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    RateLimited,
    Transient,
    Unauthorized,
    ContextLength,
    Permanent,
}

impl Failure {
    fn retryable(&self) -> bool {
        matches!(self.kind, FailureKind::RateLimited | FailureKind::Transient)
    }
}

impl HttpClient {
    /// A builder for a client whose errors name `provider`.
    pub fn builder(provider: impl Into<String>) -> HttpClientBuilder {
        HttpClientBuilder { provider: provider.into(), options: HttpOptions::default(), key: None, headers: Vec::new() }
    }

    /// The provider's name, as errors show it.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Retries, timeouts and concurrency.
    pub fn options(&self) -> &HttpOptions {
        &self.options
    }

    /// POSTs a JSON body and parses the JSON answer, retrying transient failures.
    ///
    /// # Errors
    /// After the last retry, or at once for a non-retryable status: a [`ProviderError`] naming
    /// the provider, the URL without secrets, the status and the server's (scrubbed) reason.
    /// An answer that is not JSON is [`ProviderError::MalformedResponse`].
    pub async fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<serde_json::Value, ProviderError> {
        let bytes = self
            .with_retries(url, |client| async move {
                let response = client.send(url, body, true).await?;
                response.bytes().await.map_err(|e| client.transport_failure(&e))
            })
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| ProviderError::MalformedResponse {
            provider: self.provider.clone(),
            message: format!("POST {}: the answer is not valid JSON ({e})", shown_url(url)),
        })
    }

    /// POSTs a JSON body and streams the answer line by line (server-sent events, NDJSON).
    /// Failures before the first byte of the answer are retried like [`post_json`](Self::post_json);
    /// a failure while streaming ends the stream with an error item.
    ///
    /// # Errors
    /// As [`post_json`](Self::post_json), for the request itself.
    pub async fn post_lines(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<BoxStream<'static, Result<String, ProviderError>>, ProviderError> {
        let response = self.with_retries(url, |client| async move { client.send(url, body, false).await }).await?;
        let this = self.clone();
        let shown = shown_url(url);
        let bytes = response.bytes_stream();
        let state = (bytes, Vec::<u8>::new(), false);
        let lines = futures::stream::unfold(state, move |(mut bytes, mut buf, mut done)| {
            let this = this.clone();
            let shown = shown.clone();
            async move {
                loop {
                    if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        let text = String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']).to_string();
                        return Some((Ok(text), (bytes, buf, done)));
                    }
                    if done {
                        if buf.is_empty() {
                            return None;
                        }
                        let text = String::from_utf8_lossy(&buf).trim_end_matches('\r').to_string();
                        buf.clear();
                        return Some((Ok(text), (bytes, buf, done)));
                    }
                    match bytes.next().await {
                        Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                        Some(Err(e)) => {
                            let f = this.transport_failure(&e);
                            done = true;
                            buf.clear();
                            let err = ProviderError::Transient {
                                provider: this.provider.clone(),
                                message: format!("POST {shown}: the stream broke off: {}", f.detail),
                            };
                            return Some((Err(err), (bytes, buf, done)));
                        }
                        None => done = true,
                    }
                }
            }
        });
        Ok(lines.boxed())
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the retries are spent.
    async fn with_retries<'a, T, F, Fut>(&'a self, url: &str, attempt: F) -> Result<T, ProviderError>
    where
        F: Fn(&'a HttpClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let mut retry = 0;
        loop {
            let result = {
                let _permit = self.permits.acquire().await.map_err(|_| ProviderError::Permanent {
                    provider: self.provider.clone(),
                    message: "the HTTP client was shut down".into(),
                })?;
                attempt(self).await
            };
            let failure = match result {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            let too_long = failure.retry_after.filter(|d| *d > self.options.max_retry_after);
            if !failure.retryable() || retry >= self.options.max_retries || too_long.is_some() {
                return Err(self.final_error(url, failure, retry + 1, too_long));
            }
            let delay = failure.retry_after.unwrap_or_else(|| self.options.backoff(retry));
            tracing::warn!(
                event = "provider.retry",
                provider = %self.provider,
                url = %shown_url(url),
                status = failure.status.map(|s| s.as_u16()),
                attempt = retry + 1,
                delay_ms = delay.as_millis() as u64,
                reason = %failure.detail,
            );
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    /// Sends one request; a success status gives the response, anything else a [`Failure`].
    async fn send(&self, url: &str, body: &serde_json::Value, whole: bool) -> Result<reqwest::Response, Failure> {
        let mut request = self.client.request(Method::POST, url).json(body);
        if whole {
            request = request.timeout(self.options.timeout);
        }
        if let Some(id) = ragops_lib::telemetry::current_request_id() {
            request = request.header("x-request-id", id);
        }
        let started = Instant::now();
        let response = request.send().await.map_err(|e| self.transport_failure(&e))?;
        let status = response.status();
        tracing::debug!(
            event = "provider.http",
            provider = %self.provider,
            url = %shown_url(url),
            status = status.as_u16(),
            latency_ms = ragops_lib::telemetry::elapsed_ms(started),
        );
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response.headers().get(RETRY_AFTER).and_then(parse_retry_after);
        let text = match tokio::time::timeout(self.options.timeout, response.text()).await {
            Ok(Ok(t)) => t,
            _ => String::new(),
        };
        Err(self.classify(status, retry_after, &text))
    }

    fn classify(&self, status: StatusCode, retry_after: Option<Duration>, body: &str) -> Failure {
        let reason = error_reason(body);
        let kind = match status.as_u16() {
            429 => FailureKind::RateLimited,
            408 | 500..=599 => FailureKind::Transient,
            401 | 403 => FailureKind::Unauthorized,
            _ if is_context_length(&reason) => FailureKind::ContextLength,
            _ => FailureKind::Permanent,
        };
        // A 401 answer may quote part of the key ("Incorrect API key provided: sk-ab...yz"):
        // it is never repeated.
        let detail = if kind == FailureKind::Unauthorized {
            "the server refused the API key".to_string()
        } else {
            self.scrub(&reason)
        };
        Failure { kind, status: Some(status), detail, retry_after }
    }

    fn transport_failure(&self, e: &reqwest::Error) -> Failure {
        let detail = if e.is_timeout() {
            format!("timed out after {:.1} s", self.options.timeout.as_secs_f64())
        } else if e.is_connect() {
            format!("cannot connect: {}", cause_chain(e))
        } else {
            cause_chain(e)
        };
        let kind = if e.is_builder() { FailureKind::Permanent } else { FailureKind::Transient };
        Failure { kind, status: None, detail: self.scrub(&detail), retry_after: None }
    }

    fn final_error(&self, url: &str, f: Failure, attempts: u32, too_long: Option<Duration>) -> ProviderError {
        let status = f.status.map_or_else(String::new, |s| format!(": HTTP {s}"));
        let tries = if attempts > 1 { format!(" after {attempts} attempts") } else { String::new() };
        let wait = too_long.map_or_else(String::new, |d| format!(" (the server asked to wait {} s)", d.as_secs()));
        let detail = if f.detail.is_empty() { String::new() } else { format!(": {}", f.detail) };
        let message = format!("POST {}{status}{tries}{wait}{detail}", shown_url(url));
        let provider = self.provider.clone();
        match f.kind {
            FailureKind::RateLimited => ProviderError::RateLimited { provider, message, retry_after: f.retry_after },
            FailureKind::Transient => ProviderError::Transient { provider, message },
            FailureKind::Unauthorized => ProviderError::Unauthorized { provider, message },
            FailureKind::ContextLength => ProviderError::ContextLengthExceeded { provider, message },
            FailureKind::Permanent => ProviderError::Permanent { provider, message },
        }
    }

    /// Removes the API key from text a server sent.
    fn scrub(&self, text: &str) -> String {
        match &self.key {
            Some(k) if !k.expose().is_empty() => text.replace(k.expose().as_str(), MASK),
            _ => text.to_string(),
        }
    }
}

/// A URL as errors and logs show it: no credentials, no query string (it may hold a key).
pub fn shown_url(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or(url);
    redact_url(no_query)
}

/// `Retry-After` as seconds (`"3"`, `"1.5"`); HTTP dates are not honoured (backoff applies).
fn parse_retry_after(v: &HeaderValue) -> Option<Duration> {
    let s = v.to_str().ok()?.trim();
    let secs: f64 = s.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// The server's reason from an error body: `{"error": {"message": ..}}` (OpenAI),
/// `{"error": ".."}` (Ollama), `{"message": ..}`, or the text itself, shortened.
fn error_reason(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        let e = v.get("error");
        let code = e.and_then(|e| e.get("code")).and_then(|c| c.as_str());
        let msg = e
            .and_then(|e| e.get("message").and_then(|m| m.as_str()).or_else(|| e.as_str()))
            .or_else(|| v.get("message").and_then(|m| m.as_str()))?;
        Some(match code {
            Some(c) if !msg.contains(c) => format!("{msg} ({c})"),
            _ => msg.to_string(),
        })
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_string());
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > MAX_DETAIL_CHARS {
        format!("{}…", one_line.chars().take(MAX_DETAIL_CHARS).collect::<String>())
    } else {
        one_line
    }
}

/// Whether a server's reason says the input was too long for the model.
fn is_context_length(reason: &str) -> bool {
    let r = reason.to_lowercase();
    [
        "context_length_exceeded",
        "context length",
        "maximum context",
        "context window",
        "too many tokens",
        "input length",
    ]
    .iter()
    .any(|p| r.contains(p))
}

/// An error and its causes on one line, without the URL reqwest adds.
fn cause_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(if e.is_decode() { "the answer could not be read".into() } else { "request failed".into() });
    }
    parts.join(": ")
}

/// Reads a duration in seconds from a provider table value (`timeout_secs = 30` or `2.5`).
pub fn secs(v: f64) -> Option<Duration> {
    (v.is_finite() && v > 0.0).then(|| Duration::from_secs_f64(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn fast() -> HttpOptions {
        HttpOptions {
            timeout: Duration::from_millis(500),
            max_retries: 2,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..HttpOptions::default()
        }
    }

    fn client(key: Option<&str>) -> HttpClient {
        let mut b = HttpClient::builder("test").options(fast());
        if let Some(k) = key {
            b = b.api_key(Redacted::new(k.to_string()), AuthScheme::Bearer);
        }
        b.build().unwrap()
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let o = HttpOptions {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..Default::default()
        };
        for _ in 0..100 {
            assert!(o.backoff(0) <= Duration::from_millis(100));
            assert!(o.backoff(3) <= Duration::from_millis(800));
            assert!(o.backoff(30) <= Duration::from_secs(1));
        }
        // Full jitter: not always the cap.
        assert!((0..100).map(|_| o.backoff(3)).any(|d| d < Duration::from_millis(700)));
    }

    #[test]
    fn urls_lose_query_and_credentials() {
        assert_eq!(shown_url("https://u:p@h/v1/x?api-key=sk"), "https://****@h/v1/x");
    }

    #[test]
    fn reasons_are_read_from_common_shapes() {
        assert_eq!(
            error_reason(r#"{"error":{"message":"too big","code":"context_length_exceeded"}}"#),
            "too big (context_length_exceeded)"
        );
        assert_eq!(error_reason(r#"{"error":"model not found"}"#), "model not found");
        assert_eq!(error_reason("plain\n text"), "plain text");
        assert!(is_context_length("This model's maximum context length is 8192 tokens"));
        assert!(!is_context_length("server overloaded"));
    }

    #[tokio::test]
    async fn server_error_then_success_is_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/x"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/x"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": 1})))
            .mount(&server)
            .await;
        let v = client(None).post_json(&format!("{}/x", server.uri()), &serde_json::json!({})).await.unwrap();
        assert_eq!(v["ok"], 1);
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn retry_after_is_honoured() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0.3"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
            .mount(&server)
            .await;
        let started = Instant::now();
        client(None).post_json(&server.uri(), &serde_json::json!({})).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn retries_end_in_a_clear_error() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
            .mount(&server)
            .await;
        let url = format!("{}/v1/e?key=secret-q", server.uri());
        let err = client(None).post_json(&url, &serde_json::json!({})).await.unwrap_err();
        let text = err.to_string();
        assert!(err.is_transient(), "{text}");
        assert!(text.starts_with("test: "), "{text}");
        assert!(text.contains("500") && text.contains("after 3 attempts") && text.contains("boom"), "{text}");
        assert!(text.contains("/v1/e") && !text.contains("secret-q"), "{text}");
        assert_eq!(server.received_requests().await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_too_long_retry_after_fails_at_once() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
            .mount(&server)
            .await;
        let err = client(None).post_json(&server.uri(), &serde_json::json!({})).await.unwrap_err();
        assert!(matches!(err, ProviderError::RateLimited { retry_after: Some(d), .. } if d.as_secs() == 3600), "{err}");
        assert!(err.to_string().contains("asked to wait 3600 s"), "{err}");
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn unauthorized_never_quotes_the_key() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401).set_body_string("Incorrect API key provided: sk-secret-123"))
            .mount(&server)
            .await;
        let err = client(Some("sk-secret-123")).post_json(&server.uri(), &serde_json::json!({})).await.unwrap_err();
        assert!(matches!(err, ProviderError::Unauthorized { .. }), "{err}");
        assert!(!err.to_string().contains("sk-secret"), "{err}");
        assert!(!format!("{err:?}").contains("sk-secret"));
        assert_eq!(server.received_requests().await.unwrap().len(), 1, "401 is not retried");
    }

    #[tokio::test]
    async fn echoed_keys_are_scrubbed_from_other_errors() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_string("bad header Bearer sk-secret-123"))
            .mount(&server)
            .await;
        let err = client(Some("sk-secret-123")).post_json(&server.uri(), &serde_json::json!({})).await.unwrap_err();
        assert!(matches!(err, ProviderError::Permanent { .. }), "{err}");
        assert!(!err.to_string().contains("sk-secret") && err.to_string().contains(MASK), "{err}");
    }

    #[tokio::test]
    async fn timeouts_are_transient_and_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
            .mount(&server)
            .await;
        let err = client(None).post_json(&server.uri(), &serde_json::json!({})).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(err.to_string().contains("timed out after 0.5 s"), "{err}");
        assert_eq!(server.received_requests().await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn connection_refused_is_transient() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        drop(listener);
        let err = client(None).post_json(&url, &serde_json::json!({})).await.unwrap_err();
        assert!(err.is_transient() && err.to_string().contains("cannot connect"), "{err}");
    }

    #[tokio::test]
    async fn context_length_is_not_transient() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": {"message": "This model's maximum context length is 8192 tokens", "code": "context_length_exceeded"}})))
            .mount(&server)
            .await;
        let err = client(None).post_json(&server.uri(), &serde_json::json!({})).await.unwrap_err();
        assert!(err.is_context_length() && !err.is_transient(), "{err}");
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn invalid_json_is_malformed() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("{not json"))
            .mount(&server)
            .await;
        let err = client(None).post_json(&server.uri(), &serde_json::json!({})).await.unwrap_err();
        assert!(matches!(err, ProviderError::MalformedResponse { .. }), "{err}");
    }

    #[tokio::test]
    async fn lines_are_streamed() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("a\r\nb\n\nc"))
            .mount(&server)
            .await;
        let lines: Vec<String> = client(None)
            .post_lines(&server.uri(), &serde_json::json!({}))
            .await
            .unwrap()
            .map(|l| l.unwrap())
            .collect()
            .await;
        assert_eq!(lines, ["a", "b", "", "c"]);
    }
}
