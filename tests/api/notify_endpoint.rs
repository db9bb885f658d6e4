//! The Event Notification endpoint (`/concur/v1.0/notify`) over real TLS, with the real
//! work queue (a redb file in the test's directory): what is acknowledged is stored first,
//! what is refused leaves the queue untouched.

use concur_connector::store::queue::Job;
use concur_protocol::callout::conformance::NOTIFICATION_EXAMPLE;
use concur_protocol::callout::notification::Notification;
use reqwest::{StatusCode, header};

use crate::fixtures::free_port;
use crate::helpers::{
    PASSWORD, TestApp, TestPki, USERNAME, binary, captured_logs, spawn_app, spawn_app_with,
    write_config,
};
use crate::hostile_bodies::{Hostile, SECRET, hostile_bodies};

const PATH: &str = "/concur/v1.0/notify";

/// The ObjectURI of Concur's example, as written there (`%R`, `%KL`: not escapes).
const EXAMPLE_URI: &str = "https://www.concursolutions.com/api/expense/expensereport/v1.1/reportfulldetails/3%Rek29$wsIY12Di3LS9$gjei%KL23";

/// A notification like Concur's example with another body (`ObjectType`, `ObjectURI`).
fn notification(object_type: &str, object_uri: &str) -> String {
    NOTIFICATION_EXAMPLE
        .replace(
            "<ObjectType>EXPRPT<",
            &format!("<ObjectType>{object_type}<"),
        )
        .replace(EXAMPLE_URI, object_uri)
}

async fn jobs(app: &TestApp) -> Vec<Job> {
    let notifications = app.notifications.as_ref().expect("the endpoint is on");
    notifications.queue.jobs().await.unwrap()
}

/// Asserts the answer is the acknowledgement: 200, `text/plain`, empty, `Content-Length: 0`.
async fn assert_acknowledged(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::OK, "{what}");
    let headers = response.headers().clone();
    let content_type = headers[header::CONTENT_TYPE].to_str().unwrap();
    assert_eq!(content_type, "text/plain; charset=utf-8", "{what}");
    assert_eq!(headers[header::CONTENT_LENGTH], "0", "{what}");
    assert_eq!(response.text().await.unwrap(), "", "{what}");
}

#[tokio::test]
async fn concurs_example_is_acknowledged_empty_and_queued_with_its_object_uri_unchanged() {
    let app = spawn_app().await;
    let response = app.post_callout(PATH, NOTIFICATION_EXAMPLE).await;
    assert_acknowledged(response, "Concur's example").await;

    let jobs = jobs(&app).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let payload = concur_connector::notify::Payload::from_json(&jobs[0].payload).unwrap();
    assert_eq!(payload.failed_uri, None);
    let stored = payload.notification().unwrap();
    assert_eq!(stored.object_uri, EXAMPLE_URI);
    assert_eq!(stored.workflow_step(), Some("SUBMIT"));
    let sent = Notification::parse(NOTIFICATION_EXAMPLE.as_bytes()).unwrap();
    assert_eq!(stored, sent);
    assert_eq!(jobs[0].key, sent.dedupe_key());
    assert_eq!((jobs[0].attempts, jobs[0].redeliveries), (0, 0));
}

#[tokio::test]
async fn a_redelivery_merges_into_the_queued_job_and_another_report_is_new_work() {
    let app = spawn_app().await;
    for _ in 0..2 {
        let response = app.post_callout(PATH, NOTIFICATION_EXAMPLE).await;
        assert_acknowledged(response, "delivery").await;
    }
    let other = notification(
        "EXPRPT",
        "https://www.concursolutions.com/api/expense/expensereport/v1.1/reportfulldetails/nOTHER$1",
    );
    assert_acknowledged(app.post_callout(PATH, other).await, "other").await;
    let jobs = jobs(&app).await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert_eq!(jobs[0].redeliveries, 1, "{jobs:?}");
    assert_eq!(jobs[1].redeliveries, 0, "{jobs:?}");
}

#[tokio::test]
async fn a_travel_request_is_acknowledged_logged_and_never_queued() {
    let app = spawn_app().await;
    let uri = "https://www.concursolutions.com/api/travelrequest/v1.0/requests/TR-4711";
    let response = app.post_callout(PATH, notification("TRAVELREQ", uri)).await;
    assert_acknowledged(response, "TRAVELREQ").await;
    assert_eq!(jobs(&app).await, []);
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|l| l.contains("travel request notification"))
        .unwrap_or_else(|| panic!("no log line: {logs}"));
    assert!(line.contains("TR-4711"), "{line}");
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_401_and_nothing_is_queued() {
    let app = spawn_app().await;
    for credentials in [
        None,
        Some((USERNAME, "a-wrong-password-1")),
        Some(("someone", PASSWORD)),
    ] {
        let mut request = app
            .client
            .post(app.url(PATH))
            .header(header::CONTENT_TYPE, "application/xml");
        if let Some((user, password)) = credentials {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.body(NOTIFICATION_EXAMPLE).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{credentials:?}"
        );
        assert!(
            response.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Basic "),
        );
    }
    assert_eq!(jobs(&app).await, []);
}

#[tokio::test]
async fn an_empty_authenticated_probe_by_get_or_post_gets_200_and_queues_nothing() {
    let app = spawn_app().await;
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let response = app
            .client
            .request(method.clone(), app.url(PATH))
            .basic_auth(USERNAME, Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_acknowledged(response, method.as_str()).await;
    }
    assert_eq!(jobs(&app).await, []);
}

#[tokio::test]
async fn hostile_bodies_get_a_4xx_and_leave_the_queue_empty() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cases = hostile_bodies(dir.path(), |uri| notification("EXPRPT", uri));
    for (what, body) in [
        (
            "no ObjectURI",
            NOTIFICATION_EXAMPLE.replace(EXAMPLE_URI, ""),
        ),
        ("wrong root", "<fetch-list-request/>".to_owned()),
    ] {
        cases.push(Hostile {
            what,
            body: body.into_bytes(),
            content_type: "application/xml",
            status: StatusCode::BAD_REQUEST,
        });
    }
    for case in cases {
        let (answered, text) = case.post(&app, PATH).await;
        let what = case.what;
        assert_eq!(answered, case.status, "{what}");
        assert!(!text.contains(SECRET), "{what}: {text}");
        assert!(!text.contains("aaaaaaaaaa"), "{what}: {text}");
        assert_eq!(jobs(&app).await, [], "{what}");
    }
    assert!(!captured_logs().contains(SECRET));
    // Still serving.
    assert_acknowledged(app.post_callout(PATH, NOTIFICATION_EXAMPLE).await, "after").await;
}

#[tokio::test]
async fn the_endpoint_is_absent_when_disabled_and_the_queue_not_opened() {
    let app = spawn_app_with("[notification]\nenabled = false\n").await;
    assert!(app.notifications.is_none());
    let response = app.post_callout(PATH, NOTIFICATION_EXAMPLE).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        !app.dir.path().join("notifications.redb").exists(),
        "no queue file is created"
    );
}

#[tokio::test]
async fn a_configured_path_is_served_and_the_default_is_not() {
    let app = spawn_app_with("[notification]\npath = \"/erp/concur/notify\"\n").await;
    let response = app
        .post_callout("/erp/concur/notify", NOTIFICATION_EXAMPLE)
        .await;
    assert_acknowledged(response, "configured path").await;
    assert_eq!(jobs(&app).await.len(), 1);
    let response = app.post_callout(PATH, NOTIFICATION_EXAMPLE).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_queue_that_cannot_store_gets_503_and_a_log_line() {
    // The Redis queue on a port where nothing listens: every enqueue fails.
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let app = spawn_app_with(&format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"{url}\"\nredis_timeout = \"500ms\"\n"
    ))
    .await;
    let response = app.post_callout(PATH, NOTIFICATION_EXAMPLE).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let content_type = response.headers()[header::CONTENT_TYPE].clone();
    assert_eq!(content_type, "text/plain; charset=utf-8");
    let text = response.text().await.unwrap();
    assert!(text.contains("could not be stored"), "{text}");
    assert!(captured_logs().contains("notification not stored"));
}

#[tokio::test]
async fn a_queue_file_that_cannot_be_opened_stops_serve_with_exit_2_naming_queue_path() {
    let pki = TestPki::new("notify");
    let blocker = tempfile::NamedTempFile::new().unwrap();
    // A directory cannot be created under a regular file.
    let path = blocker.path().join("notifications.redb");
    let (_dir, config) = write_config(&pki, &format!("[queue]\npath = {path:?}\n"));
    let output = tokio::process::Command::new(binary())
        .args(["serve", "--config", config.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("queue.path"), "{stderr}");
}
