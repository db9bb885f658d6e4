//! What the user picks and where it goes: the `[picker]` settings and the pure decisions of
//! the Done step (which field, which text, whether it fits).
//!
//! The routes in [`crate::routes::picker`] do the I/O; everything here is plain data.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::checks::Problems;
use crate::concur::{CustomField, ExpenseItem, FieldValue, ItemApi, MAX_VALUE_CHARS};
use crate::launch::{LaunchContext, Product, Source, Version};
use crate::values::{Choice, Invalid};

/// The word that means "the field the user launched from".
pub const LAUNCHED_FROM: &str = "launched_from";

/// `[picker]`: how the user chooses and what is written where.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PickerSettings {
    /// Which part of the chosen value is written to Concur.
    pub write: Written,
    /// How long Done waits for Concur before it answers a "still saving" page that
    /// refreshes itself; the write goes on in the background either way.
    #[serde(with = "humantime_serde")]
    pub done_wait: Duration,
    pub target: TargetSettings,
}

/// The default of `picker.done_wait`: well inside the default `server.request_timeout`.
pub const DEFAULT_DONE_WAIT: Duration = Duration::from_secs(10);

impl Default for PickerSettings {
    fn default() -> Self {
        Self {
            write: Written::Code,
            done_wait: DEFAULT_DONE_WAIT,
            target: TargetSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Written {
    Code,
    Label,
}

/// `[picker.target]`: the Concur field written for each kind of launch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetSettings {
    /// A v4 `customData` id (`custom12`, `orgUnit1`) or `launched_from`.
    pub header: String,
    pub entry: String,
    pub allocation: String,
    /// The v3 entry field (`Custom12`, `OrgUnit1`) for v1 launches, which do not say which
    /// field was clicked. Unset: v1 launches can look but not save.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v1: Option<String>,
    /// The field of a Concur Request launch at each level (a Request form's own field ids,
    /// or `launched_from`). Unset: the Expense key of the same level (`header`, `entry`,
    /// `allocation`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_header: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_entry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_allocation: Option<String>,
}

impl Default for TargetSettings {
    fn default() -> Self {
        Self {
            header: LAUNCHED_FROM.to_owned(),
            entry: LAUNCHED_FROM.to_owned(),
            allocation: LAUNCHED_FROM.to_owned(),
            v1: None,
            request_header: None,
            request_entry: None,
            request_allocation: None,
        }
    }
}

impl TargetSettings {
    /// The configured field (or `launched_from`) for a v4 launch of `product` at `level`,
    /// and the key that says so. A Request level left unset takes the Expense key of the
    /// same level.
    fn v4(&self, product: Product, level: Source) -> (&'static str, &str) {
        let (expense_key, expense, request_key, request) = match level {
            Source::Header => (
                "header",
                &self.header,
                "request_header",
                &self.request_header,
            ),
            Source::Entry => ("entry", &self.entry, "request_entry", &self.request_entry),
            Source::Allocation => (
                "allocation",
                &self.allocation,
                "request_allocation",
                &self.request_allocation,
            ),
        };
        match (product, request) {
            (Product::Request, Some(request)) => (request_key, request.as_str()),
            _ => (expense_key, expense.as_str()),
        }
    }
}

impl PickerSettings {
    /// Checks the settings, naming each problem's key. Done must answer before the server's
    /// request timeout cuts the connection (which would leave the user an empty page).
    pub fn check(&self, request_timeout: Duration, problems: &mut Problems) {
        if self.done_wait.is_zero() || self.done_wait >= request_timeout {
            problems.push(
                "picker.done_wait",
                format!(
                    "must be greater than zero and less than server.request_timeout ({}), got {}",
                    humantime::format_duration(request_timeout),
                    humantime::format_duration(self.done_wait)
                ),
            );
        }
        let t = &self.target;
        for (key, value) in [
            ("picker.target.header", Some(&t.header)),
            ("picker.target.entry", Some(&t.entry)),
            ("picker.target.allocation", Some(&t.allocation)),
            ("picker.target.v1", t.v1.as_ref()),
            ("picker.target.request_header", t.request_header.as_ref()),
            ("picker.target.request_entry", t.request_entry.as_ref()),
            (
                "picker.target.request_allocation",
                t.request_allocation.as_ref(),
            ),
        ] {
            if let Some(value) = value
                && !(value == LAUNCHED_FROM && key != "picker.target.v1")
                && !is_field_id(value)
            {
                problems.push(
                    key,
                    format!(
                        "\"{value}\" is not a custom field id like custom12 or orgUnit1{}",
                        if key == "picker.target.v1" {
                            ""
                        } else {
                            " (or \"launched_from\")"
                        }
                    ),
                );
            }
        }
    }
}

/// `customN` / `orgUnitN`, any case (v4 `custom12`, v3 `Custom12`).
fn is_field_id(id: &str) -> bool {
    let lower = id.to_ascii_lowercase();
    ["custom", "orgunit"].iter().any(|prefix| {
        lower
            .strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Why the connector cannot save for this launch: the administrator must act.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("picker.target.v1 is not set, so v1 launches cannot be saved")]
    NoV1Target,
    #[error("the launch did not say which field was clicked; set picker.target.{0} to a field id")]
    NotLaunchedFromAField(&'static str),
    #[error("the item has no field {0}; check picker.target and the form's field ids in Concur")]
    UnknownField(String),
}

/// The field id to write for this launch, checked against the fields the item has.
///
/// `launched_from` takes Concur's `custom_field_launched_from`. It is not signed, so it may
/// only choose among the item's own fields (or, when the item lists none, a well-formed
/// `customN`/`orgUnitN` id). A configured id is
/// written even when the item does not list it yet (an empty field is often omitted).
pub fn target_field(
    settings: &TargetSettings,
    launch: &LaunchContext,
    item: &ExpenseItem,
) -> Result<String, TargetError> {
    let (key, configured) = match launch.version {
        Version::V1 => ("v1", settings.v1.as_deref().ok_or(TargetError::NoV1Target)?),
        Version::V4 => settings.v4(item.location.product(), item.kind),
    };
    if configured != LAUNCHED_FROM {
        return Ok(item
            .field(configured)
            .map_or_else(|| configured.to_owned(), |f| f.id.clone()));
    }
    let clicked = launch
        .custom_field_launched_from
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or(TargetError::NotLaunchedFromAField(key))?;
    match item.field(clicked) {
        Some(field) => Ok(field.id.clone()),
        // An item that lists no fields at all says nothing against the id; one that lists
        // fields but not this one does, except a travel request's, whose GET leaves out the
        // custom fields that hold no value (docs/protocol.md §9.1).
        None if (item.fields.is_empty() || item.location.api() == ItemApi::Request)
            && is_field_id(clicked) =>
        {
            Ok(clicked.to_owned())
        }
        None => Err(TargetError::UnknownField(clicked.to_owned())),
    }
}

/// What the user asked to write, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entered {
    Chosen(Choice),
    Typed(String),
}

/// The value to send for `entered` into `field` (if the item has it).
///
/// List fields take the list item: its id for v4, its code for v3/v1.1. Text fields take the
/// code or the label, as configured.
pub fn field_value(
    entered: &Entered,
    written: Written,
    field: Option<&CustomField>,
) -> Result<FieldValue, Invalid> {
    let text = match entered {
        Entered::Typed(text) => text.clone(),
        Entered::Chosen(choice) if field.is_some_and(|f| f.is_list) => {
            return Ok(FieldValue::ListItem {
                item_id: choice.list_item_id.clone(),
                code: Some(choice.code.clone()),
            });
        }
        Entered::Chosen(choice) => match written {
            Written::Code => choice.code.clone(),
            Written::Label => choice.label.clone(),
        },
    };
    if text.chars().count() > MAX_VALUE_CHARS {
        return Err(Invalid::TooLong {
            max: MAX_VALUE_CHARS,
        });
    }
    Ok(FieldValue::Text(text))
}

/// What one Done writes, decided before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WritePlan {
    /// The field id, exactly as the item spells it.
    pub field: String,
    /// What is sent to Concur.
    pub value: FieldValue,
    /// What the user, the audit line and the session see as the saved value: the text
    /// written to a text field (the code or the label, as configured), or the list item's
    /// code for a list field.
    pub shown: String,
    /// The field's value before the write, as the audit line shows it.
    pub old: Option<String>,
}

/// Why Done cannot write what was entered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The administrator must act; the user is told the field is not set up.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The user can fix it.
    #[error("{0:?}")]
    Invalid(Invalid),
}

/// The Done step's decisions, in one place: which field, what is sent, what is shown.
pub fn plan_write(
    settings: &PickerSettings,
    launch: &LaunchContext,
    item: &ExpenseItem,
    entered: &Entered,
) -> Result<WritePlan, PlanError> {
    let field = target_field(&settings.target, launch, item)?;
    let current = item.field(&field);
    let value = field_value(entered, settings.write, current).map_err(PlanError::Invalid)?;
    let shown = match (entered, &value) {
        (Entered::Chosen(choice), FieldValue::ListItem { .. }) => choice.code.clone(),
        (_, FieldValue::Text(text)) => text.clone(),
        (Entered::Typed(text), FieldValue::ListItem { .. }) => text.clone(),
    };
    Ok(WritePlan {
        field,
        value,
        shown,
        old: current.and_then(|f| f.code.clone().or_else(|| f.value.clone())),
    })
}

/// Whether `field` already holds `value` as Concur shows it after a write (a text field
/// its text; a list field the list item, by id (v4) or code (v3, v1.1)).
pub fn holds(field: Option<&CustomField>, value: &FieldValue) -> bool {
    let Some(field) = field else {
        return false;
    };
    match value {
        FieldValue::Text(text) => field.value.as_deref() == Some(text.as_str()),
        FieldValue::ListItem { item_id, code } => {
            let by_id = item_id.as_deref().is_some_and(|id| {
                field.value.as_deref() == Some(id) || field.list_item_id.as_deref() == Some(id)
            });
            let by_code = code.as_deref().is_some_and(|c| {
                field
                    .code
                    .as_deref()
                    .is_some_and(|f| f.eq_ignore_ascii_case(c))
            });
            by_id || by_code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::concur::ItemRef;

    fn launch(version: &str, launched_from: Option<&str>) -> LaunchContext {
        serde_json::from_value(serde_json::json!({
            "version": version,
            "company_domain": "acme.com",
            "user_id": "u",
            "report_owner_user_id": null,
            "report_owner_employee_id": null,
            "item_url": "https://us.api.concursolutions.com/expensereports/v4/users/u/context/TRAVELER/reports/R1/expenses/E1",
            "nonce": "n",
            "source": "ENTRY",
            "custom_field_launched_from": launched_from,
            "expense_ids": [],
            "is_mobile": false,
            "language": "en",
            "transport": { "encoding": "rfc3986", "item_url_encoded_twice": false }
        }))
        .unwrap()
    }

    fn item(kind: Source, fields: &[(&str, bool)]) -> ExpenseItem {
        let url = match kind {
            Source::Header => "https://h/expensereports/v4/users/u/context/TRAVELER/reports/R1",
            Source::Entry => "https://h/expensereports/v4/reports/R1/expenses/E1",
            Source::Allocation => {
                "https://h/expensereports/v4/users/u/context/TRAVELER/reports/R1/allocations/A1"
            }
        };
        ExpenseItem {
            kind,
            location: ItemRef::parse(url).unwrap(),
            expense_type_code: None,
            expense_type_name: None,
            amount: None,
            currency: None,
            transaction_date: None,
            vendor: None,
            business_purpose: None,
            report_id: None,
            report_name: None,
            start_date: None,
            end_date: None,
            entry_id: None,
            allocation_id: None,
            expense_ids: vec![],
            owner: None,
            fields: fields
                .iter()
                .map(|(id, is_list)| CustomField {
                    id: (*id).to_owned(),
                    is_list: *is_list,
                    ..CustomField::default()
                })
                .collect(),
        }
    }

    #[test]
    fn launched_from_must_name_a_field_of_the_item() {
        let settings = TargetSettings::default();
        let entry = item(Source::Entry, &[("custom9", true), ("custom12", false)]);
        assert_eq!(
            target_field(&settings, &launch("V4", Some("CUSTOM12")), &entry),
            Ok("custom12".to_owned())
        );
        assert_eq!(
            target_field(&settings, &launch("V4", Some("custom40")), &entry),
            Err(TargetError::UnknownField("custom40".to_owned()))
        );
        assert_eq!(
            target_field(&settings, &launch("V4", None), &entry),
            Err(TargetError::NotLaunchedFromAField("entry"))
        );
        // An item that lists no fields accepts a well-formed id only.
        let bare = item(Source::Entry, &[]);
        assert!(target_field(&settings, &launch("V4", Some("custom3")), &bare).is_ok());
        assert!(target_field(&settings, &launch("V4", Some("amount")), &bare).is_err());
    }

    #[test]
    fn each_level_and_v1_use_their_configured_field() {
        let settings = TargetSettings {
            header: "custom15".to_owned(),
            entry: LAUNCHED_FROM.to_owned(),
            allocation: "custom9".to_owned(),
            v1: Some("Custom12".to_owned()),
            ..TargetSettings::default()
        };
        let l = launch("V4", Some("custom12"));
        let fields = [("custom9", true), ("custom12", false), ("custom15", true)];
        assert_eq!(
            target_field(&settings, &l, &item(Source::Header, &fields)).unwrap(),
            "custom15"
        );
        assert_eq!(
            target_field(&settings, &l, &item(Source::Allocation, &fields)).unwrap(),
            "custom9"
        );
        assert_eq!(
            target_field(&settings, &launch("V1", None), &item(Source::Entry, &[])).unwrap(),
            "Custom12"
        );
        let no_v1 = TargetSettings::default();
        assert_eq!(
            target_field(&no_v1, &launch("V1", None), &item(Source::Entry, &[])),
            Err(TargetError::NoV1Target)
        );
    }

    fn request_item(kind: Source, fields: &[(&str, bool)]) -> ExpenseItem {
        let url = match kind {
            Source::Header => "https://h/travelrequest/v4/requests/Q1",
            Source::Entry => "https://h/travelrequest/v4/expenses/X1",
            Source::Allocation => "https://h/travelrequest/v4/requests/Q1/allocations/A1",
        };
        ExpenseItem {
            location: ItemRef::parse(url).unwrap(),
            ..item(kind, fields)
        }
    }

    #[test]
    fn request_levels_use_their_own_key_or_the_expense_key_of_the_level() {
        let fields = [("custom1", false), ("custom2", true), ("custom3", false)];
        let l = launch("V4", Some("custom3"));
        let mut settings = TargetSettings {
            header: "custom1".to_owned(),
            entry: "custom2".to_owned(),
            allocation: LAUNCHED_FROM.to_owned(),
            ..TargetSettings::default()
        };
        // Unset: the Expense key of the level.
        for (kind, expected) in [
            (Source::Header, "custom1"),
            (Source::Entry, "custom2"),
            (Source::Allocation, "custom3"),
        ] {
            assert_eq!(
                target_field(&settings, &l, &request_item(kind, &fields)).unwrap(),
                expected,
                "{kind:?}"
            );
        }
        settings.request_header = Some("CUSTOM3".to_owned());
        settings.request_entry = Some(LAUNCHED_FROM.to_owned());
        settings.request_allocation = Some("custom1".to_owned());
        for (kind, expected) in [
            (Source::Header, "custom3"),
            (Source::Entry, "custom3"),
            (Source::Allocation, "custom1"),
        ] {
            assert_eq!(
                target_field(&settings, &l, &request_item(kind, &fields)).unwrap(),
                expected,
                "{kind:?}"
            );
        }
        // The Request keys do not touch Expense launches.
        assert_eq!(
            target_field(&settings, &l, &item(Source::Header, &fields)).unwrap(),
            "custom1"
        );
        // A travel request's GET leaves empty fields out: a well-formed clicked id it does
        // not list is taken; anything else is not.
        assert_eq!(
            target_field(
                &settings,
                &launch("V4", Some("custom17")),
                &request_item(Source::Entry, &fields)
            ),
            Ok("custom17".to_owned())
        );
        assert_eq!(
            target_field(
                &settings,
                &launch("V4", Some("name")),
                &request_item(Source::Entry, &fields)
            ),
            Err(TargetError::UnknownField("name".to_owned()))
        );
        // A Request level that takes the clicked field names its own key when none was given.
        assert_eq!(
            target_field(
                &settings,
                &launch("V4", None),
                &request_item(Source::Entry, &fields)
            ),
            Err(TargetError::NotLaunchedFromAField("request_entry"))
        );
    }

    #[test]
    fn list_fields_get_the_list_item_and_text_fields_the_code_or_label() {
        let choice = Choice {
            code: "CC-100".to_owned(),
            label: "Engineering".to_owned(),
            list_item_id: Some("0587".to_owned()),
        };
        let list = CustomField {
            id: "custom9".to_owned(),
            is_list: true,
            ..CustomField::default()
        };
        let chosen = Entered::Chosen(choice);
        assert_eq!(
            field_value(&chosen, Written::Label, Some(&list)),
            Ok(FieldValue::ListItem {
                item_id: Some("0587".to_owned()),
                code: Some("CC-100".to_owned())
            })
        );
        assert_eq!(
            field_value(&chosen, Written::Label, None),
            Ok(FieldValue::Text("Engineering".to_owned()))
        );
        assert_eq!(
            field_value(&chosen, Written::Code, None),
            Ok(FieldValue::Text("CC-100".to_owned()))
        );
        let long_label = Entered::Chosen(Choice {
            code: "X".to_owned(),
            label: "l".repeat(49),
            list_item_id: None,
        });
        assert_eq!(
            field_value(&long_label, Written::Label, None),
            Err(Invalid::TooLong { max: 48 })
        );
    }

    #[test]
    fn the_plan_shows_what_concur_receives() {
        let entry = item(Source::Entry, &[("custom9", true), ("custom12", false)]);
        let choice = Entered::Chosen(Choice {
            code: "PRJ-1".to_owned(),
            label: "Apollo".to_owned(),
            list_item_id: Some("L1".to_owned()),
        });
        let mut settings = PickerSettings {
            write: Written::Label,
            ..PickerSettings::default()
        };
        let plan = plan_write(&settings, &launch("V4", Some("custom12")), &entry, &choice).unwrap();
        assert_eq!(plan.field, "custom12");
        assert_eq!(plan.value, FieldValue::Text("Apollo".to_owned()));
        assert_eq!(plan.shown, "Apollo", "the label written is the label shown");
        // A list field receives the list item and shows its code, whatever `write` says.
        let plan = plan_write(&settings, &launch("V4", Some("custom9")), &entry, &choice).unwrap();
        assert_eq!(plan.shown, "PRJ-1");
        settings.write = Written::Code;
        let plan = plan_write(&settings, &launch("V4", Some("custom12")), &entry, &choice).unwrap();
        assert_eq!(plan.shown, "PRJ-1");
        assert_eq!(
            plan_write(&settings, &launch("V4", Some("custom40")), &entry, &choice),
            Err(PlanError::Target(TargetError::UnknownField(
                "custom40".to_owned()
            )))
        );
    }

    #[test]
    fn a_field_holds_a_value_as_each_api_shows_it() {
        let text = CustomField {
            value: Some("PRJ-1".to_owned()),
            ..CustomField::default()
        };
        assert!(holds(Some(&text), &FieldValue::Text("PRJ-1".to_owned())));
        assert!(!holds(Some(&text), &FieldValue::Text("prj-1".to_owned())));
        assert!(!holds(None, &FieldValue::Text("PRJ-1".to_owned())));
        let v4_list = CustomField {
            value: Some("L1".to_owned()),
            is_list: true,
            ..CustomField::default()
        };
        let v3_list = CustomField {
            code: Some("CC-1".to_owned()),
            is_list: true,
            ..CustomField::default()
        };
        let item = |id: &str, code: &str| FieldValue::ListItem {
            item_id: Some(id.to_owned()),
            code: Some(code.to_owned()),
        };
        assert!(holds(Some(&v4_list), &item("L1", "CC-1")));
        assert!(!holds(Some(&v4_list), &item("L2", "CC-2")));
        assert!(holds(Some(&v3_list), &item("L9", "cc-1")));
        assert!(!holds(Some(&v3_list), &item("L9", "CC-2")));
    }

    #[test]
    fn settings_name_bad_keys() {
        let mut bad = PickerSettings::default();
        bad.target.entry = "amount".to_owned();
        bad.target.v1 = Some(LAUNCHED_FROM.to_owned());
        bad.target.request_entry = Some("name".to_owned());
        bad.target.request_allocation = Some(LAUNCHED_FROM.to_owned());
        bad.target.request_header = Some("custom4".to_owned());
        let mut problems = Problems::default();
        bad.done_wait = Duration::from_secs(30);
        bad.check(Duration::from_secs(30), &mut problems);
        let keys: Vec<String> = problems.into_vec().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "picker.done_wait",
                "picker.target.entry",
                "picker.target.v1",
                "picker.target.request_entry"
            ]
        );
        let mut problems = Problems::default();
        PickerSettings::default().check(Duration::from_secs(30), &mut problems);
        assert!(problems.is_empty());
    }
}
