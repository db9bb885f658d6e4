//! The popup after the launch: the picker page, and Done / Cancel.
//!
//! `GET /launch/session` shows the item, its current value, a search and the values the
//! item allows (or a text box). The form posts to `/launch/session/done`, which checks the
//! session's CSRF token, writes the chosen value to Concur synchronously, logs one audit line
//! and answers a page that closes the popup. When Concur fails the same form comes back with
//! the user's choice still selected and a Retry button. A claim in the nonce store makes a
//! second Done (a double click, a second tab, another instance) write nothing.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawForm, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Redirect, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::concur::MAX_VALUE_CHARS;
use crate::concur::{ConcurError, ExpenseItem, Failure, UserToken};
use crate::launch::LaunchContext;
use crate::pages::i18n::{Catalog, Lang};
use crate::picker::{self, Entered};
use crate::session::{Opened, Saved};
use crate::startup::AppState;
use crate::store::{Freshness, StoreError};
use crate::values::{self, Choice, Invalid, ItemFacts, LookupError};

/// The clean URL the popup lives on after verification.
pub const SESSION_PATH: &str = "/launch/session";
/// Where the picker's form posts.
pub const DONE_PATH: &str = "/launch/session/done";

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

async fn page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Opened { id, session } = match open(&state, &headers).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let lang = Lang::from_code(&session.launch.language);
    if let Some(saved) = &session.saved {
        return finished(&state, lang, Finished::Saved(&saved.value));
    }
    let item = match state.sessions.recent_item(&id).await {
        Some(item) => Some(item),
        None => match read_item(&state, &id, &session.launch).await {
            Ok(item) => {
                state.sessions.remember_item(&id, item.as_ref()).await;
                item
            }
            Err(failure) => return item_failure(&state, lang, &failure),
        },
    };
    // A malformed query is just no search.
    let q = query
        .and_then(|q| serde_urlencoded::from_str::<PageQuery>(&q).ok())
        .unwrap_or_default()
        .q;
    let view = View::new(&state, &session.launch, item.as_ref(), lang, &session.csrf);
    let selected = view.current.clone();
    view.render(
        &state,
        StatusCode::OK,
        Form {
            q: q.trim(),
            selected,
            typed: String::new(),
        },
        None,
    )
    .await
}

async fn done(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let Opened { id, mut session } = match open(&state, &headers).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let lang = Lang::from_code(&session.launch.language);
    let Ok(form) = serde_urlencoded::from_bytes::<DoneForm>(&body) else {
        return state.pages.error_in(
            lang,
            StatusCode::BAD_REQUEST,
            "bad_form_title",
            "form_expired_message",
            Some("reload_hint"),
        );
    };
    if !session.csrf_matches(&form.csrf) {
        tracing::warn!(company = %session.launch.company_domain, "done refused: the form's csrf token does not match its session");
        return state.pages.error_in(
            lang,
            StatusCode::FORBIDDEN,
            "form_expired_title",
            "form_expired_message",
            Some("reload_hint"),
        );
    }
    if form.action == "cancel" {
        tracing::info!(company = %session.launch.company_domain, user = %session.launch.user_id, "picker cancelled; nothing written");
        return finished(&state, lang, Finished::Cancelled);
    }
    if let Some(saved) = &session.saved {
        tracing::info!(company = %session.launch.company_domain, "done again after a save; nothing written");
        return finished(&state, lang, Finished::Saved(&saved.value));
    }

    let kept = Form {
        q: form.q.trim(),
        selected: form.code.clone(),
        typed: form.value.clone().unwrap_or_default(),
    };
    let item = match read_item(&state, &id, &session.launch).await {
        Ok(item) => item,
        Err(error) => {
            // Concur failed before the write: the form comes back with the choice kept.
            let view = View::new(&state, &session.launch, None, lang, &session.csrf);
            let (status, notice) = write_failure(&error);
            return view
                .render(&state, status, kept, Some(notice.retry()))
                .await;
        }
    };
    let view = View::new(&state, &session.launch, item.as_ref(), lang, &session.csrf);
    let (Some(concur), Some(item)) = (&state.concur, item.as_ref()) else {
        tracing::error!("done refused: [concur] is not configured, so nothing can be written");
        return view
            .render(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                kept,
                Some(Notice::key("not_configured")),
            )
            .await;
    };

    // What the user entered, checked against what the item allows.
    let entered = match state.values.is_free_text() {
        true => {
            values::check_free_text(form.value.as_deref().unwrap_or_default()).map(Entered::Typed)
        }
        false => match form
            .code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            None => Err(Invalid::Empty),
            Some(code) => match state.values.resolve(code, &view.facts).await {
                Ok(Some(choice)) => Ok(Entered::Chosen(choice)),
                Ok(None) => {
                    return view
                        .render(
                            &state,
                            StatusCode::BAD_REQUEST,
                            kept,
                            Some(Notice::key("error_not_allowed")),
                        )
                        .await;
                }
                Err(error) => {
                    let status = lookup_status(&error);
                    return view
                        .render(&state, status, kept, Some(Notice::lookup(&error)))
                        .await;
                }
            },
        },
    };
    let target = match picker::target_field(&state.picker.target, &session.launch, item) {
        Ok(target) => target,
        Err(error) => {
            tracing::error!(%error, "done refused: no field to write");
            return view
                .render(
                    &state,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    kept,
                    Some(Notice::key("not_configured")),
                )
                .await;
        }
    };
    let field = item.field(&target);
    let value = match entered
        .and_then(|e| picker::field_value(&e, state.picker.write, field).map(|v| (e, v)))
    {
        Ok(value) => value,
        Err(invalid) => {
            return view
                .render(
                    &state,
                    StatusCode::BAD_REQUEST,
                    kept,
                    Some(Notice::invalid(invalid)),
                )
                .await;
        }
    };
    let (entered, value) = value;
    let shown = match &entered {
        Entered::Chosen(choice) => choice.code.clone(),
        Entered::Typed(text) => text.clone(),
    };

    // One writer per launch: the claim outlives the session, so nothing writes twice.
    let claim = format!("write|{id}");
    match state
        .nonces
        .remember(&claim, state.sessions.lifetime())
        .await
    {
        Ok(Freshness::Fresh) => {}
        Ok(Freshness::Replayed) => {
            // Another Done holds the claim: it has saved, or it is still writing.
            if let Ok(Opened { session: now, .. }) = open(&state, &headers).await
                && let Some(saved) = now.saved
            {
                return finished(&state, lang, Finished::Saved(&saved.value));
            }
            return view
                .render(
                    &state,
                    StatusCode::CONFLICT,
                    kept,
                    Some(Notice::key("write_in_progress")),
                )
                .await;
        }
        Err(error) => return store_unavailable(&state, lang, &error),
    }

    let token = state.sessions.user_token(&id).await;
    let old = field.and_then(|f| f.code.clone().or_else(|| f.value.clone()));
    let written = concur
        .write_field(item, &target, &value, token.as_ref())
        .await;
    audit(
        &session.launch,
        item,
        &target,
        old.as_deref(),
        &shown,
        &written,
    );
    // Concur's copy has changed (or may have): the next page reads it again.
    state.sessions.remember_item(&id, None).await;
    match written {
        Ok(_) => {
            session.saved = Some(Saved {
                field: target,
                value: shown.clone(),
            });
            if let Err(error) = state.sessions.save(&id, &session).await {
                // Concur has the value; the claim still stops a second write.
                tracing::warn!(%error, "could not record the save in the session");
            }
            finished(&state, lang, Finished::Saved(&shown))
        }
        Err(error) => {
            if let Err(error) = state.nonces.forget(&claim).await {
                tracing::warn!(%error, "could not release the write claim; retry after the session ends");
            }
            let (status, notice) = write_failure(&error);
            view.render(&state, status, kept, Some(notice.retry()))
                .await
        }
    }
}

/// The session behind the cookie, or the page that says why there is none.
async fn open(state: &AppState, headers: &HeaderMap) -> Result<Opened, Response> {
    match state.sessions.open(headers).await {
        Ok(Some(opened)) => Ok(opened),
        Ok(None) => Err(state.pages.error_in(
            Lang::En,
            StatusCode::GONE,
            "expired_title",
            "expired_message",
            Some("click_again"),
        )),
        Err(error) => Err(store_unavailable(state, Lang::En, &error)),
    }
}

fn store_unavailable(state: &AppState, lang: Lang, error: &StoreError) -> Response {
    tracing::error!(%error, "session store unavailable");
    state.pages.error_in(
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable_title",
        "unavailable_message",
        Some("reload_hint"),
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
        .map(Some)
        .inspect_err(|error| {
            tracing::warn!(%error, correlation_id = error.correlation_id(), "reading the launched item failed");
        })
}

fn item_failure(state: &AppState, lang: Lang, error: &ConcurError) -> Response {
    let (status, message) = match error.classify() {
        Failure::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "item_unavailable"),
        Failure::Forbidden => (StatusCode::BAD_GATEWAY, "item_forbidden"),
        Failure::Validation(_) | Failure::Other => (StatusCode::BAD_GATEWAY, "item_other"),
    };
    state
        .pages
        .error_in(lang, status, "item_title", message, Some("reload_hint"))
}

fn lookup_status(error: &LookupError) -> StatusCode {
    match error {
        LookupError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// The status and message for a failed write; Concur's own validation text is shown.
fn write_failure(error: &ConcurError) -> (StatusCode, Notice) {
    match error.classify() {
        Failure::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            Notice::key("write_unavailable"),
        ),
        Failure::Forbidden => (StatusCode::BAD_GATEWAY, Notice::key("write_forbidden")),
        Failure::Validation(message) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Notice {
                key: "write_validation",
                detail: Some(message),
                n: None,
                retry: false,
            },
        ),
        Failure::Other => (StatusCode::BAD_GATEWAY, Notice::key("write_other")),
    }
}

/// One line per write attempt, for auditors: who, what, where, before and after.
fn audit(
    launch: &LaunchContext,
    item: &ExpenseItem,
    field: &str,
    old: Option<&str>,
    new: &str,
    written: &Result<crate::concur::WriteOutcome, ConcurError>,
) {
    let item_id = item
        .allocation_id
        .as_deref()
        .or(item.entry_id.as_deref())
        .or(item.report_id.as_deref())
        .unwrap_or_default();
    match written {
        Ok(outcome) => tracing::info!(
            target: "audit",
            outcome = "written",
            company = %launch.company_domain,
            user = %launch.user_id,
            item_kind = item.kind.as_str(),
            item = item_id,
            field,
            old = old.unwrap_or_default(),
            new,
            status = outcome.status,
            correlation_id = outcome.correlation_id.as_deref().unwrap_or_default(),
            "concur field write"
        ),
        Err(error) => tracing::warn!(
            target: "audit",
            outcome = "failed",
            company = %launch.company_domain,
            user = %launch.user_id,
            item_kind = item.kind.as_str(),
            item = item_id,
            field,
            old = old.unwrap_or_default(),
            new,
            error = %error,
            correlation_id = error.correlation_id().unwrap_or_default(),
            "concur field write"
        ),
    }
}

enum Finished<'a> {
    Saved(&'a str),
    Cancelled,
}

/// The page that closes the popup.
fn finished(state: &AppState, lang: Lang, how: Finished<'_>) -> Response {
    #[derive(Serialize)]
    struct DonePage<'a> {
        lang: &'a str,
        page_id: &'a str,
        title: &'a str,
        message: String,
        t: &'a Catalog,
    }
    let (title, message) = match how {
        Finished::Saved(value) => (
            lang.text("saved_title"),
            lang.text("saved_message").replace("{value}", value),
        ),
        Finished::Cancelled => (
            lang.text("cancelled_title"),
            lang.text("cancelled_message").to_owned(),
        ),
    };
    state.pages.render(
        StatusCode::OK,
        "done.html",
        DonePage {
            lang: lang.tag(),
            page_id: "done-page",
            title,
            message,
            t: lang.catalog(),
        },
    )
}

/// A message above the form.
struct Notice {
    key: &'static str,
    detail: Option<String>,
    n: Option<usize>,
    retry: bool,
}

impl Notice {
    fn key(key: &'static str) -> Self {
        Self {
            key,
            detail: None,
            n: None,
            retry: false,
        }
    }
    fn lookup(error: &LookupError) -> Self {
        Self::key(error.user_message_key())
    }
    fn invalid(invalid: Invalid) -> Self {
        Self {
            n: Some(match invalid {
                Invalid::TooLong { max } => max,
                _ => MAX_VALUE_CHARS,
            }),
            ..Self::key(invalid.message_key())
        }
    }
    /// Concur failed: the button says Retry.
    fn retry(self) -> Self {
        Self {
            retry: true,
            ..self
        }
    }
}

/// What the user had in the form, kept across a failed Done.
struct Form<'a> {
    q: &'a str,
    selected: Option<String>,
    typed: String,
}

/// The summary of the item and everything the picker page needs besides the form.
struct View<'a> {
    launch: &'a LaunchContext,
    item: Option<ItemSummary>,
    current: Option<String>,
    field_id: Option<String>,
    facts: ItemFacts,
    lang: Lang,
    csrf: &'a str,
}

#[derive(Serialize)]
struct ItemSummary {
    kind: &'static str,
    report_name: Option<String>,
    expense_type: Option<String>,
    amount: Option<String>,
    currency: Option<String>,
    date: Option<String>,
    vendor: Option<String>,
}

impl<'a> View<'a> {
    fn new(
        state: &AppState,
        launch: &'a LaunchContext,
        item: Option<&ExpenseItem>,
        lang: Lang,
        csrf: &'a str,
    ) -> Self {
        let field_id =
            item.and_then(|item| picker::target_field(&state.picker.target, launch, item).ok());
        let field = item
            .zip(field_id.as_deref())
            .and_then(|(i, id)| i.field(id));
        Self {
            launch,
            item: item.map(|i| ItemSummary {
                kind: i.kind.as_str(),
                report_name: i.report_name.clone(),
                expense_type: i
                    .expense_type_name
                    .clone()
                    .or_else(|| i.expense_type_code.clone()),
                amount: i.amount.as_deref().map(|a| lang.amount(a)),
                currency: i.currency.clone(),
                date: i.transaction_date.clone(),
                vendor: i.vendor.clone(),
            }),
            current: field.and_then(|f| f.code.clone().or_else(|| f.value.clone())),
            field_id,
            facts: ItemFacts::new(launch, item),
            lang,
            csrf,
        }
    }

    async fn render(
        &self,
        state: &AppState,
        status: StatusCode,
        form: Form<'_>,
        notice: Option<Notice>,
    ) -> Response {
        let mut notice = notice;
        let mut status = status;
        let mut choices = Vec::new();
        let mut truncated = false;
        if !state.values.is_free_text() {
            match state.values.search(form.q, &self.facts).await {
                Ok(found) => {
                    truncated = found.len() >= state.values.max_results();
                    choices = found;
                }
                Err(error) => {
                    if notice.is_none() {
                        status = lookup_status(&error);
                        notice = Some(Notice::lookup(&error));
                    }
                }
            }
            // Keep the user's choice on screen even when the search no longer shows it.
            if let Some(code) = form.selected.as_deref()
                && !choices.iter().any(|c| c.code == code)
                && let Ok(Some(choice)) = state.values.resolve(code, &self.facts).await
            {
                choices.insert(0, choice);
            }
        }
        let lang = self.lang;
        // The current value as the user knows it: a list field holds Concur's item id.
        let current = self.current.as_deref().map(|current| {
            choices
                .iter()
                .find(|c| c.code == current || c.list_item_id.as_deref() == Some(current))
                .map_or_else(
                    || current.to_owned(),
                    |c| format!("{} · {}", c.code, c.label),
                )
        });
        let (notice_text, notice_detail, retry) = match &notice {
            Some(n) => {
                let mut text = lang.text(n.key).to_owned();
                if let Some(count) = n.n {
                    text = text.replace("{n}", &count.to_string());
                }
                (Some(text), n.detail.clone(), n.retry)
            }
            None => (None, None, false),
        };
        #[derive(Serialize)]
        struct PickerPage<'a> {
            lang: &'a str,
            mobile: bool,
            title: &'a str,
            t: &'a Catalog,
            launch: &'a LaunchContext,
            item: Option<&'a ItemSummary>,
            current: Option<&'a str>,
            field_id: Option<&'a str>,
            mode: &'a str,
            session_path: &'a str,
            done_path: &'a str,
            csrf: &'a str,
            q: &'a str,
            choices: &'a [Choice],
            selected: Option<&'a str>,
            typed: &'a str,
            truncated: bool,
            max_results: usize,
            max_length: usize,
            notice: Option<String>,
            notice_detail: Option<String>,
            retry: bool,
            can_save: bool,
        }
        let mode = match state.values.is_free_text() {
            false => "list",
            true => "text",
        };
        state.pages.render(
            status,
            "picker.html",
            PickerPage {
                lang: lang.tag(),
                mobile: self.launch.is_mobile,
                title: lang.text(if mode == "list" {
                    "title_list"
                } else {
                    "title_text"
                }),
                t: lang.catalog(),
                launch: self.launch,
                item: self.item.as_ref(),
                current: current.as_deref(),
                field_id: self.field_id.as_deref(),
                mode,
                session_path: SESSION_PATH,
                done_path: DONE_PATH,
                csrf: self.csrf,
                q: form.q,
                choices: &choices,
                selected: form.selected.as_deref(),
                typed: &form.typed,
                truncated,
                max_results: state.values.max_results(),
                max_length: MAX_VALUE_CHARS,
                notice: notice_text,
                notice_detail,
                retry,
                can_save: state.concur.is_some(),
            },
        )
    }
}
