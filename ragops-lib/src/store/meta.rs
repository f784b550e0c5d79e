//! Index metadata: the frozen keys of SPEC contract 1 and the compatibility check.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// ragops' on-disk format version. Bump it when the layout changes.
pub const INDEX_VERSION: u32 = 1;

/// Metadata persisted with every index and printed by `ragops status --json`.
///
/// The first seven fields are a frozen contract; more keys may be added beside them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IndexMetadata {
    /// The scanned repository's HEAD commit, `None` outside git.
    pub repo_commit: Option<String>,
    /// The embedding provider's name.
    pub embedding_provider: String,
    /// The embedding model's precise name.
    pub embedding_model: String,
    /// Chunk size, in lines.
    pub chunk_size: u32,
    /// Chunk overlap, in lines.
    pub chunk_overlap: u32,
    /// ragops' on-disk format version.
    pub index_version: u32,
    /// When the index was first created (RFC 3339, UTC).
    pub created_at: String,
    /// Length of every vector.
    pub embedding_dimensions: u32,
    /// When the index was last committed (RFC 3339, UTC).
    pub updated_at: String,
    /// The index's name (the `collection` of the logs).
    pub collection: String,
    /// Further keys (e.g. the last scan's summary).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl IndexMetadata {
    /// Metadata for a new index built with these settings, created now.
    pub fn new(
        collection: impl Into<String>,
        embedding_provider: impl Into<String>,
        embedding_model: impl Into<String>,
        embedding_dimensions: u32,
        chunk_size: u32,
        chunk_overlap: u32,
    ) -> Self {
        let now = now_rfc3339();
        IndexMetadata {
            repo_commit: None,
            embedding_provider: embedding_provider.into(),
            embedding_model: embedding_model.into(),
            chunk_size,
            chunk_overlap,
            index_version: INDEX_VERSION,
            created_at: now.clone(),
            embedding_dimensions,
            updated_at: now,
            collection: collection.into(),
            extra: BTreeMap::new(),
        }
    }

    /// The settings in which `self` (the index's) differs from `wanted` (the config's), each as
    /// `key: index value -> config value`. Empty when vectors and chunks are compatible.
    pub fn differences(&self, wanted: &IndexMetadata) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |key: &str, have: String, want: String| {
            if have != want {
                out.push(format!("{key}: {have} -> {want}"));
            }
        };
        check("index_version", self.index_version.to_string(), wanted.index_version.to_string());
        check("embedding_provider", self.embedding_provider.clone(), wanted.embedding_provider.clone());
        check("embedding_model", self.embedding_model.clone(), wanted.embedding_model.clone());
        check("embedding_dimensions", self.embedding_dimensions.to_string(), wanted.embedding_dimensions.to_string());
        check("chunk_size", self.chunk_size.to_string(), wanted.chunk_size.to_string());
        check("chunk_overlap", self.chunk_overlap.to_string(), wanted.chunk_overlap.to_string());
        out
    }
}

/// The current time as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_keys_serialize_top_level() {
        let m = IndexMetadata::new("repo", "builtin", "m1", 384, 40, 0);
        let v = serde_json::to_value(&m).unwrap();
        for key in [
            "repo_commit",
            "embedding_provider",
            "embedding_model",
            "chunk_size",
            "chunk_overlap",
            "index_version",
            "created_at",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
    }

    #[test]
    fn differences_name_each_setting() {
        let a = IndexMetadata::new("r", "builtin", "m1", 384, 40, 0);
        let mut b = a.clone();
        assert!(a.differences(&b).is_empty());
        b.embedding_model = "m2".into();
        b.chunk_size = 60;
        let d = a.differences(&b);
        assert_eq!(d, ["embedding_model: m1 -> m2", "chunk_size: 40 -> 60"]);
    }
}
