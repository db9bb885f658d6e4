//! Logging: one subscriber for the process, the per-request span and log line, and the
//! rate limits that keep a flood of bad requests from becoming a flood of log lines.
//!
//! Request spans carry the matched route, never the raw URI: launch URLs hold signatures.
//! Every field is written escaped, in the text format as in JSON, so a value that came from a
//! request (a signed launch value, a search text) can never start a line of its own. Request
//! ids are made by the server; a client's `x-request-id` is kept only as a separate field, and
//! only when it looks like an id.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Response};
use tracing::Span;
use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry};

use crate::config::{LogFormat, LogSettings};
use crate::middleware::Around;

pub mod json;

/// The header carrying the server's request id (set on the request and the response).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How often the rate-limited log lines may speak, and how many lines each interval allows
/// before they are only counted.
pub const LOG_INTERVAL: Duration = Duration::from_secs(60);
const LOG_BURST: u64 = 5;

/// Installs the global subscriber writing to `writer`. `RUST_LOG` wins over `log.level`.
/// Returns false when a subscriber was already installed (tests start many apps).
pub fn init<W>(settings: &LogSettings, writer: W) -> bool
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = Registry::default().with(filter);
    match settings.format {
        LogFormat::Text => registry.with(text_layer(writer)).try_init().is_ok(),
        LogFormat::Json => registry
            .with(json::JsonLines::new(writer))
            .try_init()
            .is_ok(),
    }
}

/// The text format: `key=value` fields with every value escaped, no colours.
fn text_layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let fields = tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = escape_controls(&format!("{value:?}"));
        if field.name() == "message" {
            write!(w, "{text}")
        } else {
            write!(w, "{field}={text}")
        }
    })
    .delimited(" ");
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .fmt_fields(fields)
        .with_writer(writer)
}

/// `text` with every control character written as an escape (`\n`, `\u{1b}`), so it stays on
/// one line and cannot colour or rewrite a terminal.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// How long a log line may wait in a [`BufferedLog`] before it is written.
pub const LOG_FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Buffered bytes that make the logging thread write at once instead of waiting.
const LOG_BUFFER_BYTES: usize = 64 * 1024;

/// Log lines through one buffer: a busy server writes them to stdout in a few large writes
/// instead of one system call (and one wake-up of whoever reads the pipe) per line.
///
/// Lines are written whole and in order. A warning or an error is written at once, with
/// everything before it; other lines wait at most [`LOG_FLUSH_EVERY`], or until
/// [`LOG_BUFFER_BYTES`] have gathered. Dropping the [`LogFlushGuard`] writes what is left, so
/// a normal shutdown (a signal, a start-up error) loses no line; only a process killed
/// outright can lose the lines of its last moment.
#[derive(Clone)]
pub struct BufferedLog {
    shared: Arc<Mutex<Buffered>>,
}

struct Buffered {
    lines: Vec<u8>,
    out: Box<dyn std::io::Write + Send>,
}

impl Buffered {
    /// Writes the lines out; called with the lock held, so that chunks keep their order. A
    /// failed write is dropped: there is no other place to tell.
    fn write_out(&mut self) {
        if self.lines.is_empty() {
            return;
        }
        let _ = self.out.write_all(&self.lines);
        let _ = self.out.flush();
        self.lines.clear();
    }
}

/// Writes the buffered log lines when dropped; see [`BufferedLog`].
pub struct LogFlushGuard(BufferedLog);

impl Drop for LogFlushGuard {
    fn drop(&mut self) {
        self.0.flush();
    }
}

impl BufferedLog {
    /// Lines for stdout, and a thread that writes them every [`LOG_FLUSH_EVERY`].
    pub fn stdout() -> (Self, LogFlushGuard) {
        let (log, guard) = Self::new(Box::new(std::io::stdout()));
        let flusher = log.clone();
        let spawned = std::thread::Builder::new()
            .name("log-flush".to_owned())
            .spawn(move || {
                loop {
                    std::thread::sleep(LOG_FLUSH_EVERY);
                    flusher.flush();
                }
            });
        if let Err(error) = spawned {
            // Lines still get out, only later: when the buffer fills, a warning comes, or at
            // the end.
            eprintln!("cannot start the log flush thread: {error}");
        }
        (log, guard)
    }

    /// Lines for `out`, written by [`Self::flush`] (no thread).
    pub fn new(out: Box<dyn std::io::Write + Send>) -> (Self, LogFlushGuard) {
        let log = Self {
            shared: Arc::new(Mutex::new(Buffered {
                lines: Vec::with_capacity(LOG_BUFFER_BYTES),
                out,
            })),
        };
        (log.clone(), LogFlushGuard(log))
    }

    /// Writes every buffered line.
    pub fn flush(&self) {
        self.lock().write_out();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffered> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One event's writer: appends to the buffer; `urgent` (a warning or an error) writes it out.
pub struct BufferedLine<'a> {
    log: &'a BufferedLog,
    urgent: bool,
}

impl std::io::Write for BufferedLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut shared = self.log.lock();
        shared.lines.extend_from_slice(buf);
        if self.urgent || shared.lines.len() >= LOG_BUFFER_BYTES {
            shared.write_out();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BufferedLog {
    type Writer = BufferedLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        BufferedLine {
            log: self,
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        BufferedLine {
            log: self,
            // Levels order from the most severe: ERROR < WARN < INFO.
            urgent: *meta.level() <= tracing::Level::WARN,
        }
    }
}

/// A new request id: a random (version 4) UUID in its hyphenated lower-case form, drawn from
/// the thread's own cryptographic generator instead of a system call per request.
pub fn new_request_id() -> HeaderValue {
    let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut text = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(uuid.hyphenated().encode_lower(&mut text))
        .unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// A client's own request id, kept beside the server's when it looks like an id.
#[derive(Debug, Clone)]
pub struct ClientRequestId(pub String);

/// Takes the client's `x-request-id` off the request, so the server's own id replaces it; a
/// well-formed one (1 to 64 of `A-Z a-z 0-9 . _ -`) is kept as [`ClientRequestId`].
pub fn take_client_request_id(request: &mut Request) {
    if let Some(value) = request.headers_mut().remove(REQUEST_ID)
        && let Ok(text) = value.to_str()
        && (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        let id = ClientRequestId(text.to_owned());
        request.extensions_mut().insert(id);
    }
}

/// The request id of every request, in one layer: the client's `x-request-id` is taken off
/// ([`take_client_request_id`]), the server's own [`new_request_id`] set in its place (the
/// span and the handlers read it there), the request runs with that id as the
/// `concur-correlationid` of every Concur call it causes, so a support case can be matched to
/// the request's log lines (docs/protocol.md §7.7), and the answer carries it back.
#[derive(Debug, Clone, Copy)]
pub struct RequestIds;

impl Around for RequestIds {
    type Carry = HeaderValue;

    fn before(
        &self,
        request: &mut Request,
    ) -> Result<HeaderValue, Box<Response<axum::body::Body>>> {
        take_client_request_id(request);
        let id = new_request_id();
        request.headers_mut().insert(REQUEST_ID, id.clone());
        Ok(id)
    }

    async fn after<F>(id: HeaderValue, inner: F) -> Response<axum::body::Body>
    where
        F: Future<Output = Response<axum::body::Body>> + Send + 'static,
    {
        let correlation: Arc<str> = id.to_str().unwrap_or("-").into();
        let mut response = concur_client::observe::scope(correlation, inner).await;
        response.headers_mut().insert(REQUEST_ID, id);
        response
    }
}

/// The span of one request: the server's id, method and matched route (and the client's
/// id, when it sent a well-formed one).
pub fn request_span<B>(request: &axum::http::Request<B>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let client_id = request
        .extensions()
        .get::<ClientRequestId>()
        .map(|c| c.0.as_str());
    tracing::info_span!(
        "request",
        id = request_id,
        client_request_id = client_id,
        method = request.method().as_str(),
        route = route
    )
}

/// The one log line per finished request. Client errors (a scanner, a flood of wrong
/// passwords) are logged up to a small burst per interval, then only counted.
pub fn on_response<B>(response: &Response<B>, latency: Duration, _span: &Span) {
    let status = response.status();
    if status.is_client_error() && !CLIENT_ERRORS.admit() {
        return;
    }
    tracing::info!(
        status = status.as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request finished"
    );
}

/// Requests answered with a 4xx: logged a few per interval, then counted.
pub static CLIENT_ERRORS: RateLimitedLog = RateLimitedLog::new("requests answered with a 4xx");
/// Server-to-server calls (test connection, callouts) with missing or wrong credentials.
pub static AUTH_FAILURES: RateLimitedLog =
    RateLimitedLog::new("calls refused for missing or wrong basic credentials");

/// Writes the summary of every rate-limited log whose interval has ended; the server calls
/// it once per [`LOG_INTERVAL`], so a flood that stops is still reported.
pub fn flush_rate_limited_logs() {
    for log in [&CLIENT_ERRORS, &AUTH_FAILURES] {
        log.flush_at(Instant::now());
    }
}

/// A log that speaks at most [`LOG_BURST`] times per [`LOG_INTERVAL`] and then counts; the
/// count is reported in one summary line when the next interval begins.
pub struct RateLimitedLog {
    what: &'static str,
    window: Mutex<Option<Window>>,
}

struct Window {
    started: Instant,
    logged: u64,
    suppressed: u64,
}

impl RateLimitedLog {
    pub const fn new(what: &'static str) -> Self {
        Self {
            what,
            window: Mutex::new(None),
        }
    }

    /// Counts one occurrence; true when it may be logged on its own line.
    pub fn admit(&self) -> bool {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> bool {
        let mut guard = self.lock();
        let window = guard.get_or_insert(Window {
            started: now,
            logged: 0,
            suppressed: 0,
        });
        self.roll(window, now);
        if window.logged < LOG_BURST {
            window.logged += 1;
            true
        } else {
            window.suppressed += 1;
            false
        }
    }

    fn flush_at(&self, now: Instant) {
        if let Some(window) = self.lock().as_mut() {
            self.roll(window, now);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Window>> {
        self.window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a new interval once the current one is over, reporting what it only counted.
    fn roll(&self, window: &mut Window, now: Instant) {
        if now.duration_since(window.started) < LOG_INTERVAL {
            return;
        }
        if window.suppressed > 0 {
            tracing::warn!(
                what = self.what,
                not_logged = window.suppressed,
                interval_s = LOG_INTERVAL.as_secs(),
                "more occurrences than the log shows one by one"
            );
        }
        *window = Window {
            started: now,
            logged: 0,
            suppressed: 0,
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A shared byte buffer to write log lines into (the JSON layer's tests use it too).
    #[derive(Clone, Default)]
    pub(super) struct Buffer(pub(super) Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn text_logs(emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = Registry::default().with(text_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_forged_newline_never_splits_a_text_log_line() {
        let forged =
            "acme.com\n2026-01-01T00:00:00Z  INFO audit: concur field write outcome=\"written\"";
        let logs = text_logs(|| {
            tracing::info!(company = forged, "launch verified");
            tracing::info!(company = %forged, "launch verified");
            tracing::info!(company = ?forged, "launch verified");
            tracing::info!("message with {} inside", forged);
            tracing::info_span!("request", id = %forged).in_scope(|| tracing::info!("in span"));
        });
        assert_eq!(logs.lines().count(), 5, "{logs}");
        assert!(logs.contains(r"acme.com\n2026"), "{logs}");
        for line in logs.lines() {
            assert!(!line.starts_with("2026-01-01"), "{line}");
        }
    }

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_kept() {
        assert_eq!(escape_controls("plain ünïcode"), "plain ünïcode");
        assert_eq!(
            escape_controls("a\r\nb\tc\u{1b}[31m"),
            r"a\r\nb\tc\u{1b}[31m"
        );
    }

    /// A [`BufferedLog`] over a shared byte buffer, and the subscriber writing to it.
    fn buffered() -> (BufferedLog, LogFlushGuard, Buffer, impl tracing::Subscriber) {
        let out = Buffer::default();
        let (log, guard) = BufferedLog::new(Box::new(out.clone()));
        let subscriber = Registry::default().with(text_layer(log.clone()));
        (log, guard, out, subscriber)
    }

    fn written(out: &Buffer) -> String {
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn buffered_lines_wait_for_a_flush_and_a_warning_takes_them_out_in_order() {
        let (log, _guard, out, subscriber) = buffered();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("first");
            tracing::info!("second");
            assert_eq!(written(&out), "", "info lines wait");
            tracing::warn!("third");
            let lines: Vec<String> = written(&out).lines().map(str::to_owned).collect();
            assert_eq!(lines.len(), 3, "{lines:?}");
            for (line, text) in lines.iter().zip(["first", "second", "third"]) {
                assert!(line.ends_with(text), "{line}");
            }
            tracing::info!("fourth");
            assert_eq!(written(&out).lines().count(), 3);
            log.flush();
            assert!(written(&out).ends_with("fourth\n"), "{}", written(&out));
        });
    }

    #[test]
    fn buffered_lines_go_out_when_the_guard_drops_or_the_buffer_fills() {
        let (_log, guard, out, subscriber) = buffered();
        tracing::subscriber::with_default(subscriber, || tracing::info!("last words"));
        assert_eq!(written(&out), "");
        drop(guard);
        assert!(written(&out).ends_with("last words\n"), "{}", written(&out));

        let (_log, _guard, out, subscriber) = buffered();
        let line = "x".repeat(1000);
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..LOG_BUFFER_BYTES / 1000 + 1 {
                tracing::info!("{line}");
            }
        });
        assert!(
            written(&out).len() >= LOG_BUFFER_BYTES,
            "a full buffer is written"
        );
        assert!(
            written(&out).lines().all(|l| l.ends_with(&line)),
            "whole lines"
        );
    }

    #[test]
    fn request_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<String> = (0..100)
            .map(|_| new_request_id().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 100);
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 4, "{id}");
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
            assert_eq!(id, &uuid.hyphenated().to_string(), "hyphenated, lower case");
        }
    }

    #[test]
    fn a_rate_limited_log_speaks_a_burst_per_interval_then_counts() {
        let log = RateLimitedLog::new("test");
        let start = Instant::now();
        let admitted = (0..1000).filter(|_| log.admit_at(start)).count();
        assert_eq!(admitted as u64, LOG_BURST);
        let logs = text_logs(|| log.flush_at(start + LOG_INTERVAL));
        assert!(logs.contains("not_logged=995"), "{logs}");
        assert_eq!(logs.lines().count(), 1, "one summary line: {logs}");
        let admitted = (0..10)
            .filter(|_| log.admit_at(start + LOG_INTERVAL))
            .count();
        assert_eq!(admitted as u64, LOG_BURST, "a new interval, a new burst");
    }
}
