//! A small fake connector over TLS for the callout tests (the simulator's demo routes and
//! `concur-connector try`): it answers Fetch List and Fetch Attendee as a correct connector
//! would, with the demo's projects, tasks and attendees, or wrongly on demand.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum_server::tls_rustls::RustlsConfig;
use base64::Engine as _;
use concur_protocol::callout::xml::{self, Element};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// Projects (level 1) and their tasks (level 2), as the demo configuration has them.
/// (code, name, tasks as (code, name)).
type Project = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const PROJECTS: [Project; 3] = [
    (
        "P100",
        "Apollo website relaunch",
        &[("DES", "Design"), ("BLD", "Build"), ("TST", "Test")],
    ),
    (
        "P200",
        "Borealis data platform",
        &[("ING", "Ingestion"), ("RPT", "Reporting")],
    ),
    (
        "P300",
        "Customer summit Berlin",
        &[("VEN", "Venue"), ("TRV", "Travel")],
    ),
];

/// ExternalID, first, middle, last, title, company, type, Custom8.
type Person = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const ATTENDEES: [Person; 4] = [
    (
        "1234567890",
        "Chris",
        "T",
        "Miller",
        "CFO",
        "Len Dev",
        "BUSGUEST",
        "North America",
    ),
    (
        "EXT-2001",
        "Dana",
        "",
        "Okafor",
        "Head of Sales",
        "Borealis GmbH",
        "BUSGUEST",
        "",
    ),
    (
        "EXT-2002", "Ana", "", "Lima", "CTO", "Len Dev", "BUSGUEST", "",
    ),
    (
        "HCP-3001",
        "Priya",
        "",
        "Raman",
        "",
        "Horizon Clinic",
        "BUSGUEST",
        "",
    ),
];

pub struct FakeConnector {
    /// `https://127.0.0.1:PORT/`
    pub base_url: String,
    /// The CA the fake's certificate comes from.
    pub ca_pem: String,
    state: Arc<FakeState>,
    server: axum_server::Handle<SocketAddr>,
}

struct FakeState {
    authorization: String,
    broken: AtomicBool,
    /// What the notify endpoint answers; 0: `200`.
    notify_status: AtomicU16,
    bodies: Mutex<Vec<String>>,
}

impl FakeConnector {
    /// Starts on a free port; answers only requests with these Basic credentials.
    pub async fn start(user: &str, password: &str) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let (ca_pem, leaf_pem, key_pem) = pki();
        let state = Arc::new(FakeState {
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
            broken: AtomicBool::new(false),
            notify_status: AtomicU16::new(0),
            bodies: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/concur/list/v1.2/fetch", post(fetch_list))
            .route("/concur/attendee/v2.0/fetch", post(fetch_attendee))
            .route("/concur/v1.0/notify", post(notify))
            .with_state(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let tls = RustlsConfig::from_pem(leaf_pem.into_bytes(), key_pem.into_bytes())
            .await
            .unwrap();
        let server = axum_server::Handle::new();
        let serving = axum_server::from_tcp_rustls(listener, tls)
            .unwrap()
            .handle(server.clone())
            .serve(app.into_make_service());
        tokio::spawn(serving);
        Self {
            base_url: format!("https://127.0.0.1:{port}/"),
            ca_pem,
            state,
            server,
        }
    }

    /// From now on, answer wrongly: list items without `match-value` and with a `code`
    /// lacking the long code, attendees without `ExternalID`.
    pub fn break_answers(&self) {
        self.state.broken.store(true, Ordering::SeqCst);
    }

    /// From now on, the notify endpoint answers `status` (a connector that is down: 503).
    /// Only the simulator's own tests play notifications; the connector's share this file.
    #[allow(dead_code)]
    pub fn answer_notifications_with(&self, status: StatusCode) {
        self.state
            .notify_status
            .store(status.as_u16(), Ordering::SeqCst);
    }

    /// Every request body received, oldest first.
    pub fn bodies(&self) -> Vec<String> {
        self.state.bodies.lock().unwrap().clone()
    }
}

impl Drop for FakeConnector {
    fn drop(&mut self) {
        self.server.shutdown();
    }
}

fn pki() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "fake connector CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}

/// The request's document, after the Basic check; records the body.
fn admit(state: &FakeState, headers: &HeaderMap, body: &str) -> Result<Element, StatusCode> {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == state.authorization.as_bytes());
    if !authorized {
        return Err(StatusCode::UNAUTHORIZED);
    }
    state.bodies.lock().unwrap().push(body.to_owned());
    xml::parse(body.as_bytes()).map_err(|_| StatusCode::BAD_REQUEST)
}

/// Event Notification: Basic check, the body recorded, a `<Notification>` root, then the
/// configured answer (`200` with an empty text body unless told otherwise).
async fn notify(State(state): State<Arc<FakeState>>, headers: HeaderMap, body: String) -> Response {
    let document = match admit(&state, &headers, &body) {
        Ok(document) => document,
        Err(status) => return refusal(status),
    };
    if !document.name.eq_ignore_ascii_case("Notification") {
        return refusal(StatusCode::BAD_REQUEST);
    }
    match state.notify_status.load(Ordering::SeqCst) {
        0 => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")]).into_response(),
        status => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            .into_response(),
    }
}

fn refusal(status: StatusCode) -> Response {
    (
        status,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"connector\"")],
    )
        .into_response()
}

fn xml_answer(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `*` alone: all; `Abc*`: begins with; no `*`: exact; all ASCII-case-insensitive.
fn matches(query: &str, value: &str) -> bool {
    let query = query.to_ascii_lowercase();
    let value = value.to_ascii_lowercase();
    match query.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => value == query,
    }
}

async fn fetch_list(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let request = match admit(&state, &headers, &body) {
        Ok(request) => request,
        Err(status) => return refusal(status),
    };
    let text = |name: &str| request.child_text(name).unwrap_or_default().to_owned();
    let (long_code, query) = (text("long-code"), text("query"));
    let by_code = text("search-by").eq_ignore_ascii_case("CODE");
    let limit: usize = text("num-to-return").parse().unwrap_or(100);
    let candidates: Vec<(&str, &str)> = if long_code.is_empty() {
        PROJECTS
            .iter()
            .map(|(code, name, _)| (*code, *name))
            .collect()
    } else {
        PROJECTS
            .iter()
            .filter(|(code, _, _)| *code == long_code)
            .flat_map(|(_, _, tasks)| tasks.iter().copied())
            .collect()
    };
    let broken = state.broken.load(Ordering::SeqCst);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><fetch-list-response>");
    for (short, name) in candidates
        .into_iter()
        .filter(|(short, name)| matches(&query, if by_code { short } else { name }))
        .take(limit)
    {
        let code = if long_code.is_empty() || broken {
            short.to_owned()
        } else {
            format!("{long_code}-{short}")
        };
        let matched = if by_code { short } else { name };
        out.push_str(&format!(
            "<item><code>{code}</code><short-code>{short}</short-code><text>{name}</text>"
        ));
        if !broken {
            out.push_str(&format!("<match-value>{matched}</match-value>"));
        }
        out.push_str("</item>");
    }
    out.push_str("</fetch-list-response>");
    xml_answer(out)
}

async fn fetch_attendee(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let request = match admit(&state, &headers, &body) {
        Ok(request) => request,
        Err(status) => return refusal(status),
    };
    let Some(search) = request.child("Attendee") else {
        return xml_answer("<AttendeeSearchResponse/>".to_owned());
    };
    let filter = |name: &str, value: &str| {
        search.child_text(name).is_none_or(|wanted| {
            value
                .to_ascii_lowercase()
                .starts_with(&wanted.to_ascii_lowercase())
        })
    };
    let broken = state.broken.load(Ordering::SeqCst);
    let mut out = String::from("<AttendeeSearchResponse>");
    for (id, first, middle, last, title, company, kind, custom8) in ATTENDEES {
        if !(filter("FirstName", first)
            && filter("LastName", last)
            && filter("Company", company)
            && filter("Title", title)
            && filter("ExternalID", id))
        {
            continue;
        }
        out.push_str("<Attendee>");
        if !broken {
            out.push_str(&format!("<ExternalID>{id}</ExternalID>"));
        }
        for (name, value) in [
            ("FirstName", first),
            ("MiddleInitial", middle),
            ("LastName", last),
            ("Suffix", ""),
            ("Company", company),
            ("AttendeeTypeCode", kind),
            ("Title", title),
        ] {
            xml::push_element(&mut out, name, value);
        }
        for n in 1..=25 {
            let value = if n == 8 { custom8 } else { "" };
            xml::push_element(&mut out, &format!("Custom{n}"), value);
        }
        out.push_str("</Attendee>");
    }
    out.push_str("</AttendeeSearchResponse>");
    xml_answer(out)
}
