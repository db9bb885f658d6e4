//! Launch External URL over HTTPS: verification, replay, hand-over, refusals.

use concur_connector::config;
use concur_connector::credentials::ConnectorCredentials;
use concur_connector::launch::sign::{self, Encoding, V1Launch, V4Launch};
use concur_connector::launch::{Product, Source};
use reqwest::{StatusCode, header};

use crate::helpers::{PASSWORD, TestApp, USERNAME, captured_logs, session_cookie, spawn_app_with};

pub(crate) const V4_PATH: &str = "/launchexternalurl/v4/form";
const V1_PATH: &str = "/concur/form/v1.0/get";
pub(crate) const SESSION_PATH: &str = "/launch/session";

fn creds() -> ConnectorCredentials {
    ConnectorCredentials::new(USERNAME, config::secret(PASSWORD)).unwrap()
}

pub(crate) fn v4_launch(nonce: &str, source: Source) -> V4Launch {
    let item = match source {
        Source::Header => "",
        Source::Entry => "/expenses/84FCBB92BD4E5342B849DAC29FD163A1",
        Source::Allocation => "/allocations/3BBB494511E1C74DA04469C45B039871",
    };
    V4Launch {
        product: Product::Expense,
        company_domain: "acmecorp.com".into(),
        logged_in_user_id: "a1b2c3d4-0000-4000-8000-000000000abc".into(),
        report_owner_user_id: "32c2fcc3-b2e8-4907-9672-5b3f49b1c643".into(),
        report_owner_employee_id: "EMP 00+7&X".into(),
        item_url: format!(
            "https://us2.api.concursolutions.com/expensereports/v4/users/32c2fcc3-b2e8-4907-9672-5b3f49b1c643/context/PROXY/reports/764428DD6A664AF0BFCB{item}"
        ),
        nonce: nonce.into(),
        custom_field_launched_from: Some("custom12".into()),
        source,
        expense_ids: if source == Source::Allocation {
            vec!["29EE3C62F5D844458828A5C1086072D1".into()]
        } else {
            vec![]
        },
        is_mobile: false,
        client_auth_code: Some("c0ffee00-1234-4abc-8def-0123456789ab".into()),
        language_code: Some("de".into()),
    }
}

fn v1_launch(nonce: &str) -> V1Launch {
    V1Launch {
        company_domain: "acmecorp.com".into(),
        user_id: "jane.doe@acmecorp.com".into(),
        item_url: "https://www.concursolutions.com/api/expense/expensereport/v1.1/report/nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw/entry/nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U".into(),
        nonce: nonce.into(),
    }
}

/// GETs a launch endpoint without following the hand-over redirect.
async fn send_launch(app: &TestApp, path: &str, query: &str) -> reqwest::Response {
    manual(app)
        .get(app.url(&format!("{path}?{query}")))
        .send()
        .await
        .unwrap()
}

pub(crate) fn v4_query(launch: &V4Launch) -> String {
    sign::v4_query(launch, &creds(), Encoding::Rfc3986)
}

/// A client that does not follow redirects, so the hand-over can be inspected.
pub(crate) fn manual(app: &TestApp) -> reqwest::Client {
    app.pki
        .client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn signature_of(query: &str) -> String {
    query
        .split('&')
        .find_map(|p| p.strip_prefix("signature="))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_v4_launch_for_each_source_hands_over_to_a_clean_session_page() {
    let app = spawn_app_with("").await;
    let client = manual(&app);
    for (i, source) in [Source::Entry, Source::Header, Source::Allocation]
        .into_iter()
        .enumerate()
    {
        let query = v4_query(&v4_launch(&format!("nonce-{i}"), source));
        let response = client
            .get(app.url(&format!("{V4_PATH}?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{source:?}");
        assert_eq!(response.headers()[header::LOCATION], SESSION_PATH);
        let cookie = response.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_owned();
        for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        let session = cookie.split(';').next().unwrap().to_owned();

        // The clean page works, and keeps working on reload.
        for _ in 0..2 {
            let page = client
                .get(app.url(SESSION_PATH))
                .header(header::COOKIE, &session)
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), StatusCode::OK, "{source:?}");
            assert_eq!(page.headers()["referrer-policy"], "no-referrer");
            assert!(
                page.headers()["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .contains("default-src 'none'")
            );
            let html = page.text().await.unwrap();
            assert!(html.contains(source.as_str()), "{html}");
            assert!(
                html.contains("EMP 00+7&amp;X"),
                "the employee id is shown escaped: {html}"
            );
            assert!(html.contains("lang=\"de\""), "{html}");
        }
    }
}

#[tokio::test]
async fn a_v1_launch_hands_over_to_a_session() {
    let app = spawn_app_with("").await;
    let launch = v1_launch("5f0c2e9a-7b1d-4c3e-9f6a-2d8b1e4a7c90");
    let query = sign::v1_query(&launch, &creds(), Encoding::Form);
    let response = send_launch(&app, V1_PATH, &query).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn launch_v4_rejects_a_replayed_nonce_with_a_page_that_says_what_to_do() {
    let app = spawn_app_with("").await;
    let client = manual(&app);
    let url = app.url(&format!(
        "{V4_PATH}?{}",
        v4_query(&v4_launch("once", Source::Entry))
    ));
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let replay = client.get(&url).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::FORBIDDEN);
    let html = replay.text().await.unwrap();
    // The launch asked for German (language_code=de): the refusal is in German too.
    assert!(
        html.contains("klicken Sie erneut auf das Feld in Concur"),
        "{html}"
    );
}

#[tokio::test]
async fn every_refusal_gets_its_status_and_a_readable_page() {
    let app = spawn_app_with("").await;
    let client = manual(&app);
    let good = v4_query(&v4_launch("n-refusals", Source::Entry));
    let tampered = good.replace("EMP%2000%2B7%26X", "EMP%2000%2B8%26X");
    let duplicated = format!("{good}&company_domain=evil.com");
    let missing = good
        .split('&')
        .filter(|p| !p.starts_with("nonce="))
        .collect::<Vec<_>>()
        .join("&");
    let mut foreign = v4_launch("n-foreign", Source::Entry);
    foreign.item_url = "https://evil.example.com/expensereports/v4/reports/1/expenses/2".into();
    let mut plain_http = v4_launch("n-http", Source::Entry);
    plain_http.item_url = plain_http.item_url.replace("https://", "http://");
    let cases = [
        (tampered, StatusCode::UNAUTHORIZED, "tampered employee id"),
        (
            duplicated,
            StatusCode::BAD_REQUEST,
            "duplicated signed parameter",
        ),
        (missing, StatusCode::BAD_REQUEST, "missing nonce"),
        (
            v4_query(&foreign),
            StatusCode::FORBIDDEN,
            "foreign item url host",
        ),
        (
            v4_query(&plain_http),
            StatusCode::FORBIDDEN,
            "plain http item url",
        ),
        (
            good.replace("signature=", "signature=%FF"),
            StatusCode::BAD_REQUEST,
            "invalid utf-8",
        ),
        (String::new(), StatusCode::BAD_REQUEST, "no query at all"),
    ];
    for (query, status, why) in cases {
        let response = client
            .get(app.url(&format!("{V4_PATH}?{query}")))
            .send()
            .await
            .unwrap();
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
        assert!(html.contains("<h1>"), "{why}: {html}");
    }
}

#[tokio::test]
async fn an_over_long_query_gets_a_4xx_and_over_http1_our_page() {
    let app = spawn_app_with("").await;
    let good = v4_query(&v4_launch("n-long", Source::Entry));
    let url = app.url(&format!(
        "{V4_PATH}?{good}&padding={}",
        "x".repeat(17 * 1024)
    ));
    let http1 = app.pki.client_builder().http1_only().build().unwrap();
    let response = http1.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("<h1>"));
    // Over HTTP/2 the header block limit may answer first (431); still a client error.
    let h2 = manual(&app).get(&url).send().await.unwrap();
    assert!(h2.status().is_client_error(), "{}", h2.status());
}

#[tokio::test]
async fn the_session_page_without_a_valid_session_answers_410() {
    let app = spawn_app_with("").await;
    let client = manual(&app);
    let no_cookie = client.get(app.url(SESSION_PATH)).send().await.unwrap();
    assert_eq!(no_cookie.status(), StatusCode::GONE);
    let unknown = client
        .get(app.url(SESSION_PATH))
        .header(
            header::COOKIE,
            "__Host-concur-connector-session=00112233445566778899aabbccddeeff",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::GONE);
}

#[tokio::test]
async fn a_session_expires_after_its_lifetime() {
    let app = spawn_app_with("[launch]\nsession_lifetime = \"1s\"\n").await;
    let client = manual(&app);
    let response = client
        .get(app.url(&format!(
            "{V4_PATH}?{}",
            v4_query(&v4_launch("n-expiry", Source::Entry))
        )))
        .send()
        .await
        .unwrap();
    let session = session_cookie(&response);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let page = client
        .get(app.url(SESSION_PATH))
        .header(header::COOKIE, session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::GONE);
}

#[tokio::test]
async fn switched_off_versions_are_not_served() {
    let app = spawn_app_with("[launch]\nv1_enabled = false\n").await;
    let launch = v1_launch("n-off");
    let query = sign::v1_query(&launch, &creds(), Encoding::Rfc3986);
    let response = send_launch(&app, V1_PATH, &query).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_body_location_or_log_line_carries_the_signature_nonce_or_auth_code() {
    let app = spawn_app_with("[launch]\ndiagnostics = true\n").await;
    let client = manual(&app);
    let launch = v4_launch("secret-nonce-4711", Source::Entry);
    let query = v4_query(&launch);
    let signature = signature_of(&query);
    let mut seen = String::new();

    let first = client
        .get(app.url(&format!("{V4_PATH}?{query}")))
        .send()
        .await
        .unwrap();
    seen += &format!("{:?}", first.headers());
    let session = session_cookie(&first);
    seen += &first.text().await.unwrap();
    let page = client
        .get(app.url(SESSION_PATH))
        .header(header::COOKIE, session)
        .send()
        .await
        .unwrap();
    seen += &format!("{:?}", page.headers());
    seen += &page.text().await.unwrap();
    let replay = client
        .get(app.url(&format!("{V4_PATH}?{query}")))
        .send()
        .await
        .unwrap();
    seen += &replay.text().await.unwrap();
    let tampered = client
        .get(app.url(&format!(
            "{V4_PATH}?{}",
            query.replace("acmecorp.com", "acmecorp.org")
        )))
        .send()
        .await
        .unwrap();
    seen += &tampered.text().await.unwrap();

    let logs = captured_logs();
    assert!(
        logs.contains("launch verified") && logs.contains("signature mismatch"),
        "{logs}"
    );
    let decoded_signature = percent_encoding::percent_decode_str(&signature)
        .decode_utf8()
        .unwrap()
        .into_owned();
    for secret in [
        signature.as_str(),
        decoded_signature.as_str(),
        "secret-nonce-4711",
        "c0ffee00-1234-4abc-8def-0123456789ab",
        PASSWORD,
    ] {
        assert!(!seen.contains(secret), "a response carries {secret:?}");
        assert!(!logs.contains(secret), "the logs carry {secret:?}");
    }
}

#[tokio::test]
async fn diagnostics_name_the_wrong_reading_but_still_refuse() {
    let app = spawn_app_with("[launch]\ndiagnostics = true\n").await;
    // Signed by someone who lower-cased the user name in the message too (docs/protocol.md §14.4 b).
    let wrong =
        ConnectorCredentials::new(USERNAME.to_lowercase(), config::secret(PASSWORD)).unwrap();
    let query = sign::v4_query(
        &v4_launch("n-diag", Source::Entry),
        &wrong,
        Encoding::Rfc3986,
    );
    let response = send_launch(&app, V4_PATH, &query).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let logs = captured_logs();
    assert!(
        logs.contains("would match under a known wrong reading"),
        "{logs}"
    );
}

#[tokio::test]
async fn launches_signed_by_an_independent_implementation_land_on_the_session_page() {
    use crate::independent_signer::{self as concur, Base64Style, Encoding};
    let app = spawn_app_with("").await;
    let creds = concur::Creds {
        username: USERNAME.into(),
        password: PASSWORD.into(),
    };
    let report = "https://us2.api.concursolutions.com/expensereports/v4/users/32c2fcc3-b2e8-4907-9672-5b3f49b1c643/context/PROXY/reports/764428DD6A664AF0BFCB";
    let mut allocation = concur::v4(
        &format!("{report}/allocations/3BBB494511E1C74DA04469C45B039871"),
        "ALLOCATION",
    );
    allocation.set("logged_in_user_id", "a1b2c3d4-0000-4000-8000-000000000abc");
    allocation.set("report_owner_employee_id", "EMP 00+7&X");
    allocation.unsigned.push((
        "expense_ids",
        "29EE3C62F5D844458828A5C1086072D1,84FCBB92BD4E5342B849DAC29FD163A1".into(),
    ));
    let launches = [
        (
            V4_PATH,
            concur::v4(report, "HEADER"),
            Encoding::Rfc3986 { lower_hex: true },
            Base64Style::UrlSafeUnpadded,
        ),
        (
            V4_PATH,
            concur::v4(
                &format!("{report}/expenses/84FCBB92BD4E5342B849DAC29FD163A1"),
                "ENTRY",
            ),
            Encoding::Form,
            Base64Style::StandardPadded,
        ),
        (
            V4_PATH,
            allocation,
            Encoding::Rfc3986 { lower_hex: false },
            Base64Style::StandardUnpadded,
        ),
        (
            V1_PATH,
            concur::v1(
                "https://www.concursolutions.com/api/expense/expensereport/v1.1/report/nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw/entry/nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U",
            ),
            Encoding::Form,
            Base64Style::UrlSafePadded,
        ),
    ];
    for (i, (path, mut launch, encoding, style)) in launches.into_iter().enumerate() {
        launch.set("nonce", &format!("independent-{i}"));
        let query = launch.query(&creds, encoding, style);
        let response = send_launch(&app, path, &query).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "launch {i}: {}",
            response.text().await.unwrap()
        );
        let session = session_cookie(&response);
        let page = manual(&app)
            .get(app.url(SESSION_PATH))
            .header(header::COOKIE, session)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "launch {i}");
        assert!(
            page.text().await.unwrap().contains("name=\"csrf\""),
            "launch {i}"
        );
    }
}

#[tokio::test]
async fn an_item_url_on_another_port_needs_its_host_and_port_listed() {
    let on_8443 = |nonce: &str| {
        let mut launch = v4_launch(nonce, Source::Entry);
        launch.item_url = launch.item_url.replace(
            "https://us2.api.concursolutions.com/",
            "https://items.test:8443/",
        );
        launch
    };
    // Listed without a port: port 443 only.
    let app = spawn_app_with("[launch]\nallowed_item_hosts = [\"items.test\"]\n").await;
    let response = send_launch(&app, V4_PATH, &v4_query(&on_8443("n-port-1"))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    // A Concur host on another port is refused just the same.
    let mut concur_8443 = v4_launch("n-port-2", Source::Entry);
    concur_8443.item_url = concur_8443.item_url.replace(
        "us2.api.concursolutions.com/",
        "us2.api.concursolutions.com:8443/",
    );
    let response = send_launch(&app, V4_PATH, &v4_query(&concur_8443)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Listed as host:port: accepted.
    let app = spawn_app_with("[launch]\nallowed_item_hosts = [\"items.test:8443\"]\n").await;
    let response = send_launch(&app, V4_PATH, &v4_query(&on_8443("n-port-3"))).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn concurs_test_connection_probing_a_launch_endpoint_gets_200() {
    let app = crate::helpers::spawn_app().await;
    for path in ["/launchexternalurl/v4/form", "/concur/form/v1.0/get"] {
        let probed = app
            .client
            .get(app.url(path))
            .basic_auth(crate::helpers::USERNAME, Some(crate::helpers::PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(probed.status(), reqwest::StatusCode::OK, "{path}");
        assert_eq!(probed.text().await.unwrap(), "OK");
        // Without the credentials it is an empty launch, refused as before.
        let anonymous = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            anonymous.status(),
            reqwest::StatusCode::BAD_REQUEST,
            "{path}"
        );
        let wrong = app
            .client
            .get(app.url(path))
            .basic_auth(crate::helpers::USERNAME, Some("not-the-password"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), reqwest::StatusCode::BAD_REQUEST, "{path}");
    }
}
