//! Value sources through the public API: inline list, CSV file with live reload, HTTP
//! lookup against wiremock; search, item filters, resolve and the result cap.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use concur_connector::config::{self, Mode, Origin};
use concur_connector::values::{Choice, ItemFacts, LookupError, Values, ValuesSettings};
use serde_json::json;
use wiremock::matchers::{bearer_token, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fixtures::{eventually, until};
use crate::helpers::{capture_logs, captured_logs, write_atomically};

/// `[values]` written as in the configuration file, checked as in development mode (the
/// wiremock lookups speak plain http, which production refuses).
fn values(toml_text: &str) -> Values {
    let settings: ValuesSettings = toml::from_str(toml_text).expect("valid [values] toml");
    Values::from_settings(&settings, Mode::Development).expect("valid values settings")
}

fn problem_keys(toml_text: &str) -> Vec<String> {
    let settings: ValuesSettings = toml::from_str(toml_text).expect("valid [values] toml");
    Values::from_settings(&settings, Mode::Development)
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.key)
        .collect()
}

fn item(expense_type: Option<&str>) -> ItemFacts {
    let mut facts = ItemFacts::default();
    facts.insert("company", "acme.example");
    facts.insert("user", "jane@acme.example");
    if let Some(t) = expense_type {
        facts.insert("expense_type", t);
    }
    facts
}

fn codes(choices: &[Choice]) -> Vec<&str> {
    choices.iter().map(|c| c.code.as_str()).collect()
}

const PROJECTS: &str = r#"
source = "inline"

[[values.inline]]
code = "PRJ-1001"
label = "Apollo website relaunch"
list_item_id = "LI-1001"

[[values.inline]]
code = "PRJ-1002"
label = "Summit travel"
expense_types = ["AIRFR", "LODNG", "TAXI"]

[[values.inline]]
code = "PRJ-1003"
label = "Team lunches"
expense_types = "LUNCH"
"#;

/// The `[values]` text above is nested under `values` in the file; strip that for serde.
fn inline_projects() -> Values {
    values(&PROJECTS.replace("[[values.inline]]", "[[inline]]"))
}

// ---------------------------------------------------------------- inline

#[tokio::test]
async fn inline_search_matches_code_or_label_case_insensitively() {
    let values = inline_projects();
    let none = item(None);
    let got = values.search("apollo", &none).await.unwrap();
    assert_eq!(
        got,
        [Choice {
            code: "PRJ-1001".into(),
            label: "Apollo website relaunch".into(),
            list_item_id: Some("LI-1001".into())
        }]
    );
    assert_eq!(
        codes(&values.search("prj-100", &none).await.unwrap()),
        ["PRJ-1001", "PRJ-1002", "PRJ-1003"]
    );
    assert_eq!(
        codes(&values.search("  ", &none).await.unwrap()).len(),
        3,
        "a blank search lists everything"
    );
    assert!(values.search("zeus", &none).await.unwrap().is_empty());
}

#[tokio::test]
async fn inline_values_are_filtered_by_the_items_expense_type() {
    let values = inline_projects();
    let cases = [
        (Some("AIRFR"), vec!["PRJ-1001", "PRJ-1002"], "travel entry"),
        (
            Some("lunch"),
            vec!["PRJ-1001", "PRJ-1003"],
            "lunch, other case",
        ),
        (Some("OFCSP"), vec!["PRJ-1001"], "a type no value lists"),
        (
            None,
            vec!["PRJ-1001", "PRJ-1002", "PRJ-1003"],
            "item not read",
        ),
    ];
    for (expense_type, want, why) in cases {
        let got = values.search("", &item(expense_type)).await.unwrap();
        assert_eq!(codes(&got), want, "{why}");
    }
}

#[tokio::test]
async fn resolve_rejects_a_code_filtered_out_for_the_items_expense_type() {
    let values = inline_projects();
    let lunch = item(Some("LUNCH"));
    assert_eq!(values.resolve("PRJ-1002", &lunch).await.unwrap(), None);
    assert_eq!(
        values
            .resolve("PRJ-1002", &item(Some("TAXI")))
            .await
            .unwrap()
            .map(|c| c.label),
        Some("Summit travel".to_owned())
    );
    assert_eq!(
        values.resolve("prj-1003", &lunch).await.unwrap(),
        None,
        "codes match exactly"
    );
    assert_eq!(values.resolve("NOPE", &lunch).await.unwrap(), None);
}

#[tokio::test]
async fn an_empty_match_table_filters_nothing() {
    let values = values(&format!(
        "{}\n[match]\n",
        PROJECTS.replace("[[values.inline]]", "[[inline]]")
    ));
    let got = values.search("", &item(Some("OFCSP"))).await.unwrap();
    assert_eq!(codes(&got).len(), 3);
}

#[tokio::test]
async fn search_returns_at_most_max_results_in_source_order() {
    let mut text = String::from("max_results = 5\n");
    for i in 0..20 {
        text.push_str(&format!(
            "[[inline]]\ncode = \"C{i:02}\"\nlabel = \"Value {i}\"\n"
        ));
    }
    let values = values(&text);
    assert_eq!(values.max_results(), 5);
    let got = values.search("value", &item(None)).await.unwrap();
    assert_eq!(codes(&got), ["C00", "C01", "C02", "C03", "C04"]);

    let mut text = String::new();
    for i in 0..150 {
        text.push_str(&format!("[[inline]]\ncode = \"C{i:03}\"\n"));
    }
    let got = self::values(&text).search("", &item(None)).await.unwrap();
    assert_eq!(got.len(), 100, "the default cap is Concur-page sized: 100");
}

#[test]
fn max_results_outside_1_to_100_is_a_config_problem() {
    for n in [0, 101] {
        assert_eq!(
            problem_keys(&format!("max_results = {n}")),
            ["values.max_results"]
        );
    }
}

#[tokio::test]
async fn the_config_file_and_environment_reach_the_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("connector.toml");
    std::fs::write(
        &file,
        format!(
            "development = true\n[server]\nbind = \"127.0.0.1:8443\"\n[tls]\nenabled = false\n[connector]\nusername = \"TestConnectorUser\"\npassword = \"another-s3cret-password\"\n[values]\nmax_results = 7\n{PROJECTS}"
        ),
    )
    .unwrap();
    let env = HashMap::from([(
        "CONCUR_CONNECTOR__VALUES__MAX_RESULTS".to_owned(),
        "2".to_owned(),
    )]);
    let settings = config::load_with_env(&Origin::File(file), Some(env)).unwrap();
    let values = Values::from_settings(&settings.values, Mode::of(settings.development)).unwrap();
    assert_eq!(values.max_results(), 2);
    let got = values.search("", &item(Some("AIRFR"))).await.unwrap();
    assert_eq!(codes(&got), ["PRJ-1001", "PRJ-1002"]);
}

#[tokio::test]
async fn the_development_profile_has_demo_projects_filtered_by_expense_type() {
    let settings = config::load_with_env(&Origin::Embedded, Some(HashMap::new())).unwrap();
    let values = Values::from_settings(&settings.values, Mode::of(settings.development)).unwrap();
    let all = values.search("", &item(None)).await.unwrap();
    assert_eq!(all.len(), 9);
    assert_eq!(
        all[0].code, "PRJ-0001",
        "the seed's current value is on the list"
    );
    let airfare = values.search("", &item(Some("AIRFR"))).await.unwrap();
    let lunch = values.search("", &item(Some("LUNCH"))).await.unwrap();
    assert!(airfare.len() < all.len() && lunch.len() < all.len());
    assert_ne!(codes(&airfare), codes(&lunch));
    assert!(codes(&airfare).contains(&"PRJ-1001"), "some fit every type");
}

#[tokio::test]
async fn free_text_lists_nothing_and_accepts_up_to_48_characters() {
    let values = values("source = \"free_text\"");
    assert!(values.is_free_text());
    assert!(values.search("", &item(None)).await.unwrap().is_empty());
    let ok = "x".repeat(48);
    assert_eq!(
        values
            .resolve(&ok, &item(None))
            .await
            .unwrap()
            .map(|c| c.code),
        Some(ok)
    );
    assert_eq!(
        values.resolve(&"x".repeat(49), &item(None)).await.unwrap(),
        None
    );
}

// ---------------------------------------------------------------- csv

fn csv_values(file: &Path) -> Values {
    values(&format!(
        "source = \"csv\"\n[csv]\npath = {:?}\n",
        file.display().to_string()
    ))
}

/// Searches until `done` holds for the result (a reload is picked up); fails if it never does.
async fn search_until(
    values: &Values,
    facts: &ItemFacts,
    done: impl Fn(&[Choice]) -> bool,
) -> Vec<Choice> {
    eventually("the values change", async || {
        let got = values.search("", facts).await.unwrap();
        done(&got).then_some(got)
    })
    .await
}

fn write_in_place(file: &Path, content: &str) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(file)
        .unwrap();
    f.write_all(content.as_bytes()).unwrap();
}

#[tokio::test]
async fn the_csv_file_is_read_with_attributes_and_multi_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.csv");
    std::fs::write(
        &file,
        "code,label,list_item_id,expense_types\nA,\"Alpha, one\",LI-A,AIRFR|TAXI\nB,Beta,,\n",
    )
    .unwrap();
    let values = csv_values(&file);
    let taxi = values.search("", &item(Some("TAXI"))).await.unwrap();
    assert_eq!(
        taxi,
        [
            Choice {
                code: "A".into(),
                label: "Alpha, one".into(),
                list_item_id: Some("LI-A".into())
            },
            Choice {
                code: "B".into(),
                label: "Beta".into(),
                list_item_id: None
            }
        ]
    );
    assert_eq!(
        codes(&values.search("", &item(Some("LUNCH"))).await.unwrap()),
        ["B"]
    );
    assert_eq!(
        values.resolve("A", &item(Some("LUNCH"))).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn the_sample_csv_file_is_valid() {
    let values = csv_values(Path::new("config/values-example.csv"));
    let all = values.search("", &item(None)).await.unwrap();
    assert!(all.len() >= 5, "{all:?}");
    assert!(all.iter().any(|c| c.label.contains(',')), "shows quoting");
}

#[tokio::test]
async fn a_csv_change_is_picked_up_whether_renamed_into_place_or_written_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.csv");
    std::fs::write(&file, "code,label\nA,Alpha\n").unwrap();
    let values = csv_values(&file);
    let facts = item(None);
    assert_eq!(codes(&values.search("", &facts).await.unwrap()), ["A"]);

    write_atomically(&file, "code,label\nA,Alpha\nB,Beta\n");
    let got = search_until(&values, &facts, |c| c.len() == 2).await;
    assert_eq!(codes(&got), ["A", "B"], "renamed into place");

    write_in_place(&file, "code,label\nC,Gamma\n");
    let got = search_until(&values, &facts, |c| codes(c) == ["C"]).await;
    assert_eq!(codes(&got), ["C"], "written in place");
}

#[tokio::test]
async fn a_broken_csv_change_keeps_the_previous_values() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken-test.csv");
    std::fs::write(&file, "code,label\nA,Alpha\n").unwrap();
    let values = csv_values(&file);
    let facts = item(None);

    write_atomically(&file, "name,description\nX,broken header\n");
    until("the failed reload is logged", async || {
        captured_logs().contains("keeping the previous values")
    })
    .await;
    let log = captured_logs();
    assert!(
        log.contains("keeping the previous values") && log.contains("broken-test.csv"),
        "the failed reload is logged: {log}"
    );
    assert_eq!(codes(&values.search("", &facts).await.unwrap()), ["A"]);

    write_atomically(&file, "code,label\nD,Delta\n");
    let got = search_until(&values, &facts, |c| codes(c) == ["D"]).await;
    assert_eq!(codes(&got), ["D"], "a repaired file is picked up");
}

#[test]
fn a_missing_or_invalid_csv_at_start_up_is_a_config_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.csv");
    let broken = dir.path().join("broken.csv");
    std::fs::write(&broken, "code\nA\n").unwrap();
    for file in [missing, broken] {
        let settings: ValuesSettings = toml::from_str(&format!(
            "source = \"csv\"\n[csv]\npath = {:?}\nwatch = false\n",
            file.display().to_string()
        ))
        .unwrap();
        let problems = Values::from_settings(&settings, Mode::Production).unwrap_err();
        assert_eq!(problems[0].key, "values.csv.path");
        assert!(
            problems[0].message.contains(&file.display().to_string()),
            "{problems:?}"
        );
    }
}

// ---------------------------------------------------------------- http

fn http_values(server: &MockServer, extra: &str) -> Values {
    values(&format!(
        "source = \"http\"\n[http]\nurl = \"{}/projects?q={{search}}&type={{expense_type}}&company={{company}}&cc={{field.custom9}}\"\nbearer_token = \"erp-token-123\"\n{extra}",
        server.uri()
    ))
}

fn projects_body() -> serde_json::Value {
    json!({"result": {"projects": [
        {"id": "P-1", "name": {"en": "Apollo R&D tools"}, "concur": {"itemId": "LI-1"}},
        {"id": 2, "name": {"en": "Summit travel"}, "expense_types": ["AIRFR", "TAXI"]},
        {"id": "P-3", "name": {"en": "Lunch club"}, "expense_types": "LUNCH"},
    ]}})
}

const POINTERS: &str = "items = \"/result/projects\"\ncode = \"id\"\nlabel = \"/name/en\"\nlist_item_id = \"/concur/itemId\"\n";

#[tokio::test]
async fn the_http_lookup_substitutes_encoded_placeholders_and_maps_the_answer() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/projects"))
        .and(query_param("q", "R&D tools"))
        .and(query_param("type", "AIRFR"))
        .and(query_param("company", "acme.example"))
        .and(query_param("cc", "CC 100"))
        .and(bearer_token("erp-token-123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(projects_body()))
        .expect(1)
        .mount(&server)
        .await;
    let values = http_values(&server, POINTERS);
    let mut facts = item(Some("AIRFR"));
    facts.insert("field.custom9", "CC 100");

    let got = values.search("R&D tools", &facts).await.unwrap();

    // The backend ignored the search; the connector still searched locally.
    assert_eq!(
        got,
        [Choice {
            code: "P-1".into(),
            label: "Apollo R&D tools".into(),
            list_item_id: Some("LI-1".into())
        }]
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests[0].url.query(),
        Some("q=R%26D%20tools&type=AIRFR&company=acme.example&cc=CC%20100")
    );
}

#[tokio::test]
async fn search_text_never_changes_the_path_the_http_lookup_requests() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let values = values(&format!(
        "source = \"http\"\n[http]\nurl = \"{}/projects/{{search}}/items\"\n",
        server.uri()
    ));
    for search in ["../admin", "a/b", "..%2Fadmin", "?x=1#y"] {
        values.search(search, &item(None)).await.unwrap();
    }
    let paths: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(
        paths,
        [
            "/projects/..%2Fadmin/items",
            "/projects/a%2Fb/items",
            "/projects/..%252Fadmin/items",
            "/projects/%3Fx%3D1%23y/items",
        ]
    );
    // `.` and `..` would be resolved by the URL parser: nothing is requested, nothing found.
    for search in [".", ".."] {
        assert!(values.search(search, &item(None)).await.unwrap().is_empty());
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
}

#[test]
fn a_placeholder_in_the_lookups_host_is_refused_at_start_up() {
    assert_eq!(
        problem_keys("source = \"http\"\n[http]\nurl = \"https://{search}.erp.example/p\"\n"),
        ["values.http.url"]
    );
}

#[tokio::test]
async fn http_values_are_filtered_by_the_elements_attributes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(projects_body()))
        .mount(&server)
        .await;
    let values = http_values(&server, POINTERS);
    let lunch = item(Some("LUNCH"));
    let got = values.search("", &lunch).await.unwrap();
    assert_eq!(codes(&got), ["P-1", "P-3"]);
    assert_eq!(values.resolve("2", &lunch).await.unwrap(), None);
    assert_eq!(
        values
            .resolve("2", &item(Some("TAXI")))
            .await
            .unwrap()
            .map(|c| c.label),
        Some("Summit travel".to_owned())
    );
}

#[tokio::test]
async fn resolve_finds_a_code_a_label_only_backend_does_not_search_for() {
    let server = MockServer::start().await;
    // This backend searches labels only: asked for the code it answers nothing.
    Mock::given(method("GET"))
        .and(query_param("q", "P-3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": {"projects": []}})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("q", ""))
        .respond_with(ResponseTemplate::new(200).set_body_json(projects_body()))
        .expect(1)
        .mount(&server)
        .await;
    let values = http_values(&server, POINTERS);
    let got = values.resolve("P-3", &item(Some("LUNCH"))).await.unwrap();
    assert_eq!(got.map(|c| c.label), Some("Lunch club".to_owned()));
}

#[tokio::test]
async fn identical_lookups_are_answered_from_the_cache() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(projects_body()))
        .expect(2)
        .mount(&server)
        .await;
    let values = http_values(&server, POINTERS);
    let facts = item(Some("AIRFR"));
    let first = values.search("apollo", &facts).await.unwrap();
    let second = values.search("apollo", &facts).await.unwrap();
    assert_eq!(first, second);
    // A different search is a different URL: one more request.
    values.search("summit", &facts).await.unwrap();
    // verified on drop: exactly two requests
}

#[tokio::test]
async fn without_a_cache_every_lookup_asks_the_backend() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(projects_body()))
        .expect(2)
        .mount(&server)
        .await;
    let values = http_values(&server, &format!("{POINTERS}cache_ttl = \"0s\"\n"));
    for _ in 0..2 {
        values.search("apollo", &item(None)).await.unwrap();
    }
}

#[tokio::test]
async fn a_slow_backend_times_out_after_the_configured_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(projects_body())
                .set_delay(Duration::from_secs(20)),
        )
        .mount(&server)
        .await;
    let values = http_values(&server, &format!("{POINTERS}timeout = \"300ms\"\n"));
    let started = Instant::now();
    let error = values.search("", &item(None)).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(error, LookupError::Timeout { after } if after == Duration::from_millis(300)),
        "{error:?}"
    );
    assert_eq!(error.user_message_key(), "lookup_timeout");
    assert_eq!(error.to_string(), "the value lookup timed out after 300ms");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(10),
        "gave up long before the backend answered: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_failing_backend_is_unavailable_and_failures_are_not_cached() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .expect(2)
        .mount(&server)
        .await;
    let values = http_values(&server, POINTERS);
    for _ in 0..2 {
        let error = values
            .search("secret search", &item(None))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, LookupError::Unavailable { reason } if reason.contains("500")),
            "{error:?}"
        );
        assert_eq!(error.user_message_key(), "lookup_unavailable");
        let text = error.to_string();
        assert!(
            !text.contains("erp-token-123") && !text.contains("secret"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_backend_is_unavailable() {
    let server = MockServer::start().await;
    let values = http_values(&server, POINTERS);
    drop(server);
    let error = values.search("", &item(None)).await.unwrap_err();
    assert!(
        matches!(error, LookupError::Unavailable { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn unusable_answers_are_bad_responses() {
    for (response, why) in [
        (
            ResponseTemplate::new(200).set_body_string("<html>login</html>"),
            "not JSON",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"result": {}})),
            "no array at `/result/projects`",
        ),
        (
            ResponseTemplate::new(200)
                .set_body_json(json!({"result": {"projects": [{"name": {"en": "x"}}]}})),
            "element 0 has no text at `id`",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(response)
            .mount(&server)
            .await;
        let values = http_values(&server, POINTERS);
        let error = values.search("", &item(None)).await.unwrap_err();
        assert!(
            matches!(&error, LookupError::BadResponse { reason } if reason.contains(why)),
            "{why}: {error:?}"
        );
        assert_eq!(error.user_message_key(), "lookup_bad_response");
    }
}

#[tokio::test]
async fn failed_lookups_are_logged_without_query_or_token() {
    capture_logs();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let values = http_values(&server, POINTERS);
    values
        .search("private-search-text", &item(None))
        .await
        .unwrap_err();
    let log = captured_logs();
    assert!(log.contains("value lookup failed"), "{log}");
    assert!(log.contains(&format!("{}/projects", server.uri())), "{log}");
    for secret in ["private-search-text", "erp-token-123", "acme.example"] {
        assert!(!log.contains(secret), "log contains {secret}: {log}");
    }
}

#[test]
fn bad_http_settings_are_config_problems() {
    assert_eq!(
        problem_keys("source = \"http\"\n[http]\nurl = \"https://erp/p?q={serach}\"\n"),
        ["values.http.url"]
    );
    assert_eq!(problem_keys("source = \"http\"\n"), ["values.http.url"]);
    assert_eq!(
        problem_keys(
            "source = \"http\"\n[http]\nurl = \"https://erp/p\"\nbearer_token_file = \"/nonexistent/t\"\n"
        ),
        ["values.http.bearer_token_file"]
    );
}

/// `[values]` is checked with the rest of the configuration, before anything is built or
/// bound: loading alone names every key, and nothing of the source is touched yet.
#[test]
fn bad_values_are_refused_when_the_configuration_loads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("connector.toml");
    let csv = dir.path().join("not-yet-there.csv");
    let base = "development = true\n[server]\nbind = \"127.0.0.1:8443\"\n[tls]\nenabled = false\n[connector]\nusername = \"TestConnectorUser\"\npassword = \"another-s3cret-password\"\n";
    std::fs::write(
        &file,
        format!("{base}[values]\nsource = \"http\"\nmax_results = 0\nsearch_rate = 0.0\n[values.http]\nurl = \"https://erp/p?q={{serach}}\"\n"),
    )
    .unwrap();
    let problems =
        config::load_with_env(&Origin::File(file.clone()), Some(HashMap::new())).unwrap_err();
    let mut keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "values.http.url",
            "values.max_results",
            "values.search_rate"
        ],
        "{problems:?}"
    );

    // A CSV file is read when the connector starts, not when the configuration loads.
    std::fs::write(
        &file,
        format!(
            "{base}[values]\nsource = \"csv\"\n[values.csv]\npath = {:?}\n",
            csv.display().to_string()
        ),
    )
    .unwrap();
    let settings = config::load_with_env(&Origin::File(file), Some(HashMap::new()))
        .expect("a missing csv file is not a loading problem");
    let problems = Values::from_settings(&settings.values, Mode::Development).unwrap_err();
    assert_eq!(problems[0].key, "values.csv.path", "{problems:?}");
}

#[test]
fn check_config_output_redacts_the_token_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("connector.toml");
    std::fs::write(
        &file,
        "development = true\n[server]\nbind = \"127.0.0.1:8443\"\n[tls]\nenabled = false\n[connector]\nusername = \"TestConnectorUser\"\npassword = \"another-s3cret-password\"\n[values]\nsource = \"http\"\n[values.http]\nurl = \"https://erp.example/p?q={search}\"\nbearer_token = \"erp-token-123\"\nheaders = { X-Api-Key = \"api-key-456\" }\n",
    )
    .unwrap();
    let settings = config::load_with_env(&Origin::File(file), Some(HashMap::new())).unwrap();
    let text = settings.redacted_toml();
    assert!(text.contains("X-Api-Key"), "{text}");
    assert!(
        !text.contains("erp-token-123") && !text.contains("api-key-456"),
        "{text}"
    );
}

// ---------------------------------------------------------------- http bounds

#[tokio::test]
async fn an_answer_over_max_response_bytes_is_refused_with_its_own_message() {
    let server = MockServer::start().await;
    let big: Vec<_> = (0..400)
        .map(|i| json!({"code": format!("P-{i}"), "label": "x".repeat(40)}))
        .collect();
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(big)))
        .mount(&server)
        .await;
    let values = http_values(&server, "max_response_bytes = 8192\n");
    let error = values.search("p", &item(None)).await.unwrap_err();
    assert!(
        matches!(error, LookupError::TooLarge { limit: 8192 }),
        "{error:?}"
    );
    assert_eq!(error.user_message_key(), "lookup_too_large");
    assert!(
        error.to_string().contains("values.http.max_response_bytes"),
        "the log line names the setting: {error}"
    );
    // The same answer within a larger bound is read.
    let values = http_values(&server, "max_response_bytes = 1048576\n");
    assert_eq!(values.search("P-399", &item(None)).await.unwrap().len(), 1);
}

/// A backend that answers 200 with a chunked body that never ends (no Content-Length).
async fn endless_backend() -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let piece = format!("{:x}\r\n{}\r\n", 4096, "[".repeat(4096));
                // Stops when the client hangs up.
                while socket.write_all(piece.as_bytes()).await.is_ok() {}
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn an_endless_answer_is_cut_off_at_max_response_bytes_not_buffered() {
    let uri = endless_backend().await;
    let values = values(&format!(
        "source = \"http\"\n[http]\nurl = \"{uri}/projects?q={{search}}\"\ntimeout = \"30s\"\nmax_response_bytes = 65536\n"
    ));
    let error = values.search("a", &item(None)).await.unwrap_err();
    assert!(
        matches!(error, LookupError::TooLarge { limit: 65536 }),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_search_text_sent_to_the_backend_is_cut_to_100_characters() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(projects_body()))
        .mount(&server)
        .await;
    let values = http_values(&server, POINTERS);
    let typed = format!("  {}{}", "é".repeat(100), "z".repeat(5000));
    values.search(&typed, &item(None)).await.unwrap();
    values.resolve(&typed, &item(None)).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert!(requests.len() >= 2);
    for request in requests {
        let (_, q) = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "q")
            .expect("the search is sent");
        assert!(q.chars().count() <= 100, "{} characters", q.chars().count());
        assert!(q.is_empty() || q == "é".repeat(100), "{q}");
    }
}

#[test]
fn search_rate_settings_take_integers_and_refuse_zero() {
    assert!(problem_keys("search_rate = 5\nsearch_burst = 3\n").is_empty());
    assert!(problem_keys("search_rate = 0.5\n").is_empty());
    assert_eq!(
        problem_keys("search_rate = 0\nsearch_burst = 0\n"),
        ["values.search_rate", "values.search_burst"]
    );
}
