//! Static assets of the pages, embedded in the binary: the only things pages load.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::pages::STYLESHEET;
use crate::startup::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/assets/connector.css", get(stylesheet))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}
