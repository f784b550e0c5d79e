//! Benchmark helpers live in `benches/`.
