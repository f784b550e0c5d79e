//! A code-aware tokenizer: identifiers kept whole and split on `snake_case`, `camelCase` and
//! digit boundaries, lowercased, with stopwords dropped.

/// One token and whether it is a whole identifier or a part of one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// Lowercased text.
    pub text: String,
    /// `true` for a whole identifier, `false` for a part split out of one.
    pub whole: bool,
}

/// A token borrowed from a buffer of tokens (see [`tokenize_into`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenRef<'a> {
    /// Lowercased text.
    pub text: &'a str,
    /// `true` for a whole identifier, `false` for a part split out of one.
    pub whole: bool,
}

/// A token's text and kind, owned ([`Token`]) or borrowed ([`TokenRef`]).
pub trait TokenLike {
    /// Lowercased text.
    fn text(&self) -> &str;
    /// Whether it is a whole identifier.
    fn whole(&self) -> bool;
}

impl TokenLike for Token {
    fn text(&self) -> &str {
        &self.text
    }
    fn whole(&self) -> bool {
        self.whole
    }
}

impl TokenLike for TokenRef<'_> {
    fn text(&self) -> &str {
        self.text
    }
    fn whole(&self) -> bool {
        self.whole
    }
}

/// [`tokenize`] without a `String` per token: the tokens' texts are written one after another
/// into `buffer` (cleared first), and the tokens borrow from it.
pub fn tokenize_into<'b>(text: &str, buffer: &'b mut String) -> Vec<TokenRef<'b>> {
    buffer.clear();
    let mut spans: Vec<(usize, usize, bool)> = Vec::new();
    for_each_token(text, |t, whole| {
        let start = buffer.len();
        buffer.push_str(t);
        spans.push((start, buffer.len(), whole));
    });
    let buffer: &'b str = buffer;
    spans.into_iter().map(|(s, e, whole)| TokenRef { text: &buffer[s..e], whole }).collect()
}

/// English words too common to tell chunks apart (sorted: looked up by binary search).
const STOPWORDS: &[&str] = &[
    "a", "all", "an", "and", "any", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for", "from", "has",
    "have", "how", "if", "in", "into", "is", "it", "its", "no", "not", "of", "on", "or", "so", "that", "the", "their",
    "then", "there", "these", "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "why",
    "will", "with", "you",
];

/// The stopwords packed as integers (see [`pack`]), sorted: the lookup compares integers
/// instead of strings (it runs for every token of every chunk).
const PACKED_STOPWORDS: [u64; STOPWORDS.len()] = {
    let mut out = [0u64; STOPWORDS.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = pack(STOPWORDS[i].as_bytes());
        i += 1;
    }
    // Insertion sort (a const context has no `sort`).
    let mut i = 1;
    while i < out.len() {
        let mut j = i;
        while j > 0 && out[j - 1] > out[j] {
            let t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
            j -= 1;
        }
        i += 1;
    }
    out
};

/// A word of at most 7 bytes as one integer: its bytes, then its length in the top byte.
const fn pack(word: &[u8]) -> u64 {
    let mut v = 0u64;
    let mut i = 0;
    while i < word.len() {
        v = (v << 8) | word[i] as u64;
        i += 1;
    }
    v | ((word.len() as u64) << 56)
}

/// Whether a lowercased word is a stopword.
pub fn is_stopword(word: &str) -> bool {
    // Every stopword has 1 to 5 bytes: longer words skip the search.
    word.len() <= 5 && PACKED_STOPWORDS.binary_search(&pack(word.as_bytes())).is_ok()
}

/// The stopword list (part of the built-in model's identity).
pub fn stopwords() -> &'static [&'static str] {
    STOPWORDS
}

/// Splits text into code-aware tokens, in order of appearance.
///
/// `parseHTTPResponse_v2` gives `parsehttpresponse_v2` (whole), then `parse`, `http`,
/// `response`, `v2`... as parts. Single characters and stopwords are dropped.
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for_each_token(text, |t, whole| out.push(Token { text: t.to_string(), whole }));
    out
}

/// Calls `f` with each token of `text` (lowercased text, whether it is a whole identifier), in
/// the order [`tokenize`] returns them, without allocating a string per token.
pub fn for_each_token(text: &str, mut f: impl FnMut(&str, bool)) {
    let mut scratch = Scratch::default();
    for_each_identifier(text, |ident| scratch.identifier(ident, &mut f));
}

/// Tokens of a repository-relative path: each component and its identifier parts.
pub fn tokenize_path(path: &str) -> Vec<Token> {
    tokenize(&path.replace(['/', '\\', '.', '-'], " "))
}

pub(super) fn for_each_identifier(text: &str, mut f: impl FnMut(&str)) {
    let bytes = text.as_bytes();
    let mut start = None;
    for (i, &b) in bytes.iter().enumerate() {
        let word = b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
        match (word, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                f(&text[s..i]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        f(&text[s..]);
    }
}

/// Buffers reused from one identifier to the next.
#[derive(Default)]
pub(super) struct Scratch {
    whole: String,
    part: String,
    spans: Vec<(usize, usize)>,
}

impl Scratch {
    /// Calls `f` with the tokens of one identifier (see [`for_each_token`]).
    pub(super) fn identifier(&mut self, ident: &str, f: &mut impl FnMut(&str, bool)) {
        let trimmed = ident.trim_matches('_');
        if trimmed.is_empty() {
            return;
        }
        if !trimmed.is_ascii() {
            // Unicode case rules (e.g. a final sigma) need the general path.
            let mut out = Vec::new();
            push_identifier(trimmed, &mut out);
            out.iter().for_each(|t| f(&t.text, t.whole));
            return;
        }
        self.whole.clear();
        self.whole.push_str(trimmed);
        self.whole.make_ascii_lowercase();
        if keep_ascii(&self.whole) {
            f(&self.whole, true);
        }
        self.spans.clear();
        split_ascii(trimmed, &mut self.spans);
        if self.spans.len() > 1 {
            for &(start, end) in &self.spans {
                self.part.clear();
                self.part.push_str(&trimmed[start..end]);
                self.part.make_ascii_lowercase();
                if keep_ascii(&self.part) && self.part != self.whole {
                    f(&self.part, false);
                }
            }
        }
    }
}

/// [`keep`] for an ASCII word.
fn keep_ascii(word: &str) -> bool {
    word.len() > 1 && !word.bytes().all(|b| b.is_ascii_digit()) && !is_stopword(word)
}

/// [`split_identifier`] for an ASCII identifier: the byte spans of its parts.
fn split_ascii(ident: &str, spans: &mut Vec<(usize, usize)>) {
    let bytes = ident.as_bytes();
    let mut piece_start = 0;
    for end in bytes.iter().enumerate().filter(|(_, b)| **b == b'_').map(|(i, _)| i).chain([bytes.len()]) {
        let piece = &bytes[piece_start..end];
        let offset = piece_start;
        piece_start = end + 1;
        if piece.is_empty() {
            continue;
        }
        let mut start = 0;
        for w in 1..piece.len() {
            let (prev, c) = (piece[w - 1], piece[w]);
            let next = piece.get(w + 1);
            let boundary = (prev.is_ascii_lowercase() && c.is_ascii_uppercase())
                || (prev.is_ascii_uppercase()
                    && c.is_ascii_uppercase()
                    && next.is_some_and(|n| n.is_ascii_lowercase()))
                || (prev.is_ascii_alphabetic() && c.is_ascii_digit())
                || (prev.is_ascii_digit() && c.is_ascii_alphabetic());
            if boundary {
                spans.push((offset + start, offset + w));
                start = w;
            }
        }
        spans.push((offset + start, offset + piece.len()));
    }
}

fn push_identifier(ident: &str, out: &mut Vec<Token>) {
    let trimmed = ident.trim_matches('_');
    if trimmed.is_empty() {
        return;
    }
    let whole = trimmed.to_lowercase();
    let parts = split_identifier(trimmed);
    if keep(&whole) {
        out.push(Token { text: whole.clone(), whole: true });
    }
    if parts.len() > 1 {
        for part in parts {
            let part = part.to_lowercase();
            if keep(&part) && part != whole {
                out.push(Token { text: part, whole: false });
            }
        }
    }
}

fn keep(word: &str) -> bool {
    word.chars().count() > 1 && !word.bytes().all(|b| b.is_ascii_digit()) && !is_stopword(word)
}

/// Splits an identifier on `_`, lower→upper, `ABCd` → `AB|Cd`, and letter↔digit boundaries.
fn split_identifier(ident: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    for piece in ident.split('_').filter(|p| !p.is_empty()) {
        let chars: Vec<(usize, char)> = piece.char_indices().collect();
        let mut start = 0;
        for w in 1..chars.len() {
            let (i, c) = chars[w];
            let prev = chars[w - 1].1;
            let next = chars.get(w + 1).map(|&(_, c)| c);
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_uppercase() && c.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
                || (prev.is_alphabetic() && c.is_ascii_digit())
                || (prev.is_ascii_digit() && c.is_alphabetic());
            if boundary {
                parts.push(&piece[start..i]);
                start = i;
            }
        }
        parts.push(&piece[start..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        tokenize(s).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        let mut sorted = STOPWORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, STOPWORDS);
    }

    #[test]
    fn splits_camel_snake_and_digits() {
        assert_eq!(texts("parseHTTPResponse"), ["parsehttpresponse", "parse", "http", "response"]);
        assert_eq!(texts("max_batch_size"), ["max_batch_size", "max", "batch", "size"]);
        assert_eq!(texts("utf8Decode"), ["utf8decode", "utf", "decode"]);
    }

    #[test]
    fn drops_stopwords_single_chars_and_numbers() {
        assert_eq!(texts("the x of 42 retry"), ["retry"]);
    }

    #[test]
    fn marks_whole_identifiers() {
        let t = tokenize("fooBar");
        assert!(t[0].whole);
        assert!(!t[1].whole);
    }

    #[test]
    fn path_components_become_tokens() {
        assert_eq!(
            tokenize_path("src/ingest/walk.rs").into_iter().map(|t| t.text).collect::<Vec<_>>(),
            ["src", "ingest", "walk", "rs"]
        );
    }

    #[test]
    fn non_ascii_is_kept_inside_words() {
        assert_eq!(texts("café_Über"), ["café_über", "café", "über"]);
    }

    #[test]
    fn ascii_fast_path_matches_the_general_path() {
        let text = "parseHTTPResponse_v2 __init__ max_batch_size utf8Decode XMLHttpRequest2Go a_b_c \
                    IOError x86_64 ABCd the_end HTTP2Server _private snake__double camelCaseX 1st2nd";
        let mut general = Vec::new();
        for_each_identifier(text, |ident| push_identifier(ident, &mut general));
        assert!(general.len() > 20);
        assert_eq!(tokenize(text), general);
    }

    #[test]
    fn borrowed_tokens_equal_owned_ones() {
        let text = "parseHTTPResponse_v2 the café_Über x86_64 retry retry";
        let mut buffer = String::from("left over");
        let borrowed: Vec<(String, bool)> =
            tokenize_into(text, &mut buffer).iter().map(|t| (t.text().to_string(), t.whole())).collect();
        let owned: Vec<(String, bool)> = tokenize(text).iter().map(|t| (t.text().to_string(), t.whole())).collect();
        assert!(owned.len() > 5);
        assert_eq!(borrowed, owned);
    }

    #[test]
    fn packed_lookup_agrees_with_the_list() {
        for w in STOPWORDS {
            assert!(is_stopword(w), "{w}");
            // Prefixes and extensions of stopwords are not stopwords unless listed.
            let longer = format!("{w}x");
            assert_eq!(is_stopword(&longer), STOPWORDS.contains(&longer.as_str()), "{longer}");
            let shorter = &w[..w.len() - 1];
            assert_eq!(is_stopword(shorter), STOPWORDS.contains(&shorter), "{shorter}");
        }
        for w in ["", "retry", "these1", "wither", "th", "\u{1}a"] {
            assert_eq!(is_stopword(w), STOPWORDS.contains(&w), "{w}");
        }
    }

    #[test]
    fn no_stopword_is_longer_than_the_fast_length_check() {
        assert!(STOPWORDS.iter().all(|w| w.len() <= 5));
    }
}
