//! Connection bounds: how many connections are served at once, what the few over that bound
//! get, and when a connection without a request in progress is closed.
//!
//! [`BoundedAcceptor`] runs on every accepted TCP connection, before the TLS handshake. Up to
//! `max_connections` are served normally. [`OVERFLOW_CONNECTIONS`] more are accepted in
//! overflow, so that a load balancer's health probe still gets its answer while the server
//! is full: the router answers them 503 except on the health endpoints, and closes them
//! after one request. Beyond both bounds a connection is closed at once; nothing is queued.
//! Every connection's stream is wrapped in [`Tracked`], which holds the permit for the
//! connection's lifetime and closes it after a stretch without a request in progress.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::http::{Request, Response};
use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections accepted beyond `max_connections`, for health probes only.
pub const OVERFLOW_CONNECTIONS: usize = 16;

/// How long an overflow connection may stay without a request in progress.
pub const OVERFLOW_IDLE: Duration = Duration::from_secs(2);

/// Which kind of connection a request came on; a request extension the router reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionClass {
    /// Within `max_connections`: served normally.
    Normal,
    /// Over the bound: health endpoints only, then closed.
    Overflow,
}

/// Admits connections within the bounds; see the module documentation.
#[derive(Clone)]
pub struct BoundedAcceptor {
    served: Arc<Semaphore>,
    overflow: Arc<Semaphore>,
    idle_timeout: Duration,
    /// Whether the bound was reached and not yet left, so the log says it once.
    saturated: Arc<AtomicBool>,
}

impl BoundedAcceptor {
    pub fn new(max_connections: usize, idle_timeout: Duration) -> Self {
        Self {
            served: Arc::new(Semaphore::new(max_connections)),
            overflow: Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS)),
            idle_timeout,
            saturated: Arc::new(AtomicBool::new(false)),
        }
    }

    fn admit(&self) -> io::Result<(ConnectionClass, OwnedSemaphorePermit, Duration)> {
        if let Ok(permit) = self.served.clone().try_acquire_owned() {
            if self.saturated.swap(false, Ordering::Relaxed) {
                tracing::info!("connections are below server.max_connections again");
            }
            return Ok((ConnectionClass::Normal, permit, self.idle_timeout));
        }
        if !self.saturated.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                overflow = OVERFLOW_CONNECTIONS,
                "server.max_connections reached: further connections get only the health \
                 endpoints, and beyond the overflow they are closed at once"
            );
        }
        match self.overflow.clone().try_acquire_owned() {
            Ok(permit) => Ok((
                ConnectionClass::Overflow,
                permit,
                OVERFLOW_IDLE.min(self.idle_timeout),
            )),
            Err(_) => Err(io::Error::other("connection limit reached")),
        }
    }
}

impl<S> Accept<TcpStream, S> for BoundedAcceptor {
    type Stream = Tracked<TcpStream>;
    type Service = ConnService<S>;
    type Future = std::future::Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        std::future::ready(self.admit().map(|(class, permit, idle)| {
            let activity = Arc::new(Activity::new());
            (
                Tracked::new(stream, permit, activity.clone(), idle),
                ConnService {
                    inner: service,
                    class,
                    activity,
                },
            )
        }))
    }
}

/// Requests in progress on one connection, and since when none is.
struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
    /// The reader to wake when the last request ends, so that the idle timer starts even
    /// if nothing else polls the connection.
    reader: Mutex<Option<Waker>>,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            reader: Mutex::new(None),
        }
    }

    fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// When the connection went idle, or `None` while a request is in progress.
    fn idle_since(&self) -> Option<Instant> {
        let since = *self
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (self.in_flight.load(Ordering::SeqCst) == 0).then_some(since)
    }
}

/// One request in progress; dropping it (answered or abandoned) ends it.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self
            .0
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(reader) = self
            .0
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            reader.wake();
        }
    }
}

/// An accepted stream that holds its connection permit and ends (a read error) once no
/// request has been in progress for its idle timeout.
pub struct Tracked<T> {
    inner: T,
    _permit: OwnedSemaphorePermit,
    activity: Arc<Activity>,
    idle_timeout: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<T> Tracked<T> {
    fn new(
        inner: T,
        permit: OwnedSemaphorePermit,
        activity: Arc<Activity>,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            inner,
            _permit: permit,
            activity,
            idle_timeout,
            timer: Box::pin(tokio::time::sleep(idle_timeout)),
        }
    }

    /// Ready with an error once the connection has been idle too long. Polled whenever
    /// the server waits for bytes, which it does on every idle connection.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        // Registered before looking, so that a request ending right now still wakes us.
        *self
            .activity
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
        let Some(since) = self.activity.idle_since() else {
            return Poll::Pending;
        };
        let deadline = since + self.idle_timeout;
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => this.poll_idle(cx).map(Err),
            ready => ready,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The per-connection service: marks each request with its [`ConnectionClass`] and counts
/// it as in progress until its response is ready.
#[derive(Clone)]
pub struct ConnService<S> {
    inner: S,
    class: ConnectionClass,
    activity: Arc<Activity>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<Request<B>> for ConnService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<R>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let in_flight = self.activity.start();
        request.extensions_mut().insert(self.class);
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            drop(in_flight);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    const IDLE: Duration = Duration::from_secs(60);

    fn tracked(
        idle: Duration,
    ) -> (
        Tracked<tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
        Arc<Activity>,
    ) {
        let (server, client) = tokio::io::duplex(1024);
        let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let activity = Arc::new(Activity::new());
        (
            Tracked::new(server, permit, activity.clone(), idle),
            client,
            activity,
        )
    }

    #[test]
    fn within_the_bound_served_then_a_small_overflow_then_refused() {
        let acceptor = BoundedAcceptor::new(2, IDLE);
        let mut held = Vec::new();
        for expected in [ConnectionClass::Normal, ConnectionClass::Normal] {
            let (class, permit, idle) = acceptor.admit().unwrap();
            assert_eq!((class, idle), (expected, IDLE));
            held.push(permit);
        }
        for _ in 0..OVERFLOW_CONNECTIONS {
            let (class, permit, idle) = acceptor.admit().unwrap();
            assert_eq!((class, idle), (ConnectionClass::Overflow, OVERFLOW_IDLE));
            held.push(permit);
        }
        assert!(acceptor.admit().is_err(), "beyond the overflow: refused");
        // A connection that ends gives its place back: the next one is served normally.
        drop(held.remove(0));
        assert_eq!(acceptor.admit().unwrap().0, ConnectionClass::Normal);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_request_in_progress_ends_after_the_idle_timeout() {
        let (mut server, mut client, _) = tracked(IDLE);
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        let error = server.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_progress_keeps_the_connection_open_however_long_it_takes() {
        let (mut server, _client, activity) = tracked(IDLE);
        let request = activity.start();
        let mut buf = [0u8; 4];
        let still_open = tokio::time::timeout(IDLE * 10, server.read(&mut buf)).await;
        assert!(
            still_open.is_err(),
            "the read must still wait: {still_open:?}"
        );
        // Once it is answered, the idle timeout counts from then.
        drop(request);
        let error = server.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }
}
