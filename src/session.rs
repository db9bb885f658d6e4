//! Launch sessions: what the popup keeps after the signed launch, behind a cookie.
//!
//! The signed query is verified once; afterwards the popup lives on a clean URL and this
//! session, so reloads work and the signature, nonce and auth code never appear again.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::concur::{ExpenseItem, UserToken};
use crate::launch::LaunchContext;
use crate::session_keys::{Sealed, SessionKeys};
use crate::store::{SessionStore, StoreError};

/// How long the picker reuses the item it read (searches re-render the page); Done always
/// reads it afresh.
pub const ITEM_FRESHNESS: Duration = Duration::from_secs(60);

/// `__Host-` binds the cookie to exactly this host, HTTPS and path `/`.
pub const COOKIE: &str = "__Host-concur-connector-session";

/// What a session holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchSession {
    pub launch: LaunchContext,
    /// The anti-forgery token every form of this session carries (128 random bits, hex).
    #[serde(default)]
    pub csrf: String,
    /// What Done saved in Concur, once it has; a second Done then writes nothing.
    #[serde(default)]
    pub saved: Option<Saved>,
    /// The latest write Done started, while it runs or after it failed.
    #[serde(default)]
    pub attempt: Option<Attempt>,
    /// The user's Concur token, encrypted for this session (shared stores with
    /// `store.session_keys` only), so every instance can call Concur as the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_token: Option<Sealed>,
}

/// One write started by Done. Its number is claimed once in the nonce store, so two Dones
/// (two tabs, two instances) never start the same attempt; a failed attempt leaves the next
/// number free, so a failure can never lock the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first write of the session, then 2, 3, …
    pub number: u32,
    /// Unix time in milliseconds by which the write has certainly ended, even if the
    /// instance running it died: a pending attempt past it counts as uncertain.
    pub deadline_ms: u64,
    /// The instance running it holds a lease in the nonce store that it renews while the
    /// write runs and stops the write before it lapses: once the lease is gone the attempt
    /// has ended, before its deadline. False for attempts recorded by older versions,
    /// which only the deadline ends.
    #[serde(default)]
    pub leased: bool,
    /// What the user had in the form, shown again if the write fails.
    pub form: KeptForm,
    pub state: AttemptState,
}

/// The picker form as the user sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptForm {
    pub q: String,
    pub selected: Option<String>,
    pub typed: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AttemptState {
    /// The write is running (on this or another instance).
    Pending,
    /// The write ended without saving; Retry starts the next attempt.
    Failed(WriteFailure),
}

/// Why a write did not save, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFailure {
    /// The page's HTTP status.
    pub status: u16,
    /// The message key of the notice.
    pub message: String,
    /// Concur's own words, for a refused value.
    pub detail: Option<String>,
    /// Concur may have applied the write (a timeout, a lost connection, a 5xx): the next
    /// attempt re-reads the item before it writes.
    pub uncertain: bool,
}

impl Attempt {
    /// Whether the attempt may still be running now, as far as its deadline tells (a
    /// leased one may have ended sooner: its lease tells).
    pub fn is_running(&self, now_ms: u64) -> bool {
        self.state == AttemptState::Pending && now_ms < self.deadline_ms
    }

    /// Whether Concur may hold the value although no success was recorded, for an attempt
    /// that is no longer running: one still pending was abandoned mid-write.
    pub fn outcome_uncertain(&self) -> bool {
        match &self.state {
            AttemptState::Pending => true,
            AttemptState::Failed(failure) => failure.uncertain,
        }
    }
}

/// Milliseconds since the Unix epoch (session records are shared between instances).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A value written to Concur for this launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    pub field: String,
    pub value: String,
}

impl LaunchSession {
    pub fn new(launch: LaunchContext) -> Self {
        Self {
            launch,
            csrf: new_id(),
            saved: None,
            attempt: None,
            user_token: None,
        }
    }

    /// Whether a posted form token is this session's (constant time; an empty one never is).
    pub fn csrf_matches(&self, posted: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        !self.csrf.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(posted.as_bytes()))
    }
}

/// A session found behind a request's cookie.
#[derive(Debug, Clone)]
pub struct Opened {
    pub id: String,
    pub session: LaunchSession,
}

/// Typed access to the session store.
///
/// The launch's Concur user token is held beside the session in this process for the
/// session's lifetime. With [`Sessions::sharing_tokens`] (Redis and `store.session_keys`)
/// it is also sealed into the session record, so every instance can use it; it lives
/// exactly as long as the record.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    /// Encrypt the user's token into the record; `None` keeps it in this process only.
    sealing: Option<Arc<Sealing>>,
    user_tokens: moka::future::Cache<String, UserToken>,
    /// The launched item as last read, per session, briefly: searching does not re-read it.
    items: moka::future::Cache<String, ExpenseItem>,
    lifetime: Duration,
}

impl Sessions {
    pub fn new(store: Arc<dyn SessionStore>, lifetime: Duration, max_entries: u64) -> Self {
        let user_tokens = moka::future::Cache::builder()
            .max_capacity(max_entries)
            .time_to_live(lifetime)
            .build();
        let items = moka::future::Cache::builder()
            .max_capacity(max_entries)
            .time_to_live(ITEM_FRESHNESS.min(lifetime))
            .build();
        Self {
            store,
            sealing: None,
            user_tokens,
            items,
            lifetime,
        }
    }

    /// Seals users' tokens into the session records with `keys`; a token read back must
    /// name a geolocation `policy` trusts.
    pub fn sharing_tokens(
        mut self,
        keys: SessionKeys,
        policy: crate::concur::GeolocationPolicy,
    ) -> Self {
        self.sealing = Some(Arc::new(Sealing { keys, policy }));
        self
    }

    /// Stores a new session under a fresh random 128-bit id and returns the id.
    pub async fn create(
        &self,
        session: &LaunchSession,
        user_token: Option<UserToken>,
    ) -> Result<String, StoreError> {
        let id = new_id();
        let sealed = match (&self.sealing, &user_token) {
            (Some(sealing), Some(token)) => sealing.keys.seal(&id, &token.to_bytes()),
            _ => None,
        };
        let value = if sealed.is_some() {
            let mut session = session.clone();
            session.user_token = sealed;
            serde_json::to_vec(&session)
        } else {
            serde_json::to_vec(session)
        }
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.store.insert(&id, value, self.lifetime).await?;
        if let Some(token) = user_token {
            self.user_tokens.insert(id.clone(), token).await;
        }
        Ok(id)
    }

    /// The Concur user token exchanged at launch for this session, if any.
    pub async fn user_token(&self, id: &str) -> Option<UserToken> {
        self.user_tokens.get(id).await
    }

    /// The item read for this session within the last [`ITEM_FRESHNESS`], if any.
    pub async fn recent_item(&self, id: &str) -> Option<ExpenseItem> {
        self.items.get(id).await
    }

    /// Keeps the item just read for this session (or forgets it, after a write).
    pub async fn remember_item(&self, id: &str, item: Option<&ExpenseItem>) {
        match item {
            Some(item) => self.items.insert(id.to_owned(), item.clone()).await,
            None => self.items.invalidate(id).await,
        }
    }

    /// The session behind the request's cookie, if any and not expired.
    pub async fn open(&self, headers: &HeaderMap) -> Result<Option<Opened>, StoreError> {
        let Some(id) = cookie_value(headers) else {
            return Ok(None);
        };
        // A value we cannot read (an older format) counts as expired.
        Ok(self.load(&id).await?.map(|session| Opened { id, session }))
    }

    /// Stores a changed session under its id, keeping its expiry. False if it has expired.
    pub async fn save(&self, id: &str, session: &LaunchSession) -> Result<bool, StoreError> {
        let value =
            serde_json::to_vec(session).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.store.replace(id, value).await
    }

    /// The session with this id, if it exists and has not expired.
    pub async fn load(&self, id: &str) -> Result<Option<LaunchSession>, StoreError> {
        let Some(bytes) = self.store.get(id).await? else {
            return Ok(None);
        };
        let Ok(session) = serde_json::from_slice::<LaunchSession>(&bytes) else {
            return Ok(None);
        };
        if let Some(sealed) = &session.user_token {
            match self.unseal(id, sealed) {
                Ok(token) => self.user_tokens.insert(id.to_owned(), token).await,
                Err(why) => {
                    // Never the value or a key: only that it failed and why.
                    tracing::warn!(
                        key_id = %sealed.kid,
                        reason = why,
                        "the user token in a session cannot be opened; the session counts as expired"
                    );
                    return Ok(None);
                }
            }
        }
        Ok(Some(session))
    }

    fn unseal(&self, id: &str, sealed: &Sealed) -> Result<UserToken, &'static str> {
        let sealing = self
            .sealing
            .as_ref()
            .ok_or("this instance has no store.session_keys")?;
        let bytes = sealing.keys.open(id, sealed)?;
        UserToken::from_bytes(&bytes, &sealing.policy)
            .ok_or("it holds no user token this instance accepts")
    }

    /// How long a session lives: also how long a Done claim is held.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The `Set-Cookie` value for a new session.
    pub fn set_cookie(&self, id: &str) -> HeaderValue {
        let cookie = axum_extra::extract::cookie::Cookie::build((COOKIE, id.to_owned()))
            .path("/")
            .secure(true)
            .http_only(true)
            .same_site(axum_extra::extract::cookie::SameSite::Lax)
            .max_age(time::Duration::seconds(self.lifetime.as_secs() as i64))
            .build();
        HeaderValue::from_str(&cookie.to_string())
            .expect("a hex id and fixed attributes are a valid header")
    }
}

/// How user tokens are sealed into session records.
struct Sealing {
    keys: SessionKeys,
    policy: crate::concur::GeolocationPolicy,
}

fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session cookie's value; ids are 32 lower-case hex characters, anything else is ignored.
fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_128_random_bits_in_hex() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn the_cookie_is_host_bound_secure_http_only_and_lax() {
        let sessions = Sessions::new(
            Arc::new(crate::store::memory::MemorySessionStore::new(1)),
            Duration::from_secs(1800),
            1,
        );
        let cookie = sessions.set_cookie("00112233445566778899aabbccddeeff");
        let cookie = cookie.to_str().unwrap();
        for part in [
            "__Host-concur-connector-session=",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=1800",
        ] {
            assert!(cookie.contains(part), "{cookie} lacks {part}");
        }
        assert!(!cookie.contains("Domain"), "{cookie}");
    }

    #[test]
    fn only_well_formed_ids_are_read_from_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static(
                "a=b; __Host-concur-connector-session=00112233445566778899aabbccddeeff",
            ),
        );
        assert!(cookie_value(&headers).is_some());
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-concur-connector-session=../../etc"),
        );
        assert!(cookie_value(&headers).is_none());
    }
}
