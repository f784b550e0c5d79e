//! Progress reporting: the pipeline tells an observer what it has done; the CLI draws bars.

use std::fmt;

/// Receives progress from a scan. Every method has a no-op default.
pub trait ScanObserver: Send + Sync + fmt::Debug {
    /// The walk found `files` candidate files holding `bytes` bytes.
    fn walked(&self, files: u64, bytes: u64) {
        let _ = (files, bytes);
    }
    /// `files` more files (of `bytes` bytes) were processed, producing `chunks` chunks.
    fn processed(&self, files: u64, bytes: u64, chunks: u64) {
        let _ = (files, bytes, chunks);
    }
    /// The scan is about to commit.
    fn committing(&self) {}
    /// The scan ended (committed or failed).
    fn finished(&self) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ScanObserver for NoProgress {}
