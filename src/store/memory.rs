//! In-process stores: bounded and expiring, for a single instance.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::future::Cache;

use super::{Freshness, NonceStore, SessionStore, StoreError};

/// Each entry carries its own deadline, so one cache serves any TTL.
#[derive(Clone)]
struct Entry<V> {
    value: V,
    expires_at: Instant,
}

struct ByDeadline;

impl<K, V> Expiry<K, Entry<V>> for ByDeadline {
    fn expire_after_create(&self, _: &K, entry: &Entry<V>, now: Instant) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(now))
    }
    fn expire_after_update(
        &self,
        _: &K,
        entry: &Entry<V>,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(now))
    }
}

fn bounded<V: Clone + Send + Sync + 'static>(max_entries: u64) -> Cache<String, Entry<V>> {
    Cache::builder()
        .max_capacity(max_entries)
        .expire_after(ByDeadline)
        .build()
}

/// Nonces in memory. Capacity bounds memory; only validly signed launches add entries, so
/// an attacker cannot flush it without Concur's signatures.
pub struct MemoryNonceStore {
    seen: Cache<String, Entry<()>>,
}

impl MemoryNonceStore {
    pub fn new(max_entries: u64) -> Self {
        Self {
            seen: bounded(max_entries),
        }
    }
}

#[async_trait]
impl NonceStore for MemoryNonceStore {
    async fn remember(&self, key: &str, ttl: Duration) -> Result<Freshness, StoreError> {
        let entry = self
            .seen
            .entry(key.to_owned())
            .or_insert(Entry {
                value: (),
                expires_at: Instant::now() + ttl,
            })
            .await;
        Ok(if entry.is_fresh() {
            Freshness::Fresh
        } else {
            Freshness::Replayed
        })
    }

    async fn forget(&self, key: &str) -> Result<(), StoreError> {
        self.seen.invalidate(key).await;
        Ok(())
    }
}

/// Launch sessions in memory.
pub struct MemorySessionStore {
    sessions: Cache<String, Entry<Vec<u8>>>,
}

impl MemorySessionStore {
    pub fn new(max_entries: u64) -> Self {
        Self {
            sessions: bounded(max_entries),
        }
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn insert(&self, id: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        let entry = Entry {
            value,
            expires_at: Instant::now() + ttl,
        };
        self.sessions.insert(id.to_owned(), entry).await;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .sessions
            .get(id)
            .await
            .filter(|e| e.expires_at > Instant::now())
            .map(|e| e.value))
    }

    async fn replace(&self, id: &str, value: Vec<u8>) -> Result<bool, StoreError> {
        let replaced = self
            .sessions
            .entry(id.to_owned())
            .and_compute_with(|existing| {
                let op = match existing.map(|e| e.into_value()) {
                    Some(old) if old.expires_at > Instant::now() => {
                        moka::ops::compute::Op::Put(Entry {
                            value,
                            expires_at: old.expires_at,
                        })
                    }
                    _ => moka::ops::compute::Op::Nop,
                };
                std::future::ready(op)
            })
            .await;
        Ok(matches!(
            replaced,
            moka::ops::compute::CompResult::ReplacedWith(_)
        ))
    }

    async fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.sessions.invalidate(id).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_nonce_is_fresh_once_then_replayed() {
        let store = MemoryNonceStore::new(100);
        let ttl = Duration::from_secs(60);
        assert_eq!(
            store.remember("acme|n1", ttl).await.unwrap(),
            Freshness::Fresh
        );
        assert_eq!(
            store.remember("acme|n1", ttl).await.unwrap(),
            Freshness::Replayed
        );
        assert_eq!(
            store.remember("acme|n2", ttl).await.unwrap(),
            Freshness::Fresh
        );
    }

    #[tokio::test]
    async fn a_forgotten_key_is_fresh_again() {
        let store = MemoryNonceStore::new(100);
        let ttl = Duration::from_secs(60);
        assert_eq!(
            store.remember("claim", ttl).await.unwrap(),
            Freshness::Fresh
        );
        store.forget("claim").await.unwrap();
        assert_eq!(
            store.remember("claim", ttl).await.unwrap(),
            Freshness::Fresh
        );
        assert_eq!(
            store.remember("claim", ttl).await.unwrap(),
            Freshness::Replayed
        );
    }

    #[tokio::test]
    async fn concurrent_remembers_of_one_nonce_admit_exactly_one() {
        let store = std::sync::Arc::new(MemoryNonceStore::new(100));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .remember("acme|same", Duration::from_secs(60))
                        .await
                        .unwrap()
                })
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
    async fn an_expired_nonce_is_fresh_again() {
        let store = MemoryNonceStore::new(100);
        assert_eq!(
            store.remember("k", Duration::ZERO).await.unwrap(),
            Freshness::Fresh
        );
        store.seen.run_pending_tasks().await;
        assert_eq!(
            store.remember("k", Duration::from_secs(60)).await.unwrap(),
            Freshness::Fresh
        );
    }

    #[tokio::test]
    async fn sessions_round_trip_replace_and_expire() {
        let store = MemorySessionStore::new(100);
        store
            .insert("s1", b"one".to_vec(), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(store.get("s1").await.unwrap().as_deref(), Some(&b"one"[..]));
        assert!(store.replace("s1", b"two".to_vec()).await.unwrap());
        assert_eq!(store.get("s1").await.unwrap().as_deref(), Some(&b"two"[..]));
        assert!(!store.replace("missing", b"x".to_vec()).await.unwrap());

        store
            .insert("s2", b"short".to_vec(), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(store.get("s2").await.unwrap(), None);
        store.remove("s1").await.unwrap();
        assert_eq!(store.get("s1").await.unwrap(), None);
    }
}
