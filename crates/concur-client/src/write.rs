//! Writing one field back: what value each API wants, and the exact request each API takes.

use serde::Serialize;
use serde_json::{Value, json};

use super::error::ConcurError;
use super::item::{ExpenseItem, ItemApi, ItemRef};
use super::retry::RetryClass;

/// Concur's limit for a custom field value (v3 `CustomField.Value`, v4 `customData.value`).
pub const MAX_VALUE_CHARS: usize = 48;

/// The value to write into a field.
///
/// List fields are written differently per API (docs/protocol.md §9, T25): v4 and Travel
/// Request take the list item **id** (`listItemId`, 32-hex style), v3 (and thus v1.1
/// launches) the list item **code**.
/// The caller passes whatever it knows; the client picks the one the item's API needs and
/// fails with [`ConcurError::ListValueMissing`] before any call if that one is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FieldValue {
    /// Text, number, date or boolean, written as given.
    Text(String),
    /// A list item.
    ListItem {
        item_id: Option<String>,
        code: Option<String>,
    },
}

impl FieldValue {
    /// The text this API writes, checked against the 48-character limit.
    pub(crate) fn wire_value(&self, api: ItemApi) -> Result<&str, ConcurError> {
        let value = match (self, api) {
            (FieldValue::Text(text), _) => text.as_str(),
            (FieldValue::ListItem { item_id, .. }, ItemApi::V4 | ItemApi::Request) => item_id
                .as_deref()
                .ok_or(ConcurError::ListValueMissing("list item id"))?,
            (FieldValue::ListItem { code, .. }, ItemApi::V3 | ItemApi::V11) => code
                .as_deref()
                .ok_or(ConcurError::ListValueMissing("list item code"))?,
        };
        let length = value.chars().count();
        if length > MAX_VALUE_CHARS {
            return Err(ConcurError::ValueTooLong {
                length,
                max: MAX_VALUE_CHARS,
            });
        }
        Ok(value)
    }
}

/// Which token a write must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteToken {
    /// The company token only (v4 expense compact PATCH, v3 PUT).
    Company,
    /// The launch's user token when there is one, else the company token.
    UserOrCompany,
}

/// A fully addressed write, built before any network call.
#[derive(Debug, Clone)]
pub(crate) struct WritePlan {
    pub method: reqwest::Method,
    /// Path below the token's geolocation, ids as found in the item URL.
    pub path: String,
    /// The path with ids replaced by names, for logs.
    pub template: &'static str,
    pub body: Value,
    /// The body to send instead when the call carries the company token (a Travel Request
    /// expected expense then needs `userId`); `None`: `body` whatever the token.
    pub company_body: Option<Value>,
    /// A query parameter the company-token call adds (`userId`, see [`request_put`]).
    pub company_query: Option<(&'static str, String)>,
    pub token: WriteToken,
    /// When the write may be repeated: a PATCH or a Travel Request PUT only when provably
    /// unprocessed; the v3 PUT like a GET.
    pub retry: RetryClass,
}

/// Plans the write of `value` into field `field_id` of `item` (docs/protocol.md §9.3, §9.4,
/// §9.8).
///
/// The field id is written exactly as the GET spelled it when the GET returned that field
/// (docs/protocol.md T24); otherwise as given, except that v3 needs its `CustomN`/`OrgUnitN` capitalisation.
pub(crate) fn plan(
    item: &ExpenseItem,
    field_id: &str,
    value: &FieldValue,
) -> Result<WritePlan, ConcurError> {
    let api = item.location.api();
    let wire = value.wire_value(api)?;
    let id = item
        .field(field_id)
        .map(|f| f.id.clone())
        .unwrap_or_else(|| field_id.to_owned());
    let custom_data = json!([{ "id": id, "value": wire }]);

    match &item.location {
        ItemRef::V4Expense { report, expense_id } => Ok(WritePlan {
            method: reqwest::Method::PATCH,
            path: format!(
                "/expensereports/v4/reports/{}/expenses/{expense_id}",
                report.report_id
            ),
            template: "/expensereports/v4/reports/{reportId}/expenses/{expenseId}",
            body: json!({ "customData": custom_data, "expenseSource": "OTHER" }),
            company_body: None,
            company_query: None,
            token: WriteToken::Company,
            retry: RetryClass::NotProcessedOnly,
        }),
        ItemRef::V4Report(report) => {
            let (user, context) = user_context(report)?;
            Ok(WritePlan {
                method: reqwest::Method::PATCH,
                path: format!(
                    "/expensereports/v4/users/{user}/context/{context}/reports/{}",
                    report.report_id
                ),
                template: "/expensereports/v4/users/{userID}/context/{contextType}/reports/{reportId}",
                body: json!({ "customData": custom_data, "reportSource": "OTHER" }),
                company_body: None,
                company_query: None,
                token: WriteToken::UserOrCompany,
                retry: RetryClass::NotProcessedOnly,
            })
        }
        ItemRef::V4Allocation {
            report,
            allocation_id,
        } => {
            let (user, context) = user_context(report)?;
            if item.expense_ids.is_empty() {
                return Err(ConcurError::MissingExpenseIds);
            }
            Ok(WritePlan {
                method: reqwest::Method::PATCH,
                path: format!(
                    "/expensereports/v4/users/{user}/context/{context}/reports/{}/allocations/{allocation_id}",
                    report.report_id
                ),
                template: "/expensereports/v4/users/{userID}/context/{contextType}/reports/{reportId}/allocations/{allocationId}",
                body: json!({
                    "allocation": { "customData": custom_data },
                    "expenseIds": item.expense_ids,
                }),
                company_body: None,
                company_query: None,
                token: WriteToken::UserOrCompany,
                retry: RetryClass::NotProcessedOnly,
            })
        }
        ItemRef::V3Entry { entry_id } | ItemRef::V11Entry { entry_id, .. } => {
            let key = v3_key(&id);
            let mut body = serde_json::Map::new();
            body.insert(key, Value::String(wire.to_owned()));
            Ok(WritePlan {
                method: reqwest::Method::PUT,
                path: format!("/api/v3.0/expense/entries/{entry_id}"),
                template: "/api/v3.0/expense/entries/{id}",
                body: Value::Object(body),
                company_body: None,
                company_query: None,
                token: WriteToken::Company,
                retry: RetryClass::Idempotent,
            })
        }
        ItemRef::RequestHeader { request_id } => Ok(request_put(
            format!("/travelrequest/v4/requests/{request_id}"),
            "/travelrequest/v4/requests/{requestUuid}",
            &id,
            wire,
            None,
        )),
        ItemRef::RequestExpense { expense_id } => {
            // With the company token Concur refuses this PUT without the user it acts for.
            let owner = item
                .owner
                .as_deref()
                .ok_or(ConcurError::MissingItemId("request owner's user id"))?;
            Ok(request_put(
                format!("/travelrequest/v4/expenses/{expense_id}"),
                "/travelrequest/v4/expenses/{expenseUuid}",
                &id,
                wire,
                Some(owner),
            ))
        }
        ItemRef::RequestAllocation {
            request_id,
            allocation_id,
        } => Ok(request_put(
            format!("/travelrequest/v4/requests/{request_id}/allocations/{allocation_id}"),
            "/travelrequest/v4/requests/{requestUuid}/allocations/{allocationUuid}",
            &id,
            wire,
            None,
        )),
    }
}

/// The write that replaces a header PATCH Concur refused because the report is submitted
/// (docs/protocol.md §9.3): `PATCH /expensereports/v4/reports/{reportId}`, company token
/// only, body `{"customData": [...]}` without `reportSource` (that endpoint takes only
/// `businessPurpose`, `comment`, `customData`, `name`, `isPaperReceiptsReceived`). `None`
/// for anything but a v4 report header.
pub(crate) fn submitted_header_plan(
    item: &ExpenseItem,
    field_id: &str,
    value: &FieldValue,
) -> Result<Option<WritePlan>, ConcurError> {
    let ItemRef::V4Report(report) = &item.location else {
        return Ok(None);
    };
    let wire = value.wire_value(ItemApi::V4)?;
    let id = item
        .field(field_id)
        .map(|f| f.id.clone())
        .unwrap_or_else(|| field_id.to_owned());
    Ok(Some(WritePlan {
        method: reqwest::Method::PATCH,
        path: format!("/expensereports/v4/reports/{}", report.report_id),
        template: "/expensereports/v4/reports/{reportId}",
        body: json!({ "customData": [{ "id": id, "value": wire }] }),
        company_body: None,
        company_query: None,
        token: WriteToken::Company,
        retry: RetryClass::NotProcessedOnly,
    }))
}

/// Whether Concur refused a header PATCH because the report is submitted: a `400` whose
/// message (or a validation message) says "submitted", or names the submitted-header
/// endpoint. Concur documents no error code for it; a `400` is refused before anything
/// changed, so writing through the other endpoint after it is safe.
pub(crate) fn refused_as_submitted(error: &super::error::ApiError) -> bool {
    let says = |text: &str| {
        let text = text.to_ascii_lowercase();
        text.contains("submitted") || text.contains("/expensereports/v4/reports/{reportid}")
    };
    error.status == 400
        && (error.message.as_deref().is_some_and(says)
            || error
                .validation_errors
                .iter()
                .filter_map(|v| v.message.as_deref())
                .any(says))
}

/// A Travel Request `PUT` (docs/protocol.md §9.8): the body holds only the one custom field,
/// `{"customN": {"value": …}}`; never `id` (optional, and Concur's own example sends a
/// wrong one), never the fields we do not own (absent members stay unchanged). `user_id`
/// goes with the company token only, both as the `userId` query parameter and as a body
/// member: Concur's pages list it among the parameters without saying where (one page
/// puts it in the query), and the API ignores body members it does not know, so sending
/// both works whichever Concur reads.
fn request_put(
    path: String,
    template: &'static str,
    field: &str,
    wire: &str,
    user_id: Option<&str>,
) -> WritePlan {
    let mut body = serde_json::Map::new();
    body.insert(field.to_owned(), json!({ "value": wire }));
    let company_body = user_id.map(|user| {
        let mut with_user = body.clone();
        with_user.insert("userId".to_owned(), Value::String(user.to_owned()));
        Value::Object(with_user)
    });
    WritePlan {
        method: reqwest::Method::PUT,
        path,
        template,
        body: Value::Object(body),
        company_query: user_id.map(|user| ("userId", user.to_owned())),
        company_body,
        token: WriteToken::UserOrCompany,
        retry: RetryClass::NotProcessedOnly,
    }
}

fn user_context(report: &super::item::V4Report) -> Result<(&str, &str), ConcurError> {
    let user = report
        .user_id
        .as_deref()
        .ok_or(ConcurError::MissingItemId("user id"))?;
    let context = report
        .context_type
        .as_deref()
        .ok_or(ConcurError::MissingItemId("context type"))?;
    Ok((user, context))
}

/// v3 `EntryPut` member names are `Custom1`..`Custom40` and `OrgUnit1`..`OrgUnit6`.
fn v3_key(id: &str) -> String {
    let lower = id.to_ascii_lowercase();
    if let Some(n) = lower.strip_prefix("custom") {
        format!("Custom{n}")
    } else if let Some(n) = lower.strip_prefix("orgunit") {
        format!("OrgUnit{n}")
    } else {
        id.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_values_use_the_id_for_v4_and_the_code_for_v3() {
        let value = FieldValue::ListItem {
            item_id: Some("058713001E2CD943824280D9275FDC3F".into()),
            code: Some("PRJ42".into()),
        };
        assert_eq!(
            value.wire_value(ItemApi::V4).unwrap(),
            "058713001E2CD943824280D9275FDC3F"
        );
        assert_eq!(value.wire_value(ItemApi::V3).unwrap(), "PRJ42");
        assert_eq!(value.wire_value(ItemApi::V11).unwrap(), "PRJ42");
    }

    #[test]
    fn a_missing_list_representation_is_refused() {
        let only_code = FieldValue::ListItem {
            item_id: None,
            code: Some("PRJ42".into()),
        };
        assert!(matches!(
            only_code.wire_value(ItemApi::V4),
            Err(ConcurError::ListValueMissing(_))
        ));
    }

    #[test]
    fn values_are_limited_to_48_characters() {
        let ok = FieldValue::Text("é".repeat(48));
        assert!(ok.wire_value(ItemApi::V4).is_ok());
        let long = FieldValue::Text("x".repeat(49));
        assert!(matches!(
            long.wire_value(ItemApi::V4),
            Err(ConcurError::ValueTooLong {
                length: 49,
                max: 48
            })
        ));
    }

    fn request_item(url: &str, body: &str) -> ExpenseItem {
        let location = ItemRef::parse(url).unwrap();
        crate::parse::parse_item(&location, crate::parse::Format::Json, body.as_bytes()).unwrap()
    }

    const OWNER: &str = "8a9b5f2c-0c1d-4c35-9a0e-3c1f0a7b2d11";

    #[test]
    fn a_request_header_put_carries_only_the_owned_field() {
        let item = request_item(
            "https://us.api.concursolutions.com/travelrequest/v4/requests/E82B0B803671004B9A5D952F34FBD01E",
            &format!(
                r#"{{"id": "E82B0B803671004B9A5D952F34FBD01E", "name": "Lyon", "owner": {{"id": "{OWNER}"}},
                    "custom1": {{"value": "old"}}, "Custom4": {{"value": ""}}}}"#
            ),
        );
        let plan = plan(&item, "custom4", &FieldValue::Text("PRJ-1".into())).unwrap();
        assert_eq!(plan.method, reqwest::Method::PUT);
        assert_eq!(
            plan.path,
            "/travelrequest/v4/requests/E82B0B803671004B9A5D952F34FBD01E"
        );
        // Spelled as the GET spelled it; no `id`, no `userId`, no other member.
        assert_eq!(plan.body, json!({ "Custom4": { "value": "PRJ-1" } }));
        assert_eq!(plan.company_body, None, "userId is optional on the header");
        assert_eq!(plan.token, WriteToken::UserOrCompany);
        assert_eq!(plan.retry, RetryClass::NotProcessedOnly);
    }

    #[test]
    fn an_expected_expense_put_names_the_owner_only_for_the_company_token() {
        let mut item = request_item(
            "https://h/travelrequest/v4/expenses/C286A46A2DDF984EA28E41CEA278667D",
            r#"{"id": "C286A46A2DDF984EA28E41CEA278667D", "expenseType": {"id": "DINNR"},
                "custom2": {"code": "CC1", "value": "6A1E", "href": "https://h/list/v1/items/6A1E"}}"#,
        );
        let value = FieldValue::ListItem {
            item_id: Some("058713001E2CD943824280D9275FDC3F".into()),
            code: Some("CC-100".into()),
        };
        // Without the owner the company-token PUT cannot be addressed: refused before any call.
        assert!(matches!(
            plan(&item, "custom2", &value),
            Err(ConcurError::MissingItemId(_))
        ));
        item.owner = Some(OWNER.into());
        let plan = plan(&item, "custom2", &value).unwrap();
        assert_eq!(plan.method, reqwest::Method::PUT);
        assert_eq!(
            plan.path,
            "/travelrequest/v4/expenses/C286A46A2DDF984EA28E41CEA278667D"
        );
        // A list field takes the list item's id.
        assert_eq!(
            plan.body,
            json!({ "custom2": { "value": "058713001E2CD943824280D9275FDC3F" } })
        );
        assert_eq!(
            plan.company_body,
            Some(json!({
                "custom2": { "value": "058713001E2CD943824280D9275FDC3F" },
                "userId": OWNER
            }))
        );
        assert_eq!(plan.token, WriteToken::UserOrCompany);
        assert_eq!(plan.retry, RetryClass::NotProcessedOnly);
    }

    #[test]
    fn a_request_allocation_put_goes_to_the_allocation_of_the_request() {
        let item = request_item(
            "https://h/travelrequest/v4/requests/224F3CDCC2Q5244A37C72FA5770C6F2/allocations/79249903DC18464AAAD61062EA383BD4",
            r#"[{"allocationId": "79249903DC18464AAAD61062EA383BD4", "expenseId": "B5FB", "custom3": {"value": "a"}}]"#,
        );
        let plan = plan(&item, "custom3", &FieldValue::Text("b".into())).unwrap();
        assert_eq!(plan.method, reqwest::Method::PUT);
        assert_eq!(
            plan.path,
            "/travelrequest/v4/requests/224F3CDCC2Q5244A37C72FA5770C6F2/allocations/79249903DC18464AAAD61062EA383BD4"
        );
        assert_eq!(plan.body, json!({ "custom3": { "value": "b" } }));
        assert_eq!(plan.company_body, None);
        // The value rules hold as for Expense.
        assert!(matches!(
            super::plan(&item, "custom3", &FieldValue::Text("x".repeat(49))),
            Err(ConcurError::ValueTooLong { .. })
        ));
        let only_code = FieldValue::ListItem {
            item_id: None,
            code: Some("CC".into()),
        };
        assert!(matches!(
            super::plan(&item, "custom3", &only_code),
            Err(ConcurError::ListValueMissing(_))
        ));
    }

    #[test]
    fn expense_writes_keep_their_retry_class() {
        let location = ItemRef::parse("https://h/api/v3.0/expense/entries/e1").unwrap();
        let item = crate::parse::parse_item(
            &location,
            crate::parse::Format::Json,
            br#"{"ID": "e1", "Custom1": {"Type": "Text", "Value": "a"}}"#,
        )
        .unwrap();
        let plan = plan(&item, "custom1", &FieldValue::Text("b".into())).unwrap();
        assert_eq!(plan.method, reqwest::Method::PUT);
        assert_eq!(plan.retry, RetryClass::Idempotent);
        assert_eq!(plan.company_body, None);
    }

    #[test]
    fn v3_keys_are_capitalised() {
        assert_eq!(v3_key("custom12"), "Custom12");
        assert_eq!(v3_key("orgUnit3"), "OrgUnit3");
        assert_eq!(v3_key("Comment"), "Comment");
    }
}
