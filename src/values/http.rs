//! The HTTP source: a JSON lookup against the customer's system of record, with a short
//! cache keyed by the final URL and bounded in bytes (`values.http.cache_max_bytes`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::Value;

use super::table::{Entry, attribute_values, scalar};
use super::template::UrlTemplate;
use super::{Choice, HttpSettings, ItemFacts, LookupError};
use crate::checks::secret;
use crate::checks::{Mode, Problems};

/// What moka itself keeps per cached entry besides the key and the value, roughly.
const CACHE_ENTRY_OVERHEAD: usize = 160;

/// The cached answer for one URL: the mapped values.
type Answer = Arc<Vec<Entry>>;

/// Where a mapped field is found in an element.
#[derive(Debug, Clone)]
enum FieldPath {
    Key(String),
    Pointer(String),
}

impl FieldPath {
    fn new(spec: &str) -> Self {
        if spec.starts_with('/') {
            FieldPath::Pointer(spec.to_owned())
        } else {
            FieldPath::Key(spec.to_owned())
        }
    }

    fn get<'v>(&self, element: &'v Value) -> Option<&'v Value> {
        match self {
            FieldPath::Key(key) => element.get(key),
            FieldPath::Pointer(pointer) => element.pointer(pointer),
        }
    }

    fn describe(&self) -> &str {
        match self {
            FieldPath::Key(s) | FieldPath::Pointer(s) => s,
        }
    }
}

/// How an answer becomes entries.
#[derive(Debug, Clone)]
struct Mapping {
    items: String,
    code: FieldPath,
    label: FieldPath,
    list_item_id: Option<FieldPath>,
    /// Attributes the filters use, read from the element's keys of the same name.
    attributes: Vec<String>,
}

pub(crate) struct HttpSource {
    client: reqwest::Client,
    template: UrlTemplate,
    timeout: Duration,
    /// `values.http.max_response_bytes`: a longer body is refused, never read whole.
    max_response_bytes: u64,
    mapping: Mapping,
    /// `None` when `cache_ttl` is zero. Weighed in bytes, see [`weight`].
    cache: Option<moka::future::Cache<String, Answer>>,
}

/// `[values.http]` once checked: what building the source needs besides the settings.
pub(crate) struct CheckedHttp {
    template: UrlTemplate,
    headers: HeaderMap,
    roots: Option<Vec<reqwest::Certificate>>,
}

impl HttpSource {
    /// Checks the settings and builds the one client in one step (the tests' shortcut).
    #[cfg(test)]
    pub fn new(
        settings: &HttpSettings,
        attributes: Vec<String>,
        mode: Mode,
        problems: &mut Problems,
    ) -> Option<Self> {
        let checked = Self::check(settings, mode, problems)?;
        Self::build(settings, checked, attributes, problems)
    }

    /// Checks the settings without building anything; problems are keyed `values.http.*`.
    pub fn check(
        settings: &HttpSettings,
        mode: Mode,
        problems: &mut Problems,
    ) -> Option<CheckedHttp> {
        let before = problems.len();
        let template = match settings.url.as_deref().map(str::trim) {
            None | Some("") => {
                problems.push(
                    "values.http.url",
                    "is required with values.source = \"http\"",
                );
                None
            }
            Some(url) => check_template(url, mode, problems),
        };
        let headers = headers(settings, problems);
        if settings.timeout.is_zero() {
            problems.push("values.http.timeout", "must be greater than zero");
        }
        if settings.max_response_bytes == 0 {
            problems.push(
                "values.http.max_response_bytes",
                "must be greater than zero",
            );
        }
        if settings.cache_max_bytes == 0 && !settings.cache_ttl.is_zero() {
            problems.push(
                "values.http.cache_max_bytes",
                "must be greater than zero (cache_ttl = \"0s\" switches the cache off)",
            );
        }
        if !settings.items.is_empty() && !settings.items.starts_with('/') {
            problems.push(
                "values.http.items",
                "must be a JSON pointer like /data/items, or empty for the answer itself",
            );
        }
        for (key, value) in [
            ("values.http.code", Some(&settings.code)),
            ("values.http.label", Some(&settings.label)),
            ("values.http.list_item_id", settings.list_item_id.as_ref()),
        ] {
            if value.is_some_and(|v| v.trim().is_empty()) {
                problems.push(key, "must name a key or a JSON pointer");
            }
        }
        let roots = settings
            .extra_ca_file
            .as_deref()
            .and_then(|path| load_roots(path, problems));

        if problems.len() > before {
            return None;
        }
        Some(CheckedHttp {
            template: template?,
            headers: headers?,
            roots,
        })
    }

    /// Builds the one client and the cache from checked settings.
    pub fn build(
        settings: &HttpSettings,
        checked: CheckedHttp,
        attributes: Vec<String>,
        problems: &mut Problems,
    ) -> Option<Self> {
        let CheckedHttp {
            template,
            headers,
            roots,
        } = checked;
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("concur-connector/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout)
            // A redirect could carry the bearer token elsewhere; a 3xx is "unavailable".
            .redirect(reqwest::redirect::Policy::none());
        if let Some(roots) = roots {
            builder = builder.tls_certs_merge(roots);
        }
        let client = match builder.build() {
            Ok(client) => client,
            Err(e) => {
                problems.push("values.http", format!("cannot build the http client: {e}"));
                return None;
            }
        };
        let cache = (!settings.cache_ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .weigher(|url: &String, answer: &Answer| weight(url, answer))
                .max_capacity(settings.cache_max_bytes)
                .time_to_live(settings.cache_ttl)
                .build()
        });
        Some(Self {
            client,
            template,
            timeout: settings.timeout,
            max_response_bytes: settings.max_response_bytes,
            mapping: Mapping {
                items: settings.items.clone(),
                code: FieldPath::new(settings.code.trim()),
                label: FieldPath::new(settings.label.trim()),
                list_item_id: settings
                    .list_item_id
                    .as_deref()
                    .map(str::trim)
                    .map(FieldPath::new),
                attributes,
            },
            cache,
        })
    }

    /// All entries the backend returns for this search and item (cached per URL; failures
    /// are not cached). Concurrent identical lookups share one request.
    pub async fn entries(&self, search: &str, facts: &ItemFacts) -> Result<Answer, LookupError> {
        let search = super::search_text(search);
        let Some(url) = self.template.render(search, facts) else {
            // A `.` or `..` path segment would leave the configured path: nothing can match.
            tracing::debug!("a value would be a dot segment of the lookup path; nothing looked up");
            return Ok(Arc::new(Vec::new()));
        };
        match &self.cache {
            Some(cache) => {
                let entry = cache
                    .entry_by_ref(&url)
                    .or_try_insert_with(self.fetch(&url))
                    .await
                    .map_err(|e| (*e).clone())?;
                if entry.is_fresh() {
                    // moka evicts lazily, once every 64 writes: answers of a megabyte each
                    // would pile up far beyond cache_max_bytes meanwhile. A new answer
                    // cost a lookup anyway; evicting now keeps the bound.
                    cache.run_pending_tasks().await;
                }
                Ok(entry.into_value())
            }
            None => self.fetch(&url).await,
        }
    }

    /// True when `{search}` is part of the URL.
    pub fn sends_search(&self) -> bool {
        self.template.uses_search()
    }

    async fn fetch(&self, url: &str) -> Result<Answer, LookupError> {
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(self.timeout, self.request(url))
            .await
            .unwrap_or(Err(LookupError::Timeout {
                after: self.timeout,
            }));
        match result {
            Ok(entries) => Ok(Arc::new(entries)),
            Err(error) => {
                tracing::warn!(
                    url = without_query(url),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    %error,
                    "value lookup failed"
                );
                Err(error)
            }
        }
    }

    async fn request(&self, url: &str) -> Result<Vec<Entry>, LookupError> {
        let send_error = |e: reqwest::Error| {
            if e.is_timeout() {
                LookupError::Timeout {
                    after: self.timeout,
                }
            } else {
                LookupError::Unavailable {
                    reason: error_chain(&e.without_url()),
                }
            }
        };
        let mut response = self.client.get(url).send().await.map_err(send_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(LookupError::Unavailable {
                reason: format!("the lookup service answered {status}"),
            });
        }
        let limit = self.max_response_bytes;
        let too_large = || LookupError::TooLarge { limit };
        // A declared length says it at once; else (or if it lies) the count of what arrived.
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(send_error)? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let json: Value = serde_json::from_slice(&body).map_err(|e| LookupError::BadResponse {
            reason: format!("the answer is not JSON: {e}"),
        })?;
        self.mapping.entries(&json)
    }
}

/// What a cached answer costs in bytes: the URL, the values as held in memory and the
/// cache's own bookkeeping (saturating at `u32::MAX`, moka's weight type).
fn weight(url: &str, answer: &[Entry]) -> u32 {
    let bytes = CACHE_ENTRY_OVERHEAD
        + url.len()
        + std::mem::size_of::<Vec<Entry>>()
        + answer.iter().map(Entry::memory_bytes).sum::<usize>();
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

impl Mapping {
    fn entries(&self, answer: &Value) -> Result<Vec<Entry>, LookupError> {
        let bad = |reason: String| LookupError::BadResponse { reason };
        let items = answer
            .pointer(&self.items)
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("no array at `{}` in the answer", self.items)))?;
        items
            .iter()
            .enumerate()
            .map(|(index, element)| {
                let text = |path: &FieldPath| path.get(element).and_then(scalar);
                let required = |path: &FieldPath| {
                    text(path)
                        .map(|t| t.trim().to_owned())
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| {
                            bad(format!(
                                "element {index} has no text at `{}`",
                                path.describe()
                            ))
                        })
                };
                let mut entry = Entry::new(Choice {
                    code: required(&self.code)?,
                    label: required(&self.label)?,
                    list_item_id: self
                        .list_item_id
                        .as_ref()
                        .and_then(text)
                        .map(|t| t.trim().to_owned())
                        .filter(|t| !t.is_empty()),
                });
                for name in &self.attributes {
                    let value = element.as_object().and_then(|object| {
                        object
                            .iter()
                            .find(|(key, _)| key.eq_ignore_ascii_case(name))
                            .map(|(_, v)| v)
                    });
                    if let Some(values) = value.and_then(attribute_values) {
                        entry.add_attribute(name, values.iter().map(String::as_str));
                    }
                }
                Ok(entry)
            })
            .collect()
    }
}

/// Parses the template and checks that it yields an https URL (http in development mode).
fn check_template(url: &str, mode: Mode, problems: &mut Problems) -> Option<UrlTemplate> {
    let key = "values.http.url";
    let template = problems.take(key, UrlTemplate::parse(url))?;
    let sample = template
        .render("x", &ItemFacts::default())
        .unwrap_or_default();
    crate::checks::web_url(problems, key, &sample, mode).map(|_| template)
}

/// `Accept`, the configured extra headers and the bearer token, all but `Accept` marked
/// sensitive so they never show in debug output.
fn headers(settings: &HttpSettings, problems: &mut Problems) -> Option<HeaderMap> {
    let before = problems.len();
    let mut map = HeaderMap::new();
    map.insert(ACCEPT, HeaderValue::from_static("application/json"));
    for (name, value) in &settings.headers {
        let key = format!("values.http.headers.{name}");
        let name = problems.take(&key, HeaderName::from_bytes(name.trim().as_bytes()));
        let value = problems.take(&key, HeaderValue::from_str(value.trim()));
        if let (Some(name), Some(mut value)) = (name, value) {
            value.set_sensitive(true);
            map.insert(name, value);
        }
    }
    let token = secret::resolve(
        problems,
        "values.http.bearer_token",
        settings
            .bearer_token
            .clone()
            .filter(|t| !secret::is_blank(t)),
        settings.bearer_token_file.as_deref(),
    );
    if let Some(token) = token {
        if map.contains_key(AUTHORIZATION) {
            problems.push(
                "values.http.bearer_token",
                "set either a bearer token or an Authorization header, not both",
            );
        }
        match HeaderValue::from_str(&format!("Bearer {}", token.expose_secret().trim())) {
            Ok(mut value) => {
                value.set_sensitive(true);
                map.insert(AUTHORIZATION, value);
            }
            Err(_) => problems.push(
                "values.http.bearer_token",
                "holds characters not allowed in a header",
            ),
        }
    }
    (problems.len() == before).then_some(map)
}

fn load_roots(path: &Path, problems: &mut Problems) -> Option<Vec<reqwest::Certificate>> {
    let key = "values.http.extra_ca_file";
    let pem = match std::fs::read(path) {
        Ok(pem) => pem,
        Err(e) => {
            problems.push(key, format!("cannot read {}: {e}", path.display()));
            return None;
        }
    };
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Some(certs),
        Ok(_) => {
            problems.push(key, format!("{} holds no pem certificate", path.display()));
            None
        }
        Err(e) => {
            problems.push(
                key,
                format!("{} is not a pem certificate bundle: {e}", path.display()),
            );
            None
        }
    }
}

/// The URL for logs: the query (and fragment) may hold what the user typed.
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

/// The error and its causes on one line (reqwest's own message is only the outermost).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(items: &str, code: &str, label: &str, id: Option<&str>) -> Mapping {
        Mapping {
            items: items.into(),
            code: FieldPath::new(code),
            label: FieldPath::new(label),
            list_item_id: id.map(FieldPath::new),
            attributes: vec!["expense_types".into()],
        }
    }

    #[test]
    fn maps_keys_and_pointers_at_any_depth() {
        let answer = json!({"data": {"projects": [
            {"id": 1001, "info": {"name": "Apollo"}, "concur": {"itemId": "LI-1"}, "Expense_Types": ["AIRFR", "TAXI"]},
            {"id": "1002", "info": {"name": "Zeus"}, "expense_types": "LUNCH"},
        ]}});
        let m = mapping("/data/projects", "id", "/info/name", Some("/concur/itemId"));
        let entries = m.entries(&answer).unwrap();
        let choices: Vec<_> = entries.iter().map(|e| e.choice.clone()).collect();
        assert_eq!(
            choices,
            [
                Choice {
                    code: "1001".into(),
                    label: "Apollo".into(),
                    list_item_id: Some("LI-1".into())
                },
                Choice {
                    code: "1002".into(),
                    label: "Zeus".into(),
                    list_item_id: None
                }
            ]
        );
        let mut first = Entry::new(choices[0].clone());
        first.add_attribute("expense_types", ["AIRFR", "TAXI"]);
        assert_eq!(entries[0], first, "attributes are read case-insensitively");
    }

    #[test]
    fn the_root_array_is_the_default() {
        let entries = mapping("", "code", "label", None)
            .entries(&json!([{"code": "A", "label": "a"}]))
            .unwrap();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn unusable_answers_say_what_is_missing() {
        for (answer, items, why) in [
            (json!({"x": []}), "/data", "no array at `/data`"),
            (json!({"data": {}}), "/data", "no array at `/data`"),
            (
                json!([{"label": "a"}]),
                "",
                "element 0 has no text at `code`",
            ),
            (
                json!([{"code": "A", "label": "a"}, {"code": "B", "label": {"x": 1}}]),
                "",
                "element 1 has no text at `label`",
            ),
            (
                json!([{"code": " ", "label": "a"}]),
                "",
                "element 0 has no text at `code`",
            ),
        ] {
            let error = mapping(items, "code", "label", None)
                .entries(&answer)
                .unwrap_err();
            assert!(
                matches!(&error, LookupError::BadResponse { reason } if reason.contains(why)),
                "{answer}: {error}"
            );
        }
    }

    fn answer(n: usize, text_len: usize) -> Answer {
        Arc::new(
            (0..n)
                .map(|i| {
                    Entry::new(Choice {
                        code: format!("{i:0text_len$}"),
                        label: "x".repeat(text_len),
                        list_item_id: None,
                    })
                })
                .collect(),
        )
    }

    #[test]
    fn an_answer_weighs_what_its_values_hold() {
        let small = weight("https://h/p?q=a", &answer(10, 10));
        let large = weight("https://h/p?q=a", &answer(10, 1000));
        // Code and label, each also kept lower-cased: four copies of the text per value.
        assert!(large - small >= 10 * 4 * 990, "{small} {large}");
        let long_url = weight(
            &format!("https://h/p?q=a{}", "b".repeat(500)),
            &answer(10, 10),
        );
        assert_eq!(long_url - small, 500, "the key counts too");
        assert!(weight("u", &[]) > 0);
    }

    #[tokio::test]
    async fn the_cache_never_holds_more_than_cache_max_bytes() {
        let mut s = settings("https://h/p?q={search}");
        s.cache_max_bytes = 200_000;
        let mut problems = Problems::default();
        let source = HttpSource::new(&s, Vec::new(), Mode::Production, &mut problems).unwrap();
        let cache = source.cache.as_ref().unwrap();
        let one = answer(50, 100);
        let each = u64::from(weight("https://h/p?q=search-000", &one));
        assert!(each > 20_000, "{each}");
        for i in 0..300 {
            cache
                .insert(format!("https://h/p?q=search-{i:03}"), one.clone())
                .await;
            cache.run_pending_tasks().await;
            assert!(
                cache.weighted_size() <= s.cache_max_bytes,
                "after {i}: {} bytes",
                cache.weighted_size()
            );
        }
        assert!(cache.entry_count() <= s.cache_max_bytes / each);
        assert!(cache.entry_count() > 0, "answers within the bound are kept");
    }

    #[tokio::test]
    async fn lookups_keep_the_cache_within_its_bytes_without_waiting_for_moka() {
        use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};
        let server = MockServer::start().await;
        let values: Vec<_> = (0..50)
            .map(|i| json!({"code": format!("C-{i:03}"), "label": "l".repeat(100)}))
            .collect();
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_json(values))
            .mount(&server)
            .await;
        let mut s = settings(&format!("{}/p?q={{search}}", server.uri()));
        s.cache_max_bytes = 200_000;
        let mut problems = Problems::default();
        let source = HttpSource::new(&s, Vec::new(), Mode::Development, &mut problems).unwrap();
        let facts = ItemFacts::default();
        let mut each = 0;
        for i in 0..100 {
            let answer = source.entries(&format!("s{i:03}"), &facts).await.unwrap();
            each = u64::from(weight(&format!("{}/p?q=s000", server.uri()), &answer));
        }
        // What the cache holds right now, evicted or not by its maintenance.
        let held = source.cache.as_ref().unwrap().iter().count() as u64;
        assert!(
            held <= s.cache_max_bytes / each,
            "{held} answers of {each} bytes"
        );
    }

    #[test]
    fn zero_bounds_are_refused() {
        let mut s = settings("https://h/p?q={search}");
        s.cache_max_bytes = 0;
        s.max_response_bytes = 0;
        assert_eq!(
            problem_keys(&s),
            [
                "values.http.max_response_bytes",
                "values.http.cache_max_bytes"
            ]
        );
        s.max_response_bytes = 1;
        s.cache_ttl = Duration::ZERO;
        assert!(problem_keys(&s).is_empty(), "no cache, no cache bound");
    }

    #[test]
    fn logged_urls_lose_their_query() {
        assert_eq!(without_query("https://h/p?q=secret#f"), "https://h/p");
        assert_eq!(without_query("https://h/p"), "https://h/p");
    }

    fn settings(url: &str) -> HttpSettings {
        HttpSettings {
            url: Some(url.into()),
            ..HttpSettings::default()
        }
    }

    fn problem_keys(settings: &HttpSettings) -> Vec<String> {
        let mut problems = Problems::default();
        let source = HttpSource::new(settings, Vec::new(), Mode::Production, &mut problems);
        let problems = problems.into_vec();
        assert_eq!(source.is_none(), !problems.is_empty());
        problems.into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn bad_http_settings_are_named() {
        assert!(problem_keys(&settings("https://erp.example/p?q={search}")).is_empty());
        assert_eq!(problem_keys(&HttpSettings::default()), ["values.http.url"]);
        assert_eq!(
            problem_keys(&settings("ftp://h/{search}")),
            ["values.http.url"]
        );
        assert_eq!(
            problem_keys(&settings("not a url {search}")),
            ["values.http.url"]
        );
        let mut s = settings("https://h/");
        s.timeout = Duration::ZERO;
        s.items = "data".into();
        s.code = " ".into();
        s.headers.insert("bad header".into(), "x".into());
        s.extra_ca_file = Some("/nonexistent/ca.pem".into());
        assert_eq!(
            problem_keys(&s),
            [
                "values.http.headers.bad header",
                "values.http.timeout",
                "values.http.items",
                "values.http.code",
                "values.http.extra_ca_file"
            ]
        );
        let mut s = settings("https://h/");
        s.bearer_token = Some(crate::checks::secret("t"));
        s.headers.insert("Authorization".into(), "Basic x".into());
        assert_eq!(problem_keys(&s), ["values.http.bearer_token"]);
    }
}
