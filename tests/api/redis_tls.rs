//! Redis as operators run it: TLS (`rediss://`) with a CA of their own, a client certificate
//! when the server asks for one, an ACL user, and a restart survived. A real redis-server
//! with `--tls-port`, certificates made with rcgen here.

use std::path::{Path, PathBuf};

use concur_connector::launch::Source;
use reqwest::{StatusCode, header};

use crate::fixtures::until;
use crate::helpers::{TestApp, TestPki, captured_logs, session_cookie, spawn_app_with};
use crate::launch::{SESSION_PATH, manual, v4_launch, v4_query};
use crate::redis_server::RedisServer;

pub(crate) const USER: &str = "connector";
pub(crate) const PASSWORD: &str = "acl-pw-5150-secret";

/// The files of one TLS Redis: its certificate and key (signed by `server`'s CA), the CA
/// bundle it checks clients against, and a client certificate signed by `client`'s CA.
pub(crate) struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    pub(crate) fn new(server: &TestPki, client: &TestPki) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("server.pem", &server.leaf_pem);
        write("server.key", &server.key_pem);
        write("server-ca.pem", &server.ca_pem);
        write("clients-ca.pem", &client.ca_pem);
        write("client.pem", &client.leaf_pem);
        write("client.key", &client.key_pem);
        Self { dir }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A redis-server with TLS on its own port (`--tls-auth-clients` as `client_auth`) and the
/// ACL user `connector`; plain TCP stays on loopback for the helper's PING only.
pub(crate) fn tls_redis(files: &Files, client_auth: bool) -> RedisServer {
    let arg = |p: &Path| p.to_str().unwrap().to_owned();
    let (cert, key, clients) = (
        arg(&files.path("server.pem")),
        arg(&files.path("server.key")),
        arg(&files.path("clients-ca.pem")),
    );
    RedisServer::start_with(move |tls_port| {
        [
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &clients,
            "--tls-auth-clients",
            if client_auth { "yes" } else { "no" },
            "--user",
            USER,
            "on",
            &format!(">{PASSWORD}"),
            "~*",
            "&*",
            "+@all",
        ]
        .map(str::to_owned)
        .to_vec()
    })
}

/// The `[store]` of a connector reaching `redis` over TLS with the CA of `ca`, as `USER`
/// with `password`, with `extra` store lines.
pub(crate) fn store(redis: &RedisServer, ca: &Path, password: &str, extra: &str) -> String {
    format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"rediss://127.0.0.1:{port}/0\"\n\
         redis_timeout = \"2s\"\nredis_ca_file = \"{ca}\"\nredis_username = \"{USER}\"\n\
         redis_password = \"{password}\"\n{extra}",
        port = redis.tls_port().unwrap(),
        ca = ca.display(),
    )
}

fn client_certificate(files: &Files) -> String {
    format!(
        "redis_client_cert_file = \"{}\"\nredis_client_key_file = \"{}\"\n",
        files.path("client.pem").display(),
        files.path("client.key").display()
    )
}

/// A v4 Entry launch with `nonce`.
pub(crate) async fn launch(app: &TestApp, nonce: &str) -> reqwest::Response {
    crate::redis::launch(app, &v4_query(&v4_launch(nonce, Source::Entry))).await
}

/// The session page for the session `response` handed over.
pub(crate) async fn open_session(app: &TestApp, response: &reqwest::Response) -> reqwest::Response {
    manual(app)
        .get(app.url(SESSION_PATH))
        .header(header::COOKIE, session_cookie(response))
        .send()
        .await
        .unwrap()
}

pub(crate) async fn readiness(app: &TestApp) -> StatusCode {
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
}

/// A launch refused because Redis cannot be used: the readable 503 page saying to try again
/// (never a 500), and no session.
pub(crate) async fn assert_unavailable_page(app: &TestApp, nonce: &str) {
    let response = launch(app, nonce).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    // In the launch's language (German in these launches).
    let html = response.text().await.unwrap();
    assert!(
        html.contains("<h1>Vorübergehend nicht verfügbar</h1>"),
        "{html}"
    );
    assert!(
        html.contains("warten Sie einen Moment und klicken Sie erneut auf das Feld in Concur"),
        "{html}"
    );
}

#[tokio::test]
async fn over_tls_with_the_operators_ca_and_an_acl_user_instances_share_state() {
    let (server, client) = (TestPki::new("redis server"), TestPki::new("redis client"));
    let files = Files::new(&server, &client);
    let redis = tls_redis(&files, false);
    let toml = store(&redis, &files.path("server-ca.pem"), PASSWORD, "");
    let a = spawn_app_with(&toml).await;
    let b = spawn_app_with(&toml).await;

    assert_eq!(readiness(&a).await, StatusCode::OK);
    let handed_over = launch(&a, "n-tls-shared").await;
    assert_eq!(handed_over.status(), StatusCode::SEE_OTHER);
    let page = open_session(&b, &handed_over).await;
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "the session is in the TLS Redis"
    );
    assert_eq!(
        launch(&b, "n-tls-shared").await.status(),
        StatusCode::FORBIDDEN,
        "the nonce is in the TLS Redis"
    );
    assert!(!captured_logs().contains(PASSWORD));
}

#[tokio::test]
async fn a_redis_whose_certificate_another_ca_signed_is_refused_with_the_reason() {
    let (server, client) = (TestPki::new("redis server"), TestPki::new("redis client"));
    let files = Files::new(&server, &client);
    let redis = tls_redis(&files, false);
    // The connector trusts the clients' CA, which did not sign the server's certificate.
    let app = spawn_app_with(&store(&redis, &files.path("clients-ca.pem"), PASSWORD, "")).await;

    assert_eq!(readiness(&app).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_unavailable_page(&app, "n-untrusted").await;
    let logs = captured_logs();
    assert!(logs.contains("invalid peer certificate"), "{logs}");
    assert!(logs.contains("store.redis_ca_file"), "{logs}");
    assert!(!logs.contains(PASSWORD));
}

#[tokio::test]
async fn a_client_certificate_the_server_requires_is_presented() {
    let (server, client) = (TestPki::new("redis server"), TestPki::new("redis client"));
    let files = Files::new(&server, &client);
    let redis = tls_redis(&files, true);
    let ca = files.path("server-ca.pem");

    let without = spawn_app_with(&store(&redis, &ca, PASSWORD, "")).await;
    assert_eq!(readiness(&without).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_unavailable_page(&without, "n-no-client-cert").await;

    let with = spawn_app_with(&store(&redis, &ca, PASSWORD, &client_certificate(&files))).await;
    assert_eq!(readiness(&with).await, StatusCode::OK);
    assert_eq!(
        launch(&with, "n-client-cert").await.status(),
        StatusCode::SEE_OTHER
    );
    let logs = captured_logs();
    assert!(!logs.contains(client.key_pem.lines().nth(1).unwrap()));
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_error_that_never_shows_the_password() {
    let (server, client) = (TestPki::new("redis server"), TestPki::new("redis client"));
    let files = Files::new(&server, &client);
    let redis = tls_redis(&files, false);
    let wrong = "wrong-pw-8086-secret";
    let app = spawn_app_with(&store(&redis, &files.path("server-ca.pem"), wrong, "")).await;

    assert_eq!(readiness(&app).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_unavailable_page(&app, "n-wrong-password").await;
    let logs = captured_logs();
    assert!(logs.contains("store.redis_password"), "{logs}");
    assert!(!logs.contains(wrong), "{logs}");
    assert!(!logs.contains(PASSWORD));

    // The operator gives the ACL user the password the connector has: no restart needed.
    let ok = redis.cli(&["ACL", "SETUSER", USER, "resetpass", &format!(">{wrong}")]);
    assert_eq!(ok.trim(), "OK");
    until("the instance is ready with the corrected ACL", async || {
        readiness(&app).await == StatusCode::OK
    })
    .await;
    assert_eq!(
        launch(&app, "n-password-fixed").await.status(),
        StatusCode::SEE_OTHER
    );
}

/// Redis killed and started again between two launches: the next launch succeeds at once,
/// without a 503 in between (the broken connection is replaced and the call retried).
#[tokio::test]
async fn a_redis_restart_between_launches_is_survived() {
    let (server, client) = (TestPki::new("redis server"), TestPki::new("redis client"));
    let files = Files::new(&server, &client);
    let mut redis = tls_redis(&files, true);
    let toml = store(
        &redis,
        &files.path("server-ca.pem"),
        PASSWORD,
        &client_certificate(&files),
    );
    let app = spawn_app_with(&toml).await;
    assert_eq!(
        launch(&app, "n-before-restart").await.status(),
        StatusCode::SEE_OTHER
    );

    redis.restart();
    let after = launch(&app, "n-after-restart").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    let page = open_session(&app, &after).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(readiness(&app).await, StatusCode::OK);
}
