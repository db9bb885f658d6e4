//! Fetch Attendee v2.0 (docs/protocol.md §12.3): Concur posts an `AttendeeSearchRequest`
//! with Basic auth to `fetch_attendee.path`; the connector answers the matching attendees
//! of the configured source as an `AttendeeSearchResponse`.
//!
//! The configured path and its `v1.0` twin are served by the same parser (Concur picks the
//! schema by the path and never documented v1.0); a request on a `v1.0` path is logged. An
//! empty authenticated request (Test Connection) gets the empty answer.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use concur_protocol::callout::attendee::{AttendeeSearch, render_response};

use super::callout::{self, Body};
use crate::state::AppState;

pub fn routes(state: &AppState) -> Router<Arc<AppState>> {
    let settings = &state.fetch_attendee;
    if !settings.enabled {
        return Router::new();
    }
    let path = settings.path.clone();
    let mut router = Router::new().route(
        &path,
        post(|s, h, b| fetch_attendee(s, h, b, false))
            .get(|s, h, b| fetch_attendee(s, h, b, false)),
    );
    if let Some(twin) = crate::attendees::v1_twin(&path) {
        router = router.route(
            &twin,
            post(|s, h, b| fetch_attendee(s, h, b, true))
                .get(|s, h, b| fetch_attendee(s, h, b, true)),
        );
    }
    router
}

async fn fetch_attendee(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
    v1_path: bool,
) -> Response {
    let search = match callout::admit(&state, &headers, &body, "fetch attendee") {
        Ok(Body::Probe) => return callout::xml(render_response(&[])),
        Ok(Body::Document(root)) => AttendeeSearch::from_element(&root),
        Err(refused) => return refused.into_response(),
    };
    let search = match search {
        Ok(search) => search,
        Err(error) => {
            tracing::info!(%error, "fetch attendee body refused");
            return callout::text(StatusCode::BAD_REQUEST, format!("invalid body: {error}"));
        }
    };
    if v1_path {
        tracing::warn!(
            "fetch attendee request on a v1.0 path, answered with the v2.0 schema; register \
             the endpoint with v2.0 in Concur"
        );
    }
    let attendees = state.attendees.search(&search).await;
    tracing::debug!(found = attendees.len(), "fetch attendee answered");
    callout::xml(render_response(&attendees))
}
