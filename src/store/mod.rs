//! Shared state with one atomic operation per need: nonces seen, launch sessions, and the
//! durable work queue ([`queue`]).
//!
//! Callers hold `Arc<dyn NonceStore>` / `Arc<dyn SessionStore>`, chosen by configuration,
//! so a shared backend (Redis, for several instances behind a load balancer) plugs in
//! without touching them. Values are opaque bytes; [`crate::session`] owns their format.

pub mod memory;
pub mod queue;
pub mod redis;
pub mod redis_token;

use std::time::Duration;

use async_trait::async_trait;

/// Whether a nonce was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// First time seen within the window: remembered now.
    Fresh,
    /// Already seen within the window: a replay.
    Replayed,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the shared store is unavailable: {0}")]
    Unavailable(String),
    /// The in-memory store holds `store.max_entries` live entries; none is dropped early.
    #[error(
        "the {what} is full ({max_entries} live entries, store.max_entries): refusing new entries rather than forgetting one before its time"
    )]
    Full {
        what: &'static str,
        max_entries: usize,
    },
}

/// Remembers nonces for the replay window.
#[async_trait]
pub trait NonceStore: Send + Sync {
    /// Atomically remembers `key` for `ttl` if it is absent, and says whether it was.
    async fn remember(&self, key: &str, ttl: Duration) -> Result<Freshness, StoreError>;
    /// Forgets `key`, so the next `remember` is fresh again (a claim given back).
    async fn forget(&self, key: &str) -> Result<(), StoreError>;
    /// Whether `key` is remembered now (a lease its holder keeps renewing).
    async fn holds(&self, key: &str) -> Result<bool, StoreError>;
    /// Remembers `key` for `ttl` from now if it still is; false when it has lapsed (and
    /// then stays forgotten: a lapsed lease is never revived).
    async fn renew(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;
}

/// Server-side launch sessions, keyed by a random id held in a cookie.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session for `ttl` (counted from now).
    async fn insert(&self, id: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError>;
    /// The session, if it exists and has not expired.
    async fn get(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Replaces an existing session's value, keeping its expiry. False if it is gone.
    async fn replace(&self, id: &str, value: Vec<u8>) -> Result<bool, StoreError>;
    /// Forgets a session.
    async fn remove(&self, id: &str) -> Result<(), StoreError>;
}
