//! The common path of every read endpoint: authenticate, render under the state lock, answer.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, Family};
use super::record::{Principal, RequestNote};
use super::seed::Seed;
use super::state::SimHandle;

/// One incoming read request, as every read endpoint extracts it (next to its `Path`).
pub(crate) struct ReadCall {
    /// The request path exactly as received (still percent-encoded).
    path: String,
    headers: HeaderMap,
}

impl ReadCall {
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ReadCall {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(OriginalUri(uri)) = OriginalUri::from_request_parts(parts, state).await;
        Ok(Self {
            path: uri.path().to_owned(),
            headers: parts.headers.clone(),
        })
    }
}

/// Authenticates the call, runs `render` on the data under the state lock, and notes the
/// caller's principal on the answer (or on its error) for the request log.
pub(crate) fn handle(
    sim: &SimHandle,
    family: Family,
    call: &ReadCall,
    render: impl FnOnce(&Seed, &Principal) -> Result<Response, ApiError>,
) -> Response {
    let principal = sim.authenticate(&call.headers, family, &call.path);
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
