//! The decision hook: POST the report as JSON to the customer's system and read its
//! verdict, with a timeout per attempt, a few retries and a bounded answer.
//!
//! Host policy: the URL is fixed by configuration and nothing from the report goes into
//! it; it must be `https` outside development mode; redirects are not followed (a 3xx is a
//! failure), so the credentials only ever reach the configured host.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use concur_client::body::{BodyError, read_limited};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::Review;
use super::messages::{Finding, Lang, Place, Problem};
use super::settings::RuleSettings;
use crate::checks::{Mode, Problems, secret};
use crate::concur::ExpenseItem;

/// The version of the request body; it changes only when a member changes meaning.
pub const REQUEST_VERSION: u32 = 1;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 2;
const MAX_RETRIES: u32 = 10;
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// Why a hook gave no verdict. Messages hold no URL, token or report data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error("no answer within {}", humantime::format_duration(*after))]
    Timeout { after: Duration },
    #[error("unavailable: {reason}")]
    Unavailable { reason: String },
    #[error("unusable answer: {reason}")]
    BadAnswer { reason: String },
}

impl HookError {
    /// Worth another attempt now: the hook may answer next time.
    fn is_transient(&self) -> bool {
        matches!(
            self,
            HookError::Timeout { .. } | HookError::Unavailable { .. }
        )
    }
}

/// One configured hook with its one pooled client.
pub(super) struct Hook {
    client: reqwest::Client,
    url: reqwest::Url,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    max_response_bytes: u64,
    rule: String,
}

impl Hook {
    /// Checks a `kind = "hook"` rule's keys under `prefix` and builds its client.
    pub fn new(
        rule: &RuleSettings,
        name: &str,
        prefix: &str,
        mode: Mode,
        problems: &mut Problems,
    ) -> Option<Self> {
        let before = problems.len();
        let key = |k: &str| format!("{prefix}.{k}");
        let url = match rule.url.as_deref().map(str::trim) {
            None | Some("") => {
                problems.push(key("url"), "is required with kind = \"hook\"");
                None
            }
            Some(url) => crate::checks::web_url(problems, &key("url"), url, mode),
        };
        let timeout = rule.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            problems.push(key("timeout"), "must be greater than zero");
        }
        let retries = rule.retries.unwrap_or(DEFAULT_RETRIES);
        if retries > MAX_RETRIES {
            problems.push(key("retries"), format!("must be at most {MAX_RETRIES}"));
        }
        let max_response_bytes = rule
            .max_response_bytes
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
        if max_response_bytes == 0 {
            problems.push(key("max_response_bytes"), "must be greater than zero");
        }
        let headers = auth_headers(rule, prefix, problems);
        let roots = rule
            .extra_ca_file
            .as_deref()
            .and_then(|path| crate::values::load_roots(path, &key("extra_ca_file"), problems));
        if problems.len() > before {
            return None;
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("concur-connector/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers?)
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(roots) = roots {
            builder = builder.tls_certs_merge(roots);
        }
        let client = problems.take(
            prefix,
            builder
                .build()
                .map_err(|e| format!("cannot build the http client: {e}")),
        )?;
        Some(Self {
            client,
            url: url?,
            timeout,
            retries,
            backoff: rule.backoff.unwrap_or(DEFAULT_BACKOFF),
            max_response_bytes,
            rule: name.to_owned(),
        })
    }

    /// Asks the hook, retrying transient failures `retries` times with a doubling wait;
    /// a verdict `send_back` becomes one finding per problem line.
    pub async fn decide(&self, review: &Review<'_>, lang: Lang) -> Result<Vec<Finding>, HookError> {
        let body = serde_json::to_vec(&HookRequest::of(review, &self.rule, lang)).map_err(|e| {
            HookError::BadAnswer {
                reason: format!("the request could not be written: {e}"),
            }
        })?;
        let mut wait = self.backoff;
        let mut attempt = 0;
        loop {
            let result = tokio::time::timeout(self.timeout, self.attempt(&body))
                .await
                .unwrap_or(Err(HookError::Timeout {
                    after: self.timeout,
                }));
            match result {
                Ok(answer) => return Ok(answer.findings()),
                Err(error) if error.is_transient() && attempt < self.retries => {
                    tracing::warn!(rule = %self.rule, attempt = attempt + 1, %error, "decision hook failed; trying again");
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                }
                Err(error) => {
                    tracing::warn!(rule = %self.rule, %error, "decision hook gave no verdict");
                    return Err(error);
                }
            }
        }
    }

    async fn attempt(&self, body: &[u8]) -> Result<HookAnswer, HookError> {
        let send_error = |e: reqwest::Error| {
            if e.is_timeout() {
                HookError::Timeout {
                    after: self.timeout,
                }
            } else {
                HookError::Unavailable {
                    reason: crate::values::error_chain(&e.without_url()),
                }
            }
        };
        let mut response = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
            .map_err(send_error)?;
        let status = response.status();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(HookError::Unavailable {
                reason: format!("the hook answered {status}"),
            });
        }
        if !status.is_success() {
            return Err(HookError::BadAnswer {
                reason: format!("the hook answered {status}"),
            });
        }
        let answer = read_limited(&mut response, self.max_response_bytes)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge { limit } => HookError::BadAnswer {
                    reason: format!("the answer is larger than {limit} bytes (max_response_bytes)"),
                },
                BodyError::Transport(e) => send_error(e),
            })?;
        HookAnswer::parse(&answer)
    }
}

/// `Authorization` from a bearer token or Basic credentials (at most one of the two),
/// marked sensitive.
fn auth_headers(rule: &RuleSettings, prefix: &str, problems: &mut Problems) -> Option<HeaderMap> {
    let before = problems.len();
    let mut map = HeaderMap::new();
    map.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let token_key = format!("{prefix}.bearer_token");
    let token = secret::resolve(
        problems,
        &token_key,
        rule.bearer_token.clone().filter(|t| !secret::is_blank(t)),
        rule.bearer_token_file.as_deref(),
    );
    let password_key = format!("{prefix}.password");
    let password = secret::resolve(
        problems,
        &password_key,
        rule.password.clone().filter(|p| !secret::is_blank(p)),
        rule.password_file.as_deref(),
    );
    let username = rule
        .username
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let value: Option<(String, SecretString)> = match (token, username, password) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            problems.push(
                &token_key,
                "set either a bearer token or a username and password, not both",
            );
            None
        }
        (Some(token), None, None) => Some((
            token_key,
            SecretString::from(format!("Bearer {}", token.expose_secret().trim())),
        )),
        (None, Some(user), Some(_)) if user.contains(':') => {
            problems.push(
                format!("{prefix}.username"),
                "must not contain ':' (HTTP Basic)",
            );
            None
        }
        (None, Some(user), Some(password)) => {
            let pair = format!("{user}:{}", password.expose_secret());
            Some((
                password_key,
                SecretString::from(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )),
            ))
        }
        (None, Some(_), None) => {
            problems.push(
                &password_key,
                "is required with username: set `password` or `password_file`",
            );
            None
        }
        (None, None, Some(_)) => {
            problems.push(format!("{prefix}.username"), "is required with password");
            None
        }
        (None, None, None) => None,
    };
    if let Some((key, value)) = value {
        match HeaderValue::from_str(value.expose_secret()) {
            Ok(mut value) => {
                value.set_sensitive(true);
                map.insert(AUTHORIZATION, value);
            }
            Err(_) => problems.push(key, "holds characters not allowed in a header"),
        }
    }
    (problems.len() == before).then_some(map)
}

/// The JSON the hook receives (README "The decision hook").
#[derive(Debug, Serialize)]
pub(super) struct HookRequest<'a> {
    pub version: u32,
    /// The rule's name.
    pub rule: &'a str,
    /// The language the comment will be written in (`en`, `de`, `fr`).
    pub language: &'static str,
    pub report: ReportJson<'a>,
}

#[derive(Debug, Serialize)]
pub(super) struct ReportJson<'a> {
    /// The 20-character report id.
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub currency: Option<&'a str>,
    pub owner: OwnerJson<'a>,
    /// Field id (lower case) → its list item code, else its value.
    pub fields: BTreeMap<String, &'a str>,
    pub expenses: Vec<ExpenseJson<'a>>,
}

#[derive(Debug, Serialize)]
pub(super) struct OwnerJson<'a> {
    pub login: Option<&'a str>,
    pub employee_id: Option<&'a str>,
    /// The v4 user id (UUID).
    pub user_id: Option<&'a str>,
    /// As Concur gives it, e.g. `de-DE`.
    pub language: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(super) struct ExpenseJson<'a> {
    pub id: Option<&'a str>,
    pub expense_type: Option<&'a str>,
    pub expense_type_name: Option<&'a str>,
    pub date: Option<&'a str>,
    /// Decimal text as Concur sent it, e.g. `"60.00"`.
    pub amount: Option<&'a str>,
    pub currency: Option<&'a str>,
    pub vendor: Option<&'a str>,
    pub business_purpose: Option<&'a str>,
    pub fields: BTreeMap<String, &'a str>,
    pub allocations: Vec<AllocationJson<'a>>,
}

#[derive(Debug, Serialize)]
pub(super) struct AllocationJson<'a> {
    pub id: Option<&'a str>,
    pub amount: Option<&'a str>,
    pub currency: Option<&'a str>,
    pub fields: BTreeMap<String, &'a str>,
}

fn fields(item: &ExpenseItem) -> BTreeMap<String, &str> {
    item.fields
        .iter()
        .filter_map(|f| {
            super::fields::field_value(item, &f.id).map(|v| (f.id.to_ascii_lowercase(), v))
        })
        .collect()
}

impl<'a> HookRequest<'a> {
    pub fn of(review: &'a Review<'a>, rule: &'a str, lang: Lang) -> Self {
        let header = &review.report.header;
        let details = review.details;
        Self {
            version: REQUEST_VERSION,
            rule,
            language: lang.code(),
            report: ReportJson {
                id: &details.report_id,
                name: header
                    .report_name
                    .as_deref()
                    .or(details.report_name.as_deref()),
                currency: header.currency.as_deref(),
                owner: OwnerJson {
                    login: details.owner_login.as_deref(),
                    employee_id: details.owner_employee_id.as_deref(),
                    user_id: header.owner.as_deref(),
                    language: review.owner_language,
                },
                fields: fields(header),
                expenses: review
                    .report
                    .expenses
                    .iter()
                    .map(|e| {
                        let x = &e.expense;
                        ExpenseJson {
                            id: x.entry_id.as_deref(),
                            expense_type: x.expense_type_code.as_deref(),
                            expense_type_name: x.expense_type_name.as_deref(),
                            date: x.transaction_date.as_deref(),
                            amount: x.amount.as_deref(),
                            currency: x.currency.as_deref(),
                            vendor: x.vendor.as_deref(),
                            business_purpose: x.business_purpose.as_deref(),
                            fields: fields(x),
                            allocations: e
                                .allocations
                                .iter()
                                .map(|a| AllocationJson {
                                    id: a.allocation_id.as_deref(),
                                    amount: a.amount.as_deref(),
                                    currency: a.currency.as_deref(),
                                    fields: fields(a),
                                })
                                .collect(),
                        }
                    })
                    .collect(),
            },
        }
    }
}

/// The hook's answer: `{"decision":"approve"}` or `{"decision":"send_back","comment":"…"}`
/// (or `"problems":["…", …]`, or both). Other members are ignored.
#[derive(Debug, Deserialize)]
struct HookAnswerJson {
    decision: String,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    problems: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum HookAnswer {
    Approve,
    SendBack(Vec<String>),
}

impl HookAnswer {
    pub fn parse(body: &[u8]) -> Result<Self, HookError> {
        let bad = |reason: String| HookError::BadAnswer { reason };
        let answer: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("not JSON: {e}")))?;
        // serde would read a struct from an array too (`["approve"]`): only an object counts.
        if !answer.is_object() {
            return Err(bad("not a JSON object".to_owned()));
        }
        let answer: HookAnswerJson = serde_json::from_value(answer)
            .map_err(|e| bad(format!("not the documented JSON object: {e}")))?;
        match answer.decision.trim() {
            "approve" => Ok(HookAnswer::Approve),
            "send_back" => {
                let lines: Vec<String> = answer
                    .comment
                    .iter()
                    .flat_map(|c| c.lines())
                    .chain(answer.problems.iter().map(String::as_str))
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect();
                if lines.is_empty() {
                    return Err(bad("send_back without a comment or problems".to_owned()));
                }
                Ok(HookAnswer::SendBack(lines))
            }
            _ => Err(bad(
                "unknown decision (expected \"approve\" or \"send_back\")".to_owned(),
            )),
        }
    }

    fn findings(self) -> Vec<Finding> {
        match self {
            HookAnswer::Approve => Vec::new(),
            HookAnswer::SendBack(lines) => lines
                .into_iter()
                .map(|l| Finding::new(Place::Report, Problem::Hook(l)))
                .collect(),
        }
    }
}
