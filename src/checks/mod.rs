//! The building blocks of configuration checks, shared by `config` and the settings of the
//! picker, the value sources and the Concur client: problems named by their key, secrets (inline
//! or from a file), URL checks, and how a secret prints.

pub mod problem;
pub mod secret;

use secrecy::SecretString;
use serde::Serializer;

pub use problem::{ConfigProblem, Problems};

/// Production or development: which safety checks apply (shared with the Concur client).
pub use concur_client::Mode;

/// Parses an absolute `https` URL. Plain `http` passes with a warning in development mode
/// (tests, local simulators) and is refused in production, where a token or a search would
/// travel in clear text.
pub fn web_url(problems: &mut Problems, key: &str, raw: &str, mode: Mode) -> Option<reqwest::Url> {
    match reqwest::Url::parse(raw.trim()) {
        Ok(url) if url.scheme() == "https" => Some(url),
        Ok(url) if url.scheme() == "http" && mode == Mode::Development => {
            tracing::warn!(key, "plain http url configured; use https outside tests");
            Some(url)
        }
        Ok(url) if url.scheme() == "http" => {
            problems.push(
                key,
                "must be an https url (plain http is accepted in development mode only)",
            );
            None
        }
        Ok(_) => {
            problems.push(key, "must be an http(s) url");
            None
        }
        Err(e) => {
            problems.push(key, format!("is not a valid url: {e}"));
            None
        }
    }
}

/// Serializes a set secret as `[REDACTED]`, an unset one as nothing.
pub fn redacted<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_some("[REDACTED]"),
        None => serializer.serialize_none(),
    }
}

/// A secret value for places that need one temporarily (tests, signing tools).
pub fn secret(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}
