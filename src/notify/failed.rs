//! The FAILED-list job (docs/protocol.md §12.4): Concur keeps the notifications it could
//! not deliver (the connector was down, or answered something other than 200) in a list
//! of its notification status API. Every `notification.failed_poll_interval` (the first
//! time shortly after start), the list is read and each entry queued like a delivery, with
//! its `NotificationURI`; the worker deletes the entry in Concur once the report is decided
//! or dropped.
//!
//! On several instances every one may run it: an entry queued twice merges into one job
//! (the same dedupe key as the delivery it replaces), and one already decided is dropped
//! by the worker's step check and deleted. An entry that merges into a job already in
//! flight (queued from a delivery, so without the URI) stays in the list and is deleted
//! after the next read, once that job is done.

use std::time::Duration;

use tokio::sync::watch;

use super::Notifications;
use crate::concur::ConcurClient;
use crate::store::queue::{Enqueued, now_millis};

/// The longest wait before the first read of the list after start.
const FIRST_RUN_AFTER: Duration = Duration::from_secs(30);

/// Starts the periodic job (`None` when `interval` is zero: switched off).
pub fn spawn(
    concur: ConcurClient,
    notifications: Notifications,
    interval: Duration,
    stop: &watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    if interval.is_zero() {
        return None;
    }
    let mut stop = stop.clone();
    Some(tokio::spawn(async move {
        let mut wait = interval.min(FIRST_RUN_AFTER);
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            poll_once(&concur, &notifications).await;
            wait = interval;
        }
    }))
}

/// Reads the FAILED list once and queues every entry; returns how many were new work.
pub async fn poll_once(concur: &ConcurClient, notifications: &Notifications) -> usize {
    let failed = match concur.failed_notifications().await {
        Ok(failed) => failed,
        Err(error) => {
            tracing::warn!(%error, "cannot read concur's failed notifications; trying again at the next interval");
            return 0;
        }
    };
    let mut new = 0;
    for entry in &failed {
        match notifications
            .accept(
                &entry.notification,
                Some(&entry.notification_uri),
                now_millis(),
            )
            .await
        {
            Ok(Enqueued::New(job)) => {
                new += 1;
                tracing::info!(job, "failed notification queued");
            }
            Ok(Enqueued::Merged(job)) => {
                tracing::debug!(job, "failed notification merged into the job in flight");
            }
            Err(error) => {
                tracing::warn!(%error, "cannot queue a failed notification; trying again at the next interval");
            }
        }
    }
    if !failed.is_empty() {
        tracing::info!(
            listed = failed.len(),
            new,
            "concur's failed notifications read"
        );
    }
    new
}
