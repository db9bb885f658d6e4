//! Launch External URL: verify Concur's signed launch, stop replays, hand over to a session.
//!
//! `GET {v4_path}`, `GET {request_path}` (Concur Request's default, the same v4 handler: the
//! verifier tells the products apart by their parameter names) and `GET {v1_path}` carry the
//! signed query; on success they answer `303` to
//! [`SESSION_PATH`] with a session cookie, so the signature, nonce and auth code leave the
//! address bar (and any later Referer) after the first request.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::paths::SESSION as SESSION_PATH;
use crate::concur::{Failure, UserToken};
use crate::launch::{self, ErrorClass, LaunchError, VerifiedLaunch, Version};
use crate::pages::PageError;
use crate::pages::i18n::Lang;
use crate::session::LaunchSession;
use crate::state::AppState;
use crate::store::Freshness;

pub fn routes(state: &AppState) -> Router<Arc<AppState>> {
    let mut router = Router::new();
    // One v4 handler for both products: a registration has one Launch External URL
    // endpoint, so either product's launches may arrive on either path.
    for path in [&state.launch.v4_path, &state.launch.request_path]
        .into_iter()
        .flatten()
    {
        router = router.route(path, get(launch_v4));
    }
    if let Some(path) = &state.launch.v1_path {
        router = router.route(path, get(launch_v1));
    }
    router
}

async fn launch_v4(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match query.as_deref().filter(|q| !q.is_empty()) {
        Some(query) => launch(&state, Version::V4, query).await,
        None => probe(&state, &headers, Version::V4).await,
    }
}

async fn launch_v1(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match query.as_deref().filter(|q| !q.is_empty()) {
        Some(query) => launch(&state, Version::V1, query).await,
        None => probe(&state, &headers, Version::V1).await,
    }
}

/// A request without a query. Concur's Test Connection may probe a service's configured
/// endpoint with the connector's Basic credentials (docs/protocol.md §2): that gets the
/// same `200 OK` as test connection. Anything else is a launch with nothing in it.
async fn probe(state: &AppState, headers: &HeaderMap, version: Version) -> Response {
    match super::basic_auth::basic_credentials(headers) {
        Some((user, password)) if state.credentials.matches(&user, &password) => {
            super::test_connection::plain(StatusCode::OK, "OK")
        }
        _ => launch(state, version, "").await,
    }
}

/// Extract, check, remember, hand over.
async fn launch(state: &AppState, version: Version, raw_query: &str) -> Response {
    let lang = Lang::of_query(raw_query);
    let mut verified = match verify(state, version, raw_query) {
        Ok(verified) => verified,
        Err(error) => return refusal(state, lang, version, raw_query, &error),
    };
    if let Err(refused) = admit(state, &verified).await {
        return refused.in_lang(lang).into_response();
    }
    let user_token = match exchange_auth_code(state, &mut verified).await {
        Ok(token) => token,
        Err(refused) => return refused.in_lang(lang).into_response(),
    };
    let session = LaunchSession::new(verified.context());
    let id = match state.sessions.create(&session, user_token).await {
        Ok(id) => id,
        Err(error) => return unavailable(&error).in_lang(lang).into_response(),
    };
    tracing::info!(
        company = verified.company_domain(),
        user = verified.user_id(),
        product = verified.product().as_str(),
        source = verified.source().as_str(),
        version = ?version,
        "launch verified"
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, HeaderValue::from_static(SESSION_PATH)),
            (header::SET_COOKIE, state.sessions.set_cookie(&id)),
        ],
    )
        .into_response()
}

/// The checks after the signature: the company, the auth code, and once per launch.
async fn admit(state: &AppState, verified: &VerifiedLaunch) -> Result<(), PageError> {
    let company = verified.company_domain();
    if !state.launch.company_allowed(company) {
        tracing::warn!(
            company,
            "launch refused: company not in launch.company_domains"
        );
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "not_allowed_title",
            "company_message",
            "ask_admin_config",
        ));
    }
    if code_exchange_required(state, verified) && verified.client_auth_code().is_none() {
        tracing::warn!(
            company,
            "launch refused: no client_auth_code (set launch.allow_company_token_fallback to accept such launches with the company token)"
        );
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "malformed_title",
            "no_auth_code_message",
            "click_again",
        ));
    }
    // Keyed on the MAC, not on (company domain, nonce): the MAC covers the signed values
    // without separators, so characters moved between neighbouring values keep it valid and
    // would make a used launch look fresh under any key built from those values.
    let window = state.launch.replay_window;
    match state.nonces.remember(&verified.replay_key(), window).await {
        Ok(Freshness::Fresh) => Ok(()),
        Ok(Freshness::Replayed) => {
            tracing::warn!(company, "launch refused: replayed nonce");
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                "launch_used_title",
                "launch_used_message",
                "click_again",
            ))
        }
        Err(error) => Err(unavailable(&error)),
    }
}

/// Whether this launch must carry a `client_auth_code`: v4 launches when Concur is
/// configured, unless the operator accepted the company-token fallback. Without the code
/// nothing ties the launch to a Concur login, so the signed user ids would be all there is.
fn code_exchange_required(state: &AppState, verified: &VerifiedLaunch) -> bool {
    verified.version() == Version::V4
        && state.concur.is_some()
        && !state.launch.allow_company_token_fallback
}

/// Exchanges the v4 `client_auth_code` once, right after verification (it is single-use),
/// and ties it to the signed user through the `id_token`.
async fn exchange_auth_code(
    state: &AppState,
    verified: &mut VerifiedLaunch,
) -> Result<Option<UserToken>, PageError> {
    let (Some(concur), Some(code)) = (&state.concur, verified.take_client_auth_code()) else {
        return Ok(None);
    };
    match concur.exchange_auth_code(&code, verified.user_id()).await {
        Ok(token) => Ok(Some(token)),
        Err(error) => {
            tracing::warn!(%error, correlation_id = error.correlation_id(), "launch refused: auth code exchange failed");
            Err(match error.classify() {
                Failure::Forbidden => PageError::new(
                    StatusCode::FORBIDDEN,
                    "not_allowed_title",
                    "not_your_launch",
                    "click_again",
                ),
                Failure::Unavailable => PageError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "concur_down_title",
                    "concur_down_message",
                    "wait_and_click_again",
                ),
                Failure::Validation(_) | Failure::Other => PageError::new(
                    StatusCode::BAD_GATEWAY,
                    "refused_title",
                    "refused_message",
                    "refused_hint",
                ),
            })
        }
    }
}

fn verify(
    state: &AppState,
    version: Version,
    raw_query: &str,
) -> Result<VerifiedLaunch, LaunchError> {
    let policy = &state.launch.item_urls;
    match version {
        Version::V4 => launch::verify_v4(raw_query, &state.credentials, policy),
        Version::V1 => launch::verify_v1(raw_query, &state.credentials, policy),
    }
}

/// Logs why (never a value from the query) and renders the page for the error's class.
fn refusal(
    state: &AppState,
    lang: Lang,
    version: Version,
    raw_query: &str,
    error: &LaunchError,
) -> Response {
    tracing::warn!(version = ?version, %error, "launch refused");
    if state.launch.diagnostics && error.class() == ErrorClass::SignatureMismatch {
        let reading = match version {
            Version::V4 => launch::diagnose_v4(raw_query, &state.credentials),
            Version::V1 => launch::diagnose_v1(raw_query, &state.credentials),
        };
        match reading {
            Some(reading) => tracing::warn!(
                diagnosis = reading.description(),
                "the signature would match under a known wrong reading; the launch stays refused"
            ),
            None => tracing::warn!("no known wrong reading matches either: the credentials differ"),
        }
    }
    class_page(error.class()).in_lang(lang).into_response()
}

/// The one mapping from a refusal's class to its status and page.
fn class_page(class: ErrorClass) -> PageError {
    match class {
        ErrorClass::Malformed => PageError::new(
            StatusCode::BAD_REQUEST,
            "malformed_title",
            "malformed_message",
            "click_again",
        ),
        ErrorClass::SignatureMismatch => PageError::new(
            StatusCode::UNAUTHORIZED,
            "unverified_title",
            "unverified_message",
            "unverified_hint",
        ),
        ErrorClass::Forbidden => PageError::new(
            StatusCode::FORBIDDEN,
            "not_allowed_title",
            "host_message",
            "ask_admin_config",
        ),
    }
}

fn unavailable(error: &crate::store::StoreError) -> PageError {
    tracing::error!(%error, "launch store unavailable");
    PageError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable_title",
        "launch_unavailable_message",
        "wait_and_click_again",
    )
}
