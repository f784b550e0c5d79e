//! Errors: one enum per seam, wrapped by the umbrella [`Error`].

use std::path::PathBuf;

/// A boxed backend cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of ragops-lib.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error ragops-lib returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Configuration could not be read or is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An embedding or language-model provider failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The index store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading the repository failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

impl Error {
    /// Whether the error comes from the user's input (bad config, bad path, bad arguments)
    /// rather than from a failure at run time. The CLI maps the first to exit code 2.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Config(_) | Error::Store(StoreError::NotAnIndex { .. }))
    }
}

/// Configuration errors. Each names the file and key at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The config file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("invalid config value `{key}`{origin}: {message}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// Where the value came from, e.g. " in /repo/ragops.toml".
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A provider or store name that no registered factory handles.
    #[error("unknown {kind} `{name}` (known: {known})")]
    UnknownComponent {
        /// "embedding provider", "llm provider" or "store".
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The registered names.
        known: String,
    },
    /// A setting that only trusted configuration may make.
    #[error(
        "refusing `{key}` from the repository's own config {path}: a repository's ragops.toml is untrusted (a pull request can change it); set it in --config or the user config file, or pass --trust-repo-config"
    )]
    Untrusted {
        /// The dotted key.
        key: String,
        /// The repository config file.
        path: PathBuf,
    },
    /// A dynamic plugin could not be loaded (missing file, not a library, no entry symbol,
    /// another ABI, ragops-lib or compiler version, or a build without plugin support).
    #[error("cannot load plugin {path}: {message}")]
    Plugin {
        /// The library file.
        path: PathBuf,
        /// What is wrong, naming both sides of a version mismatch.
        message: String,
    },
    /// A path given on the command line does not exist or cannot be read.
    #[error("{path}: {message}")]
    Path {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Provider errors, split by what a caller should do about them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// Worth retrying: rate limits, timeouts, 5xx, connection errors.
    #[error("{provider}: transient error: {message}")]
    Transient {
        /// The provider's name.
        provider: String,
        /// What happened (never a secret).
        message: String,
    },
    /// Retrying will not help: bad request, bad credentials, malformed response.
    #[error("{provider}: {message}")]
    Permanent {
        /// The provider's name.
        provider: String,
        /// What happened (never a secret).
        message: String,
    },
    /// The input is longer than the model accepts.
    #[error("{provider}: input exceeds the model's context length: {message}")]
    ContextLengthExceeded {
        /// The provider's name.
        provider: String,
        /// What happened.
        message: String,
    },
    /// The server refused the request's rate (HTTP 429) and kept refusing it after the retries.
    #[error("{provider}: rate limited: {message}")]
    RateLimited {
        /// The provider's name.
        provider: String,
        /// What happened (URL without secrets, status, attempts).
        message: String,
        /// How long the server asked to wait, if it said.
        retry_after: Option<std::time::Duration>,
    },
    /// The server refused the credentials (HTTP 401/403). The message never contains the key.
    #[error("{provider}: unauthorized: {message}")]
    Unauthorized {
        /// The provider's name.
        provider: String,
        /// What happened (URL without secrets, status, which variable the key came from).
        message: String,
    },
    /// The server answered, but not with what the protocol promises: invalid JSON, the wrong
    /// number of vectors, a wrong dimension, a non-finite value, an empty answer. Never stored.
    #[error("{provider}: malformed response: {message}")]
    MalformedResponse {
        /// The provider's name.
        provider: String,
        /// What was wrong.
        message: String,
    },
}

impl ProviderError {
    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient { .. } | ProviderError::RateLimited { .. })
    }

    /// Whether the input was too long for the model (shorten it rather than retry).
    pub fn is_context_length(&self) -> bool {
        matches!(self, ProviderError::ContextLengthExceeded { .. })
    }
}

/// Index store errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No index exists at the location.
    #[error("no index at {path}: run `ragops scan` first")]
    NotFound {
        /// The index directory.
        path: PathBuf,
    },
    /// The directory exists but is not a ragops index.
    #[error("{path} is not a ragops index (no {marker} inside); choose another --index directory")]
    NotAnIndex {
        /// The directory.
        path: PathBuf,
        /// The file ragops expected.
        marker: &'static str,
    },
    /// Another process holds the index for writing.
    #[error(
        "index {path} is busy: {holder} is writing it; wait for it to finish, or scan with `--wait[=SECS]` to queue behind it"
    )]
    Busy {
        /// The index directory.
        path: PathBuf,
        /// Who holds the writer lock (pid, host, start time), as far as known.
        holder: String,
    },
    /// The index was built with settings that differ from the current config.
    #[error(
        "the index at {path} was built with different settings ({differences}); run `ragops scan --rebuild` to rebuild it"
    )]
    Mismatch {
        /// The index directory.
        path: PathBuf,
        /// Each difference as `key: index value -> config value`.
        differences: String,
    },
    /// An index file is damaged or truncated.
    #[error("index {path} is corrupted ({message}); run `ragops scan --rebuild` to rebuild it")]
    Corrupted {
        /// The damaged file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A query or batch the store cannot accept.
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// An I/O error on an index file.
    #[error("index I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Any other backend failure.
    #[error("store backend error: {0}")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io { path: path.into(), source }
    }

    /// Wraps any backend error.
    pub fn backend(err: impl Into<BoxError>) -> Self {
        StoreError::Backend(err.into())
    }
}

/// Errors reading a repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// A path named by the user cannot be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A git operation failed.
    #[error("git: {0}")]
    Git(String),
    /// The scan was cancelled.
    #[error("scan cancelled")]
    Cancelled,
}
