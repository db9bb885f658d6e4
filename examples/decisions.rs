//! Reports decided per second against the simulator with 50 ms of Concur latency per call,
//! and the Concur calls per decision (issue 13's benchmark).
//!
//! Starts the Concur simulator in this process with `DECISIONS` (default 200) copies of a
//! report that passes the rule and as many that fail it (their owners spread over the
//! seed's users), every call to its Concur surface answered 50 ms late (`latency_ms`), and
//! the release `concur-connector` binary on loopback with the embedded queue, one
//! `[validation]` rule and `notification.workers` = `WORKERS` (default 8). Every report is
//! submitted (the simulator posts the notification to the connector, as Concur does), then
//! the clock runs until the last one is approved or sent back. It prints reports decided
//! per second and the simulator's record of the Concur calls made: per decision, and the
//! mix (token, report details, owner lookup, v4 reads, workflow action).
//!
//! A benchmark, not a test: it fails only when it cannot run. Run it with
//! `scripts/bench-decisions.sh`, or set `CONCUR_CONNECTOR_BIN`. Linux only.

#![allow(clippy::unwrap_used)]

mod support {
    pub mod bench_server;
}

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use concur_connector::credentials::ConnectorCredentials;
use concur_connector::sim::{self, Faults, Seed, SimConfig, SimTls};
use support::bench_server::{self, PASSWORD, Server, USERNAME};

const LATENCY_MS: u64 = 50;
const PASSING: &str = "4681D8C33A284E91A46E";
const REQUEST_TOKEN: &str = "bench-company-request-token";
const REDIRECT: &str = "https://connector.bench/launchexternalurl/v4/form";
const GIVE_UP_AFTER: Duration = Duration::from_secs(600);

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` copies of the passing report and `n` that fail (their expenses lose the project),
/// none submitted yet, owners round-robin over the seed's users.
fn seed(n: usize) -> (Seed, Vec<String>) {
    let mut seed = Seed::builtin();
    let template = seed.report(PASSING).unwrap().clone();
    let owners: Vec<String> = seed.users.iter().map(|u| u.id.clone()).collect();
    let mut ids = Vec::new();
    for i in 0..2 * n {
        let mut report = template.clone();
        report.id = format!("{:0>20}", format!("B{i}"));
        report.legacy_id = format!("nBENCH{i}$key");
        report.owner = owners[i % owners.len()].clone();
        report.approval_status_id = "A_NOTF".to_owned();
        report.workflow_step = None;
        for (j, expense) in report.expenses.iter_mut().enumerate() {
            expense.id = format!("{:0>32}", format!("E{i}X{j}"));
            expense.legacy_id = format!("nBENCHE{i}X{j}");
            if i % 2 == 1 {
                expense.custom_data.remove("custom12");
            }
        }
        ids.push(report.id.clone());
        seed.reports.push(report);
    }
    (seed, ids)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    concur_connector::tls::install_default_provider();
    let binary = bench_server::connector_binary()?;
    let n = env_number("DECISIONS", 200);
    let workers = env_number("WORKERS", 8);

    let dir = tempfile::tempdir()?;
    let credentials =
        ConnectorCredentials::new(USERNAME, concur_connector::config::secret(PASSWORD))
            .map_err(|(key, e)| anyhow::anyhow!("{key}: {e}"))?;
    let placeholder = reqwest::Url::parse("https://connector.bench/")?;
    let mut config = SimConfig::new(credentials, &placeholder, SimTls::generate_in(dir.path()))?;
    config.redirect_uri = REDIRECT.to_owned();
    config.company_request_token = concur_connector::config::secret(REQUEST_TOKEN);
    let (seed, reports) = seed(n);
    config.seed = seed;
    let company = config.seed.company.id.clone();
    let sim = sim::start(config).await?;
    let base = sim.base_url().as_str().trim_end_matches('/').to_owned();
    let host = format!(
        "{}:{}",
        sim.base_url().host_str().context("the simulator's host")?,
        sim.base_url().port().context("the simulator's port")?
    );
    let extra = format!(
        r#"
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
[notification]
workers = {workers}
[validation]
[[validation.rules]]
name = "project-on-expenses"
kind = "required"
field = "custom12"
on = "expenses"
"#,
        client_id = sim::DEFAULT_CLIENT_ID,
        client_secret = sim::DEFAULT_CLIENT_SECRET,
        ca = sim.ca_pem_path().display(),
    );
    let server = Server::start(&binary, &extra, &[]).await?;
    sim.set_notify_target(
        reqwest::Url::parse(&server.url("/concur/v1.0/notify"))?,
        &server.pki.ca_pem,
    )?;
    sim.set_faults(Faults {
        latency_ms: LATENCY_MS,
        ..Faults::default()
    });
    sim.clear_requests();

    println!(
        "{} reports ({} pass, {} fail), {workers} workers, {LATENCY_MS} ms per Concur call",
        reports.len(),
        n,
        n
    );
    let started = Instant::now();
    for report in &reports {
        let delivery = sim.submit_report(report).await?;
        if delivery.outcome != "delivered" {
            bail!("the notification of {report} was not delivered: {delivery:?}");
        }
    }
    let submitted_in = started.elapsed();
    loop {
        let state = sim.snapshot();
        let pending = reports
            .iter()
            .filter(|id| {
                state
                    .report(id)
                    .is_some_and(|r| r.approval_status_id == "A_EXTV")
            })
            .count();
        if pending == 0 {
            break;
        }
        if started.elapsed() > GIVE_UP_AFTER {
            bail!("{pending} reports still undecided after {GIVE_UP_AFTER:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    let decided = reports.len();
    println!(
        "submitted in {:.1} s; all decided in {:.1} s: {:.1} reports decided per second",
        submitted_in.as_secs_f64(),
        took.as_secs_f64(),
        decided as f64 / took.as_secs_f64()
    );

    let requests = sim.requests();
    let count = |pick: &dyn Fn(&str, &str) -> bool| {
        requests
            .iter()
            .filter(|r| pick(r.method.as_str(), r.path.as_str()))
            .count()
    };
    let token = count(&|_, p| p.starts_with("/oauth2/"));
    let details = count(&|_, p| p.contains("/reportfulldetails/"));
    let identity = count(&|_, p| p.starts_with("/profile/identity/"));
    let v4_reads = count(&|m, p| m == "GET" && p.starts_with("/expensereports/v4/"));
    let actions =
        count(&|m, p| m == "PATCH" && (p.ends_with("/approve") || p.ends_with("/sendBack")));
    let per = |calls: usize| calls as f64 / decided as f64;
    println!(
        "concur calls per decision: {:.2} (details {:.2}, owner lookup {:.2}, v4 reads {:.2}, action {:.2}, token {:.2})",
        per(requests.len()),
        per(details),
        per(identity),
        per(v4_reads),
        per(actions),
        per(token)
    );
    let other = requests.len() - token - details - identity - v4_reads - actions;
    if other > 0 {
        println!("other calls: {other}");
    }
    server.stop().await;
    sim.shutdown().await?;
    Ok(())
}
