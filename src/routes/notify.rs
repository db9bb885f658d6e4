//! Event Notification (docs/protocol.md §12.4): Concur posts a `<Notification>` with Basic
//! auth to `notification.path` when an expense report reaches an external validation step.
//! The connector stores it durably in the work queue and only then answers `200`
//! (`text/plain`, empty body); the workers decide later. Nothing here calls Concur, so the
//! answer takes as long as one durable enqueue.
//!
//! A `TRAVELREQ` notification is acknowledged and logged, never stored: its follow-up API
//! is gone. While the queue cannot store, the answer is `503`: Concur keeps the
//! notification in its FAILED list, which the connector reads later, so nothing is lost.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use concur_protocol::callout::notification::{Notification, ObjectType};

use super::callout::{self, Body};
use crate::state::AppState;
use crate::store::queue::{Enqueued, now_millis};

const WHAT: &str = "notification";

/// `notification.path`, POST and GET (probes); nothing when `notification.enabled = false`.
pub fn routes(state: &AppState) -> Router<Arc<AppState>> {
    if state.notifications.is_none() {
        return Router::new();
    }
    Router::new().route(&state.notification.path, post(notify).get(notify))
}

async fn notify(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let root = match callout::admit(&state, &headers, &body, WHAT) {
        Ok(Body::Probe) => return acknowledged(),
        Ok(Body::Document(root)) => root,
        Err(refused) => return refused.into_response(),
    };
    let notification = match Notification::from_element(&root) {
        Ok(notification) => notification,
        Err(error) => {
            tracing::info!(route = WHAT, %error, "callout body refused");
            let message = format!("invalid notification: {error}");
            return callout::text(StatusCode::BAD_REQUEST, message);
        }
    };
    let (event_type, object_uri) = (&notification.event_type, &notification.object_uri);
    if notification.object_type == ObjectType::TravelRequest {
        tracing::info!(
            event_type,
            object_uri,
            "travel request notification acknowledged and ignored (travel requests are never acted on)"
        );
        return acknowledged();
    }
    let Some(notifications) = &state.notifications else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match notifications
        .accept(&notification, None, now_millis())
        .await
    {
        Ok(enqueued) => {
            let merged = matches!(enqueued, Enqueued::Merged(_));
            tracing::info!(
                job = enqueued.id(),
                merged,
                event_type,
                object_uri,
                "notification queued"
            );
            acknowledged()
        }
        Err(error) => {
            tracing::warn!(%error, event_type, object_uri, "notification not stored; answered 503, Concur keeps it as failed");
            let message =
                "the notification could not be stored; Concur keeps it and it is processed later";
            callout::text(StatusCode::SERVICE_UNAVAILABLE, message.to_owned())
        }
    }
}

/// `200`, `text/plain; charset=utf-8`, an empty body with `Content-Length: 0`.
fn acknowledged() -> Response {
    callout::text(StatusCode::OK, String::new())
}
