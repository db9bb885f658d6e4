//! The Concur client's gaps against the simulator: OAuth error 16 at launch, the GLZ
//! fallback of the code exchange, and Done on a submitted report's header.

use concur_connector::launch::Source;
use concur_connector::sim::{Faults, Principal, RecordedRequest, V4LaunchRequest, WriteApi};
use reqwest::StatusCode;
use serde_json::json;

use crate::picker::{VALUES, choose};
use crate::with_simulator::{World, launch, localhost_alias, world_with, world_with_two_hosts};

/// The authorization-code grants the simulator served, in order.
fn code_grants(world: &World) -> Vec<RecordedRequest> {
    world
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.grant_type.as_deref() == Some("authorization_code"))
        .collect()
}

fn host_of(base: &str) -> String {
    base.trim_start_matches("https://").to_owned()
}

async fn launch_header(world: &World) -> Result<String, (StatusCode, String)> {
    let report = world.sim.snapshot().reports[0].id.clone();
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Header, &report))
        .unwrap();
    launch(world, &minted.url).await
}

#[tokio::test]
async fn a_code_answered_with_error_16_is_exchanged_once_at_the_geolocation_it_names() {
    let world = world_with_two_hosts("").await;
    let alias = localhost_alias(&world.sim);
    world.sim.set_faults(Faults {
        elsewhere_next: 1,
        elsewhere_geolocation: alias.clone(),
        elsewhere_grant: "authorization_code".to_owned(),
        ..Faults::default()
    });
    launch_header(&world).await.expect("the launch succeeds");
    let grants = code_grants(&world);
    assert_eq!(grants.len(), 2, "{grants:?}");
    assert_eq!(grants[0].status, 400);
    assert_eq!(
        grants[0].host.as_deref(),
        Some(host_of(world.sim.geolocation()).as_str())
    );
    assert_eq!(grants[1].status, 200);
    assert_eq!(grants[1].host.as_deref(), Some(host_of(&alias).as_str()));
}

#[tokio::test]
async fn a_code_answered_with_error_16_naming_an_untrusted_host_refuses_the_launch_readably() {
    let world = world_with_two_hosts("").await;
    world.sim.set_faults(Faults {
        elsewhere_next: 1,
        elsewhere_geolocation: "https://login.evil.example".to_owned(),
        elsewhere_grant: "authorization_code".to_owned(),
        ..Faults::default()
    });
    let (status, html) = launch_header(&world).await.unwrap_err();
    assert!(
        status.is_client_error() || status == StatusCode::BAD_GATEWAY,
        "{status}"
    );
    assert!(html.contains("Concur refused this launch"), "{html}");
    assert!(
        !html.contains("evil.example"),
        "the page names no host: {html}"
    );
    // One grant, at the auth base; nothing was sent to the named host.
    assert_eq!(code_grants(&world).len(), 1);
}

#[tokio::test]
async fn a_code_refused_at_the_auth_base_is_exchanged_at_the_applications_geolocation() {
    let world = world_with_two_hosts("").await;
    let glz = host_of(world.sim.geolocation());
    world.sim.set_faults(Faults {
        refuse_code_grants_at: glz.clone(),
        ..Faults::default()
    });
    launch_header(&world).await.expect("the launch succeeds");
    let grants = code_grants(&world);
    assert_eq!(grants.len(), 2, "{grants:?}");
    assert_eq!(
        (grants[0].status, grants[0].host.as_deref()),
        (401, Some(glz.as_str()))
    );
    let app = host_of(&localhost_alias(&world.sim));
    assert_eq!(
        (grants[1].status, grants[1].host.as_deref()),
        (200, Some(app.as_str()))
    );

    // A refusal about the code itself is not repeated elsewhere.
    world.sim.set_faults(Faults {
        refuse_code_grants_at: glz,
        code_refusal_status: 400,
        code_refusal_code: 103,
        ..Faults::default()
    });
    let (status, _) = launch_header(&world).await.unwrap_err();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code_grants(&world).len(), 3);
}

#[tokio::test]
async fn done_on_a_submitted_report_writes_through_the_submitted_report_patch() {
    let world = world_with(VALUES).await;
    let seed = world.sim.snapshot();
    let submitted = seed
        .reports
        .iter()
        .find(|r| r.approval_status_id != "A_NOTF" && r.approval_status_id != "A_RESU")
        .expect("the seed has a submitted report");
    let minted = world
        .sim
        .mint_v4(&V4LaunchRequest::new(Source::Header, &submitted.id))
        .unwrap();
    let cookie = launch(&world, &minted.url).await.unwrap();
    let (status, html) = choose(&world, &cookie, "PRJ-1001").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let writes = world.sim.writes();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!((writes[0].api, writes[0].status), (WriteApi::V4Report, 400));
    assert_eq!(writes[1].api, WriteApi::V4SubmittedReport);
    assert_eq!(writes[1].status, 204);
    assert_eq!(writes[1].principal, Some(Principal::Company));
    assert_eq!(
        writes[1].body,
        Some(json!({"customData": [{"id": "custom12", "value": "PRJ-1001"}]}))
    );
    let report = world.sim.snapshot().report(&submitted.id).unwrap().clone();
    assert_eq!(report.custom_data["custom12"], "PRJ-1001");
}
