//! The common path of every write endpoint: authenticate, check the body, apply, record, answer.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::CORRELATION_HEADER;
use super::error::{ApiError, Family, ValidationError};
use super::record::{Principal, RequestNote, WriteApi};
use super::seed::Seed;
use super::state::{SimHandle, WriteAttempt};

/// One incoming write request, as every write endpoint extracts it (after its `Path`).
pub(crate) struct WriteCall {
    method: Method,
    /// The request path exactly as received (still percent-encoded).
    path: String,
    /// The query string, if any (still percent-encoded).
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

impl WriteCall {
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
}

impl<S: Send + Sync> FromRequest<S> for WriteCall {
    type Rejection = BytesRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Ok(OriginalUri(uri)) = OriginalUri::from_request_parts(&mut parts, state).await;
        let method = parts.method.clone();
        let headers = parts.headers.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), state).await?;
        Ok(Self {
            method,
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers,
            body,
        })
    }
}

/// Runs `apply` on the JSON object body under the state lock and records the attempt.
/// `apply` must check everything before it changes anything: an `Err` leaves no trace in
/// the data. It returns the success answer (204 for Expense v4, 200 for v3, 200 with the
/// item for Travel Request).
pub(crate) fn handle<R: IntoResponse>(
    sim: &SimHandle,
    api: WriteApi,
    call: &WriteCall,
    apply: impl FnOnce(&mut Seed, &Principal, &Map<String, Value>) -> Result<R, ApiError>,
) -> Response {
    let WriteCall {
        method,
        path,
        headers,
        body,
        ..
    } = call;
    let family = family_of(api);
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let principal = sim.authenticate(headers, family, path);
    let content_types: Vec<String> = headers
        .get_all(header::CONTENT_TYPE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();

    let mut inner = sim.lock();
    let refusal = principal
        .is_ok()
        .then(|| inner.faults.take_write_refusal())
        .flatten();
    let outcome = principal.clone().and_then(|principal| {
        if let Some((status, message)) = refusal {
            return Err(refused(family, path, status, message));
        }
        let object = json_object(family, path, &content_types, body)?;
        apply(&mut inner.data, &principal, &object).map(IntoResponse::into_response)
    });
    let status = match &outcome {
        Ok(response) => response.status(),
        Err(e) => e.status,
    };
    let attempt = WriteAttempt {
        api,
        method: method.to_string(),
        path: path.to_owned(),
        principal: principal.as_ref().ok().cloned(),
        content_types,
        body: body.clone(),
        correlation_id: correlation_id.clone(),
    };
    SimHandle::record_write(&mut inner, attempt, status.as_u16());
    drop(inner);

    let mut response = outcome.unwrap_or_else(IntoResponse::into_response);
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    response.extensions_mut().insert(RequestNote {
        principal: principal.ok(),
        grant_type: None,
    });
    response
}

/// The error a refused write answers with (fault knob `refuse_writes_next`).
fn refused(family: Family, path: &str, status: StatusCode, message: String) -> ApiError {
    if status == StatusCode::BAD_REQUEST {
        ApiError::validation(
            family,
            path,
            vec![ValidationError::new("customData", message, "customData")],
        )
    } else {
        ApiError::new(
            family,
            status,
            path,
            "The request could not be processed (simulated).",
        )
    }
}

/// Whose error body a write answers with.
fn family_of(api: WriteApi) -> Family {
    match api {
        WriteApi::V3Entry => Family::V3,
        WriteApi::V4Expense
        | WriteApi::V4Report
        | WriteApi::V4SubmittedReport
        | WriteApi::V4Allocation
        | WriteApi::V4Approve
        | WriteApi::V4SendBack => Family::V4,
        WriteApi::RequestHeader | WriteApi::RequestExpense | WriteApi::RequestAllocation => {
            Family::Request
        }
    }
}

/// Exactly one `Content-Type: application/json` (docs/protocol.md T23: the docs' curl samples add a
/// second `text/plain` one; the simulator refuses that so the connector never copies it).
fn json_object(
    family: Family,
    path: &str,
    content_types: &[String],
    body: &[u8],
) -> Result<Map<String, Value>, ApiError> {
    match content_types {
        [one] if is_json(one) => {}
        [] => return Err(unsupported(family, path, "missing Content-Type")),
        [_] => {
            return Err(unsupported(
                family,
                path,
                "Content-Type must be application/json",
            ));
        }
        _ => {
            return Err(ApiError::bad_request(
                family,
                path,
                "more than one Content-Type header",
            ));
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::bad_request(
            family,
            path,
            "request body must be a JSON object",
        )),
        Err(e) => Err(ApiError {
            code: Some("invalidJson"),
            ..ApiError::bad_request(family, path, format!("malformed JSON: {e}"))
        }),
    }
}

fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

fn unsupported(family: Family, path: &str, message: &str) -> ApiError {
    ApiError::new(family, StatusCode::UNSUPPORTED_MEDIA_TYPE, path, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_rules() {
        let ok = |cts: &[&str]| {
            let cts: Vec<String> = cts.iter().map(|s| s.to_string()).collect();
            json_object(Family::V4, "/p", &cts, b"{}").map(|_| ())
        };
        assert!(ok(&["application/json"]).is_ok());
        assert!(ok(&["Application/JSON; charset=utf-8"]).is_ok());
        assert_eq!(
            ok(&["text/plain"]).unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            ok(&[]).unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            ok(&["application/json", "text/plain"]).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn body_must_be_an_object() {
        let cts = vec!["application/json".to_owned()];
        assert!(json_object(Family::V3, "/p", &cts, b"[1]").is_err());
        assert!(json_object(Family::V3, "/p", &cts, b"{").is_err());
        assert!(json_object(Family::V3, "/p", &cts, br#"{"Custom1":"x"}"#).is_ok());
    }
}
