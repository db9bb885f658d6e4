//! The simulator calling the connector as Concur does: Fetch List and Fetch Attendee requests
//! (server-to-server, HTTP Basic with the connector's registered credentials), answers judged
//! as strictly as Concur reads them (`concur_protocol::callout::conformance`, docs/protocol.md
//! §12.7).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use concur_protocol::callout::conformance::{
    self, Answer, AttendeeCall, FetchListCall, Finding, Severity, Verdict,
};
use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use secrecy::ExposeSecret as _;

use super::state::SimHandle;

/// The most of an answer read; Concur's answers are far smaller.
const MAX_BODY: usize = 1024 * 1024;
/// The demo gives up on a connector that does not answer within this time.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The one pooled client: HTTP/1.1 like Concur, certificates verified against the system
/// roots and `ca_pem`, no redirects followed.
pub(crate) fn client(ca_pem: &str) -> anyhow::Result<reqwest::Client> {
    let roots = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())
        .context("reading the CA the connector's certificate comes from")?;
    reqwest::Client::builder()
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(TIMEOUT)
        .tls_certs_merge(roots)
        .build()
        .context("building the client that calls the connector")
}

impl SimHandle {
    /// Sends `call` to the connector's Fetch List endpoint and judges the answer. A connector
    /// that does not answer is one error finding.
    pub async fn fetch_list(&self, call: &FetchListCall) -> Verdict<conformance::ListItem> {
        let url = self.settings().fetch_list_url.clone();
        match self.send_callout(url, call.to_xml()).await {
            Ok(exchange) => conformance::judge_fetch_list(call, &exchange.answer())
                .with_latency(exchange.latency),
            Err(message) => unanswered(message),
        }
    }

    /// Sends `call` to the connector's Fetch Attendee endpoint and judges the answer.
    pub async fn fetch_attendees(&self, call: &AttendeeCall) -> Verdict<conformance::Attendee> {
        let url = self.settings().fetch_attendee_url.clone();
        match self.send_callout(url, call.to_xml()).await {
            Ok(exchange) => conformance::judge_attendees(call, &exchange.answer())
                .with_latency(exchange.latency),
            Err(message) => unanswered(message),
        }
    }

    async fn send_callout(&self, url: Url, body: String) -> Result<Exchange, String> {
        let settings = self.settings();
        let started = Instant::now();
        let response = settings
            .callout_client
            .post(url)
            .basic_auth(
                settings.connector.username(),
                Some(settings.connector.password().expose_secret()),
            )
            .header(CONTENT_TYPE, "application/xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = read_limited(response).await?;
        Ok(Exchange {
            status,
            headers,
            body,
            latency: started.elapsed(),
        })
    }
}

struct Exchange {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    latency: Duration,
}

impl Exchange {
    fn answer(&self) -> Answer<'_> {
        Answer {
            status: self.status,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("the answer is larger than {MAX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn unanswered<T>(message: String) -> Verdict<T> {
    Verdict {
        findings: vec![Finding {
            severity: Severity::Error,
            message: format!("the connector did not answer: {message}"),
        }],
        items: Vec::new(),
    }
}

/// The error and its causes on one line.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
