//! Helpers shared by the benchmarks: a deterministic generated corpus of source files.

use std::fs;
use std::io::Write;
use std::path::Path;

/// Identifier stems the generator combines, so that files share vocabulary like real code.
const WORDS: &[&str] = &[
    "parse", "config", "retry", "backoff", "request", "response", "buffer", "reader", "writer", "index", "search",
    "query", "token", "chunk", "embed", "vector", "store", "commit", "segment", "cache", "hash", "path", "walk",
    "file", "error", "result", "client", "server", "stream", "batch", "limit", "score", "rank", "merge", "lock",
    "open", "close", "flush", "timeout", "header", "body", "json", "encode", "decode", "handle", "event", "span",
];

/// Writes `files` Rust-like files of about `bytes_per_file` bytes under `root/src/<dir>/`, and
/// returns the total bytes written. The same arguments always give the same corpus.
pub fn generate_corpus(root: &Path, files: usize, bytes_per_file: usize) -> std::io::Result<u64> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut total = 0u64;
    for f in 0..files {
        let dir = root.join("src").join(format!("module_{}", f % 97));
        fs::create_dir_all(&dir)?;
        let mut text = String::with_capacity(bytes_per_file + 256);
        let mut n = 0;
        while text.len() < bytes_per_file {
            let a = WORDS[(next() % WORDS.len() as u64) as usize];
            let b = WORDS[(next() % WORDS.len() as u64) as usize];
            let c = WORDS[(next() % WORDS.len() as u64) as usize];
            text.push_str(&format!(
                "/// {a} the {b} before the {c} is ready.\npub fn {a}_{b}_{n}(input: &{}Config) -> Result<{}, Error> {{\n    let {c} = input.{b}_{c}()?;\n    if {c}.len() > {} {{\n        return Err(Error::{}Limit);\n    }}\n    Ok({c}.into_{a}())\n}}\n\n",
                capitalize(c),
                capitalize(a),
                next() % 1000,
                capitalize(b),
            ));
            n += 1;
        }
        let mut file = fs::File::create(dir.join(format!("{}_{f}.rs", WORDS[f % WORDS.len()])))?;
        file.write_all(text.as_bytes())?;
        total += text.len() as u64;
    }
    Ok(total)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
