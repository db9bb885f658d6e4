//! In-process stores: bounded and expiring, for a single instance.
//!
//! An entry is never dropped before its deadline: when a store is full, new entries are
//! refused ([`StoreError::Full`]) instead of forgetting old ones, because a nonce forgotten
//! early is a replay window silently shortened and a session dropped early is a user's work
//! lost. Expired entries are swept on every insert, oldest deadline first.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Freshness, NonceStore, SessionStore, StoreError};

/// A map whose entries expire at their own deadline, with a hard bound on their number.
struct ExpiringMap<V> {
    inner: Mutex<Entries<V>>,
    max_entries: usize,
    what: &'static str,
}

struct Entries<V> {
    map: HashMap<String, (V, Instant)>,
    /// Deadlines in order; an element whose key was removed or re-inserted since is stale
    /// and skipped when it comes up.
    deadlines: BinaryHeap<Reverse<(Instant, String)>>,
}

impl<V: Clone> ExpiringMap<V> {
    fn new(max_entries: u64, what: &'static str) -> Self {
        Self {
            inner: Mutex::new(Entries {
                map: HashMap::new(),
                deadlines: BinaryHeap::new(),
            }),
            max_entries: usize::try_from(max_entries).unwrap_or(usize::MAX),
            what,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<V>> {
        // A panic while holding the lock cannot leave the map inconsistent: recover it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Inserts `key` unless a live entry exists; `Ok(false)` when one did.
    fn insert_new(&self, key: &str, value: V, ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut entries = self.lock();
        entries.sweep(now);
        if entries
            .map
            .get(key)
            .is_some_and(|(_, deadline)| *deadline > now)
        {
            return Ok(false);
        }
        if entries.map.len() >= self.max_entries {
            crate::metrics::store_error(crate::metrics::Store::Memory);
            return Err(StoreError::Full {
                what: self.what,
                max_entries: self.max_entries,
            });
        }
        let deadline = now + ttl;
        entries.map.insert(key.to_owned(), (value, deadline));
        entries.deadlines.push(Reverse((deadline, key.to_owned())));
        Ok(true)
    }

    fn get(&self, key: &str) -> Option<V> {
        let now = Instant::now();
        let entries = self.lock();
        entries
            .map
            .get(key)
            .filter(|(_, deadline)| *deadline > now)
            .map(|(value, _)| value.clone())
    }

    /// Replaces a live entry's value, keeping its deadline.
    fn replace(&self, key: &str, value: V) -> bool {
        let now = Instant::now();
        let mut entries = self.lock();
        match entries.map.get_mut(key) {
            Some((old, deadline)) if *deadline > now => {
                *old = value;
                true
            }
            _ => false,
        }
    }

    fn remove(&self, key: &str) {
        self.lock().map.remove(key);
    }

    /// Moves a live entry's deadline to `ttl` from now; false when it has none.
    fn extend(&self, key: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut entries = self.lock();
        let deadline = now + ttl;
        match entries.map.get_mut(key) {
            Some((_, old)) if *old > now => *old = deadline,
            _ => return false,
        }
        // The old deadline stays in the heap, stale: `sweep` skips it.
        entries.deadlines.push(Reverse((deadline, key.to_owned())));
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

impl<V> Entries<V> {
    /// Drops every entry whose deadline has passed.
    fn sweep(&mut self, now: Instant) {
        while let Some(Reverse((deadline, _))) = self.deadlines.peek()
            && *deadline <= now
        {
            let Some(Reverse((deadline, key))) = self.deadlines.pop() else {
                break;
            };
            if self.map.get(&key).is_some_and(|(_, d)| *d == deadline) {
                self.map.remove(&key);
            }
        }
        // Removed keys leave stale deadlines behind; rebuild when they dominate.
        if self.deadlines.len() > 2 * self.map.len() + 1024 {
            self.deadlines = self
                .map
                .iter()
                .map(|(key, (_, deadline))| Reverse((*deadline, key.clone())))
                .collect();
        }
    }
}

/// Nonces in memory. Only validly signed launches add entries, so an attacker cannot fill
/// it without Concur's signatures; when it is full, launches are refused (503), never let
/// through.
pub struct MemoryNonceStore {
    seen: ExpiringMap<()>,
}

impl MemoryNonceStore {
    pub fn new(max_entries: u64) -> Self {
        Self {
            seen: ExpiringMap::new(max_entries, "nonce store"),
        }
    }
}

#[async_trait]
impl NonceStore for MemoryNonceStore {
    async fn remember(&self, key: &str, ttl: Duration) -> Result<Freshness, StoreError> {
        Ok(match self.seen.insert_new(key, (), ttl)? {
            true => Freshness::Fresh,
            false => Freshness::Replayed,
        })
    }

    async fn forget(&self, key: &str) -> Result<(), StoreError> {
        self.seen.remove(key);
        Ok(())
    }

    async fn holds(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.seen.get(key).is_some())
    }

    async fn renew(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self.seen.extend(key, ttl))
    }
}

/// Launch sessions in memory.
pub struct MemorySessionStore {
    sessions: ExpiringMap<Vec<u8>>,
}

impl MemorySessionStore {
    pub fn new(max_entries: u64) -> Self {
        Self {
            sessions: ExpiringMap::new(max_entries, "session store"),
        }
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn insert(&self, id: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        // Ids are 128 random bits: an existing live id is a bug, not a collision to keep.
        self.sessions.remove(id);
        self.sessions.insert_new(id, value, ttl).map(|_| ())
    }

    async fn get(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.sessions.get(id))
    }

    async fn replace(&self, id: &str, value: Vec<u8>) -> Result<bool, StoreError> {
        Ok(self.sessions.replace(id, value))
    }

    async fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.sessions.remove(id);
        Ok(())
    }
}

/// The bound and its eviction rule; what every store does is checked for this one and the
/// Redis store by one contract suite (tests/api/store_contract.rs).
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_nonce_store_refuses_new_nonces_and_forgets_none_early() {
        let store = MemoryNonceStore::new(3);
        let ttl = Duration::from_secs(600);
        for n in ["a", "b", "c"] {
            assert_eq!(store.remember(n, ttl).await.unwrap(), Freshness::Fresh);
        }
        let refused = store.remember("d", ttl).await.unwrap_err();
        assert!(
            matches!(refused, StoreError::Full { max_entries: 3, .. }),
            "{refused}"
        );
        // However many more arrive, every remembered nonce is still a replay.
        for i in 0..1000 {
            assert!(store.remember(&format!("x{i}"), ttl).await.is_err());
        }
        for n in ["a", "b", "c"] {
            assert_eq!(
                store.remember(n, ttl).await.unwrap(),
                Freshness::Replayed,
                "{n}"
            );
        }
        assert_eq!(store.seen.len(), 3);
    }

    #[tokio::test]
    async fn room_comes_back_when_entries_expire() {
        let store = MemoryNonceStore::new(2);
        store
            .remember("short", Duration::from_millis(30))
            .await
            .unwrap();
        store
            .remember("long", Duration::from_secs(600))
            .await
            .unwrap();
        assert!(
            store
                .remember("new", Duration::from_secs(600))
                .await
                .is_err()
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            store
                .remember("new", Duration::from_secs(600))
                .await
                .unwrap(),
            Freshness::Fresh
        );
        assert_eq!(
            store
                .remember("long", Duration::from_secs(600))
                .await
                .unwrap(),
            Freshness::Replayed
        );
    }

    #[tokio::test]
    async fn a_full_session_store_refuses_new_sessions_and_keeps_the_old_ones() {
        let store = MemorySessionStore::new(2);
        let ttl = Duration::from_secs(600);
        store.insert("s1", b"1".to_vec(), ttl).await.unwrap();
        store.insert("s2", b"2".to_vec(), ttl).await.unwrap();
        assert!(store.insert("s3", b"3".to_vec(), ttl).await.is_err());
        assert_eq!(store.get("s1").await.unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(store.get("s2").await.unwrap().as_deref(), Some(&b"2"[..]));
    }
}
