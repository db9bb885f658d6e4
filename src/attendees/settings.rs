//! The `[fetch_attendee]` table as written by the operator;
//! [`Attendees::from_settings`](super::Attendees::from_settings) checks it and builds the
//! source once at start-up.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::values::CsvSettings;

/// The default endpoint, as Concur's documentation registers it.
pub const DEFAULT_PATH: &str = "/concur/attendee/v2.0/fetch";

/// `[fetch_attendee]`: the Fetch Attendee callout and where its attendees come from.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchAttendeeSettings {
    /// Serve the callout. Default `true`.
    pub enabled: bool,
    /// The endpoint registered in Concur; it should contain `v2.0`. Its `v1.0` twin is
    /// answered too. Default `/concur/attendee/v2.0/fetch`.
    pub path: String,
    /// Which source serves the attendees. Default `inline`.
    pub source: AttendeeSourceKind,
    /// A search answers within this long; a slower source gives an empty answer. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// `[[fetch_attendee.inline]]`: the attendees of the `inline` source.
    pub inline: Vec<InlineAttendee>,
    /// `[fetch_attendee.csv]`: the file of the `csv` source (header row of response element
    /// names, plus `owners`).
    pub csv: CsvSettings,
    /// `[fetch_attendee.http]`: the lookup of the `http` source.
    pub http: AttendeeHttpSettings,
}

impl Default for FetchAttendeeSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            path: DEFAULT_PATH.to_owned(),
            source: AttendeeSourceKind::Inline,
            timeout: Duration::from_secs(5),
            inline: Vec::new(),
            csv: CsvSettings::default(),
            http: AttendeeHttpSettings::default(),
        }
    }
}

/// Where the attendees come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttendeeSourceKind {
    /// `[[fetch_attendee.inline]]` tables in the configuration.
    #[default]
    Inline,
    /// A CSV file, reloaded when it changes.
    Csv,
    /// A JSON lookup against the customer's system of record.
    Http,
}

/// One `[[fetch_attendee.inline]]` table: response element names as keys (`ExternalID`,
/// `FirstName`, `LastName`, `Company`, `Custom8`, ...; case-insensitive) with string
/// values, and optionally `owners` (a login ID or a list of them) restricting the attendee
/// to searches for those report owners.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct InlineAttendee(pub BTreeMap<String, serde_json::Value>);

/// `[fetch_attendee.http]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttendeeHttpSettings {
    /// URL template; `{FirstName}`, `{LastName}`, ... (any search element) and
    /// `{OwnerLoginID}` are replaced by their percent-encoded values. Required for
    /// `source = "http"`.
    pub url: Option<String>,
    /// Extra request headers (values are treated as secrets in `check-config` output).
    #[serde(serialize_with = "crate::values::settings::redacted_values")]
    pub headers: BTreeMap<String, String>,
    /// Sent as `Authorization: Bearer …`.
    #[serde(serialize_with = "crate::checks::redacted")]
    pub bearer_token: Option<SecretString>,
    /// File holding the bearer token (one trailing newline is ignored).
    pub bearer_token_file: Option<PathBuf>,
    /// How long an answer is reused for the same URL; `0s` switches the cache off. Default `60s`.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// Most memory the cached answers take, in bytes. Default `4194304` (4 MiB).
    pub cache_max_bytes: u64,
    /// A larger answer body is refused (never read whole). Default `1048576` (1 MiB).
    pub max_response_bytes: u64,
    /// JSON pointer to the array of attendees in the answer; `""` is the answer itself.
    pub items: String,
    /// `Element = "key or /json/pointer"`: where each response element is found in an
    /// attendee object. An element not named here is read from the key of its own name
    /// (`ExternalID`, `FirstName`, ...); `owners` names the optional list of owner logins.
    pub fields: BTreeMap<String, String>,
    /// A PEM CA bundle trusted in addition to the system roots (private CAs).
    pub extra_ca_file: Option<PathBuf>,
}

impl Default for AttendeeHttpSettings {
    fn default() -> Self {
        Self {
            url: None,
            headers: BTreeMap::new(),
            bearer_token: None,
            bearer_token_file: None,
            cache_ttl: Duration::from_secs(60),
            cache_max_bytes: 4 * 1024 * 1024,
            max_response_bytes: 1024 * 1024,
            items: String::new(),
            fields: BTreeMap::new(),
            extra_ca_file: None,
        }
    }
}
