//! HTML pages: templates compiled once at start-up, auto-escaped, overridable by operators.
//!
//! Templates are embedded in the binary. An operator may put files with the same names in
//! `pages.template_dir` (branding, wording); those replace the embedded ones. Escaping stays
//! on for every `.html` template whatever the source, and no page loads anything external.

mod error;
pub mod i18n;

pub use error::{PageError, render_page_error};

use std::path::Path;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

/// Embedded templates: (name, source).
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("picker.html", include_str!("../../templates/picker.html")),
    ("done.html", include_str!("../../templates/done.html")),
    ("saving.html", include_str!("../../templates/saving.html")),
];

/// The stylesheet every page links, served from `/assets/connector.css`.
pub const STYLESHEET: &str = include_str!("../../templates/assets/connector.css");

/// The Done page's only script, served from `/assets/close.js`: it closes the popup.
pub const CLOSE_SCRIPT: &str = include_str!("../../templates/assets/close.js");

/// Pages may load only our own stylesheet, submit only to us, and never be framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

#[derive(Debug, thiserror::Error)]
pub enum PagesError {
    #[error("cannot read template {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("template {name} does not compile: {reason}")]
    Compile { name: String, reason: String },
}

/// The compiled templates.
pub struct Pages {
    env: Environment<'static>,
    /// `assets/connector.css`: embedded, or the operator's copy from the template directory.
    stylesheet: String,
}

impl Pages {
    /// Compiles the embedded templates, replaced by same-named files in `override_dir`.
    pub fn new(override_dir: Option<&Path>) -> Result<Self, PagesError> {
        let mut env = Environment::new();
        for (name, embedded) in TEMPLATES {
            let source = match override_dir
                .map(|dir| dir.join(name))
                .filter(|p| p.is_file())
            {
                Some(path) => std::fs::read_to_string(&path).map_err(|e| PagesError::Read {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?,
                None => (*embedded).to_owned(),
            };
            env.add_template_owned(*name, source)
                .map_err(|e| PagesError::Compile {
                    name: (*name).to_owned(),
                    reason: e.to_string(),
                })?;
        }
        let stylesheet = match override_dir
            .map(|dir| dir.join("assets/connector.css"))
            .filter(|p| p.is_file())
        {
            Some(path) => std::fs::read_to_string(&path).map_err(|e| PagesError::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?,
            None => STYLESHEET.to_owned(),
        };
        Ok(Self { env, stylesheet })
    }

    /// The stylesheet every page links.
    pub fn stylesheet(&self) -> &str {
        &self.stylesheet
    }

    /// Renders a page into a response with the page security headers.
    pub fn render(&self, status: StatusCode, name: &str, context: impl Serialize) -> Response {
        match self
            .env
            .get_template(name)
            .and_then(|t| t.render(minijinja::value::Serde(&context)))
        {
            Ok(html) => html_response(status, html),
            Err(error) => {
                tracing::error!(template = name, %error, "page rendering failed");
                html_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "<!doctype html><title>Error</title><p>Something went wrong. Please close this window and try again.</p>".to_owned(),
                )
            }
        }
    }
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn request_data_is_escaped() {
        let pages = Pages::new(None).unwrap();
        let html = body(pages.render(
            StatusCode::BAD_REQUEST,
            "error.html",
            serde_json::json!({"title": "<script>alert(1)</script>", "message": "a & b"}),
        ))
        .await;
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("a &amp; b"), "{html}");
    }

    #[tokio::test]
    async fn an_override_directory_replaces_a_template_and_keeps_escaping() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("error.html"),
            "<p class=custom>{{ title }}</p>",
        )
        .unwrap();
        let pages = Pages::new(Some(dir.path())).unwrap();
        let html = body(pages.render(
            StatusCode::FORBIDDEN,
            "error.html",
            serde_json::json!({"title": "<b>x</b>", "message": "m"}),
        ))
        .await;
        assert!(
            html.starts_with("<p class=custom>&lt;b&gt;x&lt;&#x2f;b&gt;</p>"),
            "{html}"
        );
    }

    #[tokio::test]
    async fn a_page_error_is_rendered_in_its_language_with_its_status() {
        let pages = Pages::new(None).unwrap();
        let error = PageError::new(
            StatusCode::GONE,
            "expired_title",
            "expired_message",
            "click_again",
        )
        .in_lang(i18n::Lang::De);
        // As a handler's answer it is the bare status until the router's layer renders it.
        let bare = error.into_response();
        assert_eq!(bare.status(), StatusCode::GONE);
        let page = render_page_error(&pages, bare);
        assert_eq!(page.status(), StatusCode::GONE);
        assert_eq!(
            page.headers()[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        let html = body(page).await;
        assert!(html.contains("lang=\"de\""), "{html}");
        assert!(
            html.contains(i18n::Lang::De.text("expired_title")),
            "{html}"
        );
        assert!(html.contains(i18n::Lang::De.text("click_again")), "{html}");
    }

    #[test]
    fn the_stylesheet_can_be_replaced_too() {
        assert_eq!(Pages::new(None).unwrap().stylesheet(), STYLESHEET);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("assets/connector.css"), "body{color:teal}").unwrap();
        let pages = Pages::new(Some(dir.path())).unwrap();
        assert_eq!(pages.stylesheet(), "body{color:teal}");
    }

    #[test]
    fn a_broken_override_is_refused_at_start_up_naming_the_template() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("error.html"), "{% if %}").unwrap();
        let error = Pages::new(Some(dir.path())).err().unwrap();
        assert!(error.to_string().contains("error.html"), "{error}");
    }
}
