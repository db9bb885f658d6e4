//! What Concur sends on a Fetch List, Fetch Attendee or Event Notification callout, and how
//! strictly it reads the answer (docs/protocol.md §12.7).
//!
//! The simulator and `concur-connector try` use this module to play Concur against a
//! connector. It is written independently of the connector's own request parsers and
//! response renderers, so a bug there cannot hide itself: the requests are laid out like
//! Concur's published examples, and the judges check every documented rule of the answer
//! (status, headers, schema, limits) and list each breach as a [`Finding`].

use std::time::Duration;

use super::xml::{self, Element};

/// Where Concur sends Fetch List requests unless the registration names another endpoint.
pub const DEFAULT_FETCH_LIST_PATH: &str = "/concur/list/v1.2/fetch";
/// Where Concur sends Fetch Attendee requests by default (`v2.0` in the path selects the
/// documented schema).
pub const DEFAULT_FETCH_ATTENDEE_PATH: &str = "/concur/attendee/v2.0/fetch";
/// Concur's system limit on the items of one Fetch List answer.
pub const LIST_SYSTEM_LIMIT: u32 = 100;
/// Where Concur sends Event Notifications by default.
pub const DEFAULT_NOTIFY_PATH: &str = "/concur/v1.0/notify";
/// Concur's own example notification, verbatim (its ObjectURI's `%R`, `%KL` are not escapes).
pub const NOTIFICATION_EXAMPLE: &str = include_str!("notification_example.xml");
/// Concur's limit on the attendees of one Fetch Attendee answer (raised from 100 in 2023).
pub const ATTENDEE_SYSTEM_LIMIT: u32 = 500;
/// Above this latency the judge warns: Concur documents no callout timeout, and its users wait
/// for a drop-down or a search result.
pub const SLOW_ANSWER: Duration = Duration::from_secs(3);
/// Above this latency the judge fails the answer: Concur's generic web-service rules expect an
/// answer within 60 seconds.
pub const TOO_SLOW_ANSWER: Duration = Duration::from_secs(60);

/// `Custom1` … `Custom25`, the last elements of both the Fetch Attendee request and its
/// answer.
fn attendee_custom_elements() -> impl Iterator<Item = String> {
    (1..=25).map(|i| format!("Custom{i}"))
}

/// The Fetch Attendee request's elements (35), in the order Concur sends them.
pub fn attendee_request_elements() -> Vec<String> {
    [
        "AttendeeTypeCode",
        "FirstName",
        "MiddleInitial",
        "LastName",
        "Suffix",
        "Title",
        "Company",
        "ExternalID",
        "OwnerLoginID",
        "MaximumNumberRecords",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(attendee_custom_elements())
    .collect()
}

/// Every element an answered `<Attendee>` must carry (33), in the documented response
/// order, with its response length limit in characters (`Custom1`…`Custom20` 100,
/// `Custom21`…`Custom25` 48).
pub fn attendee_response_elements() -> Vec<(String, usize)> {
    [
        ("ExternalID", 32),
        ("FirstName", 50),
        ("MiddleInitial", 1),
        ("LastName", 132),
        ("Suffix", 32),
        ("Company", 150),
        ("AttendeeTypeCode", 8),
        ("Title", 32),
    ]
    .into_iter()
    .map(|(name, max)| (name.to_owned(), max))
    .chain(attendee_custom_elements().zip((1..=25).map(|i| if i <= 20 { 100 } else { 48 })))
    .collect()
}

/// What a Fetch List search matches: item text or item code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchBy {
    #[default]
    Text,
    Code,
}

impl SearchBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "TEXT",
            Self::Code => "CODE",
        }
    }

    /// `TEXT` or `CODE`, any case.
    pub fn parse(text: &str) -> Option<Self> {
        if text.eq_ignore_ascii_case("TEXT") {
            Some(Self::Text)
        } else if text.eq_ignore_ascii_case("CODE") {
            Some(Self::Code)
        } else {
            None
        }
    }
}

/// One Fetch List request as Concur sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchListCall {
    /// The codes of the already chosen parent levels, level 1 first; empty when searching a
    /// single-level list or the first level of a connected list.
    pub levels: Vec<String>,
    /// The search text; `*` is a wildcard (`*` alone: every item).
    pub query: String,
    pub search_by: SearchBy,
    /// The user's language (`EN`).
    pub lang: String,
    /// How many items Concur wants at most.
    pub num_to_return: u32,
    /// Sent empty by Concur today.
    pub list_name: String,
}

impl FetchListCall {
    /// A text search with the example's defaults: language `EN`, 80 items, top level.
    pub fn new(query: &str) -> Self {
        Self {
            levels: Vec::new(),
            query: query.to_owned(),
            search_by: SearchBy::Text,
            lang: "EN".to_owned(),
            num_to_return: 80,
            list_name: String::new(),
        }
    }

    /// The parent codes joined with `-` (empty at the top level).
    pub fn long_code(&self) -> String {
        self.levels.join("-")
    }

    /// The code of the nearest parent (empty at the top level).
    pub fn short_code(&self) -> &str {
        self.levels.last().map_or("", String::as_str)
    }

    /// The most items an answer may hold: `min(num-to-return, 100)`.
    pub fn limit(&self) -> u32 {
        self.num_to_return.min(LIST_SYSTEM_LIMIT)
    }

    /// The `code` an answered item with this short code must carry: the long code, `-`, the
    /// short code; the short code alone at the top level.
    pub fn expected_code(&self, short_code: &str) -> String {
        if self.levels.is_empty() {
            short_code.to_owned()
        } else {
            format!("{}-{short_code}", self.long_code())
        }
    }

    /// The request body, laid out like Concur's examples (declaration, four-space indent,
    /// `code-by-level` only below the top level).
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" ?>\n<fetch-list-request>\n");
        let open = |out: &mut String, name: &str, text: &str| {
            out.push_str("    <");
            out.push_str(name);
            out.push('>');
            out.push_str(&xml::escape(text));
            out.push_str("</");
            out.push_str(name);
            out.push_str(">\n");
        };
        open(&mut out, "long-code", &self.long_code());
        open(&mut out, "short-code", self.short_code());
        open(&mut out, "query", &self.query);
        open(&mut out, "search-by", self.search_by.as_str());
        open(&mut out, "lang-code", &self.lang);
        open(&mut out, "num-to-return", &self.num_to_return.to_string());
        out.push_str("    <protected-list-key />\n");
        if self.list_name.is_empty() {
            out.push_str("    <list-name />\n");
        } else {
            open(&mut out, "list-name", &self.list_name);
        }
        out.push_str("    <connector-version />\n    <config-options />\n");
        if !self.levels.is_empty() {
            out.push_str("    <code-by-level>\n");
            for (index, code) in self.levels.iter().enumerate() {
                out.push_str("    ");
                open(&mut out, &format!("level{}", index + 1), code);
            }
            out.push_str("    </code-by-level>\n");
        }
        out.push_str("</fetch-list-request>\n");
        out
    }
}

/// One Fetch Attendee request as Concur sends it: the search form's values, the report
/// owner's login id and the most records Concur wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendeeCall {
    pub attendee_type_code: String,
    pub first_name: String,
    pub middle_initial: String,
    pub last_name: String,
    pub suffix: String,
    pub title: String,
    pub company: String,
    pub external_id: String,
    pub owner_login_id: String,
    pub maximum_number_records: u32,
    /// `Custom1` … `Custom25`.
    pub custom: [String; 25],
}

impl Default for AttendeeCall {
    fn default() -> Self {
        Self {
            attendee_type_code: "BUSGUEST".to_owned(),
            first_name: String::new(),
            middle_initial: String::new(),
            last_name: String::new(),
            suffix: String::new(),
            title: String::new(),
            company: String::new(),
            external_id: String::new(),
            owner_login_id: String::new(),
            maximum_number_records: ATTENDEE_SYSTEM_LIMIT,
            custom: Default::default(),
        }
    }
}

impl AttendeeCall {
    /// The most attendees an answer may hold: `min(MaximumNumberRecords, 500)`.
    pub fn limit(&self) -> u32 {
        self.maximum_number_records.min(ATTENDEE_SYSTEM_LIMIT)
    }

    /// The values in request order (see [`ATTENDEE_REQUEST_ELEMENTS`]).
    fn values(&self) -> Vec<String> {
        let mut values = vec![
            self.attendee_type_code.clone(),
            self.first_name.clone(),
            self.middle_initial.clone(),
            self.last_name.clone(),
            self.suffix.clone(),
            self.title.clone(),
            self.company.clone(),
            self.external_id.clone(),
            self.owner_login_id.clone(),
            self.maximum_number_records.to_string(),
        ];
        values.extend(self.custom.iter().cloned());
        values
    }

    /// The request body, laid out like Concur's example: no declaration, all 35 elements,
    /// empty ones as `<X />`.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<AttendeeSearchRequest>\n    <Attendee>\n");
        for (name, value) in attendee_request_elements().iter().zip(self.values()) {
            out.push_str("        <");
            out.push_str(name);
            if value.is_empty() {
                out.push_str(" />\n");
            } else {
                out.push('>');
                out.push_str(&xml::escape(&value));
                out.push_str("</");
                out.push_str(name);
                out.push_str(">\n");
            }
        }
        out.push_str("    </Attendee>\n</AttendeeSearchRequest>\n");
        out
    }
}

/// One Event Notification as Concur sends it; the default is Concur's own example
/// ([`NOTIFICATION_EXAMPLE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationCall {
    pub event_type: String,
    pub object_type: String,
    /// Sent as given: Concur's report keys hold `%` and `$` that are not escapes.
    pub object_uri: String,
    pub event_date_time: String,
    pub context: String,
}

impl Default for NotificationCall {
    fn default() -> Self {
        Self {
            event_type: "Report Entered Expense Report Workflow Step - SUBMIT".to_owned(),
            object_type: "EXPRPT".to_owned(),
            object_uri: "https://www.concursolutions.com/api/expense/expensereport/v1.1/reportfulldetails/3%Rek29$wsIY12Di3LS9$gjei%KL23".to_owned(),
            event_date_time: "2012-05-01".to_owned(),
            context: String::new(),
        }
    }
}

impl NotificationCall {
    /// The body, laid out like Concur's example (declaration, one element a line, an
    /// empty `Context` as `<Context/>`).
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<Notification>\n");
        for (name, value) in [
            ("EventType", &self.event_type),
            ("ObjectType", &self.object_type),
            ("ObjectURI", &self.object_uri),
            ("EventDateTime", &self.event_date_time),
            ("Context", &self.context),
        ] {
            if value.is_empty() {
                out.push_str(&format!("    <{name}/>\n"));
            } else {
                out.push_str(&format!("    <{name}>{}</{name}>\n", xml::escape(value)));
            }
        }
        out.push_str("</Notification>");
        out
    }
}

/// Above this the acknowledgement of a notification is judged slow: the connector should
/// store it and answer at once, deciding later.
pub const SLOW_ACKNOWLEDGEMENT: Duration = Duration::from_secs(1);

/// A latency finding for a notification's acknowledgement: a warning above
/// [`SLOW_ACKNOWLEDGEMENT`], an error above [`TOO_SLOW_ANSWER`].
pub fn judge_acknowledgement_latency(latency: Duration) -> Option<Finding> {
    let millis = latency.as_millis();
    if latency > TOO_SLOW_ANSWER {
        judge_latency(latency)
    } else if latency > SLOW_ACKNOWLEDGEMENT {
        Some(Finding {
            severity: Severity::Warning,
            message: format!(
                "the acknowledgement took {millis} ms; store the notification and answer at \
                 once (well under a second), then decide"
            ),
        })
    } else {
        None
    }
}

/// Judges the acknowledgement of an Event Notification as Concur reads it: only `200`
/// takes the notification off Concur's queue (anything else leaves it FAILED). Concur
/// documents `application/txt` and reads no body, so any text type is fine.
pub fn judge_notification(answer: &Answer<'_>) -> Verdict<String> {
    let mut verdict = Verdict {
        findings: Vec::new(),
        items: Vec::new(),
    };
    if answer.status != 200 {
        verdict.error(format!(
            "status {}, Concur expects 200; it keeps the notification as FAILED",
            answer.status
        ));
    }
    framing(answer, &mut verdict);
    if let Some(value) = answer.header("content-type") {
        let media = media_type(value);
        if !media.starts_with("text/") && media != "application/txt" {
            verdict.warning(format!(
                "Content-Type {value:?}; Concur documents application/txt (text/plain is fine)"
            ));
        }
    }
    let body = String::from_utf8_lossy(answer.body);
    verdict.items = body.lines().map(str::to_owned).collect();
    verdict
}

/// How bad a finding is: an error makes Concur fail or misbehave; a warning is allowed but
/// risky.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One breach of Concur's rules found in an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{label}: {}", self.message)
    }
}

/// The judge's result: every finding, and what Concur would show from the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict<T> {
    pub findings: Vec<Finding>,
    /// The items (or attendees) read from the answer, also when there are findings.
    pub items: Vec<T>,
}

impl<T> Verdict<T> {
    /// No error finding: Concur would accept the answer.
    pub fn passed(&self) -> bool {
        self.errors().next().is_none()
    }

    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// Adds the latency finding, if any (see [`judge_latency`]).
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.findings.extend(judge_latency(latency));
        self
    }

    fn error(&mut self, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Error,
            message: message.into(),
        });
    }

    fn warning(&mut self, message: impl Into<String>) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            message: message.into(),
        });
    }
}

/// One item of a Fetch List answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem {
    pub code: String,
    pub short_code: String,
    pub text: String,
    pub match_value: String,
}

/// One attendee of a Fetch Attendee answer: every element it carried, by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attendee {
    pub values: Vec<(String, String)>,
}

impl Attendee {
    /// The trimmed value of an element (`""` when absent or empty).
    pub fn get(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.trim())
    }
}

/// The parts of an HTTP answer the judges read.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub status: u16,
    /// Header names and values as received (names compared case-insensitively).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Answer<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer as the caller's HTTP client received it (status, headers, body read up to a
/// bound) and how long it took; [`Received::answer`] is what the judges take.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub status: u16,
    /// Header names and values as received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// From sending the request to the end of the body.
    pub latency: Duration,
}

impl Received {
    /// The answer to judge.
    pub fn answer(&self) -> Answer<'_> {
        Answer {
            status: self.status,
            headers: &self.headers,
            body: &self.body,
        }
    }

    /// Adds the next chunk of the body; an answer longer than `max` bytes is refused
    /// instead of read whole.
    pub fn push_body(&mut self, chunk: &[u8], max: usize) -> Result<(), String> {
        if self.body.len() + chunk.len() > max {
            return Err(format!("the answer is larger than {max} bytes"));
        }
        self.body.extend_from_slice(chunk);
        Ok(())
    }
}

/// A latency finding: a warning above [`SLOW_ANSWER`], an error above [`TOO_SLOW_ANSWER`].
pub fn judge_latency(latency: Duration) -> Option<Finding> {
    let millis = latency.as_millis();
    if latency > TOO_SLOW_ANSWER {
        Some(Finding {
            severity: Severity::Error,
            message: format!(
                "the answer took {millis} ms; Concur expects web services to answer within 60 s"
            ),
        })
    } else if latency > SLOW_ANSWER {
        Some(Finding {
            severity: Severity::Warning,
            message: format!(
                "the answer took {millis} ms; the user waits for it, answer within a few seconds"
            ),
        })
    } else {
        None
    }
}

/// Judges a Fetch List answer as Concur reads it.
pub fn judge_fetch_list(call: &FetchListCall, answer: &Answer<'_>) -> Verdict<ListItem> {
    let mut verdict = Verdict {
        findings: Vec::new(),
        items: Vec::new(),
    };
    let Some(root) = envelope(answer, "fetch-list-response", &mut verdict) else {
        return verdict;
    };
    for (index, child) in root.children.iter().enumerate() {
        let at = format!("element {} <{}>", index + 1, child.name);
        if child.name != "item" {
            verdict.warning(format!("{at}: not an <item>, Concur ignores it"));
            continue;
        }
        let text_of = |name: &str| child.child_text(name).unwrap_or_default().to_owned();
        let item = ListItem {
            code: text_of("code"),
            short_code: text_of("short-code"),
            text: text_of("text"),
            match_value: text_of("match-value"),
        };
        let at = format!("item {}", index + 1);
        for (name, value) in [
            ("code", &item.code),
            ("short-code", &item.short_code),
            ("text", &item.text),
            ("match-value", &item.match_value),
        ] {
            if value.is_empty() {
                verdict.error(format!("{at}: <{name}> is required and missing or empty"));
            }
        }
        if !item.short_code.is_empty() {
            let expected = call.expected_code(&item.short_code);
            if !item.code.is_empty() && item.code != expected {
                verdict.error(format!(
                    "{at}: <code> is {:?}, expected {expected:?} (the request's long code, \
                     '-', the item's short code; the short code alone at the top level)",
                    item.code
                ));
            }
            if item.short_code.contains('-') {
                verdict.warning(format!(
                    "{at}: <short-code> {:?} contains '-', Concur's level separator",
                    item.short_code
                ));
            }
        }
        if verdict.items.iter().any(|i| i.code == item.code) && !item.code.is_empty() {
            verdict.warning(format!("{at}: code {:?} appears twice", item.code));
        }
        verdict.items.push(item);
    }
    let limit = call.limit();
    if verdict.items.len() > limit as usize {
        verdict.error(format!(
            "{} items, more than min(num-to-return {}, {LIST_SYSTEM_LIMIT}) = {limit}",
            verdict.items.len(),
            call.num_to_return
        ));
    }
    verdict
}

/// Judges a Fetch Attendee answer as Concur reads it.
pub fn judge_attendees(call: &AttendeeCall, answer: &Answer<'_>) -> Verdict<Attendee> {
    let mut verdict = Verdict {
        findings: Vec::new(),
        items: Vec::new(),
    };
    let Some(root) = envelope(answer, "AttendeeSearchResponse", &mut verdict) else {
        return verdict;
    };
    for (index, child) in root.children.iter().enumerate() {
        if child.name != "Attendee" {
            verdict.warning(format!(
                "element {} <{}>: not an <Attendee>, Concur ignores it",
                index + 1,
                child.name
            ));
            continue;
        }
        let at = format!("attendee {}", index + 1);
        judge_attendee(child, &at, &mut verdict);
        verdict.items.push(Attendee {
            values: child
                .children
                .iter()
                .map(|c| (c.name.clone(), c.text.trim().to_owned()))
                .collect(),
        });
    }
    let limit = call.limit();
    if verdict.items.len() > limit as usize {
        verdict.error(format!(
            "{} attendees, more than min(MaximumNumberRecords {}, {ATTENDEE_SYSTEM_LIMIT}) = \
             {limit}; Concur asks the user to refine the search",
            verdict.items.len(),
            call.maximum_number_records
        ));
    }
    verdict
}

/// Every response element present, in the documented order, required ones filled, within
/// the response length limits.
fn judge_attendee(element: &Element, at: &str, verdict: &mut Verdict<Attendee>) {
    let elements = attendee_response_elements();
    let known = |name: &str| elements.iter().any(|(n, _)| n == name);
    let present: Vec<&str> = element
        .children
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| known(n))
        .collect();
    for child in element.children.iter().filter(|c| !known(&c.name)) {
        verdict.warning(format!(
            "{at}: <{}> is not a response element, Concur ignores it",
            child.name
        ));
    }
    let mut missing = Vec::new();
    for (name, max) in &elements {
        let (name, max) = (name.as_str(), *max);
        let Some(child) = element.child(name).filter(|c| c.name == name) else {
            missing.push(name);
            continue;
        };
        let value = child.text.trim();
        let length = value.chars().count();
        if length > max {
            verdict.error(format!(
                "{at}: <{name}> has {length} characters, the response limit is {max}"
            ));
        }
        if matches!(name, "FirstName" | "LastName" | "ExternalID") && value.is_empty() {
            verdict.error(format!("{at}: <{name}> must have a value"));
        }
    }
    if !missing.is_empty() {
        verdict.error(format!(
            "{at}: every response element is required, missing: {}",
            missing.join(", ")
        ));
    } else {
        let expected: Vec<&str> = elements.iter().map(|(n, _)| n.as_str()).collect();
        if present != expected {
            verdict.error(format!(
                "{at}: the elements are not in the documented order ({})",
                expected.join(", ")
            ));
        }
    }
}

/// Status, headers and the document: returns the root when it is the expected one.
/// A content type's media type, lower-cased, without parameters.
fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The framing every callout answer needs: a `Content-Length` that matches, no chunking.
fn framing<T>(answer: &Answer<'_>, verdict: &mut Verdict<T>) {
    if answer
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        verdict.error("chunked Transfer-Encoding, which Concur does not support");
    }
    match answer.header("content-length") {
        None => verdict.error("no Content-Length; Concur needs it (no chunked answers)"),
        Some(value) => match value.trim().parse::<usize>() {
            Ok(length) if length == answer.body.len() => {}
            _ => verdict.error(format!(
                "Content-Length {value:?} does not match the body's {} bytes",
                answer.body.len()
            )),
        },
    }
}

fn envelope<T>(answer: &Answer<'_>, root_name: &str, verdict: &mut Verdict<T>) -> Option<Element> {
    if answer.status != 200 {
        verdict.error(format!(
            "status {}, Concur expects 200 and shows the user an error",
            answer.status
        ));
        return None;
    }
    match answer.header("content-type") {
        None => verdict.error("no Content-Type, Concur expects application/xml"),
        Some(value) => {
            let media = media_type(value);
            if media != "application/xml" && media != "text/xml" {
                verdict.error(format!(
                    "Content-Type {value:?}, Concur expects application/xml"
                ));
            }
        }
    }
    framing(answer, verdict);
    let root = match xml::parse(answer.body) {
        Ok(root) => root,
        Err(error) => {
            verdict.error(format!(
                "the body is not an XML document Concur reads: {error}"
            ));
            return None;
        }
    };
    if root.name != root_name {
        verdict.error(format!(
            "the root element is <{}>, expected <{root_name}>",
            root.name
        ));
        return None;
    }
    Some(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Concur's multi-level example response (cities under US / W / CA).
    const LIST_EXAMPLE: &str = "<fetch-list-response>
    <item><code>US-W-CA-SF</code><short-code>SF</short-code><text>San Francisco</text><match-value>San Francisco</match-value></item>
    <item><code>US-W-CA-SD</code><short-code>SD</short-code><text>San Diego</text><match-value>San Diego</match-value></item>
    <item><code>US-W-CA-SJ</code><short-code>SJ</short-code><text>San Jose</text><match-value>San Jose</match-value></item>
</fetch-list-response>";

    fn cities() -> FetchListCall {
        FetchListCall {
            levels: vec!["US".into(), "W".into(), "CA".into()],
            ..FetchListCall::new("San*")
        }
    }

    fn xml_headers(body: &str) -> Vec<(String, String)> {
        vec![
            ("Content-Type".into(), "application/xml".into()),
            ("Content-Length".into(), body.len().to_string()),
        ]
    }

    fn list(call: &FetchListCall, body: &str) -> Verdict<ListItem> {
        let headers = xml_headers(body);
        judge_fetch_list(
            call,
            &Answer {
                status: 200,
                headers: &headers,
                body: body.as_bytes(),
            },
        )
    }

    fn attendees(call: &AttendeeCall, body: &str) -> Verdict<Attendee> {
        let headers = xml_headers(body);
        judge_attendees(
            call,
            &Answer {
                status: 200,
                headers: &headers,
                body: body.as_bytes(),
            },
        )
    }

    fn messages<T>(verdict: &Verdict<T>) -> String {
        verdict
            .findings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn one_error<T>(verdict: &Verdict<T>, needle: &str) {
        let errors: Vec<_> = verdict.errors().collect();
        assert_eq!(errors.len(), 1, "{}", messages(verdict));
        assert!(errors[0].message.contains(needle), "{}", messages(verdict));
    }

    #[test]
    fn a_received_body_is_bounded() {
        let mut received = Received::default();
        received.push_body(b"12", 4).unwrap();
        received.push_body(b"34", 4).unwrap();
        assert_eq!(
            received.push_body(b"5", 4).unwrap_err(),
            "the answer is larger than 4 bytes"
        );
        assert_eq!(received.answer().body, b"1234");
    }

    #[test]
    fn fetch_list_requests_are_laid_out_like_concurs_examples() {
        let single = FetchListCall::new("Alph*").to_xml();
        // Concur's example, byte for byte.
        assert_eq!(single, include_str!("fetch_list_example_single.xml"));
        let multi = xml::parse(cities().to_xml().as_bytes()).unwrap();
        assert_eq!(multi.child_text("long-code"), Some("US-W-CA"));
        assert_eq!(multi.child_text("short-code"), Some("CA"));
        let levels = multi.child("code-by-level").unwrap();
        let codes: Vec<_> = levels
            .children
            .iter()
            .map(|l| (l.name.as_str(), l.text.as_str()))
            .collect();
        assert_eq!(codes, [("level1", "US"), ("level2", "W"), ("level3", "CA")]);
        let escaped = FetchListCall::new("R&D <x>").to_xml();
        assert!(
            escaped.contains("<query>R&amp;D &lt;x&gt;</query>"),
            "{escaped}"
        );
    }

    #[test]
    fn attendee_requests_carry_all_35_elements_in_order() {
        let mut call = AttendeeCall {
            first_name: "Chris".into(),
            last_name: "Miller".into(),
            title: "CFO".into(),
            company: "Len Dev".into(),
            owner_login_id: "cm@example.com".into(),
            ..AttendeeCall::default()
        };
        call.custom[7] = "North America".into();
        let body = call.to_xml();
        let doc = xml::parse(body.as_bytes()).unwrap();
        assert_eq!(doc.name, "AttendeeSearchRequest");
        let attendee = doc.child("Attendee").unwrap();
        let names: Vec<_> = attendee.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, attendee_request_elements());
        assert_eq!(attendee.child_text("Custom8"), Some("North America"));
        assert_eq!(attendee.child_text("MaximumNumberRecords"), Some("500"));
        assert!(body.contains("        <MiddleInitial />\n"), "{body}");
        assert!(body.contains("<AttendeeTypeCode>BUSGUEST</AttendeeTypeCode>"));
    }

    #[test]
    fn concurs_list_examples_pass() {
        let verdict = list(&cities(), LIST_EXAMPLE);
        assert!(verdict.findings.is_empty(), "{}", messages(&verdict));
        assert_eq!(verdict.items.len(), 3);
        assert_eq!(verdict.items[0].code, "US-W-CA-SF");
        assert_eq!(verdict.items[2].text, "San Jose");
        let empty = list(&cities(), "<fetch-list-response>\n</fetch-list-response>");
        assert!(empty.findings.is_empty() && empty.items.is_empty());
        let top = list(
            &FetchListCall::new("Apo*"),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><fetch-list-response><item><code>P100</code>\
             <short-code>P100</short-code><text>Apollo</text><match-value>Apollo</match-value>\
             </item></fetch-list-response>",
        );
        assert!(
            top.passed() && top.findings.is_empty(),
            "{}",
            messages(&top)
        );
    }

    #[test]
    fn each_broken_list_item_is_one_finding() {
        let item = |code: &str, short: &str, text: &str, matched: &str| {
            format!(
                "<fetch-list-response><item><code>{code}</code><short-code>{short}</short-code>\
                 <text>{text}</text><match-value>{matched}</match-value></item></fetch-list-response>"
            )
        };
        one_error(
            &list(&cities(), &item("", "SF", "S", "S")),
            "<code> is required",
        );
        one_error(
            &list(&cities(), &item("US-W-CA-SF", "SF", "", "S")),
            "<text> is required",
        );
        one_error(
            &list(&cities(), &item("US-W-CA-SF", "SF", "S", " ")),
            "<match-value> is required",
        );
        one_error(
            &list(&cities(), &item("SF", "SF", "S", "S")),
            "expected \"US-W-CA-SF\"",
        );
        one_error(
            &list(&FetchListCall::new("*"), &item("-P100", "P100", "A", "A")),
            "expected \"P100\"",
        );
        one_error(
            &list(&cities(), "<fetch-list>\n</fetch-list>"),
            "root element",
        );
        one_error(
            &list(&cities(), "<fetch-list-response>"),
            "not an XML document",
        );
        let few = FetchListCall {
            num_to_return: 2,
            ..cities()
        };
        one_error(&list(&few, LIST_EXAMPLE), "3 items, more than");
        let many: String = (0..101)
            .map(|i| {
                format!("<item><code>C{i}</code><short-code>C{i}</short-code><text>T</text><match-value>T</match-value></item>")
            })
            .collect();
        let big = FetchListCall {
            num_to_return: 500,
            ..FetchListCall::new("*")
        };
        one_error(
            &list(
                &big,
                &format!("<fetch-list-response>{many}</fetch-list-response>"),
            ),
            "= 100",
        );
        let warned = list(
            &FetchListCall::new("*"),
            "<fetch-list-response><other/></fetch-list-response>",
        );
        assert!(warned.passed());
        assert_eq!(warned.findings[0].severity, Severity::Warning);
    }

    #[test]
    fn status_and_headers_are_judged() {
        let body = LIST_EXAMPLE.as_bytes();
        let judge = |status: u16, headers: Vec<(&str, String)>| {
            let headers: Vec<(String, String)> = headers
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect();
            judge_fetch_list(
                &cities(),
                &Answer {
                    status,
                    headers: &headers,
                    body,
                },
            )
        };
        let length = ("content-length", body.len().to_string());
        let xml_type = ("content-type", "application/xml; charset=utf-8".to_owned());
        assert!(
            judge(200, vec![xml_type.clone(), length.clone()])
                .findings
                .is_empty()
        );
        one_error(
            &judge(500, vec![xml_type.clone(), length.clone()]),
            "status 500",
        );
        one_error(
            &judge(
                200,
                vec![("Content-Type", "text/html".into()), length.clone()],
            ),
            "Content-Type \"text/html\"",
        );
        one_error(&judge(200, vec![length.clone()]), "no Content-Type");
        one_error(&judge(200, vec![xml_type.clone()]), "no Content-Length");
        one_error(
            &judge(200, vec![xml_type.clone(), ("Content-Length", "3".into())]),
            "does not match",
        );
        let chunked = judge(
            200,
            vec![xml_type, length, ("Transfer-Encoding", "chunked".into())],
        );
        one_error(&chunked, "chunked");
    }

    /// Concur's example attendee answer.
    fn chris() -> String {
        let mut body = String::from(
            "<AttendeeSearchResponse><Attendee><ExternalID>1234567890</ExternalID>\
             <FirstName>Chris</FirstName><MiddleInitial>T</MiddleInitial><LastName>Miller</LastName>\
             <Suffix/><Company>Len Dev</Company><AttendeeTypeCode>BUSGUEST</AttendeeTypeCode>\
             <Title>CFO</Title>",
        );
        for n in 1..=25 {
            match n {
                7 => body.push_str("<Custom7>RD</Custom7>"),
                8 => body.push_str("<Custom8>North America</Custom8>"),
                21 => body.push_str("<Custom21>Tax ID 1234</Custom21>"),
                _ => body.push_str(&format!("<Custom{n}/>")),
            }
        }
        body.push_str("</Attendee></AttendeeSearchResponse>");
        body
    }

    #[test]
    fn concurs_attendee_examples_pass() {
        let call = AttendeeCall::default();
        let verdict = attendees(&call, &chris());
        assert!(verdict.findings.is_empty(), "{}", messages(&verdict));
        assert_eq!(verdict.items.len(), 1);
        assert_eq!(verdict.items[0].get("ExternalID"), "1234567890");
        assert_eq!(verdict.items[0].get("Custom8"), "North America");
        let none = attendees(
            &call,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<AttendeeSearchResponse/>",
        );
        assert!(none.findings.is_empty() && none.items.is_empty());
    }

    #[test]
    fn each_broken_attendee_is_one_finding() {
        let call = AttendeeCall::default();
        let example = chris();
        one_error(
            &attendees(&call, &example.replace("<Suffix/>", "")),
            "missing: Suffix",
        );
        one_error(
            &attendees(&call, &example.replace("1234567890", "")),
            "<ExternalID> must have a value",
        );
        one_error(
            &attendees(
                &call,
                &example.replace("<FirstName>Chris</FirstName>", "<FirstName/>"),
            ),
            "<FirstName> must have a value",
        );
        one_error(
            &attendees(&call, &example.replace("1234567890", &"9".repeat(33))),
            "<ExternalID> has 33 characters, the response limit is 32",
        );
        one_error(
            &attendees(&call, &example.replace("Tax ID 1234", &"x".repeat(49))),
            "limit is 48",
        );
        let swapped = example
            .replace("<Title>CFO</Title>", "")
            .replace("<Suffix/>", "<Suffix/><Title>CFO</Title>");
        one_error(&attendees(&call, &swapped), "documented order");
        let two = example.replace(
            "</AttendeeSearchResponse>",
            &chris()
                .replace("<AttendeeSearchResponse>", "")
                .replace("1234567890", "22"),
        );
        let one = AttendeeCall {
            maximum_number_records: 1,
            ..AttendeeCall::default()
        };
        one_error(&attendees(&one, &two), "2 attendees, more than");
        one_error(&attendees(&call, "<AttendeeSearch/>"), "root element");
        let extra = attendees(
            &call,
            &example.replace("<Custom25/>", "<Custom25/><OwnerLoginID>x</OwnerLoginID>"),
        );
        assert!(extra.passed());
        assert_eq!(extra.findings.len(), 1, "{}", messages(&extra));
    }

    fn acknowledgement(status: u16, headers: &[(&str, &str)], body: &str) -> Verdict<String> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        judge_notification(&Answer {
            status,
            headers: &headers,
            body: body.as_bytes(),
        })
    }

    #[test]
    fn the_default_notification_is_concurs_example_byte_for_byte() {
        assert_eq!(NotificationCall::default().to_xml(), NOTIFICATION_EXAMPLE);
        let call = NotificationCall {
            object_type: "TRAVELREQ".into(),
            context: "a <b> & c".into(),
            ..NotificationCall::default()
        };
        let xml = call.to_xml();
        assert!(xml.contains("<ObjectType>TRAVELREQ</ObjectType>"), "{xml}");
        assert!(
            xml.contains("<Context>a &lt;b&gt; &amp; c</Context>"),
            "{xml}"
        );
    }

    #[test]
    fn a_notification_acknowledgement_needs_200_and_framing_only() {
        let ok = acknowledgement(
            200,
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", "0"),
            ],
            "",
        );
        assert!(ok.findings.is_empty(), "{}", messages(&ok));
        let documented = acknowledgement(
            200,
            &[
                ("Content-Type", "application/txt"),
                ("Content-Length", "17"),
            ],
            "HTTPS 200 Success",
        );
        assert!(documented.findings.is_empty(), "{}", messages(&documented));
        assert_eq!(documented.items, ["HTTPS 200 Success"]);
        one_error(
            &acknowledgement(503, &[("Content-Length", "0")], ""),
            "keeps the notification as FAILED",
        );
        one_error(&acknowledgement(200, &[], ""), "no Content-Length");
        let json = acknowledgement(
            200,
            &[
                ("Content-Type", "application/json"),
                ("Content-Length", "2"),
            ],
            "{}",
        );
        assert!(json.passed(), "{}", messages(&json));
        assert_eq!(json.findings.len(), 1, "{}", messages(&json));
    }

    #[test]
    fn an_acknowledgement_is_slow_after_a_second() {
        assert_eq!(
            judge_acknowledgement_latency(Duration::from_millis(900)),
            None
        );
        assert_eq!(
            judge_acknowledgement_latency(Duration::from_millis(1500)).map(|f| f.severity),
            Some(Severity::Warning)
        );
        assert_eq!(
            judge_acknowledgement_latency(Duration::from_secs(61)).map(|f| f.severity),
            Some(Severity::Error)
        );
    }

    #[test]
    fn latency_warns_when_slow_and_fails_past_a_minute() {
        assert_eq!(judge_latency(Duration::from_millis(200)), None);
        assert_eq!(
            judge_latency(Duration::from_secs(5)).map(|f| f.severity),
            Some(Severity::Warning)
        );
        assert_eq!(
            judge_latency(Duration::from_secs(61)).map(|f| f.severity),
            Some(Severity::Error)
        );
    }
}
