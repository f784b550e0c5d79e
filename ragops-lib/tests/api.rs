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
async fn identical_chunks_in_later_windows_are_embedded_once_by_the_builtin_provider() {
    // The built-in provider's vectors are not cached on disk; a scan still embeds each
    // distinct chunk once, finding earlier windows' vectors in the segment being built.
    let dir = tempfile::tempdir().unwrap();
    let shared = "pub fn shared_helper_function(x: u32) -> u32 {\n    x + 1\n}\n";
    for i in 0..200 {
        fs::write(dir.path().join(format!("copy_{i:03}.rs")), shared).unwrap();
    }
    fs::write(dir.path().join("zz_last.rs"), format!("pub fn last_one() {{}}\n\n{shared}")).unwrap();
    let index = Index::builder().repo(dir.path()).build().unwrap();
    let summary = index.scan().await.unwrap();
    assert_eq!(summary.files_indexed, 201);
    assert_eq!(summary.cache_misses, 2, "two distinct chunks: {summary:?}");
    assert_eq!(summary.cache_hits, summary.chunks - 2);
    let hits = index.search("shared_helper_function", 300, &[]).await.unwrap();
    assert!(hits.len() >= 200, "every copy is indexed: {}", hits.len());
    let copy = hits.iter().find(|h| h.chunk.path == "copy_150.rs").unwrap();
    let first = hits.iter().find(|h| h.chunk.path == "copy_000.rs").unwrap();
    assert_eq!(copy.chunk.text, first.chunk.text);
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

/// Counts the texts the scan asks the inner embedder for.
#[derive(Debug, Default)]
struct CountingEmbedder {
    inner: BuiltinEmbedder,
    texts: std::sync::atomic::AtomicUsize,
}

impl CountingEmbedder {
    fn take(&self) -> usize {
        self.texts.swap(0, std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl EmbeddingProvider for CountingEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<ragops_lib::Embedding>, ragops_lib::ProviderError> {
        self.texts.fetch_add(texts.len(), std::sync::atomic::Ordering::SeqCst);
        self.inner.embed(texts).await
    }
    fn model(&self) -> &ragops_lib::ModelId {
        self.inner.model()
    }
    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }
}

async fn scan_counting(index: &Index, embedder: &Arc<CountingEmbedder>) -> ragops_lib::ingest::ScanSummary {
    let store = index.open_store(OpenMode::Write).unwrap();
    let walk = ragops_lib::ingest::WalkOptions::new(&index.config().scan, Some(index.index_dir().to_path_buf()));
    let meta = index.expected_metadata(embedder.as_ref());
    let scanner = ragops_lib::ingest::Scanner::new(embedder.clone(), store, index.chunker(), walk);
    scanner.scan(index.root(), meta).await.unwrap()
}

#[tokio::test]
async fn renamed_file_is_not_re_embedded_and_deleted_file_leaves_search() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("moved.rs"), "pub fn moved_marker_function() -> u8 {\n    9\n}\n").unwrap();
    fs::write(root.join("doomed.rs"), "pub fn doomed_marker_function() -> u8 {\n    4\n}\n").unwrap();
    fs::write(root.join("kept.rs"), "pub fn kept_function() {}\n").unwrap();
    let index = Index::builder().repo(root).build().unwrap();
    let embedder = Arc::new(CountingEmbedder::default());
    let first = scan_counting(&index, &embedder).await;
    assert_eq!(embedder.take() as u64, first.chunks);
    assert!(!index.search("doomed_marker_function", 10, &[]).await.unwrap().is_empty());

    fs::rename(root.join("moved.rs"), root.join("renamed.rs")).unwrap();
    fs::remove_file(root.join("doomed.rs")).unwrap();
    let second = scan_counting(&index, &embedder).await;
    assert_eq!(embedder.take(), 0, "a renamed file's chunks come from the cache");
    assert_eq!((second.files_indexed, second.files_deleted, second.cache_misses), (1, 2, 0));

    let paths = |hits: Vec<ragops_lib::Hit>| hits.into_iter().map(|h| h.chunk.path).collect::<Vec<_>>();
    let moved = paths(index.search("moved_marker_function", 10, &[]).await.unwrap());
    assert_eq!(moved.first().map(String::as_str), Some("renamed.rs"), "{moved:?}");
    assert!(!moved.iter().any(|p| p == "moved.rs"), "{moved:?}");
    let doomed = paths(index.search("doomed_marker_function", 10, &[]).await.unwrap());
    assert!(!doomed.iter().any(|p| p == "doomed.rs"), "a deleted file is gone from search: {doomed:?}");
}

#[tokio::test]
async fn other_index_version_is_refused_and_rebuild_replaces_it() {
    let dir = repo();
    let index = Index::builder().repo(dir.path()).build().unwrap();
    {
        // An index written by another version of ragops' on-disk format.
        let store = index.open_store(OpenMode::Write).unwrap();
        let mut meta = index.expected_metadata(index.embedder().unwrap().as_ref());
        meta.index_version = ragops_lib::store::INDEX_VERSION + 1;
        store.setup(&meta).await.unwrap();
        store.commit(&meta).await.unwrap();
    }
    let err = index.scan().await.unwrap_err();
    assert!(matches!(err, Error::Store(StoreError::Mismatch { .. })), "{err}");
    assert!(err.to_string().contains("index_version") && err.to_string().contains("--rebuild"), "{err}");
    let err = index.search("retry", 3, &[]).await.unwrap_err();
    assert!(err.to_string().contains("index_version"), "{err}");

    let summary = index.scan_with(&ragops_lib::ScanOptions::default().rebuild(true)).await.unwrap();
    assert_eq!(summary.files_indexed, 3);
    let status = index.status().await.unwrap();
    assert_eq!(status.metadata.index_version, ragops_lib::store::INDEX_VERSION);
    assert_eq!(index.search("retry with backoff", 3, &[]).await.unwrap()[0].chunk.path, "src/retry.rs");
}

#[tokio::test]
async fn base_ref_missing_from_a_shallow_clone_says_how_to_deepen() {
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("origin");
    fs::create_dir_all(&origin).unwrap();
    let git = |cwd: &std::path::Path, args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(cwd)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&origin, &["init", "-q"]);
    for n in 1..=2 {
        fs::write(origin.join("a.rs"), format!("fn a{n}() {{}}\n")).unwrap();
        git(&origin, &["add", "-A"]);
        git(&origin, &["commit", "-q", "-m", "commit"]);
    }
    let url = format!("file://{}", origin.display());
    git(dir.path(), &["clone", "-q", "--depth", "1", &url, "shallow"]);
    let index = Index::builder().repo(dir.path().join("shallow")).build().unwrap();
    let err = index.scan_with(&ragops_lib::ScanOptions::default().base_ref(Some("HEAD~1".into()))).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("HEAD~1") && message.contains("shallow") && message.contains("--deepen"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_scans_changes_even_while_files_keep_changing() {
    use ragops_lib::watch::WatchOptions;
    use std::time::Duration;
    let dir = repo();
    let index = Index::builder().repo(dir.path()).build().unwrap();
    // The tree is never quiet for the debounce: only `max_delay` lets a scan happen.
    let options = WatchOptions::default().debounce(Duration::from_secs(60)).max_delay(Duration::from_millis(300));
    let root = dir.path().to_path_buf();
    let writer = tokio::spawn(async move {
        for i in 0..600 {
            fs::write(root.join("src/busy.rs"), format!("pub fn busy_{i}() {{}}\n")).unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let report = move |scan: &ragops_lib::watch::WatchScan| {
        let _ = tx.send((scan.paths.clone(), scan.result.as_ref().map(|s| s.files_indexed).ok()));
    };
    let watch = index.watch(&options, report, async {
        let _ = stop_rx.await;
    });
    let check = async move {
        let wait = Duration::from_secs(20);
        let (paths, indexed) = tokio::time::timeout(wait, rx.recv()).await.expect("a first scan").expect("a report");
        assert_eq!(paths, None, "the first scan is whole");
        assert!(indexed.is_some_and(|n| n >= 3), "{indexed:?}");
        // Well before the 60 s debounce, a scan of the busy file.
        let (paths, indexed) =
            tokio::time::timeout(wait, rx.recv()).await.expect("a scan despite constant changes").expect("a report");
        assert_eq!(paths, Some(vec!["src/busy.rs".to_string()]));
        assert_eq!(indexed, Some(1));
        let _ = stop_tx.send(());
    };
    let (result, ()) = tokio::join!(watch, check);
    result.unwrap();
    writer.abort();
}
