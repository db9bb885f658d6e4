//! Several instances sharing one Redis (`[store] backend = "redis"`).

use concur_connector::launch::Source;
use reqwest::{StatusCode, header};

use crate::helpers::{TestApp, session_cookie, spawn_app_with};
use crate::launch::{SESSION_PATH, V4_PATH, manual, v4_launch, v4_query};
use crate::redis_server::RedisServer;

fn redis_store(url: &str) -> String {
    format!("[store]\nbackend = \"redis\"\nredis_url = \"{url}\"\nredis_timeout = \"1s\"\n")
}

async fn launch(app: &TestApp, query: &str) -> reqwest::Response {
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
    let response = launch(&app, &v4_query(&v4_launch("n-down", Source::Entry))).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    assert!(response.text().await.unwrap().contains("<h1>"));

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Still alive: the balancer should wait, not restart it.
    let alive = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), StatusCode::OK);
}
