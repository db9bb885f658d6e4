//! The `[validation]` table as written by the operator;
//! [`Validator::from_settings`](super::Validator::from_settings) checks it and builds the
//! rules once at start-up.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// `[validation]`: the rules a submitted report must pass before the connector approves it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidationSettings {
    /// The comment's language when the owner's is not German or French: `en`, `de` or
    /// `fr`. Default `en`.
    pub language: String,
    /// `[[validation.rules]]`: every rule, evaluated in this order. None: every report is
    /// approved.
    pub rules: Vec<RuleSettings>,
}

impl Default for ValidationSettings {
    fn default() -> Self {
        Self {
            language: "en".to_owned(),
            rules: Vec::new(),
        }
    }
}

/// What a rule checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A custom or org-unit field must be set.
    Required,
    /// A field's value must be one the `[values]` source allows for the item.
    Allowed,
    /// An expense's amount must not exceed a limit per expense type.
    AmountLimit,
    /// The customer's system decides (an HTTP POST of the report).
    Hook,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Required => "required",
            RuleKind::Allowed => "allowed",
            RuleKind::AmountLimit => "amount_limit",
            RuleKind::Hook => "hook",
        }
    }
}

/// Where a `required` or `allowed` rule looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The report header.
    Header,
    /// Every expense (or those of `expense_types`).
    #[default]
    Expenses,
}

/// One `[[validation.rules]]` table. Which keys apply depends on `kind`; a key that does
/// not apply to the rule's kind is a configuration problem.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleSettings {
    /// Names the rule in the audit line; unique. Required.
    pub name: String,
    /// `required`, `allowed`, `amount_limit` or `hook`. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<RuleKind>,
    /// `required`, `allowed`: the field, `custom1` … `custom40` or `orgUnit1` … `orgUnit6`
    /// (case-insensitive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `required`, `allowed`: `header` or `expenses`. Default `expenses`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<Level>,
    /// `required`, `allowed` on expenses: only expenses of these expense type codes
    /// (case-insensitive); empty = every expense.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expense_types: Vec<String>,
    /// `amount_limit`: expense type code → the highest allowed amount (a number, or a
    /// decimal string such as `"49.90"`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, toml::Value>,
    /// `amount_limit`: when set, the limits apply only to expenses in this currency (ISO
    /// code, case-insensitive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Language (`en`, `de`, `fr`) → the problem's text, replacing the built-in one.
    /// Placeholders: `{field}`, `{value}`, `{amount}`, `{limit}`, `{currency}`,
    /// `{expense_type}`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub message: BTreeMap<String, String>,
    /// `hook`: the customer's decision endpoint (https outside development mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `hook`: one attempt (connect, answer, body) takes at most this long. Default `5s`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// `hook`: further attempts after a timeout, a connection failure or a 5xx/429 answer.
    /// Default `2`, at most 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// `hook`: the wait before the first retry, doubled for each further one. Default `1s`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub backoff: Option<Duration>,
    /// `hook`: sent as `Authorization: Bearer …`.
    #[serde(
        serialize_with = "crate::checks::redacted",
        skip_serializing_if = "Option::is_none"
    )]
    pub bearer_token: Option<SecretString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// `hook`: HTTP Basic user name (with `password` or `password_file`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(
        serialize_with = "crate::checks::redacted",
        skip_serializing_if = "Option::is_none"
    )]
    pub password: Option<SecretString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// `hook`: a longer answer body is refused (never read whole). Default `65536`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
    /// `hook`: a PEM CA bundle trusted in addition to the system roots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_ca_file: Option<PathBuf>,
}
