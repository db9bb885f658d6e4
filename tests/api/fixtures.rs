//! Fixtures every test module shares: the connector's test credentials, the ids of the
//! simulator's built-in seed, free ports, and the one polling helper.

use std::time::Duration;

/// The connector's Basic credentials in every test configuration (the password has a colon,
/// which Basic must keep).
pub const USERNAME: &str = "TestConnectorUser";
pub const PASSWORD: &str = "s3cret:with-colon!";

/// Ids in the simulator's built-in seed (src/sim/seed.json).
pub mod seed {
    /// Jane owns the seeded reports; Alex is a second user (an approver).
    pub const JANE: &str = "32c2fcc3-b2e8-4907-9672-5b3f49b1c643";
    pub const ALEX: &str = "a1b2c3d4-0000-4000-8000-000000000abc";
    pub const REPORT: &str = "764428DD6A664AF0BFCB";
    pub const MAX_REPORT: &str = "5C9A0B7E3D1F42A8B6E0";
    pub const LUNCH: &str = "84FCBB92BD4E5342B849DAC29FD163A1";
    pub const SUPPLIES: &str = "29EE3C62F5D844458828A5C1086072D1";
    pub const FLIGHT: &str = "9D41E6A0C2B84F7E8A15B3C7D9E2F604";
    pub const ALLOCATION: &str = "3BBB494511E1C74DA04469C45B039871";
    /// The same report and entries under their v3/v1 ids.
    pub const REPORT_V1: &str = "nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw";
    pub const LUNCH_V1: &str = "nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U";
    pub const SUPPLIES_V1: &str = "gWidFO7ikXV66iSvqtG6Yd0wZ$s4ftzvzTCg";
    /// Cost centers: `CC-100` Engineering, `CC-200` Marketing, `CC-400` Facilities.
    pub const ENGINEERING_ID: &str = "058713001E2CD943824280D9275FDC3F";
    pub const MARKETING_ID: &str = "D3954B47BCEC9446A4FFC49E0000B46E";
    pub const FACILITIES_ID: &str = "AB8596D91C994F4DBBD820D6DCBDC599";
    /// Departments: `D-10` Research, `D-20` Operations.
    pub const RESEARCH_ID: &str = "4366A89A916F074099A971B000989A94";
    pub const OPERATIONS_ID: &str = "E31CB42509F9FF408BA7DD6713AB49BD";
    /// Jane's travel request (Concur Request), its hotel expected expense and that
    /// expense's allocation.
    pub const TRAVEL_REQUEST: &str = "E82B0B803671004B9A5D952F34FBD01E";
    pub const TRAVEL_HOTEL: &str = "E81EACAFC8C54402A0E0F568D6FD5118";
    pub const TRAVEL_ALLOCATION: &str = "43E2B352E55B44F0938A89E53C218CD8";
}

/// How long any one wait may take before the test fails (a guard, not a measurement).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A port that was free a moment ago (for servers whose port must be known before they bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it yields a value; fails naming `what` after [`PATIENCE`].
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// [`eventually`] for a condition.
pub async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    eventually(what, async || check().await.then_some(())).await;
}

/// Tables of the embedded development profile (`config/development.toml`), as TOML: the
/// first-run demo's own settings for a test server.
pub fn development_tables(names: &[&str]) -> String {
    let demo: toml::Table = include_str!("../../config/development.toml")
        .parse()
        .unwrap();
    let tables: toml::Table = demo
        .into_iter()
        .filter(|(key, _)| names.contains(&key.as_str()))
        .collect();
    toml::to_string(&tables).unwrap()
}
