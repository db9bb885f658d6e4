//! Static assets of the pages, embedded in the binary: the only things pages load.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::pages::{CLOSE_SCRIPT, STYLESHEET};
use crate::startup::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/assets/connector.css",
            get(|| asset("text/css; charset=utf-8", STYLESHEET)),
        )
        .route(
            "/assets/close.js",
            get(|| asset("text/javascript; charset=utf-8", CLOSE_SCRIPT)),
        )
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}
