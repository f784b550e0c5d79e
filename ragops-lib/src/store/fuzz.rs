//! Property tests (proptest) over the decoding of every on-disk record: segment metadata,
//! lexical dictionary and postings, tombstones, manifests and `CURRENT`, the writer's file
//! table and embedding cache values. Damaged bytes are given a *matching* checksum, so the
//! decoders themselves (not just the checksums) are exercised: opening and searching must give
//! `Ok` or an error, never a panic. Run lengths are recorded in docs/benchmarks.md.

use std::path::Path;

use proptest::prelude::*;

use super::hnsw::{HnswStore, HnswStoreOptions, OpenMode};
use super::manifest::{self, segment_dir};
use super::segment::checksum;
use super::{IndexMetadata, IndexStore, StoreQuery};
use crate::model::{Chunk, ContentHash, EmbeddedChunk, FileRecord, FileUpdate, LineRange};

const DIMS: usize = 8;

fn file(path: &str, words: &[&str]) -> FileUpdate {
    let chunks = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let line = i as u32 * 3 + 1;
            let mut v = vec![0.0f32; DIMS];
            v[i % DIMS] = 1.0;
            EmbeddedChunk::new(
                Chunk::new(path, LineRange::new(line, line + 2), "rust", format!("fn {w}_handler() {{ {w} }}\n")),
                v,
            )
        })
        .collect();
    FileUpdate::new(FileRecord::new(path, 40, 1, ContentHash::of(path.as_bytes()), words.len() as u32), chunks)
}

/// An index with two generations (so it has tombstones), in `dir`.
fn build(dir: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let store = HnswStore::open(dir, OpenMode::Write, HnswStoreOptions::default()).unwrap();
        let meta = IndexMetadata::new("fuzz", "test", "m", DIMS as u32, 40, 0);
        store.setup(&meta).await.unwrap();
        store
            .upsert(vec![file("a.rs", &["parse", "render"]), file("b.rs", &["retry", "socket", "buffer"])])
            .await
            .unwrap();
        store.commit(&meta).await.unwrap();
        store.upsert(vec![file("a.rs", &["parse", "merge"])]).await.unwrap();
        store.commit(&meta).await.unwrap();
    });
}

/// Opens the index read-only and runs every kind of search; any outcome but a panic is fine.
fn exercise(dir: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let Ok(store) = HnswStore::open(dir, OpenMode::Read, HnswStoreOptions::default()) else { return };
        let _ = store.stats().await;
        let _ = store.search(&StoreQuery::text("parse retry socket", 10)).await;
        let _ = store.search(&StoreQuery::text("merge buffer", 10).per_file(true)).await;
        let mut v = vec![0.0f32; DIMS];
        v[1] = 1.0;
        let _ = store.search(&StoreQuery::vector(v, 10)).await;
    });
}

/// Replaces one segment file with `bytes` and makes the manifest vouch for them.
fn replace_vouched(dir: &Path, file_name: &str, bytes: &[u8]) {
    let mut m = manifest::read_current(dir).unwrap().unwrap();
    let entry = m.segments.iter_mut().find(|e| e.tombstones.is_some()).unwrap_or_else(|| unreachable!());
    let seg = segment_dir(dir, entry.id);
    let sum = checksum(bytes);
    match file_name {
        "meta.bin" => entry.meta_checksum = sum,
        "lexdict.bin" => entry.lexical.dict_checksum = sum,
        "postings.bin" => entry.lexical.postings_checksum = sum,
        "vectors.bin" => entry.vectors_checksum = sum,
        _ => {
            let tomb = entry.tombstones.as_mut().unwrap_or_else(|| unreachable!());
            tomb.checksum = sum;
            std::fs::write(seg.join(&tomb.file), bytes).unwrap();
            m.generation += 1;
            manifest::publish(dir, &m).unwrap();
            return;
        }
    }
    std::fs::write(seg.join(file_name), bytes).unwrap();
    m.generation += 1;
    manifest::publish(dir, &m).unwrap();
}

fn segment_file(dir: &Path, name: &str) -> Vec<u8> {
    let m = manifest::read_current(dir).unwrap().unwrap();
    let entry = m.segments.iter().find(|e| e.tombstones.is_some()).unwrap_or_else(|| unreachable!());
    let seg = segment_dir(dir, entry.id);
    let name = match name {
        "tombstones" => entry.tombstones.as_ref().map(|t| t.file.clone()).unwrap_or_default(),
        other => other.to_string(),
    };
    std::fs::read(seg.join(name)).unwrap()
}

/// Damage: a run of flipped bytes, a truncation, or random bytes appended.
fn mutate(mut bytes: Vec<u8>, kind: u8, at: usize, noise: &[u8]) -> Vec<u8> {
    let at = if bytes.is_empty() { 0 } else { at % bytes.len() };
    match kind % 3 {
        0 => {
            for (i, b) in noise.iter().enumerate() {
                if let Some(x) = bytes.get_mut(at + i) {
                    *x ^= b | 1;
                }
            }
        }
        1 => bytes.truncate(at),
        _ => bytes.extend_from_slice(noise),
    }
    bytes
}

proptest! {
    // 32 cases in the test suite; `PROPTEST_CASES=N` for a longer run.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32)
    ))]

    #[test]
    fn damaged_segment_records_never_panic(
        which in 0usize..5,
        kind in any::<u8>(),
        at in any::<usize>(),
        noise in proptest::collection::vec(any::<u8>(), 1..16),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        build(tmp.path());
        let name = ["meta.bin", "lexdict.bin", "postings.bin", "vectors.bin", "tombstones"][which];
        let bytes = mutate(segment_file(tmp.path(), name), kind, at, &noise);
        replace_vouched(tmp.path(), name, &bytes);
        exercise(tmp.path());
    }

    #[test]
    fn damaged_manifest_and_current_never_panic(
        current in any::<bool>(),
        kind in any::<u8>(),
        at in any::<usize>(),
        noise in proptest::collection::vec(any::<u8>(), 1..16),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        build(tmp.path());
        let current_path = tmp.path().join("CURRENT");
        let current_text = std::fs::read_to_string(&current_path).unwrap();
        if current {
            std::fs::write(&current_path, mutate(current_text.into_bytes(), kind, at, &noise)).unwrap();
        } else {
            // A damaged manifest whose checksum in CURRENT matches: the JSON decoder and the
            // manifest's own consistency checks must cope.
            let name = current_text.split_whitespace().next().unwrap().to_string();
            let path = tmp.path().join("manifests").join(&name);
            let bytes = mutate(std::fs::read(&path).unwrap(), kind, at, &noise);
            std::fs::write(&path, &bytes).unwrap();
            std::fs::write(&current_path, format!("{name} {}\n", blake3::hash(&bytes).to_hex())).unwrap();
        }
        exercise(tmp.path());
    }

    #[test]
    fn postings_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = super::lexical::decode_postings(&bytes);
    }

    #[test]
    fn writer_state_records_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = postcard::from_bytes::<super::kv::FileLoc>(&bytes);
    }
}
