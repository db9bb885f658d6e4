//! Concur Request launches over HTTPS: both paths, both spellings, refusals, replays, the
//! Basic probe, the code exchange against the simulator, and `sign-launch --request`.

use concur_connector::launch::Source;
use concur_connector::sim::V4LaunchRequest;
use reqwest::{StatusCode, header};

use crate::helpers::{PASSWORD, TestApp, TestPki, USERNAME, captured_logs, session_cookie};
use crate::helpers::{spawn_app_with, write_config};
use crate::independent_signer::{self as concur, Base64Style, Creds, Encoding};
use crate::launch::{SESSION_PATH, V4_PATH, manual};

const REQUEST_PATH: &str = "/request/launchexternalurl/v4/form";
const API: &str = "https://us2.api.concursolutions.com/travelrequest/v4";
const REQUEST_ID: &str = "E82B0B803671004B9A5D952F34FBD01E";
const EXPECTED_EXPENSE_ID: &str = "A1F3C5E7092B4D6F8A0C2E4B6D8F0A13";
const ALLOCATION_ID: &str = "5D1B3C8E07A54B3F9E2A6C4D8F0B1A27";
const RFC: Encoding = Encoding::Rfc3986 { lower_hex: false };
const STD: Base64Style = Base64Style::StandardPadded;

fn creds() -> Creds {
    Creds {
        username: USERNAME.into(),
        password: PASSWORD.into(),
    }
}

/// The three Request levels, signed as Concur's Request documentation describes.
fn request_launch(source: Source, nonce: &str) -> concur::Launch {
    let item = match source {
        Source::Header => format!("{API}/requests/{REQUEST_ID}"),
        Source::Entry => format!("{API}/expenses/{EXPECTED_EXPENSE_ID}"),
        Source::Allocation => format!("{API}/requests/{REQUEST_ID}/allocations/{ALLOCATION_ID}"),
    };
    let mut launch = concur::v4_request(&item, source.as_str());
    launch.set("nonce", nonce);
    if source == Source::Allocation {
        launch
            .unsigned
            .push(("request_ids", EXPECTED_EXPENSE_ID.into()));
    }
    launch
}

/// Concur's Request example URL spells the employee id `repquest_owner_employee_id`.
fn misspelt(mut launch: concur::Launch) -> concur::Launch {
    launch.rename("request_owner_employee_id", "repquest_owner_employee_id");
    launch
}

async fn get(app: &TestApp, path: &str, query: &str) -> reqwest::Response {
    manual(app)
        .get(app.url(&format!("{path}?{query}")))
        .send()
        .await
        .unwrap()
}

/// A refusal: its status, an HTML page with a heading and the given text, no session.
async fn assert_refused(response: reqwest::Response, status: StatusCode, text: &str, why: &str) {
    assert_eq!(response.status(), status, "{why}");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8",
        "{why}"
    );
    assert!(
        response.headers().get(header::SET_COOKIE).is_none(),
        "{why}: no session"
    );
    let html = response.text().await.unwrap();
    assert!(
        html.contains("<h1>") && html.contains(text),
        "{why}: {html}"
    );
}

#[tokio::test]
async fn request_launches_on_either_path_and_with_either_spelling_land_on_the_session_page() {
    let app = spawn_app_with("").await;
    let mut n = 0;
    for path in [REQUEST_PATH, V4_PATH] {
        for source in [Source::Header, Source::Entry, Source::Allocation] {
            let spellings: [fn(concur::Launch) -> concur::Launch; 2] =
                [std::convert::identity, misspelt];
            for spelling in spellings {
                n += 1;
                let launch = spelling(request_launch(source, &format!("request-{n}")));
                let response = get(&app, path, &launch.query(&creds(), RFC, STD)).await;
                let why = format!("{path} {source:?} #{n}");
                assert_eq!(response.status(), StatusCode::SEE_OTHER, "{why}");
                assert_eq!(response.headers()[header::LOCATION], SESSION_PATH, "{why}");
                let page = manual(&app)
                    .get(app.url(SESSION_PATH))
                    .header(header::COOKIE, session_cookie(&response))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(page.status(), StatusCode::OK, "{why}");
                let html = page.text().await.unwrap();
                assert!(html.contains("name=\"csrf\""), "{why}: {html}");
                assert!(html.contains(source.as_str()), "{why}: {html}");
                assert!(html.contains("lang=\"fr\""), "{why}: {html}");
            }
        }
    }
    let logs = captured_logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("launch verified") && l.contains(r#""product":"request""#)),
        "the log line names the product: {logs}"
    );
}

#[tokio::test]
async fn tampered_mixed_ambiguous_and_renamed_request_launches_are_refused_with_a_readable_page() {
    let app = spawn_app_with("").await;
    let good = request_launch(Source::Header, "request-refusals").query(&creds(), RFC, STD);
    let without = |query: &str, names: &[&str]| {
        query
            .split('&')
            .filter(|pair| !names.iter().any(|n| pair.starts_with(&format!("{n}="))))
            .collect::<Vec<_>>()
            .join("&")
    };
    let incomplete = "Ce lien de lancement est incomplet";
    let unverified = "pas pu être vérifié";
    let cases = [
        (
            good.replace("company_domain=acmecorp.com", "company_domain=acmecorp.org"),
            StatusCode::UNAUTHORIZED,
            unverified,
            "tampered company domain",
        ),
        (
            good.replace(REQUEST_ID, "E82B0B803671004B9A5D952F34FBD01F"),
            StatusCode::UNAUTHORIZED,
            unverified,
            "tampered item url",
        ),
        (
            good.replace(
                "request_owner_employee_id=E12345",
                "request_owner_employee_id=E12346",
            ),
            StatusCode::UNAUTHORIZED,
            unverified,
            "tampered employee id",
        ),
        (
            format!("{good}&report_owner_user_id=32c2fcc3-b2e8-4907-9672-5b3f49b1c643"),
            StatusCode::BAD_REQUEST,
            incomplete,
            "mixed owner families",
        ),
        (
            without(
                &good,
                &["request_owner_user_id", "request_owner_employee_id"],
            ),
            StatusCode::BAD_REQUEST,
            incomplete,
            "neither owner family",
        ),
        (
            format!("{good}&repquest_owner_employee_id=E12345"),
            StatusCode::BAD_REQUEST,
            incomplete,
            "both spellings",
        ),
        (
            good.replace("request_owner_", "report_owner_"),
            StatusCode::BAD_REQUEST,
            incomplete,
            "a request launch renamed to the expense names",
        ),
    ];
    for (query, status, text, why) in cases {
        for path in [REQUEST_PATH, V4_PATH] {
            let response = get(&app, path, &query).await;
            assert_refused(response, status, text, &format!("{why} on {path}")).await;
        }
    }
    // None of them used the launch up.
    assert_eq!(
        get(&app, REQUEST_PATH, &good).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_request_launch_is_used_once_whichever_path_or_spelling_replays_it() {
    let app = spawn_app_with("").await;
    let launch = request_launch(Source::Entry, "request-replay");
    let documented = launch.query(&creds(), RFC, STD);
    let other_spelling = misspelt(launch.clone()).query(&creds(), RFC, STD);
    let other_encoding = launch.query(&creds(), Encoding::Form, Base64Style::UrlSafeUnpadded);
    assert_eq!(
        get(&app, REQUEST_PATH, &documented).await.status(),
        StatusCode::SEE_OTHER
    );
    for (path, query) in [
        (REQUEST_PATH, &documented),
        (V4_PATH, &documented),
        (REQUEST_PATH, &other_spelling),
        (V4_PATH, &other_encoding),
    ] {
        let response = get(&app, path, query).await;
        assert_refused(
            response,
            StatusCode::FORBIDDEN,
            "Ce lien a déjà été utilisé",
            path,
        )
        .await;
    }
}

#[tokio::test]
async fn an_expense_launch_renamed_to_the_request_names_is_refused() {
    let app = spawn_app_with("").await;
    let mut expense = concur::v4(
        "https://us2.api.concursolutions.com/expensereports/v4/users/32c2fcc3-b2e8-4907-9672-5b3f49b1c643/context/TRAVELER/reports/764428DD6A664AF0BFCB",
        "HEADER",
    );
    expense.set("nonce", "expense-renamed");
    let query = expense
        .query(&creds(), RFC, STD)
        .replace("report_owner_", "request_owner_");
    for path in [REQUEST_PATH, V4_PATH] {
        let response = get(&app, path, &query).await;
        assert_refused(
            response,
            StatusCode::BAD_REQUEST,
            "incomplet",
            &format!("renamed on {path}"),
        )
        .await;
    }
    // Under its own names the same launch is still fresh and accepted.
    let genuine = query.replace("request_owner_", "report_owner_");
    assert_eq!(
        get(&app, V4_PATH, &genuine).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_request_path_can_be_moved_or_switched_off_while_the_v4_path_still_serves_requests() {
    let query = request_launch(Source::Header, "request-moved").query(&creds(), RFC, STD);
    let app = spawn_app_with("[launch]\nrequest_path = \"/concur/request/form\"\n").await;
    assert_eq!(
        get(&app, "/concur/request/form", &query).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        get(&app, REQUEST_PATH, &query).await.status(),
        StatusCode::NOT_FOUND
    );

    let app = spawn_app_with("[launch]\nrequest_enabled = false\n").await;
    assert_eq!(
        get(&app, REQUEST_PATH, &query).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, V4_PATH, &query).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn concurs_test_connection_probing_the_request_path_gets_200() {
    let app = spawn_app_with("").await;
    let probed = app
        .client
        .get(app.url(REQUEST_PATH))
        .basic_auth(USERNAME, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(probed.status(), StatusCode::OK);
    assert_eq!(probed.text().await.unwrap(), "OK");
    let anonymous = app.client.get(app.url(REQUEST_PATH)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_request_launch_exchanges_its_auth_code_bound_to_the_signed_user() {
    let world = crate::with_simulator::world_with("").await;
    let seed = world.sim.snapshot();
    let report = &seed.reports[0];
    // The simulator mints a code for the clicking user; the Request launch carrying it is
    // signed here, for a request on the simulator's API host.
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Header, &report.id))
        .unwrap();
    let other_report = seed
        .reports
        .iter()
        .find(|r| r.owner != report.owner)
        .unwrap();
    let other = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Header, &other_report.id))
        .unwrap();
    let base = world.sim.base_url().as_str().trim_end_matches('/');
    let signed_for = |code: &str, nonce: &str| {
        let mut launch = concur::v4_request(
            &format!("{base}/travelrequest/v4/requests/{REQUEST_ID}"),
            "HEADER",
        );
        launch.set("logged_in_user_id", &minted.logged_in_user_id);
        launch.set("request_owner_user_id", &minted.logged_in_user_id);
        launch.set("client_auth_code", code);
        launch.set("nonce", nonce);
        launch.query(&creds(), RFC, STD)
    };
    // Another user's code: its id_token names someone else.
    let swapped = signed_for(other.client_auth_code.as_deref().unwrap(), "sim-request-1");
    let response = get(&world.app, REQUEST_PATH, &swapped).await;
    assert_refused(
        response,
        StatusCode::FORBIDDEN,
        "autorisé",
        "another user's code",
    )
    .await;
    // The clicking user's own code: exchanged, and the popup continues in a session.
    let own = signed_for(minted.client_auth_code.as_deref().unwrap(), "sim-request-2");
    let response = get(&world.app, REQUEST_PATH, &own).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await.unwrap()
    );
    assert_eq!(response.headers()[header::LOCATION], SESSION_PATH);
    // Without a code, a Request launch is refused like an Expense one.
    let no_code = signed_for("", "sim-request-3");
    assert_eq!(
        get(&world.app, REQUEST_PATH, &no_code).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn sign_launch_request_prints_a_url_the_connector_accepts() {
    let pki = TestPki::new("cli");
    let (_dir, path) = write_config(&pki, "");
    let item = format!("{API}/requests/{REQUEST_ID}/allocations/{ALLOCATION_ID}");
    let output = crate::cli::run(
        &[
            "sign-launch",
            "--request",
            "--config",
            path.to_str().unwrap(),
            "--base-url",
            "https://connector.example.com",
            "--item-url",
            &item,
            "--source",
            "ALLOCATION",
            "--request-ids",
            EXPECTED_EXPENSE_ID,
        ],
        &[],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        crate::cli::stderr(&output)
    );
    let url = crate::cli::stdout(&output).trim().to_owned();
    let (base, query) = url.split_once('?').unwrap();
    assert_eq!(base, format!("https://connector.example.com{REQUEST_PATH}"));
    for name in [
        "request_owner_user_id=",
        "request_owner_employee_id=",
        "request_ids=",
    ] {
        assert!(query.contains(name), "{name} in {query}");
    }
    assert!(!query.contains("report_owner_"), "{query}");
    let app = spawn_app_with("").await;
    assert_eq!(
        get(&app, REQUEST_PATH, query).await.status(),
        StatusCode::SEE_OTHER
    );

    // --v1 and --request do not combine.
    let both = crate::cli::run(
        &[
            "sign-launch",
            "--request",
            "--v1",
            "--config",
            path.to_str().unwrap(),
            "--item-url",
            &item,
        ],
        &[],
    )
    .await;
    assert_eq!(both.status.code(), Some(2), "{}", crate::cli::stderr(&both));
}
