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
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::middleware::{Around, AroundLayer};
use crate::state::AppState;
use crate::telemetry;

/// Largest request body any route reads (Concur's server-to-server calls are tiny).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A handler's `PageError` becomes its localised page, with the operator's templates.
#[derive(Clone)]
struct PageErrors(Arc<AppState>);

impl Around for PageErrors {
    type Carry = Arc<AppState>;

    fn before(&self, _request: &mut Request) -> Result<Arc<AppState>, Box<Response>> {
        Ok(self.0.clone())
    }

    async fn after<F>(state: Arc<AppState>, inner: F) -> Response
    where
        F: Future<Output = Response> + Send + 'static,
    {
        crate::pages::render_page_error(&state.pages, inner.await)
    }
}

/// The security headers of every answer: some only where the route set none of its own.
#[derive(Debug, Clone, Copy)]
struct SecurityHeaders;

impl SecurityHeaders {
    /// Set unless the route set its own.
    const DEFAULTS: [(HeaderName, &'static str); 4] = [
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    /// Always these values.
    const FIXED: [(HeaderName, &'static str); 2] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
}

impl Around for SecurityHeaders {
    type Carry = ();

    fn before(&self, _request: &mut Request) -> Result<(), Box<Response>> {
        Ok(())
    }

    async fn after<F>((): (), inner: F) -> Response
    where
        F: Future<Output = Response> + Send + 'static,
    {
        let mut response = inner.await;
        let headers = response.headers_mut();
        for (name, value) in Self::FIXED {
            headers.insert(name, HeaderValue::from_static(value));
        }
        for (name, value) in Self::DEFAULTS {
            if !headers.contains_key(&name) {
                headers.insert(name, HeaderValue::from_static(value));
            }
        }
        response
    }
}

/// The whole application: routes plus the cross-cutting layers.
pub fn router(state: Arc<AppState>, request_timeout: Duration) -> Router {
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
        .layer(AroundLayer(PageErrors(state.clone())))
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                    header::COOKIE,
                ]))
                .layer(AroundLayer(telemetry::RequestIds))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(telemetry::request_span)
                        .on_request(())
                        .on_response(telemetry::on_response),
                )
                .layer(AroundLayer(crate::metrics::TrackRequest))
                .layer(CatchPanicLayer::new())
                .layer(AroundLayer(SecurityHeaders))
                .layer(AroundLayer(guard)),
        )
}
