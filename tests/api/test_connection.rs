//! `/system/v1.0/testconnection`: Concur's registration probe.

use reqwest::{Method, StatusCode, header};

use crate::helpers::{PASSWORD, USERNAME, spawn_app};

const PATH: &str = "/system/v1.0/testconnection";

/// The probe as Concur sends it: the given method with the right Basic credentials.
async fn probe(app: &crate::helpers::TestApp, method: Method) -> reqwest::Response {
    app.client
        .request(method, app.url(PATH))
        .basic_auth(USERNAME, Some(PASSWORD))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn test_connection_answers_ok_to_get_head_and_post_with_the_right_credentials() {
    let app = spawn_app().await;
    for method in [Method::GET, Method::HEAD, Method::POST] {
        let response = probe(&app, method.clone()).await;
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert_eq!(
            response.headers()[header::CONTENT_LENGTH],
            "2",
            "{method}: explicit length"
        );
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8",
            "{method}"
        );
        assert!(
            response.headers().get(header::TRANSFER_ENCODING).is_none(),
            "{method}: not chunked"
        );
        let body = response.text().await.unwrap();
        let expected = if method == Method::HEAD { "" } else { "OK" };
        assert_eq!(body, expected, "{method}");
    }
}

#[tokio::test]
async fn test_connection_accepts_a_password_containing_colons_over_http1_too() {
    // The test password is "s3cret:with-colon!": the split must be at the first colon.
    assert!(PASSWORD.contains(':'));
    let app = spawn_app().await;
    let http1 = app.pki.client_builder().http1_only().build().unwrap();
    let response = http1
        .get(app.url(PATH))
        .basic_auth(USERNAME, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.headers()[header::CONTENT_LENGTH], "2");
}

#[tokio::test]
async fn test_connection_ignores_a_small_post_body() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url(PATH))
        .basic_auth(USERNAME, Some(PASSWORD))
        .header(header::CONTENT_TYPE, "application/xml")
        .body("<ping/>")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn test_connection_refuses_every_bad_credential_class_with_a_basic_challenge() {
    let app = spawn_app().await;
    let encode = |raw: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(raw)
    };
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "no authorization header"),
        (Some("Basic".into()), "scheme without credentials"),
        (Some("Basic %%%not-base64%%%".into()), "malformed base64"),
        (
            Some(format!("Basic {}", encode(b"no-colon-here"))),
            "no colon",
        ),
        (
            Some(format!("Basic {}", encode(b"\xff\xfe:\xfd"))),
            "not utf-8",
        ),
        (
            Some(format!(
                "Bearer {}",
                encode(format!("{USERNAME}:{PASSWORD}").as_bytes())
            )),
            "wrong scheme",
        ),
        (
            Some(format!(
                "Basic {}",
                encode(format!("{USERNAME}:wrong-password").as_bytes())
            )),
            "wrong password",
        ),
        (
            Some(format!(
                "Basic {}",
                encode(format!("otheruser12:{PASSWORD}").as_bytes())
            )),
            "wrong user",
        ),
        (
            Some(format!(
                "Basic {}",
                encode(format!("{}:{PASSWORD}", USERNAME.to_lowercase()).as_bytes())
            )),
            "user name in the wrong case",
        ),
        (
            Some(format!(
                "Basic {}",
                encode(format!("{USERNAME}:{PASSWORD}x").as_bytes())
            )),
            "password with a suffix",
        ),
    ];
    for (authorization, why) in cases {
        let mut request = app.client.get(app.url(PATH));
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Basic realm="concur-connector""#,
            "{why}"
        );
    }
}

#[tokio::test]
async fn test_connection_answers_405_to_other_methods() {
    let app = spawn_app().await;
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let response = probe(&app, method.clone()).await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
    }
}

#[tokio::test]
async fn test_connection_refuses_an_oversized_body() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url(PATH))
        .basic_auth(USERNAME, Some(PASSWORD))
        .body(vec![b'x'; 65 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in [PATH, "/healthz", "/no-such-page"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        for (name, value) in [
            (
                "strict-transport-security",
                "max-age=31536000; includeSubDomains",
            ),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
        ] {
            assert_eq!(headers[name], value, "{path}: {name}");
        }
        assert!(headers.contains_key("x-request-id"), "{path}: request id");
    }
}

#[tokio::test]
async fn health_and_readiness_probes_answer_ok() {
    let app = spawn_app().await;
    let alive = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.text().await.unwrap(), "ready");
}
