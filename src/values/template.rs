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
        Ok(Self(parts))
    }

    /// True when the backend is told what the user searched for.
    pub fn uses_search(&self) -> bool {
        self.0.contains(&Part::Search)
    }

    /// The URL for a search on an item; a fact the item lacks becomes empty.
    pub fn render(&self, search: &str, facts: &ItemFacts) -> String {
        let mut url = String::new();
        for part in &self.0 {
            match part {
                Part::Literal(text) => url.push_str(text),
                Part::Search => url.extend(utf8_percent_encode(search, COMPONENT)),
                Part::Fact(key) => {
                    url.extend(utf8_percent_encode(facts.get(key).unwrap_or(""), COMPONENT));
                }
            }
        }
        url
    }
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
            url,
            "https://erp.example/projects?q=R%26D%2050%25%2Fa%2Bb%3Dc%23x%20%C3%A9&type=AIRFR&cc=CC%20100&u=jane.doe%40example.com"
        );
    }

    #[test]
    fn a_missing_fact_becomes_empty() {
        let t = UrlTemplate::parse("https://h/p/{report_id}?t={expense_type}").unwrap();
        assert_eq!(t.render("", &ItemFacts::default()), "https://h/p/?t=");
    }

    #[test]
    fn field_placeholders_are_case_insensitive() {
        let t = UrlTemplate::parse("https://h/?c={Field.Custom9}").unwrap();
        assert_eq!(
            t.render("", &facts(&[("field.custom9", "x")])),
            "https://h/?c=x"
        );
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
            t.render("ignored", &ItemFacts::default()),
            "https://h/all.json"
        );
    }
}
