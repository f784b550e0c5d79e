//! Ingest: walk the repository, chunk files, embed chunks (with the cache), store them.

pub mod changes;
pub mod chunk;
pub mod code_chunk;
pub mod git_tree;
pub mod history;
pub mod language;
pub mod pipeline;
pub mod progress;
mod skeleton;
pub mod walk;

pub use chunk::{Chunker, LineChunker};
pub use git_tree::GitTree;
pub use pipeline::{ScanSummary, Scanner, Source};
pub use progress::{NoProgress, ScanObserver};
pub use walk::{SkipReason, WalkOptions};
