//! The scan pipeline: walk → read, hash and chunk (in parallel) → embed what the cache lacks
//! (batched, concurrent) → stage in the store → commit.
//!
//! Files are processed in windows so that memory holds one window of source at a time; the
//! store holds the index.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use rayon::prelude::*;
use serde::Serialize;
use tracing::Instrument;

use super::chunk::Chunker;
use super::git_tree::{self, GitTree};
use super::language::language_for;
use super::progress::{NoProgress, ScanObserver};
use super::walk::{self, Candidate, SkipReason, WalkOptions};
use crate::error::{Error, IngestError, ProviderError, Result};
use crate::lexical::TextTerms;
use crate::model::{Chunk, ContentHash, EmbeddedChunk, Embedding, FileRecord, FileUpdate};
use crate::provider::EmbeddingProvider;
use crate::store::{CacheNamespace, IndexMetadata, IndexStore, StoreStats};

/// Files read, chunked and embedded per window.
const WINDOW_FILES: usize = 512;

/// The first window's size; windows double up to [`WINDOW_FILES`], so embedding (and a
/// provider's server) starts after a few files are read rather than a whole window.
const FIRST_WINDOW_FILES: usize = 32;

/// What a scan did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ScanSummary {
    /// Files the walk found (indexed or not).
    pub files_seen: u64,
    /// Files (re)indexed by this scan: new or changed.
    pub files_indexed: u64,
    /// Files unchanged since the last scan.
    pub files_unchanged: u64,
    /// Files removed from the index (deleted, or now skipped).
    pub files_deleted: u64,
    /// Files skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Chunks of the files indexed by this scan.
    pub chunks: u64,
    /// Bytes of source read and indexed by this scan.
    pub bytes: u64,
    /// Chunks whose embedding came from the cache.
    pub cache_hits: u64,
    /// Chunks that had to be embedded.
    pub cache_misses: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// The committed index's counts.
    pub index: StoreStats,
    /// With `--incremental --base-ref`: the files that differ from the base ref.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<super::changes::FileChange>>,
}

impl ScanSummary {
    /// Indexed source throughput of this scan, MB/s.
    pub fn mb_per_second(&self) -> f64 {
        if self.seconds > 0.0 { self.bytes as f64 / 1e6 / self.seconds } else { 0.0 }
    }
}

/// What a scan reads.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A directory on disk (a working tree), walked gitignore-aware.
    Dir(std::path::PathBuf),
    /// A tree in a git repository's object database (no checkout).
    Git(GitTree),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Dir(p) => write!(f, "{}", p.display()),
            Source::Git(t) => write!(
                f,
                "{}@{}{}",
                t.repo.display(),
                t.rev,
                t.subdir.as_deref().map(|s| format!(":{s}")).unwrap_or_default()
            ),
        }
    }
}

/// Runs scans: owns batching and concurrency; the traits only advertise their limits.
#[derive(Debug, Clone)]
pub struct Scanner {
    embedder: Arc<dyn EmbeddingProvider>,
    store: Arc<dyn IndexStore>,
    chunker: Arc<dyn Chunker>,
    walk: WalkOptions,
    batch_size: usize,
    concurrency: usize,
    rebuild: bool,
    observer: Arc<dyn ScanObserver>,
    skip_warnings: bool,
    history: Option<Arc<HashMap<String, String>>>,
    only: Option<Arc<HashSet<String>>>,
    /// Whether a scan that changed nothing still publishes a generation (its metadata).
    publish_unchanged: bool,
}

/// A window of files read, hashed and chunked, on its way to embedding.
struct Window {
    files: u64,
    bytes: u64,
    work: Vec<FileWork>,
}

/// The outcome of reading one file.
enum FileWork {
    Unchanged(String),
    Touched(FileRecord),
    /// A new or changed file: its chunks, and each chunk's tokens counted (for the lexical
    /// index and a provider that embeds from tokens).
    Changed(FileRecord, Vec<Chunk>, Vec<Arc<TextTerms>>),
    Skipped(String, SkipReason),
}

impl Scanner {
    /// A scanner with the provider's own batch and concurrency limits.
    pub fn new(
        embedder: Arc<dyn EmbeddingProvider>,
        store: Arc<dyn IndexStore>,
        chunker: Arc<dyn Chunker>,
        walk: WalkOptions,
    ) -> Self {
        Scanner {
            rebuild: false,
            observer: Arc::new(NoProgress),
            skip_warnings: true,
            history: None,
            only: None,
            publish_unchanged: true,
            batch_size: embedder.max_batch_size().max(1),
            concurrency: embedder.max_concurrency().max(1),
            embedder,
            store,
            chunker,
            walk,
        }
    }

    /// Caps texts per embedding request.
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Rebuilds the index from scratch (published only when complete), whatever settings the
    /// old one had. Cached embeddings of the same model are still reused.
    pub fn with_rebuild(mut self, rebuild: bool) -> Self {
        self.rebuild = rebuild;
        self
    }

    /// Whether skipped files are logged as warnings (default) or at debug level (e.g. when an
    /// evaluation scans the same tree many times).
    pub fn with_skip_warnings(mut self, yes: bool) -> Self {
        self.skip_warnings = yes;
        self
    }

    /// Indexes each file's history text (its past commit messages) as a searchable field.
    pub fn with_history(mut self, history: Option<Arc<HashMap<String, String>>>) -> Self {
        self.history = history;
        self
    }

    /// Limits the work to these paths (an incremental scan against a base ref, `scan --only`,
    /// `watch`): other indexed files are kept as they are, listed paths that no longer exist
    /// leave the index.
    pub fn with_only(mut self, paths: Option<Arc<HashSet<String>>>) -> Self {
        self.only = paths;
        self
    }

    /// Whether a scan that changed nothing publishes a generation anyway, with its metadata
    /// (`last_scan`, the commit): yes by default; `watch` and `scan --only` say no, so that
    /// events that change nothing indexed (a build in an ignored directory) publish nothing.
    pub fn with_publish_unchanged(mut self, yes: bool) -> Self {
        self.publish_unchanged = yes;
        self
    }

    /// Reports progress to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn ScanObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// Caps embedding requests in flight.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Scans `root` into the store and commits, with `meta` as the new metadata.
    ///
    /// # Errors
    /// A store or provider failure; nothing is committed then, and the previous index stays.
    pub async fn scan(&self, root: &Path, meta: IndexMetadata) -> Result<ScanSummary> {
        self.scan_source(&Source::Dir(root.to_path_buf()), meta).await
    }

    /// Scans a [`Source`] (a directory, or a tree in git's object database) and commits.
    ///
    /// # Errors
    /// As [`Scanner::scan`], plus git errors for a git source.
    pub async fn scan_source(&self, source: &Source, meta: IndexMetadata) -> Result<ScanSummary> {
        let model = self.embedder.model();
        let span = tracing::info_span!("scan", provider = %model.provider, model = %model.name);
        let result = self.scan_inner(source, meta).instrument(span).await;
        self.observer.finished();
        result
    }

    async fn scan_inner(&self, source: &Source, mut meta: IndexMetadata) -> Result<ScanSummary> {
        let started = Instant::now();
        tracing::info!(event = "scan.started", root = %source, rebuild = self.rebuild);
        if self.rebuild {
            self.store.clear().await?;
        }
        self.store.setup(&meta).await?;
        if let Some(old) = self.store.metadata().await?.filter(|_| !self.rebuild) {
            meta.created_at = old.created_at;
        }
        // A directory's walk starts now and runs while the store reads the file table (it
        // needs no records); a git tree's listing needs them.
        let walk_options = self.walk.clone().with_only(self.only.clone());
        let span = tracing::Span::current();
        let walk_dir = match source {
            Source::Dir(root) => {
                let (root, walk_options, span) = (root.clone(), walk_options.clone(), span.clone());
                Some(tokio::task::spawn_blocking(move || span.in_scope(|| walk::walk(&root, &walk_options))))
            }
            Source::Git(_) => None,
        };
        // With a list of files, only their records and only the directories on their way:
        // the scan costs what they cost, whatever the size of the tree.
        let records = match &self.only {
            Some(only) => self.store.files_at(&only.iter().cloned().collect::<Vec<_>>()).await?,
            None => self.store.files().await?,
        };
        let known: HashMap<String, FileRecord> = records.into_iter().map(|r| (r.path.clone(), r)).collect();
        let known = Arc::new(known);
        let known_for_deleted = known.clone();
        let walked = match walk_dir {
            Some(task) => task.await,
            None => {
                let (source, known) = (source.clone(), known.clone());
                tokio::task::spawn_blocking(move || {
                    span.in_scope(|| match &source {
                        Source::Git(tree) => git_tree::list(tree, &walk_options, &known),
                        Source::Dir(root) => walk::walk(root, &walk_options),
                    })
                })
                .await
            }
        }
        .map_err(|e| IngestError::Git(format!("walk task failed: {e}")))??;

        let mut walked = walked;
        let mut seen: HashSet<String> = HashSet::with_capacity(walked.files.len());
        if let Some(only) = &self.only {
            // Everything indexed outside the work list stays as it is (a git tree is listed
            // whole).
            walked.files.retain(|c| walk::covers(only, &c.rel));
            walked.skipped.retain(|(p, _)| walk::covers(only, p));
        }
        let mut summary =
            ScanSummary { files_seen: (walked.files.len() + walked.skipped.len()) as u64, ..Default::default() };
        let mut skip_examples = SkipExamples::default();
        for (path, reason) in &walked.skipped {
            *summary.skipped.entry(reason.as_str().to_string()).or_default() += 1;
            skip_examples.add(*reason, path);
        }
        let namespace = CacheNamespace::new(
            &self.embedder.model().provider,
            &self.embedder.model().name,
            self.embedder.dimensions(),
        );
        let chunker = self.chunker.clone();
        self.observer.walked(walked.files.len() as u64, walked.files.iter().map(|c| c.size).sum());
        // Streaming: a blocking producer reads, hashes and chunks window after window (on
        // rayon's threads) while this task embeds and stages the previous one; the channel
        // holds at most one finished window, so memory holds at most three windows of source.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Window>(1);
        let files = walked.files;
        let span = tracing::Span::current();
        let producer = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut files = files.into_iter().peekable();
            let mut size = FIRST_WINDOW_FILES;
            while files.peek().is_some() {
                let window: Vec<Candidate> = files.by_ref().take(size).collect();
                size = (size * 2).min(WINDOW_FILES);
                let (count, bytes) = (window.len() as u64, window.iter().map(|c| c.size).sum::<u64>());
                let work = window.into_par_iter().map(|c| read_file(c, &known, chunker.as_ref())).collect();
                if tx.blocking_send(Window { files: count, bytes, work }).is_err() {
                    // The consumer stopped (an error): no more reading.
                    break;
                }
            }
        });
        // Whether anything was staged (see `with_publish_unchanged`).
        let mut staged = false;
        while let Some(window) = rx.recv().await {
            let chunks_before = summary.chunks;
            staged |= self.apply_window(window.work, &namespace, &mut summary, &mut seen, &mut skip_examples).await?;
            self.observer.processed(window.files, window.bytes, summary.chunks - chunks_before);
        }
        producer.await.map_err(|e| IngestError::Git(format!("read task failed: {e}")))?;
        let known = known_for_deleted;
        let deleted: Vec<String> = known.keys().filter(|p| !seen.contains(*p)).cloned().collect();
        if !deleted.is_empty() {
            self.store.delete(&deleted).await?;
            staged = true;
        }
        summary.files_deleted = deleted.len() as u64;
        // One warning per reason, naming a few files; each file is an info event (`-v`).
        for (reason, n) in &summary.skipped {
            let examples = skip_examples.describe(reason, *n);
            if self.skip_warnings {
                tracing::warn!(event = "scan.skipped", reason = %reason, files = n, "skipped {n} {}: {reason} ({examples})", plural(*n));
            } else {
                tracing::debug!(event = "scan.skipped", reason = %reason, files = n, "skipped {n} {}: {reason} ({examples})", plural(*n));
            }
        }
        summary.seconds = started.elapsed().as_secs_f64();
        meta.updated_at = crate::store::meta::now_rfc3339();
        meta.extra.insert(
            "last_scan".into(),
            serde_json::json!({
                "finished_at": meta.updated_at,
                "seconds": summary.seconds,
                "files_indexed": summary.files_indexed,
                "files_unchanged": summary.files_unchanged,
                "files_deleted": summary.files_deleted,
                "skipped": summary.skipped,
                "chunks": summary.chunks,
                "bytes": summary.bytes,
                "cache_hits": summary.cache_hits,
                "cache_misses": summary.cache_misses,
                "mb_per_s": summary.mb_per_second(),
            }),
        );
        if !self.publish_unchanged && !staged {
            summary.index = self.store.stats().await?;
            tracing::info!(
                event = "scan.finished",
                files_seen = summary.files_seen,
                files_unchanged = summary.files_unchanged,
                latency_ms = (summary.seconds * 1e6).round() / 1e3,
                generation = summary.index.generation,
                "nothing changed: nothing published"
            );
            return Ok(summary);
        }
        self.observer.committing();
        let commit_started = Instant::now();
        summary.index = self.store.commit(&meta).await?;
        tracing::info!(
            event = "store.commit",
            generation = summary.index.generation,
            chunks = summary.index.chunks,
            latency_ms = crate::telemetry::elapsed_ms(commit_started),
        );
        summary.seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            event = "scan.finished",
            files_seen = summary.files_seen,
            files_indexed = summary.files_indexed,
            files_unchanged = summary.files_unchanged,
            files_deleted = summary.files_deleted,
            chunks = summary.chunks,
            bytes = summary.bytes,
            cache_hits = summary.cache_hits,
            cache_misses = summary.cache_misses,
            skipped = %serde_json::to_string(&summary.skipped).unwrap_or_default(),
            latency_ms = (summary.seconds * 1e6).round() / 1e3,
            mb_per_s = summary.mb_per_second(),
            generation = summary.index.generation,
        );
        Ok(summary)
    }

    async fn apply_window(
        &self,
        work: Vec<FileWork>,
        namespace: &CacheNamespace,
        summary: &mut ScanSummary,
        seen: &mut HashSet<String>,
        skip_examples: &mut SkipExamples,
    ) -> Result<bool> {
        let mut touched = Vec::new();
        let mut changed = Vec::new();
        for w in work {
            match w {
                FileWork::Unchanged(path) => {
                    summary.files_unchanged += 1;
                    seen.insert(path);
                }
                FileWork::Touched(r) => {
                    summary.files_unchanged += 1;
                    seen.insert(r.path.clone());
                    touched.push(r);
                }
                FileWork::Changed(r, chunks, terms) => {
                    seen.insert(r.path.clone());
                    changed.push((r, chunks, terms));
                }
                FileWork::Skipped(path, reason) => {
                    if self.skip_warnings {
                        tracing::info!(event = "scan.skip", path = %path, reason = reason.as_str(), "skipping {path}: {}", reason.as_str());
                    } else {
                        tracing::debug!(event = "scan.skip", path = %path, reason = reason.as_str(), "skipping {path}: {}", reason.as_str());
                    }
                    *summary.skipped.entry(reason.as_str().to_string()).or_default() += 1;
                    skip_examples.add(reason, &path);
                }
            }
        }
        let touched_any = !touched.is_empty();
        if touched_any {
            self.store.touch(touched).await?;
        }
        if changed.is_empty() {
            return Ok(touched_any);
        }
        // Distinct chunk texts that need a vector, with their counted tokens.
        let mut texts: HashMap<ContentHash, (&str, &Arc<TextTerms>)> = HashMap::new();
        // How many chunks share each text: the last one takes the vector, the others copy it.
        let mut uses: HashMap<ContentHash, u32> = HashMap::new();
        for (_, chunks, terms) in &changed {
            for (c, t) in chunks.iter().zip(terms) {
                texts.entry(c.hash).or_insert((&c.text, t));
                *uses.entry(c.hash).or_default() += 1;
            }
        }
        let hashes: Vec<ContentHash> = texts.keys().copied().collect();
        let cached = self.store.cached_embeddings(namespace, &hashes).await?;
        let mut vectors: HashMap<ContentHash, Embedding> = HashMap::with_capacity(hashes.len());
        let mut missing: Vec<ContentHash> = Vec::new();
        let mut missing_texts: Vec<String> = Vec::new();
        let mut missing_terms: Vec<Arc<TextTerms>> = Vec::new();
        for (h, v) in hashes.iter().zip(cached) {
            match v {
                Some(v) if v.len() == self.embedder.dimensions() => {
                    vectors.insert(*h, v);
                }
                _ => {
                    let (text, terms) = texts[h];
                    missing.push(*h);
                    missing_texts.push(text.to_string());
                    missing_terms.push(terms.clone());
                }
            }
        }
        // Each batch is cached as it arrives: an outage or interruption later in the window
        // keeps what was already paid for.
        let embedded = self.embed_all(&missing, missing_texts, missing_terms, namespace).await?;
        vectors.extend(missing.iter().copied().zip(embedded));
        let mut updates = Vec::with_capacity(changed.len());
        for (record, chunks, terms) in changed {
            summary.files_indexed += 1;
            summary.bytes += record.size;
            summary.chunks += chunks.len() as u64;
            let mut embedded = Vec::with_capacity(chunks.len());
            for (c, terms) in chunks.into_iter().zip(terms) {
                let left = uses.get_mut(&c.hash).map(|n| {
                    *n -= 1;
                    *n
                });
                let v = if left == Some(0) { vectors.remove(&c.hash) } else { vectors.get(&c.hash).cloned() };
                let v = v.ok_or_else(|| {
                    Error::Provider(ProviderError::Permanent {
                        provider: self.embedder.model().provider.clone(),
                        message: "no vector returned for a chunk".into(),
                    })
                })?;
                embedded.push(EmbeddedChunk::new(c, v).with_terms(Some(terms)));
            }
            let history = self.history.as_ref().and_then(|h| h.get(&record.path).cloned());
            updates.push(FileUpdate::new(record, embedded).with_history(history));
        }
        // Count hits per chunk occurrence, misses per distinct text embedded.
        summary.cache_misses += missing.len() as u64;
        summary.cache_hits +=
            updates.iter().map(|u| u.chunks.len() as u64).sum::<u64>().saturating_sub(missing.len() as u64);
        let max = self.store.max_batch_size().max(1);
        let mut updates = updates.into_iter().peekable();
        while updates.peek().is_some() {
            let batch: Vec<FileUpdate> = updates.by_ref().take(max).collect();
            let (files, chunks) = (batch.len(), batch.iter().map(|u| u.chunks.len()).sum::<usize>());
            let started = Instant::now();
            self.store.upsert(batch).await?;
            tracing::debug!(event = "store.upsert", files, chunks, latency_ms = crate::telemetry::elapsed_ms(started),);
        }
        Ok(true)
    }

    /// Embeds texts in batches with bounded concurrency, caching each batch's vectors (keyed
    /// by `hashes`, one per text) as soon as it is checked, unless the provider is cheaper to
    /// run again than the cache (then the vectors live only in the index); output order =
    /// input order.
    async fn embed_all(
        &self,
        hashes: &[ContentHash],
        texts: Vec<String>,
        terms: Vec<Arc<TextTerms>>,
        namespace: &CacheNamespace,
    ) -> Result<Vec<Embedding>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let total = texts.len();
        let mut batches: Vec<(Vec<String>, Vec<Arc<TextTerms>>)> = Vec::with_capacity(total.div_ceil(self.batch_size));
        let mut texts = texts.into_iter().peekable();
        let mut terms = terms.into_iter();
        while texts.peek().is_some() {
            let batch: Vec<String> = texts.by_ref().take(self.batch_size).collect();
            let batch_terms = terms.by_ref().take(batch.len()).collect();
            batches.push((batch, batch_terms));
        }
        let dims = self.embedder.dimensions();
        let provider = self.embedder.model().provider.clone();
        let mut results = stream::iter(batches)
            .map(|(batch, batch_terms)| {
                let embedder = self.embedder.clone();
                async move {
                    let n = batch.len();
                    let started = Instant::now();
                    let out = tokio::spawn(crate::telemetry::propagate_request_id(async move {
                        embedder.embed_analyzed(&batch, &batch_terms).await
                    }))
                    .await
                    .map_err(|e| ProviderError::Permanent {
                        provider: "embedding".into(),
                        message: format!("embedding task failed: {e}"),
                    })??;
                    tracing::info!(
                        event = "embed.batch",
                        path = "ingest",
                        batch_size = n,
                        latency_ms = crate::telemetry::elapsed_ms(started),
                    );
                    Ok::<_, ProviderError>((n, out))
                }
            })
            .buffered(self.concurrency);
        let mut out: Vec<Embedding> = Vec::with_capacity(total);
        while let Some(result) = results.next().await {
            let (asked, vectors) = result?;
            if vectors.len() != asked {
                return Err(ProviderError::Permanent {
                    provider,
                    message: format!("returned {} vectors for {asked} texts", vectors.len()),
                }
                .into());
            }
            if let Some(bad) = vectors.iter().find(|v| v.len() != dims || v.iter().any(|x| !x.is_finite())) {
                return Err(ProviderError::Permanent {
                    provider,
                    message: format!(
                        "returned a malformed vector ({} values, {dims} expected, or not finite)",
                        bad.len()
                    ),
                }
                .into());
            }
            if !self.embedder.cheap_to_recompute() {
                let keys = &hashes[out.len()..out.len() + asked];
                self.store
                    .cache_embeddings(namespace, keys.iter().copied().zip(vectors.iter().cloned()).collect())
                    .await?;
            }
            out.extend(vectors);
        }
        Ok(out)
    }
}

/// A few skipped paths per reason, for the warning that sums them up.
#[derive(Debug, Default)]
struct SkipExamples(BTreeMap<&'static str, Vec<String>>);

impl SkipExamples {
    const SHOWN: usize = 3;

    fn add(&mut self, reason: SkipReason, path: &str) {
        let list = self.0.entry(reason.as_str()).or_default();
        if list.len() < Self::SHOWN {
            list.push(path.to_string());
        }
    }

    /// `a.png, b.jpg, c.gif and 4 more: -v lists them`.
    fn describe(&self, reason: &str, total: u64) -> String {
        let shown = self.0.get(reason).map(Vec::as_slice).unwrap_or_default();
        let mut out = shown.join(", ");
        let more = total.saturating_sub(shown.len() as u64);
        if more > 0 {
            out.push_str(&format!(" and {more} more: -v lists them"));
        }
        out
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "file" } else { "files" }
}

fn read_file(c: Candidate, known: &HashMap<String, FileRecord>, chunker: &dyn Chunker) -> FileWork {
    let previous = known.get(&c.rel);
    if let Some(prev) = previous
        && prev.size == c.size
        && prev.mtime_ns == c.mtime_ns
        && c.mtime_ns != 0
    {
        return FileWork::Unchanged(c.rel);
    }
    // Files are read into one buffer per thread (chunks copy what they keep): a scan does
    // not allocate, fault in and free a buffer per file.
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with_borrow_mut(|buffer| {
        let bytes = match &c.data {
            Some(bytes) => bytes.as_slice(),
            None => {
                buffer.clear();
                match read_unless_binary(&c.abs, buffer) {
                    Ok(true) => buffer.as_slice(),
                    Ok(false) => return FileWork::Skipped(c.rel, SkipReason::Binary),
                    Err(_) => return FileWork::Skipped(c.rel, SkipReason::Unreadable),
                }
            }
        };
        match walk::check_source(bytes) {
            Ok(text) => chunk_file(&c, previous, text, chunker),
            Err(reason) => FileWork::Skipped(c.rel, reason),
        }
    })
}

/// Reads a file into `buffer`, unless its first bytes show it is binary (as
/// [`walk::check_source`] decides): then `false`, and the rest is never read (images and
/// archives are read again at every scan, having no record).
fn read_unless_binary(path: &std::path::Path, buffer: &mut Vec<u8>) -> std::io::Result<bool> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    (&mut file).take(walk::BINARY_SNIFF_BYTES as u64).read_to_end(buffer)?;
    if walk::looks_binary(buffer) {
        return Ok(false);
    }
    file.read_to_end(buffer)?;
    Ok(true)
}

/// The work for a file read as `text`.
fn chunk_file(c: &Candidate, previous: Option<&FileRecord>, text: &str, chunker: &dyn Chunker) -> FileWork {
    let hash = ContentHash::of(text.as_bytes());
    let chunks_of = |n: usize| FileRecord::new(c.rel.clone(), c.size, c.mtime_ns, hash, n as u32);
    if let Some(prev) = previous
        && prev.hash == hash
    {
        return FileWork::Touched(chunks_of(prev.chunks as usize));
    }
    let chunks = chunker.chunk(&c.rel, language_for(&c.rel), text);
    let terms = chunks.iter().map(|c| Arc::new(crate::lexical::analyze(&c.text))).collect();
    FileWork::Changed(chunks_of(chunks.len()), chunks, terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_file_is_not_read_past_its_first_bytes_and_a_text_file_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut buffer = Vec::new();
        // A NUL at the start: binary, and only the sniffed bytes were read.
        let mut image = vec![0x89, b'P', b'N', b'G', 0];
        image.resize(1 << 20, 7);
        std::fs::write(dir.path().join("a.png"), &image).unwrap();
        assert!(!read_unless_binary(&dir.path().join("a.png"), &mut buffer).unwrap());
        assert_eq!(buffer.len(), walk::BINARY_SNIFF_BYTES);
        // Longer than the sniff, no NUL there: read to the end.
        let text = "fn main() {}\n".repeat(2000);
        std::fs::write(dir.path().join("main.rs"), &text).unwrap();
        buffer.clear();
        assert!(read_unless_binary(&dir.path().join("main.rs"), &mut buffer).unwrap());
        assert_eq!(buffer, text.as_bytes());
        // A NUL only past the sniffed bytes: not binary (as `check_source` decides).
        let late = format!("{}\0tail", "x".repeat(walk::BINARY_SNIFF_BYTES));
        std::fs::write(dir.path().join("late.txt"), &late).unwrap();
        buffer.clear();
        assert!(read_unless_binary(&dir.path().join("late.txt"), &mut buffer).unwrap());
        assert_eq!(walk::check_source(&buffer).map(str::len), Ok(late.len()));
        assert!(read_unless_binary(&dir.path().join("missing"), &mut buffer).is_err());
    }
}
