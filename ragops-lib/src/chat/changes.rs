//! "What changed?": detect the question, describe a git range's changes grouped by file and by
//! the definitions (tree-sitter symbol paths) the changed lines fall in, with citations to the
//! changed lines (new side).

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::citations::Citation;
use super::prompt::Source;
use crate::config::ChunkingConfig;
use crate::ingest::Chunker;
use crate::ingest::changes::{ChangeSet, ChangeStatus, FileDiff};
use crate::ingest::code_chunk::CodeChunker;
use crate::ingest::language::language_for;
use crate::model::LineRange;

/// Phrasings that ask what changed (case-insensitive, anywhere in the question): "what
/// changed", "what has changed", "what's new", "what is new", "recent/latest changes",
/// "summarize/summarise/describe/list/show the changes", "summary of the changes", "changes
/// since", "what did I change", "uncommitted changes", "the diff".
static CHANGES_QUESTION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        \bwhat(?:'s|\s+has|\s+have|\s+was|\s+were|\s+got)?\s+(?:been\s+)?changed\b
        | \bwhat\s+(?:did|do|have)\s+(?:i|we|you|they)\s+changed?\b
        | \bwhat(?:'s|\s+is)\s+new\b
        | \b(?:recent|latest|last|new|uncommitted|pending|local)\s+changes?\b
        | \b(?:summari[sz]e|describe|list|show|explain)\s+(?:the\s+|my\s+|our\s+|these\s+|recent\s+)?(?:changes|diff)\b
        | \bsummary\s+of\s+(?:the\s+)?(?:changes|diff)\b
        | \bchanges?\s+since\b
        | \b(?:the|this|my)\s+diff\b
        | ^\s*diff\s*\??\s*$
        ",
    )
    .ok()
});

/// Whether `question` asks what changed (the phrasings are listed in docs/chat.md).
pub fn is_changes_question(question: &str) -> bool {
    CHANGES_QUESTION.as_ref().is_some_and(|re| re.is_match(question))
}

/// Changed lines shown under a file at most.
const EXCERPT_LINES: usize = 3;
/// Files listed in the answer at most (the JSON lists all).
const MAX_FILES_SHOWN: usize = 50;

/// A changed file as an answer describes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ChangedFile {
    /// Path relative to the repository root.
    pub path: String,
    /// `added`, `modified`, `deleted` or `renamed`.
    pub status: ChangeStatus,
    /// The path before a rename.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// Lines added.
    pub added: u32,
    /// Lines removed.
    pub removed: u32,
    /// Innermost definitions the changed lines fall in (symbol paths), in file order.
    pub symbols: Vec<String>,
    /// The changed lines (new side).
    pub citations: Vec<Citation>,
    /// Whether git sees the file as binary.
    pub binary: bool,
}

/// The symbol path of each line of a file (1-based index → path), from the structure-aware
/// chunker cut to single lines; empty when the language has no grammar.
pub fn line_symbols(path: &str, text: &str) -> Vec<Option<String>> {
    let language = language_for(path);
    if !crate::ingest::code_chunk::supports(language) {
        return Vec::new();
    }
    let config = ChunkingConfig { chunk_size: 1, chunk_overlap: 0, max_chunk_bytes: u32::MAX };
    let mut out = vec![None; text.lines().count() + 1];
    for chunk in CodeChunker::new(&config).chunk(path, language, text) {
        for line in chunk.lines.start..=chunk.lines.end {
            if let Some(slot) = out.get_mut(line as usize) {
                *slot = chunk.symbol.clone();
            }
        }
    }
    out
}

/// Describes one file's changes: symbols touched and citations.
pub fn describe(file: &FileDiff) -> ChangedFile {
    let change = &file.change;
    let mut symbols: Vec<String> = Vec::new();
    if let Some(text) = &file.new_text {
        let by_line = line_symbols(&change.path, text);
        for range in &file.changed_lines {
            for line in range.start..=range.end {
                if let Some(Some(symbol)) = by_line.get(line as usize)
                    && !symbols.contains(symbol)
                {
                    symbols.push(symbol.clone());
                }
            }
        }
    }
    ChangedFile {
        path: change.path.clone(),
        status: change.status,
        old_path: change.old_path.clone(),
        added: file.added,
        removed: file.removed,
        symbols,
        citations: file.changed_lines.iter().map(|r| Citation::new(change.path.clone(), *r)).collect(),
        binary: file.binary,
    }
}

/// The answer listing `set`'s changes: the range, then per file its status, line counts,
/// symbols touched, citations, and the first changed lines.
/// With `with_lines` false, the citations and changed lines are left out (the listing that
/// goes into a prompt beside the changed lines as sources).
pub fn render(set: &ChangeSet, files: &[ChangedFile], with_lines: bool) -> String {
    let mut out = format!("Changes: {}.\n", set.range.description);
    if files.is_empty() {
        out.push_str("\nNothing changed in this range.\n");
        return out.trim_end().to_string();
    }
    let (added, removed): (u32, u32) = files.iter().fold((0, 0), |(a, r), f| (a + f.added, r + f.removed));
    out.push_str(&format!(
        "{} file{} changed, {added} line{} added, {removed} removed.\n",
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        if added == 1 { "" } else { "s" }
    ));
    for (f, diff) in files.iter().zip(&set.files).take(MAX_FILES_SHOWN) {
        let status = match (&f.status, &f.old_path) {
            (ChangeStatus::Renamed, Some(old)) => format!("renamed from {old}"),
            (ChangeStatus::Added, _) => "added".into(),
            (ChangeStatus::Modified, _) => "modified".into(),
            (ChangeStatus::Deleted, _) => "deleted".into(),
            (ChangeStatus::Renamed, None) => "renamed".into(),
        };
        let counts = if f.binary { "binary".to_string() } else { format!("+{} -{}", f.added, f.removed) };
        out.push_str(&format!("\n{} ({status}, {counts})\n", f.path));
        if !f.symbols.is_empty() {
            out.push_str(&format!("  symbols: {}\n", f.symbols.join("; ")));
        }
        if !with_lines {
            continue;
        }
        if !f.citations.is_empty() {
            let cites: Vec<String> = f.citations.iter().map(ToString::to_string).collect();
            out.push_str(&format!("  lines: {}\n", cites.join(", ")));
        }
        if let (Some(text), Some(first)) = (&diff.new_text, f.citations.first()) {
            for line in text
                .lines()
                .skip(first.start_line as usize - 1)
                .take((first.end_line - first.start_line + 1) as usize)
                .filter(|l| !l.trim().is_empty())
                .take(EXCERPT_LINES)
            {
                let line: String = line.chars().take(120).collect();
                out.push_str(&format!("    + {line}\n"));
            }
        }
    }
    if files.len() > MAX_FILES_SHOWN {
        out.push_str(&format!("\n... and {} more files (see --json).\n", files.len() - MAX_FILES_SHOWN));
    }
    out.trim_end().to_string()
}

/// The changed lines as sources for a language model, one per changed range, each widened to
/// whole lines of the new file; deleted and binary files give none.
pub fn sources(set: &ChangeSet, files: &[ChangedFile]) -> Vec<Source> {
    let mut out = Vec::new();
    for (f, diff) in files.iter().zip(&set.files) {
        let Some(text) = &diff.new_text else { continue };
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let by_line = line_symbols(&f.path, text);
        for c in &f.citations {
            let (s, e) = (c.start_line as usize, (c.end_line as usize).min(lines.len()));
            if s == 0 || s > e {
                continue;
            }
            let body: String = lines[s - 1..e].concat();
            let symbol = by_line.get(s).cloned().flatten();
            out.push(Source::new(
                Citation::new(f.path.clone(), LineRange::new(s as u32, e as u32)),
                language_for(&f.path),
                symbol,
                body,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_change_questions() {
        for q in [
            "What changed?",
            "what has changed since yesterday",
            "What's new?",
            "what did I change",
            "Summarize the changes",
            "summarise my changes please",
            "show recent changes",
            "any uncommitted changes?",
            "Give me a summary of the diff",
            "diff",
            "changes since v1.2",
            "what was changed in the parser",
        ] {
            assert!(is_changes_question(q), "{q}");
        }
        for q in [
            "Where is retry handled?",
            "how do I change the log level",
            "what is the difference between scan and search",
            "exchange rate parser",
            "what changes the config",
        ] {
            assert!(!is_changes_question(q), "{q}");
        }
    }

    #[test]
    fn symbols_come_from_the_grammar() {
        let text = "struct A;\n\nimpl A {\n    fn one(&self) -> u32 {\n        1\n    }\n\n    fn two(&self) -> u32 {\n        2\n    }\n}\n\nfn free() {}\n";
        let by_line = line_symbols("src/a.rs", text);
        assert_eq!(by_line[5].as_deref(), Some("impl A > fn one"));
        assert_eq!(by_line[9].as_deref(), Some("impl A > fn two"));
        assert_eq!(by_line[13].as_deref(), Some("fn free"));
        assert!(line_symbols("notes.txt", "a\nb\n").is_empty());
    }
}
