//! Wiring: binds the listener, prepares TLS, builds the shared state, runs until stopped.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use axum_server::Handle;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::TokioTimer;

use crate::config::{ConfigProblem, ConnectionSettings, Settings, TlsSettings};
use crate::conn::BoundedAcceptor;
use crate::state::AppState;
use crate::{routes, tls};

/// What went wrong before the server could start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A configuration problem discovered while preparing (e.g. an unreadable key):
    /// reported like `check-config` problems, exit status 2.
    #[error("invalid configuration")]
    Config(Vec<ConfigProblem>),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<TlsRuntime>,
    state: Arc<AppState>,
    settings: Settings,
    handle: Handle<SocketAddr>,
    /// The admin listener (metrics, health, readiness), unless `admin.enabled = false`.
    admin: Option<TcpListener>,
    /// The embedded queue's administration socket, removed when the server stops.
    #[cfg(unix)]
    admin_socket: Option<crate::store::queue::socket::AdminSocket>,
}

struct TlsRuntime {
    rustls: RustlsConfig,
    /// Watches the certificate files; aborted when the server stops.
    reloader: tokio::task::JoinHandle<()>,
}

/// Loads (and in development generates) the certificate, enforcing the production rules.
/// `check-config` calls this too, so a bad key is caught before deployment.
pub fn prepare_tls(settings: &Settings) -> Result<Option<tls::LoadedCert>, Vec<ConfigProblem>> {
    let TlsSettings::Enabled {
        cert_file,
        key_file,
        generate_self_signed,
        allow_self_signed,
        ..
    } = &settings.tls
    else {
        return Ok(None);
    };
    if *generate_self_signed {
        match tls::ensure_self_signed(cert_file, key_file) {
            Ok(true) => tracing::warn!(
                cert = %cert_file.display(),
                "generated a self-signed certificate for localhost; Concur rejects self-signed certificates"
            ),
            Ok(false) => {}
            Err(e) => return Err(vec![ConfigProblem::new("tls.cert_file", e.to_string())]),
        }
    }
    let loaded = tls::load(cert_file, key_file).map_err(|e| {
        let key = match e {
            tls::TlsError::Certificate { .. } | tls::TlsError::Generate { .. } => "tls.cert_file",
            tls::TlsError::Key { .. } | tls::TlsError::Mismatch { .. } => "tls.key_file",
        };
        vec![ConfigProblem::new(key, e.to_string())]
    })?;
    if loaded.leaf.self_signed && !allow_self_signed {
        return Err(vec![ConfigProblem::new(
            "tls.cert_file",
            format!(
                "{} is self-signed and Concur rejects self-signed certificates; use a CA-signed \
                 full-chain certificate (or set tls.allow_self_signed = true for a private test)",
                cert_file.display()
            ),
        )]);
    }
    Ok(Some(loaded))
}

impl Application {
    /// Binds the listener (port 0 picks a free port) and prepares everything that can fail,
    /// so that `run_until_stopped` only serves.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        // Before anything is counted (the company token is fetched during start-up).
        if settings.admin.is_some() {
            crate::metrics::install();
        }
        let loaded = prepare_tls(&settings).map_err(StartupError::Config)?;
        let tls = match (loaded, &settings.tls) {
            (
                Some(loaded),
                TlsSettings::Enabled {
                    cert_file,
                    key_file,
                    watch,
                    ..
                },
            ) => {
                if loaded.leaf.self_signed {
                    tracing::warn!(
                        "serving a self-signed certificate: Concur will refuse to connect"
                    );
                }
                if loaded.leaf.expires_in_days < 21 {
                    tracing::warn!(
                        expires_in_days = loaded.leaf.expires_in_days,
                        "tls certificate expires soon"
                    );
                }
                tracing::info!(subject = %loaded.leaf.subject, issuer = %loaded.leaf.issuer, expires_in_days = loaded.leaf.expires_in_days, "tls certificate loaded");
                crate::metrics::certificate_served(loaded.leaf.not_after);
                let rustls = RustlsConfig::from_config(loaded.config);
                let reloader = tls::spawn_reloader(
                    rustls.clone(),
                    cert_file.clone(),
                    key_file.clone(),
                    *watch,
                )
                .context("starting the certificate reloader")?;
                Some(TlsRuntime { rustls, reloader })
            }
            _ => {
                tracing::warn!(
                    "tls is disabled: serve only behind a TLS-terminating proxy, Concur requires HTTPS"
                );
                None
            }
        };

        // The value source (CSV file, HTTP client), templates and stores before the port:
        // a configuration that cannot start never binds.
        let mut state = AppState::build(&settings).map_err(StartupError::Config)?;
        // The work queue too: Concur's notifications are acknowledged only once stored, so
        // a queue that cannot open is a configuration problem (naming its key), found now.
        state.notifications = crate::notify::Notifications::open(&settings)
            .await
            .map_err(StartupError::Config)?;
        // While the server holds the embedded queue file, the CLI administers it over a
        // socket beside it.
        #[cfg(unix)]
        let admin_socket = match (&state.notifications, &settings.queue.backend) {
            (Some(notifications), crate::config::QueueBackend::Embedded) => Some(
                crate::store::queue::socket::AdminSocket::bind(
                    &settings.queue.path,
                    notifications.queue.clone(),
                )
                .await
                .map_err(|e| {
                    StartupError::Config(vec![ConfigProblem::new("queue.path", e.to_string())])
                })?,
            ),
            _ => None,
        };
        let state = Arc::new(state);
        let listener = TcpListener::bind(settings.server.bind)
            .with_context(|| format!("binding {}", settings.server.bind))?;
        let local_addr = listener.local_addr().context("reading the bound address")?;
        let admin = settings.admin.map(bind_admin).transpose()?;
        if let Some(concur) = state.concur.clone() {
            // Fetch the company token now rather than on the first launch; a failure here is
            // retried on demand, so it only warns.
            tokio::spawn(async move {
                match concur.ensure_company_token().await {
                    Ok(()) => tracing::info!("concur company token ready"),
                    Err(error) => {
                        tracing::warn!(%error, "cannot get a concur company token yet; will retry on demand")
                    }
                }
            });
        }
        // Floods of bad requests are logged as counts: report them even when they stop.
        tokio::spawn(async {
            let mut every = tokio::time::interval(crate::telemetry::LOG_INTERVAL);
            loop {
                every.tick().await;
                crate::telemetry::flush_rate_limited_logs();
            }
        });
        Ok(Self {
            listener,
            local_addr,
            tls,
            state,
            settings,
            handle: Handle::new(),
            admin,
            #[cfg(unix)]
            admin_socket,
        })
    }

    /// Where the admin listener listens, when it is on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The Event Notification queue the server writes (tests and benches read it).
    pub fn notifications(&self) -> Option<crate::notify::Notifications> {
        self.state.notifications.clone()
    }

    /// `https://127.0.0.1:PORT` or `http://…`, for tests and the start-up banner.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// A handle to stop the server from elsewhere (tests, signal handling).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            handle: self.handle.clone(),
            state: self.state.clone(),
            grace: self.settings.server.shutdown_timeout,
        }
    }

    /// Serves until SIGINT/SIGTERM (or a [`ShutdownHandle`]) and open requests have drained,
    /// or the drain deadline has passed.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let app = routes::router(self.state.clone(), self.settings.server.request_timeout)
            .into_make_service_with_connect_info::<SocketAddr>();
        let stopper = self.shutdown_handle();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!(
                grace_secs = stopper.grace.as_secs(),
                "shutdown requested; draining"
            );
            stopper.stop();
        });
        // Event Notification's workers and the FAILED-list job run while the server does.
        let (stop_background, background_stopped) = tokio::sync::watch::channel(false);
        let background = spawn_notification_tasks(&self.state, &self.settings, &background_stopped);
        let limits = &self.settings.server.connections;
        let admin = match self.admin {
            Some(listener) => {
                let state = crate::admin::AdminState {
                    app: self.state.clone(),
                    // Start-up refuses to run without the certificate TLS needs.
                    tls_loaded: self.tls.is_some()
                        || matches!(self.settings.tls, TlsSettings::Disabled),
                    metrics: crate::metrics::install(),
                };
                Some(spawn_admin(listener, state, limits)?)
            }
            None => None,
        };
        let bounded = BoundedAcceptor::new(limits.max_connections, limits.idle_timeout);
        let mut server = axum_server::from_tcp(self.listener)?
            .handle(self.handle)
            // Covers the wait for the first bytes too, before the protocol is known.
            .first_request_timeout(limits.header_read_timeout);
        configure_http(server.http_builder(), limits);
        match self.tls {
            Some(tls) => {
                let acceptor = RustlsAcceptor::new(tls.rustls).acceptor(bounded);
                let served = server.acceptor(acceptor).serve(app).await;
                tls.reloader.abort();
                served?;
            }
            None => server.acceptor(bounded).serve(app).await?,
        }
        #[cfg(unix)]
        drop(self.admin_socket);
        stop_background.send_replace(true);
        // A decision under way is finished; one that takes longer than the drain deadline
        // is abandoned, and its job claimed again once its lease expires.
        let grace = self.settings.server.shutdown_timeout;
        if tokio::time::timeout(grace, futures_join_all(background))
            .await
            .is_err()
        {
            tracing::warn!("event notification workers still busy at the shutdown deadline");
        }
        // Readiness said "shutting down" while draining; now the admin listener goes too.
        if let Some((handle, task)) = admin {
            handle.graceful_shutdown(Some(ANSWER_MARGIN));
            let _ = task.await;
        }
        tracing::info!("server stopped");
        Ok(())
    }
}

/// The workers and the FAILED-list job, when notifications and the Concur client are on.
fn spawn_notification_tasks(
    state: &Arc<AppState>,
    settings: &Settings,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let (Some(notifications), Some(concur)) = (&state.notifications, &state.concur) else {
        return Vec::new();
    };
    let config = crate::notify::worker::WorkerConfig::from_settings(settings);
    let mut tasks = crate::notify::worker::spawn(state, &config, stop);
    tasks.extend(crate::notify::failed::spawn(
        concur.clone(),
        notifications.clone(),
        settings.notification.failed_poll_interval,
        stop,
    ));
    tasks
}

/// Binds the admin listener; one on an address others can reach is warned about.
fn bind_admin(bind: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(bind)
        .with_context(|| format!("binding the admin listener {bind} (admin.bind)"))?;
    if !bind.ip().is_loopback() {
        tracing::warn!(%bind, "the admin listener (metrics, health) is not on loopback: keep it on a private interface");
    }
    Ok(listener)
}

/// Serves the admin routes until its handle stops it, folding histograms meanwhile.
fn spawn_admin(
    listener: TcpListener,
    state: crate::admin::AdminState,
    limits: &ConnectionSettings,
) -> anyhow::Result<(Handle<SocketAddr>, tokio::task::JoinHandle<()>)> {
    let handle = Handle::new();
    let metrics = state.metrics;
    let app = crate::admin::router(state).into_make_service();
    let mut server = axum_server::from_tcp(listener)?
        .handle(handle.clone())
        .first_request_timeout(limits.header_read_timeout);
    configure_http(server.http_builder(), limits);
    let served = server
        .acceptor(crate::admin::acceptor(limits.idle_timeout))
        .serve(app);
    let task = tokio::spawn(async move {
        let upkeep = async {
            let mut every = tokio::time::interval(crate::metrics::UPKEEP_EVERY);
            loop {
                every.tick().await;
                metrics.run_upkeep();
            }
        };
        tokio::select! {
            served = served => if let Err(error) = served {
                tracing::error!(%error, "the admin listener stopped");
            },
            () = upkeep => {}
        }
    });
    Ok((handle, task))
}

/// Waits for every task (a panicked one counts as finished).
async fn futures_join_all(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
    }
}

/// HTTP/1.1 and HTTP/2 timeouts and bounds from `[server]`.
fn configure_http(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    limits: &ConnectionSettings,
) {
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .keep_alive_interval(limits.http2_keep_alive_interval)
        .keep_alive_timeout(limits.http2_keep_alive_timeout);
}

/// How long before the shutdown deadline requests still running are answered, so that the
/// answer is written before the connections close (at most half the deadline).
const ANSWER_MARGIN: Duration = Duration::from_secs(1);

/// Stops a running [`Application`] gracefully.
#[derive(Clone)]
pub struct ShutdownHandle {
    handle: Handle<SocketAddr>,
    state: Arc<AppState>,
    grace: Duration,
}

impl ShutdownHandle {
    /// Marks the server not ready, stops accepting, and gives open requests the drain
    /// deadline; shortly before it, requests still running are answered 503, so that each
    /// gets an answer before the remaining connections are closed.
    pub fn stop(&self) {
        if !self.state.ready.swap(false, Ordering::Relaxed) {
            return;
        }
        self.handle.graceful_shutdown(Some(self.grace));
        let state = self.state.clone();
        let answer_at = self.grace.saturating_sub(ANSWER_MARGIN.min(self.grace / 2));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                tokio::time::sleep(answer_at).await;
                state.answer_now.send_replace(true);
            });
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
