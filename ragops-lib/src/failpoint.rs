//! Failpoints: named places in the write path where a test can make the process crash, to
//! prove that an interruption at any of them leaves a usable index.
//!
//! Compiled only with the `failpoints` feature; without it the crate-private `hit` is an empty
//! inline function.
//! With it, `RAGOPS_FAILPOINT=NAME[:N]` makes the N-th (default first) pass through the point
//! `NAME` abort the process at once (no destructors, no flushes: what SIGKILL or a power cut
//! leaves behind). The points, in the order a scan passes them:
//!
//! | name | where |
//! |---|---|
//! | `cache-written` | a window's new embeddings were written to the cache (durably) |
//! | `tombstones-written` | tombstones of changed files written, manifest not yet |
//! | `segment-written` | the new segment's files written, manifest not yet |
//! | `merge-written` | a merged segment written, manifest not yet |
//! | `manifest-written` | the new manifest written, `CURRENT` not yet switched |
//! | `published` | `CURRENT` switched, the writer's file table not yet updated |
//! | `bookkept` | file table updated, old generations not yet collected |

/// Every failpoint, in the order a scan reaches them.
pub const POINTS: &[&str] = &[
    "cache-written",
    "tombstones-written",
    "segment-written",
    "merge-written",
    "manifest-written",
    "published",
    "bookkept",
];

/// Passes through the failpoint `name`: aborts the process when `RAGOPS_FAILPOINT` selects it.
#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static CONFIG: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static PASSES: AtomicU64 = AtomicU64::new(0);
    let config = CONFIG.get_or_init(|| {
        let value = std::env::var("RAGOPS_FAILPOINT").ok()?;
        let (point, nth) = match value.split_once(':') {
            Some((p, n)) => (p.to_string(), n.parse().unwrap_or(1)),
            None => (value, 1),
        };
        Some((point, nth.max(1)))
    });
    if let Some((point, nth)) = config
        && point == name
        && PASSES.fetch_add(1, Ordering::SeqCst) + 1 == *nth
    {
        eprintln!("ragops: failpoint {name} reached: aborting");
        std::process::abort();
    }
}

/// Passes through the failpoint `name` (a no-op: built without the `failpoints` feature).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_name: &str) {}
