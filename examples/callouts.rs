//! Fetch List and Fetch Attendee throughput and latency against 50,000-row CSV sources, next
//! to test connection on the same server in the same run (issue 12's benchmark).
//!
//! Starts the release `concur-connector` binary on loopback with a 50,000-row connected list
//! (500 projects × 99 tasks, plus the projects) and a 50,000-row attendee CSV, then for each
//! of test connection, Fetch List and Fetch Attendee:
//!
//! 1. the peak: 16 keep-alive connections send as fast as they are answered for 5 s;
//! 2. half the peak, paced (each connection sends on a fixed schedule, catching up when an
//!    answer came late) for 5 s, with the client-side p50/p99 and the connector-side p99
//!    (the `latency_ms` of the server's own request log lines).
//!
//! It prints the server's resident memory with the sources loaded, next to the same binary
//! with no callout sources. A benchmark, not a test: it fails only when it cannot run.
//! Run it with `scripts/bench-callouts.sh`, or set `CONCUR_CONNECTOR_BIN`. Linux only.

#![allow(clippy::unwrap_used)]

mod support {
    pub mod bench_server;
    pub mod load;
}

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use support::bench_server::{self, Server};
use support::load::{self, Bodies};

const ROWS: usize = 50_000;
const CONNECTIONS: usize = 16;
const PEAK_FOR: Duration = Duration::from_secs(5);
const PACED_FOR: Duration = Duration::from_secs(5);

const FETCH_LIST: &str = "/concur/list/v1.2/fetch";
const FETCH_ATTENDEE: &str = "/concur/attendee/v2.0/fetch";
const TEST_CONNECTION: &str = "/system/v1.0/testconnection";

/// What one workload sends.
#[derive(Clone, Copy)]
enum Workload {
    TestConnection,
    FetchList,
    FetchAttendee,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::TestConnection => "test connection",
            Workload::FetchList => "fetch list",
            Workload::FetchAttendee => "fetch attendee",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Workload::TestConnection => TEST_CONNECTION,
            Workload::FetchList => FETCH_LIST,
            Workload::FetchAttendee => FETCH_ATTENDEE,
        }
    }

    /// The `n`th request body: searches that vary, so no answer is the same twice in a row.
    fn body(self, n: usize) -> Option<String> {
        match self {
            Workload::TestConnection => None,
            Workload::FetchList => Some(fetch_list_body(n)),
            Workload::FetchAttendee => Some(fetch_attendee_body(n)),
        }
    }
}

/// Half of the list searches are for projects (level 1, a name prefix), half for the tasks
/// of one project (level 2, everything under it, as Concur's drop-down asks).
fn fetch_list_body(n: usize) -> String {
    let project = format!("P{:03}", n % 500);
    let (long_code, short_code, query, levels) = if n.is_multiple_of(2) {
        (
            String::new(),
            String::new(),
            format!("Project {}*", n % 50),
            String::new(),
        )
    } else {
        (
            project.clone(),
            project.clone(),
            "*".to_owned(),
            format!("<code-by-level><level1>{project}</level1></code-by-level>"),
        )
    };
    format!(
        r#"<?xml version="1.0" ?>
<fetch-list-request><long-code>{long_code}</long-code><short-code>{short_code}</short-code><query>{query}</query><search-by>TEXT</search-by><lang-code>EN</lang-code><num-to-return>80</num-to-return><protected-list-key /><list-name /><connector-version /><config-options />{levels}</fetch-list-request>"#
    )
}

const LAST_NAMES: [&str; 10] = [
    "Miller", "Okafor", "Lima", "Raman", "Schmidt", "Dubois", "Tanaka", "Novak", "Silva", "Berg",
];
const COMPANIES: [&str; 5] = [
    "Len Dev",
    "Borealis GmbH",
    "Horizon Clinic",
    "Acme",
    "Globex",
];

/// A user's search: one last name (a name and a three-digit suffix: some ten people share
/// it) at one company, as typed into Concur's attendee search.
fn fetch_attendee_body(n: usize) -> String {
    let last = format!("{}{:03}", LAST_NAMES[n % LAST_NAMES.len()], (n / 10) % 500);
    let company = COMPANIES[(n / 10) % COMPANIES.len()];
    let mut customs = String::new();
    for i in 1..=25 {
        let _ = write!(customs, "<Custom{i} />");
    }
    format!(
        "<AttendeeSearchRequest><Attendee><AttendeeTypeCode>BUSGUEST</AttendeeTypeCode><FirstName /><MiddleInitial /><LastName>{last}</LastName><Suffix /><Title /><Company>{company}</Company><ExternalID /><OwnerLoginID>cm@example.com</OwnerLoginID><MaximumNumberRecords>500</MaximumNumberRecords>{customs}</Attendee></AttendeeSearchRequest>"
    )
}

/// The list CSV: 500 projects and 99 tasks under each (50,000 rows).
fn list_csv() -> String {
    let mut csv = String::from("level1,level2,label,label_de\n");
    for p in 0..500 {
        let _ = writeln!(
            csv,
            "P{p:03},,Project {p} {},Projekt {p}",
            LAST_NAMES[p % 10]
        );
        for t in 0..(ROWS / 500 - 1) {
            let _ = writeln!(csv, "P{p:03},T{t:02},Task {t} of project {p},Aufgabe {t}");
        }
    }
    csv
}

/// The attendee CSV: 50,000 people, 5,000 last names (ten people each), 5 companies.
fn attendee_csv() -> String {
    let mut csv = String::from("ExternalID,FirstName,LastName,Title,Company,AttendeeTypeCode\n");
    for i in 0..ROWS {
        let _ = writeln!(
            csv,
            "EXT{i:06},First{i},{}{:03},Title {},{},BUSGUEST",
            LAST_NAMES[i % 10],
            (i / 10) % 500,
            i % 13,
            COMPANIES[(i / 10) % 5]
        );
    }
    csv
}

/// The callout settings the benchmark serves (the CSV files are written beside the
/// configuration).
const CALLOUTS: &str = r#"
[fetch_list]
[[fetch_list.lists]]
name = "Projects"
source = "csv"
[fetch_list.lists.csv]
path = "{dir}/list.csv"

[fetch_attendee]
source = "csv"
[fetch_attendee.csv]
path = "{dir}/attendees.csv"
"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binary = bench_server::connector_binary()?;
    let (list, attendees) = (list_csv(), attendee_csv());

    let bare = Server::start(&binary, "", &[]).await?;
    let (bare_rss, _) = bare.memory_kib();
    bare.stop().await;

    let server = Server::start(
        &binary,
        CALLOUTS,
        &[
            ("list.csv", list.as_bytes()),
            ("attendees.csv", attendees.as_bytes()),
        ],
    )
    .await?;
    let (rss, _) = server.memory_kib();
    println!(
        "sources: {ROWS} list rows ({} KiB of CSV), {ROWS} attendees ({} KiB of CSV)",
        list.len() / 1024,
        attendees.len() / 1024
    );
    println!(
        "resident memory: {rss} KiB with both sources, {bare_rss} KiB without (+{} KiB)",
        rss.saturating_sub(bare_rss)
    );
    println!("\n{}", load::header("workload"));
    for workload in [
        Workload::TestConnection,
        Workload::FetchList,
        Workload::FetchAttendee,
    ] {
        let bodies: Bodies = Arc::new(move |n| workload.body(n));
        let path = workload.path();
        let peak = load::peak(&server, path, &bodies, CONNECTIONS, PEAK_FOR).await;
        let paced = load::paced(&server, path, &bodies, CONNECTIONS, peak / 2.0, PACED_FOR).await;
        println!("{}", load::row(workload.name(), peak, &paced));
    }
    let (rss, hwm) = server.memory_kib();
    println!("\nresident memory after the run: {rss} KiB (peak {hwm} KiB)");
    server.stop().await;
    Ok(())
}
