//! The example plugin loaded as a real dynamic library: it registers, embeds over HTTP (on its
//! own runtime, awaited from the host's), works through a whole scan, and a library declaring
//! another ABI version, a library without the entry symbol and a non-library are refused.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

use ragops_lib::config::ConfigOrigin;
use ragops_lib::plugin::dylib;
use ragops_lib::provider::{ProviderSettings, Registry};
use ragops_lib::{Config, Index};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Where cargo put the test binary's sibling libraries: `target/<profile>/deps` and its parent.
fn target_dirs() -> Vec<PathBuf> {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    let profile = deps.parent().unwrap().to_path_buf();
    vec![profile, deps]
}

/// The built library of a workspace cdylib crate (cargo builds it with the test: a dev-dependency
/// or the package's own lib target).
fn library(crate_name: &str) -> PathBuf {
    let file = format!("{}{crate_name}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    // The newest copy: a target directory shared between builds may keep a stale one (an
    // older ragops-lib's vtables) beside the library this test was built with.
    target_dirs()
        .into_iter()
        .map(|d| d.join(&file))
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("{file} not built next to {:?}", target_dirs()))
}

/// Answers `{base_url}/embed` with one deterministic 4-vector per text.
struct FakeEmbed;

impl Respond for FakeEmbed {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let vectors: Vec<Value> = body["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let n = t.as_str().unwrap().len() as f32;
                json!([n, 1.0, n % 7.0, 0.5])
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({ "vectors": vectors }))
    }
}

#[tokio::test]
async fn plugin_loads_registers_and_embeds_over_http() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/embed")).respond_with(FakeEmbed).expect(1).mount(&server).await;
    let mut registry = Registry::with_builtins();
    let loaded = dylib::load(&library("ragops_plugin_example"), &mut registry).unwrap();
    assert_eq!(loaded.embedders, ["example"]);
    assert!(loaded.llms.is_empty());
    let mut s = ProviderSettings::new("example");
    s.dimensions = Some(4);
    s.options = toml::from_str(&format!("base_url = \"{}\"", server.uri())).unwrap();
    let embedder = registry.embedder(&s).unwrap();
    assert_eq!(embedder.model().provider, "example");
    let texts = vec!["ab".to_string(), "abcd".to_string(), "x".to_string()];
    let out = embedder.embed(&texts).await.unwrap();
    assert_eq!(out, vec![vec![2.0, 1.0, 2.0, 0.5], vec![4.0, 1.0, 4.0, 0.5], vec![1.0, 1.0, 1.0, 0.5]]);
    let body: Value = serde_json::from_slice(&server.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(body, json!({"model": "example-v1", "texts": ["ab", "abcd", "x"]}));
    // Errors from inside the plugin come back as values, not panics.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    s.options = toml::from_str(&format!("base_url = \"http://{}\"", closed.local_addr().unwrap())).unwrap();
    drop(closed);
    let err = registry.embedder(&s).unwrap().embed(&texts).await.unwrap_err();
    assert!(err.to_string().contains("example"), "{err}");
}

#[tokio::test]
async fn a_scan_uses_the_plugin_named_in_config() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/embed")).respond_with(FakeEmbed).mount(&server).await;
    let repo = tempfile::tempdir().unwrap();
    for i in 0..5 {
        std::fs::write(repo.path().join(format!("f{i}.md")), format!("note {i}\n")).unwrap();
    }
    let text = format!(
        "[[plugins]]\npath = \"{}\"\n[embedding]\nprovider = \"example\"\ndimensions = 4\n[embedding.example]\nbase_url = \"{}\"\n",
        library("ragops_plugin_example").display(),
        server.uri()
    );
    let config = Config::from_toml(&text, None, ConfigOrigin::CommandLine, false, &|_| None).unwrap();
    let index = Index::builder().repo(repo.path()).config(config).build().unwrap();
    let summary = index.scan().await.unwrap();
    assert_eq!(summary.chunks, 5);
    assert!(!server.received_requests().await.unwrap().is_empty());
    let status = index.status().await.unwrap();
    assert_eq!(serde_json::to_value(&status.metadata).unwrap()["embedding_provider"], "example");
}

#[test]
fn another_abi_version_is_refused() {
    let lib = library("ragops_plugin_wrong_abi");
    let mut registry = Registry::new();
    let err = dylib::load(&lib, &mut registry).unwrap_err().to_string();
    assert!(err.contains("ragops_plugin_wrong_abi"), "names the file: {err}");
    assert!(err.contains("ABI version 999"), "names the plugin's side: {err}");
    assert!(err.contains(&format!("speaks version {}", ragops_lib::plugin::ABI_VERSION)), "names ours: {err}");
    assert!(registry.embedder_names().is_empty());
}

#[test]
fn a_library_without_the_entry_symbol_is_refused() {
    // Any other library cargo built: a proc-macro of our dependency tree is one.
    let deps = &target_dirs()[1];
    let prefix = format!("{}async_trait-", std::env::consts::DLL_PREFIX);
    let other = std::fs::read_dir(deps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(std::env::consts::DLL_SUFFIX)
        })
        .expect("the async-trait proc-macro library");
    let err = dylib::load(&other, &mut Registry::new()).unwrap_err().to_string();
    assert!(err.contains("no `ragops_plugin_declaration` symbol"), "{err}");
}

#[test]
fn a_file_that_is_not_a_library_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join(format!("{}fake{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX));
    std::fs::write(&fake, "#!/bin/sh\necho not a library\n").unwrap();
    let err = dylib::load(&fake, &mut Registry::new()).unwrap_err().to_string();
    assert!(err.contains("not a loadable dynamic library"), "{err}");
    let err = dylib::load(Path::new("/no/such/libplugin.so"), &mut Registry::new()).unwrap_err().to_string();
    assert!(err.contains("no such file"), "{err}");
}
