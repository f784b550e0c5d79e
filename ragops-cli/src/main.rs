//! The `ragops` binary: parse arguments, set up logging, call ragops-lib, render the result.
//! Every behaviour lives in ragops-lib; this crate only composes.

mod cli;
mod commands;
mod logging;
mod progress;
mod signals;

use std::process::ExitCode;

use clap::Parser;
use tracing::Instrument;

use cli::{Cli, Command, ConfigCommand, LogFormat};

/// mimalloc: a scan allocates many small strings on several threads, where glibc's malloc spent
/// about a fifth of the CPU (docs/benchmarks.md, scan profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return logging::usage_error(&err),
    };
    logging::init(&cli.global);
    if matches!(cli.command, Command::Scan(_) | Command::Watch(_)) {
        no_transparent_huge_pages();
    }
    let format = logging::format(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return report(&anyhow::anyhow!("cannot start the async runtime: {e}"), format),
    };
    // One request id per invocation, on a span that every log line of the command inherits.
    let request_id = logging::new_request_id();
    let span = tracing::info_span!(
        "command",
        request_id = %request_id,
        collection = tracing::field::Empty,
        command = cli.command.name(),
    );
    let result = runtime.block_on(ragops_lib::telemetry::with_request_id(
        request_id.clone(),
        async move {
            let result = run(cli).await;
            if let (Err(err), LogFormat::Json) = (&result, format)
                && !is_broken_pipe(err)
            {
                // In JSON mode the error is a log line like any other (inside the span, so it
                // carries the request id and collection).
                tracing::error!(event = "command.failed", exit_code = exit_code(err), "{err}");
            }
            result
        }
        .instrument(span),
    ));
    match result {
        Ok(code) => code,
        Err(err) => report(&err, format),
    }
}

/// A scan allocates and frees buffers of every size on several threads: with transparent huge
/// pages the kernel zeroes 2 MiB at each first touch (~8 % of a scan's samples); without them
/// a 100 MB scan took ~3 % less wall time, half the system time and ~13 % less memory
/// (docs/benchmarks.md).
/// Searches keep them (their in-memory vector codes are read, not churned).
#[allow(unsafe_code)]
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match &cli.command {
        Command::Scan(args) => commands::scan::run(g, args).await,
        Command::Search(args) => commands::search::run(g, args).await,
        Command::Chat(args) => commands::chat::run(g, args).await,
        Command::Watch(args) => commands::watch::run(g, args).await,
        Command::Status => commands::status::run(g).await,
        Command::Eval(args) => commands::eval::run(g, args).await,
        Command::Config(ConfigCommand::Show) => commands::config::show(g),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// 2 for usage and config errors, 1 otherwise, 0 when stdout was closed early
/// (`ragops search x | head`).
fn exit_code(err: &anyhow::Error) -> u8 {
    if is_broken_pipe(err) {
        return 0;
    }
    let usage = err.downcast_ref::<ragops_lib::Error>().is_some_and(|e| e.is_usage());
    if usage { 2 } else { 1 }
}

/// Prints the error (text mode; JSON mode logged it already) and maps it to an exit code.
fn report(err: &anyhow::Error, format: LogFormat) -> ExitCode {
    let code = exit_code(err);
    if code != 0 && format == LogFormat::Text {
        eprintln!("error: {err}");
    }
    ExitCode::from(code)
}
