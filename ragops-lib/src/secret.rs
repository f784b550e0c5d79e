//! Secrets: a wrapper that never shows its value, and maskers for config tables and URLs.
//! API keys, tokens and passwords never appear in logs, errors, comments or index metadata.

use std::fmt;

/// Shown in place of a secret.
pub const MASK: &str = "****";

/// Names of settings whose values are secrets (matched as substrings, lowercase); a name ending
/// in `_env` names a variable, not a secret.
const SECRET_NAMES: &[&str] = &["api_key", "apikey", "token", "password", "passwd", "secret", "authorization"];

/// A value that masks itself in `Debug`, `Display` and serialization.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    /// Wraps a secret.
    pub fn new(value: T) -> Self {
        Redacted(value)
    }

    /// The secret itself: use it only to send it where it belongs.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<T> serde::Serialize for Redacted<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(MASK)
    }
}

/// Whether a setting's name says its value is a secret.
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_lowercase();
    !lower.ends_with("_env") && SECRET_NAMES.iter().any(|s| lower.contains(s))
}

/// Masks, in place, every string value under a secret-named key, and credentials in URLs.
pub fn mask_toml(value: &mut toml::Value) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                if is_secret_name(k) && v.is_str() {
                    *v = toml::Value::String(MASK.into());
                } else {
                    mask_toml(v);
                }
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(mask_toml),
        toml::Value::String(s) => *s = redact_url(s),
        _ => {}
    }
}

/// Replaces the user-info part of a URL (`https://user:pass@host/` → `https://****@host/`);
/// other strings are returned unchanged.
pub fn redact_url(s: &str) -> String {
    let Some(scheme_end) = s.find("://") else { return s.to_string() };
    let rest = &s[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}://{MASK}@{}", &s[..scheme_end], &rest[at + 1..]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_never_shows_its_value() {
        let key = Redacted::new("sk-live-123".to_string());
        assert_eq!(format!("{key} {key:?}"), "**** ****");
        assert_eq!(serde_json::to_string(&key).unwrap(), "\"****\"");
        assert_eq!(key.expose(), "sk-live-123");
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(redact_url("postgres://u:pw@db:5432/x"), "postgres://****@db:5432/x");
        assert_eq!(redact_url("http://localhost:11434"), "http://localhost:11434");
        assert_eq!(redact_url("https://h/p?q=a@b"), "https://h/p?q=a@b");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn tables_are_masked_by_key_name() {
        let mut v: toml::Value = toml::from_str(
            "api_key = \"sk\"\napi_key_env = \"KEY\"\n[x]\nAuth_Token = \"t\"\nurl = \"https://a:b@h\"\n",
        )
        .unwrap();
        mask_toml(&mut v);
        let s = v.to_string();
        assert!(!s.contains("\"sk\"") && !s.contains("\"t\"") && !s.contains("a:b"), "{s}");
        assert!(s.contains("KEY"));
    }
}
