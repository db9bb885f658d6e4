//! concur-protocol: SAP Concur's wire formats as pure code.
//!
//! Nothing in this crate does I/O, reads a clock or logs: the Launch External URL callout's
//! query parsing, signature verification and signing (v1 and v4), the connector's registered
//! credentials with the HMAC key rule, and the shapes of the item URLs a launch points at,
//! with the host policy that decides which of them may be called.

/// The server-to-server callouts: safe XML reading, request parsing, response rendering.
pub mod callout;
/// The connector's registered user name and password.
pub mod credentials;
/// Item URLs: which Concur API and which report, expense or allocation they address.
pub mod item;
/// The Launch External URL protocol: parsing, verification and signing (pure).
pub mod launch;
