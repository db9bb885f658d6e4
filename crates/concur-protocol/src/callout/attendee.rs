//! Fetch Attendee v2.0 (docs/protocol.md §12.3): the search Concur sends
//! (`AttendeeSearchRequest`), the attendee record the connector answers with, the search
//! rules, and the exact response (`AttendeeSearchResponse`).
//!
//! Rules kept here:
//! - A search field that is blank is no filter; the filled fields are ANDed.
//! - Matching ignores case. `FirstName`, `LastName`, `MiddleInitial`, `Suffix` and
//!   `ExternalID` match as a prefix, every other text field (`Company`, `Title`,
//!   `Custom1`…`Custom25`) anywhere in the value; `*` in a search stands for any run of
//!   characters. `AttendeeTypeCode` must equal the attendee's type, and an attendee without a
//!   type is of every type (the answer then carries the searched type).
//! - At most `min(MaximumNumberRecords, 500)` attendees; a missing, zero or unreadable
//!   number means 500.
//! - Every `<Attendee>` of the answer carries all 33 response elements in Concur's order,
//!   blank ones as `<X/>`, each value cut to its response limit by characters. Records
//!   without a `FirstName`, `LastName` or `ExternalID` are never sent (Concur requires
//!   them); [`Attendee::missing_required`] names what lacks, so the caller can log it.
//! - The response limits differ from the request's: `ExternalID` 32 (48 in the request),
//!   `Custom21`…`Custom25` 48 (100 in the request).

use super::glob::Glob;
use super::xml::{Element, push_element};

/// Most attendees one answer may carry (Concur raised its limit from 100 to 500 in 2023).
pub const MAX_RECORDS: usize = 500;

/// How many response elements an `<Attendee>` has.
pub const FIELD_COUNT: usize = 33;

/// The response elements in the order Concur documents them.
pub const FIELDS: [&str; FIELD_COUNT] = [
    "ExternalID",
    "FirstName",
    "MiddleInitial",
    "LastName",
    "Suffix",
    "Company",
    "AttendeeTypeCode",
    "Title",
    "Custom1",
    "Custom2",
    "Custom3",
    "Custom4",
    "Custom5",
    "Custom6",
    "Custom7",
    "Custom8",
    "Custom9",
    "Custom10",
    "Custom11",
    "Custom12",
    "Custom13",
    "Custom14",
    "Custom15",
    "Custom16",
    "Custom17",
    "Custom18",
    "Custom19",
    "Custom20",
    "Custom21",
    "Custom22",
    "Custom23",
    "Custom24",
    "Custom25",
];

const EXTERNAL_ID: usize = 0;
const FIRST_NAME: usize = 1;
const LAST_NAME: usize = 3;
const ATTENDEE_TYPE_CODE: usize = 6;
/// The fields Concur requires a value in.
const REQUIRED: [usize; 3] = [FIRST_NAME, LAST_NAME, EXTERNAL_ID];
/// The fields searched as a prefix (the others anywhere in the value).
const PREFIX_FIELDS: [usize; 5] = [EXTERNAL_ID, FIRST_NAME, 2, LAST_NAME, 4];

/// The index of a response element in [`FIELDS`], by name, ignoring ASCII case.
pub fn field_index(name: &str) -> Option<usize> {
    FIELDS.iter().position(|f| f.eq_ignore_ascii_case(name))
}

/// The longest value (in characters) the response may carry for the field at `index`.
pub fn max_chars(index: usize) -> usize {
    match FIELDS.get(index).copied() {
        Some("ExternalID") => 32,
        Some("FirstName") => 50,
        Some("MiddleInitial") => 1,
        Some("LastName") => 132,
        Some("Suffix" | "Title") => 32,
        Some("Company") => 150,
        Some("AttendeeTypeCode") => 8,
        // Custom1…Custom20 take 100, Custom21…Custom25 only 48.
        _ if index >= FIELD_COUNT - 5 => 48,
        _ => 100,
    }
}

/// One attendee as the source knows it: a value per response element (blank = unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    values: [String; FIELD_COUNT],
}

impl Default for Attendee {
    fn default() -> Self {
        Self { values: blank() }
    }
}

fn blank() -> [String; FIELD_COUNT] {
    std::array::from_fn(|_| String::new())
}

impl Attendee {
    /// The value of a response element by name (case-insensitive); `""` when unknown.
    pub fn get(&self, name: &str) -> &str {
        field_index(name).map_or("", |i| &self.values[i])
    }

    /// Sets a response element by name (case-insensitive); `false` for an unknown name.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> bool {
        match field_index(name) {
            Some(i) => {
                self.values[i] = value.into();
                true
            }
            None => false,
        }
    }

    /// The values in [`FIELDS`] order.
    pub fn values(&self) -> &[String; FIELD_COUNT] {
        &self.values
    }

    /// Bytes the record holds (for caches bounded in bytes).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.values.iter().map(String::capacity).sum::<usize>()
    }

    /// The first required element (`FirstName`, `LastName`, `ExternalID`) that would be
    /// blank in the answer, if any. Such a record is never sent.
    pub fn missing_required(&self) -> Option<&'static str> {
        REQUIRED
            .into_iter()
            .find(|&i| clean(&self.values[i], max_chars(i)).is_empty())
            .map(|i| FIELDS[i])
    }
}

/// The search of one `AttendeeSearchRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttendeeSearch {
    /// The entered search values in [`FIELDS`] order, trimmed; blank = no filter.
    pub fields: [String; FIELD_COUNT],
    /// `OwnerLoginID`: the login of the report's owner (not necessarily the searching user).
    pub owner_login_id: Option<String>,
    /// `min(MaximumNumberRecords, 500)`, or 500 when missing, zero or not a number.
    pub max_records: usize,
}

/// Why a parsed document is not an attendee search.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("the root element is `{0}`, not AttendeeSearchRequest")]
    WrongRoot(String),
}

impl AttendeeSearch {
    /// Reads an `AttendeeSearchRequest` (by local name, ignoring case). Its `Attendee`
    /// child holds the search; a missing child or element is a blank field, unknown
    /// elements are ignored (so the undocumented v1.0 body is read the same way).
    pub fn from_element(root: &Element) -> Result<Self, SearchError> {
        if !root.name.eq_ignore_ascii_case("AttendeeSearchRequest") {
            return Err(SearchError::WrongRoot(root.name.chars().take(64).collect()));
        }
        let empty = Element::default();
        let attendee = root.child("Attendee").unwrap_or(&empty);
        let fields =
            std::array::from_fn(|i| attendee.child_text(FIELDS[i]).unwrap_or("").to_owned());
        Ok(Self {
            fields,
            owner_login_id: attendee.child_text("OwnerLoginID").map(str::to_owned),
            max_records: max_records(attendee.child_text("MaximumNumberRecords")),
        })
    }

    /// A search with no filter at all (what the empty probe body means).
    pub fn everything() -> Self {
        Self {
            fields: blank(),
            owner_login_id: None,
            max_records: MAX_RECORDS,
        }
    }

    /// The searched value of a field by name (`""` when blank or unknown).
    pub fn get(&self, name: &str) -> &str {
        field_index(name).map_or("", |i| &self.fields[i])
    }

    /// The literal start of the searched `LastName` (up to its first `*`), lower-cased, when
    /// there is one: every attendee the search matches has a last name beginning with it
    /// (names match as a prefix), so a source sorted by last name can skip the others.
    pub fn last_name_prefix(&self) -> Option<String> {
        let piece = self.fields[LAST_NAME].split('*').next().unwrap_or_default();
        (!piece.is_empty()).then(|| piece.to_lowercase())
    }

    /// The searched attendee type, if any.
    pub fn attendee_type_code(&self) -> Option<&str> {
        Some(self.fields[ATTENDEE_TYPE_CODE].as_str()).filter(|t| !t.is_empty())
    }

    /// True when the attendee passes every filled field (see the module's rules). To test
    /// many attendees against one search, compile it once with [`matcher`](Self::matcher).
    pub fn matches(&self, attendee: &Attendee) -> bool {
        self.matcher().matches(attendee)
    }

    /// The search compiled once: its filled fields' patterns, lower-cased and split.
    pub fn matcher(&self) -> Matcher {
        let mut type_code = None;
        let mut patterns = Vec::new();
        for (i, wanted) in self.fields.iter().enumerate() {
            if wanted.is_empty() {
                continue;
            }
            if i == ATTENDEE_TYPE_CODE {
                type_code = Some(wanted.clone());
            } else {
                patterns.push((i, Glob::new(wanted, PREFIX_FIELDS.contains(&i), false)));
            }
        }
        Matcher {
            type_code,
            patterns,
        }
    }

    /// The attendee as answered to this search: the searched type when it has none.
    pub fn complete(&self, mut attendee: Attendee) -> Attendee {
        if attendee.values[ATTENDEE_TYPE_CODE].trim().is_empty()
            && let Some(code) = self.attendee_type_code()
        {
            attendee.values[ATTENDEE_TYPE_CODE] = code.to_owned();
        }
        attendee
    }
}

fn max_records(text: Option<&str>) -> usize {
    match text.and_then(|t| t.parse::<u64>().ok()) {
        Some(n) if n > 0 => usize::try_from(n).unwrap_or(MAX_RECORDS).min(MAX_RECORDS),
        _ => MAX_RECORDS,
    }
}

/// An [`AttendeeSearch`] compiled for matching many attendees: the type must equal (an
/// attendee without one fits every type); each other filled field is a case-insensitive
/// `*` pattern, at the value's start for the name fields and `ExternalID`, anywhere for the
/// rest (so a blank value matches only a pattern of `*`s).
#[derive(Debug, Clone)]
pub struct Matcher {
    type_code: Option<String>,
    patterns: Vec<(usize, Glob)>,
}

impl Matcher {
    pub fn matches(&self, attendee: &Attendee) -> bool {
        let type_fits = self.type_code.as_deref().is_none_or(|wanted| {
            let value = attendee.values[ATTENDEE_TYPE_CODE].trim();
            value.is_empty() || value.eq_ignore_ascii_case(wanted)
        });
        type_fits
            && self
                .patterns
                .iter()
                .all(|(i, glob)| glob.matches(attendee.values[*i].trim()))
    }
}

/// A value as the response carries it: characters XML cannot hold and other control
/// characters become spaces, then it is trimmed and cut to `max` characters (never inside
/// a character), and trimmed again.
pub fn clean(value: &str, max: usize) -> String {
    let printable: String = value
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' {
                ' '
            } else {
                c
            }
        })
        .collect();
    printable
        .trim()
        .chars()
        .take(max)
        .collect::<String>()
        .trim_end()
        .to_owned()
}

/// The whole answer: the XML declaration and `<AttendeeSearchResponse>` with one
/// `<Attendee>` per record that has its required values (at most [`MAX_RECORDS`]), or
/// `<AttendeeSearchResponse/>` when none has.
pub fn render_response(attendees: &[Attendee]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let mut sendable = attendees
        .iter()
        .filter(|a| a.missing_required().is_none())
        .take(MAX_RECORDS)
        .peekable();
    if sendable.peek().is_none() {
        out.push_str("<AttendeeSearchResponse/>");
        return out;
    }
    out.push_str("<AttendeeSearchResponse>");
    for attendee in sendable {
        out.push_str("<Attendee>");
        for (i, name) in FIELDS.iter().enumerate() {
            push_element(&mut out, name, &clean(&attendee.values[i], max_chars(i)));
        }
        out.push_str("</Attendee>");
    }
    out.push_str("</AttendeeSearchResponse>");
    out
}

#[cfg(test)]
mod tests {
    use super::super::xml::parse;
    use super::*;
    use proptest::prelude::*;

    /// Concur's example request, verbatim.
    pub const EXAMPLE_REQUEST: &str = include_str!("attendee_example_request.xml");

    fn attendee(pairs: &[(&str, &str)]) -> Attendee {
        let mut a = Attendee::default();
        for (k, v) in pairs {
            assert!(a.set(k, *v), "{k}");
        }
        a
    }

    fn search(pairs: &[(&str, &str)]) -> AttendeeSearch {
        let mut s = AttendeeSearch::everything();
        for (k, v) in pairs {
            s.fields[field_index(k).unwrap()] = (*v).to_owned();
        }
        s
    }

    #[test]
    fn the_example_request_is_read_field_by_field() {
        let s = AttendeeSearch::from_element(&parse(EXAMPLE_REQUEST.as_bytes()).unwrap()).unwrap();
        assert_eq!(s.get("AttendeeTypeCode"), "BUSGUEST");
        assert_eq!(s.get("FirstName"), "Chris");
        assert_eq!(s.get("LastName"), "Miller");
        assert_eq!(s.get("Title"), "CFO");
        assert_eq!(s.get("Company"), "Len Dev");
        assert_eq!(s.get("Custom8"), "North America");
        assert_eq!(s.get("ExternalID"), "");
        assert_eq!(s.owner_login_id.as_deref(), Some("cm@example.com"));
        assert_eq!(s.max_records, 500);
        let filled = s.fields.iter().filter(|f| !f.is_empty()).count();
        assert_eq!(filled, 6);
    }

    #[test]
    fn the_last_name_prefix_is_its_literal_start_lower_cased() {
        let search = |last: &str| {
            let mut s = AttendeeSearch::everything();
            s.fields[LAST_NAME] = last.to_owned();
            s.last_name_prefix()
        };
        assert_eq!(search("Mil*er").as_deref(), Some("mil"));
        assert_eq!(search("MÜLLER").as_deref(), Some("müller"));
        assert_eq!(search("*ller"), None);
        assert_eq!(search(""), None);
    }

    #[test]
    fn maximum_number_records_is_capped_and_defaults_to_500() {
        for (text, expected) in [
            (Some("1"), 1),
            (Some("80"), 80),
            (Some("500"), 500),
            (Some("501"), 500),
            (Some("99999999999999999999"), 500),
            (Some("0"), 500),
            (Some("-3"), 500),
            (Some("many"), 500),
            (None, 500),
        ] {
            assert_eq!(max_records(text), expected, "{text:?}");
        }
    }

    #[test]
    fn a_body_that_is_not_a_search_is_refused() {
        let doc = parse(b"<fetch-list-request/>").unwrap();
        assert!(AttendeeSearch::from_element(&doc).is_err());
        let doc = parse(b"<attendeesearchrequest/>").unwrap();
        assert_eq!(
            AttendeeSearch::from_element(&doc).unwrap(),
            AttendeeSearch::everything()
        );
    }

    #[test]
    fn filled_fields_are_anded_and_case_insensitive() {
        let miller = attendee(&[("LastName", "Miller"), ("Company", "Len Dev")]);
        let lima = attendee(&[("LastName", "Lima"), ("Company", "Len Dev")]);
        let s = search(&[("lastname", "miller"), ("company", "LEN DEV")]);
        assert!(s.matches(&miller));
        assert!(!s.matches(&lima));
        let s = search(&[("Company", "len")]);
        assert!(s.matches(&miller) && s.matches(&lima));
        assert!(!search(&[("Title", "CFO")]).matches(&miller), "blank ≠ CFO");
    }

    #[test]
    fn names_match_as_prefix_other_fields_anywhere_and_star_is_a_wildcard() {
        let a = attendee(&[
            ("FirstName", "Christopher"),
            ("LastName", "Miller-Jones"),
            ("Company", "Borealis GmbH"),
        ]);
        assert!(search(&[("FirstName", "chris")]).matches(&a));
        assert!(!search(&[("FirstName", "topher")]).matches(&a));
        assert!(search(&[("FirstName", "*topher")]).matches(&a));
        assert!(search(&[("LastName", "mil*jo")]).matches(&a));
        assert!(!search(&[("LastName", "mil*x")]).matches(&a));
        assert!(search(&[("Company", "gmbh")]).matches(&a));
        assert!(search(&[("Company", "*")]).matches(&a));
    }

    #[test]
    fn the_type_must_equal_unless_the_attendee_has_none_then_it_is_echoed() {
        let typed = attendee(&[("AttendeeTypeCode", "BUSGUEST")]);
        let untyped = attendee(&[("LastName", "Lima")]);
        let s = search(&[("AttendeeTypeCode", "busguest")]);
        assert!(s.matches(&typed) && s.matches(&untyped));
        assert!(!search(&[("AttendeeTypeCode", "BUS")]).matches(&typed));
        assert_eq!(s.complete(untyped).get("AttendeeTypeCode"), "busguest");
        assert_eq!(s.complete(typed).get("AttendeeTypeCode"), "BUSGUEST");
    }

    #[test]
    fn no_attendee_is_the_documented_empty_answer() {
        let expected = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<AttendeeSearchResponse/>";
        assert_eq!(render_response(&[]), expected);
        let nameless = attendee(&[("ExternalID", "1"), ("LastName", "x")]);
        assert_eq!(nameless.missing_required(), Some("FirstName"));
        assert_eq!(render_response(&[nameless]), expected);
    }

    #[test]
    fn every_element_is_present_in_order_and_values_are_cut_by_characters() {
        let a = attendee(&[
            ("ExternalID", &"x".repeat(40)),
            ("FirstName", "Zoë"),
            ("LastName", "R&D <Müller>"),
            ("MiddleInitial", "Élan"),
            ("Custom21", &"é".repeat(60)),
            ("Custom20", &"y".repeat(120)),
        ]);
        let xml = render_response(&[a]);
        let doc = parse(xml.as_bytes()).unwrap();
        let record = doc.child("Attendee").unwrap();
        let names: Vec<&str> = record.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, FIELDS);
        assert_eq!(record.child_text("ExternalID"), Some(&*"x".repeat(32)));
        assert_eq!(record.child_text("LastName"), Some("R&D <Müller>"));
        assert_eq!(record.child_text("MiddleInitial"), Some("É"));
        assert_eq!(record.child_text("Custom21"), Some(&*"é".repeat(48)));
        assert_eq!(record.child_text("Custom20"), Some(&*"y".repeat(100)));
        assert!(xml.contains("<Suffix/>"), "{xml}");
    }

    fn any_attendee() -> impl Strategy<Value = Attendee> {
        proptest::collection::vec(any::<String>(), FIELD_COUNT).prop_map(|values| Attendee {
            values: values.try_into().unwrap(),
        })
    }

    proptest! {
        #[test]
        fn the_answer_always_parses_back_complete_and_within_limits(
            attendees in proptest::collection::vec(any_attendee(), 0..4)
        ) {
            let xml = render_response(&attendees);
            let doc = parse(xml.as_bytes()).unwrap();
            prop_assert_eq!(doc.name.as_str(), "AttendeeSearchResponse");
            let sendable: Vec<&Attendee> =
                attendees.iter().filter(|a| a.missing_required().is_none()).collect();
            prop_assert_eq!(doc.children.len(), sendable.len());
            for (record, source) in doc.children.iter().zip(sendable) {
                let names: Vec<&str> = record.children.iter().map(|c| c.name.as_str()).collect();
                prop_assert_eq!(names, FIELDS);
                for (i, element) in record.children.iter().enumerate() {
                    prop_assert!(element.children.is_empty());
                    prop_assert!(element.text.chars().count() <= max_chars(i));
                    prop_assert_eq!(&element.text, &clean(&source.values[i], max_chars(i)));
                }
                for i in REQUIRED {
                    prop_assert!(!record.children[i].text.is_empty());
                }
            }
        }

        #[test]
        fn a_search_for_a_value_finds_it(value in "[^*]{1,20}", field in 0..FIELD_COUNT) {
            let mut a = Attendee::default();
            a.values[field] = value.clone();
            let mut s = AttendeeSearch::everything();
            s.fields[field] = value.trim().to_owned();
            prop_assert!(s.matches(&a));
        }
    }
}
