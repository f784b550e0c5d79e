//! Code-aware text analysis shared by the built-in embedder and the lexical leg.

mod terms;
mod tokenize;

pub(crate) use terms::bucket as table_hash;
pub use terms::{TermTable, TextTerms, analyze, fnv1a64};

pub use tokenize::{
    Token, TokenLike, TokenRef, for_each_token, is_stopword, stopwords, tokenize, tokenize_into, tokenize_path,
};
