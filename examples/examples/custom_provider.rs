//! Embedding ragops-lib in another program with an embedding provider written here.
//!
//! `cargo run -p ragops-examples --example custom_provider -- [REPO]`
//!
//! The provider below is deliberately simple (letter frequencies); a real one would call a
//! model. Registering it under a name makes it selectable from config like any other.

use std::sync::Arc;

use async_trait::async_trait;
use ragops_lib::config::{Config, ConfigOrigin};
use ragops_lib::provider::{ModelId, ProviderSettings};
use ragops_lib::{Embedding, EmbeddingProvider, Index, ProviderError, Registry};

/// 26 dimensions: how often each letter occurs, normalised.
#[derive(Debug)]
struct LetterFrequencies {
    model: ModelId,
}

#[async_trait]
impl EmbeddingProvider for LetterFrequencies {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, ProviderError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = [0.0f32; 26];
                for b in t.bytes().filter(u8::is_ascii_alphabetic) {
                    v[(b.to_ascii_lowercase() - b'a') as usize] += 1.0;
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
                v.iter().map(|x| x / norm).collect()
            })
            .collect())
    }
    fn model(&self) -> &ModelId {
        &self.model
    }
    fn dimensions(&self) -> usize {
        26
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let repo = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let mut registry = Registry::with_builtins();
    registry.register_embedder(
        "letters",
        Arc::new(|_: &ProviderSettings| {
            Ok(Arc::new(LetterFrequencies { model: ModelId::new("letters", "letter-frequencies-v1") })
                as Arc<dyn EmbeddingProvider>)
        }),
    );
    // The same TOML a user would write, selecting the provider by name.
    let config = Config::from_toml(
        "[embedding]\nprovider = \"letters\"\n[index]\ndir = \".ragops-letters\"\n",
        None,
        ConfigOrigin::CommandLine,
        false,
        &|_| None,
    )?;
    let index = Index::builder().repo(repo).config(config).registry(registry).build()?;
    let summary = index.scan().await?;
    println!("indexed {} files into {}", summary.files_indexed, index.index_dir().display());
    for hit in index.search("fn main", 3, &[]).await? {
        println!("{}  {:.3}", hit.chunk.citation(), hit.score);
    }
    Ok(())
}
