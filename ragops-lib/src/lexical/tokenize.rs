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

/// English words too common to tell chunks apart (sorted: looked up by binary search).
const STOPWORDS: &[&str] = &[
    "a", "all", "an", "and", "any", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for", "from", "has",
    "have", "how", "if", "in", "into", "is", "it", "its", "no", "not", "of", "on", "or", "so", "that", "the", "their",
    "then", "there", "these", "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "why",
    "will", "with", "you",
];

/// Whether a lowercased word is a stopword.
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.binary_search(&word).is_ok()
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
    for_each_identifier(text, |ident| push_identifier(ident, &mut out));
    out
}

/// Tokens of a repository-relative path: each component and its identifier parts.
pub fn tokenize_path(path: &str) -> Vec<Token> {
    tokenize(&path.replace(['/', '\\', '.', '-'], " "))
}

fn for_each_identifier(text: &str, mut f: impl FnMut(&str)) {
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
}
