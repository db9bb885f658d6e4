//! Where the user's choices come from: an inline list, a CSV file or an HTTP lookup
//! (`[values]`), searched case-insensitively and filtered by facts of the launched item.
//!
//! [`Values::from_settings`] builds the configured source once at start-up (reading the
//! CSV file and starting its watcher, or building the one HTTP client); requests then only
//! call [`Values::search`] and [`Values::resolve`].

pub(crate) mod csv_file;
pub(crate) mod http;
mod rate;
pub(crate) mod settings;
pub(crate) mod table;
pub(crate) mod template;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::checks::{ConfigProblem, Problems};
use crate::concur::{ExpenseItem, MAX_VALUE_CHARS};
use crate::launch::LaunchContext;

pub use csv_file::MULTI_VALUE_SEPARATOR;
pub(crate) use http::{error_chain, load_roots};
// For the fuzz targets (`crate::fuzzing`).
pub(crate) use csv_file::parse as parse_csv;
pub use rate::Refused;
pub use settings::{CsvSettings, HttpSettings, InlineValue, SourceKind, ValuesSettings};

use table::{Entry, Filter};

/// Most values one search may return (the page shows at most this many).
pub const MAX_RESULTS: usize = 100;

/// Most characters of search text used (the search box takes as many); the rest is cut
/// before any lookup.
pub const MAX_SEARCH_CHARS: usize = 100;

/// The search text as it is used: trimmed, then cut to [`MAX_SEARCH_CHARS`] characters.
pub fn search_text(search: &str) -> &str {
    let search = search.trim();
    match search.char_indices().nth(MAX_SEARCH_CHARS) {
        Some((end, _)) => search[..end].trim_end(),
        None => search,
    }
}

/// The fact keys besides `field.<id>`, usable in `[values.match]` and URL placeholders.
pub const FACT_KEYS: &[&str] = &[
    "company",
    "user",
    "report_owner",
    "employee_id",
    "source",
    "language",
    "expense_type",
    "expense_type_name",
    "currency",
    "amount",
    "transaction_date",
    "vendor",
    "report_id",
    "report_name",
    "product",
    "start_date",
    "end_date",
];

/// One value the user can pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    /// What is written (or looked up as a list item) in Concur.
    pub code: String,
    /// What the user reads.
    pub label: String,
    /// Concur's list item id, for list fields, when the source knows it.
    pub list_item_id: Option<String>,
}

/// What is known about the launched item, as flat named facts (used in URL templates and
/// filters).
///
/// Keys: `company` (company domain), `user` (logged-in user id), `report_owner`,
/// `employee_id` (report owner's employee id), `source` (`HEADER`/`ENTRY`/`ALLOCATION`),
/// `language`, and when the item was read: `expense_type` (expense type code),
/// `expense_type_name`, `currency`, `amount`, `transaction_date`, `vendor`, `report_id`,
/// `report_name` (for a travel request: its id and name), `product` (`expense` or
/// `request`), a travel request's `start_date` and `end_date`, and `field.<id>` for every
/// custom field (its code if it has one, else its value), e.g. `field.custom9`. Keys are
/// case-insensitive. An expected expense gives `expense_type` like an expense does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemFacts(BTreeMap<String, String>);

impl ItemFacts {
    pub fn new(launch: &LaunchContext, item: Option<&ExpenseItem>) -> Self {
        let mut facts = Self::default();
        facts.insert("company", &launch.company_domain);
        facts.insert("user", &launch.user_id);
        facts.insert_some("report_owner", launch.report_owner_user_id.as_deref());
        facts.insert_some("employee_id", launch.report_owner_employee_id.as_deref());
        facts.insert("language", &launch.language);
        // The item URL's kind is signed; the `source` parameter is not.
        let source = item.map_or(launch.source, |i| i.kind);
        facts.insert("source", source.as_str());
        facts.insert("product", launch.product.as_str());
        if let Some(item) = item {
            facts.insert_item(item);
        }
        facts
    }

    /// The facts of a report's item without a launch (a submitted report being validated):
    /// the item's own, `source` from its kind, and the owner's.
    pub fn for_item(item: &ExpenseItem, owner: &ItemOwner<'_>) -> Self {
        let mut facts = Self::default();
        facts.insert_some("report_owner", owner.user);
        facts.insert_some("employee_id", owner.employee_id);
        facts.insert("language", owner.language);
        facts.insert("source", item.kind.as_str());
        facts.insert_item(item);
        facts
    }

    fn insert_item(&mut self, item: &ExpenseItem) {
        for (key, value) in [
            ("expense_type", &item.expense_type_code),
            ("expense_type_name", &item.expense_type_name),
            ("currency", &item.currency),
            ("amount", &item.amount),
            ("transaction_date", &item.transaction_date),
            ("vendor", &item.vendor),
            ("report_id", &item.report_id),
            ("report_name", &item.report_name),
            ("start_date", &item.start_date),
            ("end_date", &item.end_date),
        ] {
            self.insert_some(key, value.as_deref());
        }
        self.insert("product", item.location.product().as_str());
        self.insert_fields(item);
    }

    /// `field.<id>` for every field of `item` (its code if it has one, else its value),
    /// replacing facts of the same name.
    pub fn insert_fields(&mut self, item: &ExpenseItem) {
        for field in &item.fields {
            let value = field.code.as_deref().or(field.value.as_deref());
            self.insert_some(&format!("field.{}", field.id), value);
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .or_else(|| self.0.get(&key.to_lowercase()))
            .map(String::as_str)
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into().to_lowercase(), value.into());
    }

    fn insert_some(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.insert(key, value);
        }
    }

    /// All facts, for diagnostics and templates.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Who owns the report an item belongs to, for [`ItemFacts::for_item`].
#[derive(Debug, Clone, Copy)]
pub struct ItemOwner<'a> {
    /// `report_owner`: the owner's user id.
    pub user: Option<&'a str>,
    pub employee_id: Option<&'a str>,
    pub language: &'a str,
}

/// Why a lookup failed. Messages hold no URL query, token or user input.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LookupError {
    /// The lookup service did not answer within `values.http.timeout`.
    #[error("the value lookup timed out after {}", humantime::format_duration(*after))]
    Timeout { after: Duration },
    /// The service could not be reached or answered with a non-2xx status.
    #[error("the value lookup service is unavailable: {reason}")]
    Unavailable { reason: String },
    /// The answer was not JSON or lacked the configured fields.
    #[error("the value lookup service gave an unusable answer: {reason}")]
    BadResponse { reason: String },
    /// The answer's body was longer than `values.http.max_response_bytes`.
    #[error(
        "the value lookup answer is larger than values.http.max_response_bytes ({limit} bytes); \
         narrow the lookup or raise the setting"
    )]
    TooLarge { limit: u64 },
}

impl LookupError {
    /// A stable key the page layer localises.
    pub fn user_message_key(&self) -> &'static str {
        match self {
            LookupError::Timeout { .. } => "lookup_timeout",
            LookupError::Unavailable { .. } => "lookup_unavailable",
            LookupError::BadResponse { .. } => "lookup_bad_response",
            LookupError::TooLarge { .. } => "lookup_too_large",
        }
    }
}

enum Backend {
    Static(Vec<Entry>),
    Csv(csv_file::CsvSource),
    Http(Box<http::HttpSource>),
    FreeText,
}

/// The configured source, built once at start-up (share it behind an `Arc`).
pub struct Values {
    backend: Backend,
    filters: Vec<Filter>,
    max_results: usize,
    limiter: rate::SearchLimiter,
}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Values")
            .field("source", &self.source_kind())
            .field("filters", &self.filters)
            .field("max_results", &self.max_results)
            .finish()
    }
}

/// `[values]` once checked, before anything is read, watched or built.
struct Checked {
    source: CheckedSource,
    filters: Vec<Filter>,
    limiter: rate::SearchLimiter,
}

enum CheckedSource {
    Static(Vec<Entry>),
    Csv {
        path: std::path::PathBuf,
        watch: bool,
    },
    /// The HTTP source is checked by building it: its one client is made, nothing is sent.
    Http(Box<http::HttpSource>),
    FreeText,
}

impl Values {
    /// Checks `[values]` as configuration loading does (`check-config` too), before anything
    /// binds: every problem under its `values.*` key. Nothing is read, watched or built here;
    /// an unreadable CSV file is found by [`Values::from_settings`] at start-up. In
    /// production the HTTP source's URL must be `https`.
    pub fn check(settings: &ValuesSettings, mode: crate::checks::Mode, problems: &mut Problems) {
        let _ = Self::checked(settings, mode, problems);
    }

    fn checked(
        settings: &ValuesSettings,
        mode: crate::checks::Mode,
        problems: &mut Problems,
    ) -> Option<Checked> {
        let before = problems.len();
        if !(1..=MAX_RESULTS).contains(&settings.max_results) {
            problems.push(
                "values.max_results",
                format!("must be between 1 and {MAX_RESULTS}"),
            );
        }
        let filters = filters(&settings.filters, problems);
        let limiter =
            rate::SearchLimiter::new(settings.search_rate, settings.search_burst, problems);
        let source = match settings.source {
            SourceKind::Inline => {
                table::inline(&settings.inline, problems).map(CheckedSource::Static)
            }
            SourceKind::Csv => match &settings.csv.path {
                None => {
                    problems.push(
                        "values.csv.path",
                        "is required with values.source = \"csv\"",
                    );
                    None
                }
                Some(path) => Some(CheckedSource::Csv {
                    path: path.clone(),
                    watch: settings.csv.watch,
                }),
            },
            SourceKind::Http => {
                let attributes = filters.iter().map(|f| f.attribute.clone()).collect();
                http::HttpSource::new(&settings.http, attributes, mode, problems)
                    .map(|h| CheckedSource::Http(Box::new(h)))
            }
            SourceKind::FreeText => Some(CheckedSource::FreeText),
        };
        match (source, limiter) {
            (Some(source), Some(limiter)) if problems.len() == before => Some(Checked {
                source,
                filters,
                limiter,
            }),
            _ => None,
        }
    }

    /// Checks `[values]` and prepares the source: converts the inline list, reads the CSV
    /// file and starts watching it, or builds the HTTP client. Every problem is reported
    /// under its `values.*` key. In production the HTTP source's URL must be `https`.
    pub fn from_settings(
        settings: &ValuesSettings,
        mode: crate::checks::Mode,
    ) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Problems::default();
        let Some(Checked {
            source,
            filters,
            limiter,
        }) = Self::checked(settings, mode, &mut problems)
        else {
            return Err(problems.into_vec());
        };
        let backend = match source {
            CheckedSource::Static(entries) => {
                if entries.is_empty() {
                    tracing::warn!(
                        "values.inline is empty: users will have nothing to pick; configure [values] \
                         (inline values, a CSV file, an HTTP lookup or free text)"
                    );
                }
                Some(Backend::Static(entries))
            }
            CheckedSource::Csv { path, watch } => problems
                .take(
                    "values.csv.path",
                    csv_file::CsvSource::open_with(&path, watch, "values.csv", csv_file::parse),
                )
                .map(Backend::Csv),
            CheckedSource::Http(source) => Some(Backend::Http(source)),
            CheckedSource::FreeText => Some(Backend::FreeText),
        };
        match backend {
            Some(backend) if problems.is_empty() => Ok(Self {
                backend,
                filters,
                max_results: settings.max_results,
                limiter,
            }),
            _ => Err(problems.into_vec()),
        }
    }

    /// Values whose code or label contains `search` (case-insensitive; blank = all; only its
    /// first [`MAX_SEARCH_CHARS`] characters count) and
    /// that are allowed for this item per `[values.match]`, at most
    /// [`max_results`](Self::max_results), in source order. Always empty for free text.
    pub async fn search(
        &self,
        search: &str,
        facts: &ItemFacts,
    ) -> Result<Vec<Choice>, LookupError> {
        let search = search_text(search);
        let cap = self.max_results;
        Ok(match &self.backend {
            Backend::Static(entries) => table::search(entries, search, &self.filters, facts, cap),
            Backend::Csv(csv) => {
                table::search(csv.entries().iter(), search, &self.filters, facts, cap)
            }
            Backend::Http(http) => {
                let entries = http.entries(search, facts).await?;
                table::search(entries.iter(), search, &self.filters, facts, cap)
            }
            Backend::FreeText => Vec::new(),
        })
    }

    /// The value with exactly this code that is allowed for this item, if any: use it to
    /// check what a form posted. The HTTP source asks with `{search}` = the code, then (if
    /// that answer lacks it) with an empty search. For free text: the trimmed text itself
    /// when it is 1 to 48 characters without control characters.
    pub async fn resolve(
        &self,
        code: &str,
        facts: &ItemFacts,
    ) -> Result<Option<Choice>, LookupError> {
        Ok(match &self.backend {
            Backend::Static(entries) => table::resolve(entries, code, &self.filters, facts),
            Backend::Csv(csv) => table::resolve(csv.entries().iter(), code, &self.filters, facts),
            Backend::Http(http) => {
                let entries = http.entries(code, facts).await?;
                match table::resolve(entries.iter(), code, &self.filters, facts) {
                    // A backend may search labels only: look in the unsearched list too.
                    None if http.sends_search() && !code.is_empty() => {
                        let entries = http.entries("", facts).await?;
                        table::resolve(entries.iter(), code, &self.filters, facts)
                    }
                    found => found,
                }
            }
            Backend::FreeText => free_text(code),
        })
    }

    /// The value with this Concur list item id that is allowed for this item, if any: a v4
    /// list field holds the list item id, not the code. The HTTP source asks with an empty
    /// search. Free text has no list items.
    pub async fn resolve_list_item(
        &self,
        list_item_id: &str,
        facts: &ItemFacts,
    ) -> Result<Option<Choice>, LookupError> {
        let id = list_item_id.trim();
        Ok(match &self.backend {
            Backend::Static(entries) => table::resolve_list_item(entries, id, &self.filters, facts),
            Backend::Csv(csv) => {
                table::resolve_list_item(csv.entries().iter(), id, &self.filters, facts)
            }
            Backend::Http(http) => {
                let entries = http.entries("", facts).await?;
                table::resolve_list_item(entries.iter(), id, &self.filters, facts)
            }
            Backend::FreeText => None,
        })
    }

    /// Counts one search of this launch session against `values.search_rate` and
    /// `values.search_burst`; `Err` when the session searches faster (nothing is looked up
    /// then). Sessions do not share their allowance.
    pub async fn admit_search(&self, session_id: &str) -> Result<(), Refused> {
        self.limiter.admit(session_id).await
    }

    pub fn max_results(&self) -> usize {
        self.max_results
    }

    pub fn source_kind(&self) -> SourceKind {
        match self.backend {
            Backend::Static(_) => SourceKind::Inline,
            Backend::Csv(_) => SourceKind::Csv,
            Backend::Http(_) => SourceKind::Http,
            Backend::FreeText => SourceKind::FreeText,
        }
    }

    /// True when the user types the value instead of picking it from a list.
    pub fn is_free_text(&self) -> bool {
        matches!(self.backend, Backend::FreeText)
    }
}

/// Why typed text cannot be stored; each maps to a localised message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Empty,
    TooLong { max: usize },
    ControlCharacters,
}

impl Invalid {
    /// The message key in [`crate::pages::i18n`].
    pub fn message_key(self) -> &'static str {
        match self {
            Invalid::Empty => "error_empty",
            Invalid::TooLong { .. } => "error_too_long",
            Invalid::ControlCharacters => "error_control",
        }
    }
}

/// Free text as Concur stores it: trimmed, 1 to [`MAX_VALUE_CHARS`] characters, no control
/// characters.
pub fn check_free_text(text: &str) -> Result<String, Invalid> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Invalid::Empty);
    }
    if text.chars().any(char::is_control) {
        return Err(Invalid::ControlCharacters);
    }
    if text.chars().count() > MAX_VALUE_CHARS {
        return Err(Invalid::TooLong {
            max: MAX_VALUE_CHARS,
        });
    }
    Ok(text.to_owned())
}

fn free_text(text: &str) -> Option<Choice> {
    check_free_text(text).ok().map(|text| Choice {
        code: text.clone(),
        label: text,
        list_item_id: None,
    })
}

fn filters(configured: &BTreeMap<String, String>, problems: &mut Problems) -> Vec<Filter> {
    configured
        .iter()
        .filter_map(|(attribute, fact)| {
            let key = format!("values.match.{attribute}");
            let fact = fact.trim().to_lowercase();
            let is_field = fact.strip_prefix("field.").is_some_and(|id| !id.is_empty());
            if !FACT_KEYS.contains(&fact.as_str()) && !is_field {
                problems.push(
                    key,
                    format!(
                        "`{fact}` is not an item fact; use one of {} or field.<id>",
                        FACT_KEYS.join(", ")
                    ),
                );
                return None;
            }
            if matches!(attribute.as_str(), "code" | "label" | "list_item_id") {
                problems.push(key, "code, label and list_item_id are not attributes");
                return None;
            }
            Some(Filter {
                attribute: attribute.trim().to_lowercase(),
                fact,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::concur::{CustomField, ItemRef};
    use crate::launch::{Product, Source, Transport, ValueEncoding, Version};

    fn launch() -> LaunchContext {
        LaunchContext {
            version: Version::V4,
            product: Product::Expense,
            company_domain: "acme.example".into(),
            user_id: "jane@acme.example".into(),
            report_owner_user_id: Some("owner-uuid".into()),
            report_owner_employee_id: Some("E-42".into()),
            item_url: "https://us.api.concursolutions.com/expensereports/v4/reports/R1/expenses/E1"
                .into(),
            nonce: "n".into(),
            source: Source::Header,
            custom_field_launched_from: Some("custom12".into()),
            expense_ids: Vec::new(),
            is_mobile: false,
            language: "de".into(),
            transport: Transport {
                encoding: ValueEncoding::Rfc3986,
                item_url_encoded_twice: false,
            },
        }
    }

    fn item() -> ExpenseItem {
        let location =
            ItemRef::parse("https://h/expensereports/v4/reports/R1/expenses/E1").unwrap();
        ExpenseItem {
            kind: location.kind(),
            location,
            expense_type_code: Some("AIRFR".into()),
            expense_type_name: Some("Airfare".into()),
            amount: Some("40.00".into()),
            currency: Some("USD".into()),
            transaction_date: Some("2026-01-02".into()),
            vendor: Some("Lufthansa".into()),
            business_purpose: None,
            report_id: Some("R1".into()),
            report_name: Some("Trip".into()),
            start_date: None,
            end_date: None,
            entry_id: Some("E1".into()),
            allocation_id: None,
            expense_ids: Vec::new(),
            owner: None,
            fields: vec![
                CustomField {
                    id: "Custom9".into(),
                    value: Some("Engineering".into()),
                    code: Some("CC-100".into()),
                    ..CustomField::default()
                },
                CustomField {
                    id: "custom3".into(),
                    value: Some("free text".into()),
                    ..CustomField::default()
                },
                CustomField {
                    id: "custom4".into(),
                    ..CustomField::default()
                },
            ],
        }
    }

    #[test]
    fn facts_come_from_the_launch_and_the_item() {
        let facts = ItemFacts::new(&launch(), Some(&item()));
        let all: Vec<_> = facts.iter().collect();
        assert_eq!(
            all,
            [
                ("amount", "40.00"),
                ("company", "acme.example"),
                ("currency", "USD"),
                ("employee_id", "E-42"),
                ("expense_type", "AIRFR"),
                ("expense_type_name", "Airfare"),
                ("field.custom3", "free text"),
                ("field.custom9", "CC-100"),
                ("language", "de"),
                ("product", "expense"),
                ("report_id", "R1"),
                ("report_name", "Trip"),
                ("report_owner", "owner-uuid"),
                ("source", "ENTRY"),
                ("transaction_date", "2026-01-02"),
                ("user", "jane@acme.example"),
                ("vendor", "Lufthansa"),
            ]
        );
        assert_eq!(facts.get("Field.Custom9"), Some("CC-100"));
    }

    #[test]
    fn a_report_item_gives_its_facts_without_a_launch() {
        let owner = ItemOwner {
            user: Some("owner-uuid"),
            employee_id: None,
            language: "fr",
        };
        let facts = ItemFacts::for_item(&item(), &owner);
        assert_eq!(facts.get("report_owner"), Some("owner-uuid"));
        assert_eq!(facts.get("employee_id"), None);
        assert_eq!(facts.get("language"), Some("fr"));
        assert_eq!(facts.get("source"), Some("ENTRY"));
        assert_eq!(facts.get("expense_type"), Some("AIRFR"));
        assert_eq!(facts.get("field.custom9"), Some("CC-100"));
        assert_eq!(facts.get("company"), None, "no launch, no company or user");
        assert_eq!(facts.get("user"), None);
    }

    #[test]
    fn without_the_item_only_launch_facts_are_known() {
        let facts = ItemFacts::new(&launch(), None);
        assert_eq!(facts.get("source"), Some("HEADER"));
        assert_eq!(facts.get("expense_type"), None);
        assert_eq!(facts.get("product"), Some("expense"));
        assert_eq!(facts.iter().count(), 7);
    }

    #[test]
    fn an_expected_expense_gives_its_type_and_a_request_its_dates() {
        let mut launch = launch();
        launch.product = Product::Request;
        let location = ItemRef::parse("https://h/travelrequest/v4/expenses/X1").unwrap();
        let expense = ExpenseItem {
            kind: location.kind(),
            location,
            report_name: Some("Customer visit Lyon".into()),
            ..item()
        };
        let facts = ItemFacts::new(&launch, Some(&expense));
        assert_eq!(facts.get("product"), Some("request"));
        assert_eq!(facts.get("source"), Some("ENTRY"));
        assert_eq!(facts.get("expense_type"), Some("AIRFR"));
        assert_eq!(facts.get("report_name"), Some("Customer visit Lyon"));

        let location = ItemRef::parse("https://h/travelrequest/v4/requests/Q1").unwrap();
        let header = ExpenseItem {
            kind: location.kind(),
            location,
            expense_type_code: None,
            start_date: Some("2026-06-15".into()),
            end_date: Some("2026-06-17".into()),
            ..item()
        };
        let facts = ItemFacts::new(&launch, Some(&header));
        assert_eq!(facts.get("source"), Some("HEADER"));
        assert_eq!(facts.get("expense_type"), None);
        assert_eq!(facts.get("start_date"), Some("2026-06-15"));
        assert_eq!(facts.get("end_date"), Some("2026-06-17"));
    }

    #[test]
    fn lookup_errors_have_stable_message_keys() {
        let timeout = LookupError::Timeout {
            after: Duration::from_secs(3),
        };
        assert_eq!(timeout.user_message_key(), "lookup_timeout");
        assert_eq!(timeout.to_string(), "the value lookup timed out after 3s");
        let unavailable = LookupError::Unavailable { reason: "x".into() };
        assert_eq!(unavailable.user_message_key(), "lookup_unavailable");
        let bad = LookupError::BadResponse { reason: "x".into() };
        assert_eq!(bad.user_message_key(), "lookup_bad_response");
        let large = LookupError::TooLarge { limit: 1024 };
        assert_eq!(large.user_message_key(), "lookup_too_large");
        assert!(
            large
                .to_string()
                .contains("values.http.max_response_bytes (1024 bytes)"),
            "{large}"
        );
    }

    #[test]
    fn search_text_is_trimmed_and_cut_to_100_characters() {
        assert_eq!(search_text("  apollo "), "apollo");
        let long = "ü".repeat(150);
        assert_eq!(search_text(&long).chars().count(), MAX_SEARCH_CHARS);
        assert_eq!(search_text(&long), "ü".repeat(100), "characters, not bytes");
        let exact = "x".repeat(100);
        assert_eq!(search_text(&exact), exact);
        assert_eq!(
            search_text(&format!("{} y", "x".repeat(99))),
            "x".repeat(99)
        );
    }

    #[test]
    fn free_text_is_trimmed_and_limited_to_48_characters() {
        assert_eq!(
            free_text("  PRJ 7 ").map(|c| c.code),
            Some("PRJ 7".to_owned())
        );
        assert!(
            free_text(&"é".repeat(48)).is_some(),
            "characters, not bytes"
        );
        assert!(free_text(&"x".repeat(49)).is_none());
        assert!(free_text("   ").is_none());
        assert!(free_text("a\nb").is_none());
    }

    const EXAMPLE: &str = include_str!("../../config/example.toml");

    #[test]
    fn the_example_file_mentions_every_optional_key() {
        for key in [
            "path",
            "url",
            "bearer_token",
            "bearer_token_file",
            "list_item_id",
            "extra_ca_file",
        ] {
            assert!(
                EXAMPLE.contains(&format!("# {key} =")),
                "{key} is not documented"
            );
        }
    }

    #[test]
    fn the_example_url_template_is_valid() {
        let url = EXAMPLE
            .lines()
            .find_map(|l| l.strip_prefix("# url = "))
            .unwrap()
            .trim_matches('"');
        let settings = ValuesSettings {
            source: SourceKind::Http,
            http: HttpSettings {
                url: Some(url.to_owned()),
                ..HttpSettings::default()
            },
            ..ValuesSettings::default()
        };
        assert!(
            Values::from_settings(&settings, crate::checks::Mode::Production).is_ok(),
            "{url}"
        );
    }

    fn problems_of(settings: &ValuesSettings) -> Vec<String> {
        Values::from_settings(settings, crate::checks::Mode::Production)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.key)
            .collect()
    }

    #[test]
    fn the_defaults_are_a_valid_empty_inline_list() {
        let values =
            Values::from_settings(&ValuesSettings::default(), crate::checks::Mode::Production)
                .unwrap();
        assert_eq!(values.source_kind(), SourceKind::Inline);
        assert_eq!(values.max_results(), 100);
        assert_eq!(
            values.filters,
            [Filter {
                attribute: "expense_types".into(),
                fact: "expense_type".into()
            }]
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let mut s = ValuesSettings {
            max_results: 0,
            ..ValuesSettings::default()
        };
        s.filters
            .insert("cost_centers".into(), "field.custom9".into());
        s.filters.insert("regions".into(), "expense_typ".into());
        assert_eq!(
            problems_of(&s),
            ["values.max_results", "values.match.regions"]
        );
        let s = ValuesSettings {
            max_results: 101,
            source: SourceKind::Csv,
            ..ValuesSettings::default()
        };
        assert_eq!(problems_of(&s), ["values.max_results", "values.csv.path"]);
        let mut s = ValuesSettings {
            source: SourceKind::Csv,
            ..ValuesSettings::default()
        };
        s.csv.path = Some("/nonexistent/values.csv".into());
        assert_eq!(problems_of(&s), ["values.csv.path"]);
    }
}
