//! OAuth2: `POST /oauth2/v0/token` (all grants the connector uses) and `GET /oauth2/v0/jwks`
//! (docs/protocol.md §5.8, §7).

use std::collections::HashMap;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::error::OAuthError;
use super::faults::IdTokenFault;
use super::record::{Principal, RequestNote};
use super::state::SimHandle;
use super::tokens::{Claims, epoch_seconds};

pub(crate) fn routes() -> Router<SimHandle> {
    Router::new()
        .route("/oauth2/v0/token", post(token))
        .route("/oauth2/v0/jwks", get(jwks))
}

async fn jwks(State(sim): State<SimHandle>) -> Response {
    axum::Json(sim.shared.signer.jwks().clone()).into_response()
}

async fn token(State(sim): State<SimHandle>, request: axum::extract::Request) -> Response {
    let host = super::request_host(&request);
    let body = match axum::body::to_bytes(request.into_body(), 1 << 20).await {
        Ok(body) => body,
        Err(_) => Bytes::new(),
    };
    // First occurrence wins; the body is form-encoded whatever the Content-Type says.
    let mut form: HashMap<String, String> = HashMap::new();
    for (name, value) in form_urlencoded::parse(&body) {
        form.entry(name.into_owned()).or_insert(value.into_owned());
    }
    let grant_type = form.get("grant_type").cloned();
    let (principal, mut response) = match away_from_home(&sim, host.as_deref(), &form)
        .map_or_else(|| grant(&sim, &form), Err)
    {
        Ok((principal, body)) => {
            let mut response = axum::Json(body).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            (Some(principal), response)
        }
        Err(e) => (None, e.into_response()),
    };
    response.extensions_mut().insert(RequestNote {
        principal,
        grant_type,
    });
    response
}

/// The fault knobs that answer a grant by the host it arrived at: OAuth error 16 naming
/// another geolocation, or an auth base (GLZ) refusing code grants (docs/protocol.md §7.2).
fn away_from_home(
    sim: &SimHandle,
    host: Option<&str>,
    form: &HashMap<String, String>,
) -> Option<OAuthError> {
    let grant_type = form.get("grant_type").map(String::as_str);
    let mut inner = sim.lock();
    if let Some(geolocation) = inner.faults.take_elsewhere(host, grant_type) {
        return Some(OAuthError::code(16, &geolocation));
    }
    if grant_type == Some("authorization_code")
        && let Some((status, code)) = inner.faults.code_refusal(host)
    {
        return Some(OAuthError {
            status,
            ..OAuthError::code(code, sim.geolocation())
        });
    }
    None
}

fn grant(
    sim: &SimHandle,
    form: &HashMap<String, String>,
) -> Result<(Principal, Value), OAuthError> {
    let settings = sim.settings();
    let geo = settings.geolocation.as_str();
    let field = |name: &str, code: u32| {
        form.get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OAuthError::code(code, geo))
    };
    let client_id = field("client_id", 62)?;
    let client_secret = field("client_secret", 63)?;
    let grant_type = field("grant_type", 65)?;
    if !client_id.eq_ignore_ascii_case(&settings.client_id) {
        return Err(OAuthError::code(61, geo));
    }
    if !settings.client_secret_matches(client_secret) {
        return Err(OAuthError::code(64, geo));
    }
    let principal = match grant_type {
        "refresh_token" => {
            let refresh = field("refresh_token", 106)?;
            sim.lock()
                .tokens
                .take_refresh(refresh)
                .map_err(|_| OAuthError::code(108, geo))?
        }
        "password" => {
            let username = field("username", 51)?;
            let password = field("password", 52)?;
            let credtype = form.get("credtype").map_or("password", String::as_str);
            if credtype.eq_ignore_ascii_case("authtoken") {
                let company = sim.lock().data.company.id.clone();
                if username.eq_ignore_ascii_case(&company)
                    && settings.request_token_matches(password)
                {
                    Principal::Company
                } else {
                    return Err(OAuthError::code(5, geo));
                }
            } else if credtype.eq_ignore_ascii_case("password") {
                // The simulator keeps no user passwords: user password grants always fail.
                return Err(OAuthError::code(5, geo));
            } else {
                return Err(OAuthError::code(120, geo));
            }
        }
        "authorization_code" => {
            let code = field("code", 101)?;
            let redirect_uri = field("redirect_uri", 102)?;
            let mut inner = sim.lock();
            inner
                .tokens
                .peek_code(code)
                .map_err(|_| OAuthError::code(103, geo))?;
            // A mismatched redirect_uri leaves the code usable, as the grant never happened.
            if redirect_uri != settings.redirect_uri {
                return Err(OAuthError::code(104, geo));
            }
            let user_id = inner
                .tokens
                .take_code(code)
                .map_err(|_| OAuthError::code(103, geo))?;
            Principal::User { user_id }
        }
        "client_credentials" => Principal::App,
        _ => return Err(OAuthError::code(60, geo)),
    };
    let id_token_fault = if grant_type == "authorization_code" {
        sim.lock().faults.take_id_token_fault()
    } else {
        None
    };
    let body = issue(sim, &principal, id_token_fault)
        .map_err(|_| OAuthError::unavailable(axum::http::StatusCode::INTERNAL_SERVER_ERROR, geo))?;
    Ok((principal, body))
}

/// Mints the tokens of a successful grant and answers as docs/protocol.md §7.4 shows: `expires_in` as a
/// string, `geolocation` = the simulator, `refresh_expires_in` (epoch) for company tokens,
/// no refresh or id token for the client-credentials grant.
fn issue(
    sim: &SimHandle,
    principal: &Principal,
    id_token_fault: Option<IdTokenFault>,
) -> anyhow::Result<Value> {
    let settings = sim.settings();
    let now = SystemTime::now();
    let iat = epoch_seconds(now);
    let lifetime = settings.lifetimes.access_token;
    let company_id = sim.lock().data.company.id.clone();
    let (sub, concur_type) = match principal {
        Principal::Company => (company_id.as_str(), "company"),
        Principal::User { user_id } => (user_id.as_str(), "user"),
        Principal::App => (settings.client_id.as_str(), "app"),
    };
    let claims = |jti: String| Claims {
        aud: &settings.client_id,
        sub,
        iss: &settings.geolocation,
        concur_type,
        concur_version: 2,
        concur_profile: Some(format!(
            "{}/profile/v1/principals/{sub}",
            settings.geolocation
        )),
        exp: iat + lifetime.as_secs(),
        nbf: iat,
        iat,
        jti,
    };
    let access_token = sim
        .shared
        .signer
        .sign(&claims(uuid::Uuid::new_v4().to_string()))?;
    let mut body = json!({
        "expires_in": lifetime.as_secs().to_string(),
        "scope": settings.scope,
        "token_type": "Bearer",
        "access_token": access_token,
        "geolocation": settings.geolocation,
    });
    let refresh = (*principal != Principal::App).then(|| uuid::Uuid::new_v4().to_string());
    if let Some(refresh) = &refresh {
        body["refresh_token"] = json!(refresh);
        let mut id_claims = claims(uuid::Uuid::new_v4().to_string());
        match id_token_fault {
            None | Some(IdTokenFault::Missing) => {}
            Some(IdTokenFault::WrongAudience) => {
                id_claims.aud = "99999999-9999-4999-8999-999999999999";
            }
            Some(IdTokenFault::WrongIssuer) => id_claims.iss = "https://login.evil.example",
            Some(IdTokenFault::Expired) => {
                id_claims.exp = iat.saturating_sub(3600);
                id_claims.nbf = iat.saturating_sub(7200);
            }
        }
        if id_token_fault != Some(IdTokenFault::Missing) {
            body["id_token"] = json!(sim.shared.signer.sign(&id_claims)?);
        }
    }
    let refresh_expires = now + settings.lifetimes.refresh_token;
    if *principal == Principal::Company {
        body["refresh_expires_in"] = json!(epoch_seconds(refresh_expires));
    }

    let mut inner = sim.lock();
    inner
        .tokens
        .add_access(access_token, principal.clone(), lifetime);
    if let Some(refresh) = refresh {
        inner
            .tokens
            .add_refresh(refresh, principal.clone(), refresh_expires);
    }
    Ok(body)
}

impl SimHandle {
    /// Registers a company refresh token, as if an admin had created it in Concur.
    pub(crate) fn seed_company_refresh_token(&self, token: String) {
        let expires = SystemTime::now() + self.settings().lifetimes.refresh_token;
        self.lock()
            .tokens
            .add_refresh(token, Principal::Company, expires);
    }
}
