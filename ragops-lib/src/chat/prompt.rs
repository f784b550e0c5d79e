//! The prompt: instructions, the retrieved passages as numbered sources, and the question,
//! within a token budget that is never exceeded.
//!
//! Tokens are counted approximately ([`approx_tokens`]: one token per three characters, which
//! over-counts for code and prose with real tokenizers, so the estimate errs on the safe side).
//! The budget is the model's context window (or `chat.context_tokens` when smaller) minus the
//! tokens kept for the answer. Sources are added best first; one that does not fit is cut to
//! its first lines that do (its citation narrowed to them) or, when not even a few lines fit,
//! skipped for the next, smaller one.

use serde::Serialize;

use super::citations::Citation;
use crate::error::ConfigError;
use crate::provider::{Message, Role};

/// Characters per token assumed by [`approx_tokens`].
const CHARS_PER_TOKEN: usize = 3;
/// Tokens counted for each message's framing (role, separators).
const MESSAGE_OVERHEAD: usize = 4;
/// A source cut to fit keeps at least this many lines, or is skipped.
const MIN_SOURCE_LINES: u32 = 3;

/// An approximate token count: `ceil(chars / 3)`. It counts high for real tokenizers, so
/// prompts built with it stay within the model's window.
pub fn approx_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(CHARS_PER_TOKEN)
}

/// Approximate tokens of a conversation, framing included.
pub fn approx_message_tokens(messages: &[Message]) -> usize {
    messages.iter().map(|m| approx_tokens(&m.content) + MESSAGE_OVERHEAD).sum()
}

/// A passage offered to the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Source {
    /// Where it is.
    pub citation: Citation,
    /// Its language (for the code fence).
    pub language: String,
    /// The enclosing definition, when known.
    pub symbol: Option<String>,
    /// Its text: exactly the cited lines.
    pub text: String,
}

impl Source {
    /// A source.
    pub fn new(
        citation: Citation,
        language: impl Into<String>,
        symbol: Option<String>,
        text: impl Into<String>,
    ) -> Self {
        Source { citation, language: language.into(), symbol, text: text.into() }
    }

    /// The same source cut to its first `lines` lines.
    fn first_lines(&self, lines: u32) -> Source {
        let text: String = self.text.split_inclusive('\n').take(lines as usize).collect();
        let mut citation = self.citation.clone();
        citation.end_line = (citation.start_line + lines - 1).min(citation.end_line);
        Source { citation, language: self.language.clone(), symbol: self.symbol.clone(), text }
    }

    fn line_count(&self) -> u32 {
        self.citation.end_line.saturating_sub(self.citation.start_line) + 1
    }
}

/// The instructions every prompt starts with.
pub const SYSTEM_PROMPT: &str = "You answer questions about a code repository using only the numbered sources you are given. \
Cite the source of every claim as path:start-end, exactly as the source is labelled (you may narrow the lines within a source). \
Never cite a file or lines you were not given. If the sources do not answer the question, say so plainly instead of guessing. \
Be concise.";

/// A prompt ready for a model, with what went into it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Prompt {
    /// System and user messages.
    pub messages: Vec<Message>,
    /// The sources included, in order (cut ones with their narrowed citation): the only
    /// citations the answer may use.
    pub sources: Vec<Source>,
    /// Approximate tokens of the messages.
    pub tokens: usize,
    /// The most tokens the messages could use.
    pub budget: usize,
    /// Sources cut to fit.
    pub truncated: usize,
    /// Sources left out because not even a few of their lines fit.
    pub skipped: usize,
}

/// Builds the prompt for `question` from `candidates` (best first) within `budget` tokens;
/// `context` is extra text placed before the sources (e.g. the list of changed files).
///
/// # Errors
/// The instructions and the question alone exceed the budget ([`ConfigError::Invalid`] naming
/// `chat.context_tokens`).
pub fn build(
    question: &str,
    context: Option<&str>,
    candidates: &[Source],
    budget: usize,
) -> Result<Prompt, ConfigError> {
    let user = |sources: &[Source]| render_user(question, context, sources);
    let base = approx_message_tokens(&[Message::new(Role::System, SYSTEM_PROMPT), Message::new(Role::User, user(&[]))]);
    if base > budget {
        return Err(ConfigError::Invalid {
            key: "chat.context_tokens".into(),
            origin: String::new(),
            message: format!(
                "a budget of {budget} prompt tokens cannot hold the instructions and the question (about {base} tokens); raise it or shorten the question"
            ),
        });
    }
    let mut used = base;
    let mut sources: Vec<Source> = Vec::new();
    let (mut truncated, mut skipped) = (0, 0);
    for candidate in candidates {
        let cost = |s: &Source| approx_tokens(&render_source(sources.len() + 1, s));
        let room = budget - used;
        if cost(candidate) <= room {
            used += cost(candidate);
            sources.push(candidate.clone());
            continue;
        }
        // The most first lines that fit, if at least a few do.
        let (mut lo, mut hi) = (0u32, candidate.line_count());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if cost(&candidate.first_lines(mid)) <= room { lo = mid } else { hi = mid - 1 }
        }
        if lo >= MIN_SOURCE_LINES.min(candidate.line_count()) && lo > 0 {
            let cut = candidate.first_lines(lo);
            used += cost(&cut);
            sources.push(cut);
            truncated += 1;
        } else {
            skipped += 1;
        }
    }
    let mut messages = vec![Message::new(Role::System, SYSTEM_PROMPT), Message::new(Role::User, user(&sources))];
    let mut tokens = approx_message_tokens(&messages);
    // The sum of the parts bounds the whole; this only guards the invariant.
    while tokens > budget && sources.pop().is_some() {
        messages[1] = Message::new(Role::User, user(&sources));
        tokens = approx_message_tokens(&messages);
        skipped += 1;
    }
    Ok(Prompt { messages, sources, tokens, budget, truncated, skipped })
}

fn render_source(n: usize, s: &Source) -> String {
    let symbol = s.symbol.as_deref().map(|sym| format!(" ({sym})")).unwrap_or_default();
    let text = s.text.strip_suffix('\n').unwrap_or(&s.text);
    format!("[{n}] {}{symbol}\n```{}\n{text}\n```\n\n", s.citation, s.language)
}

fn render_user(question: &str, context: Option<&str>, sources: &[Source]) -> String {
    let mut out = String::new();
    if let Some(context) = context {
        out.push_str(context.trim_end());
        out.push_str("\n\n");
    }
    out.push_str("Sources:\n\n");
    if sources.is_empty() {
        out.push_str("(none)\n\n");
    }
    for (i, s) in sources.iter().enumerate() {
        out.push_str(&render_source(i + 1, s));
    }
    out.push_str("Question: ");
    out.push_str(question.trim());
    out.push_str("\n\nAnswer with citations (path:start-end).");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LineRange;

    fn source(path: &str, start: u32, lines: u32, width: usize) -> Source {
        let text: String = (0..lines).map(|i| format!("{:width$}\n", format!("line {}", start + i))).collect();
        Source::new(Citation::new(path, LineRange::new(start, start + lines - 1)), "rust", None, text)
    }

    #[test]
    fn prompt_snapshot() {
        let sources = [
            Source::new(
                Citation::new("src/retry.rs", LineRange::new(3, 6)),
                "rust",
                Some("fn retry_with_backoff".into()),
                "pub fn retry_with_backoff() {\n    for attempt in 0..5 {\n        sleep(attempt);\n    }\n",
            ),
            Source::new(
                Citation::new("README.md", LineRange::new(1, 2)),
                "markdown",
                None,
                "# Demo\nRetries back off.\n",
            ),
        ];
        let prompt = build("Where is retry handled?", None, &sources, 2000).unwrap();
        assert_eq!(prompt.sources.len(), 2);
        let rendered: Vec<String> =
            prompt.messages.iter().map(|m| format!("--- {:?} ---\n{}", m.role, m.content)).collect();
        insta::assert_snapshot!(rendered.join("\n"));
    }

    #[test]
    fn budget_is_never_exceeded_and_long_chunks_are_cut() {
        let candidates: Vec<Source> = (0..20).map(|i| source(&format!("src/m{i}.rs"), 1, 60, 70)).collect();
        for budget in [300, 500, 1000, 3000, 10_000] {
            let p = build("How does it work?", None, &candidates, budget).unwrap();
            assert!(p.tokens <= budget, "{} > {budget}", p.tokens);
            assert_eq!(p.tokens, approx_message_tokens(&p.messages));
            assert!(!p.sources.is_empty(), "budget {budget}: at least one source");
            for s in &p.sources {
                assert_eq!(s.text.lines().count() as u32, s.line_count(), "citation matches the text kept");
                assert!(p.messages[1].content.contains(&s.citation.to_string()));
            }
        }
        let small = build("How does it work?", None, &candidates, 500).unwrap();
        assert!(small.truncated >= 1, "a chunk too large is cut: {small:?}");
        assert!(small.sources[0].citation.end_line < 60);
    }

    #[test]
    fn a_chunk_that_cannot_fit_is_skipped_for_a_smaller_one() {
        let candidates = [source("big.rs", 1, 2, 3000), source("small.rs", 1, 2, 10)];
        let p = build("q?", None, &candidates, 400).unwrap();
        assert_eq!(p.skipped, 1);
        assert_eq!(p.sources.len(), 1);
        assert_eq!(p.sources[0].citation.path, "small.rs");
        assert!(p.tokens <= 400);
    }

    #[test]
    fn a_budget_too_small_for_the_question_is_an_error() {
        let err = build(&"why ".repeat(500), None, &[], 300).unwrap_err().to_string();
        assert!(err.contains("chat.context_tokens"), "{err}");
    }

    #[test]
    fn token_estimate_counts_characters() {
        assert_eq!(approx_tokens(""), 0);
        assert_eq!(approx_tokens("abc"), 1);
        assert_eq!(approx_tokens("abcd"), 2);
    }
}
