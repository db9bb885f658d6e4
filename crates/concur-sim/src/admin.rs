//! The `/_sim/` admin API (JSON): recorded calls, fault knobs, launch minting, data and reset.
//! Used by tests over HTTP, the demo page and browser tests; it is not part of Concur.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::faults::Faults;
use super::launch::{MintError, V1LaunchRequest, V4LaunchRequest};
use super::state::SimHandle;
use super::workflow::SubmitError;

pub(crate) fn routes() -> Router<SimHandle> {
    Router::new()
        .route("/_sim/writes", get(writes).delete(clear_writes))
        .route("/_sim/requests", get(requests).delete(clear_requests))
        .route("/_sim/faults", get(faults).put(set_faults))
        .route("/_sim/launch/v4", post(mint_v4))
        .route("/_sim/launch/v1", post(mint_v1))
        .route("/_sim/state", get(state))
        .route("/_sim/reset", post(reset))
        .route("/_sim/tokens/expire", post(expire_tokens))
        .route("/_sim/ca.pem", get(ca_pem))
        .route("/_sim/reports/{report_id}/submit", post(submit))
        .route("/_sim/notifications", get(deliveries))
}

async fn writes(State(sim): State<SimHandle>) -> Response {
    Json(sim.writes()).into_response()
}

async fn clear_writes(State(sim): State<SimHandle>) -> StatusCode {
    sim.clear_writes();
    StatusCode::NO_CONTENT
}

async fn requests(State(sim): State<SimHandle>) -> Response {
    Json(sim.requests()).into_response()
}

async fn clear_requests(State(sim): State<SimHandle>) -> StatusCode {
    sim.clear_requests();
    StatusCode::NO_CONTENT
}

async fn faults(State(sim): State<SimHandle>) -> Json<Faults> {
    Json(sim.faults())
}

async fn set_faults(State(sim): State<SimHandle>, Json(faults): Json<Faults>) -> Json<Faults> {
    sim.set_faults(faults);
    Json(sim.faults())
}

async fn mint_v4(State(sim): State<SimHandle>, Json(request): Json<V4LaunchRequest>) -> Response {
    minted(sim.mint_v4(&request))
}

async fn mint_v1(State(sim): State<SimHandle>, Json(request): Json<V1LaunchRequest>) -> Response {
    minted(sim.mint_v1(&request))
}

fn minted(result: Result<super::MintedLaunch, MintError>) -> Response {
    match result {
        Ok(launch) => Json(launch).into_response(),
        Err(e) => {
            let status = match e {
                MintError::NotADelegate { .. } => StatusCode::BAD_REQUEST,
                MintError::UnknownItem { .. } | MintError::UnknownUser(_) => StatusCode::NOT_FOUND,
            };
            (status, Json(json!({ "error": e.to_string() }))).into_response()
        }
    }
}

/// Submits a report (external validation) and notifies the connector: the delivery record.
async fn submit(State(sim): State<SimHandle>, Path(report_id): Path<String>) -> Response {
    match sim.submit_report(&report_id).await {
        Ok(delivery) => Json(delivery).into_response(),
        Err(e) => {
            let status = match e {
                SubmitError::UnknownReport(_) => StatusCode::NOT_FOUND,
                SubmitError::NotSubmittable(_) => StatusCode::CONFLICT,
            };
            (status, Json(json!({ "error": e.to_string() }))).into_response()
        }
    }
}

async fn deliveries(State(sim): State<SimHandle>) -> Response {
    Json(sim.notification_deliveries()).into_response()
}

async fn state(State(sim): State<SimHandle>) -> Response {
    Json(sim.snapshot()).into_response()
}

async fn reset(State(sim): State<SimHandle>) -> StatusCode {
    sim.reset();
    StatusCode::NO_CONTENT
}

async fn expire_tokens(State(sim): State<SimHandle>) -> StatusCode {
    sim.expire_access_tokens();
    StatusCode::NO_CONTENT
}

async fn ca_pem(State(sim): State<SimHandle>) -> Response {
    let mut response = sim.ca_pem().to_owned().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    response
}
