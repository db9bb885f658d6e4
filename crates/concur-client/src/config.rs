//! The client's validated settings, in domain types, and the production/development mode.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Certificate, Url};
use secrecy::SecretString;

/// The OAuth2 token endpoint below an auth base or geolocation (docs/protocol.md §7.1).
pub(crate) const TOKEN_PATH: &str = "/oauth2/v0/token";

/// Concur's global token endpoint host, where authorization codes and company request tokens
/// must be exchanged since January 2025 (docs/protocol.md §5.8, §7.3).
pub const DEFAULT_AUTH_BASE_URL: &str = "https://glz.api.concursolutions.com";
/// Concur's published JWKS for verifying `id_token` signatures (docs/protocol.md §7.1).
pub const DEFAULT_JWKS_URL: &str = "https://www-us.api.concursolutions.com/oauth2/v0/jwks";

/// Production or development: which safety checks apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No `development = true`: every outgoing URL must be `https`.
    Production,
    /// `development = true`: plain `http` is accepted (with a warning) for local test servers.
    Development,
}

impl Mode {
    pub fn of(development: bool) -> Self {
        if development {
            Mode::Development
        } else {
            Mode::Production
        }
    }
}

/// How the client obtains its first company-level refresh token.
#[derive(Debug, Clone)]
pub enum CompanyGrant {
    /// A refresh token issued earlier (e.g. by Concur's company refresh tool).
    RefreshToken(SecretString),
    /// `grant_type=password`, `credtype=authtoken`: company id plus company request token.
    RequestToken {
        company_id: String,
        request_token: SecretString,
    },
}

/// Validated settings of the Concur client, in domain types.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uri: Url,
    pub auth_base_url: Url,
    /// Base for the first refresh-token grant before any geolocation is known.
    pub api_base_url: Url,
    /// Where a token response's `geolocation` may point.
    pub geolocations: crate::GeolocationPolicy,
    pub jwks_url: Url,
    /// `None` when the state directory already holds a token (the state file wins anyway).
    pub company_grant: Option<CompanyGrant>,
    pub state_dir: PathBuf,
    /// Extra trust anchors, added to the system roots.
    pub extra_roots: Vec<Certificate>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_retries: u32,
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    pub token_refresh_margin: Duration,
}
