//! Building a scan/query pipeline from a TOML string, with the same providers the `ragops`
//! binary has.
//!
//! `cargo run -p ragops-examples --example pipeline_from_toml -- [REPO] [CONFIG.toml]`
//!
//! Without a config file the TOML below is used: the built-in offline embedder, small chunks, a
//! separate index directory. Point it at a server by passing a file such as
//!
//! ```toml
//! [embedding]
//! provider = "ollama"          # or "openai" with OPENAI_API_KEY set
//! ```

use ragops_lib::config::{Config, ConfigOrigin};
use ragops_lib::{Index, Registry};

const DEFAULT_TOML: &str = r#"
[index]
dir = ".ragops-example"

[chunking]
chunk_size = 30

[embedding]
provider = "builtin"

[retrieval]
limit = 5
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let repo = args.next().unwrap_or_else(|| ".".into());
    let (text, path) = match args.next() {
        Some(p) => (std::fs::read_to_string(&p)?, Some(std::path::PathBuf::from(p))),
        None => (DEFAULT_TOML.to_string(), None),
    };
    // Parse and validate once: unknown keys and bad values are errors naming the key. The
    // origin decides trust: `CommandLine` may set provider URLs and key variables.
    let config =
        Config::from_toml(&text, path.as_deref(), ConfigOrigin::CommandLine, false, &|k| std::env::var(k).ok())?;
    // The registry maps `provider = "..."` names to factories: add the HTTP providers.
    let mut registry = Registry::with_builtins();
    ragops_openai::register(&mut registry);
    ragops_ollama::register(&mut registry);
    let index = Index::builder().repo(repo).config(config).registry(registry).build()?;
    let embedder = index.embedder()?;
    println!("embedding with {} ({} dimensions)", embedder.model(), embedder.dimensions());
    let summary = index.scan().await?;
    println!(
        "{} files indexed, {} unchanged, {} chunks, {:.2} s",
        summary.files_indexed, summary.files_unchanged, summary.chunks, summary.seconds
    );
    for hit in index.search("error handling and retries", index.config().limit, &[]).await? {
        println!("{}  {:.3}", hit.chunk.citation(), hit.score);
    }
    Ok(())
}
