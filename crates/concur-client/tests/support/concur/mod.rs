//! Helpers for testing the Concur client (against wiremock, and in the connector's contract
//! tests against the simulator): settings, bodies, matchers,
//! an RSA key that signs `id_token`s, and a log capture.
#![allow(dead_code)]

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use concur_client::{ClientConfig, ConcurClient, ConcurError, ExpenseItem, STATE_FILE_NAME};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Match, Mock, MockBuilder, MockServer, Request, ResponseTemplate};

pub const CLIENT_ID: &str = "11111111-2222-4333-8444-555555555555";
pub const CLIENT_SECRET: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";
pub const REDIRECT_URI: &str = "https://leu.example.com/launchexternalurl/v4/form";
pub const SEED_REFRESH: &str = "seed-refresh-token-0000";
pub const USER_ID: &str = "32c2fcc3-b2e8-4907-9672-5b3f49b1c643";
pub const REPORT_ID: &str = "764428DD6A664AF0BFCB";
pub const EXPENSE_ID: &str = "84FCBB92BD4E5342B849DAC29FD163A1";
pub const ALLOCATION_ID: &str = "3BBB494511E1C74DA04469C45B039871";
pub const TOKEN_PATH: &str = "/oauth2/v0/token";
pub const JWKS_PATH: &str = "/oauth2/v0/jwks";
/// The v3 entry most wiremock tests read (any id works; this one needs no encoding).
pub const V3_E1_PATH: &str = "/api/v3.0/expense/entries/E1";

/// The path of the protocol's example 2 expense (v4, TRAVELER context).
pub fn v4_expense_path() -> String {
    format!(
        "/expensereports/v4/users/{USER_ID}/context/TRAVELER/reports/{REPORT_ID}/expenses/{EXPENSE_ID}"
    )
}

pub fn v4_report_path() -> String {
    format!("/expensereports/v4/users/{USER_ID}/context/TRAVELER/reports/{REPORT_ID}")
}

pub fn v4_allocation_path() -> String {
    format!(
        "/expensereports/v4/users/{USER_ID}/context/PROXY/reports/{REPORT_ID}/allocations/{ALLOCATION_ID}"
    )
}

/// `host:port` of a base URL, as `allowed_geolocation_hosts` wants it.
pub fn host_port(base: &str) -> String {
    let url = reqwest::Url::parse(base).expect("base url");
    format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port_or_known_default().expect("port")
    )
}

/// Settings pointing everything at `base` (also an allowed geolocation), with short
/// timeouts and backoffs.
pub fn settings(base: &str, state_dir: &Path) -> Value {
    json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
        "auth_base_url": base,
        "allowed_geolocation_hosts": [host_port(base)],
        "jwks_url": format!("{base}{JWKS_PATH}"),
        "refresh_token": SEED_REFRESH,
        "state_dir": state_dir,
        "connect_timeout": "1s",
        "request_timeout": "2s",
        "max_retries": 2,
        "retry_base_delay": "5ms",
        "retry_max_delay": "20ms",
        "token_refresh_margin": "60s",
    })
}

/// The client's configuration from settings written as the connector's `[concur]` table:
/// each test binary says how (`client_config` at its root), since only the connector can run
/// the connector's own validation.
pub fn config(settings: Value) -> ClientConfig {
    crate::client_config(settings)
}

/// A mock Concur with a client whose token state lives in a fresh temporary directory.
pub struct Harness {
    pub server: MockServer,
    pub state: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Self {
        Self {
            server: MockServer::start().await,
            state: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn settings(&self) -> Value {
        settings(&self.server.uri(), self.state.path())
    }

    pub fn client(&self) -> ConcurClient {
        self.client_with(self.settings())
    }

    pub fn client_with(&self, settings: Value) -> ConcurClient {
        ConcurClient::with_file_store(config(settings)).expect("client builds")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.uri())
    }

    /// The v4 expense URL of the protocol's example 2 on this server.
    pub fn v4_expense_url(&self) -> String {
        self.url(&v4_expense_path())
    }

    pub fn v4_report_url(&self) -> String {
        self.url(&v4_report_path())
    }

    pub fn v4_allocation_url(&self) -> String {
        self.url(&v4_allocation_path())
    }

    pub fn v3_e1_url(&self) -> String {
        self.url(V3_E1_PATH)
    }

    /// Reads the v3 entry E1 with a fresh client and the company token.
    pub async fn read_v3_e1(&self) -> Result<ExpenseItem, ConcurError> {
        self.client().read_item(&self.v3_e1_url(), None, None).await
    }

    /// Answers every refresh-token grant with `access` (no rotation).
    pub async fn mount_company_token(&self, access: &str) {
        token_mock("refresh_token")
            .respond_with(token_response(access, SEED_REFRESH, None))
            .mount(&self.server)
            .await;
    }
}

/// `POST /oauth2/v0/token` with a form body of this grant type.
pub fn token_mock(grant_type: &str) -> MockBuilder {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains(format!("grant_type={grant_type}")))
}

/// The refresh-token grant for exactly this refresh token, with the configured credentials.
pub fn refresh_grant(refresh: &str) -> MockBuilder {
    token_mock("refresh_token").and(FormIs::new(&[
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
    ]))
}

/// `GET` of this path.
pub fn get(at: impl Into<String>) -> MockBuilder {
    Mock::given(method("GET")).and(path(at))
}

/// Answers `response` to the first matching request only, ahead of the other mocks, and
/// expects exactly that one request: how a transient failure is staged.
pub fn first_only(mock: MockBuilder, response: ResponseTemplate) -> Mock {
    mock.respond_with(response)
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
}

/// The token state a client saved in `state_dir`.
pub fn saved_state(state_dir: &Path) -> Value {
    let bytes = std::fs::read(state_dir.join(STATE_FILE_NAME)).expect("state file");
    serde_json::from_slice(&bytes).expect("state file is json")
}

/// A token response body as Concur documents it (`expires_in` as a string).
pub fn token_body(access: &str, refresh: &str, geolocation: Option<&str>) -> Value {
    let mut body = json!({
        "expires_in": "3600",
        "scope": "expense.report.readwrite",
        "token_type": "Bearer",
        "access_token": access,
        "refresh_token": refresh,
        "refresh_expires_in": 4_102_444_800u64,
    });
    if let Some(geo) = geolocation {
        body["geolocation"] = geo.into();
    }
    body
}

pub fn token_response(access: &str, refresh: &str, geolocation: Option<&str>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(token_body(access, refresh, geolocation))
}

/// Matches a form body with exactly these fields (any order).
pub struct FormIs(pub Vec<(String, String)>);

impl FormIs {
    pub fn new(fields: &[(&str, &str)]) -> Self {
        Self(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }
}

impl Match for FormIs {
    fn matches(&self, request: &Request) -> bool {
        let mut got: Vec<(String, String)> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        let mut want = self.0.clone();
        got.sort();
        want.sort();
        got == want
    }
}

/// The fields of a form-encoded request body.
pub fn form_of(request: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(&request.body).into_owned().collect()
}

pub fn form_field(request: &Request, name: &str) -> Option<String> {
    form_of(request)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

// ------------------------------------------------------------------ id tokens

/// An RSA key (generated once per test binary) that signs `id_token`s, and its JWKS.
pub struct Signer {
    encoding: jsonwebtoken::EncodingKey,
    pub kid: String,
}

pub fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| new_signer("test-key-1"))
}

/// A second, unrelated key claiming the same `kid`: a forged token.
pub fn other_signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| new_signer("test-key-1"))
}

fn new_signer(kid: &str) -> Signer {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
    let encoding = jsonwebtoken::EncodingKey::from_rsa_der(&pkcs1_from_pkcs8(key.serialized_der()));
    Signer {
        encoding,
        kid: kid.to_owned(),
    }
}

/// jsonwebtoken (without its `use_pem` feature) signs with a PKCS#1 key; rcgen gives PKCS#8,
/// whose `privateKey` OCTET STRING holds exactly that PKCS#1 structure.
fn pkcs1_from_pkcs8(der: &[u8]) -> Vec<u8> {
    // Returns (content start, content length) of the TLV at `at`.
    fn tlv(der: &[u8], at: usize) -> (usize, usize) {
        let first = der[at + 1] as usize;
        if first < 0x80 {
            return (at + 2, first);
        }
        let n = first & 0x7f;
        let len = der[at + 2..at + 2 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (at + 2 + n, len)
    }
    let (body, _) = tlv(der, 0); // PrivateKeyInfo SEQUENCE
    let (version, version_len) = tlv(der, body); // version INTEGER
    let algorithm = version + version_len;
    let (alg_body, alg_len) = tlv(der, algorithm); // AlgorithmIdentifier SEQUENCE
    let key = alg_body + alg_len;
    assert_eq!(der[key], 0x04, "privateKey is an OCTET STRING");
    let (start, len) = tlv(der, key);
    der[start..start + len].to_vec()
}

impl Signer {
    /// The JWKS document publishing this key.
    pub fn jwks(&self) -> Value {
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(
            &self.encoding,
            jsonwebtoken::Algorithm::RS256,
        )
        .expect("jwk");
        jwk.common.key_id = Some(self.kid.clone());
        json!({ "keys": [jwk] })
    }

    /// An RS256 `id_token` for `sub`, issued to `CLIENT_ID` by Concur's us2 geolocation,
    /// valid for an hour.
    pub fn id_token(&self, sub: &str) -> String {
        self.id_token_with(sub, |_| {})
    }

    /// Like [`Signer::id_token`], with the claims changed by `edit` (set a value to `null`
    /// to drop the claim).
    pub fn id_token_with(&self, sub: &str, edit: impl FnOnce(&mut Value)) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims = json!({
            "sub": sub,
            "aud": CLIENT_ID,
            "concur.type": "user",
            "iss": "https://us2.api.concursolutions.com",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        });
        edit(&mut claims);
        if let Some(map) = claims.as_object_mut() {
            map.retain(|_, v| !v.is_null());
        }
        jsonwebtoken::encode(&header, &claims, &self.encoding).expect("sign")
    }
}

pub async fn mount_jwks(server: &MockServer, signer: &Signer) {
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(signer.jwks()))
        .mount(server)
        .await;
}

// ------------------------------------------------------------------ bodies

pub fn v4_expense_body() -> Value {
    json!({
        "expenseId": EXPENSE_ID,
        "expenseType": {"id": "BRKFT", "code": "MEALS", "name": "Breakfast", "isDeleted": false},
        "transactionAmount": {"value": 40.5, "currencyCode": "EUR"},
        "postedAmount": {"value": 40.5, "currencyCode": "EUR"},
        "transactionDate": "2026-03-14",
        "vendor": {"id": null, "name": "Café Central", "description": null},
        "businessPurpose": "Client workshop",
        "paymentType": {"id": "CASH", "name": "Cash", "code": "CASH"},
        "allocationState": "NOT_ALLOCATED",
        "customData": [
            {"id": "custom9", "value": "AB8596D91C994F4DBBD820D6DCBDC599", "isValid": true,
             "listItemUrl": "https://us.api.concursolutions.com/list/v4/items?id=AB8596D91C994F4DBBD820D6DCBDC599"},
            {"id": "custom12", "value": "OLD-1", "isValid": true, "listItemUrl": null},
            {"id": "orgUnit1", "value": 17, "isValid": true, "listItemUrl": null}
        ],
        "links": [{"rel": "self", "href": "https://us2.api.concursolutions.com/..."}]
    })
}

pub fn v4_report_body() -> Value {
    json!({
        "reportId": REPORT_ID,
        "name": "March trip",
        "userId": USER_ID,
        "currencyCode": "EUR",
        "reportDate": "2026-03-20",
        "businessPurpose": "Customer visit",
        "policyId": "P1",
        "approvalStatusId": "A_NOTF",
        "customData": [
            {"id": "custom15", "value": "E31CB425", "isValid": true, "listItemUrl": null}
        ]
    })
}

pub fn v4_allocation_body() -> Value {
    json!({
        "allocationId": ALLOCATION_ID,
        "expenseId": "29EE3C62F5D844458828A5C1086072D1",
        "percentage": 50.0,
        "allocationAmount": {"value": 20.25, "currencyCode": "EUR"},
        "isSystemAllocation": false,
        "customData": [
            {"id": "custom9", "value": "058713001E2CD943824280D9275FDC3F", "isValid": true,
             "listItemUrl": "https://us.api.concursolutions.com/list/v4/items?id=058713001E2CD943824280D9275FDC3F"}
        ]
    })
}

/// A 200 answer carrying the v3 entry E1.
pub fn v3_e1_response() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(v3_entry_body("E1"))
}

pub fn v3_entry_body(id: &str) -> Value {
    let mut body = json!({
        "ID": id,
        "ExpenseID": EXPENSE_ID,
        "URI": format!("https://www.concursolutions.com/api/v3.0/expense/entries/{id}"),
        "ReportID": "gWidFO7ikXV66iSvqtG6Yd0wZ$s4ftzvzTCg",
        "ReportOwnerID": "jane.doe@acmecorp.com",
        "ExpenseTypeCode": "BUSML",
        "ExpenseTypeName": "Business Meal",
        "TransactionAmount": 40.0,
        "TransactionCurrencyCode": "USD",
        "TransactionDate": "2026-03-14",
        "VendorDescription": "Joe's Diner",
        "IsPersonal": false,
        "Custom1": {"Type": "List", "Value": "Project 1234", "Code": "1234", "ListItemID": "li-1234"},
        "Custom12": {"Type": "Text", "Value": "OLD-1", "Code": null, "ListItemID": null},
        "OrgUnit1": {"Type": "Text", "Value": "Sales", "Code": null, "ListItemID": null},
    });
    for n in 2..=11 {
        body[format!("Custom{n}")] = Value::Null;
    }
    body
}

/// A v1.1 `ExpenseEntry`, with the given root attributes (e.g. a namespace declaration).
pub fn v11_entry_xml(root_attributes: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<ExpenseEntry {root_attributes}>
  <ReportEntryID>nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U</ReportEntryID>
  <ReportID>nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw</ReportID>
  <ExpenseKey>BUSML</ExpenseKey>
  <ExpenseName>Business Meal (attendees)</ExpenseName>
  <TransactionAmount>40.00000000</TransactionAmount>
  <TransactionCurrencyName>US, Dollar</TransactionCurrencyName>
  <TransactionDate>2011-06-15T00:00:00</TransactionDate>
  <VendorDescription>Smith &amp; Sons</VendorDescription>
  <X_UserID>jane.doe@acmecorp.com</X_UserID>
  <OrgUnit1>Sales</OrgUnit1>
  <Custom1>(1234) Project 1234</Custom1>
  <Custom2 />
  <Custom12>OLD-1</Custom12>
  <Allocation-Url>https://www.concursolutions.com/api/expense/expensereport/v1.1/report/x/entry/y/allocation</Allocation-Url>
</ExpenseEntry>"#
    )
}

// ------------------------------------------------------------------ logs

/// A shared buffer that a `tracing` fmt subscriber writes into.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }

    /// A subscriber that records everything (all targets, TRACE) into this buffer.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let buffer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || buffer.clone())
            .finish()
    }
}

impl io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
