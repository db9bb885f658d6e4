//! The work queue in one local file, for a single instance: [redb], an embedded
//! transactional key-value store (copy-on-write B-trees, crash-safe, every commit fsynced).
//!
//! Tables: `jobs` (id → the job as JSON), `keys` (dedupe key → id, for jobs in flight),
//! `due` ((due time, id) → (), for queued jobs at their next attempt and claimed jobs at
//! their lease's end, so a claim reads the first entry) and `meta` (the next id). Every
//! operation runs in a write transaction, so operations are serialised and two claimers
//! never get the same job. redb's calls block; they run on Tokio's blocking threads.
//!
//! Enqueues are committed in groups: while one commit (and its fsync) is under way, the
//! enqueues that arrive wait and then share the next transaction, so many notifications
//! arriving at once cost one fsync each group rather than each waiting for all the fsyncs
//! before it. Each enqueue still returns only after the commit that holds it.
//!
//! A redb file is held by one process at a time: while the server has it open, the CLI
//! asks the server over the queue's administration socket (`socket.rs`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use redb::{
    Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use tokio::sync::oneshot;

use super::{
    Claimed, Enqueued, Job, JobId, JobState, QueueError, Ticket, UnixMillis, WorkQueue, millis,
};

const JOBS: TableDefinition<u64, &str> = TableDefinition::new("jobs");
const KEYS: TableDefinition<&str, u64> = TableDefinition::new("keys");
const DUE: TableDefinition<(u64, u64), ()> = TableDefinition::new("due");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const NEXT_ID: &str = "next_id";

macro_rules! unavailable_from {
    ($($error:ty),*) => {$(
        impl From<$error> for QueueError {
            fn from(e: $error) -> Self {
                crate::metrics::store_error(crate::metrics::Store::Queue);
                QueueError::Unavailable(e.to_string())
            }
        }
    )*};
}
unavailable_from!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The queue in a redb file.
#[derive(Clone)]
pub struct EmbeddedQueue {
    db: Arc<Database>,
    batch: Arc<Mutex<Batch>>,
}

/// Enqueues waiting for the next group commit.
#[derive(Default)]
struct Batch {
    pending: Vec<PendingEnqueue>,
    /// A blocking task is committing; it takes what is pending when it is done.
    writing: bool,
}

struct PendingEnqueue {
    key: String,
    payload: String,
    now: UnixMillis,
    done: oneshot::Sender<Result<Enqueued, QueueError>>,
}

fn lock(batch: &Mutex<Batch>) -> std::sync::MutexGuard<'_, Batch> {
    batch
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Commits the pending enqueues, group after group, until none is left. The waiting
/// callers get their own outcome each: when a group fails, its enqueues are tried one by
/// one, so one bad record does not fail the others.
fn commit_groups(db: Arc<Database>, batch: &Mutex<Batch>) {
    // Should this thread panic, the next enqueue starts a new writer (the waiting ones see
    // their sender dropped: the queue is unavailable for them).
    struct Writing<'a>(&'a Mutex<Batch>);
    impl Drop for Writing<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                lock(self.0).writing = false;
            }
        }
    }
    let _writing = Writing(batch);
    let mut group = std::mem::take(&mut lock(batch).pending);
    loop {
        let outcomes = commit_group(&db, &group);
        let next = {
            let mut batch = lock(batch);
            let next = std::mem::take(&mut batch.pending);
            batch.writing = !next.is_empty();
            next
        };
        if next.is_empty() {
            // The file is let go before the last callers hear back, so a caller that then
            // drops its queue finds the file free (for the CLI, say).
            drop(db);
            answer(group, outcomes);
            return;
        }
        answer(group, outcomes);
        group = next;
    }
}

fn commit_group(db: &Database, group: &[PendingEnqueue]) -> Vec<Result<Enqueued, QueueError>> {
    let together = write_blocking(db, |txn| {
        group
            .iter()
            .map(|p| enqueue_in(txn, p))
            .collect::<Result<Vec<_>, _>>()
    });
    match together {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(_) if group.len() > 1 => group
            .iter()
            .map(|p| write_blocking(db, |txn| enqueue_in(txn, p)))
            .collect(),
        Err(error) => vec![Err(error)],
    }
}

fn answer(group: Vec<PendingEnqueue>, outcomes: Vec<Result<Enqueued, QueueError>>) {
    for (pending, outcome) in group.into_iter().zip(outcomes) {
        // A caller that stopped waiting (its request was dropped) is enqueued all the same.
        let _ = pending.done.send(outcome);
    }
}

fn enqueue_in(txn: &WriteTransaction, p: &PendingEnqueue) -> Result<Enqueued, QueueError> {
    match in_flight(txn, &p.key)? {
        Some(id) => merge(txn, id).map(|()| Enqueued::Merged(id)),
        None => new_job(txn, &p.key, &p.payload, p.now).map(Enqueued::New),
    }
}

/// One write transaction, committed when `f` succeeds (blocking).
fn write_blocking<T>(
    db: &Database,
    f: impl FnOnce(&WriteTransaction) -> Result<T, QueueError>,
) -> Result<T, QueueError> {
    let mut txn = db.begin_write()?;
    // Immediate (redb's default, stated here because the contract depends on it): the
    // commit returns after the file is fsynced.
    txn.set_durability(Durability::Immediate);
    let value = f(&txn)?;
    txn.commit()?;
    Ok(value)
}

impl EmbeddedQueue {
    /// Opens the file, creating it (and its directory) when missing.
    pub async fn open(path: &Path) -> Result<Self, QueueError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path))
            .await
            .map_err(|e| QueueError::Unavailable(e.to_string()))?
    }

    fn open_blocking(path: &PathBuf) -> Result<Self, QueueError> {
        let shown = path.display();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                QueueError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => QueueError::Unavailable(format!(
                "{shown} is open in another process (a running server?)"
            )),
            other => QueueError::Unavailable(format!("cannot open {shown}: {other}")),
        })?;
        let txn = db.begin_write()?;
        {
            // Create the tables, so reads never meet a missing one.
            txn.open_table(JOBS)?;
            txn.open_table(KEYS)?;
            txn.open_table(DUE)?;
            txn.open_table(META)?;
        }
        txn.commit()?;
        Ok(Self {
            db: Arc::new(db),
            batch: Arc::default(),
        })
    }

    /// Runs `f` in one write transaction on a blocking thread, committing when it succeeds.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || write_blocking(&db, f))
            .await
            .map_err(|e| QueueError::Unavailable(e.to_string()))?
    }
}

fn read_job(txn: &WriteTransaction, id: JobId) -> Result<Option<Job>, QueueError> {
    let jobs = txn.open_table(JOBS)?;
    let Some(record) = jobs.get(id)? else {
        return Ok(None);
    };
    serde_json::from_str(record.value())
        .map(Some)
        .map_err(|e| QueueError::Corrupt(format!("job {id}: {e}")))
}

fn write_job(txn: &WriteTransaction, job: &Job) -> Result<(), QueueError> {
    let record = serde_json::to_string(job).map_err(|e| QueueError::Corrupt(e.to_string()))?;
    txn.open_table(JOBS)?.insert(job.id, record.as_str())?;
    Ok(())
}

/// The `due` entry a job has in its state (none for a dead letter).
fn due_at(job: &Job) -> Option<UnixMillis> {
    match &job.state {
        JobState::Queued => Some(job.next_attempt),
        JobState::Claimed { until, .. } => Some(*until),
        JobState::Dead => None,
    }
}

/// Replaces `old` by `new` in `jobs` and `due`.
fn update(txn: &WriteTransaction, old: &Job, new: &Job) -> Result<(), QueueError> {
    let mut due = txn.open_table(DUE)?;
    if let Some(at) = due_at(old) {
        due.remove((at, old.id))?;
    }
    if let Some(at) = due_at(new) {
        due.insert((at, new.id), ())?;
    }
    drop(due);
    write_job(txn, new)
}

/// The job a ticket's claim still holds.
fn claimed_job(txn: &WriteTransaction, ticket: Ticket) -> Result<Job, QueueError> {
    match read_job(txn, ticket.id)? {
        Some(job)
            if matches!(job.state, JobState::Claimed { .. }) && job.attempts == ticket.attempt =>
        {
            Ok(job)
        }
        _ => Err(QueueError::LostClaim(ticket.id)),
    }
}

fn in_flight(txn: &WriteTransaction, key: &str) -> Result<Option<JobId>, QueueError> {
    Ok(txn.open_table(KEYS)?.get(key)?.map(|id| id.value()))
}

fn new_job(
    txn: &WriteTransaction,
    key: &str,
    payload: &str,
    now: UnixMillis,
) -> Result<JobId, QueueError> {
    let id = {
        let mut meta = txn.open_table(META)?;
        let id = meta.get(NEXT_ID)?.map_or(1, |v| v.value());
        meta.insert(NEXT_ID, id + 1)?;
        id
    };
    let job = Job {
        id,
        key: key.to_owned(),
        payload: payload.to_owned(),
        attempts: 0,
        redeliveries: 0,
        first_seen: now,
        next_attempt: now,
        last_error: None,
        state: JobState::Queued,
    };
    txn.open_table(KEYS)?.insert(key, id)?;
    txn.open_table(DUE)?.insert((now, id), ())?;
    write_job(txn, &job)?;
    Ok(id)
}

fn merge(txn: &WriteTransaction, id: JobId) -> Result<(), QueueError> {
    let mut job = read_job(txn, id)?.ok_or(QueueError::Corrupt(format!(
        "the dedupe key of job {id} outlived the job"
    )))?;
    job.redeliveries = job.redeliveries.saturating_add(1);
    write_job(txn, &job)
}

/// Removes a job that leaves the flight (completed or dead): its `due` entry and its key.
fn release(txn: &WriteTransaction, job: &Job) -> Result<(), QueueError> {
    if let Some(at) = due_at(job) {
        txn.open_table(DUE)?.remove((at, job.id))?;
    }
    let mut keys = txn.open_table(KEYS)?;
    if keys.get(job.key.as_str())?.map(|id| id.value()) == Some(job.id) {
        keys.remove(job.key.as_str())?;
    }
    Ok(())
}

#[async_trait]
impl WorkQueue for EmbeddedQueue {
    async fn enqueue(
        &self,
        key: &str,
        payload: &str,
        now: UnixMillis,
    ) -> Result<Enqueued, QueueError> {
        let (done, outcome) = oneshot::channel();
        let lead = {
            let mut batch = lock(&self.batch);
            batch.pending.push(PendingEnqueue {
                key: key.to_owned(),
                payload: payload.to_owned(),
                now,
                done,
            });
            !std::mem::replace(&mut batch.writing, true)
        };
        if lead {
            let (db, batch) = (self.db.clone(), self.batch.clone());
            tokio::task::spawn_blocking(move || commit_groups(db, &batch));
        }
        outcome
            .await
            .map_err(|_| QueueError::Unavailable("the queue's writer stopped".to_owned()))?
    }

    async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        now: UnixMillis,
    ) -> Result<Option<Claimed>, QueueError> {
        let worker = worker.to_owned();
        self.write(move |txn| {
            let first = {
                let due = txn.open_table(DUE)?;
                let mut range = due.range(..=(now, u64::MAX))?;
                match range.next() {
                    Some(entry) => Some(entry?.0.value().1),
                    None => None,
                }
            };
            let Some(id) = first else {
                return Ok(None);
            };
            let old = read_job(txn, id)?
                .ok_or(QueueError::Corrupt(format!("job {id} is due but missing")))?;
            let mut job = old.clone();
            job.attempts = job.attempts.saturating_add(1);
            job.next_attempt = now;
            job.state = JobState::Claimed {
                worker,
                until: now.saturating_add(millis(lease)),
            };
            update(txn, &old, &job)?;
            Ok(Some(Claimed {
                ticket: Ticket {
                    id,
                    attempt: job.attempts,
                },
                job,
            }))
        })
        .await
    }

    async fn complete(&self, ticket: Ticket) -> Result<(), QueueError> {
        self.write(move |txn| {
            let job = claimed_job(txn, ticket)?;
            release(txn, &job)?;
            txn.open_table(JOBS)?.remove(job.id)?;
            Ok(())
        })
        .await
    }

    async fn retry_later(
        &self,
        ticket: Ticket,
        error: &str,
        at: UnixMillis,
    ) -> Result<(), QueueError> {
        let error = error.to_owned();
        self.write(move |txn| {
            let old = claimed_job(txn, ticket)?;
            let mut job = old.clone();
            job.last_error = Some(error);
            job.next_attempt = at;
            job.state = JobState::Queued;
            update(txn, &old, &job)
        })
        .await
    }

    async fn dead_letter(&self, ticket: Ticket, error: &str) -> Result<(), QueueError> {
        let error = error.to_owned();
        self.write(move |txn| {
            let old = claimed_job(txn, ticket)?;
            release(txn, &old)?;
            let mut job = old;
            job.last_error = Some(error);
            job.state = JobState::Dead;
            write_job(txn, &job)
        })
        .await
    }

    async fn depth(&self) -> Result<super::Depth, QueueError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read()?;
            // A job in flight holds its key; a dead letter has given it up.
            let all = txn.open_table(JOBS)?.len()?;
            let in_flight = txn.open_table(KEYS)?.len()?;
            Ok(super::Depth {
                in_flight,
                dead: all.saturating_sub(in_flight),
            })
        })
        .await
        .map_err(|e| QueueError::Unavailable(e.to_string()))?
    }

    async fn jobs(&self) -> Result<Vec<Job>, QueueError> {
        self.write(|txn| {
            let jobs = txn.open_table(JOBS)?;
            let mut all = Vec::new();
            for entry in jobs.iter()? {
                let (id, record) = entry?;
                let id = id.value();
                all.push(
                    serde_json::from_str(record.value())
                        .map_err(|e| QueueError::Corrupt(format!("job {id}: {e}")))?,
                );
            }
            Ok(all)
        })
        .await
    }

    async fn replay(&self, id: JobId, now: UnixMillis) -> Result<Enqueued, QueueError> {
        self.write(move |txn| {
            let old = read_job(txn, id)?.ok_or(QueueError::NotFound(id))?;
            if old.state != JobState::Dead {
                return Err(QueueError::NotDead(id));
            }
            if let Some(other) = in_flight(txn, &old.key)? {
                merge(txn, other)?;
                txn.open_table(JOBS)?.remove(id)?;
                return Ok(Enqueued::Merged(other));
            }
            let mut job = old.clone();
            job.attempts = 0;
            job.first_seen = now;
            job.next_attempt = now;
            job.state = JobState::Queued;
            txn.open_table(KEYS)?.insert(job.key.as_str(), id)?;
            update(txn, &old, &job)?;
            Ok(Enqueued::New(id))
        })
        .await
    }

    async fn drop_dead(&self, id: JobId) -> Result<(), QueueError> {
        self.write(move |txn| {
            let job = read_job(txn, id)?.ok_or(QueueError::NotFound(id))?;
            if job.state != JobState::Dead {
                return Err(QueueError::NotDead(id));
            }
            txn.open_table(JOBS)?.remove(id)?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_enqueues_are_committed_in_groups_each_with_its_own_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let queue = EmbeddedQueue::open(&dir.path().join("q.redb"))
            .await
            .unwrap();
        // 40 reports, each delivered twice, all at once.
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..80 {
            let queue = queue.clone();
            tasks.spawn(async move {
                let key = format!("report-{}", n % 40);
                queue.enqueue(&key, "payload", 1000).await.unwrap()
            });
        }
        let outcomes = tasks.join_all().await;
        let mut new: Vec<JobId> = outcomes
            .iter()
            .filter(|o| matches!(o, Enqueued::New(_)))
            .map(|o| o.id())
            .collect();
        new.sort_unstable();
        new.dedup();
        assert_eq!(new.len(), 40, "one new job per key: {outcomes:?}");
        let merged = outcomes.iter().filter(|o| matches!(o, Enqueued::Merged(_)));
        assert_eq!(merged.count(), 40, "{outcomes:?}");
        let jobs = queue.jobs().await.unwrap();
        assert_eq!(jobs.len(), 40);
        assert!(jobs.iter().all(|j| j.redeliveries == 1), "{jobs:?}");
        assert_eq!(
            jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
            new,
            "every outcome names its stored job"
        );
        // And the writer is free again: the next enqueue is committed on its own.
        let next = queue.enqueue("report-late", "payload", 2000).await.unwrap();
        assert!(matches!(next, Enqueued::New(_)), "{next:?}");
    }
}
