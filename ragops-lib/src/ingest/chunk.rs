//! Chunking. The unit of `chunk_size` and `chunk_overlap` is lines; every chunker keeps it.

use std::fmt;

use crate::config::ChunkingConfig;
use crate::model::{Chunk, LineRange};

/// Cuts a file into chunks.
pub trait Chunker: Send + Sync + fmt::Debug {
    /// The chunks of one file, in order. Blank stretches produce no chunk.
    fn chunk(&self, path: &str, language: &str, text: &str) -> Vec<Chunk>;
}

/// Fixed windows of lines: at most `chunk_size` lines and `max_chunk_bytes` bytes, each
/// window starting `chunk_size - chunk_overlap` lines after the previous one.
#[derive(Clone, Debug)]
pub struct LineChunker {
    size: usize,
    overlap: usize,
    max_bytes: usize,
}

impl LineChunker {
    /// A chunker with these settings (already validated: `overlap < size`).
    pub fn new(config: &ChunkingConfig) -> Self {
        LineChunker {
            size: config.chunk_size.max(1) as usize,
            overlap: (config.chunk_overlap as usize).min(config.chunk_size.saturating_sub(1) as usize),
            max_bytes: config.max_chunk_bytes.max(1) as usize,
        }
    }
}

impl Chunker for LineChunker {
    fn chunk(&self, path: &str, language: &str, text: &str) -> Vec<Chunk> {
        // Byte offset of the start of each line, plus the end of the text.
        let mut starts: Vec<usize> = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1).filter(|&i| i < text.len()));
        let n = starts.len();
        let end_of = |line: usize| if line + 1 < n { starts[line + 1] } else { text.len() };
        let mut out = Vec::new();
        let mut i = 0;
        while i < n {
            let mut j = i + 1; // exclusive
            while j < n && j - i < self.size && end_of(j) - starts[i] <= self.max_bytes {
                j += 1;
            }
            let body = &text[starts[i]..end_of(j - 1)];
            if !body.trim().is_empty() {
                out.push(Chunk::new(path, LineRange::new(i as u32 + 1, j as u32), language, body));
            }
            if j >= n {
                break;
            }
            i = (j.saturating_sub(self.overlap)).max(i + 1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunker(size: u32, overlap: u32, max_bytes: u32) -> LineChunker {
        LineChunker::new(&ChunkingConfig { chunk_size: size, chunk_overlap: overlap, max_chunk_bytes: max_bytes })
    }

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn windows_cover_every_line() {
        let chunks = chunker(4, 0, 8192).chunk("a.txt", "text", &numbered(10));
        let ranges: Vec<_> = chunks.iter().map(|c| (c.lines.start, c.lines.end)).collect();
        assert_eq!(ranges, [(1, 4), (5, 8), (9, 10)]);
        assert_eq!(chunks[0].text, "line 1\nline 2\nline 3\nline 4\n");
        assert_eq!(chunks[2].text, "line 9\nline 10\n");
    }

    #[test]
    fn overlap_repeats_lines() {
        let chunks = chunker(4, 2, 8192).chunk("a.txt", "text", &numbered(8));
        let ranges: Vec<_> = chunks.iter().map(|c| (c.lines.start, c.lines.end)).collect();
        assert_eq!(ranges, [(1, 4), (3, 6), (5, 8)]);
    }

    #[test]
    fn byte_cap_ends_chunks_early_but_keeps_long_lines() {
        let text = format!("{}\nshort\n", "x".repeat(500));
        let chunks = chunker(10, 0, 256).chunk("a.js", "javascript", &text);
        let ranges: Vec<_> = chunks.iter().map(|c| (c.lines.start, c.lines.end)).collect();
        assert_eq!(ranges, [(1, 1), (2, 2)]);
    }

    #[test]
    fn blank_windows_and_empty_files_give_nothing() {
        assert!(chunker(2, 0, 8192).chunk("a", "text", "").is_empty());
        let chunks = chunker(2, 0, 8192).chunk("a", "text", "\n\n\n\nx\n");
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].lines, LineRange::new(5, 5));
    }

    #[test]
    fn no_trailing_newline() {
        let chunks = chunker(2, 0, 8192).chunk("a", "text", "a\nb\nc");
        assert_eq!(chunks[1].text, "c");
        assert_eq!(chunks[1].lines, LineRange::new(3, 3));
    }
}
