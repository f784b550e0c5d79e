//! Immutable segments: the published, read-only part of the index.
//!
//! A segment is a folder `segments/seg-NNNNNNNN/` holding
//! - `meta.bin`: postcard of [`SegmentMeta`] (chunk records, the path and language tables, and
//!   the file records of the files whose chunks it holds);
//! - `text.bin`: the chunks' texts, concatenated (read on demand, checked against each chunk's
//!   hash);
//! - `vectors.bin`: `chunks × dims` little-endian `f32`;
//! - for large segments, an HNSW graph dumped by hnsw_rs (`<basename>.hnsw.graph/.data`);
//! - `tomb-GGGGGGGG.bin`: the ordinals deleted as of generation G (written when it changes).
//!
//! Segments never change once written; deletions are tombstones, and merging writes a new
//! segment. The manifest holds each file's checksum (XXH3-128), verified when a segment is opened.

use std::collections::{BinaryHeap, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use hnsw_rs::prelude::{AnnT, FilterT, Hnsw, HnswIo};
use serde::{Deserialize, Serialize};

use super::distance::{DotDistance, dot};
use super::lexical::{self, FIELD_COUNT, LexDict, LexicalBuilder, LexicalParams};
use super::manifest::{GraphRef, LexicalRef, SegmentEntry, TombstoneRef};
use super::quantised::{Codes, quantise};
use super::{f32s_from_le, push_f32s_le};
use crate::error::StoreError;
use crate::model::{Chunk, ContentHash, FileRecord, FileUpdate, LineRange};

const META_FILE: &str = "meta.bin";
const TEXT_FILE: &str = "text.bin";
const VECTORS_FILE: &str = "vectors.bin";
const GRAPH_BASENAME: &str = "graph";
const LEXDICT_FILE: &str = "lexdict.bin";
const POSTINGS_FILE: &str = "postings.bin";

/// HNSW build and search parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GraphParams {
    /// Segments with at least this many chunks get a graph; smaller ones are searched exactly.
    pub(crate) min_chunks: usize,
    pub(crate) max_connections: usize,
    pub(crate) ef_construction: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ChunkMeta {
    path: u32,
    language: u16,
    start: u32,
    end: u32,
    hash: ContentHash,
    text_offset: u64,
    text_len: u32,
    symbol: Option<String>,
}

/// A file whose chunks a segment holds: ordinals `first..first + count`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SegmentFile {
    pub(crate) record: FileRecord,
    pub(crate) first: u32,
    pub(crate) count: u32,
    /// The file's history text, kept so that merges carry it over.
    pub(crate) history: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct SegmentMeta {
    dims: u32,
    paths: Vec<String>,
    languages: Vec<String>,
    chunks: Vec<ChunkMeta>,
    files: Vec<SegmentFile>,
}

/// Accumulates chunks for a new segment.
#[derive(Debug, Default)]
pub(crate) struct SegmentBuilder {
    meta: SegmentMeta,
    path_ids: HashMap<String, u32>,
    language_ids: HashMap<String, u16>,
    body: Body,
    lexical: LexicalFeed,
    /// The first chunk of each content hash, for [`SegmentBuilder::vector_of`].
    by_hash: HashMap<ContentHash, u32>,
}

/// Where a builder keeps the chunk texts and vectors until the segment is written.
#[derive(Debug)]
enum Body {
    /// In memory (merges, tests).
    Memory { texts: Vec<u8>, vectors: Vec<f32> },
    /// Streamed into the segment's own directory as chunks arrive (a scan's new segment):
    /// memory holds the chunk records and postings, not the corpus, and the commit has only
    /// the rest to write. The directory is created at the first chunk.
    Spill { dir: PathBuf, files: Option<Box<SpillFiles>> },
}

impl Default for Body {
    fn default() -> Self {
        Body::Memory { texts: Vec::new(), vectors: Vec::new() }
    }
}

/// Where a builder's chunk terms go: into its lexical builder at once, or — a scan's streamed
/// segment — to a thread that builds it, so that adding a file (one at a time, on the
/// writer's path) does not wait for the postings.
#[derive(Debug)]
enum LexicalFeed {
    Inline(LexicalBuilder),
    /// The thread, started at the first file.
    Threaded(Option<LexicalWorker>),
}

#[derive(Debug)]
struct LexicalWorker {
    tx: std::sync::mpsc::SyncSender<Vec<(u32, lexical::ChunkTerms)>>,
    handle: std::thread::JoinHandle<LexicalBuilder>,
}

impl Default for LexicalFeed {
    fn default() -> Self {
        LexicalFeed::Inline(LexicalBuilder::default())
    }
}

/// Files' terms the lexical thread may have waiting (memory stays bounded).
const LEXICAL_QUEUE_FILES: usize = 256;

impl LexicalFeed {
    /// Adds chunks' terms, in ordinal order.
    fn add(&mut self, terms: Vec<(u32, lexical::ChunkTerms)>) -> Result<(), StoreError> {
        match self {
            LexicalFeed::Inline(builder) => {
                for (ord, t) in terms {
                    builder.add_terms(ord, t);
                }
                Ok(())
            }
            LexicalFeed::Threaded(worker) => {
                let worker = match worker {
                    Some(w) => w,
                    None => worker.insert(LexicalWorker::start()?),
                };
                worker.tx.send(terms).map_err(|_| lexical_thread_failed())
            }
        }
    }

    /// The builder with every term added.
    fn finish(self) -> Result<LexicalBuilder, StoreError> {
        match self {
            LexicalFeed::Inline(builder) => Ok(builder),
            LexicalFeed::Threaded(None) => Ok(LexicalBuilder::default()),
            LexicalFeed::Threaded(Some(LexicalWorker { tx, handle })) => {
                drop(tx);
                handle.join().map_err(|_| lexical_thread_failed())
            }
        }
    }
}

impl LexicalWorker {
    fn start() -> Result<Self, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(u32, lexical::ChunkTerms)>>(LEXICAL_QUEUE_FILES);
        let handle = std::thread::Builder::new()
            .name("ragops-lexical".into())
            .spawn(move || {
                let mut builder = LexicalBuilder::default();
                for terms in rx {
                    for (ord, t) in terms {
                        builder.add_terms(ord, t);
                    }
                }
                builder
            })
            .map_err(|e| StoreError::Invalid(format!("cannot start the lexical index's thread: {e}")))?;
        Ok(LexicalWorker { tx, handle })
    }
}

fn lexical_thread_failed() -> StoreError {
    StoreError::Invalid("the thread building the lexical index stopped".into())
}

struct SpillFiles {
    texts: std::io::BufWriter<File>,
    vectors: std::io::BufWriter<File>,
    /// The vectors file's checksum so far (as [`write_vectors`] computes it).
    hasher: xxhash_rust::xxh3::Xxh3,
    text_bytes: u64,
    /// One vector's bytes (reused).
    scratch: Vec<u8>,
    /// Bytes written since the last background sync started.
    unsynced: u64,
    /// Written bytes after which a background sync starts ([`SYNC_EVERY_BYTES`]).
    sync_every: u64,
    /// Syncs what was written so far while the scan goes on, so that the commit's own sync
    /// finds little left to write; its error, if any, is the commit's.
    syncing: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

/// Written bytes after which a spilling segment starts syncing them in the background.
const SYNC_EVERY_BYTES: u64 = 64 << 20;

impl std::fmt::Debug for SpillFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpillFiles").field("text_bytes", &self.text_bytes).finish_non_exhaustive()
    }
}

impl SpillFiles {
    fn create(dir: &Path) -> Result<SpillFiles, StoreError> {
        if dir.exists() {
            // A leftover of an interrupted scan.
            fs::remove_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        // Readable too: staged vectors are read back (`vector_of`).
        let open = |name: &str| {
            let path = dir.join(name);
            fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map(|f| std::io::BufWriter::with_capacity(1 << 20, f))
                .map_err(|e| StoreError::io(&path, e))
        };
        Ok(SpillFiles {
            texts: open(TEXT_FILE)?,
            vectors: open(VECTORS_FILE)?,
            hasher: xxhash_rust::xxh3::Xxh3::new(),
            text_bytes: 0,
            scratch: Vec::new(),
            unsynced: 0,
            sync_every: SYNC_EVERY_BYTES,
            syncing: None,
        })
    }

    /// Starts syncing what was written so far on another thread, when enough was and the
    /// previous sync is done (its error is returned here).
    fn sync_in_background(&mut self, dir: &Path) -> Result<(), StoreError> {
        if self.unsynced < self.sync_every || self.syncing.as_ref().is_some_and(|t| !t.is_finished()) {
            return Ok(());
        }
        self.join_sync(dir)?;
        self.unsynced = 0;
        let mut files = Vec::with_capacity(2);
        for (name, out) in [(TEXT_FILE, &mut self.texts), (VECTORS_FILE, &mut self.vectors)] {
            let path = dir.join(name);
            out.flush().map_err(|e| StoreError::io(&path, e))?;
            files.push(out.get_ref().try_clone().map_err(|e| StoreError::io(&path, e))?);
        }
        self.syncing = Some(std::thread::spawn(move || files.iter().try_for_each(File::sync_data)));
        Ok(())
    }

    /// Waits for a background sync; its error is a write error of the segment.
    fn join_sync(&mut self, dir: &Path) -> Result<(), StoreError> {
        match self.syncing.take().map(std::thread::JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(StoreError::io(dir, e)),
            Some(Err(_)) => Err(StoreError::Invalid("a background sync of the segment failed".into())),
        }
    }

    /// Flushes and fsyncs both files; returns the vectors' checksum.
    fn finish(mut self, dir: &Path) -> Result<String, StoreError> {
        self.join_sync(dir)?;
        for (name, out) in [(TEXT_FILE, self.texts), (VECTORS_FILE, self.vectors)] {
            let path = dir.join(name);
            let file = out.into_inner().map_err(|e| StoreError::io(&path, e.into_error()))?;
            file.sync_all().map_err(|e| StoreError::io(&path, e))?;
        }
        Ok(xxh3_checksum(&self.hasher))
    }
}

impl SegmentBuilder {
    pub(crate) fn new(dims: usize) -> Self {
        SegmentBuilder { meta: SegmentMeta { dims: dims as u32, ..Default::default() }, ..Default::default() }
    }

    /// A builder that streams texts and vectors into `dir`, the directory the segment will be
    /// written to (see [`SegmentBuilder::write`]).
    pub(crate) fn spilling(dims: usize, dir: PathBuf) -> Self {
        SegmentBuilder {
            body: Body::Spill { dir, files: None },
            lexical: LexicalFeed::Threaded(None),
            ..SegmentBuilder::new(dims)
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.meta.chunks.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.meta.chunks.is_empty()
    }

    /// The vector of a chunk with this content, if one is staged here.
    pub(crate) fn vector_of(&mut self, hash: &ContentHash) -> Result<Option<Vec<f32>>, StoreError> {
        let dims = self.meta.dims as usize;
        let Some(&ord) = self.by_hash.get(hash) else { return Ok(None) };
        let ord = ord as usize;
        match &mut self.body {
            Body::Memory { vectors, .. } => Ok(vectors.get(ord * dims..(ord + 1) * dims).map(<[f32]>::to_vec)),
            Body::Spill { files: None, .. } => Ok(None),
            Body::Spill { dir, files: Some(files) } => {
                let path = dir.join(VECTORS_FILE);
                files.vectors.flush().map_err(|e| StoreError::io(&path, e))?;
                let mut bytes = vec![0u8; dims * 4];
                files
                    .vectors
                    .get_ref()
                    .read_exact_at(&mut bytes, (ord * dims * 4) as u64)
                    .map_err(|e| StoreError::io(&path, e))?;
                Ok(Some(f32s_from_le(&bytes)))
            }
        }
    }

    /// Adds a file's chunks; returns the ordinal of its first chunk.
    pub(crate) fn add_file(&mut self, update: FileUpdate) -> Result<u32, StoreError> {
        let terms = lexical::analyze_chunks(
            update.chunks.iter().map(|c| (&c.chunk, c.terms.as_deref())),
            update.history.as_deref(),
        );
        self.add_analyzed_file(update, terms)
    }

    /// Adds a file's chunks with their lexical terms analysed beforehand (in parallel).
    pub(crate) fn add_analyzed_file(
        &mut self,
        update: FileUpdate,
        terms: Vec<lexical::ChunkTerms>,
    ) -> Result<u32, StoreError> {
        let first = self.len() as u32;
        let count = update.chunks.len() as u32;
        let history = update.history;
        if terms.len() != update.chunks.len() {
            return Err(StoreError::Invalid("analysed terms do not match the chunks".into()));
        }
        let mut lexical = Vec::with_capacity(terms.len());
        for (ec, terms) in update.chunks.into_iter().zip(terms) {
            if ec.embedding.len() != self.meta.dims as usize {
                return Err(StoreError::Invalid(format!(
                    "{}: embedding has {} dimensions, the index has {}",
                    ec.chunk.path,
                    ec.embedding.len(),
                    self.meta.dims
                )));
            }
            if ec.embedding.iter().any(|x| !x.is_finite()) {
                return Err(StoreError::Invalid(format!("{}: embedding is not finite", ec.chunk.path)));
            }
            lexical.push((self.push_chunk(&ec.chunk, &ec.embedding)?, terms));
        }
        self.lexical.add(lexical)?;
        self.meta.files.push(SegmentFile { record: update.record, first, count, history });
        Ok(first)
    }

    /// Adds a chunk's record, text and vector; returns its ordinal.
    fn push_chunk(&mut self, chunk: &Chunk, vector: &[f32]) -> Result<u32, StoreError> {
        let text_offset = self.append_body(chunk.text.as_bytes(), vector)?;
        let next_path = self.meta.paths.len() as u32;
        let path = *self.path_ids.entry(chunk.path.clone()).or_insert_with(|| {
            self.meta.paths.push(chunk.path.clone());
            next_path
        });
        let next_lang = self.meta.languages.len() as u16;
        let language = *self.language_ids.entry(chunk.language.clone()).or_insert_with(|| {
            self.meta.languages.push(chunk.language.clone());
            next_lang
        });
        let ord = self.meta.chunks.len() as u32;
        self.by_hash.entry(chunk.hash).or_insert(ord);
        self.meta.chunks.push(ChunkMeta {
            path,
            language,
            start: chunk.lines.start,
            end: chunk.lines.end,
            hash: chunk.hash,
            text_offset,
            text_len: chunk.text.len() as u32,
            symbol: chunk.symbol.clone(),
        });
        Ok(ord)
    }

    /// Appends a chunk's text and vector; returns the text's offset.
    fn append_body(&mut self, text: &[u8], vector: &[f32]) -> Result<u64, StoreError> {
        match &mut self.body {
            Body::Memory { texts, vectors } => {
                let offset = texts.len() as u64;
                texts.extend_from_slice(text);
                vectors.extend_from_slice(vector);
                Ok(offset)
            }
            Body::Spill { dir, files } => {
                let files = match files {
                    Some(f) => f,
                    None => files.insert(Box::new(SpillFiles::create(dir)?)),
                };
                let offset = files.text_bytes;
                files.texts.write_all(text).map_err(|e| StoreError::io(dir.join(TEXT_FILE), e))?;
                files.text_bytes += text.len() as u64;
                files.scratch.clear();
                push_f32s_le(&mut files.scratch, vector);
                files.hasher.update(&files.scratch);
                files.vectors.write_all(&files.scratch).map_err(|e| StoreError::io(dir.join(VECTORS_FILE), e))?;
                files.unsynced += (text.len() + files.scratch.len()) as u64;
                files.sync_in_background(dir)?;
                Ok(offset)
            }
        }
    }

    /// Writes the segment durably into `dir` (replacing a leftover of an interrupted scan).
    pub(crate) fn write(
        self,
        dir: &Path,
        id: u32,
        tombstones: &[u32],
        generation: u64,
        params: &GraphParams,
    ) -> Result<SegmentEntry, StoreError> {
        let dims = self.meta.dims as usize;
        let n = self.meta.chunks.len();
        let SegmentBuilder { meta, body, lexical, .. } = self;
        if matches!(body, Body::Memory { .. }) {
            // A fresh directory (replacing a leftover) before anything is written into it.
            if dir.exists() {
                fs::remove_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
            }
            fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        // The lexical index is sorted, encoded and written on another thread meanwhile.
        std::thread::scope(|scope| {
            let lexical = scope.spawn(move || {
                let (dict, postings) = lexical.finish()?.finish();
                let dict_bytes = postcard::to_stdvec(&dict).map_err(StoreError::backend)?;
                drop(dict);
                write_durably(&dir.join(LEXDICT_FILE), &dict_bytes)?;
                write_durably(&dir.join(POSTINGS_FILE), &postings)?;
                Ok::<_, StoreError>(LexicalRef {
                    dict_checksum: checksum(&dict_bytes),
                    postings_checksum: checksum(&postings),
                })
            });
            let written = Self::write_body(dir, meta, body, n, params);
            let lexical =
                lexical.join().map_err(|_| StoreError::Invalid("the lexical index could not be written".into()))?;
            let (text_bytes, vectors_checksum, vectors, meta_checksum) = written?;
            let lexical = lexical?;
            let graph =
                if n >= params.min_chunks.max(1) { Some(build_graph(dir, &vectors, dims, params)?) } else { None };
            let tombstones =
                if tombstones.is_empty() { None } else { Some(write_tombstones(dir, generation, tombstones)?) };
            let live = n - tombstones.as_ref().map_or(0, |t| t.count as usize);
            sync_dir(dir)?;
            // The segment's own entry in `segments/` must survive a crash too.
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
            Ok(SegmentEntry {
                id,
                chunks: n as u32,
                live: live as u32,
                meta_checksum,
                vectors_checksum,
                text_bytes,
                graph,
                tombstones,
                lexical,
            })
        })
    }

    /// Writes the texts, vectors and chunk records; returns the text bytes, the vectors'
    /// checksum, the vectors (when the segment gets a graph) and the records' checksum.
    fn write_body(
        dir: &Path,
        meta: SegmentMeta,
        body: Body,
        n: usize,
        params: &GraphParams,
    ) -> Result<(u64, String, Vec<f32>, String), StoreError> {
        // Texts and vectors first (a spilled builder's are in `dir` already).
        let (text_bytes, vectors_checksum, vectors) = match body {
            Body::Spill { dir: spill_dir, files } if spill_dir == dir => {
                let files = match files {
                    Some(f) => *f,
                    None => SpillFiles::create(dir)?,
                };
                let text_bytes = files.text_bytes;
                let checksum = files.finish(dir)?;
                // The graph needs the vectors back (only segments that get one).
                let vectors =
                    if n >= params.min_chunks.max(1) { read_vectors(&dir.join(VECTORS_FILE))? } else { Vec::new() };
                (text_bytes, checksum, vectors)
            }
            Body::Spill { dir: spill_dir, .. } => {
                return Err(StoreError::Invalid(format!(
                    "a segment streamed into {} cannot be written to {}",
                    spill_dir.display(),
                    dir.display()
                )));
            }
            Body::Memory { texts, vectors } => {
                // The directory is fresh (see `write`).
                write_durably(&dir.join(TEXT_FILE), &texts)?;
                let text_bytes = texts.len() as u64;
                drop(texts);
                // Streamed: no second copy of the vectors in memory.
                (text_bytes, write_vectors(&dir.join(VECTORS_FILE), &vectors)?, vectors)
            }
        };
        let meta_bytes = postcard::to_stdvec(&meta).map_err(StoreError::backend)?;
        write_durably(&dir.join(META_FILE), &meta_bytes)?;
        Ok((text_bytes, vectors_checksum, vectors, checksum(&meta_bytes)))
    }
}

fn build_graph(dir: &Path, vectors: &[f32], dims: usize, params: &GraphParams) -> Result<GraphRef, StoreError> {
    let n = vectors.len() / dims;
    let hnsw: Hnsw<f32, DotDistance> = Hnsw::new(params.max_connections, n, 16, params.ef_construction, DotDistance);
    let data: Vec<(&[f32], usize)> = (0..n).map(|i| (&vectors[i * dims..(i + 1) * dims], i)).collect();
    hnsw.parallel_insert_slice(&data);
    let basename = hnsw.file_dump(dir, GRAPH_BASENAME).map_err(|e| StoreError::backend(e.to_string()))?;
    let file_checksum = |suffix: &str| -> Result<String, StoreError> {
        let path = dir.join(format!("{basename}.hnsw.{suffix}"));
        let f = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        f.sync_all().map_err(|e| StoreError::io(&path, e))?;
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(f).map_err(|e| StoreError::io(&path, e))?;
        Ok(hasher.finalize().to_hex().to_string())
    };
    Ok(GraphRef { graph_checksum: file_checksum("graph")?, data_checksum: file_checksum("data")?, basename })
}

/// Writes the sorted tombstone ordinals of a segment as of `generation`.
pub(crate) fn write_tombstones(dir: &Path, generation: u64, ordinals: &[u32]) -> Result<TombstoneRef, StoreError> {
    let file = format!("tomb-{generation:08}.bin");
    let bytes = postcard::to_stdvec(ordinals).map_err(StoreError::backend)?;
    write_durably(&dir.join(&file), &bytes)?;
    sync_dir(dir)?;
    Ok(TombstoneRef { file, count: ordinals.len() as u32, checksum: checksum(&bytes) })
}

/// Reads a segment's tombstones, checking their checksum.
pub(crate) fn read_tombstones(dir: &Path, tomb: &TombstoneRef) -> Result<Vec<u32>, StoreError> {
    let path = dir.join(&tomb.file);
    let bytes = read_checked(&path, &tomb.checksum)?;
    postcard::from_bytes(&bytes).map_err(|e| corrupted(&path, e))
}

self_cell::self_cell!(
    struct Graph {
        owner: HnswIo,
        #[not_covariant]
        dependent: HnswDot,
    }
);

type HnswDot<'a> = Hnsw<'a, f32, DotDistance>;

/// A segment opened for searching.
pub(crate) struct SegmentReader {
    dir: PathBuf,
    meta: SegmentMeta,
    vectors: Vectors,
    text: File,
    deleted: Vec<bool>,
    graph: Option<Graph>,
    dict: LexDict,
    postings: Vec<u8>,
    /// 4-bit codes of the vectors, built at the second exact search of a large segment.
    codes: std::sync::OnceLock<Codes>,
    /// Exact searches so far.
    searches: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for SegmentReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentReader")
            .field("dir", &self.dir)
            .field("chunks", &self.meta.chunks.len())
            .field("graph", &self.graph.is_some())
            .finish()
    }
}

impl SegmentReader {
    /// Opens a segment, verifying its files against the manifest's checksums.
    pub(crate) fn open(dir: &Path, entry: &SegmentEntry, search_graph: bool) -> Result<Self, StoreError> {
        let meta_path = dir.join(META_FILE);
        let meta_bytes = read_checked(&meta_path, &entry.meta_checksum)?;
        let meta: SegmentMeta = postcard::from_bytes(&meta_bytes).map_err(|e| corrupted(&meta_path, e))?;
        let vectors_path = dir.join(VECTORS_FILE);
        let dims = meta.dims as usize;
        let vectors = Vectors::open(&vectors_path, meta.chunks.len() * dims, &entry.vectors_checksum)?;
        if meta.chunks.len() != entry.chunks as usize {
            return Err(corrupted(&vectors_path, "sizes disagree with the manifest"));
        }
        let text_path = dir.join(TEXT_FILE);
        let text = File::open(&text_path).map_err(|e| StoreError::io(&text_path, e))?;
        let len = text.metadata().map_err(|e| StoreError::io(&text_path, e))?.len();
        if len != entry.text_bytes {
            return Err(corrupted(&text_path, "truncated"));
        }
        let mut deleted = vec![false; meta.chunks.len()];
        if let Some(tomb) = &entry.tombstones {
            for ord in read_tombstones(dir, tomb)? {
                *deleted
                    .get_mut(ord as usize)
                    .ok_or_else(|| corrupted(&dir.join(&tomb.file), "ordinal out of range"))? = true;
            }
        }
        let dict_path = dir.join(LEXDICT_FILE);
        let dict: LexDict = postcard::from_bytes(&read_checked(&dict_path, &entry.lexical.dict_checksum)?)
            .map_err(|e| corrupted(&dict_path, e))?;
        let postings = read_checked(&dir.join(POSTINGS_FILE), &entry.lexical.postings_checksum)?;
        if dict.lengths.len() != meta.chunks.len() {
            return Err(corrupted(&dict_path, "chunk count disagrees with the segment"));
        }
        let graph = match (&entry.graph, search_graph) {
            (Some(graph), true) => Some(load_graph(dir, graph)?),
            _ => None,
        };
        Ok(SegmentReader {
            dir: dir.to_path_buf(),
            meta,
            vectors,
            text,
            deleted,
            graph,
            dict,
            postings,
            codes: std::sync::OnceLock::new(),
            searches: std::sync::atomic::AtomicU32::new(0),
        })
    }

    /// Live chunks and per-field token totals of the live chunks, for global BM25 statistics.
    pub(crate) fn lexical_totals(&self) -> (u64, [u64; FIELD_COUNT]) {
        let mut totals = self.dict.totals;
        let mut live = self.len() as u64;
        for (ord, deleted) in self.deleted.iter().enumerate() {
            if *deleted {
                live -= 1;
                for (f, total) in totals.iter_mut().enumerate() {
                    *total = total.saturating_sub(u64::from(self.dict.lengths[ord][f]));
                }
            }
        }
        (live, totals)
    }

    /// Per file (by path index) of the live chunks: the summed field lengths.
    pub(crate) fn file_lengths(&self) -> HashMap<u32, [u64; FIELD_COUNT]> {
        let mut out: HashMap<u32, [u64; FIELD_COUNT]> = HashMap::new();
        for (ord, chunk) in self.meta.chunks.iter().enumerate() {
            if self.deleted[ord] {
                continue;
            }
            let e = out.entry(chunk.path).or_default();
            for (f, total) in e.iter_mut().enumerate() {
                let l = u64::from(self.dict.lengths[ord][f]);
                // The history field repeats per chunk: a file has it once.
                *total = if f == lexical::HISTORY_FIELD { (*total).max(l) } else { *total + l };
            }
        }
        out
    }

    /// For one term: per file (path index) the summed field frequencies over its live chunks
    /// that `keep` accepts, and the chunk with the highest frequency.
    pub(crate) fn file_term_frequencies(
        &self,
        term: &str,
        keep: &dyn Fn(u32) -> bool,
    ) -> Result<HashMap<u32, lexical::FileFreqs>, StoreError> {
        // Value: (summed field frequencies, best chunk, best chunk's frequency outside history).
        let mut out: HashMap<u32, lexical::FileFreqs> = HashMap::new();
        let Some(list) = self.term_postings(term)? else { return Ok(out) };
        let postings_path = || self.dir.join(POSTINGS_FILE);
        for (ord, tf) in list {
            if ord as usize >= self.deleted.len() {
                return Err(corrupted(&postings_path(), "ordinal out of range"));
            }
            if self.deleted[ord as usize] || !keep(ord) {
                continue;
            }
            let path = self.meta.chunks[ord as usize].path;
            let e = out.entry(path).or_insert(([0; FIELD_COUNT], ord, 0));
            let total: u32 = tf[..lexical::HISTORY_FIELD].iter().sum();
            for (f, (sum, add)) in e.0.iter_mut().zip(tf).enumerate() {
                *sum = if f == lexical::HISTORY_FIELD { (*sum).max(add) } else { *sum + add };
            }
            if total > e.2 {
                e.1 = ord;
                e.2 = total;
            }
        }
        Ok(out)
    }

    /// A term's decoded postings, `None` when the segment lacks the term.
    fn term_postings(&self, term: &str) -> Result<Option<Vec<lexical::Posting>>, StoreError> {
        let Some(entry) = self.dict.lookup(term) else { return Ok(None) };
        let postings_path = || self.dir.join(POSTINGS_FILE);
        let start = entry.offset as usize;
        let bytes = self
            .postings
            .get(start..start + entry.len as usize)
            .ok_or_else(|| corrupted(&postings_path(), "postings offset out of range"))?;
        lexical::decode_postings(bytes).map(Some).ok_or_else(|| corrupted(&postings_path(), "bad postings"))
    }

    /// Document frequencies of a term among this segment's live chunks: in any field, and
    /// outside the history field. Counted from the postings when chunks were deleted.
    pub(crate) fn df(&self, term: &str) -> Result<(u32, u32), StoreError> {
        let Some(entry) = self.dict.lookup(term) else { return Ok((0, 0)) };
        if !self.deleted.iter().any(|d| *d) {
            return Ok((entry.df, entry.df_core));
        }
        let list = self.term_postings(term)?.unwrap_or_default();
        let live = list.iter().filter(|(ord, _)| !self.deleted.get(*ord as usize).copied().unwrap_or(true));
        let (mut df, mut core) = (0, 0);
        for (_, tf) in live {
            df += 1;
            if tf[..lexical::HISTORY_FIELD].iter().any(|&f| f > 0) {
                core += 1;
            }
        }
        Ok((df, core))
    }

    /// This segment's BM25F scores for `terms` (`(term, query weight, idf)`) of the live chunks
    /// that `keep` accepts, as `(ordinal, score)`, unsorted.
    pub(crate) fn lexical_scores(
        &self,
        terms: &[(String, f32, f32)],
        avg: &[f32; FIELD_COUNT],
        params: &LexicalParams,
        keep: &dyn Fn(u32) -> bool,
    ) -> Result<Vec<(u32, f32)>, StoreError> {
        let postings_path = || self.dir.join(POSTINGS_FILE);
        // Dense accumulators: common terms touch a large share of the chunks, and a hash map
        // per posting cost more than the scoring.
        let mut scores = vec![0.0f32; self.len()];
        let mut seen = vec![false; self.len()];
        let mut touched: Vec<u32> = Vec::new();
        for (term, weight, idf) in terms {
            let Some(list) = self.term_postings(term)? else { continue };
            for (ord, tf) in list {
                let (Some(lengths), Some(deleted)) =
                    (self.dict.lengths.get(ord as usize), self.deleted.get(ord as usize))
                else {
                    return Err(corrupted(&postings_path(), "ordinal out of range"));
                };
                if *deleted || !keep(ord) {
                    continue;
                }
                if !seen[ord as usize] {
                    seen[ord as usize] = true;
                    touched.push(ord);
                }
                scores[ord as usize] += weight * lexical::bm25f(&tf, lengths, avg, *idf, params);
            }
        }
        Ok(touched.into_iter().map(|ord| (ord, scores[ord as usize])).collect())
    }

    pub(crate) fn len(&self) -> usize {
        self.meta.chunks.len()
    }

    pub(crate) fn is_deleted(&self, ord: u32) -> bool {
        self.deleted.get(ord as usize).copied().unwrap_or(true)
    }

    pub(crate) fn files(&self) -> &[SegmentFile] {
        &self.meta.files
    }

    pub(crate) fn vector(&self, ord: u32) -> &[f32] {
        let d = self.meta.dims as usize;
        &self.vectors.as_slice()[ord as usize * d..(ord as usize + 1) * d]
    }

    pub(crate) fn path(&self, ord: u32) -> &str {
        &self.meta.paths[self.meta.chunks[ord as usize].path as usize]
    }

    pub(crate) fn language(&self, ord: u32) -> &str {
        &self.meta.languages[self.meta.chunks[ord as usize].language as usize]
    }

    /// The paths table, for filters that precompute a match per path.
    pub(crate) fn paths(&self) -> &[String] {
        &self.meta.paths
    }

    pub(crate) fn path_index(&self, ord: u32) -> usize {
        self.meta.chunks[ord as usize].path as usize
    }

    /// The `k` best live chunks for which `keep` holds, best first, as `(ordinal, similarity)`.
    /// Without a graph the search is exact; from the second search of a segment of at least
    /// `quantise_min` chunks on, candidates come from 4-bit codes and are re-scored exactly
    /// ([`super::quantised`]).
    pub(crate) fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        quantise_min: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        if k == 0 {
            return Vec::new();
        }
        let accept = |ord: u32| !self.is_deleted(ord) && keep(ord);
        if let Some(graph) = &self.graph {
            let filter = |id: &usize| accept(*id as u32);
            return graph.with_dependent(|_, hnsw| {
                hnsw.search_filter(query, k, ef.max(k), Some(&filter as &dyn FilterT))
                    .into_iter()
                    .map(|n| (n.d_id as u32, 1.0 - n.distance))
                    .collect()
            });
        }
        let earlier = self.searches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if earlier >= 1 && self.len() >= quantise_min.max(1) {
            let codes = self.codes.get_or_init(|| {
                let started = std::time::Instant::now();
                let codes = Codes::build(self.vectors.as_slice(), self.meta.dims as usize);
                tracing::debug!(
                    event = "store.quantised",
                    chunks = self.len(),
                    bytes = codes.bytes(),
                    latency_ms = crate::telemetry::elapsed_ms(started),
                );
                codes
            });
            let approx = codes.scores(&quantise(query));
            let candidates = best_accepted(&approx, (3 * k).max(k + 64), &accept);
            return best(candidates.into_iter().map(|(ord, _)| (ord, dot(query, self.vector(ord)))), k);
        }
        best((0..self.len() as u32).filter(|ord| accept(*ord)).map(|ord| (ord, dot(query, self.vector(ord)))), k)
    }

    /// The chunk at `ord`, its text read from disk and checked against its hash.
    pub(crate) fn chunk(&self, ord: u32) -> Result<Chunk, StoreError> {
        Ok(Chunk { text: self.text(ord)?, ..self.chunk_without_text(ord) })
    }

    /// A chunk's record with an empty text (see [`SegmentReader::text`]).
    pub(crate) fn chunk_without_text(&self, ord: u32) -> Chunk {
        let meta = &self.meta.chunks[ord as usize];
        Chunk {
            path: self.path(ord).to_string(),
            lines: LineRange::new(meta.start, meta.end),
            language: self.language(ord).to_string(),
            hash: meta.hash,
            text: String::new(),
            symbol: meta.symbol.clone(),
        }
    }

    /// A chunk's text, checked against its hash.
    pub(crate) fn text(&self, ord: u32) -> Result<String, StoreError> {
        let meta = &self.meta.chunks[ord as usize];
        let mut buf = vec![0u8; meta.text_len as usize];
        let text_path = self.dir.join(TEXT_FILE);
        self.text.read_exact_at(&mut buf, meta.text_offset).map_err(|e| StoreError::io(&text_path, e))?;
        if ContentHash::of(&buf) != meta.hash {
            return Err(corrupted(&text_path, format!("chunk {ord} does not match its hash")));
        }
        String::from_utf8(buf).map_err(|e| corrupted(&text_path, e))
    }
}

/// The `k` best `(ordinal, score)` pairs, best first (ties by ordinal).
fn best(scored: impl Iterator<Item = (u32, f32)>, k: usize) -> Vec<(u32, f32)> {
    let mut heap: BinaryHeap<Scored> = BinaryHeap::with_capacity(k + 1);
    for (ord, s) in scored {
        if heap.len() < k {
            heap.push(Scored(s, ord));
        } else if heap.peek().is_some_and(|worst| s > worst.0) {
            heap.pop();
            heap.push(Scored(s, ord));
        }
    }
    let mut out: Vec<(u32, f32)> = heap.into_iter().map(|Scored(s, o)| (o, s)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// As [`best`] over `scores` indexed by ordinal, asking `accept` only about ordinals that may
/// be among the best: a threshold from a sample of the scores keeps about `1.5 k` of them in one
/// pass (falling back to a heap over all when filters reject too many).
fn best_accepted(scores: &[f32], k: usize, accept: &dyn Fn(u32) -> bool) -> Vec<(u32, f32)> {
    const STRIDE: usize = 16;
    if k > 0 && scores.len() >= 64 * k {
        let mut sample: Vec<f32> = scores.iter().step_by(STRIDE).copied().collect();
        let rank = (k * 3 / 2 / STRIDE).clamp(1, sample.len()) - 1;
        let (_, threshold, _) = sample.select_nth_unstable_by(rank, |a, b| b.total_cmp(a));
        let threshold = *threshold;
        let mut kept: Vec<(u32, f32)> = Vec::with_capacity(2 * k);
        for (ord, &s) in scores.iter().enumerate() {
            if s >= threshold && accept(ord as u32) {
                kept.push((ord as u32, s));
            }
        }
        if kept.len() >= k {
            return best(kept.into_iter(), k);
        }
    }
    let mut heap: BinaryHeap<Scored> = BinaryHeap::with_capacity(k + 1);
    for (ord, &s) in scores.iter().enumerate() {
        let ord = ord as u32;
        if heap.len() < k {
            if accept(ord) {
                heap.push(Scored(s, ord));
            }
        } else if heap.peek().is_some_and(|worst| s > worst.0) && accept(ord) {
            heap.pop();
            heap.push(Scored(s, ord));
        }
    }
    let mut out: Vec<(u32, f32)> = heap.into_iter().map(|Scored(s, o)| (o, s)).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// Min-heap entry by score (the worst kept hit on top).
struct Scored(f32, u32);

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

fn load_graph(dir: &Path, graph: &GraphRef) -> Result<Graph, StoreError> {
    let graph_path = dir.join(format!("{}.hnsw.graph", graph.basename));
    for (suffix, expected) in [("graph", &graph.graph_checksum), ("data", &graph.data_checksum)] {
        let path = dir.join(format!("{}.hnsw.{suffix}", graph.basename));
        let f = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => corrupted(&path, "missing file"),
            _ => StoreError::io(&path, e),
        })?;
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(f).map_err(|e| StoreError::io(&path, e))?;
        if hasher.finalize().to_hex().as_str() != expected {
            return Err(corrupted(&path, "checksum mismatch"));
        }
    }
    let io = HnswIo::new(dir, &graph.basename);
    // Checksummed above; should hnsw_rs still assert, it is an error, not a crash.
    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Graph::try_new(io, |io| io.load_hnsw_with_dist(DotDistance))
    }));
    match loaded {
        Ok(Ok(graph)) => Ok(graph),
        Ok(Err(e)) => Err(corrupted(&graph_path, e)),
        Err(_) => Err(corrupted(&graph_path, "unreadable graph dump")),
    }
}

/// A segment's vectors: memory-mapped where the platform allows reading the file in place
/// (little-endian, aligned), else decoded into memory. Either way checked against the
/// manifest's checksum before use.
enum Vectors {
    Mapped(memmap2::Mmap),
    Owned(Vec<f32>),
}

impl Vectors {
    fn open(path: &Path, values: usize, expected: &str) -> Result<Vectors, StoreError> {
        let file = File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => corrupted(path, "missing file"),
            _ => StoreError::io(path, e),
        })?;
        let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
        if len != values as u64 * 4 {
            return Err(corrupted(path, "sizes disagree with the manifest"));
        }
        if values == 0 {
            return Ok(Vectors::Owned(Vec::new()));
        }
        // SAFETY: segment files are immutable once published (a new generation writes new
        // files; old ones are only removed, never rewritten), so the mapping cannot change
        // under us; the length was checked above and the checksum below.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map_err(|e| StoreError::io(path, e))?;
        if !checksum_matches(&map, expected) {
            return Err(corrupted(path, "checksum mismatch"));
        }
        if cfg!(target_endian = "little") && bytemuck::try_cast_slice::<u8, f32>(&map).is_ok() {
            return Ok(Vectors::Mapped(map));
        }
        Ok(Vectors::Owned(f32s_from_le(&map)))
    }

    fn as_slice(&self) -> &[f32] {
        match self {
            Vectors::Mapped(map) => bytemuck::try_cast_slice(map).unwrap_or_default(),
            Vectors::Owned(v) => v,
        }
    }
}

/// A file's integrity checksum: XXH3-128, prefixed with its name. It guards against damage
/// (not tampering: a writer can rewrite the manifest too), and runs at memory speed, which
/// matters because searches verify every segment file they open.
pub(crate) fn checksum(bytes: &[u8]) -> String {
    format!("xxh3:{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// Whether `bytes` match a checksum from a manifest (XXH3, or blake3 as written by index
/// format 1 before XXH3).
pub(crate) fn checksum_matches(bytes: &[u8], expected: &str) -> bool {
    if expected.starts_with("xxh3:") {
        checksum(bytes) == expected
    } else {
        let mut hasher = blake3::Hasher::new();
        hasher.update_rayon(bytes);
        hasher.finalize().to_hex().as_str() == expected
    }
}

fn read_checked(path: &Path, expected: &str) -> Result<Vec<u8>, StoreError> {
    let bytes = fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => corrupted(path, "missing file"),
        _ => StoreError::io(path, e),
    })?;
    if !checksum_matches(&bytes, expected) {
        return Err(corrupted(path, "checksum mismatch"));
    }
    Ok(bytes)
}

pub(crate) fn corrupted(path: &Path, message: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupted { path: path.to_path_buf(), message: message.to_string() }
}

/// Writes a file and fsyncs it.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut f = File::create(path).map_err(|e| StoreError::io(path, e))?;
    f.write_all(bytes).map_err(|e| StoreError::io(path, e))?;
    f.sync_all().map_err(|e| StoreError::io(path, e))
}

/// Writes vectors as little-endian `f32` durably, a block at a time; returns the file's checksum
/// (XXH3 as [`checksum`]; indexes written before kept blake3, which still verifies).
fn write_vectors(path: &Path, vectors: &[f32]) -> Result<String, StoreError> {
    let file = File::create(path).map_err(|e| StoreError::io(path, e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut block: Vec<u8> = Vec::with_capacity(64 << 10);
    for part in vectors.chunks(16 << 10) {
        block.clear();
        push_f32s_le(&mut block, part);
        hasher.update(&block);
        out.write_all(&block).map_err(|e| StoreError::io(path, e))?;
    }
    let file = out.into_inner().map_err(|e| StoreError::io(path, e.into_error()))?;
    file.sync_all().map_err(|e| StoreError::io(path, e))?;
    Ok(xxh3_checksum(&hasher))
}

/// A streamed XXH3 checksum, in [`checksum`]'s format.
fn xxh3_checksum(hasher: &xxhash_rust::xxh3::Xxh3) -> String {
    format!("xxh3:{:032x}", hasher.digest128())
}

/// Reads a vectors file back (little-endian `f32`).
fn read_vectors(path: &Path) -> Result<Vec<f32>, StoreError> {
    let bytes = fs::read(path).map_err(|e| StoreError::io(path, e))?;
    Ok(f32s_from_le(&bytes))
}

/// Fsyncs a directory so that the entries created in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EmbeddedChunk, FileRecord, FileUpdate, LineRange};

    fn update(path: &str, texts: &[&str], seed: f32) -> FileUpdate {
        let chunks = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let chunk = Chunk::new(path, LineRange::new(i as u32 + 1, i as u32 + 1), "rust", *t);
                EmbeddedChunk::new(chunk, vec![seed + i as f32, 1.0, -0.5, 0.25])
            })
            .collect();
        FileUpdate::new(FileRecord::new(path, 10, 1, ContentHash::of(path.as_bytes()), texts.len() as u32), chunks)
    }

    #[test]
    fn a_spilled_segment_is_written_exactly_like_one_built_in_memory() {
        let tmp = tempfile::tempdir().unwrap();
        let params = GraphParams { min_chunks: 1_000_000, max_connections: 16, ef_construction: 100 };
        let (memory_dir, spill_dir) = (tmp.path().join("seg-1"), tmp.path().join("seg-2"));
        let mut memory = SegmentBuilder::new(4);
        let mut spilled = SegmentBuilder::spilling(4, spill_dir.clone());
        // A leftover of an interrupted scan is replaced.
        fs::create_dir_all(&spill_dir).unwrap();
        fs::write(spill_dir.join(TEXT_FILE), "stale").unwrap();
        for b in [&mut memory, &mut spilled] {
            b.add_file(update("src/a.rs", &["fn a() {}\n", "fn b() {}\n"], 1.0)).unwrap();
            b.add_file(update("src/c.rs", &["fn c() {}\n"], 5.0)).unwrap();
        }
        // The spilled files sync in the background after every chunk from here on.
        if let Body::Spill { files: Some(files), .. } = &mut spilled.body {
            files.sync_every = 1;
        }
        let wanted = ContentHash::of(b"fn b() {}\n");
        assert_eq!(memory.vector_of(&wanted).unwrap(), Some(vec![2.0, 1.0, -0.5, 0.25]));
        assert_eq!(spilled.vector_of(&wanted).unwrap(), Some(vec![2.0, 1.0, -0.5, 0.25]));
        assert_eq!(spilled.vector_of(&ContentHash::of(b"absent")).unwrap(), None);
        // More chunks after a lookup (which flushed the vectors file) still land in order.
        for b in [&mut memory, &mut spilled] {
            b.add_file(update("src/d.rs", &["fn d() {}\n"], 9.0)).unwrap();
        }
        // The spilled builder's postings were built on their own thread, the other's inline.
        assert!(matches!(spilled.lexical, LexicalFeed::Threaded(Some(_))));
        assert!(matches!(memory.lexical, LexicalFeed::Inline(_)));
        let a = memory.write(&memory_dir, 1, &[1], 3, &params).unwrap();
        let b = spilled.write(&spill_dir, 2, &[1], 3, &params).unwrap();
        assert_eq!((a.chunks, a.live, a.text_bytes), (b.chunks, b.live, b.text_bytes));
        assert_eq!((&a.meta_checksum, &a.vectors_checksum), (&b.meta_checksum, &b.vectors_checksum));
        for name in [META_FILE, TEXT_FILE, VECTORS_FILE, LEXDICT_FILE, POSTINGS_FILE] {
            assert_eq!(fs::read(memory_dir.join(name)).unwrap(), fs::read(spill_dir.join(name)).unwrap(), "{name}");
        }
        let reader = SegmentReader::open(&spill_dir, &b, false).unwrap();
        assert_eq!(reader.vector(3), &[9.0, 1.0, -0.5, 0.25]);
        assert_eq!(reader.chunk(2).unwrap().text, "fn c() {}\n");
        assert!(reader.is_deleted(1));
    }

    #[test]
    fn a_spilled_builder_refuses_another_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let params = GraphParams { min_chunks: 1_000_000, max_connections: 16, ef_construction: 100 };
        let mut spilled = SegmentBuilder::spilling(4, tmp.path().join("seg-1"));
        spilled.add_file(update("a.rs", &["fn a() {}\n"], 1.0)).unwrap();
        let err = spilled.write(&tmp.path().join("seg-2"), 2, &[], 1, &params).unwrap_err();
        assert!(err.to_string().contains("cannot be written"), "{err}");
    }

    #[test]
    fn best_accepted_equals_a_full_sort_with_and_without_filters() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let scores: Vec<f32> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 1_000_000) as f32 / 1e6
            })
            .collect();
        let every_third = |ord: u32| ord.is_multiple_of(3);
        let rare = |ord: u32| ord.is_multiple_of(5000);
        let all = |_: u32| true;
        for (accept, name) in [(&all as &dyn Fn(u32) -> bool, "all"), (&every_third, "a third"), (&rare, "rare")] {
            for k in [1, 10, 200, 1000] {
                let mut want: Vec<(u32, f32)> =
                    scores.iter().enumerate().map(|(o, s)| (o as u32, *s)).filter(|(o, _)| accept(*o)).collect();
                want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                want.truncate(k);
                assert_eq!(best_accepted(&scores, k, accept), want, "{name}, k {k}");
            }
        }
    }
}
