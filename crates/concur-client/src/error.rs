//! Everything that can go wrong talking to Concur, and Concur's own error bodies decoded.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::store::StoreError;
use crate::config::TOKEN_PATH;

/// A failed Concur call or a request refused before any call was made.
#[derive(Debug, thiserror::Error)]
pub enum ConcurError {
    /// Concur answered with a non-success status; the body's details are kept.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// No answer within `concur.request_timeout` (or the connect timeout).
    #[error("timed out calling concur ({operation})")]
    Timeout { operation: &'static str },
    /// The connection could not be opened (DNS, TCP, TLS).
    #[error("cannot connect to concur ({operation}): {}", chain(source))]
    Connect {
        operation: &'static str,
        source: reqwest::Error,
    },
    /// Any other transport failure (connection reset, malformed HTTP).
    #[error("transport error calling concur ({operation}): {}", chain(source))]
    Transport {
        operation: &'static str,
        source: reqwest::Error,
    },
    /// A success answer whose body we could not understand.
    #[error("unexpected answer from concur ({operation}): {detail}")]
    UnexpectedBody {
        operation: &'static str,
        detail: String,
    },
    /// The item URL matches none of the v4, v3 or v1.1 shapes we can read and write.
    #[error("item url is not a concur expense report, entry or allocation url")]
    UnrecognisedItemUrl,
    /// A call's URL could not be formed (malformed item URL or geolocation).
    #[error("cannot form a valid url for {operation}")]
    InvalidUrl { operation: &'static str },
    /// The item URL lacks an id the write needs (e.g. the user id of a report PATCH).
    #[error("item url has no {0}; cannot address the write")]
    MissingItemId(&'static str),
    /// An allocation write needs the allocation's expense ids, and the GET gave none.
    #[error("allocation has no expense ids to send with the write")]
    MissingExpenseIds,
    /// The value exceeds Concur's 48-character limit for custom fields.
    #[error("value has {length} characters; concur allows at most {max}")]
    ValueTooLong { length: usize, max: usize },
    /// A list value lacks the representation this API writes (v4: item id, v3: code).
    #[error("list value has no {0}, which this concur api needs")]
    ListValueMissing(&'static str),
    /// Neither a stored nor a configured company credential exists.
    #[error("no company credentials: configure a refresh token or a company request token")]
    NoCompanyCredentials,
    /// The `id_token`'s subject is not the signed `logged_in_user_id`: the launch is refused.
    #[error("the authorization code belongs to another user than the launch")]
    IdentityMismatch,
    /// The `id_token` failed verification (signature, expiry, format, unknown key).
    #[error("id token is invalid: {0}")]
    IdTokenInvalid(String),
    /// The JWKS could not be fetched, so the `id_token` cannot be verified (never accepted
    /// unverified).
    #[error("cannot verify the id token: jwks unavailable: {0}")]
    JwksUnavailable(Box<ConcurError>),
    /// A token response named a geolocation (the API base every later call and token goes
    /// to) outside the trusted hosts; the response is refused and nothing is sent there.
    #[error(
        "concur's token response names the geolocation `{geolocation}`, which is refused: {reason}"
    )]
    UntrustedGeolocation { geolocation: String, reason: String },
    /// A URL taken from an unsigned message (a notification's report or notification URL)
    /// names a host or scheme the host policy refuses; nothing was sent.
    #[error("refused to call the {what} url: {reason}")]
    UntrustedUrl { what: &'static str, reason: String },
    /// Concur refused a workflow action because the report is no longer at the step the
    /// action expected (someone or something else moved it): log it and drop the work.
    #[error("the report is no longer at the expected workflow step: {0}")]
    StepMoved(Box<ApiError>),
    /// A send back needs a comment for the employee.
    #[error("a send back needs a comment for the employee")]
    CommentRequired,
    /// The token state could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built (bad extra CA, TLS backend failure).
    #[error("cannot build the http client: {0}")]
    Build(reqwest::Error),
}

/// An error and its causes on one line: reqwest's own message omits the cause
/// ("error sending request"), which is what an operator needs ("connection refused").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A non-success answer from Concur, decoded from any of its error body shapes.
#[derive(Debug, Clone, Default)]
pub struct ApiError {
    /// Which call failed, as a path template (never containing tokens).
    pub operation: &'static str,
    pub status: u16,
    /// OAuth `code`/`error`, v4 `errorId`, v3 `Id`.
    pub code: Option<String>,
    /// OAuth `error_description`, v4 `errorMessage`, v3 `Message`.
    pub message: Option<String>,
    /// v4 `validationErrors`.
    pub validation_errors: Vec<ValidationError>,
    /// OAuth errors name the geolocation to retry at (e.g. code 16).
    pub geolocation: Option<String>,
    /// The `concur-correlationid` response header, for Concur support.
    pub correlation_id: Option<String>,
    /// `Retry-After` in seconds, when given.
    pub retry_after: Option<Duration>,
}

/// One entry of a v4 `validationErrors` array.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ValidationError {
    pub id: Option<String>,
    pub message: Option<String>,
    pub source: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "concur answered {} to {}", self.status, self.operation)?;
        if let Some(code) = &self.code {
            write!(f, " (code {code})")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        for v in &self.validation_errors {
            if let Some(message) = &v.message {
                write!(f, "; {message}")?;
            }
        }
        if let Some(id) = &self.correlation_id {
            write!(f, " [correlation id {id}]")?;
        }
        Ok(())
    }
}

/// How the UI should present a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Concur is down, slow or rate-limiting: try again later.
    Unavailable,
    /// Concur refused our credentials or the user's permissions.
    Forbidden,
    /// Concur (or our pre-check) rejected the value; the message is fit for the user.
    Validation(String),
    /// Anything else: a bug or misconfiguration; details belong in the log.
    Other,
}

impl ConcurError {
    /// The HTTP status Concur answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ConcurError::Api(e) => Some(e.status),
            _ => None,
        }
    }

    /// The `concur-correlationid` of the failed call, if Concur answered.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            ConcurError::Api(e) => e.correlation_id.as_deref(),
            _ => None,
        }
    }

    /// Sorts the failure into what the UI can say about it.
    pub fn classify(&self) -> Failure {
        match self {
            ConcurError::Timeout { .. }
            | ConcurError::Connect { .. }
            | ConcurError::Transport { .. }
            | ConcurError::JwksUnavailable(_) => Failure::Unavailable,
            // The shared token store (Redis) down or busy: try again shortly.
            ConcurError::Store(StoreError::Shared(_)) => Failure::Unavailable,
            ConcurError::Api(e) => match e.status {
                429 | 500..=599 => Failure::Unavailable,
                401 | 403 => Failure::Forbidden,
                // The token endpoint refused a credential or a launch's code (e.g. 103, code
                // already used): nothing the user typed, so not a validation message.
                400..=499 if e.operation == TOKEN_PATH => Failure::Forbidden,
                400 | 409 | 422 => Failure::Validation(e.user_message()),
                _ => Failure::Other,
            },
            ConcurError::IdentityMismatch | ConcurError::IdTokenInvalid(_) => Failure::Forbidden,
            ConcurError::ValueTooLong { .. } => Failure::Validation(self.to_string()),
            _ => Failure::Other,
        }
    }
}

impl ApiError {
    /// Concur's own words about a rejected value: validation messages, else the message.
    pub fn user_message(&self) -> String {
        let details: Vec<&str> = self
            .validation_errors
            .iter()
            .filter_map(|v| v.message.as_deref())
            .collect();
        if !details.is_empty() {
            return details.join("; ");
        }
        self.message
            .clone()
            .unwrap_or_else(|| "concur rejected the value".to_owned())
    }

    /// Decodes whichever Concur error shape `body` has; unknown bodies leave fields empty.
    pub(crate) fn from_body(operation: &'static str, status: u16, body: &[u8]) -> Self {
        let mut error = ApiError {
            operation,
            status,
            ..ApiError::default()
        };
        let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) else {
            // v1.1 answers in XML: `<Error><Message/><Server-Time/><Id/></Error>` (docs/protocol.md §10).
            if let Some((message, id)) = super::parse::xml_error(body) {
                error.message = message;
                error.code = id;
            }
            return error;
        };
        error.code = parsed
            .code
            .map(|c| c.into_string())
            .or(parsed.error_id)
            .or(parsed.error)
            .or(parsed.id);
        error.message = parsed
            .error_description
            .or(parsed.error_message)
            .or(parsed.message)
            .or(parsed.error_message_pascal);
        error.validation_errors = parsed.validation_errors.unwrap_or_default();
        error.geolocation = parsed.geolocation;
        error
    }
}

/// The union of Concur's error bodies: OAuth, v4 `ErrorMessage`, v1.1/v3 `Error`.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<StringOrNumber>,
    error: Option<String>,
    error_description: Option<String>,
    geolocation: Option<String>,
    #[serde(rename = "errorId")]
    error_id: Option<String>,
    #[serde(rename = "errorMessage")]
    error_message: Option<String>,
    #[serde(rename = "validationErrors")]
    validation_errors: Option<Vec<ValidationError>>,
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(rename = "ErrorMessage")]
    error_message_pascal: Option<String>,
    #[serde(rename = "Id")]
    id: Option<String>,
}

/// Concur sends some numbers as strings (`"expires_in": "3600"`, docs/protocol.md T34) and some codes as numbers.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum StringOrNumber {
    Number(serde_json::Number),
    String(String),
}

impl StringOrNumber {
    pub(crate) fn into_string(self) -> String {
        match self {
            StringOrNumber::Number(n) => n.to_string(),
            StringOrNumber::String(s) => s,
        }
    }

    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            StringOrNumber::Number(n) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
            StringOrNumber::String(s) => s.trim().parse().ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_an_oauth_error() {
        let body = br#"{"code":16,"error":"invalid_grant","error_description":"user lives elsewhere","geolocation":"https://eu2.api.concursolutions.com"}"#;
        let e = ApiError::from_body("token", 400, body);
        assert_eq!(e.code.as_deref(), Some("16"));
        assert_eq!(e.message.as_deref(), Some("user lives elsewhere"));
        assert_eq!(
            e.geolocation.as_deref(),
            Some("https://eu2.api.concursolutions.com")
        );
    }

    #[test]
    fn decodes_a_v4_error_with_validation_errors() {
        let body = br#"{"errorId":"E-1","errorMessage":"Bad request","httpStatus":"400","validationErrors":[{"id":"custom12","message":"Value too long","source":"customData"}]}"#;
        let e = ApiError::from_body("patch", 400, body);
        assert_eq!(e.code.as_deref(), Some("E-1"));
        assert_eq!(e.user_message(), "Value too long");
        let err = ConcurError::Api(Box::new(e));
        assert_eq!(err.classify(), Failure::Validation("Value too long".into()));
    }

    #[test]
    fn decodes_a_v3_error() {
        let e = ApiError::from_body(
            "put",
            400,
            br#"{"Message":"Invalid custom field","Id":"x1"}"#,
        );
        assert_eq!(e.message.as_deref(), Some("Invalid custom field"));
        assert_eq!(e.code.as_deref(), Some("x1"));
    }

    #[test]
    fn decodes_a_v11_xml_error() {
        let body = br#"<Error xmlns="http://www.concursolutions.com/api/expense/expensereport/2011/03"><Message>entry &lt;x&gt; not found</Message><Server-Time>2026-03-11T10:00:00Z</Server-Time><Id>E-42</Id></Error>"#;
        let e = ApiError::from_body("get", 404, body);
        assert_eq!(e.message.as_deref(), Some("entry <x> not found"));
        assert_eq!(e.code.as_deref(), Some("E-42"));
    }

    #[test]
    fn a_refused_token_grant_is_forbidden_not_a_validation_failure() {
        let body = br#"{"code":103,"error":"invalid_request","error_description":"code is bad or expired"}"#;
        let e = ApiError::from_body(TOKEN_PATH, 400, body);
        assert_eq!(ConcurError::Api(Box::new(e)).classify(), Failure::Forbidden);
        let e = ApiError {
            operation: TOKEN_PATH,
            status: 429,
            ..ApiError::default()
        };
        assert_eq!(
            ConcurError::Api(Box::new(e)).classify(),
            Failure::Unavailable
        );
    }

    #[test]
    fn a_non_json_body_keeps_the_status() {
        let e = ApiError::from_body("get", 503, b"<html>down</html>");
        assert_eq!(e.status, 503);
        assert!(e.message.is_none());
        assert_eq!(
            ConcurError::Api(Box::new(e)).classify(),
            Failure::Unavailable
        );
    }

    #[test]
    fn classifies_auth_failures_as_forbidden() {
        let e = ApiError {
            status: 403,
            ..ApiError::default()
        };
        assert_eq!(ConcurError::Api(Box::new(e)).classify(), Failure::Forbidden);
    }

    #[test]
    fn reads_numbers_sent_as_strings_or_numbers() {
        let n: StringOrNumber = serde_json::from_str("3600").unwrap();
        let s: StringOrNumber = serde_json::from_str("\"3600\"").unwrap();
        assert_eq!(n.as_u64(), Some(3600));
        assert_eq!(s.as_u64(), Some(3600));
    }
}
