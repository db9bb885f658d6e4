//! The common path of every read endpoint: authenticate, render under the state lock, answer.

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, Family};
use super::record::{Principal, RequestNote};
use super::seed::Seed;
use super::state::SimHandle;

/// Authenticates the call, runs `render` on the data under the state lock, and notes the
/// caller's principal on the answer (or on its error) for the request log.
pub(crate) fn handle(
    sim: &SimHandle,
    headers: &HeaderMap,
    family: Family,
    path: &str,
    render: impl FnOnce(&Seed, &Principal) -> Result<Response, ApiError>,
) -> Response {
    let principal = sim.authenticate(headers, family, path);
    let result = principal.clone().and_then(|principal| {
        let inner = sim.lock();
        render(&inner.data, &principal)
    });
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(RequestNote {
        principal: principal.ok(),
        grant_type: None,
    });
    response
}
