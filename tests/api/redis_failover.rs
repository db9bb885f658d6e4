//! A Redis failover behind one address (a virtual IP, here a TCP proxy): the old primary,
//! now a replica, still holds the connector's connection and refuses its next write with
//! `READONLY`. The connector renews the connection, reaches the new primary through the same
//! address, and launches go on: no 503, sessions and used nonces carried over by replication.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};

use crate::fixtures::{free_port, until};
use crate::helpers::{TestApp, spawn_app_with};
use crate::redis::redis_store;
use crate::redis_server::RedisServer;
use crate::redis_tls::{launch, open_session, readiness};

/// A TCP proxy standing for a virtual IP: each accepted connection is forwarded to the
/// target of the moment; connections forwarded before a switch stay on their old target.
struct Proxy {
    port: u16,
    /// The current target port, then the target of every connection forwarded so far.
    targets: Arc<Mutex<(u16, Vec<u16>)>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let targets = Arc::new(Mutex::new((target, Vec::new())));
        let shared = Arc::clone(&targets);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = {
                    let mut targets = shared.lock().unwrap();
                    let target = targets.0;
                    targets.1.push(target);
                    target
                };
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self {
            port,
            targets,
            task,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Sends the connections accepted from now on to `target`.
    fn switch_to(&self, target: u16) {
        self.targets.lock().unwrap().0 = target;
    }

    /// How many connections were forwarded to `target`.
    fn forwarded_to(&self, target: u16) -> usize {
        let targets = self.targets.lock().unwrap();
        targets.1.iter().filter(|&&t| t == target).count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server that sends a replica its data at once (not after the default 5 s wait for
/// more replicas), with `extra` arguments.
fn server(extra: &[&str]) -> RedisServer {
    RedisServer::start_with(|_| {
        [&["--repl-diskless-sync-delay", "0"], extra]
            .concat()
            .into_iter()
            .map(str::to_owned)
            .collect()
    })
}

/// Starts a replica of `primary` and waits until its link is up.
async fn replica_of(primary: &RedisServer) -> RedisServer {
    let port = primary.port.to_string();
    let replica = server(&["--replicaof", "127.0.0.1", &port]);
    until("the replica is in sync", async || {
        replica.info("master_link_status").as_deref() == Some("up")
    })
    .await;
    replica
}

/// Waits until `replica` has applied every write `primary` took so far (a `WAIT` from
/// another client than the connector would not wait for the connector's writes).
async fn caught_up(primary: &RedisServer, replica: &RedisServer) {
    let offset =
        |server: &RedisServer, field: &str| -> u64 { server.info(field).unwrap().parse().unwrap() };
    let written = offset(primary, "master_repl_offset");
    until("the replica has the primary's writes", async || {
        offset(replica, "slave_repl_offset") >= written
    })
    .await;
}

/// A primary with a replica, the proxy leading to the primary, and a connector using the
/// proxy that verified a launch (`n-before-failover`) now held by both servers.
struct Pair {
    old: RedisServer,
    new: RedisServer,
    proxy: Proxy,
    app: TestApp,
    before: reqwest::Response,
}

impl Pair {
    async fn launched() -> Self {
        let old = server(&[]);
        let new = replica_of(&old).await;
        let proxy = Proxy::start(old.port).await;
        let app = spawn_app_with(&redis_store(&proxy.url())).await;
        let before = launch(&app, "n-before-failover").await;
        assert_eq!(before.status(), StatusCode::SEE_OTHER);
        assert_eq!(proxy.forwarded_to(new.port), 0);
        caught_up(&old, &new).await;
        Self {
            old,
            new,
            proxy,
            app,
            before,
        }
    }

    /// The replica becomes the primary and the address leads to it.
    fn promote(&self) {
        assert_eq!(self.new.cli(&["REPLICAOF", "NO", "ONE"]).trim(), "OK");
        self.proxy.switch_to(self.new.port);
    }

    /// The next launch succeeds (no 503) on a connection to the new primary; the sessions
    /// open and the nonce used before the failover is still refused.
    async fn assert_survived(&self) {
        let app = &self.app;
        let after = launch(app, "n-after-failover").await;
        assert_eq!(
            after.status(),
            StatusCode::SEE_OTHER,
            "no 503 after a failover"
        );
        assert!(
            self.proxy.forwarded_to(self.new.port) >= 1,
            "renewed to the new primary"
        );
        assert_eq!(
            open_session(app, &self.before).await.status(),
            StatusCode::OK
        );
        assert_eq!(open_session(app, &after).await.status(), StatusCode::OK);
        let replay = launch(app, "n-before-failover").await;
        assert_eq!(
            replay.status(),
            StatusCode::FORBIDDEN,
            "a nonce used before the failover is still refused"
        );
    }
}

/// The old primary stays up as a replica of the new one: the connector's connection still
/// reaches it and its next write is refused with `READONLY`.
#[tokio::test]
async fn a_failover_behind_the_same_address_is_survived_without_a_503() {
    let pair = Pair::launched().await;
    pair.promote();
    let new_port = pair.new.port.to_string();
    assert_eq!(
        pair.old.cli(&["REPLICAOF", "127.0.0.1", &new_port]).trim(),
        "OK"
    );

    pair.assert_survived().await;
    let refused = pair.old.info("errorstat_READONLY").unwrap_or_default();
    assert!(
        refused.starts_with("count="),
        "the old connection reached the demoted server: {refused:?}"
    );
}

/// The old primary is gone: the connector's connection breaks and it connects again, through
/// the same address, to the promoted replica.
#[tokio::test]
async fn a_lost_primary_replaced_behind_the_same_address_is_survived_without_a_503() {
    let mut pair = Pair::launched().await;
    pair.old.stop();
    pair.promote();
    pair.assert_survived().await;
}

/// The old primary, now a replica cut off from the new one, refuses even reads
/// (`replica-serve-stale-data no`: `MASTERDOWN`, PING included): that renews the connection
/// too, so the instance stays ready and opens sessions before any write comes its way
/// (otherwise the balancer takes it out of service for good, and no launch reaches it).
#[tokio::test]
async fn a_demoted_primary_refusing_reads_is_left_for_the_new_one() {
    let pair = Pair::launched().await;
    pair.promote();
    let nowhere = free_port().to_string();
    let stale = pair
        .old
        .cli(&["CONFIG", "SET", "replica-serve-stale-data", "no"]);
    assert_eq!(stale.trim(), "OK");
    let demoted = pair.old.cli(&["REPLICAOF", "127.0.0.1", &nowhere]);
    assert_eq!(demoted.trim(), "OK");

    assert_eq!(readiness(&pair.app).await, StatusCode::OK);
    let refused = pair.old.info("errorstat_MASTERDOWN").unwrap_or_default();
    assert!(
        refused.starts_with("count="),
        "the old connection reached the demoted server: {refused:?}"
    );
    pair.assert_survived().await;
}
