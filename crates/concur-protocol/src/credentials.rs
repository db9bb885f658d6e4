//! The connector's registered user name and password: Basic-auth identity and HMAC key.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Concur's rule for both the connector user name and password (characters, inclusive).
pub const LENGTH_RANGE: std::ops::RangeInclusive<usize> = 10..=50;

/// The user name and password registered for the connector on Concur's
/// "Register Application Connector" page.
///
/// The only way to build one is [`ConnectorCredentials::new`], which enforces Concur's
/// 10 to 50 character rule, so downstream code never re-checks it.
#[derive(Clone)]
pub struct ConnectorCredentials {
    username: String,
    password: SecretString,
}

/// Why a user name or password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// Length is counted in characters, as Concur's admin page does.
    #[error("must be 10 to 50 characters long (Concur's rule), got {0}")]
    Length(usize),
    /// The HMAC key lower-cases the user name; only ASCII lower-casing is portable (docs/protocol.md T10).
    #[error(
        "must contain only printable ASCII characters (it is lower-cased into the signature key)"
    )]
    NotAscii,
}

impl ConnectorCredentials {
    /// Validates both parts; returns which part failed as `("username" | "password", error)`.
    pub fn new(
        username: impl Into<String>,
        password: SecretString,
    ) -> Result<Self, (&'static str, CredentialsError)> {
        let username = username.into();
        check_length(&username).map_err(|e| ("username", e))?;
        if !username.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
            return Err(("username", CredentialsError::NotAscii));
        }
        check_length(password.expose_secret()).map_err(|e| ("password", e))?;
        Ok(Self { username, password })
    }

    /// The registered user name, exact case (it enters the signed message as is).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The registered password. Callers only expose it to build a MAC key or message.
    pub fn password(&self) -> &SecretString {
        &self.password
    }

    /// The launch HMAC key: ASCII-lower-cased user name followed by the exact password
    /// (docs/protocol.md §4.2 and §5.2).
    pub fn hmac_key(&self) -> Vec<u8> {
        let mut key = self.username.to_ascii_lowercase().into_bytes();
        key.extend_from_slice(self.password.expose_secret().as_bytes());
        key
    }

    /// Constant-time check of a Basic-auth pair: both halves are always compared, so the
    /// timing tells nothing about which half was wrong.
    pub fn matches(&self, username: &str, password: &str) -> bool {
        let user_ok = self.username.as_bytes().ct_eq(username.as_bytes());
        let pass_ok = self
            .password
            .expose_secret()
            .as_bytes()
            .ct_eq(password.as_bytes());
        (user_ok & pass_ok).into()
    }
}

impl std::fmt::Debug for ConnectorCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorCredentials")
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

fn check_length(value: &str) -> Result<(), CredentialsError> {
    let len = value.chars().count();
    if LENGTH_RANGE.contains(&len) {
        Ok(())
    } else {
        Err(CredentialsError::Length(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(
        user: &str,
        pass: &str,
    ) -> Result<ConnectorCredentials, (&'static str, CredentialsError)> {
        ConnectorCredentials::new(user, SecretString::from(pass.to_owned()))
    }

    #[test]
    fn accepts_lengths_ten_to_fifty() {
        assert!(creds(&"u".repeat(10), &"p".repeat(50)).is_ok());
        assert!(creds(&"u".repeat(50), &"p".repeat(10)).is_ok());
    }

    #[test]
    fn rejects_short_and_long_parts_naming_the_part() {
        assert_eq!(creds("short", "longenough1").unwrap_err().0, "username");
        assert_eq!(creds("longenough1", "short").unwrap_err().0, "password");
        assert_eq!(
            creds(&"u".repeat(51), "longenough1").unwrap_err().1,
            CredentialsError::Length(51)
        );
    }

    #[test]
    fn counts_characters_not_bytes() {
        // 10 characters, 20 bytes.
        assert!(creds("longenough1", "éééééééééé").is_ok());
    }

    #[test]
    fn key_lower_cases_only_the_username() {
        let c = creds("LaunchConnectorUser", "Tr0ub4dor&3-Horse").unwrap();
        assert_eq!(c.hmac_key(), b"launchconnectoruserTr0ub4dor&3-Horse");
    }

    #[test]
    fn matches_requires_both_parts_exactly() {
        let c = creds("AcmeConnector01", "S3cr3t-Pa$$w0rd!").unwrap();
        assert!(c.matches("AcmeConnector01", "S3cr3t-Pa$$w0rd!"));
        assert!(!c.matches("acmeconnector01", "S3cr3t-Pa$$w0rd!"));
        assert!(!c.matches("AcmeConnector01", "S3cr3t-Pa$$w0rd"));
        assert!(!c.matches("", ""));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = creds("AcmeConnector01", "S3cr3t-Pa$$w0rd!").unwrap();
        assert!(!format!("{c:?}").contains("S3cr3t"));
    }
}
