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
        username: None,
        password: None,
        tls: Default::default(),
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

/// Dead letters made in the running server's own queue (enqueued "long ago", so a claim at
/// that time takes them and not what the endpoint queued now); returns their ids.
async fn dead_letters_in(queue: &dyn WorkQueue, keys: &[&str]) -> Vec<JobId> {
    let mut ids = Vec::new();
    for (at, key) in (1..).zip(keys) {
        let id = q_enqueue(queue, key, at).await;
        let claimed = queue.claim("worker-a", LEASE, at).await.unwrap().unwrap();
        assert_eq!(claimed.job.id, id);
        queue
            .dead_letter(claimed.ticket, "Concur answered 503")
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

async fn q_enqueue(queue: &dyn WorkQueue, key: &str, at: u64) -> JobId {
    queue
        .enqueue(key, "<Notification/>", at)
        .await
        .unwrap()
        .id()
}

#[tokio::test]
async fn while_the_server_holds_the_embedded_queue_the_commands_go_through_its_socket() {
    use std::os::unix::fs::PermissionsExt as _;
    let app = crate::helpers::spawn_app().await;
    let response = app
        .post_callout(
            "/concur/v1.0/notify",
            concur_protocol::callout::conformance::NOTIFICATION_EXAMPLE,
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let queue = app.notifications.clone().unwrap().queue;
    let posted = queue.jobs().await.unwrap()[0].id;
    let dead = dead_letters_in(queue.as_ref(), &["report/1 SUBMIT", "report/2 SUBMIT"]).await;
    let socket = app.dir.path().join("notifications.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");

    let config = app.dir.path().join("config.toml");
    let config = config.to_str().unwrap();
    let cli = async |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--config", config]);
        run(&args, &[]).await
    };
    let output = cli(&["notifications", "list"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    let lines: Vec<_> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with(&format!("{posted}\tqueued, due ")),
        "{out}"
    );
    assert!(lines[1].starts_with(&format!("{}\tdead\tattempts 1", dead[0])));
    assert!(
        lines[2].contains("last error \"Concur answered 503\""),
        "{out}"
    );

    let output = cli(&["notifications", "replay", &dead[0].to_string()]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("job {} queued again\n", dead[0]));
    let output = cli(&["notifications", "drop", &dead[1].to_string()]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("job {} dropped\n", dead[1]));
    // An error the server meets exits as the local one does, with the same text.
    let output = cli(&["notifications", "drop", &posted.to_string()]).await;
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "notifications: job {posted} is not a dead letter (only dead letters can be replayed or dropped)\n"
        )
    );

    let jobs = queue.jobs().await.unwrap();
    let states: Vec<_> = jobs.iter().map(|j| (j.id, j.state.clone())).collect();
    use concur_connector::store::queue::JobState::Queued;
    assert_eq!(states, [(posted, Queued), (dead[0], Queued)]);

    app.shutdown.stop();
    crate::fixtures::until("the socket removed at shutdown", async || !socket.exists()).await;
}

/// Sends `request` raw on the socket and returns the answer.
async fn raw_request(socket: &std::path::Path, request: &[u8]) -> serde_json::Value {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    // The server may stop reading (and answer) before all of an oversized request is sent.
    let _ = stream.write_all(request).await;
    let _ = stream.shutdown().await;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    serde_json::from_slice(&answer).unwrap()
}

#[tokio::test]
async fn a_stale_socket_is_replaced_and_bad_requests_get_an_error_answer() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("queue.sock");
    // A crashed run's socket: the file is there, nothing answers.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let app = crate::helpers::spawn_app_with(&format!(
        "[queue]\npath = {:?}\n",
        dir.path().join("queue.redb")
    ))
    .await;

    let answer = raw_request(&socket, br#"{"action":"list"}"#).await;
    assert_eq!(answer, serde_json::json!({"ok": "the queue is empty\n"}));
    let answer = raw_request(&socket, b"{\"action\":\"drop\",\"id\":999}\n").await;
    assert_eq!(answer, serde_json::json!({"error": "no job 999"}));
    for nonsense in [&b"delete everything\n"[..], br#"{"action":"replay"}"#] {
        let answer = raw_request(&socket, nonsense).await;
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(error.contains("a request is"), "{error}");
    }
    let oversized = vec![b' '; 64 * 1024];
    let answer = raw_request(&socket, &oversized).await;
    let error = answer["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(error.contains("longer than 4096 bytes"), "{error}");
    // The server still serves.
    let answer = raw_request(&socket, br#"{"action":"list"}"#).await;
    assert!(answer.get("ok").is_some(), "{answer}");
    drop(app);
}

#[tokio::test]
async fn a_socket_another_server_answers_on_is_a_start_up_problem_naming_queue_path() {
    use concur_connector::config::{self, Origin};
    use concur_connector::startup::{Application, StartupError};
    concur_connector::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    let queue_path = dir.path().join("queue.redb");
    // Something answers on the socket (its queue file is another one, so only the socket
    // tells the two servers apart).
    let _answering = std::os::unix::net::UnixListener::bind(dir.path().join("queue.sock")).unwrap();
    let pki = TestPki::new("socket-held");
    let (_config_dir, path) = write_config(&pki, &format!("[queue]\npath = {queue_path:?}\n"));
    let settings = config::load_with_env(&Origin::File(path), Some(Default::default())).unwrap();
    match Application::build(settings).await {
        Err(StartupError::Config(problems)) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            let shown = format!("{problems:?}");
            assert!(shown.contains("queue.path"), "{shown}");
            assert!(shown.contains("another server answers"), "{shown}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("started beside another server"),
    }
    assert!(
        dir.path().join("queue.sock").exists(),
        "its socket is left alone"
    );
}
