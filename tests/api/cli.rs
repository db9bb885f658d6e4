//! The command line: `check-config`, and `serve` refusing invalid configurations.

use std::process::Output;

use tokio::process::Command;

use crate::fixtures::free_port;
use crate::helpers::{PASSWORD, TestPki, binary, write_config};

pub async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
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

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
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
            "[picker]\ndone_wait = \"30s\"\n",
            vec![("CONCUR_CONNECTOR__SERVER__REQUEST_TIMEOUT", "30s")],
            "picker.done_wait",
            "Done would wait as long as the request may take",
        ),
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
        (
            "[values]\nmax_results = 0\n",
            vec![],
            "values.max_results",
            "no room for a single value",
        ),
        (
            "[values]\nsource = \"csv\"\n",
            vec![],
            "values.csv.path",
            "a csv source without its file",
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

    // Only the PEM label and a truncated header, not a key; spelled in parts so that
    // a search of the repository for PEM private-key markers finds none.
    let label = "DSA PRIVATE KEY";
    std::fs::write(
        &key,
        format!("-----BEGIN {label}-----\nMIIBuwIBAAKBgQ==\n-----END {label}-----\n"),
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
/// `serve` on the embedded defaults in `dir`, the connector on `connector_port` and the
/// simulator on a free port, without the test process's own `CONCUR_CONNECTOR*` settings;
/// the banner goes to a piped stderr.
fn embedded_serve(dir: &std::path::Path, connector_port: u16) -> Command {
    let mut command = Command::new(binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("CONCUR_CONNECTOR") {
            command.env_remove(key);
        }
    }
    command
        .arg("serve")
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env(
            "CONCUR_CONNECTOR__SERVER__BIND",
            format!("127.0.0.1:{connector_port}"),
        )
        .env("CONCUR_CONNECTOR__SIMULATOR__BIND", "127.0.0.1:0")
        .env("CONCUR_CONNECTOR__ADMIN__BIND", "127.0.0.1:0")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

#[tokio::test]
async fn serve_on_the_embedded_defaults_starts_the_simulator_and_prints_one_url_to_open() {
    use tokio::io::AsyncBufReadExt as _;
    let dir = tempfile::tempdir().unwrap();
    let connector_port = free_port();
    let mut command = embedded_serve(dir.path(), connector_port);
    command.stdout(std::process::Stdio::null());
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

/// What the README's first command touches, as a git repository of its own: the repository's
/// tracked `.gitignore`, `certs/` and `config/` (where `serve` on the embedded defaults
/// writes), committed.
fn scratch_checkout() -> tempfile::TempDir {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let tracked = git(repo, &["ls-files", "--", ".gitignore", "certs", "config"]);
    assert!(
        tracked.lines().any(|path| path == ".gitignore"),
        "{tracked}"
    );
    for path in tracked.lines() {
        let target = dir.path().join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(repo.join(path), target).unwrap();
    }
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(
        dir.path(),
        &[
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.com",
            "commit",
            "-q",
            "-m",
            "scratch",
        ],
    );
    dir
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `serve` on the embedded defaults in `dir` until it prints the URL to open, then stops
/// it with SIGTERM. Returns its log (stdout) and banner (stderr) lines.
async fn serve_embedded_once(dir: &std::path::Path) -> (Vec<String>, Vec<String>) {
    use tokio::io::AsyncBufReadExt as _;
    let mut command = embedded_serve(dir, free_port());
    command.stdout(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut logs = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let logs = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = logs.next_line().await.unwrap() {
            lines.push(line);
        }
        lines
    });
    let mut banner = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let started = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        while let Some(line) = banner.next_line().await.unwrap() {
            let open = line.trim().starts_with("Open https://");
            seen.push(line);
            if open {
                return true;
            }
        }
        false
    })
    .await;
    if started != Ok(true) {
        child.start_kill().ok();
        child.wait().await.unwrap();
        panic!("serve did not start: {seen:#?} {:#?}", logs.await.unwrap());
    }
    let pid = child.id().expect("serve still runs").to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(stopped.success());
    // Either a clean shutdown, or the signal's default action when it came before the server
    // set up its handler; both are how a user's Ctrl-C ends the run.
    child.wait().await.unwrap();
    let logs = logs.await.unwrap();
    (logs, seen)
}

#[tokio::test]
async fn the_first_run_on_the_embedded_defaults_leaves_git_status_clean() {
    let dir = scratch_checkout();
    serve_embedded_once(dir.path()).await;
    // The run wrote its development CA, leaf and keys, and git ignores all of it.
    for file in ["ca.pem", "ca-key.pem", "cert.pem", "key.pem"] {
        assert!(
            dir.path().join("certs/simulator").join(file).is_file(),
            "{file}"
        );
    }
    assert_eq!(git(dir.path(), &["status", "--porcelain"]), "");
}

#[tokio::test]
async fn serve_replaces_a_local_copy_of_the_leaked_development_ca_and_says_why() {
    let dir = scratch_checkout();
    let leaked = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/leaked-ca.pem"),
    )
    .unwrap();
    let certs = dir.path().join("certs/simulator");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("ca.pem"), &leaked).unwrap();
    // A stand-in for its key (the real one is no longer anywhere in the repository).
    let key = rcgen::KeyPair::generate().unwrap();
    std::fs::write(certs.join("ca-key.pem"), key.serialize_pem()).unwrap();

    let (logs, _) = serve_embedded_once(dir.path()).await;
    let warning = logs
        .iter()
        .find(|line| line.contains("replacing the development CA"))
        .unwrap_or_else(|| panic!("no warning: {logs:#?}"));
    assert!(
        warning.contains("WARN") && warning.contains("private key was published"),
        "{warning}"
    );
    let replaced = std::fs::read_to_string(certs.join("ca.pem")).unwrap();
    assert_ne!(replaced, leaked);
    assert!(replaced.contains("BEGIN CERTIFICATE"));
    assert_eq!(git(dir.path(), &["status", "--porcelain"]), "");
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
