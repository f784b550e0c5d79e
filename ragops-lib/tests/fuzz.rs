//! Property tests (proptest) of the two parsers users feed directly: configuration text and
//! source files for chunking. Any input gives `Ok`/`Err` (config) or well-formed chunks, never
//! a panic. `PROPTEST_CASES=N` runs longer; figures are in docs/benchmarks.md.

use proptest::prelude::*;
use ragops_lib::config::{ChunkingConfig, Config, ConfigOrigin};
use ragops_lib::ingest::Chunker;
use ragops_lib::ingest::code_chunk::CodeChunker;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// Text made of the pieces config and code are made of, so the parsers get past their first
/// byte (pure random bytes rarely do).
fn piecewise(pieces: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![proptest::sample::select(pieces).prop_map(str::to_string), any::<String>()],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

const CONFIG_PIECES: &[&str] = &[
    "[embedding]\n",
    "[store]\n",
    "[store.hnsw]\n",
    "[chunking]\n",
    "[scan]\n",
    "[llm]\n",
    "[ranking]\n",
    "provider = \"builtin\"\n",
    "provider = \"mock\"\n",
    "chunk_size = ",
    "chunk_overlap = ",
    "max_chunk_bytes = ",
    "0\n",
    "1\n",
    "-1\n",
    "4294967296\n",
    "1e308\n",
    "\"x\"\n",
    "true\n",
    "[1, 2]\n",
    "{ a = 1 }\n",
    "dimensions = ",
    "ef_search = ",
    "bm25_k1 = ",
    "nan\n",
    "inf\n",
    "history = ",
    "=",
    "\"",
    "'",
    "[[",
    "]]",
    "\n",
    "#",
];

const CODE_PIECES: &[&str] = &[
    "fn ",
    "pub ",
    "impl ",
    "struct ",
    "class ",
    "def ",
    "function ",
    "{",
    "}",
    "(",
    ")",
    ":",
    ";",
    "\n",
    "    ",
    "\t",
    "//",
    "/*",
    "*/",
    "\"",
    "'",
    "#",
    "=>",
    "->",
    "x",
    "self",
    "return ",
    "\r\n",
    "\u{feff}",
    "é",
    "\0",
];

const LANGUAGES: &[&str] =
    &["rust", "python", "go", "javascript", "typescript", "java", "c", "cpp", "ruby", "php", "csharp", "text"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_config_text_parses_or_errors(text in piecewise(CONFIG_PIECES), trusted in any::<bool>()) {
        let origin = if trusted { ConfigOrigin::User } else { ConfigOrigin::Repository };
        let _ = Config::from_toml(&text, None, origin, false, &|_| None);
    }

    #[test]
    fn any_source_text_chunks_into_valid_ranges(
        text in piecewise(CODE_PIECES),
        language in proptest::sample::select(LANGUAGES),
        size in 1u32..60,
        overlap in 0u32..10,
    ) {
        let mut config = ChunkingConfig::default();
        config.chunk_size = size;
        config.chunk_overlap = overlap.min(size - 1);
        let chunker = CodeChunker::new(&config);
        let lines = text.lines().count().max(1) as u32;
        for chunk in chunker.chunk("src/fuzzed.txt", language, &text) {
            prop_assert!(chunk.lines.start >= 1 && chunk.lines.start <= chunk.lines.end, "{:?}", chunk.lines);
            prop_assert!(chunk.lines.end <= lines + 1, "{:?} of {lines} lines", chunk.lines);
        }
    }
}
