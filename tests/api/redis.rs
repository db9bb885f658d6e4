//! Several instances sharing one Redis (`[store] backend = "redis"`).

use concur_connector::launch::Source;
use reqwest::{StatusCode, header};

use crate::helpers::{TestApp, session_cookie, spawn_app_with};
use crate::launch::{SESSION_PATH, V4_PATH, manual, v4_launch, v4_query};
use crate::redis_server::RedisServer;

pub(crate) fn redis_store(url: &str) -> String {
    format!("[store]\nbackend = \"redis\"\nredis_url = \"{url}\"\nredis_timeout = \"1s\"\n")
}

pub(crate) async fn launch(app: &TestApp, query: &str) -> reqwest::Response {
    manual(app)
        .get(app.url(&format!("{V4_PATH}?{query}")))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_launch_verified_on_one_instance_is_a_replay_on_another() {
    let redis = RedisServer::start();
    let a = spawn_app_with(&redis_store(&redis.url())).await;
    let b = spawn_app_with(&redis_store(&redis.url())).await;
    let query = v4_query(&v4_launch("shared-nonce", Source::Entry));

    assert_eq!(launch(&a, &query).await.status(), StatusCode::SEE_OTHER);
    let replay = launch(&b, &query).await;
    assert_eq!(replay.status(), StatusCode::FORBIDDEN);
    assert!(replay.text().await.unwrap().contains("<h1>"));
}

#[tokio::test]
async fn a_session_opened_on_one_instance_opens_on_another() {
    let redis = RedisServer::start();
    let a = spawn_app_with(&redis_store(&redis.url())).await;
    let b = spawn_app_with(&redis_store(&redis.url())).await;
    let handed_over = launch(&a, &v4_query(&v4_launch("n-shared-session", Source::Entry))).await;
    assert_eq!(handed_over.status(), StatusCode::SEE_OTHER);
    let session = session_cookie(&handed_over);

    for app in [&b, &a] {
        let page = manual(app)
            .get(app.url(SESSION_PATH))
            .header(header::COOKIE, &session)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{}", app.base_url);
        assert!(page.text().await.unwrap().contains("EMP 00+7&amp;X"));
    }
}

#[tokio::test]
async fn with_redis_down_a_launch_gets_a_503_page_and_the_instance_is_not_ready() {
    let mut redis = RedisServer::start();
    let app = spawn_app_with(&redis_store(&redis.url())).await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    redis.stop();
    crate::redis_tls::assert_unavailable_page(&app, "n-down").await;

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Still alive: the balancer should wait, not restart it.
    let alive = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), StatusCode::OK);
}

/// Launched on A, picked and saved on B: one write; Done on A afterwards writes nothing more.
#[tokio::test]
async fn a_launch_on_one_instance_is_picked_and_saved_on_another_once() {
    use concur_connector::sim::V4LaunchRequest;

    use crate::with_simulator::{launch as launch_on, session_page, world_with};

    let redis = RedisServer::start();
    let values = "[[values.inline]]\ncode = \"PRJ-1001\"\nlabel = \"Apollo website relaunch\"\n";
    let world = world_with(&format!("{values}\n{}", redis_store(&redis.url()))).await;
    // B: the same configuration, its own company-token directory (one process per directory).
    let own_state = tempfile::tempdir().unwrap();
    let b_toml = world.app_toml.replace(
        "state_dir = \"",
        &format!(
            "state_dir = \"{}\"\n# was: state_dir = \"",
            own_state.path().display()
        ),
    );
    let b = spawn_app_with(&b_toml).await;

    let expense = world.sim.snapshot().reports[0].expenses[0].id.clone();
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Entry, &expense))
        .unwrap();
    let cookie = launch_on(&world, &minted.url).await.unwrap();

    let page_on_b = b
        .client
        .get(b.url(SESSION_PATH))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page_on_b.status(), StatusCode::OK);
    let html = page_on_b.text().await.unwrap();
    assert!(html.contains("Blue Door Cafe"), "B reads the item: {html}");
    assert!(html.contains(r#"value="PRJ-1001""#), "{html}");
    let csrf = {
        let start = html.find(r#"name="csrf" value=""#).unwrap() + 19;
        html[start..start + 32].to_owned()
    };
    let form = [
        ("csrf", csrf.as_str()),
        ("action", "done"),
        ("code", "PRJ-1001"),
    ];
    let done_on_b = b
        .client
        .post(b.url("/launch/session/done"))
        .header(header::COOKIE, &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(done_on_b.status(), StatusCode::OK);
    assert_eq!(world.sim.successful_writes().len(), 1);

    // Done again on A (a retried request landing elsewhere): the claim is shared, no write.
    let done_on_a = world
        .app
        .client
        .post(world.app.url("/launch/session/done"))
        .header(header::COOKIE, &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(done_on_a.status(), StatusCode::OK);
    assert_eq!(world.sim.writes().len(), 1);
    // And A's page, reloaded, shows the closing page the session now records.
    assert!(
        session_page(&world, &cookie)
            .await
            .contains(r#"id="done-page""#)
    );
}
