//! [`Index`]: one repository's index, built from config — what the CLI composes, and what a
//! program embedding ragops uses.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::config::{Config, ConfigOrigin, find_config};
use crate::error::{Error, Result, StoreError};
use crate::ingest::code_chunk::CodeChunker;
use crate::ingest::{Chunker, ScanObserver, ScanSummary, Scanner, WalkOptions};
use crate::model::Hit;
use crate::provider::{EmbeddingProvider, Registry, registry::StoreLocation};
use crate::repo::RepoRoot;
use crate::retrieve::{FileHit, Retriever, RetrieverKind};
use crate::store::{Filter, IndexMetadata, IndexStore, OpenMode, StoreStats};

/// The default index directory name, under the repository root.
pub const DEFAULT_INDEX_DIR: &str = ".ragops";

/// Builds an [`Index`].
#[derive(Debug, Default)]
pub struct IndexBuilder {
    repo: Option<PathBuf>,
    index_dir: Option<PathBuf>,
    config_file: Option<PathBuf>,
    config: Option<Config>,
    trust_repo_config: bool,
    registry: Option<Registry>,
    use_env: bool,
}

impl IndexBuilder {
    /// The repository (any path inside it); default the current directory.
    pub fn repo(mut self, path: impl Into<PathBuf>) -> Self {
        self.repo = Some(path.into());
        self
    }

    /// The index directory; default `<root>/.ragops` or the config's `index.dir`.
    pub fn index_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.index_dir = dir;
        self
    }

    /// A config file to read instead of discovering one (like `--config`).
    pub fn config_file(mut self, path: Option<PathBuf>) -> Self {
        self.config_file = path;
        self
    }

    /// A ready configuration (no file is read).
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// Accept trusted-only settings from the repository's own `ragops.toml`.
    pub fn trust_repo_config(mut self, trust: bool) -> Self {
        self.trust_repo_config = trust;
        self
    }

    /// The provider and store registry; default [`Registry::with_builtins`].
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Let `RAGOPS_*` environment variables override the config file.
    pub fn with_env(mut self, yes: bool) -> Self {
        self.use_env = yes;
        self
    }

    /// Resolves the repository root, reads the config and prepares the index location.
    ///
    /// # Errors
    /// A path that does not exist or cannot be read, or an invalid config.
    pub fn build(self) -> Result<Index> {
        let repo = self.repo.unwrap_or_else(|| PathBuf::from("."));
        let root = RepoRoot::discover(&repo)?;
        let env = |k: &str| std::env::var(k).ok();
        let no_env = |_: &str| None;
        let env: &dyn Fn(&str) -> Option<String> = if self.use_env { &env } else { &no_env };
        let config = match self.config {
            Some(c) => c,
            None => match find_config(self.config_file.as_deref(), &root.root) {
                Some((path, origin)) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|source| crate::error::ConfigError::Read { path: path.clone(), source })?;
                    Config::from_toml(&text, Some(&path), origin, self.trust_repo_config, env)?
                }
                None => Config::defaults_with_env(env),
            },
        };
        // `--index DIR` is relative to the working directory, like any command-line path;
        // `index.dir` in a config file is relative to the repository root.
        let index_dir = match (self.index_dir, config.index_dir.clone()) {
            (Some(d), _) if d.is_absolute() => d,
            (Some(d), _) => std::env::current_dir().map(|c| c.join(&d)).unwrap_or(d),
            (None, Some(d)) => root.root.join(d),
            (None, None) => root.root.join(DEFAULT_INDEX_DIR),
        };
        let collection = config.index_name.clone().unwrap_or_else(|| root.default_collection());
        let mut registry = self.registry.unwrap_or_else(Registry::with_builtins);
        load_plugins(&config.plugins, &mut registry)?;
        Ok(Index { root, index_dir, collection, config, registry })
    }
}

/// Loads the configured dynamic plugins into the registry.
#[cfg(feature = "dylib")]
fn load_plugins(plugins: &[PathBuf], registry: &mut Registry) -> Result<()> {
    for path in plugins {
        let loaded = crate::plugin::dylib::load(path, registry)?;
        tracing::info!(
            event = "plugin.loaded",
            path = %loaded.path.display(),
            embedders = ?loaded.embedders,
            llms = ?loaded.llms,
        );
    }
    Ok(())
}

/// Without the `dylib` feature a configured plugin is an error, not silently ignored.
#[cfg(not(feature = "dylib"))]
fn load_plugins(plugins: &[PathBuf], _registry: &mut Registry) -> Result<()> {
    match plugins.first() {
        Some(path) => Err(Error::Config(crate::error::ConfigError::Plugin {
            path: path.clone(),
            message: "this build of ragops cannot load plugins (built without the `dylib` feature)".into(),
        })),
        None => Ok(()),
    }
}

/// A repository and its index, with the configured providers.
#[derive(Debug)]
pub struct Index {
    root: RepoRoot,
    index_dir: PathBuf,
    collection: String,
    config: Config,
    registry: Registry,
}

/// How a scan runs.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ScanOptions {
    /// Build the index anew (published only when complete), e.g. after a settings change or
    /// damage.
    pub rebuild: bool,
    /// Receives progress.
    pub observer: Option<Arc<dyn ScanObserver>>,
    /// Limit the work to the files that differ from this git ref, and report them.
    pub base_ref: Option<String>,
    /// Wait this long for another scan holding the index to finish (`None`: refuse at once).
    pub wait: Option<std::time::Duration>,
    /// Only these files, changed, added or deleted (relative to the repository's root, or
    /// absolute inside it): what an editor, a git hook or a file watcher knows changed. The
    /// scan reads only them and the directories on their way, so it costs what they cost,
    /// whatever the size of the tree; other indexed files stay as they are, and when none of
    /// them changed nothing is published. With no index yet, the whole tree is scanned.
    pub paths: Option<Vec<PathBuf>>,
}

impl ScanOptions {
    /// Sets `rebuild`.
    pub fn rebuild(mut self, yes: bool) -> Self {
        self.rebuild = yes;
        self
    }

    /// Reports progress to `observer`.
    pub fn observer(mut self, observer: Arc<dyn ScanObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Limits the scan to the files that differ from `base_ref` (an incremental scan); with no
    /// index yet the whole tree is scanned, and the changes are reported either way.
    pub fn base_ref(mut self, base_ref: Option<String>) -> Self {
        self.base_ref = base_ref;
        self
    }

    /// Waits up to `wait` for another writer instead of refusing at once.
    pub fn wait(mut self, wait: Option<std::time::Duration>) -> Self {
        self.wait = wait;
        self
    }

    /// Limits the scan to these files (see [`ScanOptions::paths`]).
    pub fn paths(mut self, paths: Option<Vec<PathBuf>>) -> Self {
        self.paths = paths;
        self
    }
}

/// A path given to a scan as the repository-relative, `/`-separated path the index uses.
fn repository_path(root: &Path, path: &Path) -> Result<String> {
    let outside = || {
        Error::Config(crate::error::ConfigError::Path {
            path: path.to_path_buf(),
            message: format!("not a path inside the repository {}", root.display()),
        })
    };
    let rel = if path.is_absolute() {
        let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        path.strip_prefix(root).or_else(|_| path.strip_prefix(&canonical_root)).map_err(|_| outside())?
    } else {
        path
    };
    let mut parts = Vec::new();
    for component in rel.components() {
        match component {
            std::path::Component::Normal(part) => parts.push(part.to_str().ok_or_else(outside)?),
            std::path::Component::CurDir => {}
            _ => return Err(outside()),
        }
    }
    if parts.is_empty() {
        return Err(outside());
    }
    Ok(parts.join("/"))
}

/// What `ragops status` reports.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Status {
    /// The metadata (the frozen keys at the top level).
    #[serde(flatten)]
    pub metadata: IndexMetadata,
    /// Counts.
    #[serde(flatten)]
    pub stats: StoreStats,
    /// The index directory.
    pub index_dir: PathBuf,
    /// The repository root.
    pub root: PathBuf,
    /// The repository's HEAD now, if any.
    pub head_commit: Option<String>,
    /// Whether HEAD moved since the scan.
    pub stale: bool,
}

impl Index {
    /// Starts building an index handle.
    pub fn builder() -> IndexBuilder {
        IndexBuilder::default()
    }

    /// The repository root.
    pub fn root(&self) -> &Path {
        &self.root.root
    }

    /// The git directory, if the repository has one (bare repositories included).
    pub fn git_dir(&self) -> Option<&Path> {
        self.root.git_dir.as_deref()
    }

    /// The index directory.
    pub fn index_dir(&self) -> &Path {
        &self.index_dir
    }

    /// The collection name (for logs).
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the configuration came from.
    pub fn config_origin(&self) -> ConfigOrigin {
        self.config.origin
    }

    /// The configured embedding provider.
    ///
    /// # Errors
    /// An unknown provider or a factory error.
    pub fn embedder(&self) -> Result<Arc<dyn EmbeddingProvider>> {
        self.registry.embedder(&self.config.embedding)
    }

    /// The configured chunker: by code structure where a grammar exists, by lines otherwise.
    pub fn chunker(&self) -> Arc<dyn Chunker> {
        Arc::new(CodeChunker::new(&self.config.chunking))
    }

    /// Opens the configured store.
    ///
    /// # Errors
    /// The store's errors ([`StoreError::NotFound`], [`StoreError::Busy`], ...).
    pub fn open_store(&self, mode: OpenMode) -> Result<Arc<dyn IndexStore>> {
        self.open_store_at(&self.index_dir, mode)
    }

    /// Opens the configured store in another directory (e.g. an evaluation index).
    ///
    /// # Errors
    /// As [`Index::open_store`].
    pub fn open_store_at(&self, dir: &Path, mode: OpenMode) -> Result<Arc<dyn IndexStore>> {
        self.open_store_waiting(dir, mode, None)
    }

    fn open_store_waiting(
        &self,
        dir: &Path,
        mode: OpenMode,
        wait: Option<std::time::Duration>,
    ) -> Result<Arc<dyn IndexStore>> {
        let location = StoreLocation::new(dir.to_path_buf(), self.collection.clone(), mode).with_wait(wait);
        self.registry.store(&self.config.store, &location)
    }

    /// The metadata a scan with the current config writes.
    ///
    /// # Errors
    /// An unknown embedding provider.
    pub fn expected_metadata(&self, embedder: &dyn EmbeddingProvider) -> IndexMetadata {
        let mut m = IndexMetadata::new(
            self.collection.clone(),
            embedder.model().provider.clone(),
            embedder.model().name.clone(),
            embedder.dimensions() as u32,
            self.config.chunking.chunk_size,
            self.config.chunking.chunk_overlap,
        );
        m.repo_commit = self.root.head_commit();
        m
    }

    /// Scans the repository into the index and commits.
    ///
    /// # Errors
    /// The index is busy, was built with other settings, or a provider or store failed; the
    /// previous index stays usable.
    pub async fn scan(&self) -> Result<ScanSummary> {
        self.scan_with(&ScanOptions::default()).await
    }

    /// Scans with options (e.g. a rebuild).
    ///
    /// # Errors
    /// As [`Index::scan`].
    pub async fn scan_with(&self, options: &ScanOptions) -> Result<ScanSummary> {
        let embedder = self.embedder()?;
        let store = match self.open_store_waiting(&self.index_dir, OpenMode::Write, options.wait) {
            Err(Error::Store(StoreError::Corrupted { path, message })) if options.rebuild => {
                // A damaged index cannot be read to be replaced: remove it (only if it is ours).
                tracing::warn!(event = "scan.rebuild_damaged", path = %path.display(), "removing a damaged index: {message}");
                if self.index_dir.join(crate::store::hnsw::MARKER).is_file() {
                    std::fs::remove_dir_all(&self.index_dir).map_err(|e| StoreError::io(&self.index_dir, e))?;
                }
                self.open_store(OpenMode::Write)?
            }
            other => other?,
        };
        let meta = self.expected_metadata(embedder.as_ref());
        let chunker = self.chunker();
        let walk = WalkOptions::new(&self.config.scan, Some(self.index_dir.clone()));
        let mut scanner = Scanner::new(embedder, store.clone(), chunker, walk).with_rebuild(options.rebuild);
        if let (true, Some(git_dir)) = (self.config.scan.history, self.root.git_dir.as_ref()) {
            let repo = crate::ingest::git_tree::open_repo(git_dir)?;
            let log = crate::ingest::history::commit_log(&repo, "HEAD", crate::ingest::history::DEFAULT_MAX_COMMITS)?;
            let histories =
                crate::ingest::history::file_histories(&log, None, crate::ingest::history::DEFAULT_PER_FILE);
            scanner = scanner.with_history(Some(Arc::new(histories)));
        }
        if let Some(observer) = &options.observer {
            scanner = scanner.with_observer(observer.clone());
        }
        let changes = match &options.base_ref {
            Some(base_ref) => {
                if !self.root.is_git {
                    return Err(Error::Config(crate::error::ConfigError::Path {
                        path: self.root.root.clone(),
                        message: "--base-ref needs a git repository (this directory is not a git work tree)".into(),
                    }));
                }
                let changes = crate::ingest::changes::changes_against(&self.root.root, base_ref)?;
                if store.metadata().await?.is_some() && !options.rebuild {
                    let mut only: std::collections::HashSet<String> = changes.iter().map(|c| c.path.clone()).collect();
                    only.extend(changes.iter().filter_map(|c| c.old_path.clone()));
                    scanner = scanner.with_only(Some(Arc::new(only)));
                }
                Some(changes)
            }
            None => None,
        };
        if let Some(paths) = &options.paths {
            let only = paths.iter().map(|p| repository_path(&self.root.root, p)).collect::<Result<_>>()?;
            if store.metadata().await?.is_some() && !options.rebuild {
                scanner = scanner.with_only(Some(Arc::new(only))).with_publish_unchanged(false);
            }
        }
        if let Some(n) = self.config.embedding.batch_size {
            scanner = scanner.with_batch_size(n);
        }
        if let Some(n) = self.config.embedding.concurrency {
            scanner = scanner.with_concurrency(n);
        }
        let mut summary = scanner.scan(&self.root.root, meta).await?;
        if let Some(mut changes) = changes {
            let paths: Vec<String> = changes.iter().map(|c| c.path.clone()).collect();
            let chunks: std::collections::HashMap<String, u32> =
                store.files_at(&paths).await?.into_iter().map(|f| (f.path.clone(), f.chunks)).collect();
            for c in &mut changes {
                c.chunks = chunks.get(&c.path).copied().unwrap_or(0);
            }
            summary.changes = Some(changes);
        }
        Ok(summary)
    }

    /// A retriever over the committed index, checking that the index matches the config.
    ///
    /// # Errors
    /// No index, a corrupted one, or one built with another model.
    pub async fn retriever(&self, kind: RetrieverKind) -> Result<Retriever> {
        let embedder = self.embedder()?;
        let store = self.open_store(OpenMode::Read)?;
        let Some(meta) = store.metadata().await? else {
            return Err(StoreError::NotFound { path: self.index_dir.clone() }.into());
        };
        let differences = meta.differences(&self.expected_metadata(embedder.as_ref()));
        if !differences.is_empty() {
            return Err(Error::Store(StoreError::Mismatch {
                path: self.index_dir.clone(),
                differences: differences.join(", "),
            }));
        }
        Ok(Retriever::new(embedder, store).with_kind(kind).with_params(self.config.ranking))
    }

    /// The best chunks for a query.
    ///
    /// # Errors
    /// As [`Index::retriever`], or a provider/store failure.
    pub async fn search(&self, query: &str, limit: usize, filters: &[Filter]) -> Result<Vec<Hit>> {
        self.retriever(RetrieverKind::Hybrid).await?.search(query, limit, filters).await
    }

    /// The best files for a query.
    ///
    /// # Errors
    /// As [`Index::search`].
    pub async fn search_files(&self, query: &str, limit: usize, filters: &[Filter]) -> Result<Vec<FileHit>> {
        self.retriever(RetrieverKind::Hybrid).await?.search_files(query, limit, filters).await
    }

    /// The committed index's metadata and counts.
    ///
    /// # Errors
    /// No index, or a corrupted one.
    pub async fn status(&self) -> Result<Status> {
        let store = self.open_store(OpenMode::Read)?;
        let Some(metadata) = store.metadata().await? else {
            return Err(StoreError::NotFound { path: self.index_dir.clone() }.into());
        };
        let stats = store.stats().await?;
        let head_commit = self.root.head_commit();
        let stale = metadata.repo_commit.is_some() && head_commit != metadata.repo_commit;
        Ok(Status {
            metadata,
            stats,
            index_dir: self.index_dir.clone(),
            root: self.root.root.clone(),
            head_commit,
            stale,
        })
    }
}
