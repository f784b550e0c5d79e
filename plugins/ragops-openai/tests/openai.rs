//! The OpenAI providers against a local wiremock server: request bodies, batching, retries,
//! timeouts, malformed answers and secret hygiene.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use ragops_lib::error::ProviderError;
use ragops_lib::provider::{CompletionRequest, EmbeddingProvider, LlmProvider, Message, ProviderSettings, Role};
use ragops_openai::{OpenAiEmbedder, OpenAiLlm};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const KEY: &str = "sk-test-secret-4242";

fn env(k: &str) -> Option<String> {
    (k == "TEST_OPENAI_KEY").then(|| KEY.to_string())
}

fn settings(server: &MockServer, extra: &str) -> ProviderSettings {
    let mut s = ProviderSettings::new("openai");
    s.model = Some("embed-small".into());
    s.dimensions = Some(3);
    let table = format!(
        "base_url = \"{}/v1\"\napi_key_env = \"TEST_OPENAI_KEY\"\nmax_retries = 2\ninitial_backoff_ms = 1\ntimeout_secs = 1\n",
        server.uri()
    );
    s.options = toml::from_str(&table).unwrap();
    // Later keys win.
    s.options.extend(toml::from_str::<toml::Table>(extra).unwrap());
    s
}

fn embedder(server: &MockServer, extra: &str) -> OpenAiEmbedder {
    OpenAiEmbedder::try_new(&settings(server, extra), &env).unwrap()
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("text {i}")).collect()
}

/// Answers like the OpenAI embeddings endpoint: one deterministic 3-vector per input.
struct FakeEmbeddings;

impl Respond for FakeEmbeddings {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let data: Vec<Value> = body["input"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let n = t.as_str().unwrap().len() as f32;
                json!({"object": "embedding", "index": i, "embedding": [n, 1.0, -n]})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"object": "list", "data": data}))
    }
}

fn vectors(n: usize) -> Value {
    let data: Vec<Value> = (0..n).map(|i| json!({"index": i, "embedding": [i as f32, 0.5, 0.25]})).collect();
    json!({"data": data})
}

#[tokio::test]
async fn embeddings_request_body_headers_and_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header("openai-organization", "org-1"))
        .and(header("openai-project", "proj-1"))
        .and(body_partial_json(json!({"model": "embed-small", "input": ["a", "b"], "encoding_format": "float"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [
            {"index": 1, "embedding": [0.0, 1.0, 0.0]},
            {"index": 0, "embedding": [1.0, 0.0, 0.0]}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let e = embedder(&server, "organization = \"org-1\"\nproject = \"proj-1\"\n");
    let out = e.embed(&["a".to_string(), "b".to_string()]).await.unwrap();
    assert_eq!(out, vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]], "reordered by `index`");
    let body: Value = serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert!(body.get("dimensions").is_none(), "not sent to a model that may refuse it: {body}");
}

#[tokio::test]
async fn conformance() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/embeddings")).respond_with(FakeEmbeddings).mount(&server).await;
    ragops_lib::testing::embedding_provider_conformance(&embedder(&server, "")).await;
}

#[tokio::test]
async fn dimensions_are_sent_to_text_embedding_3() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"model": "text-embedding-3-small", "dimensions": 3})))
        .respond_with(FakeEmbeddings)
        .expect(1)
        .mount(&server)
        .await;
    let mut s = settings(&server, "");
    s.model = Some("text-embedding-3-small".into());
    let e = OpenAiEmbedder::try_new(&s, &env).unwrap();
    assert_eq!(e.embed(&texts(2)).await.unwrap().len(), 2);
}

#[tokio::test]
async fn azure_style_gateway_key_header_and_query() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header("api-key", KEY))
        .and(query_param("api-version", "2024-02-01"))
        .respond_with(FakeEmbeddings)
        .expect(1)
        .mount(&server)
        .await;
    let e = embedder(&server, "auth_header = \"api-key\"\nquery = { api-version = \"2024-02-01\" }\n");
    e.embed(&texts(1)).await.unwrap();
    let req = &server.received_requests().await.unwrap()[0];
    assert!(req.headers.get("authorization").is_none());
}

#[tokio::test]
async fn scan_batches_and_bounds_requests() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/embeddings")).respond_with(FakeEmbeddings).mount(&server).await;
    let repo = tempfile::tempdir().unwrap();
    for i in 0..12 {
        std::fs::write(repo.path().join(format!("f{i}.txt")), format!("file number {i}\n")).unwrap();
    }
    let text = format!(
        "[embedding]\nprovider = \"openai\"\nmodel = \"embed-small\"\ndimensions = 3\nbatch_size = 5\nconcurrency = 2\n[embedding.openai]\nbase_url = \"{}/v1\"\n",
        server.uri()
    );
    let config =
        ragops_lib::Config::from_toml(&text, None, ragops_lib::config::ConfigOrigin::CommandLine, false, &|_| None)
            .unwrap();
    let mut registry = ragops_lib::Registry::with_builtins();
    ragops_openai::register(&mut registry);
    let index = ragops_lib::Index::builder().repo(repo.path()).config(config).registry(registry).build().unwrap();
    let summary = index.scan().await.unwrap();
    assert_eq!(summary.chunks, 12);
    let sizes: Vec<usize> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["input"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 12);
    assert!(sizes.iter().all(|&n| n <= 5), "{sizes:?}");
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    let hits = index.search("file number 3", 3, &[]).await.unwrap();
    assert!(!hits.is_empty());
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(FakeEmbeddings).mount(&server).await;
    let started = Instant::now();
    let out = embedder(&server, "").embed(&texts(2)).await.unwrap();
    assert_eq!(out.len(), 2);
    assert!(started.elapsed() >= Duration::from_secs(1), "waited {:?}", started.elapsed());
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn rate_limit_forever_is_a_clear_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"error": {"message": "Rate limit reached"}})))
        .mount(&server)
        .await;
    let err = embedder(&server, "").embed(&texts(1)).await.unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("openai") && text.contains("429") && text.contains("/v1/embeddings"), "{text}");
    assert!(text.contains("after 3 attempts") && text.contains("Rate limit reached"), "{text}");
}

#[tokio::test]
async fn server_error_then_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).up_to_n_times(1).mount(&server).await;
    Mock::given(method("POST")).respond_with(FakeEmbeddings).mount(&server).await;
    assert_eq!(embedder(&server, "").embed(&texts(3)).await.unwrap().len(), 3);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn timeout_is_transient_and_named() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(vectors(1)).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let err = embedder(&server, "max_retries = 1\ntimeout_secs = 0.3\n").embed(&texts(1)).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("timed out after 0.3 s") && err.to_string().contains("after 2 attempts"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn malformed_answers_are_errors() {
    for (name, answer, n) in [
        ("invalid json", ResponseTemplate::new(200).set_body_string("{\"data\": ["), 2),
        ("wrong count", ResponseTemplate::new(200).set_body_json(vectors(1)), 2),
        (
            "wrong dimension",
            ResponseTemplate::new(200).set_body_json(json!({"data": [{"index": 0, "embedding": [1.0, 2.0]}]})),
            1,
        ),
        (
            "NaN as null",
            ResponseTemplate::new(200).set_body_json(json!({"data": [{"index": 0, "embedding": [1.0, null, 0.0]}]})),
            1,
        ),
        ("no data", ResponseTemplate::new(200).set_body_json(json!({"object": "list"})), 1),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(answer).mount(&server).await;
        let err = embedder(&server, "").embed(&texts(n)).await.unwrap_err();
        assert!(matches!(err, ProviderError::MalformedResponse { .. }), "{name}: {err}");
        assert_eq!(server.received_requests().await.unwrap().len(), 1, "{name}: not retried");
    }
}

#[tokio::test]
async fn unauthorized_never_shows_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"message": format!("Incorrect API key provided: {KEY}"), "code": "invalid_api_key"}}),
        ))
        .mount(&server)
        .await;
    let e = embedder(&server, "");
    assert!(!format!("{e:?}").contains(KEY), "{e:?}");
    let err = e.embed(&texts(1)).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized { .. }), "{err}");
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(KEY) && !shown.contains("sk-test"), "{shown}");
        assert!(shown.contains("401"), "{shown}");
    }
}

#[tokio::test]
async fn context_length_is_distinguished() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "This model's maximum context length is 8192 tokens, however you requested 9000 tokens",
            "code": "context_length_exceeded"}})))
        .mount(&server)
        .await;
    let err = embedder(&server, "").embed(&texts(1)).await.unwrap_err();
    assert!(err.is_context_length() && !err.is_transient(), "{err}");
}

#[test]
fn config_errors_name_the_key() {
    let mut s = ProviderSettings::new("openai");
    let err = OpenAiEmbedder::try_new(&s, &|_| None).unwrap_err().to_string();
    assert!(err.contains("OPENAI_API_KEY"), "{err}");
    s.options = toml::from_str("base_url = \"http://127.0.0.1:1/v1\"\nmodle = \"x\"\n").unwrap();
    let err = OpenAiEmbedder::try_new(&s, &|_| None).unwrap_err().to_string();
    assert!(err.contains("embedding.openai") && err.contains("modle"), "{err}");
    s.options = toml::from_str("base_url = \"http://127.0.0.1:1/v1\"\napi_key_env = \"NOPE_UNSET\"\n").unwrap();
    let err = OpenAiEmbedder::try_new(&s, &|_| None).unwrap_err().to_string();
    assert!(err.contains("api_key_env") && err.contains("NOPE_UNSET"), "{err}");
    s.options = toml::from_str("base_url = \"http://127.0.0.1:1/v1\"\n").unwrap();
    s.model = Some("my-embedder".into());
    let err = OpenAiEmbedder::try_new(&s, &|_| None).unwrap_err().to_string();
    assert!(err.contains("embedding.dimensions") && err.contains("my-embedder"), "{err}");
    s.dimensions = Some(8);
    s.options = toml::from_str("base_url = \"localhost:8080\"\n").unwrap();
    let err = OpenAiEmbedder::try_new(&s, &|_| None).unwrap_err().to_string();
    assert!(err.contains("embedding.openai.base_url"), "{err}");
    // A local compatible server needs no key.
    s.options = toml::from_str("base_url = \"http://127.0.0.1:1/v1\"\n").unwrap();
    assert_eq!(OpenAiEmbedder::try_new(&s, &|_| None).unwrap().dimensions(), 8);
}

fn llm(server: &MockServer, extra: &str) -> OpenAiLlm {
    let mut s = settings(server, extra);
    s.model = Some("chat-small".into());
    s.dimensions = None;
    OpenAiLlm::try_new(&s, &env).unwrap()
}

fn request() -> CompletionRequest {
    let mut r = CompletionRequest::new(vec![Message::new(Role::System, "be brief"), Message::new(Role::User, "hi")]);
    r.max_tokens = Some(50);
    r
}

#[tokio::test]
async fn chat_request_body_and_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({
            "model": "chat-small", "stream": false, "max_tokens": 50,
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"choices": [{"message": {"role": "assistant", "content": "hello"}}]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let m = llm(&server, "context_window = 32000\n");
    assert_eq!(m.complete(&request()).await.unwrap().text, "hello");
    assert_eq!(m.context_window(), 32000);
}

#[tokio::test]
async fn chat_empty_answer_is_malformed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"choices": [{"message": {"content": ""}}]})))
        .mount(&server)
        .await;
    let err = llm(&server, "").complete(&request()).await.unwrap_err();
    assert!(matches!(err, ProviderError::MalformedResponse { .. }), "{err}");
}

#[tokio::test]
async fn chat_streams_server_sent_events() {
    let server = MockServer::start().await;
    let sse = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n\
               data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
               : keep-alive\n\n\
               data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n\
               data: [DONE]\n\n";
    Mock::given(method("POST"))
        .and(body_partial_json(json!({"stream": true})))
        .respond_with(ResponseTemplate::new(200).set_body_raw(sse, "text/event-stream"))
        .expect(1)
        .mount(&server)
        .await;
    let parts: Vec<String> =
        llm(&server, "").complete_stream(&request()).await.unwrap().map(|p| p.unwrap()).collect().await;
    assert_eq!(parts, ["Hel", "lo"]);
}

#[tokio::test]
async fn chat_stream_errors_surface() {
    let server = MockServer::start().await;
    let sse = "data: {\"error\":{\"message\":\"overloaded\"}}\n\n";
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(sse, "text/event-stream"))
        .mount(&server)
        .await;
    let parts: Vec<_> = llm(&server, "").complete_stream(&request()).await.unwrap().collect().await;
    assert_eq!(parts.len(), 1);
    assert!(parts[0].as_ref().unwrap_err().to_string().contains("overloaded"));
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("data: [DONE]\n\n", "text/event-stream"))
        .mount(&server)
        .await;
    let parts: Vec<_> = llm(&server, "").complete_stream(&request()).await.unwrap().collect().await;
    assert!(matches!(parts[..], [Err(ProviderError::MalformedResponse { .. })]), "{parts:?}");
}

#[tokio::test]
async fn providers_box_as_trait_objects() {
    let server = MockServer::start().await;
    let e: Arc<dyn EmbeddingProvider> = Arc::new(embedder(&server, ""));
    assert_eq!(e.model().provider, "openai");
    assert_eq!(e.max_batch_size(), ragops_openai::DEFAULT_BATCH_SIZE);
    let l: Arc<dyn LlmProvider> = Arc::new(llm(&server, ""));
    assert_eq!(l.context_window(), ragops_openai::DEFAULT_CONTEXT_WINDOW);
}
