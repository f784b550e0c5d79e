//! Opening the index and searching it, at about 100k chunks: a fresh `ragops search` process
//! (open + model + query), the library's open time and warm query latency, size on disk, and
//! HNSW recall@10 against exact search on the built-in model's vectors, for a grid of M /
//! ef_construction / ef_search.
//!
//! `RAGOPS_BENCH_CORPUS=DIR RAGOPS_BIN=target/release/ragops cargo bench -p ragops-benches --bench search_open`
//!
//! `RAGOPS_BENCH_CORPUS`: a real source tree (default: a generated corpus of ~100k chunks).
//! `RAGOPS_BIN`: the `ragops` binary for the fresh-process figure (skipped when absent).
//! `RAGOPS_BENCH_HNSW_POINTS`: how many chunk vectors the HNSW grid indexes (default 100000).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hnsw_rs::prelude::{Distance, Hnsw};
use ragops_lib::Index;
use ragops_lib::retrieve::RetrieverKind;
use ragops_lib::store::{HnswStore, HnswStoreOptions, OpenMode};

const QUERIES: &[&str] = &[
    "retry the request after a timeout",
    "parse the configuration file",
    "where is the connection pool closed",
    "serialize a struct to json",
    "handle an invalid utf-8 path",
    "spawn a background task",
    "log an error with context",
    "compare two version strings",
];

/// The store's distance: `1 - dot` (the vectors are unit length), clamped.
#[derive(Clone, Copy, Debug, Default)]
struct Dot;

impl Distance<f32> for Dot {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        let d = 1.0 - a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        if d.is_nan() { 2.0 } else { d.clamp(0.0, 2.0) }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    // criterion-style arguments (`--bench`) are ignored; `cargo bench --no-run` only builds.
    let tmp = tempfile::tempdir().unwrap();
    let corpus: PathBuf = match std::env::var_os("RAGOPS_BENCH_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let root = tmp.path().join("corpus");
            ragops_benches::generate_corpus(&root, 6_000, 16_000).unwrap();
            root
        }
    };
    let index_dir = tmp.path().join("index");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let index = Index::builder().repo(&corpus).index_dir(Some(index_dir.clone())).build().unwrap();

    let started = Instant::now();
    let summary = rt.block_on(index.scan()).unwrap();
    println!(
        "corpus {}: {} files, {} chunks, {:.1} MB, scanned in {:.1} s",
        corpus.display(),
        summary.index.files,
        summary.index.chunks,
        summary.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    println!("index size on disk: {:.1} MB", dir_size(&index_dir) as f64 / 1e6);

    // Library: open time (a fresh store each time), then warm queries on one retriever.
    let opens: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            let store = HnswStore::open(&index_dir, OpenMode::Read, HnswStoreOptions::default()).unwrap();
            rt.block_on(ragops_lib::IndexStore::stats(&store)).unwrap();
            t.elapsed()
        })
        .collect();
    println!("open (library, median of 10): {:.1} ms", ms(median(opens)));
    let rounds: usize = std::env::var("RAGOPS_BENCH_WARM_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    // Median of `rounds` passes over the queries through one retriever, after a first search.
    let warm = |kind: RetrieverKind| -> Duration {
        let retriever = rt.block_on(index.retriever(kind)).unwrap();
        rt.block_on(retriever.search(QUERIES[0], 10, &[])).unwrap();
        let times: Vec<Duration> = (0..rounds)
            .flat_map(|_| QUERIES)
            .map(|q| {
                let t = Instant::now();
                rt.block_on(retriever.search(q, 10, &[])).unwrap();
                t.elapsed()
            })
            .collect();
        median(times)
    };
    println!(
        "warm hybrid query (library, median of {}): {:.2} ms",
        rounds * QUERIES.len(),
        ms(warm(RetrieverKind::Hybrid))
    );
    {
        // The vector leg's parts: embedding the query, and the store's scan (k = 200 as the
        // retriever asks), on a store of its own (its first search is exact, later ones use codes).
        let embedder = index.embedder().unwrap();
        let store = HnswStore::open(&index_dir, OpenMode::Read, HnswStoreOptions::default()).unwrap();
        let mut embed = Vec::new();
        let mut scan = Vec::new();
        for (i, q) in (0..rounds + 1).flat_map(|_| QUERIES).enumerate() {
            let t = Instant::now();
            let v = rt.block_on(embedder.embed(&[q.to_string()])).unwrap().pop().unwrap();
            let e = t.elapsed();
            let t = Instant::now();
            rt.block_on(ragops_lib::IndexStore::search(&store, &ragops_lib::store::StoreQuery::vector(v, 200)))
                .unwrap();
            if i > 0 {
                embed.push(e);
                scan.push(t.elapsed());
            }
        }
        println!(
            "  query embedding: {:.3} ms; vector store search (k 200): {:.2} ms",
            ms(median(embed)),
            ms(median(scan))
        );
    }
    for kind in [RetrieverKind::Vector, RetrieverKind::Lexical] {
        println!("  of which the {kind:?} leg alone: {:.2} ms", ms(warm(kind)));
    }

    // A fresh process per query, as a person at a terminal runs it.
    match std::env::var_os("RAGOPS_BIN").map(PathBuf::from).filter(|p| p.is_file()) {
        Some(bin) => {
            let runs: Vec<Duration> = (0..3)
                .flat_map(|_| QUERIES)
                .map(|q| {
                    let t = Instant::now();
                    let out = Command::new(&bin)
                        .args(["--repo"])
                        .arg(&corpus)
                        .arg("--index")
                        .arg(&index_dir)
                        .args(["search", q, "--limit", "10"])
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                    t.elapsed()
                })
                .collect();
            println!("fresh-process `ragops search` (median of {}): {:.1} ms", runs.len(), ms(median(runs)));
        }
        None => println!("fresh-process `ragops search`: skipped (set RAGOPS_BIN)"),
    }

    hnsw_grid(&rt, &index, &corpus);
}

/// HNSW recall@10 and latency against exact search, on the built-in model's vectors of the
/// corpus's chunks; queries are the first lines of chunks spread over the corpus.
fn hnsw_grid(rt: &tokio::runtime::Runtime, index: &Index, corpus: &Path) {
    if std::env::var("RAGOPS_BENCH_HNSW_GRID").is_ok_and(|v| v == "0") {
        return;
    }
    let max: usize = std::env::var("RAGOPS_BENCH_HNSW_POINTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let chunker = index.chunker();
    let mut texts = Vec::new();
    for entry in ignore::WalkBuilder::new(corpus).build().flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
        let rel = entry.path().strip_prefix(corpus).unwrap().to_string_lossy().into_owned();
        let lang = ragops_lib::ingest::language::language_for(&rel);
        texts.extend(chunker.chunk(&rel, lang, &text).into_iter().map(|c| c.text));
        if texts.len() >= max {
            break;
        }
    }
    texts.truncate(max);
    let embedder = index.embedder().unwrap();
    let vectors: Vec<Vec<f32>> =
        texts.chunks(256).flat_map(|b| rt.block_on(embedder.embed(b)).unwrap()).collect::<Vec<_>>();
    let step = (texts.len() / 200).max(1);
    let queries: Vec<String> = texts
        .iter()
        .step_by(step)
        .map(|t| t.lines().find(|l| l.trim().len() > 10).unwrap_or(t).to_string())
        .take(200)
        .collect();
    let qv: Vec<Vec<f32>> = rt.block_on(embedder.embed(&queries)).unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let t = Instant::now();
    let exact: Vec<Vec<usize>> = qv
        .iter()
        .map(|q| {
            let mut s: Vec<(f32, usize)> = vectors.iter().enumerate().map(|(i, v)| (dot(q, v), i)).collect();
            let k = 10.min(s.len() - 1);
            s.select_nth_unstable_by(k, |a, b| b.0.total_cmp(&a.0));
            s.truncate(k);
            s.sort_by(|a, b| b.0.total_cmp(&a.0));
            s.into_iter().map(|(_, i)| i).collect()
        })
        .collect();
    println!(
        "\nHNSW grid over {} vectors of {} dims, {} queries (exact search: {:.2} ms/query)",
        vectors.len(),
        vectors[0].len(),
        qv.len(),
        ms(t.elapsed()) / qv.len() as f64
    );
    quantised_probe(&vectors, &qv);
    if std::env::var("RAGOPS_BENCH_HNSW_GRID").is_ok_and(|v| v == "probe") {
        return;
    }
    let distinct = vectors
        .iter()
        .map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>())
        .collect::<std::collections::HashSet<_>>()
        .len();
    println!("{distinct} distinct vectors");
    println!("| M | ef_construction | build s | ef_search | recall@10 | recall@10 by id | ms/query |");
    println!("|---|---|---|---|---|---|---|");
    for (m, efc) in [(16, 100), (24, 200), (32, 200)] {
        let t = Instant::now();
        let hnsw: Hnsw<f32, Dot> = Hnsw::new(m, vectors.len(), 16, efc, Dot);
        let data: Vec<(&Vec<f32>, usize)> = vectors.iter().enumerate().map(|(i, v)| (v, i)).collect();
        hnsw.parallel_insert(&data);
        let build = t.elapsed().as_secs_f64();
        for ef in [64, 128, 256, 512] {
            let t = Instant::now();
            let mut found = 0usize;
            let mut found_ids = 0usize;
            for (q, truth) in qv.iter().zip(&exact) {
                let got: Vec<usize> = hnsw.search(q, 10, ef).into_iter().map(|n| n.d_id).collect();
                found_ids += truth.iter().filter(|i| got.contains(i)).count();
                // A result as similar as the exact 10th is as good as it (duplicate chunks have
                // identical vectors: which copy comes back is arbitrary).
                let tenth = dot(q, &vectors[truth[truth.len() - 1]]);
                found += got.iter().filter(|&&i| truth.contains(&i) || dot(q, &vectors[i]) >= tenth - 1e-6).count();
            }
            let per = ms(t.elapsed()) / qv.len() as f64;
            let recall = found as f64 / (10 * qv.len()) as f64;
            let recall_ids = found_ids as f64 / (10 * qv.len()) as f64;
            println!("| {m} | {efc} | {build:.1} | {ef} | {recall:.3} | {recall_ids:.3} | {per:.2} |");
        }
    }
}

/// Quantised first stages for an exact search (re-scoring the best candidates with the f32
/// vectors), one thread: int8 and int4 codes with a per-vector scale, and sign bits compared by
/// Hamming distance. Recall at `at` against exact search, a result as similar as the exact
/// `at`-th counting as found (as in the HNSW grid).
fn quantised_probe(vectors: &[Vec<f32>], qv: &[Vec<f32>]) {
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let scaled = |v: &[f32], levels: f32| -> (Vec<i8>, f32) {
        let m = v.iter().fold(0.0f32, |a, x| a.max(x.abs())).max(f32::MIN_POSITIVE);
        (v.iter().map(|x| (x / m * levels).round() as i8).collect(), m / levels)
    };
    let signs = |v: &[f32]| -> Vec<u64> {
        let mut c = vec![0u64; v.len().div_ceil(64)];
        for (d, x) in v.iter().enumerate() {
            if *x > 0.0 {
                c[d / 64] |= 1 << (d % 64);
            }
        }
        c
    };
    let int8: Vec<(Vec<i8>, f32)> = vectors.iter().map(|v| scaled(v, 127.0)).collect();
    let int4: Vec<(Vec<i8>, f32)> = vectors.iter().map(|v| scaled(v, 7.0)).collect();
    let bits: Vec<Vec<u64>> = vectors.iter().map(|v| signs(v)).collect();
    let idot =
        |a: &[i8], b: &[i8]| -> f32 { a.iter().zip(b).map(|(x, y)| i32::from(*x) * i32::from(*y)).sum::<i32>() as f32 };
    // Per query: the exact similarities, best first.
    let exact: Vec<Vec<f32>> = qv
        .iter()
        .map(|q| {
            let mut all: Vec<f32> = vectors.iter().map(|v| dot(q, v)).collect();
            all.sort_by(|a, b| b.total_cmp(a));
            all
        })
        .collect();
    let probe = |name: &str, approx: &dyn Fn(&[f32]) -> Vec<f32>, r: usize, at: usize| {
        let t = Instant::now();
        let mut found = 0usize;
        for (q, all) in qv.iter().zip(&exact) {
            let mut candidates: Vec<(f32, usize)> = approx(q).into_iter().enumerate().map(|(i, s)| (-s, i)).collect();
            let r = r.min(candidates.len() - 1);
            candidates.select_nth_unstable_by(r, |a, b| a.0.total_cmp(&b.0));
            candidates.truncate(r);
            let mut rescored: Vec<f32> = candidates.iter().map(|&(_, i)| dot(q, &vectors[i])).collect();
            rescored.sort_by(|a, b| b.total_cmp(a));
            found += rescored.iter().take(at).filter(|s| **s >= all[at - 1] - 1e-6).count();
        }
        println!(
            "{name} first stage, re-score {r}: recall@{at} {:.4}, {:.2} ms/query (one thread)",
            found as f64 / (at * qv.len()) as f64,
            ms(t.elapsed()) / qv.len() as f64
        );
    };
    let by_int8 = |q: &[f32]| {
        let (c, _) = scaled(q, 127.0);
        int8.iter().map(|(v, s)| idot(&c, v) * s).collect()
    };
    let by_int4 = |q: &[f32]| {
        let (c, _) = scaled(q, 127.0);
        int4.iter().map(|(v, s)| idot(&c, v) * s).collect()
    };
    let by_bits = |q: &[f32]| {
        let c = signs(q);
        bits.iter().map(|v| -(v.iter().zip(&c).map(|(a, b)| (a ^ b).count_ones()).sum::<u32>() as f32)).collect()
    };
    for r in [10, 50, 200] {
        probe("int8", &by_int8, r, 10);
    }
    for (r, at) in [(400, 10), (1000, 10), (400, 200), (1000, 200), (2000, 200)] {
        probe("int4", &by_int4, r, at);
    }
    for r in [1000, 4000] {
        probe("sign-bit", &by_bits, r, 10);
    }
}
