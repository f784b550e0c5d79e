//! The default store: immutable segments (exact search when small, an HNSW graph when large)
//! published by a manifest, with `sled` holding the writer's state (file locations, embedding
//! cache). See `docs/architecture.md` for the layout and why.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use globset::{Glob, GlobMatcher};

use super::kv::{FileLoc, Kv};
use super::lexical::{self, LexicalParams};
use super::lock::WriterLock;
use super::manifest::{self, Manifest, SegmentEntry, segment_dir};
use super::segment::{GraphParams, SegmentBuilder, SegmentReader, read_tombstones, write_tombstones};
use super::{CacheNamespace, Filter, IndexMetadata, IndexStore, StoreCapabilities, StoreQuery, StoreStats};
use crate::error::StoreError;
use crate::model::{ChunkId, ContentHash, Embedding, FileRecord, FileUpdate, Hit, Leg};

/// The marker file that makes a directory a ragops index.
pub const MARKER: &str = "RAGOPS_INDEX";
const DB_DIR: &str = "db";

/// Whether the store is opened to search or to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Search the published generation; needs no lock and works while a scan runs.
    Read,
    /// Stage and commit changes; one writer at a time.
    Write,
}

/// Tuning of the default store.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct HnswStoreOptions {
    /// Segments with at least this many chunks get an HNSW graph; smaller ones are searched
    /// exactly (which is faster below a few tens of thousands of chunks).
    pub graph_min_chunks: usize,
    /// HNSW `M`: links per node and layer.
    pub max_connections: usize,
    /// HNSW `ef_construction`.
    pub ef_construction: usize,
    /// HNSW `ef_search` (raised to `k` when smaller).
    pub ef_search: usize,
    /// When a commit leaves more segments than this, the smallest are merged.
    pub max_segments: usize,
    /// BM25F parameters of the lexical leg.
    pub lexical: LexicalParams,
    /// How long a writer waits for another writer to finish (`None`: refuse at once).
    pub lock_wait: Option<std::time::Duration>,
    /// A segment with more than this fraction of its chunks deleted is rewritten without them
    /// (and its graph rebuilt) at the next commit.
    pub max_deleted_fraction: f32,
    /// Segments of at least this many chunks searched without a graph are, from a reader's
    /// second search on, scanned by 4-bit codes of their vectors (built then, held in memory:
    /// half a byte a value) with the best candidates re-scored exactly. One-shot searches never
    /// pay for the codes; long-lived readers scan an eighth of the bytes.
    pub quantise_min_chunks: usize,
}

impl Default for HnswStoreOptions {
    fn default() -> Self {
        HnswStoreOptions {
            // From the measured grid (docs/benchmarks.md, `--bench search_open`): recall@10 0.957
            // at 2.8 ms a query on 100k built-in vectors; exact search below 1M chunks.
            graph_min_chunks: 1_000_000,
            max_connections: 24,
            ef_construction: 200,
            ef_search: 256,
            max_segments: 8,
            lexical: LexicalParams::default(),
            lock_wait: None,
            max_deleted_fraction: 0.3,
            quantise_min_chunks: 16_384,
        }
    }
}

impl HnswStoreOptions {
    fn graph(&self) -> GraphParams {
        GraphParams {
            min_chunks: self.graph_min_chunks,
            max_connections: self.max_connections,
            ef_construction: self.ef_construction,
        }
    }
}

/// The default [`IndexStore`]: HNSW (`hnsw_rs`) over immutable segments, with `sled`.
#[derive(Debug)]
pub struct HnswStore {
    dir: PathBuf,
    options: HnswStoreOptions,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    writer: Option<Mutex<Writer>>,
    /// Held while the store is open for writing; declared last so it is released last.
    _lock: Option<WriterLock>,
}

/// The segments of one published generation, open for searching.
#[derive(Debug)]
struct Snapshot {
    manifest: Manifest,
    segments: Vec<(u32, SegmentReader)>,
}

#[derive(Debug)]
struct Writer {
    kv: Kv,
    base: Option<Manifest>,
    meta: Option<IndexMetadata>,
    pending: Option<SegmentBuilder>,
    /// Staged file-table changes (`None`: deleted).
    staged: BTreeMap<String, Option<FileLoc>>,
    /// Ordinals deleted since the base generation, per segment.
    deleted: BTreeMap<u32, BTreeSet<u32>>,
    /// The file table must be rewritten whole (after a crash between publish and bookkeeping).
    rebuild_files: bool,
    /// Everything published before is dropped at the next commit (a rebuild).
    cleared: bool,
    /// A commit failed after taking the staged state: further writes would be inconsistent.
    failed: bool,
    delta: Delta,
}

#[derive(Debug, Default, Clone, Copy)]
struct Delta {
    files: i64,
    chunks: i64,
    bytes: i64,
}

impl HnswStore {
    /// Opens the index in `dir`.
    ///
    /// # Errors
    /// [`StoreError::NotAnIndex`] when `dir` holds something else, [`StoreError::NotFound`]
    /// when reading an index that was never committed, [`StoreError::Busy`] when another
    /// writer holds it (after [`HnswStoreOptions::lock_wait`]), [`StoreError::Corrupted`] when
    /// a file is damaged.
    pub fn open(dir: &Path, mode: OpenMode, options: HnswStoreOptions) -> Result<Self, StoreError> {
        check_is_index(dir, mode)?;
        let (writer, lock) = match mode {
            OpenMode::Read => (None, None),
            OpenMode::Write => {
                let lock = WriterLock::acquire(dir, options.lock_wait)?;
                (Some(Mutex::new(open_writer(dir)?)), Some(lock))
            }
        };
        let store = HnswStore { dir: dir.to_path_buf(), options, snapshot: RwLock::new(None), writer, _lock: lock };
        if mode == OpenMode::Read {
            store.snapshot()?;
        }
        Ok(store)
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, Writer>, StoreError> {
        let w = self
            .writer
            .as_ref()
            .ok_or_else(|| StoreError::Invalid("the index was opened read-only".into()))?
            .lock()
            .map_err(|_| StoreError::Invalid("a previous write panicked".into()))?;
        if w.failed {
            return Err(StoreError::Invalid(
                "a previous commit failed; reopen the index (the last published generation is intact)".into(),
            ));
        }
        Ok(w)
    }

    fn snapshot(&self) -> Result<Option<Arc<Snapshot>>, StoreError> {
        if let Some(s) = self.snapshot.read().map_err(poisoned)?.as_ref() {
            return Ok(Some(s.clone()));
        }
        let Some(manifest) = manifest::read_current(&self.dir)? else {
            return Ok(None);
        };
        let snap = Arc::new(open_snapshot(&self.dir, manifest, Some(self.options.graph_min_chunks))?);
        *self.snapshot.write().map_err(poisoned)? = Some(snap.clone());
        Ok(Some(snap))
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Invalid("a previous search panicked".into())
}

fn check_is_index(dir: &Path, mode: OpenMode) -> Result<(), StoreError> {
    if dir.is_file() {
        return Err(StoreError::NotAnIndex { path: dir.to_path_buf(), marker: MARKER });
    }
    if !dir.exists() {
        return match mode {
            OpenMode::Read => Err(StoreError::NotFound { path: dir.to_path_buf() }),
            OpenMode::Write => Ok(()),
        };
    }
    if dir.join(MARKER).is_file() {
        return Ok(());
    }
    // A directory holding only a writer lock is one whose first scan stopped before writing.
    let empty = fs::read_dir(dir)
        .map_err(|e| StoreError::io(dir, e))?
        .flatten()
        .all(|e| e.file_name() == super::lock::LOCK_FILE);
    match (empty, mode) {
        (true, OpenMode::Write) => Ok(()),
        (true, OpenMode::Read) => Err(StoreError::NotFound { path: dir.to_path_buf() }),
        (false, _) => Err(StoreError::NotAnIndex { path: dir.to_path_buf(), marker: MARKER }),
    }
}

fn open_writer(dir: &Path) -> Result<Writer, StoreError> {
    fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let marker = dir.join(MARKER);
    if !marker.exists() {
        fs::write(&marker, format!("ragops index, format {}\n", super::INDEX_VERSION))
            .map_err(|e| StoreError::io(&marker, e))?;
    }
    let gitignore = dir.join(".gitignore");
    if !gitignore.exists() {
        fs::write(&gitignore, "*\n").map_err(|e| StoreError::io(&gitignore, e))?;
    }
    let kv = open_kv(dir)?;
    let base = manifest::read_current(dir)?;
    let published = base.as_ref().map_or(0, |m| m.generation);
    let mut writer = Writer {
        kv,
        base,
        meta: None,
        pending: None,
        staged: BTreeMap::new(),
        deleted: BTreeMap::new(),
        rebuild_files: false,
        cleared: false,
        failed: false,
        delta: Delta::default(),
    };
    if writer.kv.generation()? != published {
        // The last scan published its manifest but stopped before recording its file table:
        // rebuild the table from the published segments, the source of truth.
        writer.staged = file_table_from_segments(dir, writer.base.as_ref())?;
        writer.rebuild_files = true;
    }
    Ok(writer)
}

/// Opens the writer's state. Everything in it is derived from the published segments (the
/// file table, the generation) or a cache (embeddings), so a damaged database — sled's files
/// after a scan killed mid-write — is rebuilt (the next commit repairs the file table from the
/// segments) rather than refused.
fn open_kv(dir: &Path) -> Result<Kv, StoreError> {
    let db_dir = dir.join(DB_DIR);
    let damage = match Kv::open(&db_dir, dir).and_then(|kv| kv.generation().map(|_| kv)) {
        Err(StoreError::Corrupted { message, .. }) => message,
        other => return other,
    };
    tracing::warn!(
        event = "store.writer_state_rebuilt",
        reason = %damage,
        "the index's writer state was damaged (a scan killed mid-write?); rebuilding it from the published index"
    );
    fs::remove_dir_all(&db_dir).map_err(|e| StoreError::io(&db_dir, e))?;
    Kv::open(&db_dir, dir)
}

/// Opens a generation's segments; a segment's graph is loaded when it has one and at least
/// `graph_min_chunks` live chunks (below, exact search over the mapped vectors is faster than
/// loading the graph). `None`: no graphs (the segments are only read, not searched by vector).
fn open_snapshot(dir: &Path, manifest: Manifest, graph_min_chunks: Option<usize>) -> Result<Snapshot, StoreError> {
    let mut segments = Vec::with_capacity(manifest.segments.len());
    for entry in &manifest.segments {
        let graph = graph_min_chunks.is_some_and(|min| entry.live as usize >= min);
        segments.push((entry.id, SegmentReader::open(&segment_dir(dir, entry.id), entry, graph)?));
    }
    Ok(Snapshot { manifest, segments })
}

fn file_table_from_segments(
    dir: &Path,
    base: Option<&Manifest>,
) -> Result<BTreeMap<String, Option<FileLoc>>, StoreError> {
    let mut table = BTreeMap::new();
    let Some(base) = base else { return Ok(table) };
    let snap = open_snapshot(dir, base.clone(), None)?;
    for (id, seg) in &snap.segments {
        for f in seg.files() {
            let live = f.count == 0 || !seg.is_deleted(f.first);
            if live {
                table.insert(
                    f.record.path.clone(),
                    Some(FileLoc { record: f.record.clone(), segment: *id, first: f.first, count: f.count }),
                );
            }
        }
    }
    Ok(table)
}

impl Writer {
    fn meta(&self) -> Result<&IndexMetadata, StoreError> {
        self.meta.as_ref().ok_or_else(|| StoreError::Invalid("setup() must be called before writing".into()))
    }

    fn pending_id(&self) -> u32 {
        self.base.as_ref().map_or(1, |m| m.next_segment)
    }

    fn location(&self, path: &str) -> Result<Option<FileLoc>, StoreError> {
        match self.staged.get(path) {
            Some(staged) => Ok(staged.clone()),
            None if self.rebuild_files => Ok(None),
            None => self.kv.file(path),
        }
    }

    fn remove(&mut self, path: &str) -> Result<bool, StoreError> {
        let Some(loc) = self.location(path)? else {
            return Ok(false);
        };
        let set = self.deleted.entry(loc.segment).or_default();
        set.extend(loc.first..loc.first + loc.count);
        self.delta.files -= 1;
        self.delta.chunks -= i64::from(loc.count);
        self.delta.bytes -= loc.record.size as i64;
        self.staged.insert(path.to_string(), None);
        Ok(true)
    }

    fn is_dirty(&self) -> bool {
        !self.staged.is_empty() || !self.deleted.is_empty() || self.pending.as_ref().is_some_and(|p| !p.is_empty())
    }
}

#[async_trait]
impl IndexStore for HnswStore {
    async fn setup(&self, meta: &IndexMetadata) -> Result<(), StoreError> {
        let mut w = self.writer()?;
        if let Some(base) = w.base.as_ref().filter(|_| !w.cleared) {
            let differences = base.metadata.differences(meta);
            if !differences.is_empty() {
                return Err(StoreError::Mismatch { path: self.dir.clone(), differences: differences.join(", ") });
            }
        }
        if w.pending.is_none() {
            w.pending = Some(self.pending_builder(&w, meta));
        }
        w.meta = Some(meta.clone());
        Ok(())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let mut w = self.writer()?;
        w.cleared = true;
        w.rebuild_files = true;
        w.staged.clear();
        w.deleted.clear();
        w.pending = None;
        w.delta = Delta::default();
        Ok(())
    }

    async fn metadata(&self) -> Result<Option<IndexMetadata>, StoreError> {
        if let Some(w) = &self.writer {
            let w = w.lock().map_err(poisoned)?;
            return Ok(w.base.as_ref().map(|m| m.metadata.clone()));
        }
        Ok(self.snapshot()?.map(|s| s.manifest.metadata.clone()))
    }

    async fn files_at(&self, paths: &[String]) -> Result<Vec<FileRecord>, StoreError> {
        let w = self.writer()?;
        let mut found: BTreeMap<String, Option<FileRecord>> = BTreeMap::new();
        for path in paths {
            if !w.rebuild_files {
                found.extend(w.kv.file(path)?.map(|l| (path.clone(), Some(l.record))));
                let under = format!("{path}/");
                found.extend(w.kv.files_under(&under)?.into_iter().map(|(p, l)| (p, Some(l.record))));
            }
            let under = format!("{path}/");
            let exact = w.staged.get_key_value(path);
            for (p, loc) in
                exact.into_iter().chain(w.staged.range(under.clone()..).take_while(|(p, _)| p.starts_with(&under)))
            {
                found.insert(p.clone(), loc.as_ref().map(|l| l.record.clone()));
            }
        }
        Ok(found.into_values().flatten().collect())
    }

    async fn files(&self) -> Result<Vec<FileRecord>, StoreError> {
        let w = self.writer()?;
        if w.staged.is_empty() {
            // The table as sled keeps it, sorted by path.
            return if w.rebuild_files { Ok(Vec::new()) } else { w.kv.records() };
        }
        let mut out: BTreeMap<String, FileRecord> = BTreeMap::new();
        if !w.rebuild_files {
            for (path, loc) in w.kv.files()? {
                out.insert(path, loc.record);
            }
        }
        for (path, loc) in &w.staged {
            match loc {
                Some(loc) => out.insert(path.clone(), loc.record.clone()),
                None => out.remove(path),
            };
        }
        Ok(out.into_values().collect())
    }

    async fn upsert(&self, batch: Vec<FileUpdate>) -> Result<(), StoreError> {
        let mut w = self.writer()?;
        w.meta()?;
        let segment = w.pending_id();
        // Tokenizing for the lexical leg is the costly part: do it on all cores first.
        let analyzed: Vec<Vec<lexical::ChunkTerms>> = {
            use rayon::prelude::*;
            batch
                .par_iter()
                .map(|u| {
                    lexical::analyze_chunks(
                        u.chunks.iter().map(|c| (&c.chunk, c.terms.as_deref())),
                        u.history.as_deref(),
                    )
                })
                .collect()
        };
        for (update, terms) in batch.into_iter().zip(analyzed) {
            let path = update.record.path.clone();
            w.remove(&path)?;
            let count = update.chunks.len() as u32;
            let record = update.record.clone();
            let pending =
                w.pending.as_mut().ok_or_else(|| StoreError::Invalid("setup() must be called first".into()))?;
            let first = pending.add_analyzed_file(update, terms)?;
            w.delta.files += 1;
            w.delta.chunks += i64::from(count);
            w.delta.bytes += record.size as i64;
            w.staged.insert(path, Some(FileLoc { record, segment, first, count }));
        }
        Ok(())
    }

    async fn touch(&self, records: Vec<FileRecord>) -> Result<(), StoreError> {
        let mut w = self.writer()?;
        for record in records {
            if let Some(mut loc) = w.location(&record.path)? {
                w.delta.bytes += record.size as i64 - loc.record.size as i64;
                loc.record = record;
                w.staged.insert(loc.record.path.clone(), Some(loc));
            }
        }
        Ok(())
    }

    async fn delete(&self, paths: &[String]) -> Result<(), StoreError> {
        let mut w = self.writer()?;
        for path in paths {
            w.remove(path)?;
        }
        Ok(())
    }

    async fn cached_embeddings(
        &self,
        namespace: &CacheNamespace,
        hashes: &[ContentHash],
    ) -> Result<Vec<Option<Embedding>>, StoreError> {
        let mut w = self.writer()?;
        let mut found = w.kv.cached(namespace, hashes)?;
        if found.iter().all(Option::is_some) {
            return Ok(found);
        }
        // A vector staged by this scan under the same provider, model and dimension is the
        // vector of that content (identical chunks in different windows are embedded once,
        // also when the provider's vectors are not cached).
        let same_model = |meta: &IndexMetadata| {
            CacheNamespace::new(&meta.embedding_provider, &meta.embedding_model, meta.embedding_dimensions as usize)
                == *namespace
        };
        let staged_here = w.meta.as_ref().is_some_and(same_model);
        if let Some(pending) = w.pending.as_mut().filter(|_| staged_here) {
            for (slot, hash) in found.iter_mut().zip(hashes) {
                if slot.is_none() {
                    *slot = pending.vector_of(hash)?;
                }
            }
        }
        Ok(found)
    }

    async fn cache_embeddings(
        &self,
        namespace: &CacheNamespace,
        entries: Vec<(ContentHash, Embedding)>,
    ) -> Result<(), StoreError> {
        self.writer()?.kv.cache(namespace, entries)
    }

    async fn search(&self, query: &StoreQuery) -> Result<Vec<Hit>, StoreError> {
        let Some(snap) = self.snapshot()? else {
            return Err(StoreError::NotFound { path: self.dir.clone() });
        };
        let filters = CompiledFilters::new(&query.filters)?;
        let texts = !query.without_texts;
        match (&query.vector, &query.text) {
            (Some(v), None) => self.vector_search(&snap, v, query.k, &filters, texts),
            (None, Some(t)) if query.per_file => self.file_lexical_search(&snap, t, query.k, &filters),
            (None, Some(t)) => self.lexical_search(&snap, t, query.k, &filters, texts),
            (Some(v), Some(t)) => Ok(crate::retrieve::fuse(vec![
                self.vector_search(&snap, v, query.k, &filters, texts)?,
                self.lexical_search(&snap, t, query.k, &filters, texts)?,
            ])
            .into_iter()
            .take(query.k)
            .collect()),
            (None, None) => Err(StoreError::Invalid("a query needs a vector or a text".into())),
        }
    }

    async fn chunk_texts(&self, ids: &[ChunkId]) -> Result<Vec<Option<String>>, StoreError> {
        let Some(snap) = self.snapshot()? else { return Ok(vec![None; ids.len()]) };
        ids.iter()
            .map(|id| {
                let (segment, ord) = ((id.0 >> 32) as u32, id.0 as u32);
                match snap.segments.iter().find(|(s, _)| *s == segment) {
                    Some((_, seg)) if (ord as usize) < seg.len() => seg.text(ord).map(Some),
                    _ => Ok(None),
                }
            })
            .collect()
    }

    async fn commit(&self, meta: &IndexMetadata) -> Result<StoreStats, StoreError> {
        let mut w = self.writer()?;
        let result = self.commit_inner(&mut w, meta);
        if result.is_err() {
            // The staged state was consumed: refuse further writes instead of publishing a
            // generation that misses them.
            w.failed = true;
        }
        result
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut stats = self.committed_stats()?;
        // Measured now: the manifest's figure predates the clean-up of the previous generation.
        stats.disk_bytes = disk_usage(&self.dir);
        Ok(stats)
    }

    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities { lexical: true, deferred_texts: true }
    }
}

impl HnswStore {
    fn commit_inner(&self, w: &mut Writer, meta: &IndexMetadata) -> Result<StoreStats, StoreError> {
        let base = w.base.clone();
        let generation = base.as_ref().map_or(0, |m| m.generation) + 1;
        let mut manifest = match &base {
            Some(b) => Manifest { generation, metadata: meta.clone(), ..b.clone() },
            None => Manifest::new(generation, meta.clone()),
        };
        let cleared = std::mem::take(&mut w.cleared);
        if cleared {
            manifest.segments.clear();
        }
        let params = self.options.graph();
        let pending_id = w.pending_id();
        // 1. Tombstones of existing segments.
        let deleted = std::mem::take(&mut w.deleted);
        for entry in &mut manifest.segments {
            let Some(new) = deleted.get(&entry.id) else { continue };
            let dir = segment_dir(&self.dir, entry.id);
            let mut all: BTreeSet<u32> = match &entry.tombstones {
                Some(t) => read_tombstones(&dir, t)?.into_iter().collect(),
                None => BTreeSet::new(),
            };
            all.extend(new.iter().copied());
            let ords: Vec<u32> = all.into_iter().collect();
            entry.live = entry.chunks - ords.len() as u32;
            entry.tombstones = Some(write_tombstones(&dir, generation, &ords)?);
        }
        if !deleted.is_empty() {
            crate::failpoint::hit("tombstones-written");
        }
        manifest.segments.retain(|e| e.live > 0);
        // 2. The new segment.
        if let Some(pending) = w.pending.take().filter(|p| !p.is_empty()) {
            let own_deleted: Vec<u32> =
                deleted.get(&pending_id).map(|s| s.iter().copied().collect()).unwrap_or_default();
            let entry =
                pending.write(&segment_dir(&self.dir, pending_id), pending_id, &own_deleted, generation, &params)?;
            crate::failpoint::hit("segment-written");
            manifest.next_segment = pending_id + 1;
            if entry.live > 0 {
                manifest.segments.push(entry);
            }
        } else {
            // Nothing new: what an interrupted scan streamed there goes.
            let leftover = segment_dir(&self.dir, pending_id);
            if leftover.exists() {
                fs::remove_dir_all(&leftover).map_err(|e| StoreError::io(&leftover, e))?;
            }
        }
        // 3. Merge small segments when there are too many.
        let moved = merge_if_needed(&self.dir, &mut manifest, w, generation, &self.options)?;
        for (path, loc) in moved {
            w.staged.insert(path, Some(loc));
        }
        // 4. Counts, then publish.
        let prev = base.as_ref().filter(|_| !cleared).map(|m| m.stats.clone()).unwrap_or_default();
        let d = w.delta;
        manifest.stats = StoreStats {
            files: (prev.files as i64 + d.files).max(0) as u64,
            chunks: manifest.segments.iter().map(|s| u64::from(s.live)).sum(),
            bytes: (prev.bytes as i64 + d.bytes).max(0) as u64,
            disk_bytes: 0,
            generation,
        };
        manifest.stats.disk_bytes = disk_usage(&self.dir);
        manifest::publish(&self.dir, &manifest)?;
        crate::failpoint::hit("published");
        // 5. The writer's bookkeeping; a crash before this is repaired at the next open.
        let staged = std::mem::take(&mut w.staged);
        let replace_all = std::mem::take(&mut w.rebuild_files);
        w.kv.apply_files(staged, generation, replace_all)?;
        crate::failpoint::hit("bookkept");
        // 6. Housekeeping: keep the previous generation for readers that opened it.
        let keep_prev = base.as_ref().map(|b| b.generation);
        collect_garbage(&self.dir, &manifest, base.as_ref());
        manifest::remove_other_manifests(
            &self.dir,
            &[Some(generation), keep_prev].into_iter().flatten().collect::<Vec<_>>(),
        );
        w.delta = Delta::default();
        let stats = manifest.stats.clone();
        w.base = Some(manifest);
        w.pending = Some(self.pending_builder(w, meta));
        *self.snapshot.write().map_err(poisoned)? = None;
        Ok(stats)
    }

    /// The builder of the next segment, streaming into that segment's directory.
    fn pending_builder(&self, w: &Writer, meta: &IndexMetadata) -> SegmentBuilder {
        SegmentBuilder::spilling(meta.embedding_dimensions as usize, segment_dir(&self.dir, w.pending_id()))
    }

    fn committed_stats(&self) -> Result<StoreStats, StoreError> {
        if let Some(w) = &self.writer {
            let w = w.lock().map_err(poisoned)?;
            return Ok(w.base.as_ref().map(|m| m.stats.clone()).unwrap_or_default());
        }
        Ok(self.snapshot()?.map(|s| s.manifest.stats.clone()).unwrap_or_default())
    }
}

impl HnswStore {
    fn vector_search(
        &self,
        snap: &Snapshot,
        vector: &[f32],
        k: usize,
        filters: &CompiledFilters,
        texts: bool,
    ) -> Result<Vec<Hit>, StoreError> {
        let dims = snap.manifest.metadata.embedding_dimensions as usize;
        if vector.iter().any(|x| !x.is_finite()) {
            return Err(StoreError::Invalid("query vector has non-finite values".into()));
        }
        if vector.len() != dims {
            return Err(StoreError::Invalid(format!(
                "query vector has {} dimensions, the index has {dims}",
                vector.len()
            )));
        }
        let mut scored: Vec<(f32, usize, u32)> = Vec::new();
        for (seg_index, (_, seg)) in snap.segments.iter().enumerate() {
            let path_ok = filters.path_mask(seg.paths());
            let keep = |ord: u32| path_ok[seg.path_index(ord)] && filters.language_ok(seg.language(ord));
            for (ord, score) in seg.search(vector, k, self.options.ef_search, self.options.quantise_min_chunks, &keep) {
                scored.push((score, seg_index, ord));
            }
        }
        hits(snap, scored, k, Leg::Vector, texts)
    }

    /// BM25F over whole files: a file's field frequencies and lengths are the sums over its
    /// live chunks (exact, since structural chunks do not overlap); its hit carries the chunk
    /// where the query's terms are densest.
    fn file_lexical_search(
        &self,
        snap: &Snapshot,
        text: &str,
        k: usize,
        filters: &CompiledFilters,
    ) -> Result<Vec<Hit>, StoreError> {
        let params = &self.options.lexical;
        let mut lengths: HashMap<(usize, u32), [u64; lexical::FIELD_COUNT]> = HashMap::new();
        for (seg_index, (_, seg)) in snap.segments.iter().enumerate() {
            for (path, l) in seg.file_lengths() {
                lengths.insert((seg_index, path), l);
            }
        }
        let n = lengths.len() as f64;
        if n == 0.0 {
            return Ok(Vec::new());
        }
        let mut avg = [0f32; lexical::FIELD_COUNT];
        for l in lengths.values() {
            for f in 0..lexical::FIELD_COUNT {
                avg[f] += l[f] as f32;
            }
        }
        avg.iter_mut().for_each(|a| *a /= n as f32);
        let mut scores: HashMap<(usize, u32), (f32, u32, u32)> = HashMap::new();
        for (term, weight) in lexical::query_terms(text, params.part_weight, params.vague_weight) {
            let mut per_file: Vec<((usize, u32), lexical::FileFreqs)> = Vec::new();
            for (seg_index, (_, seg)) in snap.segments.iter().enumerate() {
                let path_ok = filters.path_mask(seg.paths());
                let keep = |ord: u32| path_ok[seg.path_index(ord)] && filters.language_ok(seg.language(ord));
                per_file.extend(seg.file_term_frequencies(&term, &keep)?.into_iter().map(|(p, v)| ((seg_index, p), v)));
            }
            if per_file.is_empty() {
                continue;
            }
            let core_files =
                per_file.iter().filter(|(_, (tf, _, _))| tf[..lexical::HISTORY_FIELD].iter().any(|&f| f > 0)).count();
            let df = if core_files > 0 { core_files } else { per_file.len() };
            let idf = lexical::idf(n, df as f64);
            for (key, (tf, best, best_tf)) in per_file {
                let len = lengths.get(&key).map(|l| l.map(|x| x.min(u64::from(u32::MAX)) as u32)).unwrap_or_default();
                let s = weight * lexical::bm25f(&tf, &len, &avg, idf, params);
                let e = scores.entry(key).or_insert((0.0, best, 0));
                e.0 += s;
                if best_tf > e.2 {
                    e.1 = best;
                    e.2 = best_tf;
                }
            }
        }
        let scored: Vec<(f32, usize, u32)> =
            scores.into_iter().map(|((seg_index, _), (score, best, _))| (score, seg_index, best)).collect();
        hits(snap, scored, k, Leg::Lexical, true)
    }

    fn lexical_search(
        &self,
        snap: &Snapshot,
        text: &str,
        k: usize,
        filters: &CompiledFilters,
        texts: bool,
    ) -> Result<Vec<Hit>, StoreError> {
        // A file's history describes the file, not each chunk: it ranks files (the file leg),
        // while chunks compete on their own text.
        let mut chunk_params = self.options.lexical;
        chunk_params.weights[lexical::HISTORY_FIELD] = 0.0;
        let params = &chunk_params;
        let mut n = 0u64;
        let mut totals = [0u64; lexical::FIELD_COUNT];
        for (_, seg) in &snap.segments {
            let (live, t) = seg.lexical_totals();
            n += live;
            for f in 0..lexical::FIELD_COUNT {
                totals[f] += t[f];
            }
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let avg = totals.map(|t| t as f32 / n as f32);
        let terms: Vec<(String, f32, f32)> = lexical::query_terms(text, params.part_weight, params.vague_weight)
            .into_iter()
            .filter_map(|(term, weight)| {
                let (mut df, mut df_core) = (0u32, 0u32);
                for (_, seg) in &snap.segments {
                    match seg.df(&term) {
                        Ok((d, c)) => {
                            df += d;
                            df_core += c;
                        }
                        Err(e) => return Some(Err(e)),
                    }
                }
                let df = if df_core > 0 { df_core } else { df };
                (df > 0).then(|| {
                    let idf = lexical::idf(n as f64, f64::from(df).min(n as f64));
                    Ok((term, weight, idf))
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let mut scored: Vec<(f32, usize, u32)> = Vec::new();
        for (seg_index, (_, seg)) in snap.segments.iter().enumerate() {
            let path_ok = filters.path_mask(seg.paths());
            let keep = |ord: u32| path_ok[seg.path_index(ord)] && filters.language_ok(seg.language(ord));
            for (ord, score) in seg.lexical_scores(&terms, &avg, params, &keep)? {
                scored.push((score, seg_index, ord));
            }
        }
        hits(snap, scored, k, Leg::Lexical, texts)
    }

    /// Whether staged changes are waiting for a commit.
    pub fn has_staged_changes(&self) -> bool {
        self.writer().is_ok_and(|w| w.is_dirty())
    }
}

/// The best `k` of `(score, segment index, ordinal)`, read into hits.
/// (`texts`: whether hits carry their chunks' texts.)
fn hits(
    snap: &Snapshot,
    mut scored: Vec<(f32, usize, u32)>,
    k: usize,
    leg: Leg,
    texts: bool,
) -> Result<Vec<Hit>, StoreError> {
    let by_score = |a: &(f32, usize, u32), b: &(f32, usize, u32)| {
        let (ida, idb) = (snap.segments[a.1].0, snap.segments[b.1].0);
        b.0.total_cmp(&a.0).then(ida.cmp(&idb)).then(a.2.cmp(&b.2))
    };
    if scored.len() > k && k > 0 {
        scored.select_nth_unstable_by(k - 1, by_score);
        scored.truncate(k);
    }
    scored.sort_by(by_score);
    scored.truncate(k);
    scored
        .into_iter()
        .map(|(score, seg_index, ord)| {
            let (id, seg) = &snap.segments[seg_index];
            let chunk = if texts { seg.chunk(ord)? } else { seg.chunk_without_text(ord) };
            Ok(Hit::new(ChunkId(u64::from(*id) << 32 | u64::from(ord)), chunk, score, leg))
        })
        .collect()
}

/// Merges the smallest segments into one when a generation has more than `max_segments`;
/// returns the new locations of the files that moved.
fn merge_if_needed(
    dir: &Path,
    manifest: &mut Manifest,
    writer: &Writer,
    generation: u64,
    options: &HnswStoreOptions,
) -> Result<Vec<(String, FileLoc)>, StoreError> {
    // Segments mostly made of deleted chunks are rewritten without them (which also rebuilds
    // their graph: hnsw_rs cannot delete points, tombstones are only filtered at query time).
    let mut victims: Vec<SegmentEntry> =
        manifest.segments.iter().filter(|e| mostly_deleted(e, options.max_deleted_fraction)).cloned().collect();
    if manifest.segments.len() > options.max_segments.max(2) {
        let mut by_size: Vec<SegmentEntry> = manifest.segments.clone();
        by_size.sort_by_key(|e| (e.live, e.id));
        // Merge all but the largest half: tiered enough for a small store, and bounded work.
        let take = manifest.segments.len() - options.max_segments / 2;
        for e in by_size.into_iter().take(take) {
            if !victims.iter().any(|v| v.id == e.id) {
                victims.push(e);
            }
        }
    }
    if victims.is_empty() {
        return Ok(Vec::new());
    }
    let dims = manifest.metadata.embedding_dimensions as usize;
    let mut builder = SegmentBuilder::new(dims);
    let id = manifest.next_segment;
    let mut moved = Vec::new();
    for entry in &victims {
        let seg = SegmentReader::open(&segment_dir(dir, entry.id), entry, false)?;
        for f in seg.files() {
            if f.count > 0 && seg.is_deleted(f.first) {
                continue;
            }
            if f.count == 0 {
                // A file without chunks stays where its record is; only chunks move.
                continue;
            }
            // A file re-staged in this commit may point elsewhere; only move current owners.
            if let Some(Some(loc)) = writer.staged.get(&f.record.path)
                && loc.segment != entry.id
            {
                continue;
            }
            let mut chunks = Vec::with_capacity(f.count as usize);
            for ord in f.first..f.first + f.count {
                chunks.push(crate::model::EmbeddedChunk::new(seg.chunk(ord)?, seg.vector(ord).to_vec()));
            }
            let first = builder.add_file(FileUpdate::new(f.record.clone(), chunks).with_history(f.history.clone()))?;
            let record = match writer.staged.get(&f.record.path) {
                Some(Some(loc)) => loc.record.clone(),
                _ => f.record.clone(),
            };
            moved.push((f.record.path.clone(), FileLoc { record, segment: id, first, count: f.count }));
        }
    }
    let victim_ids: HashSet<u32> = victims.iter().map(|e| e.id).collect();
    manifest.segments.retain(|e| !victim_ids.contains(&e.id));
    if !builder.is_empty() {
        let entry = builder.write(&segment_dir(dir, id), id, &[], generation, &options.graph())?;
        crate::failpoint::hit("merge-written");
        manifest.segments.push(entry);
    }
    manifest.next_segment = id + 1;
    Ok(moved)
}

/// Whether more than `max_fraction` of a segment's chunks are deleted (segments of fewer than
/// 64 chunks are left to the size-tiered merge).
fn mostly_deleted(e: &SegmentEntry, max_fraction: f32) -> bool {
    e.chunks >= 64 && (e.chunks - e.live) as f32 > e.chunks as f32 * max_fraction
}

/// Removes segment folders and tombstone files that neither this generation nor the previous
/// one uses.
fn collect_garbage(dir: &Path, current: &Manifest, previous: Option<&Manifest>) {
    let mut keep_files: HashSet<(u32, String)> = HashSet::new();
    let mut keep_segments: HashSet<u32> = HashSet::new();
    for m in std::iter::once(current).chain(previous) {
        for e in &m.segments {
            keep_segments.insert(e.id);
            if let Some(t) = &e.tombstones {
                keep_files.insert((e.id, t.file.clone()));
            }
        }
    }
    let Ok(entries) = fs::read_dir(dir.join("segments")) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_prefix("seg-").and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if id >= current.next_segment {
            continue; // never touch what a later writer may be building
        }
        if !keep_segments.contains(&id) {
            let _ = fs::remove_dir_all(entry.path());
            continue;
        }
        if let Ok(files) = fs::read_dir(entry.path()) {
            for f in files.flatten() {
                let fname = f.file_name().to_string_lossy().into_owned();
                if fname.starts_with("tomb-") && !keep_files.contains(&(id, fname)) {
                    let _ = fs::remove_file(f.path());
                }
            }
        }
    }
}

fn disk_usage(dir: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        let Ok(entries) = fs::read_dir(p) else { return 0 };
        entries
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => walk(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    }
    walk(dir)
}

/// Filters compiled once per query.
struct CompiledFilters {
    globs: Vec<GlobMatcher>,
    languages: Vec<String>,
}

impl CompiledFilters {
    fn new(filters: &[Filter]) -> Result<Self, StoreError> {
        let mut globs = Vec::new();
        let mut languages = Vec::new();
        for f in filters {
            match f {
                Filter::PathGlob(g) => globs.push(
                    Glob::new(g)
                        .map_err(|e| StoreError::Invalid(format!("invalid path glob `{g}`: {e}")))?
                        .compile_matcher(),
                ),
                Filter::Language(l) => languages.push(l.to_lowercase()),
            }
        }
        Ok(CompiledFilters { globs, languages })
    }

    fn path_mask(&self, paths: &[String]) -> Vec<bool> {
        paths.iter().map(|p| self.globs.iter().all(|g| g.is_match(p))).collect()
    }

    fn language_ok(&self, language: &str) -> bool {
        self.languages.iter().all(|l| l == language)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Chunk, EmbeddedChunk, LineRange};

    fn options(graph_min_chunks: usize) -> HnswStoreOptions {
        HnswStoreOptions { graph_min_chunks, ..Default::default() }
    }

    fn meta(dims: u32) -> IndexMetadata {
        IndexMetadata::new("t", "test", "test-model", dims, 40, 0)
    }

    use super::super::distance::test_vector as vector;

    fn file(path: &str, seeds: &[u64], dims: usize) -> FileUpdate {
        let chunks = seeds
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let line = i as u32 + 1;
                EmbeddedChunk::new(
                    Chunk::new(path, LineRange::new(line, line), "rust", format!("{path} {s}")),
                    vector(*s, dims),
                )
            })
            .collect();
        FileUpdate::new(FileRecord::new(path, 10, 1, ContentHash::of(path.as_bytes()), seeds.len() as u32), chunks)
    }

    #[tokio::test]
    async fn conforms_with_exact_search() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        let store = HnswStore::open(&path, OpenMode::Write, options(1_000_000)).unwrap();
        let reopen = || -> Box<dyn IndexStore> {
            // The conformance suite reopens while the first handle still holds the lock, so it
            // reopens a copy of the committed directory.
            let copy = dir.path().join(format!("copy-{}", std::process::id()));
            copy_dir(&path, &copy);
            std::fs::remove_dir_all(copy.join(DB_DIR)).unwrap();
            Box::new(HnswStore::open(&copy, OpenMode::Write, options(1_000_000)).unwrap())
        };
        crate::testing::index_store_conformance(&store, &reopen).await;
    }

    #[tokio::test]
    async fn conforms_with_hnsw_graphs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        let store = HnswStore::open(&path, OpenMode::Write, options(1)).unwrap();
        let reopen = || -> Box<dyn IndexStore> {
            let copy = dir.path().join("copy");
            copy_dir(&path, &copy);
            std::fs::remove_dir_all(copy.join(DB_DIR)).unwrap();
            Box::new(HnswStore::open(&copy, OpenMode::Write, options(1)).unwrap())
        };
        crate::testing::index_store_conformance(&store, &reopen).await;
        let manifest = manifest::read_current(&path).unwrap().unwrap();
        assert!(manifest.segments.iter().all(|s| s.graph.is_some()), "graphs were built");
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }

    #[tokio::test]
    async fn hnsw_finds_what_exact_search_finds() {
        let dir = tempfile::tempdir().unwrap();
        let dims = 32;
        let exact_dir = dir.path().join("exact");
        let graph_dir = dir.path().join("graph");
        for (p, min) in [(&exact_dir, usize::MAX), (&graph_dir, 1)] {
            let store = HnswStore::open(p, OpenMode::Write, options(min)).unwrap();
            store.setup(&meta(dims as u32)).await.unwrap();
            let files: Vec<FileUpdate> =
                (0..100).map(|f| file(&format!("f{f}.rs"), &(f * 20..f * 20 + 20).collect::<Vec<_>>(), dims)).collect();
            store.upsert(files).await.unwrap();
            store.commit(&meta(dims as u32)).await.unwrap();
        }
        let exact = HnswStore::open(&exact_dir, OpenMode::Read, options(usize::MAX)).unwrap();
        let graph = HnswStore::open(&graph_dir, OpenMode::Read, options(1)).unwrap();
        let mut found = 0;
        let queries = 50;
        for q in 0..queries {
            let query = StoreQuery::vector(vector(10_000 + q, dims), 10);
            let want: HashSet<String> = exact.search(&query).await.unwrap().into_iter().map(|h| h.chunk.text).collect();
            let got = graph.search(&query).await.unwrap();
            found += got.iter().filter(|h| want.contains(&h.chunk.text)).count();
        }
        let recall = found as f64 / (queries as f64 * 10.0);
        assert!(recall >= 0.9, "recall@10 {recall}");
    }

    #[tokio::test]
    async fn conforms_with_quantised_scans() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        let quantised = HnswStoreOptions { graph_min_chunks: usize::MAX, quantise_min_chunks: 1, ..Default::default() };
        let store = HnswStore::open(&path, OpenMode::Write, quantised).unwrap();
        let reopen = || -> Box<dyn IndexStore> {
            let copy = dir.path().join("copy");
            copy_dir(&path, &copy);
            std::fs::remove_dir_all(copy.join(DB_DIR)).unwrap();
            Box::new(HnswStore::open(&copy, OpenMode::Write, quantised).unwrap())
        };
        crate::testing::index_store_conformance(&store, &reopen).await;
    }

    #[tokio::test]
    async fn searches_by_codes_return_what_the_exact_scan_returns() {
        let dir = tempfile::tempdir().unwrap();
        let dims = 64;
        let options =
            HnswStoreOptions { graph_min_chunks: usize::MAX, quantise_min_chunks: 1000, ..Default::default() };
        let store = HnswStore::open(dir.path(), OpenMode::Write, options).unwrap();
        store.setup(&meta(dims as u32)).await.unwrap();
        let files: Vec<FileUpdate> =
            (0..100).map(|f| file(&format!("f{f}.rs"), &(f * 30..f * 30 + 30).collect::<Vec<_>>(), dims)).collect();
        store.upsert(files).await.unwrap();
        store.commit(&meta(dims as u32)).await.unwrap();
        store.delete(&["f3.rs".to_string()]).await.unwrap();
        store.commit(&meta(dims as u32)).await.unwrap();
        drop(store);
        let filters = vec![Filter::PathGlob("f1*.rs".into())];
        for filters in [Vec::new(), filters] {
            // A fresh reader's first search is exact; its later ones scan the codes.
            let reader = HnswStore::open(dir.path(), OpenMode::Read, options).unwrap();
            for q in 0..20 {
                let query = StoreQuery::vector(vector(50_000 + q, dims), 25).with_filters(filters.clone());
                let exact = HnswStore::open(dir.path(), OpenMode::Read, options).unwrap().search(&query).await.unwrap();
                let got = reader.search(&query).await.unwrap();
                let ids = |h: &[Hit]| h.iter().map(|h| (h.chunk.text.clone(), h.score)).collect::<Vec<_>>();
                assert_eq!(ids(&got), ids(&exact), "query {q}, filters {filters:?}");
                assert!(got.iter().all(|h| h.chunk.path != "f3.rs"), "deleted chunks stay out");
            }
        }
    }

    #[tokio::test]
    async fn second_writer_is_refused_while_readers_keep_working() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        let w = HnswStore::open(&path, OpenMode::Write, options(100)).unwrap();
        w.setup(&meta(8)).await.unwrap();
        w.upsert(vec![file("a.rs", &[1, 2], 8)]).await.unwrap();
        w.commit(&meta(8)).await.unwrap();
        let err = HnswStore::open(&path, OpenMode::Write, options(100)).unwrap_err();
        assert!(matches!(err, StoreError::Busy { .. }), "{err}");
        assert!(err.to_string().contains("busy"));
        // Stage more without committing: a reader sees the committed generation only.
        w.upsert(vec![file("b.rs", &[3], 8)]).await.unwrap();
        let r = HnswStore::open(&path, OpenMode::Read, options(100)).unwrap();
        let hits = r.search(&StoreQuery::vector(vector(3, 8), 10)).await.unwrap();
        assert!(hits.iter().all(|h| h.chunk.path == "a.rs"));
        assert_eq!(r.stats().await.unwrap().files, 1);
    }

    /// Commits two files, lets `damage` change the writer's state, then checks that the next
    /// writer has the file table the published segments hold (a replaced file's old chunks
    /// tombstoned, a directory's contents found) and keeps it.
    async fn writer_state_is_rebuilt_after(damage: impl FnOnce(&Path)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        {
            let w = HnswStore::open(&path, OpenMode::Write, options(100)).unwrap();
            w.setup(&meta(8)).await.unwrap();
            w.upsert(vec![file("src/a.rs", &[1, 2], 8), file("b.rs", &[3], 8)]).await.unwrap();
            w.commit(&meta(8)).await.unwrap();
        }
        damage(&path);
        let w = HnswStore::open(&path, OpenMode::Write, options(100)).unwrap();
        w.setup(&meta(8)).await.unwrap();
        let files: Vec<String> = w.files().await.unwrap().into_iter().map(|f| f.path).collect();
        assert_eq!(files, ["b.rs", "src/a.rs"]);
        w.upsert(vec![file("src/a.rs", &[9], 8)]).await.unwrap();
        let stats = w.commit(&meta(8)).await.unwrap();
        assert_eq!((stats.files, stats.chunks), (2, 2), "old chunks of src/a.rs were tombstoned");
        drop(w);
        let w = HnswStore::open(&path, OpenMode::Write, options(100)).unwrap();
        let at = w.files_at(&["src".to_string()]).await.unwrap();
        assert_eq!(at.iter().map(|f| (f.path.as_str(), f.chunks)).collect::<Vec<_>>(), [("src/a.rs", 1)]);
    }

    #[tokio::test]
    async fn lost_writer_state_is_rebuilt_from_published_segments() {
        // As if the process died after publishing but before recording its file table.
        writer_state_is_rebuilt_after(|path| std::fs::remove_dir_all(path.join(DB_DIR)).unwrap()).await;
    }

    #[tokio::test]
    async fn damaged_writer_state_is_rebuilt_from_published_segments() {
        // As sled leaves it when killed while writing: every file of its directory damaged.
        writer_state_is_rebuilt_after(|path| {
            for entry in walk_files(&path.join(DB_DIR)) {
                std::fs::write(&entry, b"\0garbage\xff").unwrap();
            }
        })
        .await;
    }

    #[tokio::test]
    async fn a_file_table_in_the_old_layout_is_rebuilt_from_published_segments() {
        // As an earlier version left it: a key per file in the `files` tree.
        writer_state_is_rebuilt_after(|path| {
            // The writer's handle, just dropped, may hold sled's lock a moment longer (its I/O
            // threads finish): retried, as `Kv::open` does.
            let config = sled::Config::new().path(path.join(DB_DIR)).flush_every_ms(None);
            let db = (0..100)
                .find_map(|_| {
                    config.open().ok().or_else(|| {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        None
                    })
                })
                .expect("sled opens once the writer is gone");
            db.drop_tree("files_by_dir").unwrap();
            db.open_tree("files").unwrap().insert(b"src/a.rs", b"old".as_slice()).unwrap();
            db.flush().unwrap();
        })
        .await;
    }

    fn walk_files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() { out.extend(walk_files(&p)) } else { out.push(p) }
        }
        out
    }

    #[tokio::test]
    async fn a_segment_mostly_deleted_is_rewritten_without_its_dead_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = HnswStore::open(dir.path(), OpenMode::Write, options(usize::MAX)).unwrap();
        let m = meta(8);
        store.setup(&m).await.unwrap();
        let files: Vec<FileUpdate> =
            (0..10).map(|i| file(&format!("f{i}.rs"), &(0..10).map(|j| i * 100 + j).collect::<Vec<_>>(), 8)).collect();
        store.upsert(files).await.unwrap();
        store.commit(&m).await.unwrap();
        let first = manifest::read_current(dir.path()).unwrap().unwrap().segments[0].id;
        // 2 of 10 files gone: 20 % dead, below the threshold: tombstones only.
        store.delete(&["f0.rs".into(), "f1.rs".into()]).await.unwrap();
        store.commit(&m).await.unwrap();
        let seg = manifest::read_current(dir.path()).unwrap().unwrap().segments[0].clone();
        assert_eq!((seg.id, seg.chunks, seg.live), (first, 100, 80));
        // 4 of 10 gone: 40 % dead: the segment is rewritten with its 60 live chunks.
        store.delete(&["f2.rs".into(), "f3.rs".into()]).await.unwrap();
        store.commit(&m).await.unwrap();
        let after = manifest::read_current(dir.path()).unwrap().unwrap();
        assert_eq!(after.segments.len(), 1);
        let seg = &after.segments[0];
        assert_ne!(seg.id, first);
        assert_eq!((seg.chunks, seg.live), (60, 60));
        assert!(seg.tombstones.is_none());
        // The moved files are still found, and the writer knows where they are now.
        let hits = store.search(&StoreQuery::vector(vector(905, 8), 1)).await.unwrap();
        assert_eq!(hits[0].chunk.path, "f9.rs");
        let paths: Vec<String> = store.files().await.unwrap().into_iter().map(|f| f.path).collect();
        assert_eq!(paths, (4..10).map(|i| format!("f{i}.rs")).collect::<Vec<_>>());
        drop(store);
        let reopened = HnswStore::open(dir.path(), OpenMode::Write, options(usize::MAX)).unwrap();
        assert_eq!(reopened.files().await.unwrap().len(), 6);
    }

    #[tokio::test]
    async fn many_commits_merge_segments_and_keep_results() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        let mut o = options(100);
        o.max_segments = 3;
        let w = HnswStore::open(&path, OpenMode::Write, o).unwrap();
        for i in 0..10u64 {
            w.setup(&meta(8)).await.unwrap();
            w.upsert(vec![file(&format!("f{i}.rs"), &[i * 10, i * 10 + 1], 8)]).await.unwrap();
            if i > 0 {
                // Rewrite an earlier file too, so segments carry tombstones.
                w.upsert(vec![file("f0.rs", &[1000 + i], 8)]).await.unwrap();
            }
            w.commit(&meta(8)).await.unwrap();
        }
        let manifest = manifest::read_current(&path).unwrap().unwrap();
        assert!(manifest.segments.len() <= 3, "{} segments", manifest.segments.len());
        let stats = w.stats().await.unwrap();
        assert_eq!((stats.files, stats.chunks), (10, 19));
        let hits = w.search(&StoreQuery::vector(vector(1009, 8), 1)).await.unwrap();
        assert_eq!(hits[0].chunk.path, "f0.rs");
        assert_eq!(hits[0].chunk.text, "f0.rs 1009");
        let seg_dirs = std::fs::read_dir(path.join("segments")).unwrap().count();
        assert!(seg_dirs <= 6, "old segments are collected ({seg_dirs} left)");
        // The file table survives the merge: re-upserting f5 tombstones its merged chunks.
        w.setup(&meta(8)).await.unwrap();
        w.delete(&["f5.rs".to_string()]).await.unwrap();
        let stats = w.commit(&meta(8)).await.unwrap();
        assert_eq!((stats.files, stats.chunks), (9, 17));
    }

    #[tokio::test]
    async fn damaged_files_are_reported_not_panicked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("idx");
        {
            let w = HnswStore::open(&path, OpenMode::Write, options(1)).unwrap();
            w.setup(&meta(8)).await.unwrap();
            w.upsert(vec![file("a.rs", &[1, 2, 3], 8)]).await.unwrap();
            w.commit(&meta(8)).await.unwrap();
        }
        let seg = segment_dir(&path, 1);
        for victim in ["vectors.bin", "meta.bin"] {
            let original = std::fs::read(seg.join(victim)).unwrap();
            std::fs::write(seg.join(victim), &original[..original.len() / 2]).unwrap();
            let err = HnswStore::open(&path, OpenMode::Read, options(1)).unwrap_err();
            assert!(matches!(err, StoreError::Corrupted { .. }), "{victim}: {err}");
            assert!(err.to_string().contains("--rebuild"));
            std::fs::write(seg.join(victim), original).unwrap();
        }
        // A damaged graph dump.
        let graph = seg.join("graph.hnsw.graph");
        let original = std::fs::read(&graph).unwrap();
        std::fs::write(&graph, &original[..original.len() / 3]).unwrap();
        let err = HnswStore::open(&path, OpenMode::Read, options(1)).unwrap_err();
        assert!(matches!(err, StoreError::Corrupted { .. }), "{err}");
        std::fs::write(&graph, original).unwrap();
        // A damaged chunk text is caught by its hash when read.
        let text = seg.join("text.bin");
        let mut bytes = std::fs::read(&text).unwrap();
        bytes[0] ^= 0x20;
        std::fs::write(&text, bytes).unwrap();
        // Searched exactly (no graph): an approximate search of three chunks inserted in
        // parallel may miss one, and then never reads its text.
        let r = HnswStore::open(&path, OpenMode::Read, options(1_000_000)).unwrap();
        let err = r.search(&StoreQuery::vector(vector(1, 8), 3)).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupted { .. }), "{err}");
        // A garbled manifest.
        std::fs::write(path.join(manifest::MANIFESTS).join("manifest-00000001.json"), b"{ nope").unwrap();
        let err = HnswStore::open(&path, OpenMode::Read, options(1)).unwrap_err();
        assert!(matches!(err, StoreError::Corrupted { .. }), "{err}");
    }

    #[tokio::test]
    async fn not_an_index_and_not_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
        for mode in [OpenMode::Read, OpenMode::Write] {
            let err = HnswStore::open(dir.path(), mode, options(1)).unwrap_err();
            assert!(matches!(err, StoreError::NotAnIndex { .. }), "{err}");
        }
        let err = HnswStore::open(&dir.path().join("missing"), OpenMode::Read, options(1)).unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("ragops scan"));
    }

    #[tokio::test]
    async fn wrong_dimensions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let w = HnswStore::open(&dir.path().join("i"), OpenMode::Write, options(1)).unwrap();
        w.setup(&meta(8)).await.unwrap();
        let err = w.upsert(vec![file("a.rs", &[1], 4)]).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err}");
        w.upsert(vec![file("a.rs", &[1], 8)]).await.unwrap();
        w.commit(&meta(8)).await.unwrap();
        let err = w.search(&StoreQuery::vector(vec![f32::NAN; 8], 3)).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "a NaN query is refused, not a panic: {err}");
    }

    fn text_file(path: &str, text: &str) -> FileUpdate {
        let chunk = Chunk::new(path, LineRange::new(1, 1), "rust", text);
        FileUpdate::new(
            FileRecord::new(path, text.len() as u64, 1, ContentHash::of(text.as_bytes()), 1),
            vec![EmbeddedChunk::new(chunk, vector(7, 8))],
        )
    }

    #[tokio::test]
    async fn lexical_statistics_ignore_deleted_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let edited = HnswStore::open(&dir.path().join("edited"), OpenMode::Write, options(100)).unwrap();
        edited.setup(&meta(8)).await.unwrap();
        edited
            .upsert(vec![
                text_file("x.rs", "alpha beta"),
                text_file("y.rs", "alpha alpha delta"),
                text_file("z.rs", "gamma"),
            ])
            .await
            .unwrap();
        edited.commit(&meta(8)).await.unwrap();
        edited.delete(&["y.rs".to_string()]).await.unwrap();
        edited.commit(&meta(8)).await.unwrap();
        let fresh = HnswStore::open(&dir.path().join("fresh"), OpenMode::Write, options(100)).unwrap();
        fresh.setup(&meta(8)).await.unwrap();
        fresh.upsert(vec![text_file("x.rs", "alpha beta"), text_file("z.rs", "gamma")]).await.unwrap();
        fresh.commit(&meta(8)).await.unwrap();
        for q in ["alpha", "alpha gamma"] {
            let a = edited.search(&StoreQuery::text(q, 5)).await.unwrap();
            let b = fresh.search(&StoreQuery::text(q, 5)).await.unwrap();
            assert_eq!(a.len(), b.len(), "{q}");
            for (ha, hb) in a.iter().zip(&b) {
                assert_eq!(ha.chunk.path, hb.chunk.path);
                assert!((ha.score - hb.score).abs() < 1e-5, "{q}: {} vs {}", ha.score, hb.score);
            }
        }
    }
}
