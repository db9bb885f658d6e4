//! Launch integrity over HTTPS against the simulator: a used launch cannot be replayed by
//! moving characters between signed values, companies can be restricted, and a v4 launch
//! needs its `client_auth_code` (and the code's `id_token`) when Concur is configured.

use concur_connector::launch::Source;
use concur_connector::sim::{V1LaunchRequest, V4LaunchRequest};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use reqwest::{StatusCode, header};

use crate::with_simulator::{World, world_with, world_with_launch};

const V4_SIGNED: [&str; 6] = [
    "company_domain",
    "logged_in_user_id",
    "report_owner_user_id",
    "report_owner_employee_id",
    "item_url",
    "nonce",
];
const V1_SIGNED: [&str; 4] = ["xcompanydomain", "xuserid", "itemurl", "nonce"];

/// One parsed query: `(name, decoded value)` pairs in order, the signature kept raw.
struct Query {
    path: String,
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(minted_url: &str) -> Self {
        let (path, query) = minted_url.split_once('?').unwrap();
        let path = path.trim_start_matches("https://connector.test").to_owned();
        let pairs = query
            .split('&')
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                let value = if name == "signature" {
                    value.to_owned()
                } else {
                    // The simulator encodes RFC 3986 style: `+` is a literal plus.
                    percent_decode_str(value)
                        .decode_utf8()
                        .unwrap()
                        .into_owned()
                };
                (name.to_owned(), value)
            })
            .collect();
        Self { path, pairs }
    }

    fn get(&self, name: &str) -> &str {
        &self.pairs.iter().find(|(n, _)| n == name).unwrap().1
    }

    fn set(&mut self, name: &str, value: String) {
        self.pairs.iter_mut().find(|(n, _)| n == name).unwrap().1 = value;
    }

    fn without(mut self, name: &str) -> Self {
        self.pairs.retain(|(n, _)| n != name);
        self
    }

    /// The launch URL path and query, every value but the signature encoded strictly.
    fn to_path(&self) -> String {
        let query: Vec<String> = self
            .pairs
            .iter()
            .map(|(name, value)| {
                let value = if name == "signature" {
                    value.clone()
                } else {
                    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
                };
                format!("{name}={value}")
            })
            .collect();
        format!("{}?{}", self.path, query.join("&"))
    }

    /// Every launch that moves one character across a pair of neighbouring signed values
    /// (last of the left one to the front of the right one, and first of the right one to
    /// the end of the left one), signature untouched. Also says whether the signed message
    /// (the values concatenated, credentials after the item URL) stays the same, i.e.
    /// whether the MAC still matches.
    fn shifted(&self, signed: &[&str]) -> Vec<(String, Query, bool)> {
        let mut out = Vec::new();
        for pair in signed.windows(2) {
            let (left, right) = (pair[0], pair[1]);
            // The credentials sit between the item URL and the nonce.
            let same_message = right != "nonce";
            let (l, r) = (self.get(left).to_owned(), self.get(right).to_owned());
            if let Some(last) = l.chars().last() {
                let mut q = self.clone_query();
                q.set(left, l[..l.len() - last.len_utf8()].to_owned());
                q.set(right, format!("{last}{r}"));
                out.push((format!("{left} -> {right}"), q, same_message));
            }
            if let Some(first) = r.chars().next() {
                let mut q = self.clone_query();
                q.set(left, format!("{l}{first}"));
                q.set(right, r[first.len_utf8()..].to_owned());
                out.push((format!("{right} -> {left}"), q, same_message));
            }
        }
        out
    }

    fn clone_query(&self) -> Self {
        Self {
            path: self.path.clone(),
            pairs: self.pairs.clone(),
        }
    }
}

async fn send(world: &World, path_and_query: &str) -> reqwest::Response {
    crate::launch::manual(&world.app)
        .get(world.app.url(path_and_query))
        .send()
        .await
        .unwrap()
}

/// Uses `genuine` once, then sends every shifted split of it: none may get a session.
async fn assert_no_shifted_launch_gets_in(world: &World, genuine: &Query, signed: &[&str]) {
    let first = send(world, &genuine.to_path()).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER, "the genuine launch");
    let shifted = genuine.shifted(signed);
    assert_eq!(shifted.len(), 2 * (signed.len() - 1));
    for (what, query, same_message) in shifted {
        let response = send(world, &query.to_path()).await;
        let status = response.status();
        assert!(
            response.headers().get(header::SET_COOKIE).is_none(),
            "{what}: no session may be created"
        );
        let body = response.text().await.unwrap();
        assert_ne!(status, StatusCode::SEE_OTHER, "{what}: {body}");
        if same_message {
            // The MAC still matches: the shape checks or the replay key must refuse it.
            assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::FORBIDDEN,
                "{what}: {status} {body}"
            );
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        }
        assert!(body.contains("<h1>"), "{what}: a readable page: {body}");
    }
}

#[tokio::test]
async fn a_used_v4_launch_cannot_be_replayed_by_moving_characters_between_signed_values() {
    // The fallback is on so that dropping client_auth_code (the original attack) is not
    // what stops the shifted launches: the shape checks and the replay key must.
    let world = world_with_launch("allow_company_token_fallback = true\n", "").await;
    let seed = world.sim.snapshot();
    let expense = &seed.reports[0].expenses[0];
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Entry, &expense.id))
        .unwrap();
    let genuine = Query::parse(&minted.url);
    // Without the code, a shifted launch would be served with the company token.
    let attack = genuine.clone_query().without("client_auth_code");
    let first = send(&world, &genuine.to_path()).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let replayed = send(&world, &attack.to_path()).await;
    assert_eq!(replayed.status(), StatusCode::FORBIDDEN, "the same MAC");

    // Each shifted split, with and without the (used) code.
    for query in [&genuine, &attack] {
        for (what, shifted, _) in query.shifted(&V4_SIGNED) {
            let response = send(&world, &shifted.to_path()).await;
            assert!(
                response.headers().get(header::SET_COOKIE).is_none(),
                "{what}"
            );
            assert_ne!(response.status(), StatusCode::SEE_OTHER, "{what}");
        }
    }
    assert!(world.sim.writes().is_empty(), "nothing was written");
    assert_eq!(
        world.sim.token_grants("authorization_code"),
        1,
        "only the genuine launch exchanged its code"
    );
}

#[tokio::test]
async fn every_shifted_split_of_a_used_v4_launch_is_refused_with_a_page() {
    let world = world_with_launch("allow_company_token_fallback = true\n", "").await;
    let seed = world.sim.snapshot();
    let report = &seed.reports[0];
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Header, &report.id))
        .unwrap();
    let genuine = Query::parse(&minted.url).without("client_auth_code");
    assert_no_shifted_launch_gets_in(&world, &genuine, &V4_SIGNED).await;
    assert!(world.sim.writes().is_empty());
}

#[tokio::test]
async fn every_shifted_split_of_a_used_v1_launch_is_refused_with_a_page() {
    let world = world_with("").await;
    let seed = world.sim.snapshot();
    let expense = &seed.reports[0].expenses[0];
    let minted = world
        .sim
        .mint_v1(&V1LaunchRequest::new(&expense.id))
        .unwrap();
    let genuine = Query::parse(&minted.url);
    // v1 user ids are free text: `acmecorp.comX` + the rest of the user id passes every
    // shape check, so only the replay key (the MAC) can refuse it.
    let domain = genuine.get("xcompanydomain").to_owned();
    let user = genuine.get("xuserid").to_owned();
    assert!(!user.is_empty() && !domain.is_empty());
    assert_no_shifted_launch_gets_in(&world, &genuine, &V1_SIGNED).await;
    assert!(world.sim.writes().is_empty());
}

#[tokio::test]
async fn a_launch_for_a_company_outside_launch_company_domains_is_refused() {
    // The simulator's company is acmecorp.com; the allow-list names another one.
    let world = world_with_launch("company_domains = [\"ACME.example\"]\n", "").await;
    let seed = world.sim.snapshot();
    let expense = &seed.reports[0].expenses[0];
    for minted in [
        world
            .sim
            .mint_v4(&V4LaunchRequest::new(Source::Entry, &expense.id))
            .unwrap(),
        world
            .sim
            .mint_v1(&V1LaunchRequest::new(&expense.id))
            .unwrap(),
    ] {
        let response = send(&world, &Query::parse(&minted.url).to_path()).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.headers().get(header::SET_COOKIE).is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains("does not work for your company"), "{html}");
    }
    assert_eq!(world.sim.token_grants("authorization_code"), 0);
}

#[tokio::test]
async fn launch_company_domains_admits_the_listed_company_in_any_case() {
    let world = world_with_launch(
        "company_domains = [\"other.example\", \"ACMECORP.com\"]\n",
        "",
    )
    .await;
    let seed = world.sim.snapshot();
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Header, &seed.reports[0].id))
        .unwrap();
    assert_eq!(
        Query::parse(&minted.url).get("company_domain"),
        "acmecorp.com"
    );
    let response = send(&world, &Query::parse(&minted.url).to_path()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_v4_launch_without_client_auth_code_is_refused_when_concur_is_configured() {
    let world = world_with("").await;
    let seed = world.sim.snapshot();
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Header, &seed.reports[0].id))
        .unwrap();
    let without_code = Query::parse(&minted.url).without("client_auth_code");
    let response = send(&world, &without_code.to_path()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("one-time authorization"), "{html}");
    assert_eq!(world.sim.token_grants("authorization_code"), 0);
    // The refusal did not use the launch up: with its code it still works.
    let with_code = send(&world, &Query::parse(&minted.url).to_path()).await;
    assert_eq!(with_code.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_company_token_fallback_accepts_a_v4_launch_without_code_when_allowed() {
    let world = world_with_launch("allow_company_token_fallback = true\n", "").await;
    let seed = world.sim.snapshot();
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Header, &seed.reports[0].id))
        .unwrap();
    let without_code = Query::parse(&minted.url).without("client_auth_code");
    let response = send(&world, &without_code.to_path()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(world.sim.token_grants("authorization_code"), 0);
}

#[tokio::test]
async fn a_v4_launch_whose_code_comes_without_a_valid_id_token_is_refused() {
    use concur_connector::sim::{Faults, IdTokenFault};
    let world = world_with("").await;
    let seed = world.sim.snapshot();
    let report = &seed.reports[0];
    for fault in [
        IdTokenFault::Missing,
        IdTokenFault::WrongAudience,
        IdTokenFault::WrongIssuer,
        IdTokenFault::Expired,
    ] {
        world.sim.set_faults(Faults {
            bad_id_token_next: 1,
            id_token_fault: fault,
            ..Faults::default()
        });
        let minted = world
            .sim
            .mint_v4(&V4LaunchRequest::new(Source::Header, &report.id))
            .unwrap();
        let response = send(&world, &Query::parse(&minted.url).to_path()).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{fault:?}");
        assert!(response.headers().get(header::SET_COOKIE).is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains("<h1>"), "{fault:?}: {html}");
    }
    assert_eq!(world.sim.token_grants("authorization_code"), 4);
    // The simulator's own id_tokens (iss: its origin, aud: the client id) are accepted.
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Header, &report.id))
        .unwrap();
    let response = send(&world, &Query::parse(&minted.url).to_path()).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}
