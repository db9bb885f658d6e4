//! Travel Request v4 (Concur Request): request header, expected expense and allocation, GET
//! and PUT (docs/protocol.md §12.8).
//!
//! Writes are `PUT`, partial: absent members stay as they are, `null` clears. A custom field
//! is a top-level member `customN` = `{code, value, href}` (read) or `{value}` (written); a
//! list field's value is the list item id. A `PUT` answers `200` with the whole item, and an
//! allocation (GET and PUT) is a JSON array of one, as Concur's examples show.
//!
//! Tokens: a user token acts as its user, who must be the owner or one of the owner's
//! delegates; a company token acts as the `userId` parameter (query string, or a body member
//! `userId`), required on the expected-expense `PUT` (`400 missingRequiredParam`), optional
//! elsewhere (then as "Concur System").

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::error::{ApiError, Family, ValidationError};
use super::read::{self, ReadCall};
use super::record::{Principal, WriteApi};
use super::seed::{
    Allocation, ExpectedExpense, Location, MAX_VALUE_CHARS, Seed, TravelRequest, request_slot,
};
use super::state::SimHandle;
use super::write::{self, WriteCall};
use concur_protocol::launch::Source;

const FAMILY: Family = Family::Request;

/// Concur's header `PUT` updates `comment`, `startDate`, `startTime`, `endDate`, `endTime`,
/// `expensePolicy`, `name`, `businessPurpose`, `mainDestination`, `travelAgency` and the custom
/// fields. These three the simulator does not model: refused so that nobody relies on them.
const NOT_SIMULATED: &[&str] = &["expensePolicy", "mainDestination", "travelAgency"];

/// The id Concur gives the seed's request policy (one policy in the simulator).
const POLICY_ID: &str = "F4C8BD31CA9D4D6292795BE687EB9B2A";

pub(crate) fn routes() -> Router<SimHandle> {
    Router::new()
        .route(
            "/travelrequest/v4/requests/{request_id}",
            get(get_request).put(put_request),
        )
        .route(
            "/travelrequest/v4/expenses/{expense_id}",
            get(get_expense).put(put_expense),
        )
        .route(
            "/travelrequest/v4/requests/{request_id}/allocations/{allocation_id}",
            get(get_allocation).put(put_allocation),
        )
}

async fn get_request(
    State(sim): State<SimHandle>,
    Path(request_id): Path<String>,
    call: ReadCall,
) -> Response {
    let path = call.path();
    let user = query_user_id(call.query());
    read::handle(&sim, FAMILY, &call, |data, principal| {
        let request = find_request(data, &request_id, path)?;
        check_access(
            principal,
            data,
            user.as_deref(),
            &request.owner,
            false,
            path,
        )?;
        Ok(axum::Json(render_request(data, sim.geolocation(), request)).into_response())
    })
}

async fn get_expense(
    State(sim): State<SimHandle>,
    Path(expense_id): Path<String>,
    call: ReadCall,
) -> Response {
    let path = call.path();
    let user = query_user_id(call.query());
    read::handle(&sim, FAMILY, &call, |data, principal| {
        let (request, expense) = find_expense(data, &expense_id, path)?;
        check_access(
            principal,
            data,
            user.as_deref(),
            &request.owner,
            false,
            path,
        )?;
        let body = render_expense(data, sim.geolocation(), request, expense);
        Ok(axum::Json(body).into_response())
    })
}

async fn get_allocation(
    State(sim): State<SimHandle>,
    Path((request_id, allocation_id)): Path<(String, String)>,
    call: ReadCall,
) -> Response {
    let path = call.path();
    let user = query_user_id(call.query());
    read::handle(&sim, FAMILY, &call, |data, principal| {
        let (request, expense, allocation) =
            find_allocation(data, &request_id, &allocation_id, path)?;
        check_access(
            principal,
            data,
            user.as_deref(),
            &request.owner,
            false,
            path,
        )?;
        let body = render_allocation(data, sim.geolocation(), request, expense, allocation);
        Ok(axum::Json(json!([body])).into_response())
    })
}

/// `PUT /travelrequest/v4/requests/{requestUuid}`: a partial update of the header.
async fn put_request(
    State(sim): State<SimHandle>,
    Path(request_id): Path<String>,
    call: WriteCall,
) -> Response {
    let path = call.path();
    let query_user = query_user_id(call.query());
    write::handle(
        &sim,
        WriteApi::RequestHeader,
        &call,
        |data, principal, body| {
            let request = find_request(data, &request_id, path)?;
            let user = put_user_id(body, query_user.as_deref(), path)?;
            check_access(
                principal,
                data,
                user.as_deref(),
                &request.owner,
                false,
                path,
            )?;

            let mut problems = Vec::new();
            let mut edit = HeaderEdit::default();
            for (member, value) in body {
                match member.as_str() {
                    "userId" => {}
                    "id" => same_id(member, value, &request.id, &mut problems),
                    "name" => match text(member, value, &mut problems) {
                        Some(Some(name)) => edit.name = Some(name),
                        Some(None) => {
                            problems.push(problem(member, "name cannot be cleared", "badParam"))
                        }
                        None => {}
                    },
                    "businessPurpose" => edit.purpose = text(member, value, &mut problems),
                    "comment" => edit.comment = text(member, value, &mut problems),
                    "startDate" => edit.start_date = date(member, value, &mut problems),
                    "endDate" => edit.end_date = date(member, value, &mut problems),
                    "startTime" => edit.start_time = clock(member, value, &mut problems),
                    "endTime" => edit.end_time = clock(member, value, &mut problems),
                    other if NOT_SIMULATED.contains(&other) => problems.push(problem(
                        member,
                        format!("{member} is updatable in Concur but not simulated"),
                        "unsupportedParam",
                    )),
                    _ => custom_member(
                        data,
                        Source::Header,
                        member,
                        value,
                        &mut edit.custom,
                        &mut problems,
                    ),
                }
            }
            let start = edit.start_date.as_deref().unwrap_or(&request.start_date);
            let end = edit.end_date.as_deref().unwrap_or(&request.end_date);
            if start > end {
                problems.push(problem(
                    "endDate",
                    format!("endDate {end} is before startDate {start}"),
                    "badParam",
                ));
            }
            if !problems.is_empty() {
                return Err(ApiError::validation(FAMILY, path, problems));
            }
            let request = data
                .travel_request_mut(&request_id)
                .ok_or_else(|| not_found(path))?;
            edit.apply(request);
            let request = find_request(data, &request_id, path)?;
            Ok(axum::Json(render_request(data, sim.geolocation(), request)))
        },
    )
}

/// `PUT /travelrequest/v4/expenses/{expenseUuid}`: `userId` required with a company token.
async fn put_expense(
    State(sim): State<SimHandle>,
    Path(expense_id): Path<String>,
    call: WriteCall,
) -> Response {
    let path = call.path();
    let query_user = query_user_id(call.query());
    write::handle(
        &sim,
        WriteApi::RequestExpense,
        &call,
        |data, principal, body| {
            let (request, expense) = find_expense(data, &expense_id, path)?;
            let user = put_user_id(body, query_user.as_deref(), path)?;
            check_access(principal, data, user.as_deref(), &request.owner, true, path)?;

            let mut problems = Vec::new();
            let mut custom = Vec::new();
            let mut purpose = None;
            for (member, value) in body {
                match member.as_str() {
                    "userId" => {}
                    "id" => same_id(member, value, &expense.id, &mut problems),
                    "businessPurpose" => purpose = text(member, value, &mut problems),
                    _ => custom_member(
                        data,
                        Source::Entry,
                        member,
                        value,
                        &mut custom,
                        &mut problems,
                    ),
                }
            }
            if !problems.is_empty() {
                return Err(ApiError::validation(FAMILY, path, problems));
            }
            let request_id = request.id.clone();
            let expense = data
                .travel_request_mut(&request_id)
                .and_then(|r| {
                    r.expenses
                        .iter_mut()
                        .find(|e| e.id.eq_ignore_ascii_case(&expense_id))
                })
                .ok_or_else(|| not_found(path))?;
            apply_custom(&mut expense.custom_data, custom);
            if let Some(purpose) = purpose {
                expense.business_purpose = purpose;
            }
            let (request, expense) = find_expense(data, &expense_id, path)?;
            Ok(axum::Json(render_expense(
                data,
                sim.geolocation(),
                request,
                expense,
            )))
        },
    )
}

/// `PUT /travelrequest/v4/requests/{requestUuid}/allocations/{allocationUuid}`.
async fn put_allocation(
    State(sim): State<SimHandle>,
    Path((request_id, allocation_id)): Path<(String, String)>,
    call: WriteCall,
) -> Response {
    let path = call.path();
    let query_user = query_user_id(call.query());
    write::handle(
        &sim,
        WriteApi::RequestAllocation,
        &call,
        |data, principal, body| {
            let (request, expense, allocation) =
                find_allocation(data, &request_id, &allocation_id, path)?;
            let user = put_user_id(body, query_user.as_deref(), path)?;
            check_access(
                principal,
                data,
                user.as_deref(),
                &request.owner,
                false,
                path,
            )?;

            let mut problems = Vec::new();
            let mut custom = Vec::new();
            let mut percentage = None;
            for (member, value) in body {
                match member.as_str() {
                    "userId" => {}
                    "allocationId" => same_id(member, value, &allocation.id, &mut problems),
                    "expenseId" => same_id(member, value, &expense.id, &mut problems),
                    "percentage" => {
                        let others: f64 = expense
                            .allocations
                            .iter()
                            .filter(|a| !a.id.eq_ignore_ascii_case(&allocation.id))
                            .map(|a| a.percentage)
                            .sum();
                        percentage = share(member, value, others, &mut problems);
                    }
                    _ => custom_member(
                        data,
                        Source::Allocation,
                        member,
                        value,
                        &mut custom,
                        &mut problems,
                    ),
                }
            }
            if !problems.is_empty() {
                return Err(ApiError::validation(FAMILY, path, problems));
            }
            let allocation = data
                .travel_request_mut(&request_id)
                .and_then(|r| {
                    r.expenses
                        .iter_mut()
                        .flat_map(|e| e.allocations.iter_mut())
                        .find(|a| a.id.eq_ignore_ascii_case(&allocation_id))
                })
                .ok_or_else(|| not_found(path))?;
            apply_custom(&mut allocation.custom_data, custom);
            if let Some(percentage) = percentage {
                allocation.percentage = percentage;
            }
            let (request, expense, allocation) =
                find_allocation(data, &request_id, &allocation_id, path)?;
            let body = render_allocation(data, sim.geolocation(), request, expense, allocation);
            Ok(axum::Json(json!([body])))
        },
    )
}

/// The header changes of one `PUT`, checked, not yet applied (`Some(None)` clears).
#[derive(Default)]
struct HeaderEdit {
    name: Option<String>,
    purpose: Option<Option<String>>,
    comment: Option<Option<String>>,
    start_date: Option<String>,
    end_date: Option<String>,
    start_time: Option<Option<String>>,
    end_time: Option<Option<String>>,
    custom: Vec<(String, Option<String>)>,
}

impl HeaderEdit {
    fn apply(self, request: &mut TravelRequest) {
        if let Some(name) = self.name {
            request.name = name;
        }
        if let Some(purpose) = self.purpose {
            request.business_purpose = purpose;
        }
        if let Some(comment) = self.comment {
            request.comment = comment;
        }
        if let Some(date) = self.start_date {
            request.start_date = date;
        }
        if let Some(date) = self.end_date {
            request.end_date = date;
        }
        if let Some(time) = self.start_time {
            request.start_time = time;
        }
        if let Some(time) = self.end_time {
            request.end_time = time;
        }
        apply_custom(&mut request.custom_data, self.custom);
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError::request(
        StatusCode::NOT_FOUND,
        "notFound",
        path,
        "resource not found",
    )
}

fn find_request<'a>(data: &'a Seed, id: &str, path: &str) -> Result<&'a TravelRequest, ApiError> {
    data.travel_request(id).ok_or_else(|| not_found(path))
}

fn find_expense<'a>(
    data: &'a Seed,
    id: &str,
    path: &str,
) -> Result<(&'a TravelRequest, &'a ExpectedExpense), ApiError> {
    data.expected_expense(id).ok_or_else(|| not_found(path))
}

/// The allocation, which must belong to an expected expense of that request.
fn find_allocation<'a>(
    data: &'a Seed,
    request_id: &str,
    allocation_id: &str,
    path: &str,
) -> Result<(&'a TravelRequest, &'a ExpectedExpense, &'a Allocation), ApiError> {
    let request = find_request(data, request_id, path)?;
    let (expense, allocation) = request
        .allocation(allocation_id)
        .ok_or_else(|| not_found(path))?;
    Ok((request, expense, allocation))
}

/// `userId` of the query string.
fn query_user_id(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == "userId")
        .map(|(_, value)| value.into_owned())
}

/// `userId` of a `PUT`: the query parameter or the body member `userId` (a string); both
/// at once must agree.
fn put_user_id(
    body: &Map<String, Value>,
    query: Option<&str>,
    path: &str,
) -> Result<Option<String>, ApiError> {
    let member = match body.get("userId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.as_str()),
        Some(_) => {
            return Err(ApiError::request(
                StatusCode::BAD_REQUEST,
                "badParam",
                path,
                "the request has bad parameter(s): userId must be a string",
            ));
        }
    };
    match (query, member) {
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b) => Err(ApiError::request(
            StatusCode::BAD_REQUEST,
            "badParam",
            path,
            "the request has bad parameter(s): userId differs between the query and the body",
        )),
        (Some(id), _) | (None, Some(id)) => Ok(Some(id.to_owned())),
        (None, None) => Ok(None),
    }
}

/// Who may use an item of `owner`: a user token's user when it is the owner or a delegate
/// (a `userId` beside it must name the same user); a company token acting as `userId`
/// (known, and the owner or a delegate), or as "Concur System" when absent and not
/// `user_required`.
fn check_access(
    principal: &Principal,
    data: &Seed,
    user_id: Option<&str>,
    owner: &str,
    user_required: bool,
    path: &str,
) -> Result<(), ApiError> {
    let acting = match principal {
        Principal::App => {
            return Err(ApiError::request(
                StatusCode::FORBIDDEN,
                "permissionDenied",
                path,
                "permission denied: an application token cannot access Requests",
            ));
        }
        Principal::User {
            user_id: token_user,
        } => {
            if user_id.is_some_and(|id| !id.eq_ignore_ascii_case(token_user)) {
                return Err(ApiError::request(
                    StatusCode::BAD_REQUEST,
                    "badParam",
                    path,
                    "the request has bad parameter(s): userId is not the token's user",
                ));
            }
            token_user.as_str()
        }
        Principal::Company => match user_id {
            Some(id) => {
                data.user(id).ok_or_else(|| {
                    ApiError::request(
                        StatusCode::BAD_REQUEST,
                        "userNotFound",
                        path,
                        format!("user {id} not found"),
                    )
                })?;
                id
            }
            None if user_required => {
                return Err(ApiError::request(
                    StatusCode::BAD_REQUEST,
                    "missingRequiredParam",
                    path,
                    "the request is missing required parameter(s): userId",
                ));
            }
            None => return Ok(()),
        },
    };
    if data.may_act_for(acting, owner) {
        Ok(())
    } else {
        Err(ApiError::request(
            StatusCode::FORBIDDEN,
            "userIsNotAllowed",
            path,
            "user is not allowed to access this resource",
        ))
    }
}

fn problem(member: &str, message: impl Into<String>, code: &str) -> ValidationError {
    ValidationError::new(member, message, code)
}

/// `id`-like members: optional, but when sent they must name the item of the URL.
fn same_id(member: &str, value: &Value, expected: &str, problems: &mut Vec<ValidationError>) {
    if value
        .as_str()
        .is_none_or(|id| !id.eq_ignore_ascii_case(expected))
    {
        problems.push(problem(
            member,
            format!("{member} must match the identifier of the URL ({expected})"),
            "badParam",
        ));
    }
}

/// A text member: `null` → `Some(None)` (clear), a string → `Some(Some(..))`.
fn text(
    member: &str,
    value: &Value,
    problems: &mut Vec<ValidationError>,
) -> Option<Option<String>> {
    match value {
        Value::Null => Some(None),
        Value::String(s) => Some(Some(s.clone())),
        _ => {
            problems.push(problem(
                member,
                format!("{member} must be a string"),
                "badParam",
            ));
            None
        }
    }
}

/// A date member, `YYYY-MM-DD`; dates cannot be cleared.
fn date(member: &str, value: &Value, problems: &mut Vec<ValidationError>) -> Option<String> {
    let parsed = value.as_str().filter(|s| is_date(s));
    if parsed.is_none() {
        problems.push(problem(
            member,
            format!("error while parsing date value {value} ({member} is yyyy-MM-dd)"),
            "invalidDate",
        ));
    }
    parsed.map(str::to_owned)
}

fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return false;
    };
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    if !(digits(year, 4) && digits(month, 2) && digits(day, 2)) {
        return false;
    }
    let (Ok(year), Ok(month), Ok(day)) = (year.parse(), month.parse::<u8>(), day.parse()) else {
        return false;
    };
    time::Month::try_from(month)
        .and_then(|month| time::Date::from_calendar_date(year, month, day))
        .is_ok()
}

/// A time member, `HH:mm`, or `null`.
fn clock(
    member: &str,
    value: &Value,
    problems: &mut Vec<ValidationError>,
) -> Option<Option<String>> {
    let valid = |s: &str| {
        s.split_once(':').is_some_and(|(h, m)| {
            h.len() == 2
                && m.len() == 2
                && h.parse::<u8>().is_ok_and(|h| h < 24)
                && m.parse::<u8>().is_ok_and(|m| m < 60)
        })
    };
    match value {
        Value::Null => Some(None),
        Value::String(s) if valid(s) => Some(Some(s.clone())),
        _ => {
            problems.push(problem(
                member,
                format!("error while parsing date value {value} ({member} is HH:mm)"),
                "invalidDate",
            ));
            None
        }
    }
}

/// An allocation's `percentage`: a number above 0 and at most 100, with the expense's
/// other allocations (`others` percent) not over 100 in all.
fn share(
    member: &str,
    value: &Value,
    others: f64,
    problems: &mut Vec<ValidationError>,
) -> Option<f64> {
    match value.as_f64() {
        Some(p) if p > 0.0 && p <= 100.0 && others + p <= 100.0 + 1e-9 => Some(p),
        Some(p) if p > 0.0 && p <= 100.0 => {
            problems.push(problem(
                member,
                format!(
                    "the allocations of the expected expense would add up to {}%",
                    others + p
                ),
                "badParam",
            ));
            None
        }
        _ => {
            problems.push(problem(
                member,
                "percentage must be a number above 0 and at most 100",
                "badParam",
            ));
            None
        }
    }
}

/// A `customN` member: `{"value": …}` (the only member a write may send; `code` and `href`
/// are read-only), or `null` / `{"value": null}` / `{"value": ""}` to clear. The field must
/// be on the level's form; values are at most 48 characters; a list field takes the id of
/// one of its list's items. Anything else that is not a `customN` member is refused.
fn custom_member(
    data: &Seed,
    level: Source,
    member: &str,
    value: &Value,
    changes: &mut Vec<(String, Option<String>)>,
    problems: &mut Vec<ValidationError>,
) {
    let form = match level {
        Source::Header => "Request Header",
        Source::Entry => "Request Entry",
        Source::Allocation => "Request Allocation",
    };
    let Some(field) = request_slot(level, member).and_then(|_| data.request_field(level, member))
    else {
        let message = if member.starts_with("custom") {
            format!("{member} is not a field of the {form} form")
        } else {
            format!("the request has unsupported parameter(s): {member}")
        };
        let code = if member.starts_with("custom") {
            "badParam"
        } else {
            "unsupportedParam"
        };
        problems.push(problem(member, message, code));
        return;
    };
    let given = match value {
        Value::Null => None,
        Value::Object(object) => {
            if let Some(extra) = object.keys().find(|k| k.as_str() != "value") {
                problems.push(problem(
                    &format!("{member}.{extra}"),
                    format!("{member}.{extra} cannot be written: send only {member}.value"),
                    "badParam",
                ));
                return;
            }
            match object.get("value") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.is_empty() => None,
                Some(Value::String(s)) => Some(s.as_str()),
                Some(_) => {
                    problems.push(problem(
                        &format!("{member}.value"),
                        format!("{member}.value must be a string"),
                        "badParam",
                    ));
                    return;
                }
            }
        }
        _ => {
            problems.push(problem(
                member,
                format!("{member} must be an object {{\"value\": ...}}"),
                "badParam",
            ));
            return;
        }
    };
    let stored = match given {
        None => None,
        Some(s) if s.chars().count() > MAX_VALUE_CHARS => {
            problems.push(problem(
                &format!("{member}.value"),
                format!("{member}.value must be at most {MAX_VALUE_CHARS} characters"),
                "badParam",
            ));
            return;
        }
        Some(s) => match data.field_list(field) {
            Some(list) => match list.item_by_id(s) {
                Some(item) => Some(item.id.clone()),
                None => {
                    problems.push(problem(
                        &format!("{member}.value"),
                        format!(
                            "validation of list items failed: {s} is not the id of an item of list {}",
                            list.name
                        ),
                        "listValidationError",
                    ));
                    return;
                }
            },
            None => Some(s.to_owned()),
        },
    };
    changes.push((member.to_owned(), stored));
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
    json!({ "value": value, "currency": currency })
}

fn link(href: String, template: String, id: &str) -> Value {
    json!({ "href": href, "id": id, "template": template })
}

/// The level's custom fields that have a value, as top-level members: `{"value": …}` for
/// text, `{href, code, value, template}` for list fields (`value` = the item id).
fn custom_fields(
    data: &Seed,
    base: &str,
    level: Source,
    values: &BTreeMap<String, String>,
    into: &mut Map<String, Value>,
) {
    for field in data.request_fields_of(level) {
        let Some(value) = values.get(&field.id) else {
            continue;
        };
        let rendered = match data.field_list(field).and_then(|l| l.item_by_id(value)) {
            Some(item) => json!({
                "href": format!("{base}/list/v4/items/{}", item.id),
                "code": item.code,
                "value": item.id,
                "template": format!("{base}/list/v4/items/{{id}}"),
            }),
            None => json!({ "value": value }),
        };
        into.insert(field.id.clone(), rendered);
    }
}

fn location(location: &Location) -> Value {
    json!({
        "name": location.name,
        "city": location.city,
        "countryCode": location.country_code,
        "countrySubDivisionCode": location.country_sub_division_code,
    })
}

/// Concur leaves out what has no value: no `null` members at the top level.
fn object_without_nulls(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(mut map) => {
            map.retain(|_, v| !v.is_null());
            map
        }
        _ => Map::new(),
    }
}

fn request_href(base: &str, id: &str) -> String {
    format!("{base}/travelrequest/v4/requests/{id}")
}

/// The `Request` schema.
pub(crate) fn render_request(data: &Seed, base: &str, request: &TravelRequest) -> Value {
    let currency = request.currency.as_str();
    let total = amount(request.total(), currency);
    let status = request.approval_status.as_str();
    let href = request_href(base, &request.id);
    let owner = data.user(&request.owner);
    let expenses: Vec<Value> = request
        .expenses
        .iter()
        .map(|e| {
            link(
                format!("{base}/travelrequest/v4/expenses/{}", e.id),
                format!("{base}/travelrequest/v4/expenses/{{id}}"),
                &e.id,
            )
        })
        .collect();
    let operations = if status == "NOT_SUBMITTED" || status == "SENTBACK" {
        json!([{ "rel": "submit", "href": format!("{href}/submit") }])
    } else {
        json!([])
    };
    let mut body = object_without_nulls(json!({
        "href": href,
        "id": request.id,
        "requestId": request.request_id,
        "name": request.name,
        "approvalStatus": { "code": status, "name": request.approval_status_name() },
        "approved": status == "APPROVED",
        "pendingApproval": status == "SUBMITTED",
        "everSentBack": status == "SENTBACK",
        "canceledPostApproval": false,
        "closed": false,
        "businessPurpose": request.business_purpose,
        "comment": request.comment,
        "startDate": request.start_date,
        "startTime": request.start_time,
        "endDate": request.end_date,
        "endTime": request.end_time,
        "mainDestination": request.main_destination.as_ref().map(location),
        "owner": owner.map(|o| json!({
            "id": o.id,
            "firstName": o.first_name,
            "lastName": o.last_name,
        })),
        "policy": request.policy.as_ref().map(|_| json!({ "id": POLICY_ID })),
        "expenses": expenses,
        "totalApprovedAmount": total,
        "totalPostedAmount": total,
        "totalRemainingAmount": total,
        "type": { "code": "TRAVEL", "label": "Travel" },
        "operations": operations,
    }));
    custom_fields(data, base, Source::Header, &request.custom_data, &mut body);
    Value::Object(body)
}

/// The `Expected Expense` schema.
pub(crate) fn render_expense(
    data: &Seed,
    base: &str,
    request: &TravelRequest,
    expense: &ExpectedExpense,
) -> Value {
    let currency = request.currency.as_str();
    let posted = amount(expense.amount, currency);
    let allocations: Vec<Value> = expense
        .allocations
        .iter()
        .map(|a| render_allocation(data, base, request, expense, a))
        .collect();
    let mut body = object_without_nulls(json!({
        "href": format!("{base}/travelrequest/v4/expenses/{}", expense.id),
        "id": expense.id,
        "allocations": allocations,
        "approvedAmount": posted,
        "postedAmount": posted,
        "remainingAmount": posted,
        "transactionAmount": posted,
        "businessPurpose": expense.business_purpose,
        "exchangeRate": { "value": 1, "operation": "MULTIPLY" },
        "expenseType": data.expense_type(&expense.expense_type).map(|t| json!({
            "id": t.id,
            "name": t.name,
        })),
        "location": expense.location.as_ref().map(location),
        "parentRequest": link(
            request_href(base, &request.id),
            format!("{base}/travelrequest/v4/requests/{{requestUuid}}"),
            &request.id,
        ),
        "transactionDate": format!("{}T00:00:00.000Z", expense.transaction_date),
        "vendor": expense.vendor.as_ref().map(|v| json!({ "name": v })),
    }));
    custom_fields(data, base, Source::Entry, &expense.custom_data, &mut body);
    Value::Object(body)
}

/// The `Allocation` schema (one element; the routes wrap it in an array).
pub(crate) fn render_allocation(
    data: &Seed,
    base: &str,
    request: &TravelRequest,
    expense: &ExpectedExpense,
    allocation: &Allocation,
) -> Value {
    let share = amount(
        expense.amount * allocation.percentage / 100.0,
        &request.currency,
    );
    let mut body = object_without_nulls(json!({
        "allocationId": allocation.id,
        "expenseId": expense.id,
        "percentage": allocation.percentage,
        "percentEdited": false,
        "systemAllocation": false,
        "allocationAmount": share,
        "approvedAmount": share,
        "postedAmount": share,
    }));
    custom_fields(
        data,
        base,
        Source::Allocation,
        &allocation.custom_data,
        &mut body,
    );
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = "E82B0B803671004B9A5D952F34FBD01E";

    fn custom(
        data: &Seed,
        level: Source,
        member: &str,
        value: Value,
    ) -> Result<Option<String>, ValidationError> {
        let mut changes = Vec::new();
        let mut problems = Vec::new();
        custom_member(data, level, member, &value, &mut changes, &mut problems);
        match (changes.pop(), problems.pop()) {
            (Some((_, value)), None) => Ok(value),
            (None, Some(problem)) => Err(problem),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn custom_members_take_text_list_item_ids_and_clearing() {
        let data = Seed::builtin();
        assert_eq!(
            custom(&data, Source::Header, "custom1", json!({"value": "PRJ-1"})),
            Ok(Some("PRJ-1".to_owned()))
        );
        assert_eq!(
            custom(
                &data,
                Source::Header,
                "custom2",
                json!({"value": "88eaca3116581248bce27956de67647d"})
            ),
            Ok(Some("88EACA3116581248BCE27956DE67647D".to_owned()))
        );
        assert_eq!(
            custom(&data, Source::Header, "custom1", Value::Null),
            Ok(None)
        );
        assert_eq!(
            custom(&data, Source::Header, "custom1", json!({"value": null})),
            Ok(None)
        );
        assert_eq!(
            custom(
                &data,
                Source::Header,
                "custom1",
                json!({"value": "é".repeat(48)})
            ),
            Ok(Some("é".repeat(48)))
        );
    }

    #[test]
    fn custom_member_refusals_carry_travel_request_codes() {
        let data = Seed::builtin();
        let cases = [
            (
                Source::Header,
                "custom2",
                json!({"value": "CC-100"}),
                "custom2.value",
                "listValidationError",
            ),
            (
                Source::Header,
                "custom1",
                json!({"value": "x".repeat(49)}),
                "custom1.value",
                "badParam",
            ),
            (
                Source::Header,
                "custom3",
                json!({"value": "x"}),
                "custom3",
                "badParam",
            ),
            (
                Source::Header,
                "custom21",
                json!({"value": "x"}),
                "custom21",
                "badParam",
            ),
            (
                Source::Header,
                "custom01",
                json!({"value": "x"}),
                "custom01",
                "badParam",
            ),
            (
                Source::Header,
                "custom1",
                json!({"value": "x", "code": "X"}),
                "custom1.code",
                "badParam",
            ),
            (Source::Header, "custom1", json!("x"), "custom1", "badParam"),
            (
                Source::Header,
                "custom1",
                json!({"value": 5}),
                "custom1.value",
                "badParam",
            ),
            (
                Source::Header,
                "policy",
                json!({"id": "x"}),
                "policy",
                "unsupportedParam",
            ),
            (
                Source::Entry,
                "custom3",
                json!({"value": "x"}),
                "custom3",
                "badParam",
            ),
        ];
        for (level, member, value, id, code) in cases {
            let refused = custom(&data, level, member, value.clone()).expect_err(member);
            assert_eq!(
                (refused.id.as_str(), refused.source.as_str()),
                (id, code),
                "{member} {value}"
            );
        }
    }

    #[test]
    fn dates_and_times_are_checked() {
        for good in ["2026-06-15", "2024-02-29"] {
            assert!(is_date(good), "{good}");
        }
        for bad in [
            "2026-6-15",
            "2026-02-30",
            "2025-02-29",
            "15.06.2026",
            "2026-06-15T00:00",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
        let mut problems = Vec::new();
        assert_eq!(
            clock("startTime", &json!("07:30"), &mut problems),
            Some(Some("07:30".into()))
        );
        assert_eq!(clock("startTime", &json!("24:00"), &mut problems), None);
        assert_eq!(clock("startTime", &json!("7:30"), &mut problems), None);
        assert_eq!(problems.len(), 2);
    }

    #[test]
    fn rendered_request_has_the_documented_shape_and_no_nulls() {
        let data = Seed::builtin();
        let request = data.travel_request(REQUEST).unwrap();
        let body = render_request(&data, "https://sim", request);
        assert_eq!(body["id"], REQUEST);
        assert_eq!(
            body["href"],
            format!("https://sim/travelrequest/v4/requests/{REQUEST}")
        );
        assert_eq!(body["approvalStatus"]["code"], "NOT_SUBMITTED");
        assert_eq!(body["owner"]["lastName"], "Doe");
        assert_eq!(body["expenses"].as_array().unwrap().len(), 2);
        assert_eq!(body["custom2"]["code"], "CC-100");
        assert_eq!(body["custom2"]["value"], "058713001E2CD943824280D9275FDC3F");
        assert_eq!(
            body["custom2"]["href"],
            "https://sim/list/v4/items/058713001E2CD943824280D9275FDC3F"
        );
        assert!(body.get("custom1").is_none(), "an empty field is left out");
        assert!(body.as_object().unwrap().values().all(|v| !v.is_null()));
    }
}
