//! Conformance suites, one per trait, written against `&dyn Trait`: every implementation
//! (built-in, plugin, third-party) runs them in its tests.

#![allow(clippy::unwrap_used, missing_docs)]

use crate::model::{Chunk, ContentHash, EmbeddedChunk, FileRecord, FileUpdate, LineRange};
use crate::provider::EmbeddingProvider;
use crate::store::{CacheNamespace, Filter, IndexMetadata, IndexStore, StoreQuery};

/// Checks an embedding provider: one finite vector of the advertised length per input, in
/// order, deterministic for equal inputs, and an empty batch gives no vectors.
pub async fn embedding_provider_conformance(p: &dyn EmbeddingProvider) {
    let texts: Vec<String> = vec!["fn parse_config()".into(), "struct Retry".into(), "fn parse_config()".into()];
    let out = p.embed(&texts).await.unwrap();
    assert_eq!(out.len(), texts.len(), "one vector per text");
    for v in &out {
        assert_eq!(v.len(), p.dimensions(), "advertised dimensions");
        assert!(v.iter().all(|x| x.is_finite()), "finite values");
    }
    assert_eq!(out[0], out[2], "deterministic");
    assert!(p.embed(&[]).await.unwrap().is_empty(), "empty batch");
    assert!(p.max_batch_size() >= 1);
    assert!(!p.model().name.is_empty());
}

/// Metadata for conformance runs.
pub fn test_metadata(dims: u32) -> IndexMetadata {
    IndexMetadata::new("conformance", "test", "test-model", dims, 40, 0)
}

fn unit(dims: usize, i: usize) -> Vec<f32> {
    let mut v = vec![0.0; dims];
    v[i % dims] = 1.0;
    v
}

fn update(path: &str, dims: usize, axes: &[usize]) -> FileUpdate {
    let chunks = axes
        .iter()
        .enumerate()
        .map(|(n, &axis)| {
            let line = n as u32 * 10 + 1;
            EmbeddedChunk::new(
                Chunk::new(path, LineRange::new(line, line + 9), "rust", format!("{path} chunk {n}")),
                unit(dims, axis),
            )
        })
        .collect();
    let hash = ContentHash::of(path.as_bytes());
    FileUpdate::new(FileRecord::new(path, 100, 1, hash, axes.len() as u32), chunks)
}

/// Checks a writable store that starts empty: staged writes invisible until commit, upsert
/// replaces a file's chunks, delete removes them, filters apply, cache round-trips, and a
/// metadata mismatch is refused.
pub async fn index_store_conformance(store: &dyn IndexStore, reopen: &dyn Fn() -> Box<dyn IndexStore>) {
    let dims = 8;
    let meta = test_metadata(dims as u32);
    store.setup(&meta).await.unwrap();
    assert!(store.metadata().await.unwrap().is_none(), "nothing committed yet");
    store
        .upsert(vec![
            update("src/a.rs", dims, &[0, 1]),
            update("src/b.rs", dims, &[2]),
            update("docs/c.md", dims, &[3]),
        ])
        .await
        .unwrap();
    assert_eq!(store.files().await.unwrap().len(), 3, "staged files are listed to the writer");
    let stats = store.commit(&meta).await.unwrap();
    assert_eq!((stats.files, stats.chunks), (3, 4));
    store.upsert(vec![update("src/d.rs", dims, &[5]), update("src-old.rs", dims, &[6])]).await.unwrap();
    let paths_at = |paths: &[&str]| {
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        async move {
            let mut found: Vec<String> = store.files_at(&paths).await.unwrap().into_iter().map(|r| r.path).collect();
            found.sort();
            found
        }
    };
    assert_eq!(
        paths_at(&["src"]).await,
        ["src/a.rs", "src/b.rs", "src/d.rs"],
        "files under a directory, staged included"
    );
    assert_eq!(paths_at(&["docs/c.md", "nowhere.rs", "src/d.rs"]).await, ["docs/c.md", "src/d.rs"]);
    store.delete(&["src/d.rs".to_string(), "src-old.rs".to_string()]).await.unwrap();
    assert_eq!(paths_at(&["src/d.rs"]).await, Vec::<String>::new(), "a staged deletion is gone");

    let hits = store.search(&StoreQuery::vector(unit(dims, 1), 2)).await.unwrap();
    assert_eq!(hits[0].chunk.path, "src/a.rs");
    assert_eq!(hits[0].chunk.lines, LineRange::new(11, 20));
    assert!(hits[0].score >= hits[1].score, "best first");

    // Upsert replaces; delete removes; not visible before commit.
    store.upsert(vec![update("src/a.rs", dims, &[4])]).await.unwrap();
    store.delete(&["src/b.rs".to_string()]).await.unwrap();
    let before = store.search(&StoreQuery::vector(unit(dims, 2), 1)).await.unwrap();
    assert_eq!(before[0].chunk.path, "src/b.rs", "staged delete is not visible before commit");
    let stats = store.commit(&meta).await.unwrap();
    assert_eq!((stats.files, stats.chunks), (2, 2));
    let after = store.search(&StoreQuery::vector(unit(dims, 2), 5)).await.unwrap();
    assert!(after.iter().all(|h| h.chunk.path != "src/b.rs"), "deleted file gone");
    assert_eq!(after.len(), 2);

    // The lexical leg, where the store has one: chunk texts are "<path> chunk <n>".
    if store.capabilities().lexical {
        let hits = store.search(&StoreQuery::text("docs/c.md chunk", 5)).await.unwrap();
        assert_eq!(hits[0].chunk.path, "docs/c.md", "lexical leg finds the words");
        assert!(hits.iter().all(|h| h.chunk.path != "src/b.rs"), "deleted chunks stay out of the lexical leg");
        assert!(store.search(&StoreQuery::text("zzzunknownword", 5)).await.unwrap().is_empty());
    }

    // Deferred texts: the same hits without texts, then the texts by id.
    if store.capabilities().deferred_texts {
        let mut queries = vec![StoreQuery::vector(unit(dims, 2), 5)];
        if store.capabilities().lexical {
            queries.push(StoreQuery::text("docs/c.md chunk", 5));
        }
        for q in queries {
            let full = store.search(&q).await.unwrap();
            let bare = store.search(&q.clone().without_texts(true)).await.unwrap();
            assert!(!full.is_empty());
            assert_eq!(
                full.iter().map(|h| (h.id, h.score)).collect::<Vec<_>>(),
                bare.iter().map(|h| (h.id, h.score)).collect::<Vec<_>>()
            );
            assert!(bare.iter().all(|h| h.chunk.text.is_empty() && !h.chunk.path.is_empty()), "records without texts");
            let ids: Vec<crate::model::ChunkId> = bare.iter().map(|h| h.id).collect();
            let texts = store.chunk_texts(&ids).await.unwrap();
            assert_eq!(texts, full.iter().map(|h| Some(h.chunk.text.clone())).collect::<Vec<_>>());
        }
        let unknown = crate::model::ChunkId(u64::MAX);
        assert_eq!(store.chunk_texts(&[unknown]).await.unwrap(), vec![None], "an id the store does not hold");
    }

    // Filters.
    let q = StoreQuery::vector(unit(dims, 3), 5).with_filters(vec![Filter::PathGlob("src/**".into())]);
    let hits = store.search(&q).await.unwrap();
    assert!(!hits.is_empty() && hits.iter().all(|h| h.chunk.path.starts_with("src/")));
    let q = StoreQuery::vector(unit(dims, 3), 5).with_filters(vec![Filter::Language("python".into())]);
    assert!(store.search(&q).await.unwrap().is_empty());

    // Cache.
    let ns = CacheNamespace::new("test", "test-model", dims);
    let h = ContentHash::of(b"x");
    store.cache_embeddings(&ns, vec![(h, unit(dims, 5))]).await.unwrap();
    let got = store.cached_embeddings(&ns, &[h, ContentHash::of(b"y")]).await.unwrap();
    assert_eq!(got, vec![Some(unit(dims, 5)), None]);

    // A reopened store sees the committed state and refuses other settings.
    drop(got);
    let reopened = reopen();
    let mut other = meta.clone();
    other.embedding_model = "other-model".into();
    assert!(matches!(reopened.setup(&other).await, Err(crate::error::StoreError::Mismatch { .. })));
    reopened.setup(&meta).await.unwrap();
    let files = reopened.files().await.unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["docs/c.md", "src/a.rs"]);
}
