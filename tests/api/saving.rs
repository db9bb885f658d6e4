//! Done against a slow or unreliable Concur: the write always runs to its end, the user is
//! always told, a failure never locks the session, and an uncertain write is never repeated.

use std::time::Duration;

use concur_connector::launch::Source;
use concur_connector::sim::{Faults, V4LaunchRequest};
use reqwest::{StatusCode, header};
use serde_json::json;

use crate::helpers::captured_logs;
use crate::picker::{VALUES, csrf_of, is_closing_page, launched_entry, post_done};
use crate::with_simulator::{World, launch, popup, session_page, world_with, world_with_concur};

fn done_form(csrf: &str, code: &str) -> Vec<(String, String)> {
    [("csrf", csrf), ("action", "done"), ("code", code)]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn post(world: &World, cookie: &str, form: &[(String, String)]) -> (StatusCode, String) {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    post_done(world, cookie, &pairs).await
}

/// Reloads the popup as its "still saving" page does, until it stops saying so.
pub async fn reload_until_settled(
    world: &World,
    cookie: &str,
    within: Duration,
) -> (StatusCode, String) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (status, html) = popup(world, cookie).await;
        if !html.contains(r#"id="saving-page""#) || tokio::time::Instant::now() > deadline {
            return (status, html);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The form after a write whose outcome Concur never told: 504, the notice, the user's
/// choice `code` still selected and Retry.
pub fn assert_uncertain_form(status: StatusCode, html: &str, code: &str) {
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{html}");
    assert!(
        html.contains("did not confirm whether the value was saved"),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"value="{code}" required checked"#)),
        "the choice is kept: {html}"
    );
    assert!(html.contains(r#"id="retry""#), "{html}");
}

pub fn is_saving_page(html: &str) -> bool {
    html.contains(r#"id="saving-page""#)
        // Attribute values are escaped (`/` as `&#x2f;`), which browsers decode.
        && html.contains(r#"<meta http-equiv="refresh" content="2;url=&#x2f;launch&#x2f;session">"#)
}

#[tokio::test]
async fn a_concur_that_answers_after_45_seconds_saves_once_and_the_user_is_told() {
    // Concur may take 60 s per call; Done answers after 1 s at the latest.
    let world = world_with_concur(
        r#"request_timeout = "60s""#,
        &format!("{VALUES}\n[picker]\ndone_wait = \"1s\"\n"),
    )
    .await;
    let (cookie, _, _) = launched_entry(&world).await;
    let csrf = csrf_of(&session_page(&world, &cookie).await);
    world.sim.set_faults(Faults {
        write_answer_delay_ms: 45_000,
        ..Faults::default()
    });

    let (status, html) = post(&world, &cookie, &done_form(&csrf, "PRJ-3003")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{html}");
    assert!(is_saving_page(&html), "{html}");
    assert!(
        html.contains("Concur is taking longer than usual"),
        "{html}"
    );
    // Meanwhile the popup keeps saying so, and another Done writes nothing.
    let (status, html) = popup(&world, &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(is_saving_page(&html), "{html}");
    let (_, html) = post(&world, &cookie, &done_form(&csrf, "PRJ-1001")).await;
    assert!(is_saving_page(&html), "{html}");

    let (status, html) = reload_until_settled(&world, &cookie, Duration::from_secs(70)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(is_closing_page(&html), "{html}");
    assert!(html.contains("PRJ-3003 was saved in Concur"), "{html}");
    assert_eq!(world.sim.writes().len(), 1, "exactly one write");
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_is_retried_without_writing_twice() {
    let world = world_with_concur(r#"request_timeout = "1s""#, VALUES).await;
    let (cookie, report_id, expense_id) = launched_entry(&world).await;
    let csrf = csrf_of(&session_page(&world, &cookie).await);
    // Concur applies the write but the answer comes after the client has given up.
    world.sim.set_faults(Faults {
        write_answer_delay_ms: 2_000,
        ..Faults::default()
    });
    let form = done_form(&csrf, "PRJ-3003");
    let (status, html) = post(&world, &cookie, &form).await;
    assert_uncertain_form(status, &html, "PRJ-3003");
    assert_eq!(world.sim.writes().len(), 1);
    // A reload shows the same, with the choice still kept.
    let (status, html) = popup(&world, &cookie).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{html}");
    assert!(
        html.contains(r#"value="PRJ-3003" required checked"#),
        "{html}"
    );

    // Retry reads the item first: Concur has the value, so nothing is written again.
    world.sim.set_faults(Faults::default());
    let (status, html) = post(&world, &cookie, &form).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(is_closing_page(&html), "{html}");
    assert!(html.contains("PRJ-3003 was saved in Concur"), "{html}");
    let writes = world.sim.writes();
    assert_eq!(writes.len(), 1, "never written twice: {writes:?}");
    assert_eq!(
        writes[0].path,
        format!("/expensereports/v4/reports/{report_id}/expenses/{expense_id}")
    );
    let logs = captured_logs();
    assert!(
        logs.lines().any(|l| l.contains(r#""target":"audit""#)
            && l.contains(r#""outcome":"already_saved""#)
            && l.contains(r#""new":"PRJ-3003""#)),
        "the confirmed save is audited: {logs}"
    );
}

#[tokio::test]
async fn an_uncertain_write_that_did_not_land_is_written_on_retry() {
    let world = world_with_concur(r#"request_timeout = "1s""#, VALUES).await;
    let (cookie, _, _) = launched_entry(&world).await;
    let csrf = csrf_of(&session_page(&world, &cookie).await);
    // Every API call (the write included) is slower than the client waits: nothing lands.
    world.sim.set_faults(Faults {
        latency_ms: 1_500,
        ..Faults::default()
    });
    let form = done_form(&csrf, "PRJ-1001");
    let (status, html) = post(&world, &cookie, &form).await;
    assert!(status.is_server_error(), "{status}: {html}");
    assert!(world.sim.successful_writes().is_empty());

    world.sim.set_faults(Faults::default());
    let (status, html) = post(&world, &cookie, &form).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(is_closing_page(&html), "{html}");
    assert_eq!(world.sim.successful_writes().len(), 1);
}

#[tokio::test]
async fn closing_the_popup_during_the_write_still_saves_and_shows_it_once() {
    let world = world_with(VALUES).await;
    let (cookie, _, _) = launched_entry(&world).await;
    let csrf = csrf_of(&session_page(&world, &cookie).await);
    world.sim.set_faults(Faults {
        write_answer_delay_ms: 1_500,
        ..Faults::default()
    });
    // The user closes the popup: the request is dropped mid-write.
    let impatient = world
        .app
        .pki
        .client_builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let sent = impatient
        .post(world.app.url("/launch/session/done"))
        .header(header::COOKIE, &cookie)
        .form(&done_form(&csrf, "PRJ-3003"))
        .send()
        .await;
    assert!(sent.is_err(), "the client gave up before the answer");

    // Clicking the field again later finds the value saved; nothing is written twice.
    let (status, html) = reload_until_settled(&world, &cookie, Duration::from_secs(10)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(is_closing_page(&html), "{html}");
    let (status, html) = post(&world, &cookie, &done_form(&csrf, "PRJ-1001")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("PRJ-3003 was saved in Concur"), "{html}");
    assert_eq!(world.sim.writes().len(), 1);
}

#[tokio::test]
async fn a_failed_write_never_locks_the_session() {
    let world = world_with(VALUES).await;
    let (cookie, _, _) = launched_entry(&world).await;
    let csrf = csrf_of(&session_page(&world, &cookie).await);
    let form = done_form(&csrf, "PRJ-1001");
    for status in [500, 403, 503] {
        world.sim.set_faults(Faults {
            refuse_writes_next: 1,
            write_error_status: status,
            ..Faults::default()
        });
        let (page, html) = post(&world, &cookie, &form).await;
        assert!(
            page.is_client_error() || page.is_server_error(),
            "{status}: {html}"
        );
        assert!(html.contains(r#"id="retry""#), "{status}: {html}");
    }
    let (status, html) = post(&world, &cookie, &form).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(is_closing_page(&html), "{html}");
    assert_eq!(world.sim.successful_writes().len(), 1);
    assert_eq!(world.sim.writes().len(), 4);
}

#[tokio::test]
async fn with_write_label_concur_the_audit_and_the_pages_all_show_the_label() {
    let world = world_with(&format!("{VALUES}\n[picker]\nwrite = \"label\"\n")).await;
    let (cookie, _, _) = launched_entry(&world).await;
    let csrf = csrf_of(&session_page(&world, &cookie).await);
    let (status, html) = post(&world, &cookie, &done_form(&csrf, "PRJ-3003")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Catering pilot was saved in Concur"),
        "{html}"
    );
    let writes = world.sim.successful_writes();
    assert_eq!(
        writes[0].body,
        Some(
            json!({"customData": [{"id": "custom12", "value": "Catering pilot"}], "expenseSource": "OTHER"})
        )
    );
    let (_, html) = popup(&world, &cookie).await;
    assert!(
        html.contains("Catering pilot was saved in Concur"),
        "{html}"
    );
    let logs = captured_logs();
    let audit = logs
        .lines()
        .find(|l| l.contains(r#""target":"audit""#))
        .unwrap_or_else(|| panic!("no audit line: {logs}"));
    assert!(audit.contains(r#""new":"Catering pilot""#), "{audit}");
}

#[tokio::test]
async fn cancel_after_another_tab_saved_says_what_was_saved() {
    let world = world_with(VALUES).await;
    let (cookie, _, _) = launched_entry(&world).await;
    let csrf = csrf_of(&session_page(&world, &cookie).await);
    let (status, _) = post(&world, &cookie, &done_form(&csrf, "PRJ-3003")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, html) = post_done(
        &world,
        &cookie,
        &[("csrf", csrf.as_str()), ("action", "cancel")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("PRJ-3003 was saved in Concur"), "{html}");
    assert!(!html.contains("Nothing was changed"), "{html}");
}

#[tokio::test]
async fn a_launched_from_field_the_item_lacks_is_said_at_once_in_the_users_language() {
    let world = world_with(VALUES).await;
    let expense = world.sim.snapshot().reports[0].expenses[0].id.clone();
    let mut request = V4LaunchRequest::new(Source::Entry, &expense);
    request.custom_field_launched_from = Some("custom40".to_owned());
    request.language_code = Some("de".to_owned());
    let cookie = launch(&world, &world.sim.mint_v4(&request).unwrap().url)
        .await
        .unwrap();
    let html = session_page(&world, &cookie).await;
    assert!(
        html.contains("Dieses Feld ist noch nicht zum Speichern eingerichtet"),
        "{html}"
    );
    assert!(
        html.contains(r#"id="done" class="primary" disabled"#),
        "{html}"
    );
    // The administrator's hint names the fields the item has.
    let logs = captured_logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("custom40") && l.contains("custom12") && l.contains("custom9")),
        "{logs}"
    );
    let (status, html) = post(&world, &cookie, &done_form(&csrf_of(&html), "PRJ-3003")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(world.sim.writes().is_empty());
}
