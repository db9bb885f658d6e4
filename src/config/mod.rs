//! Typed settings: built-in defaults, then the TOML file, then `CONCUR_CONNECTOR__*` env.
//!
//! [`load`] reads every source once at start-up and converts it into domain types
//! ([`Settings`]); every problem is reported with the key it concerns, and nothing
//! downstream parses strings again.

mod raw;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use secrecy::ExposeSecret;

pub use crate::checks::{ConfigProblem, Problems, problem};
use crate::credentials::ConnectorCredentials;
pub use raw::{LogFormat, QueueBackend, RawSettings, StoreBackend};

/// Prefix of environment overrides: `CONCUR_CONNECTOR__SECTION__KEY`.
pub const ENV_PREFIX: &str = "CONCUR_CONNECTOR";

/// The profile `serve` uses when no configuration file is given.
pub const DEVELOPMENT_PROFILE: &str = include_str!("../../config/development.toml");

/// Where the settings come from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// No file: the embedded development profile.
    Embedded,
    /// A TOML file given with `--config`.
    File(PathBuf),
}

/// The validated settings, in domain types.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Development mode relaxes the production safety checks and says so loudly.
    pub development: bool,
    pub server: ServerSettings,
    pub tls: TlsSettings,
    pub credentials: ConnectorCredentials,
    /// True when the credentials are the embedded development ones.
    pub uses_development_credentials: bool,
    /// `connector.public_url`: the Host Name registered in Concur, checked by `doctor`.
    pub public_url: Option<reqwest::Url>,
    pub launch: LaunchSettings,
    pub store: StoreSettings,
    pub queue: QueueSettings,
    /// The Concur web-services client, when `[concur]` is configured.
    pub concur: Option<crate::concur::ClientConfig>,
    /// What the user picks and which field it is written to.
    pub picker: crate::picker::PickerSettings,
    /// Operator templates replacing the embedded ones, if any.
    pub template_dir: Option<PathBuf>,
    /// `[values]` as written and checked ([`crate::values::Values::check`]);
    /// [`crate::values::Values::from_settings`] builds the source at start-up.
    pub values: crate::values::ValuesSettings,
    /// `[fetch_list]` as written; [`crate::lists::Lists::from_settings`] checks and builds it.
    pub fetch_list: crate::lists::FetchListSettings,
    /// `[fetch_attendee]` as written (path checked);
    /// [`crate::attendees::Attendees::from_settings`] checks and builds its source.
    pub fetch_attendee: crate::attendees::FetchAttendeeSettings,
    /// `[validation]` as written and checked ([`crate::validation::Validator::check`]);
    /// [`crate::validation::Validator::from_settings`] builds the rules at start-up.
    pub validation: crate::validation::ValidationSettings,
    /// `[notification]` as written and checked (path included).
    pub notification: crate::notify::settings::NotificationSettings,
    /// The Concur simulator `serve` starts beside the connector, when enabled.
    pub simulator: Option<SimulatorSettings>,
    pub log: LogSettings,
    /// Where the admin listener (metrics, health, readiness) listens; `None` when
    /// `admin.enabled = false`.
    pub admin: Option<SocketAddr>,
    /// The raw tree as loaded, for `check-config` (secrets render redacted).
    pub raw: RawSettings,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    pub request_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// How the server bounds its connections.
    pub connections: ConnectionSettings,
}

/// Bounds on connections: how long a client may take, how many may be open at once.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// A request's headers must arrive within this; an HTTP/1.1 connection kept alive
    /// waits this long for the next request.
    pub header_read_timeout: Duration,
    /// A connection with no request in progress for this long is closed.
    pub idle_timeout: Duration,
    /// Connections served normally at the same time; a few more get only the health
    /// endpoints, the rest are closed at once.
    pub max_connections: usize,
    pub http2_max_concurrent_streams: u32,
    pub http2_keep_alive_interval: Duration,
    pub http2_keep_alive_timeout: Duration,
}

/// How the listener speaks TLS.
#[derive(Debug, Clone)]
pub enum TlsSettings {
    /// Plain HTTP, for running behind a TLS-terminating proxy.
    Disabled,
    Enabled {
        cert_file: PathBuf,
        key_file: PathBuf,
        /// Generate a self-signed localhost certificate at these paths if none is there.
        generate_self_signed: bool,
        /// Accept a self-signed certificate (always true in development mode).
        allow_self_signed: bool,
        /// Reload the certificate when its files change.
        watch: bool,
    },
}

/// The Launch External URL endpoints.
#[derive(Debug, Clone)]
pub struct LaunchSettings {
    /// Path of the v4 endpoint, `None` when switched off.
    pub v4_path: Option<String>,
    /// Path of the v1 endpoint, `None` when switched off.
    pub v1_path: Option<String>,
    /// Path of the Concur Request v4 endpoint (served by the v4 handler), `None` when
    /// switched off.
    pub request_path: Option<String>,
    pub replay_window: Duration,
    pub session_lifetime: Duration,
    pub item_urls: crate::launch::ItemUrlPolicy,
    /// On a signature mismatch, log which known wrong reading would have matched.
    pub diagnostics: bool,
    /// `launch.company_domains`, lower-cased; empty means any company.
    pub company_domains: Vec<String>,
    /// `launch.allow_company_token_fallback`: a v4 launch without `client_auth_code` is
    /// accepted (and served with the company token) even though `[concur]` is configured.
    pub allow_company_token_fallback: bool,
}

impl LaunchSettings {
    /// Every launch endpoint switched on: v4, v1, Request.
    pub fn paths(&self) -> impl Iterator<Item = &String> {
        [&self.v4_path, &self.v1_path, &self.request_path]
            .into_iter()
            .flatten()
    }

    /// Whether a launch for this (signed) company domain may proceed. Domains compare
    /// ASCII-case-insensitively; an empty allow-list admits every company.
    pub fn company_allowed(&self, company_domain: &str) -> bool {
        self.company_domains.is_empty()
            || self
                .company_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(company_domain))
    }
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub backend: StoreBackend,
    pub max_entries: u64,
    /// Set when `backend = "redis"`.
    pub redis: Option<crate::store::redis::RedisSettings>,
    /// `store.session_keys`: with Redis, users' Concur tokens travel encrypted in the
    /// session, so every instance can use them.
    pub session_keys: Option<crate::session_keys::SessionKeys>,
}

/// The durable work queue (used by Event Notification, next step).
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// `queue.backend`, or the one `store.backend` implies.
    pub backend: QueueBackend,
    /// The embedded backend's file.
    pub path: PathBuf,
    /// How long after its first delivery a failing job is retried (`queue.retry_for`).
    pub retry_for: std::time::Duration,
    /// The longest wait between two attempts (`queue.max_backoff`).
    pub max_backoff: std::time::Duration,
    pub lease: std::time::Duration,
}

/// The queue's settings; `redis` needs the `[store]` Redis, whose connection it reuses.
fn queue_settings(raw: &RawSettings, problems: &mut Problems) -> QueueSettings {
    let q = &raw.queue;
    let backend = q.backend.unwrap_or(match raw.store.backend {
        StoreBackend::Memory => QueueBackend::Embedded,
        StoreBackend::Redis => QueueBackend::Redis,
    });
    if backend == QueueBackend::Redis && raw.store.backend != StoreBackend::Redis {
        problems.push(
            "queue.backend",
            "\"redis\" uses the [store] Redis: set store.backend = \"redis\" and store.redis_url",
        );
    }
    if backend == QueueBackend::Embedded && q.path.as_os_str().is_empty() {
        problems.push("queue.path", "must name the queue's file");
    }
    for (key, value) in [
        ("queue.retry_for", q.retry_for),
        ("queue.max_backoff", q.max_backoff),
        ("queue.lease", q.lease),
    ] {
        if value.is_zero() {
            problems.push(key, "must be greater than zero");
        }
    }
    QueueSettings {
        backend,
        path: q.path.clone(),
        retry_for: q.retry_for,
        max_backoff: q.max_backoff,
        lease: q.lease,
    }
}

/// The simulator started beside `serve` (`[simulator] enabled = true`, development only);
/// see [`crate::sim::embedded`].
#[derive(Debug, Clone)]
pub struct SimulatorSettings {
    /// Where the simulator listens (port 0 picks a free one).
    pub bind: SocketAddr,
    /// Directory of the simulator's CA and certificate (and the demo's Concur token state).
    pub certs: PathBuf,
    /// The data set: the file given as `simulator.seed`, else the built-in one.
    #[cfg(feature = "simulator")]
    pub seed: crate::sim::Seed,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `tracing_subscriber::EnvFilter` directives; `RUST_LOG` wins when set.
    pub level: String,
}

pub use crate::checks::{Mode, redacted, secret, web_url};

/// Loads the settings from the process environment.
pub fn load(origin: &Origin) -> Result<Settings, Vec<ConfigProblem>> {
    load_with_env(origin, None)
}

/// Loads the settings with an explicit environment (tests), or the process one (`None`).
pub fn load_with_env(
    origin: &Origin,
    env: Option<HashMap<String, String>>,
) -> Result<Settings, Vec<ConfigProblem>> {
    let raw = read_raw(origin, env).map_err(|p| vec![p])?;
    validate(raw)
}

fn read_raw(
    origin: &Origin,
    env: Option<HashMap<String, String>>,
) -> Result<RawSettings, ConfigProblem> {
    let mut builder = Config::builder();
    builder = match origin {
        Origin::Embedded => {
            builder.add_source(File::from_str(DEVELOPMENT_PROFILE, FileFormat::Toml))
        }
        Origin::File(path) => {
            if !path.is_file() {
                return Err(ConfigProblem::new(
                    "--config",
                    format!("{} does not exist or is not a file", path.display()),
                ));
            }
            builder.add_source(File::from(path.as_path()).format(FileFormat::Toml))
        }
    };
    let environment = Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("__")
        .separator("__")
        .list_separator(",")
        .with_list_parse_key("launch.allowed_item_hosts")
        .with_list_parse_key("launch.company_domains")
        .source(env);
    builder
        .add_source(environment)
        .build()
        .and_then(Config::try_deserialize::<RawSettings>)
        .map_err(problem_from_config_error)
}

/// Turns the `config` crate's error into a keyed problem. Its messages look like
/// `invalid type: … for key `tls.enabled` in …` or `unknown field `x`, expected …`.
fn problem_from_config_error(error: config::ConfigError) -> ConfigProblem {
    let text = error.to_string();
    let key = text
        .split_once("for key `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(key, _)| key.to_owned())
        .or_else(|| {
            text.split_once("unknown field `")
                .and_then(|(_, rest)| rest.split_once('`'))
                .map(|(key, _)| key.to_owned())
        })
        .unwrap_or_else(|| "config".to_owned());
    let message = text
        .split(" for key `")
        .next()
        .unwrap_or(&text)
        .trim()
        .to_owned();
    ConfigProblem::new(key, message)
}

fn validate(raw: RawSettings) -> Result<Settings, Vec<ConfigProblem>> {
    let mut problems = Problems::default();
    let development = raw.development;

    let bind = problems.take(
        "server.bind",
        raw.server.bind.parse::<SocketAddr>().map_err(|e| {
            format!(
                "`{}` is not an address like 0.0.0.0:8443: {e}",
                raw.server.bind
            )
        }),
    );
    if development && bind.is_some_and(|b| !b.ip().is_loopback()) {
        problems.push(
            "server.bind",
            format!(
                "`{}` is not a loopback address; development mode (public credentials, \
                 self-signed certificate) listens on 127.0.0.1 or [::1] only: bind one of \
                 those, or give a production configuration (--config) without development = true",
                raw.server.bind
            ),
        );
    }
    if raw.server.request_timeout.is_zero() {
        problems.push("server.request_timeout", "must be greater than zero");
    }
    for (key, value) in [
        ("server.header_read_timeout", raw.server.header_read_timeout),
        ("server.idle_timeout", raw.server.idle_timeout),
        (
            "server.http2_keep_alive_interval",
            raw.server.http2_keep_alive_interval,
        ),
        (
            "server.http2_keep_alive_timeout",
            raw.server.http2_keep_alive_timeout,
        ),
    ] {
        if value.is_zero() {
            problems.push(key, "must be greater than zero");
        }
    }
    if raw.server.max_connections == 0 {
        problems.push("server.max_connections", "must be greater than zero");
    }
    if raw.server.http2_max_concurrent_streams == 0 {
        problems.push(
            "server.http2_max_concurrent_streams",
            "must be greater than zero",
        );
    }

    let credentials = connector_credentials(&raw, &mut problems);
    let uses_development_credentials = credentials.as_ref().is_some_and(is_development_credentials);
    if uses_development_credentials && !development && !raw.connector.allow_development_credentials
    {
        problems.push(
            "connector.password",
            "the development credentials are refused outside development mode; register your own \
             user name and password in Concur (or set connector.allow_development_credentials = true)",
        );
    }

    let public_url = raw.connector.public_url.as_deref().and_then(|url| {
        problems.take(
            "connector.public_url",
            public_url(url).map_err(|why| format!("`{url}` {why}")),
        )
    });
    let tls = tls_settings(&raw, &mut problems);
    let launch = launch_settings(&raw, &mut problems);
    fetch_list_paths(&raw, &launch, &mut problems);
    fetch_attendee_checks(&raw, &launch, &mut problems);
    notification_checks(&raw, &launch, &mut problems);
    let concur = raw
        .concur
        .clone()
        .and_then(|c| c.validate(&mut problems, Mode::of(development)));
    let simulator = simulator_settings(&raw, bind, &mut problems);
    raw.picker.check(raw.server.request_timeout, &mut problems);
    crate::values::Values::check(&raw.values, Mode::of(development), &mut problems);
    crate::validation::Validator::check(&raw.validation, Mode::of(development), &mut problems);
    if raw.store.max_entries == 0 {
        problems.push("store.max_entries", "must be greater than zero");
    }
    let redis = redis_settings(&raw, &mut problems);
    let session_keys = crate::session_keys::SessionKeys::from_settings(
        &mut problems,
        &raw.store.session_keys,
        raw.store.session_keys_file.as_deref(),
        raw.store.session_key_id.as_deref(),
    );
    let queue = queue_settings(&raw, &mut problems);
    let admin = raw.admin.check(bind, &mut problems);

    let log = LogSettings {
        format: raw.log.format,
        level: raw.log.level.clone(),
    };
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&raw.log.level) {
        problems.push("log.level", format!("not a valid filter: {e}"));
    }

    match (problems.is_empty(), bind, credentials) {
        (true, Some(bind), Some(credentials)) => Ok(Settings {
            development,
            server: ServerSettings {
                bind,
                request_timeout: raw.server.request_timeout,
                shutdown_timeout: raw.server.shutdown_timeout,
                connections: ConnectionSettings {
                    header_read_timeout: raw.server.header_read_timeout,
                    idle_timeout: raw.server.idle_timeout,
                    max_connections: raw.server.max_connections,
                    http2_max_concurrent_streams: raw.server.http2_max_concurrent_streams,
                    http2_keep_alive_interval: raw.server.http2_keep_alive_interval,
                    http2_keep_alive_timeout: raw.server.http2_keep_alive_timeout,
                },
            },
            tls,
            credentials,
            uses_development_credentials,
            public_url,
            launch,
            store: StoreSettings {
                backend: raw.store.backend,
                max_entries: raw.store.max_entries,
                redis,
                session_keys,
            },
            queue,
            concur,
            picker: raw.picker.clone(),
            template_dir: raw.pages.template_dir.clone(),
            values: raw.values.clone(),
            fetch_list: crate::lists::FetchListSettings {
                // A search gives up well before the server's request timeout, which would
                // answer 503 where Concur should get the empty answer.
                timeout: raw.fetch_list.timeout.min(raw.server.request_timeout / 2),
                ..raw.fetch_list.clone()
            },
            fetch_attendee: crate::attendees::FetchAttendeeSettings {
                // A search gives up well before the server's request timeout, which would
                // answer 503 where Concur should get the empty answer.
                timeout: raw
                    .fetch_attendee
                    .timeout
                    .min(raw.server.request_timeout / 2),
                ..raw.fetch_attendee.clone()
            },
            validation: raw.validation.clone(),
            notification: raw.notification.clone(),
            simulator,
            log,
            admin,
            raw,
        }),
        _ => Err(problems.into_vec()),
    }
}

/// The Redis connection of `backend = "redis"` (nothing for the memory backend).
fn redis_settings(
    raw: &RawSettings,
    problems: &mut Problems,
) -> Option<crate::store::redis::RedisSettings> {
    let s = &raw.store;
    if s.backend != StoreBackend::Redis {
        return None;
    }
    if s.redis_timeout.is_zero() {
        problems.push("store.redis_timeout", "must be greater than zero");
    }
    let url = secret::resolve_required(
        problems,
        "store.redis_url",
        s.redis_url.clone(),
        s.redis_url_file.as_deref(),
        Some("backend = \"redis\" needs the server, e.g. redis://127.0.0.1:6379/0"),
    )?;
    if let Err(message) = crate::store::redis::check_url(&url) {
        let key = if s.redis_url_file.is_some() {
            "store.redis_url_file"
        } else {
            "store.redis_url"
        };
        problems.push(key, message);
        return None;
    }
    let password = secret::resolve(
        problems,
        "store.redis_password",
        s.redis_password.clone().filter(|p| !secret::is_blank(p)),
        s.redis_password_file.as_deref(),
    );
    if password.is_some() && crate::store::redis::has_password(&url) {
        problems.push(
            "store.redis_password",
            "the Redis URL carries a password too: set it in one place",
        );
    }
    let username = s.redis_username.clone().filter(|u| !u.trim().is_empty());
    if username.is_some() && password.is_none() && !crate::store::redis::has_password(&url) {
        problems.push(
            "store.redis_password",
            "is required with store.redis_username (the ACL user's password): set \
             `store.redis_password` or `store.redis_password_file`",
        );
    }
    let files = crate::store::redis::TlsFiles {
        ca: s.redis_ca_file.clone(),
        client_cert: s.redis_client_cert_file.clone(),
        client_key: s.redis_client_key_file.clone(),
    };
    let tls_key = [
        ("store.redis_ca_file", &files.ca),
        ("store.redis_client_cert_file", &files.client_cert),
        ("store.redis_client_key_file", &files.client_key),
    ]
    .into_iter()
    .find_map(|(key, file)| file.as_ref().map(|_| key));
    if let Some(key) = tls_key
        && !crate::store::redis::is_tls(&url)
    {
        problems.push(
            key,
            "needs a TLS connection: the Redis URL must start with rediss://",
        );
    }
    let tls = crate::store::redis::read_tls(&files)
        .map_err(|(key, message)| problems.push(key, message))
        .ok()?;
    Some(crate::store::redis::RedisSettings {
        url,
        key_prefix: s.key_prefix.clone(),
        timeout: s.redis_timeout,
        username,
        password,
        tls,
    })
}

/// The Host Name registered in Concur: `https://name[:port]`, nothing else (Concur appends
/// the fixed and the service paths itself).
pub fn public_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("is not a URL: {e}"))?;
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
        return Err(
            "must be an https:// URL with a host name, like https://connector.example.com"
                .to_owned(),
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".to_owned());
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(
            "must be only https://name[:port], without a path or query (Concur adds the paths)"
                .to_owned(),
        );
    }
    Ok(url)
}

fn connector_credentials(
    raw: &RawSettings,
    problems: &mut Problems,
) -> Option<ConnectorCredentials> {
    let c = &raw.connector;
    let username = c.username.clone().filter(|u| !u.is_empty());
    let known_problems = problems.len();
    let password = secret::resolve_required(
        problems,
        "connector.password",
        c.password.clone(),
        c.password_file.as_deref(),
        Some("the Password registered in Concur"),
    );
    if username.is_none() {
        problems.push(
            "connector.username",
            "is required (the User Name registered in Concur)",
        );
    }
    if problems.len() > known_problems {
        return None;
    }
    let (username, password) = (username?, password?);
    match ConnectorCredentials::new(username, password) {
        Ok(credentials) => Some(credentials),
        Err((part, error)) => {
            problems.push(format!("connector.{part}"), error.to_string());
            None
        }
    }
}

fn tls_settings(raw: &RawSettings, problems: &mut Problems) -> TlsSettings {
    let t = &raw.tls;
    if !t.enabled {
        return TlsSettings::Disabled;
    }
    if t.self_signed && !raw.development && !t.allow_self_signed {
        problems.push(
            "tls.self_signed",
            "Concur rejects self-signed certificates; outside development mode use a CA-signed \
             certificate (or set tls.allow_self_signed = true for a private test)",
        );
    }
    if !t.self_signed {
        for (key, path) in [
            ("tls.cert_file", &t.cert_file),
            ("tls.key_file", &t.key_file),
        ] {
            if let Err(e) = std::fs::File::open(path) {
                problems.push(key, format!("cannot read {}: {e}", path.display()));
            }
        }
    }
    TlsSettings::Enabled {
        cert_file: t.cert_file.clone(),
        key_file: t.key_file.clone(),
        generate_self_signed: t.self_signed,
        allow_self_signed: t.allow_self_signed || raw.development,
        watch: t.watch,
    }
}

/// Paths the connector serves itself; a launch endpoint may not shadow them.
const RESERVED_PATHS: &[&str] = &["/system/", "/healthz", "/readyz", "/assets/", "/launch/"];

/// Why an endpoint path cannot be served, if it cannot: not absolute, holding characters
/// a route cannot, or shadowing one of the connector's own paths.
fn endpoint_path_problem(path: &str, example: &str) -> Option<String> {
    let bad = |why: &str| Some(format!("`{path}` {why}"));
    if !path.starts_with('/') || path.contains(['?', '#', ' ', '{', '}', '*']) || path.len() < 2 {
        return bad(&format!("must be an absolute path like {example}"));
    }
    RESERVED_PATHS
        .iter()
        .find(|r| path.starts_with(*r) || format!("{path}/") == **r)
        .and_then(|reserved| bad(&format!("collides with the connector's own {reserved}")))
}

/// `[fetch_attendee]` (when enabled): the path is a valid endpoint, and neither it nor its
/// `v1.0` twin a launch endpoint. (The sources are checked by `Attendees::from_settings`.)
fn fetch_attendee_checks(raw: &RawSettings, launch: &LaunchSettings, problems: &mut Problems) {
    let settings = &raw.fetch_attendee;
    if !settings.enabled {
        return;
    }
    let key = "fetch_attendee.path";
    let path = settings.path.as_str();
    if let Some(problem) = endpoint_path_problem(path, crate::attendees::DEFAULT_PATH) {
        problems.push(key, problem);
        return;
    }
    let twin = crate::attendees::v1_twin(path);
    for launch_path in launch.paths() {
        if launch_path == path || twin.as_deref() == Some(launch_path.as_str()) {
            problems.push(key, format!("`{path}` is also a launch endpoint"));
        }
    }
}

fn launch_settings(raw: &RawSettings, problems: &mut Problems) -> LaunchSettings {
    let l = &raw.launch;
    let mut path = |key: &str, enabled: bool, path: &str| -> Option<String> {
        if !enabled {
            return None;
        }
        if let Some(problem) = endpoint_path_problem(path, "/launchexternalurl/v4/form") {
            problems.push(key, problem);
        }
        Some(path.to_owned())
    };
    let v4_path = path("launch.v4_path", l.v4_enabled, &l.v4_path);
    let v1_path = path("launch.v1_path", l.v1_enabled, &l.v1_path);
    let request_path = path("launch.request_path", l.request_enabled, &l.request_path);
    if v4_path.is_some() && v4_path == v1_path {
        problems.push("launch.v1_path", "must differ from launch.v4_path");
    }
    for (other, key) in [(&v4_path, "launch.v4_path"), (&v1_path, "launch.v1_path")] {
        if request_path.is_some() && request_path == *other {
            problems.push("launch.request_path", format!("must differ from {key}"));
        }
    }
    for (key, value) in [
        ("launch.replay_window", l.replay_window),
        ("launch.session_lifetime", l.session_lifetime),
    ] {
        if value.is_zero() {
            problems.push(key, "must be greater than zero");
        }
    }
    for host in &l.allowed_item_hosts {
        if let Err(message) = crate::launch::check_allowed_host(host) {
            problems.push("launch.allowed_item_hosts", message);
        }
    }
    for domain in &l.company_domains {
        if domain.trim().is_empty() || domain.trim() != domain {
            problems.push(
                "launch.company_domains",
                format!("`{domain}` is not a company domain (give them as Concur sends them, e.g. acmecorp.com)"),
            );
        }
    }
    LaunchSettings {
        v4_path,
        v1_path,
        request_path,
        replay_window: l.replay_window,
        session_lifetime: l.session_lifetime,
        item_urls: crate::launch::ItemUrlPolicy::with_extra_hosts(
            l.allowed_item_hosts.iter().cloned(),
        ),
        diagnostics: l.diagnostics,
        company_domains: l
            .company_domains
            .iter()
            .map(|d| d.to_ascii_lowercase())
            .collect(),
        allow_company_token_fallback: l.allow_company_token_fallback,
    }
}

/// The Fetch List paths: valid endpoints, distinct, and none a launch or Fetch Attendee
/// endpoint. (The lists are checked by `Lists::from_settings`.)
fn fetch_list_paths(raw: &RawSettings, launch: &LaunchSettings, problems: &mut Problems) {
    let paths = raw.fetch_list.paths();
    let attendee_paths = fetch_attendee_paths(raw);
    let taken: Vec<&String> = launch.paths().chain(&attendee_paths).collect();
    for (index, (key, path)) in paths.iter().enumerate() {
        if let Some(problem) = endpoint_path_problem(path, crate::lists::DEFAULT_PATH) {
            problems.push(key, problem);
        } else if taken.iter().any(|t| t.as_str() == *path) {
            problems.push(
                key,
                format!("`{path}` is also a launch or Fetch Attendee endpoint"),
            );
        } else if let Some((other, _)) = paths[..index].iter().find(|(_, p)| p == path) {
            problems.push(key, format!("`{path}` is also {other}"));
        }
    }
}

/// `[notification]` (when enabled): its own checks, and a path that is a valid endpoint
/// and none of the launch, Fetch List or Fetch Attendee endpoints.
fn notification_checks(raw: &RawSettings, launch: &LaunchSettings, problems: &mut Problems) {
    let settings = &raw.notification;
    if !settings.enabled {
        return;
    }
    settings.check(problems);
    let key = "notification.path";
    let path = settings.path.as_str();
    if let Some(problem) = endpoint_path_problem(path, crate::notify::settings::DEFAULT_PATH) {
        problems.push(key, problem);
        return;
    }
    let attendee_paths = fetch_attendee_paths(raw);
    let taken = launch
        .paths()
        .chain(&attendee_paths)
        .map(String::as_str)
        .chain(raw.fetch_list.paths().into_iter().map(|(_, p)| p));
    if taken.into_iter().any(|other| other == path) {
        problems.push(
            key,
            format!("`{path}` is also a launch, Fetch List or Fetch Attendee endpoint"),
        );
    }
}

/// The paths Fetch Attendee answers on (its path and that path's `v1.0` twin), none when
/// it is switched off.
fn fetch_attendee_paths(raw: &RawSettings) -> Vec<String> {
    let attendee = &raw.fetch_attendee;
    if !attendee.enabled {
        return Vec::new();
    }
    [
        Some(attendee.path.clone()),
        crate::attendees::v1_twin(&attendee.path),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn simulator_settings(
    raw: &RawSettings,
    server_bind: Option<SocketAddr>,
    problems: &mut Problems,
) -> Option<SimulatorSettings> {
    let s = &raw.simulator;
    if !s.enabled {
        return None;
    }
    if cfg!(not(feature = "simulator")) {
        problems.push(
            "simulator.enabled",
            "this build has no Concur simulator (built without the `simulator` feature); set \
             simulator.enabled = false, or give --config with a production configuration",
        );
        return None;
    }
    if !raw.development {
        problems.push(
            "simulator.enabled",
            "the Concur simulator is for development only; switch it off (or set development = true \
             on a machine Concur never talks to)",
        );
    }
    let bind = problems.take(
        "simulator.bind",
        s.bind
            .parse::<SocketAddr>()
            .map_err(|e| format!("`{}` is not an address like 127.0.0.1:9443: {e}", s.bind)),
    );
    if bind.is_some_and(|b| !b.ip().is_loopback()) {
        problems.push(
            "simulator.bind",
            format!(
                "`{}` is not a loopback address; the simulator signs launches with the \
                 connector's credentials and listens on 127.0.0.1 or [::1] only",
                s.bind
            ),
        );
    }
    if let Some(server) = server_bind {
        if server.port() == 0 {
            problems.push(
                "server.bind",
                "the simulator needs the connector's port to build launch URLs; give a fixed port",
            );
        } else if bind.is_some_and(|b| b.port() == server.port()) {
            problems.push("simulator.bind", "must use another port than server.bind");
        }
    }
    #[cfg(feature = "simulator")]
    let seed = match &s.seed {
        None => Some(crate::sim::Seed::builtin()),
        Some(path) => problems.take(
            "simulator.seed",
            crate::sim::Seed::from_file(path).map_err(|e| e.to_string()),
        ),
    };
    Some(SimulatorSettings {
        bind: bind?,
        certs: s.certs.clone(),
        #[cfg(feature = "simulator")]
        seed: seed?,
    })
}

/// The credentials of the embedded development profile, compared by value so that a
/// production file that copies them is caught too.
fn is_development_credentials(credentials: &ConnectorCredentials) -> bool {
    let dev: toml::Table = toml::from_str(DEVELOPMENT_PROFILE).unwrap_or_default();
    let dev_value = |key: &str| {
        dev.get("connector")
            .and_then(|c| c.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    dev_value("username").as_deref() == Some(credentials.username())
        || dev_value("password").as_deref() == Some(credentials.password().expose_secret())
}

impl Settings {
    /// The effective settings as TOML, every secret replaced by `[REDACTED]`.
    pub fn redacted_toml(&self) -> String {
        toml::to_string_pretty(&self.raw)
            .unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
    }
}

/// Resolves a path relative to the current directory, for messages.
pub fn display_path(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../config/example.toml");

    fn keys(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::Table(inner) => keys(&path, inner, out),
                _ => out.push(path),
            }
        }
    }

    #[test]
    fn the_example_file_documents_every_default_with_its_value() {
        let defaults = toml::Table::try_from(RawSettings::default()).unwrap();
        let example: toml::Table = toml::from_str(EXAMPLE).unwrap();
        let mut default_keys = Vec::new();
        keys("", &defaults, &mut default_keys);
        for key in default_keys {
            let lookup = |t: &toml::Table| {
                key.split('.')
                    .try_fold(toml::Value::Table(t.clone()), |v, k| v.get(k).cloned())
            };
            // Durations compare by value: "24h" and "1day" are the same default.
            let normal = |v: Option<toml::Value>| match v {
                Some(toml::Value::String(text)) => humantime::parse_duration(&text)
                    .map(|d| format!("{d:?}"))
                    .unwrap_or(text),
                other => format!("{other:?}"),
            };
            assert_eq!(
                normal(lookup(&example)),
                normal(lookup(&defaults)),
                "config/example.toml: {key}"
            );
        }
    }

    #[test]
    fn the_example_file_mentions_every_optional_key() {
        for key in [
            "username",
            "password",
            "password_file",
            "public_url",
            "redis_url",
            "redis_url_file",
            "redis_ca_file",
            "redis_client_cert_file",
            "redis_client_key_file",
            "redis_username",
            "redis_password",
            "redis_password_file",
            "session_key_id",
            "session_keys_file",
            "template_dir",
            "seed",
            "request_header",
            "request_entry",
            "request_allocation",
        ] {
            assert!(
                EXAMPLE.contains(&format!("# {key} =")),
                "{key} is not documented"
            );
        }
    }

    #[test]
    fn the_commented_concur_table_parses_when_uncommented() {
        let block: String = EXAMPLE
            .lines()
            .skip_while(|l| *l != "# [concur]")
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.strip_prefix("# ").unwrap_or(""))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(block.contains("client_id"), "{block}");
        let table: toml::Table = toml::from_str(&block).unwrap();
        let concur = table["concur"].clone();
        let settings: crate::concur::ConcurSettings = concur.try_into().unwrap();
        assert_eq!(settings.state_dir, std::path::PathBuf::from("state"));
    }

    #[test]
    fn the_embedded_profile_is_valid_development_mode() {
        let settings = load_with_env(&Origin::Embedded, Some(HashMap::new())).unwrap();
        assert!(settings.development);
        assert!(settings.uses_development_credentials);
        assert_eq!(settings.server.bind.to_string(), "127.0.0.1:8443");
    }

    #[test]
    fn a_type_error_names_its_key() {
        let env = HashMap::from([(
            "CONCUR_CONNECTOR__TLS__ENABLED".to_owned(),
            "maybe".to_owned(),
        )]);
        let problems = load_with_env(&Origin::Embedded, Some(env)).unwrap_err();
        assert_eq!(problems[0].key, "tls.enabled", "{problems:?}");
    }

    #[test]
    fn all_validation_problems_are_reported_at_once() {
        let env = HashMap::from([
            (
                "CONCUR_CONNECTOR__CONNECTOR__PASSWORD".to_owned(),
                "short".to_owned(),
            ),
            (
                "CONCUR_CONNECTOR__SERVER__BIND".to_owned(),
                "nowhere".to_owned(),
            ),
            ("CONCUR_CONNECTOR__LOG__LEVEL".to_owned(), "[[[".to_owned()),
        ]);
        let problems = load_with_env(&Origin::Embedded, Some(env)).unwrap_err();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["server.bind", "connector.password", "log.level"],
            "{problems:?}"
        );
    }

    fn embedded_with(vars: &[(&str, &str)]) -> Result<Settings, Vec<ConfigProblem>> {
        let env = vars
            .iter()
            .map(|(k, v)| (format!("CONCUR_CONNECTOR__{k}"), (*v).to_owned()))
            .collect();
        load_with_env(&Origin::Embedded, Some(env))
    }

    #[test]
    fn the_fetch_attendee_path_must_be_servable_and_not_a_launch_endpoint() {
        for path in [
            "concur/attendee",
            "/system/v1.0/testconnection",
            "/healthz",
            "/launchexternalurl/v4/form",
            "/concur/form/v2.0/get",
        ] {
            let problems = embedded_with(&[("FETCH_ATTENDEE__PATH", path)]).unwrap_err();
            let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(keys, ["fetch_attendee.path"], "{path}: {problems:?}");
        }
        let settings = embedded_with(&[("FETCH_ATTENDEE__PATH", "/crm/v2.0/attendees")]).unwrap();
        assert_eq!(settings.fetch_attendee.path, "/crm/v2.0/attendees");
        let disabled = embedded_with(&[
            ("FETCH_ATTENDEE__ENABLED", "false"),
            ("FETCH_ATTENDEE__PATH", "/healthz"),
        ]);
        assert!(disabled.is_ok(), "a disabled service's path is not served");
        let capped = embedded_with(&[("FETCH_ATTENDEE__TIMEOUT", "1h")]).unwrap();
        assert_eq!(
            capped.fetch_attendee.timeout,
            capped.server.request_timeout / 2,
            "a search gives up before the request timeout"
        );
    }

    #[test]
    fn the_request_launch_path_is_checked_like_the_other_launch_paths() {
        let settings = embedded_with(&[]).unwrap();
        assert_eq!(
            settings.launch.request_path.as_deref(),
            Some("/request/launchexternalurl/v4/form")
        );
        let request = "/request/launchexternalurl/v4/form";
        for (var, value, key) in [
            (
                "LAUNCH__REQUEST_PATH",
                "/launchexternalurl/v4/form",
                "launch.request_path",
            ),
            (
                "LAUNCH__REQUEST_PATH",
                "/concur/form/v1.0/get",
                "launch.request_path",
            ),
            (
                "LAUNCH__REQUEST_PATH",
                "request/form",
                "launch.request_path",
            ),
            (
                "LAUNCH__REQUEST_PATH",
                "/launch/session",
                "launch.request_path",
            ),
            ("FETCH_LIST__PATH", request, "fetch_list.path"),
            ("FETCH_ATTENDEE__PATH", request, "fetch_attendee.path"),
        ] {
            let problems = embedded_with(&[(var, value)]).unwrap_err();
            let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(keys, [key], "{var}={value}: {problems:?}");
        }
        let clash = embedded_with(&[("LAUNCH__REQUEST_PATH", "/launchexternalurl/v4/form")]);
        assert!(
            clash.unwrap_err()[0]
                .to_string()
                .contains("must differ from launch.v4_path")
        );
        let off = embedded_with(&[
            ("LAUNCH__REQUEST_ENABLED", "false"),
            ("LAUNCH__REQUEST_PATH", "/launchexternalurl/v4/form"),
        ])
        .unwrap();
        assert_eq!(off.launch.request_path, None);
        assert_eq!(off.launch.paths().count(), 2);
    }

    #[test]
    fn connection_bounds_of_zero_are_refused_naming_the_key() {
        for (var, value, key) in [
            ("SERVER__MAX_CONNECTIONS", "0", "server.max_connections"),
            (
                "SERVER__HEADER_READ_TIMEOUT",
                "0s",
                "server.header_read_timeout",
            ),
            ("SERVER__IDLE_TIMEOUT", "0s", "server.idle_timeout"),
            (
                "SERVER__HTTP2_MAX_CONCURRENT_STREAMS",
                "0",
                "server.http2_max_concurrent_streams",
            ),
            (
                "SERVER__HTTP2_KEEP_ALIVE_INTERVAL",
                "0s",
                "server.http2_keep_alive_interval",
            ),
        ] {
            let problems = embedded_with(&[(var, value)]).unwrap_err();
            let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(keys, [key], "{problems:?}");
        }
        let settings = embedded_with(&[("SERVER__MAX_CONNECTIONS", "5")]).unwrap();
        assert_eq!(settings.server.connections.max_connections, 5);
        assert_eq!(
            settings.server.connections.header_read_timeout,
            Duration::from_secs(10)
        );
    }

    #[test]
    fn fetch_list_paths_must_be_free_absolute_paths() {
        let v4 = raw::RawLaunch::default().v4_path;
        for (path, why) in [
            ("concur/list", "must be an absolute path"),
            ("/launch/list", "collides with the connector's own /launch/"),
            (
                "/system/v1.0/list",
                "collides with the connector's own /system/",
            ),
            (v4.as_str(), "is also a launch or Fetch Attendee endpoint"),
            (
                "/concur/attendee/v2.0/fetch",
                "is also a launch or Fetch Attendee endpoint",
            ),
        ] {
            let problems = embedded_with(&[("FETCH_LIST__PATH", path)]).unwrap_err();
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].key, "fetch_list.path");
            assert!(problems[0].message.contains(why), "{path}: {problems:?}");
        }
        let off = embedded_with(&[("FETCH_LIST__ENABLED", "false"), ("FETCH_LIST__PATH", "x")]);
        assert!(off.is_ok(), "{off:?}");
        assert!(embedded_with(&[("FETCH_LIST__PATH", "/erp/list")]).is_ok());
        let capped = embedded_with(&[("FETCH_LIST__TIMEOUT", "1h")]).unwrap();
        assert_eq!(
            capped.fetch_list.timeout,
            capped.server.request_timeout / 2,
            "a search gives up before the request timeout"
        );
    }

    #[test]
    fn the_notification_path_must_be_a_free_absolute_path() {
        for (path, why) in [
            ("concur/notify", "must be an absolute path"),
            ("/healthz", "collides with the connector's own /healthz"),
            (
                "/system/v1.0/notify",
                "collides with the connector's own /system/",
            ),
            ("/launchexternalurl/v4/form", "is also a launch"),
            ("/concur/list/v1.2/fetch", "Fetch List"),
            // Fetch Attendee answers its path's v1.0 twin too.
            ("/concur/attendee/v1.0/fetch", "Fetch Attendee"),
        ] {
            let problems = embedded_with(&[("NOTIFICATION__PATH", path)]).unwrap_err();
            let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(keys, ["notification.path"], "{path}: {problems:?}");
            assert!(problems[0].message.contains(why), "{path}: {problems:?}");
        }
        let moved = embedded_with(&[
            ("FETCH_LIST__ENABLED", "false"),
            ("NOTIFICATION__PATH", "/concur/list/v1.2/fetch"),
        ]);
        assert!(
            moved.is_ok(),
            "a disabled service's path is free: {moved:?}"
        );
        let off = embedded_with(&[
            ("NOTIFICATION__ENABLED", "false"),
            ("NOTIFICATION__PATH", "/healthz"),
            ("NOTIFICATION__WORKERS", "0"),
        ]);
        assert!(off.is_ok(), "a disabled endpoint is not checked: {off:?}");
        let settings = embedded_with(&[("NOTIFICATION__PATH", "/erp/notify")]).unwrap();
        assert_eq!(settings.notification.path, "/erp/notify");
    }

    #[test]
    fn notification_defaults_and_problems_name_their_keys() {
        let settings = embedded_with(&[]).unwrap();
        let n = &settings.notification;
        assert!(n.enabled);
        assert_eq!(n.path, "/concur/v1.0/notify");
        assert_eq!(n.step_code, "EXTVAL");
        assert_eq!((n.workers, n.poll_interval), (2, Duration::from_secs(1)));
        assert_eq!(n.failed_poll_interval, Duration::from_secs(900));
        for (var, value, key) in [
            ("NOTIFICATION__WORKERS", "0", "notification.workers"),
            ("NOTIFICATION__WORKERS", "65", "notification.workers"),
            (
                "NOTIFICATION__POLL_INTERVAL",
                "0s",
                "notification.poll_interval",
            ),
            ("NOTIFICATION__STEP_CODE", "", "notification.step_code"),
            (
                "NOTIFICATION__STEP_CODE",
                "EXT VAL",
                "notification.step_code",
            ),
        ] {
            let problems = embedded_with(&[(var, value)]).unwrap_err();
            let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(keys, [key], "{var}={value}: {problems:?}");
        }
        let settings = embedded_with(&[
            ("NOTIFICATION__WORKERS", "64"),
            ("NOTIFICATION__FAILED_POLL_INTERVAL", "0s"),
            ("NOTIFICATION__STEP_CODE", "PREEXT"),
        ])
        .unwrap();
        assert_eq!(settings.notification.workers, 64);
        assert!(
            settings.notification.failed_poll_interval.is_zero(),
            "0s is off"
        );
        assert_eq!(settings.notification.step_code, "PREEXT");
    }

    #[test]
    fn development_mode_listens_on_loopback_only() {
        for bind in ["0.0.0.0:8443", "[::]:8443", "192.0.2.10:8443"] {
            let problems = embedded_with(&[("SERVER__BIND", bind)]).unwrap_err();
            let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(keys, ["server.bind"], "{bind}: {problems:?}");
        }
        for bind in ["127.0.0.1:8443", "[::1]:8443", "127.0.0.2:8443"] {
            assert!(embedded_with(&[("SERVER__BIND", bind)]).is_ok(), "{bind}");
        }
        let problems = embedded_with(&[("SIMULATOR__BIND", "0.0.0.0:9443")]).unwrap_err();
        assert_eq!(problems[0].key, "simulator.bind", "{problems:?}");
    }

    #[test]
    fn production_may_listen_anywhere() {
        let settings = embedded_with(&[
            ("DEVELOPMENT", "false"),
            ("SERVER__BIND", "0.0.0.0:8443"),
            ("SIMULATOR__ENABLED", "false"),
            ("TLS__ENABLED", "false"),
            ("CONNECTOR__USERNAME", "ProductionUser"),
            ("CONNECTOR__PASSWORD", "a-production-password"),
        ])
        .unwrap();
        assert!(!settings.development);
        assert_eq!(settings.server.bind.to_string(), "0.0.0.0:8443");
    }

    fn with_store(vars: &[(&str, &str)]) -> Result<Settings, Vec<ConfigProblem>> {
        let env = vars
            .iter()
            .map(|(k, v)| (format!("CONCUR_CONNECTOR__STORE__{k}"), (*v).to_owned()))
            .collect();
        load_with_env(&Origin::Embedded, Some(env))
    }

    #[test]
    fn the_public_url_is_only_an_https_host_and_port() {
        for bad in [
            "connector.example.com",
            "http://connector.example.com",
            "https://connector.example.com/concur",
            "https://user:pw@connector.example.com",
            "https://connector.example.com/?x=1",
        ] {
            let problems = embedded_with(&[("CONNECTOR__PUBLIC_URL", bad)]).unwrap_err();
            let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(keys, ["connector.public_url"], "{bad}: {problems:?}");
        }
        let settings = embedded_with(&[(
            "CONNECTOR__PUBLIC_URL",
            "https://connector.example.com:8443",
        )])
        .unwrap();
        assert_eq!(
            settings.public_url.unwrap().as_str(),
            "https://connector.example.com:8443/"
        );
        assert!(embedded_with(&[]).unwrap().public_url.is_none());
    }

    #[test]
    fn the_redis_backend_needs_a_url() {
        let problems = with_store(&[("BACKEND", "redis")]).unwrap_err();
        assert_eq!(problems[0].key, "store.redis_url", "{problems:?}");
    }

    #[test]
    fn a_redis_url_is_checked_and_never_shown() {
        let problems = with_store(&[
            ("BACKEND", "redis"),
            ("REDIS_URL", "rediss://:pw-4711@h:6380/#insecure"),
        ])
        .unwrap_err();
        assert_eq!(problems[0].key, "store.redis_url", "{problems:?}");
        assert!(!problems[0].message.contains("pw-4711"), "{problems:?}");

        let settings = with_store(&[
            ("BACKEND", "redis"),
            ("REDIS_URL", "redis://:pw-4711@127.0.0.1:6379/2"),
        ])
        .unwrap();
        let redis = settings.store.redis.as_ref().unwrap();
        assert_eq!(redis.key_prefix, "concur-connector:");
        assert_eq!(redis.timeout, Duration::from_secs(2));
        let shown = settings.redacted_toml();
        assert!(!shown.contains("pw-4711"), "{shown}");
        assert!(shown.contains("redis_url = \"[REDACTED]\""), "{shown}");
    }

    #[test]
    fn a_redis_url_can_come_from_a_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, b"redis://127.0.0.1:6379/0\n").unwrap();
        let path = file.path().to_str().unwrap();
        let settings = with_store(&[
            ("BACKEND", "redis"),
            ("REDIS_URL_FILE", path),
            ("KEY_PREFIX", "acme:"),
            ("REDIS_TIMEOUT", "500ms"),
        ])
        .unwrap();
        let redis = settings.store.redis.unwrap();
        assert_eq!(redis.url.expose_secret(), "redis://127.0.0.1:6379/0");
        assert_eq!(redis.key_prefix, "acme:");
        assert_eq!(redis.timeout, Duration::from_millis(500));
    }

    #[test]
    fn a_redis_acl_password_comes_from_a_secret_setting_and_is_never_shown() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, b"pw-4711\n").unwrap();
        let path = file.path().to_str().unwrap();
        let settings = with_store(&[
            ("BACKEND", "redis"),
            ("REDIS_URL", "rediss://redis.internal:6380/0"),
            ("REDIS_USERNAME", "connector"),
            ("REDIS_PASSWORD_FILE", path),
        ])
        .unwrap();
        let redis = settings.store.redis.as_ref().unwrap();
        assert_eq!(redis.username.as_deref(), Some("connector"));
        assert_eq!(redis.password.as_ref().unwrap().expose_secret(), "pw-4711");
        assert!(redis.tls.ca.is_none() && redis.tls.client.is_none());
        let shown = format!("{} {redis:?}", settings.redacted_toml());
        assert!(!shown.contains("pw-4711"), "{shown}");

        let inline = with_store(&[
            ("BACKEND", "redis"),
            ("REDIS_URL", "redis://127.0.0.1:6379/0"),
            ("REDIS_PASSWORD", "pw-4711"),
        ])
        .unwrap();
        assert!(!inline.redacted_toml().contains("pw-4711"));
    }

    #[test]
    fn a_redis_username_needs_a_password_in_one_place() {
        let problems = with_store(&[
            ("BACKEND", "redis"),
            ("REDIS_URL", "redis://127.0.0.1:6379/0"),
            ("REDIS_USERNAME", "connector"),
        ])
        .unwrap_err();
        assert_eq!(problems[0].key, "store.redis_password", "{problems:?}");
        let problems = with_store(&[
            ("BACKEND", "redis"),
            ("REDIS_URL", "redis://:pw-1@127.0.0.1:6379/0"),
            ("REDIS_PASSWORD", "pw-2"),
        ])
        .unwrap_err();
        assert_eq!(problems[0].key, "store.redis_password", "{problems:?}");
        assert!(!format!("{problems:?}").contains("pw-"), "{problems:?}");
    }

    #[test]
    fn redis_tls_files_need_rediss_pairs_and_pem() {
        let pair = rcgen::generate_simple_self_signed(vec!["redis.internal".to_owned()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.to_str().unwrap().to_owned()
        };
        let ca = write("ca.pem", &pair.cert.pem());
        let key = write("key.pem", &pair.signing_key.serialize_pem());
        let junk = write("junk.pem", "not a certificate");
        let keys = |vars: &[(&str, &str)]| -> Vec<String> {
            let mut all = vec![("BACKEND", "redis")];
            all.extend_from_slice(vars);
            match with_store(&all) {
                Ok(_) => Vec::new(),
                Err(problems) => problems.into_iter().map(|p| p.key).collect(),
            }
        };
        let tls = ("REDIS_URL", "rediss://redis.internal:6380/0");
        assert_eq!(
            keys(&[
                ("REDIS_URL", "redis://127.0.0.1:6379/0"),
                ("REDIS_CA_FILE", &ca)
            ]),
            ["store.redis_ca_file"]
        );
        assert_eq!(
            keys(&[tls, ("REDIS_CA_FILE", &junk)]),
            ["store.redis_ca_file"]
        );
        assert_eq!(
            keys(&[tls, ("REDIS_CLIENT_CERT_FILE", &ca)]),
            ["store.redis_client_key_file"]
        );
        assert_eq!(
            keys(&[
                tls,
                ("REDIS_CLIENT_CERT_FILE", &ca),
                ("REDIS_CLIENT_KEY_FILE", &junk)
            ]),
            ["store.redis_client_key_file"]
        );
        let all = [
            tls,
            ("REDIS_CA_FILE", ca.as_str()),
            ("REDIS_CLIENT_CERT_FILE", ca.as_str()),
            ("REDIS_CLIENT_KEY_FILE", key.as_str()),
        ];
        assert!(keys(&all).is_empty());
        let mut vars = vec![("BACKEND", "redis")];
        vars.extend_from_slice(&all);
        let settings = with_store(&vars).unwrap();
        let redis = settings.store.redis.unwrap();
        assert!(redis.tls.ca.is_some());
        let secret_key = pair.signing_key.serialize_pem();
        assert!(!format!("{redis:?}").contains(secret_key.trim()));
    }

    #[test]
    fn the_memory_backend_ignores_redis_keys() {
        let settings = with_store(&[]).unwrap();
        assert!(settings.store.redis.is_none());
    }

    #[test]
    fn validation_rules_are_checked_with_the_configuration() {
        let problems = embedded_with(&[("VALIDATION__LANGUAGE", "es")]).unwrap_err();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["validation.language"]);
        let settings = embedded_with(&[]).unwrap();
        assert!(!settings.validation.rules.is_empty(), "the demo rules");
    }

    #[test]
    fn the_queue_follows_the_store_backend_unless_set() {
        let settings = embedded_with(&[]).unwrap();
        assert_eq!(settings.queue.backend, QueueBackend::Embedded);
        assert_eq!(
            settings.queue.path,
            std::path::PathBuf::from("state/notifications.redb")
        );
        let settings = embedded_with(&[
            ("STORE__BACKEND", "redis"),
            ("STORE__REDIS_URL", "redis://127.0.0.1:6379/0"),
        ])
        .unwrap();
        assert_eq!(settings.queue.backend, QueueBackend::Redis);
        let settings = embedded_with(&[
            ("STORE__BACKEND", "redis"),
            ("STORE__REDIS_URL", "redis://127.0.0.1:6379/0"),
            ("QUEUE__BACKEND", "embedded"),
        ])
        .unwrap();
        assert_eq!(settings.queue.backend, QueueBackend::Embedded);
    }

    #[test]
    fn queue_problems_name_their_keys() {
        let problems = embedded_with(&[("QUEUE__BACKEND", "redis")]).unwrap_err();
        assert_eq!(problems[0].key, "queue.backend", "{problems:?}");
        assert!(
            problems[0].message.contains("store.backend"),
            "{problems:?}"
        );
        let problems = embedded_with(&[("QUEUE__LEASE", "0s"), ("QUEUE__PATH", "")]).unwrap_err();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["queue.path", "queue.lease"], "{problems:?}");
    }
}
