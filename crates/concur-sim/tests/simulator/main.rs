//! Black-box tests of the Concur simulator over real HTTPS, with a client that trusts only the
//! simulator's own CA; `cli` runs the `concur-sim` binary.

// The shared helpers below are test code too: a failed step should panic where it happened.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

#[path = "../support/fake_connector.rs"]
mod fake_connector;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use concur_protocol::credentials::ConnectorCredentials;
use concur_protocol::launch::Source;
use concur_sim as sim;
use concur_sim::{
    self, Faults, MintedLaunch, Principal, QueryEncoding, RunningSim, SimConfig, SimTls,
    V1LaunchRequest, V4LaunchRequest, WriteApi,
};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Method, StatusCode, Url};
use secrecy::SecretString;
use serde_json::{Value, json};

mod cli;
mod identity;
mod request;

const CONNECTOR_USER: &str = "LaunchConnectorUser";
const CONNECTOR_PASSWORD: &str = "Tr0ub4dor&3-Horse";
const COMPANY_ID: &str = "08bcca1e-0d4f-4261-9f1b-f778d96617d6";
const REQUEST_TOKEN: &str = "request-token-0001";
const REFRESH_TOKEN: &str = "company-refresh-0001";
const REDIRECT_URI: &str = "https://connector.example.com/launchexternalurl/v4/form";

const JANE: &str = "32c2fcc3-b2e8-4907-9672-5b3f49b1c643";
const MAX: &str = "6f0e3a52-8c1d-4b7e-9a26-d4c8b1e7f305";
const ALEX: &str = "a1b2c3d4-0000-4000-8000-000000000abc";
const REPORT: &str = "764428DD6A664AF0BFCB";
const LUNCH: &str = "84FCBB92BD4E5342B849DAC29FD163A1";
const SUPPLIES: &str = "29EE3C62F5D844458828A5C1086072D1";
const ALLOCATION: &str = "3BBB494511E1C74DA04469C45B039871";
const MAX_REPORT: &str = "5C9A0B7E3D1F42A8B6E0";
const HOTEL_ALLOCATION: &str = "7A2C9E41B05D4F8E9C3A6B1D2E4F5A70";
const LUNCH_V3: &str = "nbmTPob9qSUJWKttTEr6MLaXaPKYYPv7U";
const SUPPLIES_V3: &str = "gWidFO7ikXV66iSvqtG6Yd0wZ$s4ftzvzTCg";
const REPORT_V3: &str = "nYO0ck05r5fATbnjrMBf0d$sCIBqX8WQYw";
const ENGINEERING_ID: &str = "058713001E2CD943824280D9275FDC3F";

struct Ctx {
    sim: RunningSim,
    http: reqwest::Client,
    base: String,
    _dir: tempfile::TempDir,
}

fn credentials() -> ConnectorCredentials {
    ConnectorCredentials::new(CONNECTOR_USER, SecretString::from(CONNECTOR_PASSWORD)).unwrap()
}

async fn start() -> Ctx {
    start_with(|_| {}).await
}

async fn start_with(adjust: impl FnOnce(&mut SimConfig)) -> Ctx {
    let dir = tempfile::tempdir().unwrap();
    let connector = Url::parse("https://connector.example.com/").unwrap();
    let mut config =
        SimConfig::new(credentials(), &connector, SimTls::generate_in(dir.path())).unwrap();
    config.company_request_token = SecretString::from(REQUEST_TOKEN);
    config.company_refresh_token = Some(SecretString::from(REFRESH_TOKEN));
    adjust(&mut config);
    let sim = sim::start(config).await.unwrap();
    let http = client_trusting(&std::fs::read(sim.ca_pem_path()).unwrap());
    let base = sim.geolocation().to_owned();
    Ctx {
        sim,
        http,
        base,
        _dir: dir,
    }
}

fn client_trusting(ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem).unwrap()])
        .build()
        .unwrap()
}

impl Ctx {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url("/oauth2/v0/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn grant(&self, extra: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut form = vec![
            ("client_id", sim::DEFAULT_CLIENT_ID),
            ("client_secret", sim::DEFAULT_CLIENT_SECRET),
        ];
        form.extend_from_slice(extra);
        self.token(&form).await
    }

    /// The password grant with `credtype=authtoken` that yields a company token.
    async fn company_grant(&self) -> (StatusCode, Value) {
        self.grant(&[
            ("grant_type", "password"),
            ("username", COMPANY_ID),
            ("password", REQUEST_TOKEN),
            ("credtype", "authtoken"),
        ])
        .await
    }

    async fn company_token(&self) -> String {
        let (status, body) = self.company_grant().await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn exchange(&self, code: &str) -> (StatusCode, Value) {
        self.grant(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
        ])
        .await
    }

    /// Mints a launch and exchanges its code: the user token of the clicking user.
    async fn user_token(&self, request: &V4LaunchRequest) -> (String, MintedLaunch) {
        let launch = self.sim.mint_v4(request).unwrap();
        let (status, body) = self
            .exchange(launch.client_auth_code.as_deref().unwrap())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (body["access_token"].as_str().unwrap().to_owned(), launch)
    }

    async fn get(&self, url: &str, token: &str) -> reqwest::Response {
        self.http
            .get(url)
            .bearer_auth(token)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
    }

    async fn get_json(&self, url: &str, token: &str) -> Value {
        let response = self.get(url, token).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {url}");
        response.json().await.unwrap()
    }

    async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.http
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn patch(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.send_json(Method::PATCH, path, token, body).await
    }

    /// A call to the admin API (`/_sim/...`), which takes no token.
    async fn admin(&self, method: Method, path: &str, body: Option<&Value>) -> reqwest::Response {
        let request = self.http.request(method, self.url(path));
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        request.send().await.unwrap()
    }

    /// The JSON an admin `GET` answers.
    async fn admin_get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.admin(Method::GET, path, None).await;
        response.json().await.unwrap()
    }
}

fn expense_url(base: &str, owner: &str, context: &str, report: &str, expense: &str) -> String {
    format!(
        "{base}/expensereports/v4/users/{owner}/context/{context}/reports/{report}/expenses/{expense}"
    )
}

fn custom(body: &Value, id: &str) -> Value {
    body["customData"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no customData {id} in {body}"))["value"]
        .clone()
}

/// Verifies an RS256 JWT against the simulator's JWKS (jsonwebtoken, independent of the sim).
async fn verify_jwt(ctx: &Ctx, token: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = ctx
        .http
        .get(ctx.url("/oauth2/v0/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[sim::DEFAULT_CLIENT_ID]);
    validation.set_issuer(&[ctx.base.as_str()]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

// ---------------------------------------------------------------- tokens

#[tokio::test]
async fn company_password_grant_answers_in_the_documented_shape() {
    let ctx = start().await;
    let (status, body) = ctx.company_grant().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["expires_in"], "3600",
        "expires_in is a string as in Concur's examples"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["geolocation"], ctx.base.as_str());
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let refresh_expires = body["refresh_expires_in"].as_u64().expect("epoch number");
    assert!(refresh_expires > now + 100 * 24 * 3600);
    let claims = verify_jwt(&ctx, body["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], COMPANY_ID);
    assert_eq!(claims["concur.type"], "company");
    assert_eq!(ctx.sim.token_grants("password"), 1);
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_stops_working() {
    let ctx = start().await;
    let refresh = |token: String| {
        let ctx = &ctx;
        async move {
            ctx.grant(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
                .await
        }
    };
    let (status, first) = refresh(REFRESH_TOKEN.to_owned()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let rotated = first["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, REFRESH_TOKEN);

    let (status, reused) = refresh(REFRESH_TOKEN.to_owned()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reused["code"], 108);
    assert_eq!(reused["error"], "invalid_grant");
    assert_eq!(reused["geolocation"], ctx.base.as_str());

    let (status, second) = refresh(rotated).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    // The refreshed company token works on the API.
    let token = second["access_token"].as_str().unwrap();
    let url = expense_url(&ctx.base, JANE, "TRAVELER", REPORT, LUNCH);
    assert_eq!(ctx.get(&url, token).await.status(), StatusCode::OK);
}

type TokenCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, u64);

#[tokio::test]
async fn token_endpoint_errors_carry_the_documented_codes() {
    let ctx = start().await;
    let id = sim::DEFAULT_CLIENT_ID;
    let secret = sim::DEFAULT_CLIENT_SECRET;
    // (case, form, HTTP status, Concur code)
    let cases: Vec<TokenCase> = vec![
        (
            "no client_id",
            vec![
                ("client_secret", secret),
                ("grant_type", "client_credentials"),
            ],
            400,
            62,
        ),
        (
            "no client_secret",
            vec![("client_id", id), ("grant_type", "client_credentials")],
            400,
            63,
        ),
        (
            "no grant_type",
            vec![("client_id", id), ("client_secret", secret)],
            400,
            65,
        ),
        (
            "unknown client",
            vec![
                ("client_id", "99999999-2222-4333-8444-555555555555"),
                ("client_secret", secret),
                ("grant_type", "client_credentials"),
            ],
            401,
            61,
        ),
        (
            "wrong secret",
            vec![
                ("client_id", id),
                ("client_secret", "wrong"),
                ("grant_type", "client_credentials"),
            ],
            401,
            64,
        ),
        (
            "unsupported grant",
            vec![
                ("client_id", id),
                ("client_secret", secret),
                ("grant_type", "otp"),
            ],
            400,
            60,
        ),
        (
            "no refresh token",
            vec![
                ("client_id", id),
                ("client_secret", secret),
                ("grant_type", "refresh_token"),
            ],
            400,
            106,
        ),
        (
            "unknown refresh token",
            vec![
                ("client_id", id),
                ("client_secret", secret),
                ("grant_type", "refresh_token"),
                ("refresh_token", "nope"),
            ],
            400,
            108,
        ),
        (
            "no username",
            vec![
                ("client_id", id),
                ("client_secret", secret),
                ("grant_type", "password"),
                ("password", REQUEST_TOKEN),
                ("credtype", "authtoken"),
            ],
            400,
            51,
        ),
        (
            "no password",
            vec![
                ("client_id", id),
                ("client_secret", secret),
                ("grant_type", "password"),
                ("username", COMPANY_ID),
                ("credtype", "authtoken"),
            ],
            400,
            52,
        ),
        (
            "wrong request token",
            vec![
                ("client_id", id),
                ("client_secret", secret),
                ("grant_type", "password"),
                ("username", COMPANY_ID),
                ("password", "wrong"),
                ("credtype", "authtoken"),
            ],
            400,
            5,
        ),
        (
            "wrong company",
            vec![
                ("client_id", id),
                ("client_secret", secret),
                ("grant_type", "password"),
                ("username", JANE),
                ("password", REQUEST_TOKEN),
                ("credtype", "authtoken"),
            ],
            400,
            5,
        ),
        (
            "bad credtype",
            vec![
                ("client_id", id),
                ("client_secret", secret),
                ("grant_type", "password"),
                ("username", COMPANY_ID),
                ("password", REQUEST_TOKEN),
                ("credtype", "magic"),
            ],
            400,
            120,
        ),
        (
            "no code",
            vec![
                ("client_id", id),
                ("client_secret", secret),
                ("grant_type", "authorization_code"),
                ("redirect_uri", REDIRECT_URI),
            ],
            400,
            101,
        ),
        (
            "no redirect_uri",
            vec![
                ("client_id", id),
                ("client_secret", secret),
                ("grant_type", "authorization_code"),
                ("code", "c"),
            ],
            400,
            102,
        ),
        (
            "unknown code",
            vec![
                ("client_id", id),
                ("client_secret", secret),
                ("grant_type", "authorization_code"),
                ("code", "c"),
                ("redirect_uri", REDIRECT_URI),
            ],
            400,
            103,
        ),
    ];
    for (case, form, status, code) in cases {
        let (got_status, body) = ctx.token(&form).await;
        assert_eq!(got_status.as_u16(), status, "{case}: {body}");
        assert_eq!(body["code"], code, "{case}: {body}");
        assert!(
            body["error"].is_string() && body["error_description"].is_string(),
            "{case}"
        );
    }
    assert_eq!(ctx.sim.token_grants("refresh_token"), 0);
}

#[tokio::test]
async fn launch_auth_code_is_single_use_and_names_the_clicking_user() {
    let ctx = start().await;
    let mut request = V4LaunchRequest::new(Source::Header, REPORT);
    request.logged_in_user_id = Some(ALEX.to_owned());
    let launch = ctx.sim.mint_v4(&request).unwrap();
    let code = launch.client_auth_code.unwrap();

    let (status, body) = ctx.exchange(&code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["refresh_token"].is_string());
    assert!(
        body.get("refresh_expires_in").is_none(),
        "only company tokens carry it"
    );
    let claims = verify_jwt(&ctx, body["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], ALEX);
    assert_eq!(claims["concur.type"], "user");

    let (status, again) = ctx.exchange(&code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(again["code"], 103);
    assert_eq!(ctx.sim.token_grants("authorization_code"), 1);
}

#[tokio::test]
async fn a_wrong_redirect_uri_is_refused_and_leaves_the_code_usable() {
    let ctx = start().await;
    let launch = ctx
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Entry, LUNCH))
        .unwrap();
    let code = launch.client_auth_code.unwrap();
    let (status, body) = ctx
        .grant(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://evil.example.com/"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 104);
    assert_eq!(ctx.exchange(&code).await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_expired_auth_code_is_refused() {
    let ctx = start_with(|c| c.lifetimes.auth_code = Duration::ZERO).await;
    let launch = ctx
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Entry, LUNCH))
        .unwrap();
    let (status, body) = ctx
        .exchange(launch.client_auth_code.as_deref().unwrap())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 103);
}

#[tokio::test]
async fn client_credentials_give_an_app_token_without_expense_access() {
    let ctx = start().await;
    let (status, body) = ctx.grant(&[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("refresh_token").is_none());
    assert!(body.get("id_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let url = expense_url(&ctx.base, JANE, "TRAVELER", REPORT, LUNCH);
    assert_eq!(ctx.get(&url, token).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn expired_missing_and_unknown_tokens_get_401_with_an_error_body() {
    let ctx = start().await;
    let token = ctx.company_token().await;
    let url = expense_url(&ctx.base, JANE, "TRAVELER", REPORT, LUNCH);
    assert_eq!(ctx.get(&url, &token).await.status(), StatusCode::OK);

    let response = ctx.admin(Method::POST, "/_sim/tokens/expire", None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = ctx.get(&url, &token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("concur-correlationid"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["httpStatus"], "401 UNAUTHORIZED");
    assert!(body["errorMessage"].as_str().unwrap().contains("expired"));

    assert_eq!(
        ctx.get(&url, "not-a-token").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let anonymous = ctx.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn short_access_token_lifetime_shows_in_expires_in() {
    let ctx = start_with(|c| c.lifetimes.access_token = Duration::from_secs(5)).await;
    let (_, body) = ctx
        .grant(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", REFRESH_TOKEN),
        ])
        .await;
    assert_eq!(body["expires_in"], "5");
}

// ---------------------------------------------------------------- v4 reads

#[tokio::test]
async fn v4_reads_return_the_documented_shapes() {
    let ctx = start().await;
    let (user, launch) = ctx
        .user_token(&V4LaunchRequest::new(Source::Entry, LUNCH))
        .await;
    let expense = ctx.get_json(&launch.item_url, &user).await;
    assert_eq!(expense["expenseId"], LUNCH);
    assert_eq!(expense["expenseType"]["id"], "LUNCH");
    assert_eq!(expense["expenseType"]["name"], "Lunch");
    assert_eq!(
        expense["transactionAmount"],
        json!({"value": 25.0, "currencyCode": "USD"})
    );
    assert_eq!(expense["transactionDate"], "2026-03-11");
    assert_eq!(expense["vendor"]["description"], "Blue Door Cafe");
    assert_eq!(custom(&expense, "custom12"), Value::Null);
    assert_eq!(
        custom(&expense, "custom9"),
        "AB8596D91C994F4DBBD820D6DCBDC599"
    );
    let list_field = &expense["customData"][1];
    assert_eq!(list_field["isValid"], true);
    assert!(
        list_field["listItemUrl"]
            .as_str()
            .unwrap()
            .ends_with("AB8596D91C994F4DBBD820D6DCBDC599")
    );
    assert_eq!(expense["links"][0]["rel"], "self");

    let company = ctx.company_token().await;
    let report_url = format!(
        "{}/expensereports/v4/users/{JANE}/context/TRAVELER/reports/{REPORT}",
        ctx.base
    );
    let report = ctx.get_json(&report_url, &company).await;
    assert_eq!(report["reportId"], REPORT);
    assert_eq!(report["userId"], JANE);
    assert_eq!(report["currencyCode"], "USD");
    assert_eq!(report["approvalStatusId"], "A_NOTF");
    assert_eq!(
        custom(&report, "custom15"),
        "4366A89A916F074099A971B000989A94"
    );

    let mut delegate = V4LaunchRequest::new(Source::Allocation, ALLOCATION);
    delegate.logged_in_user_id = Some(ALEX.to_owned());
    let (alex, launch) = ctx.user_token(&delegate).await;
    assert!(launch.item_url.contains("/context/PROXY/"));
    let allocation = ctx.get_json(&launch.item_url, &alex).await;
    assert_eq!(allocation["allocationId"], ALLOCATION);
    assert_eq!(allocation["expenseId"], SUPPLIES);
    assert_eq!(allocation["percentage"], 50.0);
    assert_eq!(allocation["allocationAmount"]["value"], 250.0);
    assert_eq!(
        custom(&allocation, "custom9"),
        "D3954B47BCEC9446A4FFC49E0000B46E"
    );
}

#[tokio::test]
async fn v4_reads_compare_user_ids_ignoring_case() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let upper = expense_url(
        &ctx.base,
        &JANE.to_ascii_uppercase(),
        "TRAVELER",
        REPORT,
        &LUNCH.to_ascii_lowercase(),
    );
    assert_eq!(ctx.get(&upper, &company).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn v4_reads_refuse_other_users_and_wrong_contexts() {
    let ctx = start().await;
    let (jane, _) = ctx
        .user_token(&V4LaunchRequest::new(Source::Entry, LUNCH))
        .await;
    let maxs_report = format!(
        "{}/expensereports/v4/users/{MAX}/context/TRAVELER/reports/{MAX_REPORT}",
        ctx.base
    );
    assert_eq!(
        ctx.get(&maxs_report, &jane).await.status(),
        StatusCode::FORBIDDEN
    );
    let as_proxy = expense_url(&ctx.base, JANE, "PROXY", REPORT, LUNCH);
    assert_eq!(
        ctx.get(&as_proxy, &jane).await.status(),
        StatusCode::FORBIDDEN,
        "the owner is no proxy of herself"
    );
    let bad_context = expense_url(&ctx.base, JANE, "PROCESSOR", REPORT, LUNCH);
    let response = ctx.get(&bad_context, &jane).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["httpStatus"], "400 BAD_REQUEST");
    assert!(body["path"].as_str().unwrap().ends_with(LUNCH));
    let missing = expense_url(
        &ctx.base,
        JANE,
        "TRAVELER",
        REPORT,
        "00000000000000000000000000000000",
    );
    assert_eq!(
        ctx.get(&missing, &jane).await.status(),
        StatusCode::NOT_FOUND
    );
}

// ---------------------------------------------------------------- v4 writes

#[tokio::test]
async fn v4_expense_patch_is_applied_recorded_and_visible() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let body =
        json!({"customData": [{"id": "custom12", "value": "PRJ-0042"}], "expenseSource": "OTHER"});
    let path = format!("/expensereports/v4/reports/{REPORT}/expenses/{LUNCH}");
    let response = ctx.patch(&path, &company, &body).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let correlation = response.headers()["concur-correlationid"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(response.text().await.unwrap().is_empty());

    let writes = ctx.sim.writes();
    assert_eq!(writes.len(), 1);
    let write = &writes[0];
    assert_eq!(write.api, WriteApi::V4Expense);
    assert_eq!(write.method, "PATCH");
    assert_eq!(write.path, path);
    assert_eq!(write.principal, Some(Principal::Company));
    assert_eq!(write.content_types, ["application/json"]);
    assert_eq!(write.body.as_ref(), Some(&body));
    assert_eq!(write.status, 204);
    assert_eq!(write.correlation_id, correlation);

    let expense = ctx
        .get_json(
            &expense_url(&ctx.base, JANE, "TRAVELER", REPORT, LUNCH),
            &company,
        )
        .await;
    assert_eq!(custom(&expense, "custom12"), "PRJ-0042");
    assert_eq!(
        custom(&expense, "custom9"),
        "AB8596D91C994F4DBBD820D6DCBDC599",
        "untouched"
    );
}

#[tokio::test]
async fn v4_expense_patch_refusals() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let (user, _) = ctx
        .user_token(&V4LaunchRequest::new(Source::Entry, LUNCH))
        .await;
    let path = format!("/expensereports/v4/reports/{REPORT}/expenses/{LUNCH}");
    let ok_custom = json!([{"id": "custom12", "value": "PRJ-0042"}]);
    // (case, token, body, status, validation error id)
    let cases: Vec<(&str, &str, Value, u16, Option<&str>)> = vec![
        (
            "missing expenseSource",
            &company,
            json!({"customData": ok_custom}),
            400,
            Some("expenseSource"),
        ),
        (
            "unknown expenseSource",
            &company,
            json!({"customData": ok_custom, "expenseSource": "FAX"}),
            400,
            Some("expenseSource"),
        ),
        (
            "49 characters",
            &company,
            json!({"customData": [{"id": "custom12", "value": "x".repeat(49)}], "expenseSource": "OTHER"}),
            400,
            Some("customData[0].value"),
        ),
        (
            "unknown field",
            &company,
            json!({"customData": [{"id": "custom40", "value": "x"}], "expenseSource": "OTHER"}),
            400,
            Some("customData[0].id"),
        ),
        (
            "zero-padded id (T24)",
            &company,
            json!({"customData": [{"id": "custom09", "value": ENGINEERING_ID}], "expenseSource": "OTHER"}),
            400,
            Some("customData[0].id"),
        ),
        (
            "list code instead of item id",
            &company,
            json!({"customData": [{"id": "custom9", "value": "CC-100"}], "expenseSource": "OTHER"}),
            400,
            Some("customData[0].value"),
        ),
        (
            "misspelt member",
            &company,
            json!({"customData": ok_custom, "expense_source": "OTHER"}),
            400,
            Some("expense_source"),
        ),
        (
            "user token",
            &user,
            json!({"customData": ok_custom, "expenseSource": "OTHER"}),
            403,
            None,
        ),
    ];
    for (case, token, body, status, error_id) in cases {
        let response = ctx.patch(&path, token, &body).await;
        assert_eq!(response.status().as_u16(), status, "{case}");
        assert!(
            response.headers().contains_key("concur-correlationid"),
            "{case}"
        );
        let error: Value = response.json().await.unwrap();
        assert!(error["errorMessage"].is_string(), "{case}: {error}");
        if let Some(id) = error_id {
            let ids: Vec<&str> = error["validationErrors"]
                .as_array()
                .unwrap_or_else(|| panic!("{case}: {error}"))
                .iter()
                .map(|e| e["id"].as_str().unwrap())
                .collect();
            assert!(ids.contains(&id), "{case}: {ids:?}");
        }
    }
    let writes = ctx.sim.writes();
    assert_eq!(writes.len(), 8, "refused attempts are recorded too");
    assert!(writes.iter().all(|w| !w.succeeded()));
    assert_eq!(
        writes[7].principal,
        Some(Principal::User {
            user_id: JANE.to_owned()
        })
    );
    assert!(ctx.sim.successful_writes().is_empty());
    let data = ctx.sim.snapshot();
    assert!(
        !data
            .expense(LUNCH)
            .unwrap()
            .1
            .custom_data
            .contains_key("custom12"),
        "nothing applied"
    );
}

#[tokio::test]
async fn v4_patch_content_type_must_be_exactly_one_json() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let url = ctx.url(&format!(
        "/expensereports/v4/reports/{REPORT}/expenses/{LUNCH}"
    ));
    let body = r#"{"customData":[{"id":"custom12","value":"P"}],"expenseSource":"OTHER"}"#;
    let plain = ctx
        .http
        .patch(&url)
        .bearer_auth(&company)
        .header("Content-Type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let doubled = ctx
        .http
        .patch(&url)
        .bearer_auth(&company)
        .header("Content-Type", "application/json")
        .header("Content-Type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(doubled.status(), StatusCode::BAD_REQUEST, "trap T23");
    let writes = ctx.sim.writes();
    assert_eq!(writes[1].content_types, ["application/json", "text/plain"]);
}

#[tokio::test]
async fn v4_report_patch_requires_report_source_and_takes_a_user_token() {
    let ctx = start().await;
    let (user, launch) = ctx
        .user_token(&V4LaunchRequest::new(Source::Header, REPORT))
        .await;
    let path = Url::parse(&launch.item_url).unwrap().path().to_owned();
    let without = json!({"customData": [{"id": "custom12", "value": "PRJ-7"}]});
    let response = ctx.patch(&path, &user, &without).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["validationErrors"][0]["id"], "reportSource");

    let with =
        json!({"customData": [{"id": "custom12", "value": "PRJ-7"}], "reportSource": "OTHER"});
    assert_eq!(
        ctx.patch(&path, &user, &with).await.status(),
        StatusCode::NO_CONTENT
    );
    let report = ctx.get_json(&launch.item_url, &user).await;
    assert_eq!(custom(&report, "custom12"), "PRJ-7");
    let writes = ctx.sim.successful_writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].api, WriteApi::V4Report);
    assert_eq!(writes[0].body.as_ref(), Some(&with));
    assert_eq!(
        writes[0].principal,
        Some(Principal::User {
            user_id: JANE.to_owned()
        })
    );
}

#[tokio::test]
async fn v4_submitted_header_patch_takes_only_a_company_token() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let (user, _) = ctx
        .user_token(&V4LaunchRequest::new(Source::Header, REPORT))
        .await;
    let path = format!("/expensereports/v4/reports/{REPORT}");
    let body =
        json!({"customData": [{"id": "custom15", "value": "E31CB42509F9FF408BA7DD6713AB49BD"}]});
    assert_eq!(
        ctx.patch(&path, &user, &body).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ctx.patch(&path, &company, &body).await.status(),
        StatusCode::NO_CONTENT
    );
    let report = ctx.sim.snapshot().report(REPORT).unwrap().clone();
    assert_eq!(
        report.custom_data["custom15"],
        "E31CB42509F9FF408BA7DD6713AB49BD"
    );
}

#[tokio::test]
async fn v4_allocation_patch_needs_allocation_and_expense_ids() {
    let ctx = start().await;
    let mut request = V4LaunchRequest::new(Source::Allocation, HOTEL_ALLOCATION);
    request.logged_in_user_id = Some(ALEX.to_owned());
    let (alex, launch) = ctx.user_token(&request).await;
    let path = Url::parse(&launch.item_url).unwrap().path().to_owned();
    let hotel = "1E7B3F95A64C4D0B9F28C5E1A7D3B960";
    let taxi = "B3E5D7F9A1C24E6B8D0F2A4C6E8B0D1F";
    let allocation = json!({"customData": [{"id": "custom9", "value": "D3954B47BCEC9446A4FFC49E0000B46E", "isValid": true}]});
    let cases = [
        (
            "no expenseIds",
            json!({"allocation": allocation}),
            "expenseIds",
        ),
        (
            "no allocation",
            json!({"expenseIds": [hotel]}),
            "allocation",
        ),
        (
            "empty expenseIds",
            json!({"allocation": allocation, "expenseIds": []}),
            "expenseIds",
        ),
        (
            "other expense only",
            json!({"allocation": allocation, "expenseIds": [taxi]}),
            "expenseIds",
        ),
    ];
    for (case, body, id) in cases {
        let response = ctx.patch(&path, &alex, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["validationErrors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["id"] == id),
            "{case}: {error}"
        );
    }
    let good = json!({"allocation": allocation, "expenseIds": [hotel]});
    assert_eq!(
        ctx.patch(&path, &alex, &good).await.status(),
        StatusCode::NO_CONTENT
    );
    let read = ctx.get_json(&launch.item_url, &alex).await;
    assert_eq!(custom(&read, "custom9"), "D3954B47BCEC9446A4FFC49E0000B46E");
    let writes = ctx.sim.successful_writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].api, WriteApi::V4Allocation);
    assert_eq!(writes[0].body.as_ref(), Some(&good));
}

// ---------------------------------------------------------------- v3 and v1.1

#[tokio::test]
async fn v3_entry_get_and_put() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let path = "/api/v3.0/expense/entries/gWidFO7ikXV66iSvqtG6Yd0wZ%24s4ftzvzTCg";
    let url = ctx.url(path);
    let entry = ctx.get_json(&url, &company).await;
    assert_eq!(entry["ID"], SUPPLIES_V3);
    assert_eq!(entry["ExpenseID"], SUPPLIES);
    assert_eq!(entry["ReportID"], REPORT_V3);
    assert_eq!(entry["ReportOwnerID"], "jane.doe@acmecorp.com");
    assert_eq!(entry["ExpenseTypeCode"], "OFCSP");
    assert_eq!(entry["TransactionCurrencyCode"], "USD");
    assert_eq!(entry["TransactionAmount"], 500.0);
    assert_eq!(entry["AllocationType"], "F");
    assert_eq!(
        entry["Custom12"],
        json!({"Type": "Text", "Value": "PRJ-0001", "Code": null, "ListItemID": null})
    );
    assert_eq!(entry["Custom9"]["Type"], "List");
    assert_eq!(entry["Custom1"], Value::Null);
    assert!(entry["URI"].as_str().unwrap().ends_with("%24s4ftzvzTCg"));

    let put = async |body: Value| ctx.send_json(Method::PUT, path, &company, &body).await;
    let response = put(json!({"Custom12": "PRJ-0042", "Custom9": "CC-100"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().is_empty());
    let entry = ctx.get_json(&url, &company).await;
    assert_eq!(entry["Custom12"]["Value"], "PRJ-0042");
    assert_eq!(
        entry["Custom9"],
        json!({"Type": "List", "Value": "Engineering", "Code": "CC-100", "ListItemID": ENGINEERING_ID})
    );
    assert_eq!(
        entry["OrgUnit1"]["Value"],
        Value::Null,
        "untouched by the partial update"
    );

    for (case, body) in [
        ("49 characters", json!({"Custom12": "x".repeat(49)})),
        ("unconfigured field", json!({"Custom40": "x"})),
        (
            "list item id instead of code",
            json!({"Custom9": ENGINEERING_ID}),
        ),
        ("number", json!({"Custom12": 42})),
    ] {
        let response = put(body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        let error: Value = response.json().await.unwrap();
        assert!(error["Message"].is_string(), "{case}: {error}");
    }
    let writes = ctx.sim.writes();
    assert_eq!(writes.len(), 5);
    assert_eq!(writes[0].api, WriteApi::V3Entry);
    assert_eq!(writes[0].method, "PUT");
    assert_eq!(
        writes[0].path,
        "/api/v3.0/expense/entries/gWidFO7ikXV66iSvqtG6Yd0wZ%24s4ftzvzTCg"
    );
    assert_eq!(
        writes[0].body,
        Some(json!({"Custom12": "PRJ-0042", "Custom9": "CC-100"}))
    );
    assert_eq!(ctx.sim.successful_writes().len(), 1);
}

#[tokio::test]
async fn v3_refuses_another_users_token() {
    let ctx = start().await;
    let (max, _) = ctx
        .user_token(&V4LaunchRequest::new(Source::Header, MAX_REPORT))
        .await;
    let url = ctx.url(&format!("/api/v3.0/expense/entries/{LUNCH_V3}"));
    assert_eq!(ctx.get(&url, &max).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn v1_entry_is_namespaced_xml() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let launch = ctx.sim.mint_v1(&V1LaunchRequest::new(LUNCH_V3)).unwrap();
    assert_eq!(
        launch.item_url,
        format!(
            "{}/api/expense/expensereport/v1.1/report/{REPORT_V3}/entry/{LUNCH_V3}",
            ctx.base
        )
    );
    // The v1.1 docs show the pre-2017 `OAuth` scheme; the simulator takes it there.
    let response = ctx
        .http
        .get(&launch.item_url)
        .header("Authorization", format!("OAuth {company}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let xml = response.text().await.unwrap();

    let mut reader = quick_xml::NsReader::from_str(&xml);
    let mut root_namespace = None;
    let mut values = std::collections::HashMap::new();
    let mut current = None;
    loop {
        match reader.read_resolved_event().unwrap() {
            (ns, quick_xml::events::Event::Start(e)) => {
                let name = e.local_name().as_ref().to_owned();
                if name == "ExpenseEntry"
                    && let quick_xml::name::ResolveResult::Bound(ns) = ns
                {
                    root_namespace = Some(ns.as_ref().to_owned());
                }
                current = Some(name);
            }
            (_, quick_xml::events::Event::Text(t)) => {
                if let Some(name) = current.take() {
                    values.insert(name, t.into_inner().into_owned());
                }
            }
            (_, quick_xml::events::Event::Eof) => break,
            _ => {}
        }
    }
    assert_eq!(
        root_namespace.as_deref(),
        Some("http://www.concursolutions.com/api/expense/expensereport/2011/03")
    );
    assert_eq!(values["ReportEntryID"], LUNCH_V3);
    assert_eq!(values["ReportID"], REPORT_V3);
    assert_eq!(values["ExpenseKey"], "LUNCH");
    assert_eq!(values["TransactionAmount"], "25.00000000");
    assert_eq!(values["TransactionCurrencyName"], "US, Dollar");
    assert_eq!(values["TransactionDate"], "2026-03-11T00:00:00");
    assert_eq!(values["X_UserID"], "jane.doe@acmecorp.com");
    assert_eq!(values["Custom9"], "(CC-400) Facilities");

    let wrong_report = ctx.url(&format!(
        "/api/expense/expensereport/v1.1/report/{REPORT_V3}x/entry/{LUNCH_V3}"
    ));
    assert_eq!(
        ctx.get(&wrong_report, &company).await.status(),
        StatusCode::NOT_FOUND
    );
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn fault_fail_next_answers_5xx_with_retry_after_then_recovers() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let url = expense_url(&ctx.base, JANE, "TRAVELER", REPORT, LUNCH);
    ctx.sim.set_faults(Faults {
        fail_next: 2,
        ..Faults::default()
    });
    for _ in 0..2 {
        let response = ctx.get(&url, &company).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["httpStatus"], "503 SERVICE_UNAVAILABLE");
    }
    assert_eq!(ctx.get(&url, &company).await.status(), StatusCode::OK);
    let injected = ctx.sim.requests().iter().filter(|r| r.injected).count();
    assert_eq!(injected, 2);
}

#[tokio::test]
async fn fault_error_percent_fails_an_exact_share_with_the_chosen_status() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let url = expense_url(&ctx.base, JANE, "TRAVELER", REPORT, LUNCH);
    ctx.sim.set_faults(Faults {
        error_percent: 50,
        error_status: 502,
        ..Faults::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(ctx.get(&url, &company).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 502, 200, 502]);
}

#[tokio::test]
async fn fault_unauthorized_next_hits_one_api_call_not_the_token_endpoint() {
    let ctx = start().await;
    ctx.sim.set_faults(Faults {
        unauthorized_next: 1,
        ..Faults::default()
    });
    let company = ctx.company_token().await;
    let url = expense_url(&ctx.base, JANE, "TRAVELER", REPORT, LUNCH);
    let response = ctx.get(&url, &company).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(ctx.get(&url, &company).await.status(), StatusCode::OK);
}

/// The simulator's base URL with `localhost` for its IP address: the same server under a
/// second name, playing a second Concur host.
fn localhost_alias(base: &str) -> String {
    let url = Url::parse(base).unwrap();
    format!("https://localhost:{}", url.port().unwrap())
}

#[tokio::test]
async fn fault_elsewhere_answers_error_16_away_from_the_named_geolocation() {
    let ctx = start().await;
    let alias = localhost_alias(&ctx.base);
    ctx.sim.set_faults(Faults {
        elsewhere_next: 1,
        elsewhere_geolocation: alias.clone(),
        elsewhere_grant: "refresh_token".to_owned(),
        ..Faults::default()
    });
    let refresh = [
        ("client_id", sim::DEFAULT_CLIENT_ID),
        ("client_secret", sim::DEFAULT_CLIENT_SECRET),
        ("grant_type", "refresh_token"),
        ("refresh_token", REFRESH_TOKEN),
    ];
    // Another grant type is served as usual.
    let (status, _) = ctx.company_grant().await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = ctx.token(&refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], 16, "{body}");
    assert_eq!(body["geolocation"], alias.as_str());
    // At the named host the same refresh token still works: the refusal used nothing up.
    let response = ctx
        .http
        .post(format!("{alias}/oauth2/v0/token"))
        .form(&refresh)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let hosts: Vec<Option<String>> = ctx
        .sim
        .requests()
        .iter()
        .filter(|r| r.grant_type.as_deref() == Some("refresh_token"))
        .map(|r| r.host.clone())
        .collect();
    let port = Url::parse(&ctx.base).unwrap().port().unwrap();
    assert_eq!(
        hosts,
        [
            Some(format!("127.0.0.1:{port}")),
            Some(format!("localhost:{port}"))
        ]
    );
}

#[tokio::test]
async fn fault_refuse_code_grants_at_a_host_leaves_the_code_usable_elsewhere() {
    let ctx = start().await;
    let port = Url::parse(&ctx.base).unwrap().port().unwrap();
    ctx.sim.set_faults(Faults {
        refuse_code_grants_at: format!("127.0.0.1:{port}"),
        ..Faults::default()
    });
    let launch = ctx
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Header, REPORT))
        .unwrap();
    let code = launch.client_auth_code.unwrap();
    let (status, body) = ctx.exchange(&code).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], 61, "{body}");
    let response = ctx
        .http
        .post(format!("{}/oauth2/v0/token", localhost_alias(&ctx.base)))
        .form(&[
            ("client_id", sim::DEFAULT_CLIENT_ID),
            ("client_secret", sim::DEFAULT_CLIENT_SECRET),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn fault_token_endpoint_down_leaves_the_api_up() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    ctx.sim.set_faults(Faults {
        token_endpoint_down: true,
        ..Faults::default()
    });
    let (status, body) = ctx
        .grant(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", REFRESH_TOKEN),
        ])
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["error"].is_string());
    let url = expense_url(&ctx.base, JANE, "TRAVELER", REPORT, LUNCH);
    assert_eq!(ctx.get(&url, &company).await.status(), StatusCode::OK);
    ctx.sim.set_faults(Faults::default());
    let (status, _) = ctx
        .grant(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", REFRESH_TOKEN),
        ])
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refresh token was not used up by the outage"
    );
}

#[tokio::test]
async fn fault_knobs_over_http_throttle_and_latency() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let knobs = json!({"throttle_next": 1, "retry_after_secs": 7, "latency_ms": 5});
    let response = ctx.admin(Method::PUT, "/_sim/faults", Some(&knobs)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let echoed: Faults = response.json().await.unwrap();
    assert_eq!(echoed.throttle_next, 1);
    assert_eq!(echoed.latency_ms, 5);
    assert_eq!(echoed.fail_next, 0, "omitted knobs are off");

    let url = expense_url(&ctx.base, JANE, "TRAVELER", REPORT, LUNCH);
    let response = ctx.get(&url, &company).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(
        ctx.get(&url, &company).await.status(),
        StatusCode::OK,
        "latency only delays"
    );

    let current: Faults = ctx.admin_get("/_sim/faults").await;
    assert_eq!(current.throttle_next, 0, "the counter was used up");
    assert_eq!(current.latency_ms, 5);
    let admin = ctx.admin(Method::GET, "/_sim/writes", None).await;
    assert_eq!(
        admin.status(),
        StatusCode::OK,
        "admin routes are never faulted"
    );
}

// ---------------------------------------------------------------- launches

type HmacSha256 = Hmac<sha2::Sha256>;
type HmacSha1 = Hmac<sha1::Sha1>;

fn query_map(url: &str) -> std::collections::HashMap<String, String> {
    let query = url.split_once('?').unwrap().1;
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Protocol docs/protocol.md §5.2, computed here without the crate's signer.
fn expected_v4_signature(q: &std::collections::HashMap<String, String>) -> String {
    let key = format!("{}{CONNECTOR_PASSWORD}", CONNECTOR_USER.to_lowercase());
    let message = format!(
        "{}{}{}{}{}{CONNECTOR_USER}{CONNECTOR_PASSWORD}{}",
        q["company_domain"],
        q["logged_in_user_id"],
        q["report_owner_user_id"],
        q["report_owner_employee_id"],
        q["item_url"],
        q["nonce"]
    );
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn v4_launches_for_each_source_verify_with_an_independent_hmac() {
    let ctx = start().await;
    let cases = [
        (
            Source::Header,
            REPORT,
            None,
            "/reports/764428DD6A664AF0BFCB",
        ),
        (
            Source::Entry,
            LUNCH,
            None,
            "/expenses/84FCBB92BD4E5342B849DAC29FD163A1",
        ),
        (
            Source::Allocation,
            ALLOCATION,
            None,
            "/allocations/3BBB494511E1C74DA04469C45B039871",
        ),
        (
            Source::Allocation,
            HOTEL_ALLOCATION,
            Some(ALEX),
            "/allocations/7A2C9E41B05D4F8E9C3A6B1D2E4F5A70",
        ),
    ];
    let mut nonces = std::collections::HashSet::new();
    for (source, id, delegate, tail) in cases {
        let mut request = V4LaunchRequest::new(source, id);
        request.logged_in_user_id = delegate.map(str::to_owned);
        let launch = ctx.sim.mint_v4(&request).unwrap();
        assert!(
            launch
                .url
                .starts_with("https://connector.example.com/launchexternalurl/v4/form?")
        );
        let q = query_map(&launch.url);
        assert_eq!(q["signature"], expected_v4_signature(&q), "{source:?} {id}");
        assert_eq!(q["item_url"], launch.item_url);
        assert!(q["item_url"].starts_with(&format!("{}/expensereports/v4/users/", ctx.base)));
        assert!(q["item_url"].ends_with(tail), "{}", q["item_url"]);
        assert_eq!(q["source"], source.as_str());
        assert_eq!(q["company_domain"], "acmecorp.com");
        assert_eq!(q["custom_field_launched_from"], "custom12");
        assert_eq!(
            q["client_auth_code"],
            launch.client_auth_code.clone().unwrap()
        );
        assert!(nonces.insert(q["nonce"].clone()), "fresh nonce per launch");
        match source {
            Source::Allocation => assert!(!q["expense_ids"].is_empty()),
            _ => assert!(!q.contains_key("expense_ids")),
        }
        if let Some(delegate) = delegate {
            assert_eq!(q["logged_in_user_id"], delegate);
            assert_eq!(q["report_owner_user_id"], MAX);
            assert_eq!(q["report_owner_employee_id"], "EMP 00+7&X");
            assert_eq!(q["expense_ids"], "1E7B3F95A64C4D0B9F28C5E1A7D3B960");
            assert_eq!(q["language_code"], "fr");
            assert!(q["item_url"].contains("/context/PROXY/"));
            assert!(
                launch
                    .url
                    .contains("report_owner_employee_id=EMP%2000%2B7%26X")
            );
        }
    }
}

#[tokio::test]
async fn form_encoded_launch_still_verifies() {
    let ctx = start().await;
    let mut request = V4LaunchRequest::new(Source::Entry, "1E7B3F95A64C4D0B9F28C5E1A7D3B960");
    request.encoding = QueryEncoding::Form;
    let launch = ctx.sim.mint_v4(&request).unwrap();
    assert!(
        launch
            .url
            .contains("report_owner_employee_id=EMP+00%2B7%26X")
    );
    let q = query_map(&launch.url);
    assert_eq!(q["signature"], expected_v4_signature(&q));
}

#[tokio::test]
async fn v1_launch_verifies_with_an_independent_hmac_sha1() {
    let ctx = start().await;
    let mut request = V1LaunchRequest::new(SUPPLIES_V3);
    request.user_id = Some(ALEX.to_owned());
    let launch = ctx.sim.mint_v1(&request).unwrap();
    assert!(
        launch
            .url
            .starts_with("https://connector.example.com/concur/form/v1.0/get?")
    );
    assert!(launch.client_auth_code.is_none());
    let q = query_map(&launch.url);
    assert_eq!(q["xuserid"], "alex.assistant@acmecorp.com");
    assert_eq!(
        q["itemurl"],
        format!(
            "{}/api/expense/expensereport/v1.1/report/{REPORT_V3}/entry/{SUPPLIES_V3}",
            ctx.base
        )
    );
    let key = format!("{}{CONNECTOR_PASSWORD}", CONNECTOR_USER.to_lowercase());
    let message = format!(
        "{}{}{}{CONNECTOR_USER}{CONNECTOR_PASSWORD}{}",
        q["xcompanydomain"], q["xuserid"], q["itemurl"], q["nonce"]
    );
    let mut mac = HmacSha1::new_from_slice(key.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    assert_eq!(q["signature"], STANDARD.encode(mac.finalize().into_bytes()));
}

#[tokio::test]
async fn minting_refuses_unknown_items_and_non_delegates() {
    let ctx = start().await;
    assert!(
        ctx.sim
            .mint_v4(&V4LaunchRequest::new(Source::Entry, REPORT))
            .is_err(),
        "a report id is no expense"
    );
    let mut request = V4LaunchRequest::new(Source::Entry, "1E7B3F95A64C4D0B9F28C5E1A7D3B960");
    request.logged_in_user_id = Some(JANE.to_owned());
    assert!(matches!(
        ctx.sim.mint_v4(&request),
        Err(sim::MintError::NotADelegate { .. })
    ));
}

// ---------------------------------------------------------------- admin API and TLS

#[tokio::test]
async fn admin_api_mints_lists_clears_and_resets() {
    let ctx = start().await;
    let minted = ctx
        .admin(
            Method::POST,
            "/_sim/launch/v4",
            Some(&json!({"source": "ENTRY", "id": LUNCH, "language_code": "de"})),
        )
        .await;
    assert_eq!(minted.status(), StatusCode::OK);
    let launch: MintedLaunch = minted.json().await.unwrap();
    let q = query_map(&launch.url);
    assert_eq!(q["language_code"], "de");
    assert_eq!(q["signature"], expected_v4_signature(&q));

    let v1 = ctx
        .admin(
            Method::POST,
            "/_sim/launch/v1",
            Some(&json!({"entry_id": LUNCH})),
        )
        .await;
    assert_eq!(v1.status(), StatusCode::OK);
    let unknown = ctx
        .admin(
            Method::POST,
            "/_sim/launch/v4",
            Some(&json!({"source": "HEADER", "id": "nope"})),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let (status, body) = ctx
        .exchange(launch.client_auth_code.as_deref().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let user = body["access_token"].as_str().unwrap();
    let company = ctx.company_token().await;
    let patch =
        json!({"customData": [{"id": "custom12", "value": "PRJ-9"}], "expenseSource": "OTHER"});
    let path = format!("/expensereports/v4/reports/{REPORT}/expenses/{LUNCH}");
    assert_eq!(
        ctx.patch(&path, &company, &patch).await.status(),
        StatusCode::NO_CONTENT
    );

    let writes: Vec<Value> = ctx.admin_get("/_sim/writes").await;
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0]["body"], patch);
    assert_eq!(writes[0]["principal"], json!({"kind": "company"}));
    let requests: Vec<Value> = ctx.admin_get("/_sim/requests").await;
    assert!(
        requests
            .iter()
            .any(|r| r["grant_type"] == "authorization_code" && r["status"] == 200)
    );

    let state: Value = ctx.admin_get("/_sim/state").await;
    assert_eq!(
        state["reports"][0]["expenses"][0]["custom_data"]["custom12"],
        "PRJ-9"
    );

    let cleared = ctx.admin(Method::DELETE, "/_sim/writes", None).await;
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert!(ctx.sim.writes().is_empty());

    assert_eq!(
        ctx.admin(Method::POST, "/_sim/reset", None).await.status(),
        StatusCode::NO_CONTENT
    );
    let expense = ctx.get_json(&launch.item_url, user).await;
    assert_eq!(
        custom(&expense, "custom12"),
        Value::Null,
        "reset restores the seed"
    );
    assert!(
        ctx.sim
            .requests()
            .iter()
            .all(|r| r.path != "/oauth2/v0/token")
    );

    let ca = ctx
        .admin(Method::GET, "/_sim/ca.pem", None)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(ca, ctx.sim.ca_pem());
}

#[tokio::test]
async fn every_answer_carries_a_correlation_id() {
    let ctx = start().await;
    let (_, _) = ctx.grant(&[("grant_type", "client_credentials")]).await;
    for path in [
        "/oauth2/v0/jwks",
        "/_sim/faults",
        "/api/v3.0/expense/entries/x",
    ] {
        let response = ctx.http.get(ctx.url(path)).send().await.unwrap();
        let id = response.headers()["concur-correlationid"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{path}: {id}");
    }
}

#[tokio::test]
async fn a_client_trusting_another_ca_is_refused_and_the_ca_is_reused_across_starts() {
    let ctx = start().await;
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let stranger = client_trusting(other.cert.pem().as_bytes());
    assert!(
        stranger
            .get(ctx.url("/oauth2/v0/jwks"))
            .send()
            .await
            .is_err()
    );

    // A second simulator on the same directory keeps the CA, so the first client trusts it.
    let connector = Url::parse("https://connector.example.com/").unwrap();
    let config = SimConfig::new(
        credentials(),
        &connector,
        SimTls::generate_in(ctx._dir.path()),
    )
    .unwrap();
    let second = sim::start(config).await.unwrap();
    assert_eq!(second.ca_pem(), ctx.sim.ca_pem());
    let response = ctx
        .http
        .get(format!("{}/oauth2/v0/jwks", second.geolocation()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    second.shutdown().await.unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(ctx._dir.path().join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

// ---- demo pages (issue 5): a Concur Expense look-alike with Launch URL fields ----

async fn demo_page(ctx: &Ctx, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let response = ctx.http.get(ctx.url(path)).send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn demo_index_lists_the_reports_under_a_strict_csp() {
    let ctx = start().await;
    let (status, headers, html) = demo_page(&ctx, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("March Expenses") && html.contains("Dienstreise Berlin"),
        "{html}"
    );
    assert!(
        html.contains(&format!("&#x2f;expense&#x2f;{REPORT}")),
        "{html}"
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        !html.contains("<script>") && !html.contains("onclick"),
        "no inline script"
    );
}

#[tokio::test]
async fn demo_report_shows_every_level_with_launch_buttons_and_current_values() {
    let ctx = start().await;
    let (status, _, html) = demo_page(&ctx, &format!("/expense/{REPORT}")).await;
    assert_eq!(status, StatusCode::OK);
    for hook in [
        format!("data-launch=\"v4-header-{REPORT}\""),
        format!("data-launch=\"v4-entry-{LUNCH}\""),
        format!("data-launch=\"v1-entry-{LUNCH}\""),
        format!("data-launch=\"v4-allocation-{ALLOCATION}\""),
    ] {
        assert!(html.contains(&hook), "missing {hook}");
    }
    assert!(
        html.contains(&format!(
            "data-field=\"entry-{SUPPLIES}-custom12\" aria-labelledby=\"label-entry-{SUPPLIES}-custom12\">PRJ-0001</span>"
        )),
        "the entry's current Project ID shows: {html}"
    );
    assert!(html.contains("Office Supplies") && html.contains("500.00 USD"));
    assert!(
        html.contains("CC-400 — Facilities"),
        "list values show code and name"
    );
    assert!(
        !html.contains(&format!("v1-allocation-{ALLOCATION}")),
        "v1 is entries only"
    );
}

#[tokio::test]
async fn demo_open_mints_a_fresh_launch_and_redirects_to_the_connector() {
    let ctx = start().await;
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ctx.sim.ca_pem().as_bytes()).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let open = |query: String| {
        let http = http.clone();
        let url = ctx.url(&format!("/_sim/demo/open?{query}"));
        async move { http.get(url).send().await.unwrap() }
    };
    let cases = [
        (
            format!("v=4&source=ENTRY&id={LUNCH}"),
            "/launchexternalurl/v4/form?",
            "en-GB",
        ),
        (
            format!("v=4&source=HEADER&id={REPORT}&as={ALEX}"),
            "/launchexternalurl/v4/form?",
            "fr",
        ),
        (
            format!("v=4&source=ALLOCATION&id={ALLOCATION}"),
            "/launchexternalurl/v4/form?",
            "en-GB",
        ),
        (format!("v=1&id={LUNCH}"), "/concur/form/v1.0/get?", ""),
    ];
    for (query, path, language) in cases {
        let response = open(query.clone()).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{query}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.starts_with(&format!("https://connector.example.com{path}")),
            "{query}: {location}"
        );
        if !language.is_empty() {
            assert!(
                location.contains(&format!("language_code={language}")),
                "{location}"
            );
        }
        // Each click is a new launch: a second one carries another nonce.
        let again = open(query.clone()).await;
        assert_ne!(again.headers()["location"].to_str().unwrap(), location);
    }
    for (query, status) in [
        (format!("v=4&id={LUNCH}"), StatusCode::BAD_REQUEST),
        (format!("v=2&id={LUNCH}"), StatusCode::BAD_REQUEST),
        ("v=4&source=ENTRY&id=NOPE".to_owned(), StatusCode::NOT_FOUND),
        (
            format!("v=4&source=ENTRY&id={LUNCH}&as={MAX}"),
            StatusCode::BAD_REQUEST,
        ),
        ("v=4&source=ENTRY".to_owned(), StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(open(query.clone()).await.status(), status, "{query}");
    }
}

#[tokio::test]
async fn demo_pages_refuse_unknown_reports_and_strangers_readably() {
    let ctx = start().await;
    let (status, _, html) = demo_page(&ctx, "/expense/NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("No such report"), "{html}");
    let (status, _, _) = demo_page(&ctx, &format!("/expense/{REPORT}?as={MAX}")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "Max is no delegate of Jane"
    );
    let (status, _, html) = demo_page(&ctx, &format!("/expense/{REPORT}?as={ALEX}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("as={ALEX}")),
        "launches carry the acting user"
    );
}

#[tokio::test]
async fn demo_pages_escape_seed_text() {
    let mut seed = sim::Seed::builtin();
    seed.reports[0].name = "<script>alert(1)</script>".to_owned();
    seed.reports[0].expenses[1]
        .custom_data
        .insert("custom12".to_owned(), "\"><img src=x>".to_owned());
    let ctx = start_with(|config| config.seed = seed).await;
    for path in ["/".to_owned(), format!("/expense/{REPORT}")] {
        let (_, _, html) = demo_page(&ctx, &path).await;
        assert!(!html.contains("<script>alert"), "{path}: {html}");
        assert!(!html.contains("<img src=x>"), "{path}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{path}: {html}"
        );
    }
}

#[tokio::test]
async fn demo_submit_shows_the_workflow_status_until_decided_and_again_after_a_send_back() {
    let fake = FakeConnector::start(CONNECTOR_USER, CONNECTOR_PASSWORD).await;
    let ctx = start_notifying(&fake).await;
    let page = format!("/expense/{REPORT}");
    let (_, _, html) = demo_page(&ctx, &page).await;
    assert!(
        html.contains("data-workflow-state=\"not_submitted\""),
        "{html}"
    );
    assert!(html.contains(&format!("data-submit=\"{REPORT}\"")));

    // Only a JSON body submits (a cross-site form cannot send one).
    let form = ctx
        .http
        .post(ctx.url("/_sim/demo/submit"))
        .form(&[("report", REPORT)])
        .send()
        .await
        .unwrap();
    assert!(form.status().is_client_error(), "{}", form.status());
    assert_eq!(report_status(&ctx, REPORT).await.0, "A_NOTF");

    let submit = |report: &str| {
        ctx.demo_json(
            Method::POST,
            "/_sim/demo/submit",
            Some(json!({"report": report})),
        )
    };
    let (status, answer) = submit(REPORT).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["state"], "pending");
    assert_eq!(answer["delivery"]["outcome"], "delivered");
    assert_eq!(answer["submittable"], false);
    assert_eq!(fake.bodies().len(), 1);
    let (_, _, html) = demo_page(&ctx, &page).await;
    assert!(html.contains("Pending External Validation"));
    assert!(html.contains("data-workflow-delivery=\"delivered\""));
    assert!(
        !html.contains("data-submit=\""),
        "no second submit while pending"
    );
    let (status, answer) = submit(REPORT).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let (status, _) = submit("NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The connector sends it back; the comment comes from its rules and is escaped.
    let company = ctx.company_token().await;
    let comment = "Projekt <b>fehlt</b> & \"Kostenstelle\"";
    let body = json!({"comment": comment, "expectedStepCode": "EXTVAL"});
    let sent_back = ctx
        .patch(&approve_path(REPORT, "sendBack"), &company, &body)
        .await;
    assert_eq!(sent_back.status(), StatusCode::NO_CONTENT);
    let (status, answer) = ctx
        .demo_json(
            Method::GET,
            &format!("/_sim/demo/workflow?report={REPORT}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["state"], "sent_back");
    assert_eq!(answer["comment"], comment);
    assert_eq!(answer["submittable"], true);
    let (_, _, html) = demo_page(&ctx, &page).await;
    assert!(html.contains(">Sent back</strong>"), "{html}");
    assert!(!html.contains("<b>fehlt</b>"));
    assert!(
        html.contains("Projekt &lt;b&gt;fehlt&lt;&#x2f;b&gt; &amp; &quot;Kostenstelle&quot;"),
        "{html}"
    );
    assert!(html.contains("data-workflow-comment lang=\"en-GB\""));
    assert!(
        html.contains(&format!("data-submit=\"{REPORT}\"")),
        "submit again"
    );

    // Corrected by the employee (the header is editable again), submitted again, approved.
    let (user, _) = ctx
        .user_token(&V4LaunchRequest::new(Source::Header, REPORT))
        .await;
    let header = format!("/expensereports/v4/users/{JANE}/context/TRAVELER/reports/{REPORT}");
    let fix =
        json!({"customData": [{"id": "custom12", "value": "PRJ-0001"}], "reportSource": "OTHER"});
    let fixed = ctx.patch(&header, &user, &fix).await;
    assert_eq!(
        fixed.status(),
        StatusCode::NO_CONTENT,
        "{}",
        fixed.text().await.unwrap()
    );
    let (status, answer) = submit(REPORT).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["state"], "pending");
    assert!(answer["comment"].is_null(), "the old comment is gone");
    let approve = json!({"comment": "ok", "expectedStepCode": "EXTVAL"});
    let approved = ctx
        .patch(&approve_path(REPORT, "approve"), &company, &approve)
        .await;
    assert_eq!(approved.status(), StatusCode::NO_CONTENT);
    let (_, _, html) = demo_page(&ctx, &page).await;
    assert!(html.contains("data-workflow-state=\"approved\""));
    assert!(html.contains(">Approved</strong>"));
    assert!(!html.contains("data-submit=\""));
}

#[tokio::test]
async fn demo_explains_deliveries_that_did_not_reach_the_connector() {
    let fake = FakeConnector::start(CONNECTOR_USER, CONNECTOR_PASSWORD).await;
    fake.answer_notifications_with(StatusCode::SERVICE_UNAVAILABLE);
    let ctx = start_notifying(&fake).await;
    let submit = |report: &'static str| {
        ctx.demo_json(
            Method::POST,
            "/_sim/demo/submit",
            Some(json!({ "report": report })),
        )
    };
    let (_, answer) = submit(REPORT).await;
    assert_eq!(answer["delivery"]["outcome"], "failed");
    assert_eq!(answer["delivery"]["problem"], true);
    let message = answer["delivery"]["message"].as_str().unwrap();
    assert!(message.contains("answered 503, not 200"), "{message}");
    assert!(message.contains("failed-notification list"), "{message}");
    let (_, _, html) = demo_page(&ctx, &format!("/expense/{REPORT}")).await;
    assert!(html.contains("data-workflow-delivery=\"failed\""));
    assert!(html.contains("answered 503, not 200"));

    ctx.sim.set_faults(Faults {
        down_for_secs: 3600,
        ..Faults::default()
    });
    let (_, answer) = submit(MAX_REPORT).await;
    assert_eq!(answer["delivery"]["outcome"], "concur_down");
    assert!(answer["concur_down_for"].as_u64().unwrap() > 0);
    let (_, _, html) = demo_page(&ctx, &format!("/expense/{MAX_REPORT}")).await;
    assert!(html.contains("data-concur-down"));

    // The seeded pending report was never notified: the page says so, without alarm.
    let (_, answer) = ctx
        .demo_json(
            Method::GET,
            "/_sim/demo/workflow?report=4681D8C33A284E91A46E",
            None,
        )
        .await;
    assert_eq!(answer["state"], "pending");
    assert_eq!(answer["delivery"]["outcome"], "none");
    assert_eq!(answer["delivery"]["problem"], false);
}

#[tokio::test]
async fn demo_reset_restores_the_seed_and_assets_are_served() {
    let ctx = start().await;
    let token = ctx.company_token().await;
    let path = format!("/expensereports/v4/reports/{REPORT}/expenses/{LUNCH}");
    let body =
        json!({"customData": [{"id": "custom12", "value": "PRJ-9"}], "expenseSource": "OTHER"});
    assert!(ctx.patch(&path, &token, &body).await.status().is_success());
    let (_, _, html) = demo_page(&ctx, &format!("/expense/{REPORT}")).await;
    assert!(html.contains(">PRJ-9</span>"));
    let response = ctx
        .http
        .post(ctx.url("/_sim/demo/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "follows the 303 to the index"
    );
    let (_, _, html) = demo_page(&ctx, &format!("/expense/{REPORT}")).await;
    assert!(!html.contains("PRJ-9"));
    for (path, kind) in [
        ("/_sim/demo/assets/demo.css", "text/css"),
        ("/_sim/demo/assets/demo.js", "text/javascript"),
    ] {
        let (status, headers, body) = demo_page(&ctx, path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind));
        assert!(!body.is_empty());
    }
    let (_, _, js) = demo_page(&ctx, "/_sim/demo/assets/demo.js").await;
    assert!(js.contains("width=400,height=400") && js.contains(".closed"));
}

#[tokio::test]
async fn a_restart_keeps_a_fitting_leaf_and_reissues_for_other_names() {
    let ctx = start().await;
    let cert = ctx._dir.path().join("cert.pem");
    let first = std::fs::read(&cert).unwrap();
    let connector = Url::parse("https://connector.example.com/").unwrap();
    let restart = |extra_names: Vec<String>| {
        let tls = SimTls::Generate {
            dir: ctx._dir.path().to_owned(),
            extra_names,
        };
        SimConfig::new(credentials(), &connector, tls).unwrap()
    };

    // Same CA, same names: the browser's accepted certificate stays the same.
    let again = sim::start(restart(Vec::new())).await.unwrap();
    assert_eq!(std::fs::read(&cert).unwrap(), first);
    again.shutdown().await.unwrap();

    // Another name: a new leaf, from the same CA, that the first client trusts.
    let other = sim::start(restart(vec!["demo.localhost".to_owned()]))
        .await
        .unwrap();
    assert_ne!(std::fs::read(&cert).unwrap(), first);
    let response = ctx
        .http
        .get(format!("{}/oauth2/v0/jwks", other.geolocation()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    other.shutdown().await.unwrap();
}

// ================================================================== external validation

/// A simulator that notifies the fake connector, trusting its CA like the other callouts.
async fn start_notifying(fake: &FakeConnector) -> Ctx {
    let url = Url::parse(&fake.base_url)
        .unwrap()
        .join("concur/v1.0/notify")
        .unwrap();
    let ca = fake.ca_pem.clone();
    start_with(move |config| {
        config.notify_url = Some(url);
        config.connector_ca_pem = Some(ca);
    })
    .await
}

fn approve_path(report: &str, action: &str) -> String {
    format!("/expensereports/v4/reports/{report}/{action}")
}

async fn report_status(ctx: &Ctx, report: &str) -> (String, Option<String>) {
    let state: Value = ctx.admin_get("/_sim/state").await;
    let report = state["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == report)
        .unwrap()
        .clone();
    (
        report["approval_status_id"].as_str().unwrap().to_owned(),
        report["workflow_step"].as_str().map(str::to_owned),
    )
}

#[tokio::test]
async fn submitting_a_report_notifies_the_connector_with_basic_auth() {
    use concur_protocol::callout::notification::Notification;
    let fake = FakeConnector::start(CONNECTOR_USER, CONNECTOR_PASSWORD).await;
    let ctx = start_notifying(&fake).await;
    let response = ctx
        .admin(
            Method::POST,
            &format!("/_sim/reports/{REPORT}/submit"),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let delivery: Value = response.json().await.unwrap();
    assert_eq!(delivery["outcome"], "delivered");
    assert_eq!(delivery["status"], 200);
    assert_eq!(
        report_status(&ctx, REPORT).await,
        ("A_EXTV".to_owned(), Some("EXTVAL".to_owned()))
    );

    // The fake answers 200 only with the connector's Basic credentials.
    let posts = fake.bodies();
    assert_eq!(posts.len(), 1);
    let notification = Notification::parse(posts[0].as_bytes()).unwrap();
    assert_eq!(notification.workflow_step(), Some("SUBMIT"));
    assert_eq!(notification.object_type.as_str(), "EXPRPT");
    let expected_uri = ctx.url(&format!(
        "/api/expense/expensereport/v1.1/reportfulldetails/{REPORT_V3}"
    ));
    assert_eq!(notification.object_uri, expected_uri);
    assert_eq!(failed_list_len(&ctx).await, 0);

    // The ObjectURI answers the report's details, prefixed namespace only, by local name.
    let company = ctx.company_token().await;
    let response = ctx.get(&notification.object_uri, &company).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(text.contains("<ReportDetails xmlns:ns="), "{text}");
    let root = concur_protocol::callout::xml::parse(text.as_bytes()).unwrap();
    assert_eq!(root.child_text("ReportId"), Some(REPORT));
    assert_eq!(
        root.child_text("ApvStatusName"),
        Some("Pending External Validation")
    );
    let entries = root.child("ExpenseEntriesList").unwrap();
    assert!(!entries.children.is_empty());
    assert!(entries.children[0].child_text("ExpKey").is_some());

    // A submitted report is not submitted twice.
    let again = ctx
        .admin(
            Method::POST,
            &format!("/_sim/reports/{REPORT}/submit"),
            None,
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let unknown = ctx
        .admin(Method::POST, "/_sim/reports/NOPE/submit", None)
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

/// The seeded report whose key is the one of Concur's own notification example.
const EXAMPLE_REPORT: &str = "4681D8C33A284E91A46E";
const EXAMPLE_KEY: &str = "3%Rek29$wsIY12Di3LS9$gjei%KL23";

#[tokio::test]
async fn the_example_notifications_report_is_found_by_its_key_exactly_as_sent() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let details = |key: &str| {
        ctx.url(&format!(
            "/api/expense/expensereport/v1.1/reportfulldetails/{key}"
        ))
    };
    let url = details(EXAMPLE_KEY);
    assert!(url.ends_with(EXAMPLE_KEY), "sent verbatim: {url}");
    let response = ctx.get(&url, &company).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let root = concur_protocol::callout::xml::parse(text.as_bytes()).unwrap();
    assert_eq!(root.child_text("ReportId"), Some(EXAMPLE_REPORT));
    assert_eq!(root.child_text("RptKey"), Some(EXAMPLE_KEY));
    assert_eq!(root.child_text("ApsKey"), Some("A_EXTV"));
    assert_eq!(
        root.child_text("ApvStatusName"),
        Some("Pending External Validation")
    );
    assert_eq!(root.child_text("X_UserID"), Some("jane.doe@acmecorp.com"));
    let requests = ctx.sim.requests();
    assert!(
        requests.iter().any(|r| r.path.ends_with(EXAMPLE_KEY)),
        "the path arrived undecoded"
    );

    // The key is matched as sent, never decoded: its encoded spelling is another key.
    let encoded = EXAMPLE_KEY.replace('%', "%25").replace('$', "%24");
    let response = ctx.get(&details(&encoded), &company).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // It waits in the external validation step, so a decision applies at once.
    let approve = approve_path(EXAMPLE_REPORT, "approve");
    let body = json!({"comment": "Validated", "expectedStepCode": "EXTVAL"});
    assert_eq!(
        ctx.patch(&approve, &company, &body).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        report_status(&ctx, EXAMPLE_REPORT).await,
        ("A_APPR".to_owned(), None)
    );
}

async fn failed_list(ctx: &Ctx, accept: &str) -> reqwest::Response {
    let company = ctx.company_token().await;
    ctx.http
        .get(ctx.url("/api/platform/notifications/v1.0/notification?status=FAILED"))
        .bearer_auth(company)
        .header("Accept", accept)
        .send()
        .await
        .unwrap()
}

async fn failed_list_len(ctx: &Ctx) -> usize {
    let body: Value = failed_list(ctx, "application/json")
        .await
        .json()
        .await
        .unwrap();
    body.as_array().unwrap().len()
}

#[tokio::test]
async fn refused_and_dropped_deliveries_are_listed_as_failed_until_deleted() {
    use concur_protocol::callout::notification::{parse_failed_list_json, parse_failed_list_xml};
    let fake = FakeConnector::start(CONNECTOR_USER, CONNECTOR_PASSWORD).await;
    fake.answer_notifications_with(StatusCode::SERVICE_UNAVAILABLE);
    let ctx = start_notifying(&fake).await;
    let refused: Value = ctx
        .admin(
            Method::POST,
            &format!("/_sim/reports/{REPORT}/submit"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(refused["outcome"], "failed");
    assert_eq!(refused["status"], 503);
    ctx.sim.set_faults(Faults {
        drop_notifications_next: 1,
        ..Faults::default()
    });
    let dropped = ctx.sim.submit_report(MAX_REPORT).await.unwrap();
    assert_eq!(dropped.outcome, "dropped");
    assert_eq!(fake.bodies().len(), 1, "the dropped one is not sent");
    assert_eq!(ctx.sim.notification_deliveries().len(), 2);

    let xml = failed_list(&ctx, "application/xml").await;
    assert_eq!(xml.status(), StatusCode::OK);
    let entries = parse_failed_list_xml(&xml.bytes().await.unwrap()).unwrap();
    assert_eq!(entries.len(), 2);
    let json = failed_list(&ctx, "application/json")
        .await
        .bytes()
        .await
        .unwrap();
    let from_json = parse_failed_list_json(&json).unwrap();
    assert_eq!(from_json, entries, "XML and JSON list the same");

    let company = ctx.company_token().await;
    let first = entries[0].as_ref().unwrap().notification_uri.clone();
    let delete = |uri: String, token: String| {
        let http = ctx.http.clone();
        async move {
            http.delete(uri)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(delete(first.clone(), company.clone()).await, StatusCode::OK);
    assert_eq!(delete(first, company).await, StatusCode::NOT_FOUND);
    assert_eq!(failed_list_len(&ctx).await, 1);

    let (user, _) = ctx
        .user_token(&V4LaunchRequest::new(Source::Entry, LUNCH))
        .await;
    let as_user = ctx
        .get(
            &ctx.url("/api/platform/notifications/v1.0/notification?status=FAILED"),
            &user,
        )
        .await;
    assert_eq!(as_user.status(), StatusCode::FORBIDDEN);
    let company = ctx.company_token().await;
    let wrong_status = ctx
        .get(
            &ctx.url("/api/platform/notifications/v1.0/notification?status=PENDING"),
            &company,
        )
        .await;
    assert_eq!(wrong_status.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn concur_down_answers_503_everywhere_and_holds_notifications_in_the_failed_list() {
    let fake = FakeConnector::start(CONNECTOR_USER, CONNECTOR_PASSWORD).await;
    let ctx = start_notifying(&fake).await;
    let company = ctx.company_token().await;
    let set = ctx
        .admin(
            Method::PUT,
            "/_sim/faults",
            Some(&json!({"down_for_secs": 3600})),
        )
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    let knobs: Value = set.json().await.unwrap();
    let left = knobs["down_for_secs"].as_u64().unwrap();
    assert!((1..=3600).contains(&left), "{knobs}");

    // The token endpoint is down too, as in a real outage.
    let (status, body) = ctx.company_grant().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let api = ctx
        .get(
            &ctx.url(&format!(
                "/api/expense/expensereport/v1.1/reportfulldetails/{REPORT_V3}"
            )),
            &company,
        )
        .await;
    assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = api.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry_after));
    let failed = ctx
        .get(
            &ctx.url("/api/platform/notifications/v1.0/notification?status=FAILED"),
            &company,
        )
        .await;
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);

    // A report submitted meanwhile is not delivered: it waits in the failed list.
    let delivery = ctx.sim.submit_report(REPORT).await.unwrap();
    assert_eq!(delivery.outcome, "concur_down");
    assert_eq!(delivery.status, None);
    assert!(fake.bodies().is_empty(), "nothing was sent");
    assert_eq!(
        report_status(&ctx, REPORT).await,
        ("A_EXTV".to_owned(), Some("EXTVAL".to_owned()))
    );

    // Back up: everything answers again and the notification is listed.
    ctx.sim.set_faults(Faults::default());
    assert_eq!(ctx.sim.faults().down_for_secs, 0);
    assert_eq!(failed_list_len(&ctx).await, 1);
    let company = ctx.company_token().await;
    let api = ctx
        .get(
            &ctx.url(&format!(
                "/api/expense/expensereport/v1.1/reportfulldetails/{REPORT_V3}"
            )),
            &company,
        )
        .await;
    assert_eq!(api.status(), StatusCode::OK);
}

#[tokio::test]
async fn approve_checks_the_token_the_members_and_the_step_then_approves() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let path = approve_path(REPORT, "approve");
    let body = json!({"comment": "Validated", "expectedStepCode": "EXTVAL"});

    let not_submitted = ctx.patch(&path, &company, &body).await;
    assert_eq!(not_submitted.status(), StatusCode::CONFLICT);
    let error: Value = not_submitted.json().await.unwrap();
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("workflow step"),
        "{error}"
    );

    let delivery = ctx.sim.submit_report(REPORT).await.unwrap();
    assert_eq!(delivery.outcome, "not_configured");
    let other_step = json!({"expectedStepCode": "MGRAPPR"});
    assert_eq!(
        ctx.patch(&path, &company, &other_step).await.status(),
        StatusCode::CONFLICT
    );
    let unknown_member = json!({"comment": "x", "decision": "yes"});
    assert_eq!(
        ctx.patch(&path, &company, &unknown_member).await.status(),
        StatusCode::BAD_REQUEST
    );
    let (user, _) = ctx
        .user_token(&V4LaunchRequest::new(Source::Entry, LUNCH))
        .await;
    assert_eq!(
        ctx.patch(&path, &user, &body).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        report_status(&ctx, REPORT).await.0,
        "A_EXTV",
        "refusals change nothing"
    );

    assert_eq!(
        ctx.patch(&path, &company, &body).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        report_status(&ctx, REPORT).await,
        ("A_APPR".to_owned(), None)
    );
    let recorded = ctx.sim.successful_writes();
    assert_eq!(recorded.last().unwrap().api, WriteApi::V4Approve);
    assert_eq!(
        ctx.patch(&path, &company, &body).await.status(),
        StatusCode::CONFLICT,
        "an approved report has left the step"
    );
}

#[tokio::test]
async fn send_back_needs_a_comment_of_at_most_2000_characters() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    ctx.sim.submit_report(REPORT).await.unwrap();
    let path = approve_path(REPORT, "sendBack");
    for body in [
        json!({"expectedStepCode": "EXTVAL"}),
        json!({"comment": "  "}),
        json!({"comment": "é".repeat(2001)}),
        json!({"comment": "ok", "statusId": "A_APPR"}),
    ] {
        let response = ctx.patch(&path, &company, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    let comment = "é".repeat(2000);
    let body = json!({"comment": comment, "expectedStepCode": "EXTVAL", "expectedStepSequence": 1});
    assert_eq!(
        ctx.patch(&path, &company, &body).await.status(),
        StatusCode::NO_CONTENT
    );
    let state = ctx.sim.snapshot();
    let report = state.report(REPORT).unwrap();
    assert_eq!(report.approval_status_id, "A_RESU");
    assert_eq!(report.workflow_comment.as_deref(), Some(comment.as_str()));
    // Sent back, it can be submitted again.
    assert!(ctx.sim.submit_report(REPORT).await.is_ok());
}

#[tokio::test]
async fn v4_lists_a_reports_expenses_and_an_expenses_allocations() {
    let ctx = start().await;
    let company = ctx.company_token().await;
    let base = format!(
        "{}/expensereports/v4/users/{JANE}/context/TRAVELER/reports/{REPORT}/expenses",
        ctx.base
    );
    let expenses = ctx.get_json(&base, &company).await;
    let expenses = expenses.as_array().unwrap();
    let seeded = ctx.sim.snapshot().report(REPORT).unwrap().expenses.len();
    assert_eq!(expenses.len(), seeded);
    assert!(expenses.iter().any(|e| e["expenseId"] == LUNCH));
    let allocations = ctx
        .get_json(&format!("{base}/{SUPPLIES}/allocations"), &company)
        .await;
    assert!(
        allocations
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["allocationId"] == ALLOCATION),
        "{allocations}"
    );
}

// --- Fetch List and Fetch Attendee, played against a fake connector ---

use concur_protocol::callout::xml as callout_xml;
use fake_connector::FakeConnector;

async fn start_against(fake: &FakeConnector) -> Ctx {
    let base = Url::parse(&fake.base_url).unwrap();
    let ca = fake.ca_pem.clone();
    start_with(move |config| {
        config.fetch_list_url = base.join("concur/list/v1.2/fetch").unwrap();
        config.fetch_attendee_url = base.join("concur/attendee/v2.0/fetch").unwrap();
        config.connector_ca_pem = Some(ca);
    })
    .await
}

impl Ctx {
    async fn demo_json(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn choose(&self, level: u8, short_code: &str) -> (StatusCode, Value) {
        let body = json!({"report": REPORT, "level": level, "short_code": short_code});
        self.demo_json(Method::POST, "/_sim/demo/list/choose", Some(body))
            .await
    }
}

fn codes(answer: &Value, key: &str, field: &str) -> Vec<String> {
    answer[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

fn last_request(fake: &FakeConnector) -> callout_xml::Element {
    callout_xml::parse(fake.bodies().last().unwrap().as_bytes()).unwrap()
}

#[tokio::test]
async fn demo_connected_list_asks_the_connector_as_concur_does_and_saves_project_then_task() {
    let fake = FakeConnector::start(CONNECTOR_USER, CONNECTOR_PASSWORD).await;
    let ctx = start_against(&fake).await;
    let search = format!("/_sim/demo/list?report={REPORT}&level=1&query=apo");
    let (status, answer) = ctx.demo_json(Method::GET, &search, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["passed"], true, "{answer}");
    assert_eq!(codes(&answer, "items", "code"), ["P100"]);
    let sent = last_request(&fake);
    assert_eq!(sent.name, "fetch-list-request");
    assert_eq!(sent.child_text("query"), Some("apo*"));
    assert_eq!(sent.child_text("search-by"), Some("TEXT"));
    assert_eq!(sent.child_text("num-to-return"), Some("80"));
    assert_eq!(sent.child_text("long-code"), None);
    assert!(sent.child("code-by-level").is_none());

    let tasks = format!("/_sim/demo/list?report={REPORT}&level=2&query=");
    let (status, early) = ctx.demo_json(Method::GET, &tasks, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(early["findings"][0], "Choose a project first.");

    let (status, chosen) = ctx.choose(1, "p100").await;
    assert_eq!(
        (status, &chosen["passed"]),
        (StatusCode::OK, &json!(true)),
        "{chosen}"
    );
    let one_to_one = last_request(&fake);
    assert_eq!(one_to_one.child_text("search-by"), Some("CODE"));
    assert_eq!(one_to_one.child_text("query"), Some("p100"));

    let (_, answer) = ctx.demo_json(Method::GET, &tasks, None).await;
    assert_eq!(answer["passed"], true, "{answer}");
    assert_eq!(
        codes(&answer, "items", "code"),
        ["P100-DES", "P100-BLD", "P100-TST"]
    );
    let sent = last_request(&fake);
    assert_eq!(sent.child_text("long-code"), Some("P100"));
    assert_eq!(sent.child_text("short-code"), Some("P100"));
    assert_eq!(
        sent.child("code-by-level")
            .and_then(|l| l.child_text("level1")),
        Some("P100")
    );

    let (_, chosen) = ctx.choose(2, "BLD").await;
    assert_eq!(chosen["passed"], true, "{chosen}");
    let report = ctx.sim.snapshot().report(REPORT).unwrap().clone();
    assert_eq!(
        report.list_choices["Project"].text,
        "Apollo website relaunch"
    );
    assert_eq!(report.list_choices["Task"].code, "P100-BLD");
    let (_, _, html) = demo_page(&ctx, &format!("/expense/{REPORT}")).await;
    assert!(
        html.contains("data-list-value=\"project\">P100 — Apollo website relaunch<"),
        "{html}"
    );
    assert!(
        html.contains("data-list-value=\"task\">BLD — Build<"),
        "{html}"
    );

    let (_, _) = ctx.choose(1, "P200").await;
    let report = ctx.sim.snapshot().report(REPORT).unwrap().clone();
    assert_eq!(report.list_choices["Project"].code, "P200");
    assert!(
        !report.list_choices.contains_key("Task"),
        "a new project clears the task"
    );
    let (status, unknown) = ctx.choose(2, "DES").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        unknown["passed"], false,
        "DES is no task of P200: {unknown}"
    );
}

#[tokio::test]
async fn demo_attendee_search_sends_all_fields_and_adds_the_chosen_attendee() {
    let fake = FakeConnector::start(CONNECTOR_USER, CONNECTOR_PASSWORD).await;
    let ctx = start_against(&fake).await;
    let search = json!({"expense": LUNCH, "company": "len"});
    let (status, answer) = ctx
        .demo_json(Method::POST, "/_sim/demo/attendees/search", Some(search))
        .await;
    assert_eq!(
        (status, &answer["passed"]),
        (StatusCode::OK, &json!(true)),
        "{answer}"
    );
    assert_eq!(
        codes(&answer, "attendees", "external_id"),
        ["1234567890", "EXT-2002"]
    );
    let sent = last_request(&fake);
    assert_eq!(sent.name, "AttendeeSearchRequest");
    let attendee = sent.child("Attendee").unwrap();
    assert_eq!(attendee.children.len(), 35);
    assert_eq!(attendee.child_text("Company"), Some("len"));
    assert_eq!(
        attendee.child_text("OwnerLoginID"),
        Some("jane.doe@acmecorp.com")
    );
    assert_eq!(attendee.child_text("MaximumNumberRecords"), Some("500"));

    let add = |id: &str| json!({"expense": LUNCH, "external_id": id});
    let (status, _) = ctx
        .demo_json(
            Method::POST,
            "/_sim/demo/attendees/add",
            Some(add("EXT-2001")),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "only an attendee of the last search"
    );
    let (status, added) = ctx
        .demo_json(
            Method::POST,
            "/_sim/demo/attendees/add",
            Some(add("EXT-2002")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(codes(&added, "attendees", "last_name"), ["Lima"]);
    let (_, again) = ctx
        .demo_json(
            Method::POST,
            "/_sim/demo/attendees/add",
            Some(add("EXT-2002")),
        )
        .await;
    assert_eq!(
        codes(&again, "attendees", "last_name"),
        ["Lima"],
        "added once"
    );
    let (_, _, html) = demo_page(&ctx, &format!("/expense/{REPORT}")).await;
    assert!(
        html.contains("data-attendee=\"EXT-2002\">Ana Lima, CTO · Len Dev"),
        "{html}"
    );

    let (status, empty) = ctx
        .demo_json(
            Method::POST,
            "/_sim/demo/attendees/search",
            Some(json!({"expense": LUNCH})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(empty["passed"], false);
}

#[tokio::test]
async fn demo_shows_the_judges_findings_when_the_connector_answers_wrongly() {
    let fake = FakeConnector::start(CONNECTOR_USER, CONNECTOR_PASSWORD).await;
    let ctx = start_against(&fake).await;
    ctx.choose(1, "P100").await;
    fake.break_answers();
    let tasks = format!("/_sim/demo/list?report={REPORT}&level=2&query=*");
    let (status, answer) = ctx.demo_json(Method::GET, &tasks, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["passed"], false, "{answer}");
    let findings = answer["findings"].to_string();
    assert!(findings.contains("<match-value> is required"), "{findings}");
    assert!(findings.contains("expected \\\"P100-DES\\\""), "{findings}");
    let (_, chosen) = ctx.choose(2, "DES").await;
    assert_eq!(chosen["passed"], false, "{chosen}");
    let report = ctx.sim.snapshot().report(REPORT).unwrap().clone();
    assert!(!report.list_choices.contains_key("Task"), "nothing saved");

    let search = json!({"expense": LUNCH, "last_name": "Miller"});
    let (_, answer) = ctx
        .demo_json(Method::POST, "/_sim/demo/attendees/search", Some(search))
        .await;
    assert_eq!(answer["passed"], false, "{answer}");
    assert!(
        answer["findings"]
            .to_string()
            .contains("missing: ExternalID"),
        "{answer}"
    );
    let (status, _) = ctx
        .demo_json(
            Method::POST,
            "/_sim/demo/attendees/add",
            Some(json!({"expense": LUNCH, "external_id": ""})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a refused search offers nothing to add"
    );
}

#[tokio::test]
async fn demo_callouts_with_wrong_credentials_or_no_connector_are_findings() {
    let fake = FakeConnector::start(CONNECTOR_USER, "another-password-0001").await;
    let ctx = start_against(&fake).await;
    let search = format!("/_sim/demo/list?report={REPORT}&level=1&query=*");
    let (_, answer) = ctx.demo_json(Method::GET, &search, None).await;
    assert_eq!(answer["passed"], false);
    assert!(
        answer["findings"][0]
            .as_str()
            .unwrap()
            .contains("status 401"),
        "{answer}"
    );

    let nobody = start_with(|config| {
        config.fetch_list_url = Url::parse("https://127.0.0.1:1/concur/list/v1.2/fetch").unwrap();
    })
    .await;
    let (_, answer) = nobody.demo_json(Method::GET, &search, None).await;
    assert_eq!(answer["passed"], false);
    assert!(
        answer["findings"][0]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{answer}"
    );
}
