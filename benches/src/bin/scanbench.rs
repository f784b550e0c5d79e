//! Scan benchmark on real corpora, run against the release `ragops` binary (each scan in a
//! child process, so its peak RSS is its own). Prints one table; every figure comes from the
//! same run, so ratios are comparable on a noisy machine.
//!
//! ```sh
//! benches/corpus.sh /work/.cache/corpus/c100 145   # ≥ 100 MB indexed
//! benches/corpus.sh /work/.cache/corpus/c500 700   # ≥ 500 MB indexed
//! cargo build --release -p ragops-cli -p ragops-benches
//! RAGOPS=target/release/ragops target/release/scanbench /work/.cache/corpus/c100 /work/.cache/corpus/c500
//! ```
//!
//! For each corpus: reading it (`git ls-files -z | xargs -0 cat > /dev/null`), a full scan
//! timed until the process exits with the index committed (then a search proves it
//! searchable), re-scans with nothing changed (the median of five), and the scan's peak RSS next
//! to the index size.
//! Then a re-scan after one file changed on generated repositories of 1 000 and 50 000 files
//! (`SCANBENCH_SMALL_FILES`, `SCANBENCH_LARGE_FILES` to change them). Scratch space:
//! `SCANBENCH_WORK` (default: a temporary directory).

#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// One child run: wall seconds, CPU seconds (user + system), peak RSS in KiB, stdout.
struct Run {
    seconds: f64,
    cpu_seconds: f64,
    max_rss_kib: u64,
    stdout: String,
}

fn run(cmd: &mut Command) -> Res<Run> {
    let rss_file = tempfile::NamedTempFile::new()?;
    let mut timed = Command::new("/usr/bin/time");
    timed.arg("-f").arg("%M %U %S").arg("-o").arg(rss_file.path()).arg(cmd.get_program()).args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    let started = Instant::now();
    let out = timed.output()?;
    let seconds = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!("{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr)).into());
    }
    let report = std::fs::read_to_string(rss_file.path())?;
    let fields: Vec<&str> = report.trim().lines().last().unwrap_or_default().split_whitespace().collect();
    let [rss, user, system] = fields[..] else {
        return Err(format!("unexpected /usr/bin/time output: {report}").into());
    };
    Ok(Run {
        seconds,
        cpu_seconds: user.parse::<f64>()? + system.parse::<f64>()?,
        max_rss_kib: rss.parse()?,
        stdout: String::from_utf8(out.stdout)?,
    })
}

fn ragops() -> PathBuf {
    std::env::var_os("RAGOPS").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/release/ragops"))
}

fn scan(root: &Path, index: &Path) -> Res<(Run, serde_json::Value)> {
    let r = run(Command::new(ragops()).arg("scan").arg("--index").arg(index).arg("--json").arg("-q").arg(root))?;
    let json: serde_json::Value = serde_json::from_str(&r.stdout)?;
    Ok((r, json))
}

fn field(v: &serde_json::Value, path: &[&str]) -> f64 {
    path.iter().fold(v, |v, k| &v[*k]).as_f64().unwrap_or(f64::NAN)
}

fn corpus(root: &Path, work: &Path) -> Res<()> {
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let index = work.join(format!("index-{name}"));
    let _ = std::fs::remove_dir_all(&index);
    // Warm the page cache for both contenders, then time reading.
    let read = || run(Command::new("sh").arg("-c").arg("git ls-files -z | xargs -0 cat > /dev/null").current_dir(root));
    read()?;
    let read_s =
        (0..3).map(|_| read().map(|r| r.seconds)).collect::<Res<Vec<_>>>()?.into_iter().fold(f64::MAX, f64::min);
    let (full, summary) = scan(root, &index)?;
    let bytes = field(&summary, &["bytes"]);
    let disk = field(&summary, &["index", "disk_bytes"]);
    let search = run(Command::new(ragops())
        .arg("search")
        .arg("--index")
        .arg(&index)
        .arg("--repo")
        .arg(root)
        .arg("--json")
        .arg("retry backoff timeout"))?;
    let hits = serde_json::from_str::<serde_json::Value>(&search.stdout)?["hits"].as_array().map_or(0, Vec::len);
    // Five re-scans with nothing changed, the median reported (one run is ±20 % here).
    let mut rescans = Vec::new();
    let mut again = serde_json::Value::Null;
    for _ in 0..5 {
        let (r, summary) = scan(root, &index)?;
        rescans.push(r.seconds);
        again = summary;
    }
    rescans.sort_by(f64::total_cmp);
    let rescan_seconds = rescans[rescans.len() / 2];
    let mb = bytes / 1e6;
    println!(
        "## corpus {name}: {mb:.1} MB indexed, {} files, {} chunks",
        field(&summary, &["files_indexed"]),
        field(&summary, &["chunks"])
    );
    println!("| what | time | throughput | ratio |");
    println!("|---|---:|---:|---:|");
    println!("| read every file (`git ls-files -z \\| xargs -0 cat`) | {read_s:.2} s | {:.0} MB/s | 1 |", mb / read_s);
    println!(
        "| full scan, built-in provider, until committed | {:.2} s | **{:.1} MB/s** | {:.0} × reading |",
        full.seconds,
        mb / full.seconds,
        full.seconds / read_s
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!(
        "| full scan, CPU time (user + system) | {:.1} s | {:.1} MB/s per core, {:.1} MB/s on {cores} idle cores | |",
        full.cpu_seconds,
        mb / full.cpu_seconds,
        mb * cores / full.cpu_seconds
    );
    println!("| search after the scan ({hits} hits, opening the index) | {:.3} s | | |", search.seconds);
    println!(
        "| re-scan, nothing changed ({} unchanged; median of 5, {:.3}–{:.3} s) | {:.3} s | | **{:.2} % of the full scan** |",
        field(&again, &["files_unchanged"]),
        rescans[0],
        rescans[rescans.len() - 1],
        rescan_seconds,
        100.0 * rescan_seconds / full.seconds
    );
    println!(
        "| peak RSS of the full scan | {:.0} MiB | | {:.2} × index on disk ({:.0} MiB), {:.2} × corpus |",
        full.max_rss_kib as f64 / 1024.0,
        full.max_rss_kib as f64 * 1024.0 / disk,
        disk / 1048576.0,
        full.max_rss_kib as f64 * 1024.0 / bytes
    );
    println!();
    Ok(())
}

/// Times of a full scan and of the median of nine re-scans after one file changed: found by
/// walking the tree (`ragops scan`), and told by a change feed (`ragops scan --only PATH`, what
/// `ragops watch` runs for each change).
fn one_file_changed(work: &Path, files: usize) -> Res<(f64, f64, f64)> {
    const ROUNDS: usize = 9;
    let root = work.join(format!("gen-{files}"));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    ragops_benches::generate_corpus(&root, files, 2_000)?;
    let index = work.join(format!("index-gen-{files}"));
    let _ = std::fs::remove_dir_all(&index);
    let (full, _) = scan(&root, &index)?;
    // The first file the generator writes.
    let rel = "src/module_0/parse_0.rs";
    let target = root.join(rel);
    let mut walked = Vec::new();
    let mut told = Vec::new();
    for round in 0..ROUNDS {
        for only in [false, true] {
            let mut text = std::fs::read_to_string(&target)?;
            text.push_str(&format!("\npub fn changed_by_the_benchmark_{round}_{only}() {{}}\n"));
            std::fs::write(&target, text)?;
            let mut cmd = Command::new(ragops());
            cmd.arg("scan").arg("--index").arg(&index).arg("--json").arg("-q").arg(&root);
            if only {
                cmd.arg("--only").arg(rel);
            }
            let changed = run(&mut cmd)?;
            let summary: serde_json::Value = serde_json::from_str(&changed.stdout)?;
            if field(&summary, &["files_indexed"]) != 1.0 {
                return Err(format!("expected one file re-indexed: {summary}").into());
            }
            if only { &mut told } else { &mut walked }.push(changed.seconds);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (walked, told) = (median(&mut walked), median(&mut told));
    println!(
        "<!-- {files} files: full scan {:.2} s wall / {:.2} s CPU; one file changed (median of {ROUNDS}): walked {walked:.3} s, told {told:.3} s -->",
        full.seconds, full.cpu_seconds
    );
    Ok((full.seconds, walked, told))
}

fn main() -> Res<()> {
    let tmp = tempfile::tempdir()?;
    let work = std::env::var_os("SCANBENCH_WORK").map(PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&work)?;
    println!(
        "ragops scan benchmark: {} on {} cores\n",
        ragops().display(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for root in std::env::args_os().skip(1) {
        corpus(Path::new(&root), &work)?;
    }
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (small, large) = (env("SCANBENCH_SMALL_FILES", 1_000), env("SCANBENCH_LARGE_FILES", 50_000));
    let (small_full, small_walked, small_told) = one_file_changed(&work, small)?;
    let (large_full, large_walked, large_told) = one_file_changed(&work, large)?;
    println!("## re-scan after one file changed (generated repositories, ~2 KB files; median of 9)");
    println!(
        "| files | full scan | re-scan, change found by walking (`ragops scan`) | re-scan, change told (`ragops scan --only`, as `ragops watch`) |"
    );
    println!("|---:|---:|---:|---:|");
    println!("| {small} | {small_full:.2} s | {small_walked:.3} s | {small_told:.3} s |");
    println!("| {large} | {large_full:.2} s | {large_walked:.3} s | {large_told:.3} s |");
    println!(
        "\nratio {large} / {small} files: walked {:.2} ×, told {:.2} ×",
        large_walked / small_walked,
        large_told / small_told
    );
    Ok(())
}
