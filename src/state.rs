//! What every handler shares, built once at start-up from the validated settings.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::concur::ConcurClient;
use crate::config::{ConfigProblem, LaunchSettings, Settings, StoreBackend};
use crate::credentials::ConnectorCredentials;
use crate::lists::Lists;
use crate::pages::Pages;
use crate::picker::PickerSettings;
use crate::session::Sessions;
use crate::store::NonceStore;
use crate::store::memory::{MemoryNonceStore, MemorySessionStore};
use crate::store::redis::RedisStore;
use crate::values::Values;

/// State shared by every handler, built once at start-up.
pub struct AppState {
    pub credentials: ConnectorCredentials,
    /// The one Concur client of the process, when `[concur]` is configured.
    pub concur: Option<ConcurClient>,
    pub launch: LaunchSettings,
    pub nonces: Arc<dyn NonceStore>,
    pub sessions: Sessions,
    pub pages: Pages,
    /// How the user picks and where the value goes.
    pub picker: PickerSettings,
    /// Where the user's choices come from.
    pub values: Values,
    /// The lists the Fetch List callout serves.
    pub lists: Lists,
    /// Fetch Attendee: its settings (`enabled`, `path`) and its attendee source.
    pub fetch_attendee: crate::attendees::FetchAttendeeSettings,
    pub attendees: crate::attendees::Attendees,
    /// The `[validation]` rules submitted reports are decided by.
    pub validator: crate::validation::Validator,
    /// `[notification]`: the endpoint's path and the workers' settings.
    pub notification: crate::notify::NotificationSettings,
    /// Event Notification's work queue, `None` when `notification.enabled = false`. Opened
    /// (async) by start-up before the port is bound; [`AppState::build`] leaves it `None`.
    pub notifications: Option<crate::notify::Notifications>,
    /// The shared Redis store when `backend = "redis"`; `/readyz` pings it.
    pub shared_store: Option<RedisStore>,
    /// False while draining for shutdown; `/readyz` reports it.
    pub ready: AtomicBool,
    /// Set shortly before the shutdown deadline: requests still running are answered 503
    /// then, rather than cut off without an answer.
    pub answer_now: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    /// Builds the stores and compiles the templates; a bad template directory is a
    /// configuration problem.
    pub fn build(settings: &Settings) -> Result<Self, Vec<ConfigProblem>> {
        let pages = Pages::new(settings.template_dir.as_deref())
            .map_err(|e| vec![ConfigProblem::new("pages.template_dir", e.to_string())])?;
        let shared_store = match settings.store.backend {
            StoreBackend::Redis => Some(redis_store(settings)?),
            StoreBackend::Memory => None,
        };
        let (nonces, sessions): (Arc<dyn NonceStore>, Arc<dyn crate::store::SessionStore>) =
            match (settings.store.backend, &shared_store) {
                (StoreBackend::Redis, Some(redis)) => {
                    (Arc::new(redis.clone()), Arc::new(redis.clone()))
                }
                _ => (
                    Arc::new(MemoryNonceStore::new(settings.store.max_entries)),
                    Arc::new(MemorySessionStore::new(settings.store.max_entries)),
                ),
            };
        let values = Values::from_settings(
            &settings.values,
            crate::config::Mode::of(settings.development),
        )?;
        let lists = Lists::from_settings(
            &settings.fetch_list,
            crate::config::Mode::of(settings.development),
        )?;
        let attendees = crate::attendees::Attendees::from_settings(
            &settings.fetch_attendee,
            crate::config::Mode::of(settings.development),
        )?;
        let validator = crate::validation::Validator::from_settings(
            &settings.validation,
            crate::config::Mode::of(settings.development),
        )?;
        // With Redis the company token state is the cluster's (one refresh token for every
        // instance); otherwise the file in concur.state_dir.
        let concur = settings
            .concur
            .clone()
            .map(|config| {
                let (store, _) = company_token_store(&config, shared_store.as_ref());
                ConcurClient::new(config, store)
            })
            .transpose()
            .map_err(|e| vec![ConfigProblem::new("concur", e.to_string())])?;
        if let Some(concur) = &concur {
            concur.set_observer(Arc::new(crate::metrics::ConcurObserver));
        }
        Ok(Self {
            credentials: settings.credentials.clone(),
            concur,
            launch: settings.launch.clone(),
            nonces,
            sessions: sessions_of(settings, sessions),
            pages,
            picker: settings.picker.clone(),
            values,
            lists,
            fetch_attendee: settings.fetch_attendee.clone(),
            attendees,
            validator,
            notification: settings.notification.clone(),
            notifications: None,
            shared_store,
            ready: AtomicBool::new(true),
            answer_now: tokio::sync::watch::Sender::new(false),
        })
    }
}

/// The store of the Concur company token state the server uses (`doctor` refreshes through
/// the same one), and where it is, for messages: with Redis the cluster's state (one
/// refresh token for every instance), otherwise the file in `concur.state_dir`.
pub fn company_token_store(
    config: &crate::concur::ClientConfig,
    shared: Option<&RedisStore>,
) -> (Arc<dyn crate::concur::TokenStore>, String) {
    if let Some(redis) = shared {
        let store = crate::store::redis_token::RedisTokenStore::of(redis);
        let place = format!("Redis ({})", store.key());
        return (Arc::new(store), place);
    }
    let store = crate::concur::FileTokenStore::new(config.state_dir.clone());
    let place = crate::config::display_path(&store.path());
    (Arc::new(store), place)
}

/// The typed sessions; with Redis and `store.session_keys` they carry users' tokens sealed.
fn sessions_of(settings: &Settings, store: Arc<dyn crate::store::SessionStore>) -> Sessions {
    let sessions = Sessions::new(
        store,
        settings.launch.session_lifetime,
        settings.store.max_entries,
    );
    match (
        settings.store.backend,
        &settings.store.session_keys,
        &settings.concur,
    ) {
        (StoreBackend::Redis, Some(keys), Some(concur)) => {
            sessions.sharing_tokens(keys.clone(), concur.geolocations.clone())
        }
        (StoreBackend::Redis, None, Some(_)) => {
            tracing::warn!(
                "store.session_keys is not set: a user's Concur token stays in the instance that received the launch"
            );
            sessions
        }
        _ => sessions,
    }
}

/// The Redis store of `backend = "redis"`; it connects on first use, so this never waits.
pub(crate) fn redis_store(settings: &Settings) -> Result<RedisStore, Vec<ConfigProblem>> {
    let problem = |message: String| vec![ConfigProblem::new("store.redis_url", message)];
    let redis = settings
        .store
        .redis
        .as_ref()
        .ok_or_else(|| problem("is required for backend = \"redis\"".to_owned()))?;
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(problem(
            "the Redis store needs a Tokio runtime to start in".to_owned(),
        ));
    }
    RedisStore::new(redis).map_err(|e| problem(e.to_string()))
}
