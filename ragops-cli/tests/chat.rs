//! End-to-end tests of `ragops chat`: extractive answers, what-changed answers from git,
//! language-model answers through the mock provider (`[llm] provider = "mock"`, whose
//! `[llm.mock] behavior` makes it cite, invent a citation, not cite, or fail), the token
//! budget, the interactive session driven through stdin, and the `chat.answer` log line.
//! Every repository is generated in a temporary directory.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

struct Repo {
    tmp: TempDir,
    root: PathBuf,
}

impl Repo {
    fn git() -> Repo {
        let tmp = tempfile::Builder::new().prefix("ragops-chat-").tempdir().expect("temp dir");
        for sub in ["repo", "home", "xdg"] {
            fs::create_dir_all(tmp.path().join(sub)).expect("fixture dir");
        }
        let root = tmp.path().join("repo").canonicalize().expect("canonical root");
        git2::Repository::init(&root).expect("git init");
        Repo { tmp, root }
    }

    fn write(&self, rel: &str, contents: &str) {
        let p = self.root.join(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("parent dirs");
        fs::write(p, contents).expect("write fixture");
    }

    fn lines(&self, rel: &str) -> Vec<String> {
        fs::read_to_string(self.root.join(rel)).expect("read").lines().map(str::to_string).collect()
    }

    fn commit_all(&self, message: &str) {
        let repo = git2::Repository::open(&self.root).expect("open");
        let mut index = repo.index().expect("index");
        index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).expect("add");
        index.update_all(["*"], None).expect("add -u");
        index.write().expect("write index");
        let tree = repo.find_tree(index.write_tree().expect("tree")).expect("find tree");
        let sig = git2::Signature::now("ragops test", "test@example.com").expect("sig");
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).expect("commit");
    }

    /// A config file outside the repository.
    fn config(&self, text: &str) -> String {
        let p = self.tmp.path().join("config.toml");
        fs::write(&p, text).expect("write config");
        p.display().to_string()
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("ragops").expect("binary");
        for (k, _) in std::env::vars_os() {
            let name = k.to_string_lossy();
            if name.starts_with("RAGOPS_") || name.starts_with("GIT_") || name == "RUST_LOG" {
                cmd.env_remove(&k);
            }
        }
        cmd.env("HOME", self.tmp.path().join("home"))
            .env("XDG_CONFIG_HOME", self.tmp.path().join("xdg"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .current_dir(&self.root);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run ragops")
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ragops {args:?} failed ({:?}):\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("ragops {args:?}: not one JSON document ({e}):\n{}", stdout(&out)))
    }

    /// Runs a command that must fail with `code` and one `error:` line; returns that line.
    fn fail(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "ragops {args:?}: exit code\n{err}");
        assert!(!err.contains("panicked"), "{err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one error line: {err}");
        assert!(lines[0].starts_with("error: "), "{err}");
        assert!(out.stdout.is_empty(), "nothing on stdout: {}", stdout(&out));
        err
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const RETRY_PY: &str = r#"import time


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
"#;

const NET_RS: &str = "use std::net::TcpStream;\n\n/// Opens a connection.\npub fn open_socket(addr: &str) -> std::io::Result<TcpStream> {\n    TcpStream::connect(addr)\n}\n\n/// Closes it.\npub fn close_socket(stream: TcpStream) {\n    drop(stream);\n}\n";

const CHECKSUM_RS: &str = "/// Checksums.\npub struct Crc;\n\nimpl Crc {\n    pub fn compute_checksum(data: &[u8]) -> u32 {\n        data.iter().fold(0u32, |acc, b| acc.rotate_left(5) ^ u32::from(*b))\n    }\n\n    pub fn reset(&mut self) {}\n}\n\npub fn unrelated() -> u32 {\n    7\n}\n";

/// A committed repository with three files, scanned.
fn sample() -> Repo {
    let repo = Repo::git();
    repo.write("scripts/retry.py", RETRY_PY);
    repo.write("src/net.rs", NET_RS);
    repo.write("src/checksum.rs", CHECKSUM_RS);
    repo.commit_all("initial");
    repo.json(&["scan", "--json"]);
    repo
}

/// Checks a citation object against the file on disk and returns (path, start, end).
fn citation(repo: &Repo, c: &Value) -> (String, usize, usize) {
    let path = c["path"].as_str().unwrap_or_else(|| panic!("path in {c}")).to_string();
    let start = c["start_line"].as_u64().unwrap_or_else(|| panic!("start_line in {c}")) as usize;
    let end = c["end_line"].as_u64().unwrap_or_else(|| panic!("end_line in {c}")) as usize;
    let n = repo.lines(&path).len();
    assert!(start >= 1 && start <= end && end <= n, "{path}:{start}-{end} within {n} lines");
    (path, start, end)
}

#[test]
fn extractive_answer_cites_the_right_file() {
    let repo = sample();
    let v = repo.json(&["chat", "Where is retry with backoff handled?", "--json"]);
    assert_eq!(v["mode"], "extractive");
    assert_eq!(v["kind"], "question");
    assert_eq!(v["provider"], Value::Null);
    assert_eq!(v["model"], Value::Null);
    assert!(v["request_id"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    assert_eq!(v["confidence_kind"], "heuristic");
    let confidence = v["confidence"].as_f64().expect("confidence is a number");
    assert!((0.0..=1.0).contains(&confidence));
    assert_eq!(v["grounded"], true);
    let citations = v["citations"].as_array().expect("citations");
    let (path, start, end) = citation(&repo, &citations[0]);
    assert_eq!(path, "scripts/retry.py");
    let lines = repo.lines(&path);
    assert!(lines[start - 1..end].iter().any(|l| l.contains("retry_with_backoff")), "{start}-{end}");
    let passage = &v["passages"][0];
    assert_eq!(passage["symbol"], "def retry_with_backoff");
    let excerpt: Vec<&str> = passage["excerpt"].as_str().expect("excerpt").lines().collect();
    assert!(excerpt.len() <= 5, "a short excerpt, not the whole chunk");
    assert_eq!(excerpt, lines[start - 1..end].iter().map(String::as_str).collect::<Vec<_>>());
    let answer = v["answer"].as_str().expect("answer");
    assert!(answer.contains("No language model was used"), "{answer}");
    assert!(answer.contains("scripts/retry.py:"), "{answer}");
}

#[test]
fn filters_restrict_the_passages() {
    let repo = sample();
    let v = repo.json(&["chat", "retry backoff socket checksum", "--lang", "rust", "--json"]);
    let citations = v["citations"].as_array().expect("citations");
    assert!(!citations.is_empty());
    assert!(citations.iter().all(|c| c["path"].as_str().is_some_and(|p| p.ends_with(".rs"))), "{v}");
    let v = repo.json(&["chat", "retry backoff socket checksum", "--path", "scripts/**", "--json"]);
    let citations = v["citations"].as_array().expect("citations");
    assert!(!citations.is_empty());
    assert!(citations.iter().all(|c| c["path"] == "scripts/retry.py"), "{v}");
}

#[test]
fn unknown_or_misconfigured_language_models_are_usage_errors() {
    let repo = sample();
    let config = repo.config("[llm]\nprovider = \"nope\"\n");
    let err = repo.fail(&["--config", &config, "chat", "anything"], 2);
    assert!(err.contains("unknown llm provider `nope`"), "{err}");
    let config = llm_config(&repo, "cite", "temperature = 3\n");
    let err = repo.fail(&["--config", &config, "chat", "anything"], 2);
    assert!(err.contains("llm.mock") && err.contains("temperature"), "{err}");
    let config = llm_config(&repo, "sing", "");
    let err = repo.fail(&["--config", &config, "chat", "anything"], 2);
    assert!(err.contains("sing"), "{err}");
}

#[test]
fn extractive_text_output_has_citations_note_and_confidence() {
    let repo = sample();
    let out = repo.run(&["chat", "open a socket connection"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("1. src/net.rs:"), "{text}");
    assert!(text.contains("No language model was used"), "{text}");
    let confidence = text.lines().find(|l| l.starts_with("Confidence: ")).unwrap_or_else(|| panic!("{text}"));
    assert!(confidence.contains("heuristic"), "{confidence}");
}

#[test]
fn low_confidence_is_said() {
    let repo = sample();
    let config = repo.config("[chat]\nconfidence_threshold = 1.0\n");
    let v = repo.json(&["--config", &config, "chat", "Where is retry with backoff handled?", "--json"]);
    assert_eq!(v["low_confidence"], true);
    assert!(v["answer"].as_str().expect("answer").contains("Not confident"), "{v}");
    let config = repo.config("[chat]\nconfidence_threshold = 0.0\n");
    let v = repo.json(&["--config", &config, "chat", "Where is retry with backoff handled?", "--json"]);
    assert_eq!(v["low_confidence"], false);
}

/// Changes the body of `Crc::compute_checksum`, adds a file, deletes `src/net.rs`.
fn change(repo: &Repo) {
    repo.write("src/checksum.rs", &CHECKSUM_RS.replace("rotate_left(5)", "rotate_left(7)"));
    repo.write("src/added.py", "def fresh():\n    return 1\n");
    fs::remove_file(repo.root.join("src/net.rs")).expect("remove");
}

fn files_of(v: &Value) -> BTreeSet<(String, String)> {
    v["changes"]["files"]
        .as_array()
        .expect("changes.files")
        .iter()
        .map(|f| (f["path"].as_str().expect("path").to_string(), f["status"].as_str().expect("status").to_string()))
        .collect()
}

fn symbols_of(v: &Value, path: &str) -> Vec<String> {
    let files = v["changes"]["files"].as_array().expect("files");
    let f = files.iter().find(|f| f["path"] == path).unwrap_or_else(|| panic!("{path} in {v}"));
    f["symbols"].as_array().expect("symbols").iter().map(|s| s.as_str().expect("symbol").to_string()).collect()
}

#[test]
fn what_changed_names_exactly_the_changed_files_and_symbols() {
    let repo = Repo::git();
    repo.write("src/net.rs", NET_RS);
    repo.write("src/checksum.rs", CHECKSUM_RS);
    repo.write("README.md", "# demo\n");
    repo.commit_all("initial");
    change(&repo);
    // No scan needed: the answer comes from git.
    let v = repo.json(&["chat", "What changed?", "--json"]);
    assert_eq!(v["kind"], "changes");
    assert_eq!(v["mode"], "extractive");
    assert_eq!(v["changes"]["range"]["kind"], "uncommitted");
    let expected: BTreeSet<(String, String)> =
        [("src/added.py", "added"), ("src/checksum.rs", "modified"), ("src/net.rs", "deleted")]
            .iter()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect();
    assert_eq!(files_of(&v), expected);
    assert_eq!(symbols_of(&v, "src/checksum.rs"), ["impl Crc > fn compute_checksum"]);
    assert_eq!(symbols_of(&v, "src/added.py"), ["def fresh"]);
    let citations = v["citations"].as_array().expect("citations");
    let cited: Vec<(String, usize, usize)> = citations.iter().map(|c| citation(&repo, c)).collect();
    assert!(cited.contains(&("src/checksum.rs".into(), 6, 6)), "{cited:?}");
    assert!(cited.contains(&("src/added.py".into(), 1, 2)), "{cited:?}");
    assert!(!cited.iter().any(|c| c.0 == "src/net.rs"), "a deleted file has no new lines to cite");
    let answer = v["answer"].as_str().expect("answer");
    assert!(answer.contains("uncommitted changes against HEAD"), "the range is stated: {answer}");
    assert!(answer.contains("src/net.rs (deleted"), "{answer}");
    assert!(answer.contains("No language model was used"), "{answer}");
    assert_eq!(v["confidence"], Value::Null);
    assert_eq!(v["confidence_kind"], "heuristic");

    // Committed: the last commit is described instead.
    repo.commit_all("second");
    let v = repo.json(&["chat", "what's new?", "--json"]);
    assert_eq!(v["changes"]["range"]["kind"], "last_commit");
    assert_eq!(files_of(&v), expected);

    // Since a ref, with --changes.
    repo.write("README.md", "# demo\n\nMore.\n");
    let v = repo.json(&["chat", "--changes", "--base-ref", "HEAD~1", "--json"]);
    assert_eq!(v["changes"]["range"]["kind"], "since_ref");
    assert_eq!(v["changes"]["range"]["base_ref"], "HEAD~1");
    let mut with_readme = expected.clone();
    with_readme.insert(("README.md".into(), "modified".into()));
    assert_eq!(files_of(&v), with_readme);
}

#[test]
fn what_changed_errors_are_clear() {
    let repo = Repo::git();
    repo.write("a.txt", "a\n");
    repo.commit_all("one");
    let err = repo.fail(&["chat", "--changes", "--base-ref", "no-such-ref"], 1);
    assert!(err.contains("`no-such-ref` not found"), "{err}");
    let plain = tempfile::tempdir().expect("dir");
    let out = repo.cmd().current_dir(plain.path()).args(["chat", "--changes"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a git work tree"));
}

#[test]
fn a_question_without_an_index_says_to_scan() {
    let repo = Repo::git();
    repo.write("a.py", "def a():\n    pass\n");
    let err = repo.fail(&["chat", "where is a?"], 1);
    assert!(err.contains("ragops scan"), "{err}");
}

fn llm_config(repo: &Repo, behavior: &str, extra: &str) -> String {
    repo.config(&format!("[llm]\nprovider = \"mock\"\n[llm.mock]\nbehavior = \"{behavior}\"\n{extra}"))
}

#[test]
fn llm_answer_cites_only_what_it_was_given() {
    let repo = sample();
    let config = llm_config(&repo, "cite", "");
    let v = repo.json(&["--config", &config, "chat", "Where is retry with backoff handled?", "--json"]);
    assert_eq!(v["mode"], "llm");
    assert_eq!(v["provider"], "mock");
    assert_eq!(v["model"], "mock-echo");
    assert_eq!(v["grounded"], true);
    assert!(v["confidence"].as_f64().is_some());
    assert_eq!(v["confidence_kind"], "heuristic");
    let sources: Vec<(String, usize, usize)> =
        v["sources"].as_array().expect("sources").iter().map(|c| citation(&repo, c)).collect();
    let citations = v["citations"].as_array().expect("citations");
    assert!(!citations.is_empty());
    for c in citations {
        let (p, s, e) = citation(&repo, c);
        assert!(sources.iter().any(|(sp, ss, se)| *sp == p && *ss <= s && e <= *se), "{p}:{s}-{e} given");
    }
    assert_eq!(v["invalid_citations"].as_array().map(Vec::len), Some(0));
    assert_eq!(citation(&repo, &citations[0]).0, "scripts/retry.py");
}

#[test]
fn invented_citation_is_removed_and_flagged() {
    let repo = sample();
    let config = llm_config(&repo, "invent", "");
    let v = repo.json(&["--config", &config, "chat", "Where is retry with backoff handled?", "--json"]);
    let invalid = v["invalid_citations"].as_array().expect("invalid_citations");
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0]["path"], "src/invented.rs");
    assert!(!v["citations"].as_array().expect("citations").iter().any(|c| c["path"] == "src/invented.rs"));
    let answer = v["answer"].as_str().expect("answer");
    let body = answer.split("\n\n").next().expect("body");
    assert!(body.contains("[invalid citation removed]") && !body.contains("invented"), "{answer}");
    assert!(answer.contains("Removed 1 invalid citation"), "{answer}");
    assert_eq!(v["grounded"], true, "the valid citation remains");
    let text = stdout(&repo.run(&["--config", &config, "chat", "Where is retry with backoff handled?"]));
    assert!(text.contains("Removed 1 invalid citation"), "{text}");
    assert!(text.contains("Sources: scripts/retry.py:"), "{text}");
}

#[test]
fn uncited_answer_is_marked_ungrounded() {
    let repo = sample();
    let config = llm_config(&repo, "uncited", "");
    let v = repo.json(&["--config", &config, "chat", "Where is retry with backoff handled?", "--json"]);
    assert_eq!(v["grounded"], false);
    assert!(v["answer"].as_str().expect("answer").contains("Ungrounded"), "{v}");
    let grounded = repo.json(&[
        "--config",
        &llm_config(&repo, "cite", ""),
        "chat",
        "Where is retry with backoff handled?",
        "--json",
    ]);
    assert!(v["confidence"].as_f64() < grounded["confidence"].as_f64(), "ungrounded answers score lower");
}

#[test]
fn provider_errors_give_a_clear_message_and_exit_code() {
    let repo = sample();
    for behavior in ["fail", "transient"] {
        let config = llm_config(&repo, behavior, "");
        let err = repo.fail(&["--config", &config, "chat", "Where is retry handled?"], 1);
        assert!(err.contains("language model mock/mock-echo failed"), "{err}");
        assert!(err.contains("injected failure"), "{err}");
    }
}

#[test]
fn context_budget_is_respected() {
    let repo = Repo::git();
    for i in 0..12 {
        let body: String = (0..35)
            .map(|j| format!("    let value_{j} = compute_retry_budget({i}, {j}); // padding padding padding\n"))
            .collect();
        repo.write(&format!("src/m{i}.rs"), &format!("pub fn retry_budget_{i}() {{\n{body}}}\n"));
    }
    repo.commit_all("many long chunks");
    repo.json(&["scan", "--json"]);
    // The budget: the smaller of chat.context_tokens and the model's window, minus the answer.
    let config = llm_config(
        &repo,
        "cite",
        "context_window = 100000\n[chat]\ncontext_tokens = 900\nanswer_tokens = 100\nmax_passages = 10\n",
    );
    let v = repo.json(&["--config", &config, "chat", "how is the retry budget computed?", "--json"]);
    assert_eq!(v["prompt_budget"], 800);
    let tokens = v["prompt_tokens"].as_u64().expect("prompt_tokens");
    assert!(tokens <= 800, "{tokens} tokens");
    assert!(!v["sources"].as_array().expect("sources").is_empty(), "at least one chunk");
    let config =
        llm_config(&repo, "cite", "context_window = 700\n[chat]\ncontext_tokens = 5000\nanswer_tokens = 100\n");
    let v = repo.json(&["--config", &config, "chat", "how is the retry budget computed?", "--json"]);
    assert_eq!(v["prompt_budget"], 600, "the model's window caps the budget");
    assert!(v["prompt_tokens"].as_u64().expect("tokens") <= 600);
    let sources = v["sources"].as_array().expect("sources");
    assert!(!sources.is_empty());
    for s in sources {
        citation(&repo, s);
    }
    // Too small for the question itself: a clear configuration error.
    let config = llm_config(&repo, "cite", "context_window = 300\n[chat]\nanswer_tokens = 250\n");
    let question = "how is the retry budget computed? ".repeat(20);
    let err = repo.fail(&["--config", &config, "chat", &question], 2);
    assert!(err.contains("chat.context_tokens"), "{err}");
}

#[test]
fn interactive_session_through_stdin() {
    let repo = sample();
    let out = repo
        .cmd()
        .args(["chat"])
        .write_stdin("Where is retry with backoff handled?\n/sources\n/help\n/bogus\n/quit\nopen a socket connection\n")
        .output()
        .expect("run");
    let text = stdout(&out);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("1. scripts/retry.py:"), "the answer: {text}");
    let sources: Vec<&str> = text.lines().filter(|l| l.starts_with("scripts/retry.py:")).collect();
    assert!(!sources.is_empty(), "/sources lists the citations: {text}");
    assert!(text.contains("/quit"), "/help: {text}");
    // One answer: the question after /quit is never asked.
    assert_eq!(text.matches("Confidence: ").count(), 1, "nothing is answered after /quit: {text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command /bogus"), "an unknown command is named");
    // End of input ends the session too; JSON mode prints one document a line.
    let out = repo
        .cmd()
        .args(["chat", "--json"])
        .write_stdin("open a socket connection\nWhat changed?\n")
        .output()
        .expect("run");
    assert!(out.status.success());
    let docs: Vec<Value> =
        stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["kind"], "question");
    assert_eq!(docs[1]["kind"], "changes");
    assert_ne!(docs[0]["request_id"], docs[1]["request_id"], "one request id per turn");
}

#[test]
fn chat_answer_is_logged_with_the_schema() {
    let repo = sample();
    let out = repo.run(&["--log-format", "json", "chat", "Where is retry with backoff handled?", "--json"]);
    assert!(out.status.success());
    let answer: Value = serde_json::from_slice(&out.stdout).expect("answer");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let event = lines.iter().find(|l| l["event"] == "chat.answer").expect("a chat.answer line");
    assert!(event["confidence"].as_f64().is_some(), "{event}");
    assert_eq!(event["confidence_kind"], "heuristic");
    assert_eq!(event["request_id"], answer["request_id"]);
    assert!(event["latency_ms"].as_f64().is_some());
    for key in ["event", "collection", "latency_ms", "provider", "model", "request_id", "confidence"] {
        assert!(event.get(key).is_some(), "{key} in {event}");
    }
}

#[test]
fn unknown_chat_config_key_is_a_usage_error() {
    let repo = sample();
    let config = repo.config("[chat]\nthreshold = 0.5\n");
    let err = repo.fail(&["--config", &config, "chat", "anything"], 2);
    assert!(err.contains("threshold"), "{err}");
}

#[test]
fn stale_index_and_changed_citations_are_flagged() {
    let repo = sample();
    // Lines move in the cited file after the scan, and HEAD moves.
    repo.write("scripts/retry.py", &format!("# a new header line\n{RETRY_PY}"));
    repo.commit_all("moved lines");
    let v = repo.json(&["chat", "Where is retry with backoff handled?", "--json"]);
    let stale = v["stale_citations"].as_array().expect("stale_citations");
    assert!(stale.iter().any(|c| c["path"] == "scripts/retry.py"), "{v}");
    let answer = v["answer"].as_str().expect("answer");
    assert!(answer.contains("changed since the scan"), "{answer}");
    assert!(answer.contains("HEAD is now"), "{answer}");
    repo.json(&["scan", "--json"]);
    let v = repo.json(&["chat", "Where is retry with backoff handled?", "--json"]);
    assert_eq!(v["stale_citations"].as_array().map(Vec::len), Some(0), "{v}");
    assert!(!v["answer"].as_str().expect("answer").contains("HEAD is now"));
}

#[test]
fn what_changed_with_a_language_model_cites_changed_lines() {
    let repo = sample();
    repo.write("src/checksum.rs", &CHECKSUM_RS.replace("rotate_left(5)", "rotate_left(7)"));
    let config = llm_config(&repo, "invent", "");
    let v = repo.json(&["--config", &config, "chat", "Summarize the changes", "--json"]);
    assert_eq!(v["kind"], "changes");
    assert_eq!(v["mode"], "llm");
    let citations: Vec<(String, usize, usize)> =
        v["citations"].as_array().expect("citations").iter().map(|c| citation(&repo, c)).collect();
    assert_eq!(citations, [("src/checksum.rs".to_string(), 6, 6)]);
    assert_eq!(v["invalid_citations"][0]["path"], "src/invented.rs");
    assert_eq!(v["changes"]["files"][0]["symbols"][0], "impl Crc > fn compute_checksum");
    assert!(v["confidence"].as_f64().is_some_and(|c| c < 1.0), "an invented citation lowers it: {v}");
}

/// Output of a process read on a thread, to wait for what it prints.
#[cfg(target_os = "linux")]
struct Screen {
    buf: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

#[cfg(target_os = "linux")]
impl Screen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().expect("screen")).into_owned()
    }

    /// Waits until `marker` has appeared `count` times.
    fn wait_for(&self, marker: &str, count: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.text().matches(marker).count() < count {
            assert!(std::time::Instant::now() < deadline, "waited for {count}x {marker:?}; screen:\n{}", self.text());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// The interactive session on a real terminal: util-linux `script` gives `ragops chat` a
/// pseudo-terminal, so rustyline reads the keys, the answer streams, Ctrl-C cancels it.
#[cfg(target_os = "linux")]
#[test]
fn interactive_session_on_a_pseudo_terminal() {
    use std::io::{Read, Write};
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    }
    let repo = sample();
    let config = llm_config(&repo, "cite", "fragment_chars = 1\nfragment_delay_ms = 40\n");
    let bin = assert_cmd::cargo::cargo_bin!("ragops");
    // `exec`: the shell `script` runs the command with must not stay between the terminal and
    // ragops (dash, a common /bin/sh, would die of the Ctrl-C meant for ragops).
    let command = format!("exec {} --config {config} chat", bin.display());
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &command, "/dev/null"]).env("SHELL", "/bin/sh");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RAGOPS_") {
            cmd.env_remove(&k);
        }
    }
    let mut child = cmd
        .env("HOME", repo.tmp.path().join("home"))
        .env("XDG_CONFIG_HOME", repo.tmp.path().join("xdg"))
        .env("TERM", "xterm")
        .current_dir(&repo.root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn script");
    let mut stdout = child.stdout.take().expect("stdout");
    let screen = Screen { buf: Default::default() };
    let buf = screen.buf.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.lock().expect("screen").extend_from_slice(&chunk[..n]);
        }
    });
    let mut stdin = child.stdin.take().expect("stdin");
    let mut keys = |s: &str| {
        stdin.write_all(s.as_bytes()).expect("type");
        stdin.flush().expect("flush");
    };
    screen.wait_for("ragops> ", 1);
    keys("Where is retry with backoff handled?\r");
    screen.wait_for("The answer", 1);
    keys("\u{3}"); // Ctrl-C while the answer streams
    screen.wait_for("(answer cancelled)", 1);
    screen.wait_for("ragops> ", 2);
    keys("Where is retry with backoff handled?\r");
    screen.wait_for("Confidence: ", 1);
    screen.wait_for("ragops> ", 3);
    keys("/sources\r");
    screen.wait_for("ragops> ", 4);
    keys("\u{4}"); // Ctrl-D quits
    let status = child.wait().expect("wait");
    reader.join().expect("reader");
    let text = screen.text();
    assert!(status.success(), "{status}: {text}");
    assert!(text.contains("Sources: scripts/retry.py:"), "{text}");
    let after_sources = text.rsplit("/sources").next().expect("after /sources");
    assert!(after_sources.contains("scripts/retry.py:"), "/sources lists the citations: {text}");
    assert_eq!(text.matches("Confidence: ").count(), 1, "the cancelled answer is not finished: {text}");
}
