//! The work queue's contract, written once over `&dyn WorkQueue` and run against each
//! backend for real: the embedded redb file in a temporary directory and a real
//! `redis-server`.
//! Times are passed in, so nothing here sleeps or measures.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use concur_connector::store::queue::embedded::EmbeddedQueue;
use concur_connector::store::queue::redis::RedisQueue;
use concur_connector::store::queue::{Enqueued, JobState, QueueError, WorkQueue};
use concur_connector::store::redis::RedisSettings;

const LEASE: Duration = Duration::from_secs(30);
const T0: u64 = 1_700_000_000_000;

/// Generates one `#[tokio::test]` per backend for each contract function.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let queue = super::embedded_at(&dir.path().join("queue.redb")).await;
                    super::$name(queue).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = crate::redis_server::RedisServer::start();
                    let queue = super::redis_at(&server.url());
                    super::$name(queue).await;
                }
            )*
        }
    };
}

contract!(
    redelivery_merges_while_queued_and_while_claimed,
    completed_work_frees_its_key,
    an_expired_claim_is_taken_over_and_the_old_ticket_is_refused,
    concurrent_claimers_never_share_a_job,
    retries_come_due_in_order_and_dead_letters_are_parked,
    replay_and_drop_dead_letters,
);

fn redis_at(url: &str) -> Arc<dyn WorkQueue> {
    Arc::new(
        RedisQueue::new(&RedisSettings {
            url: concur_connector::config::secret(url),
            key_prefix: "test:".to_owned(),
            timeout: Duration::from_secs(5),
            username: None,
            password: None,
            tls: Default::default(),
        })
        .unwrap(),
    )
}

async fn embedded_at(path: &std::path::Path) -> Arc<dyn WorkQueue> {
    Arc::new(EmbeddedQueue::open(path).await.unwrap())
}

async fn redelivery_merges_while_queued_and_while_claimed(q: Arc<dyn WorkQueue>) {
    let first = q.enqueue("report-1", "<a/>", T0).await.unwrap();
    let Enqueued::New(id) = first else {
        panic!("the first delivery is new: {first:?}")
    };
    assert_eq!(
        q.enqueue("report-1", "<b/>", T0 + 1).await.unwrap(),
        Enqueued::Merged(id)
    );
    let other = q.enqueue("report-2", "<c/>", T0 + 2).await.unwrap();
    assert!(matches!(other, Enqueued::New(o) if o != id), "{other:?}");

    let claimed = q.claim("w1", LEASE, T0 + 10).await.unwrap().unwrap();
    assert_eq!(claimed.job.id, id, "the earliest job is claimed first");
    assert_eq!(
        claimed.job.payload, "<a/>",
        "a merge keeps the first payload"
    );
    assert_eq!(
        q.enqueue("report-1", "<d/>", T0 + 11).await.unwrap(),
        Enqueued::Merged(id)
    );
    let jobs = q.jobs().await.unwrap();
    let job = jobs.iter().find(|j| j.id == id).unwrap();
    assert_eq!(job.redeliveries, 2);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.first_seen, T0);
    assert!(matches!(&job.state, JobState::Claimed { worker, .. } if worker == "w1"));
}

async fn completed_work_frees_its_key(q: Arc<dyn WorkQueue>) {
    let Enqueued::New(id) = q.enqueue("k", "p", T0).await.unwrap() else {
        panic!("new")
    };
    let claimed = q.claim("w", LEASE, T0).await.unwrap().unwrap();
    q.complete(claimed.ticket).await.unwrap();
    assert!(
        q.jobs().await.unwrap().is_empty(),
        "a completed job is gone"
    );
    assert!(matches!(
        q.complete(claimed.ticket).await,
        Err(QueueError::LostClaim(_))
    ));
    let again = q.enqueue("k", "p2", T0 + 5).await.unwrap();
    assert!(matches!(again, Enqueued::New(n) if n > id), "{again:?}");
    assert!(q.claim("w", LEASE, T0 + 5).await.unwrap().is_some());
    assert!(q.claim("w", LEASE, T0 + 5).await.unwrap().is_none());
}

async fn an_expired_claim_is_taken_over_and_the_old_ticket_is_refused(q: Arc<dyn WorkQueue>) {
    q.enqueue("k", "p", T0).await.unwrap();
    let first = q.claim("crashed", LEASE, T0).await.unwrap().unwrap();
    let lease_end = T0 + LEASE.as_millis() as u64;
    assert!(
        q.claim("w2", LEASE, lease_end - 1).await.unwrap().is_none(),
        "a live claim is not taken"
    );
    let second = q.claim("w2", LEASE, lease_end).await.unwrap().unwrap();
    assert_eq!(second.job.id, first.job.id);
    assert_eq!(second.job.attempts, 2);
    assert!(matches!(
        q.complete(first.ticket).await,
        Err(QueueError::LostClaim(id)) if id == first.job.id
    ));
    assert!(matches!(
        q.retry_later(first.ticket, "late", lease_end).await,
        Err(QueueError::LostClaim(_))
    ));
    q.complete(second.ticket).await.unwrap();
    assert!(q.jobs().await.unwrap().is_empty());
}

async fn concurrent_claimers_never_share_a_job(q: Arc<dyn WorkQueue>) {
    for n in 0..20 {
        q.enqueue(&format!("k{n}"), "p", T0 + n).await.unwrap();
    }
    let mut workers = Vec::new();
    for w in 0..4 {
        let q = q.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(c) = q.claim(&format!("w{w}"), LEASE, T0 + 100).await.unwrap() {
                mine.push(c.job.id);
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    for worker in workers {
        for id in worker.await.unwrap() {
            assert!(seen.insert(id), "job {id} was claimed twice");
        }
    }
    assert_eq!(seen.len(), 20);
}

async fn retries_come_due_in_order_and_dead_letters_are_parked(q: Arc<dyn WorkQueue>) {
    q.enqueue("a", "pa", T0).await.unwrap();
    q.enqueue("b", "pb", T0 + 1).await.unwrap();
    let a = q.claim("w", LEASE, T0 + 2).await.unwrap().unwrap();
    let b = q.claim("w", LEASE, T0 + 2).await.unwrap().unwrap();
    assert_eq!((a.job.key.as_str(), b.job.key.as_str()), ("a", "b"));
    // a is due later than b.
    q.retry_later(a.ticket, "a failed", T0 + 2000)
        .await
        .unwrap();
    q.retry_later(b.ticket, "b failed", T0 + 1000)
        .await
        .unwrap();
    assert!(q.claim("w", LEASE, T0 + 999).await.unwrap().is_none());
    let b2 = q.claim("w", LEASE, T0 + 5000).await.unwrap().unwrap();
    assert_eq!(b2.job.key, "b");
    assert_eq!(b2.job.attempts, 2);
    assert_eq!(b2.job.last_error.as_deref(), Some("b failed"));
    let a2 = q.claim("w", LEASE, T0 + 5000).await.unwrap().unwrap();
    assert_eq!(a2.job.key, "a");

    q.complete(b2.ticket).await.unwrap();
    q.dead_letter(a2.ticket, "gave up").await.unwrap();
    let dead = q.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key, "a");
    assert_eq!(dead[0].last_error.as_deref(), Some("gave up"));
    assert!(
        q.claim("w", LEASE, u64::MAX / 2).await.unwrap().is_none(),
        "a dead letter is never claimed"
    );
    // The key is free again: a new delivery is new work.
    assert!(matches!(
        q.enqueue("a", "pa2", T0 + 6000).await.unwrap(),
        Enqueued::New(id) if id != a2.job.id
    ));
}

async fn replay_and_drop_dead_letters(q: Arc<dyn WorkQueue>) {
    for key in ["x", "y", "z"] {
        q.enqueue(key, key, T0).await.unwrap();
        let c = q.claim("w", LEASE, T0).await.unwrap().unwrap();
        q.dead_letter(c.ticket, "boom").await.unwrap();
    }
    let ids: Vec<_> = q
        .dead_letters()
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    let [x, y, z] = ids[..] else {
        panic!("three dead letters: {ids:?}")
    };

    assert_eq!(q.replay(x, T0 + 10).await.unwrap(), Enqueued::New(x));
    let again = q.claim("w", LEASE, T0 + 10).await.unwrap().unwrap();
    assert_eq!(again.job.id, x);
    assert_eq!(again.job.attempts, 1, "a replay counts attempts afresh");
    assert!(matches!(q.replay(x, T0).await, Err(QueueError::NotDead(_))));

    // A delivery for y arrived meanwhile: replaying y merges into it.
    let Enqueued::New(fresh) = q.enqueue("y", "y2", T0 + 20).await.unwrap() else {
        panic!("new")
    };
    assert_eq!(q.replay(y, T0 + 21).await.unwrap(), Enqueued::Merged(fresh));

    q.drop_dead(z).await.unwrap();
    assert!(matches!(q.drop_dead(z).await, Err(QueueError::NotFound(_))));
    assert!(matches!(q.drop_dead(x).await, Err(QueueError::NotDead(_))));
    assert!(q.dead_letters().await.unwrap().is_empty());
    let mut left: Vec<_> = q.jobs().await.unwrap().iter().map(|j| j.id).collect();
    left.sort_unstable();
    assert_eq!(left, [x, fresh]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_one_redis_never_claim_the_same_job() {
    let server = crate::redis_server::RedisServer::start();
    let (a, b) = (redis_at(&server.url()), redis_at(&server.url()));
    for n in 0..20 {
        a.enqueue(&format!("k{n}"), "p", T0 + n).await.unwrap();
    }
    assert!(matches!(
        b.enqueue("k3", "p", T0).await.unwrap(),
        Enqueued::Merged(_)
    ));
    let claimers = [a.clone(), b.clone(), a, b].map(|q| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(c) = q.claim("w", LEASE, T0 + 100).await.unwrap() {
                q.complete(c.ticket).await.unwrap();
                mine.push(c.job.id);
            }
            mine
        })
    });
    let mut seen = HashSet::new();
    for claimer in claimers {
        for id in claimer.await.unwrap() {
            assert!(seen.insert(id), "job {id} was claimed twice");
        }
    }
    assert_eq!(seen.len(), 20);
}

#[tokio::test]
async fn the_embedded_queue_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("queue.redb");
    let (id, ticket) = {
        let q = EmbeddedQueue::open(&path).await.unwrap();
        let id = q.enqueue("k", "payload", T0).await.unwrap().id();
        q.enqueue("d", "dead", T0).await.unwrap();
        let claimed = q.claim("w", LEASE, T0).await.unwrap().unwrap();
        assert_eq!(claimed.job.id, id);
        let dead = q.claim("w", LEASE, T0).await.unwrap().unwrap();
        q.dead_letter(dead.ticket, "x").await.unwrap();
        (id, claimed.ticket)
    };
    let q = EmbeddedQueue::open(&path).await.unwrap();
    assert_eq!(
        q.enqueue("k", "again", T0 + 1).await.unwrap(),
        Enqueued::Merged(id)
    );
    assert_eq!(q.dead_letters().await.unwrap().len(), 1);
    q.complete(ticket).await.unwrap();
    assert_eq!(q.jobs().await.unwrap().len(), 1);
}

/// The child of the kill -9 test: enqueues into `QUEUE_KILL_PATH`, says so, then waits to
/// be killed. Ignored, so only the parent below runs it.
#[tokio::test]
#[ignore = "run by the_embedded_queue_keeps_a_job_enqueued_before_a_kill_9"]
async fn kill_9_child() {
    let path = std::env::var("QUEUE_KILL_PATH").expect("run by the parent test");
    let q = EmbeddedQueue::open(path.as_ref()).await.unwrap();
    let id = q.enqueue("killed", "payload", T0).await.unwrap().id();
    println!("enqueued {id}");
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn the_embedded_queue_keeps_a_job_enqueued_before_a_kill_9() {
    use tokio::io::AsyncBufReadExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.redb");
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "queue_contract::kill_9_child",
            "--nocapture",
        ])
        .env("QUEUE_KILL_PATH", &path)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let id = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the child says what it enqueued");
        if let Some(id) = line.strip_prefix("enqueued ") {
            break id.parse::<u64>().unwrap();
        }
    };
    child.start_kill().unwrap(); // SIGKILL: no destructor, no flush runs.
    child.wait().await.unwrap();
    let q = EmbeddedQueue::open(&path).await.unwrap();
    let jobs = q.jobs().await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!((jobs[0].id, jobs[0].key.as_str()), (id, "killed"));
    let claimed = q.claim("w", LEASE, T0).await.unwrap().unwrap();
    assert_eq!(claimed.job.payload, "payload");
}
