//! Response bodies → [`ExpenseItem`]: v4 expense/report/allocation JSON, Travel Request v4
//! header/expected expense/allocation JSON, v3 entry JSON, and entry XML (v1.1, or v3 when
//! it answers in XML), read namespace-agnostically.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use serde::Deserialize;
use serde_json::Value;

use super::item::{CustomField, ExpenseItem, ItemRef};

/// The body format, from the `Content-Type` or, lacking one, the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Xml,
}

impl Format {
    pub fn detect(content_type: Option<&str>, body: &[u8]) -> Option<Self> {
        if let Some(ct) = content_type {
            let ct = ct.to_ascii_lowercase();
            if ct.contains("json") {
                return Some(Format::Json);
            }
            if ct.contains("xml") {
                return Some(Format::Xml);
            }
        }
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Some(Format::Json),
            Some(b'<') => Some(Format::Xml),
            _ => None,
        }
    }
}

/// Parses `body` as the item `location` points at.
pub(crate) fn parse_item(
    location: &ItemRef,
    format: Format,
    body: &[u8],
) -> Result<ExpenseItem, String> {
    match (location, format) {
        (ItemRef::V4Expense { .. }, Format::Json) => v4_expense(location, body),
        (ItemRef::V4Report(_), Format::Json) => v4_report(location, body),
        (ItemRef::V4Allocation { .. }, Format::Json) => v4_allocation(location, body),
        (ItemRef::V3Entry { .. } | ItemRef::V11Entry { .. }, Format::Json) => {
            entry_from_record(location, json_record(body)?)
        }
        (ItemRef::V3Entry { .. } | ItemRef::V11Entry { .. }, Format::Xml) => {
            entry_from_record(location, xml_record(body)?)
        }
        (ItemRef::RequestHeader { .. }, Format::Json) => request_header(location, body),
        (ItemRef::RequestExpense { .. }, Format::Json) => request_expense(location, body),
        (ItemRef::RequestAllocation { .. }, Format::Json) => request_allocation(location, body),
        (_, Format::Xml) => Err("v4 answered xml; expected json".to_owned()),
    }
}

fn empty_item(location: &ItemRef) -> ExpenseItem {
    ExpenseItem {
        kind: location.kind(),
        location: location.clone(),
        expense_type_code: None,
        expense_type_name: None,
        amount: None,
        currency: None,
        transaction_date: None,
        vendor: None,
        business_purpose: None,
        report_id: location.report_id().map(str::to_owned),
        report_name: None,
        start_date: None,
        end_date: None,
        entry_id: None,
        allocation_id: None,
        expense_ids: Vec::new(),
        owner: None,
        fields: Vec::new(),
    }
}

// ---------------------------------------------------------------- v4 JSON

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V4Expense {
    expense_id: Option<String>,
    report_id: Option<String>,
    expense_type: Option<V4ExpenseType>,
    transaction_amount: Option<V4Amount>,
    transaction_date: Option<String>,
    vendor: Option<V4Vendor>,
    business_purpose: Option<String>,
    custom_data: Option<Vec<V4CustomData>>,
}

#[derive(Deserialize)]
struct V4ExpenseType {
    id: Option<String>,
    code: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V4Amount {
    value: Option<Value>,
    currency_code: Option<String>,
}

#[derive(Deserialize)]
struct V4Vendor {
    name: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V4CustomData {
    id: String,
    value: Option<Value>,
    list_item_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V4ReportBody {
    report_id: Option<String>,
    name: Option<String>,
    user_id: Option<String>,
    currency_code: Option<String>,
    business_purpose: Option<String>,
    custom_data: Option<Vec<V4CustomData>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V4AllocationBody {
    allocation_id: Option<String>,
    expense_id: Option<String>,
    allocation_amount: Option<V4Amount>,
    custom_data: Option<Vec<V4CustomData>>,
}

fn json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("malformed json: {e}"))
}

pub(crate) fn v4_expense(location: &ItemRef, body: &[u8]) -> Result<ExpenseItem, String> {
    let e: V4Expense = json(body)?;
    let mut item = empty_item(location);
    if let Some(t) = e.expense_type {
        // `id` is the expense type key (`BRKFT`), the same key v3 and v1.1 call the code.
        item.expense_type_code = non_empty(t.id).or(non_empty(t.code));
        item.expense_type_name = t.name;
    }
    if let Some(amount) = e.transaction_amount {
        item.amount = amount.value.as_ref().and_then(scalar_text);
        item.currency = amount.currency_code;
    }
    item.transaction_date = e.transaction_date.map(date_only);
    item.vendor = e
        .vendor
        .and_then(|v| non_empty(v.name).or(non_empty(v.description)));
    item.business_purpose = e.business_purpose;
    item.report_id = e.report_id.or(item.report_id);
    item.entry_id = e.expense_id.or_else(|| match location {
        ItemRef::V4Expense { expense_id, .. } => Some(expense_id.clone()),
        _ => None,
    });
    item.owner = v4_user(location);
    item.fields = v4_fields(e.custom_data);
    Ok(item)
}

pub(crate) fn v4_report(location: &ItemRef, body: &[u8]) -> Result<ExpenseItem, String> {
    let r: V4ReportBody = json(body)?;
    let mut item = empty_item(location);
    item.report_id = r.report_id.or(item.report_id);
    item.report_name = r.name;
    item.owner = r.user_id.or_else(|| v4_user(location));
    item.currency = r.currency_code;
    item.business_purpose = r.business_purpose;
    item.fields = v4_fields(r.custom_data);
    Ok(item)
}

pub(crate) fn v4_allocation(location: &ItemRef, body: &[u8]) -> Result<ExpenseItem, String> {
    let a: V4AllocationBody = json(body)?;
    let mut item = empty_item(location);
    item.allocation_id = a.allocation_id.or_else(|| match location {
        ItemRef::V4Allocation { allocation_id, .. } => Some(allocation_id.clone()),
        _ => None,
    });
    item.entry_id = a.expense_id.clone();
    item.expense_ids = a.expense_id.into_iter().collect();
    if let Some(amount) = a.allocation_amount {
        item.amount = amount.value.as_ref().and_then(scalar_text);
        item.currency = amount.currency_code;
    }
    item.owner = v4_user(location);
    item.fields = v4_fields(a.custom_data);
    Ok(item)
}

fn v4_user(location: &ItemRef) -> Option<String> {
    match location {
        ItemRef::V4Report(r)
        | ItemRef::V4Expense { report: r, .. }
        | ItemRef::V4Allocation { report: r, .. } => r.user_id.clone(),
        _ => None,
    }
}

fn v4_fields(custom_data: Option<Vec<V4CustomData>>) -> Vec<CustomField> {
    custom_data
        .unwrap_or_default()
        .into_iter()
        .map(|c| {
            let value = c.value.as_ref().and_then(scalar_text);
            let list_item_url = non_empty(c.list_item_url);
            let is_list = list_item_url.is_some();
            CustomField {
                id: c.id,
                list_item_id: if is_list { value.clone() } else { None },
                value,
                list_item_url,
                is_list,
                ..CustomField::default()
            }
        })
        .collect()
}

// ---------------------------------------------------------------- Travel Request v4 JSON
// docs/protocol.md §8.5

/// `{value, currency}`: Travel Request amounts name the currency `currency`, not
/// `currencyCode` as Expense v4 does.
#[derive(Deserialize)]
struct RequestAmount {
    value: Option<Value>,
    currency: Option<String>,
}

/// `{id, ...}`: the owner (`Employee`), `expenseType` and `parentRequest` links.
#[derive(Deserialize)]
struct RequestLink {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestHeaderBody {
    id: Option<String>,
    name: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    owner: Option<RequestLink>,
    business_purpose: Option<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestExpenseBody {
    id: Option<String>,
    expense_type: Option<RequestLink>,
    transaction_amount: Option<RequestAmount>,
    transaction_date: Option<String>,
    business_purpose: Option<String>,
    vendor: Option<RequestLink>,
    parent_request: Option<RequestLink>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestAllocationBody {
    allocation_id: Option<String>,
    expense_id: Option<String>,
    allocation_amount: Option<RequestAmount>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

pub(crate) fn request_header(location: &ItemRef, body: &[u8]) -> Result<ExpenseItem, String> {
    let r: RequestHeaderBody = json(body)?;
    let mut item = empty_item(location);
    item.report_id = non_empty(r.id).or(item.report_id);
    item.report_name = r.name;
    item.start_date = r.start_date.map(date_only);
    item.end_date = r.end_date.map(date_only);
    item.owner = r.owner.and_then(|o| non_empty(o.id));
    item.business_purpose = r.business_purpose;
    item.fields = request_fields(&r.rest);
    Ok(item)
}

pub(crate) fn request_expense(location: &ItemRef, body: &[u8]) -> Result<ExpenseItem, String> {
    let e: RequestExpenseBody = json(body)?;
    let mut item = empty_item(location);
    if let Some(t) = e.expense_type {
        item.expense_type_code = non_empty(t.id);
        item.expense_type_name = t.name;
    }
    if let Some(amount) = e.transaction_amount {
        item.amount = amount.value.as_ref().and_then(scalar_text);
        item.currency = amount.currency;
    }
    // A timestamp (`2018-07-17T00:00:00.000Z`): the day is what the user entered.
    item.transaction_date = e.transaction_date.map(date_only);
    item.business_purpose = e.business_purpose;
    item.vendor = e.vendor.and_then(|v| non_empty(v.name));
    item.report_id = e.parent_request.and_then(|p| non_empty(p.id));
    item.entry_id = non_empty(e.id).or_else(|| match location {
        ItemRef::RequestExpense { expense_id } => Some(expense_id.clone()),
        _ => None,
    });
    item.fields = request_fields(&e.rest);
    Ok(item)
}

/// The allocation GET answers a JSON array of one allocation in Concur's examples, while
/// the schema says one object: both are read. An array of several takes the one whose
/// `allocationId` is the URL's.
pub(crate) fn request_allocation(location: &ItemRef, body: &[u8]) -> Result<ExpenseItem, String> {
    let ItemRef::RequestAllocation { allocation_id, .. } = location else {
        return Err("not an allocation url".to_owned());
    };
    let value: Value = json(body)?;
    let object = match value {
        Value::Array(items) => {
            let count = items.len();
            let mut matching = items.into_iter().filter(|a| {
                count == 1
                    || a.get("allocationId")
                        .and_then(Value::as_str)
                        .is_some_and(|id| id.eq_ignore_ascii_case(allocation_id))
            });
            match (matching.next(), matching.next()) {
                (Some(one), None) => one,
                _ => {
                    return Err(format!(
                        "allocation array of {count} holds not exactly one allocation of this url"
                    ));
                }
            }
        }
        object @ Value::Object(_) => object,
        _ => return Err("expected an allocation object or an array of one".to_owned()),
    };
    let a: RequestAllocationBody =
        serde_json::from_value(object).map_err(|e| format!("malformed json: {e}"))?;
    let mut item = empty_item(location);
    item.allocation_id = non_empty(a.allocation_id).or_else(|| Some(allocation_id.clone()));
    item.entry_id = non_empty(a.expense_id);
    if let Some(amount) = a.allocation_amount {
        item.amount = amount.value.as_ref().and_then(scalar_text);
        item.currency = amount.currency;
    }
    item.fields = request_fields(&a.rest);
    Ok(item)
}

/// `customN` / `orgUnitN` members, each `{code, value, href}`. A list field has a `code` or
/// an `href`, and its `value` is the list item UUID. `null` members are left out.
fn request_fields(members: &serde_json::Map<String, Value>) -> Vec<CustomField> {
    let mut fields: Vec<CustomField> = members
        .iter()
        .filter(|(key, _)| is_custom_key(key))
        .filter_map(|(key, value)| {
            let Value::Object(o) = value else {
                return None;
            };
            let get = |k: &str| non_empty(o.get(k).and_then(scalar_text));
            let value = get("value");
            let code = get("code");
            let href = get("href");
            let is_list = code.is_some() || href.is_some();
            Some(CustomField {
                id: key.clone(),
                list_item_id: if is_list { value.clone() } else { None },
                value,
                code,
                field_type: None,
                list_item_url: href,
                is_list,
            })
        })
        .collect();
    fields.sort_by_key(|f| field_order(&f.id));
    fields
}

// ---------------------------------------------------------------- v3 / v1.1 entry records

/// A flat entry: element or key → text, or (custom fields in v3) a small object.
type Record = BTreeMap<String, Slot>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Text(String),
    Object(BTreeMap<String, String>),
}

fn json_record(body: &[u8]) -> Result<Record, String> {
    let Value::Object(map) = json::<Value>(body)? else {
        return Err("expected a json object".to_owned());
    };
    let mut record = Record::new();
    for (key, value) in map {
        match value {
            Value::Object(inner) => {
                let object = inner
                    .into_iter()
                    .filter_map(|(k, v)| scalar_text(&v).map(|t| (k, t)))
                    .collect();
                record.insert(key, Slot::Object(object));
            }
            other => {
                if let Some(text) = scalar_text(&other) {
                    record.insert(key, Slot::Text(text));
                }
            }
        }
    }
    Ok(record)
}

/// Reads the root element's children by local name, ignoring any namespace (docs/protocol.md T31).
fn xml_record(body: &[u8]) -> Result<Record, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("xml is not utf-8: {e}"))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut record = Record::new();
    // Element names from the root down to the current element.
    let mut stack: Vec<String> = Vec::new();
    let mut buffer = String::new();
    let mut object: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed xml: {e}"))?;
        match event {
            Event::Start(e) => {
                stack.push(e.local_name().as_ref().to_owned());
                buffer.clear();
                if stack.len() == 2 {
                    object.clear();
                }
            }
            Event::Empty(e) if stack.len() == 1 => {
                let name = e.local_name().as_ref().to_owned();
                record.insert(name, Slot::Text(String::new()));
            }
            Event::Text(t) => buffer.push_str(&t.xml10_content()),
            Event::CData(t) => buffer.push_str(&t.into_inner()),
            Event::GeneralRef(r) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    buffer.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&r) {
                    buffer.push_str(s);
                }
            }
            Event::End(_) => {
                let name = stack.pop().unwrap_or_default();
                match stack.len() {
                    // A grandchild of the root: a member of an object-valued field.
                    2 => {
                        object.insert(name, buffer.trim().to_owned());
                    }
                    1 => {
                        let slot = if object.is_empty() {
                            Slot::Text(buffer.trim().to_owned())
                        } else {
                            Slot::Object(std::mem::take(&mut object))
                        };
                        record.insert(name, slot);
                    }
                    _ => {}
                }
                buffer.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if record.is_empty() {
        return Err("xml has no entry fields".to_owned());
    }
    Ok(record)
}

/// A v1.1 entry element nested in a larger document (the expense entries of Report Full
/// Details), read like a v1.1 entry body: children by local name, a child with children of
/// its own as an object.
pub(crate) fn v11_nested_entry(
    report_id: &str,
    element: &concur_protocol::callout::xml::Element,
) -> Result<ExpenseItem, String> {
    let record: Record = element
        .children
        .iter()
        .map(|child| {
            let slot = if child.children.is_empty() {
                Slot::Text(child.text.trim().to_owned())
            } else {
                Slot::Object(
                    child
                        .children
                        .iter()
                        .map(|c| (c.name.clone(), c.text.trim().to_owned()))
                        .collect(),
                )
            };
            (child.name.clone(), slot)
        })
        .collect();
    let entry_id = text(&record, &["ReportEntryID", "RpeKey", "EntryID"]).unwrap_or_default();
    let location = ItemRef::V11Entry {
        report_id: report_id.to_owned(),
        entry_id,
    };
    entry_from_record(&location, record)
}

/// `Message` and `Id` of a v1.1 `<Error>` body, any namespace; `None` when not XML.
pub(crate) fn xml_error(body: &[u8]) -> Option<(Option<String>, Option<String>)> {
    if Format::detect(None, body) != Some(Format::Xml) {
        return None;
    }
    let record = xml_record(body).ok()?;
    Some((text(&record, &["Message"]), text(&record, &["Id"])))
}

fn text(record: &Record, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| match record.get(*key) {
        Some(Slot::Text(t)) if !t.is_empty() => Some(t.clone()),
        Some(Slot::Object(o)) => o.get("Value").filter(|v| !v.is_empty()).cloned(),
        _ => None,
    })
}

fn entry_from_record(location: &ItemRef, record: Record) -> Result<ExpenseItem, String> {
    let mut item = empty_item(location);
    item.expense_type_code = text(&record, &["ExpenseTypeCode", "ExpenseKey", "ExpKey"]);
    item.expense_type_name = text(&record, &["ExpenseTypeName", "ExpenseName", "ExpName"]);
    item.amount = text(&record, &["TransactionAmount"]);
    item.currency = text(
        &record,
        &[
            "TransactionCurrencyCode",
            "TransactionCurrencyName",
            "CrnCode",
        ],
    );
    item.transaction_date = text(&record, &["TransactionDate"]).map(date_only);
    item.vendor = text(&record, &["VendorDescription", "VendorListItemName"]);
    item.business_purpose = text(&record, &["BusinessPurpose", "Description"]);
    item.report_id = text(&record, &["ReportID"]).or(item.report_id);
    item.entry_id = text(&record, &["ID", "ReportEntryID"]).or_else(|| match location {
        ItemRef::V3Entry { entry_id } | ItemRef::V11Entry { entry_id, .. } => {
            Some(entry_id.clone())
        }
        _ => None,
    });
    item.owner = text(&record, &["ReportOwnerID", "X_UserID", "X-UserID"]);
    item.fields = record
        .iter()
        .filter(|(key, _)| is_custom_key(key))
        .filter_map(|(key, slot)| entry_field(key, slot))
        .collect();
    item.fields.sort_by_key(|f| field_order(&f.id));
    if item.entry_id.is_none() && item.expense_type_code.is_none() && item.fields.is_empty() {
        return Err("body does not look like an expense entry".to_owned());
    }
    Ok(item)
}

/// `CustomN` and `OrgUnitN`, any case.
fn is_custom_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    ["custom", "orgunit"].iter().any(|prefix| {
        lower
            .strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Org units first, then custom fields, each by number.
fn field_order(id: &str) -> (bool, u32) {
    let lower = id.to_ascii_lowercase();
    let custom = lower.starts_with("custom");
    let digits: String = lower.chars().filter(char::is_ascii_digit).collect();
    (custom, digits.parse().unwrap_or(u32::MAX))
}

fn entry_field(key: &str, slot: &Slot) -> Option<CustomField> {
    match slot {
        // v3: {Type, Value, Code, ListItemID}; unused fields come back empty or null.
        Slot::Object(o) => {
            let get = |k: &str| o.get(k).filter(|v| !v.is_empty()).cloned();
            let field_type = get("Type");
            let code = get("Code");
            let list_item_id = get("ListItemID");
            let value = get("Value");
            if value.is_none() && code.is_none() && list_item_id.is_none() {
                return None;
            }
            let is_list = list_item_id.is_some()
                || field_type
                    .as_deref()
                    .is_some_and(|t| t.to_ascii_lowercase().contains("list"));
            Some(CustomField {
                id: key.to_owned(),
                value,
                code,
                list_item_id,
                field_type,
                list_item_url: None,
                is_list,
            })
        }
        // v1.1 (and v3 writes' shape): plain text; list values read `(code) name`.
        Slot::Text(t) if t.is_empty() => None,
        Slot::Text(t) => {
            let code = list_code(t);
            Some(CustomField {
                id: key.to_owned(),
                value: Some(t.clone()),
                is_list: code.is_some(),
                code,
                ..CustomField::default()
            })
        }
    }
}

/// The code of a v1.1 list value `(code) name`. A text field that happens to look like
/// that is indistinguishable: v1.1 has no field types.
fn list_code(value: &str) -> Option<String> {
    let rest = value.strip_prefix('(')?;
    let (code, name) = rest.split_once(')')?;
    (!code.is_empty() && name.starts_with(' ')).then(|| code.to_owned())
}

// ---------------------------------------------------------------- helpers

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// `2011-06-15T00:00:00` → `2011-06-15`; other shapes pass unchanged.
fn date_only(value: String) -> String {
    match value.get(..10) {
        Some(date)
            if value.len() > 10
                && date.as_bytes()[4] == b'-'
                && date.as_bytes()[7] == b'-'
                && value.as_bytes()[10] == b'T' =>
        {
            date.to_owned()
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_cut_to_the_day() {
        assert_eq!(date_only("2011-06-15T00:00:00".into()), "2011-06-15");
        assert_eq!(date_only("2024-01-02".into()), "2024-01-02");
        assert_eq!(date_only("15.06.2011".into()), "15.06.2011");
    }

    #[test]
    fn list_codes_come_from_the_parenthesised_prefix() {
        assert_eq!(list_code("(1234) Project 1234").as_deref(), Some("1234"));
        assert_eq!(list_code("Project (1234)"), None);
        assert_eq!(list_code("() x"), None);
    }

    #[test]
    fn format_prefers_the_content_type_then_sniffs() {
        assert_eq!(
            Format::detect(Some("application/json; charset=utf-8"), b"<x/>"),
            Some(Format::Json)
        );
        assert_eq!(Format::detect(Some("text/xml"), b"{}"), Some(Format::Xml));
        assert_eq!(Format::detect(None, b"  <x/>"), Some(Format::Xml));
        assert_eq!(Format::detect(Some("text/plain"), b"hello"), None);
    }

    #[test]
    fn xml_entities_and_cdata_are_decoded() {
        let xml = br#"<ExpenseEntry><VendorDescription>A &amp; B &#x41;</VendorDescription><Custom1><![CDATA[x<y]]></Custom1><Custom2/></ExpenseEntry>"#;
        let record = xml_record(xml).unwrap();
        assert_eq!(
            record.get("VendorDescription"),
            Some(&Slot::Text("A & B A".into()))
        );
        assert_eq!(record.get("Custom1"), Some(&Slot::Text("x<y".into())));
        assert_eq!(record.get("Custom2"), Some(&Slot::Text(String::new())));
    }

    #[test]
    fn v3_xml_custom_fields_become_objects() {
        let xml = br#"<Entry xmlns="http://www.concursolutions.com/api/expense/expensereport/2012/07"><ID>e1</ID><Custom3><Type>List</Type><Value>Project X</Value><Code>PX</Code><ListItemID>li1</ListItemID></Custom3></Entry>"#;
        let location = ItemRef::V3Entry {
            entry_id: "e1".into(),
        };
        let item = parse_item(&location, Format::Xml, xml).unwrap();
        let field = item.field("custom3").unwrap();
        assert_eq!(field.code.as_deref(), Some("PX"));
        assert_eq!(field.list_item_id.as_deref(), Some("li1"));
        assert!(field.is_list);
    }

    fn request_ref(url: &str) -> ItemRef {
        ItemRef::parse(url).unwrap()
    }

    #[test]
    fn a_request_header_gives_name_dates_owner_and_custom_fields() {
        let location = request_ref(
            "https://us.api.concursolutions.com/travelrequest/v4/requests/E82B0B803671004B9A5D952F34FBD01E",
        );
        let body = br#"{
            "id": "E82B0B803671004B9A5D952F34FBD01E",
            "requestId": "3ZMC",
            "name": "Customer visit Lyon",
            "startDate": "2026-03-02",
            "endDate": "2026-03-04",
            "owner": {"id": "8a9b5f2c-0c1d-4c35-9a0e-3c1f0a7b2d11", "firstName": "Jane"},
            "businessPurpose": "Kick-off",
            "custom1": {"value": "Training part of IT Service"},
            "custom2": {"code": "IT", "value": "54F0CBD8833CB348BD45A6C7C621C951", "href": "https://us.api.concursolutions.com/list/v1/items/54F0CBD8833CB348BD45A6C7C621C951"},
            "custom10": {"code": "", "value": "", "href": ""},
            "custom3": null,
            "customer": {"value": "not a custom field"},
            "totalPostedAmount": {"value": 120.5, "currency": "EUR"}
        }"#;
        let item = parse_item(&location, Format::Json, body).unwrap();
        assert_eq!(item.kind, concur_protocol::launch::Source::Header);
        assert_eq!(
            item.report_id.as_deref(),
            Some("E82B0B803671004B9A5D952F34FBD01E")
        );
        assert_eq!(item.report_name.as_deref(), Some("Customer visit Lyon"));
        assert_eq!(item.start_date.as_deref(), Some("2026-03-02"));
        assert_eq!(item.end_date.as_deref(), Some("2026-03-04"));
        assert_eq!(
            item.owner.as_deref(),
            Some("8a9b5f2c-0c1d-4c35-9a0e-3c1f0a7b2d11")
        );
        let ids: Vec<&str> = item.fields.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            ["custom1", "custom2", "custom10"],
            "null and non-custom members left out"
        );
        let text = item.field("custom1").unwrap();
        assert!(!text.is_list);
        assert_eq!(text.value.as_deref(), Some("Training part of IT Service"));
        assert_eq!(text.list_item_id, None);
        let list = item.field("CUSTOM2").unwrap();
        assert!(list.is_list);
        assert_eq!(list.code.as_deref(), Some("IT"));
        assert_eq!(
            list.list_item_id.as_deref(),
            Some("54F0CBD8833CB348BD45A6C7C621C951")
        );
        let empty = item.field("custom10").unwrap();
        assert!(!empty.is_list, "blank code and href: a text field");
        assert_eq!(empty.value, None);
    }

    #[test]
    fn an_expected_expense_gives_type_amount_date_and_its_request() {
        let location = request_ref(
            "https://us.api.concursolutions.com/travelrequest/v4/expenses/C286A46A2DDF984EA28E41CEA278667D",
        );
        let body = br#"{
            "href": "https://us.api.concursolutions.com/travelrequest/v4/expenses/C286A46A2DDF984EA28E41CEA278667D",
            "id": "C286A46A2DDF984EA28E41CEA278667D",
            "expenseType": {"id": "DINNR", "name": "Dinner"},
            "transactionAmount": {"value": 80, "currency": "USD"},
            "transactionDate": "2018-07-17T00:00:00.000Z",
            "businessPurpose": "Estimated costs for 2 dinners in Berlin",
            "parentRequest": {"href": "https://x/travelrequest/v4/request/224AF3CDCC2A5244A37C72FA5770C6F2", "id": "224AF3CDCC2A5244A37C72FA5770C6F2"},
            "custom40": {"value": "x"},
            "orgUnit1": {"code": "EU", "value": "11F0", "href": "https://x/list/v1/items/11F0"}
        }"#;
        let item = parse_item(&location, Format::Json, body).unwrap();
        assert_eq!(item.kind, concur_protocol::launch::Source::Entry);
        assert_eq!(item.expense_type_code.as_deref(), Some("DINNR"));
        assert_eq!(item.expense_type_name.as_deref(), Some("Dinner"));
        assert_eq!(item.amount.as_deref(), Some("80"));
        assert_eq!(item.currency.as_deref(), Some("USD"));
        assert_eq!(item.transaction_date.as_deref(), Some("2018-07-17"));
        assert_eq!(
            item.entry_id.as_deref(),
            Some("C286A46A2DDF984EA28E41CEA278667D")
        );
        assert_eq!(
            item.report_id.as_deref(),
            Some("224AF3CDCC2A5244A37C72FA5770C6F2")
        );
        assert_eq!(item.owner, None, "the body does not name the owner");
        let ids: Vec<&str> = item.fields.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["orgUnit1", "custom40"]);
    }

    #[test]
    fn an_allocation_is_read_as_an_array_of_one_or_an_object() {
        let location = request_ref(
            "https://h/travelrequest/v4/requests/224F3CDCC2Q5244A37C72FA5770C6F2/allocations/79249903DC18464AAAD61062EA383BD4",
        );
        let one = r#"{
            "allocationId": "79249903DC18464AAAD61062EA383BD4",
            "expenseId": "B5FB8991E390474E875D6FD5BB1FDAF1",
            "allocationAmount": {"value": 432.45, "currency": "USD"},
            "percentage": 100,
            "isValid": true,
            "custom3": {"code": "CC1", "value": "6A1E", "href": "https://h/list/v1/items/6A1E"}
        }"#;
        for body in [format!("[{one}]"), one.to_owned()] {
            let item = parse_item(&location, Format::Json, body.as_bytes()).unwrap();
            assert_eq!(item.kind, concur_protocol::launch::Source::Allocation);
            assert_eq!(
                item.allocation_id.as_deref(),
                Some("79249903DC18464AAAD61062EA383BD4")
            );
            assert_eq!(
                item.entry_id.as_deref(),
                Some("B5FB8991E390474E875D6FD5BB1FDAF1")
            );
            assert_eq!(
                item.report_id.as_deref(),
                Some("224F3CDCC2Q5244A37C72FA5770C6F2")
            );
            assert_eq!(item.amount.as_deref(), Some("432.45"));
            assert_eq!(item.currency.as_deref(), Some("USD"));
            let field = item.field("custom3").unwrap();
            assert!(field.is_list);
            assert_eq!(field.list_item_id.as_deref(), Some("6A1E"));
        }
        // Several: the one of the URL; none of the URL's, or none at all: refused.
        let other = one.replace("79249903DC18464AAAD61062EA383BD4", "0000");
        let item = parse_item(
            &location,
            Format::Json,
            format!("[{other},{one}]").as_bytes(),
        )
        .unwrap();
        assert_eq!(
            item.allocation_id.as_deref(),
            Some("79249903DC18464AAAD61062EA383BD4")
        );
        for body in [
            format!("[{other},{other}]"),
            "[]".to_owned(),
            "true".to_owned(),
        ] {
            assert!(
                parse_item(&location, Format::Json, body.as_bytes()).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn custom_keys_are_recognised() {
        for key in ["Custom1", "custom40", "OrgUnit6", "ORGUNIT1"] {
            assert!(is_custom_key(key), "{key}");
        }
        for key in ["Customer", "Custom", "OrgUnitX", "CustomerID"] {
            assert!(!is_custom_key(key), "{key}");
        }
    }
}
