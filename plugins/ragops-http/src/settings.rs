//! Settings every HTTP provider reads the same way: the API key's source, timeouts and
//! retries, and errors that name the config key at fault.

use std::time::Duration;

use ragops_lib::error::{ConfigError, Error};
use ragops_lib::secret::Redacted;

use crate::HttpOptions;

/// Where a provider's API key may come from, in order: the variable `api_key_env` names (which
/// must then be set), the key written in the config file (accepted with a warning), the
/// provider's default variable.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct KeySource<'a> {
    /// The config table, for errors (`embedding.openai`).
    pub table: &'a str,
    /// `api_key_env`, if set.
    pub api_key_env: Option<&'a str>,
    /// `api_key`, if set (a key written in the file).
    pub api_key: Option<&'a str>,
    /// The variable read when neither is set (`OPENAI_API_KEY`).
    pub default_env: Option<&'a str>,
}

impl<'a> KeySource<'a> {
    /// A key source for the table `table`.
    pub fn new(table: &'a str) -> Self {
        KeySource { table, ..Default::default() }
    }

    /// Resolves the key; `None` when no source has one (fine for local servers).
    ///
    /// # Errors
    /// `api_key_env` names a variable that is not set or is empty.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Redacted<String>>, Error> {
        if let Some(var) = self.api_key_env {
            return match env(var).filter(|v| !v.trim().is_empty()) {
                Some(v) => Ok(Some(Redacted::new(v.trim().to_string()))),
                None => Err(invalid(
                    &format!("{}.api_key_env", self.table),
                    format!("the environment variable `{var}` is not set (it should hold the API key)"),
                )),
            };
        }
        if let Some(key) = self.api_key.filter(|k| !k.trim().is_empty()) {
            tracing::warn!(
                event = "provider.inline_key",
                table = self.table,
                "an API key is written in the config file; prefer `api_key_env` naming an environment variable"
            );
            return Ok(Some(Redacted::new(key.trim().to_string())));
        }
        Ok(self.default_env.and_then(env).filter(|v| !v.trim().is_empty()).map(|v| Redacted::new(v.trim().to_string())))
    }
}

/// HTTP options from a provider table's `timeout_secs`, `max_retries`, `initial_backoff_ms` and
/// the common `concurrency`.
///
/// # Errors
/// A non-positive or non-finite timeout.
pub fn http_options(
    table: &str,
    timeout_secs: Option<f64>,
    max_retries: Option<u32>,
    initial_backoff_ms: Option<u64>,
    concurrency: usize,
) -> Result<HttpOptions, Error> {
    let mut o = HttpOptions { concurrency: concurrency.max(1), ..HttpOptions::default() };
    if let Some(t) = timeout_secs {
        o.timeout = crate::secs(t)
            .ok_or_else(|| invalid(&format!("{table}.timeout_secs"), format!("must be a positive number, not {t}")))?;
    }
    if let Some(n) = max_retries {
        o.max_retries = n.min(20);
    }
    if let Some(ms) = initial_backoff_ms {
        o.initial_backoff = Duration::from_millis(ms);
        o.max_backoff = o.max_backoff.max(o.initial_backoff);
    }
    Ok(o)
}

/// Deserializes a provider table into the provider's own strict struct.
///
/// # Errors
/// An unknown key or a wrong type, naming the table.
pub fn parse_table<T: serde::de::DeserializeOwned>(table: &str, options: &toml::Table) -> Result<T, Error> {
    toml::Value::Table(options.clone()).try_into().map_err(|e: toml::de::Error| invalid(table, e.message()))
}

/// A base URL without a trailing slash, checked to be http(s).
///
/// # Errors
/// Anything but an `http://` or `https://` URL.
pub fn base_url(table: &str, url: &str) -> Result<String, Error> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() <= "https://".len() {
        return Err(invalid(
            &format!("{table}.base_url"),
            format!("must be an http:// or https:// URL, not `{}`", ragops_lib::secret::redact_url(url)),
        ));
    }
    Ok(url.to_string())
}

/// A config error naming `key`.
pub fn invalid(key: &str, message: impl std::fmt::Display) -> Error {
    Error::Config(ConfigError::Invalid {
        key: key.to_string(),
        origin: String::new(),
        message: message.to_string().trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "SET" => Some("sk-1".into()),
            "DEFAULT" => Some("sk-default".into()),
            _ => None,
        }
    }

    #[test]
    fn key_sources_in_order() {
        let mut s = KeySource::new("embedding.x");
        s.default_env = Some("DEFAULT");
        assert_eq!(s.resolve(&env).unwrap().unwrap().expose(), "sk-default");
        s.api_key = Some("sk-inline");
        assert_eq!(s.resolve(&env).unwrap().unwrap().expose(), "sk-inline");
        s.api_key_env = Some("SET");
        assert_eq!(s.resolve(&env).unwrap().unwrap().expose(), "sk-1");
        s.api_key_env = Some("UNSET");
        let err = s.resolve(&env).unwrap_err().to_string();
        assert!(err.contains("embedding.x.api_key_env") && err.contains("UNSET"), "{err}");
        assert!(KeySource::new("t").resolve(&env).unwrap().is_none());
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(base_url("t", "http://h:1/v1/").unwrap(), "http://h:1/v1");
        assert!(base_url("t", "ftp://h").unwrap_err().to_string().contains("t.base_url"));
    }

    #[test]
    fn timeouts_must_be_positive() {
        assert!(http_options("t", Some(0.0), None, None, 1).is_err());
        assert_eq!(http_options("t", Some(2.5), Some(1), Some(10), 3).unwrap().timeout, Duration::from_millis(2500));
    }
}
