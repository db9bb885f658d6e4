//! The configuration file's shape, key by key, with the built-in defaults.
//!
//! Every key here is documented in `config/example.toml`; a test keeps the two in step.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::checks::redacted;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSettings {
    pub development: bool,
    pub server: RawServer,
    pub tls: RawTls,
    pub connector: RawConnector,
    pub launch: RawLaunch,
    pub store: RawStore,
    /// The durable work queue of Event Notification (`[queue]`).
    pub queue: RawQueue,
    pub pages: RawPages,
    /// What the user picks and which field receives it (`[picker]`).
    pub picker: crate::picker::PickerSettings,
    /// Optional: without it, launches are verified but Concur is never called.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concur: Option<crate::concur::ConcurSettings>,
    /// Where the user's choices come from (`[values]`).
    pub values: crate::values::ValuesSettings,
    /// Concur's Fetch List callout and its lists (`[fetch_list]`).
    pub fetch_list: crate::lists::FetchListSettings,
    /// The Fetch Attendee callout and its attendee source (`[fetch_attendee]`).
    pub fetch_attendee: crate::attendees::FetchAttendeeSettings,
    /// The rules a submitted report must pass (`[validation]`).
    pub validation: crate::validation::ValidationSettings,
    /// Event Notification: the endpoint and its workers (`[notification]`).
    pub notification: crate::notify::settings::NotificationSettings,
    pub simulator: RawSimulator,
    pub log: RawLog,
    /// The admin listener: metrics, health and readiness (`[admin]`).
    pub admin: crate::admin::AdminSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawServer {
    pub bind: String,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub http2_max_concurrent_streams: u32,
    #[serde(with = "humantime_serde")]
    pub http2_keep_alive_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub http2_keep_alive_timeout: Duration,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            bind: "0.0.0.0:8443".to_owned(),
            request_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(20),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            http2_max_concurrent_streams: 100,
            http2_keep_alive_interval: Duration::from_secs(20),
            http2_keep_alive_timeout: Duration::from_secs(20),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTls {
    pub enabled: bool,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub self_signed: bool,
    pub allow_self_signed: bool,
    pub watch: bool,
}

impl Default for RawTls {
    fn default() -> Self {
        Self {
            enabled: true,
            cert_file: PathBuf::from("certs/fullchain.pem"),
            key_file: PathBuf::from("certs/privkey.pem"),
            self_signed: false,
            allow_self_signed: false,
            watch: true,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConnector {
    pub username: Option<String>,
    #[serde(serialize_with = "redacted")]
    pub password: Option<SecretString>,
    pub password_file: Option<PathBuf>,
    pub allow_development_credentials: bool,
    /// The Host Name registered in Concur, `https://name[:port]` (what `doctor` checks).
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLaunch {
    pub v4_enabled: bool,
    pub v4_path: String,
    pub v1_enabled: bool,
    pub v1_path: String,
    /// The Concur Request v4 endpoint (the same handler as `v4_path`).
    pub request_enabled: bool,
    pub request_path: String,
    #[serde(with = "humantime_serde")]
    pub replay_window: Duration,
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    pub allowed_item_hosts: Vec<String>,
    pub diagnostics: bool,
    /// When non-empty, only launches for these company domains are accepted.
    pub company_domains: Vec<String>,
    /// With `[concur]` configured, accept a v4 launch without `client_auth_code` and use the
    /// company token for it (weaker: nothing then ties the user to Concur's login).
    pub allow_company_token_fallback: bool,
}

impl Default for RawLaunch {
    fn default() -> Self {
        Self {
            v4_enabled: true,
            v4_path: "/launchexternalurl/v4/form".to_owned(),
            v1_enabled: true,
            v1_path: "/concur/form/v1.0/get".to_owned(),
            request_enabled: true,
            request_path: "/request/launchexternalurl/v4/form".to_owned(),
            replay_window: Duration::from_secs(24 * 60 * 60),
            session_lifetime: Duration::from_secs(30 * 60),
            allowed_item_hosts: Vec::new(),
            diagnostics: false,
            company_domains: Vec::new(),
            allow_company_token_fallback: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawStore {
    pub backend: StoreBackend,
    pub max_entries: u64,
    /// `redis://…` for `backend = "redis"`; may carry a password, so redacted when shown.
    #[serde(serialize_with = "redacted")]
    pub redis_url: Option<SecretString>,
    pub redis_url_file: Option<PathBuf>,
    /// The Redis ACL user (with `redis_password`).
    pub redis_username: Option<String>,
    /// The Redis ACL password; redacted when shown.
    #[serde(serialize_with = "redacted")]
    pub redis_password: Option<SecretString>,
    pub redis_password_file: Option<PathBuf>,
    /// PEM CA certificates that sign the Redis server's certificate (`rediss://`).
    pub redis_ca_file: Option<PathBuf>,
    /// PEM client certificate chain and key, for a Redis that asks for one.
    pub redis_client_cert_file: Option<PathBuf>,
    pub redis_client_key_file: Option<PathBuf>,
    /// Prepended to every Redis key.
    pub key_prefix: String,
    /// Upper bound on each Redis call, connecting included.
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
    /// Key id → base64 AES-256 key, encrypting users' Concur tokens in Redis sessions.
    #[serde(serialize_with = "crate::session_keys::redacted_keys")]
    pub session_keys: std::collections::BTreeMap<String, SecretString>,
    /// A secret file of `id = "base64"` lines instead of `session_keys`.
    pub session_keys_file: Option<PathBuf>,
    /// The id in `session_keys` of the key that encrypts (the others only decrypt).
    pub session_key_id: Option<String>,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Memory,
            max_entries: 100_000,
            redis_url: None,
            redis_url_file: None,
            redis_username: None,
            redis_password: None,
            redis_password_file: None,
            redis_ca_file: None,
            redis_client_cert_file: None,
            redis_client_key_file: None,
            key_prefix: "concur-connector:".to_owned(),
            redis_timeout: Duration::from_secs(2),
            session_keys: std::collections::BTreeMap::new(),
            session_keys_file: None,
            session_key_id: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawQueue {
    /// Unset: follows `store.backend` (memory → embedded, redis → redis).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<QueueBackend>,
    /// The embedded backend's file.
    pub path: PathBuf,
    /// How long after its first delivery a failing job is retried before it is parked.
    #[serde(with = "humantime_serde")]
    pub retry_for: Duration,
    /// The longest wait between two attempts.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// How long a worker holds a job before another may take it over.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
}

impl Default for RawQueue {
    fn default() -> Self {
        Self {
            backend: None,
            path: PathBuf::from("state/notifications.redb"),
            retry_for: Duration::from_secs(24 * 3600),
            max_backoff: Duration::from_secs(3600),
            lease: Duration::from_secs(300),
        }
    }
}

/// Where the work queue lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackend {
    /// One local file (`queue.path`): one instance.
    Embedded,
    /// The `[store]` Redis, shared by several instances.
    Redis,
}

/// Where nonces and launch sessions live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// In this process: one instance only.
    #[default]
    Memory,
    /// In Redis, shared by several instances (`store.redis_url`).
    Redis,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPages {
    pub template_dir: Option<PathBuf>,
}

/// The Concur simulator `serve` can start beside the connector (development only).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSimulator {
    pub enabled: bool,
    pub bind: String,
    pub certs: PathBuf,
    pub seed: Option<PathBuf>,
}

impl Default for RawSimulator {
    fn default() -> Self {
        Self {
            enabled: false,
            bind: "127.0.0.1:9443".to_owned(),
            certs: PathBuf::from("certs/simulator"),
            seed: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLog {
    pub format: LogFormat,
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}
