//! The pages of the popup after the launch: the picker form, "still saving", and the page
//! that closes the popup.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::{DONE_PATH, SESSION_PATH};
use crate::concur::{ExpenseItem, MAX_VALUE_CHARS};
use crate::launch::{LaunchContext, Product, Source};
use crate::pages::i18n::{Catalog, Lang};
use crate::picker::{self, TargetError};
use crate::session::{KeptForm, WriteFailure};
use crate::state::AppState;
use crate::values::{Choice, Invalid, ItemFacts, LookupError};

/// A message above the form.
pub(super) struct Notice {
    key: String,
    detail: Option<String>,
    n: Option<usize>,
    retry: bool,
}

impl Notice {
    pub fn key(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            detail: None,
            n: None,
            retry: false,
        }
    }

    pub fn lookup(error: &LookupError) -> Self {
        Self::key(error.user_message_key())
    }

    pub fn invalid(invalid: Invalid) -> Self {
        Self {
            n: Some(match invalid {
                Invalid::TooLong { max } => max,
                _ => MAX_VALUE_CHARS,
            }),
            ..Self::key(invalid.message_key())
        }
    }

    /// A write that did not save: Concur's words when it refused the value, and Retry
    /// unless the value itself was refused.
    pub fn failed(failure: &WriteFailure) -> Self {
        Self {
            detail: failure.detail.clone(),
            retry: failure.detail.is_none(),
            ..Self::key(&failure.message)
        }
    }

    /// Concur failed: the button says Retry.
    pub fn retry(self) -> Self {
        Self {
            retry: true,
            ..self
        }
    }
}

/// The HTTP status of a failed lookup.
pub(super) fn lookup_status(error: &LookupError) -> StatusCode {
    match error {
        LookupError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// The summary of the item and everything the picker page needs besides the form.
pub(super) struct View<'a> {
    launch: &'a LaunchContext,
    item: Option<ItemSummary>,
    current: Option<String>,
    /// The field Done writes, or why there is none (then Done is not offered).
    target: Option<Result<String, TargetError>>,
    pub facts: ItemFacts,
    lang: Lang,
    csrf: &'a str,
}

#[derive(Serialize)]
struct ItemSummary {
    /// The message key suffix of the item's heading (`HEADER`, `REQUEST_ENTRY`, ...).
    kind: &'static str,
    /// The message key of the report (or request) name's label.
    name_label: &'static str,
    report_name: Option<String>,
    /// A travel request's dates, `start – end` (either alone when only one is known).
    dates: Option<String>,
    expense_type: Option<String>,
    amount: Option<String>,
    currency: Option<String>,
    date: Option<String>,
    vendor: Option<String>,
}

impl<'a> View<'a> {
    pub fn new(
        state: &AppState,
        launch: &'a LaunchContext,
        item: Option<&ExpenseItem>,
        lang: Lang,
        csrf: &'a str,
    ) -> Self {
        let target = item.map(|item| picker::target_field(&state.picker.target, launch, item));
        let field = item
            .zip(target.as_ref().and_then(|t| t.as_deref().ok()))
            .and_then(|(i, id)| i.field(id));
        Self {
            launch,
            item: item.map(|i| ItemSummary {
                kind: heading_kind(i),
                name_label: match i.location.product() {
                    Product::Expense => "report",
                    Product::Request => "request",
                },
                report_name: i.report_name.clone(),
                dates: dates(i.start_date.as_deref(), i.end_date.as_deref()),
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
            target,
            facts: ItemFacts::new(launch, item),
            lang,
            csrf,
        }
    }

    /// The field's current value (a list field: its code, else what Concur shows).
    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Why nothing can be saved for this item, if so: the administrator must act.
    pub fn unsavable(&self) -> Option<&TargetError> {
        self.target.as_ref().and_then(|t| t.as_ref().err())
    }

    /// The picker page. A target field the item cannot take replaces `notice` (and Done is
    /// not offered), since no choice can be saved anyway.
    pub async fn render(
        &self,
        state: &AppState,
        status: StatusCode,
        form: &KeptForm,
        notice: Option<Notice>,
    ) -> Response {
        let mut notice = notice;
        if self.unsavable().is_some() {
            notice = Some(Notice::key("not_configured"));
        }
        let found = self.choices(state, form).await;
        self.render_with(state, status, form, notice, found)
    }

    /// The picker page without a lookup (no values listed), e.g. when the session searched
    /// too often: `notice` says why, and the search box stays to try again.
    pub fn render_unsearched(
        &self,
        state: &AppState,
        status: StatusCode,
        form: &KeptForm,
        notice: Notice,
    ) -> Response {
        self.render_with(state, status, form, Some(notice), (Vec::new(), false, None))
    }

    fn render_with(
        &self,
        state: &AppState,
        status: StatusCode,
        form: &KeptForm,
        notice: Option<Notice>,
        (choices, truncated, lookup): (Vec<Choice>, bool, Option<LookupError>),
    ) -> Response {
        let (mut status, mut notice) = (status, notice);
        if notice.is_none()
            && let Some(error) = lookup
        {
            status = lookup_status(&error);
            notice = Some(Notice::lookup(&error));
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
        let (notice_text, notice_detail, retry) = match notice {
            Some(n) => {
                let mut text = lang.text(&n.key).to_owned();
                if let Some(count) = n.n {
                    text = text.replace("{n}", &count.to_string());
                }
                (Some(text), n.detail, n.retry)
            }
            None => (None, None, false),
        };
        let mode = if state.values.is_free_text() {
            "text"
        } else {
            "list"
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
                field_id: self.target.as_ref().and_then(|t| t.as_deref().ok()),
                mode,
                session_path: SESSION_PATH,
                done_path: DONE_PATH,
                csrf: self.csrf,
                q: &form.q,
                choices: &choices,
                selected: form.selected.as_deref(),
                typed: &form.typed,
                truncated,
                max_results: state.values.max_results(),
                max_length: MAX_VALUE_CHARS,
                notice: notice_text,
                notice_detail,
                retry,
                can_save: state.concur.is_some() && self.unsavable().is_none(),
            },
        )
    }

    /// The values to offer: the search's results, with the user's choice kept on screen
    /// even when the search no longer shows it.
    async fn choices(
        &self,
        state: &AppState,
        form: &KeptForm,
    ) -> (Vec<Choice>, bool, Option<LookupError>) {
        if state.values.is_free_text() {
            return (Vec::new(), false, None);
        }
        let (mut choices, lookup) = match state.values.search(&form.q, &self.facts).await {
            Ok(found) => (found, None),
            Err(error) => (Vec::new(), Some(error)),
        };
        let truncated = choices.len() >= state.values.max_results();
        if let Some(code) = form.selected.as_deref()
            && !choices.iter().any(|c| c.code == code)
            && let Ok(Some(choice)) = state.values.resolve(code, &self.facts).await
        {
            choices.insert(0, choice);
        }
        (choices, truncated, lookup)
    }
}

/// The heading's message key suffix: the level, prefixed `REQUEST_` for a travel request.
fn heading_kind(item: &ExpenseItem) -> &'static str {
    match (item.location.product(), item.kind) {
        (Product::Expense, kind) => kind.as_str(),
        (Product::Request, Source::Header) => "REQUEST_HEADER",
        (Product::Request, Source::Entry) => "REQUEST_ENTRY",
        (Product::Request, Source::Allocation) => "REQUEST_ALLOCATION",
    }
}

fn dates(start: Option<&str>, end: Option<&str>) -> Option<String> {
    match (start, end) {
        (Some(start), Some(end)) if start != end => Some(format!("{start} – {end}")),
        (Some(day), _) | (None, Some(day)) => Some(day.to_owned()),
        (None, None) => None,
    }
}

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

/// How the popup ends.
pub(super) enum Finished<'a> {
    Saved(&'a str),
    Cancelled,
}

/// The page that closes the popup.
pub(super) fn finished(state: &AppState, lang: Lang, how: Finished<'_>) -> Response {
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
        StatusPage {
            lang: lang.tag(),
            page_id: "done-page",
            title,
            message,
            t: lang.catalog(),
            refresh_to: None,
        },
    )
}

/// The page shown while a write goes on: it reloads the session page, which shows the
/// outcome once it is known. No JavaScript needed.
pub(super) fn still_saving(state: &AppState, lang: Lang, status: StatusCode) -> Response {
    state.pages.render(
        status,
        "saving.html",
        StatusPage {
            lang: lang.tag(),
            page_id: "saving-page",
            title: lang.text("saving_title"),
            message: lang.text("saving_message").to_owned(),
            t: lang.catalog(),
            refresh_to: Some(SESSION_PATH),
        },
    )
}

#[derive(Serialize)]
struct StatusPage<'a> {
    lang: &'a str,
    page_id: &'a str,
    title: &'a str,
    message: String,
    t: &'a Catalog,
    refresh_to: Option<&'a str>,
}
