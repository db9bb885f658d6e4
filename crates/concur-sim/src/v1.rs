//! Expense Report v1.1 entry GET: the `ExpenseEntry` XML a v1 launch's `itemurl` points at
//! (docs/protocol.md §8.3).

use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use quick_xml::escape::escape;

use super::error::{ApiError, Family};
use super::read::{self, ReadCall};
use super::record::Principal;
use super::seed::{Expense, Report, Seed, legacy_slot};
use super::state::SimHandle;
use concur_protocol::launch::Source;

const FAMILY: Family = Family::V1;
pub(crate) const NAMESPACE: &str =
    "http://www.concursolutions.com/api/expense/expensereport/2011/03";

pub(crate) fn routes() -> Router<SimHandle> {
    Router::new().route(
        "/api/expense/expensereport/v1.1/report/{report_id}/entry/{entry_id}",
        get(get_entry),
    )
}

async fn get_entry(
    State(sim): State<SimHandle>,
    Path((report_id, entry_id)): Path<(String, String)>,
    call: ReadCall,
) -> Response {
    let path = call.path();
    read::handle(&sim, FAMILY, &call, |data, principal| {
        let (report, expense) = data
            .expense(&entry_id)
            .filter(|(r, e)| {
                r.legacy_id.eq_ignore_ascii_case(&report_id)
                    && e.legacy_id.eq_ignore_ascii_case(&entry_id)
            })
            .ok_or_else(|| ApiError::not_found(FAMILY, path, "entry not found"))?;
        let may_read = match principal {
            Principal::Company => true,
            Principal::User { user_id } => user_id.eq_ignore_ascii_case(&report.owner),
            Principal::App => false,
        };
        if !may_read {
            return Err(ApiError::forbidden(
                FAMILY,
                path,
                "the token's principal may not access this entry",
            ));
        }
        let mut response = render_entry(data, sim.geolocation(), report, expense).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml; charset=utf-8"),
        );
        Ok(response)
    })
}

/// v1.1 `ExpenseEntry`, in the element order of the documented example. List fields read
/// `(code) name`; the currency is a name, not an ISO code (docs/protocol.md T30).
fn render_entry(data: &Seed, base: &str, report: &Report, expense: &Expense) -> String {
    let entry_url = format!(
        "{base}/api/expense/expensereport/v1.1/report/{}/entry/{}",
        report.legacy_id, expense.legacy_id
    );
    let expense_type = data.expense_type(&expense.expense_type);
    let posted = format!("{:.8}", expense.posted_amount());
    let owner_login = data.user(&report.owner).map_or("", |u| u.login_id.as_str());
    let allocation = match expense.allocation_state() {
        "FULLY_ALLOCATED" => "F",
        "PARTIALLY_ALLOCATED" => "P",
        _ => "N",
    };
    let elements: Vec<(&str, String)> = vec![
        ("ApprovedAmount", posted.clone()),
        ("Attendee-Url", format!("{entry_url}/Attendees")),
        ("Allocation-Url", format!("{entry_url}/Allocations")),
        (
            "BusinessPurpose",
            expense.business_purpose.clone().unwrap_or_default(),
        ),
        ("EreceiptId", String::new()),
        ("ExchangeRate", format!("{:.14}", expense.exchange_rate)),
        ("ExpenseKey", expense.expense_type.clone()),
        (
            "ExpenseName",
            expense_type.map(|t| t.name.clone()).unwrap_or_default(),
        ),
        (
            "SpendCategory",
            expense_type
                .and_then(|t| t.spend_category.clone())
                .unwrap_or_default(),
        ),
        ("HasAllocation", allocation.to_owned()),
        ("HasAttendees", "N".to_owned()),
        ("HasComments", "N".to_owned()),
        ("HasExceptions", "N".to_owned()),
        ("HasVat", "N".to_owned()),
        ("ImageRequired", "N".to_owned()),
        ("IsCreditCardCharge", "N".to_owned()),
        ("IsItemized", "N".to_owned()),
        ("Itemizations-Url", format!("{entry_url}/Itemization")),
        ("IsPersonal", "N".to_owned()),
        ("IsPersonalCardCharge", "N".to_owned()),
        ("LastModified", format!("{}T00:00:00", report.report_date)),
        (
            "LocationName",
            expense
                .location
                .as_ref()
                .map(|l| l.city.clone())
                .unwrap_or_default(),
        ),
        ("PaymentTypeKey", expense.payment_type.clone()),
        ("PostedAmount", posted),
        ("ReceiptImageId", String::new()),
        ("ReceiptRequired", "N".to_owned()),
        ("ReportEntryID", expense.legacy_id.clone()),
        ("ReportID", report.legacy_id.clone()),
        ("TransactionAmount", format!("{:.8}", expense.amount)),
        (
            "TransactionCurrencyName",
            super::currency_name(&report.currency).to_owned(),
        ),
        (
            "TransactionDate",
            format!("{}T00:00:00", expense.transaction_date),
        ),
        (
            "VendorDescription",
            expense.vendor.clone().unwrap_or_default(),
        ),
        ("X_UserID", owner_login.to_owned()),
    ];
    let mut xml = format!(
        "<ExpenseEntry xmlns=\"{NAMESPACE}\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">"
    );
    push_entry_elements(&mut xml, data, &elements, expense);
    xml.push_str("</ExpenseEntry>");
    xml
}

/// The elements of a v1.1 entry, then its org-unit and custom slots.
pub(crate) fn push_entry_elements(
    xml: &mut String,
    data: &Seed,
    elements: &[(&str, String)],
    expense: &Expense,
) {
    for (name, value) in elements {
        push_element(xml, name, value);
    }
    let slots = |prefix: &'static str, count: u8| (1..=count).map(move |n| format!("{prefix}{n}"));
    for name in slots("OrgUnit", 6).chain(slots("Custom", 40)) {
        let value = legacy_value(data, expense, &name).unwrap_or_default();
        push_element(xml, &name, &value);
    }
}

/// The text of `Custom12`/`OrgUnit1`: the value, or `(code) name` for a list field.
fn legacy_value(data: &Seed, expense: &Expense, legacy_name: &str) -> Option<String> {
    let field = data
        .fields_of(Source::Entry)
        .find(|f| legacy_slot(&f.id).is_some() && f.legacy_name() == legacy_name)?;
    let value = expense.custom_data.get(&field.id)?;
    match data.field_list(field) {
        Some(list) => list
            .item_by_id(value)
            .map(|item| format!("({}) {}", item.code, item.name)),
        None => Some(value.clone()),
    }
}

pub(crate) fn push_element(xml: &mut String, name: &str, value: &str) {
    if value.is_empty() {
        let _ = write!(xml, "<{name} />");
    } else {
        let _ = write!(xml, "<{name}>{}</{name}>", escape(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_fields_read_code_and_name_and_text_is_escaped() {
        let data = Seed::builtin();
        let (report, expense) = data.expense("nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U").unwrap();
        let xml = render_entry(&data, "https://sim", report, expense);
        assert!(
            xml.contains("<Custom9>(CC-400) Facilities</Custom9>"),
            "{xml}"
        );
        assert!(xml.contains("<Custom12 />"));
        assert!(xml.contains("<OrgUnit1>North America</OrgUnit1>"));
        assert!(xml.contains("<TransactionCurrencyName>US, Dollar</TransactionCurrencyName>"));
        assert!(xml.contains("<ReportID>nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw</ReportID>"));

        let (report, expense) = data.expense("1E7B3F95A64C4D0B9F28C5E1A7D3B960").unwrap();
        let xml = render_entry(&data, "https://sim", report, expense);
        assert!(xml.contains("Hotel Müller &amp; Söhne"), "{xml}");
        assert!(xml.contains("Übernachtung &lt;Kunde&gt;"), "{xml}");
    }
}
