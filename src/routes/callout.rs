//! What every server-to-server callout shares (Fetch List, Fetch Attendee, Event
//! Notification; docs/protocol.md §12.1): HTTP Basic with the registered credentials, an
//! empty authenticated request answered as a probe, an XML body read by the one safe
//! reader, and answers that always carry `Content-Length`.
//!
//! A callout handler reads: `let body = callout::admit(..)?` (extract and check), then its
//! own parse and search (call), then `callout::xml(..)` (render).

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use concur_protocol::callout::xml::{self, Element, XmlError};

use super::basic_auth::Unauthorized;
use crate::state::AppState;

/// What an authenticated callout request carried.
#[derive(Debug)]
pub enum Body {
    /// Nothing (or only whitespace): Concur's Test Connection may probe a service's
    /// endpoint this way, by GET or POST. The answer is the service's empty response.
    Probe,
    /// One XML document, its root element.
    Document(Element),
}

/// Why a callout request is not served.
#[derive(Debug)]
pub enum Refused {
    /// Missing or wrong Basic credentials: `401` with the challenge.
    Unauthorized(Unauthorized),
    /// A content type that is not XML: `415`.
    NotXml,
    /// Not one safe, well-formed document: `400` with the one-line reason.
    BadXml(XmlError),
}

impl From<Unauthorized> for Refused {
    fn from(refused: Unauthorized) -> Self {
        Refused::Unauthorized(refused)
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Unauthorized(refused) => refused.into_response(),
            Refused::NotXml => text(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected Content-Type: application/xml".to_owned(),
            ),
            Refused::BadXml(error) => text(
                StatusCode::BAD_REQUEST,
                format!("invalid XML body: {error}"),
            ),
        }
    }
}

/// Extract and check: the Basic credentials, then the body. An empty body is a
/// [`Body::Probe`]; a body with a content type that is not XML is refused; so is a body
/// that is not one safe, well-formed document (a `DOCTYPE`, an unknown entity, invalid
/// UTF-8, too deep), with a reason that never quotes the body. Bodies above the router's
/// limit were already refused with `413`.
pub fn admit(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    what: &'static str,
) -> Result<Body, Refused> {
    super::basic_auth::check(state, headers, what)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Body::Probe);
    }
    if let Some(content_type) = headers.get(header::CONTENT_TYPE)
        && !is_xml(content_type.to_str().unwrap_or_default())
    {
        return Err(Refused::NotXml);
    }
    xml::parse(body).map(Body::Document).map_err(|error| {
        tracing::info!(route = what, %error, "callout body refused");
        Refused::BadXml(error)
    })
}

/// `application/xml`, `text/xml` or any `+xml` type, with any parameters.
fn is_xml(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/xml" || essence == "text/xml" || essence.ends_with("+xml")
}

/// Render: `200` with an XML body, `application/xml; charset=utf-8` and an explicit
/// `Content-Length` (Concur does not accept chunked answers).
pub fn xml(body: String) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                "application/xml; charset=utf-8".to_owned(),
            ),
            (header::CONTENT_LENGTH, body.len().to_string()),
        ],
        body,
    )
        .into_response()
}

/// A short `text/plain` answer with an explicit `Content-Length`.
pub fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (header::CONTENT_LENGTH, body.len().to_string()),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_content_types_are_recognised_with_parameters() {
        for ok in [
            "application/xml",
            "application/xml; charset=utf-8",
            "Text/XML",
            "application/soap+xml",
        ] {
            assert!(is_xml(ok), "{ok}");
        }
        for wrong in ["application/json", "text/plain", "", "application/xml-dtd"] {
            assert!(!is_xml(wrong), "{wrong}");
        }
    }
}
