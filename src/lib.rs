//! concur-connector: an SAP Concur application connector for the Launch External URL callout.

/// The admin listener: metrics, health and readiness for the operator.
pub mod admin;
/// Where the Fetch Attendee callout's attendees come from: inline, CSV file or HTTP lookup.
pub mod attendees;
/// Building blocks of configuration checks: keyed problems, secrets, URL checks.
pub mod checks;
/// The command line.
pub mod cli;
/// The Concur web-services client: tokens, reading the launched item, writing a field.
pub mod concur;
/// Typed settings: defaults, TOML file, environment; validated once at start-up.
pub mod config;
/// Connection bounds: how many at once, overflow for health probes, idle timeout.
pub mod conn;
/// `doctor`: check a deployment from this machine as Concur sees it, one line per check.
pub mod doctor;
/// Entry points for the fuzz targets in `fuzz/` (not an API).
#[doc(hidden)]
pub mod fuzzing;
/// The connector's registered user name and password (from `concur-protocol`).
pub use concur_protocol::credentials;
/// The Launch External URL protocol: parsing, verification and signing (pure; from
/// `concur-protocol`).
pub use concur_protocol::launch;
/// The lists the Fetch List callout serves: inline trees, CSV files, HTTP lookups.
pub mod lists;
/// The metrics (Prometheus text on the admin listener); the only place naming them.
pub mod metrics;
/// Middleware that calls the service beneath it directly (no per-request clone of the stack).
pub mod middleware;
/// Event Notification: the `[notification]` settings, the job payload, the queue handle.
pub mod notify;
/// HTML pages from auto-escaping, operator-overridable templates.
pub mod pages;
/// What the user picks and where it is written: settings and the Done step's decisions.
pub mod picker;
/// HTTP routes and the router with its cross-cutting layers.
pub mod routes;
/// Launch sessions behind a cookie, after the signed launch.
pub mod session;
/// The keys sealing users' Concur tokens into shared sessions.
pub mod session_keys;
/// A simulator of the SAP Concur services the connector uses (OAuth2, Expense v4/v3/v1.1).
#[cfg(feature = "simulator")]
pub mod sim;
/// Wiring: listener, TLS, graceful shutdown.
pub mod startup;
/// What every handler shares (`AppState`), built once at start-up.
pub mod state;
/// Nonce and session stores behind traits (memory now; shared backends plug in).
pub mod store;
/// Logging setup and request spans.
pub mod telemetry;
/// Server TLS: restricted suites, certificate loading, live reload.
pub mod tls;
/// `token migrate`: a state file's company token into Redis.
pub mod token_migrate;
/// `try`: send a connector the callout Concur sends and judge the answer as Concur would.
pub mod tryout;
/// The rules a submitted report must pass (Event Notification): required fields, allowed
/// values, amount limits, a decision hook; the verdict and its comment.
pub mod validation;
/// Where the user's choices come from: inline list, CSV file or HTTP lookup; search and filters.
pub mod values;
