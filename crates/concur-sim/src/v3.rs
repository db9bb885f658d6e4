//! Expense Entries v3: `GET` and `PUT /api/v3.0/expense/entries/{id}` (docs/protocol.md §8.2, §9.4).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiError, Family, ValidationError};
use super::read::{self, ReadCall};
use super::record::{Principal, WriteApi};
use super::seed::{Expense, Field, MAX_VALUE_CHARS, Report, Seed, legacy_slot};
use super::state::SimHandle;
use super::write::{self, WriteCall};
use concur_protocol::launch::Source;

const FAMILY: Family = Family::V3;

/// `EntryPut` members other than `CustomN`/`OrgUnitN` that the simulator applies.
const TEXT_MEMBERS: &[(&str, usize)] = &[("Description", 64), ("VendorDescription", 64)];

pub(crate) fn routes() -> Router<SimHandle> {
    Router::new().route(
        "/api/v3.0/expense/entries/{id}",
        get(get_entry).put(put_entry),
    )
}

#[derive(Debug, Deserialize)]
struct EntryQuery {
    /// Login id of the entry owner (optional in the docs).
    user: Option<String>,
}

async fn get_entry(
    State(sim): State<SimHandle>,
    Path(id): Path<String>,
    Query(query): Query<EntryQuery>,
    call: ReadCall,
) -> Response {
    let path = call.path();
    read::handle(&sim, FAMILY, &call, |data, principal| {
        let (report, expense) = find_entry(data, principal, &id, query.user.as_deref(), path)?;
        let body = render_entry(data, sim.geolocation(), report, expense);
        Ok(axum::Json(body).into_response())
    })
}

/// Partial update: only the members sent change. `CustomN`/`OrgUnitN` are plain strings of
/// at most 48 characters; list fields take the list item **code**.
async fn put_entry(
    State(sim): State<SimHandle>,
    Path(id): Path<String>,
    Query(query): Query<EntryQuery>,
    call: WriteCall,
) -> Response {
    let path = call.path();
    write::handle(&sim, WriteApi::V3Entry, &call, |data, principal, body| {
        let (report, expense) = find_entry(data, principal, &id, query.user.as_deref(), path)?;
        let (report_id, expense_id) = (report.id.clone(), expense.id.clone());
        let (custom, text) = check_put(data, body, path)?;
        let expense = data
            .report_mut(&report_id)
            .and_then(|r| r.expense_mut(&expense_id))
            .ok_or_else(|| ApiError::not_found(FAMILY, path, "entry not found"))?;
        for (field, value) in custom {
            match value {
                Some(value) => expense.custom_data.insert(field, value),
                None => expense.custom_data.remove(&field),
            };
        }
        for (member, value) in text {
            match member {
                "Description" => expense.business_purpose = value,
                _ => expense.vendor = value,
            }
        }
        Ok(StatusCode::OK)
    })
}

type Changes = (
    Vec<(String, Option<String>)>,
    Vec<(&'static str, Option<String>)>,
);

fn check_put(data: &Seed, body: &Map<String, Value>, path: &str) -> Result<Changes, ApiError> {
    let mut errors = Vec::new();
    let mut custom = Vec::new();
    let mut text = Vec::new();
    for (member, value) in body {
        let value = match value {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => {
                errors.push(error(member, format!("{member} must be a string")));
                continue;
            }
        };
        if let Some(&(name, max)) = TEXT_MEMBERS.iter().find(|(name, _)| name == member) {
            if value.as_ref().is_some_and(|v| v.chars().count() > max) {
                errors.push(error(
                    member,
                    format!("{member} must be at most {max} characters"),
                ));
            } else {
                text.push((name, value));
            }
            continue;
        }
        let Some(field) = entry_field(data, member) else {
            errors.push(error(
                member,
                format!("{member} is not a writable entry member or configured entry field"),
            ));
            continue;
        };
        match value {
            Some(v) if v.chars().count() > MAX_VALUE_CHARS => errors.push(error(
                member,
                format!("{member} must be at most {MAX_VALUE_CHARS} characters"),
            )),
            Some(v) => match data.field_list(field) {
                Some(list) => match list.item_by_code(&v) {
                    Some(item) => custom.push((field.id.clone(), Some(item.id.clone()))),
                    None => errors.push(error(
                        member,
                        format!(
                            "{v} is not a list item code of list {} (v3 writes codes)",
                            list.name
                        ),
                    )),
                },
                None => custom.push((field.id.clone(), Some(v))),
            },
            None => custom.push((field.id.clone(), None)),
        }
    }
    if errors.is_empty() {
        Ok((custom, text))
    } else {
        Err(ApiError::validation(FAMILY, path, errors))
    }
}

fn error(member: &str, message: String) -> ValidationError {
    ValidationError::new(member, message, "EntryPut")
}

/// The entry field whose v3 name (`Custom12`, `OrgUnit1`) is `member`.
fn entry_field<'a>(data: &'a Seed, member: &str) -> Option<&'a Field> {
    data.fields_of(Source::Entry)
        .find(|f| f.legacy_name() == member)
}

/// The entry by v3 id (or v4 id). A company (Web Services Admin) token may read any entry;
/// a user token only the user's own. `user=` must name the owner when given.
fn find_entry<'a>(
    data: &'a Seed,
    principal: &Principal,
    id: &str,
    user: Option<&str>,
    path: &str,
) -> Result<(&'a Report, &'a Expense), ApiError> {
    let (report, expense) = data
        .expense(id)
        .ok_or_else(|| ApiError::not_found(FAMILY, path, "entry not found"))?;
    let owner = data
        .user(&report.owner)
        .ok_or_else(|| ApiError::not_found(FAMILY, path, "entry owner not found"))?;
    if user.is_some_and(|login| !login.eq_ignore_ascii_case(&owner.login_id)) {
        return Err(ApiError::not_found(
            FAMILY,
            path,
            "entry not found for this user",
        ));
    }
    match principal {
        Principal::Company => Ok((report, expense)),
        Principal::User { user_id } if user_id.eq_ignore_ascii_case(&owner.id) => {
            Ok((report, expense))
        }
        _ => Err(ApiError::forbidden(
            FAMILY,
            path,
            "the token's principal may not access this entry",
        )),
    }
}

/// `EntryGet` (docs/protocol.md §8.2).
fn render_entry(data: &Seed, base: &str, report: &Report, expense: &Expense) -> Value {
    let owner_login = data.user(&report.owner).map(|u| u.login_id.as_str());
    let expense_type = data.expense_type(&expense.expense_type);
    let payment_type = data.payment_type(&expense.payment_type);
    let posted = expense.posted_amount();
    let allocation_type = match expense.allocation_state() {
        "FULLY_ALLOCATED" => "F",
        "PARTIALLY_ALLOCATED" => "P",
        _ => "N",
    };
    let id_in_path = utf8_percent_encode(&expense.legacy_id, NON_ALPHANUMERIC).to_string();
    let mut body = json!({
        "ID": expense.legacy_id,
        "URI": format!("{base}/api/v3.0/expense/entries/{id_in_path}"),
        "ExpenseID": expense.id,
        "ReportID": report.legacy_id,
        "ReportOwnerID": owner_login,
        "ExpenseTypeCode": expense.expense_type,
        "ExpenseTypeName": expense_type.map(|t| t.name.as_str()),
        "SpendCategoryCode": expense_type.map(|t| t.code.as_str()),
        "SpendCategoryName": expense_type.and_then(|t| t.spend_category.as_deref()),
        "PaymentTypeID": expense.payment_type,
        "PaymentTypeName": payment_type.map(|p| p.name.as_str()),
        "TransactionDate": format!("{}T00:00:00", expense.transaction_date),
        "TransactionCurrencyCode": report.currency,
        "TransactionAmount": expense.amount,
        "PostedAmount": posted,
        "ApprovedAmount": posted,
        "ExchangeRate": expense.exchange_rate,
        "VendorDescription": expense.vendor,
        "VendorListItemID": null,
        "VendorListItemName": null,
        "Description": expense.business_purpose,
        "LocationID": null,
        "LocationName": expense.location.as_ref().map(|l| l.city.as_str()),
        "LocationCountry": expense.location.as_ref().map(|l| l.country_code.as_str()),
        "LocationSubdivision": expense.location.as_ref().and_then(|l| l.country_sub_division_code.as_deref()),
        "AllocationType": allocation_type,
    });
    let flags = json!({
        "IsPersonal": false,
        "IsBillable": false,
        "IsImageRequired": true,
        "IsPaidByExpensePay": false,
        "IsPersonalCardCharge": false,
        "HasAppliedCashAdvance": false,
        "HasAttendees": false,
        "HasComments": false,
        "HasExceptions": false,
        "HasImage": false,
        "HasItemizations": false,
        "HasVAT": false,
        "ReceiptReceived": false,
        "TaxReceiptType": "N",
        "CompanyCardTransactionID": null,
        "ElectronicReceiptID": null,
        "TripID": null,
        "Journey": null,
        "FormID": null,
        "EmployeeBankAccountID": null,
        "LastModified": super::now_rfc3339(),
    });
    if let (Value::Object(body), Value::Object(flags)) = (&mut body, flags) {
        body.extend(flags);
        for n in 1..=40 {
            body.insert(format!("Custom{n}"), Value::Null);
        }
        for n in 1..=6 {
            body.insert(format!("OrgUnit{n}"), Value::Null);
        }
        for field in data.fields_of(Source::Entry) {
            if legacy_slot(&field.id).is_some() {
                let value = expense.custom_data.get(&field.id);
                body.insert(field.legacy_name(), custom_field(data, field, value));
            }
        }
    }
    body
}

/// A v3 `CustomField`: lists give `Value` = item name, `Code`, `ListItemID`.
fn custom_field(data: &Seed, field: &Field, value: Option<&String>) -> Value {
    match data.field_list(field) {
        Some(list) => {
            let item = value.and_then(|v| list.item_by_id(v));
            json!({
                "Type": "List",
                "Value": item.map(|i| i.name.as_str()),
                "Code": item.map(|i| i.code.as_str()),
                "ListItemID": item.map(|i| i.id.as_str()),
            })
        }
        None => json!({ "Type": "Text", "Value": value, "Code": null, "ListItemID": null }),
    }
}
