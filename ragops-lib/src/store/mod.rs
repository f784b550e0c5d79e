//! The index store: the [`IndexStore`] trait, index metadata, and the default store
//! ([`HnswStore`]: immutable segments with HNSW graphs, published by a manifest, with `sled`
//! holding the writer's state).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::model::{ChunkId, ContentHash, Embedding, FileRecord, FileUpdate, Hit};

mod distance;
#[cfg(test)]
mod fuzz;
pub mod hnsw;
mod kv;
pub mod lexical;
pub mod lock;
mod manifest;
pub mod meta;
mod quantised;
mod segment;

pub use hnsw::{HnswStore, HnswStoreOptions, OpenMode};
pub use lexical::LexicalParams;
pub use lock::{LockHolder, WriterLock};
pub use meta::{INDEX_VERSION, IndexMetadata};

/// A restriction on which chunks a search may return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Filter {
    /// Paths matching a glob (`src/**/*.rs`); matched against the repository-relative path.
    PathGlob(String),
    /// One language, by name (`rust`, `python`, ...).
    Language(String),
}

/// A search request. It may carry a vector (the vector leg), a text (the lexical leg) or both;
/// a store answers the legs it supports (see [`StoreCapabilities`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoreQuery {
    /// Query embedding.
    pub vector: Option<Embedding>,
    /// Query text for lexical search.
    pub text: Option<String>,
    /// How many hits to return at most.
    pub k: usize,
    /// All must hold.
    pub filters: Vec<Filter>,
    /// Rank whole files instead of chunks (lexical leg): each file is scored as one document,
    /// and its hit carries its best-matching chunk. Stores without file ranking ignore it.
    pub per_file: bool,
    /// Hits carry their chunks without texts (`text` empty): the caller reads the texts of the
    /// hits it keeps with [`IndexStore::chunk_texts`]. Only honoured by stores with
    /// [`StoreCapabilities::deferred_texts`].
    #[serde(default)]
    pub without_texts: bool,
}

impl StoreQuery {
    /// A vector query for the `k` nearest chunks.
    pub fn vector(vector: Embedding, k: usize) -> Self {
        StoreQuery { vector: Some(vector), k, ..Default::default() }
    }

    /// A lexical query for the `k` best-matching chunks.
    pub fn text(text: impl Into<String>, k: usize) -> Self {
        StoreQuery { text: Some(text.into()), k, ..Default::default() }
    }

    /// Ranks whole files instead of chunks.
    pub fn per_file(mut self, yes: bool) -> Self {
        self.per_file = yes;
        self
    }

    /// Adds filters.
    pub fn with_filters(mut self, filters: Vec<Filter>) -> Self {
        self.filters = filters;
        self
    }

    /// Asks for hits without chunk texts (see [`StoreQuery::without_texts`]).
    pub fn without_texts(mut self, yes: bool) -> Self {
        self.without_texts = yes;
        self
    }
}

/// What a store can do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreCapabilities {
    /// Answers [`StoreQuery::text`] with a lexical ranking.
    pub lexical: bool,
    /// Honours [`StoreQuery::without_texts`] and answers [`IndexStore::chunk_texts`].
    pub deferred_texts: bool,
}

/// Counts describing a committed index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoreStats {
    /// Indexed files.
    pub files: u64,
    /// Live chunks.
    pub chunks: u64,
    /// Bytes of indexed source.
    pub bytes: u64,
    /// Size of the index on disk, in bytes.
    pub disk_bytes: u64,
    /// The committed generation (0 before the first commit).
    pub generation: u64,
}

/// Vectors on disk are little-endian `f32`s: decodes them.
pub(crate) fn f32s_from_le(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// Appends `values` as little-endian `f32`s.
pub(crate) fn push_f32s_le(out: &mut Vec<u8>, values: &[f32]) {
    out.extend(values.iter().flat_map(|x| x.to_le_bytes()));
}

/// The key space of the embedding cache: vectors of one provider, model and dimension.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheNamespace(String);

impl CacheNamespace {
    /// The namespace of a provider, model and dimension.
    pub fn new(provider: &str, model: &str, dimensions: usize) -> Self {
        CacheNamespace(format!("{provider}\u{1f}{model}\u{1f}{dimensions}"))
    }

    /// The namespace as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where chunks, vectors, file records and cached embeddings live.
///
/// Writes (`setup`, `upsert`, `touch`, `delete`, `cache_embeddings`) are staged and become
/// visible to searches only at [`commit`](Self::commit). Nothing here assumes the index lives in
/// this process: a server-backed store implements every method with requests.
#[async_trait]
pub trait IndexStore: Send + Sync + fmt::Debug {
    /// Prepares the store for writing with this metadata: creates the index, or refuses with
    /// [`StoreError::Mismatch`] when the existing one was built with other settings.
    async fn setup(&self, meta: &IndexMetadata) -> Result<(), StoreError>;
    /// Stages the removal of everything, so that the next commit publishes only what is
    /// written after this call (a rebuild), whatever settings the old index had. Until that
    /// commit, searches keep answering from the old index.
    async fn clear(&self) -> Result<(), StoreError>;
    /// The committed metadata, or `None` before the first commit.
    async fn metadata(&self) -> Result<Option<IndexMetadata>, StoreError>;
    /// Every indexed file's record, staged changes included.
    async fn files(&self) -> Result<Vec<FileRecord>, StoreError>;
    /// The records of the indexed files at these paths or under them (as directories),
    /// staged changes included, in any order. Stores that can look paths up should: a re-scan
    /// of a few files then costs what they cost, not what the index holds.
    async fn files_at(&self, paths: &[String]) -> Result<Vec<FileRecord>, StoreError> {
        let wanted: std::collections::HashSet<String> = paths.iter().cloned().collect();
        Ok(self.files().await?.into_iter().filter(|r| crate::ingest::walk::covers(&wanted, &r.path)).collect())
    }
    /// Replaces each file's chunks by the given ones.
    async fn upsert(&self, batch: Vec<FileUpdate>) -> Result<(), StoreError>;
    /// Updates file records whose content did not change (a new mtime).
    async fn touch(&self, records: Vec<FileRecord>) -> Result<(), StoreError>;
    /// Removes files and all their chunks.
    async fn delete(&self, paths: &[String]) -> Result<(), StoreError>;
    /// Looks up cached embeddings, and vectors of the same namespace staged since the last
    /// commit (a store may find those too); one entry per hash, in order.
    async fn cached_embeddings(
        &self,
        namespace: &CacheNamespace,
        hashes: &[ContentHash],
    ) -> Result<Vec<Option<Embedding>>, StoreError>;
    /// Stores embeddings in the cache. They are kept even if the scan is never committed.
    async fn cache_embeddings(
        &self,
        namespace: &CacheNamespace,
        entries: Vec<(ContentHash, Embedding)>,
    ) -> Result<(), StoreError>;
    /// Searches the committed index, best hit first.
    async fn search(&self, query: &StoreQuery) -> Result<Vec<Hit>, StoreError>;
    /// The texts of chunks found by a search made [`without_texts`](StoreQuery::without_texts),
    /// in order; `None` for an id the store no longer holds (a newer generation replaced it:
    /// search again with texts). Stores without [`StoreCapabilities::deferred_texts`] answer
    /// `None` for every id.
    async fn chunk_texts(&self, ids: &[ChunkId]) -> Result<Vec<Option<String>>, StoreError> {
        Ok(vec![None; ids.len()])
    }
    /// Publishes every staged change at once, with this metadata.
    async fn commit(&self, meta: &IndexMetadata) -> Result<StoreStats, StoreError>;
    /// Counts of the committed index.
    async fn stats(&self) -> Result<StoreStats, StoreError>;
    /// What this store supports.
    fn capabilities(&self) -> StoreCapabilities;
    /// Most files one `upsert` call should carry.
    fn max_batch_size(&self) -> usize {
        256
    }
}

macro_rules! forward_store {
    ($ty:ty) => {
        #[async_trait]
        impl<T: IndexStore + ?Sized> IndexStore for $ty {
            async fn setup(&self, meta: &IndexMetadata) -> Result<(), StoreError> {
                (**self).setup(meta).await
            }
            async fn clear(&self) -> Result<(), StoreError> {
                (**self).clear().await
            }
            async fn metadata(&self) -> Result<Option<IndexMetadata>, StoreError> {
                (**self).metadata().await
            }
            async fn files(&self) -> Result<Vec<FileRecord>, StoreError> {
                (**self).files().await
            }
            async fn files_at(&self, paths: &[String]) -> Result<Vec<FileRecord>, StoreError> {
                (**self).files_at(paths).await
            }
            async fn upsert(&self, batch: Vec<FileUpdate>) -> Result<(), StoreError> {
                (**self).upsert(batch).await
            }
            async fn touch(&self, records: Vec<FileRecord>) -> Result<(), StoreError> {
                (**self).touch(records).await
            }
            async fn delete(&self, paths: &[String]) -> Result<(), StoreError> {
                (**self).delete(paths).await
            }
            async fn chunk_texts(&self, ids: &[ChunkId]) -> Result<Vec<Option<String>>, StoreError> {
                (**self).chunk_texts(ids).await
            }
            async fn cached_embeddings(
                &self,
                namespace: &CacheNamespace,
                hashes: &[ContentHash],
            ) -> Result<Vec<Option<Embedding>>, StoreError> {
                (**self).cached_embeddings(namespace, hashes).await
            }
            async fn cache_embeddings(
                &self,
                namespace: &CacheNamespace,
                entries: Vec<(ContentHash, Embedding)>,
            ) -> Result<(), StoreError> {
                (**self).cache_embeddings(namespace, entries).await
            }
            async fn search(&self, query: &StoreQuery) -> Result<Vec<Hit>, StoreError> {
                (**self).search(query).await
            }
            async fn commit(&self, meta: &IndexMetadata) -> Result<StoreStats, StoreError> {
                (**self).commit(meta).await
            }
            async fn stats(&self) -> Result<StoreStats, StoreError> {
                (**self).stats().await
            }
            fn capabilities(&self) -> StoreCapabilities {
                (**self).capabilities()
            }
            fn max_batch_size(&self) -> usize {
                (**self).max_batch_size()
            }
        }
    };
}

forward_store!(Arc<T>);
forward_store!(Box<T>);
