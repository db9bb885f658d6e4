//! Concur's error bodies, one shape per API family (docs/protocol.md §10 and §7.4).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// Which Concur API a path belongs to; decides the error body's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// `/oauth2/v0/...`: `{code, error, error_description, geolocation}`.
    OAuth,
    /// `/expensereports/v4/...`: the `ErrorMessage` JSON.
    V4,
    /// `/api/v3.0/...`: `{Message, Server-Time, Id}` JSON.
    V3,
    /// `/api/expense/expensereport/v1.1/...`: `<Error>` XML.
    V1,
    /// `/profile/identity/v4/...`: the SCIM `Error` JSON.
    Identity,
    /// `/travelrequest/v4/...`: `{errorCode, errorMessage}` JSON with the Travel Request
    /// codes (`missingRequiredParam`, `listValidationError`, `notFound`, ...).
    Request,
}

impl Family {
    /// `None` for paths outside the Concur surface (the `/_sim/` admin API).
    pub fn of(path: &str) -> Option<Self> {
        if path.starts_with("/oauth2/") {
            Some(Family::OAuth)
        } else if path.starts_with("/expensereports/v4/") {
            Some(Family::V4)
        } else if path.starts_with("/api/v3.0/") {
            Some(Family::V3)
        } else if path.starts_with("/api/expense/expensereport/v1.1/")
            || path.starts_with("/api/platform/notifications/v1.0/")
        {
            Some(Family::V1)
        } else if path.starts_with("/profile/identity/v4/") {
            Some(Family::Identity)
        } else if path.starts_with("/travelrequest/v4/") {
            Some(Family::Request)
        } else {
            None
        }
    }

    /// Whether calls of this family carry an access token (all but the token endpoint).
    pub fn is_api(self) -> bool {
        !matches!(self, Family::OAuth)
    }
}

/// One entry of v4 `validationErrors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ValidationError {
    pub id: String,
    pub message: String,
    pub source: String,
}

impl ValidationError {
    pub fn new(id: impl Into<String>, message: impl Into<String>, source: &str) -> Self {
        Self {
            id: id.into(),
            message: message.into(),
            source: source.to_owned(),
        }
    }
}

/// An error answer of the expense APIs (v4, v3, v1.1).
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub family: Family,
    pub status: StatusCode,
    pub message: String,
    pub path: String,
    pub validation: Vec<ValidationError>,
    /// Seconds for a `Retry-After` header (429 and injected 503).
    pub retry_after: Option<u64>,
    /// Travel Request's `errorCode`; `None`: the code of the status ([`request_code`]).
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(family: Family, status: StatusCode, path: &str, message: impl Into<String>) -> Self {
        Self {
            family,
            status,
            message: message.into(),
            path: path.to_owned(),
            validation: Vec::new(),
            retry_after: None,
            code: None,
        }
    }

    /// A Travel Request error with its documented `errorCode`.
    pub fn request(
        status: StatusCode,
        code: &'static str,
        path: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code: Some(code),
            ..Self::new(Family::Request, status, path, message)
        }
    }

    pub fn bad_request(family: Family, path: &str, message: impl Into<String>) -> Self {
        Self::new(family, StatusCode::BAD_REQUEST, path, message)
    }

    pub fn unauthorized(family: Family, path: &str, message: impl Into<String>) -> Self {
        Self::new(family, StatusCode::UNAUTHORIZED, path, message)
    }

    pub fn forbidden(family: Family, path: &str, message: impl Into<String>) -> Self {
        Self::new(family, StatusCode::FORBIDDEN, path, message)
    }

    pub fn not_found(family: Family, path: &str, message: impl Into<String>) -> Self {
        Self::new(family, StatusCode::NOT_FOUND, path, message)
    }

    /// 400 with `validationErrors` (v4) or the joined messages (v3, Travel Request; there
    /// the first error's `source` is the `errorCode`).
    pub fn validation(family: Family, path: &str, errors: Vec<ValidationError>) -> Self {
        let message = match family {
            Family::V4 => "Validation failed".to_owned(),
            _ => errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        };
        let code = match family {
            Family::Request => errors.first().and_then(|e| request_code_named(&e.source)),
            _ => None,
        };
        Self {
            validation: errors,
            code,
            ..Self::bad_request(family, path, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let id = uuid::Uuid::new_v4().to_string();
        let now = super::now_rfc3339();
        let mut response = match self.family {
            Family::V4 => {
                let validation = (!self.validation.is_empty()).then_some(&self.validation);
                let body = json!({
                    "errorId": id,
                    "errorMessage": self.message,
                    "httpStatus": http_status_text(self.status),
                    "path": self.path,
                    "timestamp": now,
                    "validationErrors": validation,
                });
                (self.status, axum::Json(body)).into_response()
            }
            Family::V3 | Family::OAuth => {
                let body = json!({ "Message": self.message, "Server-Time": now, "Id": id });
                (self.status, axum::Json(body)).into_response()
            }
            Family::Request => {
                let code = self.code.unwrap_or_else(|| request_code(self.status));
                let body = json!({
                    "errorCode": code,
                    "errorMessage": self.message,
                    "errorId": id,
                    "httpStatus": http_status_text(self.status),
                    "path": self.path,
                    "timestamp": now,
                });
                (self.status, axum::Json(body)).into_response()
            }
            Family::Identity => {
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": self.status.as_u16().to_string(),
                    "detail": self.message,
                });
                let mut response = (self.status, axum::Json(body)).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/scim+json"),
                );
                response
            }
            Family::V1 => {
                let body = format!(
                    "<Error><Message>{}</Message><Server-Time>{now}</Server-Time><Id>{id}</Id></Error>",
                    quick_xml::escape::escape(&self.message)
                );
                let mut response = (self.status, body).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/xml; charset=utf-8"),
                );
                response
            }
        };
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The Travel Request v4 error codes the simulator answers with.
const REQUEST_CODES: &[&str] = &[
    "badParam",
    "invalidJson",
    "invalidDate",
    "invalidUuid",
    "listValidationError",
    "unsupportedParam",
    "missingRequiredParam",
    "userNotFound",
    "idNotAllowed",
    "invalidUser",
    "permissionDenied",
    "userIsNotAllowed",
    "notFound",
    "timeOut",
    "internalServerError",
    "circuitBreaker",
];

/// The code named `name` (a [`ValidationError::source`]), if it is a Travel Request code.
fn request_code_named(name: &str) -> Option<&'static str> {
    REQUEST_CODES.iter().copied().find(|code| *code == name)
}

/// The Travel Request `errorCode` of an error answer that names none (faults, auth).
pub(crate) fn request_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "badParam",
        401 => "invalidUser",
        403 => "permissionDenied",
        404 => "notFound",
        408 => "timeOut",
        503 => "circuitBreaker",
        // 429 has no code of its own in the Travel Request table.
        _ => "internalServerError",
    }
}

/// `400 BAD_REQUEST`: "the http response code and phrase" of v4's `httpStatus`.
fn http_status_text(status: StatusCode) -> String {
    let phrase = status
        .canonical_reason()
        .unwrap_or("Unknown")
        .to_ascii_uppercase()
        .replace(' ', "_");
    format!("{} {phrase}", status.as_u16())
}

/// A token endpoint error (docs/protocol.md §7.4, the `/token` code table of the auth docs).
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    pub status: StatusCode,
    /// Concur's numeric code; absent on 5xx ("error message is in body").
    pub code: Option<u32>,
    pub error: &'static str,
    pub description: &'static str,
    pub geolocation: String,
    pub retry_after: Option<u64>,
}

impl OAuthError {
    /// The documented `/token` error for `code`.
    pub fn code(code: u32, geolocation: &str) -> Self {
        let (error, description) = match code {
            5 => ("invalid_grant", "Incorrect credentials. Please Retry"),
            16 => ("invalid_grant", "user lives elsewhere"),
            51 => ("invalid_request", "username was not supplied"),
            52 => ("invalid_request", "password was not supplied"),
            60 => (
                "invalid_grant",
                "these are not the grants you are looking for",
            ),
            61 => ("invalid_client", "client not found"),
            62 => ("invalid_request", "client_id was not supplied"),
            63 => ("invalid_request", "client_secret was not supplied"),
            64 => ("invalid_client", "Incorrect credentials. Please Retry"),
            65 => ("invalid_request", "grant_type was not supplied"),
            101 => ("invalid_request", "code was not supplied"),
            102 => ("invalid_request", "redirect_uri was not supplied"),
            103 => ("invalid_request", "code is bad or expired"),
            104 => (
                "invalid_grant",
                "redirect_uri does not match the previous grant",
            ),
            105 => ("invalid_grant", "this grant was not issued to you!"),
            106 => ("invalid_request", "refresh_token was not supplied"),
            108 => ("invalid_grant", "bad or expired refresh token"),
            120 => ("invalid_request", "credtype is invalid"),
            _ => ("invalid_request", "invalid request"),
        };
        // The docs give 400/401/403/404 for 4xx without a per-code mapping; a wrong client
        // is the one case RFC 6749 §5.2 ties to 401.
        let status = if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        Self {
            status,
            code: Some(code),
            error,
            description,
            geolocation: geolocation.to_owned(),
            retry_after: None,
        }
    }

    /// A 5xx or 429 answer of the token endpoint (fault knobs).
    pub fn unavailable(status: StatusCode, geolocation: &str) -> Self {
        Self {
            status,
            code: None,
            error: "temporarily_unavailable",
            description: "the authentication service is unavailable",
            geolocation: geolocation.to_owned(),
            retry_after: None,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = match self.code {
            Some(code) => json!({
                "code": code,
                "error": self.error,
                "error_description": self.description,
                "geolocation": self.geolocation,
            }),
            None => json!({ "error": self.error, "error_description": self.description }),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_by_path() {
        assert_eq!(Family::of("/oauth2/v0/token"), Some(Family::OAuth));
        assert_eq!(
            Family::of("/expensereports/v4/reports/X/expenses/Y"),
            Some(Family::V4)
        );
        assert_eq!(
            Family::of("/api/v3.0/expense/entries/a%24b"),
            Some(Family::V3)
        );
        assert_eq!(
            Family::of("/api/expense/expensereport/v1.1/report/a/entry/b"),
            Some(Family::V1)
        );
        assert_eq!(
            Family::of("/profile/identity/v4/Users"),
            Some(Family::Identity)
        );
        assert_eq!(
            Family::of("/travelrequest/v4/requests/E82B0B803671004B9A5D952F34FBD01E"),
            Some(Family::Request)
        );
        assert_eq!(Family::of("/_sim/writes"), None);
    }

    #[test]
    fn http_status_is_code_and_phrase() {
        assert_eq!(http_status_text(StatusCode::BAD_REQUEST), "400 BAD_REQUEST");
        assert_eq!(http_status_text(StatusCode::NOT_FOUND), "404 NOT_FOUND");
    }
}
