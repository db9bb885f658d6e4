//! The simulator of the SAP Concur services (the `concur-sim` crate, re-exported at its old
//! path) and its wiring beside `serve` from the connector's settings.

pub mod embedded;

pub use concur_sim::*;
