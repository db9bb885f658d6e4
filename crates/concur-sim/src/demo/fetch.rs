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
    Attendee, AttendeeCall, FetchListCall, Finding, ListItem, SearchBy, Severity, Verdict,
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
    let call = list_call(&sim.lock().data, &query.report, query.level);
    let mut call = match call {
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
    let call = list_call(&sim.lock().data, &chosen.report, chosen.level);
    let mut call = match call {
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
    let Some(item) = matched else {
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
    if !verdict.passed() {
        return judged(&verdict, Items::default());
    }
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
    let call = match attendee_call(&sim, &form) {
        Ok(call) => call,
        Err((status, why)) => return refuse::<Attendees>(status, why),
    };
    let verdict = sim.fetch_attendees(&call).await;
    let attendees: Vec<AttendeeEntry> = verdict.items.iter().map(entry).collect();
    remember_found(
        &sim,
        &form.expense,
        verdict.passed().then(|| attendees.clone()),
    );
    judged(&verdict, Attendees { attendees })
}

/// The search form as Concur sends it, for the owner of the expense's report.
fn attendee_call(
    sim: &SimHandle,
    form: &AttendeeSearch,
) -> Result<AttendeeCall, (StatusCode, &'static str)> {
    let inner = sim.lock();
    let Some((report, _)) = inner.data.expense(&form.expense) else {
        return Err((StatusCode::NOT_FOUND, "No such expense."));
    };
    let owner_login_id = inner
        .data
        .user(&report.owner)
        .map(|u| u.login_id.clone())
        .unwrap_or_default();
    let typed = |value: &str| value.trim().to_owned();
    let call = AttendeeCall {
        first_name: typed(&form.first_name),
        last_name: typed(&form.last_name),
        company: typed(&form.company),
        title: typed(&form.title),
        external_id: typed(&form.external_id),
        owner_login_id,
        ..AttendeeCall::default()
    };
    let searched = [
        &call.first_name,
        &call.last_name,
        &call.company,
        &call.title,
        &call.external_id,
    ];
    if searched.iter().all(|value| value.is_empty()) {
        return Err((
            StatusCode::BAD_REQUEST,
            "Fill in at least one search field.",
        ));
    }
    Ok(call)
}

/// Keeps an accepted search's attendees (the ones "Add" may pick); a refused one offers none.
fn remember_found(sim: &SimHandle, expense: &str, found: Option<Vec<AttendeeEntry>>) {
    let mut inner = sim.lock();
    match found {
        Some(found) => {
            inner.found_attendees.insert(expense.to_owned(), found);
        }
        None => {
            inner.found_attendees.remove(expense);
        }
    }
}

fn entry(attendee: &Attendee) -> AttendeeEntry {
    AttendeeEntry {
        external_id: attendee.get("ExternalID").to_owned(),
        attendee_type_code: attendee.get("AttendeeTypeCode").to_owned(),
        first_name: attendee.get("FirstName").to_owned(),
        last_name: attendee.get("LastName").to_owned(),
        title: attendee.get("Title").to_owned(),
        company: attendee.get("Company").to_owned(),
    }
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
