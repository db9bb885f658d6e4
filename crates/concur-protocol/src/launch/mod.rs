//! The Launch External URL protocol, pure: raw query parsing, signature checks, signing.
//!
//! Nothing in this module does I/O, reads a clock or logs.

mod diagnose;
mod error;
mod item_url;
mod params;
mod query;
mod shape;
pub mod sign;
mod verify;

#[cfg(test)]
mod request_tests;
#[cfg(test)]
mod vectors;

pub use diagnose::{WrongReading, diagnose_v1, diagnose_v4};
pub use error::{ErrorClass, LaunchError};
pub use item_url::{ItemUrlError, ItemUrlPolicy, check_allowed_host};
pub use params::DEFAULT_LANGUAGE;
pub use query::{MAX_QUERY_LEN, ValueEncoding};
#[doc(hidden)]
pub use verify::read_query;
pub use verify::{LaunchContext, Transport, VerifiedLaunch, verify_v1, verify_v4};

use serde::{Deserialize, Serialize};

/// Which protocol generation a launch uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    /// HMAC-SHA1, five parameters (legacy; decommissioned by Concur on 2026-06-23).
    V1,
    /// HMAC-SHA256, thirteen parameters (the live protocol).
    V4,
}

/// Which Concur product launched: Expense (reports) or Request (travel requests).
///
/// A v4 launch says it through its owner parameter names (`report_owner_*` or
/// `request_owner_*`, docs/protocol.md §12.5). Those names are not covered by the MAC, so
/// the product is as trustworthy as any unsigned value: it picks the parameter names, never
/// access; the verifier refuses a launch whose item URL is recognisably of the other product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Product {
    /// Concur Expense; also every v1 launch, and sessions stored before the product existed.
    #[default]
    Expense,
    /// Concur Request (travel requests).
    Request,
}

impl Product {
    pub fn as_str(self) -> &'static str {
        match self {
            Product::Expense => "expense",
            Product::Request => "request",
        }
    }
}

/// Where on the report or request the Launch URL field sits (v4 `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Source {
    Header,
    Entry,
    Allocation,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Header => "HEADER",
            Source::Entry => "ENTRY",
            Source::Allocation => "ALLOCATION",
        }
    }

    /// Case-insensitive parse of the wire value.
    pub fn parse(value: &str) -> Option<Self> {
        [Source::Header, Source::Entry, Source::Allocation]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(value))
    }
}
