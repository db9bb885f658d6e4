//! The search flood of issue 10, replayed against the real connector on loopback.
//!
//! Starts a backend for `values.source = "http"` that answers every search with about
//! 287 KB of JSON (some 2,900 values), starts the built `concur-connector` binary (default
//! settings for the cache, the answer size and the search rate) with a CA of its own, and
//! then, while 50 legitimate sessions search once a second each (50 requests per second
//! offered), sends:
//!
//! 1. 2,000 distinct searches in one session, 16 at a time (the attack as reported);
//! 2. 2,000 distinct searches spread over 200 sessions (10 each, within every session's
//!    burst), so that every one of them reaches the backend and the cache.
//!
//! It prints the connector process's resident memory (`VmRSS`, and the peak `VmHWM`, from
//! `/proc/<pid>/status`) before and after each flood, what the flood got back, and the rate
//! and latency the legitimate sessions were served at, with a quiet baseline first.
//! Everything is bounded: 4,000 flood requests, 10 s per request, each flood stops sending
//! after 60 s, 3 minutes in all.
//!
//! Run it with `scripts/bench-search-flood.sh` (builds the release binary and this example),
//! or build both yourself and run `cargo run --release --example search_flood`. Set
//! `CONCUR_CONNECTOR_BIN` to measure another binary. Linux only (`/proc`).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use concur_connector::config;
use concur_connector::credentials::ConnectorCredentials;
use concur_connector::launch::sign::{self, Encoding, V4Launch};
use concur_connector::launch::{Product, Source};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use reqwest::StatusCode;
use tokio::task::JoinSet;

const USERNAME: &str = "FloodBenchConnector";
const PASSWORD: &str = "flood-bench-password";
const SEARCHES: usize = 2_000;
const ATTACK_CONCURRENCY: usize = 16;
const SPREAD_SESSIONS: usize = 200;
const LEGIT_SESSIONS: usize = 50;
const LEGIT_PER_SECOND: u64 = 50;
const BASELINE: Duration = Duration::from_secs(3);
const ANSWER_BYTES: usize = 287 * 1024;
const DEADLINE: Duration = Duration::from_secs(180);
/// A flood stops sending after this long, whatever it has left.
const FLOOD_LIMIT: Duration = Duration::from_secs(60);
/// What legitimate users search for (each is cached after its first lookup).
const TERMS: [&str; 10] = [
    "apollo", "berlin", "summit", "lunch", "zeus", "1001", "travel", "office", "pilot", "move",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    concur_connector::tls::install_default_provider();
    tokio::time::timeout(DEADLINE, run())
        .await
        .context("the bench ran longer than its 3 minutes")?
}

async fn run() -> anyhow::Result<()> {
    let binary = connector_binary()?;
    let dir = tempfile::tempdir()?;
    let (backend, hits) = start_backend().await?;
    let pki = Pki::new();
    let port = free_port()?;
    let config_path = write_config(dir.path(), &pki, port, &backend)?;
    let log_path = dir.path().join("connector.log");
    let mut child = tokio::process::Command::new(&binary)
        .args(["serve", "--config"])
        .arg(&config_path)
        .env(
            "CONCUR_CONNECTOR__QUEUE__PATH",
            dir.path().join("notifications.redb"),
        )
        .stdout(std::fs::File::create(&log_path)?)
        .stderr(std::fs::File::create(dir.path().join("connector.stderr"))?)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id().context("the connector has no pid")?;
    let base = format!("https://localhost:{port}");
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes())?])
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(64)
        .build()?;
    wait_until_healthy(&client, &base, &mut child, &log_path).await?;
    println!(
        "connector {} (pid {pid}) on {base}; backend {backend} answers {} KB per search",
        binary.display(),
        ANSWER_BYTES / 1024
    );

    let bench = Bench {
        client,
        base,
        nonce: AtomicUsize::new(0),
    };
    let legit: Vec<String> = launch_many(&bench, LEGIT_SESSIONS).await?;
    let attacker = bench.launch().await?;
    let spread = launch_many(&bench, SPREAD_SESSIONS).await?;
    let bench = Arc::new(bench);
    let legit = Arc::new(legit);

    // A quiet baseline: the legitimate load alone (it also fills the cache with its terms).
    let load = Legit::start(bench.clone(), legit.clone());
    tokio::time::sleep(BASELINE).await;
    load.stop().await.print("legitimate load, no flood");
    let start_rss = Rss::of(pid)?;
    println!("\nRSS before the floods: {start_rss}");

    let phases: [(&str, Vec<String>); 2] = [
        (
            "flood 1: 2,000 distinct searches in one session",
            vec![attacker; SEARCHES],
        ),
        (
            "flood 2: 2,000 distinct searches over 200 sessions",
            (0..SEARCHES)
                .map(|i| spread[i % SPREAD_SESSIONS].clone())
                .collect(),
        ),
    ];
    let mut offset = 0;
    for (name, sessions) in phases {
        println!("\n{name}");
        let before = Rss::of(pid)?;
        let hits_before = hits.now();
        let load = Legit::start(bench.clone(), legit.clone());
        let started = Instant::now();
        let outcome = flood(&bench, sessions, offset).await;
        let took = started.elapsed();
        let served = load.stop().await;
        offset += SEARCHES;
        let after = Rss::of(pid)?;
        let hits_after = hits.now();
        println!(
            "  {} of {SEARCHES} searches sent in {:.1} s: {} answered 200, {} answered 429, \
             {} other (5xx or failed); the backend was asked {} times for the flood, {} for \
             the legitimate load",
            outcome.sent(),
            took.as_secs_f64(),
            outcome.ok,
            outcome.limited,
            outcome.other,
            hits_after.0 - hits_before.0,
            hits_after.1 - hits_before.1,
        );
        println!("  RSS before: {before}");
        println!("  RSS after:  {after}");
        served.print("legitimate load during the flood");
    }
    let end_rss = Rss::of(pid)?;
    println!(
        "\nRSS before the floods {} MB, after both {} MB (growth {:+.1} MB), peak {} MB",
        start_rss.mb(start_rss.rss_kb),
        end_rss.mb(end_rss.rss_kb),
        (end_rss.rss_kb as f64 - start_rss.rss_kb as f64) / 1024.0,
        end_rss.mb(end_rss.hwm_kb),
    );
    child.kill().await.ok();
    Ok(())
}

/// Where the connector binary is: `CONCUR_CONNECTOR_BIN`, else next to this example's
/// directory (`target/<profile>/concur-connector`).
fn connector_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("CONCUR_CONNECTOR_BIN") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("this example is not in target/<profile>/examples")?;
    let binary = profile_dir.join("concur-connector");
    if !binary.exists() {
        bail!(
            "{} is missing: build it first (cargo build --release --bin concur-connector), \
             or run scripts/bench-search-flood.sh",
            binary.display()
        );
    }
    Ok(binary)
}

/// A loopback backend answering every `/projects` request with the same ~287 KB of JSON;
/// returns its base URL and a counter of the requests it answered.
async fn start_backend() -> anyhow::Result<(String, Hits)> {
    let mut values = Vec::new();
    let mut size = 2;
    let mut i = 0;
    while size < ANSWER_BYTES {
        let value = serde_json::json!({
            "code": format!("PRJ-{i:05}"),
            "label": format!("Project {i:05}: internal engineering and travel budget line"),
        });
        size += value.to_string().len() + 1;
        values.push(value);
        i += 1;
    }
    let body = axum::body::Bytes::from(serde_json::to_vec(&values)?);
    let hits = Hits::default();
    let app = axum::Router::new()
        .route(
            "/projects",
            axum::routing::get(
                |State((body, hits)): State<(axum::body::Bytes, Hits)>,
                 RawQuery(query): RawQuery| async move {
                    let counter = if query.unwrap_or_default().starts_with("q=flood-") {
                        &hits.flood
                    } else {
                        &hits.legit
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
                },
            ),
        )
        .with_state((body, hits.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("http://{address}"), hits))
}

/// How often the backend was asked, for flood searches and for the others.
#[derive(Clone, Default)]
struct Hits {
    flood: Arc<AtomicUsize>,
    legit: Arc<AtomicUsize>,
}

impl Hits {
    fn now(&self) -> (usize, usize) {
        (
            self.flood.load(Ordering::Relaxed),
            self.legit.load(Ordering::Relaxed),
        )
    }
}

/// A CA and a `localhost` leaf it signed: the client trusts the CA, verification stays on.
struct Pki {
    ca_pem: String,
    leaf_pem: String,
    key_pem: String,
}

impl Pki {
    fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "search flood bench CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        Self {
            ca_pem: ca_cert.pem(),
            leaf_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Development mode (the backend speaks plain http on loopback); everything else about
/// `[values]` is the default.
fn write_config(dir: &Path, pki: &Pki, port: u16, backend: &str) -> anyhow::Result<PathBuf> {
    let cert = dir.join("fullchain.pem");
    let key = dir.join("privkey.pem");
    std::fs::write(&cert, &pki.leaf_pem)?;
    std::fs::write(&key, &pki.key_pem)?;
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            r#"development = true
[server]
bind = "127.0.0.1:{port}"
[tls]
cert_file = "{cert}"
key_file = "{key}"
watch = false
[connector]
username = "{USERNAME}"
password = "{PASSWORD}"
[log]
level = "warn"
[values]
source = "http"
[values.http]
url = "{backend}/projects?q={{search}}"
"#,
            cert = cert.display(),
            key = key.display(),
        ),
    )?;
    Ok(path)
}

async fn wait_until_healthy(
    client: &reqwest::Client,
    base: &str,
    child: &mut tokio::process::Child,
    log: &Path,
) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the connector exited ({status}); its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        let healthy = client.get(format!("{base}/healthz")).send().await;
        if healthy.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the connector did not become healthy within 30 s")
}

struct Bench {
    client: reqwest::Client,
    base: String,
    nonce: AtomicUsize,
}

impl Bench {
    /// A signed v4 launch; returns the session cookie (`name=value`).
    async fn launch(&self) -> anyhow::Result<String> {
        let creds = ConnectorCredentials::new(USERNAME, config::secret(PASSWORD))
            .map_err(|(key, e)| anyhow::anyhow!("{key}: {e}"))?;
        let n = self.nonce.fetch_add(1, Ordering::Relaxed);
        let launch = V4Launch {
            product: Product::Expense,
            company_domain: "acmecorp.com".into(),
            logged_in_user_id: "a1b2c3d4-0000-4000-8000-000000000abc".into(),
            report_owner_user_id: "32c2fcc3-b2e8-4907-9672-5b3f49b1c643".into(),
            report_owner_employee_id: "E12345".into(),
            item_url: "https://us2.api.concursolutions.com/expensereports/v4/users/32c2fcc3-b2e8-4907-9672-5b3f49b1c643/context/TRAVELER/reports/764428DD6A664AF0BFCB/expenses/84FCBB92BD4E5342B849DAC29FD163A1".into(),
            nonce: format!("flood-bench-{n:06}-{}", std::process::id()),
            custom_field_launched_from: Some("custom12".into()),
            source: Source::Entry,
            expense_ids: vec![],
            is_mobile: false,
            client_auth_code: None,
            language_code: Some("en".into()),
        };
        let query = sign::v4_query(&launch, &creds, Encoding::Rfc3986);
        let response = self
            .client
            .get(format!("{}/launchexternalurl/v4/form?{query}", self.base))
            .send()
            .await?;
        if response.status() != StatusCode::SEE_OTHER {
            bail!(
                "the launch answered {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .context("the launch set no cookie")?
            .to_str()?;
        Ok(cookie.split(';').next().unwrap_or_default().to_owned())
    }

    /// One picker page with a search; its status and how long it took.
    async fn search(&self, cookie: &str, q: &str) -> (Option<StatusCode>, Duration) {
        let started = Instant::now();
        let response = self
            .client
            .get(format!(
                "{}/launch/session?{}",
                self.base,
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("q", q)
                    .finish()
            ))
            .header(header::COOKIE, cookie)
            .send()
            .await;
        let status = match response {
            // Read the page to the end, as a browser would.
            Ok(response) => {
                let status = response.status();
                response.bytes().await.ok().map(|_| status)
            }
            Err(_) => None,
        };
        (status, started.elapsed())
    }
}

async fn launch_many(bench: &Bench, n: usize) -> anyhow::Result<Vec<String>> {
    let mut cookies = Vec::with_capacity(n);
    for _ in 0..n {
        cookies.push(bench.launch().await?);
    }
    Ok(cookies)
}

#[derive(Default)]
struct FloodOutcome {
    ok: usize,
    limited: usize,
    other: usize,
}

/// One distinct search per cookie in `sessions`, [`ATTACK_CONCURRENCY`] at a time, for at
/// most [`FLOOD_LIMIT`].
async fn flood(bench: &Arc<Bench>, sessions: Vec<String>, offset: usize) -> FloodOutcome {
    let mut outcome = FloodOutcome::default();
    let mut running = JoinSet::new();
    let started = Instant::now();
    for (i, cookie) in sessions.into_iter().enumerate() {
        if started.elapsed() > FLOOD_LIMIT {
            break;
        }
        if running.len() >= ATTACK_CONCURRENCY
            && let Some(done) = running.join_next().await
        {
            outcome.count(done.ok().flatten());
        }
        let bench = bench.clone();
        running.spawn(async move {
            let q = format!("flood-{:05}-{}", offset + i, "x".repeat(20));
            bench.search(&cookie, &q).await.0
        });
    }
    while let Some(done) = running.join_next().await {
        outcome.count(done.ok().flatten());
    }
    outcome
}

impl FloodOutcome {
    fn sent(&self) -> usize {
        self.ok + self.limited + self.other
    }

    fn count(&mut self, status: Option<StatusCode>) {
        match status {
            Some(StatusCode::OK) => self.ok += 1,
            Some(StatusCode::TOO_MANY_REQUESTS) => self.limited += 1,
            _ => self.other += 1,
        }
    }
}

/// Legitimate users: [`LEGIT_PER_SECOND`] searches a second offered (open loop), spread
/// over [`LEGIT_SESSIONS`] sessions, each well within its own search rate.
struct Legit {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Served>,
}

struct Served {
    offered: usize,
    ok: usize,
    other: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Legit {
    fn start(bench: Arc<Bench>, sessions: Arc<Vec<String>>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut tick =
                tokio::time::interval(Duration::from_micros(1_000_000 / LEGIT_PER_SECOND));
            let mut running = JoinSet::new();
            let mut offered = 0;
            while !stopped.load(Ordering::Relaxed) {
                tick.tick().await;
                let (bench, sessions) = (bench.clone(), sessions.clone());
                let n = offered;
                running.spawn(async move {
                    let cookie = &sessions[n % sessions.len()];
                    bench.search(cookie, TERMS[n % TERMS.len()]).await
                });
                offered += 1;
            }
            let elapsed = started.elapsed();
            let mut served = Served {
                offered,
                ok: 0,
                other: 0,
                latencies: Vec::new(),
                elapsed,
            };
            while let Some(done) = running.join_next().await {
                match done {
                    Ok((Some(StatusCode::OK), latency)) => {
                        served.ok += 1;
                        served.latencies.push(latency);
                    }
                    _ => served.other += 1,
                }
            }
            served
        });
        Self { stop, task }
    }

    async fn stop(self) -> Served {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

impl Served {
    fn print(mut self, what: &str) {
        self.latencies.sort();
        let at = |p: f64| {
            self.latencies
                .get(((self.latencies.len() as f64 - 1.0) * p).round() as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let seconds = self.elapsed.as_secs_f64();
        println!(
            "  {what}: {:.1} pages/s served with 200 of {:.1}/s offered over {seconds:.1} s \
             ({} not 200); latency p50 {:.1} ms, p99 {:.1} ms",
            self.ok as f64 / seconds,
            self.offered as f64 / seconds,
            self.other,
            at(0.5),
            at(0.99),
        );
    }
}

/// The connector's resident memory, from `/proc/<pid>/status`.
struct Rss {
    rss_kb: u64,
    hwm_kb: u64,
}

impl Rss {
    fn of(pid: u32) -> anyhow::Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .context("reading /proc/<pid>/status (Linux only)")?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))
        };
        Ok(Self {
            rss_kb: field("VmRSS:")?,
            hwm_kb: field("VmHWM:")?,
        })
    }

    fn mb(&self, kb: u64) -> String {
        format!("{:.1}", kb as f64 / 1024.0)
    }
}

impl std::fmt::Display for Rss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} MB (peak so far {} MB)",
            self.mb(self.rss_kb),
            self.mb(self.hwm_kb)
        )
    }
}
