//! Fetch Attendee v2.0: Concur posts an `AttendeeSearchRequest` and reads the
//! `AttendeeSearchResponse`, against the real server over TLS.

use std::time::Duration;

use concur_protocol::callout::xml::{self, Element};
use reqwest::{StatusCode, header};

use crate::helpers::{PASSWORD, TestApp, USERNAME, captured_logs, spawn_app_with};
use crate::hostile_bodies::{Hostile, SECRET, hostile_bodies};

const PATH: &str = "/concur/attendee/v2.0/fetch";
const V1_PATH: &str = "/concur/attendee/v1.0/fetch";

/// Concur's own example request, verbatim (it posts to the v1.0 path).
const EXAMPLE_REQUEST: &str =
    include_str!("../../crates/concur-protocol/src/callout/attendee_example_request.xml");

/// The response elements in Concur's documented order.
fn order() -> Vec<String> {
    [
        "ExternalID",
        "FirstName",
        "MiddleInitial",
        "LastName",
        "Suffix",
        "Company",
        "AttendeeTypeCode",
        "Title",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain((1..=25).map(|i| format!("Custom{i}")))
    .collect()
}

const EMPTY_ANSWER: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<AttendeeSearchResponse/>";

/// The `[fetch_attendee]` demo attendees of the development profile, as they are there.
fn demo_attendees() -> String {
    let profile = include_str!("../../config/development.toml");
    let start = profile.find("[fetch_attendee]").unwrap();
    profile[start..].to_owned()
}

async fn demo_app() -> TestApp {
    spawn_app_with(&demo_attendees()).await
}

/// A search with these elements filled (the others sent empty, as Concur does).
fn request(fields: &[(&str, &str)]) -> String {
    let mut body = String::from("<AttendeeSearchRequest><Attendee>");
    for (name, value) in fields {
        xml::push_element(&mut body, name, value);
    }
    for name in order() {
        if !fields.iter().any(|(n, _)| *n == name) {
            xml::push_element(&mut body, &name, "");
        }
    }
    body.push_str("</Attendee></AttendeeSearchRequest>");
    body
}

/// Posts a search and returns the `<Attendee>` elements of the (checked) answer.
async fn search(app: &TestApp, fields: &[(&str, &str)]) -> Vec<Element> {
    answer(app.post_callout(PATH, request(fields)).await).await
}

/// Checks status, headers and shape of an answer; returns its attendees.
async fn answer(response: reqwest::Response) -> Vec<Element> {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/xml; charset=utf-8"
    );
    let length = response.headers()[header::CONTENT_LENGTH].clone();
    let body = response.text().await.unwrap();
    assert_eq!(length.to_str().unwrap(), body.len().to_string());
    assert!(
        body.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
        "{body}"
    );
    if body.ends_with("<AttendeeSearchResponse/>") {
        assert_eq!(body, EMPTY_ANSWER);
        return Vec::new();
    }
    // 500 attendees are more elements than the connector's own reader takes in one
    // document: read the root's shape, then each attendee on its own.
    let inner = body
        .split_once("?>")
        .and_then(|(_, rest)| rest.trim().strip_prefix("<AttendeeSearchResponse>"))
        .and_then(|rest| rest.strip_suffix("</AttendeeSearchResponse>"))
        .unwrap_or_else(|| panic!("not an AttendeeSearchResponse: {body}"));
    let attendees: Vec<Element> = inner
        .split_inclusive("</Attendee>")
        .map(|one| xml::parse(one.as_bytes()).unwrap())
        .collect();
    for attendee in &attendees {
        assert_eq!(attendee.name, "Attendee");
        let names: Vec<&str> = attendee.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, order(), "every element, in order");
    }
    attendees
}

fn ids(attendees: &[Element]) -> Vec<&str> {
    attendees
        .iter()
        .map(|a| a.child_text("ExternalID").unwrap())
        .collect()
}

#[tokio::test]
async fn fetch_attendee_ands_the_filled_fields_case_insensitively() {
    let app = demo_app().await;
    let found = search(&app, &[("LastName", "Miller"), ("Company", "Len Dev")]).await;
    assert_eq!(ids(&found), ["1234567890"]);
    let found = search(&app, &[("Company", "Len Dev")]).await;
    assert_eq!(ids(&found), ["1234567890", "EXT-2002"]);
    let found = search(&app, &[("lastname", "MILLER"), ("company", "len dev")]).await;
    assert_eq!(
        ids(&found),
        ["1234567890"],
        "element names and values ignore case"
    );
    let found = search(&app, &[("FirstName", "ana"), ("Company", "borealis")]).await;
    assert!(found.is_empty(), "Ana is not at Borealis");
    let found = search(&app, &[("Company", "*clinic")]).await;
    assert_eq!(ids(&found), ["HCP-3001"], "* is a wildcard");
}

#[tokio::test]
async fn fetch_attendee_answers_concurs_example_request_element_by_element() {
    let app = demo_app().await;
    let response = app.post_callout(V1_PATH, EXAMPLE_REQUEST).await;
    let found = answer(response).await;
    assert_eq!(found.len(), 1);
    let chris = &found[0];
    let expected = [
        ("ExternalID", "1234567890"),
        ("FirstName", "Chris"),
        ("MiddleInitial", "T"),
        ("LastName", "Miller"),
        ("Company", "Len Dev"),
        ("AttendeeTypeCode", "BUSGUEST"),
        ("Title", "CFO"),
        ("Custom8", "North America"),
    ];
    for element in &chris.children {
        let want = expected
            .iter()
            .find(|(n, _)| *n == element.name)
            .map_or("", |(_, v)| v);
        assert_eq!(element.text, want, "{}", element.name);
        assert!(element.children.is_empty());
    }
    assert!(
        captured_logs().contains("v1.0 path"),
        "a request on the v1.0 path is logged"
    );
}

#[tokio::test]
async fn fetch_attendee_echoes_the_searched_type_for_attendees_without_one() {
    let app = demo_app().await;
    let found = search(
        &app,
        &[("AttendeeTypeCode", "BUSGUEST"), ("Company", "Len Dev")],
    )
    .await;
    assert_eq!(ids(&found), ["1234567890", "EXT-2002"]);
    for attendee in &found {
        assert_eq!(attendee.child_text("AttendeeTypeCode"), Some("BUSGUEST"));
    }
    let found = search(&app, &[("AttendeeTypeCode", "HCP")]).await;
    assert_eq!(
        ids(&found),
        ["EXT-2002", "HCP-3001"],
        "typed attendees stay in their type"
    );
    assert_eq!(found[1].child_text("AttendeeTypeCode"), Some("HCP"));
}

#[tokio::test]
async fn fetch_attendee_returns_at_most_maximum_number_records_and_never_above_500() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("attendees.csv");
    let mut rows = String::from("ExternalID,FirstName,LastName,Company\n");
    for i in 0..620 {
        rows.push_str(&format!("ID-{i:04},First{i},Last{i},Acme\n"));
    }
    std::fs::write(&csv, rows).unwrap();
    let app = spawn_app_with(&format!(
        "[fetch_attendee]\nsource = \"csv\"\n[fetch_attendee.csv]\npath = \"{}\"\nwatch = false\n",
        csv.display()
    ))
    .await;
    for (max, expected) in [("1", 1), ("2", 2), ("", 500), ("501", 500), ("lots", 500)] {
        let found = search(&app, &[("Company", "acme"), ("MaximumNumberRecords", max)]).await;
        assert_eq!(found.len(), expected, "MaximumNumberRecords {max:?}");
        assert_eq!(
            found[0].child_text("ExternalID"),
            Some("ID-0000"),
            "source order"
        );
    }
    let without = request(&[("Company", "acme")]).replace("<MaximumNumberRecords/>", "");
    let found = answer(app.post_callout(PATH, without).await).await;
    assert_eq!(found.len(), 500, "a missing element means 500");
}

#[tokio::test]
async fn fetch_attendee_cuts_values_to_the_response_limits_by_characters() {
    let long_id = "X".repeat(40);
    let app = spawn_app_with(&format!(
        r#"[fetch_attendee]
[[fetch_attendee.inline]]
ExternalID = "{long_id}"
FirstName = "{first}"
LastName = "Ünal"
MiddleInitial = "Ør"
Custom21 = "{custom21}"
Company = "R&D <Labs>"
"#,
        first = "é".repeat(60),
        custom21 = "c".repeat(60),
    ))
    .await;
    let found = search(&app, &[("LastName", "ünal")]).await;
    assert_eq!(found.len(), 1);
    let a = &found[0];
    assert_eq!(a.child_text("ExternalID"), Some(&*"X".repeat(32)));
    assert_eq!(a.child_text("Custom21"), Some(&*"c".repeat(48)));
    assert_eq!(
        a.child_text("FirstName"),
        Some(&*"é".repeat(50)),
        "not split"
    );
    assert_eq!(a.child_text("MiddleInitial"), Some("Ø"));
    assert_eq!(
        a.child_text("Company"),
        Some("R&D <Labs>"),
        "escaped, read back"
    );
    assert_eq!(a.child("Suffix").unwrap().text, "");
}

#[tokio::test]
async fn fetch_attendee_drops_records_without_required_values_and_logs_them() {
    let app = spawn_app_with(
        r#"[fetch_attendee]
[[fetch_attendee.inline]]
ExternalID = "OK-1"
FirstName = "Kim"
LastName = "Park"
Company = "Acme"
[[fetch_attendee.inline]]
ExternalID = "NO-FIRST"
LastName = "Park"
Company = "Acme"
[[fetch_attendee.inline]]
FirstName = "No"
LastName = "Id"
Company = "Acme"
"#,
    )
    .await;
    let found = search(&app, &[("Company", "acme")]).await;
    assert_eq!(ids(&found), ["OK-1"]);
    let logs = captured_logs();
    assert!(logs.contains("attendee record dropped"), "{logs}");
    assert!(logs.contains("fetch_attendee.inline[1]") && logs.contains("FirstName"));
    assert!(logs.contains("fetch_attendee.inline[2]") && logs.contains("ExternalID"));
}

#[tokio::test]
async fn fetch_attendee_csv_rows_with_owners_are_only_for_those_owners() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("attendees.csv");
    std::fs::write(
        &csv,
        "ExternalID,FirstName,LastName,Company,owners\n\
         P-1,Pat,Public,Acme,\n\
         M-1,Mia,Mine,Acme,cm@example.com|other@example.com\n\
         T-1,Tom,Theirs,Acme,someone@example.com\n",
    )
    .unwrap();
    let app = spawn_app_with(&format!(
        "[fetch_attendee]\nsource = \"csv\"\n[fetch_attendee.csv]\npath = \"{}\"\n",
        csv.display()
    ))
    .await;
    let found = search(
        &app,
        &[("Company", "acme"), ("OwnerLoginID", "CM@example.com")],
    )
    .await;
    assert_eq!(ids(&found), ["P-1", "M-1"]);
    let found = search(&app, &[("Company", "acme")]).await;
    assert_eq!(ids(&found), ["P-1"], "no owner: only unrestricted rows");
}

#[tokio::test]
async fn fetch_attendee_answers_an_empty_authenticated_request_with_the_empty_response() {
    let app = demo_app().await;
    for request in [
        app.client.post(app.url(PATH)),
        app.client.get(app.url(PATH)),
        app.client.post(app.url(V1_PATH)),
    ] {
        let response = request
            .basic_auth(USERNAME, Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), EMPTY_ANSWER);
    }
    let nothing = app
        .post_callout(PATH, request(&[("LastName", "Nobody")]))
        .await;
    assert_eq!(nothing.text().await.unwrap(), EMPTY_ANSWER);
}

#[tokio::test]
async fn fetch_attendee_refuses_missing_or_wrong_credentials() {
    let app = demo_app().await;
    let body = request(&[("Company", "Len Dev")]);
    let missing = app.client.post(app.url(PATH)).body(body.clone());
    let wrong = app
        .client
        .post(app.url(PATH))
        .basic_auth(USERNAME, Some("wrong-password-123"))
        .body(body);
    for request in [missing, wrong] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        assert!(!response.text().await.unwrap().contains("Miller"));
    }
}

#[tokio::test]
async fn fetch_attendee_refuses_hostile_bodies_with_a_4xx() {
    let app = demo_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cases = hostile_bodies(dir.path(), |name| {
        format!(
            "<AttendeeSearchRequest><Attendee><LastName>{name}</LastName></Attendee></AttendeeSearchRequest>"
        )
    });
    cases.push(Hostile {
        what: "not a search",
        body: b"<fetch-list-request/>".to_vec(),
        content_type: "application/xml",
        status: StatusCode::BAD_REQUEST,
    });
    for case in cases {
        let (answered, text) = case.post(&app, PATH).await;
        let what = case.what;
        assert_eq!(answered, case.status, "{what}");
        assert!(!text.contains(SECRET), "{what}: {text}");
        assert!(!text.contains("AttendeeSearchResponse"), "{what}");
    }
    assert!(!captured_logs().contains(SECRET));
}

#[tokio::test]
async fn fetch_attendee_is_not_served_when_disabled() {
    let app = spawn_app_with("[fetch_attendee]\nenabled = false\n").await;
    for path in [PATH, V1_PATH] {
        let response = app
            .post_callout(path, request(&[("Company", "Len Dev")]))
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn fetch_attendee_serves_a_configured_path() {
    let app = spawn_app_with(&demo_attendees().replacen(
        "[fetch_attendee]\n",
        "[fetch_attendee]\npath = \"/crm/attendees/v2.0/search\"\n",
        1,
    ))
    .await;
    let response = app
        .post_callout(
            "/crm/attendees/v2.0/search",
            request(&[("LastName", "Lima")]),
        )
        .await;
    assert_eq!(ids(&answer(response).await), ["EXT-2002"]);
    let twin = app
        .post_callout(
            "/crm/attendees/v1.0/search",
            request(&[("LastName", "Lima")]),
        )
        .await;
    assert_eq!(ids(&answer(twin).await), ["EXT-2002"]);
    let default = app
        .post_callout(PATH, request(&[("LastName", "Lima")]))
        .await;
    assert_eq!(default.status(), StatusCode::NOT_FOUND);
}

/// An app whose attendees come from `url` (plain http: development mode).
async fn http_app(url: &str, extra: &str) -> TestApp {
    spawn_app_with(&format!(
        "development = true\n[fetch_attendee]\nsource = \"http\"\ntimeout = \"500ms\"\n\
         [fetch_attendee.http]\nurl = \"{url}\"\n{extra}"
    ))
    .await
}

#[tokio::test]
async fn fetch_attendee_maps_an_http_lookup_with_placeholders() {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/attendees"))
        .and(query_param("last", "Lima"))
        .and(query_param("owner", "cm@example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": [
                {"id": "EXT-2002", "first": "Ana", "LastName": "Lima", "Company": "Len Dev"},
                {"id": "EXT-9", "first": "Ana", "LastName": "Limarova", "Company": "Other"},
                {"id": "EXT-10", "LastName": "Lima", "Company": "Len Dev"}
            ]
        })))
        .mount(&server)
        .await;
    let app = http_app(
        &format!(
            "{}/attendees?last={{LastName}}&owner={{OwnerLoginID}}",
            server.uri()
        ),
        "items = \"/data\"\nfields = { ExternalID = \"id\", FirstName = \"first\" }\n",
    )
    .await;
    let found = search(
        &app,
        &[
            ("LastName", "Lima"),
            ("Company", "len"),
            ("OwnerLoginID", "cm@example.com"),
        ],
    )
    .await;
    assert_eq!(
        ids(&found),
        ["EXT-2002"],
        "the search rules apply to the answer"
    );
    assert_eq!(found[0].child_text("FirstName"), Some("Ana"));
    assert!(
        captured_logs().contains("lookup answer element 2"),
        "dropped and logged"
    );
}

#[tokio::test]
async fn fetch_attendee_answers_empty_and_logs_when_the_http_source_is_slow() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!([]))
                .set_delay(Duration::from_secs(60)),
        )
        .mount(&server)
        .await;
    let app = http_app(&format!("{}/attendees?last={{LastName}}", server.uri()), "").await;
    // The source would answer after a minute; the connector gives up at its lookup timeout,
    // answers no attendees and logs why.
    let response = app
        .post_callout(PATH, request(&[("LastName", "Lima")]))
        .await;
    assert_eq!(response.text().await.unwrap(), EMPTY_ANSWER);
    let logs = captured_logs();
    assert!(logs.contains("attendee lookup failed"), "{logs}");
    assert!(logs.contains("timed out"), "{logs}");
}

#[tokio::test]
async fn fetch_attendee_answers_empty_and_logs_when_the_http_source_is_down() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = http_app(
        &format!("http://127.0.0.1:{port}/attendees?last={{LastName}}"),
        "",
    )
    .await;
    let response = app
        .post_callout(PATH, request(&[("LastName", "Lima")]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), EMPTY_ANSWER);
    let logs = captured_logs();
    assert!(logs.contains("attendee lookup failed"), "{logs}");
    assert!(logs.contains("unavailable"), "{logs}");
}
