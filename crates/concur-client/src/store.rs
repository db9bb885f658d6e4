//! Durable storage of the company refresh token and geolocation (file backend, memory
//! backend), and the interface of a store shared by several processes ([`SharedTokenStore`]).

use std::fmt;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// File name of the token state inside `concur.state_dir`.
pub const STATE_FILE_NAME: &str = "concur-token.json";

/// What must survive a restart: the newest refresh token and where to use it.
///
/// Both fields change together on every token response, so they are stored in one write.
#[derive(Clone)]
pub struct CompanyCredentials {
    pub refresh_token: SecretString,
    /// The token's `geolocation` (API base URL), if Concur named one.
    pub geolocation: Option<String>,
    /// Epoch seconds when the refresh token expires (`refresh_expires_in`), if known.
    pub refresh_expires_at: Option<u64>,
}

impl fmt::Debug for CompanyCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompanyCredentials")
            .field("refresh_token", &"[redacted]")
            .field("geolocation", &self.geolocation)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .finish()
    }
}

/// A failure of the token store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read token state {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("token state {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write token state in {dir}: {source}")]
    Write {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("token store task failed: {0}")]
    Task(String),
    /// The shared store (Redis) could not be read or written.
    #[error("shared token store: {0}")]
    Shared(String),
}

/// The boxed future every [`TokenStore`] method returns (keeps the trait object-safe).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where the company refresh token lives between restarts.
///
/// `save` must be atomic (a reader sees the old or the new credentials, never a mix) and
/// durable once it returns: Concur may have invalidated the previous refresh token.
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The saved credentials, or `None` when nothing was saved yet.
    fn load(&self) -> StoreFuture<'_, Option<CompanyCredentials>>;
    /// Replaces the saved credentials.
    fn save<'a>(&'a self, credentials: &'a CompanyCredentials) -> StoreFuture<'a, ()>;
    /// The store as shared by several processes, when it is (Redis): the client then
    /// refreshes under its cluster lock and saves with a fence (docs/protocol.md §7.5).
    fn shared(&self) -> Option<&dyn SharedTokenStore> {
        None
    }
}

/// An access token as every process sharing the store sees it.
#[derive(Clone)]
pub struct SharedAccess {
    pub token: SecretString,
    /// The base URL the token is used against.
    pub geolocation: String,
    /// Unix milliseconds from which it should be replaced (shortly before it expires).
    pub renew_at_ms: u64,
    /// Unix milliseconds when Concur stops accepting it.
    pub expires_at_ms: u64,
}

impl fmt::Debug for SharedAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedAccess")
            .field("token", &"[redacted]")
            .field("geolocation", &self.geolocation)
            .field("renew_at_ms", &self.renew_at_ms)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// The company token state of a shared store, with its fence.
#[derive(Debug, Clone)]
pub struct SharedState {
    /// `None` when the grant that produced the access token carried no refresh token.
    pub credentials: Option<CompanyCredentials>,
    pub access: Option<SharedAccess>,
    /// Incremented by every successful save (0: nothing saved yet). A fenced save names the
    /// fence its refresh started from, and is refused once another save came in between.
    pub fence: u64,
    /// Unix milliseconds of the save, if known.
    pub saved_at_ms: Option<u64>,
}

/// The outcome of [`SharedTokenStore::save_fenced`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FencedSave {
    /// Saved; the state's fence is now this.
    Saved { fence: u64 },
    /// Refused: another process saved since (the store's fence is `current`).
    Stale { current: u64 },
}

/// A held refresh lock; only its holder's value releases it.
#[derive(Debug)]
pub struct RefreshLock {
    pub value: String,
}

/// A token store shared by several processes: the state with a fence, and a refresh lock
/// that expires so a crashed holder cannot block the others for long.
pub trait SharedTokenStore: Send + Sync + fmt::Debug {
    /// The current state, `None` when nothing was saved yet.
    fn read(&self) -> StoreFuture<'_, Option<SharedState>>;
    /// Takes the refresh lock for `ttl` if it is free.
    fn try_lock(&self, ttl: std::time::Duration) -> StoreFuture<'_, Option<RefreshLock>>;
    /// Releases the lock if it is still ours (an expired one may be another's by now).
    fn unlock<'a>(&'a self, lock: &'a RefreshLock) -> StoreFuture<'a, ()>;
    /// Replaces the state atomically if its fence is still `fence`.
    fn save_fenced<'a>(&'a self, state: &'a SharedState, fence: u64)
    -> StoreFuture<'a, FencedSave>;
}

/// JSON file `concur-token.json` (mode 0600) in a directory, replaced via temp file, fsync
/// and rename. One process per directory: two processes sharing it would race on rotation.
#[derive(Debug, Clone)]
pub struct FileTokenStore {
    dir: PathBuf,
}

impl FileTokenStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The state file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE_NAME)
    }

    /// The saved credentials with the Unix time (seconds) of their save, if recorded: what
    /// a move into a shared store compares with the state there.
    pub async fn load_with_saved_at(
        &self,
    ) -> Result<Option<(CompanyCredentials, Option<u64>)>, StoreError> {
        let path = self.path();
        tokio::task::spawn_blocking(move || read_state(&path))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

/// On-disk shape; plain strings because `SecretString` deliberately cannot serialize.
#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    refresh_token: String,
    #[serde(default)]
    geolocation: Option<String>,
    #[serde(default)]
    refresh_expires_at: Option<u64>,
    #[serde(default)]
    saved_at: Option<u64>,
}

impl TokenStore for FileTokenStore {
    fn load(&self) -> StoreFuture<'_, Option<CompanyCredentials>> {
        Box::pin(async move {
            Ok(self
                .load_with_saved_at()
                .await?
                .map(|(credentials, _)| credentials))
        })
    }

    fn save<'a>(&'a self, credentials: &'a CompanyCredentials) -> StoreFuture<'a, ()> {
        let dir = self.dir.clone();
        let state = StateFile {
            version: 1,
            refresh_token: credentials.refresh_token.expose_secret().to_owned(),
            geolocation: credentials.geolocation.clone(),
            refresh_expires_at: credentials.refresh_expires_at,
            saved_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs()),
        };
        Box::pin(async move {
            tokio::task::spawn_blocking(move || write_state(&dir, &state))
                .await
                .map_err(|e| StoreError::Task(e.to_string()))?
        })
    }
}

fn read_state(path: &Path) -> Result<Option<(CompanyCredentials, Option<u64>)>, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    warn_if_readable_by_others(path);
    let state: StateFile =
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
            path: path.to_owned(),
            source,
        })?;
    let credentials = CompanyCredentials {
        refresh_token: SecretString::from(state.refresh_token),
        geolocation: state.geolocation,
        refresh_expires_at: state.refresh_expires_at,
    };
    Ok(Some((credentials, state.saved_at)))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "token state file is accessible to other users; expected mode 0600");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

fn write_state(dir: &Path, state: &StateFile) -> Result<(), StoreError> {
    let io = |source| StoreError::Write {
        dir: dir.to_owned(),
        source,
    };
    create_private_dir(dir).map_err(io)?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| io(std::io::Error::other(e)))?;
    let tmp = dir.join(format!(".{STATE_FILE_NAME}.{}.tmp", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut file = open_private(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, dir.join(STATE_FILE_NAME))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Makes the rename itself durable: without it a crash can bring back the old file.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Keeps the credentials in memory only (tests, the simulator, throw-away runs).
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    credentials: Mutex<Option<CompanyCredentials>>,
}

impl MemoryTokenStore {
    pub fn new(initial: Option<CompanyCredentials>) -> Self {
        Self {
            credentials: Mutex::new(initial),
        }
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self) -> StoreFuture<'_, Option<CompanyCredentials>> {
        let current = self
            .credentials
            .lock()
            .map_err(|_| StoreError::Task("memory token store poisoned".to_owned()))
            .map(|guard| guard.clone());
        Box::pin(async move { current })
    }

    fn save<'a>(&'a self, credentials: &'a CompanyCredentials) -> StoreFuture<'a, ()> {
        let result = self
            .credentials
            .lock()
            .map_err(|_| StoreError::Task("memory token store poisoned".to_owned()))
            .map(|mut guard| *guard = Some(credentials.clone()));
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(token: &str) -> CompanyCredentials {
        CompanyCredentials {
            refresh_token: SecretString::from(token.to_owned()),
            geolocation: Some("https://us2.api.concursolutions.com".to_owned()),
            refresh_expires_at: Some(1_900_000_000),
        }
    }

    #[tokio::test]
    async fn a_saved_token_is_loaded_back_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileTokenStore::new(dir.path().join("nested"));
        assert!(store.load().await.unwrap().is_none());

        store.save(&credentials("first")).await.unwrap();
        store.save(&credentials("second")).await.unwrap();

        let loaded = store.load().await.unwrap().unwrap();
        assert_eq!(loaded.refresh_token.expose_secret(), "second");
        assert_eq!(
            loaded.geolocation.as_deref(),
            Some("https://us2.api.concursolutions.com")
        );
        assert_eq!(loaded.refresh_expires_at, Some(1_900_000_000));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from(STATE_FILE_NAME)]);
    }

    /// A save writes a new file and renames it over the old one: the old file's contents are
    /// never rewritten in place, so a crash or a stop mid-save leaves either the old state or
    /// the new one, never half of one.
    #[tokio::test]
    async fn a_save_replaces_the_state_file_whole_never_rewriting_it_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileTokenStore::new(dir.path());
        store.save(&credentials("first")).await.unwrap();
        // A second name for the first file's inode sees any in-place write.
        let old = dir.path().join("old-inode");
        std::fs::hard_link(store.path(), &old).unwrap();
        let before = std::fs::read(&old).unwrap();

        store.save(&credentials("second")).await.unwrap();

        assert_eq!(
            std::fs::read(&old).unwrap(),
            before,
            "the old file was rewritten"
        );
        let loaded = store.load().await.unwrap().unwrap();
        assert_eq!(loaded.refresh_token.expose_secret(), "second");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_state_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = FileTokenStore::new(dir.path());
        store.save(&credentials("t")).await.unwrap();
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[tokio::test]
    async fn a_corrupt_file_is_an_error_not_an_empty_store() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE_NAME), b"{not json").unwrap();
        let err = FileTokenStore::new(dir.path()).load().await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }));
    }

    #[test]
    fn debug_output_hides_the_refresh_token() {
        let text = format!("{:?}", credentials("very-secret-refresh"));
        assert!(!text.contains("very-secret-refresh"));
    }
}
