//! The common path of every read endpoint: authenticate, render under the state lock, answer.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, Family};
use super::record::{Principal, RequestNote};
use super::seed::Seed;
use super::state::{Inner, SimHandle};

/// One incoming read request, as every read endpoint extracts it (next to its `Path`).
pub(crate) struct ReadCall {
    /// The request path exactly as received (still percent-encoded).
    path: String,
    /// The query string, if any (still percent-encoded).
    query: Option<String>,
    headers: HeaderMap,
}

impl ReadCall {
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ReadCall {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(OriginalUri(uri)) = OriginalUri::from_request_parts(parts, state).await;
        Ok(Self {
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
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
    handle_state(sim, family, call, |inner, principal| {
        render(&inner.data, principal)
    })
}

/// [`handle`] for calls that read or change more than the data (the notification lists).
pub(crate) fn handle_state(
    sim: &SimHandle,
    family: Family,
    call: &ReadCall,
    render: impl FnOnce(&mut Inner, &Principal) -> Result<Response, ApiError>,
) -> Response {
    let principal = sim.authenticate(&call.headers, family, &call.path);
    let result = principal.clone().and_then(|principal| {
        let mut inner = sim.lock();
        render(&mut inner, &principal)
    });
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(RequestNote {
        principal: principal.ok(),
        grant_type: None,
    });
    response
}
