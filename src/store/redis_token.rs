//! The company token state in Redis, shared by every instance (docs/protocol.md §7.5).
//!
//! Keys: `{prefix}token` is a hash holding `state` (JSON: refresh token, geolocation, access
//! token and its times) and `fence` (incremented by every save); `{prefix}token:lock` is the
//! refresh lock (`SET NX PX` with a random value). A fenced save is one Lua script that
//! compares the fence and writes state and fence together, so a holder whose lock expired
//! cannot overwrite a newer state.

use std::time::Duration;

use concur_client::{
    CompanyCredentials, FencedSave, RefreshLock, SharedAccess, SharedState, SharedTokenStore,
    StoreError, StoreFuture, TokenStore,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::redis::{Connection, Repeat, claim_value};

/// Compares the fence and, if it is the expected one, replaces the state and increments it.
const SAVE_FENCED: &str = r"
local current = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
if current ~= tonumber(ARGV[1]) then
  return {0, current}
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'fence', current + 1)
return {1, current + 1}
";

/// Replaces the state whatever its fence (a forced move), incrementing the fence.
const SAVE_ANYWAY: &str = r"
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
redis.call('HSET', KEYS[1], 'state', ARGV[1])
return fence
";

/// Deletes the lock only while it holds our value.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// The company token state in Redis.
#[derive(Clone)]
pub struct RedisTokenStore {
    connection: Connection,
    key: String,
    lock_key: String,
}

impl std::fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The stored JSON; plain strings because `SecretString` deliberately cannot serialize.
#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    geolocation: Option<String>,
    #[serde(default)]
    refresh_expires_at: Option<u64>,
    #[serde(default)]
    access: Option<StoredAccess>,
    #[serde(default)]
    saved_at_ms: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct StoredAccess {
    token: String,
    geolocation: String,
    renew_at_ms: u64,
    expires_at_ms: u64,
}

impl Stored {
    fn of(state: &SharedState) -> Self {
        let credentials = state.credentials.as_ref();
        Self {
            version: 1,
            refresh_token: credentials.map(|c| c.refresh_token.expose_secret().to_owned()),
            geolocation: credentials.and_then(|c| c.geolocation.clone()),
            refresh_expires_at: credentials.and_then(|c| c.refresh_expires_at),
            access: state.access.as_ref().map(|a| StoredAccess {
                token: a.token.expose_secret().to_owned(),
                geolocation: a.geolocation.clone(),
                renew_at_ms: a.renew_at_ms,
                expires_at_ms: a.expires_at_ms,
            }),
            saved_at_ms: state.saved_at_ms,
        }
    }

    fn into_state(self, fence: u64) -> SharedState {
        let (geolocation, refresh_expires_at) = (self.geolocation, self.refresh_expires_at);
        SharedState {
            credentials: self.refresh_token.map(|token| CompanyCredentials {
                refresh_token: SecretString::from(token),
                geolocation,
                refresh_expires_at,
            }),
            access: self.access.map(|a| SharedAccess {
                token: SecretString::from(a.token),
                geolocation: a.geolocation,
                renew_at_ms: a.renew_at_ms,
                expires_at_ms: a.expires_at_ms,
            }),
            fence,
            saved_at_ms: self.saved_at_ms,
        }
    }
}

impl RedisTokenStore {
    /// The company token state on the store's connection and prefix (keys `{prefix}token…`).
    pub fn of(store: &super::redis::RedisStore) -> Self {
        let prefix = &store.prefix;
        Self {
            connection: store.connection.clone(),
            key: format!("{prefix}token"),
            lock_key: format!("{prefix}token:lock"),
        }
    }

    /// Replaces the state whatever is there (`state migrate --force`); returns the new fence.
    pub async fn save_anyway(&self, state: &SharedState) -> Result<u64, StoreError> {
        let json = to_json(state)?;
        let script = redis::Script::new(SAVE_ANYWAY);
        let mut invocation = script.prepare_invoke();
        invocation.key(&self.key).arg(json);
        // It increments the fence: sent twice, a fence would be skipped.
        self.script(Repeat::IfUnsent, &invocation).await
    }

    /// Runs one command with retries and the timeout. The client's messages never quote
    /// the URL or its password.
    async fn bounded<T: redis::FromRedisValue>(
        &self,
        repeat: Repeat,
        command: redis::Cmd,
    ) -> Result<T, StoreError> {
        self.connection
            .query(repeat, &command)
            .await
            .map_err(StoreError::Shared)
    }

    /// Runs one script with retries and the timeout.
    async fn script<T: redis::FromRedisValue>(
        &self,
        repeat: Repeat,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.connection
            .invoke(repeat, invocation)
            .await
            .map_err(StoreError::Shared)
    }

    /// The key of the state hash, for messages.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub(crate) async fn read_state(&self) -> Result<Option<SharedState>, StoreError> {
        let mut command = redis::cmd("HMGET");
        command.arg(&self.key).arg("state").arg("fence");
        let (state, fence): (Option<Vec<u8>>, Option<u64>) =
            self.bounded(Repeat::Safe, command).await?;
        let Some(bytes) = state else {
            return Ok(None);
        };
        let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| {
            // serde's message names the field, never the value.
            StoreError::Shared(format!("the token state in {} is corrupt: {e}", self.key))
        })?;
        Ok(Some(stored.into_state(fence.unwrap_or(0))))
    }
}

fn to_json(state: &SharedState) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&Stored::of(state)).map_err(|e| StoreError::Shared(e.to_string()))
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl TokenStore for RedisTokenStore {
    fn load(&self) -> StoreFuture<'_, Option<CompanyCredentials>> {
        Box::pin(async move { Ok(self.read_state().await?.and_then(|s| s.credentials)) })
    }

    /// Replaces the credentials and drops the shared access token (it may belong to the
    /// replaced refresh token), whatever the fence.
    fn save<'a>(&'a self, credentials: &'a CompanyCredentials) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let state = SharedState {
                credentials: Some(credentials.clone()),
                access: None,
                fence: 0,
                saved_at_ms: Some(now_ms()),
            };
            self.save_anyway(&state).await.map(drop)
        })
    }

    fn shared(&self) -> Option<&dyn SharedTokenStore> {
        Some(self)
    }
}

impl SharedTokenStore for RedisTokenStore {
    fn read(&self) -> StoreFuture<'_, Option<SharedState>> {
        Box::pin(self.read_state())
    }

    fn try_lock(&self, ttl: Duration) -> StoreFuture<'_, Option<RefreshLock>> {
        Box::pin(async move {
            let value = claim_value();
            let mut command = redis::cmd("SET");
            command
                .arg(&self.lock_key)
                .arg(&value)
                .arg("NX")
                .arg("PX")
                .arg(millis(ttl));
            // Sent again after a lost reply, `SET NX` finds the lock taken: its value says
            // whether by this call.
            let reply: Option<String> = self.bounded(Repeat::Safe, command).await?;
            let held = match reply {
                Some(_) => true,
                None => {
                    let mut command = redis::cmd("GET");
                    command.arg(&self.lock_key);
                    let holder: Option<String> = self.bounded(Repeat::Safe, command).await?;
                    holder.as_deref() == Some(value.as_str())
                }
            };
            Ok(held.then_some(RefreshLock { value }))
        })
    }

    fn unlock<'a>(&'a self, lock: &'a RefreshLock) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let script = redis::Script::new(UNLOCK);
            let mut invocation = script.prepare_invoke();
            invocation.key(&self.lock_key).arg(&lock.value);
            self.script(Repeat::Safe, &invocation)
                .await
                .map(|_: i64| ())
        })
    }

    fn save_fenced<'a>(
        &'a self,
        state: &'a SharedState,
        fence: u64,
    ) -> StoreFuture<'a, FencedSave> {
        Box::pin(async move {
            let json = to_json(state)?;
            let script = redis::Script::new(SAVE_FENCED);
            let mut invocation = script.prepare_invoke();
            invocation.key(&self.key).arg(fence).arg(json);
            // Sent twice, the second would find its own fence and report the save stale.
            let (saved, current): (i64, u64) = self.script(Repeat::IfUnsent, &invocation).await?;
            Ok(if saved == 1 {
                FencedSave::Saved { fence: current }
            } else {
                FencedSave::Stale { current }
            })
        })
    }
}
