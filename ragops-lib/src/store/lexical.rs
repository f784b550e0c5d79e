//! The lexical leg inside a segment: BM25F over four fields of every chunk — its text, its
//! file's path, its enclosing symbol path, and its file's past commit messages — with
//! code-aware tokens
//! ([`crate::lexical::tokenize`]).
//!
//! A segment's lexical index is immutable like the rest of the segment: a sorted term
//! dictionary (`lexdict.bin`: term, document frequency, postings offset) with per-chunk field
//! lengths, and a postings file (`postings.bin`: per term, varint ordinal deltas with the term's
//! frequency in each field). Deleted chunks are tombstoned by the segment; statistics (N, df,
//! average lengths) are summed over the live segments at query time, so a scan never rewrites
//! another segment's postings.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use hashbrown::HashTable;

use crate::lexical::{TermTable, TextTerms, table_hash, tokenize};
use crate::model::Chunk;

/// Number of fields: text, path, symbol, history.
pub(crate) const FIELD_COUNT: usize = 4;
/// The history field's index (file-level: the same for every chunk of a file).
pub(crate) const HISTORY_FIELD: usize = 3;

/// BM25F parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct LexicalParams {
    /// Term-frequency saturation.
    pub k1: f32,
    /// Length normalisation per field (text, path, symbol, history).
    pub b: [f32; FIELD_COUNT],
    /// Field weights (text, path, symbol, history).
    pub weights: [f32; FIELD_COUNT],
    /// Weight of an identifier's parts relative to whole identifiers, in documents and queries.
    pub part_weight: f32,
    /// Query weight of vague change words ("fix", "add", "now", ...).
    pub vague_weight: f32,
}

impl Default for LexicalParams {
    fn default() -> Self {
        LexicalParams {
            k1: 2.0,
            b: [0.75, 0.3, 0.3, 0.5],
            weights: [1.0, 3.0, 4.0, 1.0],
            part_weight: 1.0,
            vague_weight: 0.3,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct TermEntry {
    pub(crate) term: String,
    pub(crate) df: u32,
    /// Chunks with the term outside the history field: the df of the term's idf, so that
    /// commit-message words in histories do not change how rare a word of the code is.
    pub(crate) df_core: u32,
    pub(crate) offset: u64,
    pub(crate) len: u32,
}

/// The dictionary and per-chunk field lengths of one segment.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct LexDict {
    pub(crate) terms: Vec<TermEntry>,
    /// Per chunk, token count per field.
    pub(crate) lengths: Vec<[u32; FIELD_COUNT]>,
    /// Sum of `lengths` per field.
    pub(crate) totals: [u64; FIELD_COUNT],
}

/// A term's frequency in each field.
pub(crate) type FieldFreqs = [u32; FIELD_COUNT];
/// One posting: a chunk ordinal and the term's frequencies in it.
pub(crate) type Posting = (u32, FieldFreqs);

/// A file's summed frequencies of a term, its best chunk, and that chunk's frequency.
pub(crate) type FileFreqs = (FieldFreqs, u32, u32);

use crate::fxhash::FxBuild;

/// One chunk's analysed terms: its distinct terms (packed into one string) with their
/// frequency in each field, and the field lengths.
#[derive(Debug, Default)]
pub(crate) struct ChunkTerms {
    text: String,
    /// Per term: where it ends in `text`, its frequencies, and its [`fnv1a64`](crate::lexical::fnv1a64).
    terms: Vec<(u32, [u32; FIELD_COUNT], u64)>,
    lengths: [u32; FIELD_COUNT],
}

impl ChunkTerms {
    /// Each distinct term with its frequency in each field.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &[u32; FIELD_COUNT])> {
        self.iter_hashed().map(|(term, tf, _)| (term, tf))
    }

    /// [`iter`](Self::iter) with each term's [`fnv1a64`](crate::lexical::fnv1a64).
    fn iter_hashed(&self) -> impl Iterator<Item = (&str, &[u32; FIELD_COUNT], u64)> {
        let mut start = 0usize;
        self.terms.iter().map(move |(end, tf, hash)| {
            let term = &self.text[start..*end as usize];
            start = *end as usize;
            (term, tf, *hash)
        })
    }
}

/// Counts a chunk's terms without allocating per term: every thread keeps the terms it has
/// seen (a [`TermTable`]: each distinct identifier is split once), and a chunk's counts are
/// kept by term id.
#[derive(Default)]
struct Analyzer {
    table: TermTable,
    /// Per term id, the current chunk's frequencies (zero outside `touched`).
    counts: Vec<[u32; FIELD_COUNT]>,
    touched: Vec<u32>,
    /// Places in `touched`, by [`table_hash`] of their term's hash: merges a text's counted
    /// tokens with the other fields' without interning each of them.
    merge: HashTable<u32>,
    merged: Vec<bool>,
}

/// An analyzer forgets its words past this many (memory stays bounded on huge corpora).
const MAX_ANALYZER_WORDS: usize = 1 << 20;

thread_local! {
    static ANALYZER: std::cell::RefCell<Analyzer> = std::cell::RefCell::new(Analyzer::default());
}

/// Adds `n` occurrences of term `id` in `field` to the current chunk's counts.
fn count(counts: &mut Vec<[u32; FIELD_COUNT]>, touched: &mut Vec<u32>, id: u32, field: usize, n: u32) {
    let slot = id as usize;
    if slot >= counts.len() {
        counts.resize(slot + 1, [0; FIELD_COUNT]);
    }
    let c = &mut counts[slot];
    if c.iter().all(|&f| f == 0) {
        touched.push(id);
    }
    c[field] += n;
}

impl Analyzer {
    /// The chunk's terms so far, resetting the counts for the next chunk.
    fn take(&mut self, lengths: [u32; FIELD_COUNT]) -> ChunkTerms {
        let mut out = ChunkTerms { lengths, ..Default::default() };
        out.terms.reserve(self.touched.len());
        for id in self.touched.drain(..) {
            out.text.push_str(self.table.text(id));
            out.terms.push((out.text.len() as u32, std::mem::take(&mut self.counts[id as usize]), self.table.hash(id)));
        }
        out
    }

    /// [`take`](Self::take) with the text's counted tokens (field 0) merged in: the other
    /// fields' few terms go in a small table, the text's are looked up there by their hash.
    fn take_with(&mut self, lengths: [u32; FIELD_COUNT], text: &TextTerms) -> ChunkTerms {
        let Analyzer { table, counts, touched, merge, merged } = self;
        merge.clear();
        merged.clear();
        merged.resize(touched.len(), false);
        for (place, &id) in touched.iter().enumerate() {
            merge.insert_unique(table_hash(table.hash(id)), place as u32, |&p| {
                table_hash(table.hash(touched[p as usize]))
            });
        }
        let mut out = ChunkTerms { lengths, ..Default::default() };
        out.terms.reserve(text.len() + touched.len());
        for (term, hash, n, _whole) in text.iter_hashed() {
            let mut tf = [0; FIELD_COUNT];
            if let Some(&place) = merge.find(table_hash(hash), |&p| table.text(touched[p as usize]) == term) {
                tf = counts[touched[place as usize] as usize];
                merged[place as usize] = true;
            }
            tf[0] += n;
            out.text.push_str(term);
            out.terms.push((out.text.len() as u32, tf, hash));
        }
        for (place, id) in touched.drain(..).enumerate() {
            let tf = std::mem::take(&mut counts[id as usize]);
            if !merged[place] {
                out.text.push_str(table.text(id));
                out.terms.push((out.text.len() as u32, tf, table.hash(id)));
            }
        }
        out
    }

    /// The tokens of one field, counted by term id.
    fn field_tokens(&mut self, text: &str, path: bool) -> FieldTokens {
        let mut counts: HashMap<u32, u32, FxBuild> = HashMap::default();
        let mut len = 0;
        let mut add = |id: u32, _whole: bool| {
            len += 1;
            *counts.entry(id).or_default() += 1;
        };
        if path {
            self.table.for_each_token(&text.replace(['/', '\\', '.', '-'], " "), &mut add);
        } else {
            self.table.for_each_token(text, &mut add);
        }
        FieldTokens { counts: counts.into_iter().collect(), len }
    }
}

/// Tokens of one field, counted by term id.
#[derive(Debug, Default, Clone)]
struct FieldTokens {
    counts: Vec<(u32, u32)>,
    len: u32,
}

/// Tokenizes a chunk's fields (pure: runs in parallel before the chunks are added in order).
#[cfg(test)]
pub(crate) fn analyze(chunk: &Chunk, history: Option<&str>) -> ChunkTerms {
    analyze_chunks([(chunk, None)], history).pop().unwrap_or_default()
}

/// Tokenizes the fields of a file's chunks; the path and history fields, the same for every
/// chunk of a file, are tokenized once, and a text whose tokens the scan already counted
/// (`Some` terms) is not tokenized again.
pub(crate) fn analyze_chunks<'c>(
    chunks: impl IntoIterator<Item = (&'c Chunk, Option<&'c TextTerms>)>,
    history: Option<&str>,
) -> Vec<ChunkTerms> {
    let mut out = Vec::new();
    ANALYZER.with_borrow_mut(|analyzer| {
        // Only between files: the path's and history's term ids live through the file.
        if analyzer.table.size() > MAX_ANALYZER_WORDS {
            *analyzer = Analyzer::default();
        }
        let history = analyzer.field_tokens(history.unwrap_or_default(), false);
        let mut path: Option<(&str, FieldTokens)> = None;
        for (chunk, text_terms) in chunks {
            if path.as_ref().is_none_or(|(p, _)| *p != chunk.path) {
                path = Some((&chunk.path, analyzer.field_tokens(&chunk.path, true)));
            }
            let mut lengths = [0u32; FIELD_COUNT];
            let Analyzer { table, counts, touched, .. } = analyzer;
            match text_terms {
                // Merged in `take`.
                Some(terms) => lengths[0] = terms.tokens(),
                None => table.for_each_token(&chunk.text, |id, _whole| {
                    lengths[0] += 1;
                    count(counts, touched, id, 0, 1);
                }),
            }
            table.for_each_token(chunk.symbol.as_deref().unwrap_or_default(), |id, _whole| {
                lengths[2] += 1;
                count(counts, touched, id, 2, 1);
            });
            for (field, tokens) in [(1, path.as_ref().map(|(_, t)| t)), (HISTORY_FIELD, Some(&history))] {
                let Some(tokens) = tokens else { continue };
                lengths[field] += tokens.len;
                for &(id, n) in &tokens.counts {
                    count(counts, touched, id, field, n);
                }
            }
            out.push(match text_terms {
                Some(terms) => analyzer.take_with(lengths, terms),
                None => analyzer.take(lengths),
            });
        }
    });
    out
}

/// Builds a segment's lexical index as chunks are added (serially, in ordinal order: so the
/// terms come with their hashes, computed on the analysing threads).
#[derive(Default)]
pub(crate) struct LexicalBuilder {
    /// Indices into `terms`, by [`table_hash`] of their text's [`fnv1a64`](crate::lexical::fnv1a64).
    index: HashTable<u32>,
    /// Per term: its text, its [`fnv1a64`](crate::lexical::fnv1a64), its postings.
    terms: Vec<(String, u64, Vec<Posting>)>,
    lengths: Vec<[u32; FIELD_COUNT]>,
}

impl std::fmt::Debug for LexicalBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LexicalBuilder").field("terms", &self.terms.len()).field("chunks", &self.lengths.len()).finish()
    }
}

impl LexicalBuilder {
    #[cfg(test)]
    pub(crate) fn add(&mut self, ord: u32, chunk: &Chunk, history: Option<&str>) {
        self.add_terms(ord, analyze(chunk, history));
    }

    /// Adds chunk `ord`'s analysed terms; chunks must come in ordinal order.
    pub(crate) fn add_terms(&mut self, ord: u32, terms: ChunkTerms) {
        for (term, tf, hash) in terms.iter_hashed() {
            let known = &self.terms;
            match self.index.find(table_hash(hash), |&i| known[i as usize].0 == term) {
                Some(&i) => self.terms[i as usize].2.push((ord, *tf)),
                None => {
                    let i = self.terms.len() as u32;
                    self.terms.push((term.to_string(), hash, vec![(ord, *tf)]));
                    let known = &self.terms;
                    self.index.insert_unique(table_hash(hash), i, |&i| table_hash(known[i as usize].1));
                }
            }
        }
        debug_assert_eq!(self.lengths.len(), ord as usize);
        self.lengths.push(terms.lengths);
    }

    /// Serialises into (dictionary bytes, postings bytes).
    pub(crate) fn finish(self) -> (LexDict, Vec<u8>) {
        use rayon::prelude::*;
        let mut sorted = self.terms;
        sorted.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
        // Encoded in parallel, a block of terms each, then put end to end (the commit waits
        // for this).
        const BLOCK: usize = 8192;
        let blocks: Vec<(Vec<TermEntry>, Vec<u8>)> = sorted
            .par_chunks_mut(BLOCK)
            .map(|block| {
                let mut postings = Vec::new();
                let mut terms = Vec::with_capacity(block.len());
                for (term, _, list) in block {
                    let offset = postings.len() as u64;
                    let mut prev = 0u32;
                    for (ord, tf) in list.iter() {
                        write_varint(&mut postings, u64::from(ord - prev));
                        prev = *ord;
                        for f in tf {
                            write_varint(&mut postings, u64::from(*f));
                        }
                    }
                    let df_core =
                        list.iter().filter(|(_, tf)| tf[..HISTORY_FIELD].iter().any(|&f| f > 0)).count() as u32;
                    terms.push(TermEntry {
                        term: std::mem::take(term),
                        df: list.len() as u32,
                        df_core,
                        offset,
                        len: (postings.len() as u64 - offset) as u32,
                    });
                }
                (terms, postings)
            })
            .collect();
        let mut postings = Vec::with_capacity(blocks.iter().map(|b| b.1.len()).sum());
        let mut terms = Vec::with_capacity(sorted.len());
        for (block_terms, block_postings) in blocks {
            let base = postings.len() as u64;
            terms.extend(block_terms.into_iter().map(|t| TermEntry { offset: t.offset + base, ..t }));
            postings.extend_from_slice(&block_postings);
        }
        let mut totals = [0u64; FIELD_COUNT];
        for l in &self.lengths {
            for f in 0..FIELD_COUNT {
                totals[f] += u64::from(l[f]);
            }
        }
        (LexDict { terms, lengths: self.lengths, totals }, postings)
    }
}

impl LexDict {
    pub(crate) fn lookup(&self, term: &str) -> Option<&TermEntry> {
        self.terms.binary_search_by(|e| e.term.as_str().cmp(term)).ok().map(|i| &self.terms[i])
    }
}

/// Decodes one term's postings: `(ordinal, tf per field)`.
pub(crate) fn decode_postings(bytes: &[u8]) -> Option<Vec<Posting>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut ord = 0u32;
    while pos < bytes.len() {
        let delta = read_varint(bytes, &mut pos)?;
        ord = ord.checked_add(u32::try_from(delta).ok()?)?;
        let mut tf = [0u32; FIELD_COUNT];
        for f in &mut tf {
            *f = u32::try_from(read_varint(bytes, &mut pos)?).ok()?;
        }
        out.push((ord, tf));
    }
    Some(out)
}

/// A query's distinct terms with their weights (whole identifiers 1, parts `part_weight`).
pub(crate) fn query_terms(text: &str, part_weight: f32, vague_weight: f32) -> Vec<(String, f32)> {
    let mut terms: BTreeMap<String, f32> = BTreeMap::new();
    for t in tokenize(text) {
        let w = if !t.whole {
            part_weight
        } else if VAGUE_WORDS.binary_search(&t.text.as_str()).is_ok() {
            vague_weight
        } else {
            1.0
        };
        let e = terms.entry(t.text).or_insert(0.0);
        *e = e.max(w);
    }
    terms.into_iter().collect()
}

/// Words that say a change happened rather than what it is about ("fix", "add", "now", ...):
/// common in requests and commit messages, rare in code, so plain IDF would overrate them.
/// Sorted: looked up by binary search.
const VAGUE_WORDS: &[&str] = &[
    "add",
    "added",
    "adding",
    "adds",
    "allow",
    "allowed",
    "allows",
    "also",
    "avoid",
    "better",
    "change",
    "changed",
    "changes",
    "correctly",
    "ensure",
    "fix",
    "fixed",
    "fixes",
    "fixing",
    "improve",
    "improved",
    "improves",
    "instead",
    "made",
    "make",
    "makes",
    "now",
    "properly",
    "update",
    "updated",
    "updates",
    "use",
    "used",
    "uses",
    "using",
];

/// Lucene's BM25 idf.
pub(crate) fn idf(n: f64, df: f64) -> f32 {
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln() as f32
}

/// BM25F: one term's contribution for one chunk.
pub(crate) fn bm25f(
    tf: &[u32; FIELD_COUNT],
    len: &[u32; FIELD_COUNT],
    avg: &[f32; FIELD_COUNT],
    idf: f32,
    p: &LexicalParams,
) -> f32 {
    let mut weighted = 0.0f32;
    for f in 0..FIELD_COUNT {
        if tf[f] == 0 {
            continue;
        }
        let norm = 1.0 - p.b[f] + p.b[f] * (len[f] as f32 / avg[f].max(1e-6));
        weighted += p.weights[f] * tf[f] as f32 / norm.max(1e-6);
    }
    idf * weighted * (p.k1 + 1.0) / (p.k1 + weighted)
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LineRange;

    #[test]
    fn postings_round_trip() {
        let mut b = LexicalBuilder::default();
        b.add(0, &Chunk::new("src/retry.rs", LineRange::new(1, 2), "rust", "fn retry() { retry() }"), None);
        b.add(
            1,
            &Chunk::new("src/x.rs", LineRange::new(1, 2), "rust", "let y = 1;").with_symbol(Some("fn retry".into())),
            Some("Retry harder"),
        );
        b.add(2, &Chunk::new("src/z.rs", LineRange::new(1, 1), "rust", "let z = 2;"), Some("retry once"));
        let (dict, postings) = b.finish();
        let e = dict.lookup("retry").unwrap();
        assert_eq!((e.df, e.df_core), (3, 2), "history-only matches do not count in df_core");
        let list = decode_postings(&postings[e.offset as usize..(e.offset + u64::from(e.len)) as usize]).unwrap();
        assert_eq!(list, vec![(0, [2, 1, 0, 0]), (1, [0, 0, 1, 1]), (2, [0, 0, 0, 1])]);
        assert!(dict.lookup("absent").is_none());
        assert_eq!(dict.lengths.len(), 3);
    }

    #[test]
    fn varints_survive_large_values_and_reject_truncation() {
        let mut out = Vec::new();
        write_varint(&mut out, 300_000);
        let mut pos = 0;
        assert_eq!(read_varint(&out, &mut pos), Some(300_000));
        assert_eq!(read_varint(&out[..1], &mut 0), None);
    }

    #[test]
    fn bm25f_rewards_rarer_terms_and_field_weights() {
        let p = LexicalParams::default();
        let avg = [10.0, 3.0, 2.0, 5.0];
        let len = [10, 3, 2, 5];
        let common = bm25f(&[1, 0, 0, 0], &len, &avg, idf(100.0, 50.0), &p);
        let rare = bm25f(&[1, 0, 0, 0], &len, &avg, idf(100.0, 2.0), &p);
        assert!(rare > common);
        let in_path = bm25f(&[0, 1, 0, 0], &len, &avg, idf(100.0, 2.0), &p);
        assert!(in_path > rare, "path weight 2 beats text weight 1");
    }

    #[test]
    fn vague_words_are_sorted_and_weighted_down() {
        let mut sorted = VAGUE_WORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, VAGUE_WORDS);
        assert_eq!(query_terms("fix retry", 1.0, 0.3), vec![("fix".into(), 0.3), ("retry".into(), 1.0)]);
    }

    #[test]
    fn query_terms_keep_the_strongest_weight() {
        let t = query_terms("retry_backoff retry", 0.5, 1.0);
        assert_eq!(t, vec![("backoff".into(), 0.5), ("retry".into(), 1.0), ("retry_backoff".into(), 1.0)]);
    }

    #[test]
    fn shared_file_fields_count_as_per_chunk_tokenization_did() {
        use crate::lexical::tokenize_path;
        let chunks = [
            Chunk::new(
                "src/http_client/retryPolicy.rs",
                LineRange::new(1, 2),
                "rust",
                "fn retry_backoff() { retry() }",
            )
            .with_symbol(Some("impl Client > fn retry_backoff".into())),
            Chunk::new("src/http_client/retryPolicy.rs", LineRange::new(3, 4), "rust", "let client = Client::new();"),
        ];
        let history = "Fix retry of the HTTP client";
        let counted: Vec<TextTerms> = chunks.iter().map(|c| crate::lexical::analyze(&c.text)).collect();
        let tokenized = analyze_chunks(chunks.iter().map(|c| (c, None)), Some(history));
        // A scan hands the texts' tokens counted already: the same terms.
        let from_counts = analyze_chunks(chunks.iter().zip(&counted).map(|(c, t)| (c, Some(t))), Some(history));
        assert_eq!(tokenized.len(), from_counts.len());
        for (a, b) in tokenized.iter().zip(&from_counts) {
            assert_eq!(a.iter().collect::<Vec<_>>(), b.iter().collect::<Vec<_>>());
            assert_eq!(a.lengths, b.lengths);
        }
        for (chunk, terms) in chunks.iter().zip(tokenized) {
            let mut expected: HashMap<String, [u32; FIELD_COUNT]> = HashMap::new();
            let mut lengths = [0u32; FIELD_COUNT];
            let symbol = chunk.symbol.clone().unwrap_or_default();
            for (field, tokens) in [
                (0, tokenize(&chunk.text)),
                (1, tokenize_path(&chunk.path)),
                (2, tokenize(&symbol)),
                (HISTORY_FIELD, tokenize(history)),
            ] {
                for t in tokens {
                    expected.entry(t.text).or_default()[field] += 1;
                    lengths[field] += 1;
                }
            }
            let got: HashMap<String, [u32; FIELD_COUNT]> = terms.iter().map(|(t, tf)| (t.to_string(), *tf)).collect();
            assert_eq!(got, expected);
            assert_eq!(terms.lengths, lengths);
        }
    }
}
