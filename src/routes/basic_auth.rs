//! HTTP Basic with the registered connector credentials: how test connection and every
//! server-to-server callout authenticate Concur (docs/protocol.md §2, §12.1).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

use crate::state::AppState;

/// `Ok` when the request carries the registered credentials (compared in constant time);
/// otherwise [`Unauthorized`], after one rate-limited summary log line that names the route
/// (`what`) and never the credentials.
pub fn check(state: &AppState, headers: &HeaderMap, what: &str) -> Result<(), Unauthorized> {
    match basic_credentials(headers) {
        Some((user, password)) if state.credentials.matches(&user, &password) => Ok(()),
        _ => {
            if crate::telemetry::AUTH_FAILURES.admit() {
                tracing::warn!("{what} refused: missing or wrong basic credentials");
            }
            Err(Unauthorized)
        }
    }
}

/// Missing or wrong Basic credentials: `401` with the `Basic` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthorized;

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let mut response = plain(StatusCode::UNAUTHORIZED, "Unauthorized");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="concur-connector""#),
        );
        response
    }
}

/// A `text/plain` body with an explicit length: Concur rejects chunked responses.
pub(crate) fn plain(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CONTENT_LENGTH, &body.len().to_string()),
        ],
        body,
    )
        .into_response()
}

/// Standard alphabet, padding optional: some clients strip it.
const BASIC: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The `user:password` pair of an `Authorization: Basic …` header, split at the first
/// colon (passwords may contain colons). `None` for anything malformed.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = BASIC.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose;

    fn header(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn basic(raw: &str) -> String {
        format!("Basic {}", general_purpose::STANDARD.encode(raw))
    }

    #[test]
    fn splits_at_the_first_colon() {
        assert_eq!(
            basic_credentials(&header(&basic("user:pa:ss"))),
            Some(("user".into(), "pa:ss".into()))
        );
    }

    #[test]
    fn protocol_example_1_probe_decodes() {
        let headers = header("Basic QWNtZUNvbm5lY3RvcjAxOlMzY3IzdC1QYSQkdzByZCE=");
        assert_eq!(
            basic_credentials(&headers),
            Some(("AcmeConnector01".into(), "S3cr3t-Pa$$w0rd!".into()))
        );
    }

    #[test]
    fn refuses_malformed_headers() {
        let not_utf8 = format!(
            "Basic {}",
            general_purpose::STANDARD.encode([0xff, b':', 0xfe])
        );
        for (value, why) in [
            ("Bearer abc", "other scheme"),
            ("Basic", "no credentials"),
            ("Basic !!!notbase64", "bad base64"),
            (basic("nocolon").as_str(), "no colon"),
            (not_utf8.as_str(), "not utf-8"),
        ] {
            assert_eq!(basic_credentials(&header(value)), None, "{why}");
        }
    }

    #[test]
    fn scheme_is_case_insensitive_and_padding_optional() {
        let encoded = general_purpose::STANDARD_NO_PAD.encode("user:password1");
        assert!(basic_credentials(&header(&format!("basic {encoded}"))).is_some());
    }
}
