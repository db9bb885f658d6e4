//! Logs carry what an operator needs and never a secret.

use crate::helpers::{PASSWORD, USERNAME, captured_logs, spawn_app};

#[tokio::test]
async fn logs_record_requests_by_route_and_never_contain_secrets() {
    let app = spawn_app().await;
    let path = "/system/v1.0/testconnection";
    app.client
        .get(app.url(path))
        .basic_auth(USERNAME, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    app.client
        .get(app.url(path))
        .basic_auth(USERNAME, Some("a-wrong-password-1"))
        .send()
        .await
        .unwrap();
    app.client
        .get(app.url("/healthz?token=query-secret-value"))
        .send()
        .await
        .unwrap();

    let logs = captured_logs();
    assert!(
        logs.contains(r#""route":"/system/v1.0/testconnection""#),
        "{logs}"
    );
    assert!(logs.contains(r#""status":401"#), "{logs}");
    assert!(logs.contains("latency_ms"), "{logs}");
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{PASSWORD}"))
    };
    for secret in [
        PASSWORD,
        "a-wrong-password-1",
        basic.as_str(),
        "query-secret-value",
    ] {
        assert!(!logs.contains(secret), "log output contains {secret:?}");
    }
}
