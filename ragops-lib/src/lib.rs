//! ragops-lib turns a code repository into a versioned, incrementally updated index and
//! answers grounded questions about it.
//!
//! The design decision everything follows: **published state is immutable**. A scan stages
//! its changes (new segments, tombstones) and publishes them all at once by swapping one small
//! manifest pointer, so searches never see half a scan, never need the writer's lock, and a
//! re-scan costs what changed. The embedding providers, language models and stores are trait
//! objects ([`EmbeddingProvider`], [`LlmProvider`], [`IndexStore`]) chosen by name through a
//! [`Registry`], so plugins and server-backed stores fit the same seams.
//!
//! ```no_run
//! # async fn demo() -> ragops_lib::Result<()> {
//! let index = ragops_lib::Index::builder().repo(".").build()?;
//! let summary = index.scan().await?;
//! println!("indexed {} files", summary.files_indexed);
//! for hit in index.search("where are retries handled", 5, &[]).await? {
//!     println!("{} {:.3}", hit.chunk.citation(), hit.score);
//! }
//! # Ok(()) }
//! ```
//!
//! | feature | what it adds |
//! | --- | --- |
//! | `test-utils` | [`testing`]: conformance suites for provider and store implementations |
//! | `failpoints` | crash points in the write path for tests, selected by `RAGOPS_FAILPOINT` ([`failpoint`]) |
//! | `dylib` | `plugin::dylib`: loading provider plugins from dynamic libraries (`[[plugins]]` in config) |

pub mod chat;
pub mod config;
pub mod error;
pub mod eval;
pub mod failpoint;
mod fxhash;
pub mod index;
pub mod ingest;
pub mod lexical;
pub mod model;
pub mod plugin;
pub mod provider;
pub mod repo;
pub mod retrieve;
pub mod secret;
pub mod store;
pub mod telemetry;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
pub mod watch;

pub use config::Config;
pub use error::{ConfigError, Error, IngestError, ProviderError, Result, StoreError};
pub use index::{Index, IndexBuilder, ScanOptions, Status};
pub use model::{Chunk, ChunkId, ContentHash, EmbeddedChunk, Embedding, FileRecord, FileUpdate, Hit, LineRange};
pub use provider::{EmbeddingProvider, LlmProvider, ModelId, Registry};
pub use store::{IndexMetadata, IndexStore};
