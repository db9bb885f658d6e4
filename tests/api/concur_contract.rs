//! Contract tests: the Concur client against the Concur simulator, over real HTTPS.
//!
//! Each test starts its own simulator (own CA in a temporary directory) and builds a
//! `ConcurClient` that trusts that CA only through `concur.extra_ca_file`. Every read and
//! write shape of a v4 (ENTRY, HEADER, ALLOCATION) and v1 launch is driven end to end, and
//! the simulator's records are checked against the bodies and tokens Concur documents
//! (docs/protocol.md §8, §9, docs/protocol.md §7).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::concur_support::{self as support, LogBuffer, saved_state};
use crate::fixtures::seed::{
    ALEX, ALLOCATION, ENGINEERING_ID, FACILITIES_ID, FLIGHT, JANE, LUNCH, LUNCH_V1, MARKETING_ID,
    MAX_REPORT, OPERATIONS_ID, REPORT, REPORT_V1, RESEARCH_ID, SUPPLIES, SUPPLIES_V1,
};
use crate::fixtures::{PASSWORD, USERNAME};
use concur_connector::concur::{
    ConcurClient, ConcurError, CustomField, ExpenseItem, Failure, FieldValue, UserToken,
};
use concur_connector::credentials::ConnectorCredentials;
use concur_connector::launch::Source;
use concur_connector::sim::{
    self, Faults, Lifetimes, MintedLaunch, Principal, RecordedRequest, RecordedWrite, RunningSim,
    SimConfig, SimTls, V1LaunchRequest, V4LaunchRequest, WriteApi,
};
use reqwest::Url;
use secrecy::SecretString;
use serde_json::{Value, json};

const CONNECTOR_BASE: &str = "https://connector.example.com/";
/// `SimConfig::new` registers the connector's v4 launch endpoint as the redirect URL.
const REDIRECT_URI: &str = "https://connector.example.com/launchexternalurl/v4/form";
const COMPANY_ID: &str = "08bcca1e-0d4f-4261-9f1b-f778d96617d6";
const REQUEST_TOKEN: &str = "company-request-token-0001";
const REFRESH_TOKEN: &str = "company-refresh-token-0001";
const TOKEN_PATH: &str = "/oauth2/v0/token";
const JWKS_PATH: &str = "/oauth2/v0/jwks";

// ------------------------------------------------------------------ harness

/// A running simulator and a state directory for the clients built against it.
struct Ctx {
    sim: RunningSim,
    state: tempfile::TempDir,
    _tls: tempfile::TempDir,
}

/// How the client gets its first company token.
#[derive(Clone, Copy)]
enum Grant {
    /// `grant_type=password`, `credtype=authtoken` with the simulator's request token.
    RequestToken,
    /// `grant_type=refresh_token` with the simulator's seeded company refresh token.
    RefreshToken,
}

async fn start() -> Ctx {
    start_with(|_| {}).await
}

async fn start_with(adjust: impl FnOnce(&mut SimConfig)) -> Ctx {
    let tls = tempfile::tempdir().unwrap();
    let connector = ConnectorCredentials::new(USERNAME, SecretString::from(PASSWORD)).unwrap();
    let mut config = SimConfig::new(
        connector,
        &Url::parse(CONNECTOR_BASE).unwrap(),
        SimTls::generate_in(tls.path()),
    )
    .unwrap();
    config.company_request_token = SecretString::from(REQUEST_TOKEN);
    config.company_refresh_token = Some(SecretString::from(REFRESH_TOKEN));
    assert_eq!(config.redirect_uri, REDIRECT_URI);
    adjust(&mut config);
    Ctx {
        sim: sim::start(config).await.unwrap(),
        state: tempfile::tempdir().unwrap(),
        _tls: tls,
    }
}

impl Ctx {
    /// Client settings pointing every URL at the simulator, trusting its CA via
    /// `extra_ca_file` only, with short backoffs so retries do not slow the suite.
    fn settings(&self, grant: Grant, state_dir: &Path) -> Value {
        let geo = self.sim.geolocation();
        let mut settings = json!({
            "client_id": sim::DEFAULT_CLIENT_ID,
            "client_secret": sim::DEFAULT_CLIENT_SECRET,
            "redirect_uri": REDIRECT_URI,
            "auth_base_url": geo,
            "api_base_url": geo,
            "jwks_url": format!("{geo}{JWKS_PATH}"),
            "allowed_geolocation_hosts": [support::host_port(geo)],
            "state_dir": state_dir,
            "extra_ca_file": self.sim.ca_pem_path(),
            "connect_timeout": "2s",
            "request_timeout": "5s",
            "max_retries": 2,
            "retry_base_delay": "5ms",
            "retry_max_delay": "20ms",
        });
        match grant {
            Grant::RequestToken => {
                settings["company_id"] = COMPANY_ID.into();
                settings["company_request_token"] = REQUEST_TOKEN.into();
            }
            Grant::RefreshToken => settings["refresh_token"] = REFRESH_TOKEN.into(),
        }
        settings
    }

    fn client(&self) -> ConcurClient {
        self.client_with(self.settings(Grant::RequestToken, self.state.path()))
    }

    fn client_with(&self, settings: Value) -> ConcurClient {
        ConcurClient::with_file_store(support::config(settings)).unwrap()
    }

    fn mint_v4(&self, source: Source, id: &str, clicker: Option<&str>) -> MintedLaunch {
        let mut request = V4LaunchRequest::new(source, id);
        request.logged_in_user_id = clicker.map(str::to_owned);
        self.sim.mint_v4(&request).unwrap()
    }

    /// Mints a v4 launch and exchanges its code as the connector does right after
    /// verification: the user token and the launch.
    async fn launch_v4(
        &self,
        client: &ConcurClient,
        source: Source,
        id: &str,
        clicker: Option<&str>,
    ) -> (UserToken, MintedLaunch) {
        let launch = self.mint_v4(source, id, clicker);
        let user = client
            .exchange_auth_code(&code_of(&launch), &launch.logged_in_user_id)
            .await
            .unwrap();
        (user, launch)
    }

    fn mint_v1(&self, id: &str) -> MintedLaunch {
        self.sim.mint_v1(&V1LaunchRequest::new(id)).unwrap()
    }

    /// Calls to one path of the Concur surface, oldest first.
    fn requests_to(&self, method: &str, path: &str) -> Vec<RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// Token requests of one grant type, failed ones included.
    fn token_requests(&self, grant_type: &str) -> Vec<RecordedRequest> {
        self.requests_to("POST", TOKEN_PATH)
            .into_iter()
            .filter(|r| r.grant_type.as_deref() == Some(grant_type))
            .collect()
    }

    /// The only accepted write so far.
    fn only_write(&self) -> RecordedWrite {
        let writes = self.sim.successful_writes();
        assert_eq!(writes.len(), 1, "{writes:#?}");
        writes.into_iter().next().unwrap()
    }
}

/// Reads an item that must read, in the default language.
async fn read(client: &ConcurClient, url: &str, user: Option<&UserToken>) -> ExpenseItem {
    client.read_item(url, user, None).await.unwrap()
}

/// The next `n` calls answer 401, as for an expired token.
fn unauthorized_next(n: u32) -> Faults {
    Faults {
        unauthorized_next: n,
        ..Faults::default()
    }
}

/// The next `n` calls answer 503.
fn fail_next(n: u32) -> Faults {
    Faults {
        fail_next: n,
        ..Faults::default()
    }
}

/// The statuses the simulator answered, oldest first.
fn statuses(requests: &[RecordedRequest]) -> Vec<u16> {
    requests.iter().map(|r| r.status).collect()
}

/// Each answer's status and whether a fault was injected, oldest first.
fn outcomes(requests: &[RecordedRequest]) -> Vec<(u16, bool)> {
    requests.iter().map(|r| (r.status, r.injected)).collect()
}

fn code_of(launch: &MintedLaunch) -> SecretString {
    SecretString::from(launch.client_auth_code.clone().unwrap())
}

/// The path of an absolute URL, as the simulator records it.
fn path_of(url: &str) -> String {
    Url::parse(url).unwrap().path().to_owned()
}

fn amount(item: &ExpenseItem) -> f64 {
    item.amount.as_deref().unwrap().parse().unwrap()
}

fn field<'a>(item: &'a ExpenseItem, id: &str) -> &'a CustomField {
    item.field(id)
        .unwrap_or_else(|| panic!("no field {id} in {:?}", item.fields))
}

fn value<'a>(item: &'a ExpenseItem, id: &str) -> Option<&'a str> {
    field(item, id).value.as_deref()
}

fn list_item_id<'a>(item: &'a ExpenseItem, id: &str) -> Option<&'a str> {
    field(item, id).list_item_id.as_deref()
}

fn field_ids(item: &ExpenseItem) -> Vec<&str> {
    item.fields.iter().map(|f| f.id.as_str()).collect()
}

fn text(value: &str) -> FieldValue {
    FieldValue::Text(value.to_owned())
}

/// A list item as the UI knows it: both its id (v4) and its code (v3, v1).
fn list_item(id: &str, code: &str) -> FieldValue {
    FieldValue::ListItem {
        item_id: Some(id.to_owned()),
        code: Some(code.to_owned()),
    }
}

/// Asserts a recorded write is exactly `body`, byte for byte, sent as one JSON document.
fn assert_body(write: &RecordedWrite, body: &str) {
    assert_eq!(write.raw_body, body, "{write:#?}");
    assert_eq!(
        write.body,
        Some(serde_json::from_str::<Value>(body).unwrap())
    );
    assert_eq!(write.content_types, ["application/json"], "trap T23");
}

fn user(id: &str) -> Principal {
    Principal::User {
        user_id: id.to_owned(),
    }
}

// ------------------------------------------------------------------ v4 ENTRY

#[tokio::test]
async fn a_v4_entry_launch_reads_the_expense_and_writes_text_and_list_fields() {
    let ctx = start().await;
    let client = ctx.client();
    let (user_token, launch) = ctx.launch_v4(&client, Source::Entry, LUNCH, None).await;
    assert_eq!(user_token.subject(), Some(JANE));
    assert_eq!(
        launch.item_url,
        format!(
            "{}/expensereports/v4/users/{JANE}/context/TRAVELER/reports/{REPORT}/expenses/{LUNCH}",
            ctx.sim.geolocation()
        )
    );

    let item = client
        .read_item(&launch.item_url, Some(&user_token), Some("en-GB"))
        .await
        .unwrap();
    assert_eq!(item.kind, Source::Entry);
    assert_eq!(item.expense_type_code.as_deref(), Some("LUNCH"));
    assert_eq!(item.expense_type_name.as_deref(), Some("Lunch"));
    assert_eq!(amount(&item), 25.0);
    assert_eq!(item.currency.as_deref(), Some("USD"));
    assert_eq!(item.transaction_date.as_deref(), Some("2026-03-11"));
    assert_eq!(item.vendor.as_deref(), Some("Blue Door Cafe"));
    assert_eq!(item.business_purpose.as_deref(), Some("Team lunch"));
    assert_eq!(item.report_id.as_deref(), Some(REPORT));
    assert_eq!(item.entry_id.as_deref(), Some(LUNCH));
    assert_eq!(item.owner.as_deref(), Some(JANE));
    assert_eq!(field_ids(&item), ["custom12", "custom9", "orgUnit1"]);
    assert_eq!(field(&item, "custom12").value, None);
    let cost_center = field(&item, "custom9");
    assert!(cost_center.is_list);
    assert_eq!(cost_center.value.as_deref(), Some(FACILITIES_ID));
    assert_eq!(cost_center.list_item_id.as_deref(), Some(FACILITIES_ID));
    assert_eq!(value(&item, "orgUnit1"), Some("North America"));
    // The read carried the launching user's token (docs/protocol.md §9.5).
    let reads = ctx.requests_to("GET", &path_of(&launch.item_url));
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].principal, Some(user(JANE)));

    // Text field: the compact PATCH, company token, `expenseSource` (docs/protocol.md §9.3, §14.2).
    let outcome = client
        .write_field(&item, "custom12", &text("PRJ-0042"), Some(&user_token))
        .await
        .unwrap();
    assert_eq!(outcome.status, 204);
    let write = ctx.only_write();
    assert_eq!(write.api, WriteApi::V4Expense);
    assert_eq!(write.method, "PATCH");
    assert_eq!(
        write.path,
        format!("/expensereports/v4/reports/{REPORT}/expenses/{LUNCH}")
    );
    assert_eq!(write.principal, Some(Principal::Company));
    assert_body(
        &write,
        r#"{"customData":[{"id":"custom12","value":"PRJ-0042"}],"expenseSource":"OTHER"}"#,
    );
    assert_eq!(
        outcome.correlation_id.as_deref(),
        Some(write.correlation_id.as_str())
    );
    let reread = read(&client, &launch.item_url, Some(&user_token)).await;
    assert_eq!(value(&reread, "custom12"), Some("PRJ-0042"));

    // List field: v4 writes the list item id, not the code (docs/protocol.md T25).
    ctx.sim.clear_writes();
    client
        .write_field(
            &reread,
            "custom9",
            &list_item(ENGINEERING_ID, "CC-100"),
            Some(&user_token),
        )
        .await
        .unwrap();
    let write = ctx.only_write();
    assert_eq!(write.principal, Some(Principal::Company));
    assert_body(
        &write,
        &format!(
            r#"{{"customData":[{{"id":"custom9","value":"{ENGINEERING_ID}"}}],"expenseSource":"OTHER"}}"#
        ),
    );
    let reread = read(&client, &launch.item_url, Some(&user_token)).await;
    assert_eq!(list_item_id(&reread, "custom9"), Some(ENGINEERING_ID));
    assert_eq!(value(&reread, "custom12"), Some("PRJ-0042"));
}

// ------------------------------------------------------------------ v4 HEADER

#[tokio::test]
async fn a_v4_header_launch_reads_the_report_and_writes_with_report_source() {
    let ctx = start().await;
    let client = ctx.client();
    let (user_token, launch) = ctx.launch_v4(&client, Source::Header, REPORT, None).await;
    assert_eq!(user_token.subject(), Some(JANE));

    let item = read(&client, &launch.item_url, Some(&user_token)).await;
    assert_eq!(item.kind, Source::Header);
    assert_eq!(item.report_id.as_deref(), Some(REPORT));
    assert_eq!(item.report_name.as_deref(), Some("March Expenses"));
    assert_eq!(item.currency.as_deref(), Some("USD"));
    assert_eq!(
        item.business_purpose.as_deref(),
        Some("Facility cleaning and renovation")
    );
    assert_eq!(item.owner.as_deref(), Some(JANE));
    assert_eq!(item.expense_type_code, None);
    assert_eq!(field_ids(&item), ["custom12", "custom15", "orgUnit1"]);
    assert_eq!(field(&item, "custom12").value, None);
    let department = field(&item, "custom15");
    assert!(department.is_list);
    assert_eq!(department.list_item_id.as_deref(), Some(RESEARCH_ID));
    assert_eq!(value(&item, "orgUnit1"), Some("North America"));

    let outcome = client
        .write_field(&item, "custom12", &text("PRJ-0042"), Some(&user_token))
        .await
        .unwrap();
    assert_eq!(outcome.status, 204);
    let write = ctx.only_write();
    assert_eq!(write.api, WriteApi::V4Report);
    assert_eq!(write.method, "PATCH");
    assert_eq!(write.path, path_of(&launch.item_url));
    // The unsubmitted-header PATCH on the user/context URL takes the user's token (docs/protocol.md §9.5).
    assert_eq!(write.principal, Some(user(JANE)));
    assert_body(
        &write,
        r#"{"customData":[{"id":"custom12","value":"PRJ-0042"}],"reportSource":"OTHER"}"#,
    );

    ctx.sim.clear_writes();
    client
        .write_field(
            &item,
            "custom15",
            &list_item(OPERATIONS_ID, "D-20"),
            Some(&user_token),
        )
        .await
        .unwrap();
    assert_body(
        &ctx.only_write(),
        &format!(
            r#"{{"customData":[{{"id":"custom15","value":"{OPERATIONS_ID}"}}],"reportSource":"OTHER"}}"#
        ),
    );
    let reread = read(&client, &launch.item_url, Some(&user_token)).await;
    assert_eq!(value(&reread, "custom12"), Some("PRJ-0042"));
    assert_eq!(list_item_id(&reread, "custom15"), Some(OPERATIONS_ID));
    // Header reads and writes need no company token at all.
    assert_eq!(ctx.token_requests("password").len(), 0);
}

// ------------------------------------------------------------------ v4 ALLOCATION

#[tokio::test]
async fn a_delegate_v4_allocation_launch_writes_with_expense_ids() {
    let ctx = start().await;
    let client = ctx.client();
    let (user_token, launch) = ctx
        .launch_v4(&client, Source::Allocation, ALLOCATION, Some(ALEX))
        .await;
    // The delegate's code yields the delegate's identity, which the signed launch names.
    assert_eq!(launch.logged_in_user_id, ALEX);
    assert_eq!(user_token.subject(), Some(ALEX));
    assert!(launch.item_url.contains("/context/PROXY/"), "{launch:?}");

    let item = client
        .read_item(&launch.item_url, Some(&user_token), Some("fr"))
        .await
        .unwrap();
    assert_eq!(item.kind, Source::Allocation);
    assert_eq!(item.allocation_id.as_deref(), Some(ALLOCATION));
    assert_eq!(item.entry_id.as_deref(), Some(SUPPLIES));
    assert_eq!(item.expense_ids, [SUPPLIES]);
    assert_eq!(item.report_id.as_deref(), Some(REPORT));
    assert_eq!(amount(&item), 250.0, "half of the 500.00 expense");
    assert_eq!(item.currency.as_deref(), Some("USD"));
    assert_eq!(item.owner.as_deref(), Some(JANE));
    assert_eq!(field_ids(&item), ["custom12", "custom9"]);
    assert_eq!(list_item_id(&item, "custom9"), Some(MARKETING_ID));
    let reads = ctx.requests_to("GET", &path_of(&launch.item_url));
    assert_eq!(reads[0].principal, Some(user(ALEX)));

    let outcome = client
        .write_field(
            &item,
            "custom9",
            &list_item(ENGINEERING_ID, "CC-100"),
            Some(&user_token),
        )
        .await
        .unwrap();
    assert_eq!(outcome.status, 204);
    let write = ctx.only_write();
    assert_eq!(write.api, WriteApi::V4Allocation);
    assert_eq!(write.method, "PATCH");
    assert_eq!(write.path, path_of(&launch.item_url));
    assert_eq!(write.principal, Some(user(ALEX)));
    assert_body(
        &write,
        &format!(
            r#"{{"allocation":{{"customData":[{{"id":"custom9","value":"{ENGINEERING_ID}"}}]}},"expenseIds":["{SUPPLIES}"]}}"#
        ),
    );

    ctx.sim.clear_writes();
    client
        .write_field(&item, "custom12", &text("PRJ-0042"), Some(&user_token))
        .await
        .unwrap();
    assert_body(
        &ctx.only_write(),
        &format!(
            r#"{{"allocation":{{"customData":[{{"id":"custom12","value":"PRJ-0042"}}]}},"expenseIds":["{SUPPLIES}"]}}"#
        ),
    );
    let reread = read(&client, &launch.item_url, Some(&user_token)).await;
    assert_eq!(list_item_id(&reread, "custom9"), Some(ENGINEERING_ID));
    assert_eq!(value(&reread, "custom12"), Some("PRJ-0042"));
}

#[tokio::test]
async fn a_code_is_refused_for_another_user_than_the_signed_one() {
    let ctx = start().await;
    let client = ctx.client();
    // Alex (a delegate) clicked, but the launch is checked against Jane.
    let launch = ctx.mint_v4(Source::Entry, LUNCH, Some(ALEX));
    let err = client
        .exchange_auth_code(&code_of(&launch), JANE)
        .await
        .unwrap_err();
    assert!(matches!(err, ConcurError::IdentityMismatch), "{err:?}");
    assert_eq!(err.classify(), Failure::Forbidden);

    // The subject is compared ignoring case (docs/protocol.md T33).
    let launch = ctx.mint_v4(Source::Entry, LUNCH, None);
    let token = client
        .exchange_auth_code(&code_of(&launch), &JANE.to_ascii_uppercase())
        .await
        .unwrap();
    assert_eq!(token.subject(), Some(JANE));
}

// ------------------------------------------------------------------ v1

#[tokio::test]
async fn a_v1_launch_reads_the_v11_xml_and_writes_through_v3() {
    let ctx = start().await;
    let client = ctx.client();
    let launch = ctx.mint_v1(LUNCH);
    assert_eq!(launch.client_auth_code, None);
    assert_eq!(
        launch.item_url,
        format!(
            "{}/api/expense/expensereport/v1.1/report/{REPORT_V1}/entry/{LUNCH_V1}",
            ctx.sim.geolocation()
        )
    );

    let item = read(&client, &launch.item_url, None).await;
    assert_eq!(item.kind, Source::Entry);
    assert_eq!(item.expense_type_code.as_deref(), Some("LUNCH"));
    assert_eq!(item.expense_type_name.as_deref(), Some("Lunch"));
    assert_eq!(item.amount.as_deref(), Some("25.00000000"));
    assert_eq!(
        item.currency.as_deref(),
        Some("US, Dollar"),
        "v1.1 names the currency (T30)"
    );
    assert_eq!(item.transaction_date.as_deref(), Some("2026-03-11"));
    assert_eq!(item.vendor.as_deref(), Some("Blue Door Cafe"));
    assert_eq!(item.business_purpose.as_deref(), Some("Team lunch"));
    assert_eq!(item.report_id.as_deref(), Some(REPORT_V1));
    assert_eq!(item.entry_id.as_deref(), Some(LUNCH_V1));
    assert_eq!(item.owner.as_deref(), Some("jane.doe@acmecorp.com"));
    assert_eq!(field_ids(&item), ["OrgUnit1", "Custom9"]);
    let cost_center = field(&item, "custom9");
    assert_eq!(cost_center.value.as_deref(), Some("(CC-400) Facilities"));
    assert_eq!(cost_center.code.as_deref(), Some("CC-400"));
    assert!(cost_center.is_list);
    let reads = ctx.requests_to("GET", &path_of(&launch.item_url));
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].principal, Some(Principal::Company));

    // Text field: v3 PUT with a plain `CustomN` string (docs/protocol.md §9.4).
    let outcome = client
        .write_field(&item, "custom12", &text("PRJ-0042"), None)
        .await
        .unwrap();
    assert_eq!(outcome.status, 200);
    let write = ctx.only_write();
    assert_eq!(write.api, WriteApi::V3Entry);
    assert_eq!(write.method, "PUT");
    assert_eq!(write.path, format!("/api/v3.0/expense/entries/{LUNCH_V1}"));
    assert_eq!(write.principal, Some(Principal::Company));
    assert_body(&write, r#"{"Custom12":"PRJ-0042"}"#);

    // List field: v3 writes the list item code (docs/protocol.md T25).
    ctx.sim.clear_writes();
    client
        .write_field(&item, "custom9", &list_item(ENGINEERING_ID, "CC-100"), None)
        .await
        .unwrap();
    assert_body(&ctx.only_write(), r#"{"Custom9":"CC-100"}"#);

    let reread = read(&client, &launch.item_url, None).await;
    assert_eq!(value(&reread, "custom12"), Some("PRJ-0042"));
    assert_eq!(field(&reread, "custom9").code.as_deref(), Some("CC-100"));
    assert_eq!(value(&reread, "custom9"), Some("(CC-100) Engineering"));
}

#[tokio::test]
async fn a_v1_entry_id_with_a_dollar_sign_is_read_and_written_verbatim() {
    let ctx = start().await;
    let client = ctx.client();
    let launch = ctx.mint_v1(SUPPLIES);
    assert!(
        launch.item_url.ends_with(SUPPLIES_V1),
        "{}",
        launch.item_url
    );

    let item = read(&client, &launch.item_url, None).await;
    assert_eq!(item.entry_id.as_deref(), Some(SUPPLIES_V1));
    assert_eq!(value(&item, "custom12"), Some("PRJ-0001"));
    client
        .write_field(&item, "Custom12", &text("PRJ-0042"), None)
        .await
        .unwrap();
    let write = ctx.only_write();
    assert_eq!(
        write.path,
        format!("/api/v3.0/expense/entries/{SUPPLIES_V1}")
    );
    assert_body(&write, r#"{"Custom12":"PRJ-0042"}"#);
    let reread = read(&client, &launch.item_url, None).await;
    assert_eq!(value(&reread, "custom12"), Some("PRJ-0042"));
}

#[tokio::test]
async fn a_v3_entry_url_is_read_as_json_and_written_through_v3() {
    let ctx = start().await;
    let client = ctx.client();
    // The v3 `URI` shape, with the `$` of the legacy id percent-encoded as the docs print it.
    let item_url = format!(
        "{}/api/v3.0/expense/entries/gWidFO7ikXV66iSvqtG6Yd0wZ%24s4ftzvzTCg",
        ctx.sim.geolocation()
    );
    let item = read(&client, &item_url, None).await;
    assert_eq!(item.kind, Source::Entry);
    assert_eq!(item.expense_type_code.as_deref(), Some("OFCSP"));
    assert_eq!(item.expense_type_name.as_deref(), Some("Office Supplies"));
    assert_eq!(amount(&item), 500.0);
    assert_eq!(item.currency.as_deref(), Some("USD"));
    assert_eq!(item.transaction_date.as_deref(), Some("2026-03-11"));
    assert_eq!(item.vendor.as_deref(), Some("Antioch Construction"));
    assert_eq!(item.report_id.as_deref(), Some(REPORT_V1));
    assert_eq!(item.entry_id.as_deref(), Some(SUPPLIES_V1));
    assert_eq!(item.owner.as_deref(), Some("jane.doe@acmecorp.com"));
    assert_eq!(field_ids(&item), ["Custom12"]);
    assert_eq!(value(&item, "custom12"), Some("PRJ-0001"));
    assert_eq!(
        ctx.requests_to("GET", &path_of(&item_url))[0].principal,
        Some(Principal::Company)
    );

    client
        .write_field(&item, "custom9", &list_item(MARKETING_ID, "CC-200"), None)
        .await
        .unwrap();
    let write = ctx.only_write();
    assert_eq!(write.method, "PUT");
    assert_eq!(write.path, path_of(&item_url));
    assert_eq!(write.principal, Some(Principal::Company));
    assert_body(&write, r#"{"Custom9":"CC-200"}"#);

    let reread = read(&client, &item_url, None).await;
    let cost_center = field(&reread, "custom9");
    assert!(cost_center.is_list);
    assert_eq!(cost_center.value.as_deref(), Some("Marketing"));
    assert_eq!(cost_center.code.as_deref(), Some("CC-200"));
    assert_eq!(cost_center.list_item_id.as_deref(), Some(MARKETING_ID));
}

#[tokio::test]
async fn v4_items_are_read_with_the_company_token_when_there_is_no_user_token() {
    let ctx = start().await;
    let client = ctx.client();
    for (source, id) in [
        (Source::Entry, LUNCH),
        (Source::Header, REPORT),
        (Source::Allocation, ALLOCATION),
    ] {
        let launch = ctx.mint_v4(source, id, None);
        let item = read(&client, &launch.item_url, None).await;
        assert_eq!(item.kind, source);
        let reads = ctx.requests_to("GET", &path_of(&launch.item_url));
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].principal, Some(Principal::Company), "{source:?}");
    }
    assert_eq!(ctx.token_requests("password").len(), 1);
}

// ------------------------------------------------------------------ tokens across launches

#[tokio::test]
async fn many_launches_use_one_company_token_request_and_one_exchange_each() {
    let ctx = start().await;
    let client = ctx.client();
    let launches = [
        (Source::Entry, LUNCH, None),
        (Source::Header, REPORT, None),
        (Source::Allocation, ALLOCATION, Some(ALEX)),
        (Source::Entry, SUPPLIES, Some(ALEX)),
        (Source::Entry, FLIGHT, None),
        (Source::Header, MAX_REPORT, Some(ALEX)),
        (Source::Entry, LUNCH, None),
    ];
    for (i, (source, id, clicker)) in launches.into_iter().enumerate() {
        let (user_token, launch) = ctx.launch_v4(&client, source, id, clicker).await;
        let item = read(&client, &launch.item_url, Some(&user_token)).await;
        let value = format!("PRJ-{i:04}");
        client
            .write_field(&item, "custom12", &text(&value), Some(&user_token))
            .await
            .unwrap();
        let reread = read(&client, &launch.item_url, Some(&user_token)).await;
        assert_eq!(field(&reread, "custom12").value, Some(value), "{source:?}");
    }

    assert_eq!(ctx.sim.successful_writes().len(), launches.len());
    assert_eq!(ctx.sim.writes().len(), launches.len());
    // One company token for all launches; no refresh was needed.
    assert_eq!(ctx.token_requests("password").len(), 1);
    assert_eq!(ctx.sim.token_grants("password"), 1);
    assert_eq!(ctx.token_requests("refresh_token").len(), 0);
    // Every launch's code was exchanged once, and only once.
    let exchanges = ctx.token_requests("authorization_code");
    assert_eq!(exchanges.len(), launches.len());
    assert!(exchanges.iter().all(|r| r.status == 200), "{exchanges:#?}");
    // The JWKS that verifies every id_token was fetched once.
    assert_eq!(ctx.requests_to("GET", JWKS_PATH).len(), 1);
    // Each ENTRY write carried the company token; no call was refused.
    assert!(ctx.sim.requests().iter().all(|r| r.status < 400));
    let company_writes = ctx
        .sim
        .writes()
        .iter()
        .filter(|w| w.principal == Some(Principal::Company))
        .count();
    assert_eq!(company_writes, 4, "the four ENTRY launches");
}

#[tokio::test]
async fn concurrent_launches_share_one_company_token_request() {
    let ctx = start().await;
    let client = ctx.client();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, id) in [LUNCH, SUPPLIES, FLIGHT, LUNCH, SUPPLIES, FLIGHT]
        .into_iter()
        .enumerate()
    {
        let client = client.clone();
        let launch = ctx.mint_v4(Source::Entry, id, None);
        tasks.spawn(async move {
            let user_token = client
                .exchange_auth_code(&code_of(&launch), &launch.logged_in_user_id)
                .await
                .unwrap();
            let item = read(&client, &launch.item_url, Some(&user_token)).await;
            client
                .write_field(&item, "custom12", &text(&format!("PRJ-{i}")), None)
                .await
                .unwrap()
        });
    }
    while let Some(outcome) = tasks.join_next().await {
        assert_eq!(outcome.unwrap().status, 204);
    }
    assert_eq!(ctx.sim.successful_writes().len(), 6);
    assert_eq!(ctx.token_requests("password").len(), 1);
    assert_eq!(ctx.token_requests("authorization_code").len(), 6);
}

// ------------------------------------------------------------------ failure contracts

#[tokio::test]
async fn a_rejected_v4_write_surfaces_concurs_validation_message() {
    let ctx = start().await;
    let client = ctx.client();
    let (user_token, launch) = ctx.launch_v4(&client, Source::Entry, LUNCH, None).await;
    let item = read(&client, &launch.item_url, Some(&user_token)).await;

    let err = client
        .write_field(&item, "custom99", &text("PRJ-0042"), Some(&user_token))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err:?}");
    assert_eq!(
        err.classify(),
        Failure::Validation("custom99 is not a custom field of the ENTRY form".into())
    );
    let ConcurError::Api(api) = &err else {
        panic!("not an api error: {err:?}");
    };
    assert_eq!(api.message.as_deref(), Some("Validation failed"));
    assert_eq!(api.validation_errors.len(), 1);
    assert_eq!(
        api.validation_errors[0].id.as_deref(),
        Some("customData[0].id")
    );
    let writes = ctx.sim.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].status, 400);
    assert_eq!(
        err.correlation_id(),
        Some(writes[0].correlation_id.as_str())
    );
    assert!(ctx.sim.successful_writes().is_empty());

    // A list write given a code where v4 wants the item id is refused by Concur, in its words.
    let err = client
        .write_field(
            &item,
            "custom9",
            &list_item("CC-100", "CC-100"),
            Some(&user_token),
        )
        .await
        .unwrap_err();
    let Failure::Validation(message) = err.classify() else {
        panic!("not a validation failure: {err:?}");
    };
    assert!(message.contains("is not a list item id"), "{message}");
    // A 400 is final: each refused write was sent once.
    assert_eq!(ctx.sim.writes().len(), 2);
}

#[tokio::test]
async fn a_rejected_v3_write_surfaces_concurs_message() {
    let ctx = start().await;
    let client = ctx.client();
    let launch = ctx.mint_v1(LUNCH);
    let item = read(&client, &launch.item_url, None).await;
    let err = client
        .write_field(&item, "custom9", &list_item(ENGINEERING_ID, "CC-999"), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err:?}");
    assert_eq!(
        err.classify(),
        Failure::Validation(
            "CC-999 is not a list item code of list Cost Centers (v3 writes codes)".into()
        )
    );
    assert_eq!(ctx.sim.writes().len(), 1);
    assert!(ctx.sim.successful_writes().is_empty());
}

#[tokio::test]
async fn client_and_simulator_agree_on_the_48_character_limit() {
    let ctx = start().await;
    let client = ctx.client();
    let v4 = ctx.mint_v4(Source::Entry, LUNCH, None);
    let v1 = ctx.mint_v1(LUNCH);
    // Characters, not bytes: 48 two-byte characters are allowed by both sides.
    let longest = "é".repeat(48);
    for item_url in [&v4.item_url, &v1.item_url] {
        let item = read(&client, item_url, None).await;
        client
            .write_field(&item, "custom12", &text(&longest), None)
            .await
            .unwrap();
        let reread = read(&client, item_url, None).await;
        assert_eq!(value(&reread, "custom12"), Some(&*longest));

        let err = client
            .write_field(&item, "custom12", &text(&"x".repeat(49)), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ConcurError::ValueTooLong { length: 49, .. }),
            "{err:?}"
        );
    }
    // The over-long values never left the client.
    assert_eq!(ctx.sim.writes().len(), 2);
    assert_eq!(ctx.sim.successful_writes().len(), 2);
}

#[tokio::test]
async fn a_v11_error_keeps_concurs_message() {
    let ctx = start().await;
    let client = ctx.client();
    let item_url = format!(
        "{}/api/expense/expensereport/v1.1/report/{REPORT_V1}/entry/nNoSuchEntry0000000000000000000",
        ctx.sim.geolocation()
    );
    let err = client.read_item(&item_url, None, None).await.unwrap_err();
    let ConcurError::Api(api) = &err else {
        panic!("not an api error: {err:?}");
    };
    assert_eq!(api.status, 404);
    assert_eq!(api.message.as_deref(), Some("entry not found"));
    assert!(api.code.is_some(), "the error's Id: {api:?}");
    assert!(err.correlation_id().is_some(), "{api:?}");
}

#[tokio::test]
async fn a_503_on_a_read_is_retried_and_succeeds() {
    let ctx = start().await;
    let client = ctx.client();
    let (user_token, launch) = ctx.launch_v4(&client, Source::Entry, LUNCH, None).await;
    ctx.sim.set_faults(fail_next(1));
    let item = read(&client, &launch.item_url, Some(&user_token)).await;
    assert_eq!(item.entry_id.as_deref(), Some(LUNCH));
    let reads = ctx.requests_to("GET", &path_of(&launch.item_url));
    let outcomes = outcomes(&reads);
    assert_eq!(outcomes, [(503, true), (200, false)]);
}

#[tokio::test]
async fn a_503_on_a_patch_is_not_retried() {
    let ctx = start().await;
    let client = ctx.client();
    let (user_token, launch) = ctx.launch_v4(&client, Source::Entry, LUNCH, None).await;
    let item = read(&client, &launch.item_url, Some(&user_token)).await;
    client.ensure_company_token().await.unwrap();
    ctx.sim.set_faults(fail_next(1));
    let err = client
        .write_field(&item, "custom12", &text("PRJ-0042"), Some(&user_token))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.classify(), Failure::Unavailable);
    // Concur may have applied a PATCH that answered 5xx: the client does not repeat it.
    let path = format!("/expensereports/v4/reports/{REPORT}/expenses/{LUNCH}");
    assert_eq!(ctx.requests_to("PATCH", &path).len(), 1);
    assert!(ctx.sim.successful_writes().is_empty());
}

#[tokio::test]
async fn a_401_renews_the_company_token_once_and_retries_once() {
    let ctx = start().await;
    let client = ctx.client();
    let launch = ctx.mint_v1(LUNCH);
    let item = read(&client, &launch.item_url, None).await;
    assert_eq!(ctx.token_requests("password").len(), 1);

    // An injected 401 on the write: one refresh-token grant, one repeat of the PUT.
    ctx.sim.set_faults(unauthorized_next(1));
    let outcome = client
        .write_field(&item, "custom12", &text("PRJ-0042"), None)
        .await
        .unwrap();
    assert_eq!(outcome.status, 200);
    let puts = ctx.requests_to("PUT", &format!("/api/v3.0/expense/entries/{LUNCH_V1}"));
    let outcomes = outcomes(&puts);
    assert_eq!(outcomes, [(401, true), (200, false)]);
    assert_eq!(ctx.token_requests("refresh_token").len(), 1);
    assert_eq!(ctx.token_requests("password").len(), 1);
    assert_body(&ctx.only_write(), r#"{"Custom12":"PRJ-0042"}"#);

    // A token the simulator really expired: same recovery, through the rotated refresh token.
    ctx.sim.expire_access_tokens();
    let reread = read(&client, &launch.item_url, None).await;
    assert_eq!(value(&reread, "custom12"), Some("PRJ-0042"));
    let reads = ctx.requests_to("GET", &path_of(&launch.item_url));
    let statuses = statuses(&reads);
    assert_eq!(statuses, [200, 401, 200]);
    assert_eq!(ctx.token_requests("refresh_token").len(), 2);
    assert!(
        ctx.token_requests("refresh_token")
            .iter()
            .all(|r| r.status == 200)
    );

    // Two 401s in a row: one renewal, one retry, then the 401 is final.
    ctx.sim.set_faults(unauthorized_next(2));
    let err = client
        .read_item(&launch.item_url, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.classify(), Failure::Forbidden);
    assert_eq!(ctx.token_requests("refresh_token").len(), 3);
    assert_eq!(ctx.requests_to("GET", &path_of(&launch.item_url)).len(), 5);
}

#[tokio::test]
async fn a_refused_user_token_is_replaced_by_the_company_token_once() {
    let ctx = start().await;
    let client = ctx.client();
    let (user_token, launch) = ctx.launch_v4(&client, Source::Header, REPORT, None).await;
    let path = path_of(&launch.item_url);

    ctx.sim.set_faults(unauthorized_next(1));
    let item = read(&client, &launch.item_url, Some(&user_token)).await;
    let reads: Vec<(u16, Option<Principal>)> = ctx
        .requests_to("GET", &path)
        .into_iter()
        .map(|r| (r.status, r.principal))
        .collect();
    assert_eq!(reads, [(401, None), (200, Some(Principal::Company))]);

    // Concur expires every token: the user's is refused, then the cached company token,
    // which is renewed once; the write lands exactly once.
    ctx.sim.expire_access_tokens();
    client
        .write_field(&item, "custom12", &text("PRJ-0042"), Some(&user_token))
        .await
        .unwrap();
    let attempts: Vec<u16> = ctx.sim.writes().iter().map(|w| w.status).collect();
    assert_eq!(attempts, [401, 401, 204]);
    let write = ctx.only_write();
    assert_eq!(write.principal, Some(Principal::Company));
    assert_body(
        &write,
        r#"{"customData":[{"id":"custom12","value":"PRJ-0042"}],"reportSource":"OTHER"}"#,
    );
    assert_eq!(ctx.token_requests("password").len(), 1);
    assert_eq!(ctx.token_requests("refresh_token").len(), 1);
}

#[tokio::test]
async fn a_token_endpoint_outage_is_a_typed_unavailable_error() {
    let ctx = start().await;
    let mut settings = ctx.settings(Grant::RequestToken, ctx.state.path());
    // Injected 503s carry `Retry-After: 1`, which the client honours: keep retries few.
    settings["max_retries"] = 1.into();
    let client = ctx.client_with(settings);
    let launch = ctx.mint_v4(Source::Entry, LUNCH, None);
    ctx.sim.set_faults(Faults {
        token_endpoint_down: true,
        ..Faults::default()
    });

    let err = client.ensure_company_token().await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert_eq!(err.classify(), Failure::Unavailable);
    let err = client
        .exchange_auth_code(&code_of(&launch), JANE)
        .await
        .unwrap_err();
    assert_eq!(err.classify(), Failure::Unavailable, "{err:?}");
    // Token calls are retried (once here), every attempt refused by the outage.
    let attempts = ctx.requests_to("POST", TOKEN_PATH);
    assert_eq!(attempts.len(), 4);
    assert!(attempts.iter().all(|r| r.status == 503 && r.injected));

    // Back up: the same code still works, since Concur never processed it.
    ctx.sim.set_faults(Faults::default());
    client.ensure_company_token().await.unwrap();
    let token = client
        .exchange_auth_code(&code_of(&launch), JANE)
        .await
        .unwrap();
    assert_eq!(token.subject(), Some(JANE));
}

#[tokio::test]
async fn a_second_use_of_an_auth_code_is_refused() {
    let ctx = start().await;
    let client = ctx.client();
    let launch = ctx.mint_v4(Source::Entry, LUNCH, None);
    client
        .exchange_auth_code(&code_of(&launch), JANE)
        .await
        .unwrap();
    let err = client
        .exchange_auth_code(&code_of(&launch), JANE)
        .await
        .unwrap_err();
    let ConcurError::Api(api) = &err else {
        panic!("not an api error: {err:?}");
    };
    assert_eq!(api.status, 400);
    assert_eq!(api.code.as_deref(), Some("103"));
    assert_eq!(api.message.as_deref(), Some("code is bad or expired"));
    assert_eq!(err.classify(), Failure::Forbidden);
    // A refused grant is final: no retry.
    let exchanges = statuses(&ctx.token_requests("authorization_code"));
    assert_eq!(exchanges, [200, 400]);
}

// ------------------------------------------------------------------ restarts

/// The refresh token saved in a state directory.
fn saved_refresh_token(state_dir: &Path) -> String {
    saved_state(state_dir)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_rotated_refresh_token_survives_a_client_restart() {
    let ctx = start().await;
    let settings = ctx.settings(Grant::RefreshToken, ctx.state.path());
    let launch = ctx.mint_v1(LUNCH);

    let first = ctx.client_with(settings.clone());
    read(&first, &launch.item_url, None).await;
    let rotated = saved_refresh_token(ctx.state.path());
    assert_ne!(rotated, REFRESH_TOKEN);
    drop(first);

    // A restart with the same configuration (still naming the original refresh token):
    // the saved, rotated token is used, and rotated again.
    let second = ctx.client_with(settings.clone());
    read(&second, &launch.item_url, None).await;
    let item = read(&second, &launch.item_url, None).await;
    second
        .write_field(&item, "custom12", &text("PRJ-0042"), None)
        .await
        .unwrap();
    let rotated_again = saved_refresh_token(ctx.state.path());
    assert_ne!(rotated_again, rotated);
    let grants = statuses(&ctx.token_requests("refresh_token"));
    assert_eq!(grants, [200, 200], "one grant per client, none refused");

    // The simulator retired both earlier tokens: a client holding one is refused.
    for retired in [REFRESH_TOKEN, rotated.as_str()] {
        let dir = tempfile::tempdir().unwrap();
        let mut stale = ctx.settings(Grant::RefreshToken, dir.path());
        stale["refresh_token"] = retired.into();
        let err = ctx
            .client_with(stale)
            .ensure_company_token()
            .await
            .unwrap_err();
        let ConcurError::Api(api) = &err else {
            panic!("not an api error: {err:?}");
        };
        assert_eq!(api.status, 400);
        assert_eq!(api.code.as_deref(), Some("108"));
    }
    // ... while the newest one keeps working after yet another restart.
    let third = ctx.client_with(settings);
    third.ensure_company_token().await.unwrap();
    assert_eq!(ctx.sim.token_grants("refresh_token"), 3);
}

#[tokio::test]
async fn a_restart_uses_the_saved_token_instead_of_the_request_token_again() {
    let ctx = start().await;
    let launch = ctx.mint_v1(LUNCH);
    read(&ctx.client(), &launch.item_url, None).await;
    read(&ctx.client(), &launch.item_url, None).await;
    assert_eq!(ctx.token_requests("password").len(), 1);
    assert_eq!(ctx.sim.token_grants("refresh_token"), 1);
}

#[tokio::test]
async fn calls_follow_the_token_geolocation_not_the_configured_api_base() {
    let ctx = start().await;
    let mut settings = ctx.settings(Grant::RequestToken, ctx.state.path());
    // Nothing listens here: a call that ignored the token's `geolocation` could not connect.
    settings["api_base_url"] = "https://127.0.0.1:9".into();
    let client = ctx.client_with(settings.clone());

    for (source, id) in [(Source::Entry, LUNCH), (Source::Header, REPORT)] {
        let (user_token, launch) = ctx.launch_v4(&client, source, id, None).await;
        let item = read(&client, &launch.item_url, Some(&user_token)).await;
        // Both writes are addressed from the geolocation: the company token's for the
        // expense PATCH, the user token's for the header PATCH.
        client
            .write_field(&item, "custom12", &text("PRJ-0042"), Some(&user_token))
            .await
            .unwrap();
    }
    assert_eq!(ctx.sim.successful_writes().len(), 2);
    assert_eq!(
        saved_state(ctx.state.path())["geolocation"],
        ctx.sim.geolocation()
    );

    // After a restart the saved refresh token is used at the saved geolocation too.
    let restarted = ctx.client_with(settings);
    restarted.ensure_company_token().await.unwrap();
    assert_eq!(ctx.sim.token_grants("refresh_token"), 1);
}

/// Seconds from now until the saved refresh token expires, by the state file.
fn saved_refresh_lifetime(state_dir: &Path) -> u64 {
    let state = saved_state(state_dir);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    state["refresh_expires_at"].as_u64().unwrap() - now
}

#[tokio::test]
async fn refresh_expires_in_is_read_as_an_epoch_time() {
    const DAY: u64 = 24 * 3600;
    // Concur's six months: saved as an absolute time, no warning.
    let logs = LogBuffer::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let ctx = start().await;
    ctx.client().ensure_company_token().await.unwrap();
    let left = saved_refresh_lifetime(ctx.state.path());
    assert!((179 * DAY..=180 * DAY).contains(&left), "{left}");
    assert!(!logs.contents().contains("expires within 14 days"));

    // A refresh token with a week left: the operator is warned.
    let ctx = start_with(|config| {
        config.lifetimes = Lifetimes {
            refresh_token: Duration::from_secs(7 * DAY),
            ..Lifetimes::default()
        };
    })
    .await;
    ctx.client().ensure_company_token().await.unwrap();
    let left = saved_refresh_lifetime(ctx.state.path());
    assert!((6 * DAY..=7 * DAY).contains(&left), "{left}");
    assert!(logs.contents().contains("expires within 14 days"));
}

// ------------------------------------------------------------------ logs

#[tokio::test]
async fn logs_of_a_whole_launch_hold_no_token_secret_or_code() {
    let logs = LogBuffer::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let ctx = start().await;
    let client = ctx.client();
    let (user_token, launch) = ctx.launch_v4(&client, Source::Entry, LUNCH, None).await;
    let item = read(&client, &launch.item_url, Some(&user_token)).await;
    client
        .write_field(&item, "custom12", &text("PRJ-0042"), Some(&user_token))
        .await
        .unwrap();
    ctx.sim.set_faults(unauthorized_next(1));
    client
        .write_field(&item, "custom12", &text("PRJ-0043"), Some(&user_token))
        .await
        .unwrap();
    let _ = client
        .exchange_auth_code(&code_of(&launch), JANE)
        .await
        .unwrap_err();

    let text = logs.contents();
    assert!(text.contains("concur field written"), "logs were captured");
    let code = launch.client_auth_code.as_deref().unwrap();
    let rotated = saved_refresh_token(ctx.state.path());
    for secret in [
        sim::DEFAULT_CLIENT_SECRET,
        REQUEST_TOKEN,
        code,
        rotated.as_str(),
    ] {
        assert!(!text.contains(secret), "a secret leaked into the logs");
    }
    // Access and id tokens are JWTs; a JWT header always starts with `eyJ`.
    assert!(!text.contains("eyJ"), "a jwt leaked into the logs");
}

// ------------------------------------------------------------------ external validation

/// The calls behind an Event Notification, client against simulator: the notification's
/// `ObjectURI` reads the report, the v4 reads agree, approve moves it, a second approve is
/// `StepMoved`.
#[tokio::test]
async fn a_submitted_report_is_read_through_its_object_uri_and_approved_once() {
    use concur_connector::concur::{ReportApproveRequest, V4Report};
    let ctx = start().await;
    let client = ctx.client();
    ctx.sim.submit_report(REPORT).await.unwrap();
    let object_uri = format!(
        "{}/api/expense/expensereport/v1.1/reportfulldetails/{REPORT_V1}",
        ctx.sim.geolocation()
    );

    let details = client.report_details(&object_uri).await.unwrap();
    assert_eq!(details.report_id, REPORT);
    assert_eq!(
        details.approval_status_name.as_deref(),
        Some("Pending External Validation")
    );
    let snapshot = ctx.sim.snapshot();
    let seeded = snapshot.report(REPORT).unwrap();
    assert_eq!(details.entries.len(), seeded.expenses.len());
    assert!(
        details
            .entries
            .iter()
            .all(|e| e.expense_type_code.is_some())
    );

    let v4 = client
        .report_v4(&V4Report {
            user_id: Some(JANE.to_owned()),
            context_type: None,
            report_id: details.report_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(v4.approval_status_id.as_deref(), Some("A_EXTV"));
    assert_eq!(v4.expenses.len(), seeded.expenses.len());
    let supplies = v4
        .expenses
        .iter()
        .find(|e| e.expense.entry_id.as_deref() == Some(SUPPLIES))
        .unwrap();
    assert!(
        supplies
            .allocations
            .iter()
            .any(|a| a.allocation_id.as_deref() == Some(ALLOCATION))
    );

    let request = ReportApproveRequest {
        comment: Some("Validated by the connector".to_owned()),
        expected_step_code: Some("EXTVAL".to_owned()),
        ..ReportApproveRequest::default()
    };
    let outcome = client.approve(REPORT, &request).await.unwrap();
    assert_eq!(outcome.status, 204);
    let approved = ctx.sim.snapshot();
    assert_eq!(
        approved.report(REPORT).unwrap().approval_status_id,
        "A_APPR"
    );
    let again = client.approve(REPORT, &request).await.unwrap_err();
    assert!(matches!(again, ConcurError::StepMoved(_)), "{again}");
    assert_eq!(ctx.only_write().api, WriteApi::V4Approve);
}

/// A dropped notification is in the failed list the client reads, and the client deletes it.
#[tokio::test]
async fn a_dropped_notification_is_listed_then_deleted_by_the_client() {
    let notify = Url::parse("https://127.0.0.1:9/concur/v1.0/notify").unwrap();
    let ctx = start_with(|config| config.notify_url = Some(notify)).await;
    ctx.sim.set_faults(Faults {
        drop_notifications_next: 1,
        ..Faults::default()
    });
    assert_eq!(
        ctx.sim.submit_report(REPORT).await.unwrap().outcome,
        "dropped"
    );
    let client = ctx.client();
    let failed = client.failed_notifications().await.unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].notification.object_uri.ends_with(REPORT_V1));
    client
        .delete_notification(&failed[0].notification_uri)
        .await
        .unwrap();
    assert!(client.failed_notifications().await.unwrap().is_empty());
}
