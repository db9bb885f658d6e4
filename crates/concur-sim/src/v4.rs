//! Expense Reports v4: report header, expense and allocation GET and PATCH (docs/protocol.md §6.1, §9.3).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use serde_json::{Map, Value, json};

use super::error::{ApiError, Family, ValidationError};
use super::read::{self, ReadCall};
use super::record::{Principal, WriteApi};
use super::seed::{Expense, MAX_VALUE_CHARS, Report, Seed};
use super::state::SimHandle;
use super::write::{self, WriteCall};
use concur_protocol::launch::Source;

const FAMILY: Family = Family::V4;

/// `expenseSource` values of the compact expense PATCH.
const EXPENSE_SOURCES: &[&str] = &["EA", "MOB", "OTHER", "SE", "TA", "TR", "UI"];
/// `reportSource` values of the report PATCH.
const REPORT_SOURCES: &[&str] = &["EA", "MOB", "OTHER", "SE", "TR", "UI"];
/// Documented maximum of an expense's `businessPurpose`.
const MAX_PURPOSE_CHARS: usize = 64;

const USER_BASE: &str = "/expensereports/v4/users/{user_id}/context/{context}/reports/{report_id}";

pub(crate) fn routes() -> Router<SimHandle> {
    Router::new()
        .route(USER_BASE, get(get_report).patch(patch_report))
        .route(&format!("{USER_BASE}/expenses"), get(get_expenses))
        .route(
            &format!("{USER_BASE}/expenses/{{expense_id}}"),
            get(get_expense),
        )
        .route(
            &format!("{USER_BASE}/expenses/{{expense_id}}/allocations"),
            get(get_expense_allocations),
        )
        .route(
            &format!("{USER_BASE}/allocations/{{allocation_id}}"),
            get(get_allocation).patch(patch_allocation),
        )
        .route(
            "/expensereports/v4/reports/{report_id}/expenses/{expense_id}",
            patch(patch_expense),
        )
        .route(
            "/expensereports/v4/reports/{report_id}",
            patch(patch_submitted_report),
        )
}

/// The `contextType` path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Traveler,
    Manager,
    Processor,
    Proxy,
}

impl Context {
    fn parse(value: &str) -> Option<Self> {
        [
            ("TRAVELER", Context::Traveler),
            ("MANAGER", Context::Manager),
            ("PROCESSOR", Context::Processor),
            ("PROXY", Context::Proxy),
        ]
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
        .map(|(_, context)| context)
    }
}

use Context::{Manager, Processor, Proxy, Traveler};
const REPORT_GET: &[Context] = &[Traveler, Manager, Processor, Proxy];
const EXPENSE_GET: &[Context] = &[Traveler, Manager, Proxy];
const EDIT: &[Context] = &[Traveler, Proxy];

type UserPath = (String, String, String);

async fn get_report(
    State(sim): State<SimHandle>,
    Path((user_id, context, report_id)): Path<UserPath>,
    call: ReadCall,
) -> Response {
    let path = call.path();
    read::handle(&sim, FAMILY, &call, |data, principal| {
        let report = user_report(
            data,
            principal,
            (&user_id, &context, &report_id),
            REPORT_GET,
            path,
        )?;
        Ok(axum::Json(render_report(data, sim.geolocation(), report)).into_response())
    })
}

async fn get_expense(
    State(sim): State<SimHandle>,
    Path((user_id, context, report_id, expense_id)): Path<(String, String, String, String)>,
    call: ReadCall,
) -> Response {
    let path = call.path();
    read::handle(&sim, FAMILY, &call, |data, principal| {
        let report = user_report(
            data,
            principal,
            (&user_id, &context, &report_id),
            EXPENSE_GET,
            path,
        )?;
        let expense = report
            .expense(&expense_id)
            .ok_or_else(|| ApiError::not_found(FAMILY, path, "expense not found"))?;
        let body = render_expense(data, sim.geolocation(), report, expense);
        Ok(axum::Json(body).into_response())
    })
}

/// `GET …/reports/{reportId}/expenses`: every expense of the report, one array (v4 does
/// not paginate it).
async fn get_expenses(
    State(sim): State<SimHandle>,
    Path((user_id, context, report_id)): Path<UserPath>,
    call: ReadCall,
) -> Response {
    let path = call.path();
    read::handle(&sim, FAMILY, &call, |data, principal| {
        let report = user_report(
            data,
            principal,
            (&user_id, &context, &report_id),
            EXPENSE_GET,
            path,
        )?;
        let body: Vec<Value> = report
            .expenses
            .iter()
            .map(|expense| render_expense(data, sim.geolocation(), report, expense))
            .collect();
        Ok(axum::Json(body).into_response())
    })
}

/// `GET …/expenses/{expenseId}/allocations`: the expense's allocations, one array.
async fn get_expense_allocations(
    State(sim): State<SimHandle>,
    Path((user_id, context, report_id, expense_id)): Path<(String, String, String, String)>,
    call: ReadCall,
) -> Response {
    let path = call.path();
    read::handle(&sim, FAMILY, &call, |data, principal| {
        let report = user_report(
            data,
            principal,
            (&user_id, &context, &report_id),
            EXPENSE_GET,
            path,
        )?;
        let expense = report
            .expense(&expense_id)
            .ok_or_else(|| ApiError::not_found(FAMILY, path, "expense not found"))?;
        let body: Vec<Value> = expense
            .allocations
            .iter()
            .map(|a| render_allocation(data, sim.geolocation(), report, expense, &a.id))
            .collect();
        Ok(axum::Json(body).into_response())
    })
}

async fn get_allocation(
    State(sim): State<SimHandle>,
    Path((user_id, context, report_id, allocation_id)): Path<(String, String, String, String)>,
    call: ReadCall,
) -> Response {
    let path = call.path();
    read::handle(&sim, FAMILY, &call, |data, principal| {
        let report = user_report(
            data,
            principal,
            (&user_id, &context, &report_id),
            EDIT,
            path,
        )?;
        let (expense, _) = report
            .allocation(&allocation_id)
            .ok_or_else(|| ApiError::not_found(FAMILY, path, "allocation not found"))?;
        let body = render_allocation(data, sim.geolocation(), report, expense, &allocation_id);
        Ok(axum::Json(body).into_response())
    })
}

/// `PATCH /expensereports/v4/reports/{reportId}/expenses/{expenseId}`: the compact schema,
/// company token only (current docs), `expenseSource` required.
async fn patch_expense(
    State(sim): State<SimHandle>,
    Path((report_id, expense_id)): Path<(String, String)>,
    call: WriteCall,
) -> Response {
    let path = call.path();
    write::handle(&sim, WriteApi::V4Expense, &call, |data, principal, body| {
        require_company(principal, path)?;
        let report = find_report(data, &report_id, path)?;
        report
            .expense(&expense_id)
            .ok_or_else(|| ApiError::not_found(FAMILY, path, "expense not found"))?;

        let mut errors = Vec::new();
        only_members(
            body,
            &["businessPurpose", "customData", "expenseSource"],
            &mut errors,
        );
        required_source(body, "expenseSource", EXPENSE_SOURCES, &mut errors);
        let purpose = optional_text(body, "businessPurpose", MAX_PURPOSE_CHARS, &mut errors);
        let custom = custom_data_member(data, Source::Entry, body, "customData", &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::validation(FAMILY, path, errors));
        }

        let expense = data
            .report_mut(&report_id)
            .and_then(|r| r.expense_mut(&expense_id))
            .ok_or_else(|| ApiError::not_found(FAMILY, path, "expense not found"))?;
        apply_custom(&mut expense.custom_data, custom);
        if let Some(purpose) = purpose {
            expense.business_purpose = purpose;
        }
        Ok(StatusCode::NO_CONTENT)
    })
}

/// `PATCH /expensereports/v4/users/{userID}/context/{contextType}/reports/{reportId}`:
/// unsubmitted (or sent back) header, user or company token, `reportSource` required.
async fn patch_report(
    State(sim): State<SimHandle>,
    Path((user_id, context, report_id)): Path<UserPath>,
    call: WriteCall,
) -> Response {
    let path = call.path();
    write::handle(&sim, WriteApi::V4Report, &call, |data, principal, body| {
        let report = user_report(
            data,
            principal,
            (&user_id, &context, &report_id),
            EDIT,
            path,
        )?;
        // Sent back, the report is the employee's to correct again, as before submission.
        if !["A_NOTF", "A_RESU"].contains(&report.approval_status_id.as_str()) {
            return Err(ApiError::bad_request(
                FAMILY,
                path,
                "the report has been submitted; use PATCH /expensereports/v4/reports/{reportId}",
            ));
        }
        let mut errors = Vec::new();
        only_members(
            body,
            &["businessPurpose", "customData", "name", "reportSource"],
            &mut errors,
        );
        required_source(body, "reportSource", REPORT_SOURCES, &mut errors);
        header_edit(data, &report_id, body, errors, path)
    })
}

/// `PATCH /expensereports/v4/reports/{reportId}`: header of a submitted (or unsubmitted)
/// report, company token only, no source member.
async fn patch_submitted_report(
    State(sim): State<SimHandle>,
    Path(report_id): Path<String>,
    call: WriteCall,
) -> Response {
    let path = call.path();
    write::handle(
        &sim,
        WriteApi::V4SubmittedReport,
        &call,
        |data, principal, body| {
            require_company(principal, path)?;
            find_report(data, &report_id, path)?;
            let mut errors = Vec::new();
            only_members(
                body,
                &["businessPurpose", "customData", "name"],
                &mut errors,
            );
            header_edit(data, &report_id, body, errors, path)
        },
    )
}

/// The shared tail of both header PATCHes: check `businessPurpose`, `name`, `customData`,
/// then apply them.
fn header_edit(
    data: &mut Seed,
    report_id: &str,
    body: &Map<String, Value>,
    mut errors: Vec<ValidationError>,
    path: &str,
) -> Result<StatusCode, ApiError> {
    let purpose = optional_text(body, "businessPurpose", MAX_PURPOSE_CHARS, &mut errors);
    let name = optional_text(body, "name", MAX_PURPOSE_CHARS, &mut errors);
    let custom = custom_data_member(data, Source::Header, body, "customData", &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(FAMILY, path, errors));
    }
    let report = data
        .report_mut(report_id)
        .ok_or_else(|| ApiError::not_found(FAMILY, path, "report not found"))?;
    apply_custom(&mut report.custom_data, custom);
    if let Some(purpose) = purpose {
        report.business_purpose = purpose;
    }
    if let Some(Some(name)) = name {
        report.name = name;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH .../reports/{reportId}/allocations/{allocationId}`: `allocation` and `expenseIds`
/// both required.
async fn patch_allocation(
    State(sim): State<SimHandle>,
    Path((user_id, context, report_id, allocation_id)): Path<(String, String, String, String)>,
    call: WriteCall,
) -> Response {
    let path = call.path();
    write::handle(
        &sim,
        WriteApi::V4Allocation,
        &call,
        |data, principal, body| {
            let report = user_report(
                data,
                principal,
                (&user_id, &context, &report_id),
                EDIT,
                path,
            )?;
            let (expense, _) = report
                .allocation(&allocation_id)
                .ok_or_else(|| ApiError::not_found(FAMILY, path, "allocation not found"))?;
            let owning_expense = expense.id.clone();

            let mut errors = Vec::new();
            only_members(body, &["allocation", "expenseIds"], &mut errors);
            check_expense_ids(report, &owning_expense, body.get("expenseIds"), &mut errors);
            let custom = match body.get("allocation") {
                Some(Value::Object(allocation)) => {
                    only_members_at(allocation, &["customData"], "allocation.", &mut errors);
                    custom_data_member(
                        data,
                        Source::Allocation,
                        allocation,
                        "allocation.customData",
                        &mut errors,
                    )
                }
                Some(_) => {
                    errors.push(ValidationError::new(
                        "allocation",
                        "allocation must be an object",
                        "Type",
                    ));
                    Vec::new()
                }
                None => {
                    errors.push(required("allocation"));
                    Vec::new()
                }
            };
            if !errors.is_empty() {
                return Err(ApiError::validation(FAMILY, path, errors));
            }
            let allocation = data
                .report_mut(&report_id)
                .and_then(|r| r.allocation_mut(&allocation_id))
                .ok_or_else(|| ApiError::not_found(FAMILY, path, "allocation not found"))?;
            apply_custom(&mut allocation.custom_data, custom);
            Ok(StatusCode::NO_CONTENT)
        },
    )
}

fn check_expense_ids(
    report: &Report,
    owning_expense: &str,
    value: Option<&Value>,
    errors: &mut Vec<ValidationError>,
) {
    let Some(value) = value else {
        errors.push(required("expenseIds"));
        return;
    };
    let ids: Option<Vec<&str>> = value
        .as_array()
        .and_then(|items| items.iter().map(Value::as_str).collect());
    let Some(ids) = ids.filter(|ids| !ids.is_empty()) else {
        errors.push(ValidationError::new(
            "expenseIds",
            "expenseIds must be a non-empty array of expense ids",
            "Type",
        ));
        return;
    };
    for (i, id) in ids.iter().enumerate() {
        if report.expense(id).is_none() {
            errors.push(ValidationError::new(
                format!("expenseIds[{i}]"),
                format!("expense {id} is not on this report"),
                "Reference",
            ));
        }
    }
    if !ids.iter().any(|id| id.eq_ignore_ascii_case(owning_expense)) {
        errors.push(ValidationError::new(
            "expenseIds",
            format!("expenseIds must contain {owning_expense}, the expense of this allocation"),
            "Reference",
        ));
    }
}

fn find_report<'a>(data: &'a Seed, report_id: &str, path: &str) -> Result<&'a Report, ApiError> {
    data.report(report_id)
        .ok_or_else(|| ApiError::not_found(FAMILY, path, "report not found"))
}

/// The report of a user/context URL (`{userID}`, `{contextType}`, `{reportId}`), once the
/// principal may use that URL in one of the `allowed` contexts.
fn user_report<'a>(
    data: &'a Seed,
    principal: &Principal,
    (user_id, context, report_id): (&str, &str, &str),
    allowed: &[Context],
    path: &str,
) -> Result<&'a Report, ApiError> {
    let report = find_report(data, report_id, path)?;
    check_access(principal, data, user_id, context, allowed, report, path)?;
    Ok(report)
}

/// Who may use the user/context URLs: a company token always; a user token as the owner
/// (`TRAVELER`) or as the owner's delegate (`PROXY`). The simulator has no approvers, so
/// `MANAGER` and `PROCESSOR` take company tokens only. The `{userID}` segment names the
/// report owner (compared ignoring case, docs/protocol.md T33).
fn check_access(
    principal: &Principal,
    data: &Seed,
    path_user: &str,
    context: &str,
    allowed: &[Context],
    report: &Report,
    path: &str,
) -> Result<(), ApiError> {
    let context = Context::parse(context)
        .filter(|c| allowed.contains(c))
        .ok_or_else(|| {
            ApiError::bad_request(
                FAMILY,
                path,
                format!("contextType {context} is not supported here"),
            )
        })?;
    if !path_user.eq_ignore_ascii_case(&report.owner) {
        return Err(ApiError::not_found(
            FAMILY,
            path,
            "report not found for this user",
        ));
    }
    let allowed = match principal {
        Principal::Company => true,
        Principal::App => false,
        Principal::User { user_id } => match context {
            Traveler => user_id.eq_ignore_ascii_case(&report.owner),
            Proxy => {
                !user_id.eq_ignore_ascii_case(&report.owner)
                    && data.may_act_for(user_id, &report.owner)
            }
            Manager | Processor => false,
        },
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            FAMILY,
            path,
            "the token's principal may not access this report in this context",
        ))
    }
}

fn require_company(principal: &Principal, path: &str) -> Result<(), ApiError> {
    if *principal == Principal::Company {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            FAMILY,
            path,
            "this operation requires a company access token",
        ))
    }
}

fn required(member: &str) -> ValidationError {
    ValidationError::new(member, format!("{member} is required"), "NotNull")
}

fn only_members(body: &Map<String, Value>, allowed: &[&str], errors: &mut Vec<ValidationError>) {
    only_members_at(body, allowed, "", errors);
}

/// The simulator is stricter than Concur may be: members it does not simulate are refused,
/// so a misspelt member (`expense_source`) fails loudly instead of being ignored.
fn only_members_at(
    body: &Map<String, Value>,
    allowed: &[&str],
    prefix: &str,
    errors: &mut Vec<ValidationError>,
) {
    for key in body.keys().filter(|k| !allowed.contains(&k.as_str())) {
        errors.push(ValidationError::new(
            format!("{prefix}{key}"),
            format!("unknown or unsupported member {prefix}{key}"),
            "UnknownProperty",
        ));
    }
}

fn required_source(
    body: &Map<String, Value>,
    member: &str,
    allowed: &[&str],
    errors: &mut Vec<ValidationError>,
) {
    match body.get(member) {
        None | Some(Value::Null) => errors.push(required(member)),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => {}
        Some(_) => errors.push(ValidationError::new(
            member,
            format!("{member} must be one of {}", allowed.join(", ")),
            "AllowedValues",
        )),
    }
}

/// A merge-patch text member: absent → `None`, `null` → `Some(None)` (clear).
fn optional_text(
    body: &Map<String, Value>,
    member: &str,
    max_chars: usize,
    errors: &mut Vec<ValidationError>,
) -> Option<Option<String>> {
    match body.get(member)? {
        Value::Null => Some(None),
        Value::String(s) if s.chars().count() <= max_chars => Some(Some(s.clone())),
        Value::String(_) => {
            errors.push(ValidationError::new(
                member,
                format!("{member} must be at most {max_chars} characters"),
                "Size",
            ));
            None
        }
        _ => {
            errors.push(ValidationError::new(
                member,
                format!("{member} must be a string"),
                "Type",
            ));
            None
        }
    }
}

/// Checks a `customData` array: each element `{id, value[, isValid][, listItemUrl]}`, `id`
/// exactly a field of `level` (docs/protocol.md T24), `value` a string of at most 48 characters or
/// `null`, list fields given as a list item id. Returns `(field id, new value)` pairs.
fn custom_data_member(
    data: &Seed,
    level: Source,
    body: &Map<String, Value>,
    member: &str,
    errors: &mut Vec<ValidationError>,
) -> Vec<(String, Option<String>)> {
    let Some(value) = body.get("customData") else {
        return Vec::new();
    };
    let Some(elements) = value.as_array() else {
        errors.push(ValidationError::new(
            member,
            format!("{member} must be an array"),
            "Type",
        ));
        return Vec::new();
    };
    let mut changes: Vec<(String, Option<String>)> = Vec::new();
    for (i, element) in elements.iter().enumerate() {
        let at = format!("{member}[{i}]");
        let Some(element) = element.as_object() else {
            errors.push(ValidationError::new(
                &at,
                format!("{at} must be an object"),
                "Type",
            ));
            continue;
        };
        for key in element.keys() {
            if !["id", "value", "isValid", "listItemUrl"].contains(&key.as_str()) {
                errors.push(ValidationError::new(
                    format!("{at}.{key}"),
                    format!("unknown member {at}.{key}"),
                    "UnknownProperty",
                ));
            }
        }
        let Some(id) = element.get("id").and_then(Value::as_str) else {
            errors.push(ValidationError::new(
                format!("{at}.id"),
                format!("{at}.id is required"),
                "NotNull",
            ));
            continue;
        };
        let Some(field) = data.field(level, id) else {
            errors.push(ValidationError::new(
                format!("{at}.id"),
                format!("{id} is not a custom field of the {} form", level.as_str()),
                "UnknownField",
            ));
            continue;
        };
        if changes.iter().any(|(seen, _)| seen == id) {
            errors.push(ValidationError::new(
                format!("{at}.id"),
                format!("{id} appears more than once"),
                "Duplicate",
            ));
            continue;
        }
        let new_value = match element.get("value") {
            None => {
                errors.push(ValidationError::new(
                    format!("{at}.value"),
                    format!("{at}.value is required"),
                    "NotNull",
                ));
                continue;
            }
            Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errors.push(ValidationError::new(
                    format!("{at}.value"),
                    format!("{at}.value must be a string"),
                    "Type",
                ));
                continue;
            }
        };
        let new_value = match new_value {
            Some(s) if s.chars().count() > MAX_VALUE_CHARS => {
                errors.push(ValidationError::new(
                    format!("{at}.value"),
                    format!("value of {id} must be at most {MAX_VALUE_CHARS} characters"),
                    "Size",
                ));
                continue;
            }
            Some(s) => match data.field_list(field) {
                Some(list) => match list.item_by_id(&s) {
                    Some(item) => Some(item.id.clone()),
                    None => {
                        errors.push(ValidationError::new(
                            format!("{at}.value"),
                            format!(
                                "{s} is not a list item id of list {} (v4 writes list item ids)",
                                list.name
                            ),
                            "ListItem",
                        ));
                        continue;
                    }
                },
                None => Some(s),
            },
            None => None,
        };
        changes.push((id.to_owned(), new_value));
    }
    changes
}

fn apply_custom(values: &mut BTreeMap<String, String>, changes: Vec<(String, Option<String>)>) {
    for (id, value) in changes {
        match value {
            Some(value) => values.insert(id, value),
            None => values.remove(&id),
        };
    }
}

fn amount(value: f64, currency: &str) -> Value {
    json!({ "value": value, "currencyCode": currency })
}

fn self_link(href: String) -> Value {
    json!([{
        "rel": "self",
        "href": href,
        "hreflang": null,
        "media": null,
        "title": null,
        "type": null,
        "deprecation": null,
        "method": "GET",
        "isTemplated": false,
    }])
}

/// Every configured field of the level, with `value: null` when empty: the connector finds
/// the launched-from field by id even before it has a value.
fn custom_data(data: &Seed, base: &str, level: Source, values: &BTreeMap<String, String>) -> Value {
    data.fields_of(level)
        .map(|field| {
            let value = values.get(&field.id);
            let list_item_url = field
                .list
                .as_ref()
                .and(value)
                .map(|id| format!("{base}/list/v4/items?id={id}"));
            json!({
                "id": field.id,
                "value": value,
                "isValid": true,
                "listItemUrl": list_item_url,
            })
        })
        .collect()
}

fn report_url(base: &str, report: &Report) -> String {
    format!(
        "{base}/expensereports/v4/users/{}/context/TRAVELER/reports/{}",
        report.owner, report.id
    )
}

/// `ReportDetails` (docs/protocol.md §6.1).
pub(crate) fn render_report(data: &Seed, base: &str, report: &Report) -> Value {
    let currency = report.currency.as_str();
    let total = amount(report.total(), currency);
    let zero = amount(0.0, currency);
    let (status, status_id) = (
        report.approval_status_name(),
        report.approval_status_id.as_str(),
    );
    let mut body = json!({
        "reportId": report.id,
        "name": report.name,
        "userId": report.owner.to_ascii_lowercase(),
        "currencyCode": currency,
        "currency": super::currency_name(currency),
        "reportDate": report.report_date,
        "creationDate": format!("{}T00:00:00Z", report.report_date),
        "submitDate": null,
        "businessPurpose": report.business_purpose,
        "policy": report.policy,
        "policyId": report.policy.as_ref().map(|_| "EE095F66AEF52B4A9CE62952601E5CB1"),
        "approvalStatus": status,
        "approvalStatusId": status_id,
        "paymentStatus": "Not Paid",
        "paymentStatusId": "P_NOTP",
        "customData": custom_data(data, base, Source::Header, &report.custom_data),
        "links": self_link(report_url(base, report)),
    });
    let totals = json!({
        "claimedAmount": total,
        "approvedAmount": total,
        "reportTotal": total,
        "amountDueEmployee": total,
        "amountCompanyPaid": zero,
        "amountDueCompany": zero,
        "amountDueCompanyCard": zero,
        "amountNotApproved": zero,
        "personalAmount": zero,
        "paymentConfirmedAmount": zero,
    });
    let flags = json!({
        "isPaperReceiptsReceived": false,
        "isReceiptImageAvailable": false,
        "isReceiptImageRequired": true,
        "isFinancialIntegrationEnabled": false,
        "canRecall": false,
        "canReopen": false,
        "isReopened": false,
        "reportType": "Regular",
        "reportVersion": 0,
        "redirectFund": null,
    });
    merge(&mut body, totals);
    merge(&mut body, flags);
    body
}

/// `ReportExpenseDetail` (docs/protocol.md §6.1).
pub(crate) fn render_expense(data: &Seed, base: &str, report: &Report, expense: &Expense) -> Value {
    let currency = report.currency.as_str();
    let posted = amount(expense.posted_amount(), currency);
    let href = format!("{}/expenses/{}", report_url(base, report), expense.id);
    let mut body = json!({
        "expenseId": expense.id,
        "expenseType": data.expense_type(&expense.expense_type).map(|t| json!({
            "id": t.id, "name": t.name, "code": t.code, "isDeleted": false,
        })),
        "transactionAmount": amount(expense.amount, currency),
        "transactionDate": expense.transaction_date,
        "postedAmount": posted,
        "approvedAmount": posted,
        "claimedAmount": posted,
        "approverAdjustedAmount": posted,
        "exchangeRate": { "value": expense.exchange_rate, "operation": "MULTIPLY" },
        "businessPurpose": expense.business_purpose,
        "vendor": expense.vendor.as_ref().map(|v| json!({
            "id": null, "name": null, "description": v,
        })),
        "paymentType": data.payment_type(&expense.payment_type).map(|p| json!({
            "id": p.id, "name": p.name, "code": p.code,
        })),
        "location": expense.location.as_ref().map(|l| json!({
            "id": null,
            "name": l.name,
            "city": l.city,
            "countryCode": l.country_code,
            "countrySubDivisionCode": l.country_sub_division_code,
        })),
        "allocationState": expense.allocation_state(),
        "allocationSetId": null,
        "customData": custom_data(data, base, Source::Entry, &expense.custom_data),
        "links": self_link(href),
    });
    let rest = json!({
        "attendeeCount": 0,
        "authorizationRequestExpenseId": null,
        "budgetAccrualDate": null,
        "ereceiptImageId": null,
        "expenseSourceIdentifiers": null,
        "hasBlockingExceptions": false,
        "hasExceptions": false,
        "hasMissingReceiptDeclaration": false,
        "imageCertificationStatus": null,
        "isAutoCreated": false,
        "isExcludedFromCashAdvanceByUser": false,
        "isExpenseBillable": false,
        "isExpenseRejected": false,
        "isImageRequired": true,
        "isPaperReceiptReceived": false,
        "isPaperReceiptRequired": false,
        "isPersonalExpense": false,
        "merchantTaxId": null,
        "mileage": null,
        "parentExpenseId": null,
        "receiptImageId": null,
        "receiptType": { "id": "N", "status": "No Receipt" },
        "taxRateLocation": "HOME",
        "ticketNumber": null,
        "travel": null,
        "travelAllowance": {
            "dailyLimitAmount": null,
            "dailyTravelAllowanceId": null,
            "isExpensePartOfTravelAllowance": false,
        },
    });
    merge(&mut body, rest);
    body
}

/// `ReportAllocationResponse` (docs/protocol.md §6.1).
fn render_allocation(
    data: &Seed,
    base: &str,
    report: &Report,
    expense: &Expense,
    allocation_id: &str,
) -> Value {
    let Some(allocation) = expense
        .allocations
        .iter()
        .find(|a| a.id.eq_ignore_ascii_case(allocation_id))
    else {
        return Value::Null;
    };
    let share = amount(
        expense.posted_amount() * allocation.percentage / 100.0,
        &report.currency,
    );
    json!({
        "allocationId": allocation.id,
        "expenseId": expense.id,
        "customData": custom_data(data, base, Source::Allocation, &allocation.custom_data),
        "percentage": allocation.percentage,
        "allocationAmount": share,
        "approvedAmount": share,
        "claimedAmount": share,
        "accountCode": allocation.account_code,
        "overLimitAccountCode": null,
        "isSystemAllocation": false,
        "isPercentEdited": false,
    })
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Seed {
        Seed::builtin()
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn custom_data_accepts_text_and_list_item_ids() {
        let data = seed();
        let mut errors = Vec::new();
        let body = object(json!({"customData": [
            {"id": "custom12", "value": "PRJ-0042", "isValid": true},
            {"id": "custom9", "value": "058713001e2cd943824280d9275fdc3f"},
        ]}));
        let changes = custom_data_member(&data, Source::Entry, &body, "customData", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            changes,
            vec![
                ("custom12".to_owned(), Some("PRJ-0042".to_owned())),
                (
                    "custom9".to_owned(),
                    Some("058713001E2CD943824280D9275FDC3F".to_owned())
                ),
            ]
        );
    }

    #[test]
    fn custom_data_rejections_name_the_element() {
        let data = seed();
        let cases = [
            (
                json!({"id": "custom99", "value": "x"}),
                "customData[0].id",
                "UnknownField",
            ),
            (
                json!({"id": "custom09", "value": "x"}),
                "customData[0].id",
                "UnknownField",
            ),
            (
                json!({"id": "custom12", "value": "x".repeat(49)}),
                "customData[0].value",
                "Size",
            ),
            (
                json!({"id": "custom9", "value": "CC-100"}),
                "customData[0].value",
                "ListItem",
            ),
            (json!({"id": "custom12"}), "customData[0].value", "NotNull"),
            (
                json!({"id": "custom12", "value": 5}),
                "customData[0].value",
                "Type",
            ),
            (json!({"value": "x"}), "customData[0].id", "NotNull"),
            (
                json!({"id": "custom12", "value": "x", "colour": 1}),
                "customData[0].colour",
                "UnknownProperty",
            ),
        ];
        for (element, id, source) in cases {
            let mut errors = Vec::new();
            let body = object(json!({ "customData": [element.clone()] }));
            custom_data_member(&data, Source::Entry, &body, "customData", &mut errors);
            assert!(
                errors.iter().any(|e| e.id == id && e.source == source),
                "{element}: {errors:?}"
            );
        }
    }

    #[test]
    fn exactly_48_characters_is_allowed() {
        let data = seed();
        let mut errors = Vec::new();
        let body = object(json!({"customData": [{"id": "custom12", "value": "é".repeat(48)}]}));
        custom_data_member(&data, Source::Entry, &body, "customData", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn rendered_expense_lists_every_entry_field() {
        let data = seed();
        let (report, expense) = data.expense("84FCBB92BD4E5342B849DAC29FD163A1").unwrap();
        let body = render_expense(&data, "https://sim", report, expense);
        let ids: Vec<&str> = body["customData"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["custom12", "custom9", "orgUnit1"]);
        assert_eq!(body["customData"][0]["value"], Value::Null);
        assert_eq!(
            body["customData"][1]["listItemUrl"],
            "https://sim/list/v4/items?id=AB8596D91C994F4DBBD820D6DCBDC599"
        );
        assert_eq!(body["customData"][2]["listItemUrl"], Value::Null);
        assert_eq!(body["expenseType"]["id"], "LUNCH");
    }
}
