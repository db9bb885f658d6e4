//! Secrets that can come from the file, the environment, or a `*_file` key.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::problem::Problems;

/// Resolves a secret given inline (`key`) or by file (`key_file`).
///
/// Exactly one of the two may be set. A file's content is trimmed of one trailing newline
/// (editors and `echo` add it; Docker and Kubernetes secrets usually carry it). Returns
/// `None` and records a problem under the offending key on any error; returns `Ok(None)`
/// when neither is set, leaving "required" to the caller.
pub fn resolve(
    problems: &mut Problems,
    key: &str,
    inline: Option<SecretString>,
    file: Option<&Path>,
) -> Option<SecretString> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            problems.push(key, format!("set either `{key}` or `{key}_file`, not both"));
            None
        }
        (Some(value), None) => Some(value),
        (None, Some(path)) => read_secret_file(problems, &format!("{key}_file"), path),
        (None, None) => None,
    }
}

/// [`resolve`] for a secret that must be set: a blank value counts as unset, and a missing
/// one is reported under `key`; `what` names the secret in that message.
pub fn resolve_required(
    problems: &mut Problems,
    key: &str,
    inline: Option<SecretString>,
    file: Option<&Path>,
    what: Option<&str>,
) -> Option<SecretString> {
    let inline = inline.filter(|s| !is_blank(s));
    let present = inline.is_some() || file.is_some();
    let secret = resolve(problems, key, inline, file);
    if !present {
        let what = what.map(|w| format!(" ({w})")).unwrap_or_default();
        problems.push(
            key,
            format!("is required{what}: set `{key}` or `{key}_file`"),
        );
    }
    secret
}

fn read_secret_file(problems: &mut Problems, key: &str, path: &Path) -> Option<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(content) => {
            let value = content
                .strip_suffix("\r\n")
                .or_else(|| content.strip_suffix('\n'))
                .unwrap_or(&content);
            if value.is_empty() {
                problems.push(key, format!("{} is empty", path.display()));
                return None;
            }
            Some(SecretString::from(value.to_owned()))
        }
        Err(e) => {
            problems.push(key, format!("cannot read {}: {e}", path.display()));
            None
        }
    }
}

/// True when a secret is set to the empty string, which we treat as unset.
pub fn is_blank(secret: &SecretString) -> bool {
    secret.expose_secret().trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_a_file_and_trims_one_newline() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "s3cret-value").unwrap();
        let mut problems = Problems::default();
        let secret = resolve(&mut problems, "x.password", None, Some(file.path())).unwrap();
        assert_eq!(secret.expose_secret(), "s3cret-value");
        assert!(problems.is_empty());
    }

    #[test]
    fn refuses_both_inline_and_file() {
        let mut problems = Problems::default();
        let got = resolve(
            &mut problems,
            "x.password",
            Some(SecretString::from("a".to_owned())),
            Some(Path::new("/nonexistent")),
        );
        assert!(got.is_none());
        assert_eq!(problems.into_vec()[0].key, "x.password");
    }

    #[test]
    fn a_missing_file_names_the_file_key() {
        let mut problems = Problems::default();
        assert!(
            resolve(
                &mut problems,
                "x.password",
                None,
                Some(Path::new("/nonexistent/p"))
            )
            .is_none()
        );
        let problems = problems.into_vec();
        assert_eq!(problems[0].key, "x.password_file");
        assert!(problems[0].message.contains("/nonexistent/p"));
    }
}
