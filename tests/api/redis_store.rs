//! The Redis store against a real `redis-server`: the same behaviours as the memory store.
use std::sync::Arc;
use std::time::Duration;

use crate::fixtures::until;
use crate::redis_server::RedisServer;
use concur_connector::config;
use concur_connector::store::redis::{RedisSettings, RedisStore};
use concur_connector::store::{Freshness, NonceStore, SessionStore, StoreError};

const MINUTE: Duration = Duration::from_secs(60);

fn store_at(url: &str, prefix: &str) -> RedisStore {
    RedisStore::new(&RedisSettings {
        url: config::secret(url),
        key_prefix: prefix.to_owned(),
        timeout: Duration::from_secs(2),
    })
    .unwrap()
}

fn store(server: &RedisServer) -> RedisStore {
    store_at(&server.url(), "test:")
}

/// A plain connection, to look at what the store wrote.
async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_nonce_is_fresh_once_then_replayed() {
    let server = RedisServer::start();
    let store = store(&server);
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

#[tokio::test]
async fn a_nonce_seen_by_one_instance_is_a_replay_for_another() {
    let server = RedisServer::start();
    let (a, b) = (store(&server), store(&server));
    assert_eq!(
        a.remember("acme|n1", MINUTE).await.unwrap(),
        Freshness::Fresh
    );
    assert_eq!(
        b.remember("acme|n1", MINUTE).await.unwrap(),
        Freshness::Replayed
    );
}

#[tokio::test]
async fn a_forgotten_key_is_fresh_again() {
    let server = RedisServer::start();
    let store = store(&server);
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

#[tokio::test]
async fn concurrent_remembers_of_one_nonce_admit_exactly_one() {
    let server = RedisServer::start();
    // Two "instances", each with its own connection, racing on one nonce.
    let stores = [Arc::new(store(&server)), Arc::new(store(&server))];
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

#[tokio::test]
async fn a_nonce_is_fresh_again_once_its_window_has_passed() {
    let server = RedisServer::start();
    let store = store(&server);
    assert_eq!(
        store
            .remember("k", Duration::from_millis(50))
            .await
            .unwrap(),
        Freshness::Fresh
    );
    until("the nonce expires", || async {
        store
            .remember("k", Duration::from_millis(50))
            .await
            .unwrap()
            == Freshness::Fresh
    })
    .await;
}

#[tokio::test]
async fn keys_are_namespaced_by_the_prefix() {
    let server = RedisServer::start();
    let ours = store_at(&server.url(), "app-a:");
    let theirs = store_at(&server.url(), "app-b:");
    assert_eq!(ours.remember("n", MINUTE).await.unwrap(), Freshness::Fresh);
    assert_eq!(
        theirs.remember("n", MINUTE).await.unwrap(),
        Freshness::Fresh
    );
    ours.insert("s", b"v".to_vec(), MINUTE).await.unwrap();
    assert_eq!(theirs.get("s").await.unwrap(), None);

    let mut raw = raw(&server).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("app-a:*")
        .query_async(&mut raw)
        .await
        .unwrap();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, ["app-a:nonce:n", "app-a:session:s"]);
}

#[tokio::test]
async fn sessions_round_trip_replace_and_remove() {
    let server = RedisServer::start();
    let store = store(&server);
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

#[tokio::test]
async fn sessions_hold_any_bytes() {
    let server = RedisServer::start();
    let store = store(&server);
    let bytes: Vec<u8> = (0..=255).collect();
    store.insert("bin", bytes.clone(), MINUTE).await.unwrap();
    assert_eq!(store.get("bin").await.unwrap(), Some(bytes));
}

#[tokio::test]
async fn replacing_a_session_keeps_its_expiry() {
    let server = RedisServer::start();
    let store = store(&server);
    store.insert("s", b"one".to_vec(), MINUTE).await.unwrap();
    assert!(store.replace("s", b"two".to_vec()).await.unwrap());
    let mut raw = raw(&server).await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg("test:session:s")
        .query_async(&mut raw)
        .await
        .unwrap();
    // -1 would mean the replace made it permanent.
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
}

#[tokio::test]
async fn an_expired_session_is_gone_and_cannot_be_replaced() {
    let server = RedisServer::start();
    let store = store(&server);
    store
        .insert("short", b"v".to_vec(), Duration::from_millis(50))
        .await
        .unwrap();
    assert!(store.replace("short", b"w".to_vec()).await.is_ok());
    until("the session expires", || async {
        store.get("short").await.unwrap().is_none()
    })
    .await;
    assert!(!store.replace("short", b"x".to_vec()).await.unwrap());
    assert_eq!(store.get("short").await.unwrap(), None);
}

#[tokio::test]
async fn a_dead_redis_is_unavailable_without_leaking_the_url() {
    let mut server = RedisServer::start();
    let url = format!("redis://:hunter2secret@127.0.0.1:{}/0", server.port);
    server.stop();
    let store = store_at(&url, "test:");
    let errors = [
        store.remember("n", MINUTE).await.unwrap_err(),
        store.get("s").await.unwrap_err(),
        store.ping().await.unwrap_err(),
    ];
    for error in errors {
        let StoreError::Unavailable(message) = error else {
            panic!("redis down must be Unavailable, got {error}");
        };
        assert!(!message.contains("hunter2secret"), "{message}");
        assert!(!message.contains("redis://"), "{message}");
    }
}

#[tokio::test]
async fn the_store_recovers_when_redis_comes_back() {
    let mut server = RedisServer::start();
    let port = server.port;
    let store = store(&server);
    assert_eq!(
        store.remember("before", MINUTE).await.unwrap(),
        Freshness::Fresh
    );
    server.stop();
    assert!(store.remember("during", MINUTE).await.is_err());
    let _again = RedisServer::start_on(port).expect("redis restarts on its port");
    until("the store reconnects", || async {
        store.remember("after", MINUTE).await.is_ok()
    })
    .await;
    store.ping().await.unwrap();
}
