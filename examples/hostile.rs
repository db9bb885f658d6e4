//! Hostile traffic against the real connector binary, on loopback, bounded in count and time.
//!
//! Run through `scripts/bench-hostile.sh` (it builds the release binary first), or
//! `cargo run --release --example hostile -- [path/to/concur-connector]`. Prints, per attack:
//! what the server still holds, and the rate a legitimate client is served meanwhile.
//! A benchmark, not a test: it prints figures and fails only when it cannot run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const USERNAME: &str = "BenchConnectorUser";
const PASSWORD: &str = "bench-password-123";
const IDLE: usize = 500;
const SLOWLORIS: usize = 200;
const FAILED_AUTHS: usize = 10_000;
/// The connector's default `server.header_read_timeout`, plus a margin.
const HEADER_TIMEOUT_AND_MARGIN: Duration = Duration::from_secs(12);

struct Server {
    port: u16,
    pid: u32,
    ca_pem: String,
    log_bytes: Arc<AtomicU64>,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(binary: &PathBuf) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, leaf.pem()).unwrap();
        std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nbind = \"127.0.0.1:{port}\"\n[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nallow_self_signed = true\n[connector]\nusername = \"{USERNAME}\"\npassword = \"{PASSWORD}\"\n[log]\nformat = \"json\"\nlevel = \"info\"\n",
                cert.display(),
                key.display()
            ),
        )
        .unwrap();
        let mut child = tokio::process::Command::new(binary)
            .args(["serve", "--config", config.to_str().unwrap()])
            // Its own work queue file: several servers may run at once.
            .env(
                "CONCUR_CONNECTOR__QUEUE__PATH",
                dir.path().join("notifications.redb"),
            )
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the connector binary");
        let pid = child.id().unwrap();
        let log_bytes = Arc::new(AtomicU64::new(0));
        let mut stdout = child.stdout.take().unwrap();
        let counter = log_bytes.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = stdout.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
        });
        let server = Self {
            port,
            pid,
            ca_pem: ca_cert.pem(),
            log_bytes,
            _child: child,
            _dir: dir,
        };
        let client = server.client();
        for _ in 0..400 {
            if client.get(server.url("/healthz")).send().await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the connector did not start");
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    fn client(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .http1_only()
            .build()
            .unwrap()
    }

    fn tls_connector(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        let ca = rustls::pki_types::CertificateDer::from_pem_slice(self.ca_pem.as_bytes());
        roots.add(ca.unwrap()).unwrap();
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

use rustls::pki_types::pem::PemObject as _;

/// Test-connection requests a legitimate keep-alive client gets answered per second.
async fn legit_rate(server: &Server, for_how_long: Duration) -> f64 {
    let client = server.client();
    let url = server.url("/system/v1.0/testconnection");
    let started = Instant::now();
    let mut ok = 0u64;
    while started.elapsed() < for_how_long {
        let sent = client
            .get(&url)
            .basic_auth(USERNAME, Some(PASSWORD))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if sent.is_ok_and(|r| r.status().is_success()) {
            ok += 1;
        }
    }
    ok as f64 / started.elapsed().as_secs_f64()
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls_connection(server: &Server) -> Option<Tls> {
    let tcp = tokio::time::timeout(
        Duration::from_secs(5),
        TcpStream::connect(("127.0.0.1", server.port)),
    )
    .await
    .ok()?
    .ok()?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        server.tls_connector().connect(name, tcp),
    )
    .await
    .ok()?
    .ok()
}

/// Whether the server still holds the connection open (a read would block).
async fn still_open(stream: &mut Tls) -> bool {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(20), stream.read(&mut byte)).await {
        Err(_) => true,
        Ok(Ok(0) | Err(_)) => false,
        Ok(Ok(_)) => true,
    }
}

async fn idle_connections(server: &Server) -> (usize, usize, f64) {
    let mut held = Vec::new();
    for _ in 0..IDLE {
        if let Some(stream) = tls_connection(server).await {
            held.push(stream);
        }
    }
    let opened = held.len();
    let rate = legit_rate(server, Duration::from_secs(3)).await;
    tokio::time::sleep(HEADER_TIMEOUT_AND_MARGIN.saturating_sub(Duration::from_secs(3))).await;
    let mut open = 0;
    for stream in &mut held {
        if still_open(stream).await {
            open += 1;
        }
    }
    (opened, open, rate)
}

async fn slowloris(server: &Server) -> (usize, usize, f64) {
    let mut held = Vec::new();
    for _ in 0..SLOWLORIS {
        if let Some(mut stream) = tls_connection(server).await
            && stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .is_ok()
        {
            held.push(stream);
        }
    }
    let opened = held.len();
    let rate = legit_rate(server, Duration::from_secs(3)).await;
    // One more header byte every two seconds until past the header timeout.
    let started = Instant::now();
    while started.elapsed() < HEADER_TIMEOUT_AND_MARGIN {
        for stream in &mut held {
            let _ = stream.write_all(b"X").await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let mut open = 0;
    for stream in &mut held {
        if still_open(stream).await {
            open += 1;
        }
    }
    (opened, open, rate)
}

/// Sends `FAILED_AUTHS` test-connection requests with wrong passwords from 32 tasks; returns
/// their rate.
async fn flood_of_failed_auths(server: &Server) -> f64 {
    let url = server.url("/system/v1.0/testconnection");
    let client = server.client();
    let started = Instant::now();
    let per_task = FAILED_AUTHS / 32;
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                for i in 0..per_task {
                    let _ = client
                        .get(&url)
                        .basic_auth(USERNAME, Some(format!("wrong-{t}-{i}")))
                        .send()
                        .await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (per_task * 32) as f64 / started.elapsed().as_secs_f64()
}

/// The flood alone (to count the log bytes it causes), then again beside a legitimate client.
async fn failed_auth_flood(server: &Server) -> (u64, f64, f64) {
    let before = server.log_bytes.load(Ordering::Relaxed);
    let flood_rate = flood_of_failed_auths(server).await;
    // Let the log pipe drain.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let written = server.log_bytes.load(Ordering::Relaxed) - before;
    let (_, rate) = tokio::join!(
        flood_of_failed_auths(server),
        legit_rate(server, Duration::from_secs(3))
    );
    (written, flood_rate, rate)
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let binary = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/release/concur-connector"));
    assert!(
        binary.exists(),
        "build it first: cargo build --release ({binary:?})"
    );
    let out = &mut std::io::stdout();

    let server = Server::start(&binary).await;
    let baseline = legit_rate(&server, Duration::from_secs(3)).await;
    writeln!(out, "legitimate client, no attack: {baseline:.0} req/s").unwrap();

    let (opened, open, rate) = idle_connections(&server).await;
    writeln!(
        out,
        "idle TLS connections: {opened} opened, {open} still held after the header timeout; legitimate client meanwhile: {rate:.0} req/s"
    )
    .unwrap();

    let (opened, open, rate) = slowloris(&server).await;
    writeln!(
        out,
        "slowloris (a header byte every 2 s): {opened} opened, {open} still held after the header timeout; legitimate client meanwhile: {rate:.0} req/s"
    )
    .unwrap();

    let (bytes, flood_rate, rate) = failed_auth_flood(&server).await;
    writeln!(
        out,
        "failed authentications: {FAILED_AUTHS} at {flood_rate:.0} req/s wrote {bytes} log bytes ({:.1} KB per 10,000); legitimate client meanwhile: {rate:.0} req/s",
        bytes as f64 / 1024.0 * 10_000.0 / FAILED_AUTHS as f64
    )
    .unwrap();
    writeln!(
        out,
        "connector RSS at the end: {} MB",
        server.rss_kb() / 1024
    )
    .unwrap();
}
