//! The TLS floor Concur requires, and live certificate reload.

use reqwest::StatusCode;
use tokio::process::Command;

use crate::fixtures::until;
use crate::helpers::{PASSWORD, TestPki, USERNAME, captured_logs, spawn_app};

/// Runs `openssl s_client` against the app with extra arguments; returns its output.
async fn s_client(port: u16, args: &[&str]) -> String {
    let output = Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("openssl is installed (the test script installs it)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn a_tls_1_1_client_is_refused_by_the_server() {
    let app = spawn_app().await;
    // SECLEVEL=0 lets OpenSSL 3 offer TLS 1.1 at all, so the refusal is the server's.
    let output = s_client(app.port, &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]).await;
    assert!(
        output.contains("alert"),
        "the server must answer with an alert:\n{output}"
    );
    assert!(
        output.contains("SSL alert number"),
        "the alert comes from the server:\n{output}"
    );
    assert!(
        output.contains("Cipher is (NONE)"),
        "no cipher may be agreed:\n{output}"
    );
    assert!(
        !output.contains("BEGIN CERTIFICATE"),
        "no certificate may be served:\n{output}"
    );
}

#[tokio::test]
async fn a_tls_1_2_client_offering_only_non_ecdhe_suites_is_refused() {
    let app = spawn_app().await;
    let output = s_client(
        app.port,
        &["-tls1_2", "-cipher", "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES256-SHA:DHE-RSA-AES128-GCM-SHA256"],
    )
    .await;
    assert!(output.contains("alert handshake failure"), "{output}");
    assert!(!output.contains("BEGIN CERTIFICATE"), "{output}");
}

#[tokio::test]
async fn a_tls_1_2_client_negotiates_an_ecdhe_aead_suite_chosen_by_the_server() {
    let app = spawn_app().await;
    // The client prefers CHACHA20; the server's order puts AES-256-GCM first and wins.
    let output = s_client(
        app.port,
        &[
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384",
        ],
    )
    .await;
    assert!(output.contains("Protocol  : TLSv1.2"), "{output}");
    assert!(
        output.contains("Cipher is ECDHE-ECDSA-AES256-GCM-SHA384"),
        "{output}"
    );
}

#[tokio::test]
async fn tls_1_3_works_and_alpn_offers_h2() {
    let app = spawn_app().await;
    let output = s_client(app.port, &["-tls1_3", "-alpn", "h2,http/1.1"]).await;
    assert!(output.contains("TLSv1.3"), "{output}");
    assert!(output.contains("ALPN protocol: h2"), "{output}");

    let tls13 = app
        .pki
        .client_builder()
        .tls_version_min(reqwest::tls::Version::TLS_1_3)
        .build()
        .unwrap();
    let response = tls13
        .get(app.url("/system/v1.0/testconnection"))
        .basic_auth(USERNAME, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn replacing_the_certificate_files_serves_the_new_certificate_without_a_restart() {
    let app = spawn_app().await;
    let old_client = app.client.clone();
    let health = app.url("/healthz");
    assert_eq!(
        old_client.get(&health).send().await.unwrap().status(),
        StatusCode::OK
    );

    let renewed = TestPki::new("renewed");
    renewed.install(&app.cert_file(), &app.key_file());

    let new_client = renewed.client();
    until("new connections see the renewed certificate", async || {
        new_client.get(&health).send().await.is_ok()
    })
    .await;

    // A fresh client trusting only the old CA is now refused…
    let fresh_old = app.pki.client();
    assert!(fresh_old.get(&health).send().await.is_err());
    // …while the connection opened before the renewal keeps working.
    assert_eq!(
        old_client.get(&health).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_broken_new_certificate_is_logged_and_the_old_one_stays() {
    let app = spawn_app().await;
    std::fs::write(
        app.cert_file(),
        "-----BEGIN CERTIFICATE-----\nnot a certificate\n",
    )
    .unwrap();
    until("the failed reload is logged", async || {
        captured_logs().contains("tls certificate reload failed")
    })
    .await;
    let fresh = app.pki.client();
    let response = fresh.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn sighup_reloads_the_certificate_of_the_running_binary() {
    let pki = TestPki::new("sighup");
    // watch = false: only the signal can trigger the reload.
    let (dir, path) = crate::helpers::write_config(&pki, "");
    let config = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[tls]\n", "[tls]\nwatch = false\n");
    // Pick a free port for the child process.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &path,
        // The server's bind only (the admin listener's comes later and keeps port 0).
        config.replacen("127.0.0.1:0", &format!("127.0.0.1:{port}"), 1),
    )
    .unwrap();
    let mut child = Command::new(crate::helpers::binary())
        .args(["serve", "--config", path.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("https://localhost:{port}/healthz");
    let old = pki.client();
    until("the binary serves", async || {
        old.get(&url).send().await.is_ok()
    })
    .await;

    let renewed = TestPki::new("renewed-by-sighup");
    renewed.install(
        &dir.path().join("fullchain.pem"),
        &dir.path().join("privkey.pem"),
    );
    let new_client = renewed.client();
    assert!(
        new_client.get(&url).send().await.is_err(),
        "no reload before the signal"
    );

    let pid = child.id().unwrap().to_string();
    let status = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    until(
        "the renewed certificate is served after SIGHUP",
        async || new_client.get(&url).send().await.is_ok(),
    )
    .await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP must not stop the server"
    );
    child.kill().await.unwrap();
}
