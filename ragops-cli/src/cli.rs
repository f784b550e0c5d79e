//! Command-line arguments (clap derives only).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// ragops: index a code repository and ask grounded questions about it.
#[derive(Debug, Parser)]
#[command(name = "ragops", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// The repository (any path inside it); default: the current directory.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) repo: Option<PathBuf>,
    /// The index directory; default: `ROOT/.ragops`.
    #[arg(long, global = true, value_name = "DIR", env = "RAGOPS_INDEX")]
    pub(crate) index: Option<PathBuf>,
    /// Read this config file instead of `ROOT/ragops.toml` or the user config.
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Accept provider URLs, key variables and plugins from the repository's own ragops.toml.
    #[arg(long, global = true)]
    pub(crate) trust_repo_config: bool,
    /// Print one JSON document on stdout.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Log format on stderr: text (default) or json (one JSON object a line).
    #[arg(long, global = true, value_enum, env = "RAGOPS_LOG_FORMAT")]
    pub(crate) log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Scan a repository into its index (only what changed is re-embedded).
    Scan(ScanArgs),
    /// Search the index: the best chunks (or files) for a query, with citations.
    Search(SearchArgs),
    /// Ask a question (answered with citations; extractively without a language model), ask
    /// what changed, or start an interactive session when no question is given.
    Chat(ChatArgs),
    /// Keep the index up to date: scan, then re-scan each file as it changes (a file watcher
    /// is the change feed: nothing walks the tree) until Ctrl-C.
    Watch(WatchArgs),
    /// Show the index's metadata and counts.
    Status,
    /// Measure retrieval quality on the repository's own git history, or on labelled queries.
    Eval(EvalArgs),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

impl Command {
    /// The command's name, for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Command::Scan(_) => "scan",
            Command::Search(_) => "search",
            Command::Chat(_) => "chat",
            Command::Watch(_) => "watch",
            Command::Status => "status",
            Command::Eval(_) => "eval",
            Command::Config(_) => "config",
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// The repository to scan; default: --repo or the current directory.
    pub(crate) path: Option<PathBuf>,
    /// Build the index anew (after a settings change or damage); the old one answers searches
    /// until the new one is complete.
    #[arg(long)]
    pub(crate) rebuild: bool,
    /// Incremental scan: only the files that differ from --base-ref (with no index yet, the
    /// whole tree), reporting those changes.
    #[arg(long, requires = "base_ref")]
    pub(crate) incremental: bool,
    /// The git ref to compare the working tree with (e.g. origin/main).
    #[arg(long, value_name = "REF", requires = "incremental")]
    pub(crate) base_ref: Option<String>,
    /// When another scan holds the index, wait for it (at most SECS seconds if given) instead
    /// of refusing at once.
    #[arg(long, value_name = "SECS", num_args = 0..=1, require_equals = true)]
    pub(crate) wait: Option<Option<u64>>,
    /// Re-scan only this file (changed, added or deleted; relative to the repository's root or
    /// absolute inside it; repeatable): costs what the file costs, whatever the tree's size.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["incremental", "rebuild"])]
    pub(crate) only: Vec<PathBuf>,
    /// Re-scan only the files listed in FILE, one per line (`-`: standard input), e.g.
    /// `git diff --name-only HEAD | ragops scan --only-from -`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["incremental", "rebuild"])]
    pub(crate) only_from: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// The repository to watch; default: --repo or the current directory.
    pub(crate) path: Option<PathBuf>,
    /// How long the tree must stay quiet before the changes are scanned, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub(crate) debounce_ms: u64,
}

impl ScanArgs {
    /// The files of `--only` and `--only-from`, or `None` for the whole tree.
    pub(crate) fn only(&self) -> anyhow::Result<Option<Vec<PathBuf>>> {
        let Some(from) = &self.only_from else {
            return Ok((!self.only.is_empty()).then(|| self.only.clone()));
        };
        let list = if from.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())?
        } else {
            std::fs::read_to_string(from).map_err(|e| {
                ragops_lib::Error::Config(ragops_lib::error::ConfigError::Path {
                    path: from.clone(),
                    message: format!("cannot read --only-from: {e}"),
                })
            })?
        };
        let mut paths = self.only.clone();
        paths.extend(list.lines().map(str::trim).filter(|l| !l.is_empty()).map(PathBuf::from));
        Ok(Some(paths))
    }

    /// How long to wait for another writer: `--wait` alone waits as long as it takes.
    pub(crate) fn wait(&self) -> Option<std::time::Duration> {
        const FOREVER: u64 = 100 * 365 * 24 * 3600;
        self.wait.map(|secs| std::time::Duration::from_secs(secs.unwrap_or(FOREVER)))
    }
}

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// What to look for: words, identifiers, a question.
    pub(crate) query: String,
    /// How many hits.
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) limit: Option<u32>,
    /// Rank distinct files instead of chunks.
    #[arg(long)]
    pub(crate) files: bool,
    /// Only paths matching this glob (e.g. 'src/**/*.rs').
    #[arg(long, value_name = "GLOB")]
    pub(crate) path: Option<String>,
    /// Only this language (e.g. rust, python).
    #[arg(long, value_name = "LANG")]
    pub(crate) lang: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ChatArgs {
    /// The question; without one (and without --changes), an interactive session.
    pub(crate) question: Option<String>,
    /// Answer what changed: uncommitted changes against HEAD, else the last commit (questions
    /// like "What changed?" are detected without it).
    #[arg(long)]
    pub(crate) changes: bool,
    /// With --changes: the changes from this git ref to the working tree.
    #[arg(long, value_name = "REF", requires = "changes")]
    pub(crate) base_ref: Option<String>,
    /// Only paths matching this glob (e.g. 'src/**/*.rs').
    #[arg(long, value_name = "GLOB")]
    pub(crate) path: Option<String>,
    /// Only this language (e.g. rust, python).
    #[arg(long, value_name = "LANG")]
    pub(crate) lang: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// Items to pick from the history (spread evenly over time).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub(crate) max_items: u32,
    /// Only commits at or after this date (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub(crate) since: Option<String>,
    /// Only commits before this date (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub(crate) until: Option<String>,
    /// The revision whose history (or, with --queries, whose tree) is used; default HEAD.
    #[arg(long, value_name = "REV")]
    pub(crate) rev: Option<String>,
    /// Which retrieval legs to use (for ablations); default: the shipped hybrid.
    #[arg(long, value_enum, default_value = "hybrid")]
    pub(crate) retriever: RetrieverArg,
    /// Score a labelled query set instead (JSON lines, or semble's annotation format).
    #[arg(long, value_name = "FILE")]
    pub(crate) queries: Option<std::path::PathBuf>,
    /// With --queries: index only this subdirectory of the tree.
    #[arg(long, value_name = "SUBDIR", requires = "queries")]
    pub(crate) root: Option<String>,
    /// Keep the evaluation index here instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) work_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RetrieverArg {
    Hybrid,
    Lexical,
    Vector,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the effective configuration (secrets masked) and where it came from.
    Show,
}
