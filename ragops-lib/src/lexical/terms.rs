//! Interned tokens: each distinct identifier is split into its tokens once, and each distinct
//! token gets a small integer id, so that work per token downstream is indexing an array
//! rather than lowercasing, splitting and hashing strings again.

use std::collections::HashMap;

use super::tokenize::{Scratch, for_each_identifier};
use crate::fxhash::FxBuild;

/// A table of the identifiers and tokens seen so far (one per thread in the hot paths).
///
/// [`for_each_token`](Self::for_each_token) yields the same tokens, in the same order, as
/// [`crate::lexical::for_each_token`], as ids into the table.
#[derive(Default)]
pub struct TermTable {
    /// A raw identifier → where its tokens are in `tokens` (start, count).
    identifiers: HashMap<Box<str>, (u32, u32), FxBuild>,
    /// The tokens of every identifier in `identifiers`: (token id, whole identifier?).
    tokens: Vec<(u32, bool)>,
    ids: HashMap<Box<str>, u32, FxBuild>,
    texts: Vec<Box<str>>,
    scratch: Scratch,
}

impl std::fmt::Debug for TermTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TermTable").field("identifiers", &self.identifiers.len()).field("terms", &self.texts.len()).finish()
    }
}

impl TermTable {
    /// Calls `f` with the id of each token of `text` and whether it is a whole identifier.
    pub fn for_each_token(&mut self, text: &str, mut f: impl FnMut(u32, bool)) {
        for_each_identifier(text, |ident| {
            let (start, count) = match self.identifiers.get(ident) {
                Some(&span) => span,
                None => self.add_identifier(ident),
            };
            for &(id, whole) in &self.tokens[start as usize..(start + count) as usize] {
                f(id, whole);
            }
        });
    }

    /// The id of a token's text (interned if new).
    pub fn intern(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        let id = self.texts.len() as u32;
        self.ids.insert(token.into(), id);
        self.texts.push(token.into());
        id
    }

    /// The text of token `id`.
    ///
    /// # Panics
    /// If `id` was not given by this table (since its last [`clear`](Self::clear)).
    pub fn text(&self, id: u32) -> &str {
        &self.texts[id as usize]
    }

    /// How many distinct tokens the table holds (ids are `0..len`).
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// How many identifiers and tokens the table remembers (to bound its memory).
    pub fn size(&self) -> usize {
        self.identifiers.len() + self.texts.len()
    }

    /// Forgets everything: ids given before are no longer valid.
    pub fn clear(&mut self) {
        *self = TermTable::default();
    }

    fn add_identifier(&mut self, ident: &str) -> (u32, u32) {
        let start = self.tokens.len() as u32;
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.identifier(ident, &mut |token, whole| {
            let id = self.intern(token);
            self.tokens.push((id, whole));
        });
        self.scratch = scratch;
        let span = (start, self.tokens.len() as u32 - start);
        self.identifiers.insert(ident.into(), span);
        span
    }
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
            let ids: Vec<(String, bool)> = ids.into_iter().map(|(id, whole)| (table.text(id).to_string(), whole)).collect();
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
}
