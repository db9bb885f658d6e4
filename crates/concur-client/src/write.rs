//! Writing one field back: what value each API wants, and the exact request each API takes.

use serde::Serialize;
use serde_json::{Value, json};

use super::error::ConcurError;
use super::item::{ExpenseItem, ItemApi, ItemRef};

/// Concur's limit for a custom field value (v3 `CustomField.Value`, v4 `customData.value`).
pub const MAX_VALUE_CHARS: usize = 48;

/// The value to write into a field.
///
/// List fields are written differently per API (docs/protocol.md §9, T25): v4 takes the list item
/// **id** (`listItemId`, 32-hex style), v3 (and thus v1.1 launches) the list item **code**.
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
    pub token: WriteToken,
}

/// Plans the write of `value` into field `field_id` of `item` (docs/protocol.md §9.4, §9.3).
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
            token: WriteToken::Company,
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
                token: WriteToken::UserOrCompany,
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
                token: WriteToken::UserOrCompany,
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
                token: WriteToken::Company,
            })
        }
        ItemRef::RequestHeader { .. }
        | ItemRef::RequestExpense { .. }
        | ItemRef::RequestAllocation { .. } => Err(ConcurError::UnrecognisedItemUrl),
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

    #[test]
    fn v3_keys_are_capitalised() {
        assert_eq!(v3_key("custom12"), "Custom12");
        assert_eq!(v3_key("orgUnit3"), "OrgUnit3");
        assert_eq!(v3_key("Comment"), "Comment");
    }
}
