//! OAuth2 token responses and the tokens we keep: the company token and per-launch user tokens.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Url;
use secrecy::SecretString;
use serde::Deserialize;

use super::error::{ConcurError, StringOrNumber};
use crate::config::Mode;
use concur_protocol::launch::ItemUrlPolicy;

/// Access tokens live one hour; assume so when Concur omits `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// The longest lifetime believed, however long `expires_in` claims: Concur's access tokens
/// live an hour, and an absurd value (`1e300`) would otherwise overflow the expiry time
/// and panic. A token claiming more is simply renewed after a day.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Warn this long before the company refresh token stops working.
pub(crate) const REFRESH_EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// `POST /oauth2/v0/token` success body (docs/protocol.md §7.4).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: SecretString,
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    #[serde(default)]
    pub id_token: Option<SecretString>,
    /// `"3600"` or `3600` (docs/protocol.md T34).
    #[serde(default)]
    pub expires_in: Option<StringOrNumber>,
    /// Epoch seconds when the refresh token expires (company tokens).
    #[serde(default)]
    pub refresh_expires_in: Option<StringOrNumber>,
    #[serde(default)]
    pub geolocation: Option<String>,
}

impl TokenResponse {
    pub fn lifetime(&self) -> Duration {
        self.expires_in
            .as_ref()
            .and_then(StringOrNumber::as_u64)
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME)
            .min(MAX_LIFETIME)
    }

    pub fn refresh_expires_at(&self) -> Option<u64> {
        self.refresh_expires_in
            .as_ref()
            .and_then(StringOrNumber::as_u64)
    }

    /// The geolocation as a base URL, checked against `policy`: a malformed one is ignored
    /// with a warning, a well-formed one the policy refuses fails the whole response (the
    /// tokens would be sent there next).
    pub fn geolocation_url(&self, policy: &GeolocationPolicy) -> Result<Option<Url>, ConcurError> {
        let Some(raw) = self.geolocation.as_deref() else {
            return Ok(None);
        };
        let Some(url) = parse_geolocation(raw) else {
            return Ok(None);
        };
        policy
            .check(&url)
            .map(|()| Some(url))
            .map_err(|reason| ConcurError::UntrustedGeolocation {
                geolocation: raw.trim().to_owned(),
                reason,
            })
    }
}

/// Parses a geolocation; `None` (with a warning) when it is no absolute URL with a host.
pub(crate) fn parse_geolocation(raw: &str) -> Option<Url> {
    match Url::parse(raw.trim()) {
        Ok(url) if url.host().is_some() => Some(url),
        _ => {
            tracing::warn!(geolocation = raw, "ignoring a malformed geolocation");
            None
        }
    }
}

/// Where a token response's `geolocation` may point: Concur's API base for every later
/// call, so the company and user tokens go there. `https` on port 443 of a
/// `*.concursolutions.com` host, or a host (`host` for port 443, `host:port`) listed in
/// `concur.allowed_geolocation_hosts`; plain `http` only in development mode and only for a
/// listed host (local test servers).
#[derive(Debug, Clone)]
pub struct GeolocationPolicy {
    hosts: ItemUrlPolicy,
    mode: Mode,
}

impl GeolocationPolicy {
    pub fn new<I, S>(extra_hosts: I, mode: Mode) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            hosts: ItemUrlPolicy::with_extra_hosts(extra_hosts),
            mode,
        }
    }

    /// `Err` says why `url` is not an acceptable geolocation.
    pub fn check(&self, url: &Url) -> Result<(), String> {
        let listed = url.host_str().is_some_and(|h| self.hosts.lists_host(h));
        match url.scheme() {
            "https" => {}
            "http" if listed && self.mode == Mode::Development => {}
            "http" if listed => {
                return Err(
                    "its scheme is not https (plain http is accepted for a listed host \
                            in development mode only)"
                        .to_owned(),
                );
            }
            _ => return Err("its scheme is not https".to_owned()),
        }
        self.hosts
            .check_authority(url)
            .map_err(|e| format!("{e} (concur.allowed_geolocation_hosts)"))
    }
}

/// Seconds since the epoch, for comparing with `refresh_expires_in`.
pub(crate) fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Milliseconds since the epoch (shared token states are compared across machines).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Logs a warning when the refresh token is close to its expiry (or past it).
pub(crate) fn warn_if_refresh_expires_soon(refresh_expires_at: Option<u64>) {
    let Some(at) = refresh_expires_at else {
        return;
    };
    let now = now_epoch();
    if at <= now {
        tracing::warn!(
            refresh_expires_at = at,
            "the concur company refresh token has expired; issue a new company request token"
        );
    } else if at - now <= REFRESH_EXPIRY_WARNING.as_secs() {
        tracing::warn!(
            refresh_expires_at = at,
            days_left = (at - now) / 86_400,
            "the concur company refresh token expires within 14 days"
        );
    }
}

/// An access token with the base URL it must be used against.
#[derive(Clone)]
pub(crate) struct AccessToken {
    pub token: SecretString,
    pub geolocation: Url,
    /// When to replace it: shortly before it expires.
    pub renew_at: Instant,
    /// Distinguishes tokens so a 401 invalidates only the token that was refused.
    pub generation: u64,
}

/// A user's access token from the launch's authorization code, kept in the launch session.
///
/// It is not refreshed: a launch popup lives minutes, the token an hour. Once expired the
/// client falls back to the company token where Concur allows it.
#[derive(Clone)]
pub struct UserToken {
    pub(crate) access_token: SecretString,
    pub(crate) geolocation: Option<Url>,
    pub(crate) expires_at: Instant,
    pub(crate) subject: Option<String>,
}

impl UserToken {
    /// The verified `sub` of the `id_token`, when Concur sent one.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// Where calls with this token go, if Concur named it.
    pub fn geolocation(&self) -> Option<&Url> {
        self.geolocation.as_ref()
    }

    /// True once the token is no longer usable (with a little slack for the call itself).
    pub fn is_expired(&self) -> bool {
        Instant::now() + Duration::from_secs(10) >= self.expires_at
    }
}

/// A [`UserToken`] as bytes, for a session record shared by several instances. The bytes
/// hold the access token in clear: encrypt them before they leave the process.
#[derive(serde::Serialize, Deserialize)]
struct UserTokenRecord {
    access_token: String,
    #[serde(default)]
    geolocation: Option<String>,
    /// Unix milliseconds.
    expires_at_ms: u64,
    #[serde(default)]
    subject: Option<String>,
}

impl UserToken {
    /// The token as JSON bytes (the access token in clear; see [`UserToken::from_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        use secrecy::ExposeSecret as _;
        let left = self.expires_at.saturating_duration_since(Instant::now());
        let record = UserTokenRecord {
            access_token: self.access_token.expose_secret().to_owned(),
            geolocation: self.geolocation.as_ref().map(|u| u.as_str().to_owned()),
            expires_at_ms: now_ms()
                .saturating_add(u64::try_from(left.as_millis()).unwrap_or(u64::MAX)),
            subject: self.subject.clone(),
        };
        serde_json::to_vec(&record).unwrap_or_default()
    }

    /// A token from [`UserToken::to_bytes`], `None` when the bytes are no such record or its
    /// geolocation is not one `policy` trusts. An expired one comes back expired.
    pub fn from_bytes(bytes: &[u8], policy: &GeolocationPolicy) -> Option<Self> {
        let record: UserTokenRecord = serde_json::from_slice(bytes).ok()?;
        let geolocation = match record.geolocation.as_deref() {
            Some(raw) => {
                let url = parse_geolocation(raw)?;
                policy.check(&url).ok()?;
                Some(url)
            }
            None => None,
        };
        let left = Duration::from_millis(record.expires_at_ms.saturating_sub(now_ms()));
        Some(Self {
            access_token: SecretString::from(record.access_token),
            geolocation,
            expires_at: Instant::now() + left.min(MAX_LIFETIME),
            subject: record.subject,
        })
    }
}

impl fmt::Debug for UserToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserToken")
            .field("access_token", &"[redacted]")
            .field("geolocation", &self.geolocation.as_ref().map(Url::as_str))
            .field("subject", &self.subject)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_token_survives_its_bytes_and_an_untrusted_geolocation_does_not() {
        let token = UserToken {
            access_token: SecretString::from("user-access".to_owned()),
            geolocation: Some(Url::parse("https://us2.api.concursolutions.com").unwrap()),
            expires_at: Instant::now() + Duration::from_secs(600),
            subject: Some("jane".to_owned()),
        };
        let back = UserToken::from_bytes(&token.to_bytes(), &concur_only()).unwrap();
        use secrecy::ExposeSecret as _;
        assert_eq!(back.access_token.expose_secret(), "user-access");
        assert_eq!(back.subject(), Some("jane"));
        assert_eq!(back.geolocation(), token.geolocation());
        assert!(!back.is_expired());
        let moved = String::from_utf8(token.to_bytes())
            .unwrap()
            .replace("us2.api.concursolutions.com", "evil.example");
        assert!(UserToken::from_bytes(moved.as_bytes(), &concur_only()).is_none());
        assert!(UserToken::from_bytes(b"{}", &concur_only()).is_none());
    }

    #[test]
    fn expires_in_is_read_as_string_or_number() {
        for body in [
            r#"{"access_token":"a","expires_in":"1800"}"#,
            r#"{"access_token":"a","expires_in":1800}"#,
        ] {
            let r: TokenResponse = serde_json::from_str(body).unwrap();
            assert_eq!(r.lifetime(), Duration::from_secs(1800), "{body}");
        }
    }

    #[test]
    fn an_absurd_expires_in_is_capped_so_expiry_times_cannot_overflow() {
        // The first body is the input the token_response fuzz target found.
        for body in [
            r#"{"access_token":"a","expires_in":18099999999999999999999999999999990}"#,
            r#"{"access_token":"a","expires_in":"18446744073709551615"}"#,
            r#"{"access_token":"a","expires_in":1e300}"#,
        ] {
            let r: TokenResponse = serde_json::from_str(body).unwrap();
            assert_eq!(r.lifetime(), MAX_LIFETIME, "{body}");
            let now = Instant::now();
            assert!(now.checked_add(r.lifetime()).is_some(), "{body}");
        }
    }

    #[test]
    fn missing_expires_in_means_one_hour() {
        let r: TokenResponse = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(r.lifetime(), DEFAULT_LIFETIME);
    }

    #[test]
    fn refresh_expires_in_is_an_epoch_time() {
        let r: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","refresh_expires_in":"1790000000"}"#)
                .unwrap();
        assert_eq!(r.refresh_expires_at(), Some(1_790_000_000));
    }

    fn concur_only() -> GeolocationPolicy {
        GeolocationPolicy::new(Vec::<String>::new(), Mode::Production)
    }

    fn response(geolocation: &str) -> TokenResponse {
        serde_json::from_value(serde_json::json!({"access_token": "a", "geolocation": geolocation}))
            .unwrap()
    }

    #[test]
    fn a_malformed_geolocation_is_ignored() {
        let r: TokenResponse =
            serde_json::from_str(r#"{"access_token":"a","geolocation":"not a url"}"#).unwrap();
        assert!(r.geolocation_url(&concur_only()).unwrap().is_none());
    }

    #[test]
    fn a_concur_geolocation_is_accepted() {
        for geo in [
            "https://us2.api.concursolutions.com",
            "https://EU2.api.concursolutions.com:443/",
        ] {
            let url = response(geo).geolocation_url(&concur_only()).unwrap();
            assert!(url.is_some(), "{geo}");
        }
    }

    #[test]
    fn an_untrusted_geolocation_fails_the_response() {
        let listed = GeolocationPolicy::new(["127.0.0.1:8080", "sim.test"], Mode::Production);
        for (geo, why) in [
            ("http://us2.api.concursolutions.com", "plain http"),
            ("https://evil.example.com", "another domain"),
            (
                "https://us2.api.concursolutions.com.evil.example",
                "concur as a prefix",
            ),
            ("https://us2.api.concursolutions.com:8443", "another port"),
            ("https://x@us2.api.concursolutions.com", "user info"),
            ("ftp://us2.api.concursolutions.com", "another scheme"),
            (
                "http://127.0.0.1:8080",
                "plain http to a listed host in production",
            ),
            ("https://sim.test:9443", "a listed host on an unlisted port"),
        ] {
            let error = response(geo).geolocation_url(&listed).unwrap_err();
            assert!(
                matches!(&error, ConcurError::UntrustedGeolocation { geolocation, .. } if geolocation == geo),
                "{why}: {error:?}"
            );
        }
        assert!(
            response("https://127.0.0.1:8080")
                .geolocation_url(&listed)
                .is_ok()
        );
        assert!(
            response("https://sim.test/")
                .geolocation_url(&listed)
                .is_ok()
        );
    }

    #[test]
    fn development_mode_accepts_plain_http_for_a_listed_host_only() {
        let dev = GeolocationPolicy::new(["127.0.0.1:8080"], Mode::Development);
        assert!(
            response("http://127.0.0.1:8080")
                .geolocation_url(&dev)
                .is_ok()
        );
        for geo in [
            "http://127.0.0.1:8081",
            "http://us2.api.concursolutions.com",
        ] {
            assert!(response(geo).geolocation_url(&dev).is_err(), "{geo}");
        }
    }
}
