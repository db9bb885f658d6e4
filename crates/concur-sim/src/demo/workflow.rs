//! The report page's workflow: a **Submit** button that submits the report into the external
//! validation step (Concur then notifies the connector), and the report's workflow status
//! until the connector has decided.
//!
//! | Route | What |
//! |---|---|
//! | `POST /_sim/demo/submit` `{report}` | submits the report ([`SimHandle::submit_report`]), answers its status |
//! | `GET /_sim/demo/workflow?report=…` | the report's workflow status (`demo.js` polls it while pending) |
//!
//! Both answer [`WorkflowView`] as JSON; bad input is a 4xx `{error}`. The submit route takes
//! only a JSON body (a cross-site form cannot send one), like the other demo actions.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::record::NotificationDelivery;
use crate::seed::Report;
use crate::state::SimHandle;
use crate::workflow::SubmitError;

pub(super) fn routes() -> Router<SimHandle> {
    Router::new()
        .route("/_sim/demo/submit", post(submit))
        .route("/_sim/demo/workflow", get(status))
}

/// Where the report stands in its workflow, as the page shows it.
#[derive(Debug, Serialize)]
pub(super) struct WorkflowView {
    /// `not_submitted`, `pending`, `approved`, `sent_back` or `submitted` (any other status).
    pub state: &'static str,
    /// The status as the page labels it.
    pub label: &'static str,
    /// The comment of the last workflow action (a send back's problems).
    pub comment: Option<String>,
    /// Whether the Submit button is offered (not submitted, or sent back and corrected).
    pub submittable: bool,
    /// While pending: how the notification to the connector went, in plain words.
    pub delivery: Option<DeliveryView>,
    /// While the knob `down_for_secs` has Concur down: the seconds left.
    pub concur_down_for: Option<u64>,
}

/// One delivery of the notification, explained.
#[derive(Debug, Serialize)]
pub(super) struct DeliveryView {
    /// [`NotificationDelivery::outcome`], or `none` when nothing was sent for this report.
    pub outcome: String,
    pub message: String,
    /// Whether the message reports a problem (shown as an alert).
    pub problem: bool,
}

impl WorkflowView {
    pub(super) fn of(sim: &SimHandle, report: &Report) -> Self {
        let (state, label) = match report.approval_status_id.as_str() {
            "A_NOTF" => ("not_submitted", "Not submitted"),
            "A_EXTV" => ("pending", "Pending External Validation"),
            "A_APPR" => ("approved", "Approved"),
            "A_RESU" => ("sent_back", "Sent back"),
            _ => ("submitted", report.approval_status_name()),
        };
        let delivery = (state == "pending").then(|| explain(sim.last_delivery(&report.id)));
        Self {
            state,
            label,
            comment: report.workflow_comment.clone(),
            submittable: matches!(state, "not_submitted" | "sent_back"),
            delivery,
            concur_down_for: sim.concur_down_for(),
        }
    }
}

const FAILED_LIST: &str = "the notification is in Concur's failed-notification list, where the \
     connector's periodic job finds it";

fn explain(delivery: Option<NotificationDelivery>) -> DeliveryView {
    let Some(delivery) = delivery else {
        return DeliveryView {
            outcome: "none".to_owned(),
            message: "The report was seeded in this step, so no notification was sent: the \
                      connector decides it once it receives a notification for it (for \
                      example Concur's own example notification)."
                .to_owned(),
            problem: false,
        };
    };
    let (message, problem) = match (delivery.outcome.as_str(), delivery.status) {
        ("delivered", _) => (
            "Concur notified the connector and it answered 200: waiting for its decision."
                .to_owned(),
            false,
        ),
        ("failed", Some(status)) => (
            format!("The connector answered {status}, not 200: {FAILED_LIST}."),
            true,
        ),
        ("failed", None) => (
            format!(
                "The connector did not answer ({}): {FAILED_LIST}.",
                delivery.error.as_deref().unwrap_or("no answer")
            ),
            true,
        ),
        ("dropped", _) => (
            format!(
                "The notification was dropped (fault knob drop_notifications_next): {FAILED_LIST}."
            ),
            true,
        ),
        ("concur_down", _) => (
            format!(
                "Concur is down (fault knob down_for_secs), so it sent nothing: {FAILED_LIST} once Concur is back."
            ),
            true,
        ),
        _ => (
            "No connector endpoint for notifications is configured: nobody will decide this \
             report."
                .to_owned(),
            true,
        ),
    };
    DeliveryView {
        outcome: delivery.outcome,
        message,
        problem,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportRef {
    report: String,
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, Json(json!({ "error": why }))).into_response()
}

fn view(sim: &SimHandle, report_id: &str) -> Response {
    match sim.snapshot().report(report_id) {
        Some(report) => Json(WorkflowView::of(sim, report)).into_response(),
        None => refuse(
            StatusCode::NOT_FOUND,
            "The simulator has no report with this id.",
        ),
    }
}

async fn submit(State(sim): State<SimHandle>, Json(chosen): Json<ReportRef>) -> Response {
    match sim.submit_report(&chosen.report).await {
        Ok(_) => view(&sim, &chosen.report),
        Err(error) => {
            let status = match error {
                SubmitError::UnknownReport(_) => StatusCode::NOT_FOUND,
                SubmitError::NotSubmittable(_) => StatusCode::CONFLICT,
            };
            refuse(status, &error.to_string())
        }
    }
}

async fn status(State(sim): State<SimHandle>, Query(query): Query<ReportRef>) -> Response {
    view(&sim, &query.report)
}
