//! Labelled query sets for `ragops eval --queries FILE`.
//!
//! Two layouts are read, told apart by the first non-blank character:
//!
//! - `[`: a JSON array of items, semble's annotation format:
//!   `{"query": "Rack::Response", "relevant": [{"path": "lib/rack/response.rb", "start_line": 23,
//!   "end_line": 62}], "secondary": [], "category": "symbol"}`;
//! - `{`: JSON lines, one such object a line (blank lines skipped).
//!
//! A target is a path string or an object `{path, start_line, end_line}` (1-based, inclusive).
//! The targets of an item are `relevant` followed by `secondary`, then `targets` (the key the git
//! history sets use), all with the same gain. Other keys (`seed`, `related`, `repo`, `commit`, …)
//! are ignored. Paths are kept as written, relative to the repository root.

use std::path::Path;

use serde_json::Value;

use crate::error::{ConfigError, Error};
use crate::model::LineRange;

/// One labelled query.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LabelledQuery {
    /// The query text.
    pub query: String,
    /// What answers it: `relevant` then `secondary` (then `targets`), in file order.
    pub targets: Vec<Target>,
    /// semble's category (`semantic`, `architecture`, `symbol`), when the item has one.
    pub category: Option<String>,
}

impl LabelledQuery {
    /// The category, or the one semble infers when the item has none: `symbol` for a query
    /// without a space, `architecture` for one starting with "how ", `semantic` otherwise.
    pub fn category_or_inferred(&self) -> &str {
        match &self.category {
            Some(c) => c,
            None if !self.query.trim().contains(' ') => "symbol",
            None if self.query.to_lowercase().starts_with("how ") => "architecture",
            None => "semantic",
        }
    }
}

/// A file, or a line span of one, that answers a query.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    /// The path, relative to the repository root.
    pub path: String,
    /// The span, when the label gives one; a chunk must overlap it to count.
    pub lines: Option<LineRange>,
}

impl Target {
    /// A whole-file target.
    pub fn file(path: impl Into<String>) -> Self {
        Target { path: path.into(), lines: None }
    }

    /// A target with a line span (1-based, inclusive).
    pub fn span(path: impl Into<String>, start: u32, end: u32) -> Self {
        Target { path: path.into(), lines: Some(LineRange::new(start, end)) }
    }
}

/// Reads a labelled query set (see the module documentation for the layouts).
///
/// # Errors
/// `ConfigError::Path` naming the file when it cannot be read, is empty, is not valid JSON, or
/// an item is malformed (the message names the line, or the item's position in the array, and
/// the key at fault).
pub fn load_queries(path: &Path) -> Result<Vec<LabelledQuery>, Error> {
    let fail = |message: String| Error::Config(ConfigError::Path { path: path.to_path_buf(), message });
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read the query file: {e}")))?;
    parse_queries(&text).map_err(fail)
}

/// Parses the text of a labelled query set; the error is a message naming the line or item.
fn parse_queries(text: &str) -> Result<Vec<LabelledQuery>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let queries = match text.trim_start().chars().next() {
        None => return Err("the query file is empty".into()),
        Some('[') => {
            let items: Vec<Value> = serde_json::from_str(text)
                .map_err(|e| format!("invalid JSON at line {} column {}: {e}", e.line(), e.column()))?;
            items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_item(item).map_err(|e| format!("item {} of the array: {e}", i + 1)))
                .collect::<Result<Vec<_>, _>>()?
        }
        Some('{') => {
            let mut out = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let item: Value = serde_json::from_str(line)
                    .map_err(|e| format!("line {}: invalid JSON (one object a line expected): {e}", i + 1))?;
                out.push(parse_item(&item).map_err(|e| format!("line {}: {e}", i + 1))?);
            }
            out
        }
        Some(_) => {
            return Err("not a query set: expected a JSON array of items or JSON lines (one object a line)".into());
        }
    };
    if queries.is_empty() {
        return Err("the query file has no queries".into());
    }
    Ok(queries)
}

fn parse_item(item: &Value) -> Result<LabelledQuery, String> {
    let Value::Object(map) = item else {
        return Err(format!("expected an object with `query` and `relevant`, found {}", kind(item)));
    };
    let query = match map.get("query") {
        Some(Value::String(q)) if !q.trim().is_empty() => q.clone(),
        Some(Value::String(_)) => return Err("`query` is empty".into()),
        Some(other) => return Err(format!("`query` must be a string, found {}", kind(other))),
        None => return Err("missing `query`".into()),
    };
    let mut targets = Vec::new();
    for key in ["relevant", "secondary", "targets"] {
        match map.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for (i, t) in list.iter().enumerate() {
                    targets.push(parse_target(t).map_err(|e| format!("`{key}[{i}]`: {e}"))?);
                }
            }
            Some(other) => return Err(format!("`{key}` must be a list of targets, found {}", kind(other))),
        }
    }
    if targets.is_empty() {
        return Err(format!("query {query:?} has no targets (`relevant`, `secondary` and `targets` are empty)"));
    }
    let category = match map.get("category") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) => Some(c.clone()),
        Some(other) => return Err(format!("`category` must be a string, found {}", kind(other))),
    };
    Ok(LabelledQuery { query, targets, category })
}

fn parse_target(value: &Value) -> Result<Target, String> {
    match value {
        Value::String(p) if !p.is_empty() => Ok(Target::file(p.clone())),
        Value::String(_) => Err("empty path".into()),
        Value::Object(map) => {
            let path = match map.get("path") {
                Some(Value::String(p)) if !p.is_empty() => p.clone(),
                Some(Value::String(_)) => return Err("empty `path`".into()),
                Some(other) => return Err(format!("`path` must be a string, found {}", kind(other))),
                None => return Err("missing `path`".into()),
            };
            let start = line_number(map.get("start_line"), "start_line")?;
            let end = line_number(map.get("end_line"), "end_line")?;
            let lines = match (start, end) {
                (None, None) => None,
                (Some(start), Some(end)) if start <= end => Some(LineRange::new(start, end)),
                (Some(start), Some(end)) => {
                    return Err(format!("`start_line` {start} is after `end_line` {end}"));
                }
                (Some(_), None) => return Err("`start_line` without `end_line`".into()),
                (None, Some(_)) => return Err("`end_line` without `start_line`".into()),
            };
            Ok(Target { path, lines })
        }
        other => Err(format!("expected a path or an object with `path`, found {}", kind(other))),
    }
}

/// A 1-based line number: a JSON integer or a string of digits (semble accepts both).
fn line_number(value: Option<&Value>, key: &str) -> Result<Option<u32>, String> {
    let n = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(other) => return Err(format!("`{key}` must be a line number, found {}", kind(other))),
    };
    match n.and_then(|n| u32::try_from(n).ok()) {
        Some(n) if n >= 1 => Ok(Some(n)),
        _ => Err(format!("`{key}` must be a line number from 1, found {}", value.map_or(Value::Null, Clone::clone))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queries.json");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_semble_annotations() {
        let (_dir, path) = write(
            r#"[
  {"query": "Rack::Response",
   "relevant":  [{"path": "lib/rack/response.rb", "start_line": 23, "end_line": 62}],
   "secondary": [],
   "category":  "symbol"},
  {"query": "how redirects are followed",
   "relevant": ["src/requests/sessions.py"],
   "secondary": ["src/requests/models.py"],
   "category": "architecture",
   "seed": "x", "related": ["y"]}
]"#,
        );
        let queries = load_queries(&path).unwrap();
        assert_eq!(
            queries,
            vec![
                LabelledQuery {
                    query: "Rack::Response".into(),
                    targets: vec![Target::span("lib/rack/response.rb", 23, 62)],
                    category: Some("symbol".into()),
                },
                LabelledQuery {
                    query: "how redirects are followed".into(),
                    targets: vec![Target::file("src/requests/sessions.py"), Target::file("src/requests/models.py")],
                    category: Some("architecture".into()),
                },
            ]
        );
    }

    #[test]
    fn reads_json_lines_and_history_sets() {
        let (_dir, path) = write(
            "{\"query\": \"JoinSet\", \"relevant\": [\"tokio/src/task/join_set.rs\"]}\n\
             \n\
             {\"repo\": \"a/b\", \"commit\": \"abc\", \"query\": \"Fix the retry loop\", \"targets\": [\"src/a.rs\", \
             \"src/b.rs\"]}\n\
             {\"query\": \"spans\", \"relevant\": [{\"path\": \"x.rb\", \"start_line\": \"3\", \"end_line\": \"9\"}], \
             \"secondary\": [{\"path\": \"y.rb\"}]}\n",
        );
        let queries = load_queries(&path).unwrap();
        assert_eq!(queries.len(), 3);
        assert_eq!(queries[0].targets, vec![Target::file("tokio/src/task/join_set.rs")]);
        assert_eq!(queries[0].category, None);
        assert_eq!(queries[0].category_or_inferred(), "symbol");
        assert_eq!(queries[1].targets, vec![Target::file("src/a.rs"), Target::file("src/b.rs")]);
        assert_eq!(queries[1].category_or_inferred(), "semantic");
        assert_eq!(queries[2].targets, vec![Target::span("x.rb", 3, 9), Target::file("y.rb")]);
    }

    #[test]
    fn reads_the_dev_set() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/semble-dev/annotations");
        let Ok(entries) = std::fs::read_dir(&dir) else { return };
        let (mut queries, mut targets, mut spans) = (0, 0, 0);
        for entry in entries {
            let set = load_queries(&entry.unwrap().path()).unwrap();
            queries += set.len();
            targets += set.iter().map(|q| q.targets.len()).sum::<usize>();
            spans += set.iter().flat_map(|q| &q.targets).filter(|t| t.lines.is_some()).count();
        }
        assert_eq!((queries, targets, spans), (237, 278, 8));
    }

    fn error(text: &str) -> String {
        let (_dir, path) = write(text);
        let err = load_queries(&path).unwrap_err();
        assert!(err.is_usage(), "{err}");
        let msg = err.to_string();
        assert!(msg.starts_with(&path.display().to_string()), "the message names the file: {msg}");
        msg
    }

    #[test]
    fn malformed_input_names_the_file_and_place() {
        assert!(error("").contains("empty"));
        assert!(error("query,relevant\n").contains("not a query set"));
        assert!(
            error("[{\"query\": \"a\", \"relevant\": [\"x\"]},\n  {\"query\": }]").contains("invalid JSON at line 2")
        );
        assert!(error("[]").contains("no queries"));
        let msg = error("[{\"query\": \"a\", \"relevant\": [\"x\"]}, {\"relevant\": [\"x\"]}]");
        assert!(msg.contains("item 2 of the array: missing `query`"), "{msg}");
        let msg = error("{\"query\": \"a\", \"relevant\": [\"x\"]}\n{\"query\": \"b\", \"relevant\": []}\n");
        assert!(msg.contains("line 2: query \"b\" has no targets"), "{msg}");
        let msg = error("{\"query\": \"a\", \"relevant\": [\"x\"]}\nnot json\n");
        assert!(msg.contains("line 2: invalid JSON"), "{msg}");
        let msg = error("{\"query\": \"a\", \"relevant\": [{\"path\": \"x\", \"start_line\": 9, \"end_line\": 3}]}");
        assert!(msg.contains("line 1: `relevant[0]`: `start_line` 9 is after `end_line` 3"), "{msg}");
        let msg = error("{\"query\": \"a\", \"relevant\": [{\"path\": \"x\", \"start_line\": 0, \"end_line\": 3}]}");
        assert!(msg.contains("`start_line` must be a line number from 1, found 0"), "{msg}");
        let msg = error("{\"query\": \"a\", \"secondary\": [{\"path\": \"x\", \"start_line\": 2}]}");
        assert!(msg.contains("`secondary[0]`: `start_line` without `end_line`"), "{msg}");
        let msg = error("{\"query\": \"a\", \"relevant\": \"x\"}");
        assert!(msg.contains("`relevant` must be a list of targets, found a string"), "{msg}");
        let msg = error("{\"query\": 3, \"relevant\": [\"x\"]}");
        assert!(msg.contains("`query` must be a string, found a number"), "{msg}");
        let missing = Path::new("/nonexistent/queries.json");
        let msg = load_queries(missing).unwrap_err().to_string();
        assert!(msg.starts_with("/nonexistent/queries.json: cannot read the query file"), "{msg}");
    }
}
