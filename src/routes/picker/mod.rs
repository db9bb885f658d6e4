//! The popup after the launch: the picker page, and Done / Cancel.
//!
//! `GET /launch/session` shows the item, its current value, a search and the values the
//! item allows (or a text box). The form posts to `/launch/session/done`, which checks the
//! session's CSRF token and hands the write to a task of its own ([`write`]); it answers
//! the outcome when Concur answers within `picker.done_wait`, else a "still saving" page
//! that reloads the session page until the outcome is known. When Concur fails the same
//! form comes back with the user's choice still selected and a Retry button.

mod view;
mod write;

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawForm, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use self::view::{Finished, Notice, View, finished, lookup_status, still_saving};
use self::write::{Outcome, WriteJob};
use crate::concur::{ConcurError, ExpenseItem, Failure, UserToken};
use crate::launch::{LaunchContext, Product};
use crate::pages::PageError;
use crate::pages::i18n::Lang;
use crate::picker::{self, Entered, PlanError};
use crate::session::{AttemptState, KeptForm, LaunchSession, Opened, WriteFailure};
use crate::state::AppState;
use crate::store::StoreError;
use crate::values::{self, Invalid};

pub use super::paths::{DONE as DONE_PATH, SESSION as SESSION_PATH};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(SESSION_PATH, get(page))
        // A reload or bookmark of the Done address goes back to the picker (or its result).
        .route(
            DONE_PATH,
            axum::routing::post(done).get(|| async { Redirect::to(SESSION_PATH) }),
        )
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    #[serde(default)]
    q: String,
}

/// What the form posts. Every field is optional so a broken form gets a page, not a 422.
#[derive(Debug, Default, Deserialize)]
struct DoneForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    code: Option<String>,
    value: Option<String>,
    #[serde(default)]
    q: String,
}

impl DoneForm {
    fn kept(&self) -> KeptForm {
        KeptForm {
            q: values::search_text(&self.q).to_owned(),
            selected: self.code.clone(),
            typed: self.value.clone().unwrap_or_default(),
        }
    }
}

async fn page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Opened { id, session } = match open(&state, &headers).await {
        Ok(opened) => opened,
        Err(refused) => return refused.into_response(),
    };
    let lang = Lang::from_code(&session.launch.language);
    if let Some(response) = settled(&state, &id, lang, &session, false).await {
        return response;
    }
    let item = match page_item(&state, &id, &session.launch).await {
        Ok(item) => item,
        Err(failure) => return item_failure(&failure).in_lang(lang).into_response(),
    };
    let view = View::new(&state, &session.launch, item.as_ref(), lang, &session.csrf);
    log_unsavable(&view, item.as_ref());
    // The last failed write comes back with its form; else a fresh form (a malformed query
    // is just no search).
    let failed = failed_attempt(&session).filter(|_| query.is_none());
    let (status, form, notice) = match failed {
        Some((form, failure)) => (status_of(&failure), form, Some(Notice::failed(&failure))),
        None => {
            let q = query
                .and_then(|q| serde_urlencoded::from_str::<PageQuery>(&q).ok())
                .unwrap_or_default()
                .q;
            let form = KeptForm {
                q: values::search_text(&q).to_owned(),
                selected: view.current().map(str::to_owned),
                typed: String::new(),
            };
            (StatusCode::OK, form, None)
        }
    };
    if let Some(response) = search_refused(&state, &id, &session, &view, &form).await {
        return response;
    }
    view.render(&state, status, &form, notice).await
}

/// The item for the picker page: the session's recent read, else read now and remembered.
async fn page_item(
    state: &AppState,
    id: &str,
    launch: &LaunchContext,
) -> Result<Option<ExpenseItem>, ConcurError> {
    if let Some(item) = state.sessions.recent_item(id).await {
        return Ok(Some(item));
    }
    let item = read_item(state, id, launch).await?;
    state.sessions.remember_item(id, item.as_ref()).await;
    Ok(item)
}

/// Every view of the list runs a lookup: a session searching too fast gets the page
/// without one (429 with `Retry-After`), and the search box to try again in a moment.
async fn search_refused(
    state: &AppState,
    id: &str,
    session: &LaunchSession,
    view: &View<'_>,
    form: &KeptForm,
) -> Option<Response> {
    if state.values.is_free_text() {
        return None;
    }
    let refused = state.values.admit_search(id).await.err()?;
    if refused.first {
        tracing::info!(
            company = %session.launch.company_domain,
            retry_after_ms = refused.retry_after.as_millis() as u64,
            "searches refused: this session searches faster than values.search_rate allows"
        );
    }
    let mut response = view.render_unsearched(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        form,
        Notice::key("search_rate_limited"),
    );
    let seconds = refused.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    Some(response)
}

async fn done(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let Opened { id, session } = match open(&state, &headers).await {
        Ok(opened) => opened,
        Err(refused) => return refused.into_response(),
    };
    let lang = Lang::from_code(&session.launch.language);
    let form = match checked_form(&session, &body) {
        Ok(form) => form,
        Err(refused) => return refused.in_lang(lang).into_response(),
    };
    if let Some(response) = settled(&state, &id, lang, &session, form.action == "cancel").await {
        return response;
    }
    let kept = form.kept();
    let item = match done_item(&state, &id, &session, lang, &kept).await {
        Ok(item) => item,
        Err(response) => return response,
    };
    let view = View::new(&state, &session.launch, Some(&item), lang, &session.csrf);
    let plan = match plan(&state, &session, &item, &view, &form).await {
        Ok(plan) => plan,
        Err((status, notice)) => return view.render(&state, status, &kept, Some(notice)).await,
    };
    let job = WriteJob {
        id,
        session: session.clone(),
        item: item.clone(),
        plan,
        form: kept.clone(),
    };
    match write::write(&state, job).await {
        Outcome::Saved(value) => finished(&state, lang, Finished::Saved(&value)),
        Outcome::StillSaving => still_saving(&state, lang, StatusCode::ACCEPTED),
        Outcome::Failed(failure) => {
            failed_page(&state, lang, &session, Some(&item), &kept, &failure).await
        }
        Outcome::StoreDown(error) => store_unavailable(&error).in_lang(lang).into_response(),
    }
}

/// The item as Concur has it now, read afresh for Done; else the page that answers Done
/// without it (the form comes back with the choice kept).
async fn done_item(
    state: &AppState,
    id: &str,
    session: &LaunchSession,
    lang: Lang,
    kept: &KeptForm,
) -> Result<ExpenseItem, Response> {
    match read_item(state, id, &session.launch).await {
        Ok(Some(item)) => Ok(item),
        Ok(None) => {
            let failure = write::not_configured();
            Err(failed_page(state, lang, session, None, kept, &failure).await)
        }
        Err(error) => {
            let (status, notice) = read_failure(&error);
            let view = View::new(state, &session.launch, None, lang, &session.csrf);
            Err(view.render(state, status, kept, Some(notice.retry())).await)
        }
    }
}

/// The posted form, once its CSRF token is this session's; else the refusal.
fn checked_form(session: &LaunchSession, body: &[u8]) -> Result<DoneForm, PageError> {
    let refused =
        |status, title| PageError::new(status, title, "form_expired_message", "reload_hint");
    let form = serde_urlencoded::from_bytes::<DoneForm>(body)
        .map_err(|_| refused(StatusCode::BAD_REQUEST, "bad_form_title"))?;
    if !session.csrf_matches(&form.csrf) {
        tracing::warn!(company = %session.launch.company_domain, "done refused: the form's csrf token does not match its session");
        return Err(refused(StatusCode::FORBIDDEN, "form_expired_title"));
    }
    Ok(form)
}

/// The answer when the session is past choosing: saved, still saving, or (for Cancel)
/// cancelled. A value saved by another tab is never reported as "nothing changed".
async fn settled(
    state: &AppState,
    id: &str,
    lang: Lang,
    session: &LaunchSession,
    cancel: bool,
) -> Option<Response> {
    if let Some(saved) = &session.saved {
        tracing::info!(company = %session.launch.company_domain, "session already saved; nothing written");
        return Some(finished(state, lang, Finished::Saved(&saved.value)));
    }
    if let Some(attempt) = &session.attempt
        && write::running(state, id, attempt).await
    {
        return Some(still_saving(state, lang, StatusCode::OK));
    }
    if cancel {
        tracing::info!(company = %session.launch.company_domain, user = %session.launch.user_id, "picker cancelled; nothing written");
        return Some(finished(state, lang, Finished::Cancelled));
    }
    None
}

/// The write Done would make, or the status and notice that say why not.
async fn plan(
    state: &AppState,
    session: &LaunchSession,
    item: &ExpenseItem,
    view: &View<'_>,
    form: &DoneForm,
) -> Result<picker::WritePlan, (StatusCode, Notice)> {
    let entered = entered(state, view, form).await?;
    picker::plan_write(&state.picker, &session.launch, item, &entered).map_err(|error| match error {
        PlanError::Target(error) => {
            tracing::warn!(%error, fields = %field_ids(item), "done refused: no field to write");
            (StatusCode::CONFLICT, Notice::key("not_configured"))
        }
        PlanError::Invalid(invalid) => (StatusCode::BAD_REQUEST, Notice::invalid(invalid)),
    })
}

/// What the user entered, checked against what the item allows.
async fn entered(
    state: &AppState,
    view: &View<'_>,
    form: &DoneForm,
) -> Result<Entered, (StatusCode, Notice)> {
    let invalid = |invalid: Invalid| (StatusCode::BAD_REQUEST, Notice::invalid(invalid));
    if state.values.is_free_text() {
        let typed = form.value.as_deref().unwrap_or_default();
        return values::check_free_text(typed)
            .map(Entered::Typed)
            .map_err(invalid);
    }
    let code = form
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let code = code.ok_or_else(|| invalid(Invalid::Empty))?;
    match state.values.resolve(code, &view.facts).await {
        Ok(Some(choice)) => Ok(Entered::Chosen(choice)),
        Ok(None) => Err((StatusCode::BAD_REQUEST, Notice::key("error_not_allowed"))),
        Err(error) => Err((lookup_status(&error), Notice::lookup(&error))),
    }
}

/// The form again after a failed write, with the failure's notice.
async fn failed_page(
    state: &AppState,
    lang: Lang,
    session: &LaunchSession,
    item: Option<&ExpenseItem>,
    form: &KeptForm,
    failure: &WriteFailure,
) -> Response {
    let view = View::new(state, &session.launch, item, lang, &session.csrf);
    view.render(
        state,
        status_of(failure),
        form,
        Some(Notice::failed(failure)),
    )
    .await
}

/// The last attempt's form and failure, when it failed (or was abandoned mid-write).
fn failed_attempt(session: &LaunchSession) -> Option<(KeptForm, WriteFailure)> {
    let attempt = session.attempt.as_ref()?;
    let failure = match &attempt.state {
        AttemptState::Failed(failure) => failure.clone(),
        AttemptState::Pending => WriteFailure {
            status: StatusCode::GATEWAY_TIMEOUT.as_u16(),
            message: "write_uncertain".to_owned(),
            detail: None,
            uncertain: true,
        },
    };
    Some((attempt.form.clone(), failure))
}

fn status_of(failure: &WriteFailure) -> StatusCode {
    StatusCode::from_u16(failure.status).unwrap_or(StatusCode::BAD_GATEWAY)
}

/// The administrator's hint for a launch whose field cannot be saved: which ids the item has.
fn log_unsavable(view: &View<'_>, item: Option<&ExpenseItem>) {
    if let (Some(error), Some(item)) = (view.unsavable(), item) {
        tracing::warn!(%error, fields = %field_ids(item), "this launch cannot save: the picker says so and offers no Done");
    }
}

fn field_ids(item: &ExpenseItem) -> String {
    let ids: Vec<&str> = item.fields.iter().map(|f| f.id.as_str()).collect();
    if ids.is_empty() {
        "(the item lists no custom fields)".to_owned()
    } else {
        ids.join(", ")
    }
}

/// The session behind the cookie, or the page that says why there is none.
async fn open(state: &AppState, headers: &HeaderMap) -> Result<Opened, PageError> {
    match state.sessions.open(headers).await {
        Ok(Some(opened)) => Ok(opened),
        Ok(None) => Err(PageError::new(
            StatusCode::GONE,
            "expired_title",
            "expired_message",
            "click_again",
        )),
        Err(error) => Err(store_unavailable(&error)),
    }
}

fn store_unavailable(error: &StoreError) -> PageError {
    tracing::error!(%error, "session store unavailable");
    PageError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable_title",
        "unavailable_message",
        "reload_hint",
    )
}

/// The item as Concur has it now (`None` when `[concur]` is not configured).
async fn read_item(
    state: &AppState,
    id: &str,
    launch: &LaunchContext,
) -> Result<Option<ExpenseItem>, ConcurError> {
    let Some(concur) = &state.concur else {
        return Ok(None);
    };
    let token: Option<UserToken> = state.sessions.user_token(id).await;
    concur
        .read_item(&launch.item_url, token.as_ref(), Some(&launch.language))
        .await
        .map(|item| Some(with_signed_owner(item, launch)))
        .inspect_err(|error| {
            tracing::warn!(%error, correlation_id = error.correlation_id(), "reading the launched item failed");
        })
}

/// A travel request's expected expense and allocation bodies do not name the request's
/// owner, whom an expected-expense PUT with the company token must name (`userId`): the
/// signed launch does (docs/protocol.md §9.8).
fn with_signed_owner(mut item: ExpenseItem, launch: &LaunchContext) -> ExpenseItem {
    if item.location.product() == Product::Request && item.owner.is_none() {
        item.owner = launch.report_owner_user_id.clone();
    }
    item
}

fn item_failure(error: &ConcurError) -> PageError {
    let (status, message) = match error.classify() {
        Failure::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "item_unavailable"),
        Failure::Forbidden => (StatusCode::BAD_GATEWAY, "item_forbidden"),
        Failure::Validation(_) | Failure::Other => (StatusCode::BAD_GATEWAY, "item_other"),
    };
    PageError::new(status, "item_title", message, "reload_hint")
}

/// The status and message when reading the item at Done failed.
fn read_failure(error: &ConcurError) -> (StatusCode, Notice) {
    match error.classify() {
        Failure::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            Notice::key("write_unavailable"),
        ),
        Failure::Forbidden => (StatusCode::BAD_GATEWAY, Notice::key("write_forbidden")),
        Failure::Validation(_) | Failure::Other => {
            (StatusCode::BAD_GATEWAY, Notice::key("write_other"))
        }
    }
}
