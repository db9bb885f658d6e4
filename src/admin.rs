//! The admin listener (`[admin]`): `/metrics` (Prometheus text), `/healthz` and `/readyz`,
//! on plain HTTP on its own address, loopback by default. It is for the operator's
//! monitoring only: bind it to a private interface, never to one Concur or users reach.
//! The main listener never serves `/metrics`.
//!
//! Its connections are bounded like the main listener's (fewer: only scrapers and probes
//! come here), requests have no body and a short deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::config::Problems;
use crate::state::AppState;

/// `/metrics` on the admin listener only.
pub const METRICS: &str = "/metrics";
/// Connections the admin listener serves at once (scrapers and probes).
const MAX_CONNECTIONS: usize = 32;
/// The longest an admin request may take (a readiness check included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Admin requests carry no body; anything larger than this is refused.
const MAX_BODY_BYTES: usize = 1024;

/// `[admin]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    pub enabled: bool,
    pub bind: String,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: "127.0.0.1:9464".to_owned(),
        }
    }
}

impl AdminSettings {
    /// The address to listen on, `None` when switched off (or invalid, with a problem).
    pub fn check(
        &self,
        server_bind: Option<SocketAddr>,
        problems: &mut Problems,
    ) -> Option<SocketAddr> {
        if !self.enabled {
            return None;
        }
        let bind = problems.take(
            "admin.bind",
            self.bind
                .parse::<SocketAddr>()
                .map_err(|e| format!("`{}` is not an address like 127.0.0.1:9464: {e}", self.bind)),
        )?;
        if bind.port() != 0
            && server_bind.is_some_and(|s| {
                s.port() == bind.port()
                    && (s.ip() == bind.ip()
                        || s.ip().is_unspecified()
                        || bind.ip().is_unspecified())
            })
        {
            problems.push(
                "admin.bind",
                format!(
                    "`{bind}` is the main listener's address (server.bind); give the admin listener its own port"
                ),
            );
            return None;
        }
        Some(bind)
    }
}

/// What the admin routes read.
#[derive(Clone)]
pub struct AdminState {
    pub app: Arc<AppState>,
    /// Whether the main listener's TLS is configured and its certificate loaded (or TLS is
    /// off, served by a proxy): start-up refuses to run otherwise, so it holds while the
    /// process runs; readiness reports it all the same.
    pub tls_loaded: bool,
    pub metrics: &'static metrics_exporter_prometheus::PrometheusHandle,
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route(METRICS, get(metrics))
        .route(crate::routes::paths::HEALTHZ, get(alive))
        .route(crate::routes::paths::READYZ, get(ready))
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
}

/// The bound on the admin listener's connections (idle ones close after the main one's
/// idle timeout).
pub fn acceptor(idle_timeout: Duration) -> crate::conn::BoundedAcceptor {
    crate::conn::BoundedAcceptor::new(MAX_CONNECTIONS, idle_timeout)
}

async fn alive() -> &'static str {
    "ok"
}

async fn ready(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if !state.tls_loaded {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "tls configuration not loaded",
        );
    }
    crate::routes::health::readiness(&state.app).await
}

async fn metrics(State(state): State<AdminState>) -> Response {
    refresh_queue_gauges(&state.app).await;
    let body = crate::metrics::render(state.metrics);
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Reads the queue's depth for its gauges; a queue that does not answer keeps the last
/// values (its failure is counted as a store error by the queue itself).
async fn refresh_queue_gauges(app: &AppState) {
    let Some(notifications) = &app.notifications else {
        return;
    };
    match tokio::time::timeout(REQUEST_TIMEOUT / 2, notifications.queue.depth()).await {
        Ok(Ok(depth)) => crate::metrics::queue_depth(depth.in_flight, depth.dead),
        Ok(Err(error)) => tracing::warn!(%error, "metrics: cannot read the work queue's depth"),
        Err(_) => tracing::warn!("metrics: the work queue's depth took too long to read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(enabled: bool, bind: &str, server: &str) -> (Option<SocketAddr>, Vec<String>) {
        let settings = AdminSettings {
            enabled,
            bind: bind.to_owned(),
        };
        let mut problems = Problems::default();
        let bind = settings.check(server.parse().ok(), &mut problems);
        let keys = problems.into_vec().into_iter().map(|p| p.key).collect();
        (bind, keys)
    }

    #[test]
    fn the_admin_listener_needs_an_address_and_a_port_of_its_own() {
        let local = "127.0.0.1:9464".parse().ok();
        assert_eq!(
            check(true, "127.0.0.1:9464", "0.0.0.0:8443"),
            (local, vec![])
        );
        assert_eq!(
            check(false, "not an address", "0.0.0.0:8443"),
            (None, vec![])
        );
        for (bind, server) in [
            ("nowhere", "0.0.0.0:8443"),
            ("127.0.0.1:8443", "0.0.0.0:8443"),
            ("0.0.0.0:8443", "10.0.0.5:8443"),
            ("10.0.0.5:8443", "10.0.0.5:8443"),
        ] {
            assert_eq!(
                check(true, bind, server),
                (None, vec!["admin.bind".to_owned()]),
                "{bind} beside {server}"
            );
        }
        // Another interface, or a port picked at bind time, is another address.
        assert!(check(true, "10.0.0.6:8443", "10.0.0.5:8443").0.is_some());
        assert!(check(true, "127.0.0.1:0", "127.0.0.1:0").0.is_some());
    }
}
