//! Event Notification: the `<Notification>` Concur posts when an expense report enters a
//! workflow step, and the failed-notification list of Concur's status API
//! (docs/protocol.md §12.4).
//!
//! Parsing is lenient where Concur's pages disagree and strict only where nothing could be
//! done: an unknown `EventType` form, an unknown `ObjectType` or an unparseable
//! `EventDateTime` is kept as written, a missing `ObjectURI` is refused (there would be no
//! report to read). `ObjectURI` is an opaque string: Concur's own example carries `%` signs
//! that are not percent-escapes, so it is never decoded.

use super::xml::{self, Element, XmlError};

/// What every documented `EventType` starts with; the rest is the workflow step's name as
/// the administrator wrote it (`SUBMIT`, `REPORT SUBMITTED`, ...).
pub const WORKFLOW_STEP_PREFIX: &str = "Report Entered Expense Report Workflow Step - ";

/// Why a body is not a notification (or a notification list) the connector can act on.
/// The messages never quote the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("the root element is <{0}>, expected <{1}>")]
    WrongRoot(String, &'static str),
    #[error("the notification has no ObjectURI: there is no report to act on")]
    MissingObjectUri,
    #[error("the failed notification has no NotificationURI: it cannot be deleted")]
    MissingNotificationUri,
    #[error("the body is not the JSON the status API sends: {0}")]
    Json(String),
}

/// What kind of object the notification is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectType {
    /// `EXPRPT`: an expense report.
    ExpenseReport,
    /// `TRAVELREQ`: a travel request (deprecated by Concur; its follow-up API is gone).
    TravelRequest,
    /// Anything else, as written (empty when the element is missing).
    Other(String),
}

impl ObjectType {
    fn parse(text: &str) -> Self {
        if text.eq_ignore_ascii_case("EXPRPT") {
            Self::ExpenseReport
        } else if text.eq_ignore_ascii_case("TRAVELREQ") {
            Self::TravelRequest
        } else {
            Self::Other(text.to_owned())
        }
    }

    /// The wire form.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ExpenseReport => "EXPRPT",
            Self::TravelRequest => "TRAVELREQ",
            Self::Other(text) => text,
        }
    }
}

/// A calendar date, with a time of day when the text had one. No time zone: Concur sends
/// none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilDateTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    /// Hour, minute, second.
    pub time: Option<(u8, u8, u8)>,
}

/// `EventDateTime` as sent, and what it means when it is one of the documented forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDateTime {
    /// The trimmed text.
    pub raw: String,
    /// `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` or `YYYY-MM-DD:HH:MM:SS` read; `None` for any
    /// other text (kept, not refused: the date is informative only).
    pub parsed: Option<CivilDateTime>,
}

impl EventDateTime {
    /// Reads the documented forms; anything else keeps only its text.
    pub fn parse(text: &str) -> Self {
        let raw = text.trim().to_owned();
        let parsed = parse_date_time(&raw);
        Self { raw, parsed }
    }
}

fn digits<T: std::str::FromStr>(text: &str, len: usize) -> Option<T> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn parse_date_time(text: &str) -> Option<CivilDateTime> {
    let (date, time) = match text.get(10..) {
        None | Some("") => (text, None),
        Some(rest) => {
            let separator = rest.as_bytes()[0];
            if !matches!(separator, b'T' | b':') {
                return None;
            }
            (&text[..10], Some(&rest[1..]))
        }
    };
    let mut parts = date.split('-');
    let year: u16 = digits(parts.next()?, 4)?;
    let month: u8 = digits(parts.next()?, 2)?;
    let day: u8 = digits(parts.next()?, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&month) {
        return None;
    }
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=days_in_month).contains(&day) {
        return None;
    }
    let time = match time {
        None => None,
        Some(time) => {
            let mut parts = time.split(':');
            let hour: u8 = digits(parts.next()?, 2)?;
            let minute: u8 = digits(parts.next()?, 2)?;
            let second: u8 = digits(parts.next()?, 2)?;
            if parts.next().is_some() || hour > 23 || minute > 59 || second > 59 {
                return None;
            }
            Some((hour, minute, second))
        }
    };
    Some(CivilDateTime {
        year,
        month,
        day,
        time,
    })
}

/// One Event Notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The whole `EventType`, trimmed (empty when missing).
    pub event_type: String,
    pub object_type: ObjectType,
    /// The report's URL, exactly as sent (trimmed, never decoded).
    pub object_uri: String,
    /// `None` when the element is missing or empty.
    pub event_date_time: Option<EventDateTime>,
    /// `None` when the element is missing, empty or `i:nil`.
    pub context: Option<String>,
}

impl Notification {
    /// Parses a `<Notification>` body (any namespace, names compared by local name).
    pub fn parse(body: &[u8]) -> Result<Self, NotificationError> {
        Self::from_element(&xml::parse(body)?)
    }

    /// Reads a `<Notification>` element.
    pub fn from_element(element: &Element) -> Result<Self, NotificationError> {
        if !element.name.eq_ignore_ascii_case("Notification") {
            return Err(NotificationError::WrongRoot(
                element.name.clone(),
                "Notification",
            ));
        }
        Self::from_fields(|name| element.child_text(name).map(str::to_owned))
    }

    /// Builds a notification from its fields looked up by name (the XML element's children
    /// or a JSON object's members); blank values are absent.
    fn from_fields(field: impl Fn(&str) -> Option<String>) -> Result<Self, NotificationError> {
        let object_uri = field("ObjectURI").ok_or(NotificationError::MissingObjectUri)?;
        Ok(Self {
            event_type: field("EventType").unwrap_or_default(),
            object_type: ObjectType::parse(&field("ObjectType").unwrap_or_default()),
            object_uri,
            event_date_time: field("EventDateTime").map(|t| EventDateTime::parse(&t)),
            context: field("Context"),
        })
    }

    /// The workflow step's name when `EventType` has the documented form; `None` for any
    /// other form (kept, for the worker to decide).
    pub fn workflow_step(&self) -> Option<&str> {
        self.event_type
            .strip_prefix(WORKFLOW_STEP_PREFIX)
            .map(str::trim)
            .filter(|step| !step.is_empty())
    }

    /// The idempotency key: the same report entering the same step twice is one piece of
    /// work. ObjectURI and EventType, joined so that no two different pairs give one key
    /// (the EventType's length comes first).
    pub fn dedupe_key(&self) -> String {
        format!(
            "{}:{} {}",
            self.event_type.len(),
            self.event_type,
            self.object_uri
        )
    }

    /// The notification as Concur sends it (the shape [`Notification::parse`] reads).
    pub fn render(&self) -> String {
        let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8" ?><Notification>"#);
        xml::push_element(&mut out, "EventType", &self.event_type);
        xml::push_element(&mut out, "ObjectType", self.object_type.as_str());
        xml::push_element(&mut out, "ObjectURI", &self.object_uri);
        let date = self.event_date_time.as_ref().map_or("", |d| d.raw.as_str());
        xml::push_element(&mut out, "EventDateTime", date);
        xml::push_element(&mut out, "Context", self.context.as_deref().unwrap_or(""));
        out.push_str("</Notification>");
        out
    }
}

/// One entry of the status API's failed-notification list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedNotification {
    /// Where to `DELETE` the entry once it is dealt with (opaque, never decoded).
    pub notification_uri: String,
    pub notification: Notification,
}

/// The names the status API's pages give the entry's own URL.
const NOTIFICATION_URI_NAMES: [&str; 2] = ["NotificationURI", "NotificationURL"];

fn failed_from_fields(
    field: impl Fn(&str) -> Option<String>,
) -> Result<FailedNotification, NotificationError> {
    let notification_uri = NOTIFICATION_URI_NAMES
        .iter()
        .find_map(|name| field(name))
        .ok_or(NotificationError::MissingNotificationUri)?;
    Ok(FailedNotification {
        notification_uri,
        notification: Notification::from_fields(field)?,
    })
}

/// Reads the failed-notification list: `<NotificationList>` (any namespace) with
/// `<Notification>` children. The outer error is for a body that is not such a list; each
/// entry has its own result, so one unusable entry does not hide the others.
pub fn parse_failed_list_xml(
    body: &[u8],
) -> Result<Vec<Result<FailedNotification, NotificationError>>, NotificationError> {
    let root = xml::parse(body)?;
    if !root.name.eq_ignore_ascii_case("NotificationList")
        && !root.name.eq_ignore_ascii_case("NotificationsList")
    {
        return Err(NotificationError::WrongRoot(root.name, "NotificationList"));
    }
    Ok(root
        .children
        .iter()
        .filter(|c| c.name.eq_ignore_ascii_case("Notification"))
        .map(|entry| failed_from_fields(|name| entry.child_text(name).map(str::to_owned)))
        .collect())
}

/// Reads the JSON form of the failed-notification list: a bare array of objects with the
/// XML element names as members (compared ASCII-case-insensitively; `null` is absent).
pub fn parse_failed_list_json(
    body: &[u8],
) -> Result<Vec<Result<FailedNotification, NotificationError>>, NotificationError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| NotificationError::Json(e.to_string()))?;
    let serde_json::Value::Array(entries) = value else {
        return Err(NotificationError::Json("expected an array".into()));
    };
    Ok(entries
        .iter()
        .map(|entry| {
            let serde_json::Value::Object(members) = entry else {
                return Err(NotificationError::Json("an entry is not an object".into()));
            };
            failed_from_fields(|name| {
                members
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(name))
                    .and_then(|(_, value)| value.as_str())
                    .map(str::trim)
                    .filter(|text| !text.is_empty())
                    .map(str::to_owned)
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Concur's request example, verbatim (its ObjectURI has `%R`, `%KL`: not escapes).
    /// (A file shared with tests/api, `try notify` and the fuzz seeds.)
    const EXAMPLE: &str = include_str!("notification_example.xml");

    /// The status API's XML example, verbatim.
    const FAILED_XML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<NotificationList xmlns="http://www.concursolutions.com/api/notification/2012/06" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
    <Notification>
        <Context i:nil="true" />
        <EventDateTime>2012-11-14T19:45:25</EventDateTime>
        <EventType>Report Entered Expense Report Workflow Step - REPORT SUBMITTED</EventType>
        <NotificationURI>https://www.concursolutions.com/api/platform/notifications/v1.0/notification/nOB1KNTDSWUcJPMV6dPDjNc$scu6EDbt9s</NotificationURI>
        <ObjectType>EXPRPT</ObjectType>
        <ObjectURI>https://www.concursolutions.com/api/expense/expensereport/v1.1/reportfulldetails/nxxKgLlnROzz$sHcpnRHQ$pALxamClaFfdC</ObjectURI>
    </Notification>
</NotificationList>"#;

    /// The status API's JSON example, verbatim.
    const FAILED_JSON: &str = r#"[
  {
    "Context": null,
    "EventDateTime": "2012-11-14T19:45:25",
    "EventType": "Report Entered Expense Report Workflow Step - REPORT SUBMITTED",
    "NotificationURI": "https://www.concursolutions.com/api/platform/notifications/v1.0/notification/nOB1KNTDSWUcJPMV6dPDjNc$scu6EDbt9s",
    "ObjectType": "EXPRPT",
    "ObjectURI": "https://www.concursolutions.com/api/expense/expensereport/v1.1/reportfulldetails/nxxKgLlnROzz$sHcpnRHQ$pALxamClaFfdC"
  }
]"#;

    fn date(year: u16, month: u8, day: u8, time: Option<(u8, u8, u8)>) -> CivilDateTime {
        CivilDateTime {
            year,
            month,
            day,
            time,
        }
    }

    #[test]
    fn reads_concur_request_example() {
        let n = Notification::parse(EXAMPLE.as_bytes()).expect("the example parses");
        assert_eq!(
            n.event_type,
            "Report Entered Expense Report Workflow Step - SUBMIT"
        );
        assert_eq!(n.workflow_step(), Some("SUBMIT"));
        assert_eq!(n.object_type, ObjectType::ExpenseReport);
        assert_eq!(
            n.object_uri,
            "https://www.concursolutions.com/api/expense/expensereport/v1.1/reportfulldetails/3%Rek29$wsIY12Di3LS9$gjei%KL23"
        );
        let when = n.event_date_time.expect("a date");
        assert_eq!(when.raw, "2012-05-01");
        assert_eq!(when.parsed, Some(date(2012, 5, 1, None)));
        assert_eq!(n.context, None);
    }

    #[test]
    fn reads_a_namespaced_notification_and_keeps_context_text() {
        let n = Notification::parse(
            br#"<n:Notification xmlns:n="urn:x"><n:ObjectURI> u </n:ObjectURI>
            <n:Context>hello</n:Context><n:ObjectType>TRAVELREQ</n:ObjectType></n:Notification>"#,
        )
        .expect("parses");
        assert_eq!(n.object_uri, "u");
        assert_eq!(n.context.as_deref(), Some("hello"));
        assert_eq!(n.object_type, ObjectType::TravelRequest);
        assert_eq!(n.event_type, "");
        assert_eq!(n.event_date_time, None);
    }

    #[test]
    fn missing_object_uri_is_refused_and_wrong_root_too() {
        assert_eq!(
            Notification::parse(b"<Notification><ObjectURI> </ObjectURI></Notification>"),
            Err(NotificationError::MissingObjectUri)
        );
        assert!(matches!(
            Notification::parse(b"<NotificationList/>"),
            Err(NotificationError::WrongRoot(root, "Notification")) if root == "NotificationList"
        ));
        assert!(matches!(
            Notification::parse(b"<!DOCTYPE x><Notification/>"),
            Err(NotificationError::Xml(XmlError::Doctype))
        ));
    }

    #[test]
    fn unknown_event_and_object_types_are_kept() {
        let n = Notification::parse(
            b"<Notification><ObjectURI>u</ObjectURI><EventType>Report Approved</EventType>\
              <ObjectType>INVOICE</ObjectType></Notification>",
        )
        .expect("parses");
        assert_eq!(n.workflow_step(), None);
        assert_eq!(n.event_type, "Report Approved");
        assert_eq!(n.object_type, ObjectType::Other("INVOICE".into()));
    }

    #[test]
    fn event_type_prefix_matching() {
        let with = |event_type: &str| Notification {
            event_type: event_type.to_owned(),
            object_type: ObjectType::ExpenseReport,
            object_uri: "u".into(),
            event_date_time: None,
            context: None,
        };
        assert_eq!(
            with("Report Entered Expense Report Workflow Step - REPORT SUBMITTED").workflow_step(),
            Some("REPORT SUBMITTED")
        );
        assert_eq!(
            with("Report Entered Expense Report Workflow Step - External Validation - Pre-Extract")
                .workflow_step(),
            Some("External Validation - Pre-Extract")
        );
        // No step name, a different case, or the prefix without its separator.
        assert_eq!(
            with("Report Entered Expense Report Workflow Step - ").workflow_step(),
            None
        );
        assert_eq!(
            with("report entered expense report workflow step - SUBMIT").workflow_step(),
            None
        );
        assert_eq!(
            with("Report Entered Expense Report Workflow Step SUBMIT").workflow_step(),
            None
        );
    }

    #[test]
    fn every_documented_date_form() {
        for (text, expected) in [
            ("2012-05-01", date(2012, 5, 1, None)),
            (
                "2012-11-14T19:45:25",
                date(2012, 11, 14, Some((19, 45, 25))),
            ),
            (
                "2012-11-14:19:45:25",
                date(2012, 11, 14, Some((19, 45, 25))),
            ),
            ("2024-02-29", date(2024, 2, 29, None)),
            ("  2012-05-01 ", date(2012, 5, 1, None)),
        ] {
            assert_eq!(EventDateTime::parse(text).parsed, Some(expected), "{text}");
        }
    }

    #[test]
    fn undocumented_or_impossible_dates_are_kept_as_text() {
        for text in [
            "2012-13-01",
            "2023-02-29",
            "2012-04-31",
            "2012-05-01T24:00:00",
            "2012-05-01 19:45:25",
            "2012-05-01T19:45",
            "2012-05-01T19:45:25Z",
            "2012-5-1",
            "01/05/2012",
            "yesterday",
            "２０１２-05-01",
        ] {
            let parsed = EventDateTime::parse(text);
            assert_eq!(parsed.parsed, None, "{text}");
            assert_eq!(parsed.raw, text.trim());
        }
    }

    #[test]
    fn dedupe_key_is_object_and_event_and_unambiguous() {
        let n = |event_type: &str, uri: &str| Notification {
            event_type: event_type.into(),
            object_type: ObjectType::ExpenseReport,
            object_uri: uri.into(),
            event_date_time: None,
            context: None,
        };
        let a = n(
            "Report Entered Expense Report Workflow Step - SUBMIT",
            "https://x/1",
        );
        let mut later = a.clone();
        later.event_date_time = Some(EventDateTime::parse("2012-05-02"));
        later.context = Some("again".into());
        assert_eq!(a.dedupe_key(), later.dedupe_key());
        assert_ne!(a.dedupe_key(), n(&a.event_type, "https://x/2").dedupe_key());
        assert_ne!(n("a b", "c").dedupe_key(), n("a", "b c").dedupe_key());
    }

    #[test]
    fn reads_the_failed_list_xml_example() {
        let entries = parse_failed_list_xml(FAILED_XML.as_bytes()).expect("a list");
        assert_eq!(entries.len(), 1);
        let failed = entries[0].clone().expect("a usable entry");
        assert_eq!(
            failed.notification_uri,
            "https://www.concursolutions.com/api/platform/notifications/v1.0/notification/nOB1KNTDSWUcJPMV6dPDjNc$scu6EDbt9s"
        );
        assert_eq!(
            failed.notification.workflow_step(),
            Some("REPORT SUBMITTED")
        );
        assert_eq!(failed.notification.context, None);
        assert_eq!(
            failed.notification.event_date_time.and_then(|d| d.parsed),
            Some(date(2012, 11, 14, Some((19, 45, 25))))
        );
    }

    #[test]
    fn the_json_example_reads_the_same_as_the_xml_one() {
        let xml = parse_failed_list_xml(FAILED_XML.as_bytes()).expect("a list");
        let json = parse_failed_list_json(FAILED_JSON.as_bytes()).expect("a list");
        assert_eq!(xml, json);
    }

    #[test]
    fn failed_list_spellings_and_bad_entries() {
        let xml = br#"<NotificationsList>
            <Notification><NotificationURL>a</NotificationURL><ObjectURI>1</ObjectURI></Notification>
            <Notification><NotificationUrl>b</NotificationUrl><ObjectURI>2</ObjectURI></Notification>
            <Notification><ObjectURI>3</ObjectURI></Notification>
            <Notification><NotificationURI>d</NotificationURI></Notification>
        </NotificationsList>"#;
        let entries = parse_failed_list_xml(xml).expect("a list");
        let uris: Vec<_> = entries
            .iter()
            .map(|e| e.as_ref().map(|f| f.notification_uri.as_str()))
            .collect();
        assert_eq!(
            uris,
            [
                Ok("a"),
                Ok("b"),
                Err(&NotificationError::MissingNotificationUri),
                Err(&NotificationError::MissingObjectUri)
            ]
        );
        let json = br#"[{"notificationUrl":"a","objectUri":"1","Context":"c"}, 3]"#;
        let entries = parse_failed_list_json(json).expect("a list");
        assert_eq!(
            entries[0]
                .as_ref()
                .map(|f| f.notification.context.as_deref()),
            Ok(Some("c"))
        );
        assert!(matches!(entries[1], Err(NotificationError::Json(_))));
        assert!(matches!(
            parse_failed_list_json(br#"{"NotificationURI":"a"}"#),
            Err(NotificationError::Json(_))
        ));
        assert!(matches!(
            parse_failed_list_xml(b"<Notification/>"),
            Err(NotificationError::WrongRoot(_, "NotificationList"))
        ));
    }

    /// Text the XML round trip keeps: no leading or trailing whitespace (values are
    /// trimmed), no characters XML cannot carry.
    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9%$&<>\"'/:. -]{0,24}".prop_map(|s| s.trim().to_owned())
    }

    fn notification() -> impl Strategy<Value = Notification> {
        (
            text(),
            prop_oneof![
                Just(ObjectType::ExpenseReport),
                Just(ObjectType::TravelRequest),
                text()
                    .prop_filter("not a known type", |t| {
                        !t.eq_ignore_ascii_case("EXPRPT") && !t.eq_ignore_ascii_case("TRAVELREQ")
                    })
                    .prop_map(ObjectType::Other)
            ],
            text().prop_filter("present", |t| !t.is_empty()),
            proptest::option::of(
                prop_oneof![
                    text(),
                    "[0-9]{4}-[0-9]{2}-[0-9]{2}([T:][0-9]{2}:[0-9]{2}:[0-9]{2})?"
                ]
                .prop_filter("present", |t| !t.is_empty())
                .prop_map(|t| EventDateTime::parse(&t)),
            ),
            proptest::option::of(text().prop_filter("present", |t| !t.is_empty())),
        )
            .prop_map(
                |(event_type, object_type, object_uri, event_date_time, context)| Notification {
                    event_type,
                    object_type,
                    object_uri,
                    event_date_time,
                    context,
                },
            )
    }

    proptest! {
        #[test]
        fn parse_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Notification::parse(&body);
            let _ = parse_failed_list_xml(&body);
            let _ = parse_failed_list_json(&body);
        }

        #[test]
        fn parse_never_panics_on_notification_shaped_text(
            fields in proptest::collection::vec(("[A-Za-z]{1,12}", ".{0,20}"), 0..6)
        ) {
            let mut body = String::from("<Notification>");
            for (name, value) in &fields {
                body.push_str(&format!("<{name}>{value}</{name}>"));
            }
            body.push_str("</Notification>");
            let _ = Notification::parse(body.as_bytes());
        }

        #[test]
        fn a_rendered_notification_parses_back(n in notification()) {
            prop_assert_eq!(Notification::parse(n.render().as_bytes()), Ok(n));
        }
    }
}
