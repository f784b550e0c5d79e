//! Grounded answers about a repository: `ragops chat`.
//!
//! The design decision: **an answer is only as good as what it can cite**. Every answer carries
//! citations `path:start-end` to lines it was built from, and a heuristic confidence computed
//! from the retrieval evidence ([`confidence`]).
//!
//! - Without a language model (the default) the answer is extractive ([`extractive`]): the most
//!   relevant passages, distinct files first, each with a short excerpt, and a line saying no
//!   language model was used.
//! - With one, the retrieved chunks go into a prompt within the model's token budget
//!   ([`prompt`]); the answer is streamed, then its citations are checked against the chunks
//!   the model was given ([`citations`]): others are removed and flagged, and an answer with
//!   no valid citation is marked ungrounded.
//! - "What changed?" questions ([`changes::is_changes_question`], or [`Chat::changes`]) are
//!   answered from git: the files of a range grouped with the definitions their changed lines
//!   fall in, citing the changed lines.
//!
//! ```no_run
//! # async fn demo() -> ragops_lib::Result<()> {
//! use std::sync::Arc;
//! let index = Arc::new(ragops_lib::Index::builder().repo(".").build()?);
//! let chat = ragops_lib::chat::Chat::new(index, None);
//! let answer = chat.ask("Where is retry handled?", &mut |_| {}).await?;
//! println!("{}", answer.answer);
//! for c in &answer.citations {
//!     println!("{c}");
//! }
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::config::ChatConfig;
use crate::error::{ProviderError, Result};
use crate::index::Index;
use crate::ingest::changes::{ChangeRange, ChangeSpec, change_set};
use crate::model::{Hit, Leg};
use crate::provider::{CompletionRequest, LlmProvider};
use crate::retrieve::{Retriever, RetrieverKind};
use crate::store::Filter;

pub mod changes;
pub mod citations;
pub mod confidence;
pub mod extractive;
pub mod prompt;

pub use changes::{ChangedFile, is_changes_question};
pub use citations::Citation;
pub use confidence::{CONFIDENCE_KIND, Signals};
pub use extractive::Passage;
pub use prompt::{Prompt, Source};

/// Hits fetched from each leg alone for the confidence's `agreement`.
const LEG_DEPTH: usize = 20;

/// How an answer was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerMode {
    /// Passages of the index (or git's changes) without a language model.
    Extractive,
    /// Written by a language model from the passages it was given.
    Llm,
}

/// What was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuestionKind {
    /// A question answered from the index.
    Question,
    /// "What changed?", answered from git.
    Changes,
}

/// The changes a what-changed answer describes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ChangesReport {
    /// The range used.
    pub range: ChangeRange,
    /// The changed files.
    pub files: Vec<ChangedFile>,
}

/// An answer (the `--json` document of `ragops chat`; docs/chat.md describes it).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Answer {
    /// The question.
    pub question: String,
    /// What was asked.
    pub kind: QuestionKind,
    /// How it was answered.
    pub mode: AnswerMode,
    /// The answer's text (invalid citations removed), notes included at its end.
    pub answer: String,
    /// Valid citations, in order of appearance.
    pub citations: Vec<Citation>,
    /// Citations of lines the model was not given (removed from the text).
    pub invalid_citations: Vec<Citation>,
    /// Whether the answer has at least one valid citation.
    pub grounded: bool,
    /// The heuristic confidence in `[0, 1]`; `null` where it does not apply (an extractive
    /// what-changed answer lists git's own output).
    pub confidence: Option<f32>,
    /// Always `heuristic`: the confidence is never a probability of being right.
    pub confidence_kind: &'static str,
    /// The signals behind the confidence.
    pub confidence_signals: Option<Signals>,
    /// Whether the confidence is below `chat.confidence_threshold`.
    pub low_confidence: bool,
    /// Remarks on the answer: not confident, ungrounded, removed citations, stale index.
    pub notes: Vec<String>,
    /// The language model's provider (`null` for extractive answers).
    pub provider: Option<String>,
    /// The language model (`null` for extractive answers).
    pub model: Option<String>,
    /// The request id of this turn.
    pub request_id: Option<String>,
    /// The passages shown (extractive answers to questions).
    pub passages: Vec<Passage>,
    /// The sources the model was given (language-model answers).
    pub sources: Vec<Citation>,
    /// Approximate prompt tokens and the budget they had to fit (language-model answers).
    pub prompt_tokens: Option<usize>,
    /// The prompt's token budget.
    pub prompt_budget: Option<usize>,
    /// The changes (what-changed answers).
    pub changes: Option<ChangesReport>,
    /// Cited files whose lines differ from the index (changed since the scan).
    pub stale_citations: Vec<Citation>,
    /// Milliseconds from question to answer.
    pub latency_ms: f64,
}

/// A chat over one index, with or without a language model.
#[derive(Debug)]
pub struct Chat {
    index: Arc<Index>,
    llm: Option<Arc<dyn LlmProvider>>,
    config: ChatConfig,
    filters: Vec<Filter>,
    retriever: OnceCell<(Retriever, Option<String>)>,
}

impl Chat {
    /// A chat over `index`, answering with `llm` when given (extractively otherwise), with the
    /// index's `[chat]` settings. The index is opened at the first question that needs it, so
    /// what-changed answers work before any scan.
    pub fn new(index: Arc<Index>, llm: Option<Arc<dyn LlmProvider>>) -> Self {
        let config = index.config().chat;
        Chat { index, llm, config, filters: Vec::new(), retriever: OnceCell::new() }
    }

    /// Replaces the `[chat]` settings.
    pub fn with_config(mut self, config: ChatConfig) -> Self {
        self.config = config;
        self
    }

    /// Restricts retrieval (`--path`, `--lang`).
    pub fn with_filters(mut self, filters: Vec<Filter>) -> Self {
        self.filters = filters;
        self
    }

    /// The language model, if any.
    pub fn llm(&self) -> Option<&Arc<dyn LlmProvider>> {
        self.llm.as_ref()
    }

    /// Tokens a prompt may use: the smaller of `chat.context_tokens` and the model's context
    /// window, minus `chat.answer_tokens`.
    pub fn prompt_budget(&self) -> Option<usize> {
        let window = self.llm.as_ref()?.context_window();
        let total = self.config.context_tokens.map_or(window, |t| t.min(window));
        Some(total.saturating_sub(self.config.answer_tokens))
    }

    /// Answers `question`: from git when it asks what changed (see
    /// [`is_changes_question`]), from the index otherwise. `on_fragment` receives the
    /// language model's text as it streams (nothing for extractive answers).
    ///
    /// # Errors
    /// No index (for questions), a git failure (for changes), a retrieval or language-model
    /// failure, a token budget too small for the question.
    pub async fn ask(&self, question: &str, on_fragment: &mut (dyn FnMut(&str) + Send)) -> Result<Answer> {
        if is_changes_question(question) {
            self.changes(question, &ChangeSpec::Auto, on_fragment).await
        } else {
            self.answer(question, on_fragment).await
        }
    }

    async fn retriever(&self) -> Result<&(Retriever, Option<String>)> {
        self.retriever
            .get_or_try_init(|| async {
                let retriever = self.index.retriever(RetrieverKind::Hybrid).await?;
                let status = self.index.status().await?;
                let stale = status.stale.then(|| {
                    format!(
                        "The index was built at commit {} but HEAD is now {}: run `ragops scan` to refresh it.",
                        short(status.metadata.repo_commit.as_deref()),
                        short(status.head_commit.as_deref())
                    )
                });
                Ok((retriever, stale))
            })
            .await
    }

    /// Answers a question from the index (never from git).
    ///
    /// # Errors
    /// As [`Chat::ask`].
    pub async fn answer(&self, question: &str, on_fragment: &mut (dyn FnMut(&str) + Send)) -> Result<Answer> {
        let started = Instant::now();
        let (retriever, stale) = self.retriever().await?;
        let depth = (self.config.max_passages * 4).max(LEG_DEPTH);
        // One query embedding and one search per leg: the legs' own rankings come back with the
        // fused one, for the confidence signals.
        let searched = retriever.search_with_legs(question, depth, &self.filters).await?;
        let pool = searched.hits;
        let lexical: Vec<Hit> =
            searched.lexical.into_iter().filter(|h| h.leg == Leg::Lexical).take(LEG_DEPTH).collect();
        let vector: Vec<Hit> = searched.vector.into_iter().take(LEG_DEPTH).collect();
        let chosen = extractive::select(&pool, self.config.max_passages);
        let mut answer = match &self.llm {
            None => {
                let passages: Vec<Passage> = chosen.iter().map(|h| extractive::passage(h, question)).collect();
                let signals = confidence::signals(question, &chosen, &pool, &lexical, &vector);
                let text = extractive::render(&passages);
                let citations: Vec<Citation> = passages.iter().map(|p| p.citation.clone()).collect();
                let mut a = self.base_answer(question, QuestionKind::Question, AnswerMode::Extractive, text);
                a.grounded = !citations.is_empty();
                a.citations = citations;
                a.passages = passages;
                a.confidence = Some(signals.score());
                a.confidence_signals = Some(signals);
                a
            }
            Some(llm) => {
                let candidates: Vec<Source> = chosen
                    .iter()
                    .map(|h| {
                        Source::new(
                            Citation::new(h.chunk.path.clone(), h.chunk.lines),
                            h.chunk.language.clone(),
                            h.chunk.symbol.clone(),
                            h.chunk.text.clone(),
                        )
                    })
                    .collect();
                let prompt = prompt::build(question, None, &candidates, self.prompt_budget().unwrap_or_default())?;
                let used: Vec<&Hit> = chosen
                    .iter()
                    .copied()
                    .filter(|h| {
                        prompt
                            .sources
                            .iter()
                            .any(|s| s.citation.path == h.chunk.path && s.citation.start_line == h.chunk.lines.start)
                    })
                    .collect();
                let signals = confidence::signals(question, &used, &pool, &lexical, &vector);
                self.complete(llm.as_ref(), question, QuestionKind::Question, &prompt, signals, on_fragment).await?
            }
        };
        if let Some(stale) = stale {
            answer.notes.push(stale.clone());
        }
        answer.stale_citations = changed_since_scan(self.index.root(), &chosen, &answer.citations);
        if !answer.stale_citations.is_empty() {
            let list: Vec<String> = answer.stale_citations.iter().map(ToString::to_string).collect();
            answer
                .notes
                .push(format!("These cited lines changed since the scan (run `ragops scan`): {}.", list.join(", ")));
        }
        Ok(self.finish(answer, started))
    }

    /// Answers what changed in `spec`'s range (uncommitted changes, else the last commit; or
    /// since a ref), grouped by file and by the definitions touched, citing the changed lines.
    ///
    /// # Errors
    /// Not a git repository, a ref that does not exist, a language-model failure.
    pub async fn changes(
        &self,
        question: &str,
        spec: &ChangeSpec,
        on_fragment: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Answer> {
        let started = Instant::now();
        let set = change_set(self.index.root(), spec)?;
        let files: Vec<ChangedFile> = set.files.iter().map(changes::describe).collect();
        let mut answer = match &self.llm {
            None => {
                let mut text = changes::render(&set, &files, true);
                text.push_str("\n\nNo language model was used: this lists git's changes and the definitions they touch (extractive answer).");
                let mut a = self.base_answer(question, QuestionKind::Changes, AnswerMode::Extractive, text);
                a.citations = files.iter().flat_map(|f| f.citations.iter().cloned()).collect();
                a.grounded = !a.citations.is_empty();
                a
            }
            Some(llm) => {
                let context = format!(
                    "The question is about changes in the repository. {}\n\nChanged lines are given as sources below.",
                    changes::render(&set, &files, false)
                );
                let candidates = changes::sources(&set, &files);
                let prompt =
                    prompt::build(question, Some(&context), &candidates, self.prompt_budget().unwrap_or_default())?;
                let signals = Signals { coverage: 1.0, agreement: 1.0, margin: 1.0, similarity: 1.0, citations: None };
                self.complete(llm.as_ref(), question, QuestionKind::Changes, &prompt, signals, on_fragment).await?
            }
        };
        answer.changes = Some(ChangesReport { range: set.range, files });
        Ok(self.finish(answer, started))
    }

    fn base_answer(&self, question: &str, kind: QuestionKind, mode: AnswerMode, text: String) -> Answer {
        let model = self.llm.as_ref().filter(|_| mode == AnswerMode::Llm).map(|l| l.model().clone());
        Answer {
            question: question.to_string(),
            kind,
            mode,
            answer: text,
            citations: Vec::new(),
            invalid_citations: Vec::new(),
            grounded: false,
            confidence: None,
            confidence_kind: CONFIDENCE_KIND,
            confidence_signals: None,
            low_confidence: false,
            notes: Vec::new(),
            provider: model.as_ref().map(|m| m.provider.clone()),
            model: model.map(|m| m.name),
            request_id: crate::telemetry::current_request_id(),
            passages: Vec::new(),
            sources: Vec::new(),
            prompt_tokens: None,
            prompt_budget: None,
            changes: None,
            stale_citations: Vec::new(),
            latency_ms: 0.0,
        }
    }

    /// Streams the model's answer to `prompt`, then checks its citations.
    async fn complete(
        &self,
        llm: &dyn LlmProvider,
        question: &str,
        kind: QuestionKind,
        prompt: &Prompt,
        signals: Signals,
        on_fragment: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Answer> {
        let mut request = CompletionRequest::new(prompt.messages.clone());
        request.max_tokens = u32::try_from(self.config.answer_tokens).ok();
        request.temperature = Some(0.0);
        request.request_id = crate::telemetry::current_request_id();
        let model = llm.model().clone();
        let started = Instant::now();
        let fail = |e: ProviderError| llm_failure(&model.to_string(), e);
        let mut stream = llm.complete_stream(&request).await.map_err(fail)?;
        let mut text = String::new();
        while let Some(fragment) = stream.next().await {
            let fragment = fragment.map_err(fail)?;
            on_fragment(&fragment);
            text.push_str(&fragment);
        }
        tracing::info!(
            event = "llm.complete",
            provider = %model.provider,
            model = %model.name,
            prompt_tokens = prompt.tokens,
            sources = prompt.sources.len(),
            latency_ms = crate::telemetry::elapsed_ms(started),
        );
        let given: Vec<Citation> = prompt.sources.iter().map(|s| s.citation.clone()).collect();
        let checked = citations::check(text.trim(), &given);
        let mut a = self.base_answer(question, kind, AnswerMode::Llm, checked.text);
        a.grounded = !checked.valid.is_empty();
        let signals = signals.with_citations(checked.valid.len(), checked.invalid.len());
        a.confidence = Some(signals.score());
        a.confidence_signals = Some(signals);
        if !checked.invalid.is_empty() {
            let list: Vec<String> = checked.invalid.iter().map(ToString::to_string).collect();
            a.notes.push(format!(
                "Removed {} invalid citation{} (lines the model was not given): {}.",
                list.len(),
                if list.len() == 1 { "" } else { "s" },
                list.join(", ")
            ));
        }
        if !a.grounded {
            a.notes.push("Ungrounded: the answer cites none of the sources it was given; do not rely on it.".into());
        }
        a.citations = checked.valid;
        a.invalid_citations = checked.invalid;
        a.sources = given;
        a.prompt_tokens = Some(prompt.tokens);
        a.prompt_budget = Some(prompt.budget);
        Ok(a)
    }

    /// Applies the confidence threshold, appends the notes to the text, logs `chat.answer`.
    fn finish(&self, mut a: Answer, started: Instant) -> Answer {
        if let Some(c) = a.confidence
            && c < self.config.confidence_threshold
        {
            a.low_confidence = true;
            a.notes.insert(
                0,
                format!(
                    "Not confident: the evidence is weak (heuristic confidence {c:.2}, below {:.2}); check the cited lines before relying on this.",
                    self.config.confidence_threshold
                ),
            );
        }
        a.latency_ms = crate::telemetry::elapsed_ms(started);
        for note in &a.notes {
            a.answer.push_str("\n\n");
            a.answer.push_str(note);
        }
        tracing::info!(
            event = "chat.answer",
            kind = match a.kind {
                QuestionKind::Question => "question",
                QuestionKind::Changes => "changes",
            },
            mode = match a.mode {
                AnswerMode::Extractive => "extractive",
                AnswerMode::Llm => "llm",
            },
            confidence = a.confidence,
            confidence_kind = CONFIDENCE_KIND,
            grounded = a.grounded,
            citations = a.citations.len(),
            invalid_citations = a.invalid_citations.len(),
            provider = a.provider.as_deref(),
            model = a.model.as_deref(),
            request_id = a.request_id.as_deref(),
            latency_ms = a.latency_ms,
        );
        a
    }
}

/// The first 7 characters of a commit id, or `none`.
fn short(id: Option<&str>) -> String {
    id.map_or_else(|| "none".to_string(), |s| s.chars().take(7).collect())
}

/// A language model's error with the model named, of the same kind.
fn llm_failure(model: &str, e: ProviderError) -> crate::error::Error {
    let prefix = format!("the language model {model} failed");
    crate::error::Error::Provider(match e {
        ProviderError::Transient { provider, message } => {
            ProviderError::Transient { provider, message: format!("{prefix}: {message}") }
        }
        ProviderError::Permanent { provider, message } => {
            ProviderError::Permanent { provider, message: format!("{prefix}: {message}") }
        }
        ProviderError::ContextLengthExceeded { provider, message } => {
            ProviderError::ContextLengthExceeded { provider, message: format!("{prefix}: {message}") }
        }
        ProviderError::RateLimited { provider, message, retry_after } => {
            ProviderError::RateLimited { provider, message: format!("{prefix}: {message}"), retry_after }
        }
        ProviderError::Unauthorized { provider, message } => {
            ProviderError::Unauthorized { provider, message: format!("{prefix}: {message}") }
        }
        ProviderError::MalformedResponse { provider, message } => {
            ProviderError::MalformedResponse { provider, message: format!("{prefix}: {message}") }
        }
    })
}

/// The citations (among `cited`) that lie in a retrieved chunk whose lines on disk no longer
/// match the index.
fn changed_since_scan(root: &Path, hits: &[&Hit], cited: &[Citation]) -> Vec<Citation> {
    let mut out = Vec::new();
    for h in hits {
        let chunk_cite = Citation::new(h.chunk.path.clone(), h.chunk.lines);
        let mine: Vec<&Citation> = cited.iter().filter(|c| c.within(&chunk_cite)).collect();
        if mine.is_empty() {
            continue;
        }
        let current = std::fs::read_to_string(root.join(&h.chunk.path)).ok().map(|text| {
            let lines: Vec<&str> = text.lines().collect();
            let (s, e) = (h.chunk.lines.start as usize, h.chunk.lines.end as usize);
            if s == 0 || e > lines.len() || s > e { None } else { Some(lines[s - 1..e].join("\n")) }
        });
        let indexed: Vec<&str> = h.chunk.text.lines().collect();
        if current.flatten().as_deref() != Some(indexed.join("\n").as_str()) {
            out.extend(mine.into_iter().filter(|c| !out.contains(*c)).cloned().collect::<Vec<_>>());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use futures::stream;

    use super::*;
    use crate::provider::{Completion, CompletionStream, ModelId, Role};

    /// Streams a fixed answer in three fragments and records the requests it gets.
    #[derive(Debug)]
    struct Recorder {
        model: ModelId,
        answer: String,
        seen: Mutex<Vec<CompletionRequest>>,
    }

    #[async_trait]
    impl LlmProvider for Recorder {
        async fn complete(&self, req: &CompletionRequest) -> Result<Completion, ProviderError> {
            self.seen.lock().unwrap().push(req.clone());
            Ok(Completion::new(self.answer.clone()))
        }
        async fn complete_stream(&self, req: &CompletionRequest) -> Result<CompletionStream, ProviderError> {
            self.seen.lock().unwrap().push(req.clone());
            let third = self.answer.len() / 3;
            let parts = vec![
                Ok(self.answer[..third].to_string()),
                Ok(self.answer[third..2 * third].to_string()),
                Ok(self.answer[2 * third..].to_string()),
            ];
            Ok(stream::iter(parts).boxed())
        }
        fn model(&self) -> &ModelId {
            &self.model
        }
    }

    async fn indexed_repo() -> (tempfile::TempDir, Arc<Index>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("retry.py"),
            "def retry_with_backoff(op):\n    for attempt in range(5):\n        op()\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("net.rs"), "pub fn open_socket() {}\n").unwrap();
        let index = Index::builder().repo(dir.path()).build().unwrap();
        index.scan().await.unwrap();
        (dir, Arc::new(index))
    }

    #[tokio::test]
    async fn streams_fragments_and_checks_citations() {
        let (_dir, index) = indexed_repo().await;
        let llm = Arc::new(Recorder {
            model: ModelId::new("rec", "r1"),
            answer: "Retries live in retry.py:1-3; also nowhere.rs:1-2.".into(),
            seen: Mutex::new(Vec::new()),
        });
        let chat = Chat::new(index, Some(llm.clone() as Arc<dyn LlmProvider>))
            .with_config(ChatConfig::default().with_answer_tokens(200));
        let mut fragments: Vec<String> = Vec::new();
        let answer = crate::telemetry::with_request_id(
            "turn-1".into(),
            chat.ask("where is retry_with_backoff?", &mut |f| fragments.push(f.to_string())),
        )
        .await
        .unwrap();
        assert_eq!(fragments.len(), 3);
        assert_eq!(fragments.concat(), "Retries live in retry.py:1-3; also nowhere.rs:1-2.");
        assert_eq!(answer.mode, AnswerMode::Llm);
        assert_eq!(answer.citations, [Citation::new("retry.py", crate::model::LineRange::new(1, 3))]);
        assert_eq!(answer.invalid_citations.len(), 1);
        assert!(answer.grounded);
        assert_eq!(answer.request_id.as_deref(), Some("turn-1"));
        assert_eq!((answer.provider.as_deref(), answer.model.as_deref()), (Some("rec"), Some("r1")));
        let seen = llm.seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let req = &seen[0];
        assert_eq!(req.request_id.as_deref(), Some("turn-1"), "the request id reaches the provider");
        assert_eq!(req.max_tokens, Some(200));
        assert_eq!(req.messages[0].role, Role::System);
        assert!(req.messages[1].content.contains("retry.py:1-3"), "the chunk is a source");
        assert!(prompt::approx_message_tokens(&req.messages) <= chat.prompt_budget().unwrap());
    }

    #[tokio::test]
    async fn extractive_without_a_model_and_changes_without_an_index() {
        let (dir, index) = indexed_repo().await;
        let chat = Chat::new(index, None);
        let answer = chat.ask("where is retry_with_backoff?", &mut |_| panic!("nothing streams")).await.unwrap();
        assert_eq!(answer.mode, AnswerMode::Extractive);
        assert_eq!(answer.citations[0].path, "retry.py");
        assert!(answer.answer.contains(extractive::NO_LLM_NOTE));
        // Not a git repository: a what-changed question is a clear error, not a retrieval.
        let err = chat.ask("What changed?", &mut |_| {}).await.unwrap_err();
        assert!(err.to_string().contains("not a git work tree"), "{err}");
        drop(dir);
    }
}
