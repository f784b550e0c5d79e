//! Benchmark items from a repository's own git history.
//!
//! Each item is one commit: the cleaned commit message is the query, the non-test source files
//! the commit modified are the targets, and the parent commit's tree is the corpus. The rules
//! are a port of the reference protocol script `bench/git-history/make_localization_set.py`, so
//! that on the same repository, revision and window [`select_items`] picks exactly the items the
//! script picks (same commits, same targets, same query text). Where the script and the issue's
//! prose differ, this module follows the script:
//!
//! - targets are the non-test source files the commit *modified or deleted* (git status `M` or
//!   `D`; a deleted file exists in the parent tree, so it can be found there);
//! - a commit touching more than [`DEFAULT_MAX_CHANGED_FILES`] files in total (15) is
//!   skipped, and so is one whose cleaned query repeats an earlier one;
//! - at most [`DEFAULT_MAX_PER_TARGET_SET`] items (4) share the same set of targets;
//! - the release/typo/formatting/… exclusions look at the *subject* only, and also skip README,
//!   licence, changelog, MSRV, WIP, polish, unused-import, dead-code and warning commits;
//! - bots are recognised by the author *name* (`[bot]`, dependabot, renovate, github-actions,
//!   pre-commit-ci);
//! - the 150-word cap counts whitespace-separated tokens, the 8-word minimum counts words that
//!   start with an ASCII letter (`[A-Za-z][\w'’-]*`), after the cap;
//! - "source file" means a known source extension or an extension-less file starting with `#!`,
//!   not binary, and not marked generated in its first 8 lines;
//! - "names a target" also catches the target's path without its extension and, for Python, its
//!   dotted module name.
//!
//! Known gaps with the script (all rare): git's re-encoding of messages that declare a non-UTF-8
//! `encoding` header, `.mailmap` rewriting of author names, and a few non-ASCII characters that
//! Python's `\w` and `str.isspace` classify differently from Rust's. The script's `--since` and
//! `--until` take git dates: a date without a time of day (`2021-11-24`) means that day at the
//! *current* local time of day, so pass `"2021-11-24 00:00:00 +0000"` to the script to compare
//! with [`REFERENCE_SINCE`].
//!
//! The selection is deterministic for a given revision: the commit walk follows `git log`'s
//! order, candidates are sorted by (commit time, commit id), and the picks are spread evenly
//! over that list.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use crate::error::{Error, IngestError};

/// The script's default number of items.
pub const DEFAULT_MAX_ITEMS: usize = 40;
/// The script's default minimum number of words in a query.
pub const DEFAULT_MIN_WORDS: usize = 8;
/// The script's default cap on the words of a query.
pub const DEFAULT_MAX_QUERY_WORDS: usize = 150;
/// The script's default cap on the items sharing one set of targets.
pub const DEFAULT_MAX_PER_TARGET_SET: usize = 4;
/// The script's default cap on the files a commit may change.
pub const DEFAULT_MAX_CHANGED_FILES: usize = 15;
/// The most targets an item may have.
pub const MAX_TARGETS: usize = 3;
/// The start of the script's default window, 2021-11-24T00:00:00Z, in unix seconds.
pub const REFERENCE_SINCE: i64 = 1_637_712_000;
/// The end of the script's default window, 2026-11-24T00:00:00Z, in unix seconds.
pub const REFERENCE_UNTIL: i64 = 1_795_478_400;

/// The file extensions (lower case, with the dot) that count as source code.
pub const SOURCE_EXTENSIONS: &[&str] = &[
    ".rs", ".py", ".pyi", ".go", ".c", ".h", ".cc", ".cpp", ".hpp", ".js", ".mjs", ".ts", ".tsx", ".jsx", ".rb", ".sh",
    ".bash", ".zsh", ".fish", ".vim", ".lua", ".java", ".kt", ".swift", ".nu", ".ps1",
];

/// Top-level directories whose files are never targets.
const NON_TARGET_TOP: &[&str] = &[
    "doc",
    "docs",
    "website",
    "site",
    "ci",
    ".ci",
    ".github",
    ".circleci",
    "pkg",
    "packaging",
    "fuzz",
    "benchsuite",
    "bench",
    "benches",
    "benchmarks",
    "examples",
    "example",
    "scripts",
    "tools",
    "xtask",
    "assets",
    "artwork",
];

/// How many bytes of a file the content checks look at.
const HEAD_BYTES: usize = 4096;

/// How [`select_items`] picks commits. `Default` scans the whole history of `HEAD`;
/// [`HistoryOptions::reference`] uses the script's default date window. The script's other
/// settings are fixed: [`DEFAULT_MIN_WORDS`], [`DEFAULT_MAX_QUERY_WORDS`],
/// [`DEFAULT_MAX_PER_TARGET_SET`] and [`DEFAULT_MAX_CHANGED_FILES`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryOptions {
    /// At most this many items (default 40).
    pub max_items: usize,
    /// Only commits whose committer time is at or after this (unix seconds).
    pub since: Option<i64>,
    /// Only commits whose committer time is at or before this (unix seconds).
    pub until: Option<i64>,
    /// The revision whose history is scanned (default `HEAD`).
    pub rev: Option<String>,
}

impl Default for HistoryOptions {
    fn default() -> Self {
        HistoryOptions { max_items: DEFAULT_MAX_ITEMS, since: None, until: None, rev: None }
    }
}

impl HistoryOptions {
    /// The script's defaults, including its window from 2021-11-24 to 2026-11-24 (UTC midnight).
    pub fn reference() -> Self {
        HistoryOptions { since: Some(REFERENCE_SINCE), until: Some(REFERENCE_UNTIL), ..HistoryOptions::default() }
    }
}

/// One benchmark item: a commit, its cleaned message as the query and the files it changed.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HistoryItem {
    /// The commit id (40 hex digits).
    pub commit: String,
    /// Its only parent; the corpus is this commit's tree.
    pub parent: String,
    /// The committer time, unix seconds.
    pub time: i64,
    /// The subject line, issue/PR references removed (the `area:` prefix kept).
    pub subject: String,
    /// The query: subject and body cleaned, prefix and URLs removed, capped in words.
    pub query: String,
    /// The non-test source files the commit modified or deleted, sorted, 1 to 3.
    pub targets: Vec<String>,
}

/// How many commits each rule rejected, in the order the rules apply.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SelectionStats {
    /// Non-merge commits in the window that were examined.
    pub scanned: usize,
    /// Root commits (and commits whose parent is missing).
    pub not_single_parent: usize,
    /// Commits by bots.
    pub bot_author: usize,
    /// Commits changing no file or more than [`DEFAULT_MAX_CHANGED_FILES`].
    pub changed_files: usize,
    /// Release, version bump, dependency, typo, formatting, lint, CI, revert, clean-up… subjects.
    pub excluded_subject: usize,
    /// Commits that add, rename or change the type of a source file.
    pub adds_source: usize,
    /// Commits with no, or more than 3, non-test source files modified.
    pub target_count: usize,
    /// Commits whose query is too short.
    pub too_few_words: usize,
    /// Commits whose message names a target's path or file name.
    pub names_target: usize,
    /// Commits whose query repeats an earlier (newer) commit's.
    pub duplicate_query: usize,
    /// Commits that passed every rule.
    pub candidates: usize,
    /// Items picked among the candidates.
    pub selected: usize,
}

/// The result of [`select`]: the items and why the other commits were left out.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// The commit the revision resolved to (40 hex digits).
    pub head: String,
    /// The items, oldest first.
    pub items: Vec<HistoryItem>,
    /// Counts per rule.
    pub stats: SelectionStats,
}

/// Picks the benchmark items of `opts.rev`'s history.
///
/// # Errors
/// `IngestError::Git` when the revision does not exist (naming it and suggesting `git fetch`),
/// the repository has no commits, a git object cannot be read, or no commit qualifies (the
/// message then gives the rejection counts). Use [`select`] to get an empty selection instead.
pub fn select_items(repo: &git2::Repository, opts: &HistoryOptions) -> Result<Vec<HistoryItem>, Error> {
    let selection = select(repo, opts)?;
    if selection.items.is_empty() {
        let s = &selection.stats;
        let window = match (opts.since, opts.until) {
            (None, None) => String::new(),
            (since, until) => format!(
                " between {} and {}",
                since.map_or_else(|| "the beginning".to_string(), |t| format!("unix time {t}")),
                until.map_or_else(|| "now".to_string(), |t| format!("unix time {t}"))
            ),
        };
        return Err(git_error(format!(
            "no commit in the history of {}{window} qualifies as a benchmark item ({} examined: {} root, {} by bots, \
             {} with no or too many changed files, {} excluded by subject, {} adding or renaming a source file, \
             {} without 1 to {MAX_TARGETS} source files modified, {} with too short a message, {} naming a target, \
             {} duplicates)",
            rev_name(opts),
            s.scanned,
            s.not_single_parent,
            s.bot_author,
            s.changed_files,
            s.excluded_subject,
            s.adds_source,
            s.target_count,
            s.too_few_words,
            s.names_target,
            s.duplicate_query
        )));
    }
    Ok(selection.items)
}

/// Like [`select_items`], but returns the rejection counts too and an empty selection when no
/// commit qualifies.
///
/// # Errors
/// `IngestError::Git` when the revision does not exist, the repository has no commits, or a git
/// object cannot be read.
pub fn select(repo: &git2::Repository, opts: &HistoryOptions) -> Result<Selection, Error> {
    let head = resolve_rev(repo, opts)?;
    let mut stats = SelectionStats::default();
    let mut candidates: Vec<HistoryItem> = Vec::new();
    let mut seen_queries: HashSet<String> = HashSet::new();
    let mut walk = LogWalk::new(repo, head, opts.since)?;
    while let Some(commit) = walk.next_commit()? {
        let time = commit.time().seconds();
        if commit.parent_count() > 1 || opts.until.is_some_and(|until| time > until) {
            continue; // `git log --no-merges --until`: not shown, but their parents are walked
        }
        stats.scanned += 1;
        if let Some(item) = evaluate(repo, &commit, &mut stats, &mut seen_queries)? {
            candidates.push(item);
        }
    }
    candidates.sort_by(|a, b| (a.time, &a.commit).cmp(&(b.time, &b.commit)));
    stats.candidates = candidates.len();
    let keys: Vec<&[String]> = candidates.iter().map(|c| c.targets.as_slice()).collect();
    let mut picked = spread_picks(&keys, opts.max_items, DEFAULT_MAX_PER_TARGET_SET);
    picked.sort_unstable(); // candidates are already in (time, commit) order
    let items: Vec<HistoryItem> = picked.into_iter().map(|i| candidates[i].clone()).collect();
    stats.selected = items.len();
    Ok(Selection { head: head.to_string(), items, stats })
}

fn rev_name(opts: &HistoryOptions) -> &str {
    opts.rev.as_deref().unwrap_or("HEAD")
}

fn git_error(message: String) -> Error {
    Error::Ingest(IngestError::Git(message))
}

fn repo_location(repo: &git2::Repository) -> String {
    repo.workdir().unwrap_or_else(|| repo.path()).display().to_string()
}

fn resolve_rev(repo: &git2::Repository, opts: &HistoryOptions) -> Result<git2::Oid, Error> {
    let rev = rev_name(opts);
    if rev == "HEAD" && repo.head().is_err_and(|e| e.code() == git2::ErrorCode::UnbornBranch) {
        return Err(git_error(format!(
            "the repository at {} has no commits yet (empty history): there is nothing to build a benchmark from",
            repo_location(repo)
        )));
    }
    let object = repo.revparse_single(rev).map_err(|e| {
        if matches!(e.code(), git2::ErrorCode::NotFound | git2::ErrorCode::InvalidSpec | git2::ErrorCode::Ambiguous) {
            git_error(format!(
                "revision `{rev}` not found in the repository at {}: if it is a remote branch, tag or commit, run \
                 `git fetch` first, or pass an existing one ({})",
                repo_location(repo),
                e.message()
            ))
        } else {
            git_error(format!("cannot resolve revision `{rev}`: {}", e.message()))
        }
    })?;
    let commit = object.peel_to_commit().map_err(|e| {
        git_error(format!(
            "revision `{rev}` is a {}, not a commit: {}",
            object.kind().map_or("object", |k| k.str()),
            e.message()
        ))
    })?;
    Ok(commit.id())
}

/// `git log`'s default commit order: a queue ordered by committer time, newest first, ties in
/// insertion order; a commit older than `since` ends its line (its parents are not walked), as
/// `git log --since` does.
struct LogWalk<'r> {
    repo: &'r git2::Repository,
    queue: BinaryHeap<(i64, std::cmp::Reverse<u64>, git2::Oid)>,
    seen: HashSet<git2::Oid>,
    seq: u64,
    since: Option<i64>,
}

impl<'r> LogWalk<'r> {
    fn new(repo: &'r git2::Repository, start: git2::Oid, since: Option<i64>) -> Result<Self, Error> {
        let mut walk = LogWalk { repo, queue: BinaryHeap::new(), seen: HashSet::new(), seq: 0, since };
        let commit = repo.find_commit(start).map_err(|e| git_error(format!("cannot read commit {start}: {e}")))?;
        walk.push(start, commit.time().seconds());
        Ok(walk)
    }

    fn push(&mut self, id: git2::Oid, time: i64) {
        if self.seen.insert(id) {
            self.queue.push((time, std::cmp::Reverse(self.seq), id));
            self.seq += 1;
        }
    }

    fn next_commit(&mut self) -> Result<Option<git2::Commit<'r>>, Error> {
        while let Some((time, _, id)) = self.queue.pop() {
            if self.since.is_some_and(|since| time < since) {
                continue;
            }
            let commit = self.repo.find_commit(id).map_err(|e| git_error(format!("cannot read commit {id}: {e}")))?;
            for parent_id in commit.parent_ids() {
                // A parent missing from a shallow or partial clone ends the line, as in git.
                if let Ok(parent) = self.repo.find_commit(parent_id) {
                    self.push(parent_id, parent.time().seconds());
                }
            }
            return Ok(Some(commit));
        }
        Ok(None)
    }
}

/// Applies the script's rules to one non-merge commit; `None` when it is rejected.
fn evaluate(
    repo: &git2::Repository,
    commit: &git2::Commit<'_>,
    stats: &mut SelectionStats,
    seen_queries: &mut HashSet<String>,
) -> Result<Option<HistoryItem>, Error> {
    if commit.parent_count() != 1 {
        stats.not_single_parent += 1;
        return Ok(None);
    }
    let Ok(parent) = commit.parent(0) else {
        stats.not_single_parent += 1;
        return Ok(None);
    };
    if is_bot_author(&String::from_utf8_lossy(commit.author().name_bytes())) {
        stats.bot_author += 1;
        return Ok(None);
    }
    let tree = commit.tree().map_err(|e| git_error(format!("cannot read the tree of {}: {e}", commit.id())))?;
    let parent_tree = parent.tree().map_err(|e| git_error(format!("cannot read the tree of {}: {e}", parent.id())))?;
    let changes = changed_paths(repo, &parent_tree, &tree)?;
    if changes.is_empty() || changes.len() > DEFAULT_MAX_CHANGED_FILES {
        stats.changed_files += 1;
        return Ok(None);
    }
    let raw = String::from_utf8_lossy(commit.message_raw_bytes());
    let (subject, message) = split_message(py_strip(&raw));
    if is_excluded_subject(&subject) {
        stats.excluded_subject += 1;
        return Ok(None);
    }
    let mut targets = Vec::new();
    for (status, path) in &changes {
        let Some(path) = path else { continue }; // git would quote it: never a target
        if !is_candidate_target(path) {
            continue;
        }
        let at = if *status == 'D' { &parent_tree } else { &tree };
        if !blob_head(repo, at, path).is_some_and(|head| is_source_content(path, &head)) {
            continue;
        }
        if matches!(status, 'M' | 'D') {
            targets.push(path.clone());
        } else {
            stats.adds_source += 1;
            return Ok(None);
        }
    }
    if targets.is_empty() || targets.len() > MAX_TARGETS {
        stats.target_count += 1;
        return Ok(None);
    }
    let query = to_query(&message, DEFAULT_MAX_QUERY_WORDS);
    if count_words(&query) < DEFAULT_MIN_WORDS {
        stats.too_few_words += 1;
        return Ok(None);
    }
    if names_target(&message, &targets) {
        stats.names_target += 1;
        return Ok(None);
    }
    if !seen_queries.insert(query_key(&query)) {
        stats.duplicate_query += 1;
        return Ok(None);
    }
    targets.sort();
    Ok(Some(HistoryItem {
        commit: commit.id().to_string(),
        parent: parent.id().to_string(),
        time: commit.time().seconds(),
        subject,
        query,
        targets,
    }))
}

/// `git diff --no-renames --name-status parent commit`: one status letter (`A`, `M`, `D`, `T`)
/// per path. The path is `None` when git would print it quoted or the script would strip it
/// (control characters, `"`, `\`, surrounding blanks, invalid UTF-8): such a path never matches
/// a file in the script, so it is never a target.
fn changed_paths(
    repo: &git2::Repository,
    old: &git2::Tree<'_>,
    new: &git2::Tree<'_>,
) -> Result<Vec<(char, Option<String>)>, Error> {
    let mut options = git2::DiffOptions::new();
    options.include_typechange(true);
    let diff = repo
        .diff_tree_to_tree(Some(old), Some(new), Some(&mut options))
        .map_err(|e| git_error(format!("cannot diff {} against {}: {e}", new.id(), old.id())))?;
    let mut out = Vec::new();
    for delta in diff.deltas() {
        let status = match delta.status() {
            git2::Delta::Added | git2::Delta::Copied => 'A',
            git2::Delta::Deleted => 'D',
            git2::Delta::Typechange => 'T',
            git2::Delta::Renamed => 'R',
            git2::Delta::Unmodified | git2::Delta::Ignored | git2::Delta::Untracked => continue,
            _ => 'M',
        };
        let file = if status == 'D' { delta.old_file() } else { delta.new_file() };
        let path = file
            .path_bytes()
            .and_then(|b| std::str::from_utf8(b).ok())
            .filter(|p| py_strip(p) == *p && !p.chars().any(|c| c < ' ' || c == '"' || c == '\\' || c == '\x7f'))
            .map(str::to_string);
        out.push((status, path));
    }
    Ok(out)
}

/// The first [`HEAD_BYTES`] bytes of the blob at `path` in `tree`, `None` when it is not a blob.
fn blob_head(repo: &git2::Repository, tree: &git2::Tree<'_>, path: &str) -> Option<Vec<u8>> {
    let entry = tree.get_path(Path::new(path)).ok()?;
    let object = entry.to_object(repo).ok()?;
    let blob = object.as_blob()?;
    let content = blob.content();
    Some(content[..content.len().min(HEAD_BYTES)].to_vec())
}

/// The script's even spread: for pick `i` of `k`, the free candidate nearest to position
/// `i * (n - 1) / (k - 1)` (ties to the older one) whose target set is not yet full.
/// Returns indices into `target_sets`, in pick order.
fn spread_picks(target_sets: &[&[String]], max_items: usize, max_per_set: usize) -> Vec<usize> {
    let n = target_sets.len();
    let k = max_items.min(n);
    let mut per_set: HashMap<&[String], usize> = HashMap::new();
    let mut taken = vec![false; n];
    let mut picked = Vec::with_capacity(k);
    for i in 0..k {
        let want = if k == 1 { (n - 1) as f64 / 2.0 } else { (i * (n - 1)) as f64 / (k - 1) as f64 };
        let mut order: Vec<(f64, usize)> = (0..n).map(|j| ((j as f64 - want).abs(), j)).collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (_, j) in order {
            let count = per_set.entry(target_sets[j]).or_insert(0);
            if !taken[j] && *count < max_per_set {
                taken[j] = true;
                *count += 1;
                picked.push(j);
                break;
            }
        }
    }
    picked
}

// --------------------------------------------------------------------------------------------
// File classification
// --------------------------------------------------------------------------------------------

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid built-in pattern")
}

static NON_TARGET_SEGMENT: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)^(tests?|testdata|testing|test[-_]?helpers?|test[-_]?utils?|__tests__|spec|specs|fixtures?|examples?|benches|benchmarks?|fuzz|vendor|third[-_]party)$",
    )
});
static TEST_FILE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)(^test_.*\.py$|_test\.(py|go|rs|rb)$|^tests?\.rs$|_tests?\.rs$|^conftest\.py$|^test_.*\.rb$|\.test\.[jt]sx?$|\.spec\.[jt]sx?$)",
    )
});
static GENERATED_MARK: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    regex::bytes::Regex::new(
        r"(?i-u)(@generated|Code generated .* DO NOT EDIT|DO NOT EDIT|automatically generated|auto-generated)",
    )
    .expect("a valid built-in pattern")
});

/// A path's components, as Python's `PurePosixPath(path).parts` gives them for a relative path.
fn path_parts(path: &str) -> Vec<&str> {
    path.split('/').filter(|p| !p.is_empty() && *p != ".").collect()
}

/// `PurePosixPath(name).suffix` (Python 3.11): from the last dot, unless the dot is the first
/// or the last character.
fn suffix(name: &str) -> &str {
    match name.rfind('.') {
        Some(i) if i > 0 && i < name.len() - 1 => &name[i..],
        _ => "",
    }
}

/// Whether the path's extension (compared in lower case) is one of [`SOURCE_EXTENSIONS`]. This
/// is the reference ranker's corpus filter (`baselines.py --corpus code`); a target also needs
/// [`is_candidate_target`] and the content checks of [`is_source_content`].
pub fn is_source_path(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = suffix(name).to_lowercase();
    SOURCE_EXTENSIONS.contains(&ext.as_str())
}

/// Whether a path is never a target by its location or name: tests, fixtures, examples,
/// benches, fuzzing, vendored and third-party code (any directory), documentation, CI,
/// packaging, scripts and tools (top-level directories), hidden files and directories, and test
/// file names (`test_*.py`, `*_test.go`, `tests.rs`, `*.spec.ts`, `conftest.py`, …).
pub fn is_test_path(path: &str) -> bool {
    let parts = path_parts(path);
    if let Some(first) = parts.first()
        && NON_TARGET_TOP.contains(&first.to_lowercase().as_str())
    {
        return true;
    }
    if parts.len() > 1 && parts[..parts.len() - 1].iter().any(|seg| NON_TARGET_SEGMENT.is_match(seg)) {
        return true;
    }
    if parts.iter().any(|seg| seg.starts_with('.')) {
        return true;
    }
    parts.last().is_some_and(|name| TEST_FILE.is_match(name))
}

/// The script's `is_candidate_source`: not a test path, and a source extension or none at all
/// (an extension-less file then needs a `#!` line, see [`is_source_content`]).
pub fn is_candidate_target(path: &str) -> bool {
    if is_test_path(path) {
        return false;
    }
    let name = path_parts(path).last().copied().unwrap_or("");
    suffix(name).is_empty() || is_source_path(path)
}

/// The script's content checks on a file's first bytes (`head`, at most 4096 used): not binary
/// (no NUL byte), a `#!` line when the name has no extension, and no generated-code marker
/// (`@generated`, `DO NOT EDIT`, `auto-generated`, …) in the first 8 lines.
pub fn is_source_content(path: &str, head: &[u8]) -> bool {
    let data = &head[..head.len().min(HEAD_BYTES)];
    if data.contains(&0) {
        return false;
    }
    let name = path_parts(path).last().copied().unwrap_or("");
    if suffix(name).is_empty() && !data.starts_with(b"#!") {
        return false;
    }
    !GENERATED_MARK.is_match(&first_lines(data, 8))
}

/// `b"\n".join(data.splitlines()[:n])`: Python's `bytes.splitlines` breaks at `\n`, `\r\n`
/// and `\r`.
fn first_lines(data: &[u8], n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut lines = 0;
    let mut i = 0;
    let mut start = 0;
    while i < data.len() && lines < n {
        let (is_break, width) = match data[i] {
            b'\n' => (true, 1),
            b'\r' if data.get(i + 1) == Some(&b'\n') => (true, 2),
            b'\r' => (true, 1),
            _ => (false, 1),
        };
        if is_break {
            if lines > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(&data[start..i]);
            lines += 1;
            start = i + width;
        }
        i += width;
    }
    if lines < n && start < data.len() {
        if lines > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(&data[start..]);
    }
    out
}

// --------------------------------------------------------------------------------------------
// Message cleaning and filters
// --------------------------------------------------------------------------------------------

static TRAILER: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)^\s*(signed-off-by|co-authored-by|reviewed-by|acked-by|tested-by|reported-by|suggested-by|helped-by|change-id|cc|original-author|authored-by|approved-by)\s*:.*$",
    )
});
static REF_LINE: LazyLock<Regex> = LazyLock::new(|| {
    let reference = r"(#\d+|https?://\S+|[\w.-]+/[\w.-]+#\d+|gh-\d+)";
    let keyword = r"(fix(es|ed)?|close[sd]?|resolve[sd]?|refs?|see( also)?|pr|part of|related( to)?|context|issues?|supersedes|follow[- ]?up( to| of)?|replaces|cf\.?)";
    regex(&format!(r"(?i)^\s*[-*]?\s*({keyword}\b[:\s]*({reference}[\s,.;]*(and\s+|&\s+)?)+)+$"))
});
static FOOTNOTE_URL: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*\[\w+\]:\s*\S+\s*$"));
static URL_ONLY: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*[<(]?https?://\S+[>)]?\s*$"));
static PR_REF: LazyLock<Regex> = LazyLock::new(|| regex(r"\s*\((#\d+|[\w.-]+/[\w.-]+#\d+)(,\s*#\d+)*\)"));
static SQUASH_NOISE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)^\s*[-*]\s*(.*\b(changelog|clippy|fmt|rustfmt|format(ting)?|typos?|lint|review|wip|nits?|ci|msrv|cargo\.lock|merge|docs?)\b.*|\S+(\s+\S+)?)\s*$",
    )
});
static SUBJECT_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^\s*(\[[^\]]{1,40}\]\s*|[A-Za-z0-9_./,+*{} -]{1,40}(\([^)]{0,40}\))?!?:\s+)"));
/// The script's `EXCLUDE_SUBJECT` without its one look-around alternative,
/// `(?<![\w.])fmt(?![\w.])`, which [`has_bare_fmt`] checks.
static EXCLUDE_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    regex(concat!(
        r"(?i)(^(release|prepare|preparing)\b|\brelease (v?\d|notes)|\breleasing\b|",
        r"\bversion bump|\bnew version\b|\bbump(s|ed|ing)?\b|",
        r"\b(update|upgrade)[sd]? .*\bto v?\d|\bchangelog\b|\btypos?\b|",
        r"\bspelling\b|\bmisspell\w*|\breformat\w*|^formatting\b|",
        r"\b(apply|run|fix|code)\s+(rustfmt|gofmt|black|isort|ruff|formatting|formatter)\b|",
        r"\brustfmt\b|\bgofmt\b|\blints?\b|\blinting\b|",
        r"\bclippy\b|\bmypy\b|\bpyright\b|pre-commit|\bdeps?\b|",
        r"\bdependenc(y|ies)\b|\bdependabot\b|\bmsrv\b|\breadme\b|^revert\b|",
        r"^merge (branch|pull|remote|tag)\b|\bwip\b|\bcodespell\b|\blicen[cs]e\b|",
        r"\bcopyright\b|^deploying\b|\bcargo update\b|\bgo\.mod\b|\bci\b|",
        r"\bpolish(ing)?\b|^(a bit of |some |minor |small )?clean[- ]?ups?\b|",
        r"\bunused imports?\b|\bdead[_ ]code\b|\b(compiler|rustc|unused|deprecation) warnings?\b)",
    ))
});
static VERSION_ONLY: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(^\s*[\w./-]*\s*[:\-]?\s*v?\d+\.\d+(\.\d+)?([-.+]\w+)*\s*$|^\s*[\w-]+:?\s+v?\d+\.\d+\b|\bv?\d+\.\d+\.\d+\b)",
    )
});
static BOT_AUTHOR: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)(\[bot\]|dependabot|renovate|github-actions|pre-commit-ci)"));
static WORD: LazyLock<Regex> = LazyLock::new(|| regex(r"[A-Za-z][\w'’-]*"));
static INLINE_URL: LazyLock<Regex> = LazyLock::new(|| regex(r"<?https?://[^\s>)\]]+>?"));
static NON_WORD_RUN: LazyLock<Regex> = LazyLock::new(|| regex(r"\W+"));
static BLANK_RUN: LazyLock<Regex> = LazyLock::new(|| regex(r"\n{3,}"));
static TRAILING_BLANKS: LazyLock<Regex> = LazyLock::new(|| regex(r"[ \t]+\n"));
static TOKEN: LazyLock<Regex> = LazyLock::new(|| regex(r"\S+"));

/// Python's `str.isspace`: Unicode white space plus the ASCII separators `\x1c`..`\x1f`.
fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// Python's `\w` for one character.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `re.sub(r"\W+", " ", text.lower()).strip()`: the key two texts are compared by.
fn query_key(text: &str) -> String {
    py_strip(&NON_WORD_RUN.replace_all(&text.to_lowercase(), " ")).to_string()
}

/// Whether an author name is a bot's.
pub fn is_bot_author(name: &str) -> bool {
    BOT_AUTHOR.is_match(name)
}

/// Whether a cleaned subject marks a commit the benchmark skips: releases and version bumps,
/// dependency updates, typo, spelling, formatting and lint fixes, CI, README, licence and
/// changelog edits, reverts, merges, WIP, generic clean-ups and warning fixes, or a bare version
/// number.
pub fn is_excluded_subject(subject: &str) -> bool {
    EXCLUDE_SUBJECT.is_match(subject) || has_bare_fmt(subject) || VERSION_ONLY.is_match(subject)
}

/// `(?i)(?<![\w.])fmt(?![\w.])`.
fn has_bare_fmt(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars.windows(3).enumerate().any(|(i, w)| {
        w.iter().zip("fmt".chars()).all(|(a, b)| a.eq_ignore_ascii_case(&b))
            && (i == 0 || !(is_word_char(chars[i - 1]) || chars[i - 1] == '.'))
            && chars.get(i + 3).is_none_or(|&c| !(is_word_char(c) || c == '.'))
    })
}

/// The number of words (`[A-Za-z][\w'’-]*`) in a text.
pub fn count_words(text: &str) -> usize {
    WORD.find_iter(text).count()
}

/// Splits a raw commit message into its cleaned subject and cleaned message (the script's
/// `clean_message`). The subject loses `(#123)` / `(owner/repo#123)` references; the body loses
/// trailers (`Signed-off-by:`, `Co-authored-by:`, …), lines made only of issue references
/// (`Fixes #12, closes #34`) or of a URL, link footnotes, squash-merge bullets that repeat the
/// subject or are noise (`* fix clippy`, `* wip`, one- or two-word bullets) and `-----` rules.
/// The message is the subject, a blank line and the remaining body (its `area:` prefix kept).
pub fn split_message(raw: &str) -> (String, String) {
    let normalized = raw.replace("\r\n", "\n");
    let mut lines = normalized.split('\n');
    let first = lines.next().unwrap_or("");
    let subject = py_strip(&PR_REF.replace_all(first, "")).to_string();
    let subject_key = query_key(&subject);
    let mut body: Vec<String> = Vec::new();
    for line in lines {
        if TRAILER.is_match(line) || REF_LINE.is_match(line) || URL_ONLY.is_match(line) || FOOTNOTE_URL.is_match(line) {
            continue;
        }
        if query_key(&PR_REF.replace_all(line, "")) == subject_key {
            continue; // a squash-merge bullet repeating the subject
        }
        if py_strip(line).starts_with("---------") || SQUASH_NOISE.is_match(line) {
            continue;
        }
        body.push(PR_REF.replace_all(line.trim_end_matches(py_isspace), "").into_owned());
    }
    let text = body.join("\n");
    let text = BLANK_RUN.replace_all(py_strip(&text), "\n\n").into_owned();
    let message = if text.is_empty() { subject.clone() } else { format!("{subject}\n\n{text}") };
    (subject, message)
}

/// Removes an `area: `, `area(scope): `, `area!: ` or `[area] ` prefix from the first line.
pub fn strip_subject_prefix(message: &str) -> String {
    let (first, rest) = match message.split_once('\n') {
        Some((first, rest)) => (first, Some(rest)),
        None => (message, None),
    };
    let stripped = SUBJECT_PREFIX.replacen(first, 1, "");
    let joined = match rest {
        Some(rest) if !rest.is_empty() => format!("{stripped}\n{rest}"),
        _ => stripped.into_owned(),
    };
    py_strip(&joined).to_string()
}

/// Cuts a text after `max_words` whitespace-separated words.
pub fn truncate_words(text: &str, max_words: usize) -> &str {
    match TOKEN.find_iter(text).nth(max_words) {
        Some(m) => text[..m.start()].trim_end_matches(py_isspace),
        None => text,
    }
}

/// The query for a cleaned message (from [`split_message`]): subject prefix and URLs removed,
/// blank runs collapsed, at most `max_words` words (the script's `to_query`).
pub fn to_query(message: &str, max_words: usize) -> String {
    let text = strip_subject_prefix(message);
    let text = INLINE_URL.replace_all(&text, "");
    let text = TRAILING_BLANKS.replace_all(&text, "\n");
    let text = BLANK_RUN.replace_all(&text, "\n\n");
    truncate_words(py_strip(&text), max_words).to_string()
}

/// The query for a raw commit message: [`split_message`] then [`to_query`] with the default
/// cap of 150 words. Trailers, issue/PR references, URLs and the `area:` / `[area]` subject
/// prefix are removed.
pub fn clean_message(message: &str) -> String {
    let (_, cleaned) = split_message(py_strip(message));
    to_query(&cleaned, DEFAULT_MAX_QUERY_WORDS)
}

/// Whether a message names one of the targets (the script's `leaks_target`): its path, its file
/// name, its path without the extension (when that has a directory) or, for a Python file, its
/// dotted module name, as a whole token, in any case. A file name matches only when not preceded
/// by a word character, `.` or `-` and not followed by a word character or `-` (`app.py` but not
/// `webapp.py` or `app.pyc`).
pub fn names_target(message: &str, targets: &[String]) -> bool {
    let low = message.to_lowercase();
    targets.iter().any(|target| target_needles(target).iter().any(|needle| contains_token(&low, needle)))
}

fn target_needles(target: &str) -> Vec<String> {
    let parts = path_parts(target);
    let name = parts.last().copied().unwrap_or("");
    let suffix = suffix(name);
    let mut needles = vec![target.to_lowercase(), name.to_lowercase()];
    if !suffix.is_empty() {
        let mut stem_parts: Vec<&str> = parts[..parts.len() - 1].to_vec();
        stem_parts.push(&name[..name.len() - suffix.len()]);
        let stem_path = stem_parts.join("/").to_lowercase();
        if stem_path.contains('/') {
            needles.push(stem_path);
        }
        if suffix == ".py" && parts.len() >= 2 {
            let module = stem_parts.join(".").to_lowercase();
            let module = module.strip_suffix(".__init__").unwrap_or(&module).to_string();
            if module.contains('.') {
                needles.push(module);
            }
        }
    }
    needles
}

/// `re.search(r"(?<![\w.-])" + re.escape(needle) + r"(?![\w-])", text)`.
fn contains_token(text: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    text.char_indices().any(|(i, _)| {
        text[i..].starts_with(needle)
            && text[..i].chars().next_back().is_none_or(|c| !(is_word_char(c) || c == '.' || c == '-'))
            && text[i + needle.len()..].chars().next().is_none_or(|c| !(is_word_char(c) || c == '-'))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    // ---------------------------------------------------------------- synthetic repositories

    const DAY: i64 = 86_400;
    const T0: i64 = 1_700_000_000;

    /// Builds commits with git2 in a temporary repository, tracking the tree as a file map.
    struct Builder {
        _dir: tempfile::TempDir,
        repo: git2::Repository,
        files: BTreeMap<String, Vec<u8>>,
        head: Option<git2::Oid>,
        clock: i64,
    }

    impl Builder {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let repo = git2::Repository::init(dir.path()).unwrap();
            Builder { _dir: dir, repo, files: BTreeMap::new(), head: None, clock: T0 }
        }

        fn write_tree(&self, files: &BTreeMap<String, Vec<u8>>) -> git2::Oid {
            let mut index = git2::Index::new().unwrap();
            for (path, data) in files {
                let id = self.repo.blob(data).unwrap();
                index
                    .add(&git2::IndexEntry {
                        ctime: git2::IndexTime::new(0, 0),
                        mtime: git2::IndexTime::new(0, 0),
                        dev: 0,
                        ino: 0,
                        mode: 0o100644,
                        uid: 0,
                        gid: 0,
                        file_size: data.len() as u32,
                        id,
                        flags: 0,
                        flags_extended: 0,
                        path: path.as_bytes().to_vec(),
                    })
                    .unwrap();
            }
            index.write_tree_to(&self.repo).unwrap()
        }

        /// Commits `changes` (path -> Some(content) to write, None to delete) on top of HEAD.
        fn commit_as(&mut self, author: &str, message: &str, changes: &[(&str, Option<&str>)]) -> git2::Oid {
            for (path, content) in changes {
                match content {
                    Some(c) => self.files.insert(path.to_string(), c.as_bytes().to_vec()),
                    None => self.files.remove(*path),
                };
            }
            let parents: Vec<git2::Oid> = self.head.into_iter().collect();
            let id = self.commit_raw(author, message, &self.files.clone(), &parents);
            self.head = Some(id);
            id
        }

        fn commit(&mut self, message: &str, changes: &[(&str, Option<&str>)]) -> git2::Oid {
            self.commit_as("Jane Developer", message, changes)
        }

        fn commit_raw(
            &mut self,
            author: &str,
            message: &str,
            files: &BTreeMap<String, Vec<u8>>,
            parents: &[git2::Oid],
        ) -> git2::Oid {
            self.clock += DAY;
            let tree = self.repo.find_tree(self.write_tree(files)).unwrap();
            let sig = git2::Signature::new(author, "dev@example.com", &git2::Time::new(self.clock, 0)).unwrap();
            let parents: Vec<git2::Commit<'_>> = parents.iter().map(|p| self.repo.find_commit(*p).unwrap()).collect();
            let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
            let id = self.repo.commit(None, &sig, &sig, message, &tree, &parent_refs).unwrap();
            self.repo.reference("refs/heads/main", id, true, "test").unwrap();
            self.repo.set_head("refs/heads/main").unwrap();
            id
        }

        /// A side branch with one commit, merged back with a merge commit.
        fn branch_and_merge(&mut self, message: &str, path: &str, content: &str) -> (git2::Oid, git2::Oid) {
            let base = self.head.unwrap();
            let mut side_files = self.files.clone();
            side_files.insert(path.to_string(), content.as_bytes().to_vec());
            let side = self.commit_raw("Sam Contributor", message, &side_files, &[base]);
            self.files = side_files;
            let files = self.files.clone();
            let merge = self.commit_raw(
                "Jane Developer",
                "Merge branch 'feature' into main, which brings the new cache eviction logic along",
                &files,
                &[base, side],
            );
            self.head = Some(merge);
            (side, merge)
        }
    }

    fn rs(body: &str) -> String {
        format!("// {body}\npub fn f() -> u32 {{\n    1\n}}\n")
    }

    fn subjects(items: &[HistoryItem]) -> Vec<&str> {
        items.iter().map(|i| i.subject.as_str()).collect()
    }

    /// A history with one commit of every kind the rules care about.
    fn sample_history() -> (Builder, BTreeMap<&'static str, git2::Oid>) {
        let mut b = Builder::new();
        let mut ids = BTreeMap::new();
        let initial = [
            ("src/lib.rs", rs("lib")),
            ("src/parse.rs", rs("parse")),
            ("src/render.rs", rs("render")),
            ("src/util.rs", rs("util")),
            ("src/cache.rs", rs("cache")),
            ("src/gen.rs", "// @generated by build.rs, DO NOT EDIT\npub const X: u32 = 1;\n".to_string()),
            ("tests/it.rs", rs("it")),
            ("docs/guide.md", "# Guide\n".to_string()),
            ("README.md", "# Readme\n".to_string()),
        ];
        let changes: Vec<(&str, Option<&str>)> = initial.iter().map(|(p, c)| (*p, Some(c.as_str()))).collect();
        ids.insert("root", b.commit("Initial import of the whole project with its parser and renderer", &changes));

        ids.insert(
            "trailers",
            b.commit(
                "parser: Handle escaped quotes inside string literals so tokens are not split (#123)\n\n\
                 The tokenizer treated a backslash as an ordinary character.\n\
                 See https://example.com/issues/5 for the report.\n\n\
                 Fixes #77, closes #78\n\
                 https://example.com/pull/123\n\
                 Signed-off-by: Jane Developer <dev@example.com>\n\
                 Co-authored-by: Bob <bob@example.com>\n",
                &[("src/parse.rs", Some(&rs("parse 2")))],
            ),
        );
        ids.insert(
            "bot",
            b.commit_as(
                "dependabot[bot]",
                "Make the renderer faster by caching the measured column widths between frames",
                &[("src/render.rs", Some(&rs("render bot")))],
            ),
        );
        ids.insert(
            "duplicate",
            b.commit(
                "[render] Draw the border around the table when the terminal is wide enough",
                &[("src/render.rs", Some(&rs("render dup")))],
            ),
        );
        ids.insert(
            "bracket_prefix",
            b.commit(
                "[render] Draw the border around the table when the terminal is wide enough",
                &[("src/render.rs", Some(&rs("render 2"))), ("tests/it.rs", Some(&rs("it 2")))],
            ),
        );
        ids.insert("short", b.commit("Fix crash in render", &[("src/render.rs", Some(&rs("render 3")))]));
        ids.insert(
            "release",
            b.commit(
                "Release v1.2.0 with the new parser and the faster renderer included",
                &[("src/lib.rs", Some(&rs("lib 2")))],
            ),
        );
        ids.insert(
            "typo",
            b.commit(
                "Fix typo in the error message shown when the parser fails on input",
                &[("src/parse.rs", Some(&rs("parse 3")))],
            ),
        );
        ids.insert(
            "ci",
            b.commit(
                "ci: run the whole test suite on the windows and macos runners too",
                &[("src/util.rs", Some(&rs("util 2")))],
            ),
        );
        ids.insert(
            "adds_file",
            b.commit(
                "Split the rendering helpers into their own module so they can be reused",
                &[("src/render.rs", Some(&rs("render 4"))), ("src/helpers.rs", Some(&rs("helpers")))],
            ),
        );
        ids.insert(
            "rename",
            b.commit(
                "Move the utility functions next to the parser where they belong now",
                &[("src/util.rs", None), ("src/parse_util.rs", Some(&rs("util 2")))],
            ),
        );
        ids.insert(
            "names_target",
            b.commit(
                "Make parse.rs accept tabs as well as spaces between the two tokens",
                &[("src/parse.rs", Some(&rs("parse 4")))],
            ),
        );
        ids.insert(
            "four_targets",
            b.commit(
                "Thread the configured tab width through every stage of the pipeline",
                &[
                    ("src/lib.rs", Some(&rs("lib 3"))),
                    ("src/parse.rs", Some(&rs("parse 5"))),
                    ("src/render.rs", Some(&rs("render 5"))),
                    ("src/cache.rs", Some(&rs("cache 2"))),
                ],
            ),
        );
        let (side, merge) = b.branch_and_merge(
            "Evict the oldest cache entries first when the cache grows over its limit",
            "src/cache.rs",
            &rs("cache 3"),
        );
        ids.insert("side", side);
        ids.insert("merge", merge);
        ids.insert(
            "revert",
            b.commit(
                "Revert \"Make the tokenizer handle escaped quotes inside string literals\"",
                &[("src/parse.rs", Some(&rs("parse 6")))],
            ),
        );
        ids.insert(
            "tests_only",
            b.commit(
                "Cover the escaped quote handling with a few more integration tests",
                &[("tests/it.rs", Some(&rs("it 3")))],
            ),
        );
        ids.insert(
            "colon_prefix",
            b.commit(
                "cli: Print a helpful hint when the config file cannot be found, see <https://example.com/docs> \
                 for where it is looked up",
                &[("src/lib.rs", Some(&rs("lib 4"))), ("docs/guide.md", Some("# Guide 2\n"))],
            ),
        );
        ids.insert(
            "cleanup",
            b.commit(
                "Clean up the code in the renderer to make it easier to follow later",
                &[("src/render.rs", Some(&rs("render 6")))],
            ),
        );
        ids.insert(
            "rustfmt",
            b.commit(
                "Apply rustfmt to the whole crate after the toolchain was upgraded last week",
                &[("src/render.rs", Some(&rs("render 7")))],
            ),
        );
        ids.insert(
            "dependency",
            b.commit(
                "Update the serde dependency to its latest release for the new derive attribute",
                &[("src/lib.rs", Some(&rs("lib 5")))],
            ),
        );
        ids.insert(
            "lint",
            b.commit(
                "Silence the new clippy lints in the renderer module after the upgrade",
                &[("src/render.rs", Some(&rs("render 8")))],
            ),
        );
        ids.insert(
            "generated_only",
            b.commit(
                "Regenerate the constant table from the updated list of supported terminals",
                &[("src/gen.rs", Some("// @generated by build.rs, DO NOT EDIT\npub const X: u32 = 2;\n"))],
            ),
        );
        ids.insert(
            "deletes",
            b.commit(
                "Drop the old utility helpers now that nothing calls them any more anywhere",
                &[("src/parse_util.rs", None), ("src/lib.rs", Some(&rs("lib 6")))],
            ),
        );
        (b, ids)
    }

    #[test]
    fn selects_exactly_the_qualifying_commits() {
        let (b, ids) = sample_history();
        let selection = select(&b.repo, &HistoryOptions::default()).unwrap();
        assert_eq!(
            subjects(&selection.items),
            vec![
                "parser: Handle escaped quotes inside string literals so tokens are not split",
                "[render] Draw the border around the table when the terminal is wide enough",
                "Evict the oldest cache entries first when the cache grows over its limit",
                "cli: Print a helpful hint when the config file cannot be found, see <https://example.com/docs> for \
                 where it is looked up",
                "Drop the old utility helpers now that nothing calls them any more anywhere",
            ]
        );
        let by_commit: HashMap<&str, &HistoryItem> = selection.items.iter().map(|i| (i.commit.as_str(), i)).collect();

        let trailers = by_commit[ids["trailers"].to_string().as_str()];
        assert_eq!(
            trailers.query,
            "Handle escaped quotes inside string literals so tokens are not split\n\n\
             The tokenizer treated a backslash as an ordinary character.\nSee  for the report."
        );
        assert_eq!(trailers.targets, vec!["src/parse.rs"]);
        assert_eq!(trailers.parent, ids["root"].to_string());
        assert_eq!(trailers.time, T0 + 2 * DAY);
        assert_eq!(b.repo.find_commit(ids["duplicate"]).unwrap().time().seconds(), T0 + 4 * DAY);

        let bracket = by_commit[ids["bracket_prefix"].to_string().as_str()];
        assert_eq!(bracket.query, "Draw the border around the table when the terminal is wide enough");
        assert_eq!(bracket.targets, vec!["src/render.rs"], "the test file is not a target");

        let colon = by_commit[ids["colon_prefix"].to_string().as_str()];
        assert_eq!(
            colon.query,
            "Print a helpful hint when the config file cannot be found, see  for where it is looked up"
        );
        assert_eq!(colon.targets, vec!["src/lib.rs"], "docs are not targets");

        let deletes = by_commit[ids["deletes"].to_string().as_str()];
        assert_eq!(deletes.targets, vec!["src/lib.rs", "src/parse_util.rs"], "a deleted file is a target");

        assert!(by_commit.contains_key(ids["side"].to_string().as_str()), "a merged branch's commit counts");
        assert!(!by_commit.contains_key(ids["merge"].to_string().as_str()));
        assert!(
            !by_commit.contains_key(ids["duplicate"].to_string().as_str()),
            "of two equal queries the newer one is kept (git log order)"
        );

        assert_eq!(
            selection.stats,
            SelectionStats {
                scanned: 23,
                not_single_parent: 1,
                bot_author: 1,
                changed_files: 0,
                excluded_subject: 8,
                adds_source: 2,
                target_count: 3,
                too_few_words: 1,
                names_target: 1,
                duplicate_query: 1,
                candidates: 5,
                selected: 5,
            }
        );
        assert_eq!(selection.head, b.repo.head().unwrap().target().unwrap().to_string());
    }

    #[test]
    fn selection_is_deterministic() {
        let (b, _) = sample_history();
        let opts = HistoryOptions { max_items: 3, ..HistoryOptions::default() };
        let first = select_items(&b.repo, &opts).unwrap();
        let second = select_items(&b.repo, &opts).unwrap();
        assert_eq!(first, second);
        // 5 candidates, 3 picks: positions 0, 2 and 4.
        assert_eq!(
            subjects(&first),
            vec![
                "parser: Handle escaped quotes inside string literals so tokens are not split",
                "Evict the oldest cache entries first when the cache grows over its limit",
                "Drop the old utility helpers now that nothing calls them any more anywhere",
            ]
        );
    }

    #[test]
    fn window_and_rev_limit_the_history() {
        let (b, ids) = sample_history();
        // Only commits from the bracket-prefix one (day 5) to the side-branch one.
        let side_time = b.repo.find_commit(ids["side"]).unwrap().time().seconds();
        let opts = HistoryOptions { since: Some(T0 + 5 * DAY), until: Some(side_time), ..HistoryOptions::default() };
        let items = select_items(&b.repo, &opts).unwrap();
        assert_eq!(
            subjects(&items),
            vec![
                "[render] Draw the border around the table when the terminal is wide enough",
                "Evict the oldest cache entries first when the cache grows over its limit",
            ]
        );
        let opts = HistoryOptions { rev: Some(ids["bracket_prefix"].to_string()), ..HistoryOptions::default() };
        let items = select_items(&b.repo, &opts).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].commit, ids["bracket_prefix"].to_string());
    }

    #[test]
    fn since_stops_the_walk_like_git_log() {
        // A commit with an old committer date hides its (newer) ancestors from `--since`, as in git.
        let mut b = Builder::new();
        b.commit("Initial import of the whole project with its parser and renderer", &[("src/a.rs", Some("1"))]);
        let good = b
            .commit("Handle escaped quotes inside string literals so tokens are not split", &[("src/a.rs", Some("2"))]);
        b.clock = T0 - 100 * DAY; // clock skew
        b.commit("Make the renderer faster by caching the measured widths of columns", &[("src/a.rs", Some("3"))]);
        b.clock = T0 + 50 * DAY;
        b.commit("Teach the parser about raw string literals with any number of hashes", &[("src/a.rs", Some("4"))]);
        let opts = HistoryOptions { since: Some(T0), ..HistoryOptions::default() };
        let items = select(&b.repo, &opts).unwrap().items;
        assert_eq!(subjects(&items), vec!["Teach the parser about raw string literals with any number of hashes"]);
        let all = select(&b.repo, &HistoryOptions::default()).unwrap().items;
        assert_eq!(all.len(), 3);
        assert!(all.iter().any(|i| i.commit == good.to_string()));
    }

    #[test]
    fn too_many_changed_files_are_skipped() {
        let mut b = Builder::new();
        b.commit("Initial import of the whole project with its parser and renderer", &[("src/a.rs", Some("1"))]);
        let docs: Vec<String> = (0..15).map(|i| format!("docs/page{i}.md")).collect();
        let mut changes: Vec<(&str, Option<&str>)> = docs.iter().map(|d| (d.as_str(), Some("text"))).collect();
        changes.push(("src/a.rs", Some("2")));
        b.commit("Describe every option of the parser in the documentation pages", &changes);
        let selection = select(&b.repo, &HistoryOptions::default()).unwrap();
        assert_eq!(selection.stats.changed_files, 1);
        assert!(selection.items.is_empty());
        let err = select_items(&b.repo, &HistoryOptions::default()).unwrap_err().to_string();
        assert!(err.contains("no commit in the history of HEAD qualifies"), "{err}");
        assert!(err.contains("1 with no or too many changed files"), "{err}");
    }

    #[test]
    fn bad_revisions_and_empty_histories_are_clear_errors() {
        let (b, _) = sample_history();
        let opts = HistoryOptions { rev: Some("origin/no-such-branch".into()), ..HistoryOptions::default() };
        let err = select_items(&b.repo, &opts).unwrap_err();
        assert!(matches!(err, Error::Ingest(IngestError::Git(_))));
        let msg = err.to_string();
        assert!(msg.contains("`origin/no-such-branch` not found") && msg.contains("git fetch"), "{msg}");

        let blob = b.repo.blob(b"x").unwrap();
        let opts = HistoryOptions { rev: Some(blob.to_string()), ..HistoryOptions::default() };
        let msg = select_items(&b.repo, &opts).unwrap_err().to_string();
        assert!(msg.contains("is a blob, not a commit"), "{msg}");

        let empty = Builder::new();
        let msg = select_items(&empty.repo, &HistoryOptions::default()).unwrap_err().to_string();
        assert!(msg.contains("no commits yet (empty history)"), "{msg}");
    }

    #[test]
    fn spread_matches_the_script() {
        let key = |s: &str| vec![s.to_string()];
        let sets: Vec<Vec<String>> = (0..10).map(|i| key(&format!("f{i}"))).collect();
        let refs: Vec<&[String]> = sets.iter().map(Vec::as_slice).collect();
        // want 0, 4.5, 9: the tie at 4.5 goes to the older candidate.
        assert_eq!(spread_picks(&refs, 3, 4), vec![0, 4, 9]);
        assert_eq!(spread_picks(&refs, 1, 4), vec![4]);
        assert_eq!(spread_picks(&refs, 40, 4), (0..10).collect::<Vec<_>>());
        assert_eq!(spread_picks(&[], 40, 4), Vec::<usize>::new());
        // want 0, 3, 6, 9 (n=10, k=4), with one target set capped at 2 items.
        let same: Vec<Vec<String>> = (0..10).map(|_| key("a.rs")).collect();
        let refs: Vec<&[String]> = same.iter().map(Vec::as_slice).collect();
        assert_eq!(spread_picks(&refs, 4, 2), vec![0, 3]);
        // a taken or full candidate passes the pick to the next nearest one
        let mixed: Vec<Vec<String>> = ["a", "a", "a", "b", "a", "a"].iter().map(|s| key(s)).collect::<Vec<_>>();
        let refs: Vec<&[String]> = mixed.iter().map(Vec::as_slice).collect();
        // n=6, k=3: want 0, 2.5, 5 -> 0; 2 (a, 2nd); 5 is a but "a" is full -> 4 full, 3 (b)
        assert_eq!(spread_picks(&refs, 3, 2), vec![0, 2, 3]);
    }

    // ---------------------------------------------------------------- message cleaning

    #[test]
    fn trailers_references_and_urls_are_removed() {
        let raw = "Fix the retry loop so it stops after the configured attempts (#812)\r\n\r\n\
                   The loop ignored the limit when the server closed the connection (gh/x#3, #4).\r\n\
                   Refs: #800\r\n\
                   * Fix the retry loop so it stops after the configured attempts (#810)\r\n\
                   * fix clippy\r\n\
                   * wip\r\n\
                   ---------\r\n\
                   [1]: https://example.com/a\r\n\
                   <https://example.com/b>\r\n\
                   Reviewed-by: Ann <ann@example.com>\r\n\
                   Change-Id: I1234\r\n";
        let (subject, message) = split_message(py_strip(raw));
        assert_eq!(subject, "Fix the retry loop so it stops after the configured attempts");
        assert_eq!(
            message,
            "Fix the retry loop so it stops after the configured attempts\n\n\
             The loop ignored the limit when the server closed the connection."
        );
        assert_eq!(clean_message(raw), message);
    }

    #[test]
    fn subject_prefixes_are_removed_from_the_query_only() {
        for (raw, query) in [
            ("area: Do the thing properly", "Do the thing properly"),
            ("net/http(client)!: Do the thing", "Do the thing"),
            ("[ui] Do the thing", "Do the thing"),
            ("fix(parser, lexer): Do the thing", "Do the thing"),
            ("No prefix: here, but: colons", "here, but: colons"),
            ("A sentence without a colon", "A sentence without a colon"),
            ("Time 10:30 is not a prefix", "Time 10:30 is not a prefix"),
        ] {
            assert_eq!(clean_message(raw), query, "{raw}");
        }
        let (subject, message) = split_message("area: Do the thing\n\nBody text.");
        assert_eq!(subject, "area: Do the thing");
        assert_eq!(message, "area: Do the thing\n\nBody text.");
        assert_eq!(to_query(&message, 150), "Do the thing\n\nBody text.");
    }

    #[test]
    fn queries_are_capped_and_blank_runs_collapsed() {
        let words: Vec<String> = (0..200).map(|i| format!("w{i}")).collect();
        let raw = format!("Subject line here\n\n\n\n{}", words.join(" "));
        let query = clean_message(&raw);
        assert!(query.starts_with("Subject line here\n\nw0 w1"), "{query}");
        assert_eq!(query.split_whitespace().count(), 150);
        assert!(query.ends_with("w146"), "{query}");
        assert_eq!(truncate_words("a b  c", 2), "a b");
        assert_eq!(truncate_words("a b", 2), "a b");
        assert_eq!(to_query("Subject\n\nline one   \n\n\n\nline two", 150), "Subject\n\nline one\n\nline two");
    }

    #[test]
    fn word_counts_need_a_leading_letter() {
        assert_eq!(count_words("Fix 2 bugs in foo_bar's parser, don’t panic"), 7);
        assert_eq!(count_words("123 456 _x"), 1);
    }

    #[test]
    fn excluded_subjects() {
        for subject in [
            "Release 2.0",
            "Prepare v1.3",
            "Bump serde from 1.0.1 to 1.0.2",
            "Update tokio to v1.40",
            "Fix typos in docs",
            "cargo fmt",
            "Run rustfmt",
            "fix lints",
            "Fix clippy warnings",
            "ci: add windows",
            "Revert \"Add feature\"",
            "Merge pull request #12 from a/b",
            "Update dependencies",
            "Clean-up the parser",
            "minor cleanup",
            "Update README",
            "Remove unused imports",
            "Fix compiler warnings",
            "v1.2.3",
            "core: 1.2",
            "Support version 1.2.3 of the protocol",
            "WIP: parser",
            // the script's patterns are blunt: these go too
            "Handle fmt::Display for errors",
            "Release the lock before waiting",
            "Add a dependency graph view",
        ] {
            assert!(is_excluded_subject(subject), "{subject}");
        }
        for subject in [
            "Handle fmt.Sprintf calls",
            "Use the format! macro",
            "Add circuit breaker",
            "Cleanly shut down the runtime",
            "Parse dates like 2021.11",
        ] {
            assert!(!is_excluded_subject(subject), "{subject}");
        }
        assert!(has_bare_fmt("FMT the code") && has_bare_fmt("run fmt") && !has_bare_fmt("fmt.Println"));
    }

    #[test]
    fn bot_authors() {
        for name in ["dependabot[bot]", "renovate-bot", "github-actions", "pre-commit-ci[bot]", "Some[bot]"] {
            assert!(is_bot_author(name), "{name}");
        }
        assert!(!is_bot_author("Robot Jones") && !is_bot_author("Jane"));
    }

    #[test]
    fn names_target_matches_whole_tokens() {
        let t = |s: &str| vec![s.to_string()];
        assert!(names_target("Fix the bug in app.py for good", &t("src/app.py")));
        assert!(names_target("Fix SRC/APP.PY", &t("src/app.py")));
        assert!(names_target("Tweak src/app so it starts", &t("src/app.py")), "path without extension");
        assert!(names_target("Tweak pkg.sub.mod handling", &t("pkg/sub/mod.py")), "python module");
        assert!(names_target("Tweak pkg.sub startup", &t("pkg/sub/__init__.py")), "python package");
        assert!(names_target("edit app.py.", &t("src/app.py")), "a trailing full stop is fine");
        assert!(!names_target("Remove webapp.py usage", &t("src/app.py")));
        assert!(!names_target("Ignore app.pyc files", &t("src/app.py")));
        assert!(!names_target("Ignore my-app.py files", &t("src/app.py")));
        assert!(!names_target("Ignore x.app.py files", &t("src/app.py")));
        assert!(!names_target("Improve the app startup", &t("app.py")), "a stem without directory is not a needle");
        assert!(names_target("see Makefile", &t("Makefile")));
    }

    // ---------------------------------------------------------------- file classification

    #[test]
    fn source_and_test_paths() {
        for p in ["src/lib.rs", "lib/x.PY", "a/b/c.tsx", "run.sh", "x.ps1"] {
            assert!(is_source_path(p), "{p}");
        }
        for p in ["README.md", "Cargo.toml", "bin/tool", "x.", "src/.rs"] {
            assert!(!is_source_path(p), "{p}");
        }
        for p in [
            "tests/it.rs",
            "src/tests/mod.rs",
            "crate/test-utils/x.rs",
            "docs/conf.py",
            "Docs/conf.py",
            "scripts/release.sh",
            ".github/x.py",
            "src/.hidden/x.rs",
            "pkg/x_test.go",
            "src/test_parse.py",
            "src/parse_tests.rs",
            "src/tests.rs",
            "web/a.spec.ts",
            "web/a.test.jsx",
            "conftest.py",
            "third_party/z.c",
            "src/vendor/z.c",
            "examples/demo.rs",
        ] {
            assert!(is_test_path(p), "{p}");
            assert!(!is_candidate_target(p), "{p}");
        }
        for p in ["src/lib.rs", "src/testing_mode.rs", "lib/spec_helper_like.rb", "bin/tool", "contest.py"] {
            assert!(!is_test_path(p), "{p}");
            assert!(is_candidate_target(p), "{p}");
        }
        assert!(!is_candidate_target("src/data.json"));
        assert!(is_test_path("docs"), "the top-level check applies to a top-level file too");
    }

    #[test]
    fn content_checks() {
        assert!(is_source_content("src/a.rs", b"fn main() {}\n"));
        assert!(!is_source_content("src/a.rs", b"fn\0main"));
        assert!(is_source_content("bin/tool", b"#!/bin/sh\necho hi\n"));
        assert!(!is_source_content("bin/tool", b"echo hi\n"));
        assert!(!is_source_content("src/a.rs", b"// Code generated by protoc. DO NOT EDIT.\n"));
        assert!(!is_source_content("src/a.go", b"// Code generated by x; DO NOT EDIT\npackage a\n"));
        assert!(!is_source_content("src/a.rs", b"\n\n\n\n\n\n\n// @generated\n"));
        assert!(is_source_content("src/a.rs", b"\n\n\n\n\n\n\n\n// @generated\n"), "only the first 8 lines");
        assert!(!is_source_content("src/a.rs", b"\r\r\r\r\r\r\r// AUTO-GENERATED\n"), "\\r ends a line too");
        assert_eq!(first_lines(b"a\r\nb\rc\nd", 8), b"a\nb\nc\nd");
        assert_eq!(first_lines(b"a\nb\nc\n", 2), b"a\nb");
        assert_eq!(first_lines(b"", 8), b"");
    }

    /// Prints the selection for a mirror as JSON lines, to compare with the reference script:
    /// `RAGOPS_EVAL_MIRROR=/work/.mirror/sharkdp+fd/repo cargo test -p ragops-lib
    /// eval::history::tests::dump_mirror -- --ignored --nocapture` (optional
    /// `RAGOPS_EVAL_SINCE` / `RAGOPS_EVAL_UNTIL` in unix seconds, `RAGOPS_EVAL_MAX_ITEMS`).
    #[test]
    #[ignore = "needs a git mirror"]
    fn dump_mirror() {
        let Ok(mirror) = std::env::var("RAGOPS_EVAL_MIRROR") else { return };
        let repo = git2::Repository::open(&mirror).unwrap();
        let env_num = |k: &str| std::env::var(k).ok().map(|v| v.parse::<i64>().unwrap());
        let mut opts = HistoryOptions::reference();
        opts.since = env_num("RAGOPS_EVAL_SINCE").or(opts.since);
        opts.until = env_num("RAGOPS_EVAL_UNTIL").or(opts.until);
        if let Some(n) = env_num("RAGOPS_EVAL_MAX_ITEMS") {
            opts.max_items = n as usize;
        }
        let selection = select(&repo, &opts).unwrap();
        for item in &selection.items {
            println!("ITEM {}", serde_json::to_string(item).unwrap());
        }
        println!("STATS {}", serde_json::to_string(&selection.stats).unwrap());
    }
}
