//! Citations `path:start-end` in a model's answer: parsed, checked against the sources the
//! model was given, and invalid ones removed from the text.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::model::LineRange;

/// A place in the repository an answer points at: `path:start-end`, lines 1-based inclusive.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct Citation {
    /// Path relative to the repository root.
    pub path: String,
    /// First line.
    pub start_line: u32,
    /// Last line, inclusive.
    pub end_line: u32,
}

impl Citation {
    /// A citation.
    pub fn new(path: impl Into<String>, lines: LineRange) -> Self {
        Citation { path: path.into(), start_line: lines.start, end_line: lines.end }
    }

    /// The cited lines.
    pub fn lines(&self) -> LineRange {
        LineRange::new(self.start_line, self.end_line)
    }

    /// Whether this citation lies within `other` (same file, lines inside).
    pub fn within(&self, other: &Citation) -> bool {
        self.path == other.path && self.start_line >= other.start_line && self.end_line <= other.end_line
    }
}

impl fmt::Display for Citation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}-{}", self.path, self.start_line, self.end_line)
    }
}

/// `path:start-end` or `path:line`, where the path has a `/` or a `.` (so `10:30` is not a
/// citation). Backticks, brackets and parentheses around it are not part of it.
static CITATION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?P<path>[A-Za-z0-9_@+~\-][A-Za-z0-9_@+~\-./]*):(?P<start>\d{1,9})(?:-(?P<end>\d{1,9}))?").ok()
});

/// One citation found in a text, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The citation (a single line `path:12` is `12-12`).
    pub citation: Citation,
    /// Byte range of the citation in the text.
    pub span: std::ops::Range<usize>,
}

/// Every citation in `text`, in order.
pub fn parse(text: &str) -> Vec<Found> {
    let Some(re) = CITATION.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for caps in re.captures_iter(text) {
        let (Some(whole), Some(path), Some(start)) = (caps.get(0), caps.name("path"), caps.name("start")) else {
            continue;
        };
        let path = path.as_str().trim_end_matches('.');
        if !(path.contains('/') || path.contains('.')) {
            continue;
        }
        // A URL (`http://host:8080`) is no citation.
        if text[..whole.start()].ends_with("//") {
            continue;
        }
        let Ok(start) = start.as_str().parse::<u32>() else { continue };
        let end = caps.name("end").and_then(|e| e.as_str().parse::<u32>().ok()).unwrap_or(start);
        let path = path.trim_start_matches("./").to_string();
        let offset = whole.as_str().find(&path).unwrap_or(0);
        out.push(Found {
            citation: Citation { path, start_line: start, end_line: end },
            span: whole.start() + offset..whole.end(),
        });
    }
    out
}

/// The outcome of checking an answer's citations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checked {
    /// The answer with invalid citations replaced by a marker.
    pub text: String,
    /// Valid citations, first appearance order, without duplicates.
    pub valid: Vec<Citation>,
    /// Citations of lines the model was not given, as written.
    pub invalid: Vec<Citation>,
}

/// What replaces an invalid citation in the text.
pub const REMOVED_MARKER: &str = "[invalid citation removed]";

/// Checks the citations of `text` against `sources` (the passages the model was given): a
/// citation is valid when its lines lie inside one source of the same file and `start <= end`.
/// Invalid ones are replaced by [`REMOVED_MARKER`] in the returned text.
pub fn check(text: &str, sources: &[Citation]) -> Checked {
    let mut out = Checked::default();
    let mut cursor = 0;
    for found in parse(text) {
        let c = &found.citation;
        let valid = c.start_line >= 1 && c.start_line <= c.end_line && sources.iter().any(|s| c.within(s));
        if valid {
            if !out.valid.contains(c) {
                out.valid.push(c.clone());
            }
        } else {
            out.text.push_str(&text[cursor..found.span.start]);
            out.text.push_str(REMOVED_MARKER);
            cursor = found.span.end;
            if !out.invalid.contains(c) {
                out.invalid.push(c.clone());
            }
        }
    }
    out.text.push_str(&text[cursor..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(path: &str, s: u32, e: u32) -> Citation {
        Citation::new(path, LineRange::new(s, e))
    }

    #[test]
    fn parses_ranges_single_lines_and_decorations() {
        let found = parse("See `src/lib.rs:10-20` and (scripts/tool.py:7), also [README.md:1-2].");
        let cites: Vec<String> = found.iter().map(|f| f.citation.to_string()).collect();
        assert_eq!(cites, ["src/lib.rs:10-20", "scripts/tool.py:7-7", "README.md:1-2"]);
        assert_eq!(&"See `src/lib.rs:10-20`"[found[0].span.clone()], "src/lib.rs:10-20");
    }

    #[test]
    fn times_and_urls_are_not_citations() {
        assert!(parse("at 10:30 we met; http://localhost:8080/x").is_empty());
        assert!(parse("ratio 3:4").is_empty());
    }

    #[test]
    fn only_given_lines_are_valid() {
        let sources = [c("src/lib.rs", 10, 30), c("src/net.rs", 1, 6)];
        let checked =
            check("In src/lib.rs:12-14 and src/net.rs:4, not src/invented.rs:1-3 nor src/lib.rs:25-40.", &sources);
        assert_eq!(checked.valid, [c("src/lib.rs", 12, 14), c("src/net.rs", 4, 4)]);
        assert_eq!(checked.invalid, [c("src/invented.rs", 1, 3), c("src/lib.rs", 25, 40)]);
        assert_eq!(
            checked.text,
            format!("In src/lib.rs:12-14 and src/net.rs:4, not {REMOVED_MARKER} nor {REMOVED_MARKER}.")
        );
    }

    #[test]
    fn reversed_or_zero_ranges_are_invalid() {
        let sources = [c("a.rs", 1, 9)];
        let checked = check("a.rs:5-2 a.rs:0-1", &sources);
        assert!(checked.valid.is_empty());
        assert_eq!(checked.invalid.len(), 2);
    }

    #[test]
    fn duplicates_are_listed_once() {
        let sources = [c("a.rs", 1, 9)];
        let checked = check("a.rs:1-2, again a.rs:1-2", &sources);
        assert_eq!(checked.valid, [c("a.rs", 1, 2)]);
        assert_eq!(checked.text, "a.rs:1-2, again a.rs:1-2");
    }
}
