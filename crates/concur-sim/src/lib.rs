//! concur-sim: a simulator of the SAP Concur services the connector talks to, served over HTTPS.
//!
//! It plays Concur as faithfully as the protocol reference allows, so tests, the demo and
//! benchmarks need no real Concur:
//!
//! | Route | What |
//! |---|---|
//! | `POST /oauth2/v0/token` | grants `refresh_token` (rotating), `password` + `credtype=authtoken` (company), `authorization_code` (one-time codes minted with launches), `client_credentials`; documented error codes |
//! | `GET /oauth2/v0/jwks` | the RS256 key that signs `id_token`s |
//! | `GET`/`PATCH /expensereports/v4/users/{userID}/context/{contextType}/reports/{reportId}` | report header (PATCH: `reportSource` required) |
//! | `GET .../reports/{reportId}/expenses/{expenseId}` | expense (`ReportExpenseDetail`) |
//! | `GET`/`PATCH .../reports/{reportId}/allocations/{allocationId}` | allocation (PATCH: `allocation` + `expenseIds`) |
//! | `PATCH /expensereports/v4/reports/{reportId}/expenses/{expenseId}` | compact expense PATCH, company token only, `expenseSource` required |
//! | `PATCH /expensereports/v4/reports/{reportId}` | submitted-header PATCH, company token only |
//! | `GET`/`PUT /api/v3.0/expense/entries/{id}` | v3 entry (PUT: `{"CustomN": "..."}` partial update) |
//! | `GET /api/expense/expensereport/v1.1/report/{reportId}/entry/{entryId}` | v1.1 `ExpenseEntry` XML |
//! | `GET .../reports/{reportId}/expenses`, `.../expenses/{expenseId}/allocations` | a report's expenses / an expense's allocations (arrays) |
//! | `GET /api/expense/expensereport/v1.1/reportfulldetails/{reportKey}` | v1.1 `ReportDetails` XML (the notification's `ObjectURI`) |
//! | `PATCH /expensereports/v4/reports/{reportId}/approve`, `.../sendBack` | workflow actions, company token, `expectedStepCode` checked, 204 |
//! | `GET /api/platform/notifications/v1.0/notification?status=FAILED`, `DELETE .../notification/{id}` | failed-notification list (XML, or JSON by `Accept`) and delete |
//! | `GET /profile/identity/v4/Users?filter=userName eq "<login>"` | Identity v4 (SCIM `ListResponse`: `id`, `userName`, `preferredLanguage`), company token |
//! | `GET`/`PUT /travelrequest/v4/requests/{requestUuid}` | Concur Request header (PUT: partial update, `200` with the request) |
//! | `GET`/`PUT /travelrequest/v4/expenses/{expenseUuid}` | expected expense (PUT with a company token: `userId` required) |
//! | `GET`/`PUT /travelrequest/v4/requests/{requestUuid}/allocations/{allocationUuid}` | request allocation (an array of one) |
//! | `/_sim/...` | admin API, see below |
//!
//! Every answer carries a `concur-correlationid` header; errors use each API's documented
//! body (v4 `ErrorMessage`, v3 `{Message}`, v1.1 `<Error>`, OAuth `{code, error, ...}`,
//! Travel Request `{errorCode, errorMessage}`).
//! Writes change the data (a later GET shows them) and are recorded with their exact body.
//!
//! Admin API (JSON, never subject to faults):
//!
//! | Route | What |
//! |---|---|
//! | `GET`/`DELETE /_sim/writes` | recorded write attempts ([`RecordedWrite`]) / clear them |
//! | `GET`/`DELETE /_sim/requests` | every call to the Concur surface ([`RecordedRequest`]) / clear |
//! | `GET`/`PUT /_sim/faults` | read / replace the fault knobs ([`Faults`]; omitted fields are off) |
//! | `POST /_sim/launch/v4` | mint a signed v4 launch ([`V4LaunchRequest`] → [`MintedLaunch`]; `"product": "request"` for Concur Request) |
//! | `POST /_sim/launch/v1` | mint a signed v1 launch ([`V1LaunchRequest`] → [`MintedLaunch`]) |
//! | `GET /_sim/state` | the current data in the seed format ([`Seed`]) |
//! | `POST /_sim/reset` | restore the seed's data, clear records and faults |
//! | `POST /_sim/tokens/expire` | expire every access token issued so far |
//! | `GET /_sim/ca.pem` | the CA certificate to trust |
//! | `POST /_sim/reports/{reportId}/submit` | submit a report into external validation and notify the connector ([`NotificationDelivery`]) |
//! | `GET /_sim/notifications` | every notification delivery attempted |
//!
//! Demo pages for people (see `demo`): `GET /` lists the reports and travel requests,
//! `GET /expense/{reportId}` shows a report like Concur Expense and `GET /request/{requestId}`
//! a request like Concur Request, with Launch URL fields that open the connector in a popup
//! (`/_sim/demo/...` mints the launches); the report has a Submit button that sends it into
//! external validation and shows its workflow status until the connector has decided. The
//! connector starts one beside `serve` for its demo.

mod admin;
mod callouts;
mod demo;
mod error;
mod faults;
mod identity;
mod launch;
mod oauth;
mod read;
mod record;
mod request;
pub mod seed;
mod state;
mod tls;
mod tokens;
mod v1;
mod v3;
mod v4;
mod workflow;
mod write;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum_server::tls_rustls::RustlsConfig;
use reqwest::Url;
use secrecy::SecretString;

use self::error::{ApiError, Family, OAuthError};
use self::record::RequestNote;
use self::state::Settings;
use self::tokens::JwtSigner;
use concur_protocol::callout::conformance::{DEFAULT_FETCH_ATTENDEE_PATH, DEFAULT_FETCH_LIST_PATH};
use concur_protocol::credentials::ConnectorCredentials;

pub use self::faults::{Faults, IdTokenFault};
pub use self::launch::{MintError, MintedLaunch, QueryEncoding, V1LaunchRequest, V4LaunchRequest};
pub use self::record::{NotificationDelivery, Principal, RecordedRequest, RecordedWrite, WriteApi};
pub use self::seed::{AttendeeEntry, ListChoice, Seed, SeedError};
pub use self::state::{Lifetimes, SimHandle};
pub use self::tls::SimTls;
pub use self::workflow::{EXTERNAL_VALIDATION_STEP, EXTERNAL_VALIDATION_STEP_NAME, SubmitError};

/// Concur's support header, sent on every answer.
pub const CORRELATION_HEADER: HeaderName = HeaderName::from_static("concur-correlationid");

/// Everything a simulator needs to start. Build with [`SimConfig::new`], then adjust fields.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// The base URL clients should use (`geolocation`, `item_url` host). Defaults to
    /// `https://{bind ip}:{port}`, with `localhost` for an unspecified bind address.
    pub public_base_url: Option<Url>,
    /// The host name of the default base URL (e.g. `localhost`, as a browser shows it);
    /// default: the bind address. Ignored when `public_base_url` is set.
    pub public_host: Option<String>,
    pub tls: SimTls,
    pub seed: Seed,
    /// The connector's OAuth client as registered in Concur.
    pub client_id: String,
    pub client_secret: SecretString,
    /// The client's registered redirect URL; authorization-code grants must send exactly it.
    pub redirect_uri: String,
    /// The company request token (password grant with `credtype=authtoken`, user name =
    /// the seed's company id).
    pub company_request_token: SecretString,
    /// A company refresh token that is valid from the start (as if created in Concur).
    pub company_refresh_token: Option<SecretString>,
    /// The connector's registered user name and password: the launch signing key.
    pub connector: ConnectorCredentials,
    /// The connector's v4 launch endpoint (Concur default path `/launchexternalurl/v4/form`).
    pub launch_url_v4: Url,
    /// The connector's v1 launch endpoint (Concur default path `/concur/form/v1.0/get`).
    pub launch_url_v1: Url,
    /// The connector's Concur Request launch endpoint (Concur default path
    /// `/request/launchexternalurl/v4/form`).
    pub launch_url_request: Url,
    /// The connector's Fetch List endpoint (Concur default path `/concur/list/v1.2/fetch`).
    pub fetch_list_url: Url,
    /// The connector's Fetch Attendee endpoint (default path `/concur/attendee/v2.0/fetch`).
    pub fetch_attendee_url: Url,
    /// The PEM CA bundle the connector's certificate comes from, trusted beside the system
    /// roots when calling it; default: the simulator's own CA (the demo's connector serves
    /// the simulator's leaf).
    pub connector_ca_pem: Option<String>,
    pub lifetimes: Lifetimes,
    /// The `scope` of token responses.
    pub scope: String,
    /// The connector's Event Notification endpoint (Concur default path
    /// `/concur/v1.0/notify`): submitted reports are notified there, trusting
    /// `connector_ca_pem` like the other callouts. `None`: not notified.
    pub notify_url: Option<Url>,
}

/// Fictitious OAuth client of the protocol reference's worked examples (docs/protocol.md §14.2).
pub const DEFAULT_CLIENT_ID: &str = "11111111-2222-4333-8444-555555555555";
/// Fictitious client secret of the protocol reference's worked examples (docs/protocol.md §14.2).
pub const DEFAULT_CLIENT_SECRET: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";

impl SimConfig {
    /// Defaults: listen on `127.0.0.1:0`, built-in seed, the example OAuth client, launch
    /// endpoints at Concur's default paths under `connector_base_url`, redirect URI = the v4
    /// launch endpoint, a random company request token, Concur's token lifetimes.
    pub fn new(
        connector: ConnectorCredentials,
        connector_base_url: &Url,
        tls: SimTls,
    ) -> anyhow::Result<Self> {
        let launch_url_v4 = connector_base_url
            .join("launchexternalurl/v4/form")
            .context("building the v4 launch URL")?;
        let launch_url_v1 = connector_base_url
            .join("concur/form/v1.0/get")
            .context("building the v1 launch URL")?;
        let launch_url_request = connector_base_url
            .join("request/launchexternalurl/v4/form")
            .context("building the Request launch URL")?;
        let fetch_list_url = connector_base_url
            .join(DEFAULT_FETCH_LIST_PATH.trim_start_matches('/'))
            .context("building the Fetch List URL")?;
        let fetch_attendee_url = connector_base_url
            .join(DEFAULT_FETCH_ATTENDEE_PATH.trim_start_matches('/'))
            .context("building the Fetch Attendee URL")?;
        Ok(Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_base_url: None,
            public_host: None,
            tls,
            seed: Seed::builtin(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: SecretString::from(DEFAULT_CLIENT_SECRET),
            redirect_uri: launch_url_v4.to_string(),
            company_request_token: SecretString::from(uuid::Uuid::new_v4().to_string()),
            company_refresh_token: None,
            connector,
            launch_url_v4,
            launch_url_v1,
            launch_url_request,
            fetch_list_url,
            fetch_attendee_url,
            connector_ca_pem: None,
            lifetimes: Lifetimes::default(),
            scope: "expense.report.read expense.report.readwrite user.read EXPRPT".to_owned(),
            notify_url: None,
        })
    }
}

/// A simulator serving in the background. Dereferences to its [`SimHandle`].
pub struct RunningSim {
    handle: SimHandle,
    addr: SocketAddr,
    ca_pem_path: PathBuf,
    server: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl std::ops::Deref for RunningSim {
    type Target = SimHandle;

    fn deref(&self) -> &SimHandle {
        &self.handle
    }
}

impl RunningSim {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA file the connector should trust for the simulator's certificate.
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem_path
    }

    /// A handle that outlives this value (for the demo, the CLI or spawned tasks).
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops accepting, lets open requests finish (up to five seconds), and waits.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.server.graceful_shutdown(Some(Duration::from_secs(5)));
        self.task
            .await
            .context("the simulator task panicked")?
            .context("the simulator server failed")
    }
}

/// Starts a simulator: prepares TLS, binds, serves in a background task, returns once the
/// listener is bound (so clients can connect at once).
pub async fn start(config: SimConfig) -> anyhow::Result<RunningSim> {
    let tls = tls::prepare(&config.tls)?;
    let listener = std::net::TcpListener::bind(config.bind)
        .with_context(|| format!("binding the simulator to {}", config.bind))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let base_url = match &config.public_base_url {
        Some(url) => url.clone(),
        None => {
            let host = match (&config.public_host, addr.ip()) {
                (Some(host), _) => host.clone(),
                (None, ip) if ip.is_unspecified() => "localhost".to_owned(),
                (None, std::net::IpAddr::V4(ip)) => ip.to_string(),
                (None, std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
            };
            Url::parse(&format!("https://{host}:{}/", addr.port()))
                .context("building the simulator's base URL")?
        }
    };
    let geolocation = base_url.as_str().trim_end_matches('/').to_owned();
    // RSA key generation is slow; keep it off the async worker threads.
    let signer = tokio::task::spawn_blocking(JwtSigner::generate)
        .await
        .context("the key generation task panicked")??;
    let callout_client =
        callouts::client(config.connector_ca_pem.as_deref().unwrap_or(&tls.ca_pem))?;
    let settings = Settings {
        geolocation,
        base_url,
        client_id: config.client_id,
        client_secret: config.client_secret,
        redirect_uri: config.redirect_uri,
        company_request_token: config.company_request_token,
        company_request_token_expires: SystemTime::now() + config.lifetimes.company_request_token,
        lifetimes: config.lifetimes,
        scope: config.scope,
        connector: config.connector,
        launch_url_v4: config.launch_url_v4,
        launch_url_v1: config.launch_url_v1,
        launch_url_request: config.launch_url_request,
        ca_pem: tls.ca_pem,
        notify_url: config.notify_url,
        fetch_list_url: config.fetch_list_url,
        fetch_attendee_url: config.fetch_attendee_url,
        callout_client,
    };
    let handle = SimHandle::new(settings, signer, config.seed);
    if let Some(token) = config.company_refresh_token {
        handle.seed_company_refresh_token(secrecy::ExposeSecret::expose_secret(&token).to_owned());
    }

    let server = axum_server::Handle::new();
    let app = router(handle.clone());
    let serving =
        axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(tls.server_config))
            .context("handing the listener to the TLS server")?
            .handle(server.clone())
            .serve(app.into_make_service());
    let task = tokio::spawn(serving);
    Ok(RunningSim {
        handle,
        addr,
        ca_pem_path: tls.ca_pem_path,
        server,
        task,
    })
}

/// All routes: the Concur surface (with fault knobs and the request log) plus `/_sim/`.
pub fn router(sim: SimHandle) -> Router {
    let concur = Router::new()
        .merge(oauth::routes())
        .merge(v4::routes())
        .merge(v3::routes())
        .merge(v1::routes())
        .merge(workflow::routes())
        .merge(identity::routes())
        .merge(request::routes())
        .layer(middleware::from_fn_with_state(sim.clone(), concur_surface));
    Router::new()
        .merge(concur)
        .merge(admin::routes())
        .merge(demo::routes())
        .with_state(sim)
        .layer(middleware::map_response(correlation_id))
}

/// Applies the fault knobs and records the call.
async fn concur_surface(State(sim): State<SimHandle>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().to_string();
    let correlation_id = request
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let host = request_host(&request);
    let Some(family) = Family::of(&path) else {
        return next.run(request).await;
    };
    let is_token_call = path == "/oauth2/v0/token";
    let decision = sim.decide_faults(family, is_token_call);
    if !decision.latency.is_zero() {
        tokio::time::sleep(decision.latency).await;
    }
    let (response, injected) = match decision.inject {
        Some(fault) => {
            let response = if family == Family::OAuth {
                OAuthError {
                    retry_after: fault.retry_after,
                    ..OAuthError::unavailable(fault.status, sim.geolocation())
                }
                .into_response()
            } else {
                let message = if fault.status.is_server_error() {
                    "injected fault: service unavailable"
                } else if fault.status == axum::http::StatusCode::TOO_MANY_REQUESTS {
                    "too many requests"
                } else {
                    "access token has expired"
                };
                ApiError {
                    retry_after: fault.retry_after,
                    ..ApiError::new(family, fault.status, &path, message)
                }
                .into_response()
            };
            (response, true)
        }
        None => (next.run(request).await, false),
    };
    let note = response.extensions().get::<RequestNote>();
    let status = response.status().as_u16();
    let caller = record::Caller {
        correlation_id,
        host,
    };
    sim.record_request(&method, &path, status, note, injected, caller);
    // Applied and recorded first, answered late: a caller that gives up meanwhile cannot
    // undo the write.
    let answer_delay = sim.lock().faults.knobs.write_answer_delay_ms;
    if answer_delay > 0 && family.is_api() && matches!(method.as_str(), "PATCH" | "PUT") {
        tokio::time::sleep(Duration::from_millis(answer_delay)).await;
    }
    response
}

/// `host:port` a request was addressed to: its authority (HTTP/2) or `Host` header.
pub(crate) fn request_host<B>(request: &axum::http::Request<B>) -> Option<String> {
    request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            request
                .headers()
                .get(axum::http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .map(|h| h.trim().to_ascii_lowercase())
}

/// Adds `concur-correlationid` unless a handler already chose one (writes record theirs).
async fn correlation_id(mut response: Response) -> Response {
    if !response.headers().contains_key(CORRELATION_HEADER)
        && let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
    {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    response
}

pub(crate) fn now_rfc3339() -> String {
    humantime_serde::re::humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// v1.1 and v4 print currencies by name (`US, Dollar`, docs/protocol.md T30).
pub(crate) fn currency_name(code: &str) -> &str {
    match code {
        "USD" => "US, Dollar",
        "EUR" => "Euro",
        "GBP" => "UK, Pound Sterling",
        "CHF" => "Swiss Franc",
        "CAD" => "Canadian Dollar",
        "JPY" => "Japan, Yen",
        other => other,
    }
}
