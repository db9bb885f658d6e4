//! A Concur user and the client's cache of them (filled by the owner lookup in
//! `identity.rs`, held by the client).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Owners remembered at most (one entry per employee who submits reports).
const CACHE_CAPACITY: u64 = 10_000;
/// How long a found owner is remembered: a changed profile language shows within this.
const CACHE_TTL: Duration = Duration::from_secs(15 * 60);

/// A Concur user as Identity v4 describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcurUser {
    /// The user's UUID (the v4 APIs' `userId`).
    pub id: String,
    /// The login (`userName`; v1.1's `X_UserID`).
    pub user_name: String,
    /// The profile language as Concur gives it (`en-US`, `de`, …), when set.
    pub preferred_language: Option<String>,
}

/// Found owners by lower-cased login, bounded and expiring.
pub(crate) struct UserCache(pub(crate) moka::future::Cache<String, ConcurUser>);

impl UserCache {
    pub(crate) fn new() -> Self {
        Self(
            moka::future::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(CACHE_TTL)
                .build(),
        )
    }
}
