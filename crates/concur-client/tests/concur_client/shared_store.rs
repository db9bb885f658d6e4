//! The company token with a store shared by several instances: the newest saved token is
//! used without a refresh, and a refresh whose save comes too late (another instance saved
//! meanwhile) never overwrites the newer state and uses it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use concur_client::{
    CompanyCredentials, ConcurClient, FencedSave, RefreshLock, SharedAccess, SharedState,
    SharedTokenStore, StoreFuture, TokenStore,
};
use secrecy::{ExposeSecret as _, SecretString};
use wiremock::matchers::header;

use crate::support::{
    Harness, V3_E1_PATH, config, get, token_mock, token_response, v3_e1_response,
};

/// A shared store in memory. With `competitor` set, the first fenced save finds that
/// another instance saved this state first (its refresh lock had expired).
#[derive(Debug, Default)]
struct FakeShared {
    state: Mutex<Option<SharedState>>,
    competitor: Mutex<Option<SharedState>>,
}

fn lock(state: &Mutex<Option<SharedState>>) -> std::sync::MutexGuard<'_, Option<SharedState>> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn far_future_ms() -> u64 {
    u64::MAX / 2
}

fn state(refresh: &str, access: &str, geolocation: &str, fence: u64) -> SharedState {
    SharedState {
        credentials: Some(CompanyCredentials {
            refresh_token: SecretString::from(refresh.to_owned()),
            geolocation: Some(geolocation.to_owned()),
            refresh_expires_at: None,
        }),
        access: Some(SharedAccess {
            token: SecretString::from(access.to_owned()),
            geolocation: geolocation.to_owned(),
            renew_at_ms: far_future_ms(),
            expires_at_ms: far_future_ms(),
        }),
        fence,
        saved_at_ms: None,
    }
}

impl TokenStore for FakeShared {
    fn load(&self) -> StoreFuture<'_, Option<CompanyCredentials>> {
        let current = lock(&self.state).clone();
        Box::pin(async move { Ok(current.and_then(|s| s.credentials)) })
    }
    fn save<'a>(&'a self, _: &'a CompanyCredentials) -> StoreFuture<'a, ()> {
        Box::pin(async move { panic!("a shared store is saved with a fence") })
    }
    fn shared(&self) -> Option<&dyn SharedTokenStore> {
        Some(self)
    }
}

impl SharedTokenStore for FakeShared {
    fn read(&self) -> StoreFuture<'_, Option<SharedState>> {
        let current = lock(&self.state).clone();
        Box::pin(async move { Ok(current) })
    }
    fn try_lock(&self, _: Duration) -> StoreFuture<'_, Option<RefreshLock>> {
        Box::pin(async move {
            Ok(Some(RefreshLock {
                value: "ours".to_owned(),
            }))
        })
    }
    fn unlock<'a>(&'a self, _: &'a RefreshLock) -> StoreFuture<'a, ()> {
        Box::pin(async move { Ok(()) })
    }
    fn save_fenced<'a>(&'a self, new: &'a SharedState, fence: u64) -> StoreFuture<'a, FencedSave> {
        let mut current = lock(&self.state);
        if let Some(competitor) = lock(&self.competitor).take() {
            *current = Some(competitor);
        }
        let now = current.as_ref().map_or(0, |s| s.fence);
        let outcome = if now == fence {
            *current = Some(SharedState {
                fence: now + 1,
                ..new.clone()
            });
            FencedSave::Saved { fence: now + 1 }
        } else {
            FencedSave::Stale { current: now }
        };
        Box::pin(async move { Ok(outcome) })
    }
}

fn client(h: &Harness, store: Arc<FakeShared>) -> ConcurClient {
    ConcurClient::new(config(h.settings()), store).unwrap_or_else(|e| panic!("client: {e}"))
}

#[tokio::test]
async fn the_token_another_instance_saved_is_used_without_a_refresh() {
    let h = Harness::start().await;
    let store = Arc::new(FakeShared::default());
    *store.state.lock().unwrap() = Some(state("r1", "shared-access", &h.server.uri(), 7));
    token_mock("refresh_token")
        .respond_with(token_response("unused", "unused", None))
        .expect(0)
        .mount(&h.server)
        .await;
    get(V3_E1_PATH)
        .and(header("authorization", "Bearer shared-access"))
        .respond_with(v3_e1_response())
        .expect(1)
        .mount(&h.server)
        .await;
    client(&h, store)
        .read_item(&h.v3_e1_url(), None, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refresh_saved_too_late_keeps_the_newer_state_and_uses_its_token() {
    let h = Harness::start().await;
    let store = Arc::new(FakeShared::default());
    let geo = h.server.uri();
    let mut stale = state("r1", "expired-access", &geo, 3);
    stale.access.as_mut().unwrap().renew_at_ms = 0;
    *store.state.lock().unwrap() = Some(stale);
    *store.competitor.lock().unwrap() = Some(state("r-newer", "newer-access", &geo, 4));
    token_mock("refresh_token")
        .respond_with(token_response("late-access", "r-late", None))
        .expect(1)
        .mount(&h.server)
        .await;
    get(V3_E1_PATH)
        .and(header("authorization", "Bearer newer-access"))
        .respond_with(v3_e1_response())
        .expect(1)
        .mount(&h.server)
        .await;

    client(&h, store.clone())
        .read_item(&h.v3_e1_url(), None, None)
        .await
        .unwrap();

    let kept = store.state.lock().unwrap().clone().unwrap();
    assert_eq!(kept.fence, 4);
    let refresh = kept.credentials.unwrap().refresh_token;
    assert_eq!(
        refresh.expose_secret(),
        "r-newer",
        "the late save was refused"
    );
}
