//! The lists the Fetch List callout serves (`[fetch_list]`, docs/protocol.md §12.2): an
//! inline tree, a CSV file (reloaded on change) or an HTTP lookup per list, each list a
//! single-level or connected (multi-level) list.
//!
//! [`Lists::from_settings`] builds every source once at start-up; a request then picks its
//! list ([`Lists::select`]) and searches it ([`Lists::search`]).

mod settings;
mod tree;

use std::time::Duration;

use concur_protocol::callout::fetch_list::{FetchListRequest, LEVEL_SEPARATOR, ListItem, SearchBy};

use crate::checks::{ConfigProblem, Mode, Problems};
use crate::values::csv_file::CsvSource;
use crate::values::http::HttpSource;
use crate::values::template::UrlTemplate;
use crate::values::{ItemFacts, LookupError};

pub use settings::{DEFAULT_PATH, FetchListSettings, ListSettings, ListSourceKind, TreeItem};

use tree::{Row, Tree};

enum Source {
    Inline(Vec<Row>),
    Csv(CsvSource<Row>),
    Http(Box<HttpSource>),
}

struct List {
    name: String,
    source: Source,
}

/// Why a search gave no answer; the handler answers an empty list and logs it.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error("the search took longer than fetch_list.timeout ({})", humantime::format_duration(*after))]
    Timeout { after: Duration },
}

/// The configured lists, built once at start-up (share it behind an `Arc`).
pub struct Lists {
    lists: Vec<List>,
    /// The list answering requests that name none (or an unknown one).
    default: Option<usize>,
    timeout: Duration,
    /// The paths served: `fetch_list.path` (no list of its own) and each list's own path.
    endpoints: Vec<(String, Option<usize>)>,
}

impl std::fmt::Debug for Lists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lists")
            .field("names", &self.names())
            .field("default", &self.default)
            .finish()
    }
}

impl Lists {
    /// Checks `[fetch_list]` and prepares every list's source: converts the inline tree,
    /// reads each CSV file and starts watching it, builds each HTTP client. Every problem
    /// is reported under its `fetch_list.*` key. A switched-off service builds nothing.
    pub fn from_settings(
        settings: &FetchListSettings,
        mode: Mode,
    ) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Problems::default();
        settings.check(&mut problems);
        let mut lists = Vec::new();
        if settings.enabled {
            for (index, list) in settings.lists.iter().enumerate() {
                let key = format!("fetch_list.lists[{index}]");
                if let Some(source) = source(list, &key, mode, &mut problems) {
                    lists.push(List {
                        name: list.name.trim().to_owned(),
                        source,
                    });
                }
            }
            if settings.lists.is_empty() {
                tracing::warn!(
                    "fetch_list is enabled but no [[fetch_list.lists]] is configured: every \
                     Fetch List request is answered with an empty list"
                );
            }
        }
        if !problems.is_empty() {
            return Err(problems.into_vec());
        }
        let default = match settings.lists.iter().position(|l| l.default) {
            None if settings.lists.len() == 1 => Some(0),
            found => found,
        };
        let endpoints = settings
            .paths()
            .into_iter()
            .map(|(key, path)| {
                let own = settings
                    .lists
                    .iter()
                    .position(|l| l.path.as_deref() == Some(path));
                (path.to_owned(), own.filter(|_| key != "fetch_list.path"))
            })
            .collect();
        Ok(Self {
            lists,
            default,
            timeout: settings.timeout,
            endpoints,
        })
    }

    /// The paths the service answers on, each with the list it always serves (`None` for
    /// `fetch_list.path`, where the request's `list-name` picks); empty when switched off.
    pub fn endpoints(&self) -> &[(String, Option<usize>)] {
        &self.endpoints
    }

    /// The configured list names, in order (for logs).
    pub fn names(&self) -> Vec<&str> {
        self.lists.iter().map(|l| l.name.as_str()).collect()
    }

    /// The name of list `index` (empty when there is none).
    pub fn name(&self, index: usize) -> &str {
        self.lists.get(index).map_or("", |l| l.name.as_str())
    }

    /// The list a request is for: the one at `index` when the request came to that list's
    /// own path; else the one named by `list-name` (ignoring case); else the default.
    /// `None` when no list fits (no default configured).
    pub fn select(&self, own_path: Option<usize>, list_name: Option<&str>) -> Option<usize> {
        own_path
            .or_else(|| {
                let name = list_name?;
                self.lists
                    .iter()
                    .position(|l| l.name.eq_ignore_ascii_case(name))
            })
            .or(self.default)
            .filter(|&i| i < self.lists.len())
    }

    /// The items of list `index` under the request's parents whose text (`TEXT`) or code
    /// (`CODE`) matches the query, at most the request's limit, in source order; within
    /// `fetch_list.timeout`.
    pub async fn search(
        &self,
        index: usize,
        request: &FetchListRequest,
    ) -> Result<Vec<ListItem>, SearchError> {
        let Some(list) = self.lists.get(index) else {
            return Ok(Vec::new());
        };
        let lang = request.lang.as_deref();
        let search = async {
            Ok::<_, SearchError>(match &list.source {
                Source::Inline(rows) => matching(tree_items(rows, request, lang), request),
                Source::Csv(csv) => {
                    let rows = csv.entries();
                    matching(tree_items(&rows, request, lang), request)
                }
                Source::Http(http) => {
                    let facts = facts(request);
                    let term = request_term(request);
                    let entries = http.entries(&term, &facts).await?;
                    let items = entries.iter().filter_map(|e| {
                        let code = e.choice.code.as_str();
                        if code.contains(LEVEL_SEPARATOR) {
                            tracing::warn!(
                                list = %list.name,
                                "the lookup answered a code containing `-`, which separates \
                                 levels; the item is left out"
                            );
                            return None;
                        }
                        Some((code, e.choice.label.as_str()))
                    });
                    matching(items, request)
                }
            })
        };
        tokio::time::timeout(self.timeout, search)
            .await
            .unwrap_or(Err(SearchError::Timeout {
                after: self.timeout,
            }))
    }
}

fn source(list: &ListSettings, key: &str, mode: Mode, problems: &mut Problems) -> Option<Source> {
    match list.source {
        ListSourceKind::Inline => {
            let before = problems.len();
            let tree = Tree::inline(&list.items, key, problems);
            (problems.len() == before).then_some(Source::Inline(tree.rows))
        }
        ListSourceKind::Csv => match &list.csv.path {
            None => {
                problems.push(
                    format!("{key}.csv.path"),
                    format!("is required with {key}.source = \"csv\""),
                );
                None
            }
            Some(path) => problems
                .take(
                    &format!("{key}.csv.path"),
                    CsvSource::open_with(path, list.csv.watch, tree::parse_csv),
                )
                .map(Source::Csv),
        },
        ListSourceKind::Http => HttpSource::new_in(
            &list.http,
            &format!("{key}.http"),
            UrlTemplate::parse_for_list,
            Vec::new(),
            mode,
            problems,
        )
        .map(|h| Source::Http(Box::new(h))),
    }
}

/// The children of the request's parents as (code, label in the request's language).
fn tree_items<'a>(
    rows: &'a [Row],
    request: &FetchListRequest,
    lang: Option<&'a str>,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    tree::children(rows, &request.parents).map(move |n| (n.code.as_str(), n.label_in(lang)))
}

/// The items whose searched attribute matches, at most the request's limit.
fn matching<'a>(
    items: impl Iterator<Item = (&'a str, &'a str)>,
    request: &FetchListRequest,
) -> Vec<ListItem> {
    items
        .filter_map(|(code, text)| {
            let value = match request.search_by {
                SearchBy::Text => text,
                SearchBy::Code => code,
            };
            request.query.matches(value).then(|| ListItem {
                short_code: code.to_owned(),
                text: text.to_owned(),
                match_value: value.to_owned(),
            })
        })
        .take(request.limit)
        .collect()
}

/// The lookup URL's placeholders: `{long_code}`, `{parent}`, `{level1}`, … and `{lang}`.
fn facts(request: &FetchListRequest) -> ItemFacts {
    let mut facts = ItemFacts::default();
    facts.insert("long_code", request.long_code());
    facts.insert(
        "parent",
        request.parents.last().cloned().unwrap_or_default(),
    );
    for (i, code) in request.parents.iter().enumerate() {
        facts.insert(format!("level{}", i + 1), code.clone());
    }
    if let Some(lang) = &request.lang {
        facts.insert("lang", lang.clone());
    }
    facts
}

/// `{search}` for the lookup: the query up to its first `*` (`West*` → `West`, `*text` →
/// empty), so a backend searching by prefix or by substring answers every item the query
/// can match; the wildcard itself is applied to the answer here.
fn request_term(request: &FetchListRequest) -> String {
    let term = request.query.term();
    term.split('*').next().unwrap_or(term).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use concur_protocol::callout::xml::parse;

    fn settings(toml: &str) -> FetchListSettings {
        toml::from_str(toml).unwrap()
    }

    fn request(body: &str) -> FetchListRequest {
        FetchListRequest::from_element(&parse(body.as_bytes()).unwrap()).unwrap()
    }

    fn tree_lists() -> Lists {
        let s = settings(
            r#"
            [[lists]]
            name = "Cities"
            [[lists.items]]
            code = "US"
            label = "United States"
            labels = { DE = "Vereinigte Staaten" }
            [[lists.items.items]]
            code = "W"
            label = "West"
            items = [{ code = "CA", label = "California", items = [
                { code = "SF", label = "San Francisco" },
                { code = "SD", label = "San Diego" },
                { code = "LA", label = "Los Angeles" },
            ] }]
            "#,
        );
        Lists::from_settings(&s, Mode::Production).unwrap()
    }

    #[tokio::test]
    async fn searches_the_children_of_the_parents_by_text_or_code() {
        let lists = tree_lists();
        let search = |body: String| {
            let lists = &lists;
            async move {
                let r = request(&body);
                let items = lists
                    .search(lists.select(None, None).unwrap(), &r)
                    .await
                    .unwrap();
                items
                    .into_iter()
                    .map(|i| format!("{}={}/{}", i.short_code, i.text, i.match_value))
                    .collect::<Vec<_>>()
            }
        };
        let body = |long: &str, query: &str, by: &str, extra: &str| {
            format!(
                "<fetch-list-request><long-code>{long}</long-code><query>{query}</query>\
                 <search-by>{by}</search-by>{extra}</fetch-list-request>"
            )
        };
        assert_eq!(
            search(body("US-W-CA", "San*", "TEXT", "")).await,
            ["SF=San Francisco/San Francisco", "SD=San Diego/San Diego"]
        );
        assert_eq!(
            search(body("us-w-ca", "l*", "CODE", "")).await,
            ["LA=Los Angeles/LA"]
        );
        assert_eq!(
            search(body("US-W-CA", "sd", "CODE", "")).await,
            ["SD=San Diego/SD"]
        );
        assert_eq!(
            search(body("", "*", "TEXT", "<lang-code>de-DE</lang-code>")).await,
            ["US=Vereinigte Staaten/Vereinigte Staaten"]
        );
        assert!(search(body("US-E", "*", "TEXT", "")).await.is_empty());
        assert_eq!(
            search(body(
                "US-W-CA",
                "*",
                "TEXT",
                "<num-to-return>2</num-to-return>"
            ))
            .await
            .len(),
            2
        );
    }

    #[test]
    fn a_request_picks_its_list_by_name_then_the_default() {
        let s = settings(
            r#"
            [[lists]]
            name = "Projects"
            [[lists]]
            name = "Cities"
            default = true
            "#,
        );
        let lists = Lists::from_settings(&s, Mode::Production).unwrap();
        assert_eq!(lists.select(None, Some("projects")), Some(0));
        assert_eq!(lists.select(None, Some("unknown")), Some(1));
        assert_eq!(lists.select(None, None), Some(1));
        assert_eq!(lists.select(Some(0), Some("Cities")), Some(0));
        let s = settings("[[lists]]\nname = \"A\"\n[[lists]]\nname = \"B\"\n");
        let lists = Lists::from_settings(&s, Mode::Production).unwrap();
        assert_eq!(lists.select(None, None), None);
        let s = settings("[[lists]]\nname = \"Only\"\n");
        let lists = Lists::from_settings(&s, Mode::Production).unwrap();
        assert_eq!(lists.select(None, Some("other")), Some(0));
    }

    #[test]
    fn bad_lists_are_refused_naming_their_keys() {
        let s = settings(
            r#"
            timeout = "0s"
            [[lists]]
            name = "A"
            default = true
            items = [{ code = "X-1" }]
            [[lists]]
            name = "a"
            default = true
            [[lists]]
            source = "csv"
            [[lists]]
            name = "H"
            source = "http"
            http = { url = "https://h/{expense_type}" }
            "#,
        );
        let problems = Lists::from_settings(&s, Mode::Production).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "fetch_list.timeout",
                "fetch_list.lists[1].name",
                "fetch_list.lists[2].name",
                "fetch_list.lists",
                "fetch_list.lists[0].items[0].code",
                "fetch_list.lists[2].csv.path",
                "fetch_list.lists[3].http.url",
            ],
            "{problems:?}"
        );
        let off = settings("enabled = false\ntimeout = \"0s\"\n[[lists]]\nsource = \"csv\"\n");
        assert!(
            Lists::from_settings(&off, Mode::Production)
                .unwrap()
                .endpoints()
                .is_empty()
        );
    }

    #[test]
    fn the_development_profile_serves_projects_and_their_tasks() {
        let raw: crate::config::RawSettings =
            toml::from_str(crate::config::DEVELOPMENT_PROFILE).unwrap();
        let lists = Lists::from_settings(&raw.fetch_list, Mode::Development).unwrap();
        assert_eq!(lists.names(), ["Projects"]);
        assert_eq!(lists.select(None, None), Some(0));
        assert_eq!(lists.endpoints(), [(DEFAULT_PATH.to_owned(), None)]);
    }
}
