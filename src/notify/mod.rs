//! Event Notification in the connector (docs/protocol.md §12.4): Concur posts a
//! `<Notification>` when an expense report reaches an external validation step; the
//! endpoint (`routes/notify.rs`) stores it durably in the work queue and acknowledges it,
//! and the workers decide out of band.
//!
//! This module holds what the endpoint and the workers share: the `[notification]`
//! settings, the job payload and the queue handle.

pub mod audit;
pub mod failed;
pub mod settings;
pub mod worker;

use std::sync::Arc;

use concur_protocol::callout::notification::{Notification, NotificationError};
use serde::{Deserialize, Serialize};

pub use settings::NotificationSettings;

use crate::checks::ConfigProblem;
use crate::config::{QueueBackend, Settings};
use crate::store::queue::{self, Enqueued, QueueError, UnixMillis, WorkQueue};

/// The job payload stored in the work queue (JSON): what the worker needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// The notification as `Notification::render()` wrote it (canonical XML).
    pub notification: String,
    /// When it came from Concur's FAILED list: its NotificationURI, deleted once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_uri: Option<String>,
}

impl Payload {
    /// The payload of a job, as [`Notifications::accept`] stored it.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The notification it carries.
    pub fn notification(&self) -> Result<Notification, NotificationError> {
        Notification::parse(self.notification.as_bytes())
    }
}

/// The queue the endpoint writes and the workers read, with a wake-up for local enqueues.
#[derive(Clone)]
pub struct Notifications {
    pub queue: Arc<dyn WorkQueue>,
    pub wakeup: Arc<tokio::sync::Notify>,
}

impl Notifications {
    /// A handle on `queue`.
    pub fn new(queue: Arc<dyn WorkQueue>) -> Self {
        Self {
            queue,
            wakeup: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Opens the configured queue (`None` when `notification.enabled = false`). A queue
    /// that cannot be opened is a configuration problem naming the key to fix.
    pub async fn open(settings: &Settings) -> Result<Option<Self>, Vec<ConfigProblem>> {
        if !settings.notification.enabled {
            return Ok(None);
        }
        let key = match settings.queue.backend {
            QueueBackend::Embedded => "queue.path",
            QueueBackend::Redis => "store.redis_url",
        };
        match queue::open(settings).await {
            Ok(queue) => Ok(Some(Self::new(queue))),
            Err(error) => Err(vec![ConfigProblem::new(key, error.to_string())]),
        }
    }

    /// Durably enqueues (key = `notification.dedupe_key()`), then wakes a local worker.
    /// A redelivery while the job is in flight merges into it ([`Enqueued::Merged`]).
    pub async fn accept(
        &self,
        n: &Notification,
        failed_uri: Option<&str>,
        now: UnixMillis,
    ) -> Result<Enqueued, QueueError> {
        let payload = Payload {
            notification: n.render(),
            failed_uri: failed_uri.map(str::to_owned),
        };
        let json = serde_json::to_string(&payload)
            .map_err(|e| QueueError::Corrupt(format!("cannot write the payload: {e}")))?;
        let enqueued = self.queue.enqueue(&n.dedupe_key(), &json, now).await?;
        self.wakeup.notify_one();
        Ok(enqueued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::queue::embedded::EmbeddedQueue;

    const EXAMPLE: &str = concur_protocol::callout::conformance::NOTIFICATION_EXAMPLE;

    #[tokio::test]
    async fn accept_stores_the_rendered_notification_and_merges_a_redelivery() {
        let dir = tempfile::tempdir().unwrap();
        let queue = EmbeddedQueue::open(&dir.path().join("q.redb"))
            .await
            .unwrap();
        let notifications = Notifications::new(Arc::new(queue));
        let n = Notification::parse(EXAMPLE.as_bytes()).unwrap();

        let first = notifications.accept(&n, None, 1000).await.unwrap();
        let again = notifications
            .accept(&n, Some("https://x/notification/1"), 2000)
            .await
            .unwrap();
        assert!(matches!(first, Enqueued::New(_)), "{first:?}");
        assert_eq!(again, Enqueued::Merged(first.id()));

        let jobs = notifications.queue.jobs().await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].key, n.dedupe_key());
        assert_eq!(jobs[0].redeliveries, 1);
        let payload = Payload::from_json(&jobs[0].payload).unwrap();
        assert_eq!(payload.failed_uri, None);
        assert_eq!(payload.notification().unwrap(), n);
    }

    #[tokio::test]
    async fn accept_wakes_a_waiting_worker() {
        let dir = tempfile::tempdir().unwrap();
        let queue = EmbeddedQueue::open(&dir.path().join("q.redb"))
            .await
            .unwrap();
        let notifications = Notifications::new(Arc::new(queue));
        let woken = notifications.wakeup.clone();
        let waiting = tokio::spawn(async move { woken.notified().await });
        let n = Notification::parse(EXAMPLE.as_bytes()).unwrap();
        notifications.accept(&n, None, 1).await.unwrap();
        // `notify_one` stores a permit when nobody waits yet, so this cannot hang.
        waiting.await.unwrap();
    }

    #[test]
    fn a_failed_uri_is_carried_and_absent_when_none() {
        let with = Payload {
            notification: "<Notification/>".to_owned(),
            failed_uri: Some("https://www.concursolutions.com/n/1".to_owned()),
        };
        let json = serde_json::to_string(&with).unwrap();
        assert_eq!(Payload::from_json(&json).unwrap(), with);
        let without = Payload {
            failed_uri: None,
            ..with
        };
        let json = serde_json::to_string(&without).unwrap();
        assert!(!json.contains("failed_uri"), "{json}");
        assert_eq!(Payload::from_json(&json).unwrap(), without);
    }
}
