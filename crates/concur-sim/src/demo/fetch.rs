//! The report page's callouts to the connector, played as Concur plays them: a connected list
//! Project → Task on the header (Fetch List) and an attendee search on each expense (Fetch
//! Attendee). `demo.js` calls these routes and renders their JSON; a refused answer shows
//! its findings, as Concur shows a popup error.
//!
//! | Route | What |
//! |---|---|
//! | `GET /_sim/demo/list?report=…&level=1\|2&query=…` | one Fetch List search (level 2 under the saved project) |
//! | `POST /_sim/demo/list/choose` `{report, level, short_code}` | the one-to-one call for the chosen code (`search-by` `CODE`), then saves it |
//! | `POST /_sim/demo/attendees/search` `{expense, last_name, first_name, company, title, external_id}` | one Fetch Attendee search for the report owner |
//! | `POST /_sim/demo/attendees/add` `{expense, external_id}` | adds one attendee of the last accepted search |
//!
//! Every answer is `{passed, items | attendees, findings}`; bad input is a 4xx with the
//! reason as its one finding.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use concur_protocol::callout::conformance::{
    AttendeeCall, FetchListCall, Finding, ListItem, SearchBy, Severity, Verdict,
};
use serde::{Deserialize, Serialize};

use crate::seed::{AttendeeEntry, ListChoice, Seed};
use crate::state::SimHandle;

/// The connected list's levels, as the header shows them.
pub(super) const LIST_LEVELS: [&str; 2] = ["Project", "Task"];

pub(super) fn routes() -> Router<SimHandle> {
    Router::new()
        .route("/_sim/demo/list", get(search_list))
        .route("/_sim/demo/list/choose", post(choose))
        .route("/_sim/demo/attendees/search", post(search_attendees))
        .route("/_sim/demo/attendees/add", post(add_attendee))
}

#[derive(Debug, Serialize)]
struct Answer<T> {
    passed: bool,
    #[serde(flatten)]
    found: T,
    findings: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
struct Items {
    items: Vec<ListChoice>,
}

#[derive(Debug, Default, Serialize)]
struct Attendees {
    attendees: Vec<AttendeeEntry>,
}

fn refuse<T: Serialize + Default>(status: StatusCode, why: &str) -> Response {
    let answer = Answer {
        passed: false,
        found: T::default(),
        findings: vec![why.to_owned()],
    };
    (status, Json(answer)).into_response()
}

fn judged<T, U: Serialize>(verdict: &Verdict<T>, found: U) -> Response {
    let answer = Answer {
        passed: verdict.passed(),
        found,
        findings: verdict.findings.iter().map(ToString::to_string).collect(),
    };
    Json(answer).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    report: String,
    level: u8,
    #[serde(default)]
    query: String,
}

/// What the user typed, as Concur sends it: a prefix search unless it has a `*`.
fn wildcard(typed: &str) -> String {
    let typed = typed.trim();
    if typed.contains('*') {
        typed.to_owned()
    } else {
        format!("{typed}*")
    }
}

async fn search_list(State(sim): State<SimHandle>, Query(query): Query<ListQuery>) -> Response {
    let mut call = match list_call(&sim.snapshot(), &query.report, query.level) {
        Ok(call) => call,
        Err((status, why)) => return refuse::<Items>(status, why),
    };
    call.query = wildcard(&query.query);
    let verdict = sim.fetch_list(&call).await;
    let items = verdict.items.iter().map(choice).collect();
    judged(&verdict, Items { items })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Choose {
    report: String,
    level: u8,
    short_code: String,
}

/// Concur asks again for exactly the chosen code before saving it (the one-to-one call).
async fn choose(State(sim): State<SimHandle>, Json(chosen): Json<Choose>) -> Response {
    let mut call = match list_call(&sim.snapshot(), &chosen.report, chosen.level) {
        Ok(call) => call,
        Err((status, why)) => return refuse::<Items>(status, why),
    };
    if chosen.short_code.trim().is_empty() {
        return refuse::<Items>(StatusCode::BAD_REQUEST, "Choose an item.");
    }
    call.query = chosen.short_code.trim().to_owned();
    call.search_by = SearchBy::Code;
    let verdict = sim.fetch_list(&call).await;
    let matched = verdict
        .items
        .iter()
        .find(|item| item.short_code.eq_ignore_ascii_case(&call.query))
        .map(choice);
    let (true, Some(item)) = (verdict.passed(), matched) else {
        let mut verdict = verdict;
        verdict.findings.push(Finding {
            severity: Severity::Error,
            message: format!(
                "the exact search for code {:?} returned no such item, nothing saved",
                call.query
            ),
        });
        return judged(&verdict, Items::default());
    };
    save_choice(&sim, &chosen.report, chosen.level, item.clone());
    judged(&verdict, Items { items: vec![item] })
}

/// The request for one level of the report's connected list: level 1 at the top, level 2
/// under the saved project.
fn list_call(
    data: &Seed,
    report_id: &str,
    level: u8,
) -> Result<FetchListCall, (StatusCode, &'static str)> {
    let Some(report) = data.report(report_id) else {
        return Err((StatusCode::NOT_FOUND, "No such report."));
    };
    let mut call = FetchListCall::new("*");
    if let Some(language) = data.user(&report.owner).and_then(|u| u.language.as_deref()) {
        call.lang = language
            .chars()
            .take(2)
            .collect::<String>()
            .to_ascii_uppercase();
    }
    match level {
        1 => {}
        2 => match report.list_choices.get(LIST_LEVELS[0]) {
            Some(project) => call.levels = vec![project.short_code.clone()],
            None => return Err((StatusCode::BAD_REQUEST, "Choose a project first.")),
        },
        _ => {
            return Err((
                StatusCode::BAD_REQUEST,
                "The list level must be 1 (Project) or 2 (Task).",
            ));
        }
    }
    Ok(call)
}

/// Saves a level's choice; a new project clears the task chosen under the old one.
fn save_choice(sim: &SimHandle, report_id: &str, level: u8, item: ListChoice) {
    let mut inner = sim.lock();
    if let Some(report) = inner.data.report_mut(report_id) {
        if level == 1 {
            report.list_choices.remove(LIST_LEVELS[1]);
        }
        report
            .list_choices
            .insert(LIST_LEVELS[usize::from(level) - 1].to_owned(), item);
    }
}

fn choice(item: &ListItem) -> ListChoice {
    ListChoice {
        code: item.code.clone(),
        short_code: item.short_code.clone(),
        text: item.text.clone(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttendeeSearch {
    expense: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    external_id: String,
}

async fn search_attendees(
    State(sim): State<SimHandle>,
    Json(form): Json<AttendeeSearch>,
) -> Response {
    let owner_login = {
        let inner = sim.lock();
        let Some((report, _)) = inner.data.expense(&form.expense) else {
            return refuse::<Attendees>(StatusCode::NOT_FOUND, "No such expense.");
        };
        inner
            .data
            .user(&report.owner)
            .map(|u| u.login_id.clone())
            .unwrap_or_default()
    };
    let typed = [
        &form.first_name,
        &form.last_name,
        &form.company,
        &form.title,
        &form.external_id,
    ];
    if typed.iter().all(|value| value.trim().is_empty()) {
        return refuse::<Attendees>(
            StatusCode::BAD_REQUEST,
            "Fill in at least one search field.",
        );
    }
    let call = AttendeeCall {
        first_name: form.first_name.trim().to_owned(),
        last_name: form.last_name.trim().to_owned(),
        company: form.company.trim().to_owned(),
        title: form.title.trim().to_owned(),
        external_id: form.external_id.trim().to_owned(),
        owner_login_id: owner_login,
        ..AttendeeCall::default()
    };
    let verdict = sim.fetch_attendees(&call).await;
    let attendees: Vec<AttendeeEntry> = verdict
        .items
        .iter()
        .map(|a| AttendeeEntry {
            external_id: a.get("ExternalID").to_owned(),
            attendee_type_code: a.get("AttendeeTypeCode").to_owned(),
            first_name: a.get("FirstName").to_owned(),
            last_name: a.get("LastName").to_owned(),
            title: a.get("Title").to_owned(),
            company: a.get("Company").to_owned(),
        })
        .collect();
    let mut inner = sim.lock();
    if verdict.passed() {
        inner
            .found_attendees
            .insert(form.expense.clone(), attendees.clone());
    } else {
        inner.found_attendees.remove(&form.expense);
    }
    drop(inner);
    judged(&verdict, Attendees { attendees })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddAttendee {
    expense: String,
    external_id: String,
}

async fn add_attendee(State(sim): State<SimHandle>, Json(add): Json<AddAttendee>) -> Response {
    let mut inner = sim.lock();
    let found = inner
        .found_attendees
        .get(&add.expense)
        .and_then(|found| found.iter().find(|a| a.external_id == add.external_id))
        .cloned();
    let Some(attendee) = found else {
        return refuse::<Attendees>(
            StatusCode::NOT_FOUND,
            "That attendee is not in this expense's last search results; search again.",
        );
    };
    let expense = inner
        .data
        .reports
        .iter_mut()
        .find_map(|report| report.expense_mut(&add.expense));
    let Some(expense) = expense else {
        return refuse::<Attendees>(StatusCode::NOT_FOUND, "No such expense.");
    };
    if !expense
        .attendees
        .iter()
        .any(|a| a.external_id == attendee.external_id)
    {
        expense.attendees.push(attendee);
    }
    let attendees = expense.attendees.clone();
    drop(inner);
    Json(Answer {
        passed: true,
        found: Attendees { attendees },
        findings: Vec::new(),
    })
    .into_response()
}
