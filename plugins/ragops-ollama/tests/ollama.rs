//! The Ollama providers against a local wiremock server: request bodies, retries, timeouts,
//! malformed answers, `OLLAMA_HOST` and secret hygiene.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use futures::StreamExt;
use ragops_lib::error::ProviderError;
use ragops_lib::provider::{CompletionRequest, EmbeddingProvider, LlmProvider, Message, ProviderSettings, Role};
use ragops_ollama::{OllamaEmbedder, OllamaLlm};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const KEY: &str = "ollama-proxy-secret-77";

fn env(k: &str) -> Option<String> {
    (k == "TEST_OLLAMA_KEY").then(|| KEY.to_string())
}

fn settings(server: &MockServer, extra: &str) -> ProviderSettings {
    let mut s = ProviderSettings::new("ollama");
    s.model = Some("tiny-embed".into());
    s.dimensions = Some(2);
    let table = format!("base_url = \"{}\"\nmax_retries = 2\ninitial_backoff_ms = 1\ntimeout_secs = 1\n", server.uri());
    s.options = toml::from_str(&table).unwrap();
    s.options.extend(toml::from_str::<toml::Table>(extra).unwrap());
    s
}

fn embedder(server: &MockServer, extra: &str) -> OllamaEmbedder {
    OllamaEmbedder::try_new(&settings(server, extra), &env).unwrap()
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("text {i}")).collect()
}

/// Answers like `/api/embed`: one deterministic 2-vector per input.
struct FakeEmbed;

impl Respond for FakeEmbed {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let embeddings: Vec<Value> =
            body["input"].as_array().unwrap().iter().map(|t| json!([t.as_str().unwrap().len() as f32, 1.0])).collect();
        ResponseTemplate::new(200).set_body_json(json!({"model": body["model"], "embeddings": embeddings}))
    }
}

#[tokio::test]
async fn embed_request_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/embed"))
        .and(body_partial_json(
            json!({"model": "tiny-embed", "input": ["a", "bb"], "truncate": false, "keep_alive": "1m"}),
        ))
        .respond_with(FakeEmbed)
        .expect(1)
        .mount(&server)
        .await;
    let out =
        embedder(&server, "truncate = false\nkeep_alive = \"1m\"\n").embed(&["a".into(), "bb".into()]).await.unwrap();
    assert_eq!(out, vec![vec![1.0, 1.0], vec![2.0, 1.0]]);
}

#[tokio::test]
async fn conformance() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/api/embed")).respond_with(FakeEmbed).mount(&server).await;
    ragops_lib::testing::embedding_provider_conformance(&embedder(&server, "")).await;
}

#[tokio::test]
async fn ollama_host_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/api/embed")).respond_with(FakeEmbed).expect(1).mount(&server).await;
    let host = server.address().to_string();
    let mut s = ProviderSettings::new("ollama");
    s.options = toml::from_str("max_retries = 0\n").unwrap();
    let e = OllamaEmbedder::try_new(&s, &|k| (k == "OLLAMA_HOST").then(|| host.clone())).unwrap();
    assert_eq!(e.dimensions(), 768, "nomic-embed-text by default");
    // The canned answer has 2 values, so the call fails on the dimension — after reaching the server.
    let err = e.embed(&texts(1)).await.unwrap_err();
    assert!(matches!(err, ProviderError::MalformedResponse { .. }), "{err}");
}

#[tokio::test]
async fn bearer_key_from_named_variable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(FakeEmbed)
        .expect(1)
        .mount(&server)
        .await;
    embedder(&server, "api_key_env = \"TEST_OLLAMA_KEY\"\n").embed(&texts(1)).await.unwrap();
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(FakeEmbed).mount(&server).await;
    let started = Instant::now();
    assert_eq!(embedder(&server, "").embed(&texts(2)).await.unwrap().len(), 2);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn server_error_then_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).up_to_n_times(1).mount(&server).await;
    Mock::given(method("POST")).respond_with(FakeEmbed).mount(&server).await;
    assert_eq!(embedder(&server, "").embed(&texts(3)).await.unwrap().len(), 3);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn timeout_is_transient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"embeddings": [[1.0, 2.0]]}))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let err = embedder(&server, "max_retries = 1\ntimeout_secs = 0.3\n").embed(&texts(1)).await.unwrap_err();
    assert!(err.is_transient() && err.to_string().contains("timed out"), "{err}");
    assert!(err.to_string().contains("ollama") && err.to_string().contains("/api/embed"), "{err}");
}

#[tokio::test]
async fn malformed_answers_are_errors() {
    for (name, answer, n) in [
        ("invalid json", ResponseTemplate::new(200).set_body_string("not json"), 1),
        ("wrong count", ResponseTemplate::new(200).set_body_json(json!({"embeddings": [[1.0, 2.0]]})), 2),
        ("wrong dimension", ResponseTemplate::new(200).set_body_json(json!({"embeddings": [[1.0, 2.0, 3.0]]})), 1),
        ("NaN as null", ResponseTemplate::new(200).set_body_json(json!({"embeddings": [[1.0, null]]})), 1),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(answer).mount(&server).await;
        let err = embedder(&server, "").embed(&texts(n)).await.unwrap_err();
        assert!(matches!(err, ProviderError::MalformedResponse { .. }), "{name}: {err}");
    }
}

#[tokio::test]
async fn unauthorized_never_shows_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string(format!("bad token {KEY}")))
        .mount(&server)
        .await;
    let err = embedder(&server, "api_key_env = \"TEST_OLLAMA_KEY\"\n").embed(&texts(1)).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains(KEY) && !format!("{err:?}").contains(KEY), "{err}");
}

#[tokio::test]
async fn context_length_is_distinguished() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": "the input length exceeds the context length"})),
        )
        .mount(&server)
        .await;
    let err = embedder(&server, "truncate = false\n").embed(&texts(1)).await.unwrap_err();
    assert!(err.is_context_length(), "{err}");
}

#[test]
fn config_errors_name_the_key() {
    let mut s = ProviderSettings::new("ollama");
    s.model = Some("custom-embedder".into());
    let err = OllamaEmbedder::try_new(&s, &|_| None).unwrap_err().to_string();
    assert!(err.contains("embedding.dimensions"), "{err}");
    s.dimensions = Some(4);
    s.options = toml::from_str("hots = \"x\"\n").unwrap();
    let err = OllamaEmbedder::try_new(&s, &|_| None).unwrap_err().to_string();
    assert!(err.contains("embedding.ollama") && err.contains("hots"), "{err}");
    s.options = toml::from_str("context_window = 4\n").unwrap();
    let err = OllamaEmbedder::try_new(&s, &|_| None).unwrap_err().to_string();
    assert!(err.contains("embedding.ollama.context_window"), "{err}");
}

fn llm(server: &MockServer, extra: &str) -> OllamaLlm {
    let mut s = settings(server, extra);
    s.model = Some("tiny-chat".into());
    s.dimensions = None;
    OllamaLlm::try_new(&s, &env).unwrap()
}

fn request() -> CompletionRequest {
    let mut r = CompletionRequest::new(vec![Message::new(Role::User, "hi")]);
    r.max_tokens = Some(20);
    r
}

#[tokio::test]
async fn chat_request_body_and_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat"))
        .and(body_partial_json(json!({
            "model": "tiny-chat", "stream": false,
            "messages": [{"role": "user", "content": "hi"}],
            "options": {"num_predict": 20, "num_ctx": 4096}
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"message": {"role": "assistant", "content": "hello"}, "done": true})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let m = llm(&server, "context_window = 4096\n");
    assert_eq!(m.complete(&request()).await.unwrap().text, "hello");
    assert_eq!(m.context_window(), 4096);
}

#[tokio::test]
async fn chat_streams_ndjson() {
    let server = MockServer::start().await;
    let body = "{\"message\":{\"content\":\"Hel\"},\"done\":false}\n{\"message\":{\"content\":\"lo\"},\"done\":false}\n{\"message\":{\"content\":\"\"},\"done\":true}\n";
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"stream": true})))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/x-ndjson"))
        .expect(1)
        .mount(&server)
        .await;
    let parts: Vec<String> =
        llm(&server, "").complete_stream(&request()).await.unwrap().map(|p| p.unwrap()).collect().await;
    assert_eq!(parts, ["Hel", "lo"]);
}

#[tokio::test]
async fn chat_errors_and_empty_answers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("{\"error\":\"model crashed\"}\n", "application/x-ndjson"),
        )
        .mount(&server)
        .await;
    let parts: Vec<_> = llm(&server, "").complete_stream(&request()).await.unwrap().collect().await;
    assert!(parts[0].as_ref().unwrap_err().to_string().contains("model crashed"), "{parts:?}");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"message": {"content": " "}, "done": true})))
        .mount(&server)
        .await;
    let err = llm(&server, "").complete(&request()).await.unwrap_err();
    assert!(matches!(err, ProviderError::MalformedResponse { .. }), "{err}");
}
