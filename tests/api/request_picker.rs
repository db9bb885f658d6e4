//! The picker on a Concur Request launch, against the simulator's Travel Request v4 API:
//! each level saved exactly once with the documented `PUT` body, failures keep the choice.

use concur_connector::launch::{Product, Source};
use concur_connector::sim::{Faults, V4LaunchRequest};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::picker::{VALUES, choose, csrf_of, is_closing_page, post_done};
use crate::with_simulator::{World, launch, session_page, world_with, world_with_launch};

/// A Request launch of the seed's travel request at `source` (`id`: the request, an expected
/// expense or an allocation).
fn request_launch(source: Source, id: &str) -> V4LaunchRequest {
    V4LaunchRequest {
        product: Product::Request,
        ..V4LaunchRequest::new(source, id)
    }
}

/// The seed's request, its air-fare expected expense and the allocation of its hotel.
struct Ids {
    request: String,
    owner: String,
    flight: String,
    allocation: String,
}

fn ids(world: &World) -> Ids {
    let seed = world.sim.snapshot();
    let request = &seed.requests[0];
    let flight = request
        .expenses
        .iter()
        .find(|e| e.expense_type == "AIRFR")
        .expect("the seed's request has a flight");
    let allocation = request
        .expenses
        .iter()
        .flat_map(|e| &e.allocations)
        .next()
        .expect("the seed's request has an allocation");
    Ids {
        request: request.id.clone(),
        owner: request.owner.clone(),
        flight: flight.id.clone(),
        allocation: allocation.id.clone(),
    }
}

async fn launched(world: &World, source: Source, id: &str) -> String {
    let minted = world.sim.mint_v4(&request_launch(source, id)).unwrap();
    launch(world, &minted.url)
        .await
        .unwrap_or_else(|e| panic!("{source:?} launch: {e:?}"))
}

/// The PUTs the simulator applied, as (path, body).
fn puts(world: &World) -> Vec<(String, Value)> {
    world
        .sim
        .successful_writes()
        .into_iter()
        .inspect(|w| assert_eq!(w.method, "PUT", "{w:?}"))
        .map(|w| (w.path, w.body.unwrap_or(Value::Null)))
        .collect()
}

#[tokio::test]
async fn a_request_header_an_expected_expense_and_an_allocation_are_each_saved_once_with_the_documented_put()
 {
    let world = world_with(VALUES).await;
    let ids = ids(&world);
    let cases = [
        (
            Source::Header,
            ids.request.clone(),
            format!("/travelrequest/v4/requests/{}", ids.request),
            json!({"custom1": {"value": "PRJ-1001"}}),
        ),
        (
            Source::Entry,
            ids.flight.clone(),
            format!("/travelrequest/v4/expenses/{}", ids.flight),
            json!({"custom2": {"value": "PRJ-1001"}}),
        ),
        (
            Source::Allocation,
            ids.allocation.clone(),
            format!(
                "/travelrequest/v4/requests/{}/allocations/{}",
                ids.request, ids.allocation
            ),
            json!({"custom3": {"value": "PRJ-1001"}}),
        ),
    ];
    for (i, (source, id, path, body)) in cases.into_iter().enumerate() {
        let cookie = launched(&world, source, &id).await;
        let html = session_page(&world, &cookie).await;
        assert!(
            html.contains(r#"id="current-value">(empty)<"#),
            "{source:?}: {html}"
        );
        let csrf = csrf_of(&html);
        let form = [
            ("csrf", csrf.as_str()),
            ("action", "done"),
            ("code", "PRJ-1001"),
        ];
        let (status, html) = post_done(&world, &cookie, &form).await;
        assert_eq!(status, StatusCode::OK, "{source:?}: {html}");
        assert!(is_closing_page(&html), "{source:?}: {html}");
        // Done again (a double click, the back button): the closing page, nothing written.
        let (status, html) = post_done(&world, &cookie, &form).await;
        assert_eq!(status, StatusCode::OK, "{source:?}: {html}");
        assert!(is_closing_page(&html), "{source:?}: {html}");

        let puts = puts(&world);
        assert_eq!(puts.len(), i + 1, "{source:?}: one PUT per level: {puts:?}");
        // Only the owned field: no `id`, and the user's token needs no `userId`.
        assert_eq!(puts[i], (path, body), "{source:?}");
        assert_eq!(
            world.sim.writes().len(),
            i + 1,
            "{source:?}: nothing refused either"
        );
    }
    // Concur holds the values now: a new launch on the header shows it.
    let cookie = launched(&world, Source::Header, &ids.request).await;
    let html = session_page(&world, &cookie).await;
    assert!(html.contains(r#"id="current-value">PRJ-1001"#), "{html}");
}

#[tokio::test]
async fn the_request_page_shows_its_name_and_dates_and_an_expected_expense_its_type_and_values() {
    let world = world_with(VALUES).await;
    let ids = ids(&world);
    let html = session_page(
        &world,
        &launched(&world, Source::Header, &ids.request).await,
    )
    .await;
    assert!(html.contains(">Request<"), "the request's heading: {html}");
    assert!(
        html.contains(r#"<dd id="item-name">Customer visit Lyon</dd>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<dd id="item-dates">2026-06-15 – 2026-06-17</dd>"#),
        "{html}"
    );

    let html = session_page(&world, &launched(&world, Source::Entry, &ids.flight).await).await;
    assert!(html.contains(">Expected expense<"), "{html}");
    for shown in ["Airfare", "412.50", "EUR", "2026-06-15"] {
        assert!(html.contains(shown), "{shown} missing: {html}");
    }
    // Filtered by the expected expense's type: the travel project, not the catering one.
    assert!(html.contains(r#"value="PRJ-1001""#), "{html}");
    assert!(html.contains(r#"value="PRJ-2002""#), "{html}");
    assert!(
        !html.contains("PRJ-3003"),
        "a meals project is not offered for a flight: {html}"
    );
    let (status, html) = choose(
        &world,
        &launched(&world, Source::Entry, &ids.flight).await,
        "PRJ-3003",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(world.sim.writes().is_empty());
}

#[tokio::test]
async fn an_expected_expense_saved_with_the_company_token_names_its_owner() {
    // No auth code in the launch: the connector falls back to the company token, and
    // Concur then needs the user the expected-expense PUT acts for.
    let world = world_with_launch("allow_company_token_fallback = true", VALUES).await;
    let ids = ids(&world);
    let minted = world
        .sim
        .mint_v4(&request_launch(Source::Entry, &ids.flight))
        .unwrap();
    let (path, query) = minted.url.split_once('?').unwrap();
    let query: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("client_auth_code="))
        .collect();
    let cookie = launch(&world, &format!("{path}?{}", query.join("&")))
        .await
        .unwrap();
    let (status, html) = choose(&world, &cookie, "PRJ-2002").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(is_closing_page(&html), "{html}");
    assert_eq!(
        puts(&world),
        [(
            format!("/travelrequest/v4/expenses/{}", ids.flight),
            json!({"custom2": {"value": "PRJ-2002"}, "userId": ids.owner})
        )]
    );
    assert_eq!(world.sim.token_grants("authorization_code"), 0);
}

#[tokio::test]
async fn a_failed_request_put_keeps_the_choice_and_offers_retry_then_saves_once() {
    let world = world_with(VALUES).await;
    let ids = ids(&world);
    for (error_status, page_status, message) in [
        (
            503,
            StatusCode::SERVICE_UNAVAILABLE,
            "Concur is not answering right now",
        ),
        (
            403,
            StatusCode::BAD_GATEWAY,
            "did not allow the connector to save",
        ),
    ] {
        world.sim.reset();
        let cookie = launched(&world, Source::Allocation, &ids.allocation).await;
        let csrf = csrf_of(&session_page(&world, &cookie).await);
        let form = [
            ("csrf", csrf.as_str()),
            ("action", "done"),
            ("code", "PRJ-2002"),
        ];
        world.sim.set_faults(Faults {
            refuse_writes_next: 10,
            write_error_status: error_status,
            ..Faults::default()
        });
        let (status, html) = post_done(&world, &cookie, &form).await;
        assert_eq!(status, page_status, "{error_status}: {html}");
        assert!(html.contains(message), "{error_status}: {html}");
        assert!(
            html.contains(r#"value="PRJ-2002" required checked"#),
            "{error_status}: the choice is kept: {html}"
        );
        assert!(html.contains(r#"id="retry""#), "{error_status}: {html}");
        assert!(world.sim.successful_writes().is_empty());
        // A PUT Concur may have applied (a 5xx) is not repeated by the client.
        assert_eq!(world.sim.writes().len(), 1, "{error_status}");

        world.sim.set_faults(Faults::default());
        let (status, html) = post_done(&world, &cookie, &form).await;
        assert_eq!(status, StatusCode::OK, "{error_status}: {html}");
        assert!(is_closing_page(&html), "{error_status}: {html}");
        assert_eq!(
            puts(&world),
            [(
                format!(
                    "/travelrequest/v4/requests/{}/allocations/{}",
                    ids.request, ids.allocation
                ),
                json!({"custom3": {"value": "PRJ-2002"}})
            )],
            "{error_status}"
        );
    }
}

#[tokio::test]
async fn two_simultaneous_dones_on_a_request_write_once() {
    let world = world_with(VALUES).await;
    let ids = ids(&world);
    let cookie = launched(&world, Source::Header, &ids.request).await;
    let csrf = csrf_of(&session_page(&world, &cookie).await);
    let form = [
        ("csrf", csrf.as_str()),
        ("action", "done"),
        ("code", "PRJ-1001"),
    ];
    world.sim.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let (a, b) = tokio::join!(
        post_done(&world, &cookie, &form),
        post_done(&world, &cookie, &form)
    );
    assert_eq!(world.sim.writes().len(), 1, "{a:?} {b:?}");
    assert!([a.0, b.0].contains(&StatusCode::OK), "{a:?} {b:?}");
}

#[tokio::test]
async fn a_request_level_writes_its_own_configured_field() {
    // The Expense allocation key would write custom12; the Request one wins for requests.
    let world = world_with(&format!(
        "{VALUES}\n[picker.target]\nallocation = \"custom12\"\nrequest_allocation = \"custom3\"\n"
    ))
    .await;
    let ids = ids(&world);
    let cookie = launched(&world, Source::Allocation, &ids.allocation).await;
    let (status, html) = choose(&world, &cookie, "PRJ-1001").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(puts(&world)[0].1, json!({"custom3": {"value": "PRJ-1001"}}));
}
