//! Installs the tracing subscriber (only the binary does).

use tracing_subscriber::EnvFilter;

use crate::cli::{GlobalArgs, LogFormat};

pub(crate) fn init(g: &GlobalArgs) {
    let level = if g.quiet {
        "error"
    } else {
        match g.verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    };
    // hnsw_rs and sled log through `log` at info level: keep them to warnings.
    let default = format!("{level},hnsw_rs=warn,sled=warn,anndists=warn");
    let filter = std::env::var("RAGOPS_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match g.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Text => builder
            .without_time()
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}
