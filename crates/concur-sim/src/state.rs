//! The simulator's shared state and the handle every route, test and the CLI work through.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, header};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq as _;

use super::error::{ApiError, Family};
use super::faults::{Decision, FaultState, Faults};
use super::record::{
    FailedEntry, NotificationDelivery, Principal, RecordedRequest, RecordedWrite, RequestNote,
    WriteApi,
};
use super::seed::Seed;
use super::tokens::{JwtSigner, Rejected, TokenStore};
use concur_protocol::credentials::ConnectorCredentials;

/// How long the simulator's credentials live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// Access tokens (Concur: one hour). Short values make expiry testable.
    pub access_token: Duration,
    /// Refresh tokens (Concur: six months); drives `refresh_expires_in`.
    pub refresh_token: Duration,
    /// Authorization codes minted with launches (undocumented; five minutes here).
    pub auth_code: Duration,
    /// The company request token, counted from start (Concur: 24 hours, reusable).
    pub company_request_token: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            access_token: Duration::from_secs(3600),
            refresh_token: Duration::from_secs(180 * 24 * 3600),
            auth_code: Duration::from_secs(300),
            company_request_token: Duration::from_secs(24 * 3600),
        }
    }
}

/// Fixed settings, derived once from [`super::SimConfig`].
pub(crate) struct Settings {
    /// `https://host:port`, no trailing slash: the `geolocation` of every token.
    pub geolocation: String,
    pub base_url: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uri: String,
    pub company_request_token: SecretString,
    pub company_request_token_expires: SystemTime,
    pub lifetimes: Lifetimes,
    pub scope: String,
    pub connector: ConnectorCredentials,
    pub launch_url_v4: Url,
    pub launch_url_v1: Url,
    pub launch_url_request: Url,
    pub ca_pem: String,
    /// Where submitted reports' notifications go (sent with `callout_client`).
    pub notify_url: Option<Url>,
    /// The connector's Fetch List and Fetch Attendee endpoints, and the one client that
    /// calls them as Concur does.
    pub fetch_list_url: Url,
    pub fetch_attendee_url: Url,
    pub callout_client: reqwest::Client,
}

impl Settings {
    pub fn client_secret_matches(&self, given: &str) -> bool {
        self.client_secret
            .expose_secret()
            .as_bytes()
            .ct_eq(given.as_bytes())
            .into()
    }

    pub fn request_token_matches(&self, given: &str) -> bool {
        let same: bool = self
            .company_request_token
            .expose_secret()
            .as_bytes()
            .ct_eq(given.as_bytes())
            .into();
        same && SystemTime::now() < self.company_request_token_expires
    }
}

/// Mutable state, behind one lock so a write's check, effect and record are one step.
pub(crate) struct Inner {
    pub data: Seed,
    pub tokens: TokenStore,
    pub faults: FaultState,
    pub writes: Vec<RecordedWrite>,
    pub requests: Vec<RecordedRequest>,
    /// Notifications sent (or not) to the connector, oldest first.
    pub deliveries: Vec<NotificationDelivery>,
    /// What the failed-notification status API lists.
    pub failed_notifications: Vec<FailedEntry>,
    /// Where notifications go when set after start ([`SimHandle::set_notify_target`]).
    pub notify_target: Option<(Url, reqwest::Client)>,
    /// The attendees of each expense's last Fetch Attendee search that Concur would accept,
    /// by expense id: an added attendee must be one of them.
    pub found_attendees: std::collections::HashMap<String, Vec<super::seed::AttendeeEntry>>,
    seq: u64,
}

impl Inner {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

pub(crate) struct Shared {
    pub settings: Settings,
    pub signer: JwtSigner,
    pub original: Seed,
    inner: Mutex<Inner>,
}

/// A cheap, cloneable handle on a running simulator's state: recorded calls, fault knobs,
/// launch minting and the current data. [`super::RunningSim`] dereferences to it.
#[derive(Clone)]
pub struct SimHandle {
    pub(crate) shared: Arc<Shared>,
}

impl SimHandle {
    pub(crate) fn new(settings: Settings, signer: JwtSigner, seed: Seed) -> Self {
        let inner = Inner {
            data: seed.clone(),
            tokens: TokenStore::default(),
            faults: FaultState::default(),
            writes: Vec::new(),
            requests: Vec::new(),
            deliveries: Vec::new(),
            failed_notifications: Vec::new(),
            notify_target: None,
            found_attendees: std::collections::HashMap::new(),
            seq: 0,
        };
        Self {
            shared: Arc::new(Shared {
                settings,
                signer,
                original: seed,
                inner: Mutex::new(inner),
            }),
        }
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// A panic while holding the lock cannot leave the data half-written in a way that
    /// matters for a simulator, so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The simulator's base URL (`https://127.0.0.1:PORT/`): token endpoint, APIs and
    /// `geolocation` all live here.
    pub fn base_url(&self) -> &Url {
        &self.settings().base_url
    }

    /// The `geolocation` every token response carries (the base URL without trailing slash).
    pub fn geolocation(&self) -> &str {
        &self.settings().geolocation
    }

    /// PEM of the CA that issued the simulator's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.settings().ca_pem
    }

    /// Every write attempt so far, oldest first.
    pub fn writes(&self) -> Vec<RecordedWrite> {
        self.lock().writes.clone()
    }

    /// Only the writes the simulator accepted and applied.
    pub fn successful_writes(&self) -> Vec<RecordedWrite> {
        self.lock()
            .writes
            .iter()
            .filter(|w| w.succeeded())
            .cloned()
            .collect()
    }

    pub fn clear_writes(&self) {
        self.lock().writes.clear();
    }

    /// Every call to the Concur surface so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Successful token requests of one `grant_type` so far.
    pub fn token_grants(&self, grant_type: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.status == 200 && r.grant_type.as_deref() == Some(grant_type))
            .count()
    }

    /// The fault knobs as they stand (`down_for_secs`: the seconds of an outage left).
    pub fn faults(&self) -> Faults {
        self.lock().faults.current()
    }

    /// While the knob `down_for_secs` has Concur down: the seconds left.
    pub fn concur_down_for(&self) -> Option<u64> {
        self.lock().faults.down_left(std::time::Instant::now())
    }

    /// Replaces all fault knobs (counters such as `fail_next` start afresh).
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults.set(faults);
    }

    /// Expires every access token issued so far; the next API call with one gets 401.
    pub fn expire_access_tokens(&self) {
        self.lock().tokens.expire_access_tokens();
    }

    /// The current data: the seed with every accepted write applied.
    pub fn snapshot(&self) -> Seed {
        self.lock().data.clone()
    }

    /// Restores the seed's data and clears recorded calls and faults; tokens stay valid.
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.data = self.shared.original.clone();
        inner.writes.clear();
        inner.requests.clear();
        inner.deliveries.clear();
        inner.failed_notifications.clear();
        inner.found_attendees.clear();
        inner.faults.set(Faults::default());
    }

    pub(crate) fn decide_faults(&self, family: Family, is_token_call: bool) -> Decision {
        self.lock().faults.decide(family, is_token_call)
    }

    /// Resolves the `Authorization` header of an API call. `OAuth <token>` is accepted on the
    /// legacy v1.1 and v3 APIs, whose docs still show it (docs/protocol.md §7.7).
    pub(crate) fn authenticate(
        &self,
        headers: &HeaderMap,
        family: Family,
        path: &str,
    ) -> Result<Principal, ApiError> {
        let unauthorized = |message: &str| ApiError::unauthorized(family, path, message);
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization header"))?
            .to_str()
            .map_err(|_| unauthorized("malformed Authorization header"))?;
        let (scheme, token) = value
            .split_once(' ')
            .ok_or_else(|| unauthorized("malformed Authorization header"))?;
        let scheme_ok = scheme.eq_ignore_ascii_case("Bearer")
            || (scheme.eq_ignore_ascii_case("OAuth") && matches!(family, Family::V1 | Family::V3));
        if !scheme_ok {
            return Err(unauthorized("unsupported authorization scheme"));
        }
        self.lock()
            .tokens
            .check_access(token.trim())
            .map_err(|rejected| match rejected {
                Rejected::Unknown => unauthorized("invalid access token"),
                Rejected::Expired => unauthorized("access token has expired"),
            })
    }

    pub(crate) fn record_request(
        &self,
        method: &str,
        path: &str,
        status: u16,
        note: Option<&RequestNote>,
        injected: bool,
        caller: super::record::Caller,
    ) {
        let mut inner = self.lock();
        let seq = inner.next_seq();
        inner.requests.push(RecordedRequest {
            seq,
            at: SystemTime::now(),
            method: method.to_owned(),
            path: path.to_owned(),
            status,
            principal: note.and_then(|n| n.principal.clone()),
            grant_type: note.and_then(|n| n.grant_type.clone()),
            injected,
            correlation_id: caller.correlation_id,
            host: caller.host,
        });
    }

    /// Records a write attempt; called with the lock held so check, effect and record agree.
    pub(crate) fn record_write(inner: &mut Inner, attempt: WriteAttempt, status: u16) {
        let seq = inner.next_seq();
        let body = serde_json::from_slice(&attempt.body).ok();
        inner.writes.push(RecordedWrite {
            seq,
            at: SystemTime::now(),
            api: attempt.api,
            method: attempt.method,
            path: attempt.path,
            principal: attempt.principal,
            content_types: attempt.content_types,
            body,
            raw_body: String::from_utf8_lossy(&attempt.body).into_owned(),
            status,
            correlation_id: attempt.correlation_id,
        });
    }
}

/// The facts of a write request, gathered before it is checked.
pub(crate) struct WriteAttempt {
    pub api: WriteApi,
    pub method: String,
    pub path: String,
    pub principal: Option<Principal>,
    pub content_types: Vec<String>,
    pub body: axum::body::Bytes,
    pub correlation_id: String,
}
