//! Black-box tests: the real server on a random port over real TLS, the Concur client
//! against the simulator, the stores against a real redis-server, the value sources, and the
//! user's flow in headless Chromium. One binary: nextest runs each test in its own process.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod callout_demo;
mod cli;
mod client_gaps;
mod cluster;
mod concur_contract;
// One copy of the client's test helpers, kept with the client.
#[path = "../../crates/concur-client/tests/support/concur/mod.rs"]
mod concur_support;
mod connections;
mod deploy;
mod doctor;
// One copy of the fake connector, kept with the simulator tests that use it too.
#[path = "../../crates/concur-sim/tests/support/fake_connector.rs"]
mod fake_connector;
mod fetch_attendee;
mod fetch_list;
mod fixtures;
mod helpers;
mod hostile_bodies;
// One copy of the independent signer, kept with the protocol crate whose verifier it checks.
#[path = "../../crates/concur-protocol/tests/support/independent_signer.rs"]
mod independent_signer;
mod launch;
mod launch_integrity;
mod logging;
mod metrics;
mod notifications_cli;
mod notify_demo;
mod notify_endpoint;
mod notify_worker;
mod picker;
mod queue_contract;
mod queue_redis;
mod redis;
mod redis_failover;
mod redis_server;
mod redis_store;
mod redis_tls;
mod request_launch;
mod request_picker;
mod saving;
mod store_contract;
mod test_connection;
mod tls;
mod try_callout;
mod validation;
mod values;
mod with_simulator;

/// The client's configuration from a `[concur]` table (for [`concur_support`]), validated the
/// way start-up does, in development mode (wiremock speaks plain http, which production
/// refuses).
fn client_config(settings: serde_json::Value) -> concur_connector::concur::ClientConfig {
    use concur_connector::concur::ConcurSettings;
    use concur_connector::config::{Mode, Problems};
    let settings: ConcurSettings = serde_json::from_value(settings).expect("settings parse");
    let mut problems = Problems::default();
    settings
        .validate(&mut problems, Mode::Development)
        .unwrap_or_else(|| panic!("settings invalid: {:?}", problems.into_vec()))
}
