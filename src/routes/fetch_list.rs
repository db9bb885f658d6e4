//! Concur's Fetch List callout v1.2 (docs/protocol.md §12.2): admit the request (Basic,
//! probe, XML), read it, search the list it names, render the items.
//!
//! A search that fails or takes longer than `fetch_list.timeout` is answered with an empty
//! list (the user sees "no items") and one log line: Concur documents no error answer.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use concur_protocol::callout::fetch_list::{EMPTY_RESPONSE, FetchListRequest, render_response};

use super::callout::{self, Body};
use crate::state::AppState;

const WHAT: &str = "fetch list";

/// The service's paths (`fetch_list.path` and each list's own `path`), GET for probes and
/// POST; nothing when `fetch_list.enabled = false`.
pub fn routes(state: &AppState) -> Router<Arc<AppState>> {
    state
        .lists
        .endpoints()
        .iter()
        .fold(Router::new(), |router, (path, own)| {
            let own = *own;
            let handler = move |state: State<Arc<AppState>>, headers: HeaderMap, body: Bytes| {
                fetch_list(state, headers, body, own)
            };
            router.route(path, post(handler).get(handler))
        })
}

async fn fetch_list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
    own: Option<usize>,
) -> Response {
    let root = match callout::admit(&state, &headers, &body, WHAT) {
        Ok(Body::Probe) => return callout::xml(EMPTY_RESPONSE.to_owned()),
        Ok(Body::Document(root)) => root,
        Err(refused) => return refused.into_response(),
    };
    let request = match FetchListRequest::from_element(&root) {
        Ok(request) => request,
        Err(error) => {
            tracing::info!(route = WHAT, %error, "callout body refused");
            return callout::text(
                StatusCode::BAD_REQUEST,
                format!("invalid fetch-list-request: {error}"),
            );
        }
    };
    let lists = &state.lists;
    let Some(index) = lists.select(own, request.list_name.as_deref()) else {
        tracing::warn!(
            list_name = request.list_name.as_deref().unwrap_or(""),
            configured = %lists.names().join(", "),
            "fetch list: the request names no configured list and no list is the default; \
             answered with an empty list"
        );
        return callout::xml(EMPTY_RESPONSE.to_owned());
    };
    match lists.search(index, &request).await {
        Ok(items) => callout::xml(render_response(&request.long_code(), &items)),
        Err(error) => {
            tracing::warn!(list = lists.name(index), %error, "fetch list search failed; answered with an empty list");
            callout::xml(EMPTY_RESPONSE.to_owned())
        }
    }
}
