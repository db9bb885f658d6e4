//! Event Notification end to end: the simulator plays Concur (submit → notification to the
//! real connector over TLS), the connector's workers decide by the `[validation]` rules and
//! approve or send back through the simulator's workflow API.

use concur_connector::sim::{Faults, RecordedWrite, Seed, SimHandle, WriteApi};
use concur_protocol::callout::conformance::NOTIFICATION_EXAMPLE;
use reqwest::{StatusCode, Url};
use serde_json::json;

use crate::fixtures::{eventually, until};
use crate::helpers::{TestApp, capture_logs, captured_logs};
use crate::with_simulator::{World, world_with, world_with_seed};

const PATH: &str = "/concur/v1.0/notify";

/// Every expense needs a project; the comment is the rule's own text.
const RULES: &str = r#"
[validation]
language = "en"
[[validation.rules]]
name = "project-on-expenses"
kind = "required"
field = "custom12"
on = "expenses"
message = { en = "Project ID is required", de = "Die Projekt-ID fehlt", fr = "Le projet est obligatoire" }
"#;

/// Jane's "March Expenses" (en-GB): the lunch has no project, so it fails the rule.
const MARCH: &str = "764428DD6A664AF0BFCB";
const MARCH_LUNCH: &str = "84FCBB92BD4E5342B849DAC29FD163A1";
/// Max's "Dienstreise Berlin" (de): no expense has a project.
const BERLIN: &str = "5C9A0B7E3D1F42A8B6E0";
/// "Client Visit Lyon", seeded pending external validation with the key of Concur's own
/// example notification; every expense has a project.
const LYON: &str = "4681D8C33A284E91A46E";

/// The connector with the rules (and `extra`), the simulator notifying it.
async fn deciding(extra: &str) -> World {
    let world = world_with(&format!("{RULES}\n{extra}")).await;
    notify_to(&world.sim, &world.app);
    world
}

fn notify_to(sim: &SimHandle, app: &TestApp) {
    sim.set_notify_target(Url::parse(&app.url(PATH)).unwrap(), &app.pki.ca_pem)
        .unwrap();
}

/// The workflow actions the simulator received (approve and send back), in order.
fn actions(sim: &SimHandle) -> Vec<RecordedWrite> {
    sim.writes()
        .into_iter()
        .filter(|w| matches!(w.api, WriteApi::V4Approve | WriteApi::V4SendBack))
        .collect()
}

fn actions_on(sim: &SimHandle, report: &str) -> Vec<RecordedWrite> {
    let path = format!("/expensereports/v4/reports/{report}/");
    actions(sim)
        .into_iter()
        .filter(|w| w.path.starts_with(&path))
        .collect()
}

/// The report's approval status code and its last workflow comment.
fn status(sim: &SimHandle, report: &str) -> (String, Option<String>) {
    let seed = sim.snapshot();
    let report = seed.report(report).unwrap();
    (
        report.approval_status_id.clone(),
        report.workflow_comment.clone(),
    )
}

/// Waits until the report has left external validation; returns its status and comment.
async fn decided(sim: &SimHandle, report: &str) -> (String, Option<String>) {
    eventually(&format!("report {report} decided"), async || {
        let (status, comment) = status(sim, report);
        (status != "A_EXTV").then_some((status, comment))
    })
    .await
}

async fn submit(sim: &SimHandle, report: &str) {
    let delivery = sim.submit_report(report).await.unwrap();
    assert!(
        matches!(
            delivery.outcome.as_str(),
            "delivered" | "dropped" | "concur_down"
        ),
        "{delivery:?}"
    );
}

fn jobs_left(app: &TestApp) -> impl AsyncFnMut() -> bool + '_ {
    async || {
        let queue = &app.notifications.as_ref().unwrap().queue;
        queue.jobs().await.unwrap().is_empty()
    }
}

#[tokio::test]
async fn a_passing_report_is_approved_and_a_failing_one_sent_back_with_every_problem() {
    capture_logs();
    let world = deciding("").await;
    // Lyon is pending already; Concur's own example notification names it.
    let response = world.app.post_callout(PATH, NOTIFICATION_EXAMPLE).await;
    assert_eq!(response.status(), StatusCode::OK);
    submit(&world.sim, MARCH).await;
    submit(&world.sim, BERLIN).await;

    assert_eq!(decided(&world.sim, LYON).await, ("A_APPR".to_owned(), None));
    let approve = actions_on(&world.sim, LYON);
    assert_eq!(approve.len(), 1, "{approve:?}");
    assert_eq!(approve[0].method, "PATCH");
    assert_eq!(approve[0].status, 204);
    assert_eq!(approve[0].body, Some(json!({"expectedStepCode": "EXTVAL"})));

    let (march, comment) = decided(&world.sim, MARCH).await;
    assert_eq!(march, "A_RESU");
    let comment = comment.unwrap();
    assert_eq!(
        comment,
        "Your report was sent back by the automatic check. Please correct:\n\
         - Expense Lunch, 2026-03-11, 25.0 USD: Project ID is required"
    );
    let send_back = actions_on(&world.sim, MARCH);
    assert_eq!(send_back.len(), 1, "{send_back:?}");
    assert_eq!(
        send_back[0].body,
        Some(json!({"comment": comment, "expectedStepCode": "EXTVAL"}))
    );

    // Max's profile is German: the comment is too, one problem per expense.
    let (berlin, comment) = decided(&world.sim, BERLIN).await;
    assert_eq!(berlin, "A_RESU");
    let comment = comment.unwrap();
    assert_eq!(
        comment.matches("Die Projekt-ID fehlt").count(),
        3,
        "{comment}"
    );

    until("the queue is empty", jobs_left(&world.app)).await;
    let logs = captured_logs();
    let audit: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(r#""target":"audit""#) && l.contains("external validation decision"))
        .collect();
    assert_eq!(audit.len(), 3, "{logs}");
    let lyon = audit.iter().find(|l| l.contains(LYON)).unwrap();
    assert!(lyon.contains(r#""action":"approve""#), "{lyon}");
    assert!(lyon.contains(r#""step":"SUBMIT""#), "{lyon}");
    assert!(
        lyon.contains(&format!(
            r#""correlation_id":"{}""#,
            approve[0].correlation_id
        )),
        "{lyon}"
    );
    let march = audit.iter().find(|l| l.contains(MARCH)).unwrap();
    assert!(march.contains(r#""action":"send_back""#), "{march}");
    assert!(
        march.contains(r#""failed_rules":"project-on-expenses""#),
        "{march}"
    );
}

#[tokio::test]
async fn a_duplicate_notification_is_acted_on_once() {
    let world = deciding("").await;
    for _ in 0..3 {
        let response = world.app.post_callout(PATH, NOTIFICATION_EXAMPLE).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    decided(&world.sim, LYON).await;
    until("the queue is empty", jobs_left(&world.app)).await;
    // A late duplicate after the decision is new work, and the step check drops it.
    let late = world.app.post_callout(PATH, NOTIFICATION_EXAMPLE).await;
    assert_eq!(late.status(), StatusCode::OK);
    until("the queue is empty", jobs_left(&world.app)).await;
    assert_eq!(actions_on(&world.sim, LYON).len(), 1);
}

#[tokio::test]
async fn a_report_sent_back_corrected_and_submitted_again_is_decided_again() {
    let world = deciding("").await;
    submit(&world.sim, MARCH).await;
    assert_eq!(decided(&world.sim, MARCH).await.0, "A_RESU");

    // The employee adds the project to the lunch and submits again.
    let company = company_token(&world).await;
    let response = sim_client(&world.sim)
        .patch(format!(
            "{}/expensereports/v4/reports/{MARCH}/expenses/{MARCH_LUNCH}",
            world.sim.geolocation()
        ))
        .bearer_auth(company)
        .json(&json!({"customData": [{"id": "custom12", "value": "PRJ-0042"}], "expenseSource": "OTHER"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    submit(&world.sim, MARCH).await;
    assert_eq!(
        decided(&world.sim, MARCH).await,
        ("A_APPR".to_owned(), None)
    );
    let apis: Vec<WriteApi> = actions_on(&world.sim, MARCH)
        .iter()
        .map(|w| w.api)
        .collect();
    assert_eq!(apis, [WriteApi::V4SendBack, WriteApi::V4Approve]);
}

/// A company token from the simulator, as a Concur admin tool would hold.
async fn company_token(world: &World) -> String {
    let seed = world.sim.snapshot();
    let form = [
        ("client_id", concur_connector::sim::DEFAULT_CLIENT_ID),
        (
            "client_secret",
            concur_connector::sim::DEFAULT_CLIENT_SECRET,
        ),
        ("grant_type", "password"),
        ("username", seed.company.id.as_str()),
        ("password", "test-company-request-token"),
        ("credtype", "authtoken"),
    ];
    let answer: serde_json::Value = sim_client(&world.sim)
        .post(format!("{}/oauth2/v0/token", world.sim.geolocation()))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_owned()
}

fn sim_client(sim: &SimHandle) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_report_that_moved_on_is_dropped_not_retried() {
    capture_logs();
    // The connector expects another step than the one the report waits in: Concur (the
    // simulator) refuses the action with its 409, as when someone moved the report.
    let world = deciding("[notification]\nstep_code = \"PREEXT\"\n").await;
    submit(&world.sim, MARCH).await;
    until("the queue is empty", jobs_left(&world.app)).await;
    let refused = actions_on(&world.sim, MARCH);
    assert_eq!(refused.len(), 1, "no retry loop: {refused:?}");
    assert_eq!(refused[0].status, 409);
    assert_eq!(status(&world.sim, MARCH).0, "A_EXTV", "nothing changed");
    assert!(
        world
            .app
            .notifications
            .as_ref()
            .unwrap()
            .queue
            .dead_letters()
            .await
            .unwrap()
            .is_empty()
    );
    let logs = captured_logs();
    let audit = logs
        .lines()
        .find(|l| l.contains(r#""target":"audit""#) && l.contains(MARCH))
        .unwrap_or_else(|| panic!("no audit line: {logs}"));
    assert!(audit.contains(r#""action":"dropped""#), "{audit}");
    assert!(audit.contains(r#""reason":"step_moved""#), "{audit}");
}

#[tokio::test]
async fn concur_down_for_a_while_then_back_loses_nothing() {
    let world = deciding("").await;
    // Acknowledged while Concur is up, then Concur goes down before the decision can be
    // taken: the worker retries (the first retry ceiling is a few seconds) until it is back.
    world.sim.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let response = world.app.post_callout(PATH, NOTIFICATION_EXAMPLE).await;
    assert_eq!(response.status(), StatusCode::OK);
    world.sim.set_faults(Faults {
        down_for_secs: 3,
        ..Faults::default()
    });
    assert_eq!(decided(&world.sim, LYON).await.0, "A_APPR");
    assert_eq!(actions_on(&world.sim, LYON).len(), 1);
    let refused = world
        .sim
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    assert!(refused > 0, "the outage was met");
}

#[tokio::test]
async fn a_delivery_concur_gave_up_on_is_found_in_the_failed_list_decided_and_deleted() {
    let world = deciding("[notification]\nfailed_poll_interval = \"1s\"\n").await;
    world.sim.set_faults(Faults {
        drop_notifications_next: 1,
        ..Faults::default()
    });
    submit(&world.sim, MARCH).await;
    assert_eq!(world.sim.failed_notification_count(), 1);
    assert_eq!(decided(&world.sim, MARCH).await.0, "A_RESU");
    until("the failed entry is deleted", async || {
        world.sim.failed_notification_count() == 0
    })
    .await;
    assert_eq!(actions_on(&world.sim, MARCH).len(), 1);
}

#[tokio::test]
async fn a_job_failing_past_retry_for_is_a_dead_letter_that_replays_to_a_decision() {
    // On the embedded queue: the administrator's CLI asks the running server over its socket.
    let queue_dir = tempfile::tempdir().unwrap();
    let queue_toml = format!(
        "[queue]\npath = {:?}\nretry_for = \"2s\"\nmax_backoff = \"1s\"\n",
        queue_dir.path().join("queue.redb")
    );
    let world = deciding(&queue_toml).await;
    world.sim.set_faults(Faults {
        down_for_secs: 600,
        ..Faults::default()
    });
    let response = world.app.post_callout(PATH, NOTIFICATION_EXAMPLE).await;
    assert_eq!(response.status(), StatusCode::OK);
    let queue = world.app.notifications.clone().unwrap().queue;
    let dead = eventually("a dead letter", async || {
        queue.dead_letters().await.unwrap().into_iter().next()
    })
    .await;
    assert!(dead.last_error.unwrap().contains("503"));

    let (_cli_dir, config) =
        crate::helpers::write_config(&crate::helpers::TestPki::new("cli"), &queue_toml);
    let config = config.to_str().unwrap().to_owned();
    let list = crate::cli::run(&["notifications", "list", "--config", &config], &[]).await;
    assert!(list.status.success(), "{}", crate::cli::stderr(&list));
    let listed = crate::cli::stdout(&list);
    assert!(
        listed.starts_with(&format!("{}\tdead", dead.id)),
        "{listed}"
    );
    assert_eq!(
        status(&world.sim, LYON).0,
        "A_EXTV",
        "not decided while parked"
    );

    // Concur is back; the replayed job is decided.
    world.sim.set_faults(Faults::default());
    let replay = crate::cli::run(
        &[
            "notifications",
            "replay",
            &dead.id.to_string(),
            "--config",
            &config,
        ],
        &[],
    )
    .await;
    assert!(replay.status.success(), "{}", crate::cli::stderr(&replay));
    assert_eq!(decided(&world.sim, LYON).await.0, "A_APPR");
    assert_eq!(actions_on(&world.sim, LYON).len(), 1);
}

/// A seed with `n` copies of the Lyon report, not yet submitted, each with its own ids.
fn many_reports(n: usize) -> (Seed, Vec<String>) {
    let mut seed = Seed::builtin();
    let lyon = seed.report(LYON).unwrap().clone();
    let mut ids = Vec::new();
    for i in 0..n {
        let mut report = lyon.clone();
        report.id = format!("{:0>20}", format!("B{i}"));
        report.legacy_id = format!("nBENCH{i}$key");
        report.name = format!("Copy {i}");
        report.approval_status_id = "A_NOTF".to_owned();
        report.workflow_step = None;
        for (j, expense) in report.expenses.iter_mut().enumerate() {
            expense.id = format!("{:0>32}", format!("E{i}X{j}"));
            expense.legacy_id = format!("nBENCHE{i}X{j}");
        }
        ids.push(report.id.clone());
        seed.reports.push(report);
    }
    (seed, ids)
}

#[tokio::test]
async fn two_instances_on_one_redis_share_the_queue_and_decide_each_report_once() {
    let redis = crate::redis_server::RedisServer::start();
    let store = format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"{}\"\n[notification]\nworkers = 3\n",
        redis.url()
    );
    let (seed, reports) = many_reports(12);
    let world = world_with_seed(seed, &format!("{RULES}\n{store}")).await;
    let second = crate::helpers::spawn_app_with(&world.app_toml).await;
    // Each report is notified to one instance, and redelivered to the other.
    for (i, report) in reports.iter().enumerate() {
        let (first, other) = if i % 2 == 0 {
            (&world.app, &second)
        } else {
            (&second, &world.app)
        };
        notify_to(&world.sim, first);
        submit(&world.sim, report).await;
        let delivery = world.sim.notification_deliveries().pop().unwrap();
        let response = other.post_callout(PATH, delivery.body).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    for report in &reports {
        assert_eq!(decided(&world.sim, report).await.0, "A_APPR");
    }
    until("the queue is empty", jobs_left(&world.app)).await;
    for report in &reports {
        assert_eq!(actions_on(&world.sim, report).len(), 1, "{report}");
    }
}

#[tokio::test]
async fn a_notification_acknowledged_before_a_kill_9_is_decided_once_after_the_restart() {
    let world = deciding("").await;
    // Every Concur call takes seconds: the decision cannot be taken before the kill.
    world.sim.set_faults(Faults {
        latency_ms: 3000,
        ..Faults::default()
    });
    let pki = crate::helpers::TestPki::new("killed");
    let queue_dir = tempfile::tempdir().unwrap();
    let extra = format!(
        // The killed worker's claim lapses after the lease; then the restarted one takes it.
        "{}\n[queue]\npath = {:?}\nlease = \"2s\"\n",
        world.app_toml,
        queue_dir.path().join("q.redb")
    );
    let (_dir, config) = crate::helpers::write_config(&pki, &extra);
    let port = crate::fixtures::free_port();
    let base = format!("https://localhost:{port}");
    let client = pki.client();

    let mut connector = crate::helpers::start_binary(&config, port);
    crate::helpers::wait_until_serving(&client, &base).await;
    let response = client
        .post(format!("{base}{PATH}"))
        .basic_auth(crate::helpers::USERNAME, Some(crate::helpers::PASSWORD))
        .header(reqwest::header::CONTENT_TYPE, "application/xml")
        .body(NOTIFICATION_EXAMPLE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    connector.kill().await.unwrap(); // SIGKILL
    assert_eq!(status(&world.sim, LYON).0, "A_EXTV");
    assert!(actions(&world.sim).is_empty());

    world.sim.set_faults(Faults::default());
    let _restarted = crate::helpers::start_binary(&config, port);
    assert_eq!(decided(&world.sim, LYON).await.0, "A_APPR");
    // Give a second decision every chance to happen before counting.
    crate::helpers::wait_until_serving(&client, &base).await;
    assert_eq!(actions_on(&world.sim, LYON).len(), 1);
}
