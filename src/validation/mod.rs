//! Validating a submitted report (Event Notification, docs/protocol.md §12.6): the
//! `[validation]` rules, evaluated on the report the worker read, give the verdict the
//! worker turns into Concur's approve or send back.
//!
//! [`Validator::from_settings`] checks and builds the rules once at start-up (the decision
//! hooks' HTTP clients included); [`Validator::decide`] evaluates every rule on one report
//! and never calls Concur. `rules` is pure, `hook` holds the only HTTP call, `messages` the
//! English, German and French texts of the comment.

mod amount;
mod fields;
mod hook;
mod messages;
mod rules;
mod settings;

use crate::checks::{ConfigProblem, Mode, Problems};
use crate::concur::{ReportDetails, ReportV4};
use crate::values::{LookupError, Values};

pub use amount::Amount;
pub use hook::HookError;
pub use messages::{Lang, MAX_COMMENT_CHARS};
pub use settings::{Level, RuleKind, RuleSettings, ValidationSettings};

use messages::Finding;
use rules::{Check, Rule};

/// The report as the worker read it, with what the rules need to know about its owner.
pub struct Review<'a> {
    /// v1.1 Report Full Details (the 20-character `ReportId`, status, owner login …).
    pub details: &'a ReportDetails,
    /// The v4 report: header, expenses, allocations.
    pub report: &'a ReportV4,
    /// The owner's language as Concur gives it (e.g. `de-DE`, `fr`, none): the comment is
    /// German for `de*`, French for `fr*`, else in `validation.language`.
    pub owner_language: Option<&'a str>,
}

/// What the rules decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every rule passed.
    Approve,
    /// At least one rule failed.
    SendBack {
        /// The names of the rules that failed, in configuration order (for the audit line).
        failed_rules: Vec<String>,
        /// Every problem, in the owner's language, at most [`MAX_COMMENT_CHARS`] characters.
        comment: String,
    },
}

/// Why no decision could be taken now (the worker retries with backoff, then dead-letters).
/// The message is a short reason without secrets, URLs' queries or report data.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// A decision hook timed out, failed or answered something unusable, after its retries.
    #[error("decision hook `{rule}`: {error}")]
    Hook { rule: String, error: HookError },
    /// The `[values]` source could not be asked whether a value is allowed.
    #[error("rule `{rule}`: {error}")]
    Values { rule: String, error: LookupError },
}

/// The configured rules, built once at start-up.
pub struct Validator {
    rules: Vec<Rule>,
    language: Lang,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field(
                "rules",
                &self
                    .rules
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("language", &self.language)
            .finish()
    }
}

impl Validator {
    /// Checks `[validation]` as configuration loading does (`check-config` too): every
    /// problem under its key, e.g. `validation.rules[2].field`. Nothing is sent.
    pub fn check(settings: &ValidationSettings, mode: Mode, problems: &mut Problems) {
        let _ = Self::checked(settings, mode, problems);
    }

    /// Checks `[validation]` and builds the rules (each hook's one HTTP client).
    pub fn from_settings(
        settings: &ValidationSettings,
        mode: Mode,
    ) -> Result<Self, Vec<ConfigProblem>> {
        let mut problems = Problems::default();
        match Self::checked(settings, mode, &mut problems) {
            Some(validator) if problems.is_empty() => Ok(validator),
            _ => Err(problems.into_vec()),
        }
    }

    fn checked(settings: &ValidationSettings, mode: Mode, problems: &mut Problems) -> Option<Self> {
        let before = problems.len();
        let language = Lang::parse(&settings.language);
        if language.is_none() {
            problems.push("validation.language", "must be en, de or fr");
        }
        let rules = rules::compile(&settings.rules, mode, problems);
        (problems.len() == before).then_some(Self {
            rules,
            language: language?,
        })
    }

    /// The names of the configured rules, in order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Evaluates every rule on the report; never calls Concur. `values` answers the
    /// `allowed` rules; a source that cannot answer, or a hook that cannot decide, is a
    /// [`DecideError`] (never an approval).
    pub async fn decide(
        &self,
        review: &Review<'_>,
        values: &Values,
    ) -> Result<Verdict, DecideError> {
        let lang = Lang::of_owner(review.owner_language, self.language);
        let owner = rules::Owner::of(review, lang);
        let mut findings: Vec<Finding> = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            let found = match &rule.check {
                Check::Required { field, scope } => rules::required(field, scope, review.report),
                Check::AmountLimit { limits, currency } => {
                    rules::amount_limit(limits, currency.as_deref(), review.report)
                }
                Check::Allowed { field, scope } => {
                    allowed(&rule.name, field, scope, review, &owner, values).await?
                }
                Check::Hook(hook) => {
                    hook.decide(review, lang)
                        .await
                        .map_err(|error| DecideError::Hook {
                            rule: rule.name.clone(),
                            error,
                        })?
                }
            };
            findings.extend(found.into_iter().map(|f| f.of_rule(index)));
        }
        if findings.is_empty() {
            return Ok(Verdict::Approve);
        }
        let mut failed: Vec<usize> = findings.iter().map(|f| f.rule).collect();
        failed.sort_unstable();
        failed.dedup();
        // Header (and report-wide) problems first, then the expenses in report order; a
        // stable sort keeps the rules' order within one place.
        findings.sort_by_key(|f| f.place);
        let lines: Vec<String> = findings
            .iter()
            .map(|f| messages::line(lang, f, &self.rules[f.rule].messages, review.report))
            .collect();
        Ok(Verdict::SendBack {
            failed_rules: failed
                .into_iter()
                .map(|i| self.rules[i].name.clone())
                .collect(),
            comment: messages::comment(lang, &lines),
        })
    }
}

#[cfg(test)]
mod hook_tests;
/// `allowed`: asks `values` about every value set in scope; a list field read without its
/// code also passes when its list item id is one of the source's.
async fn allowed(
    rule: &str,
    field: &str,
    scope: &rules::Scope,
    review: &Review<'_>,
    owner: &rules::Owner,
    values: &Values,
) -> Result<Vec<Finding>, DecideError> {
    let source_error = |error| DecideError::Values {
        rule: rule.to_owned(),
        error,
    };
    let mut found = Vec::new();
    for target in rules::allowed_targets(field, scope, review.report) {
        let facts = target.facts(owner);
        let mut choice = values
            .resolve(&target.value, &facts)
            .await
            .map_err(source_error)?;
        if let (None, Some(id)) = (&choice, &target.list_item_id) {
            choice = values
                .resolve_list_item(id, &facts)
                .await
                .map_err(source_error)?;
        }
        if choice.is_none() {
            found.push(target.refused());
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests;
