//! The Concur client against wiremock: exact requests, tokens, retries, parsers, logs.

#[path = "concur_client/gaps.rs"]
mod gaps;
#[path = "concur_client/identity.rs"]
mod identity;
#[path = "concur_client/request.rs"]
mod request;
#[path = "concur_client/shared_store.rs"]
mod shared_store;
#[path = "support/concur/mod.rs"]
mod support;
#[path = "concur_client/workflow.rs"]
mod workflow;

/// Builds the client's configuration from settings written as the connector's `[concur]`
/// table, in development mode (wiremock speaks plain http). The connector's own validation
/// is tested with the connector; this reads only the keys these tests use.
fn client_config(settings: serde_json::Value) -> concur_client::ClientConfig {
    let text = |key: &str| settings[key].as_str().map(str::to_owned);
    let url = |key: &str| {
        reqwest::Url::parse(&text(key).unwrap_or_else(|| panic!("{key} missing")))
            .unwrap_or_else(|e| panic!("{key}: {e}"))
    };
    let duration = |key: &str| {
        humantime::parse_duration(&text(key).unwrap_or_else(|| panic!("{key} missing")))
            .unwrap_or_else(|e| panic!("{key}: {e}"))
    };
    let hosts: Vec<String> = settings["allowed_geolocation_hosts"]
        .as_array()
        .map(|hosts| {
            hosts
                .iter()
                .filter_map(|h| h.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let state_dir = std::path::PathBuf::from(text("state_dir").expect("state_dir"));
    let company_grant = match (text("refresh_token"), text("company_request_token")) {
        (Some(refresh), _) => Some(concur_client::CompanyGrant::RefreshToken(refresh.into())),
        (None, Some(request_token)) => Some(concur_client::CompanyGrant::RequestToken {
            company_id: text("company_id").expect("company_id"),
            request_token: request_token.into(),
        }),
        (None, None) if state_dir.join(STATE_FILE_NAME).is_file() => None,
        (None, None) => panic!("settings invalid: no company credentials"),
    };
    let auth_base_url = url("auth_base_url");
    concur_client::ClientConfig {
        client_id: text("client_id").expect("client_id"),
        client_secret: text("client_secret").expect("client_secret").into(),
        redirect_uri: url("redirect_uri"),
        api_base_url: match text("api_base_url") {
            Some(_) => url("api_base_url"),
            None => auth_base_url.clone(),
        },
        auth_base_url,
        geolocations: concur_client::GeolocationPolicy::new(
            &hosts,
            concur_client::Mode::Development,
        ),
        jwks_url: url("jwks_url"),
        company_grant,
        state_dir,
        extra_roots: Vec::new(),
        connect_timeout: duration("connect_timeout"),
        request_timeout: duration("request_timeout"),
        max_retries: settings["max_retries"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .expect("max_retries"),
        retry_base_delay: duration("retry_base_delay"),
        retry_max_delay: duration("retry_max_delay"),
        token_refresh_margin: duration("token_refresh_margin"),
    }
}

use std::time::Duration;

use concur_client::{
    ConcurError, Failure, FieldValue, ItemApi, ItemRef, STATE_FILE_NAME, UserToken,
};
use concur_protocol::launch::Source;
use secrecy::SecretString;
use serde_json::json;
use support::*;
use wiremock::matchers::{bearer_token, body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn secret(value: &str) -> SecretString {
    SecretString::from(value.to_owned())
}

/// Mounts the authorization-code grant answering `access` with an `id_token` for `sub`.
async fn mount_code_exchange(h: &Harness, code: &str, access: &str, sub: Option<&str>) {
    let mut body = token_body(access, "user-refresh-token", Some(&h.server.uri()));
    if let Some(sub) = sub {
        body["id_token"] = signer().id_token(sub).into();
    }
    token_mock("authorization_code")
        .and(FormIs::new(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
        ]))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&h.server)
        .await;
}

async fn user_token(h: &Harness, access: &str) -> UserToken {
    mount_jwks(&h.server, signer()).await;
    mount_code_exchange(h, "code-for-user", access, Some(USER_ID)).await;
    h.client()
        .exchange_auth_code(&secret("code-for-user"), USER_ID)
        .await
        .expect("code exchange")
}

// ================================================================== tokens

#[tokio::test]
async fn the_company_token_comes_from_the_configured_refresh_token() {
    let h = Harness::start().await;
    refresh_grant(SEED_REFRESH)
        .and(header("accept", "application/json"))
        .respond_with(token_response("company-access-1", SEED_REFRESH, None))
        .expect(1)
        .mount(&h.server)
        .await;
    get(V3_E1_PATH)
        .and(bearer_token("company-access-1"))
        .and(header("accept", "application/json"))
        .respond_with(v3_e1_response())
        .expect(2)
        .mount(&h.server)
        .await;

    let client = h.client();
    let url = h.v3_e1_url();
    client.read_item(&url, None, None).await.unwrap();
    client.read_item(&url, None, None).await.unwrap();
}

#[tokio::test]
async fn a_company_request_token_is_exchanged_once_then_refreshed() {
    let h = Harness::start().await;
    let mut settings = h.settings();
    settings["refresh_token"] = serde_json::Value::Null;
    settings["company_id"] = "c0mpany-0000-4000-8000-000000000001".into();
    settings["company_request_token"] = "company-request-token-xyz".into();
    token_mock("password")
        .and(FormIs::new(&[
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "password"),
            ("username", "c0mpany-0000-4000-8000-000000000001"),
            ("password", "company-request-token-xyz"),
            ("credtype", "authtoken"),
        ]))
        // `expires_in` 0: every later call must renew, through the refresh grant.
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "access-from-request-token",
            "refresh_token": "refresh-from-request-token",
            "expires_in": 0,
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    refresh_grant("refresh-from-request-token")
        .respond_with(token_response(
            "access-2",
            "refresh-from-request-token",
            None,
        ))
        .expect(1)
        .mount(&h.server)
        .await;

    let client = h.client_with(settings);
    client.ensure_company_token().await.unwrap();
    client.ensure_company_token().await.unwrap();
    client.ensure_company_token().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_cause_exactly_one_token_request() {
    let h = Harness::start().await;
    token_mock("refresh_token")
        // A slow token endpoint keeps every caller waiting on the same refresh.
        .respond_with(
            token_response("shared-access", SEED_REFRESH, None)
                .set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    get(V3_E1_PATH)
        .and(bearer_token("shared-access"))
        .respond_with(v3_e1_response())
        .expect(20)
        .mount(&h.server)
        .await;

    let client = h.client();
    let url = h.v3_e1_url();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move { client.read_item(&url, None, None).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_rotated_refresh_token_survives_a_restart() {
    let h = Harness::start().await;
    refresh_grant(SEED_REFRESH)
        .respond_with(token_response("access-1", "rotated-refresh-1", None))
        .expect(1)
        .mount(&h.server)
        .await;
    refresh_grant("rotated-refresh-1")
        .respond_with(token_response("access-2", "rotated-refresh-2", None))
        .expect(1)
        .mount(&h.server)
        .await;

    h.client().ensure_company_token().await.unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let state_file = h.state.path().join(STATE_FILE_NAME);
        let mode = std::fs::metadata(&state_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        saved_state(h.state.path())["refresh_token"],
        "rotated-refresh-1"
    );

    // A new process with the same configuration (still naming the seed token).
    h.client().ensure_company_token().await.unwrap();
    assert_eq!(
        saved_state(h.state.path())["refresh_token"],
        "rotated-refresh-2"
    );
}

#[tokio::test]
async fn a_rotation_by_another_process_on_the_same_state_is_used_for_the_next_refresh() {
    let h = Harness::start().await;
    for (refresh, access, rotated) in [
        (SEED_REFRESH, "server-access-1", "rotated-1"),
        ("rotated-1", "doctor-access", "rotated-2"),
        ("rotated-2", "server-access-2", "rotated-3"),
    ] {
        refresh_grant(refresh)
            .respond_with(token_response(access, rotated, None))
            .expect(1)
            .mount(&h.server)
            .await;
    }
    Mock::given(method("GET"))
        .and(bearer_token("server-access-1"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("server-access-2"))
        .respond_with(v3_e1_response())
        .expect(1)
        .mount(&h.server)
        .await;
    let server = h.client();
    server.ensure_company_token().await.unwrap();

    // Another process on the same state (`doctor`) refreshes: Concur retires rotated-1.
    h.client().ensure_company_token().await.unwrap();
    assert_eq!(saved_state(h.state.path())["refresh_token"], "rotated-2");

    // The server's token is refused; it renews with the refresh token saved now.
    server.read_item(&h.v3_e1_url(), None, None).await.unwrap();
    assert_eq!(saved_state(h.state.path())["refresh_token"], "rotated-3");
}

#[tokio::test]
async fn a_refused_saved_token_falls_back_to_the_configured_one() {
    let h = Harness::start().await;
    refresh_grant("revoked-saved-token")
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 106, "error": "invalid_grant", "error_description": "refresh token revoked"
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    refresh_grant(SEED_REFRESH)
        .respond_with(token_response("access-1", "fresh-refresh", None))
        .expect(1)
        .mount(&h.server)
        .await;
    std::fs::write(
        h.state.path().join(STATE_FILE_NAME),
        json!({"version": 1, "refresh_token": "revoked-saved-token"}).to_string(),
    )
    .unwrap();

    h.client().ensure_company_token().await.unwrap();
}

#[tokio::test]
async fn api_calls_go_to_the_tokens_geolocation() {
    let h = Harness::start().await;
    let geo = MockServer::start().await;
    // The first grant answers at the configured base and names another geolocation.
    token_mock("refresh_token")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "access-1", "refresh_token": "r1",
            "expires_in": "0", "geolocation": geo.uri(),
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    // Renewal and writes happen at the geolocation.
    refresh_grant("r1")
        .respond_with(token_response("access-2", "r2", Some(&geo.uri())))
        .expect(1)
        .mount(&geo)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v3.0/expense/entries/E1"))
        .and(bearer_token("access-2"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&geo)
        .await;
    get(V3_E1_PATH)
        .respond_with(v3_e1_response())
        .mount(&h.server)
        .await;

    let mut settings = h.settings();
    settings["allowed_geolocation_hosts"] =
        json!([host_port(&h.server.uri()), host_port(&geo.uri())]);
    let client = h.client_with(settings);
    client.ensure_company_token().await.unwrap();
    let item = client.read_item(&h.v3_e1_url(), None, None).await.unwrap();
    let written = client
        .write_field(
            &item,
            "custom12",
            &FieldValue::Text("PRJ-0042".into()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(written.status, 200);
}

#[tokio::test]
async fn a_token_response_naming_an_untrusted_geolocation_is_refused() {
    // Not listed in allowed_geolocation_hosts: a test server of its own that must see nothing.
    let stranger = MockServer::start().await;
    for geolocation in [
        "http://us2.api.concursolutions.com".to_owned(),
        "https://evil.example.com".to_owned(),
        stranger.uri(),
    ] {
        let h = Harness::start().await;
        token_mock("refresh_token")
            .respond_with(token_response(
                "company-access",
                "rotated",
                Some(&geolocation),
            ))
            .expect(1)
            .mount(&h.server)
            .await;
        let err = h.read_v3_e1().await.unwrap_err();
        assert!(
            matches!(&err, ConcurError::UntrustedGeolocation { geolocation: g, .. } if *g == geolocation),
            "{geolocation}: {err:?}"
        );
        assert!(err.to_string().contains(&geolocation), "{err}");
        assert_eq!(err.classify(), Failure::Other);
        // Only the token request was made; the item was not read, nothing was saved.
        assert_eq!(h.server.received_requests().await.unwrap().len(), 1);
        assert!(!h.state.path().join(STATE_FILE_NAME).exists());
    }
    assert!(stranger.received_requests().await.unwrap().is_empty());

    // A user token naming the stranger is refused too.
    let h = Harness::start().await;
    mount_jwks(&h.server, signer()).await;
    let mut body = token_body("user-access", "user-refresh", Some(&stranger.uri()));
    body["id_token"] = signer().id_token(USER_ID).into();
    token_mock("authorization_code")
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h
        .client()
        .exchange_auth_code(&secret("code-1"), USER_ID)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConcurError::UntrustedGeolocation { .. }),
        "{err:?}"
    );
    assert!(stranger.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_saved_geolocation_that_is_no_longer_trusted_is_ignored() {
    let h = Harness::start().await;
    let stranger = MockServer::start().await;
    std::fs::write(
        h.state.path().join(STATE_FILE_NAME),
        json!({"version": 1, "refresh_token": SEED_REFRESH, "geolocation": stranger.uri()})
            .to_string(),
    )
    .unwrap();
    // The refresh goes to the configured base instead.
    refresh_grant(SEED_REFRESH)
        .respond_with(token_response("company-access", SEED_REFRESH, None))
        .expect(1)
        .mount(&h.server)
        .await;
    h.client().ensure_company_token().await.unwrap();
    assert!(stranger.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn v3_reads_on_a_legacy_host_go_to_the_geolocation() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    Mock::given(method("GET"))
        .and(path("/api/v3.0/expense/entries/gWid%24s4f"))
        .and(bearer_token("company-access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(v3_entry_body("gWid$s4f")))
        .expect(1)
        .mount(&h.server)
        .await;

    let item = h
        .client()
        .read_item(
            "https://www.concursolutions.com/api/v3.0/expense/entries/gWid%24s4f",
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(item.entry_id.as_deref(), Some("gWid$s4f"));
}

#[tokio::test]
async fn an_answer_larger_than_the_ceiling_is_refused_unread_and_not_retried() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let oversized = vec![b' '; concur_client::MAX_RESPONSE_BYTES as usize + 1];
    Mock::given(method("GET"))
        .and(path(V3_E1_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_raw(oversized, "application/json"))
        .expect(1)
        .mount(&h.server)
        .await;

    let error = h
        .client()
        .read_item(&format!("{}{V3_E1_PATH}", h.server.uri()), None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ConcurError::UnexpectedBody { detail, .. } if detail.contains("larger than 8388608 bytes")),
        "{error:?}"
    );
}

// ================================================================== user token / id_token

#[tokio::test]
async fn an_auth_code_with_a_matching_id_token_gives_a_user_token() {
    let h = Harness::start().await;
    mount_jwks(&h.server, signer()).await;
    // Concur may send the UUID in another case than the launch (docs/protocol.md T33).
    mount_code_exchange(
        &h,
        "c0ffee00-code",
        "user-access",
        Some(&USER_ID.to_uppercase()),
    )
    .await;
    get(v4_expense_path())
        .and(bearer_token("user-access"))
        .and(header("accept", "application/json"))
        .and(header("accept-language", "en-GB"))
        .respond_with(ResponseTemplate::new(200).set_body_json(v4_expense_body()))
        .expect(1)
        .mount(&h.server)
        .await;

    let client = h.client();
    let user = client
        .exchange_auth_code(&secret("c0ffee00-code"), USER_ID)
        .await
        .unwrap();
    assert_eq!(user.subject(), Some(USER_ID.to_uppercase().as_str()));
    client
        .read_item(&h.v4_expense_url(), Some(&user), Some("en-GB"))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_id_token_for_another_user_refuses_the_launch() {
    let h = Harness::start().await;
    mount_jwks(&h.server, signer()).await;
    mount_code_exchange(
        &h,
        "code-2",
        "user-access",
        Some("a1b2c3d4-0000-4000-8000-000000000abc"),
    )
    .await;

    let err = h
        .client()
        .exchange_auth_code(&secret("code-2"), USER_ID)
        .await
        .unwrap_err();
    assert!(matches!(err, ConcurError::IdentityMismatch), "{err:?}");
    assert_eq!(err.classify(), Failure::Forbidden);
}

#[tokio::test]
async fn a_forged_id_token_is_refused() {
    let h = Harness::start().await;
    mount_jwks(&h.server, signer()).await;
    let mut body = token_body("user-access", "r", None);
    body["id_token"] = other_signer().id_token(USER_ID).into();
    token_mock("authorization_code")
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&h.server)
        .await;

    let err = h
        .client()
        .exchange_auth_code(&secret("code-3"), USER_ID)
        .await
        .unwrap_err();
    assert!(matches!(err, ConcurError::IdTokenInvalid(_)), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_jwks_refuses_rather_than_accepts() {
    let h = Harness::start().await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&h.server)
        .await;
    mount_code_exchange(&h, "code-4", "user-access", Some(USER_ID)).await;

    let err = h
        .client()
        .exchange_auth_code(&secret("code-4"), USER_ID)
        .await
        .unwrap_err();
    assert!(matches!(err, ConcurError::JwksUnavailable(_)), "{err:?}");
    assert_eq!(err.classify(), Failure::Unavailable);
}

#[tokio::test]
async fn an_auth_code_without_id_token_is_refused() {
    let h = Harness::start().await;
    mount_code_exchange(&h, "code-5", "user-access", None).await;
    let err = h
        .client()
        .exchange_auth_code(&secret("code-5"), USER_ID)
        .await
        .unwrap_err();
    assert!(matches!(err, ConcurError::IdTokenInvalid(_)), "{err:?}");
    assert_eq!(err.classify(), Failure::Forbidden);
}

/// Answers the code exchange with an `id_token` for `USER_ID` whose claims `edit` changed.
async fn exchange_with_claims(edit: impl FnOnce(&mut serde_json::Value)) -> ConcurError {
    let h = Harness::start().await;
    mount_jwks(&h.server, signer()).await;
    let mut body = token_body("user-access", "r", None);
    body["id_token"] = signer().id_token_with(USER_ID, edit).into();
    token_mock("authorization_code")
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&h.server)
        .await;
    h.client()
        .exchange_auth_code(&secret("code-claims"), USER_ID)
        .await
        .expect_err("the id_token must be refused")
}

#[tokio::test]
async fn an_id_token_for_another_client_is_refused() {
    let err =
        exchange_with_claims(|c| c["aud"] = "99999999-2222-4333-8444-555555555555".into()).await;
    assert!(matches!(err, ConcurError::IdTokenInvalid(_)), "{err:?}");
    let err = exchange_with_claims(|c| c["aud"] = serde_json::Value::Null).await;
    assert!(matches!(err, ConcurError::IdTokenInvalid(_)), "{err:?}");
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused() {
    for iss in [
        serde_json::Value::from("https://login.evil.example"),
        serde_json::Value::from("https://us2.api.concursolutions.com.evil.example"),
        serde_json::Value::Null,
    ] {
        let err = exchange_with_claims(|c| c["iss"] = iss.clone()).await;
        assert!(
            matches!(err, ConcurError::IdTokenInvalid(_)),
            "{iss}: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_expired_id_token_is_refused_beyond_the_clock_skew() {
    let now = jsonwebtoken::get_current_timestamp();
    let err = exchange_with_claims(|c| c["exp"] = (now - 600).into()).await;
    assert!(matches!(err, ConcurError::IdTokenInvalid(_)), "{err:?}");
    let err = exchange_with_claims(|c| c["exp"] = serde_json::Value::Null).await;
    assert!(matches!(err, ConcurError::IdTokenInvalid(_)), "{err:?}");
}

#[tokio::test]
async fn an_id_token_without_subject_is_refused() {
    let err = exchange_with_claims(|c| c["sub"] = serde_json::Value::Null).await;
    assert!(matches!(err, ConcurError::IdTokenInvalid(_)), "{err:?}");
}

#[tokio::test]
async fn an_id_token_issued_by_the_configured_auth_base_is_accepted() {
    let h = Harness::start().await;
    mount_jwks(&h.server, signer()).await;
    let mut body = token_body("user-access", "r", None);
    let origin = h.server.uri();
    body["id_token"] = signer()
        .id_token_with(USER_ID, |c| c["iss"] = origin.clone().into())
        .into();
    token_mock("authorization_code")
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&h.server)
        .await;
    let user = h
        .client()
        .exchange_auth_code(&secret("code-own-iss"), USER_ID)
        .await
        .unwrap();
    assert_eq!(user.subject(), Some(USER_ID));
}

#[tokio::test]
async fn a_refused_auth_code_keeps_concurs_error() {
    let h = Harness::start().await;
    token_mock("authorization_code")
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("concur-correlationid", "corr-oauth-1")
                .set_body_json(json!({
                    "code": 103, "error": "invalid_grant",
                    "error_description": "code is invalid or expired",
                    "geolocation": "https://us2.api.concursolutions.com"
                })),
        )
        .expect(1)
        .mount(&h.server)
        .await;

    let err = h
        .client()
        .exchange_auth_code(&secret("used-code"), USER_ID)
        .await
        .unwrap_err();
    let ConcurError::Api(api) = &err else {
        panic!("expected an api error: {err:?}");
    };
    assert_eq!(api.status, 400);
    assert_eq!(api.code.as_deref(), Some("103"));
    assert_eq!(api.message.as_deref(), Some("code is invalid or expired"));
    assert_eq!(api.correlation_id.as_deref(), Some("corr-oauth-1"));
    assert_eq!(
        api.geolocation.as_deref(),
        Some("https://us2.api.concursolutions.com")
    );
}

// ================================================================== reads

#[tokio::test]
async fn reads_a_v4_expense() {
    let h = Harness::start().await;
    let user = user_token(&h, "user-access").await;
    get(v4_expense_path())
        .and(bearer_token("user-access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(v4_expense_body()))
        .mount(&h.server)
        .await;

    let item = h
        .client()
        .read_item(&h.v4_expense_url(), Some(&user), None)
        .await
        .unwrap();

    assert_eq!(item.kind, Source::Entry);
    assert_eq!(item.location.api(), ItemApi::V4);
    assert_eq!(item.expense_type_code.as_deref(), Some("BRKFT"));
    assert_eq!(item.expense_type_name.as_deref(), Some("Breakfast"));
    assert_eq!(item.amount.as_deref(), Some("40.5"));
    assert_eq!(item.currency.as_deref(), Some("EUR"));
    assert_eq!(item.transaction_date.as_deref(), Some("2026-03-14"));
    assert_eq!(item.vendor.as_deref(), Some("Café Central"));
    assert_eq!(item.business_purpose.as_deref(), Some("Client workshop"));
    assert_eq!(item.report_id.as_deref(), Some(REPORT_ID));
    assert_eq!(item.entry_id.as_deref(), Some(EXPENSE_ID));
    assert_eq!(item.owner.as_deref(), Some(USER_ID));
    let list = item.field("custom9").unwrap();
    assert!(list.is_list);
    assert_eq!(
        list.list_item_id.as_deref(),
        Some("AB8596D91C994F4DBBD820D6DCBDC599")
    );
    let text = item.field("custom12").unwrap();
    assert!(!text.is_list);
    assert_eq!(text.value.as_deref(), Some("OLD-1"));
    assert_eq!(item.field("orgunit1").unwrap().value.as_deref(), Some("17"));
}

#[tokio::test]
async fn reads_a_v4_report_header_with_the_company_token_when_there_is_no_user_token() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(v4_report_path())
        .and(bearer_token("company-access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(v4_report_body()))
        .expect(1)
        .mount(&h.server)
        .await;

    let item = h
        .client()
        .read_item(&h.v4_report_url(), None, None)
        .await
        .unwrap();

    assert_eq!(item.kind, Source::Header);
    assert_eq!(item.report_name.as_deref(), Some("March trip"));
    assert_eq!(item.owner.as_deref(), Some(USER_ID));
    assert_eq!(item.currency.as_deref(), Some("EUR"));
    assert_eq!(item.business_purpose.as_deref(), Some("Customer visit"));
    assert_eq!(
        item.field("custom15").unwrap().value.as_deref(),
        Some("E31CB425")
    );
}

#[tokio::test]
async fn reads_a_v4_allocation() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(v4_allocation_path())
        .respond_with(ResponseTemplate::new(200).set_body_json(v4_allocation_body()))
        .expect(1)
        .mount(&h.server)
        .await;

    let item = h
        .client()
        .read_item(&h.v4_allocation_url(), None, None)
        .await
        .unwrap();

    assert_eq!(item.kind, Source::Allocation);
    assert_eq!(item.allocation_id.as_deref(), Some(ALLOCATION_ID));
    assert_eq!(item.expense_ids, ["29EE3C62F5D844458828A5C1086072D1"]);
    assert_eq!(item.amount.as_deref(), Some("20.25"));
    assert!(item.field("custom9").unwrap().is_list);
}

#[tokio::test]
async fn reads_a_v3_entry_keeping_an_encoded_dollar_in_the_id() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v3.0/expense/entries/gWidFO7ikXV66iSvqtG6Yd0wZ%24s4ftzvzTCg",
        ))
        .and(bearer_token("company-access"))
        .and(header("accept", "application/json"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(v3_entry_body("gWidFO7ikXV66iSvqtG6Yd0wZ$s4ftzvzTCg")),
        )
        .expect(1)
        .mount(&h.server)
        .await;

    let item = h
        .client()
        .read_item(
            &h.url("/api/v3.0/expense/entries/gWidFO7ikXV66iSvqtG6Yd0wZ%24s4ftzvzTCg"),
            None,
            None,
        )
        .await
        .unwrap();

    assert_eq!(item.location.api(), ItemApi::V3);
    assert_eq!(item.expense_type_code.as_deref(), Some("BUSML"));
    assert_eq!(item.expense_type_name.as_deref(), Some("Business Meal"));
    assert_eq!(item.amount.as_deref(), Some("40.0"));
    assert_eq!(item.currency.as_deref(), Some("USD"));
    assert_eq!(item.vendor.as_deref(), Some("Joe's Diner"));
    assert_eq!(item.owner.as_deref(), Some("jane.doe@acmecorp.com"));
    assert_eq!(
        item.report_id.as_deref(),
        Some("gWidFO7ikXV66iSvqtG6Yd0wZ$s4ftzvzTCg")
    );
    let ids: Vec<&str> = item.fields.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["OrgUnit1", "Custom1", "Custom12"]);
    let list = item.field("custom1").unwrap();
    assert_eq!(list.code.as_deref(), Some("1234"));
    assert_eq!(list.list_item_id.as_deref(), Some("li-1234"));
    assert_eq!(list.value.as_deref(), Some("Project 1234"));
    assert!(list.is_list);
}

#[tokio::test]
async fn reads_v11_entry_xml_with_any_namespace_or_none() {
    let variants = [
        (
            "default namespace",
            r#"xmlns="http://www.concursolutions.com/api/expense/expensereport/2011/03""#,
        ),
        (
            "https namespace (T31)",
            r#"xmlns="https://www.concursolutions.com/api/expense/expensereport/2011/03""#,
        ),
        ("no namespace", ""),
    ];
    for (name, attributes) in variants {
        let h = Harness::start().await;
        h.mount_company_token("company-access").await;
        let entry_path = "/api/expense/expensereport/v1.1/report/nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw/entry/nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U";
        Mock::given(method("GET"))
            .and(path(entry_path))
            .and(bearer_token("company-access"))
            .and(header("accept", "application/xml"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(v11_entry_xml(attributes), "application/xml; charset=utf-8"),
            )
            .expect(1)
            .mount(&h.server)
            .await;

        let item = h
            .client()
            .read_item(&h.url(entry_path), None, None)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));

        assert_eq!(item.location.api(), ItemApi::V11, "{name}");
        assert_eq!(item.expense_type_code.as_deref(), Some("BUSML"), "{name}");
        assert_eq!(
            item.expense_type_name.as_deref(),
            Some("Business Meal (attendees)")
        );
        assert_eq!(item.amount.as_deref(), Some("40.00000000"), "{name}");
        assert_eq!(item.currency.as_deref(), Some("US, Dollar"), "{name}");
        assert_eq!(
            item.transaction_date.as_deref(),
            Some("2011-06-15"),
            "{name}"
        );
        assert_eq!(item.vendor.as_deref(), Some("Smith & Sons"), "{name}");
        assert_eq!(
            item.owner.as_deref(),
            Some("jane.doe@acmecorp.com"),
            "{name}"
        );
        assert_eq!(
            item.entry_id.as_deref(),
            Some("nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U"),
            "{name}"
        );
        assert_eq!(
            item.report_id.as_deref(),
            Some("nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw"),
            "{name}"
        );
        let ids: Vec<&str> = item.fields.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["OrgUnit1", "Custom1", "Custom12"], "{name}");
        assert_eq!(
            item.field("custom1").unwrap().code.as_deref(),
            Some("1234"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_unrecognised_item_url_is_refused_before_any_call() {
    let h = Harness::start().await;
    let err = h
        .client()
        .read_item(&h.url("/api/v3.0/expense/reports/R1"), None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConcurError::UnrecognisedItemUrl), "{err:?}");
    assert!(h.server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_a_typed_error() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(V3_E1_PATH)
        .respond_with(ResponseTemplate::new(200).set_body_raw("hello", "text/plain"))
        .mount(&h.server)
        .await;
    let err = h.read_v3_e1().await.unwrap_err();
    assert!(matches!(err, ConcurError::UnexpectedBody { .. }), "{err:?}");
}

// ================================================================== writes

async fn read_v4_expense(h: &Harness, user: Option<&UserToken>) -> concur_client::ExpenseItem {
    get(v4_expense_path())
        .respond_with(ResponseTemplate::new(200).set_body_json(v4_expense_body()))
        .mount(&h.server)
        .await;
    h.client()
        .read_item(&h.v4_expense_url(), user, None)
        .await
        .expect("the v4 expense reads")
}

#[tokio::test]
async fn a_v4_expense_is_written_with_the_compact_patch_and_the_company_token() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let user = user_token(&h, "user-access").await;
    let item = read_v4_expense(&h, Some(&user)).await;
    Mock::given(method("PATCH"))
        .and(path(format!(
            "/expensereports/v4/reports/{REPORT_ID}/expenses/{EXPENSE_ID}"
        )))
        .and(bearer_token("company-access"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "customData": [{"id": "custom12", "value": "PRJ-0042"}],
            "expenseSource": "OTHER"
        })))
        .respond_with(ResponseTemplate::new(204).insert_header("concur-correlationid", "corr-42"))
        .expect(1)
        .mount(&h.server)
        .await;

    let outcome = h
        .client()
        .write_field(
            &item,
            "CUSTOM12",
            &FieldValue::Text("PRJ-0042".into()),
            Some(&user),
        )
        .await
        .unwrap();

    assert_eq!(outcome.status, 204);
    assert_eq!(outcome.correlation_id.as_deref(), Some("corr-42"));
}

#[tokio::test]
async fn a_v4_list_field_is_written_as_the_list_item_id() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let item = read_v4_expense(&h, None).await;
    Mock::given(method("PATCH"))
        .and(path(format!(
            "/expensereports/v4/reports/{REPORT_ID}/expenses/{EXPENSE_ID}"
        )))
        .and(body_json(json!({
            "customData": [{"id": "custom9", "value": "058713001E2CD943824280D9275FDC3F"}],
            "expenseSource": "OTHER"
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&h.server)
        .await;

    let value = FieldValue::ListItem {
        item_id: Some("058713001E2CD943824280D9275FDC3F".into()),
        code: Some("PRJ42".into()),
    };
    h.client()
        .write_field(&item, "custom9", &value, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_v4_report_header_is_patched_with_report_source_and_the_user_token() {
    let h = Harness::start().await;
    let user = user_token(&h, "user-access").await;
    get(v4_report_path())
        .respond_with(ResponseTemplate::new(200).set_body_json(v4_report_body()))
        .mount(&h.server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(v4_report_path()))
        .and(bearer_token("user-access"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "customData": [{"id": "custom15", "value": "CC-7"}],
            "reportSource": "OTHER"
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&h.server)
        .await;

    let client = h.client();
    let item = client
        .read_item(&h.v4_report_url(), Some(&user), None)
        .await
        .unwrap();
    client
        .write_field(
            &item,
            "custom15",
            &FieldValue::Text("CC-7".into()),
            Some(&user),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_v4_allocation_is_patched_with_its_expense_ids() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(v4_allocation_path())
        .respond_with(ResponseTemplate::new(200).set_body_json(v4_allocation_body()))
        .mount(&h.server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(v4_allocation_path()))
        .and(bearer_token("company-access"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "allocation": {"customData": [{"id": "custom9", "value": "11112222333344445555666677778888"}]},
            "expenseIds": ["29EE3C62F5D844458828A5C1086072D1"]
        })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&h.server)
        .await;

    let client = h.client();
    let item = client
        .read_item(&h.v4_allocation_url(), None, None)
        .await
        .unwrap();
    let value = FieldValue::ListItem {
        item_id: Some("11112222333344445555666677778888".into()),
        code: None,
    };
    client
        .write_field(&item, "custom9", &value, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_v3_entry_is_put_with_the_list_code() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let entry = "/api/v3.0/expense/entries/gWid%24s4f";
    Mock::given(method("GET"))
        .and(path(entry))
        .respond_with(ResponseTemplate::new(200).set_body_json(v3_entry_body("gWid$s4f")))
        .mount(&h.server)
        .await;
    Mock::given(method("PUT"))
        .and(path(entry))
        .and(bearer_token("company-access"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"Custom1": "PRJ42"})))
        .respond_with(ResponseTemplate::new(200).insert_header("concur-correlationid", "corr-v3"))
        .expect(1)
        .mount(&h.server)
        .await;

    let client = h.client();
    let item = client.read_item(&h.url(entry), None, None).await.unwrap();
    let value = FieldValue::ListItem {
        item_id: Some("li-42".into()),
        code: Some("PRJ42".into()),
    };
    let outcome = client
        .write_field(&item, "custom1", &value, None)
        .await
        .unwrap();
    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.correlation_id.as_deref(), Some("corr-v3"));
}

#[tokio::test]
async fn a_v11_launch_is_written_through_v3() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let entry_path = "/api/expense/expensereport/v1.1/report/nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw/entry/nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U";
    Mock::given(method("GET"))
        .and(path(entry_path))
        .respond_with(ResponseTemplate::new(200).set_body_raw(v11_entry_xml(""), "application/xml"))
        .mount(&h.server)
        .await;
    Mock::given(method("PUT"))
        .and(path(
            "/api/v3.0/expense/entries/nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U",
        ))
        .and(body_json(json!({"Custom12": "PRJ-0042"})))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&h.server)
        .await;

    let client = h.client();
    let item = client
        .read_item(&h.url(entry_path), None, None)
        .await
        .unwrap();
    client
        .write_field(
            &item,
            "custom12",
            &FieldValue::Text("PRJ-0042".into()),
            None,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn invalid_values_are_refused_before_any_write() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let item = read_v4_expense(&h, None).await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&h.server)
        .await;
    let client = h.client();

    let too_long = FieldValue::Text("x".repeat(49));
    let err = client
        .write_field(&item, "custom12", &too_long, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConcurError::ValueTooLong { length: 49, .. }),
        "{err:?}"
    );
    assert!(matches!(err.classify(), Failure::Validation(_)));

    let code_only = FieldValue::ListItem {
        item_id: None,
        code: Some("PRJ42".into()),
    };
    let err = client
        .write_field(&item, "custom9", &code_only, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConcurError::ListValueMissing(_)), "{err:?}");
}

#[tokio::test]
async fn a_write_needing_the_user_id_is_refused_for_a_compact_url() {
    let location = ItemRef::parse("https://h/expensereports/v4/reports/R1").unwrap();
    assert!(matches!(location, ItemRef::V4Report(ref r) if r.user_id.is_none()));
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    Mock::given(method("GET"))
        .and(path("/expensereports/v4/reports/R1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(v4_report_body()))
        .mount(&h.server)
        .await;
    let client = h.client();
    let item = client
        .read_item(&h.url("/expensereports/v4/reports/R1"), None, None)
        .await
        .unwrap();
    let err = client
        .write_field(&item, "custom15", &FieldValue::Text("x".into()), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConcurError::MissingItemId("user id")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_v4_validation_error_keeps_concurs_details() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let item = read_v4_expense(&h, None).await;
    Mock::given(method("PATCH"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("concur-correlationid", "corr-400")
                .set_body_json(json!({
                    "errorId": "7f3c", "errorMessage": "Validation failed",
                    "httpStatus": "BAD_REQUEST", "path": "/expensereports/v4/...",
                    "validationErrors": [{"id": "custom12", "message": "Invalid project code", "source": "customData"}]
                })),
        )
        .expect(1)
        .mount(&h.server)
        .await;

    let err = h
        .client()
        .write_field(&item, "custom12", &FieldValue::Text("BAD".into()), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.correlation_id(), Some("corr-400"));
    assert_eq!(
        err.classify(),
        Failure::Validation("Invalid project code".into())
    );
    let ConcurError::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.code.as_deref(), Some("7f3c"));
    assert_eq!(api.message.as_deref(), Some("Validation failed"));
    assert_eq!(api.validation_errors[0].id.as_deref(), Some("custom12"));
}

// ================================================================== retries, 401, timeouts

#[tokio::test]
async fn a_get_is_retried_after_503() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    first_only(get(V3_E1_PATH), ResponseTemplate::new(503))
        .mount(&h.server)
        .await;
    get(V3_E1_PATH)
        .respond_with(v3_e1_response())
        .expect(1)
        .mount(&h.server)
        .await;

    h.read_v3_e1().await.unwrap();
}

#[tokio::test]
async fn retries_are_bounded() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(V3_E1_PATH)
        .respond_with(ResponseTemplate::new(502))
        // One attempt plus `max_retries` (2).
        .expect(3)
        .mount(&h.server)
        .await;

    let err = h.read_v3_e1().await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert_eq!(err.classify(), Failure::Unavailable);
}

#[tokio::test]
async fn a_400_is_never_retried() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(V3_E1_PATH)
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"Message": "Invalid entry id"})),
        )
        .expect(1)
        .mount(&h.server)
        .await;

    let err = h.read_v3_e1().await.unwrap_err();
    let ConcurError::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.message.as_deref(), Some("Invalid entry id"));
}

#[tokio::test]
async fn a_patch_is_not_retried_after_503() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let item = read_v4_expense(&h, None).await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&h.server)
        .await;

    let err = h
        .client()
        .write_field(&item, "custom12", &FieldValue::Text("x".into()), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
}

#[tokio::test]
async fn a_put_is_retried_after_503() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(V3_E1_PATH)
        .respond_with(v3_e1_response())
        .mount(&h.server)
        .await;
    first_only(Mock::given(method("PUT")), ResponseTemplate::new(503))
        .mount(&h.server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&h.server)
        .await;

    let client = h.client();
    let item = client.read_item(&h.v3_e1_url(), None, None).await.unwrap();
    client
        .write_field(&item, "custom12", &FieldValue::Text("x".into()), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_429_retry_after_is_honoured() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let item = read_v4_expense(&h, None).await;
    // Even a PATCH may be repeated after 429: Concur did not process it.
    first_only(
        Mock::given(method("PATCH")),
        ResponseTemplate::new(429).insert_header("retry-after", "1"),
    )
    .mount(&h.server)
    .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&h.server)
        .await;

    h.client()
        .write_field(&item, "custom12", &FieldValue::Text("x".into()), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_429_asking_for_a_long_wait_is_not_waited_for() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(V3_E1_PATH)
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .expect(1)
        .mount(&h.server)
        .await;

    let err = h.read_v3_e1().await.unwrap_err();
    let ConcurError::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 429);
    assert_eq!(api.retry_after, Some(Duration::from_secs(3600)));
    assert_eq!(err.classify(), Failure::Unavailable);
}

#[tokio::test]
async fn the_token_endpoint_is_retried_after_503() {
    let h = Harness::start().await;
    first_only(token_mock("refresh_token"), ResponseTemplate::new(503))
        .mount(&h.server)
        .await;
    token_mock("refresh_token")
        .respond_with(token_response("company-access", SEED_REFRESH, None))
        .expect(1)
        .mount(&h.server)
        .await;

    h.client().ensure_company_token().await.unwrap();
}

#[tokio::test]
async fn a_401_renews_the_company_token_once_and_retries_once() {
    let h = Harness::start().await;
    first_only(
        token_mock("refresh_token"),
        token_response("stale-access", "r1", None),
    )
    .mount(&h.server)
    .await;
    refresh_grant("r1")
        .respond_with(token_response("fresh-access", "r2", None))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("stale-access"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("fresh-access"))
        .respond_with(v3_e1_response())
        .expect(1)
        .mount(&h.server)
        .await;

    h.read_v3_e1().await.unwrap();
}

#[tokio::test]
async fn a_second_401_is_returned_not_looped() {
    let h = Harness::start().await;
    token_mock("refresh_token")
        .respond_with(token_response("refused-access", SEED_REFRESH, None))
        .expect(2)
        .mount(&h.server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&h.server)
        .await;
    get(v4_expense_path())
        .respond_with(ResponseTemplate::new(200).set_body_json(v4_expense_body()))
        .mount(&h.server)
        .await;

    let client = h.client();
    let item = client
        .read_item(&h.v4_expense_url(), None, None)
        .await
        .unwrap();
    let err = client
        .write_field(&item, "custom12", &FieldValue::Text("x".into()), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.classify(), Failure::Forbidden);
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    get(V3_E1_PATH)
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(v3_entry_body("E1"))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&h.server)
        .await;
    let mut settings = h.settings();
    settings["request_timeout"] = "200ms".into();
    settings["max_retries"] = 1.into();

    let err = h
        .client_with(settings)
        .read_item(&h.v3_e1_url(), None, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConcurError::Timeout { .. }), "{err:?}");
    assert_eq!(err.classify(), Failure::Unavailable);
}

#[tokio::test]
async fn a_timed_out_patch_is_not_repeated() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    let item = read_v4_expense(&h, None).await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(5)))
        .expect(1)
        .mount(&h.server)
        .await;
    let mut settings = h.settings();
    settings["request_timeout"] = "200ms".into();

    let err = h
        .client_with(settings)
        .write_field(&item, "custom12", &FieldValue::Text("x".into()), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ConcurError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn an_unreachable_concur_is_a_connect_error() {
    // Bind and drop a listener: the port is then (almost certainly) closed.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let state = tempfile::tempdir().unwrap();
    let client = concur_client::ConcurClient::with_file_store(config(settings(
        &format!("http://127.0.0.1:{port}"),
        state.path(),
    )))
    .unwrap();
    let err = client.ensure_company_token().await.unwrap_err();
    assert!(matches!(err, ConcurError::Connect { .. }), "{err:?}");
    assert_eq!(err.classify(), Failure::Unavailable);
}

// ================================================================== logs

#[tokio::test]
async fn logs_never_contain_tokens_secrets_or_codes() {
    let logs = LogBuffer::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());

    let h = Harness::start().await;
    let id_token = signer().id_token(USER_ID);
    mount_jwks(&h.server, signer()).await;
    token_mock("authorization_code")
        .respond_with(ResponseTemplate::new(200).set_body_json({
            let mut body = token_body("user-access-SECRET", "user-refresh-SECRET", None);
            body["id_token"] = id_token.clone().into();
            body
        }))
        .mount(&h.server)
        .await;
    token_mock("refresh_token")
        .respond_with(token_response(
            "stale-access-SECRET",
            "rotated-refresh-SECRET",
            None,
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&h.server)
        .await;
    token_mock("refresh_token")
        .respond_with(token_response(
            "company-access-SECRET",
            "rotated-refresh-2-SECRET",
            None,
        ))
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(bearer_token("user-access-SECRET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(v4_expense_body()))
        .mount(&h.server)
        .await;
    Mock::given(method("PATCH"))
        .and(bearer_token("stale-access-SECRET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&h.server)
        .await;
    Mock::given(method("PATCH"))
        .and(bearer_token("company-access-SECRET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&h.server)
        .await;

    let client = h.client();
    let user = client
        .exchange_auth_code(&secret("auth-code-SECRET"), USER_ID)
        .await
        .unwrap();
    let item = client
        .read_item(&h.v4_expense_url(), Some(&user), None)
        .await
        .unwrap();
    let err = client
        .write_field(
            &item,
            "custom12",
            &FieldValue::Text("x".into()),
            Some(&user),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    // Also a failing grant, whose form carried the secret.
    let _ = h
        .client_with({
            let mut s = h.settings();
            s["auth_base_url"] = "http://127.0.0.1:9".into();
            s
        })
        .exchange_auth_code(&secret("auth-code-SECRET"), USER_ID)
        .await;
    let debug = format!("{user:?} {err:?} {client:?}");

    let text = logs.contents();
    assert!(text.contains("/oauth2/v0/token"), "logs were not captured");
    assert!(
        text.contains("concur call failed"),
        "the failed write was not logged"
    );
    for haystack in [&text, &debug] {
        for needle in [
            "SECRET",
            CLIENT_SECRET,
            SEED_REFRESH,
            id_token.as_str(),
            &id_token[id_token.len() - 20..],
        ] {
            assert!(!haystack.contains(needle), "{needle:?} leaked:\n{haystack}");
        }
    }
}

#[tokio::test]
async fn an_id_with_a_stray_percent_is_sent_unaltered() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    // docs/protocol.md T4: Concur ids may hold `%` not followed by hex; it must reach Concur as written.
    let entry = "/api/v3.0/expense/entries/3%Rek29$wsIY12Di3LS9$gjei%KL23";
    Mock::given(method("GET"))
        .and(path(entry))
        .respond_with(ResponseTemplate::new(200).set_body_json(v3_entry_body("x")))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("PUT"))
        .and(path(entry))
        .and(body_json(json!({"Custom12": "v"})))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&h.server)
        .await;

    let client = h.client();
    let item = client.read_item(&h.url(entry), None, None).await.unwrap();
    client
        .write_field(&item, "custom12", &FieldValue::Text("v".into()), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refresh_token_near_its_expiry_is_warned_about() {
    let logs = LogBuffer::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let h = Harness::start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut body = token_body("company-access", "r1", None);
    body["refresh_expires_in"] = (now + 3 * 86_400).to_string().into();
    token_mock("refresh_token")
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&h.server)
        .await;

    h.client().ensure_company_token().await.unwrap();

    let text = logs.contents();
    assert!(
        text.contains("refresh token expires within 14 days"),
        "no warning in:\n{text}"
    );
    assert_eq!(
        saved_state(h.state.path())["refresh_expires_at"],
        now + 3 * 86_400
    );
}

#[tokio::test]
async fn a_distant_refresh_expiry_is_not_warned_about() {
    let logs = LogBuffer::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    h.client().ensure_company_token().await.unwrap();
    let text = logs.contents();
    assert!(text.contains("concur company token obtained"), "{text}");
    assert!(!text.contains("within 14 days"), "{text}");
}

/// Records what the client reports.
#[derive(Default)]
struct Recorder {
    calls: std::sync::Mutex<Vec<(&'static str, String, concur_client::observe::CallStatus)>>,
    grants: std::sync::Mutex<Vec<(concur_client::observe::TokenKind, bool)>>,
}

impl concur_client::observe::Observer for Recorder {
    fn call(&self, event: &concur_client::observe::CallEvent<'_>) {
        let entry = (event.api, event.method.to_string(), event.status);
        self.calls.lock().expect("the recorded calls").push(entry);
    }
    fn token_grant(&self, kind: concur_client::observe::TokenKind, ok: bool) {
        self.grants
            .lock()
            .expect("the recorded grants")
            .push((kind, ok));
    }
}

#[tokio::test]
async fn calls_carry_the_scopes_correlation_id_and_the_observer_sees_each_exchange() {
    use concur_client::observe::{self, CallStatus, TokenKind};
    let h = Harness::start().await;
    token_mock("refresh_token")
        .and(header("concur-correlationid", "req-42"))
        .respond_with(token_response("company-access", SEED_REFRESH, None))
        .expect(1)
        .mount(&h.server)
        .await;
    // The first read fails with a 503 and is retried: two exchanges, one id.
    Mock::given(method("GET"))
        .and(path(V3_E1_PATH))
        .and(header("concur-correlationid", "req-42"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(V3_E1_PATH))
        .and(header("concur-correlationid", "req-42"))
        .respond_with(v3_e1_response())
        .expect(1)
        .mount(&h.server)
        .await;
    let client = h.client();
    let recorder = std::sync::Arc::new(Recorder::default());
    assert!(client.set_observer(recorder.clone()));
    assert!(
        !client.set_observer(recorder.clone()),
        "only the first observer counts"
    );

    observe::scope("req-42", client.read_item(&h.v3_e1_url(), None, None))
        .await
        .unwrap();

    assert_eq!(
        *recorder.calls.lock().unwrap(),
        [
            ("/oauth2/v0/token", "POST".to_owned(), CallStatus::Http(200)),
            (
                "/api/v3.0/expense/entries/{id}",
                "GET".to_owned(),
                CallStatus::Http(503)
            ),
            (
                "/api/v3.0/expense/entries/{id}",
                "GET".to_owned(),
                CallStatus::Http(200)
            ),
        ]
    );
    assert_eq!(
        *recorder.grants.lock().unwrap(),
        [(TokenKind::Company, true)]
    );
}

#[tokio::test]
async fn a_call_outside_any_scope_gets_a_fresh_uuid() {
    let h = Harness::start().await;
    h.mount_company_token("company-access").await;
    Mock::given(method("GET"))
        .and(path(V3_E1_PATH))
        .respond_with(v3_e1_response())
        .mount(&h.server)
        .await;
    h.read_v3_e1().await.unwrap();
    let ids: Vec<String> = h
        .server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            r.headers["concur-correlationid"]
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_ne!(ids[0], ids[1]);
    for id in &ids {
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
}
