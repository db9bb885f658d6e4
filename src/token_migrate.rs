//! `concur-connector token migrate`: the file token state of one instance into Redis
//! (docs/protocol.md §7.5).

use std::time::Duration;

use concur_client::{FencedSave, SharedState, SharedTokenStore as _};

use crate::store::redis_token::RedisTokenStore;

/// `token migrate`: moves the file token state (`concur.state_dir`, or `from`) into the
/// configured Redis, so every instance uses it. A state already in Redis that is as new as
/// the file's, or whose age is unknown, is kept unless `force`; a newer file replaces an
/// older Redis state with a fenced save (a refresh running meanwhile wins). Returns what
/// was done, for the operator (never a token).
pub async fn migrate(
    settings: &crate::config::Settings,
    from: Option<&std::path::Path>,
    force: bool,
) -> Result<String, String> {
    let (Some(redis), Some(concur)) = (&settings.store.redis, &settings.concur) else {
        return Err(
            "needs store.backend = \"redis\" (with store.redis_url) and a [concur] table"
                .to_owned(),
        );
    };
    let file = concur_client::FileTokenStore::new(from.unwrap_or(&concur.state_dir));
    let (credentials, file_saved_at) = file
        .load_with_saved_at()
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("there is no token state at {}", file.path().display()))?;
    let store = crate::store::redis::RedisStore::new(redis).map_err(|e| e.to_string())?;
    let store = crate::store::redis_token::RedisTokenStore::of(&store);
    let current = store.read_state().await.map_err(|e| e.to_string())?;
    let state = SharedState {
        credentials: Some(credentials),
        // The file holds no access token: the first instance to need one refreshes.
        access: None,
        fence: 0,
        saved_at_ms: file_saved_at.map(|s| s.saturating_mul(1000)),
    };
    let fence = match &current {
        None => save_fenced_or_refuse(&store, &state, 0).await?,
        Some(_) if force => store.save_anyway(&state).await.map_err(|e| e.to_string())?,
        Some(existing) => {
            let file_ms = state.saved_at_ms;
            match (existing.saved_at_ms, file_ms) {
                (Some(redis_ms), Some(file_ms)) if file_ms > redis_ms => {
                    save_fenced_or_refuse(&store, &state, existing.fence).await?
                }
                (redis_ms, _) => {
                    return Err(format!(
                        "Redis ({key}) already holds a token state (saved {}, fence {}) that is not \
                         older than {} (saved {}); nothing changed. Pass --force to replace it",
                        describe_time(redis_ms),
                        existing.fence,
                        file.path().display(),
                        describe_time(file_ms),
                        key = store.key(),
                    ));
                }
            }
        }
    };
    Ok(format!(
        "moved the token state of {} into Redis ({}, fence {fence}); every instance with \
         store.backend = \"redis\" now uses it, and the file is no longer read\n",
        file.path().display(),
        store.key(),
    ))
}

async fn save_fenced_or_refuse(
    store: &RedisTokenStore,
    state: &SharedState,
    fence: u64,
) -> Result<u64, String> {
    match store
        .save_fenced(state, fence)
        .await
        .map_err(|e| e.to_string())?
    {
        FencedSave::Saved { fence } => Ok(fence),
        FencedSave::Stale { current } => Err(format!(
            "an instance saved a new token state (fence {current}) meanwhile; nothing changed"
        )),
    }
}

fn describe_time(ms: Option<u64>) -> String {
    ms.and_then(|ms| {
        let at = std::time::UNIX_EPOCH.checked_add(Duration::from_millis(ms))?;
        Some(humantime::format_rfc3339_seconds(at).to_string())
    })
    .unwrap_or_else(|| "at an unknown time".to_owned())
}
