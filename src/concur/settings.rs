//! The `[concur]` settings table and its one-time conversion into the client's validated
//! [`ClientConfig`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use concur_client::{
    ClientConfig, CompanyGrant, DEFAULT_AUTH_BASE_URL, DEFAULT_JWKS_URL, STATE_FILE_NAME,
};
use reqwest::Certificate;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::checks::secret::{is_blank, resolve, resolve_required};
use crate::checks::{Mode, Problems, web_url};

/// The `[concur]` table of the configuration file, as written by the operator.
///
/// Nothing here is used directly: [`ConcurSettings::validate`] turns it into a
/// [`ClientConfig`] once at start-up, reporting every bad key as `concur.<key>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConcurSettings {
    /// OAuth2 client id (UUID) of the app registered with Concur. Required.
    pub client_id: Option<String>,
    /// OAuth2 client secret. Required: set this or `client_secret_file`.
    #[serde(serialize_with = "crate::checks::redacted")]
    pub client_secret: Option<SecretString>,
    /// File holding the OAuth2 client secret (one trailing newline is ignored).
    pub client_secret_file: Option<PathBuf>,
    /// Redirect URL registered for the client and the LEU v4 service; sent with every
    /// authorization-code exchange. Required.
    pub redirect_uri: Option<String>,
    /// Where authorization codes and company request tokens are exchanged.
    /// Default `https://glz.api.concursolutions.com`.
    pub auth_base_url: String,
    /// Initial API geolocation, used for the first refresh-token grant until a token response
    /// names the geolocation. Default: `auth_base_url`.
    pub api_base_url: Option<String>,
    /// Hosts besides `*.concursolutions.com` a token response's `geolocation` may name
    /// (test servers, the simulator): `host` allows port 443, `host:port` that port.
    /// Default: none.
    pub allowed_geolocation_hosts: Vec<String>,
    /// JWKS used to verify `id_token` signatures.
    /// Default `https://www-us.api.concursolutions.com/oauth2/v0/jwks`.
    pub jwks_url: String,
    /// Initial company refresh token. Ignored once the state file holds a (rotated) token.
    #[serde(serialize_with = "crate::checks::redacted")]
    pub refresh_token: Option<SecretString>,
    /// File holding the initial company refresh token.
    pub refresh_token_file: Option<PathBuf>,
    /// Company id (UUID) for the company-request-token grant.
    pub company_id: Option<String>,
    /// Company request token (valid 24 hours), exchanged once for a refresh token.
    #[serde(serialize_with = "crate::checks::redacted")]
    pub company_request_token: Option<SecretString>,
    /// File holding the company request token.
    pub company_request_token_file: Option<PathBuf>,
    /// Directory of the token state file (`concur-token.json`, mode 0600). Default `state`.
    pub state_dir: PathBuf,
    /// PEM file of CA certificates trusted *in addition to* the system roots (e.g. the
    /// simulator's CA). Certificate verification is never turned off.
    pub extra_ca_file: Option<PathBuf>,
    /// TCP + TLS connect timeout. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Timeout of one whole request attempt, body included. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Retries after the first attempt for retryable failures. Default `2`, at most `10`.
    pub max_retries: u32,
    /// First backoff delay between retries (doubles, with jitter). Default `200ms`.
    #[serde(with = "humantime_serde")]
    pub retry_base_delay: Duration,
    /// Longest backoff delay between retries. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub retry_max_delay: Duration,
    /// How long before expiry the company access token is renewed. Default `5m`, at most `30m`.
    #[serde(with = "humantime_serde")]
    pub token_refresh_margin: Duration,
}

impl Default for ConcurSettings {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            client_secret_file: None,
            redirect_uri: None,
            auth_base_url: DEFAULT_AUTH_BASE_URL.to_owned(),
            api_base_url: None,
            allowed_geolocation_hosts: Vec::new(),
            jwks_url: DEFAULT_JWKS_URL.to_owned(),
            refresh_token: None,
            refresh_token_file: None,
            company_id: None,
            company_request_token: None,
            company_request_token_file: None,
            state_dir: PathBuf::from("state"),
            extra_ca_file: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_retries: 2,
            retry_base_delay: Duration::from_millis(200),
            retry_max_delay: Duration::from_secs(5),
            token_refresh_margin: Duration::from_secs(300),
        }
    }
}

const MAX_RETRIES: u32 = 10;
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(30 * 60);

impl ConcurSettings {
    /// Converts the settings into a [`ClientConfig`], recording a problem per bad key.
    ///
    /// Returns `None` when any problem was found. Plain-`http` URLs are accepted with a
    /// warning in development mode (tests and local simulators use them) and refused in
    /// production; item URLs are checked by the launch module.
    pub fn validate(self, problems: &mut Problems, mode: Mode) -> Option<ClientConfig> {
        let mut local = Problems::default();
        let config = self.convert(&mut local, mode);
        let clean = local.is_empty();
        problems.extend(local.into_vec());
        config.filter(|_| clean)
    }

    fn convert(self, problems: &mut Problems, mode: Mode) -> Option<ClientConfig> {
        let client_id = match self.client_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => Some(id.to_owned()),
            _ => {
                problems.push("concur.client_id", "is required");
                None
            }
        };
        let client_secret = resolve_required(
            problems,
            "concur.client_secret",
            self.client_secret,
            self.client_secret_file.as_deref(),
            None,
        );
        let redirect_uri = match self.redirect_uri.as_deref() {
            Some(raw) => web_url(problems, "concur.redirect_uri", raw, mode),
            None => {
                problems.push(
                    "concur.redirect_uri",
                    "is required (the redirect url registered for the oauth client)",
                );
                None
            }
        };
        let auth_base_url = web_url(problems, "concur.auth_base_url", &self.auth_base_url, mode);
        let api_base_url = match self.api_base_url.as_deref() {
            Some(raw) => web_url(problems, "concur.api_base_url", raw, mode),
            None => auth_base_url.clone(),
        };
        let jwks_url = web_url(problems, "concur.jwks_url", &self.jwks_url, mode);
        for host in &self.allowed_geolocation_hosts {
            if let Err(message) = crate::launch::check_allowed_host(host) {
                problems.push("concur.allowed_geolocation_hosts", message);
            }
        }
        let geolocations =
            concur_client::GeolocationPolicy::new(&self.allowed_geolocation_hosts, mode);

        let company_grant = company_grant(
            problems,
            CompanyInputs {
                refresh_token: self.refresh_token,
                refresh_token_file: self.refresh_token_file.as_deref(),
                company_id: self.company_id,
                request_token: self.company_request_token,
                request_token_file: self.company_request_token_file.as_deref(),
            },
            &self.state_dir,
        );

        let extra_roots = match self.extra_ca_file.as_deref() {
            Some(path) => load_roots(problems, path),
            None => Some(Vec::new()),
        };

        for (key, value) in [
            ("concur.connect_timeout", self.connect_timeout),
            ("concur.request_timeout", self.request_timeout),
            ("concur.retry_base_delay", self.retry_base_delay),
            ("concur.retry_max_delay", self.retry_max_delay),
        ] {
            if value.is_zero() {
                problems.push(key, "must be greater than zero");
            }
        }
        if self.retry_base_delay > self.retry_max_delay {
            problems.push(
                "concur.retry_base_delay",
                "must not exceed concur.retry_max_delay",
            );
        }
        if self.max_retries > MAX_RETRIES {
            problems.push(
                "concur.max_retries",
                format!("must be at most {MAX_RETRIES}"),
            );
        }
        if self.token_refresh_margin > MAX_REFRESH_MARGIN {
            problems.push(
                "concur.token_refresh_margin",
                "must be at most 30m (access tokens live one hour)",
            );
        }

        Some(ClientConfig {
            client_id: client_id?,
            client_secret: client_secret?,
            redirect_uri: redirect_uri?,
            auth_base_url: auth_base_url?,
            api_base_url: api_base_url?,
            geolocations,
            jwks_url: jwks_url?,
            company_grant: company_grant?,
            state_dir: self.state_dir,
            extra_roots: extra_roots?,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            max_retries: self.max_retries,
            retry_base_delay: self.retry_base_delay,
            retry_max_delay: self.retry_max_delay,
            token_refresh_margin: self.token_refresh_margin,
        })
    }
}

struct CompanyInputs<'a> {
    refresh_token: Option<SecretString>,
    refresh_token_file: Option<&'a Path>,
    company_id: Option<String>,
    request_token: Option<SecretString>,
    request_token_file: Option<&'a Path>,
}

/// `Some(None)` means "no grant configured, but the state file has a token".
fn company_grant(
    problems: &mut Problems,
    inputs: CompanyInputs<'_>,
    state_dir: &Path,
) -> Option<Option<CompanyGrant>> {
    let refresh_token = inputs.refresh_token.filter(|s| !is_blank(s));
    let request_token = inputs.request_token.filter(|s| !is_blank(s));
    let refresh_set = refresh_token.is_some() || inputs.refresh_token_file.is_some();
    let request_set = request_token.is_some() || inputs.request_token_file.is_some();
    let company_id = inputs
        .company_id
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty());

    if refresh_set && request_set {
        problems.push(
            "concur.refresh_token",
            "set either a refresh token or a company request token, not both",
        );
        return None;
    }
    if refresh_set {
        let token = resolve(
            problems,
            "concur.refresh_token",
            refresh_token,
            inputs.refresh_token_file,
        )?;
        return Some(Some(CompanyGrant::RefreshToken(token)));
    }
    if request_set {
        let token = resolve(
            problems,
            "concur.company_request_token",
            request_token,
            inputs.request_token_file,
        );
        let Some(company_id) = company_id else {
            problems.push(
                "concur.company_id",
                "is required with concur.company_request_token",
            );
            return None;
        };
        return token.map(|request_token| {
            Some(CompanyGrant::RequestToken {
                company_id,
                request_token,
            })
        });
    }
    if company_id.is_some() {
        problems.push(
            "concur.company_request_token",
            "is required with concur.company_id",
        );
        return None;
    }
    if state_dir.join(STATE_FILE_NAME).is_file() {
        return Some(None);
    }
    problems.push(
        "concur.refresh_token",
        format!(
            "no company credentials: set concur.refresh_token, or concur.company_id with \
             concur.company_request_token (no saved token in {})",
            state_dir.display()
        ),
    );
    None
}

fn load_roots(problems: &mut Problems, path: &Path) -> Option<Vec<Certificate>> {
    let key = "concur.extra_ca_file";
    let pem = match std::fs::read(path) {
        Ok(pem) => pem,
        Err(e) => {
            problems.push(key, format!("cannot read {}: {e}", path.display()));
            return None;
        }
    };
    match Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Some(certs),
        Ok(_) => {
            problems.push(key, format!("{} holds no pem certificate", path.display()));
            None
        }
        Err(e) => {
            problems.push(
                key,
                format!("{} is not a pem certificate bundle: {e}", path.display()),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> serde_json::Value {
        serde_json::json!({
            "client_id": "11111111-2222-4333-8444-555555555555",
            "client_secret": "66666666-7777-4888-9999-aaaaaaaaaaaa",
            "redirect_uri": "https://leu.example.com/launchexternalurl/v4/form",
            "refresh_token": "seed-refresh-token",
        })
    }

    fn settings(value: serde_json::Value) -> ConcurSettings {
        serde_json::from_value(value).unwrap()
    }

    fn keys(problems: Problems) -> Vec<String> {
        problems.into_vec().into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn a_minimal_table_gets_the_documented_defaults() {
        let mut problems = Problems::default();
        let config = settings(minimal())
            .validate(&mut problems, Mode::Production)
            .unwrap();
        assert!(problems.is_empty());
        assert_eq!(
            config.auth_base_url.as_str(),
            "https://glz.api.concursolutions.com/"
        );
        assert_eq!(config.api_base_url, config.auth_base_url);
        assert_eq!(config.jwks_url.as_str(), DEFAULT_JWKS_URL);
        assert_eq!(config.state_dir, PathBuf::from("state"));
        assert_eq!(config.request_timeout, Duration::from_secs(30));
        assert!(matches!(
            config.company_grant,
            Some(CompanyGrant::RefreshToken(_))
        ));
    }

    #[test]
    fn durations_are_humantime_strings_and_unknown_keys_are_refused() {
        let mut value = minimal();
        value["connect_timeout"] = "750ms".into();
        value["token_refresh_margin"] = "2m".into();
        let s = settings(value.clone());
        assert_eq!(s.connect_timeout, Duration::from_millis(750));
        assert_eq!(s.token_refresh_margin, Duration::from_secs(120));

        value["clientid"] = "typo".into();
        assert!(serde_json::from_value::<ConcurSettings>(value).is_err());
    }

    #[test]
    fn an_empty_table_names_every_missing_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = ConcurSettings {
            state_dir: dir.path().to_owned(),
            ..ConcurSettings::default()
        };
        let mut problems = Problems::default();
        assert!(s.validate(&mut problems, Mode::Production).is_none());
        assert_eq!(
            keys(problems),
            [
                "concur.client_id",
                "concur.client_secret",
                "concur.redirect_uri",
                "concur.refresh_token"
            ]
        );
    }

    #[test]
    fn company_credentials_are_checked() {
        let cases: [(&str, serde_json::Value, &str); 3] = [
            (
                "both grants",
                serde_json::json!({"company_id": "c", "company_request_token": "r"}),
                "concur.refresh_token",
            ),
            (
                "request token without company id",
                serde_json::json!({"refresh_token": null, "company_request_token": "r"}),
                "concur.company_id",
            ),
            (
                "company id without request token",
                serde_json::json!({"refresh_token": null, "company_id": "c"}),
                "concur.company_request_token",
            ),
        ];
        for (name, extra, key) in cases {
            let mut value = minimal();
            for (k, v) in extra.as_object().unwrap() {
                value[k] = v.clone();
            }
            let mut problems = Problems::default();
            assert!(
                settings(value)
                    .validate(&mut problems, Mode::Production)
                    .is_none(),
                "{name}"
            );
            assert_eq!(keys(problems), [key], "{name}");
        }
    }

    #[test]
    fn a_request_token_grant_is_accepted() {
        let mut value = minimal();
        value["refresh_token"] = serde_json::Value::Null;
        value["company_id"] = "company-uuid".into();
        value["company_request_token"] = "request-token".into();
        let mut problems = Problems::default();
        let config = settings(value)
            .validate(&mut problems, Mode::Production)
            .unwrap();
        assert!(matches!(
            config.company_grant,
            Some(CompanyGrant::RequestToken { ref company_id, .. }) if company_id == "company-uuid"
        ));
    }

    #[test]
    fn a_saved_state_file_stands_in_for_the_grant() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE_NAME), "{}").unwrap();
        let mut value = minimal();
        value["refresh_token"] = serde_json::Value::Null;
        value["state_dir"] = dir.path().to_str().unwrap().into();
        let mut problems = Problems::default();
        let config = settings(value)
            .validate(&mut problems, Mode::Production)
            .unwrap();
        assert!(config.company_grant.is_none());
    }

    #[test]
    fn bad_values_are_reported_under_their_keys() {
        let mut value = minimal();
        value["auth_base_url"] = "not a url".into();
        value["jwks_url"] = "ftp://x/jwks".into();
        value["max_retries"] = 11.into();
        value["request_timeout"] = "0s".into();
        value["token_refresh_margin"] = "31m".into();
        value["extra_ca_file"] = "/nonexistent/ca.pem".into();
        let mut problems = Problems::default();
        assert!(
            settings(value)
                .validate(&mut problems, Mode::Production)
                .is_none()
        );
        let mut got = keys(problems);
        got.sort();
        assert_eq!(
            got,
            [
                "concur.auth_base_url",
                "concur.extra_ca_file",
                "concur.jwks_url",
                "concur.max_retries",
                "concur.request_timeout",
                "concur.token_refresh_margin",
            ]
        );
    }

    #[test]
    fn plain_http_is_allowed_in_development_only() {
        let mut value = minimal();
        value["auth_base_url"] = "http://127.0.0.1:8080".into();
        let mut problems = Problems::default();
        assert!(
            settings(value.clone())
                .validate(&mut problems, Mode::Development)
                .is_some()
        );
        assert!(problems.is_empty());
        assert!(
            settings(value)
                .validate(&mut problems, Mode::Production)
                .is_none()
        );
        assert_eq!(keys(problems), ["concur.auth_base_url"]);
    }

    #[test]
    fn an_extra_ca_file_is_loaded_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, cert.cert.pem()).unwrap();
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "not a certificate").unwrap();

        let mut value = minimal();
        value["extra_ca_file"] = good.to_str().unwrap().into();
        let mut problems = Problems::default();
        let config = settings(value.clone())
            .validate(&mut problems, Mode::Production)
            .unwrap();
        assert_eq!(config.extra_roots.len(), 1);

        value["extra_ca_file"] = bad.to_str().unwrap().into();
        let mut problems = Problems::default();
        assert!(
            settings(value)
                .validate(&mut problems, Mode::Production)
                .is_none()
        );
        assert_eq!(keys(problems), ["concur.extra_ca_file"]);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let text = format!("{:?}", settings(minimal()));
        assert!(!text.contains("66666666-7777"));
        assert!(!text.contains("seed-refresh-token"));
    }
}
