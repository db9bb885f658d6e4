//! A throw-away `redis-server` on a free port, killed when dropped (Debian package
//! `redis-server`; scripts/test.sh installs it).

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Child,
    pub port: u16,
    /// Extra arguments (TLS, ACL users), kept for [`Self::restart`].
    args: Vec<String>,
    /// Its working directory, where a replica writes the data it receives (never the
    /// checkout).
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server without persistence and waits until it answers PING.
    pub fn start() -> Self {
        Self::start_with(|_| Vec::new())
    }

    /// [`Self::start`] with extra arguments, made from the free port chosen for TLS.
    pub fn start_with(args: impl Fn(u16) -> Vec<String>) -> Self {
        // Losing the free port to someone else is possible: then try another.
        (0..5)
            .find_map(|_| Self::spawn(free_port(), args(free_port())))
            .expect("redis-server did not start")
    }

    /// Starts a server on `port` (e.g. to restart one that was stopped); None if it does
    /// not answer.
    pub fn start_on(port: u16) -> Option<Self> {
        Self::spawn(port, Vec::new())
    }

    /// Kills the server and starts a new one on the same ports with the same arguments
    /// (its data is gone: no persistence).
    pub fn restart(&mut self) {
        self.stop();
        *self = Self::spawn(self.port, self.args.clone()).expect("redis-server restarts");
    }

    fn spawn(port: u16, args: Vec<String>) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs it)");
        let mut server = Self {
            child,
            port,
            args,
            _dir: dir,
        };
        server
            .answers_within(Duration::from_secs(10))
            .then_some(server)
    }

    /// The `--tls-port` it was started with, if any.
    pub fn tls_port(&self) -> Option<u16> {
        let at = self.args.iter().position(|a| a == "--tls-port")?;
        self.args.get(at + 1)?.parse().ok()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Runs one command on the plain port with `redis-cli` (as the `default` user); its
    /// output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is installed with redis-server");
        assert!(output.status.success(), "redis-cli {args:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `INFO`'s value of `field`, if the server has it.
    pub fn info(&self, field: &str) -> Option<String> {
        self.cli(&["INFO"])
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{field}:")))
            .map(|value| value.trim().to_owned())
    }

    /// Stops the server now (a Redis outage).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn answers_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            // Another test's server may hold the port (ours then fails to bind and exits):
            // the one answering must be ours.
            if ping(self.port) {
                return self.info("process_id").as_deref() == Some(&self.child.id().to_string());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}
