//! The one error a person is shown: a status and a short page in their language.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::Pages;
use super::i18n::Lang;

/// A refusal a person reads: the status, and the message keys (of [`super::i18n`]) of the
/// error page in the reader's language.
///
/// As a response it is the bare status carrying itself as an extension; the router's
/// page-error layer renders it with the operator's templates ([`PageError::render`]), so a
/// handler can return it (or `?` it) without holding the templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: &'static str,
    pub hint: Option<&'static str>,
    pub lang: Lang,
}

impl PageError {
    /// A page with a hint (what the user can do), in English until [`Self::in_lang`].
    pub const fn new(
        status: StatusCode,
        title: &'static str,
        message: &'static str,
        hint: &'static str,
    ) -> Self {
        Self {
            status,
            title,
            message,
            hint: Some(hint),
            lang: Lang::En,
        }
    }

    /// The same page in `lang`.
    pub const fn in_lang(self, lang: Lang) -> Self {
        Self { lang, ..self }
    }

    /// The page itself, with the page security headers.
    pub fn render(&self, pages: &Pages) -> Response {
        #[derive(Serialize)]
        struct ErrorContext<'a> {
            lang: &'a str,
            status: u16,
            title: &'a str,
            message: &'a str,
            hint: Option<&'a str>,
        }
        let lang = self.lang;
        pages.render(
            self.status,
            "error.html",
            ErrorContext {
                lang: lang.tag(),
                status: self.status.as_u16(),
                title: lang.text(self.title),
                message: lang.text(self.message),
                hint: self.hint.map(|key| lang.text(key)),
            },
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Renders a [`PageError`] a handler answered with; any other response passes unchanged.
pub fn render_page_error(pages: &Pages, mut response: Response) -> Response {
    match response.extensions_mut().remove::<PageError>() {
        Some(error) => error.render(pages),
        None => response,
    }
}
