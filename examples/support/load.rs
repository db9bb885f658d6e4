//! Load for the benchmarks over keep-alive connections: the peak (closed loop) and a paced
//! rate (open loop), with the client-side latencies and the connector's own (from its
//! request log lines).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::bench_server::{PASSWORD, Server, USERNAME};

/// The `n`th request's body (`None`: a GET); must differ per `n` where the server dedupes.
pub type Bodies = Arc<dyn Fn(usize) -> Option<String> + Send + Sync>;

/// One request with the connector's Basic credentials; its latency when answered 2xx.
pub async fn send(client: &reqwest::Client, url: &str, body: Option<String>) -> Option<Duration> {
    let started = Instant::now();
    let request = match body {
        Some(body) => client
            .post(url)
            .header("content-type", "application/xml; charset=utf-8")
            .body(body),
        None => client.get(url),
    };
    let response = request
        .basic_auth(USERNAME, Some(PASSWORD))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let ok = response.status().is_success();
    response.bytes().await.ok()?;
    ok.then(|| started.elapsed())
}

/// Closed loop: `connections` workers, each sending its next request when the last is
/// answered, for `run_for`. Returns answers per second.
pub async fn peak(
    server: &Server,
    path: &str,
    bodies: &Bodies,
    connections: usize,
    run_for: Duration,
) -> f64 {
    let client = server.client(connections).unwrap();
    let url = Arc::new(server.url(path));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for w in 0..connections {
        let (client, url, bodies) = (client.clone(), url.clone(), bodies.clone());
        workers.spawn(async move {
            let mut ok = 0usize;
            let mut n = w;
            while started.elapsed() < run_for {
                if send(&client, &url, bodies(n)).await.is_some() {
                    ok += 1;
                }
                n += connections;
            }
            ok
        });
    }
    let answered: usize = workers.join_all().await.into_iter().sum();
    answered as f64 / started.elapsed().as_secs_f64()
}

/// What a paced run measured.
pub struct Paced {
    pub offered: f64,
    pub answered: usize,
    pub failed: usize,
    pub client_p50: Duration,
    pub client_p99: Duration,
    pub server_p99_ms: Option<f64>,
}

/// `rate` requests per second for `run_for`, spread over `connections` keep-alive
/// connections: each worker sends on its own fixed schedule (`connections / rate` apart),
/// catching up at once when an answer came late, so the offered rate does not drop when the
/// server slows down.
pub async fn paced(
    server: &Server,
    path: &str,
    bodies: &Bodies,
    connections: usize,
    rate: f64,
    run_for: Duration,
) -> Paced {
    let client = server.client(connections).unwrap();
    let url = Arc::new(server.url(path));
    let log_start = server.lines.lock().unwrap().len();
    let gap = Duration::from_secs_f64(connections as f64 / rate.max(1.0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for w in 0..connections {
        let (client, url, bodies) = (client.clone(), url.clone(), bodies.clone());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut sent = 0usize;
            // Workers start spread over one gap, not all at once.
            let mut next = started + gap.mul_f64(w as f64 / connections as f64);
            while next.duration_since(started) < run_for {
                tokio::time::sleep_until(next.into()).await;
                latencies.push(send(&client, &url, bodies(w + sent * connections)).await);
                sent += 1;
                next += gap;
            }
            latencies
        });
    }
    let results: Vec<Option<Duration>> = workers.join_all().await.into_iter().flatten().collect();
    let sent = results.len();
    let mut latencies: Vec<Duration> = results.into_iter().flatten().collect();
    latencies.sort();
    // Give the server a moment to flush its last log lines.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let server_p99_ms = {
        let lines = server.lines.lock().unwrap();
        let route = format!("\"route\":\"{path}\"");
        let mut server_ms: Vec<f64> = lines[log_start..]
            .iter()
            .filter(|l| l.contains(&route) && l.contains("request finished"))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("latency_ms").and_then(serde_json::Value::as_f64))
            .collect();
        server_ms.sort_by(f64::total_cmp);
        percentile(&server_ms, 0.99)
    };
    Paced {
        offered: sent as f64 / started.elapsed().as_secs_f64(),
        answered: latencies.len(),
        failed: sent - latencies.len(),
        client_p50: percentile(&latencies, 0.50).unwrap_or_default(),
        client_p99: percentile(&latencies, 0.99).unwrap_or_default(),
        server_p99_ms,
    }
}

pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[index])
}

/// The table's header, and one row per measured workload.
pub fn header(first: &str) -> String {
    format!(
        "{first:<24} {:>10} {:>12} {:>9} {:>9} {:>12} {:>12} {:>14}",
        "peak/s", "paced at/s", "answered", "failed", "client p50", "client p99", "connector p99"
    )
}

pub fn row(name: &str, peak: f64, paced: &Paced) -> String {
    format!(
        "{name:<24} {peak:>10.0} {:>12.0} {:>9} {:>9} {:>10.2}ms {:>10.2}ms {:>14}",
        paced.offered,
        paced.answered,
        paced.failed,
        paced.client_p50.as_secs_f64() * 1000.0,
        paced.client_p99.as_secs_f64() * 1000.0,
        paced
            .server_p99_ms
            .map_or_else(|| "n/a".to_owned(), |ms| format!("{ms:.2}ms")),
    )
}
