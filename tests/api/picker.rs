//! The user's flow against the simulator: the picker page, Done, Cancel, failures and Retry.

use concur_connector::launch::Source;
use concur_connector::sim::{Faults, V1LaunchRequest, V4LaunchRequest};
use reqwest::{StatusCode, header};
use serde_json::json;

use crate::helpers::captured_logs;
use crate::with_simulator::{World, launch, session_page, world_with};

/// Three projects: one for every expense, one for travel, one for meals.
pub(crate) const VALUES: &str = r#"
[[values.inline]]
code = "PRJ-1001"
label = "Apollo website relaunch"

[[values.inline]]
code = "PRJ-2002"
label = "Berlin office move"
expense_types = ["AIRFR", "LODNG", "TAXI"]

[[values.inline]]
code = "PRJ-3003"
label = "Catering pilot"
expense_types = ["LUNCH", "BRKFT"]
"#;

async fn world() -> World {
    world_with(VALUES).await
}

/// The first report's first expense (a LUNCH) and its launch cookie.
pub(crate) async fn launched_entry(world: &World) -> (String, String, String) {
    let seed = world.sim.snapshot();
    let report = &seed.reports[0];
    let expense = &report.expenses[0];
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Entry, &expense.id))
        .unwrap();
    let cookie = launch(world, &minted.url).await.unwrap();
    (cookie, report.id.clone(), expense.id.clone())
}

/// The CSRF token of a picker page.
pub(crate) fn csrf_of(html: &str) -> String {
    let start = html
        .find(r#"name="csrf" value=""#)
        .expect("the form has a csrf field")
        + 19;
    html[start..start + 32].to_owned()
}

pub(crate) async fn post_done(
    world: &World,
    cookie: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = world
        .app
        .client
        .post(world.app.url("/launch/session/done"))
        .header(header::COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

pub(crate) async fn choose(world: &World, cookie: &str, code: &str) -> (StatusCode, String) {
    let csrf = csrf_of(&session_page(world, cookie).await);
    post_done(
        world,
        cookie,
        &[("csrf", &csrf), ("action", "done"), ("code", code)],
    )
    .await
}

pub(crate) fn is_closing_page(html: &str) -> bool {
    html.contains(r#"id="done-page""#) && html.contains(r#"<script src="/assets/close.js">"#)
}

#[tokio::test]
async fn the_picker_shows_the_item_and_only_the_values_its_expense_type_allows() {
    let world = world().await;
    let (cookie, _, _) = launched_entry(&world).await;
    let html = session_page(&world, &cookie).await;
    // The item: a 25.00 USD lunch at Blue Door Cafe.
    for shown in ["Lunch", "25.00", "USD", "Blue Door Cafe", "2026-03-11"] {
        assert!(html.contains(shown), "{shown} missing: {html}");
    }
    assert!(html.contains(r#"id="current-value">(empty)<"#), "{html}");
    assert!(html.contains(r#"value="PRJ-1001""#), "{html}");
    assert!(html.contains(r#"value="PRJ-3003""#), "{html}");
    assert!(
        !html.contains("PRJ-2002"),
        "a travel project is not offered for a lunch: {html}"
    );
    for control in [
        r#"<label for="search">"#,
        r#"id="search-button""#,
        r#"id="done""#,
        r#"id="cancel""#,
        "<legend>",
    ] {
        assert!(html.contains(control), "{control} missing: {html}");
    }
}

#[tokio::test]
async fn search_runs_on_the_server_and_ignores_case() {
    let world = world().await;
    let (cookie, _, _) = launched_entry(&world).await;
    let response = world
        .app
        .client
        .get(world.app.url("/launch/session?q=cAtErInG"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"value="PRJ-3003""#), "{html}");
    assert!(!html.contains(r#"value="PRJ-1001""#), "{html}");
    assert!(
        html.contains(r#"value="cAtErInG""#),
        "the search stays in the box"
    );

    let html = world
        .app
        .client
        .get(world.app.url("/launch/session?q=nothing-like-this"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"id="no-results""#), "{html}");
    // Searching re-renders the page from the item read a moment ago: one read from Concur.
    let item_reads = world
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/expenses/"))
        .count();
    assert_eq!(item_reads, 1);
}

#[tokio::test]
async fn done_writes_the_chosen_code_once_logs_an_audit_line_and_closes_the_popup() {
    let world = world().await;
    let (cookie, report_id, expense_id) = launched_entry(&world).await;
    let csrf = csrf_of(&session_page(&world, &cookie).await);
    let form = [
        ("csrf", csrf.as_str()),
        ("action", "done"),
        ("code", "PRJ-3003"),
    ];
    let (status, html) = post_done(&world, &cookie, &form).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(is_closing_page(&html), "{html}");
    assert!(html.contains("PRJ-3003 was saved in Concur"), "{html}");

    let writes = world.sim.successful_writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].method, "PATCH");
    assert_eq!(
        writes[0].path,
        format!("/expensereports/v4/reports/{report_id}/expenses/{expense_id}")
    );
    assert_eq!(
        writes[0].body,
        Some(
            json!({"customData": [{"id": "custom12", "value": "PRJ-3003"}], "expenseSource": "OTHER"})
        )
    );
    let logs = captured_logs();
    let audit = logs
        .lines()
        .find(|l| l.contains(r#""target":"audit""#) && l.contains("PRJ-3003"))
        .unwrap_or_else(|| panic!("no audit line: {logs}"));
    for part in [
        r#""outcome":"written""#,
        r#""company":"acmecorp.com""#,
        r#""field":"custom12""#,
        r#""old":"""#,
        r#""new":"PRJ-3003""#,
        &format!(r#""item":"{expense_id}""#),
        &format!(r#""correlation_id":"{}""#, writes[0].correlation_id),
    ] {
        assert!(audit.contains(part), "{part} missing from {audit}");
    }

    // Done again (a double click, the back button): the closing page, no second write.
    let (status, html) = post_done(&world, &cookie, &form).await;
    assert_eq!(status, StatusCode::OK);
    assert!(is_closing_page(&html), "{html}");
    assert_eq!(world.sim.writes().len(), 1);
    // The popup reloaded after saving shows the closing page too.
    assert!(is_closing_page(&session_page(&world, &cookie).await));
}

#[tokio::test]
async fn two_simultaneous_dones_write_once() {
    let world = world().await;
    let (cookie, _, _) = launched_entry(&world).await;
    let csrf = csrf_of(&session_page(&world, &cookie).await);
    let form = [
        ("csrf", csrf.as_str()),
        ("action", "done"),
        ("code", "PRJ-1001"),
    ];
    // Slow Concur down so both requests overlap.
    world.sim.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let (a, b) = tokio::join!(
        post_done(&world, &cookie, &form),
        post_done(&world, &cookie, &form)
    );
    assert_eq!(world.sim.writes().len(), 1, "{a:?} {b:?}");
    let statuses = [a.0, b.0];
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    for (status, html) in [a, b] {
        assert!(
            status == StatusCode::OK && is_closing_page(&html)
                || status == StatusCode::CONFLICT && html.contains(r#"id="notice""#),
            "{status}: {html}"
        );
    }
}

#[tokio::test]
async fn a_form_without_its_sessions_csrf_token_writes_nothing() {
    let world = world().await;
    let (cookie, _, _) = launched_entry(&world).await;
    let (other_cookie, _, _) = launched_entry(&world).await;
    let other_csrf = csrf_of(&session_page(&world, &other_cookie).await);
    let own_csrf = csrf_of(&session_page(&world, &cookie).await);
    assert_ne!(own_csrf, other_csrf);
    for form in [
        vec![("action", "done"), ("code", "PRJ-1001")],
        vec![("csrf", ""), ("action", "done"), ("code", "PRJ-1001")],
        vec![
            ("csrf", other_csrf.as_str()),
            ("action", "done"),
            ("code", "PRJ-1001"),
        ],
        vec![("csrf", "0000"), ("action", "cancel")],
    ] {
        let (status, html) = post_done(&world, &cookie, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{form:?}: {html}");
        assert!(html.contains("<h1>This form is out of date</h1>"), "{html}");
    }
    assert!(world.sim.writes().is_empty());
    // Without a session at all: the expired page.
    let response = world
        .app
        .client
        .post(world.app.url("/launch/session/done"))
        .form(&[("csrf", own_csrf.as_str()), ("action", "done")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
}

#[tokio::test]
async fn cancel_closes_the_popup_without_writing() {
    let world = world().await;
    let (cookie, _, _) = launched_entry(&world).await;
    let csrf = csrf_of(&session_page(&world, &cookie).await);
    let (status, html) = post_done(
        &world,
        &cookie,
        &[
            ("csrf", csrf.as_str()),
            ("action", "cancel"),
            ("code", "PRJ-1001"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(is_closing_page(&html), "{html}");
    assert!(html.contains("Nothing was changed"), "{html}");
    assert!(world.sim.writes().is_empty());
    // Reloading the Done address (a GET) goes back to the picker instead of a blank 405.
    let response = world
        .app
        .client
        .get(world.app.url("/launch/session/done"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.url().path(), "/launch/session");
}

#[tokio::test]
async fn a_value_the_item_does_not_allow_is_refused_and_the_form_comes_back() {
    let world = world().await;
    let (cookie, _, _) = launched_entry(&world).await;
    for (code, message) in [
        ("PRJ-2002", "not available for this item"),
        ("NOPE", "not available for this item"),
        ("", "Choose or enter a value first"),
    ] {
        let (status, html) = choose(&world, &cookie, code).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{code}: {html}");
        assert!(html.contains(message), "{code}: {html}");
        assert!(html.contains(r#"id="done""#), "{code}: the form is back");
    }
    assert!(world.sim.writes().is_empty());
}

#[tokio::test]
async fn every_concur_failure_keeps_the_choice_and_retry_then_saves() {
    let world = world().await;
    for (error_status, page_status, message) in [
        (
            500,
            StatusCode::SERVICE_UNAVAILABLE,
            "Concur is not answering right now",
        ),
        (
            503,
            StatusCode::SERVICE_UNAVAILABLE,
            "Concur is not answering right now",
        ),
        (
            403,
            StatusCode::BAD_GATEWAY,
            "did not allow the connector to save",
        ),
        (
            400,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Project PRJ-3003 is closed for new expenses",
        ),
    ] {
        world.sim.reset();
        let (cookie, _, _) = launched_entry(&world).await;
        let csrf = csrf_of(&session_page(&world, &cookie).await);
        let form = [
            ("csrf", csrf.as_str()),
            ("action", "done"),
            ("code", "PRJ-3003"),
        ];
        world.sim.set_faults(Faults {
            refuse_writes_next: 10,
            write_error_status: error_status,
            write_error_message: "Project PRJ-3003 is closed for new expenses".to_owned(),
            ..Faults::default()
        });
        let (status, html) = post_done(&world, &cookie, &form).await;
        assert_eq!(status, page_status, "{error_status}: {html}");
        assert!(html.contains(message), "{error_status}: {html}");
        assert!(html.contains(r#"role="alert""#), "{error_status}: {html}");
        assert!(
            html.contains(r#"value="PRJ-3003" required checked"#),
            "{error_status}: the choice is kept: {html}"
        );
        assert!(world.sim.successful_writes().is_empty());
        if error_status != 400 {
            assert!(html.contains(r#"id="retry""#), "{error_status}: {html}");
        }

        // Concur is back: Retry with the same form saves once.
        world.sim.set_faults(Faults::default());
        let (status, html) = post_done(&world, &cookie, &form).await;
        assert_eq!(status, StatusCode::OK, "{error_status}: {html}");
        assert!(is_closing_page(&html));
        assert_eq!(world.sim.successful_writes().len(), 1, "{error_status}");
    }
    let logs = captured_logs();
    assert!(
        logs.lines()
            .filter(|l| l.contains(r#""target":"audit""#) && l.contains(r#""outcome":"failed""#))
            .count()
            >= 4,
        "every failed write is audited: {logs}"
    );
}

#[tokio::test]
async fn free_text_is_saved_up_to_48_characters() {
    let world = world_with("[values]\nsource = \"free_text\"\n").await;
    let (cookie, _, _) = launched_entry(&world).await;
    let html = session_page(&world, &cookie).await;
    assert!(
        html.contains(r#"<input type="text" name="value" id="value""#),
        "{html}"
    );
    assert!(html.contains(r#"maxlength="48""#), "{html}");
    assert!(!html.contains(r#"id="search""#), "no list in text mode");
    let csrf = csrf_of(&html);

    let too_long = "x".repeat(49);
    let (status, html) = post_done(
        &world,
        &cookie,
        &[
            ("csrf", csrf.as_str()),
            ("action", "done"),
            ("value", too_long.as_str()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("at most 48 characters"), "{html}");
    assert!(
        html.contains(&format!(r#"value="{too_long}""#)),
        "kept: {html}"
    );
    assert!(world.sim.writes().is_empty());

    let longest = format!("Workshop Zürich & co {}", "y".repeat(27));
    assert_eq!(longest.chars().count(), 48);
    let (status, html) = post_done(
        &world,
        &cookie,
        &[
            ("csrf", csrf.as_str()),
            ("action", "done"),
            ("value", longest.as_str()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let writes = world.sim.successful_writes();
    assert_eq!(
        writes[0].body.as_ref().unwrap()["customData"][0]["value"],
        json!(longest)
    );
}

#[tokio::test]
async fn header_allocation_and_v1_launches_write_their_own_field() {
    let world = world_with(&format!("{VALUES}\n[picker.target]\nv1 = \"Custom12\"\n")).await;
    let seed = world.sim.snapshot();
    let report = &seed.reports[0];
    let expense = &report.expenses[1];
    let allocation = &expense.allocations[0];
    let cases = [
        (
            world
                .sim
                .mint_v4(&V4LaunchRequest::new(Source::Header, &report.id)),
            json!({"customData": [{"id": "custom12", "value": "PRJ-1001"}], "reportSource": "OTHER"}),
        ),
        (
            world
                .sim
                .mint_v4(&V4LaunchRequest::new(Source::Allocation, &allocation.id)),
            json!({"allocation": {"customData": [{"id": "custom12", "value": "PRJ-1001"}]}, "expenseIds": [expense.id]}),
        ),
        (
            world.sim.mint_v1(&V1LaunchRequest::new(&expense.id)),
            json!({"Custom12": "PRJ-1001"}),
        ),
    ];
    for (i, (minted, body)) in cases.into_iter().enumerate() {
        let cookie = launch(&world, &minted.unwrap().url).await.unwrap();
        let (status, html) = choose(&world, &cookie, "PRJ-1001").await;
        assert_eq!(status, StatusCode::OK, "case {i}: {html}");
        let writes = world.sim.successful_writes();
        assert_eq!(writes.len(), i + 1, "case {i}");
        assert_eq!(writes[i].body.as_ref(), Some(&body), "case {i}");
    }
}

#[tokio::test]
async fn v1_launches_without_a_configured_field_cannot_save_and_say_so() {
    let world = world().await;
    let expense = &world.sim.snapshot().reports[0].expenses[0];
    let minted = world
        .sim
        .mint_v1(&V1LaunchRequest::new(&expense.id))
        .unwrap();
    let cookie = launch(&world, &minted.url).await.unwrap();
    // The picker says so at once, and offers no Done.
    let html = session_page(&world, &cookie).await;
    assert!(html.contains("not set up for saving"), "{html}");
    assert!(
        html.contains(r#"id="done" class="primary" disabled"#),
        "{html}"
    );
    // A Done posted anyway is an administrator's mistake, answered 409, never a 5xx.
    let (status, html) = post_done(
        &world,
        &cookie,
        &[
            ("csrf", &csrf_of(&html)),
            ("action", "done"),
            ("code", "PRJ-1001"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("not set up for saving"), "{html}");
    assert!(world.sim.writes().is_empty());
}

#[tokio::test]
async fn a_launch_from_the_mobile_app_gets_the_touch_layout() {
    let world = world().await;
    let report = &world.sim.snapshot().reports[0];
    let mut request = V4LaunchRequest::new(Source::Entry, &report.expenses[0].id);
    request.is_mobile = true;
    let cookie = launch(&world, &world.sim.mint_v4(&request).unwrap().url)
        .await
        .unwrap();
    assert!(
        session_page(&world, &cookie)
            .await
            .contains(r#"<body class="mobile">"#)
    );
    let (cookie, _, _) = launched_entry(&world).await;
    assert!(session_page(&world, &cookie).await.contains("<body>"));
}

#[tokio::test]
async fn the_page_speaks_the_users_language() {
    let world = world().await;
    let report = &world.sim.snapshot().reports[0];
    for (lang, done, amount) in [
        ("de-DE", "Fertig", "25,00"),
        ("fr", "Terminé", "25,00"),
        ("ja", "Done", "25.00"),
    ] {
        let tag = if lang == "ja" { "en" } else { &lang[..2] };
        let mut request = V4LaunchRequest::new(Source::Entry, &report.expenses[0].id);
        request.language_code = Some(lang.to_owned());
        let cookie = launch(&world, &world.sim.mint_v4(&request).unwrap().url)
            .await
            .unwrap();
        let html = session_page(&world, &cookie).await;
        assert!(
            html.contains(&format!(r#">{done}</button>"#)),
            "{lang}: {html}"
        );
        assert!(html.contains(amount), "{lang}: {html}");
        assert!(html.contains(&format!(r#"<html lang="{tag}">"#)), "{lang}");
    }
}

#[tokio::test]
async fn a_slow_system_of_record_gets_a_clear_message_not_a_hanging_popup() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let erp = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/projects"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"code": "PRJ-1001", "label": "Apollo"}]))
                .set_delay(std::time::Duration::from_secs(20)),
        )
        .mount(&erp)
        .await;
    // Development mode: wiremock speaks plain http, which production refuses.
    let world = world_with(&format!(
        "development = true\n[values]\nsource = \"http\"\n[values.http]\nurl = \"{}/projects?q={{search}}&type={{expense_type}}\"\ntimeout = \"300ms\"\n",
        erp.uri()
    ))
    .await;
    let (cookie, _, _) = launched_entry(&world).await;
    let response = world
        .app
        .client
        .get(world.app.url("/launch/session"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("The list of values did not answer in time"),
        "{html}"
    );
    assert!(
        html.contains(r#"id="search""#),
        "the user can search again: {html}"
    );
    let requests = erp.received_requests().await.unwrap();
    assert_eq!(requests[0].url.query(), Some("q=&type=LUNCH"));
}

#[tokio::test]
async fn concur_failing_to_read_the_item_at_done_keeps_the_choice_too() {
    let world = world().await;
    let (cookie, _, _) = launched_entry(&world).await;
    let csrf = csrf_of(&session_page(&world, &cookie).await);
    let form = [
        ("csrf", csrf.as_str()),
        ("action", "done"),
        ("code", "PRJ-3003"),
    ];
    world.sim.set_faults(Faults {
        fail_next: 20,
        error_status: 503,
        ..Faults::default()
    });
    let (status, html) = post_done(&world, &cookie, &form).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{html}");
    assert!(html.contains("Concur is not answering right now"), "{html}");
    assert!(
        html.contains(r#"value="PRJ-3003" required checked"#),
        "{html}"
    );
    assert!(html.contains(r#"id="retry""#), "{html}");
    assert!(world.sim.writes().is_empty());

    world.sim.set_faults(Faults::default());
    let (status, html) = post_done(&world, &cookie, &form).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(world.sim.successful_writes().len(), 1);
}

#[tokio::test]
async fn a_connector_with_nothing_to_pick_says_so_at_start_up() {
    let _app = crate::helpers::spawn_app().await;
    assert!(
        captured_logs().contains("values.inline is empty: users will have nothing to pick"),
        "{}",
        captured_logs()
    );
    let _world = world().await;
    assert_eq!(
        captured_logs().matches("values.inline is empty").count(),
        1,
        "a configured list does not warn"
    );
}

#[tokio::test]
async fn the_current_value_is_shown_with_its_label_and_preselected() {
    let world = world_with(&format!(
        "{VALUES}\n[[values.inline]]\ncode = \"PRJ-0001\"\nlabel = \"Facility renovation\"\n"
    ))
    .await;
    let expense = &world.sim.snapshot().reports[0].expenses[1];
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Entry, &expense.id))
        .unwrap();
    let cookie = launch(&world, &minted.url).await.unwrap();
    let html = session_page(&world, &cookie).await;
    assert!(
        html.contains(r#"id="current-value">PRJ-0001 · Facility renovation<"#),
        "{html}"
    );
    assert!(
        html.contains(r#"value="PRJ-0001" required checked"#),
        "{html}"
    );
}

#[tokio::test]
async fn launch_refusals_speak_the_users_language_too() {
    let world = world().await;
    let report = &world.sim.snapshot().reports[0];
    let mut request = V4LaunchRequest::new(Source::Entry, &report.expenses[0].id);
    request.language_code = Some("de".to_owned());
    let minted = world.sim.mint_v4(&request).unwrap();
    launch(&world, &minted.url).await.unwrap();
    let (status, html) = launch(&world, &minted.url).await.unwrap_err();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        html.contains("<h1>Dieser Link wurde bereits verwendet</h1>"),
        "{html}"
    );
    assert!(html.contains(r#"<html lang="de">"#), "{html}");

    request.language_code = Some("fr".to_owned());
    let minted = world.sim.mint_v4(&request).unwrap();
    let tampered = minted.url.replace("nonce=", "nonce=x");
    let (status, html) = launch(&world, &tampered).await.unwrap_err();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        html.contains("<h1>Ce lancement n&#x27;a pas pu être vérifié</h1>"),
        "{html}"
    );
}

#[tokio::test]
async fn a_session_searching_too_fast_gets_429_with_its_search_box_and_others_are_unaffected() {
    // Three searches at once, then one per 1000 s: the test never waits for a refill.
    let world = world_with(&format!(
        "[values]\nsearch_rate = 0.001\nsearch_burst = 3\n{VALUES}"
    ))
    .await;
    let (cookie, _, _) = launched_entry(&world).await;
    let search = |cookie: String, q: &'static str| {
        let request = world
            .app
            .client
            .get(world.app.url(&format!("/launch/session?q={q}")))
            .header(header::COOKIE, cookie);
        async move { request.send().await.unwrap() }
    };
    for q in ["apollo", "berlin", "catering"] {
        assert_eq!(
            search(cookie.clone(), q).await.status(),
            StatusCode::OK,
            "{q}"
        );
    }
    for _ in 0..2 {
        let refused = search(cookie.clone(), "pilot").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = refused.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry_after >= 1, "{retry_after}");
        let html = refused.text().await.unwrap();
        assert!(html.contains("Too many searches in a short time"), "{html}");
        assert!(
            html.contains(r#"id="search""#) && html.contains(r#"value="pilot""#),
            "the search box stays, with the search: {html}"
        );
        assert!(
            !html.contains(r#"value="PRJ-3003""#),
            "nothing was looked up: {html}"
        );
    }
    let logs = captured_logs();
    assert_eq!(
        logs.matches("searches refused: this session searches faster")
            .count(),
        1,
        "one log line per run of refusals: {logs}"
    );

    // Another session has its own allowance.
    let (other, _, _) = launched_entry(&world).await;
    let response = search(other, "catering").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains(r#"value="PRJ-3003""#)
    );
}

#[tokio::test]
async fn a_long_search_is_cut_to_100_characters_before_the_lookup() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let erp = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"code": "PRJ-1001", "label": "Apollo"}])),
        )
        .mount(&erp)
        .await;
    let world = world_with(&format!(
        "development = true\n[values]\nsource = \"http\"\n[values.http]\nurl = \"{}/projects?q={{search}}\"\n",
        erp.uri()
    ))
    .await;
    let (cookie, _, _) = launched_entry(&world).await;
    let long = format!("{}{}", "a".repeat(100), "b".repeat(3000));
    let response = world
        .app
        .client
        .get(world.app.url(&format!("/launch/session?q={long}")))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"value="{}""#, "a".repeat(100))),
        "the box shows what was searched"
    );
    let requests = erp.received_requests().await.unwrap();
    assert!(!requests.is_empty());
    for request in requests {
        let query = request.url.query().unwrap_or_default();
        assert_eq!(query, format!("q={}", "a".repeat(100)));
    }
}
