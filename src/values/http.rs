//! The HTTP source: a JSON lookup against the customer's system of record, with a short
//! cache keyed by the final URL and bounded in bytes (`values.http.cache_max_bytes`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use concur_client::body::{BodyError, read_limited};
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

/// The cached answer for one URL: the mapped values (or other records).
type Answer<T = Entry> = Arc<Vec<T>>;

/// A record an answer is mapped to; the cache weighs it in bytes.
pub(crate) trait Record: Send + Sync + 'static {
    fn memory_bytes(&self) -> usize;
}

impl Record for Entry {
    fn memory_bytes(&self) -> usize {
        Entry::memory_bytes(self)
    }
}

/// How a JSON answer becomes records.
pub(crate) type MapFn<T> = Box<dyn Fn(&Value) -> Result<Vec<T>, LookupError> + Send + Sync>;

/// Where a mapped field is found in an element.
#[derive(Debug, Clone)]
pub(crate) enum FieldPath {
    Key(String),
    Pointer(String),
}

impl FieldPath {
    pub fn new(spec: &str) -> Self {
        if spec.starts_with('/') {
            FieldPath::Pointer(spec.to_owned())
        } else {
            FieldPath::Key(spec.to_owned())
        }
    }

    pub fn get<'v>(&self, element: &'v Value) -> Option<&'v Value> {
        match self {
            FieldPath::Key(key) => element.get(key),
            FieldPath::Pointer(pointer) => element.pointer(pointer),
        }
    }

    pub fn describe(&self) -> &str {
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

/// One JSON lookup: the client, the URL template, the byte bounds and the cache. The
/// records are values ([`Entry`]) by default; other sources (attendees) bring their own
/// mapping through [`HttpSource::build`].
pub(crate) struct HttpSource<T = Entry> {
    client: reqwest::Client,
    template: UrlTemplate,
    timeout: Duration,
    /// The settings table served (`values.http`, `fetch_attendee.http`, ...), named in
    /// log lines.
    table: String,
    /// `max_response_bytes` of that table: a longer body is refused, never read whole.
    max_response_bytes: u64,
    mapping: MapFn<T>,
    /// `None` when `cache_ttl` is zero. Weighed in bytes, see [`weight`].
    cache: Option<moka::future::Cache<String, Answer<T>>>,
}

impl HttpSource {
    /// Checks the settings and builds the one client; problems are keyed `values.http.*`.
    pub fn new(
        settings: &HttpSettings,
        attributes: Vec<String>,
        mode: Mode,
        problems: &mut Problems,
    ) -> Option<Self> {
        Self::new_in(
            settings,
            "values.http",
            UrlTemplate::parse,
            attributes,
            mode,
            problems,
        )
    }

    /// [`new`](Self::new) for the `[…http]` table at `prefix` (problems keyed
    /// `{prefix}.*`) with the URL's placeholders read by `parse` (a Fetch List's lookup
    /// names parent codes, not item facts).
    pub fn new_in(
        settings: &HttpSettings,
        prefix: &str,
        parse: fn(&str) -> Result<UrlTemplate, String>,
        attributes: Vec<String>,
        mode: Mode,
        problems: &mut Problems,
    ) -> Option<Self> {
        let key = |name: &str| format!("{prefix}.{name}");
        let template = settings
            .url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .and_then(|url| check_template(&key("url"), url, parse, mode, problems));
        let mapping = Mapping {
            items: settings.items.clone(),
            code: FieldPath::new(settings.code.trim()),
            label: FieldPath::new(settings.label.trim()),
            list_item_id: settings
                .list_item_id
                .as_deref()
                .map(str::trim)
                .map(FieldPath::new),
            attributes,
        };
        let before = problems.len();
        let source = Self::build(
            settings,
            prefix,
            template,
            problems,
            Box::new(move |answer| mapping.entries(answer)),
        );
        for (name, value) in [
            ("code", Some(&settings.code)),
            ("label", Some(&settings.label)),
            ("list_item_id", settings.list_item_id.as_ref()),
        ] {
            if value.is_some_and(|v| v.trim().is_empty()) {
                problems.push(key(name), "must name a key or a JSON pointer");
            }
        }
        if problems.len() > before {
            None
        } else {
            source
        }
    }
}

impl<T: Record> HttpSource<T> {
    /// Checks the connection settings under `prefix` (`url`, `headers`, `bearer_token`,
    /// `timeout`, the byte bounds, `items`, `extra_ca_file`) and builds the one client.
    /// `template` is the checked `url` (`None` when missing or already refused).
    pub fn build(
        settings: &HttpSettings,
        prefix: &str,
        template: Option<UrlTemplate>,
        problems: &mut Problems,
        mapping: MapFn<T>,
    ) -> Option<Self> {
        let before = problems.len();
        let key = |name: &str| format!("{prefix}.{name}");
        if settings.url.as_deref().is_none_or(|u| u.trim().is_empty()) {
            let source = prefix.trim_end_matches(".http");
            problems.push(
                key("url"),
                format!("is required with {source}.source = \"http\""),
            );
        }
        let headers = headers(settings, prefix, problems);
        if settings.timeout.is_zero() {
            problems.push(key("timeout"), "must be greater than zero");
        }
        if settings.max_response_bytes == 0 {
            problems.push(key("max_response_bytes"), "must be greater than zero");
        }
        if settings.cache_max_bytes == 0 && !settings.cache_ttl.is_zero() {
            problems.push(
                key("cache_max_bytes"),
                "must be greater than zero (cache_ttl = \"0s\" switches the cache off)",
            );
        }
        if !settings.items.is_empty() && !settings.items.starts_with('/') {
            problems.push(
                key("items"),
                "must be a JSON pointer like /data/items, or empty for the answer itself",
            );
        }
        let roots = settings
            .extra_ca_file
            .as_deref()
            .and_then(|path| load_roots(path, &key("extra_ca_file"), problems));

        if problems.len() > before {
            return None;
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("concur-connector/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers?)
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
                problems.push(prefix, format!("cannot build the http client: {e}"));
                return None;
            }
        };
        let cache = (!settings.cache_ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .weigher(|url: &String, answer: &Answer<T>| weight(url, answer))
                .max_capacity(settings.cache_max_bytes)
                .time_to_live(settings.cache_ttl)
                .build()
        });
        Some(Self {
            client,
            template: template?,
            timeout: settings.timeout,
            table: prefix.to_owned(),
            max_response_bytes: settings.max_response_bytes,
            mapping,
            cache,
        })
    }

    /// All entries the backend returns for this search and item (cached per URL; failures
    /// are not cached). Concurrent identical lookups share one request.
    pub async fn entries(&self, search: &str, facts: &ItemFacts) -> Result<Answer<T>, LookupError> {
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

    async fn fetch(&self, url: &str) -> Result<Answer<T>, LookupError> {
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
                    table = %self.table,
                    url = without_query(url),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    %error,
                    "value lookup failed"
                );
                Err(error)
            }
        }
    }

    async fn request(&self, url: &str) -> Result<Vec<T>, LookupError> {
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
        let body = read_limited(&mut response, limit)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge { limit } => LookupError::TooLarge { limit },
                BodyError::Transport(e) => send_error(e),
            })?;
        let json: Value = serde_json::from_slice(&body).map_err(|e| LookupError::BadResponse {
            reason: format!("the answer is not JSON: {e}"),
        })?;
        (self.mapping)(&json)
    }
}

/// What a cached answer costs in bytes: the URL, the values as held in memory and the
/// cache's own bookkeeping (saturating at `u32::MAX`, moka's weight type).
fn weight<T: Record>(url: &str, answer: &[T]) -> u32 {
    let bytes = CACHE_ENTRY_OVERHEAD
        + url.len()
        + std::mem::size_of::<Vec<T>>()
        + answer.iter().map(Record::memory_bytes).sum::<usize>();
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
pub(crate) fn check_template(
    key: &str,
    url: &str,
    parse: impl FnOnce(&str) -> Result<UrlTemplate, String>,
    mode: Mode,
    problems: &mut Problems,
) -> Option<UrlTemplate> {
    let template = problems.take(key, parse(url))?;
    let sample = template
        .render("x", &ItemFacts::default())
        .unwrap_or_default();
    crate::checks::web_url(problems, key, &sample, mode).map(|_| template)
}

/// `Accept`, the configured extra headers and the bearer token, all but `Accept` marked
/// sensitive so they never show in debug output.
fn headers(settings: &HttpSettings, prefix: &str, problems: &mut Problems) -> Option<HeaderMap> {
    let before = problems.len();
    let mut map = HeaderMap::new();
    map.insert(ACCEPT, HeaderValue::from_static("application/json"));
    for (name, value) in &settings.headers {
        let key = format!("{prefix}.headers.{name}");
        let name = problems.take(&key, HeaderName::from_bytes(name.trim().as_bytes()));
        let value = problems.take(&key, HeaderValue::from_str(value.trim()));
        if let (Some(name), Some(mut value)) = (name, value) {
            value.set_sensitive(true);
            map.insert(name, value);
        }
    }
    let token_key = format!("{prefix}.bearer_token");
    let token = secret::resolve(
        problems,
        &token_key,
        settings
            .bearer_token
            .clone()
            .filter(|t| !secret::is_blank(t)),
        settings.bearer_token_file.as_deref(),
    );
    if let Some(token) = token {
        if map.contains_key(AUTHORIZATION) {
            problems.push(
                &token_key,
                "set either a bearer token or an Authorization header, not both",
            );
        }
        match HeaderValue::from_str(&format!("Bearer {}", token.expose_secret().trim())) {
            Ok(mut value) => {
                value.set_sensitive(true);
                map.insert(AUTHORIZATION, value);
            }
            Err(_) => problems.push(&token_key, "holds characters not allowed in a header"),
        }
    }
    (problems.len() == before).then_some(map)
}

pub(crate) fn load_roots(
    path: &Path,
    key: &str,
    problems: &mut Problems,
) -> Option<Vec<reqwest::Certificate>> {
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
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
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
        assert!(weight::<Entry>("u", &[]) > 0);
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
                "values.http.extra_ca_file",
                "values.http.code"
            ]
        );
        let mut s = settings("https://h/");
        s.bearer_token = Some(crate::checks::secret("t"));
        s.headers.insert("Authorization".into(), "Basic x".into());
        assert_eq!(problem_keys(&s), ["values.http.bearer_token"]);
    }
}
