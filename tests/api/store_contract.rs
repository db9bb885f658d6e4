//! One contract for the shared-state stores: every behaviour below is written once against
//! `&dyn NonceStore` / `&dyn SessionStore` and runs against the memory store and against the
//! Redis store on a real `redis-server` (`store_contract::memory::*`,
//! `store_contract::redis::*`). What only one backend does stays with it: the memory store's
//! bound (src/store/memory.rs), Redis's key prefix, expiry and outages (redis_store.rs).

use std::sync::Arc;
use std::time::Duration;

use concur_connector::store::memory::{MemoryNonceStore, MemorySessionStore};
use concur_connector::store::{Freshness, NonceStore, SessionStore};

use crate::fixtures::until;
use crate::redis_server::RedisServer;

const MINUTE: Duration = Duration::from_secs(60);
/// Short enough to pass while a test waits, long enough to outlive the next call.
const SHORT: Duration = Duration::from_millis(50);

/// One backend under test: two handles on the same stores (two connector instances for Redis,
/// one shared store for memory), and the server they talk to.
struct Backend {
    nonces: [Arc<dyn NonceStore>; 2],
    sessions: Arc<dyn SessionStore>,
    _server: Option<RedisServer>,
}

impl Backend {
    fn memory() -> Self {
        let nonces: Arc<dyn NonceStore> = Arc::new(MemoryNonceStore::new(100));
        Self {
            nonces: [nonces.clone(), nonces],
            sessions: Arc::new(MemorySessionStore::new(100)),
            _server: None,
        }
    }

    fn redis() -> Self {
        let server = RedisServer::start();
        let store = || Arc::new(crate::redis_store::store(&server));
        Self {
            nonces: [store(), store()],
            sessions: store(),
            _server: Some(server),
        }
    }
}

async fn a_nonce_is_fresh_once_then_replayed(store: &dyn NonceStore) {
    assert_eq!(
        store.remember("acme|n1", MINUTE).await.unwrap(),
        Freshness::Fresh
    );
    assert_eq!(
        store.remember("acme|n1", MINUTE).await.unwrap(),
        Freshness::Replayed
    );
    assert_eq!(
        store.remember("acme|n2", MINUTE).await.unwrap(),
        Freshness::Fresh
    );
}

async fn a_forgotten_key_is_fresh_again(store: &dyn NonceStore) {
    assert_eq!(
        store.remember("claim", MINUTE).await.unwrap(),
        Freshness::Fresh
    );
    store.forget("claim").await.unwrap();
    assert_eq!(
        store.remember("claim", MINUTE).await.unwrap(),
        Freshness::Fresh
    );
    assert_eq!(
        store.remember("claim", MINUTE).await.unwrap(),
        Freshness::Replayed
    );
    // Forgetting what is not there is fine.
    store.forget("never-seen").await.unwrap();
}

async fn a_nonce_is_fresh_again_once_its_window_has_passed(store: &dyn NonceStore) {
    assert_eq!(store.remember("k", SHORT).await.unwrap(), Freshness::Fresh);
    until("the nonce expires", async || {
        store.remember("k", SHORT).await.unwrap() == Freshness::Fresh
    })
    .await;
}

/// A lease: held while renewed, gone once it lapses, and never revived by a late renewal.
async fn a_renewed_key_is_held_and_a_lapsed_one_stays_gone(store: &dyn NonceStore) {
    assert!(!store.holds("lease").await.unwrap());
    assert!(
        !store.renew("lease", MINUTE).await.unwrap(),
        "nothing to renew"
    );
    assert!(!store.holds("lease").await.unwrap(), "renew never creates");
    assert_eq!(
        store.remember("lease", SHORT).await.unwrap(),
        Freshness::Fresh
    );
    assert!(store.holds("lease").await.unwrap());
    assert!(store.renew("lease", MINUTE).await.unwrap());
    tokio::time::sleep(SHORT * 3).await;
    assert!(
        store.holds("lease").await.unwrap(),
        "renewed past its first lifetime"
    );
    assert_eq!(
        store.remember("lease", MINUTE).await.unwrap(),
        Freshness::Replayed
    );

    assert!(store.renew("lease", SHORT).await.unwrap());
    until("the lease lapses", async || {
        !store.holds("lease").await.unwrap()
    })
    .await;
    assert!(!store.renew("lease", MINUTE).await.unwrap());
    assert!(!store.holds("lease").await.unwrap());
}

/// 32 tasks on two handles race to remember one nonce: exactly one wins.
async fn concurrent_remembers_of_one_nonce_admit_exactly_one(stores: &[Arc<dyn NonceStore>; 2]) {
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move { store.remember("acme|same", MINUTE).await.unwrap() })
        })
        .collect();
    let mut fresh = 0;
    for task in tasks {
        if task.await.unwrap() == Freshness::Fresh {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1);
}

async fn sessions_round_trip_replace_and_remove(store: &dyn SessionStore) {
    assert_eq!(store.get("s1").await.unwrap(), None);
    store.insert("s1", b"one".to_vec(), MINUTE).await.unwrap();
    assert_eq!(store.get("s1").await.unwrap().as_deref(), Some(&b"one"[..]));
    assert!(store.replace("s1", b"two".to_vec()).await.unwrap());
    assert_eq!(store.get("s1").await.unwrap().as_deref(), Some(&b"two"[..]));
    assert!(!store.replace("missing", b"x".to_vec()).await.unwrap());
    assert_eq!(
        store.get("missing").await.unwrap(),
        None,
        "replace never creates"
    );
    store.remove("s1").await.unwrap();
    assert_eq!(store.get("s1").await.unwrap(), None);
}

async fn sessions_hold_any_bytes(store: &dyn SessionStore) {
    let bytes: Vec<u8> = (0..=255).collect();
    store.insert("bin", bytes.clone(), MINUTE).await.unwrap();
    assert_eq!(store.get("bin").await.unwrap(), Some(bytes));
}

/// A replaced session keeps its expiry: it still expires, and then cannot be replaced.
async fn an_expired_session_is_gone_and_cannot_be_replaced(store: &dyn SessionStore) {
    store.insert("short", b"v".to_vec(), SHORT).await.unwrap();
    assert!(store.replace("short", b"w".to_vec()).await.is_ok());
    until("the session expires", async || {
        store.get("short").await.unwrap().is_none()
    })
    .await;
    assert!(!store.replace("short", b"x".to_vec()).await.unwrap());
    assert_eq!(store.get("short").await.unwrap(), None);
}

/// One `#[tokio::test]` per behaviour and backend, named after the behaviour.
macro_rules! store_contract {
    ($backend:ident: { nonces: $($nonce:ident),+; instances: $($pair:ident),+; sessions: $($session:ident),+; }) => {
        mod $backend {
            use super::Backend;
            $(
                #[tokio::test]
                async fn $nonce() {
                    let backend = Backend::$backend();
                    super::$nonce(&*backend.nonces[0]).await;
                }
            )+
            $(
                #[tokio::test]
                async fn $pair() {
                    let backend = Backend::$backend();
                    super::$pair(&backend.nonces).await;
                }
            )+
            $(
                #[tokio::test]
                async fn $session() {
                    let backend = Backend::$backend();
                    super::$session(&*backend.sessions).await;
                }
            )+
        }
    };
    (backends: $($backend:ident),+; $behaviours:tt) => {
        $( store_contract!($backend: $behaviours); )+
    };
}

store_contract! {
    backends: memory, redis;
    {
        nonces:
            a_nonce_is_fresh_once_then_replayed,
            a_forgotten_key_is_fresh_again,
            a_nonce_is_fresh_again_once_its_window_has_passed,
            a_renewed_key_is_held_and_a_lapsed_one_stays_gone;
        instances:
            concurrent_remembers_of_one_nonce_admit_exactly_one;
        sessions:
            sessions_round_trip_replace_and_remove,
            sessions_hold_any_bytes,
            an_expired_session_is_gone_and_cannot_be_replaced;
    }
}
