//! The `[notification]` table: Concur's Event Notification endpoint and its workers.
//!
//! Kept apart from the queue handle in `notify/mod.rs`, so that `config` can read it
//! without depending on the queue (which depends on `config`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::checks::Problems;

/// The endpoint Concur's documentation registers for the Send Notification service.
pub const DEFAULT_PATH: &str = "/concur/v1.0/notify";

/// The most deciding tasks one instance may run (`notification.workers`).
pub const MAX_WORKERS: usize = 64;

/// `[notification]`: Event Notification (external validation of submitted reports).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// Serve the endpoint and run the workers. Default `true`.
    pub enabled: bool,
    /// The endpoint registered in Concur (Send Notification). Default `/concur/v1.0/notify`.
    pub path: String,
    /// The external validation step's code, sent as `expectedStepCode` so Concur refuses
    /// an action on a report that has moved on. Default `EXTVAL`.
    pub step_code: String,
    /// Concurrent deciding tasks per instance (1 to 64). Default `2`.
    pub workers: usize,
    /// How often an idle worker looks at the queue (it also wakes at once when this
    /// instance enqueues). Default `1s`.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How often Concur's list of FAILED notifications is read; `0s` switches it off.
    /// Default `15m`.
    #[serde(with = "humantime_serde")]
    pub failed_poll_interval: Duration,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            path: DEFAULT_PATH.to_owned(),
            step_code: "EXTVAL".to_owned(),
            workers: 2,
            poll_interval: Duration::from_secs(1),
            failed_poll_interval: Duration::from_secs(15 * 60),
        }
    }
}

impl NotificationSettings {
    /// The checks that need nothing else; the path is checked by `config` with the
    /// connector's other endpoints.
    pub(crate) fn check(&self, problems: &mut Problems) {
        if !self.enabled {
            return;
        }
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            problems.push(
                "notification.workers",
                format!("must be between 1 and {MAX_WORKERS}"),
            );
        }
        if self.poll_interval.is_zero() {
            problems.push("notification.poll_interval", "must be greater than zero");
        }
        let code = self.step_code.as_str();
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_graphic()) {
            problems.push(
                "notification.step_code",
                "must be the external validation step's code as Concur shows it (e.g. EXTVAL): \
                 printable ASCII without spaces",
            );
        }
    }
}
