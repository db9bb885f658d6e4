//! The demo pages: an expense report that looks like Concur Expense, with Launch URL fields
//! whose buttons open the connector in a popup, as Concur does (issue 5, "the first run shows
//! the whole story").
//!
//! | Route | What |
//! |---|---|
//! | `GET /` | the seed's reports |
//! | `GET /expense/{reportId}` | one report: header, expenses, allocations and their fields |
//! | `GET /request/{requestId}` | one travel request (Concur Request): header, expected expenses, allocations |
//! | `GET /_sim/demo/open?v=4&source=ENTRY&id=…` | mints a fresh signed launch, 303 to the connector (`&product=request` for Concur Request) |
//! | `POST /_sim/demo/reset` | restores the seed's data, 303 to `/` |
//! | `GET /_sim/demo/assets/{demo.css,demo.js}` | the only files the pages load |
//! | `/_sim/demo/list…`, `/_sim/demo/attendees/…` | Fetch List and Fetch Attendee, see `fetch` |
//! | `POST /_sim/demo/submit`, `GET /_sim/demo/workflow` | Submit and the workflow status, see `workflow` |
//!
//! A Launch URL field shows its value read-only, with a button beside it. The button is a
//! link to the `open` route; `demo.js` turns the click into
//! `window.open(url, name, "width=400,height=400")`, watches `popup.closed` and reloads the
//! page when the popup closes, so the value the connector wrote shows (Concur refreshes its
//! form the same way). Without JavaScript the link opens in a new tab.
//!
//! Stable hooks for browser tests: buttons carry `data-launch="v4-entry-<expenseId>"`,
//! `v4-header-<reportId>`, `v4-allocation-<allocationId>` or `v1-entry-<expenseId>`; the value
//! of a launch field sits in `data-field="<level>-<id>-<fieldId>"` (level `header`, `entry`,
//! `allocation`), with nothing but the value as its text. On a request page the buttons are
//! `data-launch="request-header-<requestId>"`, `request-entry-<expectedExpenseId>`,
//! `request-allocation-<allocationId>`, the values `data-field="request-<level>-<id>-<fieldId>"`.
//!
//! The header's connected list Project → Task sits in `data-list="project"` / `"task"` (the
//! saved value in `data-list-value`, the search box `data-list-query`, its button
//! `data-list-search`, the drop-down `data-list-options`, a refused answer's findings in
//! `data-list-findings`). Each expense's attendees sit in `data-attendees="<expenseId>"`:
//! saved ones `data-attendee="<ExternalID>"`, the search form `data-attendee-search`, results
//! `data-attendee-result="<ExternalID>"` with an `data-attendee-add` button, findings in
//! `data-attendee-findings`.
//!
//! The workflow card sits in `data-workflow="<reportId>"` with `data-workflow-state`
//! (`not_submitted`, `pending`, `approved`, `sent_back`, `submitted`); its label is
//! `data-workflow-label`, a send back's comment `data-workflow-comment`, the delivery's
//! explanation `data-workflow-delivery="<outcome>"`, the button `data-submit="<reportId>"`.
//! While pending, `demo.js` polls the status and reloads the page once it changes.
//!
//! `?as=<user UUID>` on a report or request page launches as that user (one of the owner's delegates,
//! context `PROXY`, in the delegate's language); by default the owner launches.

mod fetch;
mod workflow;

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::Environment;
use serde::{Deserialize, Serialize};

use super::launch::{MintError, V1LaunchRequest, V4LaunchRequest};
use super::seed::{
    Allocation, AttendeeEntry, ExpectedExpense, Expense, Field, Report, Seed, TravelRequest, User,
};
use super::state::SimHandle;
use concur_protocol::launch::{Product, Source};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("demo/base.html")),
    ("index.html", include_str!("demo/index.html")),
    ("fields.html", include_str!("demo/fields.html")),
    ("report.html", include_str!("demo/report.html")),
    ("request.html", include_str!("demo/request.html")),
    ("message.html", include_str!("demo/message.html")),
];
const STYLESHEET: &str = include_str!("demo/demo.css");
const SCRIPT: &str = include_str!("demo/demo.js");

/// The pages load only the simulator's own stylesheet and script, and submit only to it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Compiled once; `.html` templates auto-escape. A unit test renders every page.
static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        if let Err(error) = env.add_template(name, source) {
            tracing::error!(template = name, %error, "demo template does not compile");
        }
    }
    env
});

pub(crate) fn routes() -> Router<SimHandle> {
    Router::new()
        .route("/", get(index))
        .route("/expense/{report_id}", get(report_page))
        .route("/request/{request_id}", get(request_page))
        .route("/_sim/demo/open", get(open))
        .route("/_sim/demo/reset", post(reset))
        .route("/_sim/demo/assets/demo.css", get(stylesheet))
        .route("/_sim/demo/assets/demo.js", get(script))
        .merge(fetch::routes())
        .merge(workflow::routes())
}

async fn index(State(sim): State<SimHandle>) -> Response {
    let data = sim.snapshot();
    let reports: Vec<_> = data
        .reports
        .iter()
        .map(|report| ReportRow {
            href: format!("/expense/{}", report.id),
            name: report.name.clone(),
            owner: data.user(&report.owner).map(full_name).unwrap_or_default(),
            date: report.report_date.clone(),
            total: money(report.total(), &report.currency),
            status: report.approval_status_name(),
            expenses: report.expenses.len(),
        })
        .collect();
    let requests = data
        .requests
        .iter()
        .map(|request| RequestRow {
            href: format!("/request/{}", request.id),
            name: request.name.clone(),
            owner: data.user(&request.owner).map(full_name).unwrap_or_default(),
            dates: format!("{} – {}", request.start_date, request.end_date),
            total: money(request.total(), &request.currency),
            status: request.approval_status_name(),
            expenses: request.expenses.len(),
        })
        .collect();
    render(
        StatusCode::OK,
        "index.html",
        IndexView {
            company: data.company.name.clone(),
            reports,
            requests,
        },
    )
}

#[derive(Debug, Deserialize)]
struct ReportQuery {
    /// Launch as this user (a delegate of the owner) instead of the owner.
    #[serde(rename = "as")]
    acting: Option<String>,
}

async fn report_page(
    State(sim): State<SimHandle>,
    Path(report_id): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Response {
    let data = sim.snapshot();
    let Some(report) = data.report(&report_id) else {
        return message(
            StatusCode::NOT_FOUND,
            "No such report",
            "The simulator's data has no report with this id.",
        );
    };
    let owner = data.user(&report.owner);
    let Some(acting) = acting_user(&data, &report.owner, query.acting.as_deref()) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Cannot act for this report",
            "That user is neither the report owner nor one of the owner's delegates.",
        );
    };
    let workflow = workflow::WorkflowView::of(&sim, report);
    let view = ReportView::new(&data, report, owner, acting, workflow);
    render(StatusCode::OK, "report.html", view)
}

/// A travel request as Concur Request shows it: header, expected expenses, allocations,
/// with Launch URL fields on each level (`?as=` as on the report page).
async fn request_page(
    State(sim): State<SimHandle>,
    Path(request_id): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Response {
    let data = sim.snapshot();
    let Some(request) = data.travel_request(&request_id) else {
        return message(
            StatusCode::NOT_FOUND,
            "No such request",
            "The simulator's data has no travel request with this id.",
        );
    };
    let Some(acting) = acting_user(&data, &request.owner, query.acting.as_deref()) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Cannot act for this request",
            "That user is neither the request owner nor one of the owner's delegates.",
        );
    };
    render(
        StatusCode::OK,
        "request.html",
        RequestView::new(&data, request, acting),
    )
}

/// Who launches from a page of `owner`'s item: the owner, or the `?as=` user when that is
/// one of the owner's delegates (`None`: someone else). `Some(None)`: an owner missing
/// from the seed (not possible for a validated seed).
fn acting_user<'a>(data: &'a Seed, owner: &str, acting: Option<&str>) -> Option<Option<&'a User>> {
    match acting.filter(|id| !id.is_empty()) {
        None => Some(data.user(owner)),
        Some(id) => data
            .user(id)
            .filter(|user| data.may_act_for(&user.id, owner))
            .map(Some),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenQuery {
    /// Launch protocol: `4` or `1`.
    v: u8,
    /// v4 only: `expense` (default) or `request` (Concur Request).
    product: Option<String>,
    /// v4 only: `HEADER`, `ENTRY` or `ALLOCATION`.
    source: Option<String>,
    /// The item's id (report, expense or allocation).
    id: String,
    /// The clicking user when not the owner.
    #[serde(rename = "as")]
    acting: Option<String>,
}

/// What Concur does on a click: mint a signed launch for the item and send the browser there.
async fn open(State(sim): State<SimHandle>, Query(query): Query<OpenQuery>) -> Response {
    let acting = query.acting.filter(|id| !id.is_empty());
    let product = match query.product.as_deref() {
        None | Some("expense") => Product::Expense,
        Some("request") if query.v == 4 => Product::Request,
        Some(_) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Cannot launch",
                "The product must be expense or request (Concur Request launches are v4).",
            );
        }
    };
    let minted = match query.v {
        4 => {
            let Some(source) = query.source.as_deref().and_then(Source::parse) else {
                return message(
                    StatusCode::BAD_REQUEST,
                    "Cannot launch",
                    "A v4 launch needs source=HEADER, ENTRY or ALLOCATION.",
                );
            };
            let mut request = V4LaunchRequest::new(source, query.id);
            request.product = product;
            request.logged_in_user_id = acting;
            sim.mint_v4(&request)
        }
        1 => {
            let mut request = V1LaunchRequest::new(query.id);
            request.user_id = acting;
            sim.mint_v1(&request)
        }
        _ => {
            return message(
                StatusCode::BAD_REQUEST,
                "Cannot launch",
                "The launch version must be 4 or 1.",
            );
        }
    };
    match minted {
        Ok(launch) => Redirect::to(&launch.url).into_response(),
        Err(error) => {
            let status = match error {
                MintError::NotADelegate { .. } => StatusCode::BAD_REQUEST,
                MintError::UnknownItem { .. } | MintError::UnknownUser(_) => StatusCode::NOT_FOUND,
            };
            message(status, "Cannot launch", &error.to_string())
        }
    }
}

async fn reset(State(sim): State<SimHandle>) -> Redirect {
    sim.reset();
    Redirect::to("/")
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

fn message(status: StatusCode, title: &str, text: &str) -> Response {
    render(status, "message.html", minijinja::context! { title, text })
}

fn render(status: StatusCode, name: &str, context: impl Serialize) -> Response {
    let rendered = PAGES
        .get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(&context)));
    let (status, body) = match rendered {
        Ok(html) => (status, html),
        Err(error) => {
            tracing::error!(template = name, %error, "demo page rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>The demo page failed to render.</p>"
                    .to_owned(),
            )
        }
    };
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    (status, headers, body).into_response()
}

#[derive(Debug, Serialize)]
struct IndexView {
    company: String,
    reports: Vec<ReportRow>,
    requests: Vec<RequestRow>,
}

#[derive(Debug, Serialize)]
struct RequestRow {
    href: String,
    name: String,
    owner: String,
    dates: String,
    total: String,
    status: &'static str,
    expenses: usize,
}

/// Everything the request page shows, already formatted.
#[derive(Debug, Serialize)]
struct RequestView {
    /// The product name in the top bar.
    app: &'static str,
    company: String,
    id: String,
    request_id: String,
    name: String,
    status: &'static str,
    owner: String,
    start: String,
    end: String,
    total: String,
    purpose: Option<String>,
    destination: Option<String>,
    policy: Option<String>,
    comment: Option<String>,
    acting: Option<Person>,
    people: Vec<Person>,
    fields: Vec<FieldView>,
    expenses: Vec<ExpectedExpenseView>,
}

#[derive(Debug, Serialize)]
struct ExpectedExpenseView {
    id: String,
    expense_type: String,
    amount: String,
    date: String,
    vendor: Option<String>,
    location: Option<String>,
    purpose: Option<String>,
    fields: Vec<FieldView>,
    allocations: Vec<AllocationView>,
}

#[derive(Debug, Serialize)]
struct ReportRow {
    href: String,
    name: String,
    owner: String,
    date: String,
    total: String,
    status: &'static str,
    expenses: usize,
}

/// Everything the report page shows, already formatted.
#[derive(Debug, Serialize)]
struct ReportView {
    company: String,
    id: String,
    name: String,
    status: &'static str,
    owner: String,
    date: String,
    total: String,
    purpose: Option<String>,
    policy: Option<String>,
    /// Who launches (name, language), and who could (the owner and the owner's delegates).
    acting: Option<Person>,
    people: Vec<Person>,
    fields: Vec<FieldView>,
    /// The connected list Project → Task (Fetch List), level 1 first.
    lists: Vec<ListFieldView>,
    expenses: Vec<ExpenseView>,
    /// The owner's language: a send back's comment is written in it.
    owner_language: String,
    /// Submit and the workflow status.
    workflow: workflow::WorkflowView,
}

/// One level of the header's connected list.
#[derive(Debug, Serialize)]
struct ListFieldView {
    level: usize,
    label: &'static str,
    /// `data-list` hook: the label in lower case.
    hook: String,
    /// The saved choice as `short code — text`.
    value: Option<String>,
    /// Level 2 opens once level 1 is chosen.
    enabled: bool,
}

#[derive(Debug, Serialize)]
struct Person {
    id: String,
    name: String,
    language: String,
    role: &'static str,
    href: String,
    current: bool,
}

#[derive(Debug, Serialize)]
struct ExpenseView {
    id: String,
    expense_type: String,
    amount: String,
    date: String,
    vendor: Option<String>,
    location: Option<String>,
    purpose: Option<String>,
    payment_type: Option<String>,
    fields: Vec<FieldView>,
    allocations: Vec<AllocationView>,
    /// Attendees added from a Fetch Attendee search.
    attendees: Vec<AttendeeEntry>,
    /// The allocation table's column labels (the allocation form's fields).
    allocation_fields: Vec<String>,
}

#[derive(Debug, Serialize)]
struct AllocationView {
    id: String,
    percentage: String,
    account_code: Option<String>,
    fields: Vec<FieldView>,
}

#[derive(Debug, Serialize)]
struct FieldView {
    label: String,
    value: String,
    /// Set for the level's Launch URL field.
    launch: Option<LaunchView>,
}

/// A Launch URL field's hooks and links.
#[derive(Debug, Serialize)]
struct LaunchView {
    /// `data-field` of the value element.
    field: String,
    /// `data-launch` and `href` of the v4 button.
    v4: String,
    v4_href: String,
    /// The v1 button, for entries only (legacy Launch External URL v1).
    v1: Option<String>,
    v1_href: Option<String>,
}

impl ReportView {
    fn new(
        data: &Seed,
        report: &Report,
        owner: Option<&User>,
        acting: Option<&User>,
        workflow: workflow::WorkflowView,
    ) -> Self {
        let acting_id = acting
            .filter(|a| owner.is_none_or(|o| o.id != a.id))
            .map(|a| a.id.clone());
        let launcher = Launcher {
            acting: acting_id.as_deref(),
            product: Product::Expense,
        };
        let page = format!("/expense/{}", report.id);
        let people = people(data, &page, &report.owner, acting);
        let expenses = report
            .expenses
            .iter()
            .map(|expense| ExpenseView::new(data, report, expense, &launcher))
            .collect();
        Self {
            company: data.company.name.clone(),
            id: report.id.clone(),
            name: report.name.clone(),
            status: report.approval_status_name(),
            owner: owner.map(full_name).unwrap_or_default(),
            date: report.report_date.clone(),
            total: money(report.total(), &report.currency),
            purpose: report.business_purpose.clone(),
            policy: report.policy.clone(),
            acting: acting.map(|user| person(&page, user, "", acting)),
            people,
            fields: fields(
                data,
                &data.fields,
                Source::Header,
                &report.custom_data,
                &report.id,
                &launcher,
            ),
            lists: list_fields(report),
            expenses,
            owner_language: owner
                .and_then(|o| o.language.clone())
                .unwrap_or_else(|| "en".to_owned()),
            workflow,
        }
    }
}

impl ExpenseView {
    fn new(data: &Seed, report: &Report, expense: &Expense, launcher: &Launcher<'_>) -> Self {
        let allocations = allocation_views(data, &data.fields, &expense.allocations, launcher);
        Self {
            id: expense.id.clone(),
            expense_type: data
                .expense_type(&expense.expense_type)
                .map(|t| t.name.clone())
                .unwrap_or_else(|| expense.expense_type.clone()),
            amount: money(expense.posted_amount(), &report.currency),
            date: expense.transaction_date.clone(),
            vendor: expense.vendor.clone(),
            location: expense.location.as_ref().map(|l| l.name.clone()),
            purpose: expense.business_purpose.clone(),
            payment_type: data
                .payment_type(&expense.payment_type)
                .map(|p| p.name.clone()),
            fields: fields(
                data,
                &data.fields,
                Source::Entry,
                &expense.custom_data,
                &expense.id,
                launcher,
            ),
            allocations,
            attendees: expense.attendees.clone(),
            allocation_fields: data
                .fields_of(Source::Allocation)
                .map(|f| f.label.clone())
                .collect(),
        }
    }
}

impl RequestView {
    fn new(data: &Seed, request: &TravelRequest, acting: Option<&User>) -> Self {
        let owner = data.user(&request.owner);
        let acting_id = acting
            .filter(|a| owner.is_none_or(|o| o.id != a.id))
            .map(|a| a.id.clone());
        let launcher = Launcher {
            acting: acting_id.as_deref(),
            product: Product::Request,
        };
        let page = format!("/request/{}", request.id);
        let form = &data.request_fields;
        let expenses = request
            .expenses
            .iter()
            .map(|expense| ExpectedExpenseView::new(data, request, expense, &launcher))
            .collect();
        let with_time = |date: &str, time: &Option<String>| match time {
            Some(time) => format!("{date} {time}"),
            None => date.to_owned(),
        };
        Self {
            app: "Request",
            company: data.company.name.clone(),
            id: request.id.clone(),
            request_id: request.request_id.clone(),
            name: request.name.clone(),
            status: request.approval_status_name(),
            owner: owner.map(full_name).unwrap_or_default(),
            start: with_time(&request.start_date, &request.start_time),
            end: with_time(&request.end_date, &request.end_time),
            total: money(request.total(), &request.currency),
            purpose: request.business_purpose.clone(),
            destination: request.main_destination.as_ref().map(|l| l.name.clone()),
            policy: request.policy.clone(),
            comment: request.comment.clone(),
            acting: acting.map(|user| person(&page, user, "", acting)),
            people: people(data, &page, &request.owner, acting),
            fields: fields(
                data,
                form,
                Source::Header,
                &request.custom_data,
                &request.id,
                &launcher,
            ),
            expenses,
        }
    }
}

impl ExpectedExpenseView {
    fn new(
        data: &Seed,
        request: &TravelRequest,
        expense: &ExpectedExpense,
        launcher: &Launcher<'_>,
    ) -> Self {
        let form = &data.request_fields;
        Self {
            id: expense.id.clone(),
            expense_type: data
                .expense_type(&expense.expense_type)
                .map(|t| t.name.clone())
                .unwrap_or_else(|| expense.expense_type.clone()),
            amount: money(expense.amount, &request.currency),
            date: expense.transaction_date.clone(),
            vendor: expense.vendor.clone(),
            location: expense.location.as_ref().map(|l| l.name.clone()),
            purpose: expense.business_purpose.clone(),
            fields: fields(
                data,
                form,
                Source::Entry,
                &expense.custom_data,
                &expense.id,
                launcher,
            ),
            allocations: allocation_views(data, form, &expense.allocations, launcher),
        }
    }
}

/// The allocations of an expense or expected expense, with the fields of `form`.
fn allocation_views(
    data: &Seed,
    form: &[Field],
    allocations: &[Allocation],
    launcher: &Launcher<'_>,
) -> Vec<AllocationView> {
    allocations
        .iter()
        .map(|allocation| AllocationView {
            id: allocation.id.clone(),
            percentage: format!("{}%", trim_number(allocation.percentage)),
            account_code: allocation.account_code.clone(),
            fields: fields(
                data,
                form,
                Source::Allocation,
                &allocation.custom_data,
                &allocation.id,
                launcher,
            ),
        })
        .collect()
}

/// The owner and the owner's delegates, as links to `page` launching as each of them.
fn people(data: &Seed, page: &str, owner: &str, acting: Option<&User>) -> Vec<Person> {
    data.user(owner)
        .into_iter()
        .map(|o| (o, "owner"))
        .chain(
            data.users
                .iter()
                .filter(|u| u.id != owner && data.may_act_for(&u.id, owner))
                .map(|u| (u, "delegate")),
        )
        .map(|(user, role)| person(page, user, role, acting))
        .collect()
}

fn list_fields(report: &Report) -> Vec<ListFieldView> {
    fetch::LIST_LEVELS
        .iter()
        .enumerate()
        .map(|(index, label)| ListFieldView {
            level: index + 1,
            label,
            hook: label.to_ascii_lowercase(),
            value: report
                .list_choices
                .get(*label)
                .map(|c| format!("{} — {}", c.short_code, c.text)),
            enabled: index == 0
                || report
                    .list_choices
                    .contains_key(fetch::LIST_LEVELS[index - 1]),
        })
        .collect()
}

/// Builds the launch links of one page (all with the same acting user and product).
struct Launcher<'a> {
    acting: Option<&'a str>,
    product: Product,
}

impl Launcher<'_> {
    fn href(&self, version: u8, source: Option<Source>, id: &str) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("v", &version.to_string());
        if self.product == Product::Request {
            query.append_pair("product", self.product.as_str());
        }
        if let Some(source) = source {
            query.append_pair("source", source.as_str());
        }
        query.append_pair("id", id);
        if let Some(acting) = self.acting {
            query.append_pair("as", acting);
        }
        format!("/_sim/demo/open?{}", query.finish())
    }

    /// Expense hooks: `data-launch="v4-<level>-<id>"` (and `v1-entry-<id>`), values in
    /// `data-field="<level>-<id>-<field>"`; Request hooks: `request-<level>-<id>` and
    /// `request-<level>-<id>-<field>` (Concur Request has no v1 launch).
    fn view(&self, level: Source, item_id: &str, field: &Field) -> LaunchView {
        let level_name = level.as_str().to_ascii_lowercase();
        if self.product == Product::Request {
            return LaunchView {
                field: format!("request-{level_name}-{item_id}-{}", field.id),
                v4: format!("request-{level_name}-{item_id}"),
                v4_href: self.href(4, Some(level), item_id),
                v1: None,
                v1_href: None,
            };
        }
        let (v1, v1_href) = if level == Source::Entry {
            (
                Some(format!("v1-entry-{item_id}")),
                Some(self.href(1, None, item_id)),
            )
        } else {
            (None, None)
        };
        LaunchView {
            field: format!("{level_name}-{item_id}-{}", field.id),
            v4: format!("v4-{level_name}-{item_id}"),
            v4_href: self.href(4, Some(level), item_id),
            v1,
            v1_href,
        }
    }
}

/// Every field of the level in `form` (Expense's or Request's), in seed order; list values
/// show as `code — name`.
fn fields(
    data: &Seed,
    form: &[Field],
    level: Source,
    values: &std::collections::BTreeMap<String, String>,
    item_id: &str,
    launcher: &Launcher<'_>,
) -> Vec<FieldView> {
    form.iter()
        .filter(|field| field.level == level)
        .map(|field| {
            let raw = values.get(&field.id).cloned().unwrap_or_default();
            let value = match data.field_list(field) {
                Some(list) if !raw.is_empty() => list
                    .item_by_id(&raw)
                    .map(|item| format!("{} — {}", item.code, item.name))
                    .unwrap_or(raw),
                _ => raw,
            };
            FieldView {
                label: field.label.clone(),
                value,
                launch: field.launch.then(|| launcher.view(level, item_id, field)),
            }
        })
        .collect()
}

fn person(page: &str, user: &User, role: &'static str, acting: Option<&User>) -> Person {
    let current = acting.is_some_and(|a| a.id == user.id);
    let href = if role == "owner" {
        page.to_owned()
    } else {
        format!("{page}?as={}", user.id)
    };
    Person {
        id: user.id.clone(),
        name: full_name(user),
        language: user.language.clone().unwrap_or_else(|| "en".to_owned()),
        role,
        href,
        current,
    }
}

fn full_name(user: &User) -> String {
    format!("{} {}", user.first_name, user.last_name)
}

fn money(amount: f64, currency: &str) -> String {
    format!("{amount:.2} {currency}")
}

fn trim_number(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}
