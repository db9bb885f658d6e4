//! The embedded queue's administration socket: a redb file is held by one process at a
//! time, so while `serve` holds it, `concur-connector notifications list|replay|drop` asks
//! the server over a Unix domain socket next to the file (`queue.path` with the extension
//! `sock`), and the server runs the action with [`admin::run`] and answers its text.
//!
//! The socket is the owner's only (mode 0600: the people who could open the file). One
//! request per connection, one JSON line of at most [`MAX_REQUEST`] bytes, read within
//! [`READ_TIMEOUT`]: `{"action":"list"}`, `{"action":"replay","id":42}` or
//! `{"action":"drop","id":42}`. The answer is one JSON object, `{"ok":"<the text to
//! print>"}` or `{"error":"<why>"}`, then the server closes the connection.

use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::admin::{self, Action};
use super::{JobId, QueueError, WorkQueue};

/// The longest request read (a request is a few dozen bytes).
pub const MAX_REQUEST: usize = 4096;
/// How long a client has to send its request.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the CLI waits for the server's answer (listing a large queue takes a moment).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// The socket beside the queue file `queue_path`.
pub fn path_for(queue_path: &Path) -> PathBuf {
    queue_path.with_extension("sock")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
enum Request {
    List {},
    Replay { id: JobId },
    Drop { id: JobId },
}

impl From<Action> for Request {
    fn from(action: Action) -> Self {
        match action {
            Action::List => Self::List {},
            Action::Replay(id) => Self::Replay { id },
            Action::Drop(id) => Self::Drop { id },
        }
    }
}

impl From<Request> for Action {
    fn from(request: Request) -> Self {
        match request {
            Request::List {} => Self::List,
            Request::Replay { id } => Self::Replay(id),
            Request::Drop { id } => Self::Drop(id),
        }
    }
}

/// What the server answers: the text `admin::run` returned, or the error's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Ok(String),
    Error(String),
}

/// The bound socket; the file is removed and the listener stopped when it is dropped.
pub struct AdminSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl AdminSocket {
    /// Binds the socket for the queue file `queue_path` (mode 0600) and serves `queue`
    /// over it. A socket file left by a crashed run is replaced; one on which a server
    /// answers means another server holds the queue: an error.
    pub async fn bind(queue_path: &Path, queue: Arc<dyn WorkQueue>) -> Result<Self, QueueError> {
        let path = path_for(queue_path);
        let shown = path.display();
        if std::fs::symlink_metadata(&path).is_ok() {
            if UnixStream::connect(&path).await.is_ok() {
                return Err(QueueError::Unavailable(format!(
                    "another server answers on {shown}: it holds this queue"
                )));
            }
            std::fs::remove_file(&path).map_err(|e| {
                QueueError::Unavailable(format!("cannot remove the stale socket {shown}: {e}"))
            })?;
        }
        let listener = bind_private(&path)?;
        let socket = Self {
            path: path.clone(),
            task: tokio::spawn(serve(listener, queue)),
        };
        tracing::info!(socket = %shown, "queue administration socket ready");
        Ok(socket)
    }
}

/// Binds a listener at `path` that only the owner can ever connect to: it is bound in a
/// fresh directory only the owner may enter, made 0600 there, and then renamed into
/// place, so there is no moment at which the socket exists with a wider mode.
fn bind_private(path: &Path) -> Result<UnixListener, QueueError> {
    use std::os::unix::fs::DirBuilderExt;
    let shown = path.display();
    let unavailable = |what: &str, e: std::io::Error| {
        QueueError::Unavailable(format!("cannot {what} {shown}: {e}"))
    };
    let private = path.with_extension(format!("sock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(|e| unavailable("prepare", e))?;
    let staged = private.join("s");
    let bound = UnixListener::bind(&staged)
        .map_err(|e| unavailable("bind", e))
        .and_then(|listener| {
            std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| unavailable("make the owner's only", e))?;
            std::fs::rename(&staged, path).map_err(|e| unavailable("move into place", e))?;
            Ok(listener)
        });
    let _ = std::fs::remove_dir_all(&private);
    bound
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve(listener: UnixListener, queue: Arc<dyn WorkQueue>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(answer(stream, queue.clone()));
            }
            Err(error) => {
                tracing::warn!(%error, "queue administration socket: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reads one request, runs it, writes the answer and closes.
async fn answer(mut stream: UnixStream, queue: Arc<dyn WorkQueue>) {
    let answer = match read_request(&mut stream).await {
        Ok(action) => {
            tracing::info!(action = ?action, "queue administration over the socket");
            match admin::run(queue.as_ref(), action, super::now_millis()).await {
                Ok(text) => Answer::Ok(text),
                Err(error) => Answer::Error(error.to_string()),
            }
        }
        Err(why) => {
            tracing::info!(error = ?why, "queue administration socket: bad request");
            Answer::Error(why)
        }
    };
    let mut line = serde_json::to_vec(&answer).unwrap_or_default();
    line.push(b'\n');
    let _ = stream.write_all(&line).await;
    let _ = stream.shutdown().await;
    // Closing with unread bytes would reset the connection before the client reads the
    // answer (an oversized request): what is left is read and discarded, for a while.
    let _ = tokio::time::timeout(
        READ_TIMEOUT,
        tokio::io::copy(&mut stream, &mut tokio::io::sink()),
    )
    .await;
}

/// One bounded JSON line, read within [`READ_TIMEOUT`].
async fn read_request(stream: &mut UnixStream) -> Result<Action, String> {
    let mut line = Vec::new();
    let limit = u64::try_from(MAX_REQUEST + 1).unwrap_or(u64::MAX);
    let mut reader = BufReader::new(stream.take(limit));
    tokio::time::timeout(READ_TIMEOUT, reader.read_until(b'\n', &mut line))
        .await
        .map_err(|_| format!("no request within {}s", READ_TIMEOUT.as_secs()))?
        .map_err(|e| format!("cannot read the request: {e}"))?;
    if line.len() > MAX_REQUEST {
        return Err(format!("the request is longer than {MAX_REQUEST} bytes"));
    }
    let request: Request = serde_json::from_slice(&line).map_err(|e| {
        format!("a request is {{\"action\":\"list\"}}, or replay or drop with an \"id\": {e}")
    })?;
    Ok(request.into())
}

/// Sends `action` to the server holding the queue file `queue_path`: `Err` when nothing
/// answers on its socket; otherwise the server's answer (the text to print, or the error).
pub async fn ask(queue_path: &Path, action: Action) -> io::Result<Result<String, String>> {
    let mut stream = UnixStream::connect(path_for(queue_path)).await?;
    let mut line = serde_json::to_vec(&Request::from(action)).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(ANSWER_TIMEOUT, stream.read_to_end(&mut answer))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the server did not answer"))??;
    match serde_json::from_slice(&answer).map_err(io::Error::other)? {
        Answer::Ok(text) => Ok(Ok(text)),
        Answer::Error(error) => Ok(Err(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_documented_shape() {
        let line = |a: Action| serde_json::to_string(&Request::from(a)).unwrap();
        assert_eq!(line(Action::List), r#"{"action":"list"}"#);
        assert_eq!(line(Action::Replay(42)), r#"{"action":"replay","id":42}"#);
        assert_eq!(line(Action::Drop(7)), r#"{"action":"drop","id":7}"#);
        let answer = serde_json::to_string(&Answer::Ok("job 1 dropped\n".into())).unwrap();
        assert_eq!(answer, r#"{"ok":"job 1 dropped\n"}"#);
        for bad in [
            r#"{"action":"replay"}"#,
            r#"{"action":"list","id":1}"#,
            r#"{"action":"delete_all"}"#,
            r#"{"action":"drop","id":-1}"#,
        ] {
            assert!(serde_json::from_str::<Request>(bad).is_err(), "{bad}");
        }
    }
}
