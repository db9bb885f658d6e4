//! The `[fetch_list]` table as written by the operator; [`Lists::from_settings`](super::Lists::from_settings)
//! turns it into working sources once at start-up.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::checks::Problems;
use crate::values::{CsvSettings, HttpSettings};

/// The path Concur's documentation suggests for the Fetch List service.
pub const DEFAULT_PATH: &str = "/concur/list/v1.2/fetch";

/// `[fetch_list]`: Concur's Fetch List callout and the lists it serves.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchListSettings {
    /// Serve the Fetch List callout. Default `true`.
    pub enabled: bool,
    /// The service endpoint registered in Concur. Default `/concur/list/v1.2/fetch`.
    pub path: String,
    /// The most time one search may take (an HTTP source that is slower is answered with
    /// an empty list). Default `3s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// `[[fetch_list.lists]]`: the lists served.
    pub lists: Vec<ListSettings>,
}

impl Default for FetchListSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            path: DEFAULT_PATH.to_owned(),
            timeout: Duration::from_secs(3),
            lists: Vec::new(),
        }
    }
}

/// Where a list's items come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ListSourceKind {
    /// `[[fetch_list.lists.items]]` tables in the configuration (a tree).
    #[default]
    Inline,
    /// A CSV file, reloaded when it changes.
    Csv,
    /// A JSON lookup against the customer's system of record.
    Http,
}

/// One `[[fetch_list.lists]]` table.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListSettings {
    /// The List Name entered in Concur (compared ignoring case with the request's
    /// `list-name`). Required.
    pub name: String,
    /// Answers requests whose `list-name` is empty or names no configured list. At most
    /// one list may be the default; a single list is the default anyway.
    pub default: bool,
    /// An extra endpoint that always serves this list (for a second connector
    /// registration); none by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `inline`, `csv` or `http`. Default `inline`.
    pub source: ListSourceKind,
    /// The inline tree: each item has `code`, `label`, optional `labels` (language code →
    /// label) and optional child `items` (the next level).
    pub items: Vec<TreeItem>,
    /// `[fetch_list.lists.csv]`: `path` and `watch`, as for `[values.csv]`.
    pub csv: CsvSettings,
    /// `[fetch_list.lists.http]`: as `[values.http]`, with the placeholders `{search}` (the
    /// query up to its first `*`),
    /// `{long_code}`, `{parent}`, `{level1}`, `{level2}`, … and `{lang}`.
    pub http: HttpSettings,
}

/// One item of an inline tree.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TreeItem {
    /// The item's own code at its level (no `-`).
    pub code: String,
    /// What the user reads; the code when empty.
    pub label: String,
    /// Translations of the label by language code (`de`, `fr-ca`, any case).
    pub labels: BTreeMap<String, String>,
    /// The items of the next level (a connected list).
    pub items: Vec<TreeItem>,
}

impl FetchListSettings {
    /// Every path the service answers on: the main one, then each list's own one (with the
    /// list's index), for checking against the connector's other paths.
    pub fn paths(&self) -> Vec<(String, &str)> {
        if !self.enabled {
            return Vec::new();
        }
        let mut paths = vec![("fetch_list.path".to_owned(), self.path.as_str())];
        for (index, list) in self.lists.iter().enumerate() {
            if let Some(path) = &list.path {
                paths.push((format!("fetch_list.lists[{index}].path"), path.as_str()));
            }
        }
        paths
    }

    /// The checks that need no source: names, defaults, the timeout. Paths are checked by
    /// `config` with the connector's other paths.
    pub(crate) fn check(&self, problems: &mut Problems) {
        if !self.enabled {
            return;
        }
        if self.timeout.is_zero() {
            problems.push("fetch_list.timeout", "must be greater than zero");
        }
        let mut defaults = Vec::new();
        for (index, list) in self.lists.iter().enumerate() {
            let key = format!("fetch_list.lists[{index}]");
            let name = list.name.trim();
            if name.is_empty() {
                problems.push(
                    format!("{key}.name"),
                    "is required: the List Name entered for this list in Concur",
                );
            } else if self.lists[..index]
                .iter()
                .any(|other| other.name.trim().eq_ignore_ascii_case(name))
            {
                problems.push(
                    format!("{key}.name"),
                    format!("`{name}` names two lists (names are compared ignoring case)"),
                );
            }
            if list.default {
                defaults.push(name.to_owned());
            }
        }
        if defaults.len() > 1 {
            problems.push(
                "fetch_list.lists",
                format!(
                    "only one list may be default = true; these are: {}",
                    defaults.join(", ")
                ),
            );
        }
    }
}
