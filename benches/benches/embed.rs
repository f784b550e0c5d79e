//! Embedding throughput of the built-in provider on one core: feature hashing alone, the
//! shipped static model alone, and the default mix of both.
//!
//! `cargo bench -p ragops-benches --bench embed` (corpus size: `RAGOPS_BENCH_EMBED_MB`, default 2).

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ragops_lib::provider::BuiltinEmbedder;
use ragops_lib::provider::builtin::{DEFAULT_DIMENSIONS, DEFAULT_SEMANTIC_SHARE};

/// Chunk-sized texts (~1.5 KB, whole lines) cut from the generated corpus.
fn chunks() -> (Vec<String>, u64) {
    let mb: usize = std::env::var("RAGOPS_BENCH_EMBED_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let dir = tempfile::tempdir().unwrap();
    ragops_benches::generate_corpus(dir.path(), mb * 1000 / 16, 16_000).unwrap();
    let mut out = Vec::new();
    for entry in ignore::WalkBuilder::new(dir.path()).build().flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let mut chunk = String::new();
        for line in text.lines() {
            chunk.push_str(line);
            chunk.push('\n');
            if chunk.len() >= 1500 {
                out.push(std::mem::take(&mut chunk));
            }
        }
        if !chunk.is_empty() {
            out.push(chunk);
        }
    }
    let bytes = out.iter().map(|c| c.len() as u64).sum();
    (out, bytes)
}

fn bench_embed(c: &mut Criterion) {
    let (texts, bytes) = chunks();
    let mut group = c.benchmark_group("embed_one_core");
    group.sample_size(10).measurement_time(Duration::from_secs(10)).throughput(Throughput::Bytes(bytes));
    for (name, share) in [("hashing", 0.0), ("static_model", 1.0), ("default_mix", DEFAULT_SEMANTIC_SHARE)] {
        let embedder = BuiltinEmbedder::with_share(DEFAULT_DIMENSIONS, share);
        embedder.verify().unwrap();
        group.bench_function(name, |b| {
            b.iter(|| texts.iter().map(|t| embedder.embed_one(t).unwrap().len()).sum::<usize>())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_embed);
criterion_main!(benches);
