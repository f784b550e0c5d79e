//! Brace skeletons: the small `{ … }` blocks of a file, whose insides a parse may skip.
//!
//! Parsing dominates a scan's CPU time, and most of the bytes of code are inside function
//! bodies small enough to be one chunk: the chunker only needs their extent, never their
//! statements; and a third of the bytes of a well-documented crate are `//` comments, of
//! which the chunker only needs the lines. [`gaps`] finds the insides of the outermost blocks
//! of fewer than `max_lines` lines and the runs of comment lines, with a lexer that knows the
//! comments and string literals of the language (so a `"{"` or a `'}'` is not a brace);
//! [`CodeChunker`] then parses the file without them (tree-sitter's included ranges keep every
//! position in the file's coordinates) and checks that the parser paired each `{` with its
//! `}` and saw each run as one comment before trusting the result. Any doubt — an unbalanced brace, a
//! preprocessor branch, a regular expression holding a quote — falls back to parsing the whole
//! file, so a mistake here costs time, never different chunks. Syntax errors outside the
//! skipped blocks (a macro the grammar does not know) are tolerated as a whole parse
//! tolerates them, under a quarter of the file; chunks can then differ from a whole parse's,
//! whose errors also sit inside the bodies (on c100: 3 C files of 777, two of which now get
//! definitions instead of line windows).
//!
//! [`CodeChunker`]: super::code_chunk::CodeChunker

use tree_sitter::{Point, Range};

/// The lexical conventions that decide where a brace is code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// Nested block comments, raw strings `r#"…"#`, `'c'` characters beside `'a` lifetimes.
    Rust,
    /// C and C++: preprocessor lines, `'c'` characters, C++ raw strings `R"x(…)x"` and digit
    /// separators `1'000`.
    C,
    /// Java: `'c'` characters, text blocks `"""…"""`.
    Java,
    /// Go: `'c'` runes, raw strings in backquotes.
    Go,
    /// JavaScript and TypeScript: `'…'` strings, template literals with `${ … }`.
    Script,
    /// C#: `'c'` characters, verbatim strings `@"…"`, raw strings `"""…"""`.
    CSharp,
    /// PHP: `'…'` strings, `#` comments.
    Php,
}

/// A span of the file a parse may skip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gap {
    /// The first byte skipped.
    pub(crate) start: usize,
    /// The byte after the last one skipped.
    pub(crate) end: usize,
    start_point: Point,
    end_point: Point,
    pub(crate) kind: GapKind,
}

/// What a [`Gap`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GapKind {
    /// The inside of a small `{ … }` block: its braces are the bytes just outside the gap.
    Block,
    /// A run of lines holding only `//` comments, after the first three bytes of the first
    /// one (`///`, `//!`, `// `) to the end of the last one: the parse sees one comment.
    Comments {
        /// The line of the last comment (0-based).
        last_row: usize,
    },
    /// The inside of a `/* … */` comment after its first three bytes (`/**`, `/*!`) and
    /// before its last two: the parse still sees the whole comment.
    BlockComment,
}

impl Gap {
    /// The byte of the `{` before a block's inside, or where the comments begin.
    pub(crate) fn opening(&self) -> usize {
        match self.kind {
            GapKind::Block => self.start - 1,
            GapKind::Comments { .. } | GapKind::BlockComment => self.start - COMMENT_KEPT,
        }
    }

    /// The byte after a block comment.
    pub(crate) fn closing(&self) -> usize {
        self.end + 2
    }
}

/// Insides shorter than this are not worth a range of their own.
const MIN_HIDDEN_BYTES: usize = 64;
/// The bytes of a comment run's first comment that stay visible: the marker of a doc comment.
const COMMENT_KEPT: usize = 3;

/// The spans a parse of `text` may skip, in file order: the insides of the outermost blocks
/// spanning fewer than `max_lines` lines and at most `max_bytes` bytes (and holding a few
/// dozen bytes), and the runs of whole-line `//` comments outside them. `None` when the
/// braces do not balance or a literal does not end (the lexer lost track: the file is parsed
/// whole).
pub(crate) fn gaps(text: &str, flavour: Flavour, max_lines: usize, max_bytes: usize) -> Option<Vec<Gap>> {
    let mut lexer = Lexer {
        bytes: text.as_bytes(),
        flavour,
        i: 0,
        row: 0,
        line_start: 0,
        lost: false,
        comments: Vec::new(),
        block_comments: Vec::new(),
    };
    // Open braces: offset and position, or a template literal's `${` (offset `usize::MAX`).
    let mut open: Vec<(usize, Point)> = Vec::new();
    let mut blocks: Vec<Gap> = Vec::new();
    while let Some(token) = lexer.next_token() {
        match token {
            Token::Open => open.push((lexer.i - 1, lexer.point(lexer.i - 1))),
            Token::Substitution => open.push((usize::MAX, Point::default())),
            Token::Close => {
                let (start, start_point) = open.pop()?;
                if start == usize::MAX {
                    // The end of a `${ … }`: back inside the template literal.
                    match lexer.template() {
                        Some(true) => open.push((usize::MAX, Point::default())),
                        Some(false) => {}
                        None => return None,
                    }
                    continue;
                }
                let close = lexer.i - 1;
                let close_point = lexer.point(close);
                // The comments just above count: a definition too large with them is split
                // by what is inside its block, which must then be parsed.
                let first_row = documented_from(&lexer.comments, start_point.row);
                let lines = close_point.row - first_row + 1;
                if lines < max_lines && close - start < max_bytes && close - start > MIN_HIDDEN_BYTES {
                    // Blocks closed since this one opened are inside it.
                    while blocks.last().is_some_and(|b| b.start > start) {
                        blocks.pop();
                    }
                    let start_point = Point::new(start_point.row, start_point.column + 1);
                    blocks.push(Gap {
                        start: start + 1,
                        end: close,
                        start_point,
                        end_point: close_point,
                        kind: GapKind::Block,
                    });
                }
            }
        }
    }
    if !open.is_empty() || lexer.lost {
        return None;
    }
    let mut comments = comment_runs(&lexer.comments, lexer.bytes);
    comments.append(&mut lexer.block_comments);
    comments.sort_unstable_by_key(|g| g.start);
    Some(merge(blocks, comments))
}

/// Lines between a comment run and the `{` of the definition it documents (attributes, a
/// long signature).
const HEADER_LINES: usize = 3;

/// The first line of the run of comments ending at most [`HEADER_LINES`] lines above `row`,
/// or `row` itself.
fn documented_from(comments: &[LineComment], row: usize) -> usize {
    let above = comments.partition_point(|c| c.row < row);
    let Some(last) = above.checked_sub(1) else { return row };
    if comments[last].row + HEADER_LINES < row {
        return row;
    }
    let mut first = last;
    while first > 0 && comments[first - 1].row + 1 == comments[first].row {
        first -= 1;
    }
    comments[first].row
}

/// Runs of comments on consecutive lines, as gaps.
fn comment_runs(comments: &[LineComment], bytes: &[u8]) -> Vec<Gap> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < comments.len() {
        let mut j = i;
        while j + 1 < comments.len() && comments[j + 1].row == comments[j].row + 1 {
            j += 1;
        }
        let (first, last) = (&comments[i], &comments[j]);
        let start = first.start + COMMENT_KEPT;
        if start < last.end && last.end - start >= MIN_HIDDEN_BYTES / 4 && at_char(bytes, start) {
            runs.push(Gap {
                start,
                end: last.end,
                start_point: Point::new(first.row, first.column + COMMENT_KEPT),
                end_point: Point::new(last.row, last.column + (last.end - last.start)),
                kind: GapKind::Comments { last_row: last.row },
            });
        }
        i = j + 1;
    }
    runs
}

/// Blocks and comment runs in file order, without the runs inside skipped blocks.
fn merge(blocks: Vec<Gap>, runs: Vec<Gap>) -> Vec<Gap> {
    let mut out = Vec::with_capacity(blocks.len() + runs.len());
    let mut runs = runs.into_iter().peekable();
    for block in blocks {
        while let Some(run) = runs.next_if(|r| r.start < block.start) {
            if run.end < block.start - 1 {
                out.push(run);
            }
        }
        while runs.next_if(|r| r.start < block.end).is_some() {}
        out.push(block);
    }
    out.extend(runs);
    out
}

/// The ranges a parse reads when it skips `gaps`.
pub(crate) fn included_ranges(len: usize, end: Point, gaps: &[Gap]) -> Vec<Range> {
    let mut ranges = Vec::with_capacity(gaps.len() + 1);
    let (mut from, mut from_point) = (0usize, Point::new(0, 0));
    for gap in gaps {
        ranges.push(Range {
            start_byte: from,
            end_byte: gap.start,
            start_point: from_point,
            end_point: gap.start_point,
        });
        (from, from_point) = (gap.end, gap.end_point);
    }
    ranges.push(Range { start_byte: from, end_byte: len, start_point: from_point, end_point: end });
    ranges
}

/// A `//` comment alone on its line: where it starts and where the line's text ends.
struct LineComment {
    row: usize,
    start: usize,
    column: usize,
    end: usize,
}

/// What the lexer reports: only braces matter.
enum Token {
    Open,
    Close,
    /// `${` in a template literal.
    Substitution,
}

struct Lexer<'a> {
    bytes: &'a [u8],
    flavour: Flavour,
    /// The next byte to read.
    i: usize,
    row: usize,
    line_start: usize,
    /// Set when a literal does not end: what follows cannot be trusted.
    lost: bool,
    /// The `//` comments alone on their lines, in order.
    comments: Vec<LineComment>,
    /// The insides of long `/* … */` comments, in order.
    block_comments: Vec<Gap>,
}

impl Lexer<'_> {
    fn point(&self, offset: usize) -> Point {
        Point::new(self.row, offset - self.line_start)
    }

    fn peek(&self, ahead: usize) -> u8 {
        self.bytes.get(self.i + ahead).copied().unwrap_or(0)
    }

    /// Moves past one byte, counting lines.
    fn bump(&mut self) {
        if self.bytes[self.i] == b'\n' {
            self.row += 1;
            self.line_start = self.i + 1;
        }
        self.i += 1;
    }

    /// The next brace outside comments and literals; `None` at the end of the text.
    fn next_token(&mut self) -> Option<Token> {
        while self.i < self.bytes.len() {
            let b = self.bytes[self.i];
            let prev = if self.i > 0 { self.bytes[self.i - 1] } else { b'\n' };
            match b {
                b'{' => {
                    self.i += 1;
                    return Some(Token::Open);
                }
                b'}' => {
                    self.i += 1;
                    return Some(Token::Close);
                }
                b'\n' => self.bump(),
                b'/' if self.peek(1) == b'/' => {
                    let (start, alone) = (self.i, self.at_line_start());
                    self.line_comment();
                    if alone {
                        let (row, column) = (self.row, start - self.line_start);
                        self.comments.push(LineComment { row, start, column, end: self.i });
                    }
                }
                b'/' if self.peek(1) == b'*' => {
                    let (start, start_point) = (self.i, self.point(self.i));
                    self.block_comment();
                    let end = self.i.saturating_sub(2);
                    if self.bytes[..self.i].ends_with(b"*/")
                        && end >= start + COMMENT_KEPT + MIN_HIDDEN_BYTES / 4
                        && at_char(self.bytes, start + COMMENT_KEPT)
                    {
                        self.block_comments.push(Gap {
                            start: start + COMMENT_KEPT,
                            end,
                            start_point: Point::new(start_point.row, start_point.column + COMMENT_KEPT),
                            end_point: self.point(end),
                            kind: GapKind::BlockComment,
                        });
                    }
                }
                b'#' if self.flavour == Flavour::C && self.at_line_start() => self.preprocessor(),
                b'#' if self.flavour == Flavour::Php && self.peek(1) != b'[' => self.line_comment(),
                b'"' => {
                    if matches!(self.flavour, Flavour::Java | Flavour::CSharp)
                        && self.peek(1) == b'"'
                        && self.peek(2) == b'"'
                    {
                        self.until_triple_quote();
                    } else if self.flavour == Flavour::CSharp && matches!(prev, b'@' | b'$') && self.verbatim_prefix() {
                        self.verbatim();
                    } else if self.flavour == Flavour::C && prev == b'R' {
                        if self.cpp_raw().is_none() {
                            self.lost = true;
                            return None;
                        }
                    } else {
                        let multiline = matches!(self.flavour, Flavour::Rust | Flavour::Php);
                        self.quoted(b'"', multiline);
                    }
                }
                b'\'' => self.single_quote(prev),
                b'`' if self.flavour == Flavour::Go => self.until(b'`'),
                b'`' if self.flavour == Flavour::Script => {
                    self.i += 1;
                    match self.template() {
                        Some(true) => return Some(Token::Substitution),
                        Some(false) => {}
                        None => {
                            self.lost = true;
                            return None;
                        }
                    }
                }
                b'r' if self.flavour == Flavour::Rust && !is_ident(prev) && matches!(self.peek(1), b'"' | b'#') => {
                    self.rust_raw()
                }
                b'b' if self.flavour == Flavour::Rust
                    && !is_ident(prev)
                    && self.peek(1) == b'r'
                    && matches!(self.peek(2), b'"' | b'#') =>
                {
                    self.i += 1;
                    self.rust_raw();
                }
                _ => self.i += 1,
            }
        }
        None
    }

    fn at_line_start(&self) -> bool {
        self.bytes[self.line_start..self.i].iter().all(|b| b.is_ascii_whitespace())
    }

    /// Skips to the end of the line (the newline is left for `bump`).
    fn line_comment(&mut self) {
        while self.i < self.bytes.len() && self.bytes[self.i] != b'\n' {
            self.i += 1;
        }
    }

    fn block_comment(&mut self) {
        self.i += 2;
        let mut depth = 1usize;
        while self.i < self.bytes.len() {
            match (self.bytes[self.i], self.peek(1)) {
                (b'*', b'/') => {
                    self.i += 2;
                    depth -= 1;
                    if depth == 0 || self.flavour != Flavour::Rust {
                        return;
                    }
                }
                (b'/', b'*') if self.flavour == Flavour::Rust => {
                    self.i += 2;
                    depth += 1;
                }
                _ => self.bump(),
            }
        }
    }

    /// A preprocessor line with its continuations: braces in macros are not blocks.
    fn preprocessor(&mut self) {
        while self.i < self.bytes.len() {
            match self.bytes[self.i] {
                b'\n' if self.bytes[..self.i].last() != Some(&b'\\') => return,
                b'/' if self.peek(1) == b'*' => self.block_comment(),
                b'/' if self.peek(1) == b'/' => self.line_comment(),
                _ => self.bump(),
            }
        }
    }

    /// Moves past a backslash and the byte it escapes.
    fn escape(&mut self) {
        self.i += 1;
        if self.i < self.bytes.len() {
            self.bump();
        }
    }

    /// A literal from the quote at `i` to its closing `quote`, with backslash escapes; one
    /// that is not `multiline` also ends at an unescaped newline (an unterminated literal, or
    /// a quote that was not one, such as in a regular expression).
    fn quoted(&mut self, quote: u8, multiline: bool) {
        self.i += 1;
        while self.i < self.bytes.len() {
            match self.bytes[self.i] {
                b'\\' => self.escape(),
                b'\n' if !multiline => return,
                b if b == quote => {
                    self.i += 1;
                    return;
                }
                _ => self.bump(),
            }
        }
    }

    /// Everything up to and including the next `end` byte, without escapes.
    fn until(&mut self, end: u8) {
        self.i += 1;
        while self.i < self.bytes.len() {
            if self.bytes[self.i] == end {
                self.i += 1;
                return;
            }
            self.bump();
        }
    }

    fn until_triple_quote(&mut self) {
        self.i += 3;
        while self.i < self.bytes.len() {
            if self.bytes[self.i..].starts_with(b"\"\"\"") {
                self.i += 3;
                return;
            }
            if self.bytes[self.i] == b'\\' && self.flavour == Flavour::Java {
                self.i += 1;
                if self.i >= self.bytes.len() {
                    return;
                }
            }
            self.bump();
        }
    }

    /// Whether the `@` or `$` before the quote make a C# verbatim string (`@"`, `$@"`, `@$"`).
    fn verbatim_prefix(&self) -> bool {
        let before = &self.bytes[..self.i];
        before.ends_with(b"@") || before.ends_with(b"@$")
    }

    /// A C# verbatim string: `""` is a quote, backslashes are plain.
    fn verbatim(&mut self) {
        self.i += 1;
        while self.i < self.bytes.len() {
            if self.bytes[self.i] == b'"' {
                if self.peek(1) == b'"' {
                    self.i += 2;
                    continue;
                }
                self.i += 1;
                return;
            }
            self.bump();
        }
    }

    /// A C++ raw string `R"delim( … )delim"`; `None` when it is malformed.
    fn cpp_raw(&mut self) -> Option<()> {
        let open = self.i + 1;
        let paren = open + self.bytes[open..].iter().take(17).position(|&b| b == b'(')?;
        let mut end = Vec::with_capacity(paren - open + 2);
        end.push(b')');
        end.extend_from_slice(&self.bytes[open..paren]);
        end.push(b'"');
        self.i = paren + 1;
        while self.i < self.bytes.len() {
            if self.bytes[self.i..].starts_with(&end) {
                self.i += end.len();
                return Some(());
            }
            self.bump();
        }
        None
    }

    /// A Rust raw string from its `r`: `r"…"`, `r#"…"#` (or the identifier `r#name`).
    fn rust_raw(&mut self) {
        let start = self.i;
        self.i += 1;
        let hashes = self.bytes[self.i..].iter().take_while(|&&b| b == b'#').count();
        if self.peek(hashes) != b'"' {
            // A raw identifier: go on from the byte after the `r`.
            self.i = start + 1;
            return;
        }
        self.i += hashes + 1;
        while self.i < self.bytes.len() {
            if self.bytes[self.i] == b'"'
                && self.bytes[self.i + 1..].iter().take(hashes).filter(|&&b| b == b'#').count() == hashes
            {
                self.i += 1 + hashes;
                return;
            }
            self.bump();
        }
    }

    /// A `'`: a character or string literal, a Rust lifetime or a C++ digit separator.
    fn single_quote(&mut self, prev: u8) {
        match self.flavour {
            Flavour::Script | Flavour::Php => self.quoted(b'\'', self.flavour == Flavour::Php),
            Flavour::Rust => {
                // `'x'`, `'\n'`, `'\u{1F600}'`, `'é'` are characters; `'a` and `'static` are
                // lifetimes or labels.
                let rest = &self.bytes[self.i + 1..];
                if rest.first() == Some(&b'\\') {
                    self.quoted(b'\'', false);
                    return;
                }
                let width = rest.first().map_or(1, |&b| utf8_width(b));
                if rest.get(width) == Some(&b'\'') {
                    self.i += width + 2;
                } else {
                    self.i += 1;
                }
            }
            Flavour::C if prev.is_ascii_alphanumeric() => self.i += 1,
            _ => self.quoted(b'\'', false),
        }
    }

    /// Continues a JavaScript template literal after its opening backquote or the `}` of a
    /// substitution: `Some(true)` at a `${` (inside a substitution now), `Some(false)` after
    /// the closing backquote, `None` at the end of the text.
    fn template(&mut self) -> Option<bool> {
        while self.i < self.bytes.len() {
            match self.bytes[self.i] {
                b'\\' => self.escape(),
                b'`' => {
                    self.i += 1;
                    return Some(false);
                }
                b'$' if self.peek(1) == b'{' => {
                    self.i += 2;
                    return Some(true);
                }
                _ => self.bump(),
            }
        }
        None
    }
}

/// Whether `at` starts a character (not inside a UTF-8 sequence): where a range may begin.
fn at_char(bytes: &[u8], at: usize) -> bool {
    bytes.get(at).is_none_or(|&b| b & 0xc0 != 0x80)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The length of the UTF-8 sequence starting with `b`.
fn utf8_width(b: u8) -> usize {
    match b {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str, flavour: Flavour) -> Option<Vec<(usize, usize)>> {
        let gaps = gaps(text, flavour, 40, 8192)?;
        Some(gaps.iter().filter(|g| g.kind == GapKind::Block).map(|g| (g.start_point.row, g.end_point.row)).collect())
    }

    const BODY: &str = "    let a = 1;\n    let b = 2;\n    let c = a + b;\n    println!(\"{}\", c);\n";

    #[test]
    fn outermost_small_blocks_are_found() {
        let text = format!("fn one() {{\n{BODY}    if a {{ {BODY} }}\n}}\n\nfn two() {{\n{BODY}}}\n");
        assert_eq!(spans(&text, Flavour::Rust), Some(vec![(0, 10), (12, 17)]));
    }

    #[test]
    fn braces_in_strings_comments_and_characters_are_not_blocks() {
        let text = format!(
            "// {{\n/* {{ /* nested {{ */ }} */\nfn one() {{\n    let s = \"{{\\\"\";\n    let c = '{{';\n    let r = r#\"}}\"#;\n    let l: &'static str = \"\";\n{BODY}}}\n"
        );
        assert_eq!(spans(&text, Flavour::Rust), Some(vec![(2, 11)]));
    }

    #[test]
    fn c_preprocessor_lines_and_digit_separators_are_skipped() {
        let text = format!("#define OPEN {{ \\\n  more {{\nint f() {{\n  int x = 1'000;\n  char c = '}}';\n{BODY}}}\n");
        assert_eq!(spans(&text, Flavour::C), Some(vec![(2, 9)]));
    }

    #[test]
    fn template_literal_substitutions_nest() {
        let text = format!("function f() {{\n  const s = `a ${{ {{ x: 1 }}.x }} }} b`;\n{BODY}}}\n");
        assert_eq!(spans(&text, Flavour::Script), Some(vec![(0, 6)]));
    }

    #[test]
    fn large_and_tiny_blocks_are_kept_and_unbalanced_text_is_refused() {
        let large = format!("fn big() {{\n{}}}\n", BODY.repeat(12));
        assert_eq!(spans(&large, Flavour::Rust), Some(vec![]));
        assert_eq!(spans("fn f() { 1 }\n", Flavour::Rust), Some(vec![]));
        assert_eq!(spans("fn f() {\n", Flavour::Rust), None);
        assert_eq!(spans("}\n", Flavour::Rust), None);
    }

    #[test]
    fn included_ranges_skip_the_insides_and_comment_runs() {
        let text = format!(
            "/// The first.\n/// More about it, at length.\nfn one() {{\n    // inside\n{BODY}}}\n// alone\nfn two() {{}} // after code\n"
        );
        let gaps = gaps(&text, Flavour::Rust, 40, 8192).unwrap();
        assert_eq!(gaps.len(), 2, "{gaps:?}");
        let c = "/* A long comment, over\n * two lines. */\nint x;\n";
        let comment = super::gaps(c, Flavour::C, 40, 8192).unwrap();
        assert_eq!(comment.len(), 1);
        assert_eq!((&c[..comment[0].start], &c[comment[0].end..]), ("/* ", "*/\nint x;\n"));
        assert_eq!(comment[0].end_point, Point::new(1, 14));
        // A comment whose fourth byte is inside a character is not cut there.
        let accented = "//éé long enough to be worth skipping\nfn f() {}\n";
        assert!(super::gaps(accented, Flavour::Rust, 40, 8192).unwrap().is_empty());
        assert_eq!(gaps[0].kind, GapKind::Comments { last_row: 1 });
        let end = Point::new(text.lines().count(), 0);
        let ranges = included_ranges(text.len(), end, &gaps);
        let kept: String = ranges.iter().map(|r| &text[r.start_byte..r.end_byte]).collect();
        assert_eq!(kept, "///\nfn one() {}\n// alone\nfn two() {} // after code\n");
        assert_eq!(ranges[1].start_point, Point::new(1, 29));
        assert_eq!(ranges[2].start_point, Point::new(8, 0));
    }
}
