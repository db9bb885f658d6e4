//! Values in memory, whatever their source: search, item filters, the inline list.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Choice, ItemFacts};
use crate::checks::Problems;

/// One pickable value with what search and filters need, prepared once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub choice: Choice,
    code_lower: String,
    label_lower: String,
    /// Attribute name (lower-case) to its non-empty values (lower-case, for comparison).
    attributes: BTreeMap<String, Vec<String>>,
}

impl Entry {
    pub fn new(choice: Choice) -> Self {
        Self {
            code_lower: choice.code.to_lowercase(),
            label_lower: choice.label.to_lowercase(),
            choice,
            attributes: BTreeMap::new(),
        }
    }

    /// Adds values of an attribute; blank ones are dropped, so an empty cell means "any".
    pub fn add_attribute<'a>(&mut self, name: &str, values: impl IntoIterator<Item = &'a str>) {
        let values: Vec<String> = values
            .into_iter()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_lowercase)
            .collect();
        if !values.is_empty() {
            self.attributes
                .entry(name.to_lowercase())
                .or_default()
                .extend(values);
        }
    }

    /// About how many bytes this entry takes in memory (its own size and what its strings
    /// and attribute lists hold), for weighing cached answers.
    pub fn memory_bytes(&self) -> usize {
        let text = |s: &String| s.capacity();
        let choice = &self.choice;
        let mut bytes = std::mem::size_of::<Self>()
            + text(&choice.code)
            + text(&choice.label)
            + choice.list_item_id.as_ref().map_or(0, text)
            + text(&self.code_lower)
            + text(&self.label_lower);
        for (name, values) in &self.attributes {
            // A B-tree node slot per attribute: its key, its list and some overhead.
            bytes += 64 + text(name) + values.capacity() * std::mem::size_of::<String>();
            bytes += values.iter().map(text).sum::<usize>();
        }
        bytes
    }

    /// `search` must already be trimmed and lower-case.
    fn matches_text(&self, search: &str) -> bool {
        search.is_empty() || self.code_lower.contains(search) || self.label_lower.contains(search)
    }
}

/// `attribute = "fact key"` from `[values.match]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    /// Lower-case.
    pub attribute: String,
    pub fact: String,
}

impl Filter {
    /// True when the entry has no values for the attribute, the item lacks the fact, or one
    /// of the values equals the fact case-insensitively.
    fn allows(&self, entry: &Entry, facts: &ItemFacts) -> bool {
        let Some(fact) = facts
            .get(&self.fact)
            .map(str::trim)
            .filter(|f| !f.is_empty())
        else {
            return true;
        };
        let Some(allowed) = entry.attributes.get(&self.attribute) else {
            return true;
        };
        let fact = fact.to_lowercase();
        allowed.contains(&fact)
    }
}

pub(crate) fn allowed(entry: &Entry, filters: &[Filter], facts: &ItemFacts) -> bool {
    filters.iter().all(|f| f.allows(entry, facts))
}

/// The first `cap` entries, in order, that match `search` (case-insensitive substring of
/// code or label; blank = all) and pass the filters.
pub(crate) fn search<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    search: &str,
    filters: &[Filter],
    facts: &ItemFacts,
    cap: usize,
) -> Vec<Choice> {
    let needle = search.trim().to_lowercase();
    entries
        .into_iter()
        .filter(|e| e.matches_text(&needle) && allowed(e, filters, facts))
        .take(cap)
        .map(|e| e.choice.clone())
        .collect()
}

/// The first entry with exactly this code that passes the filters.
pub(crate) fn resolve<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    code: &str,
    filters: &[Filter],
    facts: &ItemFacts,
) -> Option<Choice> {
    entries
        .into_iter()
        .find(|e| e.choice.code == code && allowed(e, filters, facts))
        .map(|e| e.choice.clone())
}

/// The first entry with exactly this Concur list item id (ignoring ASCII case, as Concur
/// spells the hex ids either way) that passes the filters.
pub(crate) fn resolve_list_item<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    list_item_id: &str,
    filters: &[Filter],
    facts: &ItemFacts,
) -> Option<Choice> {
    entries
        .into_iter()
        .find(|e| {
            e.choice
                .list_item_id
                .as_deref()
                .is_some_and(|id| id.eq_ignore_ascii_case(list_item_id))
                && allowed(e, filters, facts)
        })
        .map(|e| e.choice.clone())
}

/// A JSON scalar as text: strings as they are, numbers and booleans written out.
pub(crate) fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An attribute value: a scalar, or an array of scalars. `None` for anything else.
pub(crate) fn attribute_values(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        Value::Null => Some(Vec::new()),
        other => scalar(other).map(|s| vec![s]),
    }
}

/// Converts the `[[values.inline]]` tables, recording a problem per bad one.
pub(crate) fn inline(values: &[super::InlineValue], problems: &mut Problems) -> Option<Vec<Entry>> {
    let before = problems.len();
    let mut entries = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let key = format!("values.inline[{index}]");
        let text = |name: &str| value.0.get(name).and_then(scalar);
        let Some(code) = text("code")
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
        else {
            problems.push(&key, "needs a non-empty `code` (a string)");
            continue;
        };
        let label = text("label")
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| code.clone());
        let list_item_id = text("list_item_id")
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty());
        let mut entry = Entry::new(Choice {
            code,
            label,
            list_item_id,
        });
        for (name, raw) in &value.0 {
            if matches!(name.as_str(), "code" | "label" | "list_item_id") {
                continue;
            }
            match attribute_values(raw) {
                Some(values) => entry.add_attribute(name, values.iter().map(String::as_str)),
                None => problems.push(
                    format!("{key}.{name}"),
                    "must be a string or a list of strings",
                ),
            }
        }
        entries.push(entry);
    }
    (problems.len() == before).then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::InlineValue;
    use serde_json::json;

    fn entry(code: &str, label: &str, types: &[&str]) -> Entry {
        let mut e = Entry::new(Choice {
            code: code.into(),
            label: label.into(),
            list_item_id: None,
        });
        e.add_attribute("expense_types", types.iter().copied());
        e
    }

    fn by_type() -> Vec<Filter> {
        vec![Filter {
            attribute: "expense_types".into(),
            fact: "expense_type".into(),
        }]
    }

    fn facts(pairs: &[(&str, &str)]) -> ItemFacts {
        let mut f = ItemFacts::default();
        for (k, v) in pairs {
            f.insert(*k, *v);
        }
        f
    }

    fn codes(choices: &[Choice]) -> Vec<&str> {
        choices.iter().map(|c| c.code.as_str()).collect()
    }

    #[test]
    fn search_is_a_case_insensitive_substring_of_code_or_label_in_source_order() {
        let entries = [
            entry("PRJ-1", "Apollo Website", &[]),
            entry("PRJ-2", "Zeus Migration", &[]),
            entry("apo-3", "Other", &[]),
        ];
        let none = ItemFacts::default();
        let got = search(&entries, "  APO ", &[], &none, 100);
        assert_eq!(codes(&got), ["PRJ-1", "apo-3"]);
        assert_eq!(codes(&search(&entries, "", &[], &none, 100)).len(), 3);
        assert_eq!(codes(&search(&entries, "ZEUS", &[], &none, 100)), ["PRJ-2"]);
        assert!(search(&entries, "nothing", &[], &none, 100).is_empty());
    }

    #[test]
    fn search_lowercases_beyond_ascii() {
        let entries = [entry("K-1", "Übersee Straße", &[])];
        let got = search(&entries, "üBERSEE", &[], &ItemFacts::default(), 100);
        assert_eq!(codes(&got), ["K-1"]);
    }

    #[test]
    fn search_stops_at_the_cap() {
        let entries: Vec<Entry> = (0..10).map(|i| entry(&format!("C{i}"), "x", &[])).collect();
        let got = search(&entries, "", &[], &ItemFacts::default(), 3);
        assert_eq!(codes(&got), ["C0", "C1", "C2"]);
    }

    #[test]
    fn the_filter_keeps_values_for_the_items_type_and_values_without_the_attribute() {
        let entries = [
            entry("ALL", "for every type", &[]),
            entry("AIR", "travel only", &["AIRFR", "lodng"]),
            entry("MEAL", "meals only", &["LUNCH"]),
        ];
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
        let cases: &[Case] = &[
            (&[("expense_type", "AIRFR")], &["ALL", "AIR"], "travel item"),
            (
                &[("expense_type", "LODNG")],
                &["ALL", "AIR"],
                "case-insensitive value",
            ),
            (
                &[("expense_type", "lunch")],
                &["ALL", "MEAL"],
                "case-insensitive fact",
            ),
            (&[("expense_type", "TAXI")], &["ALL"], "type nobody lists"),
            (&[], &["ALL", "AIR", "MEAL"], "item not read: no fact"),
            (
                &[("expense_type", "  ")],
                &["ALL", "AIR", "MEAL"],
                "blank fact",
            ),
        ];
        for (pairs, want, why) in cases {
            let got = search(&entries, "", &by_type(), &facts(pairs), 100);
            assert_eq!(codes(&got), *want, "{why}");
        }
    }

    #[test]
    fn every_configured_filter_must_pass() {
        let mut e = entry("X", "x", &["AIRFR"]);
        e.add_attribute("companies", ["acme.example"]);
        let filters = vec![
            by_type()[0].clone(),
            Filter {
                attribute: "companies".into(),
                fact: "company".into(),
            },
        ];
        let item = facts(&[("expense_type", "AIRFR"), ("company", "other.example")]);
        assert!(!allowed(&e, &filters, &item));
        let item = facts(&[("expense_type", "AIRFR"), ("company", "ACME.example")]);
        assert!(allowed(&e, &filters, &item));
    }

    #[test]
    fn resolve_wants_the_exact_code_and_an_allowed_value() {
        let entries = [entry("AIR", "travel", &["AIRFR"]), entry("ALL", "any", &[])];
        let lunch = facts(&[("expense_type", "LUNCH")]);
        assert_eq!(resolve(&entries, "AIR", &by_type(), &lunch), None);
        assert_eq!(resolve(&entries, "air", &[], &lunch), None);
        assert_eq!(
            resolve(&entries, "ALL", &by_type(), &lunch).map(|c| c.label),
            Some("any".to_owned())
        );
    }

    #[test]
    fn inline_tables_take_scalars_and_lists_as_attributes() {
        let values = vec![
            InlineValue(
                json!({"code": "P1", "label": "One", "list_item_id": "LI1", "expense_types": ["AIRFR", "TAXI"]})
                    .as_object()
                    .unwrap()
                    .clone()
                    .into_iter()
                    .collect(),
            ),
            InlineValue(
                json!({"code": 1002, "region": "EU"})
                    .as_object()
                    .unwrap()
                    .clone()
                    .into_iter()
                    .collect(),
            ),
        ];
        let mut problems = Problems::default();
        let entries = inline(&values, &mut problems).unwrap();
        assert!(problems.is_empty());
        assert_eq!(
            entries[0].choice,
            Choice {
                code: "P1".into(),
                label: "One".into(),
                list_item_id: Some("LI1".into())
            }
        );
        assert_eq!(entries[0].attributes["expense_types"], ["airfr", "taxi"]);
        assert_eq!(entries[1].choice.code, "1002");
        assert_eq!(
            entries[1].choice.label, "1002",
            "label defaults to the code"
        );
        assert_eq!(entries[1].attributes["region"], ["eu"]);
    }

    #[test]
    fn bad_inline_tables_are_named() {
        let values = vec![
            InlineValue(BTreeMap::from([("label".into(), json!("no code"))])),
            InlineValue(BTreeMap::from([
                ("code".into(), json!("X")),
                ("expense_types".into(), json!({"nested": true})),
            ])),
        ];
        let mut problems = Problems::default();
        assert!(inline(&values, &mut problems).is_none());
        let keys: Vec<_> = problems.into_vec().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["values.inline[0]", "values.inline[1].expense_types"]);
    }
}
