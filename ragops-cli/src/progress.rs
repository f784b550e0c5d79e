//! Progress bars on a terminal (indicatif); nothing in CI, with `--json`, or when stderr is not
//! a terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ragops_lib::ingest::ScanObserver;

/// Whether to draw progress: only for a person watching a terminal.
pub(crate) fn enabled(json: bool) -> bool {
    should_draw(json, std::io::stderr().is_terminal(), std::env::var_os("CI").is_some_and(|v| !v.is_empty()))
}

fn should_draw(json: bool, stderr_is_terminal: bool, ci: bool) -> bool {
    !json && stderr_is_terminal && !ci
}

/// A scan progress bar: bytes done of the total, files, chunks, throughput and ETA.
#[derive(Debug)]
pub(crate) struct ScanProgress {
    bar: ProgressBar,
    files_total: AtomicU64,
    files_done: AtomicU64,
    chunks: AtomicU64,
}

impl ScanProgress {
    /// A bar drawn on stderr when `draw`, else hidden (the counts are kept either way).
    pub(crate) fn new(draw: bool) -> Self {
        let target = if draw { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        let style = ProgressStyle::with_template(
            "{spinner} {prefix} [{bar:28}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix("scanning");
        if draw {
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
        }
        ScanProgress { bar, files_total: AtomicU64::new(0), files_done: AtomicU64::new(0), chunks: AtomicU64::new(0) }
    }

    /// Files and chunks fully processed (embedded and staged) so far.
    pub(crate) fn done(&self) -> (u64, u64) {
        (self.files_done.load(Ordering::Relaxed), self.chunks.load(Ordering::Relaxed))
    }

    /// Stops drawing after an interruption.
    pub(crate) fn abandon(&self) {
        self.bar.finish_and_clear();
    }

    fn message(&self) {
        self.bar.set_message(format!(
            "{}/{} files, {} chunks",
            self.files_done.load(Ordering::Relaxed),
            self.files_total.load(Ordering::Relaxed),
            self.chunks.load(Ordering::Relaxed)
        ));
    }
}

impl ScanObserver for ScanProgress {
    fn walked(&self, files: u64, bytes: u64) {
        self.files_total.store(files, Ordering::Relaxed);
        self.bar.set_length(bytes);
        self.message();
    }
    fn processed(&self, files: u64, bytes: u64, chunks: u64) {
        self.files_done.fetch_add(files, Ordering::Relaxed);
        self.chunks.fetch_add(chunks, Ordering::Relaxed);
        self.bar.inc(bytes);
        self.message();
    }
    fn committing(&self) {
        self.bar.set_prefix("committing");
    }
    fn finished(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_only_for_a_person_at_a_terminal() {
        assert!(should_draw(false, true, false));
        assert!(!should_draw(true, true, false), "--json");
        assert!(!should_draw(false, false, false), "stderr not a terminal");
        assert!(!should_draw(false, true, true), "CI");
    }
}

/// An item progress bar for `ragops eval`.
#[derive(Debug)]
pub(crate) struct ItemProgress {
    bar: ProgressBar,
}

impl ItemProgress {
    pub(crate) fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{spinner} evaluating [{bar:28}] {pos}/{len} items, {per_sec}, ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        ItemProgress { bar }
    }
}

impl ragops_lib::eval::run::EvalObserver for ItemProgress {
    fn item_done(&self, done: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
    }
}

impl Drop for ItemProgress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
