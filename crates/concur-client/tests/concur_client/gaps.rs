//! OAuth error 16 followed to the geolocation it names, the GLZ fallback of the code
//! exchange, and the submitted-report header PATCH with the company token.

use concur_client::{ConcurError, FieldValue, UserToken};
use serde_json::{Value, json};
use wiremock::matchers::{bearer_token, body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::support::*;

fn secret(value: &str) -> secrecy::SecretString {
    secrecy::SecretString::from(value.to_owned())
}

/// Concur's "the user lives elsewhere" answer, naming `geolocation`.
fn lives_elsewhere(geolocation: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({
        "code": 16, "error": "invalid_grant",
        "error_description": "user lives elsewhere", "geolocation": geolocation,
    }))
}

/// An OAuth error answer with this status and code.
fn oauth_error(status: u16, code: u32) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code, "error": "invalid_request", "error_description": "refused",
    }))
}

/// A successful authorization-code grant with an `id_token` for the test user.
fn code_grant_ok(access: &str) -> ResponseTemplate {
    let mut body = token_body(access, "user-refresh", None);
    body["id_token"] = signer().id_token(USER_ID).into();
    ResponseTemplate::new(200).set_body_json(body)
}

/// Settings trusting `extra` as geolocations besides the harness server.
fn trusting(h: &Harness, extra: &[&MockServer]) -> Value {
    let mut settings = h.settings();
    let mut hosts = vec![host_port(&h.server.uri())];
    hosts.extend(extra.iter().map(|s| host_port(&s.uri())));
    settings["allowed_geolocation_hosts"] = json!(hosts);
    settings
}

async fn token_requests(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .expect("requests are recorded")
        .iter()
        .filter(|r| r.url.path() == TOKEN_PATH)
        .count()
}

#[tokio::test]
async fn a_company_grant_answered_with_error_16_is_repeated_once_at_the_named_geolocation() {
    let h = Harness::start().await;
    let geo = MockServer::start().await;
    refresh_grant(SEED_REFRESH)
        .respond_with(lives_elsewhere(&geo.uri()))
        .expect(1)
        .mount(&h.server)
        .await;
    refresh_grant(SEED_REFRESH)
        .respond_with(token_response("company-access", "r2", Some(&geo.uri())))
        .expect(1)
        .mount(&geo)
        .await;
    get(V3_E1_PATH)
        .and(bearer_token("company-access"))
        .respond_with(v3_e1_response())
        .expect(1)
        .mount(&geo)
        .await;
    let client = h.client_with(trusting(&h, &[&geo]));
    let at_geo = format!("{}{V3_E1_PATH}", geo.uri());
    client.read_item(&at_geo, None, None).await.unwrap();
    // The token state keeps the geolocation the repeated grant answered.
    assert_eq!(
        saved_state(h.state.path())["geolocation"],
        geo.uri().trim_end_matches('/')
    );
}

#[tokio::test]
async fn a_code_answered_with_error_16_is_exchanged_once_at_the_named_geolocation() {
    let h = Harness::start().await;
    let geo = MockServer::start().await;
    mount_jwks(&h.server, signer()).await;
    token_mock("authorization_code")
        .respond_with(lives_elsewhere(&geo.uri()))
        .expect(1)
        .mount(&h.server)
        .await;
    token_mock("authorization_code")
        .and(FormIs::new(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", "code-1"),
            ("redirect_uri", REDIRECT_URI),
        ]))
        .respond_with(code_grant_ok("user-access"))
        .expect(1)
        .mount(&geo)
        .await;
    let user = h
        .client_with(trusting(&h, &[&geo]))
        .exchange_auth_code(&secret("code-1"), USER_ID)
        .await
        .unwrap();
    assert_eq!(user.subject(), Some(USER_ID));
}

#[tokio::test]
async fn error_16_naming_an_untrusted_geolocation_is_a_clear_error_and_nothing_goes_there() {
    let h = Harness::start().await;
    let stranger = MockServer::start().await;
    token_mock("authorization_code")
        .respond_with(lives_elsewhere(&stranger.uri()))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h
        .client()
        .exchange_auth_code(&secret("code-1"), USER_ID)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConcurError::UntrustedGeolocation { geolocation, .. } if *geolocation == stranger.uri()),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("allowed_geolocation_hosts"),
        "{err}"
    );
    assert!(stranger.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn error_16_is_followed_once_not_around_a_loop() {
    let h = Harness::start().await;
    let geo = MockServer::start().await;
    let third = MockServer::start().await;
    refresh_grant(SEED_REFRESH)
        .respond_with(lives_elsewhere(&geo.uri()))
        .expect(1)
        .mount(&h.server)
        .await;
    refresh_grant(SEED_REFRESH)
        .respond_with(lives_elsewhere(&third.uri()))
        .expect(1)
        .mount(&geo)
        .await;
    let err = h
        .client_with(trusting(&h, &[&geo, &third]))
        .ensure_company_token()
        .await
        .unwrap_err();
    let ConcurError::Api(api) = &err else {
        panic!("expected concur's error: {err:?}");
    };
    assert_eq!(api.code.as_deref(), Some("16"));
    assert!(third.received_requests().await.unwrap().is_empty());

    // Error 16 naming the host that answered it is not repeated there.
    let h = Harness::start().await;
    refresh_grant(SEED_REFRESH)
        .respond_with(lives_elsewhere(&h.server.uri()))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h.client().ensure_company_token().await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err:?}");
}

/// Settings with the harness server as GLZ (`auth_base_url`) and `app` as the
/// application's geolocation (`api_base_url`).
fn glz_and_app(h: &Harness, app: &MockServer) -> Value {
    let mut settings = trusting(h, &[app]);
    settings["api_base_url"] = app.uri().into();
    settings
}

#[tokio::test]
async fn a_code_refused_at_glz_is_exchanged_once_at_the_applications_geolocation() {
    for refusal in [oauth_error(401, 61), ResponseTemplate::new(404)] {
        let h = Harness::start().await;
        let app = MockServer::start().await;
        mount_jwks(&h.server, signer()).await;
        token_mock("authorization_code")
            .respond_with(refusal)
            .expect(1)
            .mount(&h.server)
            .await;
        token_mock("authorization_code")
            .respond_with(code_grant_ok("user-access"))
            .expect(1)
            .mount(&app)
            .await;
        let user = h
            .client_with(glz_and_app(&h, &app))
            .exchange_auth_code(&secret("code-1"), USER_ID)
            .await
            .unwrap();
        assert_eq!(user.subject(), Some(USER_ID));
    }
}

#[tokio::test]
async fn a_code_refused_for_the_code_itself_or_throttled_is_not_repeated_elsewhere() {
    for (status, code) in [(400, 101), (400, 103), (400, 104), (400, 105), (429, 0)] {
        let h = Harness::start().await;
        let app = MockServer::start().await;
        let answer = match code {
            0 => ResponseTemplate::new(status).insert_header("retry-after", "3600"),
            code => oauth_error(status, code),
        };
        token_mock("authorization_code")
            .respond_with(answer)
            .expect(1)
            .mount(&h.server)
            .await;
        let err = h
            .client_with(glz_and_app(&h, &app))
            .exchange_auth_code(&secret("code-1"), USER_ID)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(status), "{code}: {err:?}");
        assert_eq!(token_requests(&app).await, 0, "{code}");
    }
}

#[tokio::test]
async fn without_an_application_geolocation_of_its_own_a_refused_code_is_not_repeated() {
    let h = Harness::start().await;
    token_mock("authorization_code")
        .respond_with(oauth_error(401, 61))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h
        .client()
        .exchange_auth_code(&secret("code-1"), USER_ID)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
}

fn submitted_report_path() -> String {
    format!("/expensereports/v4/reports/{REPORT_ID}")
}

/// Reads the v4 header with a user token; the company token is `company-access`.
async fn submitted_header(h: &Harness) -> (concur_client::ExpenseItem, UserToken) {
    mount_jwks(&h.server, signer()).await;
    token_mock("authorization_code")
        .respond_with(code_grant_ok("user-access"))
        .mount(&h.server)
        .await;
    h.mount_company_token("company-access").await;
    let mut body = v4_report_body();
    body["approvalStatusId"] = "A_PEND".into();
    get(v4_report_path())
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&h.server)
        .await;
    let client = h.client();
    let user = client
        .exchange_auth_code(&secret("code-1"), USER_ID)
        .await
        .expect("code exchange");
    let item = client
        .read_item(&h.v4_report_url(), Some(&user), None)
        .await
        .expect("header read");
    (item, user)
}

/// Writes `CC-7` to the header's `custom15` with the user's token, as Done would.
async fn write_cc7(
    h: &Harness,
    item: &concur_client::ExpenseItem,
    user: &UserToken,
) -> Result<concur_client::WriteOutcome, ConcurError> {
    h.client()
        .write_field(
            item,
            "custom15",
            &FieldValue::Text("CC-7".into()),
            Some(user),
        )
        .await
}

#[tokio::test]
async fn a_header_patch_refused_as_submitted_is_written_through_the_submitted_report_patch() {
    let h = Harness::start().await;
    let (item, user) = submitted_header(&h).await;
    Mock::given(method("PATCH"))
        .and(path(v4_report_path()))
        .and(bearer_token("user-access"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errorId": "E-1",
            "errorMessage": "the report has been submitted; use PATCH /expensereports/v4/reports/{reportId}",
            "httpStatus": "400 BAD_REQUEST",
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    // Company token only, no reportSource (that endpoint does not take it).
    Mock::given(method("PATCH"))
        .and(path(submitted_report_path()))
        .and(bearer_token("company-access"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "customData": [{"id": "custom15", "value": "CC-7"}]
        })))
        .respond_with(
            ResponseTemplate::new(204).insert_header("concur-correlationid", "corr-submitted"),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let written = write_cc7(&h, &item, &user).await.unwrap();
    assert_eq!(written.status, 204);
    assert_eq!(written.correlation_id.as_deref(), Some("corr-submitted"));
}

#[tokio::test]
async fn a_header_patch_refused_for_another_reason_is_not_written_elsewhere() {
    let h = Harness::start().await;
    let (item, user) = submitted_header(&h).await;
    Mock::given(method("PATCH"))
        .and(path(v4_report_path()))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errorId": "E-2", "errorMessage": "Validation failed",
            "validationErrors": [{"id": "custom15", "message": "Value too long", "source": "customData"}],
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(submitted_report_path()))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&h.server)
        .await;
    let err = write_cc7(&h, &item, &user).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
}
