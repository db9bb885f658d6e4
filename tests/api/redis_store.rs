//! What only the Redis store does, against a real `redis-server`: instances share it, keys
//! carry the prefix, a replace keeps the TTL, outages are `Unavailable` and recovered from.
//! The behaviours it shares with the memory store are in store_contract.rs.

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
        username: None,
        password: None,
        tls: Default::default(),
    })
    .unwrap()
}

pub fn store(server: &RedisServer) -> RedisStore {
    store_at(&server.url(), "test:")
}

/// A plain connection, to look at what the store wrote.
pub async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
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
