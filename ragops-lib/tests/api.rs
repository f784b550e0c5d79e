//! The library's public API, end to end: what a tool author does with `cargo add ragops-lib`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::fs;
use std::sync::Arc;

use ragops_lib::config::{Config, ConfigOrigin};
use ragops_lib::provider::BuiltinEmbedder;
use ragops_lib::store::{Filter, HnswStore, HnswStoreOptions, OpenMode};
use ragops_lib::{EmbeddingProvider, Error, Index, IndexStore, StoreError};

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("src")).unwrap();
    fs::write(
        root.join("src/retry.rs"),
        "/// Retries a request with exponential backoff.\npub fn retry_with_backoff(attempts: u32) -> u32 {\n    attempts * 2\n}\n",
    )
    .unwrap();
    fs::write(
        root.join("src/config.rs"),
        "pub struct ConfigLoader;\nimpl ConfigLoader {\n    pub fn load_toml(path: &str) -> String { path.to_string() }\n}\n",
    )
    .unwrap();
    fs::write(root.join("notes.md"), "# Notes\nNothing about code here.\n").unwrap();
    dir
}

#[tokio::test]
async fn scan_search_rescan_status() {
    let dir = repo();
    let index = Index::builder().repo(dir.path()).build().unwrap();
    let first = index.scan().await.unwrap();
    assert_eq!(first.files_indexed, 3);
    assert_eq!(first.cache_misses, first.chunks);

    let created_at = index.status().await.unwrap().metadata.created_at;
    let hits = index.search("retry with backoff", 3, &[]).await.unwrap();
    assert_eq!(hits[0].chunk.path, "src/retry.rs");
    assert_eq!(hits[0].chunk.lines.start, 1);

    // A second scan in the same process: nothing changed, nothing re-embedded.
    let second = index.scan().await.unwrap();
    assert_eq!((second.files_indexed, second.files_unchanged, second.cache_misses), (0, 3, 0));

    // One change, one deletion.
    fs::write(dir.path().join("src/config.rs"), "pub fn load_yaml() {}\n").unwrap();
    fs::remove_file(dir.path().join("notes.md")).unwrap();
    let third = index.scan().await.unwrap();
    assert_eq!((third.files_indexed, third.files_deleted), (1, 1));
    let status = index.status().await.unwrap();
    assert_eq!((status.stats.files, status.stats.chunks), (2, 2));
    assert_eq!(status.metadata.embedding_provider, "builtin");
    assert_eq!(status.metadata.created_at, created_at, "created_at survives re-scans");
    assert_eq!(status.stats.generation, 3);

    let files = index.search_files("load yaml", 5, &[Filter::PathGlob("src/*.rs".into())]).await.unwrap();
    assert_eq!(files[0].path, "src/config.rs");
}

#[tokio::test]
async fn identical_chunks_are_embedded_once() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.rs", "b.rs", "c.rs"] {
        fs::write(dir.path().join(name), "fn shared_helper() -> u8 { 7 }\n").unwrap();
    }
    let index = Index::builder().repo(dir.path()).build().unwrap();
    let summary = index.scan().await.unwrap();
    assert_eq!((summary.chunks, summary.cache_misses, summary.cache_hits), (3, 1, 2));
}

#[tokio::test]
async fn changed_chunking_refuses_to_mix() {
    let dir = repo();
    Index::builder().repo(dir.path()).build().unwrap().scan().await.unwrap();
    let config =
        Config::from_toml("[chunking]\nchunk_size = 10\n", None, ConfigOrigin::CommandLine, false, &|_| None).unwrap();
    let index = Index::builder().repo(dir.path()).config(config).build().unwrap();
    let err = index.search("retry", 3, &[]).await.unwrap_err();
    assert!(matches!(err, Error::Store(StoreError::Mismatch { .. })), "{err}");
    assert!(err.to_string().contains("chunk_size: 40 -> 10"), "{err}");
    let err = index.scan().await.unwrap_err();
    assert!(err.to_string().contains("ragops scan --rebuild"), "{err}");
}

#[tokio::test]
async fn traits_are_usable_as_trait_objects() {
    let dir = tempfile::tempdir().unwrap();
    let embedder: Arc<dyn EmbeddingProvider> = Arc::new(BuiltinEmbedder::default());
    let boxed: Box<dyn EmbeddingProvider> = Box::new(embedder.clone());
    assert_eq!(boxed.dimensions(), embedder.dimensions());
    let store: Arc<dyn IndexStore> =
        Arc::new(HnswStore::open(&dir.path().join("i"), OpenMode::Write, HnswStoreOptions::default()).unwrap());
    let store: Box<dyn IndexStore> = Box::new(store);
    assert!(store.capabilities().lexical, "the default store has a lexical leg");
    assert!(store.metadata().await.unwrap().is_none());
}
