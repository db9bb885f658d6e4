//! The command line: `serve`, `check-config` and the admin tools.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Origin;

#[derive(Debug, Parser)]
#[command(
    name = "concur-connector",
    version,
    about = "SAP Concur application connector for the Launch External URL callout"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTPS server (without --config: development mode on https://localhost:8443).
    Serve(ConfigArg),
    /// Validate the configuration, print the effective settings with secrets redacted.
    CheckConfig(ConfigArg),
    /// Print a launch URL signed exactly as Concur signs it, to try a deployment end to end.
    SignLaunch(Box<SignLaunchArgs>),
    /// Send a connector exactly the callout Concur sends and judge the answer as Concur would.
    #[command(subcommand)]
    Try(TryCallout),
    /// List, replay or drop the Event Notification work queue's jobs ([queue]).
    #[command(subcommand)]
    Notifications(NotificationsCommand),
    /// Run the Concur simulator (OAuth2 and Expense APIs over HTTPS) for demos and tests.
    #[cfg(feature = "simulator")]
    Simulate(SimulateArgs),
}

#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// Print every job: id, state, attempts, times, key and last error.
    List(ConfigArg),
    /// Queue a dead letter again.
    Replay(JobArg),
    /// Remove a dead letter for good.
    Drop(JobArg),
}

#[derive(Debug, clap::Args)]
pub struct JobArg {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The job's id (from `notifications list`).
    pub id: u64,
}

#[cfg(feature = "simulator")]
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The connector's configuration: its credentials sign the simulated launches.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Where the simulator listens.
    #[arg(long, default_value = "127.0.0.1:9443")]
    pub bind: std::net::SocketAddr,
    /// Directory for the simulator's CA and certificate (the connector trusts its ca.pem).
    #[arg(long, value_name = "DIR", default_value = "certs/simulator")]
    pub certs: PathBuf,
    /// A JSON seed file (companies, users, reports…); default: the built-in seed.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Where the connector runs: launch URLs point there.
    #[arg(long, value_name = "URL", default_value = "https://localhost:8443")]
    pub connector_url: String,
    /// The PEM CA the connector's certificate comes from, for the demo's Fetch List and Fetch
    /// Attendee calls (default: the simulator's own CA, and the system roots).
    #[arg(long, value_name = "FILE")]
    pub connector_ca: Option<PathBuf>,
    /// The company request token the connector exchanges (fixed, so a restart keeps working).
    #[arg(long, default_value = "sim-company-request-token")]
    pub company_request_token: String,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("version").required(true).multiple(true).args(["v4", "v1", "request"])))]
pub struct SignLaunchArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Sign a v4 launch (HMAC-SHA256).
    #[arg(long, conflicts_with = "v1")]
    pub v4: bool,
    /// Sign a v1 launch (HMAC-SHA1, legacy).
    #[arg(long)]
    pub v1: bool,
    /// Sign a Concur Request launch: v4 with the request_owner_* names and request_ids, for
    /// launch.request_path (implies --v4).
    #[arg(long, conflicts_with = "v1")]
    pub request: bool,
    /// The item URL (v4 item_url / v1 itemurl), e.g. a v4 expense URL or, with --request, a
    /// Travel Request v4 request URL.
    #[arg(long, value_name = "URL")]
    pub item_url: String,
    /// The logged-in user: a UUID for v4, a login id for v1.
    #[arg(long, default_value = "32c2fcc3-b2e8-4907-9672-5b3f49b1c643")]
    pub user: String,
    #[arg(long, default_value = "example.com")]
    pub company_domain: String,
    /// v4: the report's (or with --request the request's) owner user UUID (default: --user).
    #[arg(long)]
    pub owner_user_id: Option<String>,
    /// v4: the report's (or with --request the request's) owner employee id.
    #[arg(long, default_value = "E12345")]
    pub employee_id: String,
    /// v4: HEADER, ENTRY or ALLOCATION.
    #[arg(long, default_value = "ENTRY")]
    pub source: String,
    /// v4: the Launch URL field's id.
    #[arg(long, default_value = "custom12")]
    pub field: String,
    /// v4: comma-separated expense ids (ALLOCATION); sent as request_ids with --request.
    #[arg(long, visible_alias = "request-ids")]
    pub expense_ids: Option<String>,
    /// v4: an OAuth authorization code to pass as client_auth_code.
    #[arg(long)]
    pub auth_code: Option<String>,
    #[arg(long, default_value = "en")]
    pub language: String,
    /// Where the connector is reached (default: https://localhost:PORT from the config).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Encode spaces as `+` (form encoding) instead of `%20`.
    #[arg(long)]
    pub form_encoding: bool,
}

#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// TOML configuration file; without it, the embedded development profile is used.
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        env = "CONCUR_CONNECTOR_CONFIG"
    )]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    pub fn origin(&self) -> Origin {
        match &self.config {
            Some(path) => Origin::File(path.clone()),
            None => Origin::Embedded,
        }
    }
}

/// The callouts `try` can play (docs/protocol.md §12.7).
#[derive(Debug, Subcommand)]
pub enum TryCallout {
    /// A Fetch List v1.2 search (a list field's drop-down).
    FetchList(Box<TryFetchListArgs>),
    /// A Fetch Attendee v2.0 search (the attendee search form).
    FetchAttendee(Box<TryAttendeeArgs>),
    /// An Event Notification (a report entering an external validation step): Concur's own
    /// example unless an option changes it.
    Notify(Box<TryNotifyArgs>),
}

/// Where to send and with which credentials.
#[derive(Debug, clap::Args)]
pub struct TryTarget {
    /// The connector's configuration: its registered user name and password authenticate the
    /// request (they are never printed).
    #[command(flatten)]
    pub config: ConfigArg,
    /// The Host Name registered in Concur, optionally with the service's endpoint path
    /// (default: Concur's default path for the service).
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// Also trust this PEM CA bundle (a private CA); certificates are always verified.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct TryFetchListArgs {
    #[command(flatten)]
    pub target: TryTarget,
    /// The search text; `*` is a wildcard (`*` alone: every item, `Apo*`: begins with).
    #[arg(long, default_value = "*")]
    pub query: String,
    /// What the query matches: TEXT or CODE.
    #[arg(long, value_name = "TEXT|CODE", default_value = "TEXT")]
    pub search_by: String,
    /// A connected list's chosen parent codes, level 1 first, separated by `-` or `,`
    /// (e.g. `P100`); none for a single-level list or the first level.
    #[arg(long, value_name = "CODES")]
    pub level_codes: Option<String>,
    /// The user's language code.
    #[arg(long, default_value = "EN")]
    pub lang: String,
    /// How many items Concur asks for (Concur's limit is 100).
    #[arg(long, default_value_t = 80)]
    pub num: u32,
    /// The list name (Concur sends it empty).
    #[arg(long, default_value = "")]
    pub list_name: String,
}

#[derive(Debug, clap::Args)]
pub struct TryAttendeeArgs {
    #[command(flatten)]
    pub target: TryTarget,
    /// The attendee type searched.
    #[arg(long = "type", value_name = "CODE", default_value = "BUSGUEST")]
    pub attendee_type: String,
    #[arg(long, default_value = "")]
    pub first_name: String,
    #[arg(long, default_value = "")]
    pub last_name: String,
    #[arg(long, default_value = "")]
    pub company: String,
    #[arg(long, default_value = "")]
    pub title: String,
    #[arg(long, default_value = "")]
    pub external_id: String,
    /// The report owner's login id (OwnerLoginID).
    #[arg(long, value_name = "LOGIN", default_value = "")]
    pub owner: String,
    /// MaximumNumberRecords (Concur's limit is 500).
    #[arg(long, default_value_t = 500)]
    pub max: u32,
}

#[derive(Debug, clap::Args)]
pub struct TryNotifyArgs {
    #[command(flatten)]
    pub target: TryTarget,
    /// The report's URL (Concur's v1.1 report details URL; sent as given). Default: the one
    /// in Concur's example.
    #[arg(long, value_name = "URL")]
    pub object_uri: Option<String>,
    /// The whole EventType. Default: `Report Entered Expense Report Workflow Step - SUBMIT`.
    #[arg(long, value_name = "TEXT")]
    pub event_type: Option<String>,
    /// EXPRPT (an expense report) or TRAVELREQ (never acted on). Default: EXPRPT.
    #[arg(long, value_name = "TYPE")]
    pub object_type: Option<String>,
}
