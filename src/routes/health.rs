//! Liveness and readiness probes for load balancers and orchestrators.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::state::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(super::paths::HEALTHZ, get(alive))
        .route(super::paths::READYZ, get(ready))
}

/// The process is up and answering.
async fn alive() -> &'static str {
    "ok"
}

/// Ready to serve (see [`readiness`]); the admin listener answers the same.
async fn ready(State(state): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    readiness(&state).await
}

/// Ready to serve: false while draining for shutdown, while the shared store (Redis) does
/// not answer a PING, or while the work queue cannot be read, so the balancer stops
/// sending work. The answer is `200 ready` or `503` with the reason.
pub async fn readiness(state: &AppState) -> (StatusCode, &'static str) {
    if !state.ready.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    if let Some(store) = &state.shared_store
        && let Err(error) = store.ping().await
    {
        tracing::warn!(%error, "readiness: the shared store does not answer");
        return (StatusCode::SERVICE_UNAVAILABLE, "shared store unavailable");
    }
    if let Some(notifications) = &state.notifications
        && let Err(error) = notifications.queue.depth().await
    {
        tracing::warn!(%error, "readiness: the work queue does not answer");
        return (StatusCode::SERVICE_UNAVAILABLE, "work queue unavailable");
    }
    (StatusCode::OK, "ready")
}
