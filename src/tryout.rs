//! `concur-connector try fetch-list|fetch-attendee|notify`: sends a connector exactly the callout
//! Concur sends and judges the answer as strictly as Concur reads it (docs/protocol.md §12.7).
//!
//! The request body and the judge come from `concur_protocol::callout::conformance`, written
//! apart from the connector's own parsers. One client, HTTP/1.1 like Concur, certificates
//! verified (`--ca-file` adds a private CA), no redirects followed. The credentials come from
//! the configuration and are never printed.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use concur_protocol::callout::conformance::{
    self, Answer, AttendeeCall, DEFAULT_FETCH_ATTENDEE_PATH, DEFAULT_FETCH_LIST_PATH,
    DEFAULT_NOTIFY_PATH, FetchListCall, Finding, NotificationCall, Received, SearchBy, Severity,
    TOO_SLOW_ANSWER, Verdict,
};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, Url};
use secrecy::ExposeSecret as _;

use crate::cli::{TryAttendeeArgs, TryFetchListArgs, TryNotifyArgs, TryTarget};
use crate::credentials::ConnectorCredentials;

/// The most of an answer read; Concur's answers are far smaller.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Why `try` could not judge an answer.
#[derive(Debug, thiserror::Error)]
pub enum TryError {
    /// A bad argument (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// No answer to judge: connection, TLS or timeout (exit status 1).
    #[error("no answer: {0}")]
    Transport(String),
}

/// The printed report, and whether Concur would accept the answer (no error finding).
#[derive(Debug)]
pub struct Outcome {
    pub report: String,
    pub passed: bool,
}

/// Sends the Fetch List request the arguments describe and judges the answer.
pub async fn fetch_list(
    args: &TryFetchListArgs,
    credentials: &ConnectorCredentials,
) -> Result<Outcome, TryError> {
    let search_by = SearchBy::parse(&args.search_by)
        .ok_or_else(|| TryError::Usage("--search-by must be TEXT or CODE".to_owned()))?;
    let levels = args
        .level_codes
        .iter()
        .flat_map(|codes| codes.split([',', '-']))
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .map(str::to_owned)
        .collect();
    let call = FetchListCall {
        levels,
        query: args.query.clone(),
        search_by,
        lang: args.lang.clone(),
        num_to_return: args.num,
        list_name: args.list_name.clone(),
    };
    let summary = format!(
        "query {:?}, search-by {}, long-code {:?}, lang-code {}, num-to-return {}",
        call.query,
        call.search_by.as_str(),
        call.long_code(),
        call.lang,
        call.num_to_return
    );
    let exchange = exchange(
        &args.target,
        DEFAULT_FETCH_LIST_PATH,
        credentials,
        call.to_xml(),
    )
    .await?;
    let verdict = conformance::judge_fetch_list(&call, &exchange.answer())
        .with_latency(exchange.received.latency);
    let lines = verdict
        .items
        .iter()
        .map(|item| format!("{}  {}", item.code, item.text))
        .collect();
    Ok(exchange.report("Fetch List", &summary, verdict, "items", lines))
}

/// Sends the Fetch Attendee request the arguments describe and judges the answer.
pub async fn fetch_attendee(
    args: &TryAttendeeArgs,
    credentials: &ConnectorCredentials,
) -> Result<Outcome, TryError> {
    let call = AttendeeCall {
        attendee_type_code: args.attendee_type.clone(),
        first_name: args.first_name.clone(),
        last_name: args.last_name.clone(),
        title: args.title.clone(),
        company: args.company.clone(),
        external_id: args.external_id.clone(),
        owner_login_id: args.owner.clone(),
        maximum_number_records: args.max,
        ..AttendeeCall::default()
    };
    let summary = format!(
        "type {}, first name {:?}, last name {:?}, company {:?}, title {:?}, external id {:?}, \
         owner {:?}, maximum {}",
        call.attendee_type_code,
        call.first_name,
        call.last_name,
        call.company,
        call.title,
        call.external_id,
        call.owner_login_id,
        call.maximum_number_records
    );
    let exchange = exchange(
        &args.target,
        DEFAULT_FETCH_ATTENDEE_PATH,
        credentials,
        call.to_xml(),
    )
    .await?;
    let verdict = conformance::judge_attendees(&call, &exchange.answer())
        .with_latency(exchange.received.latency);
    let lines = verdict
        .items
        .iter()
        .map(|a| {
            format!(
                "{}  {} {}, {}",
                a.get("ExternalID"),
                a.get("FirstName"),
                a.get("LastName"),
                a.get("Company")
            )
        })
        .collect();
    Ok(exchange.report("Fetch Attendee", &summary, verdict, "attendees", lines))
}

/// Sends the Event Notification the arguments describe (Concur's example by default) and
/// judges the acknowledgement.
pub async fn notify(
    args: &TryNotifyArgs,
    credentials: &ConnectorCredentials,
) -> Result<Outcome, TryError> {
    let example = NotificationCall::default();
    let call = NotificationCall {
        event_type: args.event_type.clone().unwrap_or(example.event_type),
        object_type: args.object_type.clone().unwrap_or(example.object_type),
        object_uri: args.object_uri.clone().unwrap_or(example.object_uri),
        ..example
    };
    if call.object_uri.trim().is_empty() {
        return Err(TryError::Usage("--object-uri must not be empty".to_owned()));
    }
    let summary = format!(
        "EventType {:?}, ObjectType {}, ObjectURI {:?}",
        call.event_type, call.object_type, call.object_uri
    );
    let exchange = exchange(
        &args.target,
        DEFAULT_NOTIFY_PATH,
        credentials,
        call.to_xml(),
    )
    .await?;
    let mut verdict = conformance::judge_notification(&exchange.answer());
    verdict
        .findings
        .extend(conformance::judge_acknowledgement_latency(
            exchange.received.latency,
        ));
    let lines = std::mem::take(&mut verdict.items);
    Ok(exchange.report("Event Notification", &summary, verdict, "body lines", lines))
}

/// One request and its answer.
struct Exchange {
    url: Url,
    received: Received,
}

impl Exchange {
    fn answer(&self) -> Answer<'_> {
        self.received.answer()
    }

    /// The request summary, the answer's status and latency, what Concur would show, and
    /// every finding (the caller has judged the latency).
    fn report<T>(
        &self,
        service: &str,
        summary: &str,
        verdict: Verdict<T>,
        noun: &str,
        lines: Vec<String>,
    ) -> Outcome {
        let mut verdict = verdict;
        if self.url.scheme() != "https" {
            verdict.findings.insert(
                0,
                Finding {
                    severity: Severity::Error,
                    message: "Concur calls https endpoints only".to_owned(),
                },
            );
        }
        let mut out = String::new();
        let _ = writeln!(out, "{service}: POST {}", self.url);
        let _ = writeln!(out, "  request: {summary}");
        let content_type = self
            .received
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map_or("(none)", |(_, v)| v.as_str());
        let _ = writeln!(
            out,
            "  answer: status {}, {} ms, {} bytes, Content-Type {content_type}",
            self.received.status,
            self.received.latency.as_millis(),
            self.received.body.len()
        );
        let _ = writeln!(
            out,
            "{} {noun}{}",
            lines.len(),
            if lines.is_empty() { "" } else { ":" }
        );
        for line in &lines {
            let _ = writeln!(out, "  {line}");
        }
        if !verdict.findings.is_empty() {
            let _ = writeln!(out, "findings:");
            for finding in &verdict.findings {
                let _ = writeln!(out, "  {finding}");
            }
        }
        let errors = verdict.errors().count();
        let warnings = verdict.findings.len() - errors;
        let passed = verdict.passed();
        if passed {
            let _ = writeln!(
                out,
                "PASS: Concur would accept this answer ({warnings} warnings)"
            );
        } else {
            let _ = writeln!(
                out,
                "FAIL: Concur would refuse this answer ({errors} errors, {warnings} warnings)"
            );
        }
        Outcome {
            report: out,
            passed,
        }
    }
}

async fn exchange(
    target: &TryTarget,
    default_path: &str,
    credentials: &ConnectorCredentials,
    body: String,
) -> Result<Exchange, TryError> {
    let url = endpoint(&target.url, default_path)?;
    let client = client(
        target.ca_file.as_deref(),
        TOO_SLOW_ANSWER + Duration::from_secs(5),
    )?;
    let received = send(&client, Method::POST, url.clone(), credentials, Some(body)).await?;
    Ok(Exchange { url, received })
}

/// Sends one request as Concur does (HTTP Basic with the registered credentials; a body as
/// `application/xml; charset=utf-8`) and reads the whole answer, timing it.
pub(crate) async fn send(
    client: &reqwest::Client,
    method: Method,
    url: Url,
    credentials: &ConnectorCredentials,
    body: Option<String>,
) -> Result<Received, TryError> {
    let started = Instant::now();
    let mut request = client.request(method, url).basic_auth(
        credentials.username(),
        Some(credentials.password().expose_secret()),
    );
    if let Some(body) = body {
        request = request
            .header(CONTENT_TYPE, "application/xml; charset=utf-8")
            .body(body);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| TryError::Transport(describe(&e)))?;
    let mut received = Received {
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = value.to_str().unwrap_or("(not ASCII)");
                (name.as_str().to_owned(), value.to_owned())
            })
            .collect(),
        ..Received::default()
    };
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| TryError::Transport(describe(&e)))?
    {
        received
            .push_body(&chunk, MAX_BODY)
            .map_err(TryError::Transport)?;
    }
    received.latency = started.elapsed();
    Ok(received)
}

/// The Host Name, with the service's default path when it names none.
fn endpoint(given: &str, default_path: &str) -> Result<Url, TryError> {
    let mut url = Url::parse(given)
        .map_err(|e| TryError::Usage(format!("--url {given:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(TryError::Usage(
            "--url must be an https:// URL (Concur calls https endpoints)".to_owned(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TryError::Usage(
            "--url must not carry credentials; they come from the configuration".to_owned(),
        ));
    }
    if url.path().is_empty() || url.path() == "/" {
        url.set_path(default_path);
    }
    Ok(url)
}

/// Concur's client: HTTP/1.1, certificates verified (`ca_file` adds a private CA), no
/// redirects followed, each request bounded by `timeout`.
pub(crate) fn client(
    ca_file: Option<&Path>,
    timeout: Duration,
) -> Result<reqwest::Client, TryError> {
    let mut builder = reqwest::Client::builder()
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            TryError::Usage(format!("--ca-file: cannot read {}: {e}", path.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|certs| !certs.is_empty())
            .ok_or_else(|| {
                TryError::Usage(format!(
                    "--ca-file: {} holds no PEM certificate",
                    path.display()
                ))
            })?;
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| TryError::Usage(format!("cannot build the HTTPS client: {e}")))
}

/// The error and its causes on one line (reqwest's own message hides the cause).
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}
