//! Structure-aware chunking with tree-sitter: chunks follow the definitions of the code.
//!
//! [`CodeChunker`] parses a file with the grammar of its language and cuts it along definitions
//! (functions, methods, classes, structs, enums, traits, interfaces, impl blocks, modules,
//! namespaces). The unit of `chunk_size` stays lines, as for [`LineChunker`]:
//!
//! - A definition that fits in `chunk_size` lines and `max_chunk_bytes` bytes is one chunk.
//!   Leading comments, doc comments, attributes and decorators that touch it (no blank line in
//!   between) stay with it.
//! - A definition too large is split: by its child definitions when it has some (the methods
//!   of an impl block or a class, recursively), otherwise by windows of lines exactly like
//!   [`LineChunker`]'s (with `chunk_overlap`). The header of a split definition
//!   (`impl Searcher {`) goes with the chunk after it, and its closing lines (`}`) with the
//!   chunk before them, when they fit.
//! - Small neighbouring items — imports, constants, comments, statements, and definitions of
//!   at most a quarter of `chunk_size` lines — are merged while the merged chunk stays within
//!   both limits.
//! - A statement too large that holds definitions (`module.exports = class … {}`, Python's
//!   `if __name__ == "__main__":`) is split by them; other large statements are cut into
//!   windows of lines.
//! - Each chunk records its enclosing symbol path, outermost first, joined by ` > `:
//!   `impl Searcher > fn search_slice`, `class Session > def request`,
//!   `func (c *Command) Execute`. A merged chunk carries the symbol of its first item: the
//!   definition's path when it starts with a definition, else the path of the enclosing
//!   definition (`None` at the top level, e.g. for a run of imports and small functions).
//!
//! Every non-blank line of the file is in some chunk, chunks are in file order, and a chunk's
//! text is exactly its lines of the file (blank lines at its edges are left out).
//!
//! Files of other languages, files larger than 4 MiB, parses that fail or take longer than two
//! seconds, and trees where syntax errors cover a quarter of the file or more fall back to
//! [`LineChunker`].

use std::cell::RefCell;
use std::time::{Duration, Instant};

use tree_sitter::{Language, Node, ParseOptions, ParseState, Parser, Point, Range, Tree};

use super::chunk::{Chunker, LineChunker};
use super::skeleton::{self, Flavour, GapKind};
use crate::config::ChunkingConfig;
use crate::model::{Chunk, LineRange};

/// Larger files are not parsed: they fall back to line windows.
const MAX_PARSE_BYTES: usize = 4 << 20;
/// A parse taking longer than this is cancelled, and the file falls back to line windows.
const PARSE_BUDGET: Duration = Duration::from_secs(2);
/// Deeper nesting of oversized definitions is cut into line windows.
const MAX_DEPTH: usize = 32;
/// A symbol label longer than this is cut (long receivers, template arguments).
const MAX_LABEL_CHARS: usize = 120;

thread_local! {
    /// One parser per thread: the scan chunks files from rayon's threads.
    static PARSER: RefCell<Parser> = RefCell::new(Parser::new());
}

/// Whether [`CodeChunker`] has a grammar for this language name (as [`language_for`] names
/// them); other languages are cut into line windows.
///
/// [`language_for`]: super::language::language_for
pub fn supports(language: &str) -> bool {
    Grammar::for_language(language).is_some()
}

/// A chunker that follows the definitions of the code (see the module documentation), with
/// [`LineChunker`] as the fallback for other languages and unparsable files.
#[derive(Clone, Debug)]
pub struct CodeChunker {
    size: usize,
    overlap: usize,
    max_bytes: usize,
    lines: LineChunker,
}

impl CodeChunker {
    /// A chunker with these settings (already validated: `chunk_overlap < chunk_size`).
    pub fn new(config: &ChunkingConfig) -> Self {
        CodeChunker {
            size: config.chunk_size.max(1) as usize,
            overlap: (config.chunk_overlap as usize).min(config.chunk_size.saturating_sub(1) as usize),
            max_bytes: config.max_chunk_bytes.max(1) as usize,
            lines: LineChunker::new(config),
        }
    }

    /// The structural chunks, or `None` when the file must fall back to line windows.
    fn structured(&self, path: &str, language: &str, text: &str) -> Option<Vec<Chunk>> {
        if text.len() > MAX_PARSE_BYTES || !looks_hand_written(text) {
            return None;
        }
        let grammar = Grammar::for_file(path, language)?;
        self.skeletal(grammar, path, language, text).or_else(|| self.whole(grammar, path, language, text))
    }

    /// The structural chunks from a parse of the whole file.
    fn whole(&self, grammar: Grammar, path: &str, language: &str, text: &str) -> Option<Vec<Chunk>> {
        let mut parsed = parse(grammar, text, &[], None).map(|tree| (grammar, error_bytes(&tree, text.len()), tree));
        // A `.h` header may be C or C++: with errors as C, C++ gets a try, and the parse with
        // fewer errors wins.
        if grammar == Grammar::C
            && path.ends_with(".h")
            && parsed.as_ref().is_none_or(|(_, errors, _)| *errors > 0)
            && let Some(tree) = parse(Grammar::Cpp, text, &[], None)
        {
            let errors = error_bytes(&tree, text.len());
            if parsed.as_ref().is_none_or(|(_, c_errors, _)| errors < *c_errors) {
                parsed = Some((Grammar::Cpp, errors, tree));
            }
        }
        let (grammar, errors, tree) = parsed?;
        if errors.saturating_mul(4) >= text.len().max(1) {
            return None;
        }
        let mut cut = Cut::new(self, grammar, path, language, text);
        let last = cut.starts.len() - 1;
        cut.region(0, last, named_children(tree.root_node()), &[], 0);
        Some(cut.out)
    }

    /// The structural chunks from a parse that skips the insides of the file's small blocks
    /// (see [`skeleton`]): the same chunks as from a whole parse, at a fraction of its cost.
    /// `None` whenever that cannot be vouched for: the braces do not balance or pair as the
    /// parser pairs them, or the parse has errors — the file is then parsed whole. When the
    /// cut needs what is inside a skipped block (a definition too large with its comments),
    /// the file is parsed again with that block read.
    fn skeletal(&self, grammar: Grammar, path: &str, language: &str, text: &str) -> Option<Vec<Chunk>> {
        const ATTEMPTS: usize = 3;
        let mut gaps = skeleton::gaps(text, grammar.flavour()?, self.size, self.max_bytes)?;
        let mut cut = Cut::new(self, grammar, path, language, text);
        let last = cut.starts.len() - 1;
        let end = match text.rfind('\n') {
            Some(newline) => Point::new(last + usize::from(newline + 1 == text.len()), text.len() - newline - 1),
            None => Point::new(0, text.len()),
        };
        let mut previous: Option<Tree> = None;
        for _ in 0..ATTEMPTS {
            if gaps.is_empty() {
                return None;
            }
            cut.out.clear();
            // A second attempt re-parses only around the blocks it reads now.
            let tree = parse(grammar, text, &skeleton::included_ranges(text.len(), end, &gaps), previous.as_ref())?;
            let root = tree.root_node();
            if root.has_error() && !tolerates_errors(grammar, path, &tree, text.len()) {
                return None;
            }
            // The parser must agree: each skipped block's braces are two tokens of one node,
            // each run of comments starts with a comment.
            let mut hidden = Vec::with_capacity(gaps.len());
            let mut runs = Vec::new();
            for (i, gap) in gaps.iter().enumerate() {
                match gap.kind {
                    GapKind::Block => {
                        let node = root.descendant_for_byte_range(gap.opening(), gap.end)?;
                        let mut cursor = node.walk();
                        let mut braces = node.children(&mut cursor).filter(|c| {
                            (c.start_byte() == gap.opening() && c.end_byte() == gap.start)
                                || (c.start_byte() == gap.end && c.end_byte() == gap.end + 1)
                        });
                        if braces.next().is_none() || braces.next().is_none() {
                            return None;
                        }
                        hidden.push((node.id(), i));
                    }
                    GapKind::Comments { last_row } => {
                        let node = root.named_descendant_for_byte_range(gap.opening(), gap.opening() + 1)?;
                        if !is_line_comment(node, text) || node.start_byte() != gap.opening() {
                            return None;
                        }
                        runs.push((gap.opening(), last_row));
                    }
                    GapKind::BlockComment => {
                        let node = root.named_descendant_for_byte_range(gap.opening(), gap.opening() + 1)?;
                        if !is_trivia(node.kind())
                            || node.start_byte() != gap.opening()
                            || node.end_byte() != gap.closing()
                        {
                            return None;
                        }
                    }
                }
            }
            hidden.sort_unstable();
            cut.hidden = hidden;
            cut.comment_runs = runs;
            cut.region(0, last, named_children(root), &[], 0);
            let needed = std::mem::take(cut.needed.get_mut());
            if needed.is_empty() {
                return Some(cut.out);
            }
            let mut index = 0..;
            gaps.retain(|_| index.next().is_some_and(|i| !needed.contains(&i)));
            previous = Some(tree);
        }
        None
    }
}

/// Whether a file looks like code a person writes: not minified (a bundle's lines run to
/// thousands of bytes) and not laden with control characters (terminal escape sequences in
/// test fixtures, binary data in strings). Such files parse slowly, mostly into errors, and
/// their definitions are not what questions are about: they fall back to line windows.
fn looks_hand_written(text: &str) -> bool {
    const MIN_BYTES: usize = 16 << 10;
    const MAX_AVERAGE_LINE: usize = 300;
    let bytes = text.as_bytes();
    let (mut lines, mut controls) = (1usize, 0usize);
    for &b in bytes {
        lines += usize::from(b == b'\n');
        controls += usize::from(b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c));
    }
    let minified = bytes.len() >= MIN_BYTES && bytes.len() / lines > MAX_AVERAGE_LINE;
    !minified && controls * 256 <= bytes.len()
}

impl Chunker for CodeChunker {
    fn chunk(&self, path: &str, language: &str, text: &str) -> Vec<Chunk> {
        if text.trim().is_empty() {
            return Vec::new();
        }
        match self.structured(path, language, text) {
            Some(chunks) => chunks,
            None => self.lines.chunk(path, language, text),
        }
    }
}

/// The grammars built in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grammar {
    Rust,
    Python,
    Go,
    JavaScript,
    TypeScript,
    Tsx,
    Java,
    C,
    Cpp,
    Ruby,
    Php,
    CSharp,
}

impl Grammar {
    fn for_language(language: &str) -> Option<Grammar> {
        Some(match language {
            "rust" => Grammar::Rust,
            "python" => Grammar::Python,
            "go" => Grammar::Go,
            "javascript" => Grammar::JavaScript,
            "typescript" => Grammar::TypeScript,
            "tsx" => Grammar::Tsx,
            "java" => Grammar::Java,
            "c" => Grammar::C,
            "cpp" => Grammar::Cpp,
            "ruby" => Grammar::Ruby,
            "php" => Grammar::Php,
            "csharp" => Grammar::CSharp,
            _ => return None,
        })
    }

    /// The grammar for a file: `.tsx` files (language `typescript`) need the TSX grammar.
    fn for_file(path: &str, language: &str) -> Option<Grammar> {
        let grammar = Grammar::for_language(language)?;
        let tsx = path.rsplit_once('.').is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("tsx"));
        Some(if grammar == Grammar::TypeScript && tsx { Grammar::Tsx } else { grammar })
    }

    fn language(self) -> Language {
        match self {
            Grammar::Rust => tree_sitter_rust::LANGUAGE.into(),
            Grammar::Python => tree_sitter_python::LANGUAGE.into(),
            Grammar::Go => tree_sitter_go::LANGUAGE.into(),
            Grammar::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Grammar::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Grammar::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Grammar::Java => tree_sitter_java::LANGUAGE.into(),
            Grammar::C => tree_sitter_c::LANGUAGE.into(),
            Grammar::Cpp => tree_sitter_cpp::LANGUAGE.into(),
            Grammar::Ruby => tree_sitter_ruby::LANGUAGE.into(),
            Grammar::Php => tree_sitter_php::LANGUAGE_PHP.into(),
            Grammar::CSharp => tree_sitter_c_sharp::LANGUAGE.into(),
        }
    }

    /// Where braces are code in this language; `None` for languages whose blocks are not
    /// braces (Python, Ruby).
    fn flavour(self) -> Option<Flavour> {
        Some(match self {
            Grammar::Rust => Flavour::Rust,
            Grammar::C | Grammar::Cpp => Flavour::C,
            Grammar::Java => Flavour::Java,
            Grammar::Go => Flavour::Go,
            Grammar::JavaScript | Grammar::TypeScript | Grammar::Tsx => Flavour::Script,
            Grammar::CSharp => Flavour::CSharp,
            Grammar::Php => Flavour::Php,
            Grammar::Python | Grammar::Ruby => return None,
        })
    }

    /// The keyword a definition of this node kind is labelled with, if the kind is a definition.
    fn keyword(self, kind: &str) -> Option<&'static str> {
        use Grammar::*;
        Some(match (self, kind) {
            (Rust, "function_item" | "function_signature_item") => "fn",
            (Rust, "struct_item") => "struct",
            (Rust, "enum_item") => "enum",
            (Rust, "union_item") => "union",
            (Rust, "trait_item") => "trait",
            (Rust, "impl_item") => "impl",
            (Rust, "mod_item") => "mod",
            (Rust, "macro_definition") => "macro_rules!",
            (Python, "function_definition") => "def",
            (Python, "class_definition") => "class",
            (Go, "function_declaration" | "method_declaration") => "func",
            (Go, "type_declaration") => "type",
            (JavaScript | TypeScript | Tsx, "function_declaration" | "generator_function_declaration") => "function",
            (JavaScript | TypeScript | Tsx, "function_expression" | "function" | "generator_function") => "function",
            (JavaScript | TypeScript | Tsx, "arrow_function") => "function",
            (JavaScript | TypeScript | Tsx, "class_declaration" | "abstract_class_declaration" | "class") => "class",
            (JavaScript | TypeScript | Tsx, "method_definition") => "method",
            (TypeScript | Tsx, "interface_declaration") => "interface",
            (TypeScript | Tsx, "enum_declaration") => "enum",
            (TypeScript | Tsx, "internal_module") => "namespace",
            (TypeScript | Tsx, "module") => "module",
            (Java | CSharp, "class_declaration") => "class",
            (Java | CSharp, "interface_declaration") => "interface",
            (Java | CSharp, "enum_declaration") => "enum",
            (Java | CSharp, "record_declaration") => "record",
            (Java | CSharp, "method_declaration") => "method",
            (Java | CSharp, "constructor_declaration") => "constructor",
            (Java, "annotation_type_declaration") => "@interface",
            (CSharp, "struct_declaration") => "struct",
            (CSharp, "namespace_declaration" | "file_scoped_namespace_declaration") => "namespace",
            (C | Cpp, "function_definition") => "function",
            (C | Cpp, "struct_specifier") => "struct",
            (C | Cpp, "union_specifier") => "union",
            (C | Cpp, "enum_specifier") => "enum",
            (Cpp, "class_specifier") => "class",
            (Cpp, "namespace_definition") => "namespace",
            (Ruby, "method" | "singleton_method") => "def",
            (Ruby, "class") => "class",
            (Ruby, "singleton_class") => "class <<",
            (Ruby, "module") => "module",
            (Php, "function_definition" | "method_declaration") => "function",
            (Php, "class_declaration") => "class",
            (Php, "interface_declaration") => "interface",
            (Php, "trait_declaration") => "trait",
            (Php, "enum_declaration") => "enum",
            (Php, "namespace_definition") => "namespace",
            _ => return None,
        })
    }
}

/// Parses `text` with the thread's parser, reading only `ranges` of it (all of it when empty);
/// `None` when the grammar does not load, the parse fails or it runs out of time.
fn parse(grammar: Grammar, text: &str, ranges: &[Range], old: Option<&Tree>) -> Option<Tree> {
    PARSER
        .try_with(|cell| {
            let mut parser = cell.try_borrow_mut().ok()?;
            parser.set_language(&grammar.language()).ok()?;
            parser.set_included_ranges(ranges).ok()?;
            let deadline = Instant::now() + PARSE_BUDGET;
            let mut past_deadline = |_: &ParseState| Instant::now() > deadline;
            let bytes = text.as_bytes();
            let mut input = |offset: usize, _: Point| bytes.get(offset..).unwrap_or_default();
            let options = ParseOptions::new().progress_callback(&mut past_deadline);
            let tree = parser.parse_with_options(&mut input, old, Some(options));
            // A cancelled parse would otherwise resume on the next call.
            parser.reset();
            if !ranges.is_empty() {
                parser.set_included_ranges(&[]).ok()?;
            }
            tree
        })
        .ok()
        .flatten()
}

/// How many bytes of the text syntax errors cover (the whole text when the root is an
/// error); a missing token counts as one byte. A file where they cover a quarter or more is not
/// worth following and falls back to line windows.
/// Whether a skeleton parse with syntax errors may stand for the whole parse: as a whole
/// parse is, when under a quarter of the file is in errors (a macro the grammar does not know,
/// mostly in C) — the whole parse would have those errors too, and more inside the skipped
/// bodies. Not for a C header, which the whole parse also tries as C++.
fn tolerates_errors(grammar: Grammar, path: &str, tree: &Tree, len: usize) -> bool {
    !(grammar == Grammar::C && path.ends_with(".h")) && error_bytes(tree, len).saturating_mul(4) < len.max(1)
}

fn error_bytes(tree: &Tree, len: usize) -> usize {
    let root = tree.root_node();
    if !root.has_error() {
        return 0;
    }
    if root.is_error() {
        return len;
    }
    let mut errors = 0usize;
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        let descend = if node.is_error() {
            errors += node.byte_range().len();
            false
        } else if node.is_missing() {
            errors += 1;
            false
        } else {
            node.has_error()
        };
        if descend && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return errors;
            }
        }
    }
}

fn named_children(node: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).collect()
}

/// Comments, attributes and decorators: they belong to the item right after them.
fn is_trivia(kind: &str) -> bool {
    matches!(kind, "comment" | "line_comment" | "block_comment" | "attribute_item" | "decorator")
}

/// A `//` comment.
fn is_line_comment(node: Node<'_>, text: &str) -> bool {
    matches!(node.kind(), "comment" | "line_comment") && text.as_bytes()[node.start_byte()..].starts_with(b"//")
}

/// Preprocessor conditionals and `extern "C" { … }`: containers without a symbol of their own.
fn is_container(kind: &str) -> bool {
    matches!(
        kind,
        "preproc_if" | "preproc_ifdef" | "preproc_else" | "preproc_elif" | "preproc_elifdef" | "linkage_specification"
    )
}

/// How an item of a region is treated.
#[derive(Clone, Copy, Debug)]
enum Kind<'t> {
    /// Not a definition: merged with its neighbours, cut into windows when too large.
    Other,
    /// A definition: `node` is the definition itself (inside `export`, decorators, templates).
    Def { node: Node<'t> },
    /// A container without a symbol (`#ifdef`): split by its children when too large.
    Container { node: Node<'t> },
}

/// A span of lines of a region (0-based, inclusive) and what it holds.
#[derive(Clone, Debug)]
struct Piece<'t> {
    lo: usize,
    hi: usize,
    kind: Kind<'t>,
    label: Option<String>,
    role: Role,
    /// The item's node (for items).
    node: Option<Node<'t>>,
}

/// Where a piece is in its region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// An item (with the lines up to the next item).
    Item,
    /// The lines before the first item: `impl Searcher {`, `class Session:`.
    Header,
    /// The lines after the last item: closing braces.
    Footer,
}

/// A chunk being built in a region.
#[derive(Debug)]
struct Pending {
    lo: usize,
    hi: usize,
    symbol: Option<String>,
    /// Whether more small items may join (false for a definition of its own).
    merging: bool,
    /// Whether it is only the region's header so far.
    header: bool,
}

/// The state of cutting one file.
struct Cut<'a> {
    grammar: Grammar,
    path: &'a str,
    language: &'a str,
    text: &'a str,
    /// Byte offset of the start of each line (as [`LineChunker`] counts lines).
    starts: Vec<usize>,
    size: usize,
    overlap: usize,
    max_bytes: usize,
    small: usize,
    out: Vec<Chunk>,
    /// The node ids of the blocks whose insides the parse skipped, with the blocks' indexes
    /// (sorted).
    hidden: Vec<(usize, usize)>,
    /// The runs of comment lines the parse saw as one comment: the first one's offset and the
    /// last one's line (sorted).
    comment_runs: Vec<(usize, usize)>,
    /// The indexes of the skipped blocks whose insides the cut needed.
    needed: RefCell<Vec<usize>>,
}

impl<'a> Cut<'a> {
    fn new(chunker: &CodeChunker, grammar: Grammar, path: &'a str, language: &'a str, text: &'a str) -> Self {
        let mut starts: Vec<usize> = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1).filter(|&i| i < text.len()));
        Cut {
            grammar,
            path,
            language,
            text,
            starts,
            size: chunker.size,
            overlap: chunker.overlap,
            max_bytes: chunker.max_bytes,
            small: (chunker.size / 4).max(1),
            out: Vec::new(),
            hidden: Vec::new(),
            comment_runs: Vec::new(),
            needed: RefCell::new(Vec::new()),
        }
    }

    /// The byte offset just past line `line` (its newline included).
    fn end_of(&self, line: usize) -> usize {
        self.starts.get(line + 1).copied().unwrap_or(self.text.len())
    }

    fn line_text(&self, line: usize) -> &'a str {
        let text: &'a str = self.text;
        text.get(self.starts[line]..self.end_of(line)).unwrap_or_default()
    }

    fn is_blank(&self, line: usize) -> bool {
        self.line_text(line).trim().is_empty()
    }

    /// The lines `lo..=hi` without blank lines at either edge; `None` when all are blank.
    fn trim(&self, mut lo: usize, mut hi: usize) -> Option<(usize, usize)> {
        while lo <= hi && self.is_blank(lo) {
            lo += 1;
        }
        while hi > lo && self.is_blank(hi) {
            hi -= 1;
        }
        (lo <= hi).then_some((lo, hi))
    }

    fn fits(&self, lo: usize, hi: usize) -> bool {
        hi - lo < self.size && self.end_of(hi) - self.starts[lo] <= self.max_bytes
    }

    /// The lines of a node (0-based, inclusive); a node ending at the start of a line (after
    /// a newline it includes) does not cover that line.
    fn rows(&self, node: Node<'_>) -> (usize, usize) {
        let last = self.starts.len() - 1;
        let start = node.start_position().row.min(last);
        let end = node.end_position();
        let end_row = if end.column == 0 && end.row > start { end.row - 1 } else { end.row };
        (start, end_row.clamp(start, last))
    }

    fn emit(&mut self, lo: usize, hi: usize, symbol: Option<String>) {
        let Some(body) = self.text.get(self.starts[lo]..self.end_of(hi)) else { return };
        let lines = LineRange::new(lo as u32 + 1, hi as u32 + 1);
        self.out.push(Chunk::new(self.path, lines, self.language, body).with_symbol(symbol));
    }

    /// Windows of lines over `lo..=hi`, as [`LineChunker`] cuts a file.
    fn windows(&mut self, lo: usize, hi: usize, symbol: Option<String>) {
        let mut i = lo;
        while i <= hi {
            let mut j = i + 1; // exclusive
            while j <= hi && j - i < self.size && self.end_of(j) - self.starts[i] <= self.max_bytes {
                j += 1;
            }
            if let Some((a, b)) = self.trim(i, j - 1) {
                self.emit(a, b, symbol.clone());
            }
            if j > hi {
                break;
            }
            i = j.saturating_sub(self.overlap).max(i + 1);
        }
    }

    /// Cuts the lines `lo..=hi`, whose structure is given by `nodes` (in order), inside the
    /// definitions `path`.
    fn region(&mut self, lo: usize, hi: usize, nodes: Vec<Node<'_>>, path: &[String], depth: usize) {
        let mut pending: Option<Pending> = None;
        for piece in self.pieces(lo, hi, &nodes) {
            let Some((plo, phi)) = self.trim(piece.lo, piece.hi) else { continue };
            let fits = self.fits(plo, phi);
            if piece.role == Role::Footer {
                // Closing lines (`}`) go with the chunk before them when it stays within limits.
                if let Some(p) = pending.as_mut()
                    && self.fits(p.lo, phi)
                {
                    p.hi = phi;
                    continue;
                }
                self.flush(pending.take());
                if let Some(last) = self.out.last()
                    && last.lines.start as usize > lo
                    && self.fits(last.lines.start as usize - 1, phi)
                    && let Some(last) = self.out.pop()
                {
                    self.emit(last.lines.start as usize - 1, phi, last.symbol);
                    continue;
                }
            }
            let is_def = matches!(piece.kind, Kind::Def { .. });
            if fits && (!is_def || phi - plo < self.small) {
                // Small items merge while the merged chunk stays within limits.
                if let Some(p) = pending.as_mut()
                    && p.merging
                    && self.fits(p.lo, phi)
                {
                    p.hi = phi;
                    p.header = false;
                    continue;
                }
                self.flush(pending.take());
                let symbol = symbol(path, piece.label);
                pending = Some(Pending { lo: plo, hi: phi, symbol, merging: true, header: piece.role == Role::Header });
            } else if fits {
                // A definition of its own; a lone header (`impl Searcher {`) joins it if it fits.
                let symbol = symbol(path, piece.label);
                match pending.take() {
                    Some(p) if p.header && self.fits(p.lo, phi) => {
                        pending = Some(Pending { lo: p.lo, hi: phi, symbol, merging: false, header: false });
                    }
                    other => {
                        self.flush(other);
                        pending = Some(Pending { lo: plo, hi: phi, symbol, merging: false, header: false });
                    }
                }
            } else {
                // Too large: split. A lone header becomes part of the first chunk of the split.
                let mut first = plo;
                match pending.take() {
                    Some(p) if p.header => first = p.lo,
                    other => self.flush(other),
                }
                self.split(first, phi, piece, path, depth);
            }
        }
        self.flush(pending.take());
    }

    fn flush(&mut self, pending: Option<Pending>) {
        if let Some(p) = pending {
            self.emit(p.lo, p.hi, p.symbol);
        }
    }

    /// Cuts a piece too large for one chunk: by the definitions inside it when it has some,
    /// else into windows of lines.
    fn split(&mut self, lo: usize, hi: usize, piece: Piece<'_>, path: &[String], depth: usize) {
        let mut inner_path = path.to_vec();
        inner_path.extend(piece.label.clone());
        // A single line cannot be split (a minified file): it is a chunk of its own.
        if lo < hi
            && depth < MAX_DEPTH
            && let Some(children) = self.nested(&piece)
        {
            self.region(lo, hi, children, &inner_path, depth + 1);
            return;
        }
        let symbol = (!inner_path.is_empty()).then(|| inner_path.join(" > "));
        self.windows(lo, hi, symbol);
    }

    /// The items to split a piece by, when some of them are definitions: the body of a
    /// definition or container; for another node (`module.exports = class … {}`, Python's
    /// `if __name__ == "__main__":`), the children of the first node down its largest
    /// descendants that has definitions among them.
    fn nested<'t>(&self, piece: &Piece<'t>) -> Option<Vec<Node<'t>>> {
        let structural = |nodes: &[Node<'t>]| nodes.iter().any(|&n| !matches!(self.classify(n).0, Kind::Other));
        match piece.kind {
            Kind::Def { node } | Kind::Container { node } => {
                let body = node.child_by_field_name("body").unwrap_or(node);
                // `cls => class Foo { … }`: the body is itself a definition.
                let children = if body != node && structural(&[body]) { vec![body] } else { self.children(body) };
                structural(&children).then_some(children)
            }
            Kind::Other => {
                let mut current = piece.node?;
                for _ in 0..8 {
                    let children = self.children(current);
                    if structural(&children) {
                        return Some(children);
                    }
                    let lines = |n: Node<'_>| {
                        let (a, b) = self.rows(n);
                        b - a + 1
                    };
                    let largest = children.into_iter().max_by_key(|&n| lines(n))?;
                    if lines(largest) * 4 < lines(current) * 3 {
                        return None;
                    }
                    current = largest;
                }
                None
            }
        }
    }

    /// The named children of a node being split, noting when its inside was skipped.
    fn children<'t>(&self, node: Node<'t>) -> Vec<Node<'t>> {
        let id = node.id();
        let at = self.hidden.partition_point(|&(hidden, _)| hidden < id);
        if let Some(&(hidden, block)) = self.hidden.get(at)
            && hidden == id
        {
            self.needed.borrow_mut().push(block);
        }
        named_children(node)
    }

    /// Partitions `lo..=hi` into consecutive pieces, one per item: an item runs from its
    /// first line (leading comments and attributes included) to the line before the next
    /// item; the lines before the first item (a header) and after the last (a footer) are
    /// pieces of their own.
    fn pieces<'t>(&self, lo: usize, hi: usize, nodes: &[Node<'t>]) -> Vec<Piece<'t>> {
        let mut items: Vec<Piece<'t>> = Vec::new();
        let mut trivia: Vec<(usize, usize)> = Vec::new();
        for &node in nodes {
            let (start, end) = self.rows(node);
            let (start, end) = (start.max(lo), end.min(hi));
            if start > end {
                continue;
            }
            if is_trivia(node.kind()) {
                match self.comment_runs.binary_search_by_key(&node.start_byte(), |&(at, _)| at) {
                    // A run of comment lines seen as one comment: one line each, as parsed whole.
                    Ok(run) => trivia.extend((start..=self.comment_runs[run].1.min(hi)).map(|row| (row, row))),
                    Err(_) => trivia.push((start, end)),
                }
                continue;
            }
            // The comments and attributes touching this item (no blank line between) join it.
            let mut first = start;
            let mut attached = trivia.len();
            while attached > 0 && trivia[attached - 1].1 + 1 >= first {
                attached -= 1;
                first = first.min(trivia[attached].0);
            }
            for &(a, b) in &trivia[..attached] {
                items.push(Piece { lo: a, hi: b, kind: Kind::Other, label: None, role: Role::Item, node: None });
            }
            trivia.clear();
            let (kind, label) = self.classify(node);
            items.push(Piece { lo: first, hi: end, kind, label, role: Role::Item, node: Some(node) });
        }
        for (a, b) in trivia {
            items.push(Piece { lo: a, hi: b, kind: Kind::Other, label: None, role: Role::Item, node: None });
        }
        // Items sharing a line become one.
        let mut merged: Vec<Piece<'t>> = Vec::with_capacity(items.len());
        for item in items {
            match merged.last_mut() {
                Some(prev) if item.lo <= prev.hi => {
                    // The merged item is what the more structural one is (a definition, then a
                    // container, then the larger node).
                    let rank = |p: &Piece<'_>| match p.kind {
                        Kind::Def { .. } => (2, 0),
                        Kind::Container { .. } => (1, 0),
                        Kind::Other => (0, p.hi - p.lo),
                    };
                    if rank(&item) > rank(prev) {
                        prev.kind = item.kind;
                        prev.label = item.label;
                        prev.node = item.node;
                    }
                    prev.hi = prev.hi.max(item.hi);
                }
                _ => merged.push(item),
            }
        }
        let mut pieces = Vec::with_capacity(merged.len() + 2);
        let (first_lo, last_hi) = match (merged.first(), merged.last()) {
            (Some(first), Some(last)) => (first.lo, last.hi),
            _ => (hi + 1, hi),
        };
        if first_lo > lo {
            pieces.push(Piece { lo, hi: first_lo - 1, kind: Kind::Other, label: None, role: Role::Header, node: None });
        }
        let next_starts: Vec<usize> = merged.iter().skip(1).map(|p| p.lo).collect();
        for (i, mut piece) in merged.into_iter().enumerate() {
            piece.hi = next_starts.get(i).map_or(last_hi, |&next| next - 1);
            pieces.push(piece);
        }
        if last_hi < hi && first_lo <= hi {
            pieces.push(Piece { lo: last_hi + 1, hi, kind: Kind::Other, label: None, role: Role::Footer, node: None });
        }
        pieces
    }

    /// What a node of a region is, and its label when it is a definition.
    fn classify<'t>(&self, node: Node<'t>) -> (Kind<'t>, Option<String>) {
        let inner = unwrap(node);
        if is_container(inner.kind()) {
            return (Kind::Container { node: inner }, None);
        }
        if self.grammar.keyword(inner.kind()).is_some() && self.is_definition(inner) {
            if self.is_anonymous(inner) {
                return (Kind::Container { node: inner }, None);
            }
            return (Kind::Def { node: inner }, Some(self.label(inner)));
        }
        if let Some((value, label)) = self.bound_value(inner) {
            return (Kind::Def { node: value }, Some(label));
        }
        (Kind::Other, None)
    }

    /// A JavaScript function or class expression without a name (`cls => class { … }`,
    /// a callback): split like a definition, but without a symbol of its own.
    fn is_anonymous(&self, node: Node<'_>) -> bool {
        matches!(self.grammar, Grammar::JavaScript | Grammar::TypeScript | Grammar::Tsx)
            && matches!(
                node.kind(),
                "arrow_function" | "function_expression" | "function" | "generator_function" | "class"
            )
            && node.child_by_field_name("name").is_none()
    }

    /// C and C++ specifiers are definitions only with a body (`struct a { … }`), not as the
    /// type of a declaration (`struct a *p;`).
    fn is_definition(&self, node: Node<'_>) -> bool {
        match node.kind() {
            "struct_specifier" | "union_specifier" | "enum_specifier" | "class_specifier" => {
                node.child_by_field_name("body").is_some()
            }
            _ => true,
        }
    }

    /// The definition a declaration stands for, and its label: `const f = () => …`
    /// (JavaScript, TypeScript), a C `typedef struct { … } name;` or `struct a { … } x;`.
    fn bound_value<'t>(&self, node: Node<'t>) -> Option<(Node<'t>, String)> {
        match (self.grammar, node.kind()) {
            (
                Grammar::JavaScript | Grammar::TypeScript | Grammar::Tsx,
                "lexical_declaration" | "variable_declaration",
            ) => {
                let declarators = named_children(node);
                let [declarator] = declarators.as_slice() else { return None };
                let value = declarator.child_by_field_name("value")?;
                let keyword = self.grammar.keyword(value.kind())?;
                let name = declarator.child_by_field_name("name").map(|n| self.node_text(n));
                Some((value, cut_label(join(keyword, name))))
            }
            (Grammar::C | Grammar::Cpp, "type_definition" | "declaration") => {
                let ty = node.child_by_field_name("type")?;
                let keyword = self.grammar.keyword(ty.kind())?;
                if !self.is_definition(ty) {
                    return None;
                }
                let name = ty.child_by_field_name("name").map(|n| self.node_text(n));
                Some((ty, cut_label(join(keyword, name.or_else(|| self.declarator_name(node))))))
            }
            _ => None,
        }
    }

    /// `kind name` of a definition, e.g. `fn search_slice`, `impl Display for Searcher`,
    /// `func (c *Command) Execute`.
    fn label(&self, node: Node<'_>) -> String {
        let field = |name: &str| node.child_by_field_name(name).map(|n| self.node_text(n));
        let label = match (self.grammar, node.kind()) {
            (Grammar::Rust, "impl_item") => match (field("trait"), field("type")) {
                (Some(tr), Some(ty)) => format!("impl {tr} for {ty}"),
                (None, ty) => join("impl", ty),
                (Some(tr), None) => format!("impl {tr}"),
            },
            (Grammar::Go, "method_declaration") => {
                let receiver = field("receiver").unwrap_or_default();
                let name = field("name").unwrap_or_default();
                format!("func {receiver} {name}")
            }
            (Grammar::Go, "type_declaration") => {
                let spec = named_children(node).into_iter().find(|c| c.kind().ends_with("_spec"));
                let name = spec.and_then(|s| s.child_by_field_name("name")).map(|n| self.node_text(n));
                join("type", name)
            }
            (Grammar::Ruby, "singleton_method") => {
                let object = field("object").unwrap_or_default();
                format!("def {object}.{}", field("name").unwrap_or_default())
            }
            (Grammar::C | Grammar::Cpp, "function_definition") => join("function", self.declarator_name(node)),
            (_, kind) => join(self.grammar.keyword(kind).unwrap_or(kind), field("name")),
        };
        cut_label(label)
    }

    /// The name a C or C++ declarator declares: through pointers, references and function
    /// declarators down to the identifier (or `Foo::bar`, `~Foo`, `operator==`).
    fn declarator_name(&self, node: Node<'_>) -> Option<String> {
        let mut current = node.child_by_field_name("declarator")?;
        for _ in 0..16 {
            match current.child_by_field_name("declarator") {
                Some(next) => current = next,
                None => break,
            }
        }
        Some(self.node_text(current))
    }

    /// A node's text with runs of whitespace collapsed to one space.
    fn node_text(&self, node: Node<'_>) -> String {
        let text = self.text.get(node.byte_range()).unwrap_or_default();
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// The definition inside wrappers: `export …`, decorators, `declare …`, `template <…> …`,
/// a TypeScript `namespace` statement.
fn unwrap(node: Node<'_>) -> Node<'_> {
    let mut current = node;
    for _ in 0..8 {
        let next = match current.kind() {
            "decorated_definition" => current.child_by_field_name("definition"),
            "export_statement" => current.child_by_field_name("declaration"),
            "ambient_declaration" => current.named_child(0),
            "expression_statement" if current.named_child_count() == 1 => {
                current.named_child(0).filter(|c| c.kind() == "internal_module")
            }
            "template_declaration" => named_children(current).into_iter().rev().find(|c| {
                matches!(
                    c.kind(),
                    "class_specifier"
                        | "struct_specifier"
                        | "union_specifier"
                        | "function_definition"
                        | "declaration"
                        | "template_declaration"
                )
            }),
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

fn join(keyword: &str, name: Option<String>) -> String {
    match name {
        Some(name) if !name.is_empty() => format!("{keyword} {name}"),
        _ => keyword.to_string(),
    }
}

fn cut_label(label: String) -> String {
    match label.char_indices().nth(MAX_LABEL_CHARS) {
        Some((end, _)) => format!("{}…", &label[..end]),
        None => label,
    }
}

/// The symbol path `outer > … > label`, or `None` when there is none.
fn symbol(path: &[String], label: Option<String>) -> Option<String> {
    let mut parts: Vec<&str> = path.iter().map(String::as_str).collect();
    if let Some(label) = label.as_deref() {
        parts.push(label);
    }
    (!parts.is_empty()).then(|| parts.join(" > "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ContentHash;

    fn chunker(size: u32, overlap: u32, max_bytes: u32) -> CodeChunker {
        CodeChunker::new(&ChunkingConfig { chunk_size: size, chunk_overlap: overlap, max_chunk_bytes: max_bytes })
    }

    /// (first line, last line, symbol) of each chunk.
    fn spans(chunks: &[Chunk]) -> Vec<(u32, u32, Option<&str>)> {
        chunks.iter().map(|c| (c.lines.start, c.lines.end, c.symbol.as_deref())).collect()
    }

    /// Every non-blank line is covered, chunks are in order (disjoint without overlap), each
    /// text is exactly its lines, and every chunk is within the limits (a single line may be
    /// longer than `max_bytes`, as with `LineChunker`).
    fn assert_valid(text: &str, chunks: &[Chunk], size: usize, overlap: bool, max_bytes: usize) {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut covered = vec![false; lines.len()];
        let (mut last_start, mut last_end) = (0, 0);
        for c in chunks {
            let (s, e) = (c.lines.start as usize, c.lines.end as usize);
            assert!(1 <= s && s <= e && e <= lines.len(), "range {s}-{e} of {} lines", lines.len());
            assert!(s > last_start || (s == 1 && last_start == 0), "chunks out of order at {s}");
            if !overlap {
                assert!(s > last_end, "chunk {s}-{e} overlaps the previous one ending at {last_end}");
            }
            (last_start, last_end) = (s, e);
            assert_eq!(c.text, lines[s - 1..e].concat());
            assert_eq!(c.hash, ContentHash::of(c.text.as_bytes()));
            assert!(!c.text.trim().is_empty());
            assert!(e - s < size, "chunk {s}-{e} longer than {size} lines");
            assert!(c.text.len() <= max_bytes || s == e, "chunk {s}-{e} larger than {max_bytes} bytes");
            covered[s - 1..e].iter_mut().for_each(|c| *c = true);
        }
        for (i, line) in lines.iter().enumerate() {
            assert!(line.trim().is_empty() || covered[i], "line {} not covered: {line:?}", i + 1);
        }
    }

    fn chunk(path: &str, language: &str, text: &str, size: u32) -> Vec<Chunk> {
        let chunks = chunker(size, 0, 8192).chunk(path, language, text);
        assert_valid(text, &chunks, size as usize, false, 8192);
        chunks
    }

    #[test]
    fn minified_and_escape_laden_files_fall_back_to_lines() {
        let function = "function add(a, b) {\n  return a + b;\n}\n";
        assert!(looks_hand_written(&function.repeat(1000)));
        // A bundle: the same code on one line per 500 functions.
        let minified = format!("{}\n", "function add(a,b){return a+b}".repeat(500)).repeat(4);
        assert!(minified.len() >= 16 << 10);
        assert!(!looks_hand_written(&minified));
        // Short files are never judged by their line length.
        assert!(looks_hand_written(&"x".repeat(1000)));
        // Terminal colours in a highlighted fixture.
        let highlighted = "\u{1b}[38;2;249;38;114mfn\u{1b}[0m \u{1b}[38;2;166;226;46mmain\u{1b}[0m() {}\n".repeat(20);
        assert!(!looks_hand_written(&highlighted));
        let chunks = chunk("bundle.js", "javascript", &minified, 40);
        assert!(chunks.iter().all(|c| c.symbol.is_none()), "line windows carry no symbols");
        let parsed = chunk("lib.js", "javascript", &function.repeat(3), 40);
        assert_eq!(parsed[0].symbol.as_deref(), Some("function add"));
    }

    const RUST: &str = "\
//! Searching.

use std::fmt;
use std::sync::Arc;

/// A searcher.
#[derive(Debug)]
pub struct Searcher {
    index: Arc<Index>,
}

impl Searcher {
    /// A new searcher.
    pub fn new(index: Arc<Index>) -> Self {
        Searcher { index }
    }

    /// Searches a slice.
    #[inline]
    pub fn search_slice(&self, query: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        for doc in self.index.docs() {
            if doc.matches(query) {
                hits.push(doc.hit());
            }
        }
        hits
    }
}

impl fmt::Display for Searcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, \"searcher\")
    }
}
";

    const PYTHON: &str = r#"import os
import sys


@dataclass
class Session(Base):
    """A session."""

    timeout = 10

    def __init__(self, url):
        self.url = url
        self.open = True

    @retry(times=3)
    def request(self, method, path):
        response = self.send(method, path)
        if response.status >= 500:
            raise Retry()
        return response


def main():
    Session("http://x").request("GET", "/")
"#;

    const GO: &str = "\
package main

import (
	\"errors\"
	\"fmt\"
)

// Command is a command.
type Command struct {
	Name string
	Args []string
}

// Execute runs the command.
func (c *Command) Execute() error {
	if c.Name == \"\" {
		return errors.New(\"no name\")
	}
	fmt.Println(c.Name)
	return nil
}

func main() {
	c := &Command{Name: \"x\"}
	_ = c.Execute()
}
";

    const JAVASCRIPT: &str = "\
import { readFile } from 'fs';

/** A store of values. */
export class Store {
  constructor(path) {
    this.path = path;
    this.values = new Map();
  }

  get(key) {
    return this.values.get(key);
  }

  async load() {
    const text = await readFile(this.path, 'utf8');
    for (const line of text.split('\\n')) {
      const [k, v] = line.split('=');
      this.values.set(k, v);
    }
  }
}

export const handler = async (req) => {
  const store = new Store(req.path);
  await store.load();
  return store.get(req.key);
};
";

    const TYPESCRIPT: &str = "\
import type { Hit } from './hit';

export interface Retriever {
  search(query: string): Promise<Hit[]>;
  close(): void;
}

export class HybridRetriever implements Retriever {
  private readonly k = 60;

  async search(query: string): Promise<Hit[]> {
    const a = await this.vector(query);
    const b = await this.lexical(query);
    return fuse(a, b, this.k);
  }

  close(): void {}
}

export function fuse(a: Hit[], b: Hit[], k: number): Hit[] {
  return [...a, ...b].slice(0, k);
}
";

    const JAVA: &str = "\
package io.ragops;

import java.util.List;

/** A session. */
@Immutable
public class Session {
    private final String url;

    public Session(String url) {
        this.url = url;
    }

    @Override
    public String request(String method, String path) {
        String target = url + path;
        if (method.isEmpty()) {
            throw new IllegalArgumentException();
        }
        return target;
    }
}
";

    const C: &str = "\
#include <stdio.h>
#include <stdlib.h>

struct point {
    int x;
    int y;
};

/* Adds two points. */
static struct point add(struct point a, struct point b) {
    struct point r;
    r.x = a.x + b.x;
    r.y = a.y + b.y;
    return r;
}

int main(void) {
    struct point p = add((struct point){1, 2}, (struct point){3, 4});
    printf(\"%d %d\\n\", p.x, p.y);
    return 0;
}
";

    const CPP: &str = "\
#include <string>

namespace ragops {

class Index {
 public:
  explicit Index(std::string path) : path_(std::move(path)) {}

  int search(const std::string& query) const {
    int hits = 0;
    for (char c : query) {
      hits += c == 'a';
    }
    return hits;
  }

 private:
  std::string path_;
};

int Index::count() const {
  return 0;
}

}  // namespace ragops
";

    const RUBY: &str = "\
require 'json'

module Ragops
  class Session < Base
    def initialize(url)
      @url = url
    end

    def request(method, path)
      response = send(method, path)
      raise Retry if response.status >= 500
      response
    end
  end
end
";

    const PHP: &str = "\
<?php
namespace App;

use Foo\\Bar;

class Session extends Base
{
    public function request($method, $path)
    {
        $response = $this->send($method, $path);
        return $response;
    }
}
";

    const CSHARP: &str = "\
using System;

namespace Ragops
{
    public class Session
    {
        public string Request(string method, string path)
        {
            var target = method + path;
            return target;
        }
    }
}
";

    const TSX: &str = "\
import React from 'react';

export function App({ name }: { name: string }) {
  const greeting = `Hello ${name}`;
  return (
    <div className=\"app\">
      <h1>{greeting}</h1>
    </div>
  );
}
";

    /// Every sample, with its path and language.
    fn samples() -> Vec<(&'static str, &'static str, &'static str)> {
        vec![
            ("src/search.rs", "rust", RUST),
            ("session.py", "python", PYTHON),
            ("cmd.go", "go", GO),
            ("store.js", "javascript", JAVASCRIPT),
            ("retriever.ts", "typescript", TYPESCRIPT),
            ("App.tsx", "typescript", TSX),
            ("Session.java", "java", JAVA),
            ("point.c", "c", C),
            ("index.cpp", "cpp", CPP),
            ("session.rb", "ruby", RUBY),
            ("Session.php", "php", PHP),
            ("Session.cs", "csharp", CSHARP),
        ]
    }

    /// Chunks of the skeleton path and of the whole parse, for a file the skeleton handles.
    fn both_paths(path: &str, language: &str, text: &str, size: u32) -> (Option<Vec<Chunk>>, Option<Vec<Chunk>>) {
        let chunker = chunker(size, 0, 8192);
        let grammar = Grammar::for_file(path, language).expect("a grammar");
        (chunker.skeletal(grammar, path, language, text), chunker.whole(grammar, path, language, text))
    }

    #[test]
    fn skeleton_parses_give_the_chunks_of_whole_parses() {
        let mut skeletal = 0;
        for (path, language, text) in samples() {
            for size in [4, 8, 40] {
                let (fast, whole) = both_paths(path, language, text, size);
                if let Some(fast) = fast {
                    skeletal += 1;
                    assert_eq!(Some(spans(&fast)), whole.as_deref().map(spans), "{path} at {size} lines");
                    assert_eq!(
                        fast.iter().map(|c| &c.text).collect::<Vec<_>>(),
                        whole.unwrap().iter().map(|c| &c.text).collect::<Vec<_>>()
                    );
                }
            }
        }
        assert!(skeletal >= 12, "the brace languages' samples take the skeleton path ({skeletal})");
    }

    #[test]
    fn a_skipped_block_the_cut_needs_is_parsed_again() {
        // Small bodies (skipped), one of them under a signature long enough to make its
        // definition larger than a chunk: it must be split by its statements, which a second,
        // incremental parse reads.
        let params: String = (0..6).map(|i| format!("    p{i}: u32,\n")).collect();
        let body = "    let value = compute(1, 2);\n    if value > 3 {\n        log(value);\n    }\n".repeat(2);
        let text =
            format!("fn first() {{\n{body}}}\n\nfn second(\n{params}) {{\n{body}}}\n\nfn third() {{\n{body}}}\n");
        let (fast, whole) = both_paths("src/lib.rs", "rust", &text, 12);
        let fast = fast.expect("the skeleton path copes");
        assert_eq!(spans(&fast), spans(&whole.expect("whole parse")));
        assert!(fast.iter().filter(|c| c.symbol.as_deref() == Some("fn second")).count() >= 2, "{:?}", spans(&fast));
    }

    #[test]
    fn a_skeleton_parse_with_a_few_errors_stands() {
        // A macro the grammar does not know, outside the bodies: the whole parse has that
        // error too; the skeleton is trusted as the whole parse would be (under a quarter of
        // the file in errors).
        let body = "    int b = a + 1;\n    if (b > 3) {\n        b = 3;\n    }\n    return b;\n";
        let text = format!(
            "#include \"curl.h\"\n\nUNITTEST_PREFIX(setup) CURL_MAGIC\n\nstatic int first(int a) {{\n{body}}}\n\nstatic int second(int a) {{\n{body}}}\n"
        );
        assert!(parse(Grammar::C, &text, &[], None).unwrap().root_node().has_error());
        let (fast, whole) = both_paths("lib/unit.c", "c", &text, 8);
        let fast = fast.expect("the skeleton parse stands despite the error");
        let symbols: Vec<_> = fast.iter().filter_map(|c| c.symbol.as_deref()).collect();
        assert_eq!(symbols, ["function first", "function second"], "{:?}", spans(&fast));
        assert_eq!(spans(&fast), spans(&whole.expect("whole parse")));
        // A header with errors is parsed whole (it also gets a try as C++).
        assert!(both_paths("lib/unit.h", "c", &text, 8).0.is_none());
        // Mostly errors: no structure from the skeleton.
        let garbage = format!("{}\nstatic int first(int a) {{\n{body}}}\n", "@@ ## $$ %% !!\n".repeat(40));
        assert!(both_paths("lib/garbage.c", "c", &garbage, 8).0.is_none());
    }

    #[test]
    fn rust_items_and_impl_methods() {
        let chunks = chunk("src/search.rs", "rust", RUST, 8);
        assert_eq!(
            spans(&chunks),
            [
                (1, 4, None),
                (6, 10, Some("struct Searcher")),
                (12, 16, Some("impl Searcher > fn new")),
                (18, 25, Some("impl Searcher > fn search_slice")),
                (26, 29, Some("impl Searcher > fn search_slice")),
                (31, 35, Some("impl fmt::Display for Searcher")),
            ]
        );
        // The doc comment and the attribute stay with the struct and the method.
        assert!(chunks[1].text.starts_with("/// A searcher.\n#[derive(Debug)]\npub struct Searcher {"));
        assert!(chunks[3].text.starts_with("    /// Searches a slice.\n    #[inline]\n"));
        // With the default size, a definition that fits is one chunk; small items (up to a
        // quarter of the size) merge with their neighbours.
        let chunks = chunk("src/search.rs", "rust", RUST, 40);
        assert_eq!(
            spans(&chunks),
            [(1, 10, None), (12, 29, Some("impl Searcher")), (31, 35, Some("impl fmt::Display for Searcher"))]
        );
    }

    #[test]
    fn python_class_methods_and_decorators() {
        let chunks = chunk("session.py", "python", PYTHON, 8);
        assert_eq!(
            spans(&chunks),
            [
                (1, 2, None),
                (5, 9, Some("class Session")),
                (11, 13, Some("class Session > def __init__")),
                (15, 20, Some("class Session > def request")),
                (23, 24, Some("def main")),
            ]
        );
        assert!(chunks[1].text.starts_with("@dataclass\nclass Session(Base):\n"));
        assert!(chunks[3].text.starts_with("    @retry(times=3)\n    def request("));
    }

    #[test]
    fn go_functions_methods_and_types() {
        let chunks = chunk("cmd.go", "go", GO, 8);
        assert_eq!(
            spans(&chunks),
            [
                (1, 6, None),
                (8, 12, Some("type Command")),
                (14, 21, Some("func (c *Command) Execute")),
                (23, 26, Some("func main"))
            ]
        );
        assert!(chunks[2].text.starts_with("// Execute runs the command.\nfunc (c *Command) Execute() error {"));
    }

    #[test]
    fn javascript_classes_and_arrow_functions() {
        let chunks = chunk("store.js", "javascript", JAVASCRIPT, 8);
        assert_eq!(
            spans(&chunks),
            [
                (1, 1, None),
                (3, 8, Some("class Store > method constructor")),
                (10, 12, Some("class Store > method get")),
                (14, 21, Some("class Store > method load")),
                (23, 27, Some("function handler")),
            ]
        );
        assert!(chunks[1].text.starts_with("/** A store of values. */\nexport class Store {\n  constructor(path) {"));
    }

    #[test]
    fn typescript_interfaces_classes_and_tsx() {
        let chunks = chunk("retriever.ts", "typescript", TYPESCRIPT, 8);
        assert_eq!(
            spans(&chunks),
            [
                (1, 1, None),
                (3, 6, Some("interface Retriever")),
                (8, 9, Some("class HybridRetriever")),
                (11, 15, Some("class HybridRetriever > method search")),
                (17, 18, Some("class HybridRetriever > method close")),
                (20, 22, Some("function fuse")),
            ]
        );
        // `.tsx` files are parsed with the TSX grammar: JSX is not an error.
        let chunks = chunk("App.tsx", "typescript", TSX, 8);
        assert_eq!(spans(&chunks), [(1, 1, None), (3, 10, Some("function App"))]);
    }

    #[test]
    fn java_class_members() {
        let chunks = chunk("Session.java", "java", JAVA, 8);
        assert_eq!(
            spans(&chunks),
            [
                (1, 3, None),
                (5, 8, Some("class Session")),
                (10, 12, Some("class Session > constructor Session")),
                (14, 21, Some("class Session > method request")),
                (22, 22, Some("class Session")),
            ]
        );
        // Javadoc and annotations stay with the class and the method.
        assert!(chunks[1].text.starts_with("/** A session. */\n@Immutable\npublic class Session {"));
        assert!(chunks[3].text.starts_with("    @Override\n"));
    }

    #[test]
    fn c_functions_and_structs() {
        let chunks = chunk("point.c", "c", C, 8);
        assert_eq!(
            spans(&chunks),
            [
                (1, 2, None),
                (4, 7, Some("struct point")),
                (9, 15, Some("function add")),
                (17, 21, Some("function main"))
            ]
        );
        assert!(chunks[2].text.starts_with("/* Adds two points. */\n"));
    }

    #[test]
    fn cpp_namespaces_classes_and_methods() {
        let chunks = chunk("index.cpp", "cpp", CPP, 8);
        assert_eq!(
            spans(&chunks),
            [
                (1, 1, None),
                (3, 7, Some("namespace ragops > class Index")),
                (9, 15, Some("namespace ragops > class Index > function search")),
                (17, 19, Some("namespace ragops > class Index")),
                (21, 25, Some("namespace ragops > function Index::count")),
            ]
        );
    }

    #[test]
    fn ruby_php_and_csharp_symbols() {
        let chunks = chunk("session.rb", "ruby", RUBY, 6);
        assert_eq!(
            spans(&chunks),
            [
                (1, 1, None),
                (3, 7, Some("module Ragops > class Session > def initialize")),
                (9, 14, Some("module Ragops > class Session > def request")),
                (15, 15, Some("module Ragops")),
            ]
        );
        let chunks = chunk("Session.php", "php", PHP, 6);
        assert_eq!(
            spans(&chunks),
            [(1, 4, None), (6, 7, Some("class Session")), (8, 13, Some("class Session > function request"))]
        );
        let chunks = chunk("Session.cs", "csharp", CSHARP, 6);
        assert_eq!(
            spans(&chunks),
            [
                (1, 1, None),
                (3, 6, Some("namespace Ragops > class Session")),
                (7, 12, Some("namespace Ragops > class Session > method Request")),
                (13, 13, Some("namespace Ragops")),
            ]
        );
    }

    #[test]
    fn nested_definitions_give_nested_paths() {
        let text = "\
mod outer {
    pub struct Searcher;

    impl Searcher {
        pub fn search_slice(&self) -> usize {
            let a = 1;
            let b = 2;
            a + b
        }

        pub fn other(&self) -> usize {
            let c = 3;
            c
        }
    }
}
";
        let chunks = chunk("a.rs", "rust", text, 6);
        let symbols: Vec<_> = chunks.iter().map(|c| c.symbol.as_deref()).collect();
        assert!(symbols.contains(&Some("mod outer > impl Searcher > fn search_slice")), "{symbols:?}");
        assert!(symbols.contains(&Some("mod outer > impl Searcher > fn other")), "{symbols:?}");
        let text = "\
class Outer:
    class Inner:
        def method(self):
            a = 1
            b = 2
            return a + b

        def other(self):
            return 3
";
        let chunks = chunk("a.py", "python", text, 5);
        let symbols: Vec<_> = chunks.iter().map(|c| c.symbol.as_deref()).collect();
        assert!(symbols.contains(&Some("class Outer > class Inner > def method")), "{symbols:?}");
    }

    #[test]
    fn too_large_function_is_split_within_limits() {
        let body: String =
            (0..100).map(|i| format!("    let v{i} = compute({i}, \"some text to make it longer\");\n")).collect();
        let text = format!("use std::fmt;\n\n/// Big.\nfn big() {{\n{body}}}\n\nfn small() {{}}\n");
        for (size, max_bytes) in [(10, 8192), (40, 1024), (30, 8192)] {
            let chunks = chunker(size, 0, max_bytes).chunk("a.rs", "rust", &text);
            assert_valid(&text, &chunks, size as usize, false, max_bytes as usize);
            let big: Vec<_> = chunks.iter().filter(|c| c.symbol.as_deref() == Some("fn big")).collect();
            assert!(big.len() >= 3, "{size}/{max_bytes}: {:?}", spans(&chunks));
            assert!(big[0].text.starts_with("/// Big.\nfn big() {\n"));
            assert!(big.iter().all(|c| c.lines.end - c.lines.start < size && c.text.len() <= max_bytes as usize));
            assert_eq!(chunks.last().map(|c| c.symbol.as_deref()), Some(Some("fn small")));
        }
        // Windows inside a definition repeat `chunk_overlap` lines, as the line chunker does.
        let chunks = chunker(10, 2, 8192).chunk("a.rs", "rust", &text);
        assert_valid(&text, &chunks, 10, true, 8192);
        let big: Vec<_> = chunks.iter().filter(|c| c.symbol.as_deref() == Some("fn big")).collect();
        assert_eq!((big[0].lines.start, big[0].lines.end, big[1].lines.start), (3, 12, 11));
    }

    #[test]
    fn small_neighbours_are_merged() {
        let text = "\
use std::io;
use std::fmt;

const A: u32 = 1;
const B: u32 = 2;

fn one() -> u32 {
    A
}

fn two() -> u32 {
    B
}

fn long() -> u32 {
    let x = 1;
    let x = x + 1;
    let x = x + 1;
    let x = x + 1;
    let x = x + 1;
    let x = x + 1;
    let x = x + 1;
    let x = x + 1;
    let x = x + 1;
    let x = x + 1;
    x
}

fn three() -> u32 {
    3
}
fn four() -> u32 {
    4
}
";
        let chunks = chunk("a.rs", "rust", text, 40);
        // Imports, constants and small functions merge (the chunk carries its first item's
        // symbol: none for a `use`); a definition of more than a quarter of the size stands alone.
        assert_eq!(spans(&chunks), [(1, 13, None), (15, 27, Some("fn long")), (29, 34, Some("fn three"))]);
        // The merged chunk stops at the size limit.
        let chunks = chunk("a.rs", "rust", text, 8);
        assert_eq!(chunks[0].lines, LineRange::new(1, 5));
        assert_eq!(chunks[1].symbol.as_deref(), Some("fn one"));
    }

    #[test]
    fn garbage_falls_back_to_lines() {
        let text = "\
Lorem ipsum dolor sit amet, consectetur adipiscing elit.
}}} fn ((( ;; ] [ <<>> impl
@@@ ### $$$ !!! fn fn fn struct { { {
))) let let = = = ;
Sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.
";
        let lines = LineChunker::new(&ChunkingConfig { chunk_size: 2, chunk_overlap: 0, max_chunk_bytes: 8192 });
        for language in ["rust", "python", "go", "java", "c"] {
            let chunks = chunk("a.x", language, text, 2);
            assert_eq!(spans(&chunks), [(1, 2, None), (3, 4, None), (5, 5, None)], "{language}");
            let expected: Vec<_> = lines.chunk("a.x", language, text).into_iter().map(|c| c.text).collect();
            assert_eq!(chunks.into_iter().map(|c| c.text).collect::<Vec<_>>(), expected);
            assert!(chunker(2, 0, 8192).structured("a.x", language, text).is_none(), "{language}");
        }
    }

    #[test]
    fn a_local_syntax_error_keeps_the_structure() {
        let text = "\
fn good() -> u32 {
    1
}

fn broken( {
    let = ;
}

fn also_good() -> u32 {
    2
}
";
        assert!(chunker(3, 0, 8192).structured("a.rs", "rust", text).is_some());
        let chunks = chunk("a.rs", "rust", text, 3);
        let symbols: Vec<_> = chunks.iter().filter_map(|c| c.symbol.as_deref()).collect();
        assert!(symbols.contains(&"fn good") && symbols.contains(&"fn also_good"), "{symbols:?}");
    }

    #[test]
    fn other_languages_use_line_windows() {
        let text = "# Title\n\nSome prose.\n\n## Section\n\nMore prose.\n";
        let expected = LineChunker::new(&ChunkingConfig { chunk_size: 3, chunk_overlap: 1, max_chunk_bytes: 8192 })
            .chunk("README.md", "markdown", text);
        let chunks = chunker(3, 1, 8192).chunk("README.md", "markdown", text);
        assert_eq!(
            chunks.iter().map(|c| (c.lines, c.text.as_str())).collect::<Vec<_>>(),
            expected.iter().map(|c| (c.lines, c.text.as_str())).collect::<Vec<_>>()
        );
        assert!(chunks.iter().all(|c| c.symbol.is_none()));
    }

    #[test]
    fn oversized_files_are_not_parsed() {
        let text = "fn a() {}\n".repeat(MAX_PARSE_BYTES / 10 + 1);
        let chunks = chunker(40, 0, 8192).chunk("big.rs", "rust", &text);
        assert!(chunks.iter().all(|c| c.symbol.is_none()));
        assert_eq!(chunks.len(), text.lines().count().div_ceil(40));
    }

    #[test]
    fn c_headers_may_be_cpp() {
        let text = "\
#pragma once
namespace ragops {
class Index {
 public:
  int search(const char* q) const { return 0; }
  virtual ~Index() = default;
  template <typename T> T get() const;
};
}
";
        let chunks = chunk("index.h", "c", text, 40);
        assert_eq!(spans(&chunks), [(1, 9, None)]);
        let chunks = chunk("index.h", "c", text, 5);
        assert!(
            chunks.iter().any(|c| c.symbol.as_deref() == Some("namespace ragops > class Index")),
            "{:?}",
            spans(&chunks)
        );
    }

    #[test]
    fn edge_cases() {
        let c = chunker(4, 0, 64);
        assert!(c.chunk("a.rs", "rust", "").is_empty());
        assert!(c.chunk("a.rs", "rust", "\n\n  \n").is_empty());
        // No trailing newline, CRLF line ends, a comment-only file.
        for text in ["fn a() {}\nfn b() {}", "fn a() {\r\n    1\r\n}\r\n\r\nfn b() {}\r\n", "// only\n// comments\n"] {
            let chunks = c.chunk("a.rs", "rust", text);
            assert_valid(text, &chunks, 4, false, 64);
        }
        // A line longer than `max_chunk_bytes` is a chunk of its own, as with the line chunker.
        let text = format!("fn a() {{}}\nconst LONG: &str = \"{}\";\nfn b() {{}}\n", "x".repeat(200));
        let chunks = c.chunk("a.rs", "rust", &text);
        assert_valid(&text, &chunks, 4, false, 64);
        assert_eq!(chunks.iter().map(|c| (c.lines.start, c.lines.end)).collect::<Vec<_>>(), [(1, 1), (2, 2), (3, 3)]);
    }

    #[test]
    fn every_line_is_covered_at_any_size() {
        for (path, language, text) in samples() {
            for size in 1..=12 {
                for max_bytes in [40, 100, 8192] {
                    for overlap in [0, size / 2] {
                        let chunks = chunker(size, overlap, max_bytes).chunk(path, language, text);
                        assert_valid(text, &chunks, size as usize, overlap > 0, max_bytes as usize);
                    }
                }
            }
        }
    }

    #[test]
    fn supported_languages() {
        for language in
            ["rust", "python", "go", "javascript", "typescript", "java", "c", "cpp", "ruby", "php", "csharp"]
        {
            assert!(supports(language), "{language}");
        }
        for language in ["text", "markdown", "kotlin", "toml", ""] {
            assert!(!supports(language), "{language}");
        }
    }

    #[test]
    fn shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<CodeChunker>();
        let c = chunker(8, 0, 8192);
        let expected: Vec<Vec<Chunk>> = samples().into_iter().map(|(p, l, t)| c.chunk(p, l, t)).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        for _ in 0..3 {
                            let got: Vec<Vec<Chunk>> =
                                samples().into_iter().map(|(p, l, t)| c.chunk(p, l, t)).collect();
                            assert_eq!(got, expected);
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.join().unwrap();
            }
        });
    }

    #[test]
    fn odd_inputs_never_panic() {
        let deep = format!("fn a() {{\n{}{}\n}}\n", "{(".repeat(500), ")}".repeat(500));
        let minified = format!("function a(){{{}}}\n", "var x=[1,2,{a:function(){return 1}}];".repeat(300));
        let many_lines = format!("class A {{\n{}}}\n", "  m() {}\n".repeat(1000));
        let odd = [
            "\n\n\nfn\n",
            "\u{0}\u{0}\u{1}",
            "é✓ — ünïcödé 🦀\n",
            "}\n}\n}\n",
            "\r\r\r\nx",
            deep.as_str(),
            minified.as_str(),
            many_lines.as_str(),
        ];
        for language in
            ["rust", "python", "go", "javascript", "typescript", "java", "c", "cpp", "ruby", "php", "csharp"]
        {
            for text in odd {
                let chunks = chunker(10, 3, 256).chunk("odd.x", language, text);
                assert_valid(text, &chunks, 10, true, 256);
            }
        }
    }
}
