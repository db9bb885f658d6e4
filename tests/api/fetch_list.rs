//! Concur's Fetch List callout v1.2 (`/concur/list/v1.2/fetch`), over real TLS.

use concur_protocol::callout::xml::{Element, parse};
use reqwest::{StatusCode, header};

use crate::helpers::{PASSWORD, TestApp, USERNAME, captured_logs, spawn_app_with};
use crate::hostile_bodies::{Hostile, SECRET, hostile_bodies};

const PATH: &str = "/concur/list/v1.2/fetch";

/// Concur's single-level example request, verbatim.
const SINGLE_EXAMPLE: &str =
    include_str!("../../crates/concur-protocol/src/callout/fetch_list_example_single.xml");

/// Concur's multi-level example request, verbatim (trailing spaces included).
const MULTI_EXAMPLE: &str =
    include_str!("../../crates/concur-protocol/src/callout/fetch_list_example_multi.xml");

/// The default list: level 1 holds Concur's example words and `US`; `US` → `W` → `CA` →
/// cities (Concur's connected-list example), `US` → `E` → `NY`.
const PLACES: &str = r#"
[[fetch_list.lists]]
name = "Places"
default = true

[[fetch_list.lists.items]]
code = "ALPHA"
label = "Alpha"
[[fetch_list.lists.items]]
code = "ALPHB"
label = "Alphabet & <Soup>"
[[fetch_list.lists.items]]
code = "BETA"
label = "Beta alpha"
[[fetch_list.lists.items]]
code = "WEST"
label = "Western text"
labels = { de = "Westlicher Text", DE-CH = "Westschweizer Text" }

[[fetch_list.lists.items]]
code = "US"
label = "United States"
labels = { de = "Vereinigte Staaten" }
[[fetch_list.lists.items.items]]
code = "W"
label = "Western Region"
[[fetch_list.lists.items.items.items]]
code = "CA"
label = "California"
items = [
    { code = "SF", label = "San Francisco" },
    { code = "SD", label = "San Diego" },
    { code = "LA", label = "Los Angeles" },
    { code = "SJ", label = "San Jose" },
]
[[fetch_list.lists.items.items]]
code = "E"
label = "Eastern Region"
items = [{ code = "NY", label = "New York", items = [{ code = "NYC", label = "New York City" }] }]
"#;

/// A second list with 150 items (`N001` "Item 001" …), selected by `list-name`.
fn numbers() -> String {
    let mut toml = String::from("\n[[fetch_list.lists]]\nname = \"Numbers\"\n");
    for n in 1..=150 {
        toml.push_str(&format!(
            "[[fetch_list.lists.items]]\ncode = \"N{n:03}\"\nlabel = \"Item {n:03}\"\n"
        ));
    }
    toml
}

async fn app() -> TestApp {
    spawn_app_with(&format!("{PLACES}{}", numbers())).await
}

/// A request with these elements (empty ones omitted by the caller).
fn request(elements: &[(&str, &str)]) -> String {
    let mut body = String::from("<?xml version=\"1.0\" ?>\n<fetch-list-request>");
    for (name, text) in elements {
        body.push_str(&format!("<{name}>{text}</{name}>"));
    }
    body.push_str("</fetch-list-request>");
    body
}

/// Posts and checks the answer's framing: 200, XML, explicit and exact length.
async fn fetch_at(app: &TestApp, path: &str, body: &str) -> Element {
    let response = app.post_callout(path, body.to_owned()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/xml; charset=utf-8"
    );
    let length: usize = response.headers()[header::CONTENT_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let text = response.text().await.unwrap();
    assert_eq!(length, text.len());
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{text}"
    );
    let root = parse(text.as_bytes()).unwrap();
    assert_eq!(root.name, "fetch-list-response", "{text}");
    root
}

async fn fetch(app: &TestApp, body: &str) -> Element {
    fetch_at(app, PATH, body).await
}

/// Each item as `code short-code text match-value`, checking that all four are present and
/// that nothing else is.
fn items(root: &Element) -> Vec<[String; 4]> {
    root.children
        .iter()
        .map(|item| {
            assert_eq!(item.name, "item");
            let names: Vec<&str> = item.children.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["code", "short-code", "text", "match-value"]);
            ["code", "short-code", "text", "match-value"]
                .map(|name| item.child_text(name).unwrap_or_default().to_owned())
        })
        .collect()
}

fn codes(root: &Element) -> Vec<String> {
    items(root).into_iter().map(|[code, ..]| code).collect()
}

#[tokio::test]
async fn fetch_list_answers_concurs_two_examples_element_by_element() {
    let app = app().await;
    let single = fetch(&app, SINGLE_EXAMPLE).await;
    assert_eq!(
        items(&single),
        [
            ["ALPHA", "ALPHA", "Alpha", "Alpha"],
            ["ALPHB", "ALPHB", "Alphabet & <Soup>", "Alphabet & <Soup>"],
        ]
        .map(|i| i.map(str::to_owned))
    );
    let multi = fetch(&app, MULTI_EXAMPLE).await;
    assert_eq!(
        items(&multi),
        [
            ["US-W-CA-SF", "SF", "San Francisco", "San Francisco"],
            ["US-W-CA-SD", "SD", "San Diego", "San Diego"],
            ["US-W-CA-SJ", "SJ", "San Jose", "San Jose"],
        ]
        .map(|i| i.map(str::to_owned))
    );
}

#[tokio::test]
async fn fetch_list_searches_text_and_code_with_every_wildcard_form() {
    let app = app().await;
    for (query, by, expected) in [
        ("*", "TEXT", &["ALPHA", "ALPHB", "BETA", "WEST", "US"][..]),
        ("West*", "TEXT", &["WEST"]),
        ("*alpha", "TEXT", &["ALPHA", "BETA"]),
        ("*TEXT", "text", &["WEST"]),
        ("al*a", "TEXT", &["ALPHA"]),
        ("alpha", "TEXT", &["ALPHA"]),
        ("ALP", "TEXT", &[]),
        ("us", "CODE", &["US"]),
        ("alp*", "CODE", &["ALPHA", "ALPHB"]),
        ("*a", "CODE", &["ALPHA", "BETA"]),
        ("nothing*", "TEXT", &[]),
    ] {
        let root = fetch(&app, &request(&[("query", query), ("search-by", by)])).await;
        assert_eq!(codes(&root), expected, "{query} by {by}");
    }
    // The matched attribute is the short code for CODE, the text for TEXT.
    let by_code = fetch(&app, &request(&[("query", "us"), ("search-by", "CODE")])).await;
    assert_eq!(items(&by_code)[0][3], "US");
    let by_text = fetch(
        &app,
        &request(&[("query", "united*"), ("search-by", "TEXT")]),
    )
    .await;
    assert_eq!(items(&by_text)[0][3], "United States");
    // No match: an empty response.
    let none = fetch(&app, &request(&[("query", "zzz")])).await;
    assert!(none.children.is_empty());
}

#[tokio::test]
async fn fetch_list_serves_connected_lists_at_levels_one_to_three() {
    let app = app().await;
    let level = |long: &str, query: &str| request(&[("long-code", long), ("query", query)]);
    assert_eq!(codes(&fetch(&app, &level("", "United*")).await), ["US"]);
    assert_eq!(
        codes(&fetch(&app, &level("US", "*")).await),
        ["US-W", "US-E"]
    );
    assert_eq!(codes(&fetch(&app, &level("US-W", "*")).await), ["US-W-CA"]);
    assert_eq!(
        codes(&fetch(&app, &level("US-E", "new*")).await),
        ["US-E-NY"]
    );
    assert_eq!(
        codes(&fetch(&app, &level("us-e-ny", "*")).await),
        ["us-e-ny-NYC"]
    );
    assert!(fetch(&app, &level("US-X", "*")).await.children.is_empty());
    // code-by-level alone names the parents too.
    let by_level = request(&[
        ("query", "Los*"),
        (
            "code-by-level",
            "<level1>US</level1><level2>W</level2><level3>CA</level3>",
        ),
    ]);
    assert_eq!(
        items(&fetch(&app, &by_level).await),
        [["US-W-CA-LA", "LA", "Los Angeles", "Los Angeles"].map(str::to_owned)]
    );
    // Concur's one-to-one call for a chosen item: the exact code, any case.
    let exact = request(&[
        ("long-code", "US-W-CA"),
        ("query", "sj"),
        ("search-by", "CODE"),
    ]);
    assert_eq!(codes(&fetch(&app, &exact).await), ["US-W-CA-SJ"]);
}

#[tokio::test]
async fn fetch_list_returns_at_most_num_to_return_and_never_more_than_100() {
    let app = app().await;
    for (asked, expected) in [
        (Some("5"), 5),
        (Some("99"), 99),
        (Some("100"), 100),
        (Some("101"), 100),
        (Some("1000"), 100),
        (Some("0"), 0),
        (None, 100),
    ] {
        let mut elements = vec![("query", "*"), ("list-name", "Numbers")];
        if let Some(n) = asked {
            elements.push(("num-to-return", n));
        }
        let root = fetch(&app, &request(&elements)).await;
        let got = codes(&root);
        assert_eq!(got.len(), expected, "num-to-return {asked:?}");
        if expected > 0 {
            assert_eq!(got[0], "N001", "in source order");
        }
    }
    let narrow = request(&[
        ("query", "Item 14*"),
        ("list-name", "numbers"),
        ("num-to-return", "3"),
    ]);
    assert_eq!(codes(&fetch(&app, &narrow).await), ["N140", "N141", "N142"]);
}

#[tokio::test]
async fn fetch_list_picks_a_label_translation_by_lang_code() {
    let app = app().await;
    for (lang, label) in [
        ("de", "Westlicher Text"),
        ("DE", "Westlicher Text"),
        ("de-DE", "Westlicher Text"),
        ("de-ch", "Westschweizer Text"),
        ("en-GB", "Western text"),
        ("EN", "Western text"),
        ("x", "Western text"),
    ] {
        let body = request(&[
            ("query", "west"),
            ("search-by", "CODE"),
            ("lang-code", lang),
        ]);
        assert_eq!(items(&fetch(&app, &body).await)[0][2], label, "{lang}");
    }
    // TEXT searches the translated label.
    let german = request(&[("query", "vereinigte*"), ("lang-code", "de")]);
    assert_eq!(
        items(&fetch(&app, &german).await),
        [["US", "US", "Vereinigte Staaten", "Vereinigte Staaten"].map(str::to_owned)]
    );
}

#[tokio::test]
async fn fetch_list_answers_an_empty_probe_by_get_or_post_and_refuses_bad_credentials() {
    let app = app().await;
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let response = app
            .client
            .request(method.clone(), app.url(PATH))
            .basic_auth(USERNAME, Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert!(response.headers().contains_key(header::CONTENT_LENGTH));
        let body = response.text().await.unwrap();
        assert_eq!(
            parse(body.as_bytes()).unwrap(),
            Element {
                name: "fetch-list-response".into(),
                ..Element::default()
            }
        );
        for credentials in [None, Some("a-wrong-password-1")] {
            let mut builder = app.client.request(method.clone(), app.url(PATH));
            if let Some(password) = credentials {
                builder = builder.basic_auth(USERNAME, Some(password));
            }
            let response = builder.body(SINGLE_EXAMPLE).send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {credentials:?}"
            );
            assert!(
                response.headers()[header::WWW_AUTHENTICATE]
                    .to_str()
                    .unwrap()
                    .starts_with("Basic "),
            );
            assert!(!response.text().await.unwrap().contains("ALPHA"));
        }
    }
}

#[tokio::test]
async fn fetch_list_refuses_hostile_bodies_with_a_4xx() {
    let app = app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cases = hostile_bodies(dir.path(), |query| request(&[("query", query)]));
    for (what, body) in [
        ("wrong root", b"<list-request/>".to_vec()),
        (
            "bad search-by",
            request(&[("search-by", "NAME")]).into_bytes(),
        ),
    ] {
        let (content_type, status) = ("application/xml", StatusCode::BAD_REQUEST);
        cases.push(Hostile {
            what,
            body,
            content_type,
            status,
        });
    }
    for case in cases {
        let (answered, text) = case.post(&app, PATH).await;
        let what = case.what;
        assert_eq!(answered, case.status, "{what}");
        assert!(!text.contains(SECRET), "{what}: {text}");
        assert!(!text.contains("aaaaaaaaaa"), "{what}: {text}");
    }
    assert!(!captured_logs().contains(SECRET));
    // The server still answers.
    assert_eq!(
        codes(&fetch(&app, SINGLE_EXAMPLE).await),
        ["ALPHA", "ALPHB"]
    );
}

#[tokio::test]
async fn fetch_list_routes_by_list_name_then_the_default_and_logs_an_unnamed_list() {
    let app = app().await;
    let named = request(&[
        ("query", "N00*"),
        ("search-by", "CODE"),
        ("list-name", "numbers"),
    ]);
    assert_eq!(codes(&fetch(&app, &named).await).len(), 9);
    let unknown = request(&[("query", "Alpha"), ("list-name", "Nonexistent")]);
    assert_eq!(
        codes(&fetch(&app, &unknown).await),
        ["ALPHA"],
        "the default"
    );

    // Two lists, neither the default: a request naming none gets an empty list.
    let app = spawn_app_with(
        "[[fetch_list.lists]]\nname = \"Projects\"\nitems = [{ code = \"P1\" }]\n\
         [[fetch_list.lists]]\nname = \"Cities\"\npath = \"/erp/cities\"\nitems = [{ code = \"C1\" }]\n",
    )
    .await;
    assert!(
        fetch(&app, &request(&[("query", "*")]))
            .await
            .children
            .is_empty()
    );
    let logs = captured_logs();
    assert!(
        logs.contains("names no configured list") && logs.contains("Projects, Cities"),
        "{logs}"
    );
    let projects = request(&[("query", "*"), ("list-name", "PROJECTS")]);
    assert_eq!(codes(&fetch(&app, &projects).await), ["P1"]);
    // A list's own path serves that list, whatever the request names.
    assert_eq!(
        codes(&fetch_at(&app, "/erp/cities", &projects).await),
        ["C1"]
    );
}

#[tokio::test]
async fn fetch_list_switched_off_is_not_found() {
    let app = spawn_app_with(&format!("[fetch_list]\nenabled = false\n{PLACES}")).await;
    let response = app.post_callout(PATH, SINGLE_EXAMPLE).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn fetch_list_picks_up_a_csv_change() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("projects.csv");
    std::fs::write(
        &file,
        "level1,level2,label,label_de\nP100,,Apollo,Apollo DE\nP100,DES,Design,Entwurf\n",
    )
    .unwrap();
    let app = spawn_app_with(&format!(
        "[[fetch_list.lists]]\nname = \"Projects\"\nsource = \"csv\"\ncsv = {{ path = {:?} }}\n",
        file.display().to_string()
    ))
    .await;
    let tasks = request(&[("long-code", "P100"), ("query", "*"), ("lang-code", "de")]);
    assert_eq!(
        items(&fetch(&app, &tasks).await),
        [["P100-DES", "DES", "Entwurf", "Entwurf"].map(str::to_owned)]
    );
    crate::helpers::write_atomically(
        &file,
        "level1,level2,label\nP100,,Apollo\nP100,DES,Design\nP100,BLD,Build\n",
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut got = Vec::new();
    while std::time::Instant::now() < deadline {
        got = codes(&fetch(&app, &tasks).await);
        if got.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(got, ["P100-DES", "P100-BLD"]);
}

mod http_source {
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    async fn app_for(url: &str) -> TestApp {
        // Development mode: wiremock speaks plain http, which production refuses.
        spawn_app_with(&format!(
            "development = true\n[fetch_list]\ntimeout = \"500ms\"\n[[fetch_list.lists]]\n\
             name = \"Tasks\"\nsource = \"http\"\nhttp = {{ url = \"{url}\", cache_ttl = \"0s\" }}\n"
        ))
        .await
    }

    #[tokio::test]
    async fn fetch_list_looks_up_the_parents_and_language_and_filters_the_answer() {
        let erp = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/tasks/P100"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"code": "DES", "label": "Entwurf"},
                {"code": "BLD", "label": "Bauen"},
                {"code": "X-1", "label": "Ein Bindestrich"},
            ])))
            .mount(&erp)
            .await;
        let app = app_for(&format!(
            "{}/tasks/{{level1}}?lang={{lang}}&q={{search}}&p={{long_code}}",
            erp.uri()
        ))
        .await;
        let body = request(&[("long-code", "P100"), ("query", "*"), ("lang-code", "DE")]);
        assert_eq!(
            items(&fetch(&app, &body).await),
            [
                ["P100-DES", "DES", "Entwurf", "Entwurf"].map(str::to_owned),
                ["P100-BLD", "BLD", "Bauen", "Bauen"].map(str::to_owned),
            ]
        );
        let narrowed = request(&[("long-code", "P100"), ("query", "b*"), ("lang-code", "de")]);
        assert_eq!(codes(&fetch(&app, &narrowed).await), ["P100-BLD"]);
        let requests = erp.received_requests().await.unwrap();
        assert_eq!(requests[0].url.query(), Some("lang=de&q=&p=P100"));
        assert_eq!(requests[1].url.query(), Some("lang=de&q=b&p=P100"));
        assert!(captured_logs().contains("the item is left out"));
    }

    #[tokio::test]
    async fn fetch_list_answers_a_slow_source_with_an_empty_list_and_a_log_line() {
        let erp = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!([{"code": "DES", "label": "Design"}]))
                    .set_delay(std::time::Duration::from_secs(30)),
            )
            .mount(&erp)
            .await;
        let app = app_for(&format!("{}/tasks/{{parent}}", erp.uri())).await;
        let body = request(&[("long-code", "P100"), ("query", "*")]);
        assert!(fetch(&app, &body).await.children.is_empty());
        let logs = captured_logs();
        assert!(logs.contains("fetch list search failed"), "{logs}");
    }

    #[tokio::test]
    async fn fetch_list_answers_a_source_that_is_down_with_an_empty_list_and_a_log_line() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let app = app_for(&format!("http://127.0.0.1:{port}/tasks/{{parent}}")).await;
        let body = request(&[("long-code", "P100"), ("query", "*")]);
        assert!(fetch(&app, &body).await.children.is_empty());
        let logs = captured_logs();
        assert!(
            logs.contains("fetch list search failed") && logs.contains("unavailable"),
            "{logs}"
        );
    }
}
