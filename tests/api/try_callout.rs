//! `concur-connector try fetch-list|fetch-attendee` against a fake connector over TLS, and
//! `try notify` against the real connector: the request Concur sends, the judge's
//! findings, the exit status.

use std::process::Output;

use concur_protocol::callout::xml;
use tokio::process::Command;

use crate::fake_connector::FakeConnector;
use crate::helpers::{PASSWORD, TestPki, USERNAME, binary, write_config};

struct Setup {
    fake: FakeConnector,
    config: String,
    ca_file: String,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let fake = FakeConnector::start(USERNAME, PASSWORD).await;
    let (dir, config) = write_config(&TestPki::new("try"), "");
    let ca_file = dir.path().join("fake-ca.pem");
    std::fs::write(&ca_file, &fake.ca_pem).unwrap();
    Setup {
        fake,
        config: config.to_str().unwrap().to_owned(),
        ca_file: ca_file.to_str().unwrap().to_owned(),
        _dir: dir,
    }
}

impl Setup {
    async fn run(&self, callout: &str, args: &[&str]) -> Output {
        let mut command = Command::new(binary());
        command
            .args(["try", callout, "--config", &self.config])
            .args(["--url", &self.fake.base_url, "--ca-file", &self.ca_file])
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("CONCUR_CONNECTOR_CONFIG");
        command.output().await.unwrap()
    }

    fn last_request(&self) -> xml::Element {
        xml::parse(self.fake.bodies().last().unwrap().as_bytes()).unwrap()
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn try_fetch_list_sends_concurs_request_and_passes_a_correct_answer() {
    let setup = setup().await;
    let output = setup
        .run("fetch-list", &["--level-codes", "P100", "--num", "2"])
        .await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(out.contains("POST https://127.0.0.1:"), "{out}");
    assert!(
        out.contains("/concur/list/v1.2/fetch"),
        "the default path: {out}"
    );
    assert!(
        out.contains("P100-DES  Design") && out.contains("P100-BLD  Build"),
        "{out}"
    );
    assert!(out.contains("status 200") && out.contains("PASS"), "{out}");
    assert!(!out.contains(PASSWORD), "the password is never printed");
    let sent = setup.last_request();
    assert_eq!(sent.child_text("long-code"), Some("P100"));
    assert_eq!(sent.child_text("query"), Some("*"));
    assert_eq!(sent.child_text("num-to-return"), Some("2"));
}

#[tokio::test]
async fn try_fetch_list_prints_every_finding_and_fails_on_a_wrong_answer() {
    let setup = setup().await;
    setup.fake.break_answers();
    let output = setup
        .run("fetch-list", &["--level-codes", "P100", "--query", "D*"])
        .await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.contains("error: item 1: <match-value> is required"),
        "{out}"
    );
    assert!(out.contains("expected \"P100-DES\""), "{out}");
    assert!(
        out.contains("FAIL: Concur would refuse this answer (2 errors"),
        "{out}"
    );
}

#[tokio::test]
async fn try_fetch_attendee_judges_the_answer_strictly() {
    let setup = setup().await;
    let output = setup
        .run(
            "fetch-attendee",
            &[
                "--last-name",
                "Miller",
                "--owner",
                "cm@example.com",
                "--max",
                "10",
            ],
        )
        .await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(out.contains("/concur/attendee/v2.0/fetch"), "{out}");
    assert!(out.contains("1234567890  Chris Miller, Len Dev"), "{out}");
    let sent = setup.last_request();
    let attendee = sent.child("Attendee").unwrap();
    assert_eq!(attendee.children.len(), 35);
    assert_eq!(attendee.child_text("OwnerLoginID"), Some("cm@example.com"));
    assert_eq!(attendee.child_text("MaximumNumberRecords"), Some("10"));

    setup.fake.break_answers();
    let output = setup.run("fetch-attendee", &["--company", "Len"]).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.contains("attendee 1: every response element is required, missing: ExternalID"),
        "{out}"
    );
}

#[tokio::test]
async fn try_refuses_bad_arguments_and_an_untrusted_certificate() {
    let setup = setup().await;
    let output = setup.run("fetch-list", &["--search-by", "NAME"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("--search-by must be TEXT or CODE"));

    let mut command = Command::new(binary());
    let untrusted = command
        .args([
            "try",
            "fetch-list",
            "--config",
            &setup.config,
            "--url",
            &setup.fake.base_url,
        ])
        .env_remove("CONCUR_CONNECTOR_CONFIG")
        .output()
        .await
        .unwrap();
    let out = text(&untrusted);
    assert_eq!(untrusted.status.code(), Some(1), "{out}");
    assert!(
        out.contains("no answer") && out.to_lowercase().contains("certificate"),
        "{out}"
    );
    assert!(setup.fake.bodies().is_empty(), "nothing reached the fake");

    let mut command = Command::new(binary());
    let with_credentials = command
        .args(["try", "fetch-attendee", "--config", &setup.config])
        .args(["--url", "https://user:pw@127.0.0.1:1/"])
        .env_remove("CONCUR_CONNECTOR_CONFIG")
        .output()
        .await
        .unwrap();
    assert_eq!(with_credentials.status.code(), Some(2));
    assert!(text(&with_credentials).contains("must not carry credentials"));
}

/// `try notify` against the real connector: its configuration (the same credentials) and
/// its test CA.
async fn try_notify_on(app: &crate::helpers::TestApp, url: &str, args: &[&str]) -> Output {
    let ca_file = app.dir.path().join("try-ca.pem");
    std::fs::write(&ca_file, &app.pki.ca_pem).unwrap();
    let config = app.dir.path().join("config.toml");
    Command::new(binary())
        .args(["try", "notify", "--config", config.to_str().unwrap()])
        .args(["--url", url, "--ca-file", ca_file.to_str().unwrap()])
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("CONCUR_CONNECTOR_CONFIG")
        .output()
        .await
        .unwrap()
}

async fn queued_uris(app: &crate::helpers::TestApp) -> Vec<String> {
    let queue = &app.notifications.as_ref().unwrap().queue;
    let jobs = queue.jobs().await.unwrap();
    jobs.iter()
        .map(|job| {
            let payload = concur_connector::notify::Payload::from_json(&job.payload).unwrap();
            payload.notification().unwrap().object_uri
        })
        .collect()
}

#[tokio::test]
async fn try_notify_sends_concurs_example_and_passes_the_connectors_acknowledgement() {
    let app = crate::helpers::spawn_app().await;
    let output = try_notify_on(&app, &app.base_url, &[]).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(
        out.contains("Event Notification: POST https://localhost:"),
        "{out}"
    );
    assert!(
        out.contains("/concur/v1.0/notify"),
        "the default path: {out}"
    );
    assert!(
        out.contains("status 200") && out.contains("0 bytes, Content-Type text/plain"),
        "{out}"
    );
    assert!(out.contains("PASS: Concur would accept"), "{out}");
    assert!(!out.contains(PASSWORD), "the password is never printed");
    assert_eq!(
        queued_uris(&app).await,
        [
            "https://www.concursolutions.com/api/expense/expensereport/v1.1/reportfulldetails/3%Rek29$wsIY12Di3LS9$gjei%KL23"
        ]
    );
}

#[tokio::test]
async fn try_notify_sends_the_given_object_and_fails_on_a_refusal() {
    let app = crate::helpers::spawn_app().await;
    let uri =
        "https://us.api.concursolutions.com/api/expense/expensereport/v1.1/reportfulldetails/nA&B";
    let output = try_notify_on(&app, &app.base_url, &["--object-uri", uri]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let travel = [
        "--object-uri",
        "https://x.example/tr/1",
        "--object-type",
        "TRAVELREQ",
    ];
    let output = try_notify_on(&app, &app.base_url, &travel).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(queued_uris(&app).await, [uri], "TRAVELREQ is never queued");

    let elsewhere = format!("{}/concur/v2.0/notify", app.base_url);
    let output = try_notify_on(&app, &elsewhere, &[]).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("status 404") && out.contains("FAIL"), "{out}");
    assert!(out.contains("keeps the notification as FAILED"), "{out}");
    let output = try_notify_on(&app, &app.base_url, &["--object-uri", " "]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}
