//! Interned tokens: each distinct identifier is split into its tokens once, and each distinct
//! token gets a small integer id, so that work per token downstream is indexing an array
//! rather than lowercasing, splitting and hashing strings again.

use hashbrown::HashTable;

use super::tokenize::{Scratch, for_each_identifier};

/// A table of the identifiers and tokens seen so far (one per thread in the hot paths).
///
/// [`for_each_token`](Self::for_each_token) yields the same tokens, in the same order, as
/// [`crate::lexical::for_each_token`], as ids into the table. Texts live in two arenas and
/// the hash tables hold offsets into them: no allocation per entry, a few bytes each.
#[derive(Default)]
pub struct TermTable {
    /// The raw identifiers seen, one after another.
    identifier_text: String,
    identifiers: HashTable<Identifier>,
    /// The tokens of every identifier: (token id, whole identifier?).
    tokens: Vec<(u32, bool)>,
    /// The distinct tokens' texts, one after another; token `id` ends at `token_ends[id]`.
    token_text: String,
    token_ends: Vec<u32>,
    /// Per token id: [`fnv1a64`] of its text.
    token_hashes: Vec<u64>,
    /// Token ids, by [`fnv1a64`] of their text (mixed: see [`bucket`]).
    ids: HashTable<u32>,
    scratch: Scratch,
    /// [`analyze`](Self::analyze)'s buffers: the text's tokens, and per token id 1 + its place
    /// among the distinct tokens and among the words (0: not in the text).
    stream: Vec<(u32, bool)>,
    term_place: Vec<u32>,
    word_place: Vec<u32>,
}

/// A raw identifier (a span of `identifier_text`) and its tokens (a span of `tokens`).
#[derive(Clone, Copy)]
struct Identifier {
    text_start: u32,
    text_len: u32,
    tokens_start: u32,
    tokens_len: u32,
}

impl std::fmt::Debug for TermTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TermTable").field("identifiers", &self.identifiers.len()).field("tokens", &self.len()).finish()
    }
}

impl TermTable {
    /// Calls `f` with the id of each token of `text` and whether it is a whole identifier.
    pub fn for_each_token(&mut self, text: &str, mut f: impl FnMut(u32, bool)) {
        for_each_identifier(text, |ident| {
            let hash = hash_bytes(ident.as_bytes());
            let arena = &self.identifier_text;
            let found = self.identifiers.find(hash, |e| {
                e.text_len as usize == ident.len()
                    && &arena.as_bytes()[e.text_start as usize..(e.text_start + e.text_len) as usize]
                        == ident.as_bytes()
            });
            let (start, len) = match found {
                Some(e) => (e.tokens_start, e.tokens_len),
                None => self.add_identifier(ident, hash),
            };
            for &(id, whole) in &self.tokens[start as usize..(start + len) as usize] {
                f(id, whole);
            }
        });
    }

    /// The id of a token's text (interned if new).
    pub fn intern(&mut self, token: &str) -> u32 {
        self.intern_hashed(token, fnv1a64(token.as_bytes()))
    }

    /// [`intern`](Self::intern) of a token whose [`fnv1a64`] is known (a [`TextTerms`] carries
    /// its tokens' hashes): no hashing.
    pub fn intern_hashed(&mut self, token: &str, fnv: u64) -> u32 {
        let (text, ends) = (&self.token_text, &self.token_ends);
        if let Some(&id) = self.ids.find(bucket(fnv), |&id| token_at(text, ends, id) == token) {
            return id;
        }
        let id = self.token_ends.len() as u32;
        self.token_text.push_str(token);
        self.token_ends.push(self.token_text.len() as u32);
        self.token_hashes.push(fnv);
        let hashes = &self.token_hashes;
        self.ids.insert_unique(bucket(fnv), id, |&id| bucket(hashes[id as usize]));
        id
    }

    /// [`fnv1a64`] of token `id`'s text.
    ///
    /// # Panics
    /// If `id` was not given by this table (since its last [`clear`](Self::clear)).
    pub fn hash(&self, id: u32) -> u64 {
        self.token_hashes[id as usize]
    }

    /// The text of token `id`.
    ///
    /// # Panics
    /// If `id` was not given by this table (since its last [`clear`](Self::clear)).
    pub fn text(&self, id: u32) -> &str {
        token_at(&self.token_text, &self.token_ends, id)
    }

    /// How many distinct tokens the table holds (ids are `0..len`).
    pub fn len(&self) -> usize {
        self.token_ends.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.token_ends.is_empty()
    }

    /// How many identifiers and tokens the table remembers (to bound its memory).
    pub fn size(&self) -> usize {
        self.identifiers.len() + self.len()
    }

    /// Forgets everything: ids given before are no longer valid.
    pub fn clear(&mut self) {
        *self = TermTable::default();
    }

    /// `text`'s tokens counted (see [`TextTerms`]).
    pub fn analyze(&mut self, text: &str) -> TextTerms {
        let mut stream = std::mem::take(&mut self.stream);
        stream.clear();
        self.for_each_token(text, |id, whole| stream.push((id, whole)));
        let mut out = TextTerms { tokens: stream.len() as u32, ..TextTerms::default() };
        let places = self.len();
        self.term_place.resize(places, 0);
        self.word_place.resize(places, 0);
        for &(id, whole) in &stream {
            let place = &mut self.term_place[id as usize];
            if *place == 0 {
                out.text.push_str(token_at(&self.token_text, &self.token_ends, id));
                out.terms.push(TermCount {
                    end: out.text.len() as u32,
                    hash: self.token_hashes[id as usize],
                    count: 0,
                    whole: false,
                });
                *place = out.terms.len() as u32;
            }
            let term = &mut out.terms[*place as usize - 1];
            term.count += 1;
            term.whole |= whole;
        }
        for_each_word(
            &stream,
            |t| t.1,
            |&(id, _)| {
                let place = &mut self.word_place[id as usize];
                if *place == 0 {
                    out.words.push((self.term_place[id as usize] - 1, 0));
                    *place = out.words.len() as u32;
                }
                out.words[*place as usize - 1].1 += 1;
            },
        );
        for &(id, _) in &stream {
            self.term_place[id as usize] = 0;
            self.word_place[id as usize] = 0;
        }
        self.stream = stream;
        out
    }

    fn add_identifier(&mut self, ident: &str, hash: u64) -> (u32, u32) {
        let tokens_start = self.tokens.len() as u32;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.identifier(ident, &mut |token, whole| {
            let id = self.intern(token);
            self.tokens.push((id, whole));
        });
        self.scratch = scratch;
        let entry = Identifier {
            text_start: self.identifier_text.len() as u32,
            text_len: ident.len() as u32,
            tokens_start,
            tokens_len: self.tokens.len() as u32 - tokens_start,
        };
        self.identifier_text.push_str(ident);
        let arena = &self.identifier_text;
        self.identifiers.insert_unique(hash, entry, |e| {
            hash_bytes(&arena.as_bytes()[e.text_start as usize..(e.text_start + e.text_len) as usize])
        });
        (entry.tokens_start, entry.tokens_len)
    }
}

/// A text's tokens counted, once for every consumer: its distinct tokens in order of first
/// appearance, each with how often it occurs and whether one occurrence is a whole
/// identifier (the lexical index and the hashing part of the built-in embedder read these),
/// and the words a static embedding model reads (see [`words`](Self::words)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextTerms {
    /// The distinct tokens' texts, one after another.
    text: String,
    terms: Vec<TermCount>,
    /// Per distinct word, in order of first appearance as a word: its token (an index into
    /// `terms`) and how often it is a word.
    words: Vec<(u32, u32)>,
    tokens: u32,
}

/// One distinct token of a [`TextTerms`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TermCount {
    /// Where its text ends in [`TextTerms::text`].
    end: u32,
    /// [`fnv1a64`] of its text.
    hash: u64,
    count: u32,
    whole: bool,
}

impl TextTerms {
    /// How many tokens the text has (with repeats).
    pub fn tokens(&self) -> u32 {
        self.tokens
    }

    /// How many distinct tokens it has.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether it has no token.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The text of distinct token `i` (in order of first appearance).
    fn term(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.terms[i - 1].end as usize };
        &self.text[start..self.terms[i].end as usize]
    }

    /// Each distinct token, in order of first appearance: its text, how often it occurs, and
    /// whether one occurrence is a whole identifier.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32, bool)> {
        (0..self.terms.len()).map(|i| (self.term(i), self.terms[i].count, self.terms[i].whole))
    }

    /// [`iter`](Self::iter) with each token's [`fnv1a64`] (the `u64`).
    pub fn iter_hashed(&self) -> impl Iterator<Item = (&str, u64, u32, bool)> {
        (0..self.terms.len()).map(|i| {
            let t = self.terms[i];
            (self.term(i), t.hash, t.count, t.whole)
        })
    }

    /// The words of the text as a static embedding model reads them, distinct, in order of
    /// first appearance, with their counts: every token, except a whole identifier directly
    /// followed by its parts (the parts stand for it).
    pub fn words(&self) -> impl Iterator<Item = (&str, u32)> {
        self.words.iter().map(|&(i, n)| (self.term(i as usize), n))
    }

    /// [`words`](Self::words) with each word's [`fnv1a64`] (the `u64`).
    pub fn words_hashed(&self) -> impl Iterator<Item = (&str, u64, u32)> {
        self.words.iter().map(|&(i, n)| (self.term(i as usize), self.terms[i as usize].hash, n))
    }
}

/// `text`'s tokens counted, with this thread's [`TermTable`] (forgotten past a million
/// identifiers and tokens, so memory stays bounded).
pub fn analyze(text: &str) -> TextTerms {
    const MAX_TABLE: usize = 1 << 20;
    thread_local! {
        static TABLE: std::cell::RefCell<TermTable> = std::cell::RefCell::new(TermTable::default());
    }
    TABLE.with_borrow_mut(|table| {
        if table.size() > MAX_TABLE {
            table.clear();
        }
        table.analyze(text)
    })
}

/// Calls `f` with each word of a token stream (`whole` tells a token's kind), as a static
/// embedding model reads them: a whole identifier directly followed by a part gives the parts
/// only. One rule for [`TextTerms::words`] and the model's own path (it shapes the vectors).
pub(crate) fn for_each_word<'a, T>(tokens: &'a [T], whole: impl Fn(&T) -> bool, mut f: impl FnMut(&'a T)) {
    for (i, t) in tokens.iter().enumerate() {
        if whole(t) && tokens.get(i + 1).is_some_and(|n| !whole(n)) {
            continue;
        }
        f(t);
    }
}

/// FNV-1a (64 bits) of a token's bytes: the hash a [`TextTerms`] carries for each token (the
/// built-in embedder's feature hashing picks its buckets with it, and tables of tokens look
/// tokens up by it without hashing them again).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A hash table's hash from an [`fnv1a64`]: FNV's low bits depend only on the bytes' low bits,
/// and a hash table picks buckets with the low bits, so the high bits are folded in.
pub(crate) fn bucket(fnv: u64) -> u64 {
    (fnv ^ (fnv >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ fnv
}

fn token_at<'a>(text: &'a str, ends: &[u32], id: u32) -> &'a str {
    let end = ends[id as usize] as usize;
    let start = if id == 0 { 0 } else { ends[id as usize - 1] as usize };
    &text[start..end]
}

/// A fast hash of a short byte string (words of eight bytes, then the tail as one word);
/// these tables live in memory only, so their hash need not be stable.
fn hash_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mut h = bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let word = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    h = (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    // Fold the high bits down: hashbrown takes its bucket from the low bits.
    h ^ (h >> 29)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_what_the_tokenizer_yields() {
        let text = "parseHTTPResponse_v2 the café_Über x86_64 retry retry aNd __init__ fooBar foo_bar \
                    IOError ABCd 1st2nd _ __ σίσυφος ΣΊΣΥΦΟΣ parseHTTPResponse_v2";
        let mut table = TermTable::default();
        for _ in 0..2 {
            let mut ids = Vec::new();
            table.for_each_token(text, |id, whole| ids.push((id, whole)));
            let ids: Vec<(String, bool)> =
                ids.into_iter().map(|(id, whole)| (table.text(id).to_string(), whole)).collect();
            let expected: Vec<(String, bool)> =
                crate::lexical::tokenize(text).into_iter().map(|t| (t.text, t.whole)).collect();
            assert!(expected.len() > 20);
            assert_eq!(ids, expected);
        }
        let before = table.len();
        assert_eq!(table.intern("retry"), table.intern("retry"));
        assert_eq!(table.len(), before);
        table.clear();
        assert!(table.is_empty());
    }

    #[test]
    fn analysis_counts_tokens_and_words_in_order_of_first_appearance() {
        let text = "fooBar foo_bar retry RETRY x aNd bar";
        let terms = analyze(text);
        let tokens = crate::lexical::tokenize(text);
        assert_eq!(terms.tokens() as usize, tokens.len());
        let got: Vec<(String, u32, bool)> = terms.iter().map(|(t, n, w)| (t.to_string(), n, w)).collect();
        let want: Vec<(String, u32, bool)> = [
            ("foobar", 1, true),
            ("foo", 2, false),
            ("bar", 3, true),
            ("foo_bar", 1, true),
            ("retry", 2, true),
            ("nd", 1, false),
        ]
        .iter()
        .map(|&(t, n, w)| (t.to_string(), n, w))
        .collect();
        assert_eq!(got, want);
        // `bar` is a part twice and a whole once: one token counted 3 times, whole. `foobar`
        // and `foo_bar` are not words (their parts are); nor is the second `retry`, followed
        // by `nd`, the part of `aNd` whose whole is a stopword: the rule looks at the next
        // token only, as the static model always has.
        let words: Vec<(String, u32)> = terms.words().map(|(t, n)| (t.to_string(), n)).collect();
        assert_eq!(words, [("foo", 2), ("bar", 3), ("retry", 1), ("nd", 1)].map(|(t, n)| (t.to_string(), n)));
        assert!(analyze("  ;; {} 42 ").is_empty());
    }

    #[test]
    fn ids_survive_the_tables_growing() {
        let mut table = TermTable::default();
        let words: Vec<String> = (0..20_000).map(|i| format!("w{i}x{}", i % 7)).collect();
        let ids: Vec<u32> = words.iter().map(|w| table.intern(w)).collect();
        assert_eq!(table.len(), words.len());
        for (w, id) in words.iter().zip(&ids) {
            assert_eq!(table.text(*id), w);
            assert_eq!(table.intern(w), *id);
        }
        let text = words.join(" ");
        let mut first = Vec::new();
        table.for_each_token(&text, |id, whole| first.push((id, whole)));
        let mut again = Vec::new();
        table.for_each_token(&text, |id, whole| again.push((id, whole)));
        assert_eq!(first, again);
        assert_eq!(first.iter().filter(|t| t.1).map(|t| t.0).collect::<Vec<_>>(), ids);
    }
}
