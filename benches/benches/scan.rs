//! Scan throughput with the built-in provider on a generated corpus, next to the cost of
//! simply reading the same files, and the cost of a re-scan with nothing changed.
//!
//! `cargo bench -p ragops-benches --bench scan` (corpus size: `RAGOPS_BENCH_MB`, default 20).

#![allow(missing_docs, clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ragops_lib::Index;
use ragops_lib::retrieve::RetrieverKind;
use ragops_lib::store::{Filter, HnswStore, HnswStoreOptions, OpenMode};

fn corpus() -> (tempfile::TempDir, u64) {
    let mb: usize = std::env::var("RAGOPS_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let files = mb * 1000 / 16; // ~16 KB a file
    let bytes = ragops_benches::generate_corpus(dir.path(), files, 16_000).unwrap();
    (dir, bytes)
}

fn read_all(root: &Path) -> u64 {
    let mut n = 0;
    for entry in ignore::WalkBuilder::new(root).build().flatten() {
        if entry.file_type().is_some_and(|t| t.is_file()) {
            n += std::fs::read(entry.path()).map(|b| b.len() as u64).unwrap_or(0);
        }
    }
    n
}

fn bench_scan(c: &mut Criterion) {
    let (dir, bytes) = corpus();
    let root = dir.path();
    let index_dir = root.join(".ragops");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let index = Index::builder().repo(root).index_dir(Some(index_dir.clone())).build().unwrap();

    let mut group = c.benchmark_group("scan");
    group.sample_size(10).measurement_time(Duration::from_secs(20)).throughput(Throughput::Bytes(bytes));
    group.bench_function("read_files_baseline", |b| b.iter(|| read_all(root)));
    group.bench_function("full_scan_builtin", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let _ = std::fs::remove_dir_all(&index_dir);
                let started = Instant::now();
                rt.block_on(index.scan()).unwrap();
                // Until searchable: a fresh reader opens the committed index.
                HnswStore::open(&index_dir, OpenMode::Read, HnswStoreOptions::default()).unwrap();
                total += started.elapsed();
            }
            total
        })
    });
    // Leave one full index in place for the re-scan.
    let _ = std::fs::remove_dir_all(&index_dir);
    rt.block_on(index.scan()).unwrap();
    group.bench_function("rescan_unchanged", |b| b.iter(|| rt.block_on(index.scan()).unwrap()));
    group.finish();

    let mut group = c.benchmark_group("search");
    let retriever = rt.block_on(index.retriever(RetrieverKind::Hybrid)).unwrap();
    group.bench_function("warm_query", |b| {
        b.iter(|| rt.block_on(retriever.search("retry backoff timeout", 10, &[] as &[Filter])).unwrap())
    });
    group.bench_function("open_and_query", |b| {
        b.iter(|| rt.block_on(index.search("retry backoff timeout", 10, &[] as &[Filter])).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_scan);
criterion_main!(benches);
