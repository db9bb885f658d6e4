//! The outermost answer of every request: overflow connections get only the health
//! endpoints, a request that runs past `server.request_timeout` is answered 408, and one
//! still running when the shutdown deadline comes close is answered 503. Every such answer
//! has a body: a short text for Concur's calls and the probes, a page for the browser.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};

use crate::conn::ConnectionClass;
use crate::middleware::Around;
use crate::pages::PageError;
use crate::pages::i18n::Lang;
use crate::state::AppState;

/// Seconds a client is asked to wait before trying again after a 503.
const RETRY_AFTER_SECS: &str = "5";

#[derive(Clone)]
pub struct Guard {
    pub state: Arc<AppState>,
    pub request_timeout: Duration,
    /// The paths Concur calls server to server (Fetch List, Fetch Attendee, Event
    /// Notification, as configured): answered with a short text, never a page.
    callouts: Arc<HashSet<String>>,
}

impl Guard {
    /// The guard for `state`'s routes; the callout paths are collected once, here.
    pub fn new(state: Arc<AppState>, request_timeout: Duration) -> Self {
        let mut callouts: HashSet<String> = state
            .lists
            .endpoints()
            .iter()
            .map(|(path, _)| path.clone())
            .collect();
        if state.fetch_attendee.enabled {
            let path = &state.fetch_attendee.path;
            callouts.extend(crate::attendees::v1_twin(path));
            callouts.insert(path.clone());
        }
        if state.notifications.is_some() {
            callouts.insert(state.notification.path.clone());
        }
        Self {
            state,
            request_timeout,
            callouts: Arc::new(callouts),
        }
    }
}

/// Who reads the answer: a program (Concur's server-to-server calls, probes, assets) or a
/// person in a browser window.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reader {
    Probe,
    Program,
    Person(Lang),
}

impl Reader {
    fn of(request: &Request, callouts: &HashSet<String>) -> Self {
        let path = request.uri().path();
        if path == super::paths::HEALTHZ || path == super::paths::READYZ {
            Reader::Probe
        } else if path.starts_with("/system/")
            || path.starts_with("/assets/")
            || callouts.contains(path)
        {
            Reader::Program
        } else {
            Reader::Person(Lang::of_query(request.uri().query().unwrap_or_default()))
        }
    }
}

/// What [`Guard::before`] learnt about a request that goes on to the routes.
pub struct Admitted {
    state: Arc<AppState>,
    request_timeout: Duration,
    reader: Reader,
    /// An overflow HTTP/1 connection: closed after this answer.
    close: bool,
}

impl Around for Guard {
    type Carry = Admitted;

    fn before(&self, request: &mut Request) -> Result<Admitted, Box<Response>> {
        let class = request
            .extensions()
            .get::<ConnectionClass>()
            .copied()
            .unwrap_or(ConnectionClass::Normal);
        let reader = Reader::of(request, &self.callouts);
        // HTTP/2 has no Connection header; an overflow HTTP/2 connection ends by its short
        // idle timeout instead.
        let close = class == ConnectionClass::Overflow && request.version() <= Version::HTTP_11;
        if class == ConnectionClass::Overflow && reader != Reader::Probe {
            let mut response =
                unavailable(&self.state, reader, "the server is busy; try again shortly");
            if close {
                close_connection(&mut response);
            }
            return Err(Box::new(response));
        }
        Ok(Admitted {
            state: self.state.clone(),
            request_timeout: self.request_timeout,
            reader,
            close,
        })
    }

    async fn after<F>(admitted: Admitted, inner: F) -> Response
    where
        F: Future<Output = Response> + Send + 'static,
    {
        let Admitted {
            state,
            request_timeout,
            reader,
            close,
        } = admitted;
        let mut answer_now = state.answer_now.subscribe();
        let shutting_down = async move {
            if answer_now.wait_for(|now| *now).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let mut response = tokio::select! {
            response = inner => response,
            () = tokio::time::sleep(request_timeout) => {
                tracing::warn!("request timed out");
                answer(
                    &state,
                    reader,
                    StatusCode::REQUEST_TIMEOUT,
                    "the request took too long; try again",
                )
            }
            () = shutting_down => {
                tracing::warn!("request still running at the shutdown deadline");
                unavailable(&state, reader, "the server is shutting down; try again shortly")
            }
        };
        if close {
            close_connection(&mut response);
        }
        response
    }
}

fn close_connection(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

fn unavailable(state: &AppState, reader: Reader, text: &'static str) -> Response {
    let mut response = answer(state, reader, StatusCode::SERVICE_UNAVAILABLE, text);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}

fn answer(state: &AppState, reader: Reader, status: StatusCode, text: &'static str) -> Response {
    match reader {
        Reader::Probe | Reader::Program => (status, text).into_response(),
        // This layer is outside the router's page-error layer: it renders the page itself.
        Reader::Person(lang) => PageError::new(
            status,
            "unavailable_title",
            "unavailable_message",
            "reload_hint",
        )
        .in_lang(lang)
        .render(&state.pages),
    }
}
