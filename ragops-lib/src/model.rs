//! The values that flow through ragops: chunks, embeddings, hits.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::lexical::TextTerms;

/// A blake3 hash of some content (a file or a chunk's text).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Hashes bytes with blake3.
    pub fn of(bytes: &[u8]) -> Self {
        ContentHash(*blake3::hash(bytes).as_bytes())
    }

    /// The hash as lowercase hex.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", &self.to_hex()[..16])
    }
}

/// A store-assigned chunk identifier, unique within one index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChunkId(pub u64);

/// A 1-based, inclusive line range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LineRange {
    /// First line, 1-based.
    pub start: u32,
    /// Last line, inclusive.
    pub end: u32,
}

impl LineRange {
    /// A range; `start <= end` is the caller's responsibility.
    pub fn new(start: u32, end: u32) -> Self {
        LineRange { start, end }
    }

    /// Whether the two ranges share a line.
    pub fn overlaps(&self, other: &LineRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

impl fmt::Display for LineRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// A piece of a file that is embedded and retrieved as a unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Chunk {
    /// Path relative to the repository root, with `/` separators.
    pub path: String,
    /// Lines of the file this chunk covers.
    pub lines: LineRange,
    /// Language name (from the file extension), e.g. `rust`; `text` when unknown.
    pub language: String,
    /// The chunk's text.
    pub text: String,
    /// blake3 of `text`: the embedding cache key.
    pub hash: ContentHash,
    /// The enclosing definitions, outermost first (e.g. `impl Searcher > fn search_slice`),
    /// when a structure-aware chunker knows them.
    pub symbol: Option<String>,
}

impl Chunk {
    /// A chunk; the hash is computed from the text.
    pub fn new(
        path: impl Into<String>,
        lines: LineRange,
        language: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        let text = text.into();
        Chunk {
            path: path.into(),
            lines,
            language: language.into(),
            hash: ContentHash::of(text.as_bytes()),
            text,
            symbol: None,
        }
    }

    /// Sets the enclosing symbol path.
    pub fn with_symbol(mut self, symbol: Option<String>) -> Self {
        self.symbol = symbol;
        self
    }

    /// The citation for this chunk: `path:start-end`.
    pub fn citation(&self) -> String {
        format!("{}:{}", self.path, self.lines)
    }
}

/// An embedding vector.
pub type Embedding = Vec<f32>;

/// A chunk with its embedding, as handed to a store.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EmbeddedChunk {
    /// The chunk.
    pub chunk: Chunk,
    /// Its vector (length = the provider's dimensions).
    pub embedding: Embedding,
    /// Its text's tokens counted ([`crate::lexical::analyze`]), when the scan has them: a
    /// store's lexical index then need not tokenize the text again.
    pub terms: Option<Arc<TextTerms>>,
}

impl EmbeddedChunk {
    /// Pairs a chunk with its vector.
    pub fn new(chunk: Chunk, embedding: Embedding) -> Self {
        EmbeddedChunk { chunk, embedding, terms: None }
    }

    /// Attaches the counted tokens of the chunk's text.
    pub fn with_terms(mut self, terms: Option<Arc<TextTerms>>) -> Self {
        self.terms = terms;
        self
    }
}

/// What a store remembers about an indexed file, for change detection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileRecord {
    /// Path relative to the repository root.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 when unknown).
    pub mtime_ns: u64,
    /// blake3 of the content.
    pub hash: ContentHash,
    /// Number of chunks the file produced.
    pub chunks: u32,
}

impl FileRecord {
    /// A record.
    pub fn new(path: impl Into<String>, size: u64, mtime_ns: u64, hash: ContentHash, chunks: u32) -> Self {
        FileRecord { path: path.into(), size, mtime_ns, hash, chunks }
    }
}

/// A file's new content for the store: its record and all its chunks (replacing any before).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FileUpdate {
    /// The file.
    pub record: FileRecord,
    /// Every chunk of the file, embedded.
    pub chunks: Vec<EmbeddedChunk>,
    /// The file's own past commit messages (newest first), searchable as a field of every
    /// chunk of the file.
    pub history: Option<String>,
}

impl FileUpdate {
    /// A file's record with its chunks.
    pub fn new(record: FileRecord, chunks: Vec<EmbeddedChunk>) -> Self {
        FileUpdate { record, chunks, history: None }
    }

    /// Attaches the file's commit history text.
    pub fn with_history(mut self, history: Option<String>) -> Self {
        self.history = history;
        self
    }
}

/// Which leg of retrieval produced a score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Leg {
    /// Nearest neighbours of the query vector.
    Vector,
    /// Lexical (BM25) match of the query text.
    Lexical,
    /// Both, fused.
    Hybrid,
}

/// A retrieved chunk with its score (higher is better).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Hit {
    /// The store's id for the chunk.
    pub id: ChunkId,
    /// The chunk.
    pub chunk: Chunk,
    /// The score; its scale depends on `leg`.
    pub score: f32,
    /// Which leg scored it.
    pub leg: Leg,
}

impl Hit {
    /// A hit.
    pub fn new(id: ChunkId, chunk: Chunk, score: f32, leg: Leg) -> Self {
        Hit { id, chunk, score, leg }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ranges_overlap_inclusively() {
        let a = LineRange::new(1, 10);
        assert!(a.overlaps(&LineRange::new(10, 12)));
        assert!(!a.overlaps(&LineRange::new(11, 12)));
        assert_eq!(a.to_string(), "1-10");
    }

    #[test]
    fn chunk_hash_follows_text() {
        let a = Chunk::new("a.rs", LineRange::new(1, 1), "rust", "fn a() {}");
        let b = Chunk::new("b.rs", LineRange::new(3, 3), "rust", "fn a() {}");
        assert_eq!(a.hash, b.hash);
        assert_eq!(b.citation(), "b.rs:3-3");
    }
}
