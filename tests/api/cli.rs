//! The command line: `check-config`, and `serve` refusing invalid configurations.

use std::process::Output;

use tokio::process::Command;

use crate::helpers::{PASSWORD, TestPki, binary, write_config};

async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary());
    command.args(args).env_remove("RUST_LOG");
    for (key, _) in std::env::vars() {
        if key.starts_with("CONCUR_CONNECTOR") {
            command.env_remove(key);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().await.unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn check_config_prints_effective_settings_with_secrets_redacted() {
    let pki = TestPki::new("cli");
    let (_dir, path) = write_config(&pki, "");
    let output = run(&["check-config", "--config", path.to_str().unwrap()], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("username = \"TestConnectorUser\""), "{out}");
    assert!(out.contains("[REDACTED]"), "{out}");
    assert!(!out.contains(PASSWORD) && !stderr(&output).contains(PASSWORD));
}

#[tokio::test]
async fn environment_overrides_the_file_and_a_password_file_works() {
    let pki = TestPki::new("cli");
    let (dir, path) = write_config(&pki, "");
    let secret_file = dir.path().join("password.txt");
    std::fs::write(&secret_file, "from-a-file-secret\n").unwrap();
    let output = run(
        &["check-config", "--config", path.to_str().unwrap()],
        &[
            ("CONCUR_CONNECTOR__CONNECTOR__USERNAME", "EnvOverrideUser"),
            ("CONCUR_CONNECTOR__CONNECTOR__PASSWORD", ""),
            (
                "CONCUR_CONNECTOR__CONNECTOR__PASSWORD_FILE",
                secret_file.to_str().unwrap(),
            ),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("EnvOverrideUser"));
    assert!(!stdout(&output).contains("from-a-file-secret"));
}

/// Each row: extra TOML or env, the key the message must name, and why.
#[tokio::test]
async fn invalid_configurations_exit_with_status_2_naming_the_key() {
    let pki = TestPki::new("cli");
    let long_name = "u".repeat(51);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "",
            vec![("CONCUR_CONNECTOR__CONNECTOR__PASSWORD", "short")],
            "connector.password",
            "password under 10 characters",
        ),
        (
            "",
            vec![("CONCUR_CONNECTOR__CONNECTOR__USERNAME", &long_name)],
            "connector.username",
            "user name over 50 characters",
        ),
        (
            "",
            vec![("CONCUR_CONNECTOR__TLS__CERT_FILE", "/nonexistent/cert.pem")],
            "tls.cert_file",
            "missing certificate",
        ),
        (
            "",
            vec![("CONCUR_CONNECTOR__SERVER__BIND", "not-an-address")],
            "server.bind",
            "bad bind address",
        ),
        ("[extra]\nkey = 1\n", vec![], "extra", "unknown section"),
        (
            "",
            vec![("CONCUR_CONNECTOR__TLS__SELF_SIGNED", "true")],
            "tls.self_signed",
            "self-signed outside development",
        ),
        (
            "",
            vec![
                ("CONCUR_CONNECTOR__CONNECTOR__USERNAME", "dev-connector"),
                (
                    "CONCUR_CONNECTOR__CONNECTOR__PASSWORD",
                    "dev-password-change-me",
                ),
            ],
            "connector.password",
            "development credentials outside development",
        ),
        (
            "",
            vec![("CONCUR_CONNECTOR__SIMULATOR__ENABLED", "true")],
            "simulator.enabled",
            "the simulator outside development",
        ),
        (
            "[concur]\nclient_id = \"11111111-2222-4333-8444-555555555555\"\n\
             client_secret = \"66666666-7777-4888-9999-aaaaaaaaaaaa\"\n\
             redirect_uri = \"https://leu.example.com/launchexternalurl/v4/form\"\n\
             refresh_token = \"seed-refresh-token\"\n\
             auth_base_url = \"http://glz.api.concursolutions.com\"\n",
            vec![],
            "concur.auth_base_url",
            "a plain http concur url in production",
        ),
        (
            "[values]\nsource = \"http\"\n[values.http]\nurl = \"http://erp.example/p?q={search}\"\n",
            vec![],
            "values.http.url",
            "a plain http value source in production",
        ),
    ];
    for (extra, env, key, why) in cases {
        let (_dir, path) = write_config(&pki, extra);
        for command in ["check-config", "serve"] {
            let output = run(&[command, "--config", path.to_str().unwrap()], &env).await;
            assert_eq!(
                output.status.code(),
                Some(2),
                "{command}: {why}: {}",
                stderr(&output)
            );
            assert!(
                stderr(&output).contains(&format!("{key}:")),
                "{command}: {why}: {}",
                stderr(&output)
            );
        }
    }
}

#[tokio::test]
async fn an_unknown_key_type_and_a_self_signed_certificate_are_refused_with_status_2() {
    let pki = TestPki::new("cli");
    let (dir, path) = write_config(&pki, "");
    let key = dir.path().join("privkey.pem");

    std::fs::write(
        &key,
        "-----BEGIN DSA PRIVATE KEY-----\nMIIBuwIBAAKBgQ==\n-----END DSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let output = run(&["serve", "--config", path.to_str().unwrap()], &[]).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("tls.key_file:"),
        "{}",
        stderr(&output)
    );

    // A self-signed leaf in production mode.
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.path().join("fullchain.pem"), certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let output = run(&["check-config", "--config", path.to_str().unwrap()], &[]).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("tls.cert_file:") && stderr(&output).contains("self-signed"));
}

#[tokio::test]
async fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["check-config", "--help"],
    ] {
        let output = run(&args, &[]).await;
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(stdout(&output).contains("Usage"), "{args:?}");
    }
}

/// A port that was free a moment ago (the connector's port must be known before it binds,
/// because the simulator signs launch URLs for it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn serve_on_the_embedded_defaults_starts_the_simulator_and_prints_one_url_to_open() {
    use tokio::io::AsyncBufReadExt as _;
    let dir = tempfile::tempdir().unwrap();
    let connector_port = free_port();
    let mut command = Command::new(binary());
    command
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .env(
            "CONCUR_CONNECTOR__SERVER__BIND",
            format!("127.0.0.1:{connector_port}"),
        )
        .env("CONCUR_CONNECTOR__SIMULATOR__BIND", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("CONCUR_CONNECTOR") {
            command.env_remove(key);
        }
    }
    let mut child = command.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let url = loop {
        let Some(line) = lines.next_line().await.unwrap() else {
            panic!("serve ended without printing a URL: {seen:#?}");
        };
        if let Some(rest) = line.trim().strip_prefix("Open ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
        seen.push(line);
    };
    assert!(
        url.starts_with("https://localhost:") && url.ends_with('/'),
        "{url}"
    );
    let urls = seen.iter().filter(|l| l.contains("https://")).count();
    assert_eq!(urls, 0, "one URL only: {seen:#?}");

    // One certificate for both servers: a client trusting only the simulator's CA reaches both.
    let ca = std::fs::read(dir.path().join("certs/simulator/ca.pem")).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap();
    let page = client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let report = page.text().await.unwrap();
    let href = report
        .split("data-report=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&#x2f;", "/");
    let page = client
        .get(format!("{}{}", url.trim_end_matches('/'), href))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("data-launch=\"v4-entry-")
    );
    let health = client
        .get(format!("https://localhost:{connector_port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);

    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

#[tokio::test]
async fn development_mode_refuses_a_public_address() {
    // The container's case: no configuration file (the embedded development profile with its
    // public credentials) and a bind address on every interface.
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        &["serve"],
        &[
            (
                "CONCUR_CONNECTOR__SERVER__BIND",
                &format!("0.0.0.0:{}", free_port()),
            ),
            ("CONCUR_CONNECTOR__SIMULATOR__BIND", "127.0.0.1:0"),
            (
                "CONCUR_CONNECTOR__TLS__CERT_FILE",
                &dir.path().join("c.pem").display().to_string(),
            ),
            (
                "CONCUR_CONNECTOR__TLS__KEY_FILE",
                &dir.path().join("k.pem").display().to_string(),
            ),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("server.bind: `0.0.0.0:"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("loopback"), "{}", stderr(&output));
    assert!(
        !dir.path().join("c.pem").exists(),
        "nothing was prepared before the refusal"
    );

    // A development file with a public address is refused the same way.
    let pki = TestPki::new("cli");
    let (_dir, path) = write_config(&pki, "development = true\n");
    let output = run(
        &["check-config", "--config", path.to_str().unwrap()],
        &[("CONCUR_CONNECTOR__SERVER__BIND", "[::]:8443")],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("server.bind:"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn the_simulator_refuses_a_production_configuration_or_a_public_address() {
    let pki = TestPki::new("cli");
    let (dir, path) = write_config(&pki, "");
    let certs = dir.path().join("sim-certs");
    let certs = certs.to_str().unwrap();
    let output = run(
        &[
            "simulate",
            "--config",
            path.to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
            "--certs",
            certs,
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output)
            .contains("development: the simulator runs with a development configuration only"),
        "{}",
        stderr(&output)
    );

    // The embedded development profile, but on every interface.
    let output = run(&["simulate", "--bind", "0.0.0.0:0", "--certs", certs], &[]).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--bind: 0.0.0.0:0 is not a loopback address"),
        "{}",
        stderr(&output)
    );
    assert!(
        !dir.path().join("sim-certs").exists(),
        "no certificate was generated before the refusal"
    );
}
