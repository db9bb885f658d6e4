//! The simulator's data set: company, users, expense types, lists, form fields and reports.
//!
//! # Seed file format (JSON)
//!
//! ```json
//! {
//!   "company": { "id": "<company UUID>", "domain": "acmecorp.com", "name": "Acme Corp" },
//!   "users": [
//!     { "id": "<user UUID>", "login_id": "jane.doe@acmecorp.com", "employee_id": "E12345",
//!       "first_name": "Jane", "last_name": "Doe", "language": "en-GB",
//!       "delegate_for": ["<UUID of a user this one may act for (PROXY context)>"] }
//!   ],
//!   "expense_types": [ { "id": "LUNCH", "name": "Lunch", "code": "OTHER" } ],
//!   "payment_types": [ { "id": "CASH", "name": "Cash", "code": "CASH" } ],
//!   "lists": [ { "id": "cost-centers", "name": "Cost Centers",
//!                "items": [ { "id": "<32 hex>", "code": "CC-100", "name": "Engineering" } ] } ],
//!   "fields": [
//!     { "level": "ENTRY", "id": "custom12", "label": "Project ID", "launch": true },
//!     { "level": "ENTRY", "id": "custom9", "label": "Cost Center", "list": "cost-centers" }
//!   ],
//!   "reports": [
//!     { "id": "<v4 report id>", "legacy_id": "<v1.1/v3 report key, may contain $>",
//!       "owner": "<user UUID>", "name": "March Expenses", "currency": "USD",
//!       "report_date": "2026-03-25", "business_purpose": "...", "policy": "US Policy",
//!       "approval_status_id": "A_NOTF", "custom_data": { "custom12": "PRJ-0001" },
//!       "expenses": [
//!         { "id": "<32 hex>", "legacy_id": "<v1.1/v3 entry key>", "expense_type": "LUNCH",
//!           "amount": 25.0, "transaction_date": "2026-03-11", "vendor": "Cafe",
//!           "business_purpose": "...", "payment_type": "CASH",
//!           "location": { "name": "Bellevue, Washington", "city": "Bellevue",
//!                         "country_code": "US", "country_sub_division_code": "US-WA" },
//!           "custom_data": { "custom9": "<list item id>" },
//!           "allocations": [ { "id": "<32 hex>", "percentage": 50.0,
//!                              "account_code": "6100", "custom_data": {} } ] }
//!       ] }
//!   ],
//!   "request_fields": [
//!     { "level": "HEADER", "id": "custom1", "label": "Project ID", "launch": true }
//!   ],
//!   "requests": [
//!     { "id": "<32 hex>", "request_id": "3AT7", "owner": "<user UUID>",
//!       "name": "Customer visit Lyon", "currency": "EUR",
//!       "start_date": "2026-06-15", "end_date": "2026-06-17", "start_time": "07:30",
//!       "end_time": "19:00", "business_purpose": "...", "comment": "...",
//!       "main_destination": { "name": "Lyon, FRANCE", "city": "Lyon", "country_code": "FR" },
//!       "policy": "Travel Request Policy", "approval_status": "NOT_SUBMITTED",
//!       "custom_data": { "custom1": "PRJ-0001" },
//!       "expenses": [
//!         { "id": "<32 hex>", "expense_type": "AIRFR", "amount": 412.5,
//!           "transaction_date": "2026-06-15", "business_purpose": "...", "vendor": "...",
//!           "custom_data": {},
//!           "allocations": [ { "id": "<32 hex>", "percentage": 100.0, "custom_data": {} } ] }
//!       ] }
//!   ]
//! }
//! ```
//!
//! Rules, checked by [`Seed::validate`]:
//! * Field ids are `customN` (1–40) or `orgUnitN` (1–6), as v4 spells them; the v3/v1.1 name
//!   is the same with a capital first letter (`Custom12`, `OrgUnit1`).
//! * A field's `level` is `HEADER`, `ENTRY` or `ALLOCATION`; `custom_data` keys must be fields
//!   of the item's level. Values are at most 48 characters (Concur's limit). A list field's
//!   value is the **list item id** (v4 representation); v3 and v1.1 render the code and name.
//! * `launch: true` marks the field a launch is minted from by default (one per level).
//! * Every item id (report, expense, allocation, legacy ids) is unique, compared ignoring case.
//! * Expenses are in the report's currency; `exchange_rate` defaults to 1.
//! * Travel requests (Concur Request) have their own form, `request_fields`: `custom1`–`custom20`
//!   on `HEADER` and `ALLOCATION`, `custom1`–`custom40` on `ENTRY` (expected expenses); their
//!   values follow the rules above against that form; their ids share the uniqueness rule.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use concur_protocol::launch::Source;

/// Concur's limit for a custom field value (v4 `customData.value`, v3 `CustomField.Value`).
pub const MAX_VALUE_CHARS: usize = 48;

/// The built-in default seed, used when no seed file is configured.
const DEFAULT_SEED: &str = include_str!("seed.json");

/// The whole data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    pub company: Company,
    pub users: Vec<User>,
    pub expense_types: Vec<ExpenseType>,
    #[serde(default)]
    pub payment_types: Vec<PaymentType>,
    #[serde(default)]
    pub lists: Vec<List>,
    #[serde(default)]
    pub fields: Vec<Field>,
    pub reports: Vec<Report>,
    /// Concur Request's form fields (levels `HEADER`, `ENTRY` = expected expense,
    /// `ALLOCATION`), apart from Expense's.
    #[serde(default)]
    pub request_fields: Vec<Field>,
    /// Travel requests (Concur Request).
    #[serde(default)]
    pub requests: Vec<TravelRequest>,
}

/// The simulated customer company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Company {
    /// Company UUID: the `username` of the company password grant.
    pub id: String,
    /// `company_domain` / `xcompanydomain` of launches.
    pub domain: String,
    pub name: String,
}

/// A Concur user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// User UUID (v4 `userId`, `id_token` `sub`).
    pub id: String,
    /// Login id (v1 `xuserid`, v3 `ReportOwnerID`, v1.1 `X_UserID`).
    pub login_id: String,
    /// The customer's free-text employee id (`report_owner_employee_id`).
    pub employee_id: String,
    pub first_name: String,
    pub last_name: String,
    /// Profile language, sent as `language_code`; `en` when absent.
    #[serde(default)]
    pub language: Option<String>,
    /// Users this one is a delegate for (may launch on their reports, context `PROXY`).
    #[serde(default)]
    pub delegate_for: Vec<String>,
}

/// An expense type (v4 `expenseType`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpenseType {
    /// The key, at most 5 characters (`BRKFT`).
    pub id: String,
    pub name: String,
    /// v4 `expenseType.code`, the expense code category (`OTHER`, `LODNG`, ...).
    #[serde(default = "default_expense_code")]
    pub code: String,
    /// v3 `SpendCategoryName` / v1.1 `SpendCategory`.
    #[serde(default)]
    pub spend_category: Option<String>,
}

fn default_expense_code() -> String {
    "OTHER".to_owned()
}

/// A payment type (v4 `paymentType`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentType {
    pub id: String,
    pub name: String,
    pub code: String,
}

/// A custom list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct List {
    pub id: String,
    pub name: String,
    pub items: Vec<ListItem>,
}

/// One list item: v4 writes its `id`, v3/v1.1 writes its `code`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListItem {
    pub id: String,
    pub code: String,
    pub name: String,
}

/// A custom or org-unit field on the header, entry or allocation form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub level: Source,
    /// v4 `customData.id`: `custom1`..`custom40` or `orgUnit1`..`orgUnit6`.
    pub id: String,
    pub label: String,
    /// Set for list fields: the id of a list in [`Seed::lists`].
    #[serde(default)]
    pub list: Option<String>,
    /// The field launches are minted from by default.
    #[serde(default)]
    pub launch: bool,
}

impl Field {
    /// The v3/v1.1 spelling: `Custom12`, `OrgUnit1`.
    pub fn legacy_name(&self) -> String {
        let mut chars = self.id.chars();
        chars
            .next()
            .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    }
}

/// An expense report with its expenses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// v4 report id (`764428DD6A664AF0BFCB`).
    pub id: String,
    /// v1.1/v3 report key (may contain `$`).
    pub legacy_id: String,
    /// Owner's user UUID.
    pub owner: String,
    pub name: String,
    /// ISO 4217 code; also the currency of every expense on the report.
    pub currency: String,
    /// `YYYY-MM-DD`.
    pub report_date: String,
    #[serde(default)]
    pub business_purpose: Option<String>,
    #[serde(default)]
    pub policy: Option<String>,
    /// `A_NOTF` (not submitted) unless stated; only unsubmitted headers take the user PATCH.
    #[serde(default = "default_approval_status")]
    pub approval_status_id: String,
    /// The workflow step the report waits in, as its step code (`EXTVAL` while an external
    /// validation decides); absent before submission and after the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_step: Option<String>,
    /// The comment of the last workflow action (approve or send back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_comment: Option<String>,
    #[serde(default)]
    pub custom_data: BTreeMap<String, String>,
    #[serde(default)]
    pub expenses: Vec<Expense>,
    /// Choices of the header's connected list fields, which Concur fetches from the
    /// connector (Fetch List): by field label (`Project`, `Task`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub list_choices: BTreeMap<String, ListChoice>,
}

/// A list item chosen in a Fetch List field, saved as the connector answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListChoice {
    /// The long code (`P100-DES`).
    pub code: String,
    pub short_code: String,
    pub text: String,
}

/// An attendee added to an expense from a Fetch Attendee search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttendeeEntry {
    pub external_id: String,
    pub attendee_type_code: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub company: String,
}

fn default_approval_status() -> String {
    "A_NOTF".to_owned()
}

/// An expense (entry) on a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expense {
    /// v4 expense id (32 hex characters).
    pub id: String,
    /// v1.1/v3 entry key (may contain `$`).
    pub legacy_id: String,
    /// An [`ExpenseType::id`].
    pub expense_type: String,
    /// Transaction amount in the report currency.
    pub amount: f64,
    #[serde(default = "default_exchange_rate")]
    pub exchange_rate: f64,
    /// `YYYY-MM-DD`.
    pub transaction_date: String,
    #[serde(default)]
    pub vendor: Option<String>,
    #[serde(default)]
    pub business_purpose: Option<String>,
    /// A [`PaymentType::id`].
    #[serde(default = "default_payment_type")]
    pub payment_type: String,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub custom_data: BTreeMap<String, String>,
    #[serde(default)]
    pub allocations: Vec<Allocation>,
    /// Attendees added from a Fetch Attendee search.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attendees: Vec<AttendeeEntry>,
}

fn default_exchange_rate() -> f64 {
    1.0
}

fn default_payment_type() -> String {
    "CASH".to_owned()
}

/// Where an expense happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub name: String,
    pub city: String,
    pub country_code: String,
    #[serde(default)]
    pub country_sub_division_code: Option<String>,
}

/// An allocation of an expense.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    /// v4 allocation id (32 hex characters).
    pub id: String,
    pub percentage: f64,
    #[serde(default)]
    pub account_code: Option<String>,
    #[serde(default)]
    pub custom_data: BTreeMap<String, String>,
}

/// A travel request (Concur Request) with its expected expenses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TravelRequest {
    /// Travel Request v4 `id` (32 hex characters).
    pub id: String,
    /// The public key of the request (`requestId`, 4 to 6 letters and digits).
    pub request_id: String,
    /// Owner's user UUID.
    pub owner: String,
    pub name: String,
    /// ISO 4217 code of every amount on the request.
    pub currency: String,
    /// `YYYY-MM-DD`.
    pub start_date: String,
    /// `YYYY-MM-DD`.
    pub end_date: String,
    /// `HH:mm`.
    #[serde(default)]
    pub start_time: Option<String>,
    /// `HH:mm`.
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub business_purpose: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub main_destination: Option<Location>,
    /// The request policy's name.
    #[serde(default)]
    pub policy: Option<String>,
    /// `NOT_SUBMITTED` unless stated (`SUBMITTED`, `APPROVED`, `CANCELED`, `SENTBACK`).
    #[serde(default = "default_request_status")]
    pub approval_status: String,
    #[serde(default)]
    pub custom_data: BTreeMap<String, String>,
    #[serde(default)]
    pub expenses: Vec<ExpectedExpense>,
}

fn default_request_status() -> String {
    "NOT_SUBMITTED".to_owned()
}

/// An expected expense of a travel request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedExpense {
    /// Travel Request v4 expected expense id (32 hex characters).
    pub id: String,
    /// An [`ExpenseType::id`].
    pub expense_type: String,
    /// Transaction amount in the request currency.
    pub amount: f64,
    /// `YYYY-MM-DD`.
    pub transaction_date: String,
    #[serde(default)]
    pub business_purpose: Option<String>,
    #[serde(default)]
    pub vendor: Option<String>,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub custom_data: BTreeMap<String, String>,
    #[serde(default)]
    pub allocations: Vec<Allocation>,
}

impl TravelRequest {
    pub fn expense(&self, id: &str) -> Option<&ExpectedExpense> {
        self.expenses.iter().find(|e| e.id.eq_ignore_ascii_case(id))
    }

    /// An allocation of any expected expense on this request, with the expense.
    pub fn allocation(&self, id: &str) -> Option<(&ExpectedExpense, &Allocation)> {
        self.expenses.iter().find_map(|e| {
            e.allocations
                .iter()
                .find(|a| a.id.eq_ignore_ascii_case(id))
                .map(|a| (e, a))
        })
    }

    /// Sum of the expected expenses' amounts.
    pub fn total(&self) -> f64 {
        self.expenses.iter().map(|e| e.amount).sum()
    }

    /// The approval status's name, as Concur Request shows it.
    pub fn approval_status_name(&self) -> &'static str {
        match self.approval_status.as_str() {
            "NOT_SUBMITTED" => "Not Submitted",
            "SUBMITTED" => "Submitted & Pending Approval",
            "APPROVED" => "Approved",
            "CANCELED" => "Canceled",
            "SENTBACK" => "Sent Back to Employee",
            _ => "Submitted",
        }
    }
}

/// Why a seed was refused.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read seed file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("seed is not valid JSON for the seed format: {0}")]
    Json(#[from] serde_json::Error),
    #[error("duplicate {kind} id `{id}` (ids are compared ignoring case)")]
    Duplicate { kind: &'static str, id: String },
    #[error("{owner} refers to unknown {kind} `{id}`")]
    UnknownReference {
        owner: String,
        kind: &'static str,
        id: String,
    },
    #[error("field id `{0}` is neither customN (1-40) nor orgUnitN (1-6)")]
    BadFieldId(String),
    #[error("{item}: `{field}` is not a {level} field")]
    NotAField {
        item: String,
        field: String,
        level: &'static str,
    },
    #[error("{item}: value of `{field}` is longer than 48 characters")]
    ValueTooLong { item: String, field: String },
    #[error("{item}: value of list field `{field}` is not an item id of its list")]
    NotAListItem { item: String, field: String },
    #[error("expense type id `{0}` is longer than 5 characters")]
    ExpenseTypeTooLong(String),
    #[error("{0}: allocation percentages add up to more than 100")]
    OverAllocated(String),
    #[error("more than one launch field on level {0}")]
    TwoLaunchFields(&'static str),
    #[error(
        "request field id `{id}` is not customN (1-20 on HEADER and ALLOCATION, 1-40 on ENTRY)"
    )]
    BadRequestFieldId { id: String, level: &'static str },
}

impl Seed {
    /// The built-in default data set.
    pub fn builtin() -> Self {
        Self::from_json(DEFAULT_SEED).expect("the embedded seed is valid (checked by a unit test)")
    }

    /// Parses and validates a seed.
    pub fn from_json(json: &str) -> Result<Self, SeedError> {
        let seed: Seed = serde_json::from_str(json)?;
        seed.validate()?;
        Ok(seed)
    }

    /// Reads, parses and validates a seed file.
    pub fn from_file(path: &Path) -> Result<Self, SeedError> {
        let json = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&json)
    }

    /// Checks the rules listed in the module documentation.
    pub fn validate(&self) -> Result<(), SeedError> {
        unique("user", self.users.iter().map(|u| u.id.as_str()))?;
        unique("login", self.users.iter().map(|u| u.login_id.as_str()))?;
        for user in &self.users {
            for owner in &user.delegate_for {
                self.user(owner)
                    .ok_or_else(|| unknown(&user.id, "user", owner))?;
            }
        }
        unique(
            "expense type",
            self.expense_types.iter().map(|t| t.id.as_str()),
        )?;
        if let Some(long) = self.expense_types.iter().find(|t| t.id.chars().count() > 5) {
            return Err(SeedError::ExpenseTypeTooLong(long.id.clone()));
        }
        unique(
            "payment type",
            self.payment_types.iter().map(|t| t.id.as_str()),
        )?;
        unique("list", self.lists.iter().map(|l| l.id.as_str()))?;
        for list in &self.lists {
            unique("list item", list.items.iter().map(|i| i.id.as_str()))?;
        }
        self.validate_fields()?;
        unique("item", self.item_ids())?;
        for report in &self.reports {
            self.validate_report(report)?;
        }
        for request in &self.requests {
            self.validate_request(request)?;
        }
        Ok(())
    }

    fn validate_fields(&self) -> Result<(), SeedError> {
        for fields in [&self.fields, &self.request_fields] {
            for level in [Source::Header, Source::Entry, Source::Allocation] {
                let of_level: Vec<&Field> = fields.iter().filter(|f| f.level == level).collect();
                unique("field", of_level.iter().map(|f| f.id.as_str()))?;
                if of_level.iter().filter(|f| f.launch).count() > 1 {
                    return Err(SeedError::TwoLaunchFields(level.as_str()));
                }
            }
            for field in fields {
                if let Some(list) = &field.list {
                    self.list(list)
                        .ok_or_else(|| unknown(&field.id, "list", list))?;
                }
            }
        }
        if let Some(field) = self.fields.iter().find(|f| legacy_slot(&f.id).is_none()) {
            return Err(SeedError::BadFieldId(field.id.clone()));
        }
        if let Some(field) = self
            .request_fields
            .iter()
            .find(|f| request_slot(f.level, &f.id).is_none())
        {
            return Err(SeedError::BadRequestFieldId {
                id: field.id.clone(),
                level: field.level.as_str(),
            });
        }
        Ok(())
    }

    fn validate_report(&self, report: &Report) -> Result<(), SeedError> {
        let name = format!("report {}", report.id);
        self.user(&report.owner)
            .ok_or_else(|| unknown(&name, "user", &report.owner))?;
        self.validate_values(&name, Source::Header, &report.custom_data)?;
        for expense in &report.expenses {
            let name = format!("expense {}", expense.id);
            self.expense_type(&expense.expense_type)
                .ok_or_else(|| unknown(&name, "expense type", &expense.expense_type))?;
            self.payment_type(&expense.payment_type)
                .ok_or_else(|| unknown(&name, "payment type", &expense.payment_type))?;
            self.validate_values(&name, Source::Entry, &expense.custom_data)?;
            let total: f64 = expense.allocations.iter().map(|a| a.percentage).sum();
            if total > 100.0 + f64::EPSILON {
                return Err(SeedError::OverAllocated(name));
            }
            for allocation in &expense.allocations {
                let name = format!("allocation {}", allocation.id);
                self.validate_values(&name, Source::Allocation, &allocation.custom_data)?;
            }
        }
        Ok(())
    }

    fn validate_values(
        &self,
        item: &str,
        level: Source,
        values: &BTreeMap<String, String>,
    ) -> Result<(), SeedError> {
        self.validate_values_of(&self.fields, item, level, values)
    }

    /// [`Self::validate_values`] against one form's fields (Expense's or Request's).
    fn validate_values_of(
        &self,
        fields: &[Field],
        item: &str,
        level: Source,
        values: &BTreeMap<String, String>,
    ) -> Result<(), SeedError> {
        for (id, value) in values {
            let field = find_field(fields, level, id).ok_or_else(|| SeedError::NotAField {
                item: item.to_owned(),
                field: id.clone(),
                level: level.as_str(),
            })?;
            if value.chars().count() > MAX_VALUE_CHARS {
                return Err(SeedError::ValueTooLong {
                    item: item.to_owned(),
                    field: id.clone(),
                });
            }
            if let Some(list) = field.list.as_deref().and_then(|l| self.list(l))
                && list.item_by_id(value).is_none()
            {
                return Err(SeedError::NotAListItem {
                    item: item.to_owned(),
                    field: id.clone(),
                });
            }
        }
        Ok(())
    }

    fn validate_request(&self, request: &TravelRequest) -> Result<(), SeedError> {
        let name = format!("request {}", request.id);
        self.user(&request.owner)
            .ok_or_else(|| unknown(&name, "user", &request.owner))?;
        let fields = &self.request_fields;
        self.validate_values_of(fields, &name, Source::Header, &request.custom_data)?;
        for expense in &request.expenses {
            let name = format!("expected expense {}", expense.id);
            self.expense_type(&expense.expense_type)
                .ok_or_else(|| unknown(&name, "expense type", &expense.expense_type))?;
            self.validate_values_of(fields, &name, Source::Entry, &expense.custom_data)?;
            let total: f64 = expense.allocations.iter().map(|a| a.percentage).sum();
            if total > 100.0 + f64::EPSILON {
                return Err(SeedError::OverAllocated(name));
            }
            for allocation in &expense.allocations {
                let name = format!("allocation {}", allocation.id);
                self.validate_values_of(
                    fields,
                    &name,
                    Source::Allocation,
                    &allocation.custom_data,
                )?;
            }
        }
        Ok(())
    }

    fn item_ids(&self) -> impl Iterator<Item = &str> {
        let requests = self.requests.iter().flat_map(|r| {
            std::iter::once(r.id.as_str()).chain(r.expenses.iter().flat_map(|e| {
                std::iter::once(e.id.as_str()).chain(e.allocations.iter().map(|a| a.id.as_str()))
            }))
        });
        self.reports
            .iter()
            .flat_map(|r| {
                [r.id.as_str(), r.legacy_id.as_str()]
                    .into_iter()
                    .chain(r.expenses.iter().flat_map(|e| {
                        [e.id.as_str(), e.legacy_id.as_str()]
                            .into_iter()
                            .chain(e.allocations.iter().map(|a| a.id.as_str()))
                    }))
            })
            .chain(requests)
    }

    /// A user by UUID, ignoring case.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id.eq_ignore_ascii_case(id))
    }

    /// Whether `user` may act for `owner` (is the owner or one of the owner's delegates).
    pub fn may_act_for(&self, user: &str, owner: &str) -> bool {
        user.eq_ignore_ascii_case(owner)
            || self
                .user(user)
                .is_some_and(|u| u.delegate_for.iter().any(|o| o.eq_ignore_ascii_case(owner)))
    }

    pub fn expense_type(&self, id: &str) -> Option<&ExpenseType> {
        self.expense_types.iter().find(|t| t.id == id)
    }

    pub fn payment_type(&self, id: &str) -> Option<&PaymentType> {
        self.payment_types.iter().find(|t| t.id == id)
    }

    pub fn list(&self, id: &str) -> Option<&List> {
        self.lists.iter().find(|l| l.id == id)
    }

    /// A field of `level` by its exact v4 id (docs/protocol.md T24: no normalising of `custom09`).
    pub fn field(&self, level: Source, id: &str) -> Option<&Field> {
        find_field(&self.fields, level, id)
    }

    /// The fields of one level, in seed order.
    pub fn fields_of(&self, level: Source) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(move |f| f.level == level)
    }

    /// A Concur Request form field of `level` by its exact id (`custom3`).
    pub fn request_field(&self, level: Source, id: &str) -> Option<&Field> {
        find_field(&self.request_fields, level, id)
    }

    /// The Concur Request form fields of one level, in seed order.
    pub fn request_fields_of(&self, level: Source) -> impl Iterator<Item = &Field> {
        self.request_fields.iter().filter(move |f| f.level == level)
    }

    /// A travel request by id, ignoring case.
    pub fn travel_request(&self, id: &str) -> Option<&TravelRequest> {
        self.requests.iter().find(|r| r.id.eq_ignore_ascii_case(id))
    }

    pub fn travel_request_mut(&mut self, id: &str) -> Option<&mut TravelRequest> {
        self.requests
            .iter_mut()
            .find(|r| r.id.eq_ignore_ascii_case(id))
    }

    /// An expected expense by id, with its request.
    pub fn expected_expense(&self, id: &str) -> Option<(&TravelRequest, &ExpectedExpense)> {
        self.requests
            .iter()
            .find_map(|r| r.expense(id).map(|e| (r, e)))
    }

    /// A request allocation by id, with its expected expense and request.
    pub fn request_allocation(
        &self,
        id: &str,
    ) -> Option<(&TravelRequest, &ExpectedExpense, &Allocation)> {
        self.requests
            .iter()
            .find_map(|r| r.allocation(id).map(|(e, a)| (r, e, a)))
    }

    /// The list behind a list field.
    pub fn field_list(&self, field: &Field) -> Option<&List> {
        field.list.as_deref().and_then(|l| self.list(l))
    }

    /// A report by v4 id, ignoring case.
    pub fn report(&self, id: &str) -> Option<&Report> {
        self.reports.iter().find(|r| r.id.eq_ignore_ascii_case(id))
    }

    pub fn report_mut(&mut self, id: &str) -> Option<&mut Report> {
        self.reports
            .iter_mut()
            .find(|r| r.id.eq_ignore_ascii_case(id))
    }

    /// An expense by v4 or legacy id, with its report.
    pub fn expense(&self, id: &str) -> Option<(&Report, &Expense)> {
        self.reports.iter().find_map(|r| {
            r.expenses
                .iter()
                .find(|e| e.id.eq_ignore_ascii_case(id) || e.legacy_id.eq_ignore_ascii_case(id))
                .map(|e| (r, e))
        })
    }

    /// An allocation by id, with its expense and report.
    pub fn allocation(&self, id: &str) -> Option<(&Report, &Expense, &Allocation)> {
        self.reports
            .iter()
            .find_map(|r| r.allocation(id).map(|(e, a)| (r, e, a)))
    }
}

impl Report {
    pub fn expense(&self, id: &str) -> Option<&Expense> {
        self.expenses.iter().find(|e| e.id.eq_ignore_ascii_case(id))
    }

    pub fn expense_mut(&mut self, id: &str) -> Option<&mut Expense> {
        self.expenses
            .iter_mut()
            .find(|e| e.id.eq_ignore_ascii_case(id))
    }

    /// An allocation of any expense on this report, with the expense.
    pub fn allocation(&self, id: &str) -> Option<(&Expense, &Allocation)> {
        self.expenses.iter().find_map(|e| {
            e.allocations
                .iter()
                .find(|a| a.id.eq_ignore_ascii_case(id))
                .map(|a| (e, a))
        })
    }

    pub fn allocation_mut(&mut self, id: &str) -> Option<&mut Allocation> {
        self.expenses
            .iter_mut()
            .flat_map(|e| e.allocations.iter_mut())
            .find(|a| a.id.eq_ignore_ascii_case(id))
    }

    /// The approval status's name, as Concur's APIs and UI show it.
    pub fn approval_status_name(&self) -> &'static str {
        match self.approval_status_id.as_str() {
            "A_NOTF" => "Not Submitted",
            "A_PEND" => "Submitted & Pending Approval",
            "A_EXTV" => "Pending External Validation",
            "A_APPR" => "Approved",
            "A_RESU" => "Sent Back to Employee",
            _ => "Submitted",
        }
    }

    /// Sum of the expenses' amounts in the report currency.
    pub fn total(&self) -> f64 {
        self.expenses.iter().map(Expense::posted_amount).sum()
    }
}

impl Expense {
    /// The amount in the report currency.
    pub fn posted_amount(&self) -> f64 {
        self.amount * self.exchange_rate
    }

    /// v4 `allocationState`.
    pub fn allocation_state(&self) -> &'static str {
        let total: f64 = self.allocations.iter().map(|a| a.percentage).sum();
        if self.allocations.is_empty() {
            "NOT_ALLOCATED"
        } else if (total - 100.0).abs() < 1e-9 {
            "FULLY_ALLOCATED"
        } else {
            "PARTIALLY_ALLOCATED"
        }
    }
}

impl List {
    pub fn item_by_id(&self, id: &str) -> Option<&ListItem> {
        self.items.iter().find(|i| i.id.eq_ignore_ascii_case(id))
    }

    pub fn item_by_code(&self, code: &str) -> Option<&ListItem> {
        self.items
            .iter()
            .find(|i| i.code.eq_ignore_ascii_case(code))
    }
}

/// `custom12` → `(Custom, 12)`, `orgUnit3` → `(OrgUnit, 3)`; `None` for anything else.
pub(crate) fn legacy_slot(id: &str) -> Option<(LegacyKind, u8)> {
    let (kind, digits, max) = if let Some(d) = id.strip_prefix("custom") {
        (LegacyKind::Custom, d, 40)
    } else if let Some(d) = id.strip_prefix("orgUnit") {
        (LegacyKind::OrgUnit, d, 6)
    } else {
        return None;
    };
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = digits.parse().ok()?;
    (1..=max).contains(&n).then_some((kind, n))
}

/// The number of a Concur Request custom field (`custom3` → 3): `custom1`–`custom20` on the
/// header and allocations, `custom1`–`custom40` on expected expenses.
pub(crate) fn request_slot(level: Source, id: &str) -> Option<u8> {
    let max = if level == Source::Entry { 40 } else { 20 };
    match legacy_slot(id)? {
        (LegacyKind::Custom, n) if n <= max => Some(n),
        _ => None,
    }
}

fn find_field<'a>(fields: &'a [Field], level: Source, id: &str) -> Option<&'a Field> {
    fields.iter().find(|f| f.level == level && f.id == id)
}

/// Which numbered family a v3/v1.1 field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LegacyKind {
    Custom,
    OrgUnit,
}

fn unique<'a>(kind: &'static str, ids: impl Iterator<Item = &'a str>) -> Result<(), SeedError> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id.to_ascii_lowercase()) {
            return Err(SeedError::Duplicate {
                kind,
                id: id.to_owned(),
            });
        }
    }
    Ok(())
}

fn unknown(owner: &str, kind: &'static str, id: &str) -> SeedError {
    SeedError::UnknownReference {
        owner: owner.to_owned(),
        kind,
        id: id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_seed_is_valid_and_has_what_the_demo_needs() {
        let seed = Seed::from_json(DEFAULT_SEED).unwrap();
        assert!(seed.users.len() >= 2);
        assert!(seed.reports.len() >= 2);
        assert!(seed.users.iter().any(|u| u.employee_id == "EMP 00+7&X"));
        assert!(seed.field(Source::Entry, "custom12").is_some());
        assert!(seed.fields.iter().any(|f| f.list.is_some()));
        assert!(seed.fields.iter().any(|f| f.id.starts_with("orgUnit")));
        assert!(
            seed.reports
                .iter()
                .flat_map(|r| &r.expenses)
                .any(|e| !e.allocations.is_empty())
        );
        assert!(seed.item_ids().any(|id| id.contains('$')));
    }

    #[test]
    fn builtin_seed_has_a_travel_request_with_a_launch_field_on_each_level() {
        let seed = Seed::builtin();
        let request = seed
            .travel_request("e82b0b803671004b9a5d952f34fbd01e")
            .unwrap();
        assert_eq!(seed.user(&request.owner).unwrap().last_name, "Doe");
        for level in [Source::Header, Source::Entry, Source::Allocation] {
            assert_eq!(
                seed.request_fields_of(level).filter(|f| f.launch).count(),
                1,
                "{level:?}"
            );
        }
        let types: HashSet<&str> = request
            .expenses
            .iter()
            .map(|e| e.expense_type.as_str())
            .collect();
        assert!(types.len() >= 2);
        assert!(request.expenses.iter().any(|e| !e.allocations.is_empty()));
        assert!(seed.request_fields.iter().any(|f| f.list.is_some()));
    }

    #[test]
    fn request_field_ids_follow_the_request_forms() {
        assert_eq!(request_slot(Source::Header, "custom20"), Some(20));
        assert_eq!(request_slot(Source::Header, "custom21"), None);
        assert_eq!(request_slot(Source::Entry, "custom40"), Some(40));
        assert_eq!(request_slot(Source::Allocation, "orgUnit1"), None);
        let mut seed = Seed::builtin();
        seed.request_fields[0].id = "custom21".into();
        assert!(matches!(
            seed.validate(),
            Err(SeedError::BadRequestFieldId { .. })
        ));
    }

    #[test]
    fn request_values_are_checked_against_the_request_form() {
        let mut seed = Seed::builtin();
        // custom12 is on Expense's header form, not on Request's.
        seed.requests[0]
            .custom_data
            .insert("custom12".into(), "x".into());
        assert!(matches!(seed.validate(), Err(SeedError::NotAField { .. })));

        let mut seed = Seed::builtin();
        seed.requests[0].expenses[1].allocations[0]
            .custom_data
            .insert("custom4".into(), "CC-300".into());
        assert!(matches!(
            seed.validate(),
            Err(SeedError::NotAListItem { .. })
        ));

        let mut seed = Seed::builtin();
        seed.requests[0].expenses[0].id = seed.reports[0].expenses[0].id.to_ascii_lowercase();
        assert!(matches!(seed.validate(), Err(SeedError::Duplicate { .. })));
    }

    #[test]
    fn legacy_names_and_slots() {
        assert_eq!(legacy_slot("custom12"), Some((LegacyKind::Custom, 12)));
        assert_eq!(legacy_slot("orgUnit6"), Some((LegacyKind::OrgUnit, 6)));
        for bad in [
            "custom0", "custom41", "custom09", "orgUnit7", "Custom1", "custom", "x1",
        ] {
            assert_eq!(legacy_slot(bad), None, "{bad}");
        }
        let field = Field {
            level: Source::Entry,
            id: "orgUnit1".into(),
            label: "Division".into(),
            list: None,
            launch: false,
        };
        assert_eq!(field.legacy_name(), "OrgUnit1");
    }

    #[test]
    fn rejects_a_value_for_an_undefined_field() {
        let mut seed = Seed::builtin();
        seed.reports[0].expenses[0]
            .custom_data
            .insert("custom40".into(), "x".into());
        assert!(matches!(seed.validate(), Err(SeedError::NotAField { .. })));
    }

    #[test]
    fn rejects_duplicate_item_ids_ignoring_case() {
        let mut seed = Seed::builtin();
        let id = seed.reports[0].expenses[0].id.to_ascii_lowercase();
        seed.reports[1].expenses[0].id = id;
        assert!(matches!(seed.validate(), Err(SeedError::Duplicate { .. })));
    }

    #[test]
    fn rejects_a_list_value_that_is_not_an_item_id() {
        let mut seed = Seed::builtin();
        let field = seed
            .fields
            .iter()
            .find(|f| f.level == Source::Entry && f.list.is_some())
            .unwrap()
            .id
            .clone();
        seed.reports[0].expenses[0]
            .custom_data
            .insert(field, "CC-100".into());
        assert!(matches!(
            seed.validate(),
            Err(SeedError::NotAListItem { .. })
        ));
    }
}
