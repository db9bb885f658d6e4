//! A shared store in Redis, for several instances behind a load balancer.
//!
//! One [`RedisStore`] serves both traits over one multiplexed, self-reconnecting
//! [`ConnectionManager`]. It connects on first use, so start-up never waits for Redis; every
//! call is bounded by the configured timeout, so a dead Redis becomes a quick
//! [`StoreError::Unavailable`] (a 503 page) rather than a hung request.
//!
//! Redis is reached over TLS with a `rediss://` URL (rustls with the process's aws-lc-rs
//! provider; the CA in `store.redis_ca_file`, else the system's), optionally with a client
//! certificate, and as an ACL user (`store.redis_username`, `store.redis_password`).
//!
//! A call that fails because the connection is gone (Redis restarting, a failover, a dropped
//! TCP connection) is retried a few times with a doubling pause, all within the timeout
//! ([`with_retries`]); a call that may already have taken effect is repeated only when
//! repeating it changes nothing ([`Repeat`]).
//!
//! Keys are `{prefix}nonce:{key}` and `{prefix}session:{id}` (the company token's keys are
//! the token store's, on the same connection). Each operation is one atomic
//! command: `SET NX PX` to remember, `SET XX KEEPTTL` to replace, `GET`, `DEL`.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ExistenceCheck, IntoConnectionInfo as _, SetExpiry, SetOptions};
use secrecy::{ExposeSecret, SecretString};

use super::{Freshness, NonceStore, SessionStore, StoreError};

/// How to reach Redis (`[store] redis_url`, `key_prefix`, `redis_timeout`, and the TLS and
/// ACL keys).
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis[s]://[user:password@]host:port/db`; may carry a password.
    pub url: SecretString,
    /// Prepended to every key, so several applications can share one Redis.
    pub key_prefix: String,
    /// Upper bound on each call (connecting and retries included).
    pub timeout: Duration,
    /// The ACL user (`store.redis_username`); None: the URL's, or Redis's `default`.
    pub username: Option<String>,
    /// The ACL password (`store.redis_password[_file]`); None: the URL's, if any.
    pub password: Option<SecretString>,
    /// TLS material for a `rediss://` URL.
    pub tls: RedisTls,
}

/// The PEM files of a TLS connection to Redis, read when the configuration is loaded.
#[derive(Debug, Clone, Default)]
pub struct RedisTls {
    /// The CA certificates that sign the server's certificate; None: the system's store.
    pub ca: Option<Vec<u8>>,
    /// The client certificate chain and its private key, for a server that asks for one.
    pub client: Option<(Vec<u8>, SecretString)>,
}

/// Where the TLS files came from (`store.redis_ca_file`, `redis_client_cert_file`,
/// `redis_client_key_file`), for [`read_tls`].
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// Reads and parses the TLS files; the message names the key at fault (never a key's
/// content).
pub fn read_tls(files: &TlsFiles) -> Result<RedisTls, (&'static str, String)> {
    let read = |key: &'static str, path: &PathBuf| {
        std::fs::read(path).map_err(|e| (key, format!("cannot read {}: {e}", path.display())))
    };
    let ca = match &files.ca {
        Some(path) => {
            let pem = read("store.redis_ca_file", path)?;
            certificates(&pem)
                .map_err(|why| ("store.redis_ca_file", format!("{}: {why}", path.display())))?;
            Some(pem)
        }
        None => None,
    };
    let client = match (&files.client_cert, &files.client_key) {
        (None, None) => None,
        (Some(_), None) => {
            return Err((
                "store.redis_client_key_file",
                "is required with store.redis_client_cert_file (the client certificate's private key)".to_owned(),
            ));
        }
        (None, Some(_)) => {
            return Err((
                "store.redis_client_cert_file",
                "is required with store.redis_client_key_file (the certificate of that key)"
                    .to_owned(),
            ));
        }
        (Some(cert_path), Some(key_path)) => {
            let cert = read("store.redis_client_cert_file", cert_path)?;
            certificates(&cert).map_err(|why| {
                (
                    "store.redis_client_cert_file",
                    format!("{}: {why}", cert_path.display()),
                )
            })?;
            let key = read("store.redis_client_key_file", key_path)?;
            use rustls::pki_types::{PrivateKeyDer, pem::PemObject as _};
            PrivateKeyDer::from_pem_slice(&key).map_err(|_| {
                (
                    "store.redis_client_key_file",
                    format!("{}: holds no PEM private key", key_path.display()),
                )
            })?;
            let key = String::from_utf8(key).map_err(|_| {
                (
                    "store.redis_client_key_file",
                    format!("{}: is not PEM text", key_path.display()),
                )
            })?;
            Some((cert, SecretString::from(key)))
        }
    };
    Ok(RedisTls { ca, client })
}

/// Checks that `pem` holds at least one certificate.
fn certificates(pem: &[u8]) -> Result<(), &'static str> {
    use rustls::pki_types::{CertificateDer, pem::PemObject as _};
    let mut count = 0;
    for certificate in CertificateDer::pem_slice_iter(pem) {
        certificate.map_err(|_| "is not valid PEM")?;
        count += 1;
    }
    if count == 0 {
        return Err("holds no PEM certificate");
    }
    Ok(())
}

/// Checks that `url` is a Redis URL this build can use, without connecting. The message
/// never repeats the URL (it may hold a password).
pub fn check_url(url: &SecretString) -> Result<(), String> {
    let info = url.expose_secret().into_connection_info().map_err(|e| {
        format!(
            "is not a usable Redis URL (expected redis://[user:password@]host:port/db, or \
             rediss:// for TLS): {}",
            describe(&e)
        )
    })?;
    match info.addr() {
        redis::ConnectionAddr::TcpTls { insecure: true, .. } => Err(
            "asks for TLS without checking the server's certificate (#insecure): not \
             supported; set store.redis_ca_file to the CA that signs it"
                .to_owned(),
        ),
        _ => Ok(()),
    }
}

/// Whether `url` asks for TLS (`rediss://`).
pub fn is_tls(url: &SecretString) -> bool {
    url.expose_secret()
        .into_connection_info()
        .is_ok_and(|info| matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }))
}

/// Whether `url` carries a password of its own.
pub fn has_password(url: &SecretString) -> bool {
    url.expose_secret()
        .into_connection_info()
        .is_ok_and(|info| info.redis_settings().password().is_some())
}

/// The client for `settings`: the URL with the ACL user and password and the TLS material.
fn client(settings: &RedisSettings) -> redis::RedisResult<redis::Client> {
    let info = settings.url.expose_secret().into_connection_info()?;
    let mut acl = info.redis_settings().clone();
    if let Some(username) = &settings.username {
        acl = acl.set_username(username);
    }
    if let Some(password) = &settings.password {
        acl = acl.set_password(password.expose_secret());
    }
    let info = info.set_redis_settings(acl);
    if !matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
        return redis::Client::open(info);
    }
    let certificates = redis::TlsCertificates {
        root_cert: settings.tls.ca.clone(),
        client_tls: settings
            .tls
            .client
            .as_ref()
            .map(|(cert, key)| redis::ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.expose_secret().as_bytes().to_vec(),
            }),
    };
    redis::Client::build_with_tls(info, certificates)
}

/// A lazy, self-reconnecting connection to the configured Redis, every call bounded by the
/// timeout (shared by the store and the work queue). Needs a Tokio runtime.
pub fn connection_manager(settings: &RedisSettings) -> Result<Connection, StoreError> {
    let client = client(settings)
        .map_err(|e| StoreError::Unavailable(format!("bad redis settings: {}", describe(&e))))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.timeout))
        .set_response_timeout(Some(settings.timeout))
        .set_number_of_retries(1)
        .set_max_delay(settings.timeout);
    let manager = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
        .map_err(|e| StoreError::Unavailable(describe(&e)))?;
    Ok(Connection {
        inner: std::sync::Arc::new(Shared {
            client,
            config,
            timeout: settings.timeout,
            current: std::sync::Mutex::new((0, manager)),
        }),
    })
}

/// The multiplexed connection, replaced by a fresh one when Redis refused to let it in (the
/// client reconnects by itself after a broken connection, but keeps a refused login for
/// good): once the operator fixes the password or the ACL, the next call connects.
#[derive(Clone)]
pub struct Connection {
    inner: std::sync::Arc<Shared>,
}

struct Shared {
    client: redis::Client,
    config: ConnectionManagerConfig,
    timeout: Duration,
    /// A generation number and the manager of that generation.
    current: std::sync::Mutex<(u64, ConnectionManager)>,
}

impl Connection {
    fn current(&self) -> (u64, ConnectionManager) {
        let current = self
            .inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (current.0, current.1.clone())
    }

    /// Replaces generation `failed`'s manager (unless another call did already).
    fn renew(&self, failed: u64) {
        let mut current = self
            .inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.0 != failed {
            return;
        }
        match ConnectionManager::new_lazy_with_config(
            self.inner.client.clone(),
            self.inner.config.clone(),
        ) {
            Ok(manager) => *current = (failed + 1, manager),
            Err(error) => {
                tracing::warn!(error = %describe(&error), "redis: cannot renew the connection")
            }
        }
    }

    /// Runs `call` on the connection with [`with_retries`]. A try that Redis refused to
    /// let in, or that reached a server no longer the master (`READONLY`, `MASTERDOWN`: a
    /// failover behind the same address), renews the connection, so the next try connects
    /// anew.
    pub(crate) async fn run<T, F>(
        &self,
        repeat: Repeat,
        mut call: impl FnMut(ConnectionManager) -> F,
    ) -> Result<T, String>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        with_retries(self.inner.timeout, repeat, || {
            let (generation, manager) = self.current();
            let attempt = call(manager);
            async move {
                let result = attempt.await;
                if let Err(error) = &result
                    && needs_new_connection(error)
                {
                    self.renew(generation);
                }
                result
            }
        })
        .await
    }

    /// Runs one command (see [`Self::run`]).
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        repeat: Repeat,
        command: &redis::Cmd,
    ) -> Result<T, String> {
        self.run(repeat, |mut manager| {
            let command = command.clone();
            async move { command.query_async(&mut manager).await }
        })
        .await
    }

    /// Runs one script invocation (see [`Self::run`]).
    pub(crate) async fn invoke<T: redis::FromRedisValue>(
        &self,
        repeat: Repeat,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, String> {
        self.run(repeat, |mut manager| async move {
            invocation.invoke_async(&mut manager).await
        })
        .await
    }
}

fn is_login_refused(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("WRONGPASS" | "NOAUTH"))
}

/// Errors after which the client keeps its connection though it is of no use: a refused
/// login (kept for good), and the answers of a server that is a replica now (the old master
/// after a failover behind the same address): a write refused (`READONLY`), or any command
/// refused while it cannot reach its master and serves no stale data (`MASTERDOWN`, PING
/// included, so only a new connection gets the instance ready again).
fn needs_new_connection(error: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    is_login_refused(error)
        || matches!(
            error.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}

/// Whether a call may be sent again after its connection broke before the reply came back
/// (it may have taken effect). A call that Redis never received (refused connection, Redis
/// still loading its data, no master yet) is sent again either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Running it twice has the effect of running it once (GET, SET, DEL, PING, reads).
    Safe,
    /// Running it twice may differ (SET NX, INCR, the queue's scripts): only if unsent.
    IfUnsent,
}

/// At most this many tries of one call.
const ATTEMPTS: u32 = 4;
/// The first pause between two tries; it doubles after each.
const FIRST_PAUSE: Duration = Duration::from_millis(50);

/// What a failed try tells about the next one.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// Redis did not run the call: another try may succeed.
    Unsent,
    /// The connection broke with the call in flight: it may or may not have run.
    InFlight,
    /// Another try fails the same way (a refused password, an untrusted certificate, a
    /// script error).
    Final,
}

fn failure(error: &redis::RedisError) -> Failure {
    use redis::{ErrorKind, ServerErrorKind};
    if is_tls_failure(error) {
        return Failure::Final;
    }
    if error.is_connection_refusal() {
        return Failure::Unsent;
    }
    match error.kind() {
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::ReadOnly,
        ) => Failure::Unsent,
        ErrorKind::Io => Failure::InFlight,
        _ => Failure::Final,
    }
}

/// Runs `call` until it succeeds, at most [`ATTEMPTS`] times and within `timeout` in all,
/// pausing 50 ms, 100 ms, 200 ms between tries; retries only what [`Repeat`] allows.
/// The error is the last one, described without the URL or password.
pub(crate) async fn with_retries<T, F>(
    timeout: Duration,
    repeat: Repeat,
    mut call: impl FnMut() -> F,
) -> Result<T, String>
where
    F: Future<Output = redis::RedisResult<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        let error = match tokio::time::timeout_at(deadline, call()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => error,
            Err(_) => return Err(format!("redis did not answer within {timeout:?}")),
        };
        let again = match failure(&error) {
            Failure::Unsent => true,
            Failure::InFlight => repeat == Repeat::Safe,
            Failure::Final => false,
        };
        if !again || attempt >= ATTEMPTS || tokio::time::Instant::now() + pause >= deadline {
            return Err(describe(&error));
        }
        tracing::debug!(attempt, error = %describe(&error), "redis call failed; trying again");
        tokio::time::sleep(pause).await;
        pause *= 2;
        attempt += 1;
    }
}

/// Nonces and sessions in Redis.
#[derive(Clone)]
pub struct RedisStore {
    pub(super) connection: Connection,
    pub(super) prefix: String,
}

impl RedisStore {
    /// Prepares the client; no connection is made until the first call. Needs a Tokio
    /// runtime (the manager's reconnect task runs on it).
    pub fn new(settings: &RedisSettings) -> Result<Self, StoreError> {
        Ok(Self {
            connection: connection_manager(settings)?,
            prefix: settings.key_prefix.clone(),
        })
    }

    /// Answers when Redis answers a PING within the timeout (the readiness probe).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.bounded(Repeat::Safe, redis::cmd("PING"))
            .await
            .map(|_: String| ())
    }

    fn nonce_key(&self, key: &str) -> String {
        format!("{}nonce:{key}", self.prefix)
    }

    fn session_key(&self, id: &str) -> String {
        format!("{}session:{id}", self.prefix)
    }

    /// Runs one command with retries and the timeout, mapping every failure to
    /// `Unavailable`.
    async fn bounded<T: redis::FromRedisValue>(
        &self,
        repeat: Repeat,
        command: redis::Cmd,
    ) -> Result<T, StoreError> {
        self.connection
            .query(repeat, &command)
            .await
            .map_err(|error| {
                crate::metrics::store_error(crate::metrics::Store::Redis);
                StoreError::Unavailable(error)
            })
    }

    async fn set(
        &self,
        key: String,
        value: Vec<u8>,
        options: SetOptions,
    ) -> Result<bool, StoreError> {
        let mut command = redis::cmd("SET");
        command.arg(key).arg(value).arg(options);
        let reply: Option<String> = self.bounded(Repeat::Safe, command).await?;
        Ok(reply.is_some())
    }

    async fn del(&self, key: String) -> Result<(), StoreError> {
        let mut command = redis::cmd("DEL");
        command.arg(key);
        self.bounded(Repeat::Safe, command).await.map(|_: i64| ())
    }
}

/// What to check after a TLS failure (an untrusted or mismatched certificate).
const TLS_HINT: &str = "TLS: check that store.redis_ca_file holds the CA that signed the Redis \
     server's certificate, that the URL's host name is in that certificate, and, if the server \
     asks for one, store.redis_client_cert_file and store.redis_client_key_file";
/// What to check after a refused login.
const LOGIN_HINT: &str =
    "check store.redis_username and store.redis_password against the server's ACL";
/// What to check after a command the ACL forbids.
const PERMISSION_HINT: &str = "the ACL user lacks a permission: it needs every key under \
     store.key_prefix and the commands of the store, e.g. +@all minus what you forbid";

/// A Redis error for logs and problems, with what to check in parentheses at the end when it
/// is a setting's fault. The client's messages name the failure (refused, timed out, bad URL
/// part, server error code, certificate problem) but never quote the URL or its password.
fn describe(error: &redis::RedisError) -> String {
    let hint = if is_tls_failure(error) {
        Some(TLS_HINT)
    } else if is_login_refused(error) {
        Some(LOGIN_HINT)
    } else if error.code() == Some("NOPERM") {
        Some(PERMISSION_HINT)
    } else {
        None
    };
    match hint {
        Some(hint) => format!("redis: {error} ({hint})"),
        None => format!("redis: {error}"),
    }
}

/// Splits a message that ends with [`describe`]'s hint into the message before it and the
/// hint, which names the setting to correct (doctor shows it as the fix); None when the
/// failure is not a setting's fault (Redis down, a timeout).
pub fn split_hint(message: &str) -> Option<(&str, &'static str)> {
    [TLS_HINT, LOGIN_HINT, PERMISSION_HINT]
        .into_iter()
        .find_map(|hint| {
            let before = message.strip_suffix(')')?.strip_suffix(hint)?;
            Some((before.strip_suffix(" (")?, hint))
        })
}

/// Whether `error` is a TLS failure (an untrusted or mismatched certificate, a refused
/// client certificate), which no retry fixes.
fn is_tls_failure(error: &redis::RedisError) -> bool {
    type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
    // The client keeps an I/O error as a shared `dyn Error`; rustls's error is inside.
    let Some(source) = std::error::Error::source(error) else {
        return false;
    };
    let io = match source.downcast_ref::<Shared>() {
        Some(shared) => shared.downcast_ref::<std::io::Error>(),
        None => source.downcast_ref::<std::io::Error>(),
    };
    io.and_then(std::io::Error::get_ref)
        .is_some_and(|inner| inner.is::<rustls::Error>())
}

/// Milliseconds for `PX`, at least 1 (Redis refuses 0).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// 32 random hex digits: the value a caller writes to recognise its own `SET NX` later.
pub(crate) fn claim_value() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl NonceStore for RedisStore {
    /// `SET NX` with a value of this call's own: when a retry finds the key already set
    /// (the first try ran but its reply was lost), the value says whether it was this call.
    async fn remember(&self, key: &str, ttl: Duration) -> Result<Freshness, StoreError> {
        let options = SetOptions::default()
            .conditional_set(ExistenceCheck::NX)
            .with_expiration(SetExpiry::PX(millis(ttl)));
        let mine = claim_value();
        let key = self.nonce_key(key);
        if self
            .set(key.clone(), mine.clone().into_bytes(), options)
            .await?
        {
            return Ok(Freshness::Fresh);
        }
        let mut command = redis::cmd("GET");
        command.arg(key);
        let held: Option<String> = self.bounded(Repeat::Safe, command).await?;
        Ok(if held.as_deref() == Some(mine.as_str()) {
            Freshness::Fresh
        } else {
            Freshness::Replayed
        })
    }

    async fn forget(&self, key: &str) -> Result<(), StoreError> {
        self.del(self.nonce_key(key)).await
    }

    async fn holds(&self, key: &str) -> Result<bool, StoreError> {
        let mut command = redis::cmd("EXISTS");
        command.arg(self.nonce_key(key));
        let found: i64 = self.bounded(Repeat::Safe, command).await?;
        Ok(found == 1)
    }

    async fn renew(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        // PEXPIRE touches only a key that exists: a lapsed lease stays gone.
        let mut command = redis::cmd("PEXPIRE");
        command.arg(self.nonce_key(key)).arg(millis(ttl));
        let set: i64 = self.bounded(Repeat::Safe, command).await?;
        Ok(set == 1)
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn insert(&self, id: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        let options = SetOptions::default().with_expiration(SetExpiry::PX(millis(ttl)));
        self.set(self.session_key(id), value, options)
            .await
            .map(drop)
    }

    async fn get(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut command = redis::cmd("GET");
        command.arg(self.session_key(id));
        self.bounded(Repeat::Safe, command).await
    }

    async fn replace(&self, id: &str, value: Vec<u8>) -> Result<bool, StoreError> {
        let options = SetOptions::default()
            .conditional_set(ExistenceCheck::XX)
            .with_expiration(SetExpiry::KEEPTTL);
        self.set(self.session_key(id), value, options).await
    }

    async fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.del(self.session_key(id)).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn io(kind: std::io::ErrorKind) -> redis::RedisError {
        std::io::Error::from(kind).into()
    }

    /// Runs `with_retries` on a call failing with `error()` until its `succeed_on`-th try;
    /// returns the result and how many tries were made.
    async fn tries(
        repeat: Repeat,
        succeed_on: u32,
        error: impl Fn() -> redis::RedisError,
    ) -> (Result<u32, String>, u32) {
        let count = AtomicU32::new(0);
        let result = with_retries(Duration::from_secs(2), repeat, || {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            let outcome = if n >= succeed_on { Ok(n) } else { Err(error()) };
            async move { outcome }
        })
        .await;
        (result, count.load(Ordering::SeqCst))
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_connection_is_retried_for_every_call() {
        for repeat in [Repeat::Safe, Repeat::IfUnsent] {
            let refused = || io(std::io::ErrorKind::ConnectionRefused);
            assert_eq!(tries(repeat, 3, refused).await, (Ok(3), 3), "{repeat:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_broken_connection_is_retried_only_for_a_call_safe_to_repeat() {
        let broken = || io(std::io::ErrorKind::BrokenPipe);
        assert_eq!(tries(Repeat::Safe, 2, broken).await, (Ok(2), 2));
        let (result, count) = tries(Repeat::IfUnsent, 2, broken).await;
        assert!(result.is_err());
        assert_eq!(count, 1, "a call that may have run is not sent again");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_bounded() {
        let refused = || io(std::io::ErrorKind::ConnectionRefused);
        let (result, count) = tries(Repeat::Safe, u32::MAX, refused).await;
        assert!(result.unwrap_err().starts_with("redis: "));
        assert_eq!(count, ATTEMPTS);
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_a_retry_cannot_fix_is_not_retried() {
        let denied = || {
            redis::RedisError::from((
                redis::ErrorKind::AuthenticationFailed,
                "invalid username-password pair",
            ))
        };
        let (result, count) = tries(Repeat::Safe, 2, denied).await;
        assert!(result.unwrap_err().contains("store.redis_password"));
        assert_eq!(count, 1);
        assert!(needs_new_connection(&denied()));
        assert!(!needs_new_connection(&io(std::io::ErrorKind::BrokenPipe)));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_end_with_the_timeout() {
        let count = AtomicU32::new(0);
        let result: Result<(), String> =
            with_retries(Duration::from_millis(120), Repeat::Safe, || {
                count.fetch_add(1, Ordering::SeqCst);
                async { Err(io(std::io::ErrorKind::ConnectionRefused)) }
            })
            .await;
        assert!(result.is_err());
        // 50 ms, then 100 ms would pass the 120 ms: two tries.
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_hint_naming_the_setting_splits_off_the_message() {
        let denied = redis::RedisError::from((
            redis::ErrorKind::AuthenticationFailed,
            "invalid username-password pair",
        ));
        let message = format!("the shared store is unavailable: {}", describe(&denied));
        let (before, hint) = split_hint(&message).unwrap();
        assert_eq!(
            before,
            "the shared store is unavailable: redis: invalid username-password pair - \
             AuthenticationFailed"
        );
        assert!(hint.contains("store.redis_password"), "{hint}");
        let refused = describe(&io(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(split_hint(&refused), None, "{refused}");
    }

    #[test]
    fn an_insecure_tls_url_is_refused_and_rediss_is_accepted() {
        let secret = |s: &str| SecretString::from(s.to_owned());
        assert!(check_url(&secret("rediss://:pw@h:6380/0")).is_ok());
        assert!(is_tls(&secret("rediss://h:6380/0")));
        assert!(!is_tls(&secret("redis://h:6379/0")));
        let refused = check_url(&secret("rediss://:pw-9@h:6380/0#insecure")).unwrap_err();
        assert!(!refused.contains("pw-9"), "{refused}");
    }
}
