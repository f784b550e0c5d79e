//! Code-aware text analysis shared by the built-in embedder and the lexical leg.

mod terms;
mod tokenize;

pub use terms::{TermTable, TextTerms, analyze, fnv1a64};
pub(crate) use terms::{bucket as table_hash, for_each_word};

pub use tokenize::{
    Token, TokenLike, TokenRef, for_each_token, is_stopword, stopwords, tokenize, tokenize_into, tokenize_path,
};
