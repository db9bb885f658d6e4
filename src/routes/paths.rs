//! The connector's fixed paths, in one place. The launch endpoints' paths are settings
//! (`launch.v4_path`, `launch.v1_path`, `launch.request_path`); `config` refuses ones that fall under these.

/// Concur's registration probe (docs/protocol.md §2); `v2.0` is seen in the wild.
pub const TEST_CONNECTION: [&str; 2] =
    ["/system/v1.0/testconnection", "/system/v2.0/testconnection"];
/// Liveness: 200 while the process runs.
pub const HEALTHZ: &str = "/healthz";
/// Readiness: 503 while draining (or while Redis does not answer).
pub const READYZ: &str = "/readyz";
/// The clean URL the popup lives on after a verified launch.
pub const SESSION: &str = "/launch/session";
/// Where the picker's form posts.
pub const DONE: &str = "/launch/session/done";
