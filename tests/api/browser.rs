//! The user's whole flow in a real headless Chromium (Debian `chromium` + `chromium-driver`,
//! driven over WebDriver with fantoccini): on the simulator's expense report page, click a
//! Launch URL field's button; the connector opens in a `window.open` popup; search, pick, Done;
//! the popup closes itself; the report page reloads and shows the value; the simulator
//! recorded exactly one write with the documented body.
//!
//! The connector and the simulator run in this process, wired exactly as `serve` wires them on
//! the embedded profile ([`sim::embedded::start`]): the Concur client points at the simulator
//! and trusts its CA, and both servers serve the simulator's certificate. Chromium accepts that
//! certificate through `acceptInsecureCerts` (the test cannot add a CA to its trust store).
//!
//! Each test starts its own chromedriver on a free port. A screenshot of the picker page is
//! saved as `target/browser-artifacts/picker-<case>.png`, the report page afterwards as
//! `report-<case>.png`. `scripts/test.sh` installs
//! `chromium` and `chromium-driver` when they are missing.

use std::path::PathBuf;
use std::process::Stdio;

use concur_connector::config::{self, Origin};
use concur_connector::sim::{self, RunningSim, WriteApi};
use concur_connector::startup::{Application, ShutdownHandle};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, Command};

use crate::fixtures::seed::{
    ALLOCATION, JANE, LUNCH, LUNCH_V1, MAX_REPORT, REPORT, SUPPLIES, TRAVEL_ALLOCATION,
    TRAVEL_HOTEL, TRAVEL_REQUEST,
};
use crate::fixtures::{PASSWORD, PATIENCE, USERNAME, eventually, free_port};

/// The connector and the simulator, as `serve` runs them in development.
struct World {
    sim: RunningSim,
    shutdown: ShutdownHandle,
    _dir: tempfile::TempDir,
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.stop();
    }
}

async fn world() -> World {
    world_with("").await
}

/// [`world`] with `extra` TOML appended (e.g. `[[validation.rules]]`).
async fn world_with(extra: &str) -> World {
    concur_connector::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let toml = format!(
        r#"
development = true
[server]
bind = "127.0.0.1:{port}"
[tls]
self_signed = true
cert_file = "{dir}/dev-cert.pem"
key_file = "{dir}/dev-key.pem"
[connector]
username = "{USERNAME}"
password = "{PASSWORD}"
[log]
level = "warn"
[queue]
path = "{dir}/notifications.redb"
[picker.target]
v1 = "Custom12"
[simulator]
enabled = true
bind = "127.0.0.1:0"
certs = "{dir}/simulator"
[admin]
bind = "127.0.0.1:0"
[[values.inline]]
code = "PRJ-7001"
label = "Browser test project"
[[values.inline]]
code = "PRJ-7002"
label = "Another project"
{extra}
"#,
        // The simulator signs launch URLs for the connector's port, so it must be known
        // before the connector binds.
        port = free_port(),
        dir = dir.path().display(),
    );
    std::fs::write(&path, toml).unwrap();
    let mut settings = config::load_with_env(&Origin::File(path), Some(Default::default()))
        .expect("test configuration is valid");
    let sim = sim::embedded::start(&mut settings)
        .await
        .unwrap()
        .expect("the simulator is enabled");
    let app = Application::build(settings).await.expect("app builds");
    let shutdown = app.shutdown_handle();
    tokio::spawn(app.run_until_stopped());
    World {
        sim,
        shutdown,
        _dir: dir,
    }
}

/// A chromedriver of its own and a headless Chromium session.
struct Browser {
    client: Client,
    _driver: Child,
}

async fn browser() -> Browser {
    let port = free_port();
    let mut driver = Command::new(chromedriver())
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver runs (apt-get install chromium chromium-driver)");
    // chromedriver says when it listens; no need to guess.
    let mut lines = tokio::io::BufReader::new(driver.stdout.take().unwrap()).lines();
    tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("started successfully") {
                return;
            }
        }
        panic!("chromedriver ended before it listened");
    })
    .await
    .expect("chromedriver starts");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let capabilities = json!({
        "acceptInsecureCerts": true,
        "goog:chromeOptions": {
            "binary": chromium(),
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-popup-blocking",
                "--no-first-run",
                "--window-size=800,900",
            ],
        },
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session starts");
    Browser {
        client,
        _driver: driver,
    }
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

fn chromedriver() -> String {
    std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned())
}

/// Where screenshots go: `target/browser-artifacts/` (next to `target/tmp`).
fn artifacts_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp
        .parent()
        .map(|target| target.join("browser-artifacts"))
        .unwrap_or_else(|| tmp.join("browser-artifacts"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One launch, as a user does it; returns after the report page shows `code`.
struct Case {
    name: &'static str,
    /// `data-launch` of the button to click.
    button: String,
    /// `data-field` of the value that must change.
    field: String,
    code: &'static str,
}

async fn pick_a_value_in_the_popup(world: &World, browser: &Browser, case: &Case) {
    pick_a_value_on(&format!("expense/{REPORT}"), world, browser, case).await;
}

/// [`pick_a_value_in_the_popup`] from the simulator's page `page` (a report or a request).
async fn pick_a_value_on(page: &str, world: &World, browser: &Browser, case: &Case) {
    let c = &browser.client;
    let page_url = format!("{}{page}", world.sim.base_url());
    c.goto(&page_url).await.unwrap();
    let main = c.window().await.unwrap();

    // The field's button opens the connector in a popup.
    c.find(Locator::Css(&format!("a[data-launch=\"{}\"]", case.button)))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let popup = eventually("the popup opens", || async {
        let windows = c.windows().await.unwrap();
        (windows.len() == 2).then(|| windows.into_iter().find(|w| *w != main).unwrap())
    })
    .await;
    c.switch_to_window(popup).await.unwrap();

    // The picker, on a clean URL: no signature or token after the first redirect.
    let search = c
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Id("search"))
        .await
        .expect("the picker page shows a search box");
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/launch/session", "{url}");
    assert_eq!(url.query(), None, "{url}");
    search.send_keys(case.code).await.unwrap();
    c.find(Locator::Id("search-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Wait for the search's own page, so the choice found below is not the old page's.
    eventually("the search results page loads", || async {
        let url = c.current_url().await.ok()?;
        let searched = url.query().is_some_and(|q| q.contains("q="));
        let ready = c.execute("return document.readyState", vec![]).await.ok()?;
        (searched && ready == "complete").then_some(())
    })
    .await;
    let choice = c
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(&format!(
            "input[type=radio][name=code][value=\"{}\"]",
            case.code
        )))
        .await
        .expect("the searched value is offered");
    choice.click().await.unwrap();

    let png = c.screenshot().await.unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 1000,
        "a real PNG"
    );
    let file = artifacts_dir().join(format!("picker-{}.png", case.name));
    std::fs::write(&file, &png).unwrap();
    assert!(std::fs::metadata(&file).unwrap().len() > 0);

    // Done writes, then the page closes the popup itself.
    c.find(Locator::Id("done"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the popup closes", || async {
        (c.windows().await.unwrap().len() == 1).then_some(())
    })
    .await;
    c.switch_to_window(main).await.unwrap();

    // The report (or request) page notices, reloads, and shows the new value.
    let selector = format!("[data-field=\"{}\"]", case.field);
    eventually("the report page shows the new value", || async {
        let element = c.find(Locator::Css(&selector)).await.ok()?;
        let text = element.text().await.ok()?;
        (text.trim() == case.code).then_some(())
    })
    .await;
    let png = c.screenshot().await.unwrap();
    std::fs::write(
        artifacts_dir().join(format!("report-{}.png", case.name)),
        png,
    )
    .unwrap();
}

fn the_one_write(world: &World) -> sim::RecordedWrite {
    let writes = world.sim.writes();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let write = writes.into_iter().next().unwrap();
    assert!(write.succeeded(), "{write:#?}");
    write
}

#[tokio::test]
async fn v4_entry_value_is_picked_in_a_popup_written_once_and_shown() {
    let world = world().await;
    let browser = browser().await;
    let case = Case {
        name: "v4-entry",
        button: format!("v4-entry-{LUNCH}"),
        field: format!("entry-{LUNCH}-custom12"),
        code: "PRJ-7001",
    };
    pick_a_value_in_the_popup(&world, &browser, &case).await;
    let write = the_one_write(&world);
    assert_eq!(write.api, WriteApi::V4Expense);
    assert_eq!(write.method, "PATCH");
    assert_eq!(
        write.path,
        format!("/expensereports/v4/reports/{REPORT}/expenses/{LUNCH}")
    );
    assert_eq!(
        write.body,
        Some(
            json!({"customData": [{"id": "custom12", "value": "PRJ-7001"}], "expenseSource": "OTHER"})
        )
    );
    browser.client.close().await.unwrap();
}

#[tokio::test]
async fn v4_report_header_value_is_picked_in_a_popup_written_once_and_shown() {
    let world = world().await;
    let browser = browser().await;
    let case = Case {
        name: "v4-header",
        button: format!("v4-header-{REPORT}"),
        field: format!("header-{REPORT}-custom12"),
        code: "PRJ-7002",
    };
    pick_a_value_in_the_popup(&world, &browser, &case).await;
    let write = the_one_write(&world);
    assert_eq!(write.api, WriteApi::V4Report);
    assert_eq!(write.method, "PATCH");
    assert_eq!(
        write.path,
        format!("/expensereports/v4/users/{JANE}/context/TRAVELER/reports/{REPORT}")
    );
    assert_eq!(
        write.body,
        Some(
            json!({"customData": [{"id": "custom12", "value": "PRJ-7002"}], "reportSource": "OTHER"})
        )
    );
    browser.client.close().await.unwrap();
}

#[tokio::test]
async fn v4_allocation_value_is_picked_in_a_popup_written_once_and_shown() {
    let world = world().await;
    let browser = browser().await;
    let case = Case {
        name: "v4-allocation",
        button: format!("v4-allocation-{ALLOCATION}"),
        field: format!("allocation-{ALLOCATION}-custom12"),
        code: "PRJ-7001",
    };
    pick_a_value_in_the_popup(&world, &browser, &case).await;
    let write = the_one_write(&world);
    assert_eq!(write.api, WriteApi::V4Allocation);
    assert_eq!(write.method, "PATCH");
    assert_eq!(
        write.path,
        format!(
            "/expensereports/v4/users/{JANE}/context/TRAVELER/reports/{REPORT}/allocations/{ALLOCATION}"
        )
    );
    assert_eq!(
        write.body,
        Some(json!({
            "allocation": {"customData": [{"id": "custom12", "value": "PRJ-7001"}]},
            "expenseIds": [SUPPLIES],
        }))
    );
    browser.client.close().await.unwrap();
}

#[tokio::test]
async fn v1_entry_value_is_picked_in_a_popup_written_once_through_v3_and_shown() {
    let world = world().await;
    let browser = browser().await;
    let case = Case {
        name: "v1-entry",
        button: format!("v1-entry-{LUNCH}"),
        field: format!("entry-{LUNCH}-custom12"),
        code: "PRJ-7002",
    };
    pick_a_value_in_the_popup(&world, &browser, &case).await;
    let write = the_one_write(&world);
    assert_eq!(write.api, WriteApi::V3Entry);
    assert_eq!(write.method, "PUT");
    assert_eq!(write.path, format!("/api/v3.0/expense/entries/{LUNCH_V1}"));
    assert_eq!(write.body, Some(json!({"Custom12": "PRJ-7002"})));
    browser.client.close().await.unwrap();
}

// --- Concur Request: the same popup from the simulator's travel request page ---

/// Picks `case` on the travel request page; the one write is Travel Request's `PUT` of
/// `path` with only the launched-from field's `{"value": …}` (no `id`, and no `userId`: the
/// launch's user token needs none).
async fn request_value_is_written_once_with_put(case: Case, path: String, field: &str) {
    let world = world().await;
    let browser = browser().await;
    pick_a_value_on(
        &format!("request/{TRAVEL_REQUEST}"),
        &world,
        &browser,
        &case,
    )
    .await;
    let write = the_one_write(&world);
    assert_eq!(write.method, "PUT");
    assert_eq!(write.path, path);
    assert_eq!(write.status, 200);
    let mut only_the_field = serde_json::Map::new();
    only_the_field.insert(field.to_owned(), json!({"value": case.code}));
    assert_eq!(write.body, Some(Value::Object(only_the_field)));
    assert_eq!(
        write.principal,
        Some(sim::Principal::User {
            user_id: JANE.to_owned()
        })
    );
    browser.client.close().await.unwrap();
}

#[tokio::test]
async fn request_header_value_is_picked_in_a_popup_written_once_with_put_and_shown() {
    let case = Case {
        name: "request-header",
        button: format!("request-header-{TRAVEL_REQUEST}"),
        field: format!("request-header-{TRAVEL_REQUEST}-custom1"),
        code: "PRJ-7002",
    };
    let path = format!("/travelrequest/v4/requests/{TRAVEL_REQUEST}");
    request_value_is_written_once_with_put(case, path, "custom1").await;
}

#[tokio::test]
async fn request_expected_expense_value_is_picked_in_a_popup_written_once_with_put_and_shown() {
    let case = Case {
        name: "request-entry",
        button: format!("request-entry-{TRAVEL_HOTEL}"),
        field: format!("request-entry-{TRAVEL_HOTEL}-custom2"),
        code: "PRJ-7001",
    };
    let path = format!("/travelrequest/v4/expenses/{TRAVEL_HOTEL}");
    request_value_is_written_once_with_put(case, path, "custom2").await;
}

#[tokio::test]
async fn request_allocation_value_is_picked_in_a_popup_written_once_with_put_and_shown() {
    let case = Case {
        name: "request-allocation",
        button: format!("request-allocation-{TRAVEL_ALLOCATION}"),
        field: format!("request-allocation-{TRAVEL_ALLOCATION}-custom3"),
        code: "PRJ-7002",
    };
    let path =
        format!("/travelrequest/v4/requests/{TRAVEL_REQUEST}/allocations/{TRAVEL_ALLOCATION}");
    request_value_is_written_once_with_put(case, path, "custom3").await;
}

// --- Fetch List and Fetch Attendee: the simulator plays Concur on the report page ---

/// The embedded development profile itself (its demo lists and attendees), on free ports and
/// in a temporary directory.
async fn demo_world() -> World {
    concur_connector::tls::install_default_provider();
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).display().to_string();
    let env = [
        (
            "CONCUR_CONNECTOR__SERVER__BIND",
            format!("127.0.0.1:{}", free_port()),
        ),
        ("CONCUR_CONNECTOR__TLS__CERT_FILE", at("dev-cert.pem")),
        ("CONCUR_CONNECTOR__TLS__KEY_FILE", at("dev-key.pem")),
        (
            "CONCUR_CONNECTOR__SIMULATOR__BIND",
            "127.0.0.1:0".to_owned(),
        ),
        ("CONCUR_CONNECTOR__SIMULATOR__CERTS", at("simulator")),
        ("CONCUR_CONNECTOR__QUEUE__PATH", at("notifications.redb")),
        ("CONCUR_CONNECTOR__ADMIN__BIND", "127.0.0.1:0".to_owned()),
        ("CONCUR_CONNECTOR__LOG__LEVEL", "warn".to_owned()),
    ];
    let env = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let mut settings = config::load_with_env(&Origin::Embedded, Some(env))
        .expect("the development profile is valid");
    let sim = sim::embedded::start(&mut settings)
        .await
        .unwrap()
        .expect("the development profile enables the simulator");
    let app = Application::build(settings).await.expect("app builds");
    let shutdown = app.shutdown_handle();
    tokio::spawn(app.run_until_stopped());
    World {
        sim,
        shutdown,
        _dir: dir,
    }
}

/// Waits until the element `css` shows exactly `text` (after the page reloads itself).
async fn shows(c: &Client, css: &str, text: &str) {
    eventually(&format!("{css} shows {text:?}"), || async {
        let element = c.find(Locator::Css(css)).await.ok()?;
        (element.text().await.ok()?.trim() == text).then_some(())
    })
    .await;
}

/// Searches one level of the connected list and picks `code` from its drop-down.
async fn pick_from_the_list(c: &Client, hook: &str, typed: &str, code: &str) {
    c.find(Locator::Css(&format!("[data-list-query=\"{hook}\"]")))
        .await
        .unwrap()
        .send_keys(typed)
        .await
        .unwrap();
    c.find(Locator::Css(&format!("[data-list-search=\"{hook}\"]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let select = format!("select[data-list-options=\"{hook}\"]");
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(&format!("{select} option[value=\"{code}\"]")))
        .await
        .expect("the connector's item is offered");
    c.find(Locator::Css(&select))
        .await
        .unwrap()
        .select_by_value(code)
        .await
        .unwrap();
}

#[tokio::test]
async fn demo_project_then_task_come_from_the_connectors_fetch_list_and_stay_saved() {
    let world = demo_world().await;
    let browser = browser().await;
    let c = &browser.client;
    c.goto(&format!("{}expense/{REPORT}", world.sim.base_url()))
        .await
        .unwrap();
    pick_from_the_list(c, "project", "Apo", "P100").await;
    shows(
        c,
        "[data-list-value=\"project\"]",
        "P100 — Apollo website relaunch",
    )
    .await;
    pick_from_the_list(c, "task", "", "BLD").await;
    shows(c, "[data-list-value=\"task\"]", "BLD — Build").await;
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts_dir().join("report-fetch-list.png"), png).unwrap();

    let report = world.sim.snapshot().report(REPORT).unwrap().clone();
    assert_eq!(report.list_choices["Project"].code, "P100");
    assert_eq!(report.list_choices["Task"].code, "P100-BLD");
}

#[tokio::test]
async fn demo_attendee_is_found_with_the_connectors_fetch_attendee_and_added() {
    const LUNCH: &str = "84FCBB92BD4E5342B849DAC29FD163A1";
    let world = demo_world().await;
    let browser = browser().await;
    let c = &browser.client;
    c.goto(&format!("{}expense/{REPORT}", world.sim.base_url()))
        .await
        .unwrap();
    let form = format!("form[data-attendee-search=\"{LUNCH}\"]");
    c.find(Locator::Css(&format!("{form} input[name=last_name]")))
        .await
        .unwrap()
        .send_keys("Lima")
        .await
        .unwrap();
    c.find(Locator::Css(&format!("{form} button[type=submit]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("[data-attendee-add=\"EXT-2002\"]"))
        .await
        .expect("the connector's attendee is offered")
        .click()
        .await
        .unwrap();
    shows(
        c,
        "[data-attendee=\"EXT-2002\"]",
        "Ana Lima, CTO · Len Dev BUSGUEST EXT-2002",
    )
    .await;
    let seed = world.sim.snapshot();
    let (_, expense) = seed.expense(LUNCH).unwrap();
    assert_eq!(expense.attendees.len(), 1);
    assert_eq!(expense.attendees[0].external_id, "EXT-2002");
}

// --- External validation: Submit on the report page, the connector decides ---

/// A hotel night over 250 is sent back (Max's Berlin trip has one at 289 EUR; March Expenses
/// has none).
const HOTEL_LIMIT: &str = r#"
[[validation.rules]]
name = "hotel-limit"
kind = "amount_limit"
limits = { LODNG = 250 }
message = { en = "A hotel night costs at most 250", de = "Eine Hotelnacht kostet höchstens 250" }
"#;

/// Opens the report page, clicks Submit, and waits until the page shows `label`.
async fn submit_and_wait_for(world: &World, c: &Client, report: &str, label: &str) {
    c.goto(&format!("{}expense/{report}", world.sim.base_url()))
        .await
        .unwrap();
    shows(c, "[data-workflow-label]", "Not submitted").await;
    c.find(Locator::Css(&format!("[data-submit=\"{report}\"]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Pending first, then the page polls and reloads itself once the connector decided.
    shows(c, "[data-workflow-label]", label).await;
}

#[tokio::test]
async fn demo_submit_ends_approved_or_sent_back_with_the_comment_shown() {
    let world = world_with(HOTEL_LIMIT).await;
    let browser = browser().await;
    let c = &browser.client;

    submit_and_wait_for(&world, c, REPORT, "Approved").await;
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts_dir().join("report-approved.png"), png).unwrap();
    assert!(
        c.find(Locator::Css("[data-submit]")).await.is_err(),
        "an approved report cannot be submitted again"
    );

    submit_and_wait_for(&world, c, MAX_REPORT, "Sent back").await;
    let comment = c
        .find(Locator::Css("[data-workflow-comment]"))
        .await
        .expect("the comment is shown")
        .text()
        .await
        .unwrap();
    assert!(
        comment.contains("Eine Hotelnacht kostet höchstens 250"),
        "in the owner's language: {comment}"
    );
    assert!(
        c.find(Locator::Css(&format!("[data-submit=\"{MAX_REPORT}\"]")))
            .await
            .is_ok(),
        "a sent-back report can be submitted again"
    );
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts_dir().join("report-sent-back.png"), png).unwrap();
    let data = world.sim.snapshot();
    assert_eq!(data.report(REPORT).unwrap().approval_status_id, "A_APPR");
    assert_eq!(
        data.report(MAX_REPORT).unwrap().approval_status_id,
        "A_RESU"
    );
    browser.client.close().await.unwrap();
}
