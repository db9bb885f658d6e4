//! `concur-connector notifications list|replay|drop` over the configured embedded queue.

use std::time::Duration;

use concur_connector::store::queue::embedded::EmbeddedQueue;
use concur_connector::store::queue::{JobId, WorkQueue};

use crate::cli::{run, stderr, stdout};
use crate::helpers::{PASSWORD, TestPki, write_config};

const LEASE: Duration = Duration::from_secs(60);

/// A config whose queue file holds one queued job and one dead letter; returns their ids.
/// The temporary directories (config, queue) live as long as the value.
async fn queue_with_a_dead_letter() -> ([tempfile::TempDir; 2], String, JobId, JobId) {
    let pki = TestPki::new("notifications");
    let queue_dir = tempfile::tempdir().unwrap();
    let path = queue_dir.path().join("state").join("queue.redb");
    let (dir, config) = write_config(&pki, &format!("[queue]\npath = {:?}\n", path));
    let q = EmbeddedQueue::open(&path).await.unwrap();
    let dead = q
        .enqueue("report/1 SUBMIT", "<Notification/>", 1_000)
        .await
        .unwrap()
        .id();
    let claimed = q.claim("worker-a", LEASE, 1_000).await.unwrap().unwrap();
    q.dead_letter(claimed.ticket, "Concur answered 503")
        .await
        .unwrap();
    let queued = q
        .enqueue("report/2 SUBMIT", "<Notification/>", 2_000)
        .await
        .unwrap()
        .id();
    drop(q); // The file is held by one process at a time.
    let config = config.to_str().unwrap().to_owned();
    ([dir, queue_dir], config, dead, queued)
}

#[tokio::test]
async fn list_prints_jobs_with_state_attempts_and_last_error() {
    let (_dir, config, dead, queued) = queue_with_a_dead_letter().await;
    let output = run(&["notifications", "list", "--config", &config], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with(&format!("{dead}\tdead\tattempts 1")),
        "{out}"
    );
    assert!(lines[0].contains("key \"report/1 SUBMIT\""), "{out}");
    assert!(
        lines[0].contains("last error \"Concur answered 503\""),
        "{out}"
    );
    assert!(
        lines[0].contains("first seen 1970-01-01T00:00:01Z"),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{queued}\tqueued, due 1970-01-01T00:00:02Z\tattempts 0"
        )),
        "{out}"
    );
    assert!(!out.contains("<Notification"), "no payload: {out}");
    assert!(!out.contains(PASSWORD) && !stderr(&output).contains(PASSWORD));
}

#[tokio::test]
async fn replay_and_drop_take_dead_letters_only() {
    let (_dir, config, dead, queued) = queue_with_a_dead_letter().await;
    let output = run(
        &[
            "notifications",
            "drop",
            &queued.to_string(),
            "--config",
            &config,
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!("job {queued} is not a dead letter")),
        "{}",
        stderr(&output)
    );
    let output = run(
        &["notifications", "replay", "999", "--config", &config],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no job 999"),
        "{}",
        stderr(&output)
    );

    let output = run(
        &[
            "notifications",
            "replay",
            &dead.to_string(),
            "--config",
            &config,
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("job {dead} queued again\n"));
    let out = stdout(&run(&["notifications", "list", "--config", &config], &[]).await);
    assert!(out.contains(&format!("{dead}\tqueued, due ")), "{out}");
    // Replayed, it is no dead letter any more: drop refuses it.
    let output = run(
        &[
            "notifications",
            "drop",
            &dead.to_string(),
            "--config",
            &config,
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
}

#[tokio::test]
async fn drop_removes_a_dead_letter_and_a_bad_queue_setting_is_a_config_error() {
    let (_dir, config, dead, queued) = queue_with_a_dead_letter().await;
    let output = run(
        &[
            "notifications",
            "drop",
            &dead.to_string(),
            "--config",
            &config,
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("job {dead} dropped\n"));
    let out = stdout(&run(&["notifications", "list", "--config", &config], &[]).await);
    assert!(
        out.starts_with(&format!("{queued}\t")) && out.lines().count() == 1,
        "{out}"
    );

    let output = run(
        &["notifications", "list", "--config", &config],
        &[("CONCUR_CONNECTOR__QUEUE__BACKEND", "redis")],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("queue.backend"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn the_commands_work_on_the_redis_queue_too() {
    use concur_connector::store::queue::redis::RedisQueue;
    use concur_connector::store::redis::RedisSettings;
    let server = crate::redis_server::RedisServer::start();
    let q = RedisQueue::new(&RedisSettings {
        url: concur_connector::config::secret(&server.url()),
        key_prefix: "cli:".to_owned(),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let id = q
        .enqueue("report/9 SUBMIT", "<Notification/>", 1_000)
        .await
        .unwrap()
        .id();
    let claimed = q.claim("worker-b", LEASE, 1_000).await.unwrap().unwrap();
    q.dead_letter(claimed.ticket, "send back refused")
        .await
        .unwrap();

    let pki = TestPki::new("notifications-redis");
    let (_dir, config) = write_config(
        &pki,
        &format!(
            "[store]\nbackend = \"redis\"\nredis_url = \"{}\"\nkey_prefix = \"cli:\"\n",
            server.url()
        ),
    );
    let config = config.to_str().unwrap();
    let output = run(&["notifications", "list", "--config", config], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.starts_with(&format!("{id}\tdead\tattempts 1")), "{out}");
    assert!(out.contains("last error \"send back refused\""), "{out}");
    assert!(!out.contains("redis://"), "no connection detail: {out}");

    let output = run(
        &[
            "notifications",
            "replay",
            &id.to_string(),
            "--config",
            config,
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Replayed at the CLI's clock: due now.
    let now = concur_connector::store::queue::now_millis();
    let again = q.claim("worker-b", LEASE, now).await.unwrap().unwrap();
    assert_eq!((again.job.id, again.job.attempts), (id, 1));
}
