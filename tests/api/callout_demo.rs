//! End to end: the simulator plays Concur against the real connector for Fetch List and
//! Fetch Attendee, with the demo data of `config/development.toml`, and saves what the user
//! picks on the simulated report.

use concur_connector::config;
use concur_connector::credentials::ConnectorCredentials;
use concur_connector::sim::{self, RunningSim, SimConfig, SimTls};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, USERNAME, spawn_app_with};

/// The seed's first report and its first expense.
const REPORT: &str = "764428DD6A664AF0BFCB";
const LUNCH: &str = "84FCBB92BD4E5342B849DAC29FD163A1";

struct Demo {
    sim: RunningSim,
    http: reqwest::Client,
    _app: TestApp,
    _dir: tempfile::TempDir,
}

/// The demo configuration's callout tables (`[fetch_list]`, `[fetch_attendee]`), as TOML.
fn demo_callout_tables() -> String {
    crate::fixtures::development_tables(&["fetch_list", "fetch_attendee"])
}

/// The connector with the demo's lists and attendees, and a simulator calling it.
async fn demo() -> Demo {
    let app = spawn_app_with(&demo_callout_tables()).await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = ConnectorCredentials::new(USERNAME, config::secret(PASSWORD)).unwrap();
    let connector = reqwest::Url::parse(&format!("{}/", app.base_url)).unwrap();
    let mut cfg = SimConfig::new(credentials, &connector, SimTls::generate_in(dir.path())).unwrap();
    cfg.connector_ca_pem = Some(app.pki.ca_pem.clone());
    let sim = sim::start(cfg).await.unwrap();
    let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    Demo {
        sim,
        http,
        _app: app,
        _dir: dir,
    }
}

impl Demo {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!(
            "{}{}",
            self.sim.base_url().as_str().trim_end_matches('/'),
            path
        );
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn list(&self, level: u8, query: &str) -> Value {
        let path = format!("/_sim/demo/list?report={REPORT}&level={level}&query={query}");
        let (status, answer) = self.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            answer["passed"], true,
            "the judge accepts the connector: {answer}"
        );
        answer
    }

    async fn choose(&self, level: u8, short_code: &str) {
        let body = json!({"report": REPORT, "level": level, "short_code": short_code});
        let (status, answer) = self
            .call(Method::POST, "/_sim/demo/list/choose", Some(body))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer["passed"], true, "{answer}");
    }

    async fn page(&self) -> String {
        let url = format!("{}expense/{REPORT}", self.sim.base_url());
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

fn column(answer: &Value, key: &str, field: &str) -> Vec<String> {
    answer[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn demo_project_and_task_come_from_the_connectors_fetch_list_and_are_saved() {
    let demo = demo().await;
    let projects = demo.list(1, "*").await;
    assert_eq!(column(&projects, "items", "code"), ["P100", "P200", "P300"]);
    let borealis = demo.list(1, "bor").await;
    assert_eq!(
        column(&borealis, "items", "text"),
        ["Borealis data platform"]
    );
    demo.choose(1, "P200").await;
    let tasks = demo.list(2, "").await;
    assert_eq!(column(&tasks, "items", "code"), ["P200-ING", "P200-RPT"]);
    demo.choose(2, "RPT").await;

    let report = demo.sim.snapshot().report(REPORT).unwrap().clone();
    assert_eq!(report.list_choices["Project"].code, "P200");
    assert_eq!(report.list_choices["Task"].code, "P200-RPT");
    assert_eq!(report.list_choices["Task"].text, "Reporting");
    let html = demo.page().await;
    assert!(
        html.contains("data-list-value=\"task\">RPT — Reporting<"),
        "{html}"
    );
}

#[tokio::test]
async fn demo_attendee_search_asks_the_connectors_fetch_attendee_and_saves_the_added_one() {
    let demo = demo().await;
    let search = json!({"expense": LUNCH, "company": "Len Dev"});
    let (status, found) = demo
        .call(Method::POST, "/_sim/demo/attendees/search", Some(search))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        found["passed"], true,
        "the judge accepts the connector: {found}"
    );
    let mut ids = column(&found, "attendees", "external_id");
    ids.sort();
    assert_eq!(ids, ["1234567890", "EXT-2002"]);
    let add = json!({"expense": LUNCH, "external_id": "1234567890"});
    let (status, added) = demo
        .call(Method::POST, "/_sim/demo/attendees/add", Some(add))
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let seed = demo.sim.snapshot();
    let (_, expense) = seed.expense(LUNCH).unwrap();
    assert_eq!(expense.attendees.len(), 1);
    assert_eq!(expense.attendees[0].last_name, "Miller");
    assert_eq!(expense.attendees[0].company, "Len Dev");
    assert!(
        demo.page()
            .await
            .contains("data-attendee=\"1234567890\">Chris Miller, CFO")
    );
}
