//! The `ragops` binary: parse arguments, set up logging, call ragops-lib, render the result.
//! Every behaviour lives in ragops-lib; this crate only composes.

mod cli;
mod commands;
mod logging;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, ConfigCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => report(&err),
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match &cli.command {
        Command::Scan(args) => commands::scan::run(g, args).await,
        Command::Search(args) => commands::search::run(g, args).await,
        Command::Status => commands::status::run(g).await,
        Command::Config(ConfigCommand::Show) => commands::config::show(g),
    }
}

/// Prints an error and maps it to an exit code: 2 for usage and config errors, 1 otherwise,
/// 0 when stdout was closed early (`ragops search x | head`).
fn report(err: &anyhow::Error) -> ExitCode {
    if let Some(io) = err.downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {err}");
    let usage = err.downcast_ref::<ragops_lib::Error>().is_some_and(|e| e.is_usage());
    ExitCode::from(if usage { 2 } else { 1 })
}
