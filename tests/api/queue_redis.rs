//! What only the Redis work queue does, against a real `redis-server`: its work is carried
//! by the stream `{prefix}queue:stream` read through the consumer group `workers`, so
//! `XPENDING` shows which worker holds which job, and a crashed instance's claim is taken
//! over by another. The behaviour both backends share is in queue_contract.rs.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use concur_connector::store::queue::redis::RedisQueue;
use concur_connector::store::queue::{QueueError, WorkQueue};
use concur_connector::store::redis::RedisSettings;
use redis::aio::MultiplexedConnection;

use crate::redis_server::RedisServer;
use crate::redis_store::raw;

const LEASE: Duration = Duration::from_secs(30);
const T0: u64 = 1_700_000_000_000;
const STREAM: &str = "test:queue:stream";
const GROUP: &str = "workers";

/// An instance's queue: its own client and connection.
fn queue(server: &RedisServer) -> RedisQueue {
    RedisQueue::new(&RedisSettings {
        url: concur_connector::config::secret(&server.url()),
        key_prefix: "test:".to_owned(),
        timeout: Duration::from_secs(5),
        username: None,
        password: None,
        tls: Default::default(),
    })
    .unwrap()
}

/// The group's pending entries: (entry id, consumer, deliveries).
async fn pending(raw: &mut MultiplexedConnection) -> Vec<(String, String, u64)> {
    let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(STREAM)
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(100)
        .query_async(raw)
        .await
        .unwrap();
    rows.into_iter()
        .map(|(entry, consumer, _idle, deliveries)| (entry, consumer, deliveries))
        .collect()
}

/// The names of the group's consumers.
async fn consumers(raw: &mut MultiplexedConnection) -> Vec<String> {
    let rows: Vec<HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(STREAM)
        .arg(GROUP)
        .query_async(raw)
        .await
        .unwrap();
    rows.iter()
        .map(|row| redis::from_redis_value_ref(&row["name"]).unwrap())
        .collect()
}

/// How many entries the stream holds.
async fn stream_length(raw: &mut MultiplexedConnection) -> u64 {
    redis::cmd("XLEN")
        .arg(STREAM)
        .query_async(raw)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_instances_claim_is_taken_over_by_another_and_xpending_shows_the_new_owner() {
    let server = RedisServer::start();
    let (a, b) = (queue(&server), queue(&server));
    let mut raw = raw(&server).await;
    let crashed_id = a.enqueue("report-0", "p0", T0).await.unwrap().id();
    let mut others = HashSet::new();
    for n in 1..=12 {
        let instance = if n % 2 == 0 { &a } else { &b };
        let id = instance
            .enqueue(&format!("report-{n}"), "p", T0 + n)
            .await
            .unwrap()
            .id();
        others.insert(id);
    }
    assert_eq!(stream_length(&mut raw).await, 13, "one entry per due job");

    // Instance a claims the earliest job, then crashes: it never reports an outcome.
    let crashed = a.claim("a/1", LEASE, T0 + 100).await.unwrap().unwrap();
    assert_eq!(crashed.job.id, crashed_id);
    let held = pending(&mut raw).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!((held[0].1.as_str(), held[0].2), ("a/1", 1));

    // Both instances, each with its own worker, drain the rest at once.
    let drain = |q: RedisQueue, worker: &'static str| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(c) = q.claim(worker, LEASE, T0 + 200).await.unwrap() {
                q.complete(c.ticket).await.unwrap();
                mine.push(c.job.id);
            }
            mine
        })
    };
    let drains = [drain(a.clone(), "a/2"), drain(b.clone(), "b/1")];
    let mut seen = HashSet::new();
    for drained in drains {
        for id in drained.await.unwrap() {
            assert!(seen.insert(id), "job {id} was claimed twice");
        }
    }
    assert_eq!(seen, others, "every other job once, the crashed one not");

    // The crashed claim is live until its lease ends; then b takes it over.
    let lease_end = T0 + 100 + LEASE.as_millis() as u64;
    assert!(
        b.claim("b/1", LEASE, lease_end - 1)
            .await
            .unwrap()
            .is_none()
    );
    let taken = b.claim("b/1", LEASE, lease_end).await.unwrap().unwrap();
    assert_eq!(
        (taken.job.id, taken.job.attempts, taken.job.payload.as_str()),
        (crashed_id, 2, "p0")
    );
    let held_now = pending(&mut raw).await;
    assert_eq!(held_now.len(), 1, "{held_now:?}");
    assert_eq!(held_now[0].0, held[0].0, "the same stream entry");
    assert_eq!((held_now[0].1.as_str(), held_now[0].2), ("b/1", 2));
    assert_eq!(
        consumers(&mut raw).await,
        ["b/1"],
        "a consumer that holds nothing leaves the group"
    );

    assert!(matches!(
        a.complete(crashed.ticket).await,
        Err(QueueError::LostClaim(id)) if id == crashed_id
    ));
    b.complete(taken.ticket).await.unwrap();
    assert!(pending(&mut raw).await.is_empty());
    assert_eq!(
        stream_length(&mut raw).await,
        0,
        "the stream holds only work in flight"
    );
    assert!(a.jobs().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_retry_waits_outside_the_stream_and_enters_it_in_due_order() {
    let server = RedisServer::start();
    let q = queue(&server);
    let mut raw = raw(&server).await;
    let id = q.enqueue("k", "p", T0).await.unwrap().id();
    let first = q.claim("w", LEASE, T0).await.unwrap().unwrap();
    q.retry_later(first.ticket, "down", T0 + 5000)
        .await
        .unwrap();
    assert_eq!(stream_length(&mut raw).await, 0);
    assert!(pending(&mut raw).await.is_empty());
    let due: u64 = redis::cmd("ZSCORE")
        .arg("test:queue:delayed")
        .arg(id)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(due, T0 + 5000);
    assert!(q.claim("w", LEASE, T0 + 4999).await.unwrap().is_none());
    assert_eq!(
        stream_length(&mut raw).await,
        0,
        "not due, not in the stream"
    );

    // A new job after the retry's due time goes into the stream behind the retry, which
    // is claimed first.
    let fresh = q.enqueue("fresh", "p", T0 + 6000).await.unwrap().id();
    assert_eq!(stream_length(&mut raw).await, 2);
    let again = q.claim("w", LEASE, T0 + 6000).await.unwrap().unwrap();
    assert_eq!((again.job.id, again.job.attempts), (id, 2));
    let next = q.claim("w", LEASE, T0 + 6000).await.unwrap().unwrap();
    assert_eq!(next.job.id, fresh);
}

#[tokio::test]
async fn jobs_whose_stream_was_lost_are_queued_again_and_claimed() {
    let server = RedisServer::start();
    let q = queue(&server);
    let mut raw = raw(&server).await;
    let id = q.enqueue("k", "p", T0).await.unwrap().id();
    q.claim("w1", LEASE, T0).await.unwrap().unwrap();
    let waiting = q.enqueue("waiting", "p", T0 + 1).await.unwrap().id();
    // The stream and its group are gone (deleted by hand, say); the jobs' records are not.
    let _: i64 = redis::cmd("DEL")
        .arg(STREAM)
        .query_async(&mut raw)
        .await
        .unwrap();
    let lease_end = T0 + LEASE.as_millis() as u64;
    let queued = q.claim("w2", LEASE, lease_end).await.unwrap().unwrap();
    assert_eq!((queued.job.id, queued.job.attempts), (waiting, 1));
    let taken = q.claim("w2", LEASE, lease_end).await.unwrap().unwrap();
    assert_eq!((taken.job.id, taken.job.attempts), (id, 2));
    let held = pending(&mut raw).await;
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(
        held.iter().all(|(_, consumer, _)| consumer == "w2"),
        "{held:?}"
    );
    q.complete(queued.ticket).await.unwrap();
    q.complete(taken.ticket).await.unwrap();
    assert!(q.jobs().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_lapsed_lease_and_the_stream_head_are_claimed_earliest_due_first() {
    let server = RedisServer::start();
    let q = queue(&server);
    let lease_end = T0 + LEASE.as_millis() as u64;
    let held = q.enqueue("held", "p", T0).await.unwrap().id();
    q.claim("crashed", LEASE, T0).await.unwrap().unwrap();
    // Enqueued before the lease ends: due before the lapsed claim.
    let early = q.enqueue("early", "p", lease_end - 1).await.unwrap().id();
    // Enqueued after the lease ended: due after it.
    let late = q.enqueue("late", "p", lease_end + 1).await.unwrap().id();
    let mut claimed = Vec::new();
    while let Some(c) = q.claim("w", LEASE, lease_end + 1).await.unwrap() {
        claimed.push(c.job.id);
    }
    assert_eq!(claimed, [early, held, late]);
}
