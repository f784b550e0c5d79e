//! Response checks: a malformed answer is an error and is never stored.

use ragops_lib::error::ProviderError;
use ragops_lib::model::Embedding;

/// Checks that a server returned one finite, non-empty vector of `dimensions` values per text.
///
/// # Errors
/// [`ProviderError::MalformedResponse`] naming what was wrong: the count, the dimension, a
/// non-finite value.
pub fn embeddings(
    provider: &str,
    texts: usize,
    dimensions: usize,
    vectors: Vec<Embedding>,
) -> Result<Vec<Embedding>, ProviderError> {
    let malformed = |message: String| ProviderError::MalformedResponse { provider: provider.to_string(), message };
    if vectors.len() != texts {
        return Err(malformed(format!("{} vectors for {texts} texts", vectors.len())));
    }
    for (i, v) in vectors.iter().enumerate() {
        if v.len() != dimensions {
            return Err(malformed(format!(
                "vector {i} has {} values, {dimensions} expected (check `dimensions` in the config)",
                v.len()
            )));
        }
        if let Some(x) = v.iter().find(|x| !x.is_finite()) {
            return Err(malformed(format!("vector {i} holds a non-finite value ({x})")));
        }
    }
    Ok(vectors)
}

/// Parses a JSON array of numbers into a vector, refusing anything else (`null` included, which
/// is how some servers encode NaN).
///
/// # Errors
/// [`ProviderError::MalformedResponse`].
pub fn vector(provider: &str, value: &serde_json::Value) -> Result<Embedding, ProviderError> {
    let malformed = |message: &str| ProviderError::MalformedResponse {
        provider: provider.to_string(),
        message: message.to_string(),
    };
    let items = value.as_array().ok_or_else(|| malformed("an embedding is not an array of numbers"))?;
    items
        .iter()
        .map(|x| match x.as_f64() {
            Some(f) if f.is_finite() => Ok(f as f32),
            _ => Err(malformed("an embedding holds a value that is not a finite number")),
        })
        .collect()
}

/// Checks that a completion is not empty.
///
/// # Errors
/// [`ProviderError::MalformedResponse`] for an empty or whitespace-only text.
pub fn text(provider: &str, text: String) -> Result<String, ProviderError> {
    if text.trim().is_empty() {
        return Err(ProviderError::MalformedResponse {
            provider: provider.to_string(),
            message: "the model returned an empty answer".into(),
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_dimensions_and_values_are_checked() {
        assert!(embeddings("p", 2, 2, vec![vec![1.0, 0.0], vec![0.0, 1.0]]).is_ok());
        let e = embeddings("p", 2, 2, vec![vec![1.0, 0.0]]).unwrap_err().to_string();
        assert!(e.contains("1 vectors for 2 texts"), "{e}");
        let e = embeddings("p", 1, 2, vec![vec![1.0]]).unwrap_err().to_string();
        assert!(e.contains("1 values, 2 expected"), "{e}");
        let e = embeddings("p", 1, 2, vec![vec![1.0, f32::NAN]]).unwrap_err().to_string();
        assert!(e.contains("non-finite"), "{e}");
    }

    #[test]
    fn vectors_refuse_nulls_and_strings() {
        assert_eq!(vector("p", &serde_json::json!([1, 0.5])).unwrap(), vec![1.0, 0.5]);
        assert!(vector("p", &serde_json::json!([1, null])).is_err());
        assert!(vector("p", &serde_json::json!("x")).is_err());
    }

    #[test]
    fn empty_text_is_refused() {
        assert!(text("p", " \n".into()).is_err());
        assert_eq!(text("p", "hi".into()).unwrap(), "hi");
    }
}
