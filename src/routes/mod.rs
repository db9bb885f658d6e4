//! HTTP routes, one file per route family, and the router that joins them.

pub mod assets;
pub mod basic_auth;
pub mod callout;
pub mod fetch_attendee;
pub mod fetch_list;
pub mod guard;
pub mod health;
pub mod launch;
pub mod notify;
pub mod paths;
pub mod picker;
pub mod test_connection;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::state::AppState;
use crate::telemetry;

/// Largest request body any route reads (Concur's server-to-server calls are tiny).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

async fn render_page_errors(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    response: axum::response::Response,
) -> axum::response::Response {
    crate::pages::render_page_error(&state.pages, response)
}

/// The whole application: routes plus the cross-cutting layers.
pub fn router(state: Arc<AppState>, request_timeout: Duration) -> Router {
    let request_id = telemetry::REQUEST_ID;
    let security_headers = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ));

    let guard = guard::Guard::new(state.clone(), request_timeout);
    Router::new()
        .merge(test_connection::routes())
        .merge(launch::routes(&state))
        .merge(fetch_list::routes(&state))
        .merge(fetch_attendee::routes(&state))
        .merge(notify::routes(&state))
        .merge(picker::routes())
        .merge(assets::routes())
        .merge(health::routes())
        // A handler's `PageError` becomes its localised page here, with the operator's templates.
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            render_page_errors,
        ))
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                    header::COOKIE,
                ]))
                .layer(axum::middleware::map_request(
                    telemetry::take_client_request_id,
                ))
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(telemetry::request_span)
                        .on_request(())
                        .on_response(telemetry::on_response),
                )
                .layer(axum::middleware::from_fn(crate::metrics::track_request))
                .layer(axum::middleware::from_fn(telemetry::correlate))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::new())
                .layer(security_headers)
                .layer(axum::middleware::from_fn_with_state(guard, guard::guard)),
        )
}
