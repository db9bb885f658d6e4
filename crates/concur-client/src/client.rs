//! `ConcurClient`: one pooled HTTPS client, the company token cache, and one method per call.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{ACCEPT, ACCEPT_LANGUAGE, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;

use super::body::{BodyError, read_limited};
use super::config::{ClientConfig, CompanyGrant};
use super::error::{ApiError, ConcurError};
use super::id_token::{self, Rejection, VerifyingKey};
use super::item::{ExpenseItem, ItemApi, ItemRef, origin_of};
use super::observe::{self, CallEvent, CallStatus, Observer, TokenKind};
use super::parse::{Format, parse_item};
pub(crate) use super::retry::RetryClass;
use super::store::{
    CompanyCredentials, FencedSave, FileTokenStore, SharedAccess, SharedState, SharedTokenStore,
    StoreError, TokenStore,
};
use super::token::{AccessToken, TokenResponse, UserToken, now_ms, warn_if_refresh_expires_soon};
use super::write::{self, FieldValue, WriteToken};

use crate::config::TOKEN_PATH;
const CORRELATION_HEADER: &str = "concur-correlationid";
/// The most of an answer's body read from Concur: far above any item, report, token or
/// list page it sends, and a bound on what one call can make the process hold.
pub const MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;
/// A `Retry-After` longer than this is not waited for: the user is looking at a popup.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Concur rotates signing keys rarely; re-read the JWKS hourly and on an unknown `kid`.
const JWKS_TTL: Duration = Duration::from_secs(3600);
/// Bounds JWKS re-fetches caused by tokens naming unknown keys.
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(30);
/// How often an instance waiting for another's token refresh reads the shared store.
const SHARED_POLL: Duration = Duration::from_millis(50);
/// Added to the refresh lock's lifetime for the save after Concur's answer.
const SHARED_SAVE_MARGIN: Duration = Duration::from_secs(5);
/// Hosts that predate OAuth2 JWTs (docs/protocol.md §7.3, T21): reads go to the geolocation instead.
const LEGACY_HOSTS: [&str; 4] = [
    "www.concursolutions.com",
    "eu1.concursolutions.com",
    "implementation.concursolutions.com",
    "eu1imp.concursolutions.com",
];

/// The Concur web-services client. Cheap to clone; clones share the connection pool and the
/// token cache, so build it once at start-up and hand it to every task.
#[derive(Clone)]
pub struct ConcurClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    store: Arc<dyn TokenStore>,
    /// Held across a token refresh, so concurrent callers wait for one refresh (single flight).
    company: Mutex<CompanyState>,
    jwks: Mutex<Option<CachedKeys>>,
    backoff: ExponentialBuilder,
    /// Owners found by login (Identity v4), so each owner costs one lookup at most.
    users: super::user::UserCache,
    /// Told about every call and token grant (metrics), once set.
    observer: std::sync::OnceLock<Arc<dyn Observer>>,
}

#[derive(Default)]
struct CompanyState {
    /// Whether the store has been read (lazily, on the first need of a token).
    loaded: bool,
    /// Whether `credentials` holds a rotation the store refused to save (so the store is
    /// older than memory).
    unsaved: bool,
    credentials: Option<CompanyCredentials>,
    access: Option<AccessToken>,
    generation: u64,
    /// With a shared store: the fence of the state `access` came from.
    fence: Option<u64>,
    /// With a shared store: the fence of a state whose access token Concur refused (401).
    refused_fence: Option<u64>,
}

/// A company token just obtained (or read from the shared store), before it is installed.
struct Fresh {
    credentials: Option<CompanyCredentials>,
    token: SecretString,
    geolocation: Url,
    lifetime: Duration,
    /// How long before the end of `lifetime` the token is replaced.
    margin: Duration,
}

struct CachedKeys {
    keys: Arc<Vec<VerifyingKey>>,
    fetched_at: Instant,
}

/// The result of a successful write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// HTTP status: 204 for v4 PATCH, 200 for v3 PUT; 200 (with the updated object) or 204
    /// for a Travel Request PUT.
    pub status: u16,
    /// The write's `concur-correlationid`, for Concur support.
    pub correlation_id: Option<String>,
}

/// Which token a call carries.
#[derive(Clone, Copy)]
pub(crate) enum Auth<'a> {
    Company,
    /// The user's token while it is valid, else the company token.
    UserOrCompany(Option<&'a UserToken>),
}

/// Where a call goes.
pub(crate) enum Target<'a> {
    /// An item URL, used verbatim.
    Absolute(&'a str),
    /// A path (and query) below the token's geolocation.
    OnGeolocation(&'a str),
}

pub(crate) struct Call<'a> {
    pub(crate) operation: &'static str,
    pub(crate) method: Method,
    pub(crate) target: Target<'a>,
    pub(crate) auth: Auth<'a>,
    pub(crate) accept: &'static str,
    pub(crate) json: Option<&'a Value>,
    /// Sent instead of `json` when the call carries the company token.
    pub(crate) company_json: Option<&'a Value>,
    /// A query parameter added when the call carries the company token.
    pub(crate) company_query: Option<(&'static str, &'a str)>,
    pub(crate) language: Option<&'a str>,
    pub(crate) retry: RetryClass,
}

/// A fully read answer.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// A resolved bearer token and the base URL that goes with it.
struct Bearer {
    token: SecretString,
    base: Url,
    /// `Some` for the company token: the generation a 401 invalidates.
    company_generation: Option<u64>,
}

impl fmt::Debug for ConcurClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurClient")
            .field("client_id", &self.inner.config.client_id)
            .field("auth_base_url", &self.inner.config.auth_base_url.as_str())
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

impl ConcurClient {
    /// Builds the client; no network I/O happens until the first call.
    ///
    /// The store is read on the first token need: a saved refresh token there wins over
    /// `config.company_grant`, which only seeds an empty store.
    pub fn new(config: ClientConfig, store: Arc<dyn TokenStore>) -> Result<Self, ConcurError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("concur-connector/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // Concur's APIs do not redirect; following one could carry a token elsewhere.
            .redirect(reqwest::redirect::Policy::none());
        if !config.extra_roots.is_empty() {
            builder = builder.tls_certs_merge(config.extra_roots.iter().cloned());
        }
        let http = builder.build().map_err(ConcurError::Build)?;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(config.retry_base_delay)
            .with_max_delay(config.retry_max_delay)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(config.max_retries as usize);
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                store,
                company: Mutex::new(CompanyState::default()),
                jwks: Mutex::new(None),
                backoff,
                users: super::user::UserCache::new(),
                observer: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Sets the observer told about every call and token grant (shared by all clones).
    /// Only the first one set counts; false when one was set already.
    pub fn set_observer(&self, observer: Arc<dyn Observer>) -> bool {
        self.inner.observer.set(observer).is_ok()
    }

    fn observe(&self, see: impl FnOnce(&dyn Observer)) {
        if let Some(observer) = self.inner.observer.get() {
            see(observer.as_ref());
        }
    }

    /// The longest a field write can take with its retries, a token renewal before it and
    /// the one retry after a 401: the background write of Done is bounded by it.
    pub fn write_budget(&self) -> Duration {
        // A token call, the write, and the write again after a 401.
        self.token_call_budget() * 3
    }

    /// The longest one call takes with its retries (a token grant, say).
    fn token_call_budget(&self) -> Duration {
        let c = &self.inner.config;
        (c.connect_timeout + c.request_timeout) * (c.max_retries + 1)
            + c.retry_max_delay.max(MAX_RETRY_AFTER) * c.max_retries
    }

    /// The hosts a URL from an unsigned message may name (the item URL policy).
    pub(crate) fn geolocations(&self) -> &crate::GeolocationPolicy {
        &self.inner.config.geolocations
    }

    /// The cache of owners looked up by login.
    pub(crate) fn user_cache(&self) -> &super::user::UserCache {
        &self.inner.users
    }

    /// Builds the client with the file store in `config.state_dir`.
    pub fn with_file_store(config: ClientConfig) -> Result<Self, ConcurError> {
        let store = Arc::new(FileTokenStore::new(config.state_dir.clone()));
        Self::new(config, store)
    }

    /// Obtains the company token now (e.g. at start-up, to fail early on bad credentials).
    #[tracing::instrument(name = "concur.ensure_company_token", skip_all)]
    pub async fn ensure_company_token(&self) -> Result<(), ConcurError> {
        self.company_token().await.map(drop)
    }

    /// Exchanges a launch's `client_auth_code` for a user token (authorization-code grant at
    /// the auth base, with the configured `redirect_uri`). Call it once per launch and keep
    /// the result in the launch session: the code is single-use.
    ///
    /// The response must carry an `id_token` (else [`ConcurError::IdTokenInvalid`]): its RS256
    /// signature is verified against the JWKS, with `exp`, `aud` (the client id) and `iss`
    /// (a Concur geolocation or a configured base URL), and its `sub` must equal
    /// `expected_user_id` (the signed `logged_in_user_id`, compared case-insensitively), else
    /// [`ConcurError::IdentityMismatch`]. An unreachable JWKS is
    /// [`ConcurError::JwksUnavailable`]: an unverifiable `id_token` is never accepted.
    #[tracing::instrument(name = "concur.exchange_auth_code", skip_all)]
    pub async fn exchange_auth_code(
        &self,
        code: &SecretString,
        expected_user_id: &str,
    ) -> Result<UserToken, ConcurError> {
        let config = &self.inner.config;
        let form = [
            ("client_id", config.client_id.as_str()),
            ("client_secret", config.client_secret.expose_secret()),
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
            ("redirect_uri", config.redirect_uri.as_str()),
        ];
        let response = self.code_grant(&form).await?;
        // Without an id_token nothing says whose code this was: the code is unsigned, so it
        // could be another user's, pasted into this launch.
        let Some(id_token) = &response.id_token else {
            tracing::warn!("authorization-code grant returned no id token");
            return Err(ConcurError::IdTokenInvalid(
                "the token response carries no id_token".into(),
            ));
        };
        let subject = self.verify_id_token(id_token.expose_secret()).await?;
        if !subject.eq_ignore_ascii_case(expected_user_id.trim()) {
            tracing::warn!("id token subject differs from the launching user");
            return Err(ConcurError::IdentityMismatch);
        }
        let subject = Some(subject);
        Ok(UserToken {
            expires_at: Instant::now() + response.lifetime(),
            geolocation: response.geolocation_url(&config.geolocations)?,
            access_token: response.access_token,
            subject,
        })
    }

    /// Reads the item an LEU launch points at.
    ///
    /// v4 and Travel Request URLs are read with the user token (the company token when
    /// there is none or it expired), v3 and v1.1 URLs with the company token. The URL is used verbatim, except
    /// that v3/v1.1 URLs on a legacy host (`www.concursolutions.com`, ...), which do not
    /// accept OAuth2 JWTs (docs/protocol.md T21), are read at the company token's geolocation instead.
    /// `language` (the launch's `language_code`) localises names via `Accept-Language`.
    #[tracing::instrument(name = "concur.read_item", skip_all, fields(api, kind))]
    pub async fn read_item(
        &self,
        item_url: &str,
        user: Option<&UserToken>,
        language: Option<&str>,
    ) -> Result<ExpenseItem, ConcurError> {
        let location = ItemRef::parse(item_url).ok_or(ConcurError::UnrecognisedItemUrl)?;
        let span = tracing::Span::current();
        span.record("api", tracing::field::debug(location.api()));
        span.record("kind", location.kind().as_str());

        let (operation, accept, auth) = match &location {
            ItemRef::V4Report(_) => (
                "/expensereports/v4/users/{userID}/context/{contextType}/reports/{reportId}",
                "application/json",
                Auth::UserOrCompany(user),
            ),
            ItemRef::V4Expense { .. } => (
                "/expensereports/v4/users/{userID}/context/{contextType}/reports/{reportId}/expenses/{expenseId}",
                "application/json",
                Auth::UserOrCompany(user),
            ),
            ItemRef::V4Allocation { .. } => (
                "/expensereports/v4/users/{userID}/context/{contextType}/reports/{reportId}/allocations/{allocationId}",
                "application/json",
                Auth::UserOrCompany(user),
            ),
            ItemRef::V3Entry { .. } => (
                "/api/v3.0/expense/entries/{id}",
                "application/json",
                Auth::Company,
            ),
            ItemRef::V11Entry { .. } => (
                "/api/expense/expensereport/v1.1/report/{reportId}/entry/{entryId}",
                "application/xml",
                Auth::Company,
            ),
            ItemRef::RequestHeader { .. } => (
                "/travelrequest/v4/requests/{requestUuid}",
                "application/json",
                Auth::UserOrCompany(user),
            ),
            ItemRef::RequestExpense { .. } => (
                "/travelrequest/v4/expenses/{expenseUuid}",
                "application/json",
                Auth::UserOrCompany(user),
            ),
            ItemRef::RequestAllocation { .. } => (
                "/travelrequest/v4/requests/{requestUuid}/allocations/{allocationUuid}",
                "application/json",
                Auth::UserOrCompany(user),
            ),
        };
        let target = match (location.api(), legacy_path(item_url)) {
            (ItemApi::V3 | ItemApi::V11, Some(path)) => Target::OnGeolocation(path),
            _ => Target::Absolute(item_url),
        };
        let reply = self
            .call(Call {
                operation,
                method: Method::GET,
                target,
                auth,
                accept,
                json: None,
                company_json: None,
                company_query: None,
                language: language.filter(|l| is_language_tag(l)),
                retry: RetryClass::Idempotent,
            })
            .await?;
        let format = Format::detect(reply.content_type.as_deref(), &reply.body).ok_or(
            ConcurError::UnexpectedBody {
                operation,
                detail: "neither json nor xml".to_owned(),
            },
        )?;
        parse_item(&location, format, &reply.body)
            .map_err(|detail| ConcurError::UnexpectedBody { operation, detail })
    }

    /// Writes `value` into the field `field_id` of a previously read `item`.
    ///
    /// * v4 expense: compact `PATCH {geo}/expensereports/v4/reports/{reportId}/expenses/{expenseId}`
    ///   with `expenseSource: "OTHER"`, company token.
    /// * v4 report: `PATCH {geo}/expensereports/v4/users/{userID}/context/{contextType}/reports/{reportId}`
    ///   with `reportSource: "OTHER"`, user token (else company).
    /// * v4 allocation: `PATCH .../reports/{reportId}/allocations/{allocationId}` with the
    ///   allocation's `expenseIds`, user token (else company).
    /// * v3 entry and v1.1 launches: `PUT {geo}/api/v3.0/expense/entries/{id}` with
    ///   `{"CustomN": value}`, company token.
    /// * Travel Request header, expected expense, allocation: `PUT {geo}/travelrequest/v4/…`
    ///   (the item URL's path) with only `{"customN": {"value": …}}`, user token (else
    ///   company); an expected expense PUT with the company token adds `"userId"` (the
    ///   item's owner). Success is `200` with the updated object, or `204`.
    ///
    /// The value is checked (≤ 48 characters; list values need the item id for v4, the code
    /// for v3, see [`FieldValue`]) before any call. The field id is sent as the GET spelled it.
    ///
    /// PATCH and the Travel Request PUT are retried only when Concur provably did not process it (connection not
    /// established, 429): after a timeout or 5xx we cannot know whether it was applied, so
    /// the caller decides (re-reading the item shows whether the value landed). The v3 PUT
    /// is retried like a GET. A 401 renews the company token once and retries once (a 401 on
    /// the user's token retries once with the company token).
    #[tracing::instrument(name = "concur.write_field", skip_all, fields(api, kind, field = field_id))]
    pub async fn write_field(
        &self,
        item: &ExpenseItem,
        field_id: &str,
        value: &FieldValue,
        user: Option<&UserToken>,
    ) -> Result<WriteOutcome, ConcurError> {
        let span = tracing::Span::current();
        span.record("api", tracing::field::debug(item.location.api()));
        span.record("kind", item.kind.as_str());

        let plan = write::plan(item, field_id, value)?;
        let reply = match self.send_write(&plan, user).await {
            Err(ConcurError::Api(e)) if write::refused_as_submitted(&e) => {
                match write::submitted_header_plan(item, field_id, value)? {
                    Some(submitted) => {
                        tracing::info!(
                            correlation_id = e.correlation_id.as_deref().unwrap_or(""),
                            "concur refused the header patch: the report is submitted; writing through the submitted-report patch with the company token"
                        );
                        self.send_write(&submitted, user).await?
                    }
                    None => return Err(ConcurError::Api(e)),
                }
            }
            other => other?,
        };
        tracing::info!(
            status = reply.status,
            correlation_id = reply.correlation_id.as_deref().unwrap_or(""),
            "concur field written"
        );
        Ok(WriteOutcome {
            status: reply.status,
            correlation_id: reply.correlation_id,
        })
    }

    /// Sends one planned write with the token it calls for.
    async fn send_write(
        &self,
        plan: &write::WritePlan,
        user: Option<&UserToken>,
    ) -> Result<Reply, ConcurError> {
        let auth = match plan.token {
            WriteToken::Company => Auth::Company,
            WriteToken::UserOrCompany => Auth::UserOrCompany(user),
        };
        self.call(Call {
            operation: plan.template,
            method: plan.method.clone(),
            target: Target::OnGeolocation(&plan.path),
            auth,
            accept: "application/json",
            json: Some(&plan.body),
            company_json: plan.company_body.as_ref(),
            company_query: plan
                .company_query
                .as_ref()
                .map(|(name, value)| (*name, value.as_str())),
            language: None,
            retry: plan.retry,
        })
        .await
    }

    // ------------------------------------------------------------ company token

    async fn company_token(&self) -> Result<AccessToken, ConcurError> {
        let mut state = self.inner.company.lock().await;
        if let Some(access) = &state.access
            && Instant::now() < access.renew_at
        {
            return Ok(access.clone());
        }
        match self.inner.store.shared() {
            Some(shared) => self.shared_company_token(shared, &mut state).await,
            None => self.renew_company_token(&mut state).await,
        }
    }

    /// Forgets the token a 401 refused, unless another task already replaced it.
    async fn invalidate_company_token(&self, generation: u64) {
        let mut state = self.inner.company.lock().await;
        if state.generation == generation {
            state.access = None;
            // A shared state still holding this token must not hand it out again here.
            state.refused_fence = state.fence;
        }
    }

    /// The geolocation for calls that carry no company token (user-token calls).
    async fn company_geolocation(&self) -> Url {
        let state = self.inner.company.lock().await;
        state
            .access
            .as_ref()
            .map(|a| a.geolocation.clone())
            .or_else(|| self.saved_geolocation(state.credentials.as_ref()))
            .unwrap_or_else(|| self.inner.config.api_base_url.clone())
    }

    /// The geolocation of the saved token state, if it is still trusted. One the policy
    /// refuses (an edited state file, or a host removed from the configuration) is ignored
    /// with a warning: the configured `api_base_url` is used instead.
    fn saved_geolocation(&self, saved: Option<&CompanyCredentials>) -> Option<Url> {
        let raw = saved?.geolocation.as_deref()?;
        let url = super::token::parse_geolocation(raw)?;
        match self.inner.config.geolocations.check(&url) {
            Ok(()) => Some(url),
            Err(reason) => {
                tracing::warn!(
                    geolocation = raw,
                    reason,
                    "ignoring the saved concur geolocation; using concur.api_base_url"
                );
                None
            }
        }
    }

    async fn renew_company_token(
        &self,
        state: &mut CompanyState,
    ) -> Result<AccessToken, ConcurError> {
        if !state.loaded {
            state.credentials = self.inner.store.load().await?;
            state.loaded = true;
            if let Some(saved) = &state.credentials {
                tracing::info!("using the saved concur company token state");
                warn_if_refresh_expires_soon(saved.refresh_expires_at);
            }
        } else if !state.unsaved {
            // Read again before every refresh: another process on the same state (doctor,
            // `token migrate`, a second copy started by mistake) may have rotated the refresh
            // token since, and the one in memory would then be refused. A rotation this
            // process could not save is newer than the store and is kept.
            match self.inner.store.load().await {
                Ok(Some(stored)) => {
                    let changed = state.credentials.as_ref().is_none_or(|held| {
                        held.refresh_token.expose_secret() != stored.refresh_token.expose_secret()
                    });
                    if changed {
                        tracing::info!(
                            "the saved concur company token state changed since it was read; using the saved one"
                        );
                        state.credentials = Some(stored);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the saved concur company token state again; refreshing with the one in memory");
                }
            }
        }
        let response = self.company_grant(state.credentials.as_ref()).await?;
        let fresh = self.absorb(state.credentials.as_ref(), response)?;
        if let Some(credentials) = &fresh.credentials {
            state.unsaved = false;
            // Concur may already have retired the old refresh token, so failing here would
            // not help; keep the new one in memory and shout.
            if let Err(e) = self.inner.store.save(credentials).await {
                state.unsaved = true;
                tracing::error!(error = %e, "cannot save the rotated concur refresh token; it is kept in memory only");
            }
        }
        state.credentials = fresh.credentials.clone();
        Ok(self.install(state, &fresh, None))
    }

    /// The company token from a store shared with other instances (docs/protocol.md §7.5):
    /// the newest token there is used while it is fresh; otherwise one instance refreshes
    /// under the cluster lock while the others wait and read what it saved.
    async fn shared_company_token(
        &self,
        shared: &dyn SharedTokenStore,
        state: &mut CompanyState,
    ) -> Result<AccessToken, ConcurError> {
        let lock_ttl = self.token_call_budget() + SHARED_SAVE_MARGIN;
        // Past the holder's lock expiry another waiter takes the lock over, so waiting
        // twice its lifetime covers one crashed holder and the refresh after it.
        let give_up = Instant::now() + lock_ttl * 2;
        loop {
            let current = shared.read().await?;
            if let Some(access) = self.adopt_shared(state, current.as_ref()) {
                return Ok(access);
            }
            if let Some(lock) = shared.try_lock(lock_ttl).await? {
                let result = self.refresh_shared(shared, state).await;
                if let Err(error) = shared.unlock(&lock).await {
                    // It expires by itself; the others wait for that at most.
                    tracing::warn!(%error, "cannot release the concur token refresh lock");
                }
                return result;
            }
            if Instant::now() >= give_up {
                return Err(ConcurError::Store(StoreError::Shared(
                    "another instance holds the concur token refresh lock and saved no new token"
                        .to_owned(),
                )));
            }
            tokio::time::sleep(SHARED_POLL).await;
        }
    }

    /// Refreshes while holding the cluster lock and saves the result with the fence read
    /// under it, before the new access token is used.
    async fn refresh_shared(
        &self,
        shared: &dyn SharedTokenStore,
        state: &mut CompanyState,
    ) -> Result<AccessToken, ConcurError> {
        // Another instance may have saved between our read and the lock.
        let current = shared.read().await?;
        if let Some(access) = self.adopt_shared(state, current.as_ref()) {
            return Ok(access);
        }
        let fence = current.as_ref().map_or(0, |c| c.fence);
        state.credentials = current.and_then(|c| c.credentials);
        if let Some(saved) = &state.credentials {
            warn_if_refresh_expires_soon(saved.refresh_expires_at);
        }
        let response = self.company_grant(state.credentials.as_ref()).await?;
        let fresh = self.absorb(state.credentials.as_ref(), response)?;
        let now = now_ms();
        let to_ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let saved = SharedState {
            credentials: fresh.credentials.clone(),
            access: Some(SharedAccess {
                token: fresh.token.clone(),
                geolocation: fresh.geolocation.as_str().trim_end_matches('/').to_owned(),
                renew_at_ms: now.saturating_add(to_ms(fresh.lifetime - fresh.margin)),
                expires_at_ms: now.saturating_add(to_ms(fresh.lifetime)),
            }),
            fence,
            saved_at_ms: Some(now),
        };
        state.credentials = fresh.credentials.clone();
        match shared.save_fenced(&saved, fence).await {
            Ok(FencedSave::Saved { fence }) => {
                state.refused_fence = None;
                Ok(self.install(state, &fresh, Some(fence)))
            }
            Ok(FencedSave::Stale { current }) => {
                // Our lock expired while Concur answered, and another instance saved since:
                // its state is the newer one and is never overwritten.
                tracing::warn!(
                    fence,
                    current,
                    "another instance saved a newer concur token state during this refresh; keeping it"
                );
                let newer = shared.read().await?;
                state.refused_fence = None;
                Ok(match self.adopt_shared(state, newer.as_ref()) {
                    Some(access) => access,
                    None => self.install(state, &fresh, None),
                })
            }
            Err(error) => {
                tracing::error!(%error, "cannot save the rotated concur refresh token in the shared store; it is kept in memory only");
                Ok(self.install(state, &fresh, None))
            }
        }
    }

    /// Takes the shared state's access token when it is fresh and not the one Concur
    /// refused here; `None` means a refresh is needed.
    fn adopt_shared(
        &self,
        state: &mut CompanyState,
        current: Option<&SharedState>,
    ) -> Option<AccessToken> {
        let current = current?;
        let access = current.access.as_ref()?;
        let now = now_ms();
        if state.refused_fence == Some(current.fence) || now >= access.renew_at_ms {
            return None;
        }
        let geolocation = super::token::parse_geolocation(&access.geolocation)?;
        if let Err(reason) = self.inner.config.geolocations.check(&geolocation) {
            tracing::warn!(
                geolocation = access.geolocation,
                reason,
                "ignoring the shared concur token: its geolocation is not trusted"
            );
            return None;
        }
        if state.fence != Some(current.fence) {
            tracing::debug!(
                fence = current.fence,
                "using the newest concur company token of the shared store"
            );
        }
        state.credentials.clone_from(&current.credentials);
        let fresh = Fresh {
            credentials: current.credentials.clone(),
            token: access.token.clone(),
            geolocation,
            lifetime: Duration::from_millis(access.renew_at_ms - now),
            margin: Duration::ZERO,
        };
        Some(self.install(state, &fresh, Some(current.fence)))
    }

    /// The grant a refresh makes: the saved refresh token, or the configured credential when
    /// there is none or Concur refuses it.
    async fn company_grant(
        &self,
        saved: Option<&CompanyCredentials>,
    ) -> Result<TokenResponse, ConcurError> {
        let config = &self.inner.config;
        let Some(saved) = saved else {
            return self.configured_grant().await;
        };
        let base = self
            .saved_geolocation(Some(saved))
            .unwrap_or_else(|| config.api_base_url.clone());
        match self.refresh_grant(&base, &saved.refresh_token).await {
            // The saved token was revoked or expired; an operator may have configured
            // a fresh credential to recover with.
            Err(ConcurError::Api(e))
                if matches!(e.status, 400 | 401) && config.company_grant.is_some() =>
            {
                tracing::warn!(
                    status = e.status,
                    "the saved concur refresh token was refused; trying the configured credential"
                );
                self.configured_grant().await
            }
            other => other,
        }
    }

    async fn configured_grant(&self) -> Result<TokenResponse, ConcurError> {
        let config = &self.inner.config;
        match &config.company_grant {
            Some(CompanyGrant::RefreshToken(token)) => {
                self.refresh_grant(&config.api_base_url, token).await
            }
            Some(CompanyGrant::RequestToken {
                company_id,
                request_token,
            }) => {
                let form = [
                    ("client_id", config.client_id.as_str()),
                    ("client_secret", config.client_secret.expose_secret()),
                    ("grant_type", "password"),
                    ("username", company_id.as_str()),
                    ("password", request_token.expose_secret()),
                    ("credtype", "authtoken"),
                ];
                self.token_grant(&config.auth_base_url, &form, "password")
                    .await
            }
            None => Err(ConcurError::NoCompanyCredentials),
        }
    }

    async fn refresh_grant(
        &self,
        base: &Url,
        refresh_token: &SecretString,
    ) -> Result<TokenResponse, ConcurError> {
        let config = &self.inner.config;
        let form = [
            ("client_id", config.client_id.as_str()),
            ("client_secret", config.client_secret.expose_secret()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        self.token_grant(base, &form, "refresh_token").await
    }

    /// Checks a company token response and takes what is kept from it: the new refresh
    /// token and geolocation (the previous ones where it names none) and the access token.
    fn absorb(
        &self,
        previous: Option<&CompanyCredentials>,
        response: TokenResponse,
    ) -> Result<Fresh, ConcurError> {
        let config = &self.inner.config;
        // Checked before anything of the response is kept or used.
        let geolocation = response
            .geolocation_url(&config.geolocations)?
            .or_else(|| self.saved_geolocation(previous))
            .unwrap_or_else(|| config.api_base_url.clone());
        let refresh_token = response
            .refresh_token
            .clone()
            .or_else(|| previous.map(|c| c.refresh_token.clone()));
        let refresh_expires_at = response
            .refresh_expires_at()
            .or_else(|| previous.and_then(|c| c.refresh_expires_at));
        warn_if_refresh_expires_soon(refresh_expires_at);
        let credentials = refresh_token.map(|refresh_token| CompanyCredentials {
            refresh_token,
            geolocation: Some(geolocation.as_str().trim_end_matches('/').to_owned()),
            refresh_expires_at,
        });
        let lifetime = response.lifetime();
        tracing::info!(
            geolocation = geolocation.as_str(),
            expires_in_s = lifetime.as_secs(),
            "concur company token obtained"
        );
        Ok(Fresh {
            credentials,
            token: response.access_token,
            geolocation,
            lifetime,
            margin: config.token_refresh_margin.min(lifetime / 2),
        })
    }

    /// Makes `fresh` the token this process hands out (after its state was saved).
    fn install(&self, state: &mut CompanyState, fresh: &Fresh, fence: Option<u64>) -> AccessToken {
        state.generation += 1;
        state.fence = fence;
        let access = AccessToken {
            token: fresh.token.clone(),
            geolocation: fresh.geolocation.clone(),
            renew_at: Instant::now() + fresh.lifetime - fresh.margin,
            generation: state.generation,
        };
        state.access = Some(access.clone());
        access
    }

    /// The authorization-code grant at `auth_base_url` (GLZ), with the fallback of
    /// docs/protocol.md §7.2: a 4xx there that is not about the code or the redirect URI
    /// (OAuth errors 101–105), nor a `429`, repeats the grant once at `api_base_url`, the
    /// application's geolocation (Concur's older rule), when that is another base.
    async fn code_grant(&self, form: &[(&str, &str)]) -> Result<TokenResponse, ConcurError> {
        const GRANT: &str = "authorization_code";
        let config = &self.inner.config;
        let first = self.token_post(&config.auth_base_url, form, GRANT).await;
        match first {
            Err(ConcurError::Api(e)) if lives_elsewhere(&e) => {
                self.follow_elsewhere(&config.auth_base_url, &e, form, GRANT)
                    .await
            }
            Err(ConcurError::Api(e))
                if glz_fallback_applies(&e)
                    && !same_base(&config.auth_base_url, &config.api_base_url) =>
            {
                tracing::warn!(
                    status = e.status,
                    code = e.code.as_deref().unwrap_or(""),
                    correlation_id = e.correlation_id.as_deref().unwrap_or(""),
                    api_base_url = config.api_base_url.as_str(),
                    "the auth base refused the authorization code grant; repeating it once at concur.api_base_url"
                );
                self.token_grant(&config.api_base_url, form, GRANT).await
            }
            other => other,
        }
    }

    /// A token grant at `base`; an answer with OAuth error 16 ("the user lives elsewhere")
    /// and a `geolocation` repeats it once there, if that geolocation is trusted
    /// (docs/protocol.md §7.2, §7.3).
    async fn token_grant(
        &self,
        base: &Url,
        form: &[(&str, &str)],
        grant: &'static str,
    ) -> Result<TokenResponse, ConcurError> {
        match self.token_post(base, form, grant).await {
            Err(ConcurError::Api(e)) if lives_elsewhere(&e) => {
                self.follow_elsewhere(base, &e, form, grant).await
            }
            other => other,
        }
    }

    /// Repeats a grant that `base` answered with error 16 at the geolocation it names, once:
    /// a geolocation the policy refuses is [`ConcurError::UntrustedGeolocation`] (nothing is
    /// sent there); a malformed one, or `base` itself, leaves Concur's error as it was.
    async fn follow_elsewhere(
        &self,
        base: &Url,
        error: &ApiError,
        form: &[(&str, &str)],
        grant: &'static str,
    ) -> Result<TokenResponse, ConcurError> {
        let unchanged = || Err(ConcurError::Api(Box::new(error.clone())));
        let Some(raw) = error.geolocation.as_deref() else {
            return unchanged();
        };
        let Some(geolocation) = super::token::parse_geolocation(raw) else {
            return unchanged();
        };
        if let Err(reason) = self.inner.config.geolocations.check(&geolocation) {
            tracing::warn!(
                grant,
                geolocation = raw,
                reason,
                "concur says the user lives at a geolocation that is not trusted; not following it"
            );
            return Err(ConcurError::UntrustedGeolocation {
                geolocation: raw.trim().to_owned(),
                reason,
            });
        }
        if same_base(base, &geolocation) {
            return unchanged();
        }
        tracing::info!(
            grant,
            geolocation = geolocation.as_str(),
            "concur says the user lives elsewhere (error 16); repeating the token grant there once"
        );
        self.token_post(&geolocation, form, grant).await
    }

    /// `POST {base}/oauth2/v0/token` with a form; retried like an idempotent call.
    async fn token_post(
        &self,
        base: &Url,
        form: &[(&str, &str)],
        grant: &'static str,
    ) -> Result<TokenResponse, ConcurError> {
        let url = join(base, TOKEN_PATH).ok_or(ConcurError::InvalidUrl {
            operation: TOKEN_PATH,
        })?;
        tracing::debug!(grant, "requesting a concur token");
        let parsed = self
            .send_with_retry(TOKEN_PATH, &Method::POST, RetryClass::Idempotent, || {
                self.inner
                    .http
                    .post(url.clone())
                    .header(ACCEPT, "application/json")
                    .form(form)
            })
            .await
            .and_then(|reply| {
                serde_json::from_slice(&reply.body).map_err(|e| ConcurError::UnexpectedBody {
                    operation: TOKEN_PATH,
                    // serde's message names the field, never the value.
                    detail: format!("token response: {e}"),
                })
            });
        let kind = if grant == "authorization_code" {
            TokenKind::User
        } else {
            TokenKind::Company
        };
        self.observe(|o| o.token_grant(kind, parsed.is_ok()));
        parsed
    }

    // ------------------------------------------------------------ id token

    async fn verify_id_token(&self, id_token: &str) -> Result<String, ConcurError> {
        let config = &self.inner.config;
        let extra_issuers = [&config.auth_base_url, &config.api_base_url]
            .map(|url| url.origin().ascii_serialization());
        let expected = id_token::Expected {
            audience: &config.client_id,
            extra_issuers: &extra_issuers,
        };
        let keys = self.jwks(false).await?;
        match id_token::verify(id_token, &keys, &expected) {
            Ok(subject) => Ok(subject),
            Err(Rejection::UnknownKey) => {
                let keys = self.jwks(true).await?;
                id_token::verify(id_token, &keys, &expected).map_err(|r| match r {
                    Rejection::UnknownKey => {
                        ConcurError::IdTokenInvalid("signed with a key not in the jwks".into())
                    }
                    Rejection::Invalid(why) => ConcurError::IdTokenInvalid(why),
                })
            }
            Err(Rejection::Invalid(why)) => Err(ConcurError::IdTokenInvalid(why)),
        }
    }

    async fn jwks(&self, refetch: bool) -> Result<Arc<Vec<VerifyingKey>>, ConcurError> {
        let mut cache = self.inner.jwks.lock().await;
        if let Some(cached) = cache.as_ref() {
            let age = cached.fetched_at.elapsed();
            if (!refetch && age < JWKS_TTL) || (refetch && age < JWKS_MIN_REFETCH) {
                return Ok(cached.keys.clone());
            }
        }
        const OPERATION: &str = "/oauth2/v0/jwks";
        let url = self.inner.config.jwks_url.clone();
        let reply = self
            .send_with_retry(OPERATION, &Method::GET, RetryClass::Idempotent, || {
                self.inner
                    .http
                    .get(url.clone())
                    .header(ACCEPT, "application/json")
            })
            .await
            .map_err(|e| ConcurError::JwksUnavailable(Box::new(e)))?;
        let keys = id_token::parse_jwks(&reply.body).map_err(|detail| {
            ConcurError::JwksUnavailable(Box::new(ConcurError::UnexpectedBody {
                operation: OPERATION,
                detail,
            }))
        })?;
        let keys = Arc::new(keys);
        *cache = Some(CachedKeys {
            keys: keys.clone(),
            fetched_at: Instant::now(),
        });
        Ok(keys)
    }

    // ------------------------------------------------------------ transport

    async fn bearer(&self, auth: Auth<'_>) -> Result<Bearer, ConcurError> {
        if let Auth::UserOrCompany(Some(user)) = auth
            && !user.is_expired()
        {
            let base = match &user.geolocation {
                Some(geo) => geo.clone(),
                None => self.company_geolocation().await,
            };
            return Ok(Bearer {
                token: user.access_token.clone(),
                base,
                company_generation: None,
            });
        }
        let access = self.company_token().await?;
        Ok(Bearer {
            token: access.token,
            base: access.geolocation,
            company_generation: Some(access.generation),
        })
    }

    /// Sends an API call with its token, retrying per its class. A 401 on the company token
    /// renews it once and repeats the call once; a 401 on the user's token (revoked, or
    /// expired before its `expires_in`) repeats the call once with the company token, which
    /// every user-token call also accepts (docs/protocol.md §6.1, §9.5).
    pub(crate) async fn call(&self, call: Call<'_>) -> Result<Reply, ConcurError> {
        let mut auth = call.auth;
        let mut renewed = false;
        loop {
            let bearer = self.bearer(auth).await?;
            let url = match call.target {
                Target::Absolute(url) => Url::parse(url.trim()).ok(),
                Target::OnGeolocation(path) => join(&bearer.base, path),
            }
            .ok_or(ConcurError::InvalidUrl {
                operation: call.operation,
            })?;
            let json = match bearer.company_generation {
                Some(_) => call.company_json.or(call.json),
                None => call.json,
            };
            let mut url = url;
            if let (Some(_), Some((name, value))) = (bearer.company_generation, call.company_query)
            {
                url.query_pairs_mut().append_pair(name, value);
            }
            let result = self
                .send_with_retry(call.operation, &call.method, call.retry, || {
                    let mut request = self
                        .inner
                        .http
                        .request(call.method.clone(), url.clone())
                        .bearer_auth(bearer.token.expose_secret())
                        .header(ACCEPT, call.accept);
                    if let Some(language) = call.language {
                        request = request.header(ACCEPT_LANGUAGE, language);
                    }
                    if let Some(body) = json {
                        request = request.json(body);
                    }
                    request
                })
                .await;
            match (result, bearer.company_generation) {
                (Err(ConcurError::Api(e)), Some(generation)) if e.status == 401 && !renewed => {
                    tracing::warn!(
                        path = call.operation,
                        "concur refused the company token; renewing it once"
                    );
                    renewed = true;
                    self.invalidate_company_token(generation).await;
                }
                (Err(ConcurError::Api(e)), None)
                    if e.status == 401 && matches!(auth, Auth::UserOrCompany(Some(_))) =>
                {
                    tracing::warn!(
                        path = call.operation,
                        "concur refused the user token; repeating the call with the company token"
                    );
                    auth = Auth::UserOrCompany(None);
                }
                (result, _) => return result,
            }
        }
    }

    async fn send_with_retry<F>(
        &self,
        operation: &'static str,
        method: &Method,
        class: RetryClass,
        build: F,
    ) -> Result<Reply, ConcurError>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        let attempt = || async { self.send_once(operation, method, build()).await };
        attempt
            .retry(self.inner.backoff)
            .sleep(tokio::time::sleep)
            .when(|e| is_retryable(e, class))
            .adjust(|e, delay| {
                let delay = delay?;
                match e {
                    ConcurError::Api(api) => match api.retry_after {
                        Some(wait) if wait > MAX_RETRY_AFTER => None,
                        Some(wait) => Some(wait),
                        None => Some(delay),
                    },
                    _ => Some(delay),
                }
            })
            .notify(|e, delay| {
                tracing::warn!(
                    method = %method,
                    path = operation,
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "retrying concur call"
                );
            })
            .await
    }

    async fn send_once(
        &self,
        operation: &'static str,
        method: &Method,
        request: reqwest::RequestBuilder,
    ) -> Result<Reply, ConcurError> {
        // Tied to the request or job that caused the call, so Concur support can find it.
        let sent = observe::for_call();
        let started = Instant::now();
        let observed = |status| {
            self.observe(|o| {
                o.call(&CallEvent {
                    api: operation,
                    method,
                    status,
                    elapsed: started.elapsed(),
                });
            });
        };
        let mut response = request
            .header(CORRELATION_HEADER, &*sent)
            .send()
            .await
            .map_err(|e| {
                let error = transport_error(operation, e);
                observed(match &error {
                    ConcurError::Connect { .. } => CallStatus::Connect,
                    ConcurError::Timeout { .. } => CallStatus::Timeout,
                    _ => CallStatus::Transport,
                });
                tracing::debug!(method = %method, path = operation, sent_correlation_id = &*sent, %error, "concur call without an answer");
                error
            })?;
        let status = response.status().as_u16();
        let headers = response.headers();
        let header = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let correlation_id = header(CORRELATION_HEADER);
        let content_type = header(CONTENT_TYPE.as_str());
        let retry_after = header(RETRY_AFTER.as_str())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match read_limited(&mut response, MAX_RESPONSE_BYTES).await {
            Ok(body) => body,
            Err(BodyError::Transport(e)) => {
                observed(CallStatus::Transport);
                return Err(transport_error(operation, e));
            }
            Err(BodyError::TooLarge { limit }) => {
                observed(CallStatus::Http(status));
                tracing::warn!(method = %method, path = operation, status, sent_correlation_id = &*sent, correlation_id = correlation_id.as_deref().unwrap_or(""), "concur answered more than {limit} bytes; not read");
                return Err(ConcurError::UnexpectedBody {
                    operation,
                    detail: format!("the answer ({status}) is larger than {limit} bytes"),
                });
            }
        };
        observed(CallStatus::Http(status));
        let correlation = correlation_id.as_deref().unwrap_or("");
        if (200..300).contains(&status) {
            tracing::debug!(method = %method, path = operation, status, sent_correlation_id = &*sent, correlation_id = correlation, "concur call");
            return Ok(Reply {
                status,
                content_type,
                correlation_id,
                body,
            });
        }
        tracing::warn!(method = %method, path = operation, status, sent_correlation_id = &*sent, correlation_id = correlation, "concur call failed");
        let mut error = ApiError::from_body(operation, status, &body);
        error.correlation_id = correlation_id;
        error.retry_after = retry_after;
        Err(ConcurError::Api(Box::new(error)))
    }
}

/// OAuth error 16, "the user lives elsewhere": Concur names the geolocation to ask instead.
fn lives_elsewhere(error: &ApiError) -> bool {
    (400..500).contains(&error.status)
        && error.code.as_deref().map(str::trim) == Some("16")
        && error.geolocation.is_some()
}

/// Whether a 4xx of the auth base to an authorization-code grant may be repeated at the
/// application's geolocation: not when it is about the code or the redirect URI (101–105:
/// another host would refuse them too, or the code is spent), nor a `429` (slow down).
fn glz_fallback_applies(error: &ApiError) -> bool {
    let about_the_code = error
        .code
        .as_deref()
        .and_then(|c| c.trim().parse::<u32>().ok())
        .is_some_and(|c| (101..=105).contains(&c));
    (400..500).contains(&error.status) && error.status != 429 && !about_the_code
}

/// Two bases with the same scheme, host and port.
fn same_base(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

fn transport_error(operation: &'static str, error: reqwest::Error) -> ConcurError {
    // Item URLs carry ids, not secrets, but the log line already names the call.
    let source = error.without_url();
    if source.is_connect() {
        ConcurError::Connect { operation, source }
    } else if source.is_timeout() {
        ConcurError::Timeout { operation }
    } else {
        ConcurError::Transport { operation, source }
    }
}

fn is_retryable(error: &ConcurError, class: RetryClass) -> bool {
    match (error, class) {
        (ConcurError::Connect { .. }, _) => true,
        (ConcurError::Api(e), RetryClass::NotProcessedOnly) => e.status == 429,
        (ConcurError::Api(e), RetryClass::Idempotent) => matches!(e.status, 429 | 502 | 503 | 504),
        (ConcurError::Timeout { .. } | ConcurError::Transport { .. }, RetryClass::Idempotent) => {
            true
        }
        _ => false,
    }
}

/// `base` (an origin, maybe with a trailing slash) followed by `path_and_query`, verbatim.
fn join(base: &Url, path_and_query: &str) -> Option<Url> {
    let origin = base.as_str().trim_end_matches('/');
    Url::parse(&format!("{origin}{path_and_query}")).ok()
}

/// The path and query of an item URL on a legacy host, else `None`.
pub(crate) fn legacy_path(item_url: &str) -> Option<&str> {
    let origin = origin_of(item_url)?;
    let host = origin.split_once("://")?.1;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or(host);
    LEGACY_HOSTS
        .iter()
        .any(|legacy| host.eq_ignore_ascii_case(legacy))
        .then(|| &item_url.trim()[origin.len()..])
}

/// `Accept-Language` values we pass on: `en`, `en-GB`, `de_DE`.
fn is_language_tag(value: &str) -> bool {
    (2..=16).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_hosts_are_recognised() {
        assert_eq!(
            legacy_path("https://www.concursolutions.com/api/v3.0/expense/entries/a%24b"),
            Some("/api/v3.0/expense/entries/a%24b")
        );
        assert_eq!(
            legacy_path("https://WWW.concursolutions.com:443/api/x"),
            Some("/api/x")
        );
        assert_eq!(
            legacy_path("https://us2.api.concursolutions.com/api/v3.0/expense/entries/x"),
            None
        );
    }

    #[test]
    fn join_keeps_the_path_verbatim() {
        let base = Url::parse("https://us2.api.concursolutions.com/").unwrap();
        let url = join(&base, "/api/v3.0/expense/entries/a%24b$c").unwrap();
        assert_eq!(
            url.as_str(),
            "https://us2.api.concursolutions.com/api/v3.0/expense/entries/a%24b$c"
        );
    }

    #[test]
    fn patch_is_retried_only_when_unprocessed() {
        let api = |status| {
            ConcurError::Api(Box::new(ApiError {
                status,
                ..ApiError::default()
            }))
        };
        let timeout = ConcurError::Timeout { operation: "x" };
        assert!(is_retryable(&api(429), RetryClass::NotProcessedOnly));
        assert!(!is_retryable(&api(503), RetryClass::NotProcessedOnly));
        assert!(!is_retryable(&timeout, RetryClass::NotProcessedOnly));
        assert!(is_retryable(&api(503), RetryClass::Idempotent));
        assert!(is_retryable(&timeout, RetryClass::Idempotent));
        assert!(!is_retryable(&api(500), RetryClass::Idempotent));
        assert!(!is_retryable(&api(400), RetryClass::Idempotent));
    }

    #[test]
    fn language_tags_are_filtered() {
        assert!(is_language_tag("en-GB"));
        assert!(is_language_tag("de"));
        assert!(!is_language_tag("en\r\nX: y"));
        assert!(!is_language_tag("e"));
    }
}
