//! Maps the names used in config (`provider = "builtin"`, `kind = "hnsw"`) to factories.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::builtin::{BUILTIN_PROVIDER, BuiltinEmbedder, DEFAULT_DIMENSIONS, DEFAULT_SEMANTIC_SHARE};
use super::{EmbeddingProvider, LlmProvider};
use crate::error::{ConfigError, Error};
use crate::store::{HnswStore, HnswStoreOptions, IndexStore, OpenMode};

/// A provider as configured: its name, common settings and its own table. Its `Debug` masks
/// secret-named settings.
#[derive(Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ProviderSettings {
    /// The registered name.
    pub name: String,
    /// The model, if set.
    pub model: Option<String>,
    /// Vector length, if set.
    pub dimensions: Option<usize>,
    /// Texts per request, if set.
    pub batch_size: Option<usize>,
    /// Requests in flight, if set.
    pub concurrency: Option<usize>,
    /// The provider's own table (`[embedding.<name>]`), for its factory to deserialize.
    pub options: toml::Table,
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut options = toml::Value::Table(self.options.clone());
        crate::secret::mask_toml(&mut options);
        f.debug_struct("ProviderSettings")
            .field("name", &self.name)
            .field("model", &self.model)
            .field("dimensions", &self.dimensions)
            .field("batch_size", &self.batch_size)
            .field("concurrency", &self.concurrency)
            .field("options", &options)
            .finish()
    }
}

impl ProviderSettings {
    /// Settings naming a provider, everything else default.
    pub fn new(name: impl Into<String>) -> Self {
        ProviderSettings { name: name.into(), ..Default::default() }
    }
}

/// A store as configured.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StoreSettings {
    /// The registered name.
    pub name: String,
    /// The store's own table (`[store.<name>]`).
    pub options: toml::Table,
}

impl StoreSettings {
    /// Settings naming a store.
    pub fn new(name: impl Into<String>) -> Self {
        StoreSettings { name: name.into(), options: toml::Table::new() }
    }
}

/// Where and how a store factory should open the index.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreLocation {
    /// The index directory (local stores keep their files there; server stores their marker).
    pub dir: PathBuf,
    /// The collection name.
    pub collection: String,
    /// Read or write.
    pub mode: OpenMode,
    /// How long a writer waits for another writer to finish (`None`: refuse at once).
    pub wait: Option<std::time::Duration>,
}

impl StoreLocation {
    /// A location.
    pub fn new(dir: PathBuf, collection: impl Into<String>, mode: OpenMode) -> Self {
        StoreLocation { dir, collection: collection.into(), mode, wait: None }
    }

    /// Lets a writer wait this long for another writer to finish.
    pub fn with_wait(mut self, wait: Option<std::time::Duration>) -> Self {
        self.wait = wait;
        self
    }
}

/// Builds an embedding provider from its settings.
pub type EmbeddingFactory = Arc<dyn Fn(&ProviderSettings) -> Result<Arc<dyn EmbeddingProvider>, Error> + Send + Sync>;
/// Builds a language model from its settings.
pub type LlmFactory = Arc<dyn Fn(&ProviderSettings) -> Result<Arc<dyn LlmProvider>, Error> + Send + Sync>;
/// Opens a store.
pub type StoreFactory = Arc<dyn Fn(&StoreSettings, &StoreLocation) -> Result<Arc<dyn IndexStore>, Error> + Send + Sync>;

/// Name → factory, for embedding providers, language models and stores.
#[derive(Clone, Default)]
pub struct Registry {
    embedders: BTreeMap<String, EmbeddingFactory>,
    llms: BTreeMap<String, LlmFactory>,
    stores: BTreeMap<String, StoreFactory>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("embedders", &self.embedders.keys().collect::<Vec<_>>())
            .field("llms", &self.llms.keys().collect::<Vec<_>>())
            .field("stores", &self.stores.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// A registry with what ragops-lib ships: the `builtin` embedder and the `hnsw` store.
    pub fn with_builtins() -> Self {
        let mut r = Registry::new();
        r.register_embedder(BUILTIN_PROVIDER, Arc::new(builtin_factory));
        r.register_store("hnsw", Arc::new(hnsw_factory));
        r
    }

    /// Registers (or replaces) an embedding provider.
    pub fn register_embedder(&mut self, name: impl Into<String>, factory: EmbeddingFactory) -> &mut Self {
        self.embedders.insert(name.into(), factory);
        self
    }

    /// Registers (or replaces) a language model provider.
    pub fn register_llm(&mut self, name: impl Into<String>, factory: LlmFactory) -> &mut Self {
        self.llms.insert(name.into(), factory);
        self
    }

    /// Registers (or replaces) a store.
    pub fn register_store(&mut self, name: impl Into<String>, factory: StoreFactory) -> &mut Self {
        self.stores.insert(name.into(), factory);
        self
    }

    /// The registered embedding provider names.
    pub fn embedder_names(&self) -> Vec<String> {
        self.embedders.keys().cloned().collect()
    }

    /// The registered language model names.
    pub fn llm_names(&self) -> Vec<String> {
        self.llms.keys().cloned().collect()
    }

    /// Builds the embedding provider the settings name.
    ///
    /// # Errors
    /// An unknown name, or the factory's own error.
    pub fn embedder(&self, settings: &ProviderSettings) -> Result<Arc<dyn EmbeddingProvider>, Error> {
        let f = self
            .embedders
            .get(&settings.name)
            .ok_or_else(|| unknown("embedding provider", &settings.name, self.embedders.keys()))?;
        f(settings)
    }

    /// Builds the language model the settings name.
    ///
    /// # Errors
    /// An unknown name, or the factory's own error.
    pub fn llm(&self, settings: &ProviderSettings) -> Result<Arc<dyn LlmProvider>, Error> {
        let f =
            self.llms.get(&settings.name).ok_or_else(|| unknown("llm provider", &settings.name, self.llms.keys()))?;
        f(settings)
    }

    /// Opens the store the settings name.
    ///
    /// # Errors
    /// An unknown name, or the store's own error.
    pub fn store(&self, settings: &StoreSettings, location: &StoreLocation) -> Result<Arc<dyn IndexStore>, Error> {
        let f = self.stores.get(&settings.name).ok_or_else(|| unknown("store", &settings.name, self.stores.keys()))?;
        f(settings, location)
    }
}

fn unknown<'a>(kind: &'static str, name: &str, known: impl Iterator<Item = &'a String>) -> Error {
    Error::Config(ConfigError::UnknownComponent {
        kind,
        name: name.to_string(),
        known: known.cloned().collect::<Vec<_>>().join(", "),
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BuiltinWire {
    semantic_share: Option<f32>,
}

fn builtin_factory(s: &ProviderSettings) -> Result<Arc<dyn EmbeddingProvider>, Error> {
    let invalid = |key: &str, message: String| {
        Error::Config(ConfigError::Invalid { key: key.into(), origin: String::new(), message })
    };
    let wire: BuiltinWire = toml::Value::Table(s.options.clone())
        .try_into()
        .map_err(|e: toml::de::Error| invalid("embedding.builtin", e.message().to_string()))?;
    let share = wire.semantic_share.unwrap_or(DEFAULT_SEMANTIC_SHARE);
    if !(0.0..=1.0).contains(&share) {
        return Err(invalid("embedding.builtin.semantic_share", "must be between 0 and 1".into()));
    }
    let embedder = BuiltinEmbedder::with_share(s.dimensions.unwrap_or(DEFAULT_DIMENSIONS), share);
    if let Some(model) = &s.model
        && model != &embedder.model().name
    {
        return Err(invalid(
            "embedding.model",
            format!(
                "the builtin provider's model follows from its settings; leave `model` unset (it would be `{}`)",
                embedder.model().name
            ),
        ));
    }
    // The shipped model is loaded and its checksum checked at the first text embedded (the
    // same error then): a re-scan that finds nothing changed never pays for it.
    Ok(Arc::new(embedder))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HnswWire {
    graph_min_chunks: Option<usize>,
    max_connections: Option<usize>,
    ef_construction: Option<usize>,
    ef_search: Option<usize>,
    max_segments: Option<usize>,
    bm25_k1: Option<f32>,
    bm25_b: Option<f32>,
    path_weight: Option<f32>,
    symbol_weight: Option<f32>,
    part_weight: Option<f32>,
    history_weight: Option<f32>,
    vague_weight: Option<f32>,
}

fn hnsw_factory(s: &StoreSettings, loc: &StoreLocation) -> Result<Arc<dyn IndexStore>, Error> {
    let wire: HnswWire = toml::Value::Table(s.options.clone()).try_into().map_err(|e: toml::de::Error| {
        Error::Config(ConfigError::Invalid {
            key: "store.hnsw".into(),
            origin: String::new(),
            message: e.to_string().trim().to_string(),
        })
    })?;
    let mut o = HnswStoreOptions::default();
    o.graph_min_chunks = wire.graph_min_chunks.unwrap_or(o.graph_min_chunks);
    o.max_connections = wire.max_connections.unwrap_or(o.max_connections).clamp(4, 255);
    o.ef_construction = wire.ef_construction.unwrap_or(o.ef_construction).max(8);
    o.ef_search = wire.ef_search.unwrap_or(o.ef_search).max(8);
    o.max_segments = wire.max_segments.unwrap_or(o.max_segments).max(2);
    let l = &mut o.lexical;
    l.k1 = wire.bm25_k1.unwrap_or(l.k1).clamp(0.01, 100.0);
    l.b[0] = wire.bm25_b.unwrap_or(l.b[0]).clamp(0.0, 1.0);
    l.weights[1] = wire.path_weight.unwrap_or(l.weights[1]).clamp(0.0, 100.0);
    l.weights[2] = wire.symbol_weight.unwrap_or(l.weights[2]).clamp(0.0, 100.0);
    l.part_weight = wire.part_weight.unwrap_or(l.part_weight).clamp(0.0, 10.0);
    l.weights[3] = wire.history_weight.unwrap_or(l.weights[3]).clamp(0.0, 100.0);
    l.vague_weight = wire.vague_weight.unwrap_or(l.vague_weight).clamp(0.0, 10.0);
    o.lock_wait = loc.wait;
    Ok(Arc::new(HnswStore::open(&loc.dir, loc.mode, o)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(options: &str, model: Option<&str>) -> ProviderSettings {
        ProviderSettings {
            name: BUILTIN_PROVIDER.into(),
            model: model.map(str::to_string),
            dimensions: None,
            batch_size: None,
            concurrency: None,
            options: toml::from_str(options).unwrap(),
        }
    }

    #[test]
    fn builtin_factory_builds_the_default_mix() {
        let e = builtin_factory(&settings("", None)).unwrap();
        assert_eq!(e.model(), BuiltinEmbedder::default().model());
        let e = builtin_factory(&settings("semantic_share = 1.0", None)).unwrap();
        assert_eq!(e.dimensions(), 256);
    }

    #[test]
    fn builtin_factory_refuses_bad_settings() {
        let err =
            |options: &str, model: Option<&str>| builtin_factory(&settings(options, model)).unwrap_err().to_string();
        assert!(err("semantic_share = 1.5", None).contains("between 0 and 1"));
        assert!(err("shares = 1", None).contains("embedding.builtin"));
        assert!(err("", Some("feature-hash-v1-384d-0123456789ab")).contains("leave `model` unset"));
    }
}
