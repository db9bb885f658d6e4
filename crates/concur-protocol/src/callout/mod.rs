//! The server-to-server callouts Concur makes to the connector (Fetch List, Fetch Attendee,
//! Event Notification): their request bodies, parsed leniently but safely, and their
//! response bodies, rendered exactly (docs/protocol.md §12).
//!
//! [`xml`] is the one XML reader every callout parser uses: it refuses DTDs and any entity
//! beyond XML's five predefined ones, ignores namespaces, and bounds depth and size.

pub mod attendee;
pub mod conformance;
pub mod fetch_list;
pub mod glob;
pub mod notification;
pub mod xml;
