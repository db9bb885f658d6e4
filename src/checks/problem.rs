//! One configuration problem: the key it concerns and what is wrong with it.

use std::fmt;

/// A problem found while loading or validating the configuration.
///
/// `check-config` and start-up print one line per problem as `key: message`, then exit 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key as written in the TOML file, e.g. `connector.password`.
    pub key: String,
    /// Lower-case description without a trailing period.
    pub message: String,
}

impl ConfigProblem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Collects problems so validation reports all of them at once instead of the first.
#[derive(Debug, Default)]
pub struct Problems(Vec<ConfigProblem>);

impl Problems {
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem::new(key, message));
    }

    /// Records the error of `result` under `key` and returns its value, if any.
    pub fn take<T, E: fmt::Display>(&mut self, key: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.push(key, e.to_string());
                None
            }
        }
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = ConfigProblem>) {
        self.0.extend(other);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<ConfigProblem> {
        self.0
    }
}
