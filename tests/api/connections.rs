//! Connection bounds over real TLS: slow or silent clients are closed, the connection bound
//! holds while the health endpoints still answer, and a SIGTERM under load answers every
//! request in flight and exits 0.
//!
//! The clients here speak raw HTTP/1.1 over TLS, so that a closed connection is seen as such.
//! No test asserts how fast something happens: a generous safety bound only stops a broken
//! server from hanging the test.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::fixtures::{free_port, until};
use crate::helpers::{PASSWORD, TestPki, USERNAME, binary, spawn_app_with_server};

/// Longer than any timeout configured below: reaching it means the server did not act.
const SAFETY: Duration = Duration::from_secs(30);

use rustls::pki_types::pem::PemObject as _;

fn connector(pki: &TestPki) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls::pki_types::CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap();
    roots.add(ca).unwrap();
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(concur_connector::tls::provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// A TLS connection with the handshake done.
async fn connect(pki: &TestPki, port: u16) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(SAFETY, connector(pki).connect(name, tcp))
        .await
        .expect("handshake within the safety bound")
        .unwrap()
}

/// Reads until the server closes the connection (end of stream or reset) and returns what
/// came; panics if the connection is still open after the safety bound.
async fn read_until_closed(stream: &mut TlsStream<TcpStream>) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(SAFETY, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open: {}",
        String::from_utf8_lossy(&received)
    );
    String::from_utf8_lossy(&received).into_owned()
}

/// Reads one response head (up to the blank line) without waiting for the connection to end.
async fn read_head(stream: &mut TlsStream<TcpStream>) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(SAFETY, async {
        let mut byte = [0u8; 1];
        while !received.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed early");
            received.push(byte[0]);
        }
    })
    .await
    .expect("a response head within the safety bound");
    String::from_utf8(received).unwrap()
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

fn basic_auth() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{PASSWORD}"))
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_closed_after_the_header_timeout() {
    let app = spawn_app_with_server("header_read_timeout = \"1s\"", "").await;
    let stream = connect(&app.pki, app.port).await;
    let (mut reader, mut writer) = tokio::io::split(stream);
    // A header line now and then, never the blank line that ends the headers.
    let trickle = tokio::spawn(async move {
        let mut line: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n";
        while writer.write_all(line).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            line = b"X-Slow: still here\r\n";
        }
    });
    let closed = tokio::time::timeout(SAFETY, async {
        let mut buf = [0u8; 1024];
        while !matches!(reader.read(&mut buf).await, Ok(0) | Err(_)) {}
    })
    .await;
    trickle.abort();
    assert!(closed.is_ok(), "a slow-header client kept its connection");
}

#[tokio::test]
async fn a_silent_connection_after_the_handshake_is_closed() {
    let app = spawn_app_with_server("header_read_timeout = \"1s\"", "").await;
    let mut stream = connect(&app.pki, app.port).await;
    let received = read_until_closed(&mut stream).await;
    assert!(!received.contains("200"), "{received}");
}

#[tokio::test]
async fn a_kept_alive_connection_without_a_next_request_is_closed() {
    let app = spawn_app_with_server("header_read_timeout = \"1s\"", "").await;
    let mut stream = connect(&app.pki, app.port).await;
    stream.write_all(get("/healthz").as_bytes()).await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    // The body ("ok"), then nothing more: the wait for the next request is bounded too.
    let rest = read_until_closed(&mut stream).await;
    assert_eq!(rest, "ok");
}

#[tokio::test]
async fn the_idle_timeout_closes_a_connection_with_no_request_in_progress() {
    // Header reading alone would keep the connection far past the safety bound.
    let app =
        spawn_app_with_server("header_read_timeout = \"1h\"\nidle_timeout = \"1s\"", "").await;
    let mut stream = connect(&app.pki, app.port).await;
    stream.write_all(get("/healthz").as_bytes()).await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(read_until_closed(&mut stream).await, "ok");
}

#[tokio::test]
async fn a_request_past_the_request_timeout_gets_408_with_a_body() {
    let app = spawn_app_with_server(
        "request_timeout = \"1s\"",
        "[picker]\ndone_wait = \"500ms\"",
    )
    .await;
    // Concur's calls (test connection and the callouts) get a short text, never a page.
    for path in [
        "/system/v1.0/testconnection",
        "/concur/v1.0/notify",
        "/concur/list/v1.2/fetch",
        "/concur/attendee/v2.0/fetch",
    ] {
        let mut stream = connect(&app.pki, app.port).await;
        // The body is announced but never sent: the handler waits for it.
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/xml\r\n\
             Authorization: Basic {}\r\nContent-Length: 10\r\n\r\n",
            basic_auth()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let head = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 408"), "{path}: {head}");
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix(&format!("{name}: "))
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| panic!("{path}: no {name}: {head}"))
        };
        let length: usize = header("content-length").trim().parse().unwrap();
        assert!(length > 0, "{path}: an empty 408: {head}");
        assert!(
            header("content-type").starts_with("text/plain"),
            "{path}: a page for a program: {head}"
        );
    }
}

#[tokio::test]
async fn over_max_connections_health_answers_other_paths_get_503_and_the_bound_frees_up() {
    let app = spawn_app_with_server(
        "max_connections = 5\nheader_read_timeout = \"1h\"\nidle_timeout = \"1h\"",
        "",
    )
    .await;
    // Five connections, handshake done (so admitted), then silent: the bound is reached.
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(connect(&app.pki, app.port).await);
    }

    let mut health = connect(&app.pki, app.port).await;
    health.write_all(get("/healthz").as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut health).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(answer.ends_with("ok"), "{answer}");

    let mut ready = connect(&app.pki, app.port).await;
    ready.write_all(get("/readyz").as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut ready).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let mut api = connect(&app.pki, app.port).await;
    api.write_all(get("/system/v1.0/testconnection").as_bytes())
        .await
        .unwrap();
    let answer = read_until_closed(&mut api).await;
    let lower = answer.to_ascii_lowercase();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(lower.contains("retry-after: "), "{answer}");
    assert!(lower.contains("busy"), "a readable body: {answer}");

    let mut browser = connect(&app.pki, app.port).await;
    browser
        .write_all(get("/launch/session?language_code=de").as_bytes())
        .await
        .unwrap();
    let answer = read_until_closed(&mut browser).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("<html") && answer.contains("lang=\"de\""),
        "{answer}"
    );

    // Once the idle connections go, new ones are served normally again.
    drop(idle);
    until(
        "the bound frees up after the idle connections closed",
        async || {
            let mut next = connect(&app.pki, app.port).await;
            next.write_all(get("/system/v1.0/testconnection").as_bytes())
                .await
                .unwrap();
            let head = read_head(&mut next).await;
            if head.starts_with("HTTP/1.1 401") {
                return true;
            }
            assert!(head.starts_with("HTTP/1.1 503"), "{head}");
            false
        },
    )
    .await;
}

/// SIGTERM while 200 requests are in flight: no new connection is accepted, every request
/// gets a complete answer (200 for those that finish, 503 for those still waiting near the
/// deadline), and the process exits 0.
#[tokio::test]
async fn sigterm_under_load_answers_every_request_in_flight_and_exits_0() {
    const CLIENTS: usize = 200;
    const FINISHING: usize = 150;
    let pki = TestPki::new("shutdown");
    // The requests that finish are sent right after the signal; the deadline leaves them
    // a wide margin.
    let (_dir, path) =
        crate::helpers::write_config_with_server(&pki, "shutdown_timeout = \"10s\"", "");
    let port = free_port();
    let mut command = tokio::process::Command::new(binary());
    command
        .args(["serve", "--config", path.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("CONCUR_CONNECTOR") {
            command.env_remove(key);
        }
    }
    command.env(
        "CONCUR_CONNECTOR__SERVER__BIND",
        format!("127.0.0.1:{port}"),
    );
    let mut child = command.spawn().unwrap();
    until("the server starts", async || {
        TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;

    // Every client's request is dispatched: the server asked for its body (100 Continue).
    let request = format!(
        "POST /system/v1.0/testconnection HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: Basic {}\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
        basic_auth()
    );
    let mut in_flight = Vec::new();
    for _ in 0..CLIENTS {
        let mut stream = connect(&pki, port).await;
        stream.write_all(request.as_bytes()).await.unwrap();
        in_flight.push(stream);
    }
    for stream in &mut in_flight {
        let head = read_head(stream).await;
        assert!(head.starts_with("HTTP/1.1 100"), "{head}");
    }

    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());

    // New connections are refused while the requests are still in flight.
    until("the listener stops accepting after SIGTERM", async || {
        TcpStream::connect(("127.0.0.1", port)).await.is_err()
    })
    .await;

    let mut answers = Vec::new();
    for (i, mut stream) in in_flight.into_iter().enumerate() {
        answers.push(tokio::spawn(async move {
            if i < FINISHING {
                stream.write_all(b"ok").await.unwrap();
            }
            (i < FINISHING, read_until_closed(&mut stream).await)
        }));
    }
    for answer in answers {
        let (finished, answer) = answer.await.unwrap();
        if finished {
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert!(answer.ends_with("OK"), "a complete answer: {answer}");
        } else {
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            assert!(
                answer.to_ascii_lowercase().contains("retry-after: "),
                "{answer}"
            );
            assert!(
                answer.ends_with("try again shortly"),
                "a complete answer: {answer}"
            );
        }
    }
    let exit = tokio::time::timeout(SAFETY, child.wait())
        .await
        .expect("the process exits after the drain")
        .unwrap();
    assert_eq!(exit.code(), Some(0));
}
