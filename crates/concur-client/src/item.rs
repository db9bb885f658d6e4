//! The item a launch points at: where it lives (ids from the item URL) and what it holds.

use serde::Serialize;

use concur_protocol::launch::Source;

pub use concur_protocol::item::{ItemApi, ItemRef, V4Report};

/// The `scheme://authority` part of an absolute URL.
pub(crate) fn origin_of(url: &str) -> Option<&str> {
    let url = url.trim();
    let scheme_end = url.find("://")? + 3;
    let end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    Some(&url[..end])
}

/// One expense report header, entry or allocation, whichever API it was read from.
///
/// Optional fields are those an API or item kind does not provide (a header has no expense
/// type; v1.1 has no ISO currency). Texts are as Concur sent them.
#[derive(Debug, Clone, Serialize)]
pub struct ExpenseItem {
    pub kind: Source,
    /// Where the item lives; writes are addressed from it.
    pub location: ItemRef,
    /// v4 `expenseType.id` (e.g. `BRKFT`), v3 `ExpenseTypeCode`, v1.1 `ExpenseKey`.
    pub expense_type_code: Option<String>,
    pub expense_type_name: Option<String>,
    /// Transaction (or allocation) amount as decimal text, e.g. `40.00`.
    pub amount: Option<String>,
    /// ISO 4217 code (v3, v4); for v1.1 Concur's currency *name*, e.g. `US, Dollar` (docs/protocol.md T30).
    pub currency: Option<String>,
    /// `YYYY-MM-DD` (v1.1's `2011-06-15T00:00:00` is cut to the date, docs/protocol.md T29).
    pub transaction_date: Option<String>,
    pub vendor: Option<String>,
    pub business_purpose: Option<String>,
    /// The report id; for a travel request the request UUID.
    pub report_id: Option<String>,
    /// The report name; for a travel request the request name.
    pub report_name: Option<String>,
    /// A travel request header's `startDate` (`YYYY-MM-DD`); `None` for Expense items.
    pub start_date: Option<String>,
    /// A travel request header's `endDate` (`YYYY-MM-DD`); `None` for Expense items.
    pub end_date: Option<String>,
    /// v4 `expenseId`, v3 `ID`, v1.1 `ReportEntryID`.
    pub entry_id: Option<String>,
    pub allocation_id: Option<String>,
    /// For allocations: the expense(s) allocated, sent back with an allocation write.
    pub expense_ids: Vec<String>,
    /// Report owner: v4 user UUID, v3 `ReportOwnerID` (login id), v1.1 `X_UserID`; the
    /// request owner's UUID for a travel request (`owner.id` of the header; the caller
    /// supplies the signed launch owner for expected expenses and allocations, whose
    /// bodies do not name it).
    pub owner: Option<String>,
    /// Custom and org-unit fields with their current values, ids exactly as sent.
    pub fields: Vec<CustomField>,
}

impl ExpenseItem {
    /// The field with this id, compared case-insensitively (`custom12` finds `Custom12`).
    pub fn field(&self, id: &str) -> Option<&CustomField> {
        self.fields.iter().find(|f| f.id.eq_ignore_ascii_case(id))
    }
}

/// A custom (`customN`) or org-unit (`orgUnitN`) field of an item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CustomField {
    /// The id exactly as the GET returned it (`custom9`, `Custom9`, `OrgUnit1`; docs/protocol.md T24).
    pub id: String,
    /// Current value: text, or for list fields what the API shows (v4 and Travel Request:
    /// list item id; v3: item name; v1.1: `(code) name`).
    pub value: Option<String>,
    /// List item code (v3 `Code`; Travel Request `code`; v1.1's `(code)` prefix).
    pub code: Option<String>,
    /// List item id (v4 and Travel Request `value` of a list field; v3 `ListItemID`).
    pub list_item_id: Option<String>,
    /// v3 `Type` (`Text`, `List`, `ConnectedList`, ...).
    pub field_type: Option<String>,
    /// v4 `listItemUrl`; Travel Request `href`.
    pub list_item_url: Option<String>,
    /// True when the field holds a list item.
    pub is_list: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_is_scheme_and_authority() {
        assert_eq!(
            origin_of("https://www.concursolutions.com:443/api/x?y"),
            Some("https://www.concursolutions.com:443")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:80"),
            Some("http://127.0.0.1:80")
        );
    }
}
