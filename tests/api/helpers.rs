//! Spawning the app, a test PKI, and a client that trusts only the test CA.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use concur_connector::config::{self, LogFormat, LogSettings, Origin};
use concur_connector::startup::{Application, ShutdownHandle};
use concur_connector::{telemetry, tls};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

pub use crate::fixtures::{PASSWORD, USERNAME};

/// A CA and a leaf for `localhost`/`127.0.0.1` signed by it, as PEM.
pub struct TestPki {
    pub ca_pem: String,
    pub leaf_pem: String,
    pub key_pem: String,
}

impl TestPki {
    pub fn new(name: &str) -> Self {
        Self::issue(name, KeyPair::generate().unwrap(), |_| {})
    }

    /// A CA and an RSA 2048 leaf (what Concur requires), `adjust` changing the leaf's
    /// parameters (validity, names) before it is signed.
    pub fn rsa(name: &str, adjust: impl FnOnce(&mut CertificateParams)) -> Self {
        let key =
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
        Self::issue(name, key, adjust)
    }

    fn issue(name: &str, leaf_key: KeyPair, adjust: impl FnOnce(&mut CertificateParams)) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} leaf"));
        adjust(&mut leaf_params);
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        Self {
            ca_pem: ca_cert.pem(),
            leaf_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        }
    }

    /// Writes leaf and key the way certbot's renewal does: new files renamed into place.
    pub fn install(&self, cert_file: &Path, key_file: &Path) {
        write_atomically(key_file, &self.key_pem);
        write_atomically(cert_file, &self.leaf_pem);
    }

    /// A client that trusts only this CA (verification stays on).
    pub fn client(&self) -> reqwest::Client {
        self.client_builder().build().unwrap()
    }

    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap();
        reqwest::Client::builder().tls_certs_only([ca])
    }
}

pub fn write_atomically(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::File::create(&tmp)
        .unwrap()
        .write_all(content.as_bytes())
        .unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Everything a test needs to talk to one running server.
pub struct TestApp {
    pub base_url: String,
    pub port: u16,
    pub pki: TestPki,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub shutdown: ShutdownHandle,
    /// The server's Event Notification queue (`None` when `notification.enabled = false`).
    pub notifications: Option<concur_connector::notify::Notifications>,
    /// `http://127.0.0.1:PORT` of the admin listener (`None` when `admin.enabled = false`).
    pub admin_url: Option<String>,
}

impl TestApp {
    pub fn cert_file(&self) -> PathBuf {
        self.dir.path().join("fullchain.pem")
    }
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("privkey.pem")
    }
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Posts a callout's XML body to `path` as Concur does: HTTP Basic with the test
    /// credentials, `application/xml; charset=utf-8`.
    pub async fn post_callout(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .basic_auth(USERNAME, Some(PASSWORD))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/xml; charset=utf-8",
            )
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.stop();
    }
}

/// Splits TOML into its top-level keys (the lines before the first `[table]`, such as
/// `development = true`) and the rest, so the keys can be placed before any table.
pub fn split_top_level(toml: &str) -> (String, String) {
    let lines: Vec<&str> = toml.lines().collect();
    let first_table = lines
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .unwrap_or(lines.len());
    (
        lines[..first_table].join("\n"),
        lines[first_table..].join("\n"),
    )
}

/// Writes a production-style config (CA-signed certificate, test credentials) plus `extra`
/// TOML lines, and returns the directory and the config path. Top-level keys at the start
/// of `extra` (e.g. `development = true`) stay top-level.
pub fn write_config(pki: &TestPki, extra: &str) -> (tempfile::TempDir, PathBuf) {
    write_config_with_server(pki, "", extra)
}

/// [`write_config`] with `server` lines added to the `[server]` table.
pub fn write_config_with_server(
    pki: &TestPki,
    server: &str,
    extra: &str,
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("fullchain.pem");
    let key = dir.path().join("privkey.pem");
    pki.install(&cert, &key);
    let path = dir.path().join("config.toml");
    let (top, extra) = split_top_level(extra);
    // Each server its own work queue file (the default is relative to the working
    // directory, and a queue file is held by one process), unless the test gives one.
    let queue = if extra.contains("[queue]") {
        String::new()
    } else {
        format!(
            "[queue]\npath = {:?}\n",
            dir.path().join("notifications.redb")
        )
    };
    // Each server its own admin port (the default is a fixed one), unless the test gives one.
    let admin = if extra.contains("[admin]") {
        ""
    } else {
        "[admin]\nbind = \"127.0.0.1:0\"\n"
    };
    let toml = format!(
        r#"
{top}
[server]
bind = "127.0.0.1:0"
{server}
[tls]
cert_file = "{cert}"
key_file = "{key}"
[connector]
username = "{USERNAME}"
password = "{PASSWORD}"
[log]
level = "debug"
{queue}
{admin}
{extra}
"#,
        cert = cert.display(),
        key = key.display(),
    );
    std::fs::write(&path, toml).unwrap();
    (dir, path)
}

/// Starts the real server on a random port; `extra` adds TOML (sections may repeat keys
/// only if they are new).
pub async fn spawn_app_with(extra: &str) -> TestApp {
    spawn_app_with_server("", extra).await
}

/// [`spawn_app_with`] with `server` lines added to the `[server]` table.
pub async fn spawn_app_with_server(server: &str, extra: &str) -> TestApp {
    tls::install_default_provider();
    spawn_app_with_pki(TestPki::new("spawned"), server, extra).await
}

/// [`spawn_app_with_server`] serving a certificate of `pki`.
pub async fn spawn_app_with_pki(pki: TestPki, server: &str, extra: &str) -> TestApp {
    init_logs();
    tls::install_default_provider();
    let (dir, path) = write_config_with_server(&pki, server, extra);
    let settings = config::load_with_env(&Origin::File(path), Some(Default::default()))
        .expect("test configuration is valid");
    let app = Application::build(settings).await.expect("app builds");
    let port = app.local_addr().port();
    let shutdown = app.shutdown_handle();
    let notifications = app.notifications();
    let admin_url = app.admin_addr().map(|a| format!("http://{a}"));
    tokio::spawn(app.run_until_stopped());
    TestApp {
        notifications,
        admin_url,
        base_url: format!("https://localhost:{port}"),
        port,
        client: pki.client(),
        pki,
        dir,
        shutdown,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with("").await
}

/// Starts capturing this process's log lines through the app's real subscriber (spawning an
/// app does this too); [`captured_logs`] reads them.
pub fn capture_logs() {
    init_logs();
}

/// Every log line of this test process (nextest runs one test per process).
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(Default::default)
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the app's real subscriber, writing into the capture buffer. `TEST_LOG=1` also
/// echoes it to stderr.
fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let buffer = log_buffer().clone();
        let settings = LogSettings {
            format: LogFormat::Json,
            level: "debug".to_owned(),
        };
        telemetry::init(&settings, move || Capture(buffer.clone()));
    });
}

/// The path of the built binary, for CLI tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_concur-connector")
}

/// The real binary serving `config` on `port` (killed when dropped).
pub fn start_binary(config: &Path, port: u16) -> tokio::process::Child {
    tokio::process::Command::new(binary())
        .args(["serve", "--config", config.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .env(
            "CONCUR_CONNECTOR__SERVER__BIND",
            format!("127.0.0.1:{port}"),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Waits until the server at `base` answers `/healthz` with `200`.
pub async fn wait_until_serving(client: &reqwest::Client, base: &str) {
    crate::fixtures::until("the connector serves", async || {
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
    })
    .await;
}

/// The `name=value` part of a response's session cookie, ready for a `Cookie` header.
pub fn session_cookie(response: &reqwest::Response) -> String {
    let set_cookie = response.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}
