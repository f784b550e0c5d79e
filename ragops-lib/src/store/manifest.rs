//! The manifest: which segments (and which of their tombstones) make up a generation, with the
//! index metadata and counts. Publishing writes `manifests/manifest-GGGGGGGG.json` and then
//! atomically replaces `CURRENT`, which names it: readers see a whole generation or the one
//! before, never a mix.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::segment::{corrupted, sync_dir, write_durably};
use super::{IndexMetadata, StoreStats};
use crate::error::StoreError;

pub(crate) const CURRENT: &str = "CURRENT";
pub(crate) const MANIFESTS: &str = "manifests";
const FORMAT: u32 = 1;

/// The tombstone file a generation uses for one segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TombstoneRef {
    pub(crate) file: String,
    pub(crate) count: u32,
    pub(crate) checksum: String,
}

/// An hnsw_rs dump (`<basename>.hnsw.graph` and `.hnsw.data`) with the files' checksums, verified
/// before hnsw_rs reads them (it asserts on malformed input).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GraphRef {
    pub(crate) basename: String,
    pub(crate) graph_checksum: String,
    pub(crate) data_checksum: String,
}

/// A segment's lexical index files' checksums.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LexicalRef {
    pub(crate) dict_checksum: String,
    pub(crate) postings_checksum: String,
}

/// One live segment of a generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SegmentEntry {
    pub(crate) id: u32,
    pub(crate) chunks: u32,
    pub(crate) live: u32,
    pub(crate) meta_checksum: String,
    pub(crate) vectors_checksum: String,
    pub(crate) text_bytes: u64,
    /// The segment's HNSW graph, when it has one.
    pub(crate) graph: Option<GraphRef>,
    pub(crate) tombstones: Option<TombstoneRef>,
    pub(crate) lexical: LexicalRef,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format: u32,
    pub(crate) generation: u64,
    pub(crate) next_segment: u32,
    pub(crate) segments: Vec<SegmentEntry>,
    pub(crate) metadata: IndexMetadata,
    pub(crate) stats: StoreStats,
}

impl Manifest {
    pub(crate) fn new(generation: u64, metadata: IndexMetadata) -> Self {
        Manifest {
            format: FORMAT,
            generation,
            next_segment: 1,
            segments: Vec::new(),
            metadata,
            stats: StoreStats::default(),
        }
    }
}

pub(crate) fn segment_dir(index: &Path, id: u32) -> std::path::PathBuf {
    index.join("segments").join(format!("seg-{id:08}"))
}

fn manifest_name(generation: u64) -> String {
    format!("manifest-{generation:08}.json")
}

/// Reads the published manifest; `None` when nothing was ever committed.
pub(crate) fn read_current(index: &Path) -> Result<Option<Manifest>, StoreError> {
    let current = index.join(CURRENT);
    let text = match fs::read(&current) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| corrupted(&current, "not text"))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(&current, e)),
    };
    // `CURRENT` = "<manifest file name> <blake3 of its bytes>".
    let mut parts = text.split_whitespace();
    let name = parts.next().unwrap_or_default();
    let checksum = parts.next();
    if !name.starts_with("manifest-") || !name.ends_with(".json") || name.contains('/') || parts.next().is_some() {
        return Err(corrupted(&current, "does not name a manifest"));
    }
    let path = index.join(MANIFESTS).join(name);
    let bytes = fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => corrupted(&path, "missing manifest"),
        _ => StoreError::io(&path, e),
    })?;
    if checksum.is_some_and(|c| c != blake3::hash(&bytes).to_hex().as_str()) {
        return Err(corrupted(&path, "checksum mismatch"));
    }
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| corrupted(&path, e))?;
    if manifest.format != FORMAT {
        return Err(corrupted(&path, format!("unknown manifest format {}", manifest.format)));
    }
    Ok(Some(manifest))
}

/// Publishes a manifest: written durably, then `CURRENT` swapped to it atomically.
pub(crate) fn publish(index: &Path, manifest: &Manifest) -> Result<(), StoreError> {
    let dir = index.join(MANIFESTS);
    fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
    let name = manifest_name(manifest.generation);
    let bytes = serde_json::to_vec_pretty(manifest).map_err(StoreError::backend)?;
    write_durably(&dir.join(&name), &bytes)?;
    sync_dir(&dir)?;
    crate::failpoint::hit("manifest-written");
    let tmp = index.join("CURRENT.tmp");
    write_durably(&tmp, format!("{name} {}\n", blake3::hash(&bytes).to_hex()).as_bytes())?;
    let current = index.join(CURRENT);
    fs::rename(&tmp, &current).map_err(|e| StoreError::io(&current, e))?;
    sync_dir(index)
}

/// Removes manifests other than these generations'.
pub(crate) fn remove_other_manifests(index: &Path, keep: &[u64]) {
    let keep: Vec<String> = keep.iter().map(|g| manifest_name(*g)).collect();
    if let Ok(entries) = fs::read_dir(index.join(MANIFESTS)) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}
