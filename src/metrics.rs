//! The connector's metrics, in the Prometheus text format on the admin listener
//! ([`crate::admin`]). This module is the only place that names a metric or a label: the
//! rest of the code calls its functions, one per event.
//!
//! Cardinality is bounded by construction: labels are route templates (never a raw path),
//! fixed API templates, status codes and small enums; never a user, report or item id.
//! Without the admin listener no recorder is installed and every function here is a no-op.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{LazyLock, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use concur_client::observe::{CallEvent, CallStatus, Observer, TokenKind};
use metrics::{Counter, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::launch::{ErrorClass, Product, Version};
use crate::middleware::Around;

const HTTP_REQUESTS: &str = "concur_connector_http_requests_total";
const HTTP_DURATION: &str = "concur_connector_http_request_duration_seconds";
const LAUNCHES_VERIFIED: &str = "concur_connector_launches_verified_total";
const LAUNCHES_REFUSED: &str = "concur_connector_launches_refused_total";
const CONCUR_CALLS: &str = "concur_connector_concur_calls_total";
const CONCUR_DURATION: &str = "concur_connector_concur_call_duration_seconds";
const TOKEN_GRANTS: &str = "concur_connector_token_refreshes_total";
const FIELD_WRITES: &str = "concur_connector_field_writes_total";
const DECISIONS: &str = "concur_connector_notification_decisions_total";
const JOBS: &str = "concur_connector_notification_jobs_total";
const QUEUE_DEPTH: &str = "concur_connector_queue_depth";
const DEAD_LETTERS: &str = "concur_connector_queue_dead_letters";
const STORE_ERRORS: &str = "concur_connector_store_errors_total";
const CERT_EXPIRY: &str = "concur_connector_tls_certificate_expiry_days";
const BUILD_INFO: &str = "concur_connector_build_info";

/// Latency buckets (seconds) of both histograms: a local answer takes milliseconds, a
/// Concur call tens to hundreds, a slow one seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The `notAfter` (Unix seconds) of the certificate served now; `i64::MIN` = none.
static CERT_NOT_AFTER: AtomicI64 = AtomicI64::new(i64::MIN);

/// Installs the process's recorder (once; later calls return the same handle).
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let builder = match builder
            .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".to_owned()), &BUCKETS)
        {
            Ok(builder) => builder,
            // Only an empty bucket list is refused; ours is fixed and not empty.
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed already; /metrics shows nothing");
        }
        INSTALLED.store(true, Ordering::Release);
        describe();
        gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "Requests answered, by route template and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a request, by route template and status."
    );
    describe_counter!(
        LAUNCHES_VERIFIED,
        "Launches verified, by version and product."
    );
    describe_counter!(LAUNCHES_REFUSED, "Launches refused, by reason.");
    describe_counter!(
        CONCUR_CALLS,
        "HTTP exchanges with Concur, by API, method and status."
    );
    describe_histogram!(
        CONCUR_DURATION,
        metrics::Unit::Seconds,
        "Time of one HTTP exchange with Concur, by API and method."
    );
    describe_counter!(
        TOKEN_GRANTS,
        "Token grants, by token (company, user) and outcome."
    );
    describe_counter!(FIELD_WRITES, "Done's field writes, by outcome.");
    describe_counter!(
        DECISIONS,
        "Event Notification decisions, by outcome and reason."
    );
    describe_counter!(JOBS, "Queue jobs settled by the workers, by disposition.");
    describe_gauge!(QUEUE_DEPTH, "Jobs in the work queue (queued or claimed).");
    describe_gauge!(DEAD_LETTERS, "Dead letters in the work queue.");
    describe_counter!(STORE_ERRORS, "Failed store operations, by store.");
    describe_gauge!(
        CERT_EXPIRY,
        "Whole days until the served certificate expires."
    );
    describe_gauge!(BUILD_INFO, "Always 1; the version is a label.");
}

// ------------------------------------------------------------------ requests

/// The layer of the main router counting and timing every request by its matched route
/// template (`unmatched` for a 404 of no route) and status.
#[derive(Debug, Clone, Copy)]
pub struct TrackRequest;

impl Around for TrackRequest {
    type Carry = (Option<MatchedPath>, Instant);

    fn before(&self, request: &mut Request) -> Result<Self::Carry, Box<Response>> {
        let route = request.extensions().get::<MatchedPath>().cloned();
        Ok((route, Instant::now()))
    }

    async fn after<F>((route, started): Self::Carry, inner: F) -> Response
    where
        F: Future<Output = Response> + Send + 'static,
    {
        let response = inner.await;
        let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
        request_answered(route, response.status().as_u16(), started.elapsed());
        response
    }
}

/// Whether [`install`] ran: from then on the handles [`request_answered`] resolves stay
/// valid (a recorder, once installed, is never replaced), so they are kept.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The request counter and histogram of each route template, by status.
type RequestHandles = HashMap<Box<str>, Vec<(u16, Counter, Histogram)>>;

/// Handles of [`HTTP_REQUESTS`] and [`HTTP_DURATION`], resolved once per route and status
/// instead of once per request.
static REQUEST_HANDLES: LazyLock<RwLock<RequestHandles>> = LazyLock::new(RwLock::default);

fn request_answered(route: &str, status: u16, took: Duration) {
    let record = |(_, requests, duration): &(u16, Counter, Histogram)| {
        requests.increment(1);
        duration.record(took.as_secs_f64());
    };
    if !INSTALLED.load(Ordering::Acquire) {
        // No recorder yet: these are no-ops, not worth keeping.
        record(&request_handles(route, status));
        return;
    }
    {
        let handles = REQUEST_HANDLES
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = handles
            .get(route)
            .and_then(|by_status| by_status.iter().find(|(s, _, _)| *s == status))
        {
            record(known);
            return;
        }
    }
    let mut handles = REQUEST_HANDLES
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    let by_status = handles.entry(route.into()).or_default();
    if !by_status.iter().any(|(s, _, _)| *s == status) {
        by_status.push(request_handles(route, status));
    }
    if let Some(known) = by_status.iter().find(|(s, _, _)| *s == status) {
        record(known);
    }
}

fn request_handles(route: &str, status: u16) -> (u16, Counter, Histogram) {
    let labels = [("route", route.to_owned()), ("status", status.to_string())];
    (
        status,
        counter!(HTTP_REQUESTS, &labels),
        histogram!(HTTP_DURATION, &labels),
    )
}

// ------------------------------------------------------------------ launches

/// A launch passed every check and has its session. `product` is `"expense"` or
/// `"request"`.
pub fn launch_verified(version: Version, product: Product) {
    let version = match version {
        Version::V1 => "v1",
        Version::V4 => "v4",
    };
    counter!(LAUNCHES_VERIFIED, "version" => version, "product" => product.as_str()).increment(1);
}

/// Why a launch was refused, as a small fixed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchRefusal {
    /// Missing, repeated or badly shaped parameters.
    Malformed,
    /// The signature does not verify.
    Signature,
    /// The item URL's host is not allowed.
    ItemHost,
    /// The company is not in `launch.company_domains`.
    Company,
    /// A v4 launch without `client_auth_code`.
    NoAuthCode,
    /// The launch was used before.
    Replayed,
    /// Concur refused or could not exchange the auth code.
    CodeExchange,
    /// The nonce or session store failed.
    StoreUnavailable,
}

impl LaunchRefusal {
    fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Signature => "signature",
            Self::ItemHost => "item_host",
            Self::Company => "company",
            Self::NoAuthCode => "no_auth_code",
            Self::Replayed => "replayed",
            Self::CodeExchange => "code_exchange",
            Self::StoreUnavailable => "store_unavailable",
        }
    }
}

impl From<ErrorClass> for LaunchRefusal {
    fn from(class: ErrorClass) -> Self {
        match class {
            ErrorClass::Malformed => Self::Malformed,
            ErrorClass::SignatureMismatch => Self::Signature,
            ErrorClass::Forbidden => Self::ItemHost,
        }
    }
}

pub fn launch_refused(reason: impl Into<LaunchRefusal>) {
    counter!(LAUNCHES_REFUSED, "reason" => reason.into().as_str()).increment(1);
}

// ------------------------------------------------------------------ Concur

/// The Concur client's observer: calls by API template, method and status; token grants.
pub struct ConcurObserver;

impl Observer for ConcurObserver {
    fn call(&self, event: &CallEvent<'_>) {
        let status = match event.status {
            CallStatus::Http(status) => status.to_string(),
            CallStatus::Connect => "connect_error".to_owned(),
            CallStatus::Timeout => "timeout".to_owned(),
            CallStatus::Transport => "transport_error".to_owned(),
        };
        let method = event.method.as_str().to_owned();
        counter!(CONCUR_CALLS, "api" => event.api, "method" => method.clone(), "status" => status)
            .increment(1);
        histogram!(CONCUR_DURATION, "api" => event.api, "method" => method)
            .record(event.elapsed.as_secs_f64());
    }

    fn token_grant(&self, kind: TokenKind, ok: bool) {
        let token = match kind {
            TokenKind::Company => "company",
            TokenKind::User => "user",
        };
        let outcome = if ok { "ok" } else { "error" };
        counter!(TOKEN_GRANTS, "token" => token, "outcome" => outcome).increment(1);
    }
}

/// How one Done write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    /// Found in Concur already after an uncertain attempt; nothing written.
    AlreadySaved,
    Failed,
}

pub fn field_write(outcome: WriteOutcome) {
    let outcome = match outcome {
        WriteOutcome::Written => "written",
        WriteOutcome::AlreadySaved => "already_saved",
        WriteOutcome::Failed => "failed",
    };
    counter!(FIELD_WRITES, "outcome" => outcome).increment(1);
}

// ------------------------------------------------------------------ notifications

/// A report decided (`approve`, `send_back`) or a notification `dropped`, with why (the
/// audit's fixed action and drop-reason names).
pub fn notification_decision(action: &'static str, reason: Option<&'static str>) {
    let reason = reason.unwrap_or("none");
    counter!(DECISIONS, "outcome" => action, "reason" => reason).increment(1);
}

/// What became of a claimed job: `complete`, `retry` or `dead_letter`.
pub fn notification_job(disposition: &'static str) {
    counter!(JOBS, "disposition" => disposition).increment(1);
}

/// The queue's size, as read at a scrape.
pub fn queue_depth(in_flight: u64, dead: u64) {
    gauge!(QUEUE_DEPTH).set(in_flight as f64);
    gauge!(DEAD_LETTERS).set(dead as f64);
}

// ------------------------------------------------------------------ stores, TLS

/// Which store an operation failed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The shared Redis store (nonces, sessions).
    Redis,
    /// The in-memory store, full.
    Memory,
    /// The work queue (embedded file or Redis).
    Queue,
}

pub fn store_error(store: Store) {
    let store = match store {
        Store::Redis => "redis",
        Store::Memory => "memory",
        Store::Queue => "queue",
    };
    counter!(STORE_ERRORS, "store" => store).increment(1);
}

/// The certificate now served (at start-up and after each reload).
pub fn certificate_served(not_after_unix: i64) {
    CERT_NOT_AFTER.store(not_after_unix, Ordering::Relaxed);
}

/// Sets the gauges that are read rather than counted, then renders everything.
pub fn render(handle: &PrometheusHandle) -> String {
    let not_after = CERT_NOT_AFTER.load(Ordering::Relaxed);
    if not_after != i64::MIN {
        gauge!(CERT_EXPIRY).set(days_until(not_after, unix_now()) as f64);
    }
    handle.run_upkeep();
    handle.render()
}

/// Whole days from `now` until `not_after` (negative once expired).
fn days_until(not_after: i64, now: i64) -> i64 {
    (not_after - now).div_euclid(86_400)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// How often histograms are folded when nobody scrapes, so memory stays bounded.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_until_expiry_are_whole_days_and_negative_once_expired() {
        assert_eq!(days_until(10 * 86_400, 0), 10);
        assert_eq!(days_until(10 * 86_400 - 1, 0), 9);
        assert_eq!(days_until(0, 1), -1);
    }

    #[test]
    fn every_refusal_class_has_its_own_label() {
        let all = [
            LaunchRefusal::Malformed,
            LaunchRefusal::Signature,
            LaunchRefusal::ItemHost,
            LaunchRefusal::Company,
            LaunchRefusal::NoAuthCode,
            LaunchRefusal::Replayed,
            LaunchRefusal::CodeExchange,
            LaunchRefusal::StoreUnavailable,
        ];
        let labels: std::collections::HashSet<_> = all.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), all.len());
        assert_eq!(
            LaunchRefusal::from(ErrorClass::SignatureMismatch),
            LaunchRefusal::Signature
        );
    }
}
