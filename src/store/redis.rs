//! A shared store in Redis, for several instances behind a load balancer.
//!
//! One [`RedisStore`] serves both traits over one multiplexed, self-reconnecting
//! [`ConnectionManager`]. It connects on first use, so start-up never waits for Redis; every
//! call is bounded by the configured timeout, so a dead Redis becomes a quick
//! [`StoreError::Unavailable`] (a 503 page) rather than a hung request.
//!
//! Keys are `{prefix}nonce:{key}` and `{prefix}session:{id}` (and the company token's,
//! see [`super::redis_token`]). Each operation is one atomic
//! command: `SET NX PX` to remember, `SET XX KEEPTTL` to replace, `GET`, `DEL`.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ExistenceCheck, SetExpiry, SetOptions};
use secrecy::{ExposeSecret, SecretString};

use super::{Freshness, NonceStore, SessionStore, StoreError};

/// How to reach Redis (`[store] redis_url`, `key_prefix`, `redis_timeout`).
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port/db`; may carry a password.
    pub url: SecretString,
    /// Prepended to every key, so several applications can share one Redis.
    pub key_prefix: String,
    /// Upper bound on each call (connecting included).
    pub timeout: Duration,
}

/// Checks that `url` is a Redis URL this build can use, without connecting. The message
/// never repeats the URL (it may hold a password).
pub fn check_url(url: &SecretString) -> Result<(), String> {
    redis::Client::open(url.expose_secret())
        .map(drop)
        .map_err(|e| {
            format!(
                "is not a usable Redis URL (expected redis://[user:password@]host:port/db; \
                 rediss:// is not supported by this build): {}",
                describe(&e)
            )
        })
}

/// A lazy, self-reconnecting connection to the configured Redis, every call bounded by the
/// timeout (shared by the store and the work queue). Needs a Tokio runtime.
pub fn connection_manager(settings: &RedisSettings) -> Result<ConnectionManager, StoreError> {
    let client = redis::Client::open(settings.url.expose_secret())
        .map_err(|e| StoreError::Unavailable(format!("bad redis url: {}", describe(&e))))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.timeout))
        .set_response_timeout(Some(settings.timeout))
        .set_number_of_retries(1)
        .set_max_delay(settings.timeout);
    ConnectionManager::new_lazy_with_config(client, config)
        .map_err(|e| StoreError::Unavailable(describe(&e)))
}

/// Nonces and sessions in Redis.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
}

impl RedisStore {
    /// Prepares the client; no connection is made until the first call. Needs a Tokio
    /// runtime (the manager's reconnect task runs on it).
    pub fn new(settings: &RedisSettings) -> Result<Self, StoreError> {
        Ok(Self {
            connection: connection_manager(settings)?,
            prefix: settings.key_prefix.clone(),
            timeout: settings.timeout,
        })
    }

    /// Answers when Redis answers a PING within the timeout (the readiness probe).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        self.bounded(async move {
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        })
        .await
        .map(drop)
    }

    /// The company token state on the same connection and prefix (keys `{prefix}token…`).
    pub fn token_store(&self) -> super::redis_token::RedisTokenStore {
        super::redis_token::RedisTokenStore::new(
            self.connection.clone(),
            &self.prefix,
            self.timeout,
        )
    }

    fn nonce_key(&self, key: &str) -> String {
        format!("{}nonce:{key}", self.prefix)
    }

    fn session_key(&self, id: &str) -> String {
        format!("{}session:{id}", self.prefix)
    }

    /// Runs one command with the timeout, mapping every failure to `Unavailable`.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let error = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => StoreError::Unavailable(describe(&error)),
            Err(_) => {
                StoreError::Unavailable(format!("redis did not answer within {:?}", self.timeout))
            }
        };
        crate::metrics::store_error(crate::metrics::Store::Redis);
        Err(error)
    }

    async fn set(
        &self,
        key: String,
        value: Vec<u8>,
        options: SetOptions,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let reply: Option<String> = self
            .bounded(async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg(options)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(reply.is_some())
    }

    async fn del(&self, key: String) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        self.bounded(async move {
            redis::cmd("DEL")
                .arg(key)
                .query_async::<i64>(&mut connection)
                .await
        })
        .await
        .map(drop)
    }
}

/// A Redis error for logs and problems. The client's messages name the failure (refused,
/// timed out, bad URL part, server error code) but never quote the URL or its password.
fn describe(error: &redis::RedisError) -> String {
    format!("redis: {error}")
}

/// Milliseconds for `PX`, at least 1 (Redis refuses 0).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl NonceStore for RedisStore {
    async fn remember(&self, key: &str, ttl: Duration) -> Result<Freshness, StoreError> {
        let options = SetOptions::default()
            .conditional_set(ExistenceCheck::NX)
            .with_expiration(SetExpiry::PX(millis(ttl)));
        let set = self
            .set(self.nonce_key(key), b"1".to_vec(), options)
            .await?;
        Ok(if set {
            Freshness::Fresh
        } else {
            Freshness::Replayed
        })
    }

    async fn forget(&self, key: &str) -> Result<(), StoreError> {
        self.del(self.nonce_key(key)).await
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
        let mut connection = self.connection.clone();
        let key = self.session_key(id);
        self.bounded(async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<Vec<u8>>>(&mut connection)
                .await
        })
        .await
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
