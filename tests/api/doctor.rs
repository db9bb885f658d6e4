//! `concur-connector doctor`: passes against a correctly set-up instance (the tests' server
//! with an RSA certificate from a test CA given by --ca-file, the simulator as Concur), and
//! each broken piece fails its own line naming the fix.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Output, Stdio};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio::process::Command;

use crate::fixtures::{free_port, until};
use crate::helpers::{
    PASSWORD, TestApp, TestPki, binary, spawn_app, spawn_app_with, spawn_app_with_pki, write_config,
};
use crate::redis_server::RedisServer;
use crate::redis_tls::{Files, PASSWORD as REDIS_PASSWORD, store, tls_redis};
use crate::with_simulator::world_with_pki;

/// Runs `doctor` with `config`, `--host` and the CA of `pki` as `--ca-file`.
async fn doctor(config: &Path, host: &str, ca_pem: &str, extra: &[&str]) -> (Option<i32>, String) {
    let ca_file = config.with_file_name("doctor-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let mut command = Command::new(binary());
    command
        .args(["doctor", "--config", config.to_str().unwrap()])
        .args(["--host", host, "--ca-file", ca_file.to_str().unwrap()])
        .args(["--timeout", "5s"])
        .args(extra)
        .env_remove("RUST_LOG");
    for (key, _) in std::env::vars() {
        if key.starts_with("CONCUR_CONNECTOR") {
            command.env_remove(key);
        }
    }
    let output: Output = command.output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// Doctor against a running test server, with its own configuration and CA.
async fn doctor_app(app: &TestApp) -> (Option<i32>, String) {
    doctor(
        &app.dir.path().join("config.toml"),
        &app.base_url,
        &app.pki.ca_pem,
        &[],
    )
    .await
}

/// The one line of `check`, which must exist.
fn line<'a>(out: &'a str, check: &str) -> &'a str {
    out.lines()
        .find(|l| {
            l.get(6..)
                .is_some_and(|rest| rest.starts_with(&format!("{check}:")))
        })
        .unwrap_or_else(|| panic!("no {check} line in:\n{out}"))
}

/// The fix `check`'s line names (after its last "; ").
fn named_fix<'a>(out: &'a str, check: &str) -> &'a str {
    let line = line(out, check);
    line.rsplit_once("; ")
        .unwrap_or_else(|| panic!("no fix in: {line}"))
        .1
}

fn assert_fails(out: &str, check: &str, finding: &str, fix: &str) {
    let line = line(out, check);
    assert!(line.starts_with("FAIL  "), "{line}\n{out}");
    assert!(line.contains(finding), "{line}");
    assert!(
        line.contains(fix) && !named_fix(out, check).is_empty(),
        "{line}"
    );
}

/// The fix of the `redis` line and of the `queue` line (the same Redis) starts with `fix`.
fn assert_redis_fix(out: &str, fix: &str) {
    for check in ["redis", "queue"] {
        let named = named_fix(out, check);
        assert!(named.starts_with(fix), "{check}: {named}");
    }
}

#[tokio::test]
async fn doctor_passes_against_a_correctly_set_up_instance() {
    let world = world_with_pki(TestPki::rsa("doctor", |_| {}), "").await;
    // The server fetched its company token at start-up.
    until("the server's company token", async || {
        world.sim.token_grants("password") == 1
    })
    .await;
    let (code, out) = doctor_app(&world.app).await;
    assert_eq!(code, Some(0), "{out}");
    for check in [
        "dns",
        "tls",
        "old tls",
        "chain",
        "key",
        "expiry",
        "name",
        "test connection",
        "launch v4",
        "launch v1",
        "fetch list",
        "fetch attendee",
        "event notification",
        "concur token",
        "values",
        "fetch list source",
        "attendee source",
        "queue",
    ] {
        assert!(line(&out, check).starts_with("ok    "), "{check}:\n{out}");
    }
    assert!(line(&out, "redis").starts_with("skip  "), "{out}");
    assert!(line(&out, "dns").contains("resolves to 127.0.0.1"), "{out}");
    assert!(
        line(&out, "tls").contains("TLS 1.2 negotiates TLS_ECDHE_RSA_WITH_"),
        "{out}"
    );
    assert!(
        line(&out, "old tls").contains("TLS 1.0 and 1.1 refused"),
        "{out}"
    );
    assert!(
        line(&out, "chain").contains("--ca-file") && line(&out, "chain").contains("private CA"),
        "the line says the chain ends at a private CA: {out}"
    );
    assert!(line(&out, "key").contains("RSA 2048 bits"), "{out}");
    assert!(line(&out, "expiry").contains("expires in"), "{out}");
    assert!(line(&out, "test connection").contains("200"), "{out}");
    let host = world.sim.base_url().host_str().unwrap().to_owned();
    let token = line(&out, "concur token");
    assert!(
        token.contains("refreshed") && token.contains(&host),
        "{token}"
    );
    assert_eq!(
        world.sim.token_grants("refresh_token"),
        1,
        "one refresh against Concur"
    );
    assert!(out.contains("checks passed"), "{out}");
    for secret in [PASSWORD, concur_connector::sim::DEFAULT_CLIENT_SECRET] {
        assert!(!out.contains(secret), "a secret was printed: {out}");
    }
    // The rotated refresh token was saved where the server keeps it: a second run refreshes
    // with it.
    let (code, out) = doctor_app(&world.app).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(world.sim.token_grants("refresh_token"), 2);
    // --no-refresh reads the saved state and leaves it as it is.
    let (code, out) = doctor(
        &world.app.dir.path().join("config.toml"),
        &world.app.base_url,
        &world.app.pki.ca_pem,
        &["--no-refresh"],
    )
    .await;
    assert_eq!(code, Some(0), "{out}");
    let token = line(&out, "concur token");
    assert!(
        token.contains("not refreshed") && token.contains(&host),
        "{token}"
    );
    assert_eq!(world.sim.token_grants("refresh_token"), 2, "no refresh");
}

#[tokio::test]
async fn an_unresolvable_host_fails_the_dns_line() {
    let app = spawn_app().await;
    let config = app.dir.path().join("config.toml");
    let host = "https://doctor-check.invalid";
    let (code, out) = doctor(&config, host, &app.pki.ca_pem, &[]).await;
    assert_eq!(code, Some(1), "{out}");
    assert_fails(
        &out,
        "dns",
        "doctor-check.invalid does not resolve",
        "publish an A or AAAA record",
    );
}

/// `openssl s_server` on a free port with `cert` and `key`, killed when dropped.
struct OpensslServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl OpensslServer {
    async fn start(cert_pem: &str, key_pem: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        let port = free_port();
        let child = StdCommand::new("openssl")
            .args(["s_server", "-quiet", "-www"])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .args([
                "-cert",
                cert.to_str().unwrap(),
                "-key",
                key.to_str().unwrap(),
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl is installed (scripts/test.sh installs it)");
        until("openssl s_server listens", async || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    fn host(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_tls_1_0_only_server_fails_the_tls_lines() {
    let pki = TestPki::rsa("old", |_| {});
    let server = OpensslServer::start(
        &pki.leaf_pem,
        &pki.key_pem,
        &["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"],
    )
    .await;
    let (_dir, config) = write_config(&pki, "");
    let (code, out) = doctor(&config, &server.host(), &pki.ca_pem, &[]).await;
    assert_eq!(code, Some(1), "{out}");
    assert_fails(
        &out,
        "tls",
        "no TLS 1.2 handshake with an ECDHE suite",
        "enable TLS 1.2 with ECDHE-RSA-AES128-GCM-SHA256",
    );
    assert_fails(
        &out,
        "old tls",
        "TLS 1.0 accepted",
        "switch off TLS 1.0 and 1.1",
    );
}

#[tokio::test]
async fn a_server_without_ecdhe_suites_fails_the_tls_line() {
    let pki = TestPki::rsa("rsa-kx", |_| {});
    let server = OpensslServer::start(
        &pki.leaf_pem,
        &pki.key_pem,
        &["-tls1_2", "-cipher", "AES128-GCM-SHA256:AES256-GCM-SHA384"],
    )
    .await;
    let (_dir, config) = write_config(&pki, "");
    let (code, out) = doctor(&config, &server.host(), &pki.ca_pem, &[]).await;
    assert_eq!(code, Some(1), "{out}");
    assert_fails(
        &out,
        "tls",
        "no TLS 1.2 handshake with an ECDHE suite",
        "ECDHE suites, preferred by the server",
    );
    assert!(line(&out, "old tls").starts_with("ok    "), "{out}");
}

#[tokio::test]
async fn a_self_signed_or_incomplete_chain_fails_the_chain_line() {
    let key = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "self-signed leaf");
    let self_signed = params.self_signed(&key).unwrap();
    let server = OpensslServer::start(&self_signed.pem(), &key.serialize_pem(), &[]).await;
    let pki = TestPki::rsa("unrelated", |_| {});
    let (_dir, config) = write_config(&pki, "");
    let (code, out) = doctor(&config, &server.host(), &pki.ca_pem, &[]).await;
    assert_eq!(code, Some(1), "{out}");
    assert_fails(
        &out,
        "chain",
        "the certificate is self-signed",
        "get one from a public CA",
    );

    // A leaf from an intermediate CA, served without the intermediate.
    let root_key = KeyPair::generate().unwrap();
    let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.distinguished_name.push(DnType::CommonName, "root CA");
    let root_pem = root.self_signed(&root_key).unwrap().pem();
    let root = Issuer::new(root, root_key);
    let middle_key = KeyPair::generate().unwrap();
    let mut middle = CertificateParams::new(Vec::<String>::new()).unwrap();
    middle.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    middle
        .distinguished_name
        .push(DnType::CommonName, "intermediate CA");
    middle.signed_by(&middle_key, &root).unwrap();
    let middle = Issuer::new(middle, middle_key);
    let leaf_key =
        KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &middle)
        .unwrap();
    let server = OpensslServer::start(&leaf.pem(), &leaf_key.serialize_pem(), &[]).await;
    let (code, out) = doctor(&config, &server.host(), &root_pem, &[]).await;
    assert_eq!(code, Some(1), "{out}");
    assert_fails(
        &out,
        "chain",
        "incomplete chain: only the certificate was sent",
        "serve the full chain",
    );
}

#[tokio::test]
async fn an_ecdsa_certificate_fails_the_key_line() {
    // The tests' default certificate has an ECDSA P-256 key.
    let app = spawn_app().await;
    let (code, out) = doctor_app(&app).await;
    assert_eq!(code, Some(1), "{out}");
    assert_fails(
        &out,
        "key",
        "the certificate's key is ECDSA",
        "issue it with an RSA key",
    );
    assert!(line(&out, "chain").starts_with("ok    "), "{out}");
}

#[tokio::test]
async fn a_certificate_expiring_in_10_days_fails_the_expiry_line() {
    let soon = TestPki::rsa("soon", |params| {
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::hours(10 * 24 + 1);
    });
    let app = spawn_app_with_pki(soon, "", "").await;
    let (code, out) = doctor_app(&app).await;
    assert_eq!(code, Some(1), "{out}");
    assert_fails(
        &out,
        "expiry",
        "expires in 10 days",
        "renew the certificate",
    );
    assert!(line(&out, "key").starts_with("ok    "), "{out}");
}

#[tokio::test]
async fn wrong_credentials_fail_test_connection_naming_the_registration() {
    let app = spawn_app().await;
    let config = std::fs::read_to_string(app.dir.path().join("config.toml")).unwrap();
    let other = app.dir.path().join("other-password.toml");
    std::fs::write(&other, config.replace(PASSWORD, "another-password-4711")).unwrap();
    let (code, out) = doctor(&other, &app.base_url, &app.pki.ca_pem, &[]).await;
    assert_eq!(code, Some(1), "{out}");
    assert_fails(
        &out,
        "test connection",
        "GET /system/v1.0/testconnection: 401",
        "re-enter the user name and password",
    );
    assert!(!out.contains("another-password-4711"), "{out}");
}

#[tokio::test]
async fn a_disabled_or_misrouted_endpoint_fails_its_probe() {
    let app = spawn_app_with("[fetch_list]\nenabled = false\n").await;
    // Doctor reads a configuration that serves Fetch List and moves notifications: the
    // server at the Host Name serves neither there.
    let (_dir, config) = write_config(&app.pki, "[notification]\npath = \"/erp/notify\"\n");
    let (code, out) = doctor(&config, &app.base_url, &app.pki.ca_pem, &[]).await;
    assert_eq!(code, Some(1), "{out}");
    assert_fails(
        &out,
        "fetch list",
        "POST /concur/list/v1.2/fetch: 404",
        "route /concur/list/v1.2/fetch to the connector",
    );
    assert_fails(
        &out,
        "event notification",
        "POST /erp/notify: 404",
        "notification.path",
    );
    assert!(line(&out, "test connection").starts_with("ok    "), "{out}");
}

#[tokio::test]
async fn a_broken_token_fails_naming_the_fix() {
    let world = world_with_pki(TestPki::rsa("token", |_| {}), "").await;
    let config = std::fs::read_to_string(world.app.dir.path().join("config.toml")).unwrap();
    let state_line = config.lines().find(|l| l.starts_with("state_dir")).unwrap();
    let state_file = Path::new(state_line.split('"').nth(1).unwrap()).join("concur-token.json");
    until("the server saved its company token", async || {
        state_file.is_file()
    })
    .await;
    // The saved state holds a refresh token Concur never issued, and no company request
    // token is configured to recover with.
    std::fs::write(
        &state_file,
        r#"{"version": 1, "refresh_token": "not-a-token-concur-issued"}"#,
    )
    .unwrap();
    let without_grant: String = config
        .lines()
        .filter(|l| !l.starts_with("company_id") && !l.starts_with("company_request_token"))
        .map(|l| format!("{l}\n"))
        .collect();
    let doctor_config = world.app.dir.path().join("doctor.toml");
    std::fs::write(&doctor_config, without_grant).unwrap();
    let (code, out) = doctor(
        &doctor_config,
        &world.app.base_url,
        &world.app.pki.ca_pem,
        &[],
    )
    .await;
    assert_eq!(code, Some(1), "{out}");
    assert_fails(
        &out,
        "concur token",
        "no company token",
        "Concur refused the saved refresh token: get a new company request token",
    );
    assert!(!out.contains("not-a-token-concur-issued"), "{out}");
}

#[tokio::test]
async fn an_unreadable_csv_fails_the_values_line() {
    let app = spawn_app().await;
    let missing = app.dir.path().join("missing-values.csv");
    let (_dir, config) = write_config(
        &app.pki,
        &format!("[values]\nsource = \"csv\"\n[values.csv]\npath = {missing:?}\n"),
    );
    let (code, out) = doctor(&config, &app.base_url, &app.pki.ca_pem, &[]).await;
    assert_eq!(code, Some(1), "{out}");
    assert_fails(
        &out,
        "values",
        "values.csv.path",
        "fix the [values] source (a readable CSV file",
    );
    // This configuration's queue file does not exist: doctor does not create it.
    assert!(line(&out, "queue").contains("no queue file yet"), "{out}");
    assert!(!config.with_file_name("notifications.redb").exists());
}

#[tokio::test]
async fn redis_down_fails_the_redis_and_queue_lines() {
    let mut redis = RedisServer::start();
    let store = format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"{}\"\nredis_timeout = \"500ms\"\n",
        redis.url()
    );
    let app = spawn_app_with(&store).await;
    let (_, out) = doctor_app(&app).await;
    assert!(line(&out, "redis").starts_with("ok    "), "{out}");
    assert!(line(&out, "queue").starts_with("ok    "), "{out}");
    redis.stop();
    let (code, out) = doctor_app(&app).await;
    assert_eq!(code, Some(1), "{out}");
    assert_fails(&out, "redis", "PING failed", "start Redis");
    assert_redis_fix(&out, "start Redis");
    assert_fails(
        &out,
        "queue",
        "the redis queue cannot be read",
        "start Redis",
    );
}

#[tokio::test]
async fn doctor_exits_2_for_a_configuration_that_does_not_load_or_a_bad_host() {
    let app = spawn_app().await;
    let config = app.dir.path().join("config.toml");
    let (code, out) = doctor(&config, "ftp://localhost", &app.pki.ca_pem, &[]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--host"), "{out}");
    let broken = app.dir.path().join("broken.toml");
    std::fs::write(&broken, "[server]\nbind = \"nowhere\"\n").unwrap();
    let (code, out) = doctor(&broken, &app.base_url, &app.pki.ca_pem, &[]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("server.bind"), "{out}");
}

#[tokio::test]
async fn dead_letters_are_a_warning_on_the_passing_queue_line() {
    use concur_connector::store::queue::now_millis;
    let app = spawn_app().await;
    // The server holds the embedded queue file: doctor asks it over its admin socket.
    let queue = &app.notifications.as_ref().unwrap().queue;
    queue
        .enqueue("doctor-key", "<Notification/>", now_millis())
        .await
        .unwrap();
    queue
        .enqueue("other-key", "<Notification/>", now_millis())
        .await
        .unwrap();
    let claimed = queue
        .claim(
            "doctor-test",
            std::time::Duration::from_secs(60),
            now_millis(),
        )
        .await
        .unwrap()
        .unwrap();
    queue.dead_letter(claimed.ticket, "given up").await.unwrap();
    let (_, out) = doctor_app(&app).await;
    let queue_line = line(&out, "queue");
    assert!(queue_line.starts_with("ok    "), "{out}");
    assert!(
        queue_line.contains("2 jobs; warning: 1 dead letters")
            && queue_line.contains("notifications list"),
        "{queue_line}"
    );
}

#[tokio::test]
async fn doctor_checks_connector_public_url_without_host_and_fails_without_either() {
    let app = spawn_app_with_pki(TestPki::rsa("public-url", |_| {}), "", "").await;
    let config = std::fs::read_to_string(app.dir.path().join("config.toml")).unwrap();
    let password_line = format!("password = \"{PASSWORD}\"");
    let with_url = app.dir.path().join("public-url.toml");
    std::fs::write(
        &with_url,
        config.replace(
            &password_line,
            &format!("{password_line}\npublic_url = \"{}\"", app.base_url),
        ),
    )
    .unwrap();
    let ca_file = app.dir.path().join("ca.pem");
    std::fs::write(&ca_file, &app.pki.ca_pem).unwrap();
    let run = |config: PathBuf| {
        let ca_file = ca_file.clone();
        async move {
            let output = Command::new(binary())
                .args(["doctor", "--config", config.to_str().unwrap()])
                .args(["--ca-file", ca_file.to_str().unwrap()])
                .env_remove("CONCUR_CONNECTOR_CONFIG")
                .output()
                .await
                .unwrap();
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
            )
        }
    };
    let (code, out) = run(with_url).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(line(&out, "name").contains("valid for localhost"), "{out}");

    let (code, out) = run(app.dir.path().join("config.toml")).await;
    assert_eq!(code, Some(1), "{out}");
    assert_fails(
        &out,
        "public host",
        "no host name to check",
        "set [connector] public_url",
    );
    assert!(!out.contains("test connection:"), "{out}");
}

/// Doctor's output for a configuration reaching the TLS Redis of `files` (an ACL user, no
/// client certificate) trusting the CA in `ca` with `password`; the connector checked is
/// `app`.
async fn doctor_tls_redis(app: &TestApp, files: &Files, ca: &str, password: &str) -> String {
    let redis = tls_redis(files, false);
    let (_dir, config) = write_config(&app.pki, &store(&redis, &files.path(ca), password, ""));
    doctor(&config, &app.base_url, &app.pki.ca_pem, &[]).await.1
}

#[tokio::test]
async fn a_tls_redis_with_the_right_ca_and_acl_user_passes_the_redis_line() {
    let app = spawn_app().await;
    let files = Files::new(&TestPki::new("redis server"), &TestPki::new("redis client"));
    let out = doctor_tls_redis(&app, &files, "server-ca.pem", REDIS_PASSWORD).await;
    assert_eq!(
        line(&out, "redis"),
        "ok    redis: PING answered PONG",
        "{out}"
    );
    assert!(!out.contains(REDIS_PASSWORD), "{out}");
}

#[tokio::test]
async fn a_tls_redis_signed_by_another_ca_fails_the_redis_line_naming_the_ca_file() {
    let app = spawn_app().await;
    let files = Files::new(&TestPki::new("redis server"), &TestPki::new("redis client"));
    // The clients' CA did not sign the server's certificate.
    let out = doctor_tls_redis(&app, &files, "clients-ca.pem", REDIS_PASSWORD).await;
    assert_fails(
        &out,
        "redis",
        "invalid peer certificate",
        "store.redis_ca_file",
    );
    // The fix is the CA file, not "start Redis".
    assert_redis_fix(&out, "TLS: check that store.redis_ca_file holds the CA");
    assert!(!out.contains(REDIS_PASSWORD), "{out}");
}

#[tokio::test]
async fn a_wrong_acl_password_fails_the_redis_line_without_printing_it() {
    let app = spawn_app().await;
    let files = Files::new(&TestPki::new("redis server"), &TestPki::new("redis client"));
    let wrong = "wrong-acl-pw-6502-secret";
    let out = doctor_tls_redis(&app, &files, "server-ca.pem", wrong).await;
    assert_fails(&out, "redis", "PING failed", "store.redis_password");
    assert_redis_fix(&out, "check store.redis_username and store.redis_password");
    assert!(
        !out.contains(wrong) && !out.contains(REDIS_PASSWORD),
        "{out}"
    );
}
