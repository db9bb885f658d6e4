//! Which failures a call may be repeated after (docs/protocol.md §9.6).

/// Which failures a call may be repeated after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryClass {
    /// Token grants, GET and the v3 PUT: timeouts, connection failures, 429, 502, 503, 504.
    Idempotent,
    /// PATCH and the Travel Request PUT: only failures that prove the request was not
    /// processed (connection not established, 429). A timed-out or 5xx write may have been
    /// applied; see `ConcurClient::write_field`.
    NotProcessedOnly,
}
