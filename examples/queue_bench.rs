//! Enqueue throughput and latency of the work queue, per backend, with durability on (the
//! embedded file is fsynced on every commit; Redis answers after its write).
//!
//! `cargo run --release --example queue_bench [COUNT] [REDIS_URL]` enqueues COUNT (default
//! 2,000) distinct notifications one after another into a fresh embedded queue in a
//! temporary directory, and, when REDIS_URL is given (e.g. `redis://127.0.0.1:6379/0`),
//! into Redis under a fresh key prefix; then prints enqueues per second and the median,
//! p99 and worst enqueue latency. One enqueue at a time is what one notification request
//! costs before its 200, so this is the bound on acknowledgements per second per worker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use concur_connector::store::queue::embedded::EmbeddedQueue;
use concur_connector::store::queue::redis::RedisQueue;
use concur_connector::store::queue::{WorkQueue, now_millis};
use concur_connector::store::redis::RedisSettings;

async fn measure(name: &str, queue: Arc<dyn WorkQueue>, count: usize) {
    let payload = "<Notification><EventType>Report Entered Expense Report Workflow Step - \
                   SUBMIT</EventType><ObjectType>EXPRPT</ObjectType><ObjectURI>https://www.\
                   concursolutions.com/api/expense/expensereport/v1.1/reportfulldetails/x\
                   </ObjectURI></Notification>";
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for n in 0..count {
        let key = format!("bench-report-{n} SUBMIT");
        let one = Instant::now();
        queue.enqueue(&key, payload, now_millis()).await.unwrap();
        latencies.push(one.elapsed());
    }
    let total = started.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{name:8} {count} enqueues in {total:.2?}: {:.0} enqueues/s, median {:.2?}, p99 {:.2?}, max {:.2?}",
        count as f64 / total.as_secs_f64(),
        at(0.5),
        at(0.99),
        latencies[latencies.len() - 1],
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args
        .next()
        .map_or(2000, |c| c.parse().expect("COUNT is a number"));
    assert!(count > 0, "COUNT must be positive");
    let redis_url = args.next();

    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedQueue::open(&dir.path().join("bench.redb"))
        .await
        .unwrap();
    measure("embedded", Arc::new(embedded), count).await;

    if let Some(url) = redis_url {
        let settings = RedisSettings {
            url: concur_connector::config::secret(&url),
            key_prefix: format!("queue-bench-{}:", now_millis()),
            timeout: Duration::from_secs(5),
            username: None,
            password: None,
            tls: Default::default(),
        };
        measure(
            "redis",
            Arc::new(RedisQueue::new(&settings).unwrap()),
            count,
        )
        .await;
    } else {
        println!("redis    skipped (give a REDIS_URL as the second argument)");
    }
}
