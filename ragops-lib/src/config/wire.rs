//! The config file as written: every field optional, unknown keys rejected.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A `ragops.toml` file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[index]`
    pub index: Option<IndexWire>,
    /// `[chunking]`
    pub chunking: Option<ChunkingWire>,
    /// `[scan]`
    pub scan: Option<ScanWire>,
    /// `[embedding]`
    pub embedding: Option<ProviderWire>,
    /// `[llm]`
    pub llm: Option<ProviderWire>,
    /// `[store]`
    pub store: Option<StoreWire>,
    /// `[retrieval]`
    pub retrieval: Option<RetrievalWire>,
    /// `[chat]`
    pub chat: Option<ChatWire>,
    /// `[[plugins]]`: dynamic libraries to load providers from (trusted config only).
    pub plugins: Option<Vec<PluginWire>>,
}

/// `[[plugins]]`: one dynamic-library plugin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginWire {
    /// The library file (`.so`, `.dylib`, `.dll`); relative paths are relative to the config
    /// file's directory.
    pub path: PathBuf,
}

/// `[index]`: where the index lives and what it is called.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexWire {
    /// The collection name (default: the repository directory's name).
    pub name: Option<String>,
    /// The index directory, relative to the repository root (default `.ragops`).
    pub dir: Option<PathBuf>,
}

/// `[chunking]`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkingWire {
    /// Lines per chunk.
    pub chunk_size: Option<u32>,
    /// Lines shared by consecutive chunks.
    pub chunk_overlap: Option<u32>,
    /// Upper bound on a chunk's bytes (a chunk ends early rather than exceed it).
    pub max_chunk_bytes: Option<u32>,
}

/// `[scan]`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanWire {
    /// Files larger than this many bytes are skipped as oversized.
    pub max_file_size: Option<u64>,
    /// Extra gitignore-style patterns to leave out.
    pub exclude: Option<Vec<String>>,
    /// Directory names whose contents count as vendored and are skipped.
    pub vendored_dirs: Option<Vec<String>>,
    /// Index each file's past commit messages as a searchable field (git repositories).
    pub history: Option<bool>,
}

/// `[embedding]` or `[llm]`: which provider, plus one table per provider with its own settings
/// (`[embedding.openai]`), handed to that provider's factory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderWire {
    /// The provider's registered name (`builtin`, `mock`, `openai`, ...).
    pub provider: Option<String>,
    /// The model name.
    pub model: Option<String>,
    /// Vector length, where the provider lets you choose it.
    pub dimensions: Option<usize>,
    /// Texts per request.
    pub batch_size: Option<usize>,
    /// Requests in flight at once.
    pub concurrency: Option<usize>,
    /// Provider tables (`[embedding.openai]`); any other key is an error.
    #[serde(flatten)]
    pub tables: BTreeMap<String, toml::Value>,
}

/// `[store]`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreWire {
    /// The store's registered name (default `hnsw`).
    pub kind: Option<String>,
    /// Store tables (`[store.hnsw]`); any other key is an error.
    #[serde(flatten)]
    pub tables: BTreeMap<String, toml::Value>,
}

/// `[retrieval]`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrievalWire {
    /// Hits returned when the command line does not say.
    pub limit: Option<usize>,
    /// Weight of the lexical leg.
    pub lexical_weight: Option<f32>,
    /// Weight of the vector leg.
    pub vector_weight: Option<f32>,
    /// Score multiplier for docs, changelogs, data and config files.
    pub non_code_weight: Option<f32>,
    /// Score multiplier for tests, examples and benchmarks.
    pub test_weight: Option<f32>,
    /// Decay over a file's best chunks in its file score.
    pub file_decay: Option<f32>,
    /// Chunks per file in its file score.
    pub file_chunks: Option<usize>,
    /// Candidates fetched from each leg.
    pub candidates: Option<usize>,
    /// How much a chunk gains from other matching chunks of its file.
    pub file_boost: Option<f32>,
    /// Weight of the whole-file lexical leg when ranking files.
    pub file_leg_weight: Option<f32>,
    /// Boost of chunks that define the symbol a symbol-like query names.
    pub definition_boost: Option<f32>,
    /// Boost of chunks whose file is named after words of a natural-language query.
    pub file_name_boost: Option<f32>,
}

/// `[chat]`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatWire {
    /// Token budget of a prompt and its answer (default: the model's context window; never
    /// more than it).
    pub context_tokens: Option<usize>,
    /// Tokens kept for the answer out of the budget.
    pub answer_tokens: Option<usize>,
    /// Passages (retrieved chunks) an answer uses at most.
    pub max_passages: Option<usize>,
    /// Below this heuristic confidence the answer says it is not confident.
    pub confidence_threshold: Option<f32>,
}
