//! The `ragops` binary with real providers pointed at local mock servers: provider selection is
//! one config line, keys never reach the logs or errors, and a repository's own config cannot
//! redirect providers, name key variables or load plugins (SPEC contract 6).

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::process::Output;

use serde_json::{Value, json};
use tempfile::TempDir;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const KEY: &str = "sk-cli-secret-31337";

/// A repository with two files, a private HOME/XDG and room for config files outside it.
struct Fixture {
    tmp: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["repo/src", "home", "xdg"] {
            std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        std::fs::write(tmp.path().join("repo/src/lib.rs"), "pub fn retry_with_backoff() -> u32 {\n    3\n}\n").unwrap();
        std::fs::write(tmp.path().join("repo/README.md"), "# demo\nA small repository.\n").unwrap();
        Fixture { tmp }
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("repo")
    }

    fn write_config(&self, name: &str, text: &str) -> PathBuf {
        let p = if name == "ragops.toml" { self.root().join(name) } else { self.tmp.path().join(name) };
        std::fs::write(&p, text).unwrap();
        p
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("ragops"));
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().to_string();
            if k.starts_with("RAGOPS_") || k.starts_with("OPENAI_") || k == "OLLAMA_HOST" || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", self.tmp.path().join("home")).env("XDG_CONFIG_HOME", self.tmp.path().join("xdg"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.current_dir(self.root()).args(args).output().unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every stderr line is a JSON object (the log contract).
fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect()
}

/// Answers like the OpenAI embeddings endpoint with deterministic 8-vectors.
struct FakeOpenAi;

impl Respond for FakeOpenAi {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let data: Vec<Value> = body["input"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let s = t.as_str().unwrap();
                let v: Vec<f32> = (0..8).map(|k| ((s.len() + k * 7) % 11) as f32 / 11.0 + 0.01).collect();
                json!({"index": i, "embedding": v})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({ "data": data }))
    }
}

fn openai_config(server: &MockServer, extra: &str) -> String {
    format!(
        "[embedding]\nprovider = \"openai\"\nmodel = \"embed-8\"\ndimensions = 8\n[embedding.openai]\nbase_url = \"{}/v1\"\nmax_retries = 1\ninitial_backoff_ms = 1\n{extra}",
        server.uri()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_scan_logs_provider_and_model_never_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/embeddings")).respond_with(FakeOpenAi).mount(&server).await;
    let f = Fixture::new();
    let config = f.write_config("openai.toml", &openai_config(&server, "api_key_env = \"MY_KEY\"\n"));
    let out = f.run(
        &["--config", config.to_str().unwrap(), "--log-format", "json", "-v", "scan", "--json"],
        &[("MY_KEY", KEY)],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert!(summary["chunks"].as_u64().unwrap() >= 2, "{summary}");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests[0].headers.get("authorization").unwrap().to_str().unwrap(), format!("Bearer {KEY}"));
    let batches: Vec<Value> = json_lines(&stderr).into_iter().filter(|l| l["event"] == "embed.batch").collect();
    assert!(!batches.is_empty(), "{stderr}");
    for b in &batches {
        assert_eq!(b["provider"], "openai", "{b}");
        assert_eq!(b["model"], "embed-8", "{b}");
        assert!(b["latency_ms"].is_number(), "{b}");
    }
    let status = f.run(&["--config", config.to_str().unwrap(), "status", "--json"], &[("MY_KEY", KEY)]);
    let status = text(&status.stdout);
    assert!(status.contains("\"embedding_provider\": \"openai\"") && !status.contains(KEY), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthorized_is_a_clear_error_without_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"message": format!("Incorrect API key provided: {KEY}"), "code": "invalid_api_key"}}),
        ))
        .mount(&server)
        .await;
    let f = Fixture::new();
    for (extra, env) in
        [("api_key_env = \"MY_KEY\"\n".to_string(), vec![("MY_KEY", KEY)]), (format!("api_key = \"{KEY}\"\n"), vec![])]
    {
        let config = f.write_config("openai.toml", &openai_config(&server, &extra));
        for log_format in ["json", "text"] {
            let out = f.run(&["--config", config.to_str().unwrap(), "--log-format", log_format, "-vv", "scan"], &env);
            let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
            assert!(!out.status.success(), "{stderr}");
            assert!(!stderr.contains(KEY) && !stdout.contains(KEY), "key leaked: {stderr}");
            assert!(!stderr.contains("sk-cli"), "part of the key leaked: {stderr}");
            assert!(stderr.contains("unauthorized") && stderr.contains("401"), "{stderr}");
            assert!(stderr.contains("/v1/embeddings"), "names the URL: {stderr}");
            if log_format == "json" {
                let lines = json_lines(&stderr);
                assert!(lines.iter().any(|l| l["event"] == "command.failed"), "{stderr}");
                if extra.contains("api_key =") {
                    assert!(lines.iter().any(|l| l["event"] == "provider.inline_key"), "warns: {stderr}");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_fails_the_scan_and_keeps_the_previous_index() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(FakeOpenAi).up_to_n_times(1).mount(&server).await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503).set_body_string("down")).mount(&server).await;
    let f = Fixture::new();
    let config = f.write_config("openai.toml", &openai_config(&server, ""));
    let c = config.to_str().unwrap();
    assert!(f.run(&["--config", c, "scan"], &[]).status.success());
    std::fs::write(f.root().join("src/new.rs"), "pub fn added_later() {}\n").unwrap();
    let out = f.run(&["--config", c, "scan"], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("openai") && stderr.contains("503") && stderr.contains("after 2 attempts"), "{stderr}");
    // The previous index is intact (the search itself needs the provider for the query).
    let out = f.run(&["--config", c, "status", "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["files"], 2, "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_is_one_config_line_away_and_honours_ollama_host() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/embed"))
        .respond_with(|r: &Request| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            let n = body["input"].as_array().unwrap().len();
            let vectors: Vec<Value> = (0..n).map(|i| json!([1.0, i as f32 + 0.5, 0.25])).collect();
            ResponseTemplate::new(200).set_body_json(json!({ "embeddings": vectors }))
        })
        .mount(&server)
        .await;
    let f = Fixture::new();
    let config =
        f.write_config("ollama.toml", "[embedding]\nprovider = \"ollama\"\nmodel = \"tiny\"\ndimensions = 3\n");
    let host = server.address().to_string();
    let out = f.run(&["--config", config.to_str().unwrap(), "scan", "--json"], &[("OLLAMA_HOST", &host)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body: Value = serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(body["model"], "tiny");
}

#[test]
fn repository_config_cannot_redirect_providers_or_load_plugins() {
    let f = Fixture::new();
    for (text_, key) in [
        (
            "[embedding]\nprovider = \"openai\"\n[embedding.openai]\nbase_url = \"http://attacker.invalid/v1\"\n",
            "embedding.openai.base_url",
        ),
        (
            "[llm]\nprovider = \"openai\"\n[llm.openai]\napi_key_env = \"AWS_SECRET_ACCESS_KEY\"\n",
            "llm.openai.api_key_env",
        ),
        ("[[plugins]]\npath = \"evil.so\"\n", "plugins"),
    ] {
        f.write_config("ragops.toml", text_);
        let out = f.run(&["scan"], &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(key) && stderr.contains("--trust-repo-config"), "{stderr}");
    }
    // Trusted explicitly, the plugin is attempted (and this file is not a library).
    std::fs::write(f.root().join("evil.so"), "not a library").unwrap();
    let out = f.run(&["--trust-repo-config", "scan"], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot load plugin") && stderr.contains("not a loadable dynamic library"), "{stderr}");
}

#[test]
fn a_missing_openai_key_is_a_config_error() {
    let f = Fixture::new();
    let config = f.write_config("openai.toml", "[embedding]\nprovider = \"openai\"\n");
    let out = f.run(&["--config", config.to_str().unwrap(), "scan"], &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("OPENAI_API_KEY"), "{stderr}");
}

/// Answers like OpenAI's chat completions endpoint (plain or streamed), citing the first chunk
/// of the prompt's sources and one invented location.
struct FakeChat;

impl Respond for FakeChat {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let prompt: String =
            body["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap_or("")).collect();
        // The prompt names its sources as `path:start-end`; cite the one about retries.
        let cited = prompt
            .split_whitespace()
            .find(|w| w.starts_with("src/lib.rs:"))
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != ':' && c != '/' && c != '.'))
            .unwrap_or("src/lib.rs:1-3")
            .to_string();
        let answer = format!("Retries back off in `retry_with_backoff` [{cited}]; see also [src/invented.rs:1-9].");
        if body["stream"].as_bool().unwrap_or(false) {
            let mut sse = String::new();
            for piece in answer.split_inclusive(' ') {
                let chunk = json!({"choices": [{"index": 0, "delta": {"content": piece}}]});
                sse.push_str(&format!("data: {chunk}\n\n"));
            }
            sse.push_str("data: [DONE]\n\n");
            return ResponseTemplate::new(200).insert_header("content-type", "text/event-stream").set_body_string(sse);
        }
        ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}]
        }))
    }
}

fn chat_config(server: &MockServer) -> String {
    format!(
        "[llm]\nprovider = \"openai\"\nmodel = \"chat-8k\"\n[llm.openai]\nbase_url = \"{}/v1\"\napi_key_env = \"MY_KEY\"\ncontext_window = 8192\nmax_retries = 1\ninitial_backoff_ms = 1\n",
        server.uri()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_through_an_openai_compatible_server_validates_citations() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/chat/completions")).respond_with(FakeChat).mount(&server).await;
    let f = Fixture::new();
    assert!(f.run(&["scan"], &[]).status.success());
    let config = f.write_config("chat.toml", &chat_config(&server));
    let c = config.to_str().unwrap();
    let out = f.run(&["--config", c, "chat", "how do retries back off?", "--json"], &[("MY_KEY", KEY)]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["mode"], "llm", "{v}");
    assert_eq!((v["provider"].as_str(), v["model"].as_str()), (Some("openai"), Some("chat-8k")), "{v}");
    assert_eq!(v["citations"][0]["path"], "src/lib.rs", "the valid citation is kept: {v}");
    assert_eq!(v["invalid_citations"][0]["path"], "src/invented.rs", "the invented one is flagged: {v}");
    let answer = v["answer"].as_str().unwrap();
    assert!(!answer.contains("[src/invented.rs:1-9]") && answer.contains("[invalid citation removed]"), "{v}");
    assert_eq!(v["grounded"], true);
    assert!(v["confidence"].is_number() && v["confidence_kind"] == "heuristic", "{v}");
    // The server got the retrieved chunk in the prompt, and the key in the header only.
    let requests = server.received_requests().await.unwrap();
    let body = text(&requests[0].body);
    assert!(body.contains("retry_with_backoff"), "the prompt carries the retrieved code: {body}");
    assert!(!body.contains(KEY));
    assert_eq!(requests[0].headers.get("authorization").unwrap().to_str().unwrap(), format!("Bearer {KEY}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_server_error_is_one_clear_line_and_exit_1() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500).set_body_string("boom")).mount(&server).await;
    let f = Fixture::new();
    assert!(f.run(&["scan"], &[]).status.success());
    let config = f.write_config("chat.toml", &chat_config(&server));
    let out = f.run(&["--config", config.to_str().unwrap(), "chat", "how do retries back off?"], &[("MY_KEY", KEY)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("openai") && stderr.contains("500"), "names the provider and the status: {stderr}");
    assert!(!stderr.contains(KEY) && !stderr.contains("panicked"), "{stderr}");
}
