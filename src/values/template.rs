//! The lookup URL template: `{search}` and item facts, each value percent-encoded.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{FACT_KEYS, ItemFacts};

/// Everything but RFC 3986 unreserved characters is encoded, so a value can never end a
/// query parameter (`&`, `=`, `#`), start a path segment (`/`) or become a space (`+`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Search,
    Fact(String),
}

/// A parsed `[values.http] url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlTemplate(Vec<Part>);

impl UrlTemplate {
    /// Parses the placeholders; unknown names (other than `field.*`) and stray braces are
    /// errors, so a typo shows at start-up rather than as an empty value.
    pub fn parse(template: &str) -> Result<Self, String> {
        Self::parse_with(template, placeholder)
    }

    /// A template whose placeholders are exactly `keys` (case-insensitive; no `{search}`),
    /// rendered from facts under the same lower-cased names.
    pub fn parse_with_keys(template: &str, keys: &[&str]) -> Result<Self, String> {
        Self::parse_with(template, |name| {
            let lower = name.to_lowercase();
            if keys.iter().any(|k| k.to_lowercase() == lower) {
                return Ok(Part::Fact(lower));
            }
            Err(format!(
                "has an unknown placeholder `{{{name}}}`; known: {}",
                keys.iter()
                    .map(|k| format!("{{{k}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// A Fetch List lookup's template: `{search}`, `{long_code}`, `{parent}`, `{lang}` and
    /// `{level1}`, `{level2}`, … (case-insensitive).
    pub fn parse_for_list(template: &str) -> Result<Self, String> {
        Self::parse_with(template, |name| {
            let lower = name.to_lowercase();
            if lower == "search" {
                return Ok(Part::Search);
            }
            let is_level = lower
                .strip_prefix("level")
                .is_some_and(|n| n.parse::<u8>().is_ok_and(|n| n > 0));
            if is_level || ["long_code", "parent", "lang"].contains(&lower.as_str()) {
                return Ok(Part::Fact(lower));
            }
            Err(format!(
                "has an unknown placeholder `{{{name}}}`; known: {{search}}, {{long_code}}, \
                 {{parent}}, {{lang}}, {{level1}}, {{level2}}, ..."
            ))
        })
    }

    fn parse_with(
        template: &str,
        placeholder: impl Fn(&str) -> Result<Part, String>,
    ) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err("has a `}` without `{`".to_owned());
            }
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find(['{', '}'])
                .filter(|&i| after[i..].starts_with('}'))
                .ok_or("has a `{` without `}`")?;
            let name = after[..close].trim();
            parts.push(placeholder(name)?);
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        // The scheme and the host come from the operator only: a value must never choose
        // where the lookup (and its bearer token) goes.
        let fixed = match parts.first() {
            Some(Part::Literal(text)) => text.as_str(),
            _ => "",
        };
        let authority_is_literal = fixed
            .split_once("://")
            .is_some_and(|(_, rest)| rest.contains(['/', '?', '#']));
        let has_placeholder = parts.iter().any(|p| !matches!(p, Part::Literal(_)));
        if has_placeholder && !authority_is_literal {
            return Err(
                "has a placeholder in its scheme or host; placeholders may only \
                        appear in the path or query (e.g. https://erp.example/projects/{search})"
                    .to_owned(),
            );
        }
        Ok(Self(parts))
    }

    /// True when the backend is told what the user searched for.
    pub fn uses_search(&self) -> bool {
        self.0.contains(&Part::Search)
    }

    /// The URL for a search on an item; a fact the item lacks becomes empty.
    ///
    /// Values never change the path's structure: they are percent-encoded (a `/`, `?`, `#`
    /// or `%` cannot start a segment, the query or a fragment), and `None` is returned when
    /// a path segment holding a value would be `.` or `..`, which URL parsers resolve
    /// (even when written `%2e`), climbing out of the configured path.
    pub fn render(&self, search: &str, facts: &ItemFacts) -> Option<String> {
        let mut url = String::new();
        let mut inserted = Vec::new();
        for part in &self.0 {
            let start = url.len();
            match part {
                Part::Literal(text) => url.push_str(text),
                Part::Search => url.extend(utf8_percent_encode(search, COMPONENT)),
                Part::Fact(key) => {
                    url.extend(utf8_percent_encode(facts.get(key).unwrap_or(""), COMPONENT));
                }
            }
            if !matches!(part, Part::Literal(_)) {
                inserted.push(start..url.len());
            }
        }
        (!changes_the_path(&url, &inserted)).then_some(url)
    }
}

/// True when a path segment that holds an inserted value is a dot segment.
fn changes_the_path(url: &str, inserted: &[std::ops::Range<usize>]) -> bool {
    let Some(path_start) = url
        .find("://")
        .and_then(|i| url[i + 3..].find(['/', '\\']).map(|j| i + 3 + j))
    else {
        return false;
    };
    let path_end = url[path_start..]
        .find(['?', '#'])
        .map_or(url.len(), |i| path_start + i);
    let mut segment_start = path_start + 1;
    // URL parsers read `\` as `/` in http(s) paths.
    for segment in url[path_start + 1..path_end].split(['/', '\\']) {
        let range = segment_start..segment_start + segment.len();
        segment_start = range.end + 1;
        let holds_value = inserted
            .iter()
            .any(|r| !r.is_empty() && r.start < range.end && r.end > range.start);
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        if holds_value && (decoded == "." || decoded == "..") {
            return true;
        }
    }
    false
}

fn placeholder(name: &str) -> Result<Part, String> {
    let lower = name.to_lowercase();
    if lower == "search" {
        return Ok(Part::Search);
    }
    let is_field = lower
        .strip_prefix("field.")
        .is_some_and(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()));
    if FACT_KEYS.contains(&lower.as_str()) || is_field {
        return Ok(Part::Fact(lower));
    }
    Err(format!(
        "has an unknown placeholder `{{{name}}}`; known: {{search}}, {}, {{field.<id>}} (e.g. {{field.custom9}})",
        FACT_KEYS
            .iter()
            .map(|k| format!("{{{k}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(pairs: &[(&str, &str)]) -> ItemFacts {
        let mut f = ItemFacts::default();
        for (k, v) in pairs {
            f.insert(*k, *v);
        }
        f
    }

    #[test]
    fn placeholders_are_replaced_and_encoded_as_query_components() {
        let t = UrlTemplate::parse(
            "https://erp.example/projects?q={search}&type={expense_type}&cc={field.custom9}&u={ user }",
        )
        .unwrap();
        let url = t.render(
            "R&D 50%/a+b=c#x é",
            &facts(&[
                ("expense_type", "AIRFR"),
                ("field.custom9", "CC 100"),
                ("user", "jane.doe@example.com"),
            ]),
        );
        assert_eq!(
            url.unwrap(),
            "https://erp.example/projects?q=R%26D%2050%25%2Fa%2Bb%3Dc%23x%20%C3%A9&type=AIRFR&cc=CC%20100&u=jane.doe%40example.com"
        );
    }

    #[test]
    fn a_missing_fact_becomes_empty() {
        let t = UrlTemplate::parse("https://h/p/{report_id}?t={expense_type}").unwrap();
        assert_eq!(
            t.render("", &ItemFacts::default()).unwrap(),
            "https://h/p/?t="
        );
    }

    #[test]
    fn field_placeholders_are_case_insensitive() {
        let t = UrlTemplate::parse("https://h/?c={Field.Custom9}").unwrap();
        assert_eq!(
            t.render("", &facts(&[("field.custom9", "x")])).unwrap(),
            "https://h/?c=x"
        );
    }

    #[test]
    fn list_templates_name_levels_parents_and_the_language() {
        let t = UrlTemplate::parse_for_list(
            "https://h/{level1}/{Parent}?l={lang}&c={long_code}&q={search}",
        )
        .unwrap();
        let f = facts(&[
            ("level1", "P 1"),
            ("parent", "T"),
            ("lang", "de"),
            ("long_code", "P-T"),
        ]);
        assert_eq!(
            t.render("a*", &f).unwrap(),
            "https://h/P%201/T?l=de&c=P-T&q=a%2A"
        );
        for unknown in ["{level0}", "{expense_type}", "{levelx}"] {
            let error = UrlTemplate::parse_for_list(&format!("https://h/{unknown}")).unwrap_err();
            assert!(error.contains("unknown placeholder"), "{unknown}: {error}");
        }
        assert!(UrlTemplate::parse("https://h/{parent}").is_err());
    }

    #[test]
    fn bad_templates_are_refused_with_a_reason() {
        for (template, why) in [
            ("https://h/?q={serach}", "unknown placeholder"),
            ("https://h/?q={search", "without `}`"),
            ("https://h/?q=search}", "without `{`"),
            ("https://h/?q={{search}}", "without `}`"),
            ("https://h/?q={}", "unknown placeholder"),
            ("https://h/?q={field.}", "unknown placeholder"),
        ] {
            let error = UrlTemplate::parse(template).unwrap_err();
            assert!(error.contains(why), "{template}: {error}");
        }
    }

    #[test]
    fn a_template_without_placeholders_is_one_literal() {
        let t = UrlTemplate::parse("https://h/all.json").unwrap();
        assert!(!t.uses_search());
        assert_eq!(
            t.render("ignored", &ItemFacts::default()).unwrap(),
            "https://h/all.json"
        );
    }

    #[test]
    fn values_never_change_the_paths_structure() {
        let t = UrlTemplate::parse("https://h/api/{search}/items?q={search}").unwrap();
        let none = ItemFacts::default();
        for (search, url) in [
            ("../admin", "https://h/api/..%2Fadmin/items?q=..%2Fadmin"),
            ("a/b", "https://h/api/a%2Fb/items?q=a%2Fb"),
            ("a?b#c", "https://h/api/a%3Fb%23c/items?q=a%3Fb%23c"),
            ("%2e%2e", "https://h/api/%252e%252e/items?q=%252e%252e"),
            ("...", "https://h/api/.../items?q=..."),
            ("x.", "https://h/api/x./items?q=x."),
        ] {
            assert_eq!(t.render(search, &none).as_deref(), Some(url), "{search}");
        }
        for search in [".", ".."] {
            assert_eq!(t.render(search, &none), None, "{search}");
        }
        // Dots in the query are harmless; so is a dot next to a literal that keeps it apart.
        let query_only = UrlTemplate::parse("https://h/api?q={search}").unwrap();
        assert_eq!(
            query_only.render("..", &none).as_deref(),
            Some("https://h/api?q=..")
        );
        // A value completing a literal dot into `..` is caught, as is `%2e` spelling.
        let dotted = UrlTemplate::parse("https://h/api/.{search}/x").unwrap();
        assert_eq!(dotted.render(".", &none), None);
        let backslash = UrlTemplate::parse("https://h/api\\{search}").unwrap();
        assert_eq!(backslash.render("..", &none), None);
        let encoded = UrlTemplate::parse("https://h/api/%2E{search}").unwrap();
        assert_eq!(encoded.render(".", &none), None);
        assert!(encoded.render("x", &none).is_some());
    }

    #[test]
    fn placeholders_may_not_choose_the_scheme_or_host() {
        for template in [
            "{search}",
            "https://{search}/p",
            "https://erp.example{search}/p",
            "https://erp.example:{report_id}/p",
            "http{search}://erp.example/p",
            "https://user:{search}@erp.example/p",
        ] {
            let error = UrlTemplate::parse(template).unwrap_err();
            assert!(error.contains("scheme or host"), "{template}: {error}");
        }
        assert!(UrlTemplate::parse("https://erp.example/{search}").is_ok());
        assert!(UrlTemplate::parse("https://erp.example?q={search}").is_ok());
    }
}
