//! End to end, external validation: the simulator plays Concur (Submit, the notification, the
//! report details, the workflow actions, the failed list) against the real connector (the
//! notify endpoint, the queue, the workers, the `[validation]` rules).

use concur_connector::sim::Faults;
use concur_protocol::callout::conformance::NOTIFICATION_EXAMPLE;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::seed::{MAX_REPORT, REPORT};
use crate::fixtures::{development_tables, eventually, until};
use crate::with_simulator::{World, world_with};

/// The seeded report under the key of Concur's own example notification, pending at `EXTVAL`.
const EXAMPLE_REPORT: &str = "4681D8C33A284E91A46E";

/// Rules the seeded reports meet or miss: March Expenses has no Project ID on its header,
/// Max's Berlin trip a hotel night over 250.
const RULES: &str = r#"
[notification]
poll_interval = "100ms"
failed_poll_interval = "1s"
[[validation.rules]]
name = "project-on-header"
kind = "required"
field = "custom12"
on = "header"
message = { en = "Project ID is required on the report header", de = "Die Projekt-ID fehlt im Berichtskopf" }
[[validation.rules]]
name = "hotel-limit"
kind = "amount_limit"
limits = { LODNG = 250 }
message = { en = "A hotel night costs at most 250", de = "Eine Hotelnacht kostet höchstens 250" }
"#;

/// The connector with [`RULES`], and the simulator notifying its endpoint.
async fn world() -> World {
    notifying(world_with(RULES).await)
}

/// Points the simulator's notifications at the connector's endpoint.
fn notifying(world: World) -> World {
    let notify = reqwest::Url::parse(&world.app.url("/concur/v1.0/notify")).unwrap();
    world
        .sim
        .set_notify_target(notify, &world.app.pki.ca_pem)
        .unwrap();
    world
}

/// The connector with the first-run demo's `[values]` and `[validation]` rules
/// (`config/development.toml`), and the simulator notifying its endpoint.
async fn demo_world() -> World {
    let tables = development_tables(&["values", "validation"]);
    notifying(world_with(&tables).await)
}

/// Posts Concur's example notification, verbatim, as Concur does: acknowledged with an empty
/// `200`.
async fn post_concurs_example(world: &World) {
    let response = world
        .app
        .post_callout("/concur/v1.0/notify", NOTIFICATION_EXAMPLE)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "");
}

/// The report's approval status code and last workflow comment, once it is decided.
async fn decided(world: &World, report: &str) -> (String, Option<String>) {
    eventually(&format!("report {report} is decided"), || async {
        let data = world.sim.snapshot();
        let report = data.report(report).unwrap();
        (report.approval_status_id != "A_EXTV").then(|| {
            (
                report.approval_status_id.clone(),
                report.workflow_comment.clone(),
            )
        })
    })
    .await
}

/// A simulator client with a company token, for what an employee or admin does in Concur.
async fn company(world: &World) -> (reqwest::Client, String) {
    let ca = reqwest::Certificate::from_pem(world.sim.ca_pem().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let company_id = world.sim.snapshot().company.id;
    let token: Value = http
        .post(world.sim.base_url().join("oauth2/v0/token").unwrap())
        .form(&[
            ("client_id", concur_connector::sim::DEFAULT_CLIENT_ID),
            (
                "client_secret",
                concur_connector::sim::DEFAULT_CLIENT_SECRET,
            ),
            ("grant_type", "password"),
            ("username", company_id.as_str()),
            ("password", "test-company-request-token"),
            ("credtype", "authtoken"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    (http, token)
}

#[tokio::test]
async fn submitted_reports_end_approved_or_sent_back_and_a_corrected_one_is_decided_again() {
    let world = world().await;

    let delivery = world.sim.submit_report(MAX_REPORT).await.unwrap();
    assert_eq!(delivery.outcome, "delivered", "{delivery:?}");
    let (status, comment) = decided(&world, MAX_REPORT).await;
    assert_eq!(status, "A_RESU", "the hotel night is over the limit");
    let comment = comment.unwrap();
    assert!(
        comment.contains("Eine Hotelnacht kostet höchstens 250"),
        "in the owner's language (de): {comment}"
    );
    assert!(comment.contains("Die Projekt-ID fehlt"), "{comment}");

    world.sim.submit_report(REPORT).await.unwrap();
    let (status, comment) = decided(&world, REPORT).await;
    assert_eq!(status, "A_RESU");
    let comment = comment.unwrap();
    assert!(comment.contains("Project ID is required"), "{comment}");
    assert!(
        !comment.contains("hotel"),
        "only the failed rule: {comment}"
    );

    // The employee adds the project and submits again: a new notification, decided anew.
    let (http, token) = company(&world).await;
    let fixed = http
        .patch(
            world
                .sim
                .base_url()
                .join(&format!("expensereports/v4/reports/{REPORT}"))
                .unwrap(),
        )
        .bearer_auth(token)
        .json(&json!({"customData": [{"id": "custom12", "value": "PRJ-0001"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(fixed.status(), StatusCode::NO_CONTENT);
    world.sim.submit_report(REPORT).await.unwrap();
    let (status, _) = decided(&world, REPORT).await;
    assert_eq!(status, "A_APPR");
    let deliveries = world.sim.notification_deliveries();
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries.iter().all(|d| d.outcome == "delivered"));
    let actions: Vec<_> = world
        .sim
        .successful_writes()
        .into_iter()
        .filter(|w| w.path.ends_with("/approve") || w.path.ends_with("/sendBack"))
        .map(|w| w.path)
        .collect();
    assert_eq!(
        actions,
        [
            format!("/expensereports/v4/reports/{MAX_REPORT}/sendBack"),
            format!("/expensereports/v4/reports/{REPORT}/sendBack"),
            format!("/expensereports/v4/reports/{REPORT}/approve"),
        ],
        "one action per decision"
    );
}

#[tokio::test]
async fn concurs_own_example_notification_is_acknowledged_and_its_report_decided() {
    let world = world().await;
    post_concurs_example(&world).await;
    let (status, _) = decided(&world, EXAMPLE_REPORT).await;
    assert_eq!(status, "A_APPR", "the seeded report meets the rules");
    let read = world
        .sim
        .requests()
        .into_iter()
        .find(|r| r.path.contains("/reportfulldetails/"))
        .expect("the connector read the report details");
    assert_eq!(
        read.path,
        "/api/expense/expensereport/v1.1/reportfulldetails/3%Rek29$wsIY12Di3LS9$gjei%KL23",
        "read at the geolocation, the key exactly as sent"
    );
}

#[tokio::test]
async fn a_report_submitted_while_concur_is_down_is_decided_once_it_is_back() {
    let world = world().await;
    world.sim.set_faults(Faults {
        down_for_secs: 3600,
        ..Faults::default()
    });
    let delivery = world.sim.submit_report(MAX_REPORT).await.unwrap();
    assert_eq!(delivery.outcome, "concur_down");
    assert_eq!(world.sim.failed_notification_count(), 1);

    // Back up: the connector's periodic job finds it in the failed list, decides, deletes it.
    world.sim.set_faults(Faults::default());
    let (status, _) = decided(&world, MAX_REPORT).await;
    assert_eq!(status, "A_RESU");
    until("the failed notification is deleted", || async {
        world.sim.failed_notification_count() == 0
    })
    .await;
}

#[tokio::test]
async fn in_the_first_run_demo_concurs_example_is_approved_and_a_submitted_report_decided() {
    let world = demo_world().await;
    post_concurs_example(&world).await;
    let (status, comment) = decided(&world, EXAMPLE_REPORT).await;
    assert_eq!(
        status, "A_APPR",
        "the seeded example report meets the demo rules: {comment:?}"
    );

    world.sim.submit_report(REPORT).await.unwrap();
    let (status, comment) = decided(&world, REPORT).await;
    match status.as_str() {
        "A_APPR" => {}
        "A_RESU" => assert!(comment.is_some_and(|c| !c.trim().is_empty())),
        other => panic!("March Expenses ended {other}"),
    }
}
