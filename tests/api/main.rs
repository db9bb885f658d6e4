//! Black-box tests: the real server on a random port over real TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod callout_demo;
mod cli;
mod connections;
// One copy of the fake connector, kept with the simulator tests that use it too.
#[path = "../../crates/concur-sim/tests/support/fake_connector.rs"]
mod fake_connector;
mod fetch_attendee;
mod fetch_list;
mod helpers;
// One copy of the independent signer, kept with the protocol crate whose verifier it checks.
#[path = "../../crates/concur-protocol/tests/support/independent_signer.rs"]
mod independent_signer;
mod launch;
mod launch_integrity;
mod logging;
mod notifications_cli;
mod picker;
mod queue_contract;
mod redis;
#[path = "../support/redis_server.rs"]
mod redis_server;
mod saving;
mod test_connection;
mod tls;
mod try_callout;
mod with_simulator;
