//! The durable work queue Event Notification will put its notifications in (the endpoint
//! and the worker come next; nothing in the running server uses the queue yet).
//!
//! It sits with the other shared state, with a stronger promise: a lost nonce or session
//! costs a user one retry, while every job here was acknowledged to Concur and must
//! survive a crash. So its embedded backend is a file (not memory), and it has settings of
//! its own (`[queue]`).
//!
//! Semantics, the same for every backend (tests/api/queue_contract.rs runs one suite over
//! each):
//! * [`WorkQueue::enqueue`] is durable when it returns (the embedded file is fsynced, Redis
//!   has answered). While a job with the same key is queued, waiting for a retry or
//!   claimed, a new enqueue merges into it ([`Enqueued::Merged`]); once the job is completed
//!   or dead-lettered the key is free, and the next enqueue is new work.
//! * [`WorkQueue::claim`] hands the due job with the earliest due time to one worker for a
//!   lease. A worker that crashes loses the lease when it expires, and the job is claimed
//!   again (its attempts count up). Each claim is a [`Ticket`]: an outcome reported with a
//!   ticket from an expired claim is refused ([`QueueError::LostClaim`]), so a slow worker
//!   cannot complete a job another worker holds.
//! * [`WorkQueue::retry_later`] puts the job back, due at a given time (see [`Backoff`]);
//!   [`WorkQueue::dead_letter`] parks it for an administrator, who lists, replays or drops
//!   it (`concur-connector notifications list|replay|drop`).
//!
//! Times are Unix milliseconds given by the caller, so the queue never reads a clock and
//! the contract tests need no sleeping.

pub mod admin;
pub mod embedded;
pub mod redis;
#[cfg(unix)]
pub mod socket;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The queue `[queue]` configures: the embedded file, or the `[store]` Redis.
pub async fn open(
    settings: &crate::config::Settings,
) -> Result<std::sync::Arc<dyn WorkQueue>, QueueError> {
    match settings.queue.backend {
        crate::config::QueueBackend::Embedded => Ok(std::sync::Arc::new(
            embedded::EmbeddedQueue::open(&settings.queue.path).await?,
        )),
        crate::config::QueueBackend::Redis => {
            // Validation refuses queue.backend = "redis" without the [store] Redis.
            let redis = settings.store.redis.as_ref().ok_or_else(|| {
                QueueError::Unavailable("queue.backend = \"redis\" needs store.redis_url".into())
            })?;
            Ok(std::sync::Arc::new(redis::RedisQueue::new(redis)?))
        }
    }
}

/// Runs `action` on the queue `[queue]` configures, and returns what to print or the
/// error's text. The embedded file is held by one process: while a server has it open, the
/// action is sent to that server over its administration socket (Unix only) and its answer
/// returned as is.
pub async fn administer(
    settings: &crate::config::Settings,
    action: admin::Action,
) -> Result<String, String> {
    let error = match open(settings).await {
        Ok(queue) => {
            return admin::run(queue.as_ref(), action, now_millis())
                .await
                .map_err(|e| e.to_string());
        }
        Err(error) => error,
    };
    #[cfg(unix)]
    if matches!(
        settings.queue.backend,
        crate::config::QueueBackend::Embedded
    ) && let Ok(answer) = socket::ask(&settings.queue.path, action).await
    {
        return answer;
    }
    Err(error.to_string())
}

/// Milliseconds since the Unix epoch.
pub type UnixMillis = u64;

/// The current time as [`UnixMillis`].
pub fn now_millis() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A job's number, unique within one queue, increasing in enqueue order.
pub type JobId = u64;

/// What an enqueue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job.
    New(JobId),
    /// A job with this key was already in flight; the delivery was merged into it.
    Merged(JobId),
}

impl Enqueued {
    pub fn id(self) -> JobId {
        match self {
            Self::New(id) | Self::Merged(id) => id,
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobState {
    /// Waiting; claimable from `next_attempt` on.
    Queued,
    /// Held by a worker until `until` (then claimable again).
    Claimed { worker: String, until: UnixMillis },
    /// Given up on; only an administrator's replay brings it back.
    Dead,
}

/// One job and its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    /// The dedupe key (for notifications: ObjectURI + EventType).
    pub key: String,
    /// What the worker needs (for notifications: the notification as XML).
    pub payload: String,
    /// Claims so far.
    pub attempts: u32,
    /// Deliveries merged into this job after the first.
    pub redeliveries: u32,
    pub first_seen: UnixMillis,
    /// When the job is due (queued) or was last claimed.
    pub next_attempt: UnixMillis,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub state: JobState,
}

/// The queue's size: jobs queued or claimed, and dead letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Depth {
    pub in_flight: u64,
    pub dead: u64,
}

/// The proof of one claim, needed to report its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub id: JobId,
    /// The job's attempt number this claim made.
    pub attempt: u32,
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub ticket: Ticket,
    pub job: Job,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the work queue is unavailable: {0}")]
    Unavailable(String),
    #[error("the claim on job {0} expired and the job was claimed again or finished")]
    LostClaim(JobId),
    #[error("no job {0}")]
    NotFound(JobId),
    #[error("job {0} is not a dead letter (only dead letters can be replayed or dropped)")]
    NotDead(JobId),
    #[error("the work queue holds a record it cannot read: {0}")]
    Corrupt(String),
}

/// The durable queue; see the module documentation for the contract.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Adds a job for `key`, or merges into the one in flight. Durable when it returns.
    async fn enqueue(
        &self,
        key: &str,
        payload: &str,
        now: UnixMillis,
    ) -> Result<Enqueued, QueueError>;
    /// The due job with the earliest due time (a queued job whose `next_attempt` has come,
    /// or a claimed one whose lease has expired), now held by `worker` for `lease`.
    async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        now: UnixMillis,
    ) -> Result<Option<Claimed>, QueueError>;
    /// The job is done: it is removed and its key is free.
    async fn complete(&self, ticket: Ticket) -> Result<(), QueueError>;
    /// The attempt failed; the job is due again at `at`.
    async fn retry_later(
        &self,
        ticket: Ticket,
        error: &str,
        at: UnixMillis,
    ) -> Result<(), QueueError>;
    /// The job is given up on and parked; its key is free.
    async fn dead_letter(&self, ticket: Ticket, error: &str) -> Result<(), QueueError>;
    /// Every job, queued, claimed and dead, by id.
    async fn jobs(&self) -> Result<Vec<Job>, QueueError>;
    /// A dead letter queued again, due now, its attempts counted afresh; or, when a job with
    /// its key is in flight meanwhile, merged into that one (and the dead letter removed).
    async fn replay(&self, id: JobId, now: UnixMillis) -> Result<Enqueued, QueueError>;
    /// A dead letter removed for good.
    async fn drop_dead(&self, id: JobId) -> Result<(), QueueError>;

    /// How many jobs are in flight and how many are dead letters; cheap (the metrics
    /// gauges and the readiness probe read it).
    async fn depth(&self) -> Result<Depth, QueueError> {
        let jobs = self.jobs().await?;
        let dead = jobs.iter().filter(|j| j.state == JobState::Dead).count() as u64;
        Ok(Depth {
            in_flight: jobs.len() as u64 - dead,
            dead,
        })
    }

    /// The dead letters, by id.
    async fn dead_letters(&self) -> Result<Vec<Job>, QueueError> {
        Ok(self
            .jobs()
            .await?
            .into_iter()
            .filter(|j| j.state == JobState::Dead)
            .collect())
    }
}

/// The ceiling of the first retry's delay (doubling from there up to `queue.max_backoff`).
pub const FIRST_BACKOFF: Duration = Duration::from_secs(5);

/// When to try a failed job again: exponential backoff with full jitter, capped, and a
/// deadline after which the job is dead-lettered. Pure: the random value is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry's delay; doubles with each attempt.
    pub base: Duration,
    /// The largest ceiling (`queue.max_backoff`).
    pub max: Duration,
    /// How long after the first delivery retries stop (`queue.retry_for`).
    pub retry_for: Duration,
}

impl Backoff {
    /// The backoff `[queue]` configures (first ceiling [`FIRST_BACKOFF`]).
    pub fn from_settings(settings: &crate::config::QueueSettings) -> Self {
        Self {
            base: FIRST_BACKOFF.min(settings.max_backoff),
            max: settings.max_backoff,
            retry_for: settings.retry_for,
        }
    }

    /// When attempt `attempts + 1` is due, for a job first seen at `first_seen` whose
    /// attempt `attempts` (1 for the first) failed at `now`; `random` is uniform over
    /// `u64`. The delay is uniform between zero and `min(max, base * 2^(attempts-1))`
    /// ("full jitter", so many failing jobs do not retry in step), and the retry is never
    /// later than the deadline `first_seen + retry_for`. `None` once the deadline has
    /// passed: give up.
    pub fn next_attempt(
        &self,
        attempts: u32,
        first_seen: UnixMillis,
        now: UnixMillis,
        random: u64,
    ) -> Option<UnixMillis> {
        let deadline = first_seen.saturating_add(millis(self.retry_for));
        if now >= deadline {
            return None;
        }
        let doublings = attempts.saturating_sub(1).min(63);
        let ceiling = millis(self.base)
            .saturating_mul(1u64 << doublings)
            .min(millis(self.max));
        let delay = u64::try_from(u128::from(ceiling) * u128::from(random) / u128::from(u64::MAX))
            .unwrap_or(ceiling);
        Some(now.saturating_add(delay).min(deadline))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff {
        base: Duration::from_secs(1),
        max: Duration::from_secs(60),
        retry_for: Duration::from_secs(3600),
    };

    #[test]
    fn backoff_doubles_its_ceiling_up_to_the_cap() {
        let at = |attempts| BACKOFF.next_attempt(attempts, 0, 1000, u64::MAX);
        assert_eq!(at(1), Some(2000));
        assert_eq!(at(2), Some(3000));
        assert_eq!(at(3), Some(5000));
        assert_eq!(at(7), Some(1000 + 60_000));
        assert_eq!(at(200), Some(1000 + 60_000));
    }

    #[test]
    fn backoff_jitter_spans_zero_to_the_ceiling() {
        assert_eq!(BACKOFF.next_attempt(3, 0, 1000, 0), Some(1000));
        assert_eq!(
            BACKOFF.next_attempt(3, 0, 1000, u64::MAX / 2),
            Some(1000 + 1999)
        );
    }

    proptest::proptest! {
        #[test]
        fn backoff_stays_between_now_and_the_ceiling_and_the_deadline(
            attempts in 0u32..100,
            first_seen in 0u64..1 << 50,
            elapsed in 0u64..4_000_000,
            random: u64,
        ) {
            let now = first_seen + elapsed;
            let deadline = first_seen + 3_600_000;
            match BACKOFF.next_attempt(attempts, first_seen, now, random) {
                None => proptest::prop_assert!(now >= deadline),
                Some(at) => {
                    proptest::prop_assert!(now < deadline);
                    proptest::prop_assert!(at >= now && at <= deadline);
                    proptest::prop_assert!(at - now <= 60_000);
                }
            }
        }
    }

    #[test]
    fn backoff_stops_at_the_deadline() {
        // Near the deadline the retry is pulled in to it; at the deadline it gives up.
        assert_eq!(
            BACKOFF.next_attempt(9, 0, 3_590_000, u64::MAX),
            Some(3_600_000)
        );
        assert_eq!(BACKOFF.next_attempt(9, 0, 3_600_000, 0), None);
        assert_eq!(BACKOFF.next_attempt(1, 5, 3_600_005, 0), None);
        assert_eq!(BACKOFF.next_attempt(1, 5, 3_600_004, 0), Some(3_600_004));
    }
}
