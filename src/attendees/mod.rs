//! Where the Fetch Attendee callout's attendees come from (`[fetch_attendee]`): an inline
//! list, a CSV file or an HTTP lookup (docs/protocol.md §12.3).
//!
//! [`Attendees::from_settings`] builds the configured source once at start-up (reading the
//! CSV file and starting its watcher, or building the one HTTP client, both shared with
//! `[values]`); requests then only call [`Attendees::search`], which never fails: a source
//! that is slow or down is logged and answers no attendee.
//!
//! Every source yields the same rows: an attendee (response element names as fields) and
//! optionally the report owners it is restricted to (`owners`, login IDs compared
//! case-insensitively with the request's `OwnerLoginID`; no owners = every owner). Rows
//! without a `FirstName`, `LastName` or `ExternalID` are dropped with a log line, since
//! Concur refuses them.

mod settings;

use std::collections::BTreeMap;
use std::time::Duration;

use concur_protocol::callout::attendee::{self, Attendee, AttendeeSearch, FIELDS};
use serde_json::Value;

use crate::checks::{ConfigProblem, Mode, Problems};
use crate::values::LookupError;
use crate::values::csv_file::{self, CsvSource, MULTI_VALUE_SEPARATOR};
use crate::values::http::{FieldPath, HttpSource, Record};
use crate::values::table::{attribute_values, scalar};
use crate::values::{HttpSettings, ItemFacts};

pub use settings::{
    AttendeeHttpSettings, AttendeeSourceKind, DEFAULT_PATH, FetchAttendeeSettings, InlineAttendee,
};

/// The `v1.0` twin of a `v2.0` endpoint: Concur picks the schema by the path, and a
/// registration with `v1.0` is answered the same way (and logged).
pub fn v1_twin(path: &str) -> Option<String> {
    path.contains("v2.0").then(|| path.replace("v2.0", "v1.0"))
}

/// The column (CSV), key (inline) or mapped field (JSON) listing the owners a row is for.
pub const OWNERS: &str = "owners";

/// The request element naming the report owner, also a URL placeholder of the HTTP source.
pub const OWNER_LOGIN_ID: &str = "OwnerLoginID";

/// One attendee the source knows, with the owners it is restricted to (lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    attendee: Attendee,
    owners: Vec<String>,
    /// The row's place in its source, so answers keep the source's order.
    order: usize,
    /// `LastName`, trimmed and lower-cased: a source's rows are sorted by it, so a search
    /// with a last name (a prefix) reads only the rows that can match.
    last_key: String,
}

impl Row {
    fn new(attendee: Attendee, owners: impl IntoIterator<Item = String>) -> Self {
        Self {
            last_key: attendee.get("LastName").trim().to_lowercase(),
            order: 0,
            attendee,
            owners: owners
                .into_iter()
                .map(|o| owner_key(&o))
                .filter(|o| !o.is_empty())
                .collect(),
        }
    }

    /// True when the row is for every owner, or for this one.
    #[cfg(test)]
    fn visible_to(&self, owner: Option<&str>) -> bool {
        self.visible_to_key(owner.map(owner_key).as_deref())
    }

    /// [`visible_to`](Self::visible_to) for an owner already made a key with [`owner_key`]
    /// (once per search, as the row's owners were at load).
    fn visible_to_key(&self, owner: Option<&str>) -> bool {
        self.owners.is_empty() || owner.is_some_and(|owner| self.owners.iter().any(|o| o == owner))
    }
}

impl Record for Row {
    fn memory_bytes(&self) -> usize {
        self.attendee.memory_bytes()
            + self.last_key.capacity()
            + self.owners.iter().map(String::capacity).sum::<usize>()
    }
}

/// Keeps the rows Concur accepts; logs each dropped one with where it came from.
/// How owners are compared: trimmed, ignoring case.
fn owner_key(owner: &str) -> String {
    owner.trim().to_lowercase()
}

/// The complete rows of a source, numbered in source order and sorted by last name (see
/// [`Attendees::search`]).
fn keep_complete(rows: Vec<(String, Row)>) -> Vec<Row> {
    let mut rows: Vec<Row> = rows
        .into_iter()
        .filter_map(|(origin, row)| match row.attendee.missing_required() {
            None => Some(row),
            Some(missing) => {
                tracing::warn!(
                    record = %origin,
                    missing,
                    "attendee record dropped: Concur requires FirstName, LastName and ExternalID"
                );
                None
            }
        })
        .collect();
    for (order, row) in rows.iter_mut().enumerate() {
        row.order = order;
    }
    rows.sort_by(|a, b| a.last_key.cmp(&b.last_key));
    rows
}

/// The rows a search can match: with a last name that does not start with `*`, only those
/// whose last name begins with its literal start (a binary search over the sorted rows);
/// otherwise all.
fn candidates<'a>(rows: &'a [Row], search: &AttendeeSearch) -> &'a [Row] {
    match search.last_name_prefix() {
        Some(prefix) => {
            let start = rows.partition_point(|r| r.last_key.as_str() < prefix.as_str());
            let len = rows[start..]
                .iter()
                .take_while(|r| r.last_key.starts_with(prefix.as_str()))
                .count();
            &rows[start..start + len]
        }
        None => rows,
    }
}

enum Backend {
    Static(Vec<Row>),
    Csv(CsvSource<Row>),
    Http(Box<HttpSource<Row>>),
}

/// The configured attendee source, built once at start-up (share it behind an `Arc`).
pub struct Attendees {
    backend: Backend,
    timeout: Duration,
}

impl std::fmt::Debug for Attendees {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attendees")
            .field("source", &self.source_kind())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Attendees {
    /// Checks `[fetch_attendee]`'s sources and prepares the configured one (nothing when
    /// the service is disabled); every problem is reported under its `fetch_attendee.*` key. In production the HTTP source's URL
    /// must be `https`. (The path is checked with the other endpoints in `config`.)
    pub fn from_settings(
        settings: &FetchAttendeeSettings,
        mode: Mode,
    ) -> Result<Self, Vec<ConfigProblem>> {
        if !settings.enabled {
            // Nothing is served: the source is neither read nor checked.
            return Ok(Self {
                backend: Backend::Static(Vec::new()),
                timeout: settings.timeout,
            });
        }
        let mut problems = Problems::default();
        if !settings.path.contains("v2.0") {
            tracing::warn!(
                path = %settings.path,
                "fetch_attendee.path does not contain `v2.0`: Concur then uses the undocumented \
                 Fetch Attendee v1.0 schema; register an endpoint containing v2.0"
            );
        }
        if settings.timeout.is_zero() {
            problems.push("fetch_attendee.timeout", "must be greater than zero");
        }
        let backend = match settings.source {
            AttendeeSourceKind::Inline => {
                if settings.inline.is_empty() {
                    tracing::warn!(
                        "fetch_attendee.inline is empty: every attendee search answers nothing; \
                         configure [fetch_attendee] (inline attendees, a CSV file or an HTTP lookup)"
                    );
                }
                inline(&settings.inline, &mut problems).map(Backend::Static)
            }
            AttendeeSourceKind::Csv => {
                CsvSource::from_settings(&settings.csv, "fetch_attendee", parse_csv, &mut problems)
                    .map(Backend::Csv)
            }
            AttendeeSourceKind::Http => http_source(settings, mode, &mut problems)
                .map(|source| Backend::Http(Box::new(source))),
        };
        match backend {
            Some(backend) if problems.is_empty() => Ok(Self {
                backend,
                timeout: settings.timeout,
            }),
            _ => Err(problems.into_vec()),
        }
    }

    /// The attendees for this search, in source order: those visible to the request's
    /// owner that match every filled field, the searched type filled in where they have
    /// none, at most `search.max_records`. A source that fails or takes longer than
    /// `fetch_attendee.timeout` is logged and gives no attendee.
    pub async fn search(&self, search: &AttendeeSearch) -> Vec<Attendee> {
        let rows = match tokio::time::timeout(self.timeout, self.rows(search)).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(error)) => {
                tracing::warn!(%error, "attendee lookup failed; answering no attendees");
                return Vec::new();
            }
            Err(_) => {
                let error = LookupError::Timeout {
                    after: self.timeout,
                };
                tracing::warn!(%error, "attendee lookup failed; answering no attendees");
                return Vec::new();
            }
        };
        let owner = search.owner_login_id.as_deref().map(owner_key);
        let owner = owner.as_deref();
        let matcher = search.matcher();
        let mut hits: Vec<&Row> = candidates(&rows, search)
            .iter()
            .filter(|row| row.visible_to_key(owner) && matcher.matches(&row.attendee))
            .collect();
        hits.sort_unstable_by_key(|row| row.order);
        hits.into_iter()
            .take(search.max_records)
            .map(|row| search.complete(row.attendee.clone()))
            .collect()
    }

    /// How many attendees the source holds, read as for an unfiltered search (an HTTP source
    /// is asked once), with the source's own error when it fails: `doctor`'s real query.
    pub async fn probe(&self) -> Result<usize, LookupError> {
        let search = AttendeeSearch::everything();
        match tokio::time::timeout(self.timeout, self.rows(&search)).await {
            Ok(rows) => rows.map(|rows| rows.len()),
            Err(_) => Err(LookupError::Timeout {
                after: self.timeout,
            }),
        }
    }

    async fn rows(&self, search: &AttendeeSearch) -> Result<RowList<'_>, LookupError> {
        Ok(match &self.backend {
            Backend::Static(rows) => RowList::Borrowed(rows),
            Backend::Csv(csv) => RowList::Shared(csv.entries()),
            Backend::Http(http) => RowList::Shared(http.entries("", &facts(search)).await?),
        })
    }

    pub fn source_kind(&self) -> AttendeeSourceKind {
        match self.backend {
            Backend::Static(_) => AttendeeSourceKind::Inline,
            Backend::Csv(_) => AttendeeSourceKind::Csv,
            Backend::Http(_) => AttendeeSourceKind::Http,
        }
    }
}

/// The rows of one search, owned by the source or shared with it.
enum RowList<'a> {
    Borrowed(&'a [Row]),
    Shared(std::sync::Arc<Vec<Row>>),
}

impl std::ops::Deref for RowList<'_> {
    type Target = [Row];
    fn deref(&self) -> &[Row] {
        match self {
            RowList::Borrowed(rows) => rows,
            RowList::Shared(rows) => rows,
        }
    }
}

/// The search as URL placeholders: every search element and `OwnerLoginID`.
fn facts(search: &AttendeeSearch) -> ItemFacts {
    let mut facts = ItemFacts::default();
    for (name, value) in FIELDS.iter().zip(&search.fields) {
        facts.insert(*name, value.as_str());
    }
    facts.insert(
        OWNER_LOGIN_ID,
        search.owner_login_id.as_deref().unwrap_or(""),
    );
    facts
}

/// The names a column, key or mapping may use: the response elements and `owners`.
fn known_name(name: &str) -> bool {
    name.eq_ignore_ascii_case(OWNERS) || attendee::field_index(name).is_some()
}

fn unknown_name(name: &str) -> String {
    format!(
        "`{name}` is not an attendee element; use {}, or {OWNERS}",
        FIELDS.join(", ")
    )
}

/// Converts the `[[fetch_attendee.inline]]` tables; a table with an unknown key or a value
/// that is not text is a problem, one without a required value is dropped and logged.
fn inline(tables: &[InlineAttendee], problems: &mut Problems) -> Option<Vec<Row>> {
    let before = problems.len();
    let mut rows = Vec::with_capacity(tables.len());
    for (index, table) in tables.iter().enumerate() {
        let key = format!("fetch_attendee.inline[{index}]");
        let mut attendee = Attendee::default();
        let mut owners = Vec::new();
        for (name, value) in &table.0 {
            if name.eq_ignore_ascii_case(OWNERS) {
                match attribute_values(value) {
                    Some(list) => owners = list,
                    None => problems.push(
                        format!("{key}.{name}"),
                        "must be a login ID or a list of login IDs",
                    ),
                }
            } else if !known_name(name) {
                problems.push(format!("{key}.{name}"), unknown_name(name));
            } else {
                match scalar(value) {
                    Some(text) => {
                        attendee.set(name, text);
                    }
                    None => problems.push(format!("{key}.{name}"), "must be a string"),
                }
            }
        }
        rows.push((key, Row::new(attendee, owners)));
    }
    (problems.len() == before).then(|| keep_complete(rows))
}

/// Reads an attendee CSV: a header row of response element names (case-insensitive; at
/// least `ExternalID`, `FirstName` and `LastName`) and optionally `owners` (login IDs
/// separated by `|`). Lines starting with `#` are comments; a UTF-8 byte-order mark is
/// ignored. A row without a required value is dropped and logged.
pub(crate) fn parse_csv(bytes: &[u8]) -> Result<Vec<Row>, String> {
    let (mut reader, headers) = csv_file::reader(bytes)?;
    csv_file::check_headers(&headers, |header| {
        if known_name(header) {
            Ok(())
        } else {
            Err(unknown_name(header))
        }
    })?;
    for required in ["ExternalID", "FirstName", "LastName"] {
        if !headers.iter().any(|h| h.eq_ignore_ascii_case(required)) {
            return Err(format!("the header row must name the column `{required}`"));
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        let line = csv_file::line(&record);
        let mut attendee = Attendee::default();
        let mut owners = Vec::new();
        for (header, cell) in headers.iter().zip(record.iter()) {
            if header.eq_ignore_ascii_case(OWNERS) {
                owners = cell
                    .split(MULTI_VALUE_SEPARATOR)
                    .map(str::to_owned)
                    .collect();
            } else {
                attendee.set(header, cell);
            }
        }
        rows.push((format!("line {line}"), Row::new(attendee, owners)));
    }
    Ok(keep_complete(rows))
}

/// The HTTP source: `[fetch_attendee.http]` checked under its keys, the URL's placeholders
/// being the search elements and `OwnerLoginID`, each attendee object mapped by
/// `[fetch_attendee.http.fields]` (an element not mapped is read from its own name).
fn http_source(
    settings: &FetchAttendeeSettings,
    mode: Mode,
    problems: &mut Problems,
) -> Option<HttpSource<Row>> {
    let http = &settings.http;
    let before = problems.len();
    let mut keys: Vec<&str> = FIELDS.to_vec();
    keys.push(OWNER_LOGIN_ID);
    let template = http
        .url
        .as_deref()
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .and_then(|url| {
            crate::values::http::check_template(
                "fetch_attendee.http.url",
                url,
                |url| crate::values::template::UrlTemplate::parse_with_keys(url, &keys),
                mode,
                problems,
            )
        });
    let mut paths: BTreeMap<String, FieldPath> = FIELDS
        .iter()
        .chain([&OWNERS])
        .map(|name| ((*name).to_owned(), FieldPath::new(name)))
        .collect();
    for (name, spec) in &http.fields {
        let key = format!("fetch_attendee.http.fields.{name}");
        let canonical = FIELDS
            .iter()
            .chain([&OWNERS])
            .find(|f| f.eq_ignore_ascii_case(name));
        match canonical {
            None => problems.push(key, unknown_name(name)),
            Some(_) if spec.trim().is_empty() => {
                problems.push(key, "must name a key or a JSON pointer");
            }
            Some(canonical) => {
                paths.insert((*canonical).to_owned(), FieldPath::new(spec.trim()));
            }
        }
    }
    let common = HttpSettings {
        url: http.url.clone(),
        headers: http.headers.clone(),
        bearer_token: http.bearer_token.clone(),
        bearer_token_file: http.bearer_token_file.clone(),
        timeout: settings.timeout,
        cache_ttl: http.cache_ttl,
        cache_max_bytes: http.cache_max_bytes,
        max_response_bytes: http.max_response_bytes,
        items: http.items.clone(),
        extra_ca_file: http.extra_ca_file.clone(),
        ..HttpSettings::default()
    };
    let items = http.items.clone();
    let source = HttpSource::build(
        &common,
        "fetch_attendee.http",
        template,
        problems,
        Box::new(move |answer| map_answer(answer, &items, &paths)),
    );
    if problems.len() > before {
        None
    } else {
        source
    }
}

/// The attendee objects of one answer as rows; an element that is not an object, or a
/// field that is not text, gives an unusable answer; incomplete attendees are dropped.
fn map_answer(
    answer: &Value,
    items: &str,
    paths: &BTreeMap<String, FieldPath>,
) -> Result<Vec<Row>, LookupError> {
    let bad = |reason: String| LookupError::BadResponse { reason };
    let list = answer
        .pointer(items)
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("no array at `{items}` in the answer")))?;
    let mut rows = Vec::with_capacity(list.len());
    for (index, element) in list.iter().enumerate() {
        if !element.is_object() {
            return Err(bad(format!("element {index} is not an object")));
        }
        let mut attendee = Attendee::default();
        let mut owners = Vec::new();
        for (name, path) in paths {
            let Some(value) = path.get(element).filter(|v| !v.is_null()) else {
                continue;
            };
            let described = || format!("element {index} has no text at `{}`", path.describe());
            if name == OWNERS {
                owners = attribute_values(value).ok_or_else(|| bad(described()))?;
            } else {
                attendee.set(name, scalar(value).ok_or_else(|| bad(described()))?);
            }
        }
        rows.push((
            format!("lookup answer element {index}"),
            Row::new(attendee, owners),
        ));
    }
    Ok(keep_complete(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problem_keys(settings: &FetchAttendeeSettings) -> Vec<String> {
        Attendees::from_settings(settings, Mode::Production)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.key)
            .collect()
    }

    #[test]
    fn csv_rows_are_read_by_element_name_and_incomplete_ones_dropped() {
        let csv = "\u{feff}externalid,FirstName,LastName,Company,owners,Custom21\n\
                   # comment\n\
                   E1,Ana,Lima,\"Len Dev, Inc\",ana@x.com|Bo@x.com,t\n\
                   E2,,Okafor,,,\n\
                   E3,Dana,Okafor,,,\n";
        let rows = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].attendee.get("Company"), "Len Dev, Inc");
        assert_eq!(rows[0].attendee.get("custom21"), "t");
        assert_eq!(rows[0].owners, ["ana@x.com", "bo@x.com"]);
        assert!(rows[0].visible_to(Some("BO@x.com")));
        assert!(!rows[0].visible_to(Some("cm@x.com")));
        assert!(!rows[0].visible_to(None));
        assert!(rows[1].visible_to(None), "no owners: every owner");
        assert_eq!(rows[1].attendee.get("ExternalID"), "E3");
    }

    #[test]
    fn bad_csv_headers_are_refused_with_a_reason() {
        for (csv, why) in [
            ("ExternalID,FirstName\nA,B\n", "`LastName`"),
            (
                "ExternalID,FirstName,LastName,Nickname\n",
                "`Nickname` is not",
            ),
            ("ExternalID,FirstName,LastName,lastname\n", "appears twice"),
            ("ExternalID,FirstName,LastName,\n", "no name"),
            ("ExternalID,FirstName,LastName\nA,B,C,D\n", "fields"),
        ] {
            let error = parse_csv(csv.as_bytes()).unwrap_err();
            assert!(error.contains(why), "{csv:?}: {error}");
        }
    }

    #[test]
    fn answers_are_mapped_by_element_name_or_configured_path() {
        let mut paths: BTreeMap<String, FieldPath> = FIELDS
            .iter()
            .chain([&OWNERS])
            .map(|n| ((*n).to_owned(), FieldPath::new(n)))
            .collect();
        paths.insert("LastName".into(), FieldPath::new("/name/last"));
        paths.insert("ExternalID".into(), FieldPath::new("id"));
        let answer = json!({"data": [
            {"id": 7, "FirstName": "Ana", "name": {"last": "Lima"}, "owners": ["a@x"]},
            {"id": 8, "FirstName": "Bo"},
        ]});
        let rows = map_answer(&answer, "/data", &paths).unwrap();
        assert_eq!(rows.len(), 1, "the one without a LastName is dropped");
        assert_eq!(rows[0].attendee.get("ExternalID"), "7");
        assert_eq!(rows[0].attendee.get("LastName"), "Lima");
        assert_eq!(rows[0].owners, ["a@x"]);
        let error = map_answer(&json!([{"FirstName": {"x": 1}}]), "", &paths).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("element 0 has no text at `FirstName`")
        );
        assert!(map_answer(&json!({}), "", &paths).is_err());
        assert!(map_answer(&json!(["x"]), "", &paths).is_err());
    }

    #[test]
    fn bad_settings_are_named() {
        let mut s = FetchAttendeeSettings {
            timeout: Duration::ZERO,
            source: AttendeeSourceKind::Csv,
            ..FetchAttendeeSettings::default()
        };
        assert_eq!(
            problem_keys(&s),
            ["fetch_attendee.timeout", "fetch_attendee.csv.path"]
        );
        s.timeout = Duration::from_secs(1);
        s.source = AttendeeSourceKind::Http;
        assert_eq!(problem_keys(&s), ["fetch_attendee.http.url"]);
        s.enabled = false;
        assert!(
            problem_keys(&s).is_empty(),
            "a disabled service reads no source"
        );
        s.enabled = true;
        s.http.url = Some("https://crm.example/a?l={LastName}&o={ownerloginid}".into());
        assert!(problem_keys(&s).is_empty());
        s.http.url = Some("https://crm.example/a?q={search}".into());
        s.http.fields.insert("Nick".into(), "nick".into());
        s.http.fields.insert("Title".into(), " ".into());
        assert_eq!(
            problem_keys(&s),
            [
                "fetch_attendee.http.url",
                "fetch_attendee.http.fields.Nick",
                "fetch_attendee.http.fields.Title"
            ]
        );
        s.http = AttendeeHttpSettings {
            url: Some("http://crm.example/a".into()),
            ..AttendeeHttpSettings::default()
        };
        assert_eq!(problem_keys(&s), ["fetch_attendee.http.url"], "https only");
        s.source = AttendeeSourceKind::Inline;
        s.inline = vec![InlineAttendee(BTreeMap::from([
            ("Nick".to_owned(), json!("x")),
            ("Title".to_owned(), json!({"a": 1})),
            ("owners".to_owned(), json!({"a": 1})),
        ]))];
        assert_eq!(
            problem_keys(&s),
            [
                "fetch_attendee.inline[0].Nick",
                "fetch_attendee.inline[0].Title",
                "fetch_attendee.inline[0].owners"
            ]
        );
    }
}
