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

#[tokio::test]
async fn a_flood_of_failed_authentications_writes_a_handful_of_lines_not_one_per_request() {
    let app = spawn_app().await;
    let path = "/system/v1.0/testconnection";
    for i in 0..300 {
        let response = app
            .client
            .get(app.url(path))
            .basic_auth(USERNAME, Some(format!("wrong-password-{i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    }
    let logs = captured_logs();
    let refusals = logs
        .lines()
        .filter(|l| {
            l.contains("missing or wrong basic credentials") && l.contains("test connection")
        })
        .count();
    let finished_401 = logs
        .lines()
        .filter(|l| l.contains("request finished") && l.contains(r#""status":401"#))
        .count();
    assert!((1..=5).contains(&refusals), "{refusals} refusal lines");
    assert!(
        (1..=5).contains(&finished_401),
        "{finished_401} access lines"
    );
    // The right credentials are still served and logged as usual.
    let ok = app
        .client
        .get(app.url(path))
        .basic_auth(USERNAME, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), reqwest::StatusCode::OK);
    assert!(captured_logs().contains(r#""status":200"#));
}

#[tokio::test]
async fn a_clients_request_id_never_replaces_the_servers() {
    let app = spawn_app().await;
    let forged = "abc} method=FAKE route=/admin";
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", forged)
        .send()
        .await
        .unwrap();
    let id = request_id(&response);
    assert_ne!(id, forged);
    assert!(
        uuid::Uuid::parse_str(&id).is_ok(),
        "the server's own id: {id}"
    );
    let logs = captured_logs();
    assert!(!logs.contains("method=FAKE"), "{logs}");
    assert!(logs.contains(&id), "the server's id is logged: {logs}");

    // A well-formed client id is kept, beside the server's.
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-4711")
        .send()
        .await
        .unwrap();
    assert_ne!(response.headers()["x-request-id"], "trace-4711");
    assert!(
        captured_logs().contains(r#""client_request_id":"trace-4711""#),
        "{}",
        captured_logs()
    );
}

/// The JSON format an operator's log pipeline parses: one object per line, the event's fields
/// at the top, the request's span (its server-made id, method and route) under `span`.
#[tokio::test]
async fn a_json_access_line_is_one_object_with_the_request_span() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/system/v1.0/testconnection"))
        .basic_auth(USERNAME, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    let id = request_id(&response);
    let logs = captured_logs();
    let line = logs
        .lines()
        .filter(|line| line.contains(&id))
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect(line))
        .find(|line| line["message"] == "request finished")
        .unwrap_or_else(|| panic!("no access line for {id}: {logs}"));
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert!(line["latency_ms"].is_f64(), "{line}");
    assert!(
        line["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{line}"
    );
    assert_eq!(line["span"]["name"], "request", "{line}");
    assert_eq!(line["span"]["id"], id.as_str(), "{line}");
    assert_eq!(line["span"]["method"], "GET", "{line}");
    assert_eq!(
        line["span"]["route"], "/system/v1.0/testconnection",
        "{line}"
    );
}

/// The real binary with text logs: a signed launch value carrying a newline and a forged log
/// line stays on the one line that logs it.
#[tokio::test]
async fn a_forged_newline_in_a_signed_value_never_splits_a_text_log_line() {
    use tokio::io::AsyncBufReadExt as _;

    use crate::helpers::{TestPki, binary, write_config};
    use crate::independent_signer::{self as signer, Base64Style, Creds, Encoding};

    let pki = TestPki::new("text-logs");
    let (_dir, path) = write_config(&pki, "");
    let port = crate::fixtures::free_port();
    let mut child = tokio::process::Command::new(binary())
        .args(["serve", "--config", path.to_str().unwrap()])
        .env("CONCUR_CONNECTOR__LOG__FORMAT", "text")
        .env(
            "CONCUR_CONNECTOR__SERVER__BIND",
            format!("127.0.0.1:{port}"),
        )
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let base = format!("https://127.0.0.1:{port}");
    let client = pki
        .client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    crate::fixtures::until("the server listens", async || {
        client.get(format!("{base}/healthz")).send().await.is_ok()
    })
    .await;

    let forged =
        "2026-01-01T00:00:00.000000Z  INFO audit: concur field write outcome=written company=evil";
    let mut launch = signer::v4(
        "https://us2.api.concursolutions.com/expensereports/v4/reports/R1/expenses/E1",
        "ENTRY",
    );
    launch.set("company_domain", &format!("acmecorp.com\n{forged}"));
    let creds = Creds {
        username: USERNAME.to_owned(),
        password: PASSWORD.to_owned(),
    };
    let query = launch.query(
        &creds,
        Encoding::Rfc3986 { lower_hex: false },
        Base64Style::StandardPadded,
    );
    let response = client
        .get(format!("{base}/launchexternalurl/v4/form?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);

    let mut seen = Vec::new();
    let found = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.contains("launch verified");
            seen.push(line);
            if done {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    child.start_kill().unwrap();
    assert!(found, "no launch line: {seen:#?}");
    for line in &seen {
        assert!(
            !line.starts_with("2026-01-01T00:00:00"),
            "a forged line: {seen:#?}"
        );
        assert!(
            !line.contains('\u{1b}'),
            "no colour codes in text logs: {line}"
        );
    }
    let launched = seen.iter().find(|l| l.contains("launch verified")).unwrap();
    assert!(launched.contains(r"acmecorp.com\n2026-01-01"), "{launched}");
}

/// The server's request id of `response`.
fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}
