//! The answer without a language model: the most relevant passages, distinct files first, each
//! with its citation and a short excerpt around the lines that best match the question.

use std::collections::HashSet;

use serde::Serialize;

use super::citations::Citation;
use super::confidence::content_terms;
use crate::lexical::tokenize;
use crate::model::{Hit, LineRange};

/// Lines an excerpt shows at most.
pub const EXCERPT_LINES: usize = 5;
/// Characters a shown line keeps.
const MAX_LINE_CHARS: usize = 160;

/// The line saying no language model was used.
pub const NO_LLM_NOTE: &str =
    "No language model was used: these are the indexed passages that best match the question (extractive answer).";

/// A retrieved passage as shown in an answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Passage {
    /// The excerpt's lines: what the answer cites.
    pub citation: Citation,
    /// The whole retrieved chunk.
    pub chunk: Citation,
    /// The enclosing definition, when known.
    pub symbol: Option<String>,
    /// The chunk's language.
    pub language: String,
    /// The excerpt: a few lines around the best matching line.
    pub excerpt: String,
    /// The retrieval score.
    pub score: f32,
}

/// Chooses up to `max` hits to show: the best hit of each file first (in rank order), then
/// further hits of those files.
pub fn select(hits: &[Hit], max: usize) -> Vec<&Hit> {
    let mut seen = HashSet::new();
    let (mut first, mut rest): (Vec<&Hit>, Vec<&Hit>) = (Vec::new(), Vec::new());
    for h in hits {
        if seen.insert(h.chunk.path.as_str()) { first.push(h) } else { rest.push(h) }
    }
    first.into_iter().chain(rest).take(max).collect()
}

/// The passage for a hit: an excerpt of at most [`EXCERPT_LINES`] lines starting one line
/// before the line that holds the most of the question's words (the chunk's first non-blank
/// line when none does).
pub fn passage(hit: &Hit, question: &str) -> Passage {
    let terms: HashSet<String> = content_terms(question).into_iter().collect();
    let chunk = &hit.chunk;
    let lines: Vec<&str> = chunk.text.lines().collect();
    let matches = |line: &str| -> usize {
        let found: HashSet<String> = tokenize(line).into_iter().map(|t| t.text).filter(|t| terms.contains(t)).collect();
        found.len()
    };
    let best = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (matches(l), i))
        .filter(|(m, _)| *m > 0)
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, i)| i)
        .or_else(|| lines.iter().position(|l| !l.trim().is_empty()))
        .unwrap_or(0);
    let mut start = best.saturating_sub(1);
    let mut end = (start + EXCERPT_LINES).min(lines.len());
    while start < end && lines[start].trim().is_empty() {
        start += 1;
    }
    while end > start && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    let excerpt: Vec<String> = lines[start..end]
        .iter()
        .map(|l| {
            if l.chars().count() > MAX_LINE_CHARS {
                format!("{}…", l.chars().take(MAX_LINE_CHARS).collect::<String>())
            } else {
                l.to_string()
            }
        })
        .collect();
    // The definition the best line is in, when the chunk (a run of small items) has no symbol.
    let symbol = chunk
        .symbol
        .clone()
        .or_else(|| super::changes::line_symbols(&chunk.path, &chunk.text).get(best + 1).cloned().flatten());
    let first = chunk.lines.start + start as u32;
    let last = (chunk.lines.start + end.max(start + 1) as u32 - 1).min(chunk.lines.end);
    Passage {
        citation: Citation::new(chunk.path.clone(), LineRange::new(first, last.max(first))),
        chunk: Citation::new(chunk.path.clone(), chunk.lines),
        symbol,
        language: chunk.language.clone(),
        excerpt: excerpt.join("\n"),
        score: hit.score,
    }
}

/// The extractive answer's text: one numbered entry per passage (citation, symbol, indented
/// excerpt), then [`NO_LLM_NOTE`].
pub fn render(passages: &[Passage]) -> String {
    let mut out = String::new();
    if passages.is_empty() {
        out.push_str("Nothing in the index matches the question.\n");
    } else {
        out.push_str("The most relevant passages:\n");
    }
    for (i, p) in passages.iter().enumerate() {
        let symbol = p.symbol.as_deref().map(|s| format!("  ({s})")).unwrap_or_default();
        out.push_str(&format!("\n{}. {}{symbol}\n", i + 1, p.citation));
        for line in p.excerpt.lines() {
            out.push_str("     ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push('\n');
    out.push_str(NO_LLM_NOTE);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Chunk, ChunkId, Leg};

    fn hit(id: u64, path: &str, start: u32, text: &str) -> Hit {
        let n = text.lines().count() as u32;
        Hit::new(ChunkId(id), Chunk::new(path, LineRange::new(start, start + n - 1), "python", text), 1.0, Leg::Hybrid)
    }

    #[test]
    fn distinct_files_come_first() {
        let hits = [hit(1, "a.py", 1, "x"), hit(2, "a.py", 5, "y"), hit(3, "b.py", 1, "z")];
        let chosen: Vec<u64> = select(&hits, 3).iter().map(|h| h.id.0).collect();
        assert_eq!(chosen, [1, 3, 2]);
        assert_eq!(select(&hits, 1).len(), 1);
    }

    #[test]
    fn excerpt_centres_on_the_matching_line() {
        let text = (1..=20)
            .map(|i| if i == 12 { "    delay = retry_backoff(attempt)".to_string() } else { format!("    x{i} = {i}") })
            .collect::<Vec<_>>()
            .join("\n");
        let p = passage(&hit(1, "tool.py", 101, &text), "how does retry_backoff work?");
        assert_eq!(p.citation, Citation::new("tool.py", LineRange::new(111, 115)));
        assert_eq!(p.chunk, Citation::new("tool.py", LineRange::new(101, 120)));
        assert_eq!(p.excerpt.lines().count(), EXCERPT_LINES);
        assert_eq!(p.excerpt.lines().nth(1), Some("    delay = retry_backoff(attempt)"));
        let answer = render(&[p]);
        assert!(answer.contains("1. tool.py:111-115"), "{answer}");
        assert!(answer.ends_with(NO_LLM_NOTE));
    }

    #[test]
    fn no_match_shows_the_start_of_the_chunk() {
        let p = passage(&hit(1, "a.py", 1, "\ndef first():\n    pass\n"), "zebra");
        assert_eq!(p.citation.start_line, 2);
        assert!(p.excerpt.starts_with("def first():"));
    }
}
