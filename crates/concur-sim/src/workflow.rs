//! External validation (docs/protocol.md §12.6): the report workflow a notification starts,
//! v1.1 Report Full Details at the URL a notification names, the v4 approve / send back
//! actions, the failed-notification status API, and the delivery of notifications to the
//! connector.

use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use concur_protocol::callout::notification::{
    EventDateTime, Notification, ObjectType, WORKFLOW_STEP_PREFIX,
};
use concur_protocol::callout::xml;
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiError, Family, ValidationError};
use super::read::{self, ReadCall};
use super::record::{FailedEntry, NotificationDelivery, Principal, WriteApi};
use super::seed::{Report, Seed};
use super::state::SimHandle;
use super::v1::{NAMESPACE, push_element};
use super::write::{self, WriteCall};

/// The step code of the external validation step a submitted report waits in.
pub const EXTERNAL_VALIDATION_STEP: &str = "EXTVAL";
/// The step's name in the notification's `EventType` (the admin's name for the step).
pub const EXTERNAL_VALIDATION_STEP_NAME: &str = "SUBMIT";
/// Concur's limit on a workflow comment, in characters.
const MAX_COMMENT_CHARS: usize = 2000;
/// How long a delivery to the connector may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

const STATUS_NOT_SUBMITTED: &str = "A_NOTF";
const STATUS_EXTERNAL_VALIDATION: &str = "A_EXTV";
const STATUS_APPROVED: &str = "A_APPR";
const STATUS_SENT_BACK: &str = "A_RESU";

const DETAILS_PATH: &str = "/api/expense/expensereport/v1.1/reportfulldetails";
const NOTIFICATIONS_PATH: &str = "/api/platform/notifications/v1.0/notification";

pub(crate) fn routes() -> Router<SimHandle> {
    Router::new()
        .route(&format!("{DETAILS_PATH}/{{key}}"), get(get_details))
        .route(
            "/expensereports/v4/reports/{report_id}/approve",
            patch(approve),
        )
        .route(
            "/expensereports/v4/reports/{report_id}/sendBack",
            patch(send_back),
        )
        .route(NOTIFICATIONS_PATH, get(list_failed))
        .route(
            &format!("{NOTIFICATIONS_PATH}/{{id}}"),
            axum::routing::delete(delete_failed),
        )
}

/// Why a report cannot be submitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("no report {0}")]
    UnknownReport(String),
    #[error("the report is {0}; only a report not submitted or sent back can be submitted")]
    NotSubmittable(&'static str),
}

/// The URL a notification names for a report: Report Full Details v1.1 with the report's
/// legacy key (encrypted-looking, stable per seed).
pub(crate) fn details_url(base: &str, report: &Report) -> String {
    format!("{base}{DETAILS_PATH}/{}", report.legacy_id)
}

impl SimHandle {
    /// Submits a report: it enters the external validation step (`EXTVAL`, status
    /// `Pending External Validation`), then the Event Notification is POSTed to the
    /// connector (when `SimConfig::notify_url` is set) with Basic auth. A delivery that
    /// gets no 200, is dropped by the fault knob `drop_notifications_next`, or is not made
    /// because Concur is down (`down_for_secs`), joins the failed-notification list.
    pub async fn submit_report(
        &self,
        report_id: &str,
    ) -> Result<NotificationDelivery, SubmitError> {
        let notification = {
            let mut inner = self.lock();
            let report = inner
                .data
                .report_mut(report_id)
                .ok_or_else(|| SubmitError::UnknownReport(report_id.to_owned()))?;
            if ![STATUS_NOT_SUBMITTED, STATUS_SENT_BACK]
                .contains(&report.approval_status_id.as_str())
            {
                return Err(SubmitError::NotSubmittable(report.approval_status_name()));
            }
            report.approval_status_id = STATUS_EXTERNAL_VALIDATION.to_owned();
            report.workflow_step = Some(EXTERNAL_VALIDATION_STEP.to_owned());
            report.workflow_comment = None;
            let report = report.clone();
            Notification {
                event_type: format!("{WORKFLOW_STEP_PREFIX}{EXTERNAL_VALIDATION_STEP_NAME}"),
                object_type: ObjectType::ExpenseReport,
                object_uri: details_url(self.geolocation(), &report),
                event_date_time: Some(EventDateTime::parse(&today())),
                context: None,
            }
        };
        let delivery = self.deliver(report_id, &notification).await;
        let mut inner = self.lock();
        if delivery.outcome != "delivered" && delivery.outcome != "not_configured" {
            let id = format!("nOB1{}", uuid::Uuid::new_v4().simple());
            inner
                .failed_notifications
                .push(FailedEntry { id, notification });
        }
        inner.deliveries.push(delivery.clone());
        Ok(delivery)
    }

    /// Points the notifications of submitted reports at `url` from now on, trusting
    /// `connector_ca_pem` (beside the system roots) for its certificate: for a connector
    /// started after the simulator, whose address was not known at start.
    pub fn set_notify_target(&self, url: Url, connector_ca_pem: &str) -> anyhow::Result<()> {
        let client = super::callouts::client(connector_ca_pem)?;
        self.lock().notify_target = Some((url, client));
        Ok(())
    }

    /// Where notifications go: the target set last, else `SimConfig::notify_url`.
    fn notify_target(&self) -> Option<(Url, reqwest::Client)> {
        if let Some(target) = self.lock().notify_target.clone() {
            return Some(target);
        }
        let settings = self.settings();
        let url = settings.notify_url.clone()?;
        Some((url, settings.callout_client.clone()))
    }

    /// Every notification delivery attempted so far, oldest first.
    pub fn notification_deliveries(&self) -> Vec<NotificationDelivery> {
        self.lock().deliveries.clone()
    }

    /// The last notification delivery attempted for a report.
    pub(crate) fn last_delivery(&self, report_id: &str) -> Option<NotificationDelivery> {
        self.lock()
            .deliveries
            .iter()
            .rev()
            .find(|d| d.report_id == report_id)
            .cloned()
    }

    /// How many notifications the status API lists as failed.
    pub fn failed_notification_count(&self) -> usize {
        self.lock().failed_notifications.len()
    }

    async fn deliver(&self, report_id: &str, notification: &Notification) -> NotificationDelivery {
        let body = notification.render();
        let mut delivery = NotificationDelivery {
            report_id: report_id.to_owned(),
            url: None,
            body: body.clone(),
            status: None,
            outcome: "not_configured".to_owned(),
            error: None,
        };
        let Some((url, client)) = self.notify_target() else {
            return delivery;
        };
        delivery.url = Some(url.to_string());
        if self.concur_down_for().is_some() {
            delivery.outcome = "concur_down".to_owned();
            return delivery;
        }
        if self.lock().faults.take_dropped_notification() {
            delivery.outcome = "dropped".to_owned();
            return delivery;
        }
        let connector = &self.settings().connector;
        let sent = client
            .post(url)
            .basic_auth(
                connector.username(),
                Some(secrecy::ExposeSecret::expose_secret(connector.password())),
            )
            .header(header::CONTENT_TYPE, "application/xml")
            .timeout(DELIVERY_TIMEOUT)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                delivery.status = Some(status);
                delivery.outcome = if status == 200 { "delivered" } else { "failed" }.to_owned();
            }
            Err(e) => {
                delivery.outcome = "failed".to_owned();
                delivery.error = Some(e.without_url().to_string());
            }
        }
        delivery
    }
}

fn today() -> String {
    let now = time::OffsetDateTime::from(SystemTime::now());
    format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}

// ---------------------------------------------------------------- Report Full Details v1.1

/// The report key is read from the raw request path, not decoded: Concur's keys hold `$` and
/// stray `%` (`3%Rek29$…%KL23`) that are no percent-escapes, and the key must match exactly as
/// the notification's ObjectURI spelled it.
async fn get_details(State(sim): State<SimHandle>, call: ReadCall) -> Response {
    let path = call.path();
    let key = path
        .strip_prefix(DETAILS_PATH)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or_default();
    read::handle(&sim, Family::V1, &call, |data, principal| {
        let report = data
            .reports
            .iter()
            .find(|r| r.legacy_id == key)
            .ok_or_else(|| ApiError::not_found(Family::V1, path, "report not found"))?;
        let may_read = match principal {
            Principal::Company => true,
            Principal::User { user_id } => user_id.eq_ignore_ascii_case(&report.owner),
            Principal::App => false,
        };
        if !may_read {
            return Err(ApiError::forbidden(
                Family::V1,
                path,
                "the token's principal may not access this report",
            ));
        }
        let mut response = render_details(data, sim.geolocation(), report).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml; charset=utf-8"),
        );
        Ok(response)
    })
}

/// `<ReportDetails>` as the documented example has it: the root declares only a prefixed
/// namespace, so every element is in no namespace; the owner is `X_UserID`.
fn render_details(data: &Seed, base: &str, report: &Report) -> String {
    let owner = data.user(&report.owner);
    let elements: Vec<(&str, String)> = vec![
        ("ReportId", report.id.clone()),
        ("RptKey", report.legacy_id.clone()),
        ("ReportName", report.name.clone()),
        ("ApvStatusName", report.approval_status_name().to_owned()),
        ("ApsKey", report.approval_status_id.clone()),
        ("CrnCode", report.currency.clone()),
        (
            "X_UserID",
            owner.map(|u| u.login_id.clone()).unwrap_or_default(),
        ),
        (
            "EmployeeID",
            owner.map(|u| u.employee_id.clone()).unwrap_or_default(),
        ),
        (
            "WorkflowActionURL",
            format!(
                "{base}/api/expense/expensereport/v1.1/report/{}/workflowaction",
                report.legacy_id
            ),
        ),
    ];
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><ReportDetails xmlns:ns=\"{NAMESPACE}\">"
    );
    for (name, value) in &elements {
        push_element(&mut out, name, value);
    }
    out.push_str("<ExpenseEntriesList>");
    for expense in &report.expenses {
        out.push_str("<ExpenseEntry>");
        let entry = vec![
            ("ReportEntryID", expense.legacy_id.clone()),
            ("ExpKey", expense.expense_type.clone()),
            (
                "ExpName",
                data.expense_type(&expense.expense_type)
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
            ),
            ("TransactionAmount", format!("{:.8}", expense.amount)),
            ("PostedAmount", format!("{:.8}", expense.posted_amount())),
        ];
        super::v1::push_entry_elements(&mut out, data, &entry, expense);
        out.push_str("</ExpenseEntry>");
    }
    out.push_str("</ExpenseEntriesList></ReportDetails>");
    out
}

// ---------------------------------------------------------------- v4 approve / sendBack

async fn approve(
    State(sim): State<SimHandle>,
    Path(report_id): Path<String>,
    call: WriteCall,
) -> Response {
    let path = call.path().to_owned();
    write::handle(&sim, WriteApi::V4Approve, &call, |data, principal, body| {
        decide(data, principal, body, &report_id, &path, Action::Approve)
    })
}

async fn send_back(
    State(sim): State<SimHandle>,
    Path(report_id): Path<String>,
    call: WriteCall,
) -> Response {
    let path = call.path().to_owned();
    write::handle(
        &sim,
        WriteApi::V4SendBack,
        &call,
        |data, principal, body| decide(data, principal, body, &report_id, &path, Action::SendBack),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Approve,
    SendBack,
}

/// Checks a workflow action completely, then applies it: company token; only the members
/// of `ReportApproveRequest` / `ReportSendBackRequest`; comments at most 2000 characters
/// and required for a send back; the report must wait in an external validation step, and
/// in the `expectedStepCode` one when given (else 409 naming the step).
fn decide(
    data: &mut Seed,
    principal: &Principal,
    body: &Map<String, Value>,
    report_id: &str,
    path: &str,
    action: Action,
) -> Result<StatusCode, ApiError> {
    if *principal != Principal::Company {
        return Err(ApiError::forbidden(
            Family::V4,
            path,
            "this operation requires a company access token",
        ));
    }
    let allowed: &[&str] = match action {
        Action::Approve => &[
            "comment",
            "expenseRejectedComment",
            "expectedStepCode",
            "expectedStepSequence",
            "statusId",
        ],
        Action::SendBack => &["comment", "expectedStepCode", "expectedStepSequence"],
    };
    let mut errors = Vec::new();
    for member in body.keys().filter(|k| !allowed.contains(&k.as_str())) {
        errors.push(ValidationError::new(
            member.as_str(),
            format!("{member} is not a member of this request"),
            "Unknown",
        ));
    }
    let text = |member: &str, errors: &mut Vec<ValidationError>| match body.get(member) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            if s.chars().count() > MAX_COMMENT_CHARS {
                errors.push(ValidationError::new(
                    member,
                    format!("{member} must be at most {MAX_COMMENT_CHARS} characters"),
                    "Size",
                ));
            }
            Some(s.clone())
        }
        Some(_) => {
            errors.push(ValidationError::new(
                member,
                format!("{member} must be a string"),
                "Type",
            ));
            None
        }
    };
    let comment = text("comment", &mut errors);
    text("expenseRejectedComment", &mut errors);
    let expected_step = text("expectedStepCode", &mut errors);
    if action == Action::SendBack && comment.as_deref().is_none_or(|c| c.trim().is_empty()) {
        errors.push(ValidationError::new(
            "comment",
            "comment is required",
            "NotNull",
        ));
    }
    if body
        .get("expectedStepSequence")
        .is_some_and(|v| !v.is_null() && !v.is_u64())
    {
        errors.push(ValidationError::new(
            "expectedStepSequence",
            "expectedStepSequence must be a positive integer",
            "Type",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(Family::V4, path, errors));
    }
    let report = data
        .report_mut(report_id)
        .ok_or_else(|| ApiError::not_found(Family::V4, path, "report not found"))?;
    let current = report.workflow_step.clone();
    let at_expected = match (&current, &expected_step) {
        (Some(step), Some(expected)) => step.eq_ignore_ascii_case(expected),
        (Some(_), None) => true,
        (None, _) => false,
    };
    if !at_expected {
        return Err(ApiError::new(
            Family::V4,
            StatusCode::CONFLICT,
            path,
            format!(
                "The report is not at the expected workflow step (expected {}, current {})",
                expected_step
                    .as_deref()
                    .unwrap_or("an external validation step"),
                current.as_deref().unwrap_or("none"),
            ),
        ));
    }
    report.approval_status_id = match action {
        Action::Approve => STATUS_APPROVED,
        Action::SendBack => STATUS_SENT_BACK,
    }
    .to_owned();
    report.workflow_step = None;
    report.workflow_comment = comment;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- failed notifications

#[derive(Deserialize)]
struct StatusQuery {
    status: Option<String>,
}

async fn list_failed(
    State(sim): State<SimHandle>,
    Query(query): Query<StatusQuery>,
    headers: HeaderMap,
    call: ReadCall,
) -> Response {
    let path = call.path();
    read::handle_state(&sim, Family::V1, &call, |inner, principal| {
        require_company(principal, path)?;
        if !query
            .status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("failed"))
        {
            return Err(ApiError::bad_request(
                Family::V1,
                path,
                "status must be FAILED, the only status supported",
            ));
        }
        let entries = &inner.failed_notifications;
        let wants_json = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json") && !v.contains("xml"));
        let base = sim.geolocation();
        Ok(if wants_json {
            let list: Vec<Value> = entries
                .iter()
                .map(|e| {
                    let n = &e.notification;
                    json!({
                        "Context": n.context,
                        "EventDateTime": n.event_date_time.as_ref().map(|d| d.raw.clone()),
                        "EventType": n.event_type,
                        "NotificationURI": format!("{base}{NOTIFICATIONS_PATH}/{}", e.id),
                        "ObjectType": n.object_type.as_str(),
                        "ObjectURI": n.object_uri,
                    })
                })
                .collect();
            axum::Json(list).into_response()
        } else {
            let mut out = String::from(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><NotificationList \
                 xmlns=\"http://www.concursolutions.com/api/notification/2012/06\" \
                 xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">",
            );
            for e in entries {
                let n = &e.notification;
                out.push_str("<Notification>");
                xml::push_element(&mut out, "Context", n.context.as_deref().unwrap_or(""));
                let date = n.event_date_time.as_ref().map_or("", |d| d.raw.as_str());
                xml::push_element(&mut out, "EventDateTime", date);
                xml::push_element(&mut out, "EventType", &n.event_type);
                let uri = format!("{base}{NOTIFICATIONS_PATH}/{}", e.id);
                xml::push_element(&mut out, "NotificationURI", &uri);
                xml::push_element(&mut out, "ObjectType", n.object_type.as_str());
                xml::push_element(&mut out, "ObjectURI", &n.object_uri);
                out.push_str("</Notification>");
            }
            out.push_str("</NotificationList>");
            ([(header::CONTENT_TYPE, "application/xml")], out).into_response()
        })
    })
}

async fn delete_failed(
    State(sim): State<SimHandle>,
    Path(id): Path<String>,
    call: ReadCall,
) -> Response {
    let path = call.path();
    read::handle_state(&sim, Family::V1, &call, |inner, principal| {
        require_company(principal, path)?;
        let before = inner.failed_notifications.len();
        inner.failed_notifications.retain(|e| e.id != id);
        if inner.failed_notifications.len() == before {
            return Err(ApiError::not_found(
                Family::V1,
                path,
                "notification not found",
            ));
        }
        Ok(StatusCode::OK.into_response())
    })
}

fn require_company(principal: &Principal, path: &str) -> Result<(), ApiError> {
    if *principal == Principal::Company {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            Family::V1,
            path,
            "the caller must be a company or web services administrator",
        ))
    }
}
