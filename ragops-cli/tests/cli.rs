//! End-to-end tests of the `ragops` command.
//!
//! Every test builds a throwaway repository with [`Repo`], runs the real binary in it with an
//! isolated environment (empty `XDG_CONFIG_HOME` and `HOME`, no `RAGOPS_*` variables), and
//! checks exit codes, the JSON documents on stdout and the messages on stderr. Fixtures are
//! generated here, never checked in.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

/// Variables that would let the developer's or CI's environment leak into a test. Every other
/// `RAGOPS_*` variable present is removed as well.
const SCRUBBED_ENV: &[&str] = &[
    "RAGOPS_LOG_FORMAT",
    "RAGOPS_INDEX",
    "RAGOPS_INDEX_DIR",
    "RAGOPS_LOG",
    "RAGOPS_EMBEDDING_PROVIDER",
    "RAGOPS_EMBEDDING_MODEL",
    "RAGOPS_LLM_PROVIDER",
    "RAGOPS_LLM_MODEL",
    "RUST_LOG",
    "NO_COLOR",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_CONFIG",
    "GIT_CONFIG_GLOBAL",
    "GIT_CEILING_DIRECTORIES",
];

/// A temporary repository (plain directory or git work tree) plus a private `HOME`, an empty
/// `XDG_CONFIG_HOME` and a place for files outside the repository (config files, indexes).
struct Repo {
    tmp: TempDir,
    root: PathBuf,
}

impl Repo {
    /// A fresh fixture directory with nothing in the repository yet.
    fn empty() -> Repo {
        let tmp = tempfile::Builder::new().prefix("ragops-cli-").tempdir().expect("create temp dir");
        for sub in ["repo", "home", "xdg", "outside"] {
            fs::create_dir_all(tmp.path().join(sub)).expect("create fixture dir");
        }
        // ragops reports the canonical root; compare against the same.
        let root = tmp.path().join("repo").canonicalize().expect("canonicalize root");
        Repo { tmp, root }
    }

    /// A plain directory, not inside any git repository.
    fn plain() -> Repo {
        let repo = Repo::empty();
        assert!(
            git2::Repository::discover(&repo.root).is_err(),
            "the temp dir {} is inside a git repository; set TMPDIR elsewhere for these tests",
            repo.root.display()
        );
        repo
    }

    /// An empty git repository (no commit yet).
    fn git() -> Repo {
        let repo = Repo::empty();
        git2::Repository::init(&repo.root).expect("git init");
        repo
    }

    /// A path inside the repository.
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes a file inside the repository, creating its parent directories.
    fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Repo {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("create parent dirs");
        }
        fs::write(&p, contents).expect("write fixture file");
        self
    }

    /// Deletes a file inside the repository.
    fn remove(&self, rel: &str) {
        fs::remove_file(self.path(rel)).expect("remove fixture file");
    }

    /// Writes a file outside the repository (e.g. a `--config` file) and returns its path.
    fn outside(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.tmp.path().join("outside").join(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("create parent dirs");
        }
        fs::write(&p, contents).expect("write outside file");
        p
    }

    /// A directory outside the repository, not created.
    fn outside_path(&self, name: &str) -> PathBuf {
        self.tmp.path().join("outside").join(name)
    }

    /// The (initially empty) `XDG_CONFIG_HOME` the commands see.
    fn xdg(&self) -> PathBuf {
        self.tmp.path().join("xdg")
    }

    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    /// Stages everything not ignored (additions, changes, deletions) and commits; returns the
    /// new HEAD sha.
    fn commit_all(&self, message: &str) -> String {
        let repo = git2::Repository::open(&self.root).expect("open git repo");
        let mut index = repo.index().expect("git index");
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).expect("git add");
        index.update_all(["*"], None).expect("git add -u");
        index.write().expect("write git index");
        let tree_id = index.write_tree().expect("write tree");
        let tree = repo.find_tree(tree_id).expect("find tree");
        let sig = git2::Signature::now("ragops test", "test@example.com").expect("signature");
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).expect("git commit");
        id.to_string()
    }

    /// The HEAD sha, read with git2.
    fn head(&self) -> String {
        let repo = git2::Repository::open(&self.root).expect("open git repo");
        let commit = repo.head().expect("HEAD").peel_to_commit().expect("HEAD commit");
        commit.id().to_string()
    }

    /// Environment settings every command gets: (set, remove).
    fn env(&self) -> (Vec<(&'static str, OsString)>, Vec<OsString>) {
        let set = vec![
            ("HOME", self.home().into_os_string()),
            ("XDG_CONFIG_HOME", self.xdg().into_os_string()),
            ("GIT_CONFIG_NOSYSTEM", OsString::from("1")),
        ];
        let mut remove: Vec<OsString> = SCRUBBED_ENV.iter().map(OsString::from).collect();
        remove.extend(std::env::vars_os().map(|(k, _)| k).filter(|k| k.to_string_lossy().starts_with("RAGOPS_")));
        (set, remove)
    }

    /// `ragops` with the isolated environment, run in `dir`.
    fn cmd_in(&self, dir: &Path) -> Command {
        let mut cmd = Command::cargo_bin("ragops").expect("the ragops binary");
        let (set, remove) = self.env();
        for k in remove {
            cmd.env_remove(k);
        }
        for (k, v) in set {
            cmd.env(k, v);
        }
        cmd.current_dir(dir);
        cmd
    }

    /// `ragops` with the isolated environment, run at the repository root.
    fn cmd(&self) -> Command {
        self.cmd_in(&self.root)
    }

    /// The same, as a `std::process::Command` (for custom stdio).
    fn std_cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("ragops"));
        let (set, remove) = self.env();
        for k in remove {
            cmd.env_remove(k);
        }
        for (k, v) in set {
            cmd.env(k, v);
        }
        cmd.current_dir(&self.root);
        cmd
    }

    /// Runs `ragops ARGS` at the root.
    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run ragops")
    }

    /// Runs `ragops ARGS`, which must succeed without a panic and print one JSON document.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        parse_success(args, &out)
    }

    /// Runs `ragops ARGS`, which must fail with `code` and one clean error line; returns stderr.
    fn fail(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_clean_failure(args, &out, Some(code))
    }

    /// `ragops scan --json` (plus extra args), which must succeed.
    fn scan(&self, extra: &[&str]) -> Value {
        let mut args = extra.to_vec();
        args.extend(["scan", "--json"]);
        self.json(&args)
    }

    /// The `hits` of `ragops search QUERY --json EXTRA...`.
    fn search(&self, query: &str, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["search", query, "--json"];
        args.extend(extra);
        let v = self.json(&args);
        assert_eq!(v["query"], query, "search JSON echoes the query: {v}");
        v["hits"].as_array().unwrap_or_else(|| panic!("search JSON has a hits array: {v}")).clone()
    }

    /// Lines of a repository file (for checking line ranges).
    fn lines(&self, rel: &str) -> Vec<String> {
        fs::read_to_string(self.path(rel)).expect("read fixture file").lines().map(str::to_string).collect()
    }
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_no_panic(args: &[&str], out: &Output) {
    let stderr = stderr_of(out);
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "ragops {args:?} panicked:\n{stderr}");
}

fn parse_success(args: &[&str], out: &Output) -> Value {
    assert_no_panic(args, out);
    assert!(
        out.status.success(),
        "ragops {args:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout_of(out),
        stderr_of(out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("ragops {args:?} did not print one JSON document ({e}):\n{}", stdout_of(out)))
}

/// A failure with (if given) this exit code, nothing on stdout, no panic and exactly one
/// `error: ...` line on stderr. Returns stderr.
fn assert_clean_failure(args: &[&str], out: &Output, code: Option<i32>) -> String {
    assert_no_panic(args, out);
    let stderr = stderr_of(out);
    match code {
        Some(code) => assert_eq!(out.status.code(), Some(code), "ragops {args:?}: wrong exit code\nstderr:\n{stderr}"),
        None => assert!(
            !out.status.success() && out.status.code().is_some(),
            "ragops {args:?} should fail with an exit code, got {:?}\nstderr:\n{stderr}",
            out.status.code()
        ),
    }
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "ragops {args:?}: expected one error line on stderr, got:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "ragops {args:?}: stderr is not an error line:\n{stderr}");
    assert!(out.stdout.is_empty(), "ragops {args:?}: nothing on stdout on error, got:\n{}", stdout_of(out));
    stderr
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("`{key}` is a non-negative integer in {v}"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("`{key}` is a string in {v}"))
}

fn skipped(summary: &Value, reason: &str) -> u64 {
    summary["skipped"][reason].as_u64().unwrap_or(0)
}

fn paths_of(hits: &[Value]) -> Vec<String> {
    hits.iter().map(|h| str_of(h, "path").to_string()).collect()
}

fn assert_scores_non_increasing(hits: &[Value]) {
    let scores: Vec<f64> =
        hits.iter().map(|h| h["score"].as_f64().unwrap_or_else(|| panic!("`score` is a number in {h}"))).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "hits are best first (scores non-increasing): {scores:?}");
}

fn assert_relative_path(repo: &Repo, path: &str) {
    assert!(
        !path.is_empty() && !path.starts_with('/') && !path.starts_with("./") && !path.contains('\\'),
        "path {path:?} is relative to the repository root, `/`-separated"
    );
    assert!(repo.path(path).is_file(), "path {path:?} names a file under the root");
}

/// Checks one chunk hit of `search --json` against the file on disk: keys, relative path,
/// 1-based inclusive lines, and a text that is exactly those lines.
fn assert_chunk_hit(repo: &Repo, hit: &Value) {
    for key in ["path", "start_line", "end_line", "score", "language", "text"] {
        assert!(hit.get(key).is_some(), "hit has `{key}`: {hit}");
    }
    let path = str_of(hit, "path");
    assert_relative_path(repo, path);
    let start = u64_of(hit, "start_line") as usize;
    let end = u64_of(hit, "end_line") as usize;
    let lines = repo.lines(path);
    assert!(
        start >= 1 && start <= end && end <= lines.len(),
        "lines {start}-{end} within {path} ({} lines)",
        lines.len()
    );
    let text: Vec<&str> = str_of(hit, "text").lines().collect();
    assert_eq!(text, lines[start - 1..end], "the text of {path}:{start}-{end} is those lines (1-based, inclusive)");
    let expected_language = match path.rsplit_once('.').map(|(_, e)| e) {
        Some("rs") => "rust",
        Some("py") => "python",
        Some("md") => "markdown",
        Some("toml") => "toml",
        _ => "text",
    };
    assert_eq!(str_of(hit, "language"), expected_language, "language of {path}");
    assert!(hit["symbol"].is_null() || hit["symbol"].is_string(), "symbol is a string or null: {hit}");
}

/// A Rust module of many small functions (several chunks at the default 40 lines), with `target`
/// in the middle. Returns the text and the 1-based line of `fn target`.
fn rust_module(target: &str, body: &str) -> (String, usize) {
    let mut text = String::from("//! Generated module.\n\n");
    let mut target_line = 0;
    for i in 0..30 {
        if i == 17 {
            target_line = text.lines().count() + 1;
            text.push_str(&format!("pub fn {target}(data: &[u8]) -> u32 {{\n    {body}\n}}\n\n"));
        }
        text.push_str(&format!("pub fn helper_{i}(x: u32) -> u32 {{\n    x.wrapping_mul({i}) + {i}\n}}\n\n"));
    }
    (text, target_line)
}

const PYTHON_TOOL: &str = r#"import time


def load_settings(path):
    with open(path) as f:
        return f.read()


def retry_with_backoff(operation, attempts=5, delay=0.5):
    """Call operation until it succeeds, sleeping longer after each failure."""
    for attempt in range(attempts):
        try:
            return operation()
        except ConnectionError:
            time.sleep(delay * 2 ** attempt)
    raise RuntimeError("gave up")


def main():
    print(load_settings("settings.ini"))
"#;

const RUST_NET: &str = "use std::net::TcpStream;\n\n/// Opens a connection.\npub fn open_socket(addr: &str) -> std::io::Result<TcpStream> {\n    TcpStream::connect(addr)\n}\n";

/// A git repository with a few Rust and Python files, committed. Returns the repo and the line
/// of `fn compute_checksum_crc` in `src/lib.rs`.
fn sample_repo() -> (Repo, usize) {
    let repo = Repo::git();
    let (lib, line) =
        rust_module("compute_checksum_crc", "data.iter().fold(0u32, |acc, b| acc.rotate_left(5) ^ u32::from(*b))");
    repo.write("src/lib.rs", lib);
    repo.write("src/net.rs", RUST_NET);
    repo.write("scripts/tool.py", PYTHON_TOOL);
    repo.commit_all("initial");
    (repo, line)
}

// ---------------------------------------------------------------------------------------------
// 1. scan → search
// ---------------------------------------------------------------------------------------------

#[test]
fn scan_then_search_finds_the_function() {
    let (repo, line) = sample_repo();
    let out = repo.run(&["scan"]);
    assert_no_panic(&["scan"], &out);
    assert!(out.status.success(), "scan failed: {}", stderr_of(&out));

    let hits = repo.search("compute_checksum_crc", &[]);
    assert!(!hits.is_empty(), "a hit for an indexed function name");
    let top = &hits[0];
    assert_eq!(str_of(top, "path"), "src/lib.rs", "top hit: {top}");
    let (start, end) = (u64_of(top, "start_line") as usize, u64_of(top, "end_line") as usize);
    assert!(start <= line && line <= end, "top hit {start}-{end} contains line {line}");
    assert!(str_of(top, "text").contains("fn compute_checksum_crc("), "top hit text: {top}");
    // A merged run of small functions carries the symbol of its first one.
    assert!(str_of(top, "symbol").starts_with("fn "), "the chunk's definition: {top}");
    for hit in &hits {
        assert_chunk_hit(&repo, hit);
    }
    assert_scores_non_increasing(&hits);

    let hits = repo.search("retry_with_backoff", &[]);
    assert_eq!(str_of(&hits[0], "path"), "scripts/tool.py", "top hit: {}", hits[0]);
    assert_eq!(str_of(&hits[0], "language"), "python");
    assert!(str_of(&hits[0], "text").contains("def retry_with_backoff("));
    for hit in &hits {
        assert_chunk_hit(&repo, hit);
    }
    assert_scores_non_increasing(&hits);
}

#[test]
fn search_limit_caps_the_hits() {
    let (repo, _) = sample_repo();
    repo.scan(&[]);
    let all = repo.search("fn", &[]);
    assert!(all.len() > 2, "the sample has more than two chunks: {}", all.len());
    assert_eq!(repo.search("fn", &["--limit", "2"]).len(), 2);
    assert_eq!(repo.search("fn", &["-n", "1"]).len(), 1);
    let out = repo.run(&["search", "fn", "--limit", "0"]);
    assert_no_panic(&["search", "--limit", "0"], &out);
    assert_eq!(out.status.code(), Some(2), "--limit 0 is a usage error");
}

#[test]
fn search_text_output_cites_path_and_lines() {
    let (repo, _) = sample_repo();
    repo.scan(&[]);
    let hits = repo.search("compute_checksum_crc", &[]);
    let citation =
        format!("{}:{}-{}", str_of(&hits[0], "path"), u64_of(&hits[0], "start_line"), u64_of(&hits[0], "end_line"));
    let out = repo.run(&["search", "compute_checksum_crc"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    assert!(stdout.lines().next().is_some_and(|l| l.contains(&citation)), "first result cites {citation}:\n{stdout}");
}

#[test]
fn scan_from_a_subdirectory_uses_the_git_top_level() {
    let (repo, _) = sample_repo();
    let out = repo.cmd_in(&repo.path("src")).args(["scan", "--json"]).output().expect("run ragops");
    let summary = parse_success(&["scan", "--json"], &out);
    assert_eq!(Path::new(str_of(&summary, "root")), repo.root, "root is the git top level");
    assert_eq!(u64_of(&summary, "files_indexed"), 3, "the whole repository is scanned: {summary}");
    assert!(repo.path(".ragops").is_dir(), "the index lives in <root>/.ragops");
    assert!(!repo.path("src/.ragops").exists(), "no index in the subdirectory");
    // From the subdirectory, result paths are still relative to the root.
    let out =
        repo.cmd_in(&repo.path("scripts")).args(["search", "open_socket", "--json"]).output().expect("run ragops");
    let v = parse_success(&["search", "open_socket", "--json"], &out);
    assert_eq!(v["hits"][0]["path"], "src/net.rs", "{v}");
}

// ---------------------------------------------------------------------------------------------
// 2. search --files
// ---------------------------------------------------------------------------------------------

#[test]
fn search_files_ranks_distinct_files() {
    let (repo, line) = sample_repo();
    repo.scan(&[]);
    let hits = repo.search("compute_checksum_crc", &["--files"]);
    assert!(!hits.is_empty());
    for hit in &hits {
        for key in ["path", "score", "best"] {
            assert!(hit.get(key).is_some(), "file hit has `{key}`: {hit}");
        }
        let path = str_of(hit, "path");
        assert_relative_path(&repo, path);
        let start = u64_of(&hit["best"], "start_line") as usize;
        let end = u64_of(&hit["best"], "end_line") as usize;
        let n = repo.lines(path).len();
        assert!(start >= 1 && start <= end && end <= n, "best {start}-{end} within {path} ({n} lines)");
    }
    let paths = paths_of(&hits);
    let mut distinct = paths.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), paths.len(), "distinct paths: {paths:?}");
    assert_scores_non_increasing(&hits);
    assert_eq!(paths[0], "src/lib.rs");
    let best = &hits[0]["best"];
    let (start, end) = (u64_of(best, "start_line") as usize, u64_of(best, "end_line") as usize);
    assert!(start <= line && line <= end, "best {start}-{end} of the top file contains line {line}");
    // `--limit` counts files.
    assert_eq!(repo.search("fn", &["--files", "--limit", "2"]).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 3. status
// ---------------------------------------------------------------------------------------------

const FROZEN_METADATA_KEYS: [&str; 7] = [
    "repo_commit",
    "embedding_provider",
    "embedding_model",
    "chunk_size",
    "chunk_overlap",
    "index_version",
    "created_at",
];

#[test]
fn status_reports_metadata_and_counts() {
    let (repo, _) = sample_repo();
    let head = repo.head();
    let summary = repo.scan(&[]);
    let status = repo.json(&["status", "--json"]);
    for key in FROZEN_METADATA_KEYS.iter().chain(&["files", "chunks", "bytes", "disk_bytes"]) {
        assert!(status.get(*key).is_some(), "status has `{key}` at the top level: {status}");
    }
    assert_eq!(str_of(&status, "repo_commit"), head, "repo_commit is HEAD");
    assert_eq!(str_of(&status, "embedding_provider"), "builtin");
    assert!(!str_of(&status, "embedding_model").is_empty());
    assert_eq!(u64_of(&status, "chunk_size"), 40, "the default chunk size");
    assert_eq!(u64_of(&status, "chunk_overlap"), 0, "the default overlap");
    assert!(u64_of(&status, "index_version") >= 1);
    let created = str_of(&status, "created_at");
    assert!(
        created.len() >= 20 && created.as_bytes()[4] == b'-' && created.contains('T'),
        "created_at is RFC 3339: {created}"
    );
    assert_eq!(u64_of(&status, "files"), 3);
    assert_eq!(u64_of(&status, "chunks"), u64_of(&summary, "chunks"));
    let source_bytes: u64 = ["src/lib.rs", "src/net.rs", "scripts/tool.py"]
        .iter()
        .map(|p| fs::metadata(repo.path(p)).expect("stat").len())
        .sum();
    assert_eq!(u64_of(&status, "bytes"), source_bytes, "bytes of indexed source");
    assert!(u64_of(&status, "disk_bytes") > 0);

    // A new commit and a re-scan: repo_commit follows HEAD, created_at stays.
    repo.write("src/extra.rs", "pub fn extra_function() {}\n");
    let new_head = repo.commit_all("second");
    let before = repo.json(&["status", "--json"]);
    assert_eq!(before["stale"], true, "status says HEAD moved since the scan: {before}");
    repo.scan(&[]);
    let after = repo.json(&["status", "--json"]);
    assert_eq!(str_of(&after, "repo_commit"), new_head);
    assert_eq!(after["created_at"], status["created_at"], "created_at is when the index was first created");
    assert_eq!(u64_of(&after, "files"), 4);
}

#[test]
fn status_reflects_configured_chunking() {
    let (repo, _) = sample_repo();
    repo.write("ragops.toml", "[chunking]\nchunk_size = 12\nchunk_overlap = 2\n");
    repo.scan(&[]);
    let status = repo.json(&["status", "--json"]);
    assert_eq!(u64_of(&status, "chunk_size"), 12);
    assert_eq!(u64_of(&status, "chunk_overlap"), 2);
    for hit in repo.search("helper", &["--limit", "50"]) {
        let (start, end) = (u64_of(&hit, "start_line"), u64_of(&hit, "end_line"));
        assert!(end - start < 12, "chunks have at most 12 lines: {start}-{end}");
        assert_chunk_hit(&repo, &hit);
    }
}

#[test]
fn status_outside_git_has_null_repo_commit() {
    let repo = Repo::plain();
    repo.write("main.py", PYTHON_TOOL);
    repo.scan(&[]);
    let status = repo.json(&["status", "--json"]);
    assert!(status.get("repo_commit").is_some(), "the key is present: {status}");
    assert!(status["repo_commit"].is_null(), "repo_commit is null outside git: {status}");
    assert_eq!(u64_of(&status, "files"), 1);
    // Outside git the path itself is the root.
    assert_eq!(str_of(&repo.search("retry_with_backoff", &[])[0], "path"), "main.py");
}

// ---------------------------------------------------------------------------------------------
// 4. scan summary, .gitignore, skip reasons
// ---------------------------------------------------------------------------------------------

#[test]
fn scan_summary_respects_gitignore_and_counts_skips() {
    let repo = Repo::git();
    repo.write("src/lib.rs", "pub fn kept_function() -> u32 {\n    7\n}\n");
    repo.write("util.py", "def kept_helper():\n    return 1\n");
    repo.write("ragops.toml", "[scan]\nmax_file_size = 100\n");
    repo.write(".gitignore", "generated/\n*.log\n");
    repo.write("generated/out.rs", "pub fn ignored_generated_marker() {}\n");
    repo.write("debug.log", "ignored_log_marker\n");
    repo.write("data.bin", b"abc\0def\0ghi".as_slice());
    repo.write("latin1.txt", b"caf\xe9 cr\xe8me \xff\xfe".as_slice());
    repo.write("big.rs", format!("// {}\npub fn oversized_marker() {{}}\n", "x".repeat(200)));
    let mut expected_indexed = vec!["ragops.toml", "src/lib.rs", "util.py"];

    // An unreadable file, where permissions can make one (not as root).
    let unreadable_checked = make_unreadable_file(&repo, "locked.rs", "pub fn locked_marker() {}\n");
    if !unreadable_checked {
        expected_indexed.push("locked.rs");
    }

    let summary = repo.scan(&[]);
    for key in ["files_indexed", "chunks", "bytes", "cache_hits", "cache_misses"] {
        u64_of(&summary, key);
    }
    assert!(summary["seconds"].as_f64().is_some_and(|s| s >= 0.0), "seconds: {summary}");
    assert!(summary["skipped"].is_object(), "skipped by reason: {summary}");
    assert_eq!(u64_of(&summary, "files_indexed"), expected_indexed.len() as u64, "{summary}");
    assert_eq!(skipped(&summary, "binary"), 1, "{summary}");
    assert_eq!(skipped(&summary, "invalid_utf8"), 1, "{summary}");
    assert_eq!(skipped(&summary, "oversized"), 1, "{summary}");
    if unreadable_checked {
        assert_eq!(skipped(&summary, "unreadable"), 1, "{summary}");
    }
    let expected_bytes: u64 = expected_indexed.iter().map(|p| fs::metadata(repo.path(p)).expect("stat").len()).sum();
    assert_eq!(u64_of(&summary, "bytes"), expected_bytes, "bytes of the indexed files: {summary}");
    assert!(u64_of(&summary, "chunks") >= expected_indexed.len() as u64);
    assert_eq!(
        u64_of(&summary, "cache_hits") + u64_of(&summary, "cache_misses"),
        u64_of(&summary, "chunks"),
        "every chunk of a first scan is a cache hit or a miss: {summary}"
    );

    let status = repo.json(&["status", "--json"]);
    assert_eq!(u64_of(&status, "files"), expected_indexed.len() as u64);
    let everything = repo.search("marker", &["--files", "--limit", "100"]);
    let paths = paths_of(&everything);
    for absent in ["generated/out.rs", "debug.log", "data.bin", "latin1.txt", "big.rs"] {
        assert!(!paths.iter().any(|p| p == absent), "{absent} is not indexed: {paths:?}");
    }
    for hit in repo.search("ignored_generated_marker", &[]) {
        assert!(!str_of(&hit, "path").starts_with("generated/"), "gitignored file returned: {hit}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(repo.path("locked.rs"), fs::Permissions::from_mode(0o644)).expect("restore permissions");
    }
}

/// Makes `rel` unreadable; returns whether that worked (false as root, or off unix), in which
/// case the file is left readable.
fn make_unreadable_file(repo: &Repo, rel: &str, contents: &str) -> bool {
    repo.write(rel, contents);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(repo.path(rel), fs::Permissions::from_mode(0o000)).expect("chmod 000");
        if fs::read(repo.path(rel)).is_err() {
            return true;
        }
        fs::set_permissions(repo.path(rel), fs::Permissions::from_mode(0o644)).expect("chmod 644");
    }
    false
}

#[test]
fn unreadable_directory_inside_the_tree_is_skipped() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let repo = Repo::plain();
        repo.write("src/main.rs", "fn main() {}\n");
        repo.write("private/keys.rs", "pub fn private_marker() {}\n");
        let dir = repo.path("private");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o000)).expect("chmod 000");
        let readable = fs::read_dir(&dir).is_ok();
        let out = repo.run(&["scan", "--json"]);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod 755");
        if readable {
            eprintln!("skipping the unreadable-directory assertion: permissions are not enforced");
            return;
        }
        let summary = parse_success(&["scan", "--json"], &out);
        assert_eq!(u64_of(&summary, "files_indexed"), 1, "{summary}");
        assert_eq!(skipped(&summary, "unreadable"), 1, "{summary}");
        assert!(stderr_of(&out).contains("private"), "a warning names it: {}", stderr_of(&out));
    }
}

#[test]
fn skipped_files_are_warned_about_on_stderr() {
    let repo = Repo::plain();
    repo.write("a.rs", "fn a() {}\n");
    repo.write("blob.dat", b"\0\x01\x02".as_slice());
    let out = repo.run(&["scan"]);
    assert!(out.status.success());
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("blob.dat") && stderr.contains("binary"),
        "a warning names the skipped file and why:\n{stderr}"
    );
    // Many skipped files: one line per reason naming a few, each file with -v.
    for i in 0..8 {
        repo.write(&format!("blob{i}.bin"), b"\0\x01".as_slice());
    }
    let stderr = stderr_of(&repo.run(&["scan"]));
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("binary")).collect();
    assert_eq!(lines.len(), 1, "one summary line:\n{stderr}");
    assert!(lines[0].contains("skipped 9 files") && lines[0].contains("6 more: -v lists them"), "{stderr}");
    let verbose = stderr_of(&repo.run(&["-v", "scan"]));
    assert!((0..8).all(|i| verbose.contains(&format!("blob{i}.bin"))), "-v names every file:\n{verbose}");
    for i in 0..8 {
        repo.remove(&format!("blob{i}.bin"));
    }
    // --quiet: only errors.
    repo.remove("blob.dat");
    repo.write("blob2.dat", b"\0\x01\x02".as_slice());
    let out = repo.run(&["--quiet", "scan"]);
    assert!(out.status.success());
    assert_eq!(stderr_of(&out), "", "--quiet prints no warnings");
}

#[test]
fn warnings_on_a_pipe_have_no_colour_codes() {
    let repo = Repo::plain();
    repo.write("a.rs", "fn a() {}\n");
    repo.write("blob.dat", b"\0\x01\x02".as_slice());
    let out = repo.run(&["scan"]);
    assert!(out.status.success());
    let stderr = stderr_of(&out);
    assert!(stderr.contains("blob.dat"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI escapes when stderr is not a terminal: {stderr:?}");
}

#[test]
fn vendored_directories_are_skipped_and_counted() {
    let repo = Repo::plain();
    repo.write("src/main.rs", "fn main() {}\n");
    repo.write("vendor/dep/lib.rs", "pub fn vendored_marker() {}\n");
    repo.write("node_modules/pkg/index.js", "module.exports = 1;\n");
    let summary = repo.scan(&[]);
    assert_eq!(u64_of(&summary, "files_indexed"), 1, "{summary}");
    assert_eq!(skipped(&summary, "vendored"), 2, "{summary}");
}

// ---------------------------------------------------------------------------------------------
// 5. re-scan
// ---------------------------------------------------------------------------------------------

#[test]
fn rescan_costs_what_changed() {
    let repo = Repo::git();
    // A provider whose vectors are cached (the mock stands for a remote one; the built-in
    // provider's vectors live only in the index).
    let config = repo.outside("mock.toml", "[embedding]\nprovider = \"mock\"\n");
    let c = ["--config", config.to_str().expect("utf-8")];
    repo.write("a.rs", "pub fn alpha_unique_function() -> u8 {\n    1\n}\n");
    repo.write("b.rs", "pub fn bravo_unique_function() -> u8 {\n    2\n}\n");
    repo.write("c.py", "def charlie_unique_function():\n    return 3\n");
    repo.write("d.py", "def delta_unique_function():\n    return 4\n");
    repo.commit_all("four files");
    let first = repo.scan(&c);
    let n = u64_of(&first, "files_indexed");
    assert_eq!(n, 4);

    let second = repo.scan(&c);
    assert_eq!(u64_of(&second, "files_indexed"), 0, "nothing changed: {second}");
    assert_eq!(u64_of(&second, "files_unchanged"), n, "{second}");
    assert_eq!(u64_of(&second, "files_deleted"), 0, "{second}");
    assert_eq!(u64_of(&second, "cache_misses"), 0, "nothing re-embedded: {second}");
    assert_eq!(u64_of(&second, "chunks"), 0, "{second}");

    // Modify one file (different size, so any mtime granularity is irrelevant).
    repo.write("a.rs", "pub fn alpha_unique_function() -> u8 {\n    1 + 100\n}\n\npub fn alpha_added_function() {}\n");
    let third = repo.scan(&c);
    assert_eq!(u64_of(&third, "files_indexed"), 1, "one file changed: {third}");
    assert_eq!(u64_of(&third, "files_unchanged"), n - 1, "{third}");
    assert_eq!(str_of(&repo.search("alpha_added_function", &c)[0], "path"), "a.rs");

    // Delete one.
    let d_text = fs::read_to_string(repo.path("d.py")).expect("read");
    repo.remove("d.py");
    let fourth = repo.scan(&c);
    assert_eq!(u64_of(&fourth, "files_deleted"), 1, "{fourth}");
    assert_eq!(u64_of(&fourth, "files_indexed"), 0, "{fourth}");
    assert_eq!(u64_of(&fourth, "files_unchanged"), n - 1, "{fourth}");
    let paths = paths_of(&repo.search("delta_unique_function", &["--limit", "100", c[0], c[1]]));
    assert!(!paths.iter().any(|p| p == "d.py"), "a deleted file leaves the index: {paths:?}");
    assert_eq!(u64_of(&repo.json(&[c[0], c[1], "status", "--json"]), "files"), n - 1);

    // Restore it: its chunks come from the embedding cache.
    repo.write("d.py", &d_text);
    let fifth = repo.scan(&c);
    assert_eq!(u64_of(&fifth, "files_indexed"), 1, "{fifth}");
    assert_eq!(u64_of(&fifth, "cache_misses"), 0, "embeddings are cached by content hash: {fifth}");
    assert_eq!(u64_of(&fifth, "cache_hits"), u64_of(&fifth, "chunks"), "{fifth}");
}

#[test]
fn only_rescans_the_listed_files() {
    let repo = Repo::git();
    repo.write("a.rs", "pub fn alpha_unique_function() -> u8 {\n    1\n}\n");
    repo.write("b.rs", "pub fn bravo_unique_function() -> u8 {\n    2\n}\n");
    repo.write("ignored/c.rs", "pub fn ignored_unique_function() {}\n");
    repo.write(".gitignore", "ignored/\n");
    repo.write("d.py", "def delta_unique_function():\n    return 4\n");
    repo.commit_all("init");
    assert_eq!(u64_of(&repo.scan(&[]), "files_indexed"), 3);

    // Two files change, one is deleted; only the listed ones are looked at.
    repo.write("a.rs", "pub fn alpha_only_changed() -> u8 {\n    1 + 100\n}\n");
    repo.write("b.rs", "pub fn bravo_not_listed() -> u8 {\n    2 + 200\n}\n");
    repo.remove("d.py");
    let abs = repo.path("a.rs");
    let summary = repo.json(&["scan", "--json", "--only", abs.to_str().expect("utf-8"), "--only", "./d.py"]);
    assert_eq!(u64_of(&summary, "files_indexed"), 1, "{summary}");
    assert_eq!(u64_of(&summary, "files_deleted"), 1, "{summary}");
    assert_eq!(u64_of(&summary, "files_unchanged"), 0, "unlisted files are not even looked at: {summary}");
    assert_eq!(str_of(&repo.search("alpha_only_changed", &[])[0], "path"), "a.rs");
    assert!(
        repo.search("bravo_not_listed", &["--limit", "100"])
            .iter()
            .all(|h| !str_of(h, "text").contains("bravo_not_listed")),
        "an unlisted change waits for the next scan"
    );
    assert!(!paths_of(&repo.search("delta_unique_function", &["--limit", "100"])).contains(&"d.py".to_string()));
    assert_eq!(u64_of(&repo.json(&["status", "--json"]), "files"), 2);

    // A list on standard input; an ignored file stays out even when listed.
    let out = repo
        .cmd()
        .args(["scan", "--json", "--only-from", "-"])
        .write_stdin("b.rs\n\nignored/c.rs\n")
        .output()
        .expect("run");
    let summary = parse_success(&["scan", "--only-from", "-"], &out);
    assert_eq!(u64_of(&summary, "files_indexed"), 1, "{summary}");
    assert_eq!(str_of(&repo.search("bravo_not_listed", &[])[0], "path"), "b.rs");
    assert!(
        !paths_of(&repo.search("ignored_unique_function", &["--limit", "100"])).contains(&"ignored/c.rs".to_string())
    );

    // Nothing listed changed (an ignored file, a file as it was): nothing is published.
    let generation = u64_of(&repo.json(&["status", "--json"]), "generation");
    let summary = repo.json(&["scan", "--json", "--only", "ignored/c.rs", "--only", "b.rs"]);
    assert_eq!((u64_of(&summary, "files_indexed"), u64_of(&summary, "files_unchanged")), (0, 1), "{summary}");
    assert_eq!(u64_of(&summary["index"], "generation"), generation, "no new generation: {summary}");
    assert_eq!(u64_of(&repo.json(&["status", "--json"]), "generation"), generation);

    // A directory stands for the files under it: added, then removed.
    repo.write("pkg/inner/x.rs", "pub fn pkg_x_function() {}\n");
    repo.write("pkg/y.rs", "pub fn pkg_y_function() {}\n");
    let summary = repo.json(&["scan", "--json", "--only", "pkg"]);
    assert_eq!(u64_of(&summary, "files_indexed"), 2, "{summary}");
    fs::remove_dir_all(repo.path("pkg")).expect("remove pkg");
    let summary = repo.json(&["scan", "--json", "--only", "pkg"]);
    assert_eq!(u64_of(&summary, "files_deleted"), 2, "{summary}");
    assert_eq!(u64_of(&repo.json(&["status", "--json"]), "files"), 2);
}

#[test]
fn watch_rescans_each_change_until_interrupted() {
    use std::io::BufRead;
    use std::time::Duration;
    let repo = Repo::git();
    repo.write("a.rs", "pub fn alpha_unique_function() {}\n");
    repo.commit_all("init");
    let mut child = repo
        .std_cmd()
        .args(["watch", "--json", "--debounce-ms", "50"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ragops watch");
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(serde_json::from_str(&line).unwrap_or_else(|e| panic!("a JSON line ({e}): {line}")));
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(60)).expect("a scan reported within a minute");
    let first = next();
    assert_eq!(
        (u64_of(&first, "files_indexed"), first["paths"].clone()),
        (1, Value::Null),
        "a whole scan first: {first}"
    );

    repo.write("b.rs", "pub fn bravo_watched_function() {}\n");
    let mut seen = next();
    // An editor may write in several steps: wait for the scan that indexed b.rs.
    while u64_of(&seen["index"], "files") < 2 {
        seen = next();
    }
    assert!(seen["paths"].as_array().is_some_and(|p| p.iter().any(|p| p == "b.rs")), "{seen}");
    assert_eq!(u64_of(&seen, "files_unchanged"), 0, "only the changed path is looked at: {seen}");
    assert_eq!(str_of(&repo.search("bravo_watched_function", &[])[0], "path"), "b.rs");

    repo.remove("a.rs");
    let mut seen = next();
    while u64_of(&seen["index"], "files") != 1 {
        seen = next();
    }
    assert_eq!(u64_of(&seen, "files_deleted"), 1, "{seen}");

    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "Ctrl-C ends a watch normally: {}", stderr_of(&out));
}

#[test]
fn only_refuses_paths_outside_the_repository() {
    let repo = Repo::git();
    repo.write("a.rs", "pub fn a() {}\n");
    repo.commit_all("init");
    repo.scan(&[]);
    let outside = repo.outside("x.rs", "pub fn x() {}\n");
    for path in [outside.to_str().expect("utf-8"), "../x.rs"] {
        let err = repo.fail(&["scan", "--only", path], 2);
        assert!(err.contains("not a path inside the repository"), "{err}");
    }
    let err = repo.fail(&["scan", "--only-from", repo.outside_path("missing.txt").to_str().expect("utf-8")], 2);
    assert!(err.contains("cannot read --only-from"), "{err}");
    let out = repo.run(&["scan", "--only", "a.rs", "--rebuild"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("cannot be used with"), "{}", stderr_of(&out));
}

#[test]
fn renamed_file_leaves_its_old_path() {
    let repo = Repo::git();
    repo.write("old_name.rs", "pub fn renamed_marker_function() -> u8 {\n    9\n}\n");
    repo.write("other.rs", "pub fn other_function() {}\n");
    repo.commit_all("init");
    // A provider whose vectors are cached (the mock stands for a remote one): the renamed
    // file's chunks are not embedded again.
    let config = repo.outside("mock.toml", "[embedding]\nprovider = \"mock\"\n");
    let config_arg = config.to_str().expect("utf-8");
    repo.json(&["--config", config_arg, "scan", "--json"]);
    fs::rename(repo.path("old_name.rs"), repo.path("new_name.rs")).expect("rename");
    let summary = repo.json(&["--config", config_arg, "scan", "--json"]);
    assert_eq!(u64_of(&summary, "files_deleted"), 1, "{summary}");
    assert_eq!(u64_of(&summary, "files_indexed"), 1, "{summary}");
    assert_eq!(u64_of(&summary, "cache_misses"), 0, "same content, cached vectors: {summary}");
    let paths = paths_of(&repo.search("renamed_marker_function", &["--limit", "100", "--config", config_arg]));
    assert_eq!(paths.first().map(String::as_str), Some("new_name.rs"), "{paths:?}");
    assert!(!paths.iter().any(|p| p == "old_name.rs"), "{paths:?}");
}

#[test]
fn builtin_provider_embeds_a_renamed_file_again_instead_of_caching() {
    // The built-in embedder costs about what the cache would: its vectors live only in the
    // index, and a renamed file is embedded again (cheaply), with the same result.
    let repo = Repo::git();
    repo.write("old_name.rs", "pub fn renamed_marker_function() -> u8 {\n    9\n}\n");
    repo.commit_all("init");
    repo.scan(&[]);
    fs::rename(repo.path("old_name.rs"), repo.path("new_name.rs")).expect("rename");
    let summary = repo.scan(&[]);
    assert_eq!((u64_of(&summary, "files_indexed"), u64_of(&summary, "files_deleted")), (1, 1), "{summary}");
    assert_eq!(u64_of(&summary, "cache_misses"), 1, "{summary}");
    let paths = paths_of(&repo.search("renamed_marker_function", &["--limit", "100"]));
    assert_eq!(paths, ["new_name.rs"]);
}

// ---------------------------------------------------------------------------------------------
// 6. --path and --lang filters
// ---------------------------------------------------------------------------------------------

#[test]
fn search_filters_restrict_results() {
    let repo = Repo::git();
    repo.write("src/client.rs", "pub fn retry_request(attempts: u32) -> bool {\n    attempts > 0\n}\n");
    repo.write("src/server/handler.rs", "pub fn handle_retry_request() {}\n");
    repo.write("scripts/retry.py", "def retry_request(attempts):\n    return attempts > 0\n");
    repo.write("docs/retry.md", "# Retry\n\nHow retry_request backs off.\n");
    repo.commit_all("init");
    repo.scan(&[]);

    let all = paths_of(&repo.search("retry_request", &["--limit", "100"]));
    for p in ["src/client.rs", "scripts/retry.py", "docs/retry.md"] {
        assert!(all.iter().any(|x| x == p), "unfiltered search finds {p}: {all:?}");
    }

    let py = repo.search("retry_request", &["--lang", "python", "--limit", "100"]);
    assert!(!py.is_empty());
    for h in &py {
        assert_eq!(str_of(h, "language"), "python", "{h}");
        assert!(str_of(h, "path").ends_with(".py"), "{h}");
    }

    let rust = paths_of(&repo.search("retry_request", &["--lang", "rust", "--limit", "100"]));
    assert!(!rust.is_empty());
    assert!(rust.iter().all(|p| p.ends_with(".rs")), "{rust:?}");

    let src = paths_of(&repo.search("retry_request", &["--path", "src/**", "--limit", "100"]));
    assert!(src.iter().any(|p| p == "src/client.rs") && src.iter().any(|p| p == "src/server/handler.rs"), "{src:?}");
    assert!(src.iter().all(|p| p.starts_with("src/")), "{src:?}");

    let docs = paths_of(&repo.search("retry_request", &["--path", "docs/*.md", "--limit", "100"]));
    assert_eq!(docs, ["docs/retry.md"]);

    let none = repo.search("retry_request", &["--path", "src/**", "--lang", "python"]);
    assert!(none.is_empty(), "filters combine (and): {none:?}");

    let files = paths_of(&repo.search("retry_request", &["--files", "--lang", "python"]));
    assert_eq!(files, ["scripts/retry.py"], "filters apply to --files too");
}

// ---------------------------------------------------------------------------------------------
// 7. Bad input
// ---------------------------------------------------------------------------------------------

#[test]
fn nonexistent_path_is_a_usage_error() {
    let repo = Repo::plain();
    let stderr = repo.fail(&["scan", "/nonexistent/x"], 2);
    assert!(stderr.contains("/nonexistent/x"), "names the path: {stderr}");
    assert!(stderr.contains("no such file"), "says why: {stderr}");
    let stderr = repo.fail(&["--repo", "/nonexistent/x", "status"], 2);
    assert!(stderr.contains("/nonexistent/x"), "{stderr}");
}

#[test]
fn a_file_named_as_the_repository_is_a_usage_error() {
    let repo = Repo::plain();
    repo.write("main.rs", "fn main() {}\n");
    let stderr = repo.fail(&["scan", "main.rs"], 2);
    assert!(stderr.contains("main.rs") && stderr.contains("not a directory"), "{stderr}");
    assert!(!repo.path(".ragops").exists(), "no index written");
}

#[test]
fn an_unreadable_directory_named_on_the_command_line_is_a_usage_error() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let repo = Repo::plain();
        repo.write("locked/a.rs", "fn a() {}\n");
        let dir = repo.path("locked");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o000)).expect("chmod 000");
        let readable = fs::read_dir(&dir).is_ok();
        let out = repo.run(&["scan", "locked"]);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod 755");
        if readable {
            // Running as root: permissions cannot make the directory unreadable.
            eprintln!("skipping the unreadable-directory assertion: permissions are not enforced");
            return;
        }
        let stderr = assert_clean_failure(&["scan", "locked"], &out, Some(2));
        assert!(stderr.contains("locked"), "{stderr}");
    }
}

#[test]
fn unknown_config_key_is_named_with_the_file() {
    let repo = Repo::plain();
    repo.write("a.rs", "fn a() {}\n");
    let config = repo.outside("bad.toml", "[chunking]\nchunk_sise = 3\n");
    let config_arg = config.to_str().expect("utf-8 path");
    let stderr = repo.fail(&["--config", config_arg, "scan"], 2);
    assert!(stderr.contains("chunk_sise"), "names the key: {stderr}");
    assert!(stderr.contains(config_arg), "names the file: {stderr}");
    assert!(!repo.path(".ragops").exists(), "no index written");
    // The same in the repository's own ragops.toml.
    repo.write("ragops.toml", "[chunking]\nchunk_sise = 3\n");
    let stderr = repo.fail(&["scan"], 2);
    assert!(stderr.contains("chunk_sise") && stderr.contains("ragops.toml"), "{stderr}");
    // And an unknown key in a provider section.
    let config = repo.outside("bad2.toml", "[embedding]\nprovider = \"mock\"\nmodle = \"x\"\n");
    let stderr = repo.fail(&["--config", config.to_str().expect("utf-8"), "status"], 2);
    assert!(stderr.contains("modle"), "{stderr}");
}

#[test]
fn config_value_of_the_wrong_type_is_named() {
    let repo = Repo::plain();
    let config = repo.outside("bad.toml", "[chunking]\nchunk_size = \"big\"\n");
    let stderr = repo.fail(&["--config", config.to_str().expect("utf-8"), "scan"], 2);
    assert!(stderr.contains("chunk_size"), "names the key: {stderr}");
    let config = repo.outside("bad2.toml", "[scan]\nmax_file_size = -5\n");
    let stderr = repo.fail(&["--config", config.to_str().expect("utf-8"), "scan"], 2);
    assert!(stderr.contains("max_file_size"), "names the key: {stderr}");
    let config = repo.outside("bad3.toml", "[chunking]\nchunk_size = 10\nchunk_overlap = 10\n");
    let stderr = repo.fail(&["--config", config.to_str().expect("utf-8"), "scan"], 2);
    assert!(stderr.contains("chunk_overlap"), "an inconsistent value is named: {stderr}");
    let missing = repo.outside_path("missing.toml");
    let stderr = repo.fail(&["--config", missing.to_str().expect("utf-8"), "scan"], 2);
    assert!(stderr.contains("missing.toml"), "a missing --config file is named: {stderr}");
}

#[test]
fn index_dir_that_is_not_an_index_is_refused() {
    let repo = Repo::plain();
    repo.write("a.rs", "fn a() {}\n");
    let dir = repo.outside_path("not-an-index");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join("precious.txt"), "user data").expect("write");
    let dir_arg = dir.to_str().expect("utf-8");
    for cmd in ["scan", "status"] {
        let stderr = repo.fail(&["--index", dir_arg, cmd], 2);
        assert!(stderr.contains("not a ragops index"), "{cmd}: {stderr}");
    }
    let stderr = repo.fail(&["--index", dir_arg, "search", "a"], 2);
    assert!(stderr.contains("not a ragops index"), "{stderr}");
    let entries: Vec<_> = fs::read_dir(&dir).expect("read dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(entries, [OsString::from("precious.txt")], "the directory is left untouched");
}

#[test]
fn search_without_an_index_says_to_scan() {
    let repo = Repo::git();
    repo.write("a.rs", "fn a() {}\n");
    let stderr = repo.fail(&["search", "a"], 1);
    assert!(stderr.contains("ragops scan"), "{stderr}");
    let stderr = repo.fail(&["search", "a", "--json"], 1);
    assert!(stderr.contains("ragops scan"), "{stderr}");
    let stderr = repo.fail(&["status"], 1);
    assert!(stderr.contains("ragops scan"), "{stderr}");
    assert!(!repo.path(".ragops").exists(), "reading does not create an index");
}

#[test]
fn index_dir_ignores_itself_in_git() {
    let (repo, _) = sample_repo();
    repo.scan(&[]);
    let gitignore = fs::read_to_string(repo.path(".ragops/.gitignore")).expect("the index has a .gitignore");
    assert!(gitignore.lines().any(|l| l.trim() == "*"), "{gitignore:?}");
    let git = git2::Repository::open(&repo.root).expect("open");
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    let statuses = git.statuses(Some(&mut opts)).expect("git status");
    let dirty: Vec<String> = statuses.iter().filter_map(|s| s.path().ok().map(str::to_string)).collect();
    assert!(dirty.is_empty(), "the index leaves `git status` clean: {dirty:?}");
    // A custom --index directory gets one too.
    let custom = repo.outside_path("idx");
    repo.scan(&["--index", custom.to_str().expect("utf-8")]);
    let gitignore = fs::read_to_string(custom.join(".gitignore")).expect("custom index .gitignore");
    assert!(gitignore.lines().any(|l| l.trim() == "*"), "{gitignore:?}");
}

#[test]
fn index_flag_places_the_index() {
    let (repo, _) = sample_repo();
    let custom = repo.outside_path("elsewhere");
    let arg = custom.to_str().expect("utf-8");
    let summary = repo.scan(&["--index", arg]);
    assert_eq!(Path::new(str_of(&summary, "index_dir")), custom);
    assert!(!repo.path(".ragops").exists(), "no default index when --index is given");
    let v = repo.json(&["--index", arg, "search", "open_socket", "--json"]);
    assert_eq!(v["hits"][0]["path"], "src/net.rs");
    repo.fail(&["search", "open_socket"], 1);
}

#[test]
fn corrupted_index_is_a_clear_error() {
    let (repo, _) = sample_repo();
    repo.scan(&[]);
    let index = repo.path(".ragops");
    let current = fs::read_to_string(index.join("CURRENT")).expect("CURRENT");
    // CURRENT = "<manifest file> <checksum>".
    let manifest = current.split_whitespace().next().expect("CURRENT names a manifest");
    let mut damaged: Vec<PathBuf> = vec![index.join("manifests").join(manifest)];
    for seg in fs::read_dir(index.join("segments")).expect("segments") {
        for f in fs::read_dir(seg.expect("entry").path()).expect("segment dir") {
            damaged.push(f.expect("entry").path());
        }
    }
    assert!(damaged.len() >= 2, "a manifest and segment files: {damaged:?}");
    for file in damaged {
        let original = fs::read(&file).expect("read index file");
        fs::write(&file, &original[..original.len().min(10)]).expect("truncate");
        for args in [["search", "compute_checksum_crc"].as_slice(), ["status", "--json"].as_slice()] {
            let out = repo.run(args);
            let stderr = assert_clean_failure(args, &out, None);
            assert!(stderr.contains("corrupted"), "{} truncated: {stderr}", file.display());
        }
        fs::write(&file, &original).expect("restore");
    }
    assert!(!repo.search("compute_checksum_crc", &[]).is_empty(), "restored index works");
}

// ---------------------------------------------------------------------------------------------
// 8. Settings changed since the scan
// ---------------------------------------------------------------------------------------------

#[test]
fn changed_chunk_size_makes_search_refuse() {
    let (repo, _) = sample_repo();
    repo.scan(&[]);
    let config = repo.outside("c10.toml", "[chunking]\nchunk_size = 10\n");
    let config_arg = config.to_str().expect("utf-8");
    let out = repo.run(&["--config", config_arg, "search", "compute_checksum_crc", "--json"]);
    let stderr = assert_clean_failure(&["search"], &out, None);
    assert!(stderr.contains("chunk_size"), "{stderr}");
    assert!(stderr.contains("ragops scan --rebuild"), "{stderr}");
    // A plain scan with the new settings refuses too, and leaves the index as it was.
    let out = repo.run(&["--config", config_arg, "scan"]);
    let stderr = assert_clean_failure(&["scan"], &out, None);
    assert!(stderr.contains("chunk_size"), "{stderr}");
    assert_eq!(u64_of(&repo.json(&["status", "--json"]), "chunk_size"), 40);
    assert!(!repo.search("compute_checksum_crc", &[]).is_empty(), "the old index still answers");
}

#[test]
fn changed_embedding_provider_makes_search_refuse() {
    let (repo, _) = sample_repo();
    repo.scan(&[]);
    let config = repo.outside("mock.toml", "[embedding]\nprovider = \"mock\"\n");
    let out = repo.run(&["--config", config.to_str().expect("utf-8"), "search", "open_socket"]);
    let stderr = assert_clean_failure(&["search"], &out, None);
    assert!(stderr.contains("embedding_provider"), "never mixes vectors of two models: {stderr}");
}

#[test]
fn rebuild_as_advised_works() {
    let (repo, _) = sample_repo();
    repo.scan(&[]);
    let config = repo.outside("c10.toml", "[chunking]\nchunk_size = 10\n");
    let config_arg = config.to_str().expect("utf-8");
    let summary = repo.json(&["--config", config_arg, "scan", "--rebuild", "--json"]);
    assert_eq!(u64_of(&summary, "files_indexed"), 3, "{summary}");
    let status = repo.json(&["--config", config_arg, "status", "--json"]);
    assert_eq!(u64_of(&status, "chunk_size"), 10);
    let v = repo.json(&["--config", config_arg, "search", "compute_checksum_crc", "--json"]);
    let top = &v["hits"][0];
    assert_eq!(top["path"], "src/lib.rs");
    assert!(u64_of(top, "end_line") - u64_of(top, "start_line") < 10, "{top}");
}

// ---------------------------------------------------------------------------------------------
// 9. config show
// ---------------------------------------------------------------------------------------------

#[test]
fn config_show_prints_effective_values_and_source() {
    let repo = Repo::plain();
    let config = repo.outside("my.toml", "[chunking]\nchunk_size = 17\n");
    let config_arg = config.to_str().expect("utf-8");
    let out = repo.run(&["--config", config_arg, "config", "show"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    assert!(stdout.contains("chunk_size = 17"), "{stdout}");
    assert!(stdout.contains(config_arg), "names the source file: {stdout}");

    let v = repo.json(&["--config", config_arg, "config", "show", "--json"]);
    assert_eq!(v["source"], config_arg, "{v}");
    assert_eq!(v["origin"], "command_line", "{v}");
    assert_eq!(v["config"]["chunking"]["chunk_size"], 17, "{v}");

    // No file at all: built-in defaults.
    let out = repo.run(&["config", "show"]);
    assert!(out.status.success());
    let stdout = stdout_of(&out);
    assert!(stdout.contains("built-in defaults") && stdout.contains("chunk_size = 40"), "{stdout}");
    let v = repo.json(&["config", "show", "--json"]);
    assert!(v["source"].is_null(), "{v}");
    assert_eq!(v["origin"], "defaults");
}

#[test]
fn config_discovery_order_without_merging() {
    let repo = Repo::plain();
    // The user's config file only.
    let user_dir = repo.xdg().join("ragops");
    fs::create_dir_all(&user_dir).expect("mkdir");
    fs::write(user_dir.join("config.toml"), "[chunking]\nchunk_size = 19\n[scan]\nmax_file_size = 500\n")
        .expect("write");
    let v = repo.json(&["config", "show", "--json"]);
    assert_eq!(v["origin"], "user", "{v}");
    assert_eq!(v["config"]["chunking"]["chunk_size"], 19);
    assert_eq!(v["config"]["scan"]["max_file_size"], 500);
    // The repository's ragops.toml wins, and is not merged with the user file.
    repo.write("ragops.toml", "[chunking]\nchunk_size = 13\n");
    let v = repo.json(&["config", "show", "--json"]);
    assert_eq!(v["origin"], "repository", "{v}");
    assert_eq!(Path::new(str_of(&v, "source")), repo.path("ragops.toml"));
    assert_eq!(v["config"]["chunking"]["chunk_size"], 13);
    assert_eq!(v["config"]["scan"]["max_file_size"], 1024 * 1024, "no merging between files: {v}");
    // --config wins over both.
    let config = repo.outside("x.toml", "[chunking]\nchunk_size = 23\n");
    let v = repo.json(&["--config", config.to_str().expect("utf-8"), "config", "show", "--json"]);
    assert_eq!(v["config"]["chunking"]["chunk_size"], 23);
}

#[test]
fn config_show_masks_secrets() {
    let repo = Repo::plain();
    // `config show` does not build the provider, so any provider name shows its table.
    let config = repo.outside(
        "secret.toml",
        "[embedding]\nprovider = \"openai\"\nmodel = \"text-embedding-3-small\"\n[embedding.openai]\napi_key = \"sk-test-SECRET-0123456789\"\napi_key_env = \"MY_OPENAI_KEY\"\n",
    );
    let config_arg = config.to_str().expect("utf-8");
    let out = repo.run(&["--config", config_arg, "config", "show"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    assert!(!stdout.contains("SECRET-0123456789"), "the key is masked: {stdout}");
    assert!(stdout.contains("****"), "{stdout}");
    assert!(stdout.contains("MY_OPENAI_KEY"), "the variable's name is not a secret: {stdout}");
    assert!(!stderr_of(&out).contains("SECRET-0123456789"));
    let out = repo.run(&["--config", config_arg, "config", "show", "--json"]);
    assert!(out.status.success());
    assert!(!stdout_of(&out).contains("SECRET-0123456789"), "{}", stdout_of(&out));
    assert!(stdout_of(&out).contains("****"));
}

#[test]
fn repository_config_cannot_set_provider_urls() {
    let repo = Repo::plain();
    repo.write(
        "ragops.toml",
        "[embedding]\nprovider = \"mock\"\n[embedding.mock]\nbase_url = \"http://evil.example\"\n",
    );
    let stderr = repo.fail(&["config", "show"], 2);
    assert!(stderr.contains("untrusted") && stderr.contains("--trust-repo-config"), "says why: {stderr}");
    // Accepted with --trust-repo-config.
    let v = repo.json(&["--trust-repo-config", "config", "show", "--json"]);
    assert_eq!(v["origin"], "repository");
}

#[test]
fn config_show_output_is_a_loadable_config() {
    let repo = Repo::plain();
    let config = repo.outside("my.toml", "[chunking]\nchunk_size = 17\n");
    let out = repo.run(&["--config", config.to_str().expect("utf-8"), "config", "show"]);
    assert!(out.status.success());
    let shown = repo.outside("shown.toml", stdout_of(&out));
    let v = repo.json(&["--config", shown.to_str().expect("utf-8"), "config", "show", "--json"]);
    assert_eq!(v["config"]["chunking"]["chunk_size"], 17);
}

// ---------------------------------------------------------------------------------------------
// 10. The mock provider
// ---------------------------------------------------------------------------------------------

#[test]
fn mock_provider_scans_and_searches() {
    let (repo, _) = sample_repo();
    let config = repo.outside("mock.toml", "[embedding]\nprovider = \"mock\"\n");
    let config_arg = config.to_str().expect("utf-8");
    let summary = repo.json(&["--config", config_arg, "scan", "--json"]);
    assert_eq!(u64_of(&summary, "files_indexed"), 3, "{summary}");
    let status = repo.json(&["--config", config_arg, "status", "--json"]);
    assert_eq!(str_of(&status, "embedding_provider"), "mock");
    assert!(str_of(&status, "embedding_model").starts_with("mock"), "{status}");
    let v = repo.json(&["--config", config_arg, "search", "retry_with_backoff", "--json"]);
    let hits = v["hits"].as_array().expect("hits");
    assert_eq!(hits[0]["path"], "scripts/tool.py", "{v}");
    for hit in hits {
        assert_chunk_hit(&repo, hit);
    }
    // Selecting it through the environment instead works the same; without either, the
    // built-in provider does not match the mock index.
    let out = repo
        .cmd()
        .env("RAGOPS_EMBEDDING_PROVIDER", "mock")
        .args(["search", "retry_with_backoff", "--json"])
        .output()
        .expect("run ragops");
    assert_eq!(parse_success(&["search"], &out)["hits"][0]["path"], "scripts/tool.py");
    let stderr = repo.fail(&["search", "retry_with_backoff"], 1);
    assert!(stderr.contains("embedding_provider"), "{stderr}");
}

#[test]
fn unknown_embedding_provider_is_a_clear_error() {
    let repo = Repo::plain();
    repo.write("a.rs", "fn a() {}\n");
    let config = repo.outside("p.toml", "[embedding]\nprovider = \"nosuchprovider\"\n");
    let stderr = repo.fail(&["--config", config.to_str().expect("utf-8"), "scan"], 2);
    assert!(stderr.contains("nosuchprovider"), "{stderr}");
    assert!(!repo.path(".ragops").exists(), "no half-written index: nothing created before the provider exists");
}

// ---------------------------------------------------------------------------------------------
// Output plumbing
// ---------------------------------------------------------------------------------------------

#[test]
fn closed_stdout_is_not_an_error_with_json() {
    let (repo, _) = sample_repo();
    repo.scan(&[]);
    for args in [["status", "--json"].as_slice(), ["search", "fn", "--json"].as_slice()] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = repo.std_cmd().args(args).stdout(writer).output().expect("run ragops");
        assert_no_panic(args, &out);
        assert_eq!(out.status.code(), Some(0), "ragops {args:?} | (closed): {}", stderr_of(&out));
        assert_eq!(stderr_of(&out), "", "ragops {args:?}");
    }
}

#[test]
fn closed_stdout_is_not_an_error_in_text_mode() {
    let (repo, _) = sample_repo();
    repo.scan(&[]);
    for args in [["status"].as_slice(), ["search", "fn"].as_slice()] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = repo.std_cmd().args(args).stdout(writer).output().expect("run ragops");
        assert_no_panic(args, &out);
        assert_eq!(out.status.code(), Some(0), "ragops {args:?} | (closed): {}", stderr_of(&out));
    }
}

#[test]
fn json_log_lines_are_json_objects_with_an_event() {
    let repo = Repo::plain();
    repo.write("a.rs", "fn a() {}\n");
    repo.write("blob.dat", b"\0\x01".as_slice());
    for args in [
        ["--log-format", "json", "-v", "scan", "--json"].as_slice(),
        ["--log-format", "json", "-v", "search", "a"].as_slice(),
    ] {
        let out = repo.run(args);
        assert!(out.status.success(), "{}", stderr_of(&out));
        let stderr = stderr_of(&out);
        assert!(!stderr.trim().is_empty(), "-v logs something");
        for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(v["event"].is_string(), "every line has an event: {line}");
        }
    }
}

#[test]
fn json_log_lines_carry_the_contract_keys() {
    let repo = Repo::plain();
    repo.write("a.rs", "fn a() {}\n");
    repo.write("blob.dat", b"\0\x01".as_slice());
    for args in [
        ["--log-format", "json", "-v", "scan", "--json"].as_slice(),
        ["--log-format", "json", "-v", "search", "a"].as_slice(),
    ] {
        let out = repo.run(args);
        assert!(out.status.success(), "{}", stderr_of(&out));
        for line in stderr_of(&out).lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            for key in ["event", "collection", "latency_ms", "provider", "model", "request_id", "confidence"] {
                assert!(v.get(key).is_some(), "`{key}` present (maybe null) in: {line}");
            }
            assert_eq!(v["collection"], "repo", "collection defaults to the directory name: {line}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Observability: JSON logs (SPEC contract 2), secrets, progress.

/// Every stderr line parsed as a JSON object; panics on a line that is not one.
fn json_lines(out: &Output) -> Vec<Value> {
    stderr_of(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v.is_object(), "not an object: {l}");
            v
        })
        .collect()
}

/// Checks the contract-2 keys and their types on one log line.
fn assert_schema(v: &Value) {
    assert!(v["event"].is_string(), "event is a string: {v}");
    for key in ["collection", "provider", "model", "request_id"] {
        assert!(v.get(key).is_some(), "`{key}` present: {v}");
        assert!(v[key].is_null() || v[key].is_string(), "`{key}` string or null: {v}");
    }
    for key in ["latency_ms", "confidence"] {
        assert!(v.get(key).is_some(), "`{key}` present: {v}");
        assert!(v[key].is_null() || v[key].is_number(), "`{key}` number or null: {v}");
    }
}

#[test]
fn json_logs_follow_the_schema_and_time_embeddings_on_both_paths() {
    let repo = Repo::plain();
    repo.write("src/lib.rs", "pub fn retry_with_backoff(n: u32) -> u32 {\n    n * 2\n}\n");
    repo.write("blob.bin", b"\0\x01\x02".as_slice());
    let scan = repo.cmd().args(["--log-format", "json", "scan", "--json"]).output().expect("run");
    assert!(scan.status.success(), "{}", stderr_of(&scan));
    let scan_lines = json_lines(&scan);
    scan_lines.iter().for_each(assert_schema);
    let ids: std::collections::HashSet<&str> = scan_lines.iter().filter_map(|v| v["request_id"].as_str()).collect();
    assert_eq!(ids.len(), 1, "one request id per command: {ids:?}");
    assert!(scan_lines.iter().all(|v| v["collection"] == "repo"), "collection on every line");
    let batch = scan_lines.iter().find(|v| v["event"] == "embed.batch").expect("an ingest embedding event");
    assert_eq!(batch["path"], "ingest");
    assert!(batch["latency_ms"].is_number() && batch["batch_size"].as_u64() >= Some(1), "{batch}");
    assert_eq!(batch["provider"], "builtin");
    assert!(batch["model"].as_str().is_some_and(|m| m.starts_with("minilm-l6-static")), "{batch}");
    let finished = scan_lines.iter().find(|v| v["event"] == "scan.finished").expect("scan.finished");
    for key in ["files_indexed", "chunks", "bytes", "cache_hits", "cache_misses", "mb_per_s", "latency_ms"] {
        assert!(finished[key].is_number(), "scan.finished.{key}: {finished}");
    }
    assert!(finished["skipped"].as_str().is_some_and(|s| s.contains("binary")), "{finished}");
    assert!(scan_lines.iter().any(|v| v["event"] == "scan.skip" && v["reason"] == "binary"));

    let search = repo.cmd().env("RAGOPS_LOG_FORMAT", "json").args(["search", "retry"]).output().expect("run");
    assert!(search.status.success(), "{}", stderr_of(&search));
    let search_lines = json_lines(&search);
    search_lines.iter().for_each(assert_schema);
    let query = search_lines.iter().find(|v| v["event"] == "embed.query").expect("a query embedding event");
    assert_eq!(query["path"], "query");
    assert!(query["latency_ms"].is_number());
    let retrieve = search_lines.iter().find(|v| v["event"] == "retrieve").expect("a retrieve event");
    assert!(retrieve["hits"].as_u64() >= Some(1) && retrieve["top_score"].is_number(), "{retrieve}");
    let search_id = search_lines[0]["request_id"].as_str().expect("request id");
    assert!(!ids.contains(search_id), "each command has its own request id");
}

#[test]
fn json_mode_errors_are_json_lines_too() {
    let repo = Repo::plain();
    repo.write("a.rs", "fn a() {}\n");
    let out = repo.cmd().args(["--log-format", "json", "search", "a"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    lines.iter().for_each(assert_schema);
    let failed = lines.iter().find(|v| v["event"] == "command.failed").expect("command.failed");
    assert!(failed["message"].as_str().is_some_and(|m| m.contains("ragops scan")), "{failed}");
    assert_eq!(failed["exit_code"], 1);

    let out = repo.cmd().args(["--log-format", "json", "search"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["event"], "usage.error", "{}", lines[0]);
}

#[test]
fn api_keys_appear_nowhere() {
    const ENV_KEY: &str = "sk-env-SECRET-4f9a1c";
    const FILE_KEY: &str = "sk-file-SECRET-77b2de";
    let repo = Repo::plain();
    repo.write("a.rs", "fn a() {}\n");
    let config = repo.outside(
        "secret.toml",
        format!(
            "[embedding]\nprovider = \"openai\"\n[embedding.openai]\napi_key = \"{FILE_KEY}\"\nbase_url = \"https://user:{FILE_KEY}@example.invalid/v1\"\n"
        ),
    );
    let config = config.to_str().expect("utf-8 path");
    for args in [
        vec!["--config", config, "-vv", "--log-format", "json", "scan"],
        vec!["--config", config, "-vv", "scan"],
        vec!["--config", config, "-vv", "--log-format", "json", "config", "show"],
        vec!["--config", config, "config", "show", "--json"],
        vec!["--config", config, "search", "a"],
    ] {
        let out =
            repo.cmd().env("OPENAI_API_KEY", ENV_KEY).env("RAGOPS_API_KEY", ENV_KEY).args(&args).output().expect("run");
        let all = format!("{}{}", stdout_of(&out), stderr_of(&out));
        assert!(!all.contains(ENV_KEY) && !all.contains("SECRET"), "{args:?} leaked a key:\n{all}");
        assert!(!all.contains("panicked"), "{args:?}: {all}");
    }
    // The debug log of the loaded config is there, masked: the check above is not vacuous.
    let out =
        repo.cmd().args(["--config", config, "-vv", "--log-format", "json", "config", "show"]).output().expect("run");
    assert!(stderr_of(&out).contains("config.loaded"), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("****"));
}

#[test]
fn no_progress_output_when_stderr_is_not_a_terminal() {
    let repo = Repo::plain();
    for i in 0..50 {
        repo.write(&format!("src/f{i}.rs"), format!("pub fn function_{i}() -> u32 {{ {i} }}\n"));
    }
    let out = repo.cmd().env_remove("CI").args(["scan"]).output().expect("run");
    assert!(out.status.success());
    let err = stderr_of(&out);
    assert!(!err.contains("scanning") && !err.contains("ETA") && !err.contains('\r'), "progress drawn: {err:?}");
}

// ---------------------------------------------------------------------------------------------
// ragops eval

/// A small git history whose later commits each modify one file, with messages that describe
/// the change without naming the file.
fn history_repo() -> Repo {
    let repo = Repo::git();
    repo.write(
        "src/tokenizer.rs",
        "pub fn split_words(input: &str) -> Vec<&str> {\n    input.split(' ').collect()\n}\n",
    );
    repo.write("src/network.rs", "pub fn open_socket(port: u16) -> u16 {\n    port\n}\n");
    repo.write("src/storage.rs", "pub fn write_record(bytes: &[u8]) -> usize {\n    bytes.len()\n}\n");
    repo.write("README.md", "# demo\nA small project.\n");
    repo.commit_all("Initial import of the project with its first three modules");
    repo.write(
        "src/tokenizer.rs",
        "pub fn split_words(input: &str) -> Vec<&str> {\n    // escaped quotes inside string literals stay in one word\n    input.split(' ').collect()\n}\n",
    );
    repo.commit_all("Keep escaped quotes inside string literals together while splitting words");
    repo.write(
        "src/network.rs",
        "pub fn open_socket(port: u16) -> u16 {\n    // retry the connection with exponential backoff when the port is busy\n    port\n}\n",
    );
    repo.commit_all("Retry the connection with exponential backoff when the port is busy");
    repo.write(
        "src/storage.rs",
        "pub fn write_record(bytes: &[u8]) -> usize {\n    // fsync the record so that a crash cannot lose an acknowledged write\n    bytes.len()\n}\n",
    );
    repo.commit_all("Fsync every record so that a crash cannot lose an acknowledged write");
    repo
}

fn without_timings(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("seconds");
    }
    v
}

#[test]
fn eval_on_git_history_is_deterministic_and_finds_the_changed_files() {
    let repo = history_repo();
    let first = repo.json(&["eval", "--json"]);
    let second = repo.json(&["eval", "--json"]);
    assert_eq!(without_timings(first.clone()), without_timings(second), "two runs give the same numbers");
    assert_eq!(first["items"], 3, "{first}");
    assert_eq!(first["retriever"], "hybrid");
    for row in first["rows"].as_array().expect("rows") {
        let targets = row["targets"].as_array().expect("targets");
        assert_eq!(targets.len(), 1, "{row}");
        assert_eq!(row["ranked"][0], targets[0], "the changed file ranks first for: {}", row["query"]);
        assert!(row["chunks"].as_u64() > Some(0));
    }
    assert_eq!(first["mrr"], 1.0);
    assert_eq!(first["recall_at_1"], 1.0);
    // Ablations run too.
    for leg in ["lexical", "vector"] {
        let v = repo.json(&["eval", "--json", "--retriever", leg]);
        assert_eq!(v["retriever"], leg);
        assert_eq!(v["items"], 3);
    }
    let text = repo.run(&["eval"]);
    assert!(stdout_of(&text).contains("MRR 1.000"), "{}", stdout_of(&text));
}

#[test]
fn eval_on_labelled_queries_reports_ndcg() {
    let repo = history_repo();
    let queries = repo.outside(
        "queries.jsonl",
        "{\"query\": \"exponential backoff when the port is busy\", \"relevant\": [\"src/network.rs\"]}\n\
         {\"query\": \"write_record\", \"relevant\": [{\"path\": \"src/storage.rs\", \"start_line\": 1, \"end_line\": 2}], \"category\": \"symbol\"}\n",
    );
    let v = repo.json(&["eval", "--json", "--queries", queries.to_str().expect("utf-8")]);
    assert_eq!(v["queries"], 2, "{v}");
    assert_eq!(v["ndcg_at_10"], 1.0, "{v}");
    assert_eq!(v["rows"][1]["category"], "symbol");
    let v = repo.json(&["eval", "--json", "--queries", queries.to_str().expect("utf-8"), "--root", "src"]);
    assert_eq!(v["root"], "src");
    let err = repo.fail(&["eval", "--queries", queries.to_str().expect("utf-8"), "--root", "nope"], 2);
    assert!(err.contains("no such directory"), "{err}");
}

#[test]
fn eval_errors_are_clear() {
    let plain = Repo::plain();
    plain.write("a.rs", "fn a() {}\n");
    let err = plain.fail(&["eval"], 2);
    assert!(err.contains("not a git repository"), "{err}");
    let repo = history_repo();
    let err = repo.fail(&["eval", "--rev", "no-such-branch"], 1);
    assert!(err.contains("no-such-branch") && err.contains("git fetch"), "{err}");
    let bad = repo.outside("bad.jsonl", "{\"query\": 3}\n");
    let err = repo.fail(&["eval", "--queries", bad.to_str().expect("utf-8")], 2);
    assert!(err.contains("bad.jsonl"), "{err}");
    let err = repo.fail(&["eval", "--since", "yesterday-ish"], 2);
    assert!(err.contains("not a date"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// scan --incremental --base-ref

fn change_of<'a>(summary: &'a Value, path: &str) -> &'a Value {
    summary["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["path"] == path)
        .unwrap_or_else(|| panic!("{path} not in {}", summary["changes"]))
}

#[test]
fn incremental_scan_against_a_base_ref_reports_and_limits_the_work() {
    let repo = Repo::git();
    repo.write("src/keep.rs", "pub fn keep_me() {}\n");
    repo.write("src/edit.rs", "pub fn edit_me() {}\n");
    repo.write("src/gone.rs", "pub fn remove_me() {}\n");
    repo.write("src/moved_from.rs", "pub fn move_me_around_the_tree() -> u32 {\n    41 + 1\n}\n");
    let base = repo.commit_all("Base of the pull request with four modules");
    // With no index yet (as in CI): a full scan that still reports the changes.
    repo.write("src/edit.rs", "pub fn edit_me() { let changed_body = 1; }\n");
    repo.remove("src/gone.rs");
    repo.remove("src/moved_from.rs");
    repo.write("src/moved_to.rs", "pub fn move_me_around_the_tree() -> u32 {\n    41 + 1\n}\n");
    repo.commit_all("Rename one module and edit another in the pull request");
    repo.write("src/untracked.rs", "pub fn brand_new_function() {}\n");
    let first = repo.json(&["scan", "--incremental", "--base-ref", &base, "--json"]);
    assert_eq!(first["files_indexed"], 4, "full scan without an index: {first}");
    assert_eq!(change_of(&first, "src/edit.rs")["status"], "modified");
    assert_eq!(change_of(&first, "src/gone.rs")["status"], "deleted");
    assert_eq!(change_of(&first, "src/gone.rs")["chunks"], 0);
    assert_eq!(change_of(&first, "src/untracked.rs")["status"], "added");
    let moved = change_of(&first, "src/moved_to.rs");
    assert_eq!(moved["status"], "renamed", "{moved}");
    assert_eq!(moved["old_path"], "src/moved_from.rs");
    assert!(moved["chunks"].as_u64() >= Some(1));
    assert!(first["changes"].as_array().expect("changes").iter().all(|c| c["path"] != "src/keep.rs"));

    // With an index: only the changed files are read.
    repo.write("src/edit.rs", "pub fn edit_me() { let changed_again = 2; }\n");
    let second = repo.json(&["scan", "--incremental", "--base-ref", &base, "--json"]);
    assert_eq!(second["files_indexed"], 1, "{second}");
    assert_eq!(second["files_seen"], 3, "only the changed paths are looked at: {second}");
    let status = repo.json(&["status", "--json"]);
    assert_eq!(status["files"], 4, "keep, edit, moved_to, untracked: {status}");
    let hits = repo.search("changed_again", &["--limit", "1"]);
    assert_eq!(hits[0]["path"], "src/edit.rs");
}

#[test]
fn incremental_scan_errors_are_clear() {
    let repo = Repo::git();
    repo.write("a.rs", "fn a() {}\n");
    repo.commit_all("Initial commit with one small file in it");
    let err = repo.fail(&["scan", "--incremental", "--base-ref", "origin/does-not-exist"], 1);
    assert!(err.contains("origin/does-not-exist") && err.contains("git fetch"), "{err}");
    let plain = Repo::plain();
    plain.write("a.rs", "fn a() {}\n");
    let err = plain.fail(&["scan", "--incremental", "--base-ref", "main"], 2);
    assert!(err.contains("needs a git repository"), "{err}");
    let out = plain.run(&["scan", "--base-ref", "main"]);
    assert_eq!(out.status.code(), Some(2), "--base-ref requires --incremental");
}
