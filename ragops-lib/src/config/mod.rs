//! Configuration: the TOML file ([`wire`]), validated once into a typed [`Config`], found by
//! [`discover`]. Precedence: command line > environment > file > defaults.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::ConfigError;
use crate::provider::{ProviderSettings, StoreSettings};
use crate::retrieve::RankingParams;

pub mod discover;
pub mod wire;

pub use discover::{ConfigOrigin, find_config};
pub use wire::ConfigFile;

/// Default lines per chunk.
pub const DEFAULT_CHUNK_SIZE: u32 = 40;
/// Default lines shared by consecutive chunks.
pub const DEFAULT_CHUNK_OVERLAP: u32 = 0;
/// Default cap on a chunk's bytes.
pub const DEFAULT_MAX_CHUNK_BYTES: u32 = 8 * 1024;
/// Default size above which a file is skipped.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1024 * 1024;
/// Default number of hits.
pub const DEFAULT_LIMIT: usize = 10;
/// Directory names whose contents are vendored code by default.
pub const DEFAULT_VENDORED_DIRS: &[&str] = &[
    "vendor",
    "vendored",
    "third_party",
    "third-party",
    "thirdparty",
    "node_modules",
    "bower_components",
    "site-packages",
    "Pods",
];
/// Provider-table keys that only trusted config may set (SPEC contract 6).
const TRUSTED_ONLY_KEYS: &[&str] = &["url", "base_url", "host", "endpoint", "api_key_env", "api_key", "plugin", "path"];

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Config {
    /// The collection name; `None` means the repository directory's name.
    pub index_name: Option<String>,
    /// The index directory (relative paths are relative to the repository root).
    pub index_dir: Option<PathBuf>,
    /// Chunking.
    pub chunking: ChunkingConfig,
    /// Walking.
    pub scan: ScanConfig,
    /// The embedding provider.
    pub embedding: ProviderSettings,
    /// The language model, if any.
    pub llm: Option<ProviderSettings>,
    /// The store.
    pub store: StoreSettings,
    /// Default number of hits.
    pub limit: usize,
    /// How results are ranked.
    pub ranking: RankingParams,
    /// How `ragops chat` answers.
    pub chat: ChatConfig,
    /// Dynamic-library plugins to load before providers are built (absolute, or relative to
    /// the working directory once read from a file).
    pub plugins: Vec<PathBuf>,
    /// The file this came from, if any.
    pub source: Option<PathBuf>,
    /// How the file was found.
    pub origin: ConfigOrigin,
}

/// How files are cut into chunks. The unit is lines: structure-aware chunkers keep it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChunkingConfig {
    /// Lines per chunk (at most).
    pub chunk_size: u32,
    /// Lines repeated at the start of the next chunk; less than `chunk_size`.
    pub chunk_overlap: u32,
    /// A chunk ends before it would exceed this many bytes.
    pub max_chunk_bytes: u32,
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        ChunkingConfig {
            chunk_size: DEFAULT_CHUNK_SIZE,
            chunk_overlap: DEFAULT_CHUNK_OVERLAP,
            max_chunk_bytes: DEFAULT_MAX_CHUNK_BYTES,
        }
    }
}

/// Which files a scan reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ScanConfig {
    /// Larger files are skipped as oversized.
    pub max_file_size: u64,
    /// Extra gitignore-style exclusions.
    pub exclude: Vec<String>,
    /// Directory names whose contents are vendored.
    pub vendored_dirs: Vec<String>,
    /// Index each file's past commit messages as a searchable field (off by default: on the
    /// git-history benchmark it did not pay; see docs/benchmarks.md).
    pub history: bool,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            exclude: Vec::new(),
            vendored_dirs: DEFAULT_VENDORED_DIRS.iter().map(|s| s.to_string()).collect(),
            history: false,
        }
    }
}

/// Default tokens kept for a language model's answer.
pub const DEFAULT_ANSWER_TOKENS: usize = 1024;
/// Default passages an answer uses.
pub const DEFAULT_MAX_PASSAGES: usize = 5;
/// Default confidence below which an answer says it is not confident.
pub const DEFAULT_CONFIDENCE_THRESHOLD: f32 = 0.35;

/// How `ragops chat` answers (`[chat]`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ChatConfig {
    /// Token budget of a prompt plus its answer; `None` means the model's context window.
    /// The smaller of this and the model's window is used.
    pub context_tokens: Option<usize>,
    /// Tokens reserved for the answer out of the budget.
    pub answer_tokens: usize,
    /// Passages an answer uses at most.
    pub max_passages: usize,
    /// Below this heuristic confidence the answer says it is not confident.
    pub confidence_threshold: f32,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            context_tokens: None,
            answer_tokens: DEFAULT_ANSWER_TOKENS,
            max_passages: DEFAULT_MAX_PASSAGES,
            confidence_threshold: DEFAULT_CONFIDENCE_THRESHOLD,
        }
    }
}

impl ChatConfig {
    /// Sets the token budget.
    pub fn with_context_tokens(mut self, tokens: Option<usize>) -> Self {
        self.context_tokens = tokens;
        self
    }

    /// Sets the tokens reserved for the answer.
    pub fn with_answer_tokens(mut self, tokens: usize) -> Self {
        self.answer_tokens = tokens;
        self
    }

    /// Sets the most passages an answer uses.
    pub fn with_max_passages(mut self, n: usize) -> Self {
        self.max_passages = n.max(1);
        self
    }

    /// Sets the confidence threshold.
    pub fn with_confidence_threshold(mut self, t: f32) -> Self {
        self.confidence_threshold = t;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            index_name: None,
            index_dir: None,
            chunking: ChunkingConfig::default(),
            scan: ScanConfig::default(),
            embedding: ProviderSettings::new(crate::provider::builtin::BUILTIN_PROVIDER),
            llm: None,
            store: StoreSettings::new("hnsw"),
            limit: DEFAULT_LIMIT,
            ranking: RankingParams::default(),
            chat: ChatConfig::default(),
            plugins: Vec::new(),
            source: None,
            origin: ConfigOrigin::Defaults,
        }
    }
}

/// Environment variables that override the file.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("RAGOPS_EMBEDDING_PROVIDER", "embedding.provider"),
    ("RAGOPS_EMBEDDING_MODEL", "embedding.model"),
    ("RAGOPS_LLM_PROVIDER", "llm.provider"),
    ("RAGOPS_LLM_MODEL", "llm.model"),
    ("RAGOPS_INDEX_DIR", "index.dir"),
];

impl Config {
    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the key: unreadable file, invalid TOML, unknown key,
    /// wrong type, invalid value, or a trusted-only setting in a repository config.
    pub fn from_file(path: &Path, origin: ConfigOrigin, trust_repo: bool) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Config::from_toml(&text, Some(path), origin, trust_repo, &|_| None)
    }

    /// Parses and validates config text; `env` supplies environment overrides (see
    /// [`ENV_OVERRIDES`]).
    ///
    /// # Errors
    /// As [`Config::from_file`].
    pub fn from_toml(
        text: &str,
        path: Option<&Path>,
        origin: ConfigOrigin,
        trust_repo: bool,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let shown = path.map_or_else(|| PathBuf::from("<config>"), Path::to_path_buf);
        let file: ConfigFile = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: shown.clone(), message: parse_message(text, &e) })?;
        let untrusted = origin == ConfigOrigin::Repository && !trust_repo;
        let mut config = Config::validate(file, &shown, untrusted)?;
        config.apply_env(env);
        if let Some(dir) = path.and_then(Path::parent) {
            config.plugins = config.plugins.iter().map(|p| dir.join(p)).collect();
        }
        config.source = path.map(Path::to_path_buf);
        config.origin = origin;
        Ok(config)
    }

    /// Built-in defaults with environment overrides.
    pub fn defaults_with_env(env: &dyn Fn(&str) -> Option<String>) -> Config {
        let mut c = Config::default();
        c.apply_env(env);
        c
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        if let Some(v) = env("RAGOPS_EMBEDDING_PROVIDER").filter(|v| !v.is_empty())
            && v != self.embedding.name
        {
            self.embedding = ProviderSettings::new(v);
        }
        if let Some(v) = env("RAGOPS_EMBEDDING_MODEL").filter(|v| !v.is_empty()) {
            self.embedding.model = Some(v);
        }
        if let Some(v) = env("RAGOPS_LLM_PROVIDER").filter(|v| !v.is_empty()) {
            self.llm = if v == "none" { None } else { Some(ProviderSettings::new(v)) };
        }
        if let (Some(v), Some(llm)) = (env("RAGOPS_LLM_MODEL").filter(|v| !v.is_empty()), self.llm.as_mut()) {
            llm.model = Some(v);
        }
        if let Some(v) = env("RAGOPS_INDEX_DIR").filter(|v| !v.is_empty()) {
            self.index_dir = Some(PathBuf::from(v));
        }
    }

    fn validate(file: ConfigFile, path: &Path, untrusted: bool) -> Result<Config, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_string(),
            origin: format!(" in {}", path.display()),
            message,
        };
        let mut c = Config::default();
        if let Some(index) = file.index {
            if let Some(name) = index.name {
                if name.trim().is_empty() {
                    return Err(invalid("index.name", "must not be empty".into()));
                }
                c.index_name = Some(name);
            }
            c.index_dir = index.dir;
        }
        if let Some(ch) = file.chunking {
            c.chunking.chunk_size = ch.chunk_size.unwrap_or(c.chunking.chunk_size);
            c.chunking.chunk_overlap = ch.chunk_overlap.unwrap_or(c.chunking.chunk_overlap);
            c.chunking.max_chunk_bytes = ch.max_chunk_bytes.unwrap_or(c.chunking.max_chunk_bytes);
        }
        if c.chunking.chunk_size == 0 {
            return Err(invalid("chunking.chunk_size", "must be at least 1 line".into()));
        }
        if c.chunking.chunk_overlap >= c.chunking.chunk_size {
            return Err(invalid(
                "chunking.chunk_overlap",
                format!("must be less than chunk_size ({} >= {})", c.chunking.chunk_overlap, c.chunking.chunk_size),
            ));
        }
        if c.chunking.max_chunk_bytes < 256 {
            return Err(invalid("chunking.max_chunk_bytes", "must be at least 256".into()));
        }
        if let Some(scan) = file.scan {
            if let Some(m) = scan.max_file_size {
                if m == 0 {
                    return Err(invalid("scan.max_file_size", "must be positive".into()));
                }
                c.scan.max_file_size = m;
            }
            if let Some(ex) = scan.exclude {
                c.scan.exclude = ex;
            }
            if let Some(v) = scan.vendored_dirs {
                c.scan.vendored_dirs = v;
            }
            if let Some(h) = scan.history {
                c.scan.history = h;
            }
        }
        if let Some(e) = file.embedding {
            c.embedding = provider_settings("embedding", e, path, untrusted)?
                .ok_or_else(|| invalid("embedding.provider", "is required in [embedding]".into()))?;
        }
        if let Some(l) = file.llm {
            c.llm = provider_settings("llm", l, path, untrusted)?.filter(|s| s.name != "none");
        }
        if let Some(s) = file.store {
            let name = s.kind.unwrap_or_else(|| "hnsw".into());
            let options = tables("store", s.tables, path, untrusted)?.remove(&name).unwrap_or_default();
            c.store = StoreSettings::new(name);
            c.store.options = options;
        }
        if let Some(plugins) = file.plugins {
            if untrusted && !plugins.is_empty() {
                return Err(ConfigError::Untrusted { key: "plugins".into(), path: path.to_path_buf() });
            }
            c.plugins = plugins.into_iter().map(|p| p.path).collect();
        }
        if let Some(r) = file.retrieval {
            if let Some(limit) = r.limit {
                if limit == 0 {
                    return Err(invalid("retrieval.limit", "must be at least 1".into()));
                }
                c.limit = limit;
            }
            let k = &mut c.ranking;
            for (key, value, target) in [
                ("retrieval.lexical_weight", r.lexical_weight, &mut k.lexical_weight),
                ("retrieval.vector_weight", r.vector_weight, &mut k.vector_weight),
                ("retrieval.non_code_weight", r.non_code_weight, &mut k.non_code_weight),
                ("retrieval.test_weight", r.test_weight, &mut k.test_weight),
                ("retrieval.file_decay", r.file_decay, &mut k.file_decay),
                ("retrieval.file_boost", r.file_boost, &mut k.file_boost),
                ("retrieval.file_leg_weight", r.file_leg_weight, &mut k.file_leg_weight),
                ("retrieval.definition_boost", r.definition_boost, &mut k.definition_boost),
                ("retrieval.file_name_boost", r.file_name_boost, &mut k.file_name_boost),
            ] {
                if let Some(v) = value {
                    if !(0.0..=100.0).contains(&v) {
                        return Err(invalid(key, format!("must be between 0 and 100, not {v}")));
                    }
                    *target = v;
                }
            }
            if let Some(n) = r.file_chunks {
                k.file_chunks = n.max(1);
            }
            if let Some(n) = r.candidates {
                if n == 0 {
                    return Err(invalid("retrieval.candidates", "must be at least 1".into()));
                }
                k.candidates = n;
            }
        }
        if let Some(chat) = file.chat {
            if let Some(n) = chat.context_tokens {
                if n < 256 {
                    return Err(invalid("chat.context_tokens", format!("must be at least 256, not {n}")));
                }
                c.chat.context_tokens = Some(n);
            }
            if let Some(n) = chat.answer_tokens {
                if n == 0 {
                    return Err(invalid("chat.answer_tokens", "must be at least 1".into()));
                }
                c.chat.answer_tokens = n;
            }
            if let Some(n) = chat.max_passages {
                if !(1..=100).contains(&n) {
                    return Err(invalid("chat.max_passages", format!("must be between 1 and 100, not {n}")));
                }
                c.chat.max_passages = n;
            }
            if let Some(t) = chat.confidence_threshold {
                if !(0.0..=1.0).contains(&t) {
                    return Err(invalid("chat.confidence_threshold", format!("must be between 0 and 1, not {t}")));
                }
                c.chat.confidence_threshold = t;
            }
        }
        Ok(c)
    }

    /// The effective configuration as TOML in the config file's own format (it loads back as a
    /// config file), with secrets masked.
    pub fn to_display_toml(&self) -> String {
        let mut root = toml::Table::new();
        let mut index = toml::Table::new();
        if let Some(name) = &self.index_name {
            index.insert("name".into(), name.clone().into());
        }
        if let Some(dir) = &self.index_dir {
            index.insert("dir".into(), dir.display().to_string().into());
        }
        root.insert("index".into(), index.into());
        let mut chunking = toml::Table::new();
        chunking.insert("chunk_size".into(), i64::from(self.chunking.chunk_size).into());
        chunking.insert("chunk_overlap".into(), i64::from(self.chunking.chunk_overlap).into());
        chunking.insert("max_chunk_bytes".into(), i64::from(self.chunking.max_chunk_bytes).into());
        root.insert("chunking".into(), chunking.into());
        let mut scan = toml::Table::new();
        scan.insert("max_file_size".into(), (self.scan.max_file_size.min(i64::MAX as u64) as i64).into());
        scan.insert("exclude".into(), self.scan.exclude.clone().into());
        scan.insert("vendored_dirs".into(), self.scan.vendored_dirs.clone().into());
        scan.insert("history".into(), self.scan.history.into());
        root.insert("scan".into(), scan.into());
        root.insert("embedding".into(), provider_table(&self.embedding).into());
        if let Some(llm) = &self.llm {
            root.insert("llm".into(), provider_table(llm).into());
        }
        let mut store = toml::Table::new();
        store.insert("kind".into(), self.store.name.clone().into());
        if !self.store.options.is_empty() {
            store.insert(self.store.name.clone(), self.store.options.clone().into());
        }
        root.insert("store".into(), store.into());
        let mut retrieval = toml::Table::new();
        retrieval.insert("limit".into(), (self.limit as i64).into());
        let k = &self.ranking;
        for (key, v) in [
            ("lexical_weight", k.lexical_weight),
            ("vector_weight", k.vector_weight),
            ("non_code_weight", k.non_code_weight),
            ("test_weight", k.test_weight),
            ("file_decay", k.file_decay),
            ("file_boost", k.file_boost),
            ("file_leg_weight", k.file_leg_weight),
            ("definition_boost", k.definition_boost),
            ("file_name_boost", k.file_name_boost),
        ] {
            retrieval.insert(key.into(), f64::from(v).into());
        }
        retrieval.insert("file_chunks".into(), (k.file_chunks as i64).into());
        retrieval.insert("candidates".into(), (k.candidates as i64).into());
        root.insert("retrieval".into(), retrieval.into());
        let mut chat = toml::Table::new();
        if let Some(n) = self.chat.context_tokens {
            chat.insert("context_tokens".into(), (n as i64).into());
        }
        chat.insert("answer_tokens".into(), (self.chat.answer_tokens as i64).into());
        chat.insert("max_passages".into(), (self.chat.max_passages as i64).into());
        chat.insert("confidence_threshold".into(), f64::from(self.chat.confidence_threshold).into());
        root.insert("chat".into(), chat.into());
        if !self.plugins.is_empty() {
            let plugins: Vec<toml::Value> = self
                .plugins
                .iter()
                .map(|p| {
                    let mut t = toml::Table::new();
                    t.insert("path".into(), p.display().to_string().into());
                    t.into()
                })
                .collect();
            root.insert("plugins".into(), plugins.into());
        }
        let mut value = toml::Value::Table(root);
        crate::secret::mask_toml(&mut value);
        toml::to_string_pretty(&value).unwrap_or_default()
    }
}

fn provider_table(p: &ProviderSettings) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("provider".into(), p.name.clone().into());
    if let Some(m) = &p.model {
        t.insert("model".into(), m.clone().into());
    }
    for (key, v) in [("dimensions", p.dimensions), ("batch_size", p.batch_size), ("concurrency", p.concurrency)] {
        if let Some(v) = v {
            t.insert(key.into(), (v as i64).into());
        }
    }
    if !p.options.is_empty() {
        t.insert(p.name.clone(), p.options.clone().into());
    }
    t
}

fn provider_settings(
    section: &str,
    wire: wire::ProviderWire,
    path: &Path,
    untrusted: bool,
) -> Result<Option<ProviderSettings>, ConfigError> {
    let mut tables = tables(section, wire.tables, path, untrusted)?;
    let Some(name) = wire.provider else {
        if !tables.is_empty() || wire.model.is_some() {
            return Err(ConfigError::Invalid {
                key: format!("{section}.provider"),
                origin: format!(" in {}", path.display()),
                message: "is required when other settings are given".into(),
            });
        }
        return Ok(None);
    };
    let mut s = ProviderSettings::new(name.clone());
    s.model = wire.model;
    s.dimensions = wire.dimensions;
    s.batch_size = wire.batch_size;
    s.concurrency = wire.concurrency;
    s.options = tables.remove(&name).unwrap_or_default();
    for (key, v) in [("dimensions", s.dimensions), ("batch_size", s.batch_size), ("concurrency", s.concurrency)] {
        if v == Some(0) {
            return Err(ConfigError::Invalid {
                key: format!("{section}.{key}"),
                origin: format!(" in {}", path.display()),
                message: "must be at least 1".into(),
            });
        }
    }
    Ok(Some(s))
}

/// Splits a section's extra keys into provider tables; anything that is not a table is an
/// unknown key. In an untrusted file, trusted-only keys are refused.
fn tables(
    section: &str,
    extra: std::collections::BTreeMap<String, toml::Value>,
    path: &Path,
    untrusted: bool,
) -> Result<std::collections::BTreeMap<String, toml::Table>, ConfigError> {
    let mut out = std::collections::BTreeMap::new();
    for (key, value) in extra {
        match value {
            toml::Value::Table(t) => {
                if untrusted && let Some(k) = t.keys().find(|k| TRUSTED_ONLY_KEYS.contains(&k.as_str())) {
                    return Err(ConfigError::Untrusted {
                        key: format!("{section}.{key}.{k}"),
                        path: path.to_path_buf(),
                    });
                }
                out.insert(key, t);
            }
            _ => {
                return Err(ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: format!("unknown key `{section}.{key}`"),
                });
            }
        }
    }
    Ok(out)
}

/// `line L (`the line`): message` for a TOML error, on one line, so the key is always named.
fn parse_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            let line = text[..start].matches('\n').count() + 1;
            let source = text.lines().nth(line - 1).unwrap_or_default().trim();
            let source: String = source.chars().take(80).collect();
            format!("line {line} (`{source}`): {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Some(Path::new("/r/ragops.toml")), ConfigOrigin::CommandLine, false, &|_| None)
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.chunking, ChunkingConfig::default());
        assert_eq!(c.embedding.name, "builtin");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse("[chunking]\nchunk_sise = 3\n").unwrap_err().to_string();
        assert!(err.contains("chunk_sise"), "{err}");
        assert!(err.contains("/r/ragops.toml"), "{err}");
        let err = parse("[embedding]\nprovider = \"mock\"\nmodle = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("embedding.modle"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let err = parse("[chunking]\nchunk_size = \"big\"\n").unwrap_err().to_string();
        assert!(err.contains("chunk_size"), "{err}");
    }

    #[test]
    fn overlap_must_be_below_size() {
        let err = parse("[chunking]\nchunk_size = 10\nchunk_overlap = 10\n").unwrap_err().to_string();
        assert!(err.contains("chunking.chunk_overlap"), "{err}");
    }

    #[test]
    fn provider_tables_reach_settings() {
        let c = parse("[embedding]\nprovider = \"mock\"\n[embedding.mock]\nfail = true\n").unwrap();
        assert_eq!(c.embedding.name, "mock");
        assert_eq!(c.embedding.options.get("fail"), Some(&toml::Value::Boolean(true)));
    }

    #[test]
    fn repository_config_cannot_set_urls() {
        let text = "[embedding]\nprovider = \"openai\"\n[embedding.openai]\nbase_url = \"http://evil\"\n";
        let err =
            Config::from_toml(text, Some(Path::new("/r/ragops.toml")), ConfigOrigin::Repository, false, &|_| None)
                .unwrap_err();
        assert!(matches!(err, ConfigError::Untrusted { .. }), "{err}");
        assert!(err.to_string().contains("--trust-repo-config"));
        Config::from_toml(text, Some(Path::new("/r/ragops.toml")), ConfigOrigin::Repository, true, &|_| None).unwrap();
    }

    #[test]
    fn plugins_are_trusted_only_and_relative_to_the_file() {
        let text = "[[plugins]]\npath = \"lib/libp.so\"\n";
        let err =
            Config::from_toml(text, Some(Path::new("/r/ragops.toml")), ConfigOrigin::Repository, false, &|_| None)
                .unwrap_err();
        assert!(matches!(&err, ConfigError::Untrusted { key, .. } if key == "plugins"), "{err}");
        let c = parse(text).unwrap();
        assert_eq!(c.plugins, vec![PathBuf::from("/r/lib/libp.so")]);
        let again = parse(&c.to_display_toml()).unwrap();
        assert_eq!(again.plugins, c.plugins);
        let err = parse("[[plugins]]\npath = \"x\"\nsymbol = \"y\"\n").unwrap_err().to_string();
        assert!(err.contains("symbol"), "{err}");
    }

    #[test]
    fn repository_config_cannot_name_key_variables() {
        let text = "[llm]\nprovider = \"openai\"\n[llm.openai]\napi_key_env = \"OTHER\"\n";
        let err =
            Config::from_toml(text, Some(Path::new("/r/ragops.toml")), ConfigOrigin::Repository, false, &|_| None)
                .unwrap_err();
        assert!(matches!(&err, ConfigError::Untrusted { key, .. } if key == "llm.openai.api_key_env"), "{err}");
        // Models, batching and timeouts are fine from a repository.
        let ok = "[embedding]\nprovider = \"ollama\"\nmodel = \"m\"\ndimensions = 8\nbatch_size = 4\n[embedding.ollama]\ntimeout_secs = 5\n";
        Config::from_toml(ok, Some(Path::new("/r/ragops.toml")), ConfigOrigin::Repository, false, &|_| None).unwrap();
    }

    #[test]
    fn env_overrides_file() {
        let c = Config::from_toml("[embedding]\nprovider = \"builtin\"\n", None, ConfigOrigin::User, false, &|k| {
            (k == "RAGOPS_EMBEDDING_PROVIDER").then(|| "mock".to_string())
        })
        .unwrap();
        assert_eq!(c.embedding.name, "mock");
    }

    #[test]
    fn display_loads_back() {
        let c = parse("[chunking]\nchunk_size = 12\n[embedding]\nprovider = \"mock\"\n[embedding.mock]\nfail_after_calls = 3\n[store.hnsw]\nef_search = 99\n").unwrap();
        let again = parse(&c.to_display_toml()).unwrap();
        assert_eq!(again.chunking, c.chunking);
        assert_eq!(again.embedding, c.embedding);
        assert_eq!(again.store, c.store);
    }

    #[test]
    fn chat_table_validates_and_loads_back() {
        let c =
            parse("[chat]\ncontext_tokens = 4000\nanswer_tokens = 300\nmax_passages = 3\nconfidence_threshold = 0.5\n")
                .unwrap();
        assert_eq!(c.chat.context_tokens, Some(4000));
        assert_eq!(c.chat.answer_tokens, 300);
        assert_eq!(c.chat.max_passages, 3);
        assert_eq!(c.chat.confidence_threshold, 0.5);
        assert_eq!(parse(&c.to_display_toml()).unwrap().chat, c.chat);
        assert_eq!(parse(&Config::default().to_display_toml()).unwrap().chat, ChatConfig::default());
        for (text, key) in [
            ("[chat]\ncontext_tokens = 10\n", "chat.context_tokens"),
            ("[chat]\nanswer_tokens = 0\n", "chat.answer_tokens"),
            ("[chat]\nmax_passages = 0\n", "chat.max_passages"),
            ("[chat]\nconfidence_threshold = 1.5\n", "chat.confidence_threshold"),
            ("[chat]\nthreshold = 0.5\n", "threshold"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn parse_errors_give_line_and_column() {
        let err = parse("[chunking]\nchunk_sise = 3\n").unwrap_err().to_string();
        assert!(err.contains("line 2 (`chunk_sise = 3`)"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn display_masks_secrets() {
        let c = parse("[embedding]\nprovider = \"x\"\n[embedding.x]\napi_key = \"sk-123\"\napi_key_env = \"KEY\"\n")
            .unwrap();
        let shown = c.to_display_toml();
        assert!(!shown.contains("sk-123"), "{shown}");
        assert!(shown.contains("****"));
        assert!(shown.contains("KEY"));
    }
}
