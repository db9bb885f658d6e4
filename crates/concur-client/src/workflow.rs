//! The calls behind an Event Notification (docs/protocol.md §12.6): the report the
//! notification names (v1.1 Report Full Details), the v4 report with its expenses and
//! allocations, the v4 approve / send back actions, and the failed-notification status API.

use concur_protocol::callout::notification::{
    FailedNotification, parse_failed_list_json, parse_failed_list_xml,
};
use concur_protocol::callout::xml;
use concur_protocol::item::V4Report;
use reqwest::{Method, Url};
use serde::Serialize;

use super::client::{
    Auth, Call, ConcurClient, Reply, RetryClass, Target, WriteOutcome, legacy_path,
};
use super::error::{ApiError, ConcurError};
use super::item::{ExpenseItem, ItemRef};
use super::parse::{self, Format};

/// Most elements read from one Report Full Details answer: a report lists every entry with
/// some sixty fields, so the callouts' bound would refuse ordinary large reports.
const MAX_DETAILS_ELEMENTS: usize = 65_536;

/// Concur's limit on a workflow action's comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

const DETAILS_OPERATION: &str = "/api/expense/expensereport/v1.1/reportfulldetails/{reportKey}";
const APPROVE_OPERATION: &str = "/expensereports/v4/reports/{reportId}/approve";
const SEND_BACK_OPERATION: &str = "/expensereports/v4/reports/{reportId}/sendBack";
const FAILED_OPERATION: &str = "/api/platform/notifications/v1.0/notification?status=FAILED";
const DELETE_OPERATION: &str = "/api/platform/notifications/v1.0/notification/{notificationId}";
const V4_REPORT_OPERATION: &str =
    "/expensereports/v4/users/{userID}/context/{contextType}/reports/{reportId}";
const V4_EXPENSES_OPERATION: &str =
    "/expensereports/v4/users/{userID}/context/{contextType}/reports/{reportId}/expenses";
const V4_ALLOCATIONS_OPERATION: &str = "/expensereports/v4/users/{userID}/context/{contextType}/reports/{reportId}/expenses/{expenseId}/allocations";

/// A report as v1.1 Report Full Details describes it (the notification's `ObjectURI`).
#[derive(Debug, Clone, Serialize)]
pub struct ReportDetails {
    /// The 20-character id the v4 API addresses the report by (`ReportId`).
    pub report_id: String,
    /// The encrypted key (`RptKey`), when sent.
    pub report_key: Option<String>,
    pub report_name: Option<String>,
    /// `ApvStatusName`, e.g. `Pending External Validation`.
    pub approval_status_name: Option<String>,
    /// `ApsKey`, the approval status code.
    pub approval_status_code: Option<String>,
    /// The owner's login id (`X_UserID`, or `X-UserID` as the page's table spells it).
    pub owner_login: Option<String>,
    pub owner_employee_id: Option<String>,
    /// The report currency's code (`CrnCode`).
    pub currency: Option<String>,
    /// Where v1.1 takes a workflow action for the report's current step.
    pub workflow_action_url: Option<String>,
    /// The expense entries, read like v1.1 entries (expense type, amount, custom fields).
    pub entries: Vec<ExpenseItem>,
}

/// A v4 report with its expenses and their allocations.
#[derive(Debug, Clone, Serialize)]
pub struct ReportV4 {
    /// The header (name, owner, currency, header custom fields).
    pub header: ExpenseItem,
    /// `approvalStatus` (a name) and `approvalStatusId` (e.g. `A_PEND`).
    pub approval_status: Option<String>,
    pub approval_status_id: Option<String>,
    pub expenses: Vec<ExpenseV4>,
}

/// One expense of a v4 report and its allocations.
#[derive(Debug, Clone, Serialize)]
pub struct ExpenseV4 {
    pub expense: ExpenseItem,
    pub allocations: Vec<ExpenseItem>,
}

/// The body of `PATCH …/approve` (`ReportApproveRequest`); absent members are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportApproveRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Required by Concur when expenses were rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expense_rejected_comment: Option<String>,
    /// The step the decision was taken for (e.g. `EXTVAL`): Concur refuses the action when
    /// the report is elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_step_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_step_sequence: Option<u32>,
}

/// The body of `PATCH …/sendBack` (`ReportSendBackRequest`): the comment is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportSendBackRequest {
    pub comment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_step_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_step_sequence: Option<u32>,
}

/// `text` cut to at most `max` characters (never inside a character).
pub fn cut_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

impl ConcurClient {
    /// Reads the report a notification names: `GET {ObjectURI}` (v1.1 Report Full Details,
    /// XML) with the company token.
    ///
    /// A notification is not signed, so the URL must pass the host policy item URLs pass
    /// (https, a Concur host or a listed one) or nothing is sent ([`ConcurError::UntrustedUrl`]).
    /// On a legacy host (`www.concursolutions.com`, ...) the path is read at the company
    /// token's geolocation, as v1.1 entry reads are. The URL is otherwise used verbatim
    /// (its key may hold `$` and stray `%`).
    #[tracing::instrument(name = "concur.report_details", skip_all)]
    pub async fn report_details(&self, object_uri: &str) -> Result<ReportDetails, ConcurError> {
        let object_uri = self.trusted(object_uri, "report")?;
        let reply = self
            .call(Call {
                operation: DETAILS_OPERATION,
                method: Method::GET,
                target: legacy_or_absolute(object_uri),
                auth: Auth::Company,
                accept: "application/xml",
                json: None,
                company_json: None,
                company_query: None,
                language: None,
                retry: RetryClass::Idempotent,
            })
            .await?;
        parse_report_details(&reply.body).map_err(|detail| ConcurError::UnexpectedBody {
            operation: DETAILS_OPERATION,
            detail,
        })
    }

    /// Reads a v4 report with the company token: the header, its expenses
    /// (`…/reports/{reportId}/expenses`, one array, not paginated) and each expense's
    /// allocations (`…/expenses/{expenseId}/allocations`). `report.user_id` is the owner's
    /// UUID; the context defaults to `TRAVELER`.
    #[tracing::instrument(name = "concur.report_v4", skip_all)]
    pub async fn report_v4(&self, report: &V4Report) -> Result<ReportV4, ConcurError> {
        let user_id = report
            .user_id
            .as_deref()
            .filter(|id| is_path_safe(id))
            .ok_or(ConcurError::MissingItemId("user id"))?;
        let context = report
            .context_type
            .as_deref()
            .filter(|c| is_path_safe(c))
            .unwrap_or("TRAVELER");
        let report_id = path_safe_id(&report.report_id, V4_REPORT_OPERATION)?;
        let base =
            format!("/expensereports/v4/users/{user_id}/context/{context}/reports/{report_id}");
        let report = V4Report {
            user_id: Some(user_id.to_owned()),
            context_type: Some(context.to_owned()),
            report_id: report_id.to_owned(),
        };
        let location = ItemRef::V4Report(report.clone());

        let reply = self.v4_get(V4_REPORT_OPERATION, &base).await?;
        let unexpected =
            |operation| move |detail| ConcurError::UnexpectedBody { operation, detail };
        let header =
            parse::v4_report(&location, &reply.body).map_err(unexpected(V4_REPORT_OPERATION))?;
        let status: serde_json::Value =
            serde_json::from_slice(&reply.body).unwrap_or(serde_json::Value::Null);
        let text = |key: &str| status[key].as_str().map(str::to_owned);

        let reply = self
            .v4_get(V4_EXPENSES_OPERATION, &format!("{base}/expenses"))
            .await?;
        let mut expenses = Vec::new();
        for body in json_array(&reply.body).map_err(unexpected(V4_EXPENSES_OPERATION))? {
            let expense_id = body["expenseId"].as_str().unwrap_or_default().to_owned();
            let at = ItemRef::V4Expense {
                report: report.clone(),
                expense_id: expense_id.clone(),
            };
            let expense = parse::v4_expense(&at, body.to_string().as_bytes())
                .map_err(unexpected(V4_EXPENSES_OPERATION))?;
            let expense_id = path_safe_id(&expense_id, V4_EXPENSES_OPERATION)?;
            let reply = self
                .v4_get(
                    V4_ALLOCATIONS_OPERATION,
                    &format!("{base}/expenses/{expense_id}/allocations"),
                )
                .await?;
            let allocations = json_array(&reply.body)
                .map_err(unexpected(V4_ALLOCATIONS_OPERATION))?
                .into_iter()
                .map(|body| {
                    let at = ItemRef::V4Allocation {
                        report: report.clone(),
                        allocation_id: body["allocationId"].as_str().unwrap_or_default().to_owned(),
                    };
                    parse::v4_allocation(&at, body.to_string().as_bytes())
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(unexpected(V4_ALLOCATIONS_OPERATION))?;
            expenses.push(ExpenseV4 {
                expense,
                allocations,
            });
        }
        Ok(ReportV4 {
            header,
            approval_status: text("approvalStatus"),
            approval_status_id: text("approvalStatusId"),
            expenses,
        })
    }

    /// Approves a report in a system step: `PATCH {geo}/expensereports/v4/reports/{reportId}/approve`
    /// with the company token; Concur answers 204. The comment is cut to 2000 characters.
    ///
    /// A refusal because the report is no longer at `expected_step_code` is
    /// [`ConcurError::StepMoved`]. Like every PATCH, the call is repeated only when Concur
    /// provably did not process it.
    #[tracing::instrument(name = "concur.approve_report", skip_all)]
    pub async fn approve(
        &self,
        report_id: &str,
        request: &ReportApproveRequest,
    ) -> Result<WriteOutcome, ConcurError> {
        let mut request = request.clone();
        cut_option(&mut request.comment);
        cut_option(&mut request.expense_rejected_comment);
        self.workflow_action(report_id, APPROVE_OPERATION, "approve", &request)
            .await
    }

    /// Sends a report back to its owner: `PATCH {geo}/expensereports/v4/reports/{reportId}/sendBack`
    /// with the company token; Concur answers 204. The comment is required
    /// ([`ConcurError::CommentRequired`] when blank, before any call) and cut to 2000
    /// characters. A report no longer at the expected step is [`ConcurError::StepMoved`].
    #[tracing::instrument(name = "concur.send_back_report", skip_all)]
    pub async fn send_back(
        &self,
        report_id: &str,
        request: &ReportSendBackRequest,
    ) -> Result<WriteOutcome, ConcurError> {
        if request.comment.trim().is_empty() {
            return Err(ConcurError::CommentRequired);
        }
        let mut request = request.clone();
        request.comment = cut_chars(&request.comment, MAX_COMMENT_CHARS).to_owned();
        self.workflow_action(report_id, SEND_BACK_OPERATION, "sendBack", &request)
            .await
    }

    /// The notifications Concur could not deliver:
    /// `GET {geo}/api/platform/notifications/v1.0/notification?status=FAILED`, company token,
    /// sent as `Bearer` like every other call (docs/protocol.md §12.4). The XML and the JSON
    /// answers are read; an entry without a `NotificationURI` or `ObjectURI` is skipped
    /// with a warning.
    #[tracing::instrument(name = "concur.failed_notifications", skip_all)]
    pub async fn failed_notifications(&self) -> Result<Vec<FailedNotification>, ConcurError> {
        let reply = self
            .call(Call {
                operation: FAILED_OPERATION,
                method: Method::GET,
                target: Target::OnGeolocation(FAILED_OPERATION),
                auth: Auth::Company,
                accept: "application/xml",
                json: None,
                company_json: None,
                company_query: None,
                language: None,
                retry: RetryClass::Idempotent,
            })
            .await?;
        let unexpected = |detail: String| ConcurError::UnexpectedBody {
            operation: FAILED_OPERATION,
            detail,
        };
        let entries = match Format::detect(reply.content_type.as_deref(), &reply.body) {
            Some(Format::Xml) => parse_failed_list_xml(&reply.body),
            Some(Format::Json) => parse_failed_list_json(&reply.body),
            None => return Err(unexpected("neither json nor xml".to_owned())),
        }
        .map_err(|e| unexpected(e.to_string()))?;
        let mut failed = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry {
                Ok(entry) => failed.push(entry),
                Err(e) => tracing::warn!(error = %e, "skipping an unusable failed notification"),
            }
        }
        Ok(failed)
    }

    /// Deletes a failed notification: `DELETE {NotificationURI}` with the company token.
    /// The URI comes from Concur's answer but passes the host policy all the same (legacy
    /// hosts are called at the geolocation). 200 (or any 2xx) is success.
    #[tracing::instrument(name = "concur.delete_notification", skip_all)]
    pub async fn delete_notification(&self, notification_uri: &str) -> Result<(), ConcurError> {
        let notification_uri = self.trusted(notification_uri, "notification")?;
        self.call(Call {
            operation: DELETE_OPERATION,
            method: Method::DELETE,
            target: legacy_or_absolute(notification_uri),
            auth: Auth::Company,
            accept: "application/xml",
            json: None,
            company_json: None,
            company_query: None,
            language: None,
            retry: RetryClass::Idempotent,
        })
        .await
        .map(drop)
    }

    /// `url` trimmed once it passes the host policy.
    fn trusted<'u>(&self, url: &'u str, what: &'static str) -> Result<&'u str, ConcurError> {
        let url = url.trim();
        let parsed = Url::parse(url).map_err(|e| ConcurError::UntrustedUrl {
            what,
            reason: format!("not an absolute url ({e})"),
        })?;
        self.geolocations()
            .check(&parsed)
            .map_err(|reason| ConcurError::UntrustedUrl { what, reason })?;
        Ok(url)
    }

    async fn v4_get(&self, operation: &'static str, path: &str) -> Result<Reply, ConcurError> {
        self.call(Call {
            operation,
            method: Method::GET,
            target: Target::OnGeolocation(path),
            auth: Auth::Company,
            accept: "application/json",
            json: None,
            company_json: None,
            company_query: None,
            language: None,
            retry: RetryClass::Idempotent,
        })
        .await
    }

    async fn workflow_action(
        &self,
        report_id: &str,
        operation: &'static str,
        action: &str,
        body: &impl Serialize,
    ) -> Result<WriteOutcome, ConcurError> {
        let report_id = path_safe_id(report_id, operation)?;
        let body = serde_json::to_value(body).map_err(|e| ConcurError::UnexpectedBody {
            operation,
            detail: e.to_string(),
        })?;
        let path = format!("/expensereports/v4/reports/{report_id}/{action}");
        let reply = self
            .call(Call {
                operation,
                method: Method::PATCH,
                target: Target::OnGeolocation(&path),
                auth: Auth::Company,
                accept: "application/json",
                json: Some(&body),
                company_json: None,
                company_query: None,
                language: None,
                retry: RetryClass::NotProcessedOnly,
            })
            .await
            .map_err(step_moved)?;
        tracing::info!(
            action,
            status = reply.status,
            correlation_id = reply.correlation_id.as_deref().unwrap_or(""),
            "concur workflow action taken"
        );
        Ok(WriteOutcome {
            status: reply.status,
            correlation_id: reply.correlation_id,
        })
    }
}

/// A refusal naming the workflow step (the `expectedStepCode` check) becomes
/// [`ConcurError::StepMoved`]: a 400, 409, 412 or 422 whose code, message or validation
/// errors speak of the step.
fn step_moved(error: ConcurError) -> ConcurError {
    match error {
        ConcurError::Api(e) if matches!(e.status, 400 | 409 | 412 | 422) && names_step(&e) => {
            ConcurError::StepMoved(e)
        }
        other => other,
    }
}

fn names_step(e: &ApiError) -> bool {
    let mentions = |text: &Option<String>| {
        text.as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().contains("step"))
    };
    mentions(&e.code)
        || mentions(&e.message)
        || e.validation_errors
            .iter()
            .any(|v| mentions(&v.message) || mentions(&v.source) || mentions(&v.id))
}

fn cut_option(text: &mut Option<String>) {
    if let Some(t) = text {
        *t = cut_chars(t, MAX_COMMENT_CHARS).to_owned();
    }
}

/// A legacy host's URL is called at the geolocation (its path verbatim), any other as is.
fn legacy_or_absolute(url: &str) -> Target<'_> {
    match legacy_path(url) {
        Some(path) => Target::OnGeolocation(path),
        None => Target::Absolute(url),
    }
}

/// Ids placed in a path: letters, digits, `-` and `_` only, so an id cannot change the path.
fn is_path_safe(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn path_safe_id<'a>(id: &'a str, operation: &'static str) -> Result<&'a str, ConcurError> {
    let id = id.trim();
    if is_path_safe(id) {
        Ok(id)
    } else {
        Err(ConcurError::InvalidUrl { operation })
    }
}

fn json_array(body: &[u8]) -> Result<Vec<serde_json::Value>, String> {
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Array(items)) => Ok(items),
        Ok(_) => Err("expected a json array".to_owned()),
        Err(e) => Err(format!("malformed json: {e}")),
    }
}

/// Reads `<ReportDetails>` by local name, whatever its namespace declarations.
pub(crate) fn parse_report_details(body: &[u8]) -> Result<ReportDetails, String> {
    let root =
        xml::parse_with_max_elements(body, MAX_DETAILS_ELEMENTS).map_err(|e| e.to_string())?;
    if !root.name.eq_ignore_ascii_case("ReportDetails") {
        return Err(format!("root element is {}, not ReportDetails", root.name));
    }
    let text = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| root.child_text(n))
            .map(str::to_owned)
    };
    let report_id = text(&["ReportId", "ReportID"]).ok_or("no ReportId")?;
    let entries = root
        .child("ExpenseEntriesList")
        .map(|list| {
            list.children
                .iter()
                .filter(|e| e.name.eq_ignore_ascii_case("ExpenseEntry"))
                .map(|e| parse::v11_nested_entry(&report_id, e))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    Ok(ReportDetails {
        report_key: text(&["RptKey"]),
        report_name: text(&["ReportName"]),
        approval_status_name: text(&["ApvStatusName"]),
        approval_status_code: text(&["ApsKey", "ApvStatusCode"]),
        owner_login: text(&["X_UserID", "X-UserID"]),
        owner_employee_id: text(&["EmployeeID", "EmployeeId", "EmpId"]),
        currency: text(&["CrnCode", "CurrencyCode"]),
        workflow_action_url: text(&["WorkflowActionURL", "WorkflowActionUrl"]),
        report_id,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_cut_by_characters() {
        assert_eq!(cut_chars("abc", 2), "ab");
        assert_eq!(cut_chars("ééé", 2), "éé");
        assert_eq!(cut_chars("ab", 2000), "ab");
        let long = "ü".repeat(2001);
        assert_eq!(cut_chars(&long, MAX_COMMENT_CHARS).chars().count(), 2000);
    }

    #[test]
    fn path_ids_cannot_change_the_path() {
        assert!(is_path_safe("764428DD6A664AF0BFCB"));
        for bad in ["", "a/b", "a?b", "..", "a%2Fb", "a b"] {
            assert!(!is_path_safe(bad), "{bad}");
        }
    }

    #[test]
    fn report_details_are_read_by_local_name() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?>
<ReportDetails xmlns:ns="http://www.concursolutions.com/api/expense/expensereport/2011/03">
  <ReportId>4681D8C33A284E91A46E</ReportId>
  <ReportName>Trip to Lyon</ReportName>
  <RptKey>nxxKgLlnROzz$sHcpnRHQ$pALxamClaFfdC</RptKey>
  <ApvStatusName>Pending External Validation</ApvStatusName>
  <ApsKey>A_EXTV</ApsKey>
  <X-UserID>chris@example.com</X-UserID>
  <EmployeeID>E42</EmployeeID>
  <CrnCode>EUR</CrnCode>
  <WorkflowActionURL>https://www.concursolutions.com/api/expense/expensereport/v1.1/report/nx2W$p/workflowaction</WorkflowActionURL>
  <ExpenseEntriesList>
    <ExpenseEntry>
      <ReportEntryID>E1</ReportEntryID>
      <ExpKey>BRKFT</ExpKey>
      <ExpName>Breakfast</ExpName>
      <TransactionAmount>12.50</TransactionAmount>
      <Custom1>(P1) Project one</Custom1>
      <Custom2 />
    </ExpenseEntry>
    <ExpenseEntry><ReportEntryID>E2</ReportEntryID><ExpKey>TAXI</ExpKey></ExpenseEntry>
  </ExpenseEntriesList>
</ReportDetails>"#;
        let details = parse_report_details(body).unwrap();
        assert_eq!(details.report_id, "4681D8C33A284E91A46E");
        assert_eq!(details.owner_login.as_deref(), Some("chris@example.com"));
        assert_eq!(details.approval_status_code.as_deref(), Some("A_EXTV"));
        assert_eq!(details.currency.as_deref(), Some("EUR"));
        assert_eq!(details.entries.len(), 2);
        let first = &details.entries[0];
        assert_eq!(first.entry_id.as_deref(), Some("E1"));
        assert_eq!(first.expense_type_code.as_deref(), Some("BRKFT"));
        assert_eq!(first.expense_type_name.as_deref(), Some("Breakfast"));
        assert_eq!(first.amount.as_deref(), Some("12.50"));
        assert_eq!(first.fields.len(), 1);
        assert_eq!(first.fields[0].code.as_deref(), Some("P1"));
        assert_eq!(first.report_id.as_deref(), Some("4681D8C33A284E91A46E"));
    }

    #[test]
    fn report_details_of_a_large_report_are_read() {
        let entry = format!(
            "<ExpenseEntry><ReportEntryID>E</ReportEntryID>{}</ExpenseEntry>",
            "<Custom1>x</Custom1>".repeat(60)
        );
        let body = format!(
            "<ReportDetails><ReportId>R</ReportId><ExpenseEntriesList>{}</ExpenseEntriesList></ReportDetails>",
            entry.repeat(200)
        );
        assert_eq!(
            parse_report_details(body.as_bytes()).unwrap().entries.len(),
            200
        );
    }

    #[test]
    fn report_details_need_the_report_id_and_the_root() {
        assert!(
            parse_report_details(b"<ReportDetails><ReportName>x</ReportName></ReportDetails>")
                .is_err()
        );
        assert!(parse_report_details(b"<Report><ReportId>x</ReportId></Report>").is_err());
    }
}
