//! Reading the custom and org-unit fields of a report's items, shared by the rules and the
//! decision hook's request.

use crate::concur::ExpenseItem;

/// True for `custom1` … `custom40` and `orgUnit1` … `orgUnit6`, ignoring case.
pub(super) fn is_field_id(id: &str) -> bool {
    let id = id.to_ascii_lowercase();
    let number = |rest: &str, max: u32| {
        !rest.starts_with('0') && rest.parse::<u32>().is_ok_and(|n| (1..=max).contains(&n))
    };
    id.strip_prefix("custom").is_some_and(|n| number(n, 40))
        || id.strip_prefix("orgunit").is_some_and(|n| number(n, 6))
}

/// Text set on a field: its list item code, else its value, when not blank.
pub(super) fn field_value<'i>(item: &'i ExpenseItem, field: &str) -> Option<&'i str> {
    let field = item.field(field)?;
    field
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .or_else(|| {
            field
                .value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
        })
}
