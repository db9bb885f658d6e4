//! The real connector binary on loopback for the benchmarks: its own CA and leaf, a
//! configuration written to a temporary directory, stdout captured line by line.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio::io::AsyncBufReadExt as _;

pub const USERNAME: &str = "BenchConnectorUser";
pub const PASSWORD: &str = "bench-password-123";

/// The binary to measure: `CONCUR_CONNECTOR_BIN`, else the release build beside the example.
pub fn connector_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("CONCUR_CONNECTOR_BIN") {
        return Ok(PathBuf::from(path));
    }
    let example = std::env::current_exe()?;
    let dir = example
        .parent()
        .and_then(Path::parent)
        .context("the example's directory")?;
    let binary = dir.join("concur-connector");
    if !binary.exists() {
        bail!(
            "{} is missing: build it with cargo build --release --bin concur-connector",
            binary.display()
        );
    }
    Ok(binary)
}

/// A CA and a leaf for `localhost` and `127.0.0.1`, as PEM.
pub struct Pki {
    pub ca_pem: String,
    pub leaf_pem: String,
    pub key_pem: String,
}

impl Pki {
    pub fn new() -> anyhow::Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Distinct names: with rcgen's one default name for both, OpenSSL (HAProxy in the
        // cluster bench) takes the leaf for a self-signed certificate and refuses it.
        ca.distinguished_name
            .push(DnType::CommonName, "concur-connector bench CA");
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);
        let leaf_key = KeyPair::generate()?;
        let mut leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf.signed_by(&leaf_key, &issuer)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            leaf_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        })
    }
}

/// A running connector. Dropping it kills the process.
pub struct Server {
    pub port: u16,
    pub pid: u32,
    pub pki: Pki,
    /// Every line the server wrote to stdout so far.
    pub lines: Arc<Mutex<Vec<String>>>,
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `binary serve` with `[server]`, `[tls]` and `[connector]` written here, JSON
    /// logs at `info`, and `extra` (more TOML tables) appended; `files` are written into the
    /// configuration's directory first (`{dir}` in `extra` names it).
    pub async fn start(
        binary: &Path,
        extra: &str,
        files: &[(&str, &[u8])],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let pki = Pki::new()?;
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, &pki.leaf_pem)?;
        std::fs::write(&key, &pki.key_pem)?;
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content)?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = dir.path().join("config.toml");
        let extra = extra.replace("{dir}", &dir.path().display().to_string());
        std::fs::write(
            &config,
            format!(
                "[server]\nbind = \"127.0.0.1:{port}\"\n[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nallow_self_signed = true\nwatch = false\n[connector]\nusername = \"{USERNAME}\"\npassword = \"{PASSWORD}\"\n[log]\nformat = \"json\"\nlevel = \"info\"\n{extra}",
                cert.display(),
                key.display()
            ),
        )?;
        let mut child = tokio::process::Command::new(binary)
            .args(["serve", "--config"])
            .arg(&config)
            // Its own work queue file: several servers may run at once.
            .env(
                "CONCUR_CONNECTOR__QUEUE__PATH",
                dir.path().join("notifications.redb"),
            )
            .env_remove("RUST_LOG")
            // Several servers may run at once: each its own admin port unless `extra` sets one.
            .envs(
                (!extra.contains("[admin]"))
                    .then_some(("CONCUR_CONNECTOR__ADMIN__BIND", "127.0.0.1:0")),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the connector binary")?;
        let pid = child.id().context("the connector's pid")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().context("the connector's stdout")?;
        let sink = lines.clone();
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                sink.lock().expect("log lines").push(line);
            }
        });
        let server = Self {
            port,
            pid,
            pki,
            lines,
            child,
            _dir: dir,
        };
        server.wait_until_healthy().await?;
        Ok(server)
    }

    async fn wait_until_healthy(&self) -> anyhow::Result<()> {
        let client = self.client(1)?;
        for _ in 0..600 {
            if client
                .get(self.url("/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "the connector did not become healthy within 30 s; its log:\n{}",
            self.lines.lock().expect("log lines").join("\n")
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// An HTTP/1.1 keep-alive client trusting the server's CA, at most `connections` idle
    /// connections kept.
    pub fn client(&self, connections: usize) -> anyhow::Result<reqwest::Client> {
        let ca = reqwest::Certificate::from_pem(self.pki.ca_pem.as_bytes())?;
        Ok(reqwest::Client::builder()
            .tls_certs_only([ca])
            .http1_only()
            .pool_max_idle_per_host(connections)
            .build()?)
    }

    /// The process's resident memory and its peak, in KiB (`/proc/<pid>/status`).
    pub fn memory_kib(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
