//! Event Notification acknowledgements per second and their latency, with durable storage
//! (fsync on), for each queue backend, next to test connection in the same run (issue 13's
//! benchmark).
//!
//! Starts the release `concur-connector` binary on loopback twice: with the embedded queue
//! (a redb file, every commit fsynced) and with the Redis queue (a real `redis-server` in a
//! temporary directory with `appendonly yes`, `appendfsync always`: Redis answers after its
//! write reached the disk). For each, with 16 keep-alive connections:
//!
//! 1. the peak: as fast as answers come, for 5 s;
//! 2. half the peak, paced, for 5 s: client-side p50/p99 and the connector's own p99 (the
//!    `latency_ms` of its request log lines).
//!
//! Then the embedded backend at a fixed 100 notifications per second for 10 s, whose
//! client-side p99 must stay under 20 ms (printed, with whether it holds), and beside it
//! the floor the disk sets: one 4 KiB write and `fdatasync` at the same pace, in the same
//! temporary directory's file system (an acknowledgement costs at least one). Every
//! notification has its own ObjectURI, so none merges into another. No `[concur]` is
//! configured, so no worker drains the queue: what is measured is the acknowledgement.
//! A benchmark, not a test: it fails only when it cannot run. Run it with
//! `scripts/bench-notify.sh`, or set `CONCUR_CONNECTOR_BIN`. Linux only.

#![allow(clippy::unwrap_used)]

mod support {
    pub mod bench_server;
    pub mod load;
}

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use concur_protocol::callout::conformance::NotificationCall;
use support::bench_server::{self, Server};
use support::load::{self, Bodies};

const CONNECTIONS: usize = 16;
const PEAK_FOR: Duration = Duration::from_secs(5);
const PACED_FOR: Duration = Duration::from_secs(5);
const FIXED_RATE: f64 = 100.0;
const FIXED_FOR: Duration = Duration::from_secs(10);
const FIXED_P99_LIMIT: Duration = Duration::from_millis(20);

const NOTIFY: &str = "/concur/v1.0/notify";
const TEST_CONNECTION: &str = "/system/v1.0/testconnection";

/// Notifications like Concur's example, each for another report (one counter for the
/// whole run, so no two share a dedupe key).
fn notifications() -> Bodies {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    Arc::new(|_| {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let call = NotificationCall {
            object_uri: format!(
                "https://www.concursolutions.com/api/expense/expensereport/v1.1/reportfulldetails/bench{n:08}$x"
            ),
            ..NotificationCall::default()
        };
        Some(call.to_xml())
    })
}

/// A `redis-server` with every write fsynced before it answers, in its own directory;
/// killed when dropped.
struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (Debian package redis-server)")?;
        let redis = Self {
            child,
            port,
            _dir: dir,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(redis);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("redis-server did not listen on port {port} within 10 s")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Test connection, then notifications: the peak and half of it, one row each.
async fn measure(server: &Server, backend: &str) {
    let probes: Bodies = Arc::new(|_| None);
    for (name, path, bodies) in [
        ("test connection", TEST_CONNECTION, &probes),
        ("notify", NOTIFY, &notifications()),
    ] {
        let peak = load::peak(server, path, bodies, CONNECTIONS, PEAK_FOR).await;
        let paced = load::paced(server, path, bodies, CONNECTIONS, peak / 2.0, PACED_FOR).await;
        println!("{}", load::row(&format!("{backend}: {name}"), peak, &paced));
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binary = bench_server::connector_binary()?;
    println!("{}", load::header("backend: workload"));

    let embedded = Server::start(&binary, "", &[]).await?;
    measure(&embedded, "embedded").await;

    let redis = Redis::start()?;
    let with_redis = Server::start(
        &binary,
        &format!(
            "[store]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:{}/0\"\n",
            redis.port
        ),
        &[],
    )
    .await?;
    measure(&with_redis, "redis").await;
    with_redis.stop().await;
    drop(redis);

    let fixed = load::paced(
        &embedded,
        NOTIFY,
        &notifications(),
        CONNECTIONS,
        FIXED_RATE,
        FIXED_FOR,
    )
    .await;
    let holds = fixed.failed == 0 && fixed.client_p99 < FIXED_P99_LIMIT;
    println!(
        "\nembedded at {FIXED_RATE:.0} notifications/s for {} s: {} answered, {} failed, \
         p50 {:.2} ms, p99 {:.2} ms (connector p99 {}); p99 < {} ms: {}",
        FIXED_FOR.as_secs(),
        fixed.answered,
        fixed.failed,
        fixed.client_p50.as_secs_f64() * 1000.0,
        fixed.client_p99.as_secs_f64() * 1000.0,
        fixed
            .server_p99_ms
            .map_or_else(|| "n/a".to_owned(), |ms| format!("{ms:.2} ms")),
        FIXED_P99_LIMIT.as_millis(),
        if holds { "holds" } else { "DOES NOT HOLD" }
    );
    embedded.stop().await;
    let (p50, p99) = tokio::task::spawn_blocking(disk_floor).await??;
    println!(
        "the disk alone at {FIXED_RATE:.0}/s: one 4 KiB write + fdatasync p50 {:.2} ms, p99 {:.2} ms",
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
    );
    Ok(())
}

/// p50 and p99 of one 4 KiB write followed by `fdatasync`, paced like the fixed run, in
/// a file under the temporary directory the servers' queue files live in.
fn disk_floor() -> anyhow::Result<(Duration, Duration)> {
    use std::io::{Seek, SeekFrom, Write};
    let dir = tempfile::tempdir()?;
    let mut file = std::fs::File::create(dir.path().join("floor"))?;
    let count = (FIXED_RATE * FIXED_FOR.as_secs_f64()) as usize;
    let pause = Duration::from_secs_f64(1.0 / FIXED_RATE);
    let mut latencies = Vec::with_capacity(count);
    for i in 0..count {
        let started = std::time::Instant::now();
        file.seek(SeekFrom::Start(((i % 64) * 4096) as u64))?;
        file.write_all(&[0x5a; 4096])?;
        file.sync_data()?;
        let took = started.elapsed();
        latencies.push(took);
        std::thread::sleep(pause.saturating_sub(took));
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Ok((at(0.50), at(0.99)))
}
