//! The Launch External URL protocol, pure: raw query parsing, signature checks, signing.
//!
//! Nothing in this module does I/O, reads a clock or logs.

pub mod sign;

use serde::{Deserialize, Serialize};

/// Which protocol generation a launch uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    /// HMAC-SHA1, five parameters (legacy; decommissioned by Concur on 2026-06-23).
    V1,
    /// HMAC-SHA256, thirteen parameters (the live protocol).
    V4,
}

/// Where on the expense report the Launch URL field sits (v4 `source`).
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
