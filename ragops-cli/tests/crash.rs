//! Crash safety of `ragops scan`: one writer at a time, interruptions by signal, crashes at
//! every failpoint of the write path, and SIGKILL at seeded moments. After each, the index
//! must open, `status` must agree with the files, searches must answer from a committed
//! generation, and the next scan must not embed again what was already embedded.
//!
//! The failpoint test needs the `failpoints` feature (CI runs the tests with all features).

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// A generated repository plus a scratch place outside it; every command runs with a private
/// environment (no user config, no `RAGOPS_*` variables from outside).
struct Fixture {
    tmp: TempDir,
    /// Relative path → current contents.
    files: BTreeMap<String, String>,
    rng: u64,
}

impl Fixture {
    fn new(seed: u64) -> Fixture {
        let tmp = tempfile::Builder::new().prefix("ragops-crash-").tempdir().expect("temp dir");
        for sub in ["repo", "home", "xdg"] {
            fs::create_dir_all(tmp.path().join(sub)).expect("fixture dirs");
        }
        Fixture { tmp, files: BTreeMap::new(), rng: seed.wrapping_mul(6364136223846793005).wrapping_add(1) }
    }

    /// Selects the mock provider in the user config: its vectors are cached as they arrive
    /// (the built-in provider's live only in the index).
    fn use_cached_provider(&self) {
        let dir = self.tmp.path().join("xdg").join("ragops");
        fs::create_dir_all(&dir).expect("config dir");
        fs::write(dir.join("config.toml"), "[embedding]\nprovider = \"mock\"\n").expect("user config");
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("repo")
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic for a seed, no dependency.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(2685821657736338717)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A Rust module of `functions` functions whose names carry `tag` (so a search can tell
    /// versions apart) and a word drawn at random.
    fn module(&mut self, tag: &str, functions: usize) -> String {
        const WORDS: &[&str] = &[
            "parse", "render", "socket", "buffer", "retry", "index", "segment", "token", "cache", "merge", "config",
            "stream",
        ];
        let mut text = String::new();
        for i in 0..functions {
            let word = WORDS[self.below(WORDS.len() as u64) as usize];
            let n = self.below(1000);
            text.push_str(&format!(
                "/// {word} helper {i} of {tag}.\npub fn {word}_{tag}_{i}(input: &[u8]) -> u64 {{\n    \
                 let mut acc = {n}u64;\n    for b in input {{\n        acc = acc.wrapping_mul(31) + u64::from(*b);\n    \
                 }}\n    acc\n}}\n\n"
            ));
        }
        text
    }

    fn write(&mut self, rel: &str, text: String) {
        let path = self.root().join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, &text).expect("write fixture file");
        self.files.insert(rel.to_string(), text);
    }

    fn remove(&mut self, rel: &str) {
        fs::remove_file(self.root().join(rel)).expect("remove fixture file");
        self.files.remove(rel);
    }

    /// Adds `n` files of a few functions each.
    fn populate(&mut self, n: usize, functions: usize) {
        for i in 0..n {
            let text = self.module(&format!("v0f{i}"), functions);
            self.write(&format!("src/m{}/file_{i}.rs", i % 10), text);
        }
    }

    /// Changes about a third of the files, deletes a few and adds a few; `round` tags the
    /// new contents.
    fn mutate(&mut self, round: usize) {
        let paths: Vec<String> = self.files.keys().cloned().collect();
        for (i, path) in paths.iter().enumerate() {
            match self.below(30) {
                _ if !path.ends_with(".rs") => {}
                0 if self.files.len() > 10 => self.remove(path),
                1..=9 => {
                    let text = self.module(&format!("r{round}f{i}"), 6);
                    self.write(path, text);
                }
                _ => {}
            }
        }
        for j in 0..3 {
            let text = self.module(&format!("r{round}n{j}"), 6);
            self.write(&format!("src/new/r{round}_{j}.rs"), text);
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("ragops"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RAGOPS_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", self.tmp.path().join("home"))
            .env("XDG_CONFIG_HOME", self.tmp.path().join("xdg"))
            .env("CI", "true")
            .current_dir(self.root())
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run ragops")
    }

    fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Child {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn ragops")
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "ragops {args:?} panicked:\n{stderr}");
        assert!(out.status.success(), "ragops {args:?} failed ({:?}):\n{stderr}", out.status.code());
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("ragops {args:?}: not JSON ({e})"))
    }

    fn scan(&self) -> Value {
        self.json(&["scan", "--json"])
    }

    /// The number of chunk texts a cold scan of the current tree would embed.
    fn cold_misses(&self) -> u64 {
        let dir = self.tmp.path().join(format!("cold-{}", self.files.len()));
        let v = self.json(&["--index", dir.to_str().expect("utf-8 path"), "scan", "--json"]);
        fs::remove_dir_all(&dir).expect("remove cold index");
        v["cache_misses"].as_u64().expect("cache_misses")
    }
}

fn num(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("`{key}` is a number in {v}"))
}

/// The index opens, its file count matches one of the trees it may hold, and every hit of a
/// search is text that one of those trees has at that path.
fn assert_consistent(fx: &Fixture, trees: &[&BTreeMap<String, String>], context: &str) {
    let status = fx.json(&["status", "--json"]);
    let files = num(&status, "files");
    assert!(
        trees.iter().any(|t| t.len() as u64 == files),
        "{context}: status counts {files} files, the committed trees have {:?}",
        trees.iter().map(|t| t.len()).collect::<Vec<_>>()
    );
    for query in ["retry buffer", "segment token cache", "parse socket"] {
        let v = fx.json(&["search", query, "--json", "--limit", "10"]);
        let hits = v["hits"].as_array().expect("hits");
        assert!(!hits.is_empty(), "{context}: no hits for {query:?}");
        for hit in hits {
            let path = hit["path"].as_str().expect("path");
            let text = hit["text"].as_str().expect("text");
            assert!(
                trees.iter().any(|t| t.get(path).is_some_and(|body| body.contains(text.trim_end()))),
                "{context}: hit {path}:{}-{} is not the text of any committed version",
                hit["start_line"],
                hit["end_line"]
            );
        }
    }
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            return status;
        }
        assert!(Instant::now() < deadline, "ragops did not finish within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().expect("kill");
    assert!(status.success(), "kill -{name} failed");
}

#[test]
fn a_second_scan_refuses_naming_the_holder_or_waits_with_wait() {
    let mut fx = Fixture::new(1);
    fx.populate(5, 3);
    fx.scan();
    let index = fx.root().join(".ragops");
    let lock = ragops_lib::store::WriterLock::acquire(&index, None).expect("take the writer lock");

    let out = fx.run(&["scan"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("busy"), "{stderr}");
    assert!(stderr.contains(&format!("pid {}", std::process::id())), "names the holder: {stderr}");
    assert!(stderr.contains("--wait"), "suggests --wait: {stderr}");

    // Searches answer from the committed generation while the writer holds the lock.
    let v = fx.json(&["search", "retry", "--json"]);
    assert!(!v["hits"].as_array().expect("hits").is_empty());

    // A bounded wait gives up with the same message.
    let started = Instant::now();
    let out = fx.run(&["scan", "--wait=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() >= Duration::from_millis(900));

    // An open-ended wait gets the lock once the holder lets go.
    fx.write("src/late.rs", "pub fn written_while_locked() {}\n".into());
    let mut waiting = fx.spawn(&["scan", "--wait", "--json"], &[]);
    std::thread::sleep(Duration::from_millis(600));
    assert!(waiting.try_wait().expect("poll").is_none(), "the scan waits while the lock is held");
    drop(lock);
    let status = wait_with_timeout(&mut waiting, Duration::from_secs(60));
    assert!(status.success(), "the waiting scan succeeds after the holder released the lock");
    let v = fx.json(&["search", "written_while_locked", "--json"]);
    assert_eq!(v["hits"][0]["path"], "src/late.rs");
}

#[test]
fn sigint_stops_a_scan_with_exit_130_keeping_the_index_and_the_embeddings() {
    let mut fx = Fixture::new(2);
    fx.use_cached_provider();
    fx.populate(20, 4);
    let before = fx.scan();
    let committed = fx.files.clone();
    // Enough new files for several windows, so the scan is still running when interrupted.
    for i in 0..1600 {
        let text = fx.module(&format!("big{i}"), 4);
        fx.write(&format!("src/big/b{i}.rs"), text);
    }
    let mut child = fx.spawn(&["--log-format", "json", "-vv", "scan"], &[]);
    // Interrupt once the first window's embeddings are in the cache.
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("stderr line");
        let upserted = line.contains("\"store.upsert\"");
        seen.push(line);
        if upserted {
            break;
        }
    }
    signal(&child, "INT");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = wait_with_timeout(&mut child, Duration::from_secs(60));
    let log = [seen, rest].concat().join("\n");
    assert_eq!(status.code(), Some(130), "exit code 130 after Ctrl-C; stderr:\n{log}");
    assert!(log.contains("scan.interrupted"), "the interruption is logged:\n{log}");
    assert!(!log.contains("panicked"), "{log}");

    // The previous generation is untouched.
    let status = fx.json(&["status", "--json"]);
    assert_eq!(num(&status, "files"), num(&before["index"], "files"));
    assert_consistent(&fx, &[&committed], "after SIGINT");

    // The next scan reuses what was embedded before the interruption.
    let after = fx.scan();
    assert!(num(&after, "cache_hits") > 0, "embeddings kept across the interruption: {after}");
    assert!(num(&after, "cache_misses") < fx.cold_misses());
    assert_consistent(&fx, &[&fx.files], "after the resumed scan");
}

#[test]
fn sigint_message_on_a_terminal_less_run_says_what_was_kept() {
    let mut fx = Fixture::new(3);
    for i in 0..1200 {
        let text = fx.module(&format!("t{i}"), 4);
        fx.write(&format!("src/t{i}.rs"), text);
    }
    let mut child = fx.spawn(&["scan"], &[]);
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "TERM");
    let status = wait_with_timeout(&mut child, Duration::from_secs(60));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("read stderr");
    if status.success() {
        return; // the machine finished the scan before the signal: nothing to check
    }
    assert_eq!(status.code(), Some(143), "SIGTERM exits 143:\n{stderr}");
    assert!(stderr.contains("interrupted") && stderr.contains("Nothing was published"), "{stderr}");
    assert!(stderr.contains("embeds them again"), "the built-in provider's vectors are not cached: {stderr}");
}

#[cfg(feature = "failpoints")]
#[test]
fn a_crash_at_every_failpoint_leaves_a_usable_index_and_the_next_scan_completes_it() {
    for (n, point) in ragops_lib::failpoint::POINTS.iter().enumerate() {
        let mut fx = Fixture::new(100 + n as u64);
        // Two segments may exist before the crashing scan; a third triggers a merge. The mock
        // provider's vectors are cached as they arrive (the built-in provider's are not).
        fx.write("ragops.toml", "[embedding]\nprovider = \"mock\"\n[store.hnsw]\nmax_segments = 2\n".into());
        fx.populate(30, 4);
        fx.scan();
        fx.mutate(1);
        fx.scan();
        let committed = fx.files.clone();
        fx.mutate(2);
        let mut child = fx.spawn(&["scan", "--json"], &[("RAGOPS_FAILPOINT", point)]);
        let status = wait_with_timeout(&mut child, Duration::from_secs(120));
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
        assert!(!status.success(), "failpoint {point} was reached (the scan should crash):\n{stderr}");
        assert!(stderr.contains(&format!("failpoint {point} reached")), "{point}:\n{stderr}");

        assert_consistent(&fx, &[&committed, &fx.files], &format!("after a crash at {point}"));
        let next = fx.scan();
        assert!(num(&next, "cache_misses") < fx.cold_misses(), "{point}: the next scan re-embedded everything");
        assert_consistent(&fx, &[&fx.files], &format!("after the scan that followed a crash at {point}"));
        assert_eq!(num(&next["index"], "files"), fx.files.len() as u64, "{point}: file count");
        // A rebuild from scratch agrees with the repaired index.
        let fresh = fx.tmp.path().join("fresh");
        let rebuilt = fx.json(&["--index", fresh.to_str().expect("utf-8"), "scan", "--json"]);
        assert_eq!(num(&rebuilt["index"], "chunks"), num(&next["index"], "chunks"), "{point}: chunk count");
    }
}

#[test]
fn sigkill_at_seeded_moments_never_loses_the_index() {
    let mut fx = Fixture::new(7);
    fx.use_cached_provider();
    fx.populate(150, 5);
    fx.scan();
    let mut committed = fx.files.clone();
    // Time follow-up scans to spread the kills over a scan's whole length: the fastest of
    // three, so that one slow run (a busy machine) does not put most kills after the end.
    let mut span = u64::MAX;
    for round in [0, 100, 200] {
        fx.mutate(round);
        let started = Instant::now();
        fx.scan();
        span = span.min(started.elapsed().as_millis() as u64);
    }
    let span = span.max(10);
    committed.clone_from(&fx.files);
    let mut killed = 0;
    for round in 1..=20 {
        fx.mutate(round);
        let delay = fx.below(span);
        let mut child = fx.spawn(&["scan", "--json"], &[]);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL; it may have finished already
        let status = child.wait().expect("reap the scan");
        killed += usize::from(!status.success());
        let context = format!("round {round}, killed after {delay} ms (finished: {})", status.success());
        assert_consistent(&fx, &[&committed, &fx.files], &context);
        let out = fx.run(&["scan", "--json"]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success() && !stderr.contains("panicked"), "{context}: the next scan failed:\n{stderr}");
        let next: Value = serde_json::from_slice(&out.stdout).expect("scan JSON");
        // A kill while sled writes can damage its files: the writer state is then rebuilt from
        // the published index (said on stderr), and only the embedding cache is lost.
        if !stderr.contains("writer state was damaged") {
            assert!(num(&next, "cache_misses") < fx.cold_misses(), "{context}: the next scan re-embedded everything");
        }
        assert_eq!(num(&next["index"], "files"), fx.files.len() as u64, "{context}");
        committed.clone_from(&fx.files);
    }
    assert!(killed >= 10, "only {killed} of 20 scans were killed before they finished: the moments are too late");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read index dir").flatten() {
        let p = entry.path();
        if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
    }
    out.sort();
    out
}

/// Damages one file: cut it in half, or flip the bits of a byte in the middle.
fn damage(path: &std::path::Path, truncate: bool) {
    let mut bytes = fs::read(path).expect("read");
    if truncate {
        bytes.truncate(bytes.len() / 2);
    } else {
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xFF;
    }
    fs::write(path, bytes).expect("write");
}

#[test]
fn every_damaged_index_file_gives_a_clear_error_or_the_right_answer_never_a_panic() {
    let mut fx = Fixture::new(11);
    fx.populate(40, 4);
    fx.scan();
    fx.mutate(1);
    fx.scan(); // two segments, tombstones, two manifests
    let pristine = fx.root().join(".ragops");
    let query = ["search", "retry buffer socket", "--json", "--limit", "10"];
    let expected_hits = fx.json(&query)["hits"].clone();
    let expected_status = fx.json(&["status", "--json"]);
    let files: Vec<PathBuf> = files_under(&pristine)
        .into_iter()
        .filter(|p| !matches!(p.file_name().and_then(|n| n.to_str()), Some("LOCK" | ".gitignore")))
        .filter(|p| fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false))
        .collect();
    assert!(files.len() >= 8, "the index has its usual files: {files:?}");
    let mut detected = 0;
    for file in &files {
        let rel = file.strip_prefix(&pristine).expect("inside the index").to_path_buf();
        for truncate in [true, false] {
            let case = format!("{} {}", if truncate { "truncated" } else { "flipped byte in" }, rel.display());
            let copy = fx.tmp.path().join("damaged");
            let _ = fs::remove_dir_all(&copy);
            copy_dir(&pristine, &copy);
            damage(&copy.join(&rel), truncate);
            let index = copy.to_str().expect("utf-8").to_string();
            for args in [&query[..], &["status", "--json"][..], &["scan", "--json"][..]] {
                let mut full = vec!["--index", index.as_str()];
                full.extend_from_slice(args);
                let out = fx.run(&full);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(!stderr.contains("panicked"), "{case}: ragops {args:?} panicked:\n{stderr}");
                match out.status.code() {
                    Some(0) => {
                        let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
                        if args[0] == "search" {
                            assert_eq!(v["hits"], expected_hits, "{case}: search answered differently");
                        } else if args[0] == "status" {
                            for key in ["files", "chunks", "embedding_model"] {
                                assert_eq!(v[key], expected_status[key], "{case}: status {key}");
                            }
                        } else {
                            // The scan did not need the damaged file: a search afterwards
                            // answers as before or still reports the damage, never otherwise.
                            let mut again = vec!["--index", index.as_str()];
                            again.extend_from_slice(&query);
                            let out = fx.run(&again);
                            let stderr = String::from_utf8_lossy(&out.stderr);
                            if out.status.success() {
                                let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
                                assert_eq!(v["hits"], expected_hits, "{case}: search after scan");
                            } else {
                                assert!(
                                    stderr.contains("corrupted") && stderr.contains("--rebuild"),
                                    "{case}: {stderr}"
                                );
                            }
                        }
                    }
                    Some(1) => {
                        detected += 1;
                        assert!(
                            stderr.contains("corrupt") || stderr.contains("damaged"),
                            "{case}: ragops {args:?}: the error says the index is damaged:\n{stderr}"
                        );
                        assert!(stderr.contains("--rebuild"), "{case}: the error gives the fix:\n{stderr}");
                    }
                    other => panic!("{case}: ragops {args:?} exited with {other:?}:\n{stderr}"),
                }
            }
        }
    }
    assert!(detected >= files.len(), "damage was detected in most cases ({detected} errors for {} files)", files.len());
    // And the documented fix works on a damaged index.
    let copy = fx.tmp.path().join("damaged");
    let _ = fs::remove_dir_all(&copy);
    copy_dir(&pristine, &copy);
    let segment_file = files.iter().find(|p| p.to_string_lossy().contains("seg-")).expect("a segment file");
    damage(&copy.join(segment_file.strip_prefix(&pristine).expect("inside")), true);
    let index = copy.to_str().expect("utf-8");
    fx.json(&["--index", index, "scan", "--rebuild", "--json"]);
    assert_eq!(
        fx.json(&["--index", index, "search", "retry buffer socket", "--json", "--limit", "10"])["hits"],
        expected_hits
    );
}

#[test]
fn a_provider_failing_mid_scan_keeps_the_index_and_the_batches_already_embedded() {
    let mut fx = Fixture::new(21);
    fx.populate(2, 1);
    let config = |extra: &str| {
        let path = fx.tmp.path().join(format!("mock{}.toml", extra.len()));
        let text = format!("[embedding]\nprovider = \"mock\"\nbatch_size = 2\nconcurrency = 1\n{extra}");
        fs::write(&path, text).expect("config");
        path.to_str().expect("utf-8").to_string()
    };
    let healthy = config("");
    let failing = config("[embedding.mock]\nfail_after_calls = 3\n");
    let before = fx.json(&["--config", &healthy, "scan", "--json"]);
    for i in 0..10 {
        let text = fx.module(&format!("late{i}"), 1);
        fx.write(&format!("src/late/l{i}.rs"), text);
    }
    let out = fx.run(&["--config", &failing, "scan"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the outage fails the scan:\n{stderr}");
    assert!(stderr.contains("mock"), "the error names the provider:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The previous generation answers, unchanged.
    let status = fx.json(&["--config", &healthy, "status", "--json"]);
    assert_eq!(num(&status, "files"), num(&before["index"], "files"));
    // The three batches (6 texts) embedded before the failure are not paid for again.
    let after = fx.json(&["--config", &healthy, "scan", "--json"]);
    assert!(num(&after, "cache_hits") >= 6, "batches embedded before the outage were kept: {after}");
    assert_eq!(num(&after["index"], "files"), fx.files.len() as u64);
}
