//! Static assets of the pages, embedded in the binary: the only things pages load.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use axum::extract::State;

use crate::pages::CLOSE_SCRIPT;
use crate::state::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/assets/connector.css",
            get(|State(state): State<Arc<AppState>>| async move {
                asset(
                    "text/css; charset=utf-8",
                    state.pages.stylesheet().to_owned(),
                )
                .await
            }),
        )
        .route(
            "/assets/close.js",
            get(|| asset("text/javascript; charset=utf-8", CLOSE_SCRIPT.to_owned())),
        )
}

async fn asset(content_type: &'static str, body: String) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}
