//! A measured cluster (issue 15's benchmark): three connector instances behind HAProxy on
//! one Redis, the simulator as Concur answering every call 50 ms late, complete launch →
//! picker → Done flows, then the same with one instance killed in the middle.
//!
//! What it starts (all on loopback, all real processes except the simulator):
//! - `redis-server` (no persistence) on a free port;
//! - the simulator in this process, `latency_ms` = `LATENCY_MS` (default 50) on every call;
//! - `INSTANCES` (default 3) release `concur-connector` binaries on that Redis, each with its
//!   own certificate and admin listener, sharing the session key;
//! - `haproxy` terminating TLS in front of them (round robin per request, health checks on
//!   `/healthz`, a request an instance never answered retried on another), so consecutive
//!   steps of one flow land on different instances.
//!
//! Phase 1 runs `LAUNCHES` (default 50,000) flows at `CONCURRENCY` (default 256): the
//! simulator mints a signed launch (with a one-time auth code) for an expense, as Concur does
//! when a user clicks; the flow sends it (verify, code exchange: step `launch`), opens the
//! picker (`picker`, the item read from Concur) and saves a value unique to the flow (`done`,
//! the PATCH). It prints throughput, p50/p99 per step, errors (expected 0), how many flows
//! crossed instances, Concur calls per launch, token refreshes, RSS per instance and the
//! instances' own counts from `/metrics`.
//!
//! Phase 2 runs `FAILOVER_LAUNCHES` (default 10,000) flows and kills one instance (SIGKILL)
//! once 40% are done. It prints which flows failed, whether each was in flight at the kill,
//! and checks in the simulator's record that no value was written twice.
//!
//! Phase 3 prints test connection requests per second over TLS keep-alive (16 connections,
//! HTTP/1.1, straight to one instance) beside a bare hyper + rustls server answering `200`
//! (this example re-run as a child process with `--bare-server`), their ratio, and the CPU time
//! each server spent per answer (from `/proc`: the steadier measure on a shared machine).
//!
//! `ONLY=test-connection` runs phase 3 alone against one connector instance (no Redis, no
//! simulator, no balancer), `ROUNDS` times (default 3), ours and bare alternately, each
//! round printing its ratio: the quick loop for profiling the request path.
//!
//! A benchmark, not a test: it fails only when it cannot run. Run it with
//! `scripts/bench-cluster.sh` (installs haproxy and redis-server, builds the release binary
//! and this example). Linux only (`/proc`, `kill`).

#![allow(clippy::unwrap_used)]

mod support {
    pub mod bench_server;
}

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use concur_connector::credentials::ConnectorCredentials;
use concur_connector::launch::Source;
use concur_connector::sim::{self, Faults, SimConfig, SimTls, V4LaunchRequest};
use reqwest::StatusCode;
use support::bench_server::{self, PASSWORD, Pki, Server, USERNAME};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

const REQUEST_TOKEN: &str = "bench-company-request-token";
const REDIRECT: &str = "https://connector.bench/launchexternalurl/v4/form";
const PLACEHOLDER: &str = "https://connector.bench";
const TEST_CONNECTION_CONNECTIONS: usize = 16;
const TEST_CONNECTION_FOR: Duration = Duration::from_secs(8);
const KILL_AT: f64 = 0.4;
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    concur_connector::tls::install_default_provider();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--bare-server") {
        return bare::serve(&args[2..]).await;
    }
    if std::env::var("ONLY").is_ok_and(|only| only == "test-connection") {
        return test_connection_only().await;
    }
    run().await
}

/// Phase 3 alone, `ROUNDS` times, against one instance with the default settings (JSON
/// logs, the admin listener and its metrics on, as in the cluster).
async fn test_connection_only() -> anyhow::Result<()> {
    let binary = bench_server::connector_binary()?;
    let dir = tempfile::tempdir()?;
    let server = Server::start(&binary, "", &[]).await?;
    let bare = bare::Child::start(dir.path(), &server.pki).await?;
    println!(
        "test connection over TLS keep-alive ({TEST_CONNECTION_CONNECTIONS} connections, {} s per run), pid {}",
        TEST_CONNECTION_FOR.as_secs(),
        server.pid
    );
    let mut ratios = Vec::new();
    for round in 1..=env_number("ROUNDS", 3) {
        let (ours, theirs) = compare_test_connection(&server, &bare).await?;
        println!(
            "round {round}: ours {ours}; bare hyper + rustls {theirs}; ratio {:.2}",
            ours.per_second / theirs.per_second
        );
        ratios.push(ours.per_second / theirs.per_second);
    }
    ratios.sort_by(f64::total_cmp);
    println!("median ratio {:.2}", ratios[ratios.len() / 2]);
    Ok(())
}

/// Test connection answers per second on `server`, then on the bare server.
async fn compare_test_connection(
    server: &Server,
    bare: &bare::Child,
) -> anyhow::Result<(Peak, Peak)> {
    let ours = test_connection_peak(
        &server.client(TEST_CONNECTION_CONNECTIONS)?,
        &server.url("/system/v1.0/testconnection"),
        server.pid,
    )
    .await;
    let theirs = test_connection_peak(&bare.client()?, &bare.url(), bare.pid()).await;
    Ok((ours, theirs))
}

async fn run() -> anyhow::Result<()> {
    let binary = bench_server::connector_binary()?;
    let launches = env_number("LAUNCHES", 50_000);
    let failover_launches = env_number("FAILOVER_LAUNCHES", 10_000);
    let concurrency = env_number("CONCURRENCY", 256);
    let instances = env_number("INSTANCES", 3);
    let latency_ms = env_number("LATENCY_MS", 50) as u64;
    let dir = tempfile::tempdir()?;

    let redis = Redis::start(dir.path())?;
    let credentials =
        ConnectorCredentials::new(USERNAME, concur_connector::config::secret(PASSWORD))
            .map_err(|(key, e)| anyhow::anyhow!("{key}: {e}"))?;
    let placeholder = reqwest::Url::parse(&format!("{PLACEHOLDER}/"))?;
    let mut config = SimConfig::new(credentials, &placeholder, SimTls::generate_in(dir.path()))?;
    config.redirect_uri = REDIRECT.to_owned();
    config.company_request_token = concur_connector::config::secret(REQUEST_TOKEN);
    let expenses = expense_per_user(&mut config.seed, concurrency)?;
    let company = config.seed.company.id.clone();
    let sim = sim::start(config).await?;
    let base = sim.base_url().as_str().trim_end_matches('/').to_owned();
    let host = format!(
        "{}:{}",
        sim.base_url().host_str().context("the simulator's host")?,
        sim.base_url().port().context("the simulator's port")?
    );
    // One session key for the whole cluster (any instance opens any session).
    let session_key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    let mut servers = Vec::new();
    for i in 0..instances {
        let admin = free_port()?;
        let extra = format!(
            r#"
[launch]
allowed_item_hosts = ["{host}"]
[store]
backend = "redis"
redis_url = "redis://127.0.0.1:{redis_port}/0"
session_key_id = "bench"
session_keys = {{ bench = "{session_key}" }}
[admin]
bind = "127.0.0.1:{admin}"
[values]
source = "free_text"
[concur]
client_id = "{client_id}"
client_secret = "{client_secret}"
redirect_uri = "{REDIRECT}"
auth_base_url = "{base}"
api_base_url = "{base}"
allowed_geolocation_hosts = ["{host}"]
jwks_url = "{base}/oauth2/v0/jwks"
company_id = "{company}"
company_request_token = "{REQUEST_TOKEN}"
extra_ca_file = "{ca}"
state_dir = "{{dir}}/state"
# The simulator answers in 50 ms: a call that takes 5 s has failed. (A Done that the killed
# instance held stays "still saving" until its write's lease lapses, 10 s at most.)
connect_timeout = "1s"
request_timeout = "5s"
max_retries = 1
"#,
            redis_port = redis.port,
            client_id = sim::DEFAULT_CLIENT_ID,
            client_secret = sim::DEFAULT_CLIENT_SECRET,
            ca = sim.ca_pem_path().display(),
        );
        let server = Server::start(&binary, &extra, &[])
            .await
            .with_context(|| format!("starting instance {}", i + 1))?;
        servers.push(Instance {
            name: format!("c{}", i + 1),
            admin,
            server: Some(server),
        });
    }
    let balancer = Balancer::start(dir.path(), &servers).await?;
    sim.set_faults(Faults {
        latency_ms,
        ..Faults::default()
    });
    println!(
        "{instances} instances behind haproxy {} on redis :{}; the simulator answers every call {latency_ms} ms late",
        balancer.version, redis.port
    );

    let bench = Arc::new(Flows {
        client: balancer.client(concurrency)?,
        base: format!("https://localhost:{}", balancer.port),
        sim: sim.handle(),
        expenses,
    });

    // Phase 1: the steady run.
    sim.clear_requests();
    let writes_before = sim.writes().len();
    let mut steady = run_flows(&bench, "s", launches, concurrency, None).await;
    let requests = sim.requests();
    steady.print(&format!(
        "phase 1: {launches} flows at concurrency {concurrency}"
    ));
    let refreshes = requests
        .iter()
        .filter(|r| r.grant_type.as_deref() == Some("refresh_token"))
        .count();
    let tokens = requests
        .iter()
        .filter(|r| r.path.starts_with("/oauth2/"))
        .count();
    println!(
        "concur calls per launch: {:.2} ({} calls; token endpoint {tokens}, of which refresh_token grants {refreshes})",
        requests.len() as f64 / launches as f64,
        requests.len()
    );
    for instance in &servers {
        if let Some(server) = &instance.server {
            let (rss, peak) = server.memory_kib();
            println!(
                "RSS {}: {} MiB (peak {} MiB)",
                instance.name,
                rss / 1024,
                peak / 1024
            );
        }
    }
    print_metrics(&servers).await;
    let duplicates = duplicate_values(&sim.writes()[writes_before..]);
    println!("values written twice: {duplicates}");

    // Phase 2: one instance killed mid-run.
    let writes_before = sim.writes().len();
    let victim = servers.len() / 2;
    let kill = Kill {
        at: (failover_launches as f64 * KILL_AT) as usize,
        pid: servers[victim].server.as_ref().map(|s| s.pid).unwrap_or(0),
    };
    let mut failover = run_flows(&bench, "f", failover_launches, concurrency, Some(kill)).await;
    failover.print(&format!(
        "phase 2: {failover_launches} flows, {} killed (SIGKILL) after {}",
        servers[victim].name, kill.at
    ));
    report_failover(&failover, &balancer, &servers[victim].name);
    let writes = &sim.writes()[writes_before..];
    println!(
        "values written twice: {}; flows that succeeded but whose value is missing: {}",
        duplicate_values(writes),
        missing_values(writes, &failover.succeeded_values)
    );
    drop(servers[victim].server.take());

    // Phase 3: test connection against a bare hyper + rustls server.
    let survivor = servers
        .iter()
        .find_map(|i| i.server.as_ref())
        .context("no instance left")?;
    let bare = bare::Child::start(dir.path(), &survivor.pki).await?;
    let (ours, theirs) = compare_test_connection(survivor, &bare).await?;
    println!(
        "test connection over TLS keep-alive ({TEST_CONNECTION_CONNECTIONS} connections): {ours}; bare hyper + rustls: {theirs}; ratio {:.2}",
        ours.per_second / theirs.per_second
    );

    drop(bare);
    drop(balancer);
    sim.shutdown().await?;
    drop(redis);
    Ok(())
}

/// Phase 2's account: the flows lost, and for every failed try whether HAProxy had sent it
/// to the killed instance (it went there, or HAProxy retried it elsewhere after that
/// instance closed the connection without an answer).
fn report_failover(failover: &Outcome, balancer: &Balancer, victim: &str) {
    let in_flight_failures = failover
        .failures
        .iter()
        .filter(|f| f.in_flight_at_kill)
        .count();
    let logged = balancer.logged_tries();
    let sent_to_victim = |tag: &str| logged.get(tag).map(|t| t.server == victim || t.retries > 0);
    let lost_on_victim = failover
        .failures
        .iter()
        .filter(|f| sent_to_victim(&f.first_try) == Some(true))
        .count();
    println!(
        "flows lost (the user gave up: {USER_TRIES} failed tries of a step, or {} s of \"still saving\"): {} ({} in flight at the kill; {lost_on_victim} whose step HAProxy had sent to {victim} first)",
        SAVING_FOLLOW.as_secs(),
        failover.failures.len(),
        in_flight_failures,
    );
    for failure in failover.failures.iter().take(10) {
        println!("  {failure}");
    }
    let (mut on_victim, mut unlogged) = (0, 0);
    let mut elsewhere = Vec::new();
    for setback in &failover.setbacks {
        match (sent_to_victim(&setback.tag), logged.get(&setback.tag)) {
            (Some(true), _) => on_victim += 1,
            (_, Some(try_)) => elsewhere.push((setback, try_)),
            (_, None) => unlogged += 1,
        }
    }
    let by_step = |step| failover.setbacks.iter().filter(|s| s.step == step).count();
    println!(
        "failed tries: {} (launch {}, picker {}, done {}); HAProxy had sent {on_victim} to {victim}, {} elsewhere, {unlogged} not in its log",
        failover.setbacks.len(),
        by_step("launch"),
        by_step("picker"),
        by_step("done"),
        elsewhere.len(),
    );
    let again_on_victim = failover
        .pressed_again
        .iter()
        .filter(|tag| sent_to_victim(tag) == Some(true))
        .count();
    let slowest_done = failover.steps[2].iter().max().copied().unwrap_or_default();
    println!(
        "flows whose write's outcome was open again (\"still saving\", then the form) and whose user pressed Done again: {} ({again_on_victim} whose first Done HAProxy had sent to {victim}); slowest Done {:.1} s",
        failover.pressed_again.len(),
        slowest_done.as_secs_f64()
    );
    for (setback, try_) in elsewhere.iter().take(10) {
        println!(
            "  not on {victim}: {} at {} on {} (retries {}): {}",
            setback.tag, setback.step, try_.server, try_.retries, setback.what
        );
    }
    let continued = failover
        .served
        .iter()
        .filter(|by| by[..2].iter().any(|b| b == victim) && by[2] != victim)
        .count();
    println!("flows that {victim} served a step of and the others finished: {continued}");
}

struct Instance {
    name: String,
    admin: u16,
    server: Option<Server>,
}

/// Gives each of the `users` concurrent users an unsubmitted expense of their own (copies of
/// the seed's first one on its report), so that no other flow writes to a user's field while
/// that user's Done is pending: a value found overwritten on Done again would be written a
/// second time, rightly, and be counted as written twice.
fn expense_per_user(seed: &mut sim::Seed, users: usize) -> anyhow::Result<Vec<String>> {
    let report = seed
        .reports
        .iter_mut()
        .find(|r| r.approval_status_id == "A_NOTF" && !r.expenses.is_empty())
        .context("the seed has no unsubmitted expense to launch from")?;
    let template = report.expenses[0].clone();
    report.expenses = (0..users)
        .map(|user| {
            let mut expense = template.clone();
            expense.id = format!("BE7C{user:028X}");
            expense.legacy_id = format!("bench${user}");
            expense.allocations.clear();
            expense
        })
        .collect();
    let ids = report.expenses.iter().map(|e| e.id.clone()).collect();
    seed.validate().context("the bench's seed")?;
    Ok(ids)
}

/// The simulator as Concur and the balancer's address.
struct Flows {
    client: reqwest::Client,
    base: String,
    sim: sim::SimHandle,
    expenses: Vec<String>,
}

#[derive(Clone, Copy)]
struct Kill {
    at: usize,
    pid: u32,
}

#[derive(Default)]
struct Outcome {
    took: Duration,
    completed: usize,
    steps: [Vec<Duration>; 3],
    failures: Vec<Failure>,
    crossed: usize,
    succeeded_values: Vec<String>,
    /// Every failed try, of flows that got through and of those that did not.
    setbacks: Vec<Setback>,
    /// The instances that served each successful flow's steps.
    served: Vec<[String; 3]>,
    /// The first Done tries of flows whose user pressed Done again when offered.
    pressed_again: Vec<String>,
}

struct Failure {
    flow: usize,
    step: &'static str,
    what: String,
    in_flight_at_kill: bool,
    /// The tag of the failed step's first try.
    first_try: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "flow {} at {}: {}{}",
            self.flow,
            self.step,
            self.what,
            if self.in_flight_at_kill {
                " (in flight at the kill)"
            } else {
                ""
            }
        )
    }
}

const STEPS: [&str; 3] = ["launch", "picker", "done"];

impl Outcome {
    fn print(&mut self, title: &str) {
        println!("\n{title}");
        println!(
            "  {} flows completed in {:.1} s: {:.0} flows/s; errors {}; flows served by more than one instance {}",
            self.completed,
            self.took.as_secs_f64(),
            self.completed as f64 / self.took.as_secs_f64(),
            self.failures.len(),
            self.crossed
        );
        for (name, latencies) in STEPS.iter().zip(self.steps.iter_mut()) {
            latencies.sort();
            let pick = |p: f64| {
                latencies
                    .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
                    .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
            };
            println!(
                "  {name:<7} p50 {:>7.1} ms  p99 {:>7.1} ms  ({} answered)",
                pick(0.5),
                pick(0.99),
                latencies.len()
            );
        }
    }
}

/// Runs `count` flows, `concurrency` at a time; with `kill`, SIGKILLs that process once
/// `kill.at` flows have completed.
async fn run_flows(
    bench: &Arc<Flows>,
    run: &'static str,
    count: usize,
    concurrency: usize,
    kill: Option<Kill>,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    // Flow numbers started but not finished when the kill happened.
    let in_flight: Arc<Mutex<HashMap<usize, ()>>> = Arc::default();
    let at_kill: Arc<std::sync::OnceLock<Vec<usize>>> = Arc::default();
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for user in 0..concurrency {
        let (bench, next, done, in_flight, at_kill, outcome) = (
            bench.clone(),
            next.clone(),
            done.clone(),
            in_flight.clone(),
            at_kill.clone(),
            outcome.clone(),
        );
        workers.spawn(async move {
            loop {
                let flow = next.fetch_add(1, Ordering::Relaxed);
                if flow >= count {
                    break;
                }
                in_flight.lock().await.insert(flow, ());
                let value = format!("{run}{flow}");
                let result = bench.flow(user, &value).await;
                in_flight.lock().await.remove(&flow);
                let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                let mut out = outcome.lock().await;
                match result {
                    Ok(trace) => {
                        for (i, latency) in trace.latencies.iter().enumerate() {
                            out.steps[i].push(*latency);
                        }
                        if trace.instances.iter().any(|i| i != &trace.instances[0]) {
                            out.crossed += 1;
                        }
                        out.completed += 1;
                        if trace.pressed_again > 0 {
                            out.pressed_again.push(format!("{value}-done1"));
                        }
                        out.succeeded_values.push(value);
                        out.setbacks.extend(trace.setbacks);
                        out.served.push(trace.instances);
                    }
                    Err((trace, step)) => {
                        let in_flight_at_kill = at_kill.get().is_some_and(|f| f.contains(&flow));
                        let what = trace
                            .setbacks
                            .last()
                            .map(|s| s.what.clone())
                            .unwrap_or_default();
                        out.failures.push(Failure {
                            flow,
                            step,
                            what,
                            in_flight_at_kill,
                            first_try: trace.step_first_try.clone(),
                        });
                        if trace.pressed_again > 0 {
                            out.pressed_again.push(format!("{value}-done1"));
                        }
                        out.setbacks.extend(trace.setbacks);
                    }
                }
                drop(out);
                if let Some(kill) = kill
                    && finished == kill.at
                {
                    let flows: Vec<usize> = in_flight.lock().await.keys().copied().collect();
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &kill.pid.to_string()])
                        .status();
                    let _ = at_kill.set(flows);
                }
            }
        });
    }
    workers.join_all().await;
    let mut outcome = std::mem::take(&mut *outcome.lock().await);
    outcome.took = started.elapsed();
    outcome
}

/// One flow as its user lived it: per step the latency (from the first try to the step's
/// success) and the instance that served it, and the tries that failed on the way.
#[derive(Default)]
struct Trace {
    latencies: [Duration; 3],
    instances: [String; 3],
    setbacks: Vec<Setback>,
    /// Done pressed again because the page offered the choice again.
    pressed_again: usize,
    /// The tag of the current step's first try.
    step_first_try: String,
}

/// A try that did not get the user through, with the tag HAProxy logged it under.
struct Setback {
    step: &'static str,
    tag: String,
    what: String,
}

impl Trace {
    fn through(&mut self, step: usize, started: Instant, by: String) {
        self.latencies[step] = started.elapsed();
        self.instances[step] = by;
    }

    /// Keeps a failed try; `true` when the user gives up (after [`USER_TRIES`] of a step).
    fn setback(&mut self, step: &'static str, tag: String, what: String) -> bool {
        self.setbacks.push(Setback { step, tag, what });
        self.setbacks.iter().filter(|s| s.step == step).count() >= USER_TRIES
    }
}

/// How often a user tries one step again (a new click on the field, a reload, Done again).
const USER_TRIES: usize = 3;
/// How long a user follows the "still saving" page before giving up: longer than a write's
/// worst-case time with the instances' `[concur]` timeouts (a write its instance never finished
/// is open again once its lease lapses, long before).
const SAVING_FOLLOW: Duration = Duration::from_secs(240);
/// The "still saving" page reloads the session page every 2 s.
const SAVING_REFRESH: Duration = Duration::from_secs(2);

impl Flows {
    /// One click of `user` on their own expense: launch, picker, Done with `value`. As a user
    /// would, it clicks the field again after a failed launch (a new signed launch: the one
    /// sent is used up), reloads a picker that failed, and after a Done that did not close the
    /// popup follows the session page (as the "still saving" page does) and presses Done
    /// again when the page offers the choice again. Every try carries `x-bench-step`, which HAProxy logs
    /// (phase 2) with the instance it was sent to.
    async fn flow(&self, user: usize, value: &str) -> Result<Trace, (Trace, &'static str)> {
        let mut trace = Trace::default();
        let expense = &self.expenses[user % self.expenses.len()];

        let started = Instant::now();
        trace.step_first_try = format!("{value}-launch1");
        let cookie = loop {
            let tag = format!("{value}-launch{}", trace.setbacks.len() + 1);
            match self.launch(expense, &tag).await {
                Ok((cookie, by)) => {
                    trace.through(0, started, by);
                    break cookie;
                }
                Err(what) => {
                    if trace.setback("launch", tag, what) {
                        return Err((trace, "launch"));
                    }
                }
            }
        };

        let started = Instant::now();
        trace.step_first_try = format!("{value}-picker{}", trace.setbacks.len() + 1);
        let mut csrf = loop {
            let tag = format!("{value}-picker{}", trace.setbacks.len() + 1);
            match self.session_page(&cookie, &tag).await {
                Ok((Page::Picker(csrf, 200), by)) => {
                    trace.through(1, started, by);
                    break csrf;
                }
                answer => {
                    let what = answer.map_or_else(|e| e, |(page, _)| page.describe());
                    if trace.setback("picker", tag, what) {
                        return Err((trace, "picker"));
                    }
                }
            }
        };

        let started = Instant::now();
        let deadline = started + SAVING_FOLLOW;
        let mut tries = 1;
        let mut tag = format!("{value}-done{tries}");
        trace.step_first_try.clone_from(&tag);
        let mut answer = self.done(&cookie, &csrf, value, &tag).await;
        loop {
            let press = match answer {
                Ok((Page::Closed, by)) => {
                    trace.through(2, started, by);
                    return Ok(trace);
                }
                // Waiting, as the page says: not a setback.
                Ok((Page::Saving, _)) => false,
                // The write's outcome is open no more and the choice is offered again (the
                // consequence of an earlier setback): the user presses Done again.
                Ok((Page::Picker(again, _), _)) => {
                    csrf = again;
                    trace.pressed_again += 1;
                    if trace.pressed_again >= USER_TRIES {
                        return Err((trace, "done"));
                    }
                    true
                }
                answer => {
                    let what = answer.map_or_else(|e| e, |(page, _)| page.describe());
                    if trace.setback("done", tag.clone(), what) {
                        return Err((trace, "done"));
                    }
                    false
                }
            };
            if Instant::now() > deadline {
                return Err((trace, "done"));
            }
            tries += 1;
            if press {
                tag = format!("{value}-done{tries}");
                answer = self.done(&cookie, &csrf, value, &tag).await;
            } else {
                // The saving page (or the user, after an error) reloads the session page.
                tokio::time::sleep(SAVING_REFRESH).await;
                tag = format!("{value}-reload{tries}");
                answer = self.session_page(&cookie, &tag).await;
            }
        }
    }

    /// Sends a freshly signed launch: the session cookie and who served it.
    async fn launch(&self, expense: &str, tag: &str) -> Result<(String, String), String> {
        let minted = self
            .sim
            .mint_v4(&V4LaunchRequest::new(Source::Entry, expense))
            .map_err(|e| format!("minting: {e}"))?;
        let path = minted.url.trim_start_matches(PLACEHOLDER);
        let response = self
            .send(self.client.get(format!("{}{path}", self.base)), tag)
            .await?;
        let by = served_by(&response);
        if response.status() != StatusCode::SEE_OTHER {
            return Err(format!("status {} from {by}", response.status()));
        }
        response
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|cookie| (cookie.to_owned(), by))
            .ok_or_else(|| "no session cookie".to_owned())
    }

    async fn session_page(&self, cookie: &str, tag: &str) -> Result<(Page, String), String> {
        let request = self
            .client
            .get(format!("{}/launch/session", self.base))
            .header(reqwest::header::COOKIE, cookie);
        Page::of(self.send(request, tag).await?).await
    }

    async fn done(
        &self,
        cookie: &str,
        csrf: &str,
        value: &str,
        tag: &str,
    ) -> Result<(Page, String), String> {
        let request = self
            .client
            .post(format!("{}/launch/session/done", self.base))
            .header(reqwest::header::COOKIE, cookie)
            .form(&[("csrf", csrf), ("action", "done"), ("value", value)]);
        Page::of(self.send(request, tag).await?).await
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        tag: &str,
    ) -> Result<reqwest::Response, String> {
        request
            .header("x-bench-step", tag)
            .timeout(STEP_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("{e:#}"))
    }
}

/// What a session page answered.
enum Page {
    /// The picker, with its form's CSRF token, and the status it came with.
    Picker(String, u16),
    /// "Still saving".
    Saving,
    /// The closing page: the value is saved.
    Closed,
    /// Anything else: status and whether it was the connector's page.
    Other(u16, String),
}

impl Page {
    fn describe(&self) -> String {
        match self {
            Self::Picker(_, status) => format!("the picker ({status})"),
            Self::Saving => "still saving".to_owned(),
            Self::Closed => "the closing page".to_owned(),
            Self::Other(status, by) => format!("status {status} from {by}"),
        }
    }

    async fn of(response: reqwest::Response) -> Result<(Self, String), String> {
        let by = served_by(&response);
        let status = response.status().as_u16();
        let html = response.text().await.map_err(|e| format!("{e:#}"))?;
        let page = if html.contains(r#"id="done-page""#) {
            Self::Closed
        } else if html.contains(r#"id="saving-page""#) {
            Self::Saving
        } else if let Some(csrf) = csrf_of(&html) {
            // The picker, or its form again with a notice (a write that failed, or whose
            // outcome is unknown: `504`), which the user answers with Done.
            Self::Picker(csrf, status)
        } else {
            Self::Other(status, by.clone())
        };
        Ok((page, by))
    }
}

fn served_by(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-served-by")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned()
}

fn csrf_of(html: &str) -> Option<String> {
    let start = html.find(r#"name="csrf" value=""#)? + 19;
    html.get(start..start + 32).map(str::to_owned)
}

/// The written values of successful writes that appear more than once.
fn duplicate_values(writes: &[sim::RecordedWrite]) -> usize {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for write in writes.iter().filter(|w| w.succeeded()) {
        if let Some(value) = written_value(write) {
            *counts.entry(value).or_default() += 1;
        }
    }
    counts.values().filter(|&&n| n > 1).count()
}

/// Values of flows whose Done answered the closing page but that no successful write carries.
fn missing_values(writes: &[sim::RecordedWrite], succeeded: &[String]) -> usize {
    let written: std::collections::HashSet<String> = writes
        .iter()
        .filter(|w| w.succeeded())
        .filter_map(written_value)
        .collect();
    succeeded.iter().filter(|v| !written.contains(*v)).count()
}

fn written_value(write: &sim::RecordedWrite) -> Option<String> {
    let body = write.body.as_ref()?;
    body["customData"][0]["value"].as_str().map(str::to_owned)
}

/// Sums each instance's counters by metric name (labels dropped), for the lines that
/// matter to this benchmark.
async fn print_metrics(servers: &[Instance]) {
    let client = reqwest::Client::new();
    let mut totals: HashMap<String, f64> = HashMap::new();
    for instance in servers {
        let Ok(response) = client
            .get(format!("http://127.0.0.1:{}/metrics", instance.admin))
            .send()
            .await
        else {
            println!("metrics of {}: unreachable", instance.name);
            continue;
        };
        let text = response.text().await.unwrap_or_default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name_labels, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let name = name_labels.split('{').next().unwrap_or(name_labels);
            if name.ends_with("_total")
                && let Ok(value) = value.parse::<f64>()
            {
                *totals.entry(name_labels.to_owned()).or_default() += value;
            }
        }
    }
    let mut lines: Vec<_> = totals.into_iter().collect();
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    println!("metrics summed over the instances (counters):");
    for (name, value) in lines {
        println!("  {name} {value}");
    }
}

/// Answers per second of one server, and the CPU time it spent per answer.
#[derive(Debug, Clone, Copy)]
struct Peak {
    per_second: f64,
    cpu_us: f64,
}

impl std::fmt::Display for Peak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0}/s ({:.1} µs CPU per answer)",
            self.per_second, self.cpu_us
        )
    }
}

/// CPU time process `pid` has used (all its threads, user and system), from
/// `/proc/<pid>/stat` in clock ticks of 10 ms (Linux's fixed `USER_HZ` of 100).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Closed loop over keep-alive connections for [`TEST_CONNECTION_FOR`] against the server
/// that runs as process `pid`.
async fn test_connection_peak(client: &reqwest::Client, url: &str, pid: u32) -> Peak {
    let url = Arc::new(url.to_owned());
    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..TEST_CONNECTION_CONNECTIONS {
        let (client, url) = (client.clone(), url.clone());
        workers.spawn(async move {
            let mut ok = 0usize;
            while started.elapsed() < TEST_CONNECTION_FOR {
                let Ok(response) = client
                    .get(url.as_str())
                    .basic_auth(USERNAME, Some(PASSWORD))
                    .send()
                    .await
                else {
                    continue;
                };
                if response.status().is_success() && response.bytes().await.is_ok() {
                    ok += 1;
                }
            }
            ok
        });
    }
    let answered: usize = workers.join_all().await.into_iter().sum();
    let elapsed = started.elapsed();
    let cpu = cpu_time(pid).saturating_sub(cpu_before);
    Peak {
        per_second: answered as f64 / elapsed.as_secs_f64(),
        cpu_us: cpu.as_secs_f64() * 1e6 / answered.max(1) as f64,
    }
}

/// `redis-server` on a free port, no persistence; killed on drop.
struct Redis {
    port: u16,
    child: std::process::Child,
}

impl Redis {
    fn start(dir: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("starting redis-server (scripts/bench-cluster.sh installs it)")?;
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Self { port, child });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("redis-server did not listen on {port}")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// HAProxy terminating TLS on a free port, balancing requests round robin over the
/// instances (re-encrypting to each, verified against its CA).
struct Balancer {
    port: u16,
    version: String,
    pki: Pki,
    child: std::process::Child,
    access_log: std::path::PathBuf,
}

/// One try as HAProxy logged it.
struct Logged {
    server: String,
    retries: u32,
}

impl Balancer {
    async fn start(dir: &Path, instances: &[Instance]) -> anyhow::Result<Self> {
        let pki = Pki::new()?;
        let port = free_port()?;
        let front = dir.join("haproxy-front.pem");
        std::fs::write(&front, format!("{}{}", pki.leaf_pem, pki.key_pem))?;
        let mut servers = String::new();
        for instance in instances {
            let server = instance.server.as_ref().context("an instance")?;
            let ca = dir.join(format!("{}-ca.pem", instance.name));
            std::fs::write(&ca, &server.pki.ca_pem)?;
            servers.push_str(&format!(
                "    server {name} 127.0.0.1:{port} ssl verify required ca-file {ca} sni str(localhost) check-sni localhost verifyhost localhost alpn http/1.1 check inter 500ms fall 1 rise 2\n",
                name = instance.name,
                port = server.port,
                ca = ca.display(),
            ));
        }
        let config = dir.join("haproxy.cfg");
        std::fs::write(
            &config,
            format!(
                r#"global
    maxconn 8192
    nbthread 2
    ssl-default-bind-options ssl-min-ver TLSv1.2
    log stdout format raw local0 info

defaults
    mode http
    log global
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    retries 3
    option redispatch 1
    # A request is retried on another instance when the connection failed or the
    # instance closed it without an answer (killed): a Done POST included, which the
    # connector's one-write-per-launch claim keeps from writing twice (phase 2 checks).
    retry-on conn-failure empty-response
    http-reuse always

frontend connector
    bind 127.0.0.1:{port} ssl crt {front} alpn http/1.1
    # Phase 2's tries are logged with the instance they went to and the retries HAProxy
    # made, which says which failed tries the killed instance had.
    http-request capture req.hdr(x-bench-step) len 48
    http-request set-log-level silent unless {{ req.hdr(x-bench-step) -m beg f }}
    log-format "step=%[capture.req.hdr(0)] server=%s retries=%rc status=%ST"
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /healthz
    http-response set-header X-Served-By %[srv_name]
{servers}"#,
                front = front.display(),
            ),
        )?;
        let version = std::process::Command::new("haproxy")
            .arg("-v")
            .output()
            .context("haproxy is not installed (scripts/bench-cluster.sh installs it)")?;
        let version = String::from_utf8_lossy(&version.stdout)
            .split_whitespace()
            .nth(2)
            .unwrap_or("?")
            .to_owned();
        let check = std::process::Command::new("haproxy")
            .args(["-c", "-q", "-f"])
            .arg(&config)
            .status()?;
        if !check.success() {
            bail!("haproxy refused its configuration {}", config.display());
        }
        let log = dir.join("haproxy.log");
        let access_log = dir.join("haproxy-access.log");
        let child = std::process::Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&config)
            .stdout(std::fs::File::create(&access_log)?)
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        let balancer = Self {
            port,
            version,
            pki,
            child,
            access_log,
        };
        let client = balancer.client(1)?;
        for _ in 0..200 {
            if client
                .get(format!("https://localhost:{port}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(balancer);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "haproxy did not pass requests within 10 s; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    }

    /// The tries HAProxy logged (phase 2's): by tag, the instance it sent the try to last
    /// and how many times it retried it (elsewhere) first.
    fn logged_tries(&self) -> HashMap<String, Logged> {
        let log = std::fs::read_to_string(&self.access_log).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                let field = |name: &str| {
                    line.split_whitespace()
                        .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
                };
                let retries = field("retries")?.trim_start_matches('+').parse().ok()?;
                Some((
                    field("step")?.to_owned(),
                    Logged {
                        server: field("server")?.to_owned(),
                        retries,
                    },
                ))
            })
            .collect()
    }

    fn client(&self, connections: usize) -> anyhow::Result<reqwest::Client> {
        let ca = reqwest::Certificate::from_pem(self.pki.ca_pem.as_bytes())?;
        Ok(reqwest::Client::builder()
            .tls_certs_only([ca])
            .http1_only()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(connections)
            .build()?)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The yardstick: hyper's own server over rustls, answering `200 OK` to everything.
mod bare {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use anyhow::{Context as _, bail};
    use axum::http::{Request, Response};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use rustls::pki_types::pem::PemObject as _;

    use super::support::bench_server::Pki;

    /// `--bare-server PORT CERT KEY`: serves until killed.
    pub async fn serve(args: &[String]) -> anyhow::Result<()> {
        let [port, cert, key] = args else {
            bail!("usage: --bare-server PORT CERT KEY");
        };
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(cert)?
            .collect::<Result<Vec<_>, _>>()?;
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key)?;
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>()?)).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = tower::service_fn(|_request: Request<hyper::body::Incoming>| async {
                    Ok::<_, std::convert::Infallible>(Response::new("OK".to_owned()))
                });
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                    .await;
            });
        }
    }

    /// The bare server as a child process (its own cores, as the connector has).
    pub struct Child {
        port: u16,
        ca_pem: String,
        child: std::process::Child,
    }

    impl Child {
        pub async fn start(dir: &Path, pki: &Pki) -> anyhow::Result<Self> {
            let cert = dir.join("bare-cert.pem");
            let key = dir.join("bare-key.pem");
            std::fs::write(&cert, &pki.leaf_pem)?;
            std::fs::write(&key, &pki.key_pem)?;
            let port = super::free_port()?;
            let child = std::process::Command::new(std::env::current_exe()?)
                .arg("--bare-server")
                .arg(port.to_string())
                .arg(&cert)
                .arg(&key)
                .spawn()
                .context("starting the bare server")?;
            let bare = Self {
                port,
                ca_pem: pki.ca_pem.clone(),
                child,
            };
            let client = bare.client()?;
            for _ in 0..200 {
                if client.get(bare.url()).send().await.is_ok() {
                    return Ok(bare);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            bail!("the bare server did not answer within 10 s")
        }

        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        pub fn url(&self) -> String {
            format!("https://127.0.0.1:{}/system/v1.0/testconnection", self.port)
        }

        pub fn client(&self) -> anyhow::Result<reqwest::Client> {
            let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes())?;
            Ok(reqwest::Client::builder()
                .tls_certs_only([ca])
                .http1_only()
                .pool_max_idle_per_host(super::TEST_CONNECTION_CONNECTIONS)
                .build()?)
        }
    }

    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
