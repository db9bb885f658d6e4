//! The `[values]` table as written by the operator; [`Values::from_settings`](super::Values::from_settings)
//! turns it into a working source once at start-up.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize, Serializer};

/// The `[values]` table: where the user's choices come from and how they are filtered.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValuesSettings {
    /// Which source serves the values. Default `inline`.
    pub source: SourceKind,
    /// Most values one search returns, 1 to 100. Default `100`.
    pub max_results: usize,
    /// Searches one launch session may run per second, on average. Default `2`.
    pub search_rate: f64,
    /// Searches one launch session may run in a quick burst before `search_rate` applies.
    /// Default `10`.
    pub search_burst: u32,
    /// `attribute = "fact key"`: a value passes when it has no such attribute, or one of the
    /// attribute's values equals the item's fact (case-insensitively). Default
    /// `{ expense_types = "expense_type" }`; an empty `[values.match]` table filters nothing.
    #[serde(rename = "match")]
    pub filters: BTreeMap<String, String>,
    /// `[[values.inline]]`: the values of the `inline` source.
    pub inline: Vec<InlineValue>,
    /// `[values.csv]`: the file of the `csv` source.
    pub csv: CsvSettings,
    /// `[values.http]`: the lookup of the `http` source.
    pub http: HttpSettings,
}

impl Default for ValuesSettings {
    fn default() -> Self {
        Self {
            source: SourceKind::Inline,
            max_results: super::MAX_RESULTS,
            search_rate: 2.0,
            search_burst: 10,
            filters: BTreeMap::from([("expense_types".to_owned(), "expense_type".to_owned())]),
            inline: Vec::new(),
            csv: CsvSettings::default(),
            http: HttpSettings::default(),
        }
    }
}

/// Where the values come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// `[[values.inline]]` tables in the configuration.
    #[default]
    Inline,
    /// A CSV file, reloaded when it changes.
    Csv,
    /// A JSON lookup against the customer's system of record.
    Http,
    /// No list: the user types the value (at most 48 characters, Concur's limit).
    FreeText,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Inline => "inline",
            SourceKind::Csv => "csv",
            SourceKind::Http => "http",
            SourceKind::FreeText => "free_text",
        }
    }
}

/// One `[[values.inline]]` table: `code`, `label`, optional `list_item_id`, and any
/// attribute as a string or a list of strings (e.g. `expense_types = ["AIRFR", "LODNG"]`).
///
/// Kept as a plain table so that any attribute name is accepted; it is checked by
/// [`Values::from_settings`](super::Values::from_settings).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct InlineValue(pub BTreeMap<String, serde_json::Value>);

/// `[values.csv]`, and the same keys in every table with a CSV source
/// (`[fetch_list.lists.csv]`, `[fetch_attendee.csv]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsvSettings {
    /// The CSV file (for `[values]`, header row `code,label[,list_item_id][,attribute...]`).
    /// Required for `source = "csv"`.
    pub path: Option<PathBuf>,
    /// Reload the file when it changes. Default `true`.
    pub watch: bool,
}

impl Default for CsvSettings {
    fn default() -> Self {
        Self {
            path: None,
            watch: true,
        }
    }
}

/// `[values.http]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// URL template; `{search}` and any item fact (`{expense_type}`, `{field.custom9}`, ...)
    /// are replaced by their percent-encoded values. Required for `source = "http"`.
    pub url: Option<String>,
    /// Extra request headers (values are treated as secrets in `check-config` output).
    #[serde(serialize_with = "redacted_values")]
    pub headers: BTreeMap<String, String>,
    /// Sent as `Authorization: Bearer …`.
    #[serde(serialize_with = "crate::checks::redacted")]
    pub bearer_token: Option<SecretString>,
    /// File holding the bearer token (one trailing newline is ignored).
    pub bearer_token_file: Option<PathBuf>,
    /// A whole lookup (connect, answer, body) takes at most this long. Default `3s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How long an answer is reused for the same URL; `0s` switches the cache off. Default `60s`.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// Most memory the cached answers take, in bytes (the values as held, plus the URL);
    /// the least useful answers are evicted beyond it. Default `4194304` (4 MiB).
    pub cache_max_bytes: u64,
    /// A larger answer body is refused (never read whole). Default `1048576` (1 MiB).
    pub max_response_bytes: u64,
    /// JSON pointer to the array of values in the answer; `""` is the answer itself.
    pub items: String,
    /// Key (or JSON pointer starting with `/`) of the code in each element. Default `code`.
    pub code: String,
    /// Key (or JSON pointer) of the label in each element. Default `label`.
    pub label: String,
    /// Key (or JSON pointer) of the Concur list item id in each element, if any.
    pub list_item_id: Option<String>,
    /// A PEM CA bundle trusted in addition to the system roots (private CAs).
    pub extra_ca_file: Option<PathBuf>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            url: None,
            headers: BTreeMap::new(),
            bearer_token: None,
            bearer_token_file: None,
            timeout: Duration::from_secs(3),
            cache_ttl: Duration::from_secs(60),
            cache_max_bytes: 4 * 1024 * 1024,
            max_response_bytes: 1024 * 1024,
            items: String::new(),
            code: "code".to_owned(),
            label: "label".to_owned(),
            list_item_id: None,
            extra_ca_file: None,
        }
    }
}

/// Serializes a table's values as `[REDACTED]`: headers often carry API keys.
pub(crate) fn redacted_values<S: Serializer>(
    value: &BTreeMap<String, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(value.keys().map(|k| (k, "[REDACTED]")))
}
