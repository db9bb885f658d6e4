//! HTTP Basic with the registered connector credentials: how test connection and every
//! server-to-server callout authenticate Concur (docs/protocol.md §2, §12.1).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

use crate::credentials::ConnectorCredentials;
use crate::state::AppState;

/// `Ok` when the request carries the registered credentials (compared in constant time);
/// otherwise [`Unauthorized`], after one rate-limited summary log line that names the route
/// (`what`) and never the credentials.
pub fn check(state: &AppState, headers: &HeaderMap, what: &str) -> Result<(), Unauthorized> {
    if carries(headers, &state.credentials) {
        return Ok(());
    }
    if crate::telemetry::AUTH_FAILURES.admit() {
        tracing::warn!("{what} refused: missing or wrong basic credentials");
    }
    Err(Unauthorized)
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

/// Longest decoded `user:password` that can match: both halves are at most 50 ASCII
/// characters.
const LONGEST_PAIR: usize = 2 * 50 + 1;

/// Whether the `Authorization: Basic …` header carries `credentials`: what
/// [`basic_credentials`] reads, compared in constant time, decoded on the stack (this runs
/// on every test connection and callout).
fn carries(headers: &HeaderMap, credentials: &ConnectorCredentials) -> bool {
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, encoded)| encoded.trim())
    else {
        return false;
    };
    let mut decoded = [0u8; LONGEST_PAIR];
    // A longer pair does not fit, and could not have matched.
    let Ok(len) = BASIC.decode_slice(encoded, &mut decoded) else {
        return false;
    };
    let decoded = &decoded[..len];
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return false;
    };
    match (
        std::str::from_utf8(&decoded[..colon]),
        std::str::from_utf8(&decoded[colon + 1..]),
    ) {
        (Ok(user), Ok(password)) => credentials.matches(user, password),
        _ => false,
    }
}

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

    fn registered() -> ConnectorCredentials {
        ConnectorCredentials::new("AcmeConnector01", crate::config::secret("S3cr3t-Pa$$w0rd!"))
            .unwrap()
    }

    #[test]
    fn carries_exactly_the_registered_pair() {
        let creds = registered();
        for value in [
            "Basic QWNtZUNvbm5lY3RvcjAxOlMzY3IzdC1QYSQkdzByZCE=",
            "basic QWNtZUNvbm5lY3RvcjAxOlMzY3IzdC1QYSQkdzByZCE",
            "  Basic   QWNtZUNvbm5lY3RvcjAxOlMzY3IzdC1QYSQkdzByZCE=  ",
        ] {
            assert!(carries(&header(value), &creds), "{value}");
        }
        let long = "x".repeat(LONGEST_PAIR);
        for (value, why) in [
            (basic("AcmeConnector01:S3cr3t-Pa$$w0rd"), "short password"),
            (basic("AcmeConnector01:S3cr3t-Pa$$w0rd!!"), "long password"),
            (basic("acmeconnector01:S3cr3t-Pa$$w0rd!"), "user case"),
            (basic("AcmeConnector01S3cr3t-Pa$$w0rd!"), "no colon"),
            (
                basic(&format!("AcmeConnector01:{long}")),
                "too long to match",
            ),
            (
                "Bearer QWNtZUNvbm5lY3RvcjAxOlMzY3IzdC1QYSQkdzByZCE=".to_owned(),
                "scheme",
            ),
            ("Basic !!!".to_owned(), "bad base64"),
        ] {
            assert!(!carries(&header(&value), &creds), "{why}");
        }
        assert!(!carries(&HeaderMap::new(), &creds), "no header");
    }

    #[test]
    fn scheme_is_case_insensitive_and_padding_optional() {
        let encoded = general_purpose::STANDARD_NO_PAD.encode("user:password1");
        assert!(basic_credentials(&header(&format!("basic {encoded}"))).is_some());
    }
}
