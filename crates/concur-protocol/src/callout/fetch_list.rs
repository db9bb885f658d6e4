//! Fetch List v1.2 (docs/protocol.md §12.2): the request Concur sends when a user opens a
//! list field served by the connector, the wildcard search it asks for, and the response.
//!
//! Pure code: [`FetchListRequest::from_element`] reads a parsed `<fetch-list-request>`,
//! [`Query`] matches one attribute of a list item, [`render_response`] writes the answer.

use super::glob::Glob;
use super::xml::{Element, push_element};

/// Concur shows at most this many items, whatever `num-to-return` asks for.
pub const MAX_ITEMS: usize = 100;

/// The separator of the levels in a long code (`US-W-CA`): a code may not contain it.
pub const LEVEL_SEPARATOR: char = '-';

/// Most characters of the `query` used; the rest is cut (Concur's search box is short).
pub const MAX_QUERY_CHARS: usize = 100;

/// The empty answer: no item matched, or the request was a probe.
pub const EMPTY_RESPONSE: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<fetch-list-response/>";

/// Which attribute of an item the query is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchBy {
    /// The item's display text (in the requested language when the source has it).
    Text,
    /// The item's own (short) code.
    Code,
}

/// Why a `<fetch-list-request>` is refused (answered `400`). Messages never quote the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the root element is not fetch-list-request")]
    NotFetchList,
    #[error("search-by must be TEXT or CODE")]
    SearchBy,
    #[error("num-to-return must be a whole number")]
    NumToReturn,
    #[error("a parent code (long-code or code-by-level) holds control characters")]
    ControlCharacters,
}

/// A Fetch List request, as the search needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchListRequest {
    /// The codes of the already-chosen levels, level 1 first; empty for a single-level
    /// list or the first level of a connected list.
    pub parents: Vec<String>,
    pub query: Query,
    pub search_by: SearchBy,
    /// The user's language, lower-case (`en`, `en-gb`), when `lang-code` is 2 to 5
    /// letters, `-` or `_`; anything else is ignored.
    pub lang: Option<String>,
    /// `min(num-to-return, 100)`; `100` when `num-to-return` is missing.
    pub limit: usize,
    /// The `list-name` element when it is not empty (trimmed).
    pub list_name: Option<String>,
}

impl FetchListRequest {
    /// Reads a parsed document. Elements are found by local name in any case; unknown
    /// elements are ignored; a missing element reads as an empty one.
    ///
    /// The parents come from `long-code` split at `-`; when it is empty, from the
    /// `code-by-level` children `level1`, `level2`, … in level order.
    pub fn from_element(root: &Element) -> Result<Self, RequestError> {
        if !root.name.eq_ignore_ascii_case("fetch-list-request") {
            return Err(RequestError::NotFetchList);
        }
        let search_by = match root.child_text("search-by") {
            None => SearchBy::Text,
            Some(s) if s.eq_ignore_ascii_case("text") => SearchBy::Text,
            Some(s) if s.eq_ignore_ascii_case("code") => SearchBy::Code,
            Some(_) => return Err(RequestError::SearchBy),
        };
        let limit = match root.child_text("num-to-return") {
            None => MAX_ITEMS,
            Some(n) => match n.parse::<u64>() {
                Ok(n) => usize::try_from(n).unwrap_or(usize::MAX).min(MAX_ITEMS),
                // More digits than any integer: still a number, so the system limit.
                Err(_) if n.bytes().all(|b| b.is_ascii_digit()) => MAX_ITEMS,
                Err(_) => return Err(RequestError::NumToReturn),
            },
        };
        // No item code holds one, and the answer could not repeat it (XML cannot carry most).
        let parents = parents(root);
        if parents.iter().any(|p| p.chars().any(char::is_control)) {
            return Err(RequestError::ControlCharacters);
        }
        Ok(Self {
            parents,
            query: Query::new(root.child_text("query").unwrap_or_default()),
            search_by,
            lang: root.child_text("lang-code").and_then(language),
            limit,
            list_name: root.child_text("list-name").map(str::to_owned),
        })
    }

    /// The parents joined with `-`, as the item codes of the answer start.
    pub fn long_code(&self) -> String {
        self.parents.join("-")
    }

    /// The level searched: 1 for a single-level list, parents + 1 otherwise.
    pub fn level(&self) -> usize {
        self.parents.len() + 1
    }
}

fn parents(root: &Element) -> Vec<String> {
    if let Some(long) = root.child_text("long-code") {
        return long
            .split(LEVEL_SEPARATOR)
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let Some(levels) = root.child("code-by-level") else {
        return Vec::new();
    };
    let mut numbered: Vec<(u32, &str)> = levels
        .children
        .iter()
        .filter_map(|c| {
            let n = c.name.get(5..)?.parse::<u32>().ok()?;
            let code = c.text.trim();
            (c.name[..5].eq_ignore_ascii_case("level") && !code.is_empty()).then_some((n, code))
        })
        .collect();
    numbered.sort_by_key(|(n, _)| *n);
    // A level's code holding `-` would read as two levels in the long code of the answer.
    numbered
        .into_iter()
        .flat_map(|(_, c)| c.split(LEVEL_SEPARATOR))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

fn language(code: &str) -> Option<String> {
    let ok = (2..=5).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
        && code.as_bytes()[0].is_ascii_alphabetic();
    ok.then(|| code.to_ascii_lowercase().replace('_', "-"))
}

/// A search term: `*` stands for any run of characters (`*` alone = everything, `West*`
/// begins with, `*text` ends with, `a*b` both); without `*` the whole attribute must equal
/// the term. Letters compare case-insensitively; an empty term matches everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The term as given, trimmed and cut to [`MAX_QUERY_CHARS`].
    term: String,
    /// The term as a pattern anchored at both ends.
    glob: Glob,
}

impl Query {
    pub fn new(term: &str) -> Self {
        let term: String = term.trim().chars().take(MAX_QUERY_CHARS).collect();
        let glob = if term.is_empty() {
            Glob::new("*", true, true)
        } else {
            Glob::new(&term, true, true)
        };
        Self { term, glob }
    }

    /// The term as given (trimmed, cut to [`MAX_QUERY_CHARS`] characters).
    pub fn term(&self) -> &str {
        &self.term
    }

    /// True when the term has no `*`: Concur's one-to-one lookup of a chosen item.
    pub fn is_exact(&self) -> bool {
        !self.term.is_empty() && self.glob.is_literal()
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        self.glob.matches(value)
    }
}

/// One item of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem {
    /// The item's own code at its level (no `-`).
    pub short_code: String,
    /// What the user reads.
    pub text: String,
    /// The attribute the query matched: the text for `TEXT`, the short code for `CODE`.
    pub match_value: String,
}

/// The full code of an item: the long code, `-` and the short code; for a single-level
/// list (empty long code) the short code alone.
pub fn item_code(long_code: &str, short_code: &str) -> String {
    if long_code.is_empty() {
        short_code.to_owned()
    } else {
        format!("{long_code}{LEVEL_SEPARATOR}{short_code}")
    }
}

/// The `<fetch-list-response>` document, with an XML declaration, every text escaped;
/// [`EMPTY_RESPONSE`] when there are no items. Each `<item>` has `code`, `short-code`,
/// `text` and `match-value`.
pub fn render_response(long_code: &str, items: &[ListItem]) -> String {
    if items.is_empty() {
        return EMPTY_RESPONSE.to_owned();
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<fetch-list-response>");
    for item in items {
        out.push_str("<item>");
        push_element(&mut out, "code", &item_code(long_code, &item.short_code));
        push_element(&mut out, "short-code", &item.short_code);
        push_element(&mut out, "text", &item.text);
        push_element(&mut out, "match-value", &item.match_value);
        out.push_str("</item>");
    }
    out.push_str("</fetch-list-response>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callout::xml::parse;
    use proptest::prelude::*;

    /// Concur's example requests, verbatim (the fuzz seeds and the end-to-end tests read
    /// the same files).
    const SINGLE: &str = include_str!("fetch_list_example_single.xml");
    const MULTI: &str = include_str!("fetch_list_example_multi.xml");

    fn request(body: &str) -> Result<FetchListRequest, RequestError> {
        FetchListRequest::from_element(&parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn reads_concurs_single_level_example() {
        let r = request(SINGLE).unwrap();
        assert!(r.parents.is_empty());
        assert_eq!(r.long_code(), "");
        assert_eq!(r.level(), 1);
        assert_eq!(r.search_by, SearchBy::Text);
        assert_eq!(r.lang.as_deref(), Some("en"));
        assert_eq!(r.limit, 80);
        assert_eq!(r.list_name, None);
        assert!(r.query.matches("Alpha Centauri") && !r.query.matches("Beta"));
    }

    #[test]
    fn reads_concurs_multi_level_example() {
        let r = request(MULTI).unwrap();
        assert_eq!(r.parents, ["US", "W", "CA"]);
        assert_eq!(r.long_code(), "US-W-CA");
        assert_eq!(r.level(), 4);
    }

    #[test]
    fn code_by_level_gives_the_parents_when_long_code_is_empty() {
        let r = request(
            "<fetch-list-request><code-by-level><LEVEL2>W</LEVEL2><level1>US</level1>\
             <level10>X</level10><other>Y</other><level3/></code-by-level></fetch-list-request>",
        )
        .unwrap();
        assert_eq!(r.parents, ["US", "W", "X"]);
    }

    #[test]
    fn missing_elements_have_defaults_and_bad_ones_are_refused() {
        let r = request("<fetch-list-request/>").unwrap();
        assert_eq!(
            (r.limit, r.search_by, r.lang),
            (MAX_ITEMS, SearchBy::Text, None)
        );
        assert!(r.query.matches("anything"));
        let r = request(
            "<x:fetch-list-request xmlns:x='urn:y'><x:search-by>code</x:search-by>\
             <num-to-return>101</num-to-return><list-name> Projects </list-name>\
             <lang-code>en_GB</lang-code></x:fetch-list-request>",
        )
        .unwrap();
        assert_eq!(r.search_by, SearchBy::Code);
        assert_eq!(r.limit, 100);
        assert_eq!(r.list_name.as_deref(), Some("Projects"));
        assert_eq!(r.lang.as_deref(), Some("en-gb"));
        let huge = "<fetch-list-request><num-to-return>99999999999999999999999</num-to-return></fetch-list-request>";
        assert_eq!(request(huge).unwrap().limit, 100);
        for lang in ["E", "english", "e1", "-en"] {
            let body =
                format!("<fetch-list-request><lang-code>{lang}</lang-code></fetch-list-request>");
            assert_eq!(request(&body).unwrap().lang, None, "{lang}");
        }
        assert_eq!(request("<list-request/>"), Err(RequestError::NotFetchList));
        assert_eq!(
            request("<fetch-list-request><search-by>NAME</search-by></fetch-list-request>"),
            Err(RequestError::SearchBy)
        );
        assert_eq!(
            request("<fetch-list-request><num-to-return>-1</num-to-return></fetch-list-request>"),
            Err(RequestError::NumToReturn)
        );
        // Found by fuzzing: a NUL in the long code, which the answer could not repeat. A raw
        // control character is not XML, so the reader refuses the document first.
        for body in [
            "<fetch-list-request><long-code>?\0\0-A</long-code></fetch-list-request>",
            "<fetch-list-request><code-by-level><level1>A\u{1}</level1></code-by-level></fetch-list-request>",
        ] {
            assert!(parse(body.as_bytes()).is_err(), "{body:?}");
        }
    }

    #[test]
    fn the_documented_wildcards_and_the_exact_match() {
        let cases = [
            ("*", "Anything", true),
            ("West*", "western region", true),
            ("West*", "Northwest", false),
            ("*text", "Some TEXT", true),
            ("*text", "texts", false),
            ("*ali*", "California", true),
            ("s*o", "San Francisco", true),
            ("s*o", "San Diego", true),
            ("s*o", "San Jose", false),
            ("ca", "CA", true),
            ("ca", "CAN", false),
            ("ÄPFEL", "äpfel", true),
            ("", "x", true),
        ];
        for (term, value, expected) in cases {
            assert_eq!(
                Query::new(term).matches(value),
                expected,
                "{term} / {value}"
            );
        }
        assert!(Query::new("CA").is_exact());
        assert!(!Query::new("CA*").is_exact());
    }

    #[test]
    fn renders_every_element_escaped_and_single_level_codes_alone() {
        let items = [ListItem {
            short_code: "SF".into(),
            text: "San <Francisco> & Co".into(),
            match_value: "San <Francisco> & Co".into(),
        }];
        let body = render_response("US-W-CA", &items);
        assert!(body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        let doc = parse(body.as_bytes()).unwrap();
        let item = doc.child("item").unwrap();
        assert_eq!(item.child_text("code"), Some("US-W-CA-SF"));
        assert_eq!(item.child_text("short-code"), Some("SF"));
        assert_eq!(item.child_text("text"), Some("San <Francisco> & Co"));
        assert_eq!(item.child_text("match-value"), Some("San <Francisco> & Co"));
        let single = parse(render_response("", &items).as_bytes()).unwrap();
        assert_eq!(single.child("item").unwrap().child_text("code"), Some("SF"));
        let empty = parse(render_response("", &[]).as_bytes()).unwrap();
        assert_eq!(
            (empty.name.as_str(), empty.children.len()),
            ("fetch-list-response", 0)
        );
    }

    /// A matcher written the slow, obvious way: `*` matches any run of characters.
    fn reference(pattern: &[char], value: &[char]) -> bool {
        match pattern.split_first() {
            None => value.is_empty(),
            Some(('*', rest)) => (0..=value.len()).any(|i| reference(rest, &value[i..])),
            Some((c, rest)) => value.first() == Some(c) && reference(rest, &value[1..]),
        }
    }

    proptest! {
        #[test]
        fn the_matcher_agrees_with_the_reference(
            pattern in "[ab*]{1,8}",
            value in "[abAB]{0,10}",
        ) {
            let lower: Vec<char> = value.to_lowercase().chars().collect();
            let pattern_chars: Vec<char> = pattern.chars().collect();
            prop_assert_eq!(Query::new(&pattern).matches(&value), reference(&pattern_chars, &lower));
        }

        #[test]
        fn the_response_always_parses_back(
            long in "[A-Z0-9]{0,3}(-[A-Z0-9]{1,3}){0,2}",
            items in proptest::collection::vec(("[A-Za-z0-9]{1,8}", "\\PC{0,20}"), 0..12),
        ) {
            let items: Vec<ListItem> = items
                .into_iter()
                .map(|(code, text)| ListItem { short_code: code, match_value: text.clone(), text })
                .collect();
            let doc = parse(render_response(&long, &items).as_bytes()).unwrap();
            prop_assert_eq!(doc.children.len(), items.len());
            for (element, item) in doc.children.iter().zip(&items) {
                prop_assert_eq!(element.child_text("code").unwrap(), item_code(&long, &item.short_code));
                prop_assert_eq!(&element.child("text").unwrap().text, &item.text);
            }
        }

        #[test]
        fn the_limit_never_exceeds_the_system_limit(n in 0u64..100_000) {
            let body = format!("<fetch-list-request><num-to-return>{n}</num-to-return></fetch-list-request>");
            let r = request(&body).unwrap();
            prop_assert_eq!(r.limit as u64, n.min(MAX_ITEMS as u64));
        }
    }
}
