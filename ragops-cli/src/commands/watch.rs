//! `ragops watch`

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use ragops_lib::watch::{WatchOptions, WatchScan};
use serde_json::json;

use super::open_index;
use crate::cli::{GlobalArgs, WatchArgs};

pub(crate) async fn run(g: &GlobalArgs, args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let index = open_index(g, args.path.as_ref())?;
    let options = WatchOptions::default().debounce(Duration::from_millis(args.debounce_ms));
    if !g.json {
        eprintln!("Watching {} (Ctrl-C stops)", index.root().display());
    }
    let json = g.json;
    let report = move |scan: &WatchScan| {
        let mut out = std::io::stdout().lock();
        let _ = match (&scan.result, json) {
            (Ok(summary), true) => {
                let mut v = serde_json::to_value(summary).unwrap_or_default();
                v["paths"] = json!(scan.paths);
                writeln!(out, "{v}")
            }
            (Ok(summary), false) => writeln!(
                out,
                "{}: indexed {} files, removed {} ({} chunks) in {:.2} s",
                scan.paths.as_ref().map_or("whole tree".to_string(), |p| format!("{} changed paths", p.len())),
                summary.files_indexed,
                summary.files_deleted,
                summary.chunks,
                summary.seconds,
            ),
            (Err(err), true) => writeln!(out, "{}", json!({ "paths": scan.paths, "error": err.to_string() })),
            // The error was logged; the watch goes on.
            (Err(err), false) => writeln!(out, "scan failed: {err}"),
        };
        let _ = out.flush();
    };
    // A signal drops the watch between two awaits: a scan in progress publishes nothing.
    tokio::select! {
        biased;
        _ = crate::signals::interrupted() => {}
        result = index.watch(&options, report, std::future::pending()) => result?,
    }
    Ok(ExitCode::SUCCESS)
}
