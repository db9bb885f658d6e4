//! The Concur web-services client (the `concur-client` crate, re-exported at its old path)
//! and the connector's `[concur]` settings table.
//!
//! [`ConcurSettings`](crate::concur::ConcurSettings) is the `[concur]` config table;
//! [`validate`](crate::concur::ConcurSettings::validate) yields a
//! [`ClientConfig`](crate::concur::ClientConfig), from which
//! [`ConcurClient::new`](crate::concur::ConcurClient::new) builds the one client of the process.

mod settings;

pub use concur_client::*;
pub use settings::ConcurSettings;
