//! Launch External URL: verify Concur's signed launch, stop replays, hand over to a session.
//!
//! `GET {v4_path}` / `GET {v1_path}` carry the signed query; on success they answer `303` to
//! [`SESSION_PATH`] with a session cookie, so the signature, nonce and auth code leave the
//! address bar (and any later Referer) after the first request.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::picker::SESSION_PATH;
use crate::concur::{Failure, UserToken};
use crate::launch::{self, ErrorClass, LaunchError, VerifiedLaunch, Version};
use crate::session::LaunchSession;
use crate::startup::AppState;
use crate::store::Freshness;

pub fn routes(state: &AppState) -> Router<Arc<AppState>> {
    let mut router = Router::new();
    if let Some(path) = &state.launch.v4_path {
        router = router.route(path, get(launch_v4));
    }
    if let Some(path) = &state.launch.v1_path {
        router = router.route(path, get(launch_v1));
    }
    router
}

async fn launch_v4(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    launch(&state, Version::V4, query.as_deref().unwrap_or_default()).await
}

async fn launch_v1(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    launch(&state, Version::V1, query.as_deref().unwrap_or_default()).await
}

/// Extract, check, remember, hand over.
async fn launch(state: &AppState, version: Version, raw_query: &str) -> Response {
    let mut verified = match verify(state, version, raw_query) {
        Ok(verified) => verified,
        Err(error) => return refusal(state, version, raw_query, &error),
    };
    let nonce_key = format!(
        "{}|{}",
        verified.company_domain().to_ascii_lowercase(),
        verified.nonce()
    );
    match state
        .nonces
        .remember(&nonce_key, state.launch.replay_window)
        .await
    {
        Ok(Freshness::Fresh) => {}
        Ok(Freshness::Replayed) => {
            tracing::warn!(
                company = verified.company_domain(),
                "launch refused: replayed nonce"
            );
            return state.pages.error(
                StatusCode::FORBIDDEN,
                "This link was already used",
                "For your security, each launch from Concur works only once.",
                Some("Close this window and click the field in Concur again."),
            );
        }
        Err(error) => return unavailable(state, &error),
    }
    let user_token = match exchange_auth_code(state, &mut verified).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let session = LaunchSession::new(verified.context());
    let id = match state.sessions.create(&session, user_token).await {
        Ok(id) => id,
        Err(error) => return unavailable(state, &error),
    };
    tracing::info!(
        company = verified.company_domain(),
        user = verified.user_id(),
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

/// Exchanges the v4 `client_auth_code` once, right after verification (it is single-use),
/// and ties it to the signed user through the `id_token`.
async fn exchange_auth_code(
    state: &AppState,
    verified: &mut VerifiedLaunch,
) -> Result<Option<UserToken>, Response> {
    let (Some(concur), Some(code)) = (&state.concur, verified.take_client_auth_code()) else {
        return Ok(None);
    };
    match concur.exchange_auth_code(&code, verified.user_id()).await {
        Ok(token) => Ok(Some(token)),
        Err(error) => {
            tracing::warn!(%error, correlation_id = error.correlation_id(), "launch refused: auth code exchange failed");
            let page = match error.classify() {
                Failure::Forbidden => state.pages.error(
                    StatusCode::FORBIDDEN,
                    "This launch is not allowed",
                    "Concur did not confirm that this launch belongs to the signed-in user.",
                    Some("Close this window and click the field in Concur again."),
                ),
                Failure::Unavailable => state.pages.error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Concur is not answering",
                    "The connector could not reach Concur to confirm this launch.",
                    Some("Close this window, wait a moment and click the field in Concur again."),
                ),
                Failure::Validation(_) | Failure::Other => state.pages.error(
                    StatusCode::BAD_GATEWAY,
                    "Concur refused this launch",
                    "Concur did not accept the launch's one-time authorization.",
                    Some("Close this window and click the field in Concur again. If it keeps happening, ask your Concur administrator to check the connector's OAuth client."),
                ),
            };
            Err(page)
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
fn refusal(state: &AppState, version: Version, raw_query: &str, error: &LaunchError) -> Response {
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
    let (status, title, message, hint) = match error.class() {
        ErrorClass::Malformed => (
            StatusCode::BAD_REQUEST,
            "This launch link is incomplete",
            "The address that opened this window is not a valid launch from Concur.",
            "Close this window and click the field in Concur again.",
        ),
        ErrorClass::SignatureMismatch => (
            StatusCode::UNAUTHORIZED,
            "This launch could not be verified",
            "The launch did not carry a valid signature from Concur.",
            "Close this window and try again. If it keeps happening, ask your Concur administrator to check the connector's registration.",
        ),
        ErrorClass::Forbidden => (
            StatusCode::FORBIDDEN,
            "This launch is not allowed",
            "The launch refers to an address this connector does not work with.",
            "Ask your Concur administrator to check the connector's configuration.",
        ),
    };
    state.pages.error(status, title, message, Some(hint))
}

fn unavailable(state: &AppState, error: &crate::store::StoreError) -> Response {
    tracing::error!(%error, "launch store unavailable");
    state.pages.error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The connector cannot process launches right now.",
        Some("Close this window, wait a moment and click the field in Concur again."),
    )
}
