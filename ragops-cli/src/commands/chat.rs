//! `ragops chat`: one question, what changed, or an interactive session.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use ragops_lib::chat::{Answer, AnswerMode, Chat};
use ragops_lib::ingest::changes::ChangeSpec;
use ragops_lib::store::Filter;
use tracing::Instrument;

use super::{open_index, print_json, registry};
use crate::cli::{ChatArgs, GlobalArgs};

const HELP: &str = "Ask a question about the repository, or type a command:
  /sources   the citations of the last answer
  /help      this help
  /quit      leave (Ctrl-D too); Ctrl-C cancels the answer being written";

pub(crate) async fn run(g: &GlobalArgs, args: &ChatArgs) -> anyhow::Result<ExitCode> {
    let index = Arc::new(open_index(g, None)?);
    let llm = match &index.config().llm {
        Some(settings) => Some(registry().llm(settings)?),
        None => None,
    };
    let mut filters = Vec::new();
    if let Some(glob) = &args.path {
        filters.push(Filter::PathGlob(glob.clone()));
    }
    if let Some(lang) = &args.lang {
        filters.push(Filter::Language(lang.clone()));
    }
    let history = index.index_dir().is_dir().then(|| index.index_dir().join("chat_history"));
    let chat = Chat::new(index, llm).with_filters(filters);
    if args.changes {
        let spec = args.base_ref.clone().map_or(ChangeSpec::Auto, ChangeSpec::Since);
        let question = args.question.clone().unwrap_or_else(|| "What changed?".to_string());
        let answer = chat.changes(&question, &spec, &mut |_| {}).await?;
        print_answer(g, &answer, false)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(question) = &args.question {
        let streaming = streams(g, &chat);
        let answer = chat.ask(question, &mut |f| print_fragment(f, streaming)).await?;
        print_answer(g, &answer, streaming)?;
        return Ok(ExitCode::SUCCESS);
    }
    interactive(g, &chat, history).await
}

/// Whether the answer is printed as it streams: a language model, text output, a terminal.
fn streams(g: &GlobalArgs, chat: &Chat) -> bool {
    !g.json && chat.llm().is_some() && std::io::stdout().is_terminal()
}

fn print_fragment(fragment: &str, streaming: bool) {
    if streaming {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(fragment.as_bytes());
        let _ = out.flush();
    }
}

/// Prints an answer: the JSON document, or the text (after a stream: only what did not
/// stream), the sources of a language-model answer and the confidence line.
fn print_answer(g: &GlobalArgs, answer: &Answer, streamed: bool) -> anyhow::Result<()> {
    if g.json {
        return print_json(&serde_json::to_value(answer)?);
    }
    let mut out = std::io::stdout().lock();
    if streamed {
        writeln!(out)?;
        for note in &answer.notes {
            writeln!(out, "\n{note}")?;
        }
    } else {
        writeln!(out, "{}", answer.answer)?;
    }
    if answer.mode == AnswerMode::Llm {
        let sources: Vec<String> = answer.citations.iter().map(ToString::to_string).collect();
        let sources = if sources.is_empty() { "none (ungrounded)".to_string() } else { sources.join(", ") };
        writeln!(out, "\nSources: {sources}")?;
    }
    let confidence = match answer.confidence {
        Some(c) => format!("{c:.2} (heuristic{})", if answer.low_confidence { ", low" } else { "" }),
        None => "n/a (git's own changes, no retrieval)".to_string(),
    };
    let by = match (&answer.provider, &answer.model) {
        (Some(p), Some(m)) => format!("answered by {p}/{m}"),
        _ => "extractive, no language model".to_string(),
    };
    writeln!(out, "Confidence: {confidence} · {by}")?;
    Ok(())
}

/// A line editor on a terminal, plain lines otherwise (so scripts and tests can drive it).
enum Input {
    Editor(Box<rustyline::DefaultEditor>, Option<PathBuf>),
    Lines(std::io::Lines<std::io::StdinLock<'static>>),
}

enum Read {
    Line(String),
    Interrupted,
    End,
}

impl Input {
    fn read(&mut self) -> anyhow::Result<Read> {
        match self {
            Input::Editor(editor, _) => match editor.readline("ragops> ") {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    Ok(Read::Line(line))
                }
                Err(rustyline::error::ReadlineError::Interrupted) => Ok(Read::Interrupted),
                Err(rustyline::error::ReadlineError::Eof) => Ok(Read::End),
                Err(e) => Err(anyhow::anyhow!("cannot read the terminal: {e}")),
            },
            Input::Lines(lines) => match lines.next() {
                Some(line) => Ok(Read::Line(line?)),
                None => Ok(Read::End),
            },
        }
    }

    fn save(&mut self) {
        if let Input::Editor(editor, Some(path)) = self {
            let _ = editor.save_history(path);
        }
    }
}

async fn interactive(g: &GlobalArgs, chat: &Chat, history: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let terminal = std::io::stdin().is_terminal();
    let mut input = if terminal {
        let mut editor = rustyline::DefaultEditor::new()?;
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        eprintln!("ragops chat: ask about the repository; /help for commands, Ctrl-D to quit.");
        Input::Editor(Box::new(editor), history)
    } else {
        Input::Lines(std::io::stdin().lock().lines())
    };
    let mut last: Option<Answer> = None;
    let mut failed = false;
    loop {
        let line = match input.read()? {
            Read::Line(line) => line,
            Read::Interrupted => continue,
            Read::End => break,
        };
        let line = line.trim();
        match line {
            "" => continue,
            "/quit" | "/exit" | "/q" => break,
            "/help" | "/?" => {
                println!("{HELP}");
                continue;
            }
            "/sources" => {
                print_sources(g, last.as_ref())?;
                continue;
            }
            other if other.starts_with('/') => {
                eprintln!("unknown command {other}; /help lists the commands");
                continue;
            }
            _ => {}
        }
        // One request id per turn, carried by its log lines and its answer.
        let id = crate::logging::new_request_id();
        let span = tracing::info_span!("turn", request_id = %id);
        let streaming = streams(g, chat);
        let mut on_fragment = |f: &str| print_fragment(f, streaming);
        let turn = ragops_lib::telemetry::with_request_id(id, chat.ask(line, &mut on_fragment).instrument(span));
        let result = tokio::select! {
            r = turn => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        };
        match result {
            None => {
                eprintln!("\n(answer cancelled)");
            }
            Some(Ok(answer)) => {
                if g.json {
                    let mut text = serde_json::to_string(&answer)?;
                    text.push('\n');
                    std::io::stdout().lock().write_all(text.as_bytes())?;
                } else {
                    print_answer(g, &answer, streaming)?;
                    println!();
                }
                last = Some(answer);
            }
            Some(Err(e)) => {
                failed = true;
                eprintln!("error: {e}");
            }
        }
    }
    input.save();
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_sources(g: &GlobalArgs, last: Option<&Answer>) -> anyhow::Result<()> {
    let Some(answer) = last else {
        println!("No answer yet.");
        return Ok(());
    };
    if g.json {
        let text = serde_json::to_string(&serde_json::json!({ "citations": answer.citations }))?;
        println!("{text}");
        return Ok(());
    }
    if answer.citations.is_empty() {
        println!("The last answer cites nothing.");
    }
    for c in &answer.citations {
        println!("{c}");
    }
    for c in &answer.invalid_citations {
        println!("{c} (invalid: removed)");
    }
    Ok(())
}
