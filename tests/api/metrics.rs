//! The admin listener: `/metrics` counts what the connector did with bounded labels,
//! `/readyz` follows the store, `/metrics` is never on the public port; and every Concur
//! call carries a `concur-correlationid` tied to the request that caused it.

use concur_connector::launch::Source;
use concur_connector::sim::V4LaunchRequest;
use concur_protocol::callout::conformance::NOTIFICATION_EXAMPLE;
use reqwest::{StatusCode, Url, header};

use crate::fixtures::eventually;
use crate::helpers::{TestApp, spawn_app_with};
use crate::picker::{VALUES, csrf_of};
use crate::redis_server::RedisServer;
use crate::with_simulator::{World, launch, session_page, world_with};

const FETCH_LIST_PATH: &str = "/concur/list/v1.2/fetch";
const NOTIFY_PATH: &str = "/concur/v1.0/notify";
const FETCH_LIST_EXAMPLE: &str =
    include_str!("../../crates/concur-protocol/src/callout/fetch_list_example_single.xml");

/// One list for Fetch List, and a rule every expense of Concur's example report passes.
const EXTRA: &str = r#"
[[fetch_list.lists]]
name = "Places"
default = true
[[fetch_list.lists.items]]
code = "ALPHA"
label = "Alpha"

[validation]
language = "en"
[[validation.rules]]
name = "project-on-expenses"
kind = "required"
field = "custom12"
on = "expenses"
message = { en = "Project ID is required" }
"#;

/// "Client Visit Lyon", the report Concur's example notification names (approved by the
/// rule above).
const LYON: &str = "4681D8C33A284E91A46E";

fn admin(app: &TestApp) -> String {
    app.admin_url.clone().expect("the admin listener is on")
}

async fn get(url: &str) -> (StatusCode, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The value of the sample `name{labels}` in a Prometheus text page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Launches the first report's first expense, then the same launch again (a replay);
/// the session cookie and the launch URL.
async fn launched(world: &World) -> (String, String) {
    let seed = world.sim.snapshot();
    let expense = &seed.reports[0].expenses[0];
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Entry, &expense.id))
        .unwrap();
    let cookie = launch(world, &minted.url).await.unwrap();
    // The same launch again: refused as a replay.
    let replayed = launch(world, &minted.url).await.unwrap_err();
    assert_eq!(replayed.0, StatusCode::FORBIDDEN, "{}", replayed.1);
    (cookie, minted.url)
}

/// Done with `code`; the answer's status and request id.
async fn done(world: &World, cookie: &str, code: &str) -> (StatusCode, String) {
    let csrf = csrf_of(&session_page(world, cookie).await);
    let response = world
        .app
        .client
        .post(world.app.url("/launch/session/done"))
        .header(header::COOKIE, cookie)
        .form(&[("csrf", csrf.as_str()), ("action", "done"), ("code", code)])
        .send()
        .await
        .unwrap();
    let id = request_id(&response);
    (response.status(), id)
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn metrics_count_launches_writes_callouts_calls_and_decisions_with_bounded_labels() {
    let world = world_with(&format!("{VALUES}{EXTRA}")).await;
    let app = &world.app;
    world
        .sim
        .set_notify_target(Url::parse(&app.url(NOTIFY_PATH)).unwrap(), &app.pki.ca_pem)
        .unwrap();

    let (cookie, _) = launched(&world).await;
    let (status, _) = done(&world, &cookie, "PRJ-3003").await;
    assert_eq!(status, StatusCode::OK);
    let listed = app.post_callout(FETCH_LIST_PATH, FETCH_LIST_EXAMPLE).await;
    assert_eq!(listed.status(), StatusCode::OK);
    let notified = app.post_callout(NOTIFY_PATH, NOTIFICATION_EXAMPLE).await;
    assert_eq!(notified.status(), StatusCode::OK);

    let expected = [
        (
            r#"concur_connector_launches_verified_total{version="v4",product="expense"}"#,
            1.0,
        ),
        (
            r#"concur_connector_launches_refused_total{reason="replayed"}"#,
            1.0,
        ),
        (
            r#"concur_connector_field_writes_total{outcome="written"}"#,
            1.0,
        ),
        (
            r#"concur_connector_http_requests_total{route="/concur/list/v1.2/fetch",status="200"}"#,
            1.0,
        ),
        (
            r#"concur_connector_http_requests_total{route="/concur/v1.0/notify",status="200"}"#,
            1.0,
        ),
        (
            r#"concur_connector_http_requests_total{route="/launchexternalurl/v4/form",status="303"}"#,
            1.0,
        ),
        (
            r#"concur_connector_http_requests_total{route="/launchexternalurl/v4/form",status="403"}"#,
            1.0,
        ),
        (
            r#"concur_connector_notification_decisions_total{outcome="approve",reason="none"}"#,
            1.0,
        ),
        (
            r#"concur_connector_notification_jobs_total{disposition="complete"}"#,
            1.0,
        ),
        (
            r#"concur_connector_token_refreshes_total{token="user",outcome="ok"}"#,
            1.0,
        ),
        (
            r#"concur_connector_concur_calls_total{api="/expensereports/v4/reports/{reportId}/approve",method="PATCH",status="204"}"#,
            1.0,
        ),
        ("concur_connector_queue_depth", 0.0),
        ("concur_connector_queue_dead_letters", 0.0),
    ];
    let page = eventually("every count on /metrics", async || {
        let (status, page) = get(&format!("{}/metrics", admin(app))).await;
        assert_eq!(status, StatusCode::OK);
        expected
            .iter()
            .all(|(series, value)| sample(&page, series) == Some(*value))
            .then_some(page)
    })
    .await;

    // The company token was obtained (once at start, at least), and the one write PATCHed.
    assert!(
        sample(
            &page,
            r#"concur_connector_token_refreshes_total{token="company",outcome="ok"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{page}"
    );
    let patches: f64 = page
        .lines()
        .filter(|l| {
            l.starts_with(r#"concur_connector_concur_calls_total{api="/expensereports/v4/reports/{reportId}/expenses/{expenseId}",method="PATCH",status="204"}"#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(patches, 1.0, "{page}");
    // Latency histograms with buckets, by route template and by API.
    assert!(
        page.contains(r#"concur_connector_http_request_duration_seconds_bucket{route="/launch/session/done",status="200",le="0.1"}"#),
        "{page}"
    );
    assert!(
        page.contains(r#"concur_connector_concur_call_duration_seconds_count{api="/oauth2/v0/token",method="POST"}"#),
        "{page}"
    );
    // The served certificate's expiry, in days.
    assert!(
        sample(&page, "concur_connector_tls_certificate_expiry_days").is_some_and(|d| d > 0.0),
        "{page}"
    );
    // No ids in labels: no report, expense or user id, no raw path with one.
    let seed = world.sim.snapshot();
    let report = &seed.reports[0];
    for id in [
        report.id.as_str(),
        report.expenses[0].id.as_str(),
        LYON,
        &seed.users[0].id,
    ] {
        assert!(!page.contains(id), "{id} in /metrics:\n{page}");
    }
}

#[tokio::test]
async fn concur_calls_carry_the_request_id_of_the_request_that_caused_them() {
    let world = world_with(VALUES).await;
    let seed = world.sim.snapshot();
    let expense = &seed.reports[0].expenses[0];
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Entry, &expense.id))
        .unwrap();
    let (path, query) = minted.url.split_once('?').unwrap();
    let path = path.trim_start_matches("https://connector.test");
    let client = world
        .app
        .pki
        .client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let launched = client
        .get(world.app.url(&format!("{path}?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(launched.status(), StatusCode::SEE_OTHER);
    let launch_id = request_id(&launched);
    let cookie = crate::helpers::session_cookie(&launched);
    let (status, done_id) = done(&world, &cookie, "PRJ-3003").await;
    assert_eq!(status, StatusCode::OK);

    let calls = world.sim.requests();
    let exchange = calls
        .iter()
        .find(|c| c.grant_type.as_deref() == Some("authorization_code"))
        .expect("the auth code was exchanged");
    assert_eq!(exchange.correlation_id.as_deref(), Some(launch_id.as_str()));
    // Done's write runs in a task of its own, and still carries the Done request's id.
    let write = calls
        .iter()
        .find(|c| c.method == "PATCH")
        .expect("the value was written");
    assert_eq!(write.correlation_id.as_deref(), Some(done_id.as_str()));
    assert_ne!(launch_id, done_id);
    // Every call carries one; those no request caused (the company token at start-up) a
    // fresh UUID.
    for call in &calls {
        let id = call
            .correlation_id
            .as_deref()
            .unwrap_or_else(|| panic!("{} {} carries no correlation id", call.method, call.path));
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
}

#[tokio::test]
async fn readiness_on_the_admin_listener_follows_redis_down_and_back() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let app = spawn_app_with(&format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"{}\"\nredis_timeout = \"1s\"\n",
        redis.url()
    ))
    .await;
    let ready = format!("{}/readyz", admin(&app));
    assert_eq!(get(&ready).await, (StatusCode::OK, "ready".to_owned()));

    redis.stop();
    let (status, reason) = get(&ready).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reason, "shared store unavailable");
    // Alive all the same: the orchestrator should wait, not restart it.
    assert_eq!(
        get(&format!("{}/healthz", admin(&app))).await,
        (StatusCode::OK, "ok".to_owned())
    );
    let (_, page) = get(&format!("{}/metrics", admin(&app))).await;
    assert!(
        sample(
            &page,
            r#"concur_connector_store_errors_total{store="redis"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{page}"
    );

    let _redis = RedisServer::start_on(port).expect("redis-server restarts on its port");
    eventually("ready again", async || {
        (get(&ready).await == (StatusCode::OK, "ready".to_owned())).then_some(())
    })
    .await;
}

#[tokio::test]
async fn metrics_are_served_on_the_admin_listener_only() {
    let app = spawn_app_with("").await;
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);

    let (status, page) = get(&format!("{}/metrics", admin(&app))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("concur_connector_build_info"), "{page}");
    // The 404 above was counted, under no route name of its own.
    assert_eq!(
        sample(
            &page,
            r#"concur_connector_http_requests_total{route="unmatched",status="404"}"#
        ),
        Some(1.0),
        "{page}"
    );
    let response = reqwest::get(format!("{}/metrics", admin(&app)))
        .await
        .unwrap();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );

    // Switched off: no admin listener at all.
    let off = spawn_app_with("[admin]\nenabled = false\n").await;
    assert!(off.admin_url.is_none());
}

#[tokio::test]
async fn a_notification_jobs_calls_share_a_fresh_correlation_id_that_is_logged() {
    crate::helpers::capture_logs();
    let world = world_with(EXTRA).await;
    let notified = world
        .app
        .post_callout(NOTIFY_PATH, NOTIFICATION_EXAMPLE)
        .await;
    assert_eq!(notified.status(), StatusCode::OK);
    let notify_id = request_id(&notified);
    let approve = eventually("the report approved", async || {
        world
            .sim
            .requests()
            .into_iter()
            .find(|c| c.path == format!("/expensereports/v4/reports/{LYON}/approve"))
    })
    .await;
    let job_id = approve.correlation_id.expect("the approval carries an id");
    assert!(uuid::Uuid::parse_str(&job_id).is_ok(), "{job_id}");
    // Not the request that queued it: the job runs later, perhaps on another instance.
    assert_ne!(job_id, notify_id);
    // Every call of the job (details, owner, report, approval) carries the same id.
    let of_job: Vec<_> = world
        .sim
        .requests()
        .into_iter()
        .filter(|c| c.correlation_id.as_deref() == Some(job_id.as_str()))
        .map(|c| c.path)
        .collect();
    assert!(of_job.len() >= 3, "{of_job:?}");
    let logs = crate::helpers::captured_logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("deciding a notification") && l.contains(&job_id)),
        "{logs}"
    );
}
