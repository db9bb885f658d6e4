//! Concur's "Test Connection" probe: HTTP Basic with the registered credentials → 200 `OK`.
//!
//! Concur documents GET; third-party connectors also saw POST, and `/system/v2.0/…` (trap
//! docs/protocol.md T17), so all of them answer. Bodies are drained (bounded) and ignored.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest as _, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

/// Kept under its old name for the routes that answer Concur in plain text.
pub(crate) use super::basic_auth::plain;

/// Paths Concur may probe.
pub use super::paths::TEST_CONNECTION as PATHS;

pub fn routes() -> Router<Arc<AppState>> {
    PATHS.iter().fold(Router::new(), |router, path| {
        router.route(
            path,
            get(test_connection)
                .head(test_connection)
                .post(test_connection),
        )
    })
}

/// Takes the whole request rather than a `HeaderMap`, which would copy every header: the
/// check reads the one it needs in place. The body is then drained as the `Bytes` extractor
/// does, within the router's body limit (`413` beyond it).
async fn test_connection(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let checked = super::basic_auth::check(&state, request.headers(), "test connection");
    if let Err(rejection) = Bytes::from_request(request, &state).await {
        return rejection.into_response();
    }
    match checked {
        Ok(()) => plain(StatusCode::OK, "OK"),
        Err(refused) => refused.into_response(),
    }
}
