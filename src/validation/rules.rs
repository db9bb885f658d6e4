//! The rules without code: checking `[[validation.rules]]` into [`Rule`]s, and the pure
//! evaluation of `required`, `allowed` (which items and values to ask the value source
//! about) and `amount_limit` on a v4 report.

use std::collections::BTreeMap;

use super::Review;
use super::amount::Amount;
use super::fields::{field_value, is_field_id};
use super::hook::Hook;
use super::messages::{Finding, Lang, Messages, Place, Problem};
use super::settings::{Level, RuleKind, RuleSettings};
use crate::checks::{Mode, Problems};
use crate::concur::{ExpenseItem, ReportV4};
use crate::values::{ItemFacts, ItemOwner};

/// One checked rule.
pub(super) struct Rule {
    pub name: String,
    pub messages: Messages,
    pub check: Check,
}

pub(super) enum Check {
    Required {
        field: String,
        scope: Scope,
    },
    Allowed {
        field: String,
        scope: Scope,
    },
    AmountLimit {
        /// Upper-cased expense type code → limit.
        limits: BTreeMap<String, Amount>,
        currency: Option<String>,
    },
    Hook(Box<Hook>),
}

/// The items a `required` or `allowed` rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Scope {
    Header,
    /// Every expense, or (non-empty) those whose upper-cased expense type code is listed.
    Expenses(Vec<String>),
}

impl Scope {
    fn covers(&self, expense: &ExpenseItem) -> bool {
        match self {
            Scope::Header => false,
            Scope::Expenses(types) => {
                types.is_empty()
                    || expense
                        .expense_type_code
                        .as_deref()
                        .is_some_and(|t| types.iter().any(|x| x.eq_ignore_ascii_case(t)))
            }
        }
    }
}

/// Checks every rule, each problem keyed `validation.rules[i].<key>`; returns the rules
/// that passed (the caller discards them when any problem was found).
pub(super) fn compile(settings: &[RuleSettings], mode: Mode, problems: &mut Problems) -> Vec<Rule> {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    settings
        .iter()
        .enumerate()
        .filter_map(|(index, rule)| {
            let prefix = format!("validation.rules[{index}]");
            let name = rule.name.trim();
            if name.is_empty() {
                problems.push(
                    format!("{prefix}.name"),
                    "is required (it names the rule in the audit line)",
                );
            } else if let Some(first) = names.insert(name.to_lowercase(), index) {
                problems.push(
                    format!("{prefix}.name"),
                    format!("`{name}` is already the name of validation.rules[{first}]"),
                );
            }
            let messages = Messages::check(&rule.message, &format!("{prefix}.message"), problems);
            let Some(kind) = rule.kind else {
                problems.push(
                    format!("{prefix}.kind"),
                    "is required: required, allowed, amount_limit or hook",
                );
                return None;
            };
            not_for_kind(rule, kind, &prefix, problems);
            let check = match kind {
                RuleKind::Required | RuleKind::Allowed => {
                    let (field, scope) = field_and_scope(rule, &prefix, problems)?;
                    if kind == RuleKind::Required {
                        Check::Required { field, scope }
                    } else {
                        Check::Allowed { field, scope }
                    }
                }
                RuleKind::AmountLimit => limits(rule, &prefix, problems)?,
                RuleKind::Hook => {
                    Check::Hook(Box::new(Hook::new(rule, name, &prefix, mode, problems)?))
                }
            };
            Some(Rule {
                name: name.to_owned(),
                messages: messages?,
                check,
            })
        })
        .collect()
}

/// A key set on a rule whose kind does not read it is a mistake worth naming.
fn not_for_kind(rule: &RuleSettings, kind: RuleKind, prefix: &str, problems: &mut Problems) {
    use RuleKind::*;
    let keys: [(&str, bool, &[RuleKind]); 15] = [
        ("field", rule.field.is_some(), &[Required, Allowed]),
        ("on", rule.on.is_some(), &[Required, Allowed]),
        (
            "expense_types",
            !rule.expense_types.is_empty(),
            &[Required, Allowed],
        ),
        ("limits", !rule.limits.is_empty(), &[AmountLimit]),
        ("currency", rule.currency.is_some(), &[AmountLimit]),
        ("url", rule.url.is_some(), &[Hook]),
        ("timeout", rule.timeout.is_some(), &[Hook]),
        ("retries", rule.retries.is_some(), &[Hook]),
        ("backoff", rule.backoff.is_some(), &[Hook]),
        ("bearer_token", rule.bearer_token.is_some(), &[Hook]),
        (
            "bearer_token_file",
            rule.bearer_token_file.is_some(),
            &[Hook],
        ),
        ("username", rule.username.is_some(), &[Hook]),
        (
            "password",
            rule.password.is_some() || rule.password_file.is_some(),
            &[Hook],
        ),
        (
            "max_response_bytes",
            rule.max_response_bytes.is_some(),
            &[Hook],
        ),
        ("extra_ca_file", rule.extra_ca_file.is_some(), &[Hook]),
    ];
    for (key, set, kinds) in keys {
        if set && !kinds.contains(&kind) {
            let key = if key == "password" && rule.password.is_none() {
                "password_file"
            } else {
                key
            };
            problems.push(
                format!("{prefix}.{key}"),
                format!("does not apply to kind = \"{}\"", kind.as_str()),
            );
        }
    }
}

fn field_and_scope(
    rule: &RuleSettings,
    prefix: &str,
    problems: &mut Problems,
) -> Option<(String, Scope)> {
    let field = match rule.field.as_deref().map(str::trim) {
        None | Some("") => {
            problems.push(
                format!("{prefix}.field"),
                "is required: custom1 … custom40 or orgUnit1 … orgUnit6",
            );
            None
        }
        Some(id) if !is_field_id(id) => {
            problems.push(
                format!("{prefix}.field"),
                format!("`{id}` is not a field id: use custom1 … custom40 or orgUnit1 … orgUnit6"),
            );
            None
        }
        Some(id) => Some(id.to_ascii_lowercase()),
    };
    let scope = match rule.on.unwrap_or_default() {
        Level::Header if !rule.expense_types.is_empty() => {
            problems.push(
                format!("{prefix}.expense_types"),
                "applies to on = \"expenses\" only (the header has no expense type)",
            );
            None
        }
        Level::Header => Some(Scope::Header),
        Level::Expenses => {
            let types = expense_types(
                &rule.expense_types,
                &format!("{prefix}.expense_types"),
                problems,
            );
            types.map(Scope::Expenses)
        }
    };
    Some((field?, scope?))
}

fn expense_types(types: &[String], key: &str, problems: &mut Problems) -> Option<Vec<String>> {
    let before = problems.len();
    let types: Vec<String> = types
        .iter()
        .map(|t| t.trim().to_ascii_uppercase())
        .collect();
    if types.iter().any(String::is_empty) {
        problems.push(key, "holds an empty expense type code");
    }
    (problems.len() == before).then_some(types)
}

fn limits(rule: &RuleSettings, prefix: &str, problems: &mut Problems) -> Option<Check> {
    let before = problems.len();
    if rule.limits.is_empty() {
        problems.push(
            format!("{prefix}.limits"),
            "is required: expense type code = highest amount, e.g. { LUNCH = 50 }",
        );
    }
    let mut limits = BTreeMap::new();
    for (code, value) in &rule.limits {
        let key = format!("{prefix}.limits.{code}");
        match Amount::from_toml(value) {
            Some(limit) if limit >= Amount::ZERO => {
                if limits
                    .insert(code.trim().to_ascii_uppercase(), limit)
                    .is_some()
                {
                    problems.push(key, "is given twice (expense type codes ignore case)");
                }
            }
            _ => problems.push(
                key,
                "must be an amount of zero or more, a number or a decimal string like \"49.90\"",
            ),
        }
    }
    let currency = rule
        .currency
        .as_deref()
        .map(str::trim)
        .map(str::to_ascii_uppercase);
    if let Some(currency) = &currency
        && (currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        problems.push(
            format!("{prefix}.currency"),
            "must be a three-letter ISO currency code such as EUR",
        );
    }
    (problems.len() == before).then_some(Check::AmountLimit { limits, currency })
}

/// `required`: the header has the field, or every expense in scope has it. An expense
/// counts as having it when it is set on the expense itself, or when the expense is
/// allocated and every allocation has it set.
pub(super) fn required(field: &str, scope: &Scope, report: &ReportV4) -> Vec<Finding> {
    let missing = |place| {
        Finding::new(
            place,
            Problem::Missing {
                field: field.to_owned(),
            },
        )
    };
    match scope {
        Scope::Header => match field_value(&report.header, field) {
            Some(_) => Vec::new(),
            None => vec![missing(Place::Report)],
        },
        Scope::Expenses(_) => report
            .expenses
            .iter()
            .enumerate()
            .filter(|(_, e)| scope.covers(&e.expense))
            .filter(|(_, e)| {
                field_value(&e.expense, field).is_none()
                    && (e.allocations.is_empty()
                        || e.allocations
                            .iter()
                            .any(|a| field_value(a, field).is_none()))
            })
            .map(|(index, _)| missing(Place::Expense(index)))
            .collect(),
    }
}

/// `amount_limit`: an expense whose type has a limit (and, with `currency`, that is in that
/// currency) must not exceed it; exactly the limit passes. An amount that is not plain
/// decimal text is logged and not compared.
pub(super) fn amount_limit(
    limits: &BTreeMap<String, Amount>,
    currency: Option<&str>,
    report: &ReportV4,
) -> Vec<Finding> {
    let mut found = Vec::new();
    for (index, e) in report.expenses.iter().enumerate() {
        let e = &e.expense;
        let Some(limit) = e
            .expense_type_code
            .as_deref()
            .and_then(|t| limits.get(&t.trim().to_ascii_uppercase()))
        else {
            continue;
        };
        if currency.is_some_and(|c| {
            !e.currency
                .as_deref()
                .is_some_and(|x| x.trim().eq_ignore_ascii_case(c))
        }) {
            continue;
        }
        let Some(text) = e.amount.as_deref() else {
            continue;
        };
        match Amount::parse(text) {
            Some(amount) if amount > *limit => found.push(Finding::new(
                Place::Expense(index),
                Problem::OverLimit {
                    amount,
                    limit: *limit,
                    currency: e.currency.clone(),
                },
            )),
            Some(_) => {}
            None => tracing::warn!(
                expense = index,
                "an expense amount is not decimal text; the limit is not checked"
            ),
        }
    }
    found
}

/// One value an `allowed` rule asks the value source about.
pub(super) struct Target<'r> {
    pub place: Place,
    pub value: String,
    /// For a list field read without its code (v4 gives the list item id as the value):
    /// the list item id, also accepted when a value has it.
    pub list_item_id: Option<String>,
    field: &'r str,
    /// The header or the expense.
    item: &'r ExpenseItem,
    /// The allocation the value is set on, if it is one.
    allocation: Option<&'r ExpenseItem>,
}

impl Target<'_> {
    /// The facts `[values.match]` filters with: the item's, the allocation's fields over
    /// the expense's, and the owner's.
    pub fn facts(&self, owner: &Owner) -> ItemFacts {
        let owner = ItemOwner {
            user: owner.user.as_deref(),
            employee_id: owner.employee_id.as_deref(),
            language: owner.language,
        };
        let mut facts = ItemFacts::for_item(self.item, &owner);
        if let Some(allocation) = self.allocation {
            facts.insert("source", "ALLOCATION");
            facts.insert_fields(allocation);
        }
        facts
    }

    pub fn refused(&self) -> Finding {
        Finding::new(
            self.place,
            Problem::NotAllowed {
                field: self.field.to_owned(),
                value: self.value.clone(),
            },
        )
    }
}

/// `allowed`: every value set on the header (or on the expenses in scope and their
/// allocations), in report order. Unset fields are left to `required` rules.
pub(super) fn allowed_targets<'r>(
    field: &'r str,
    scope: &Scope,
    report: &'r ReportV4,
) -> Vec<Target<'r>> {
    let target = |place, item, allocation: Option<&'r ExpenseItem>| {
        let holder = allocation.unwrap_or(item);
        let list_item_id = holder
            .field(field)
            .filter(|f| f.is_list && f.code.as_deref().is_none_or(|c| c.trim().is_empty()))
            .and_then(|f| f.list_item_id.as_deref().or(f.value.as_deref()))
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        field_value(holder, field).map(|value| Target {
            place,
            value: value.to_owned(),
            list_item_id,
            field,
            item,
            allocation,
        })
    };
    match scope {
        Scope::Header => target(Place::Report, &report.header, None)
            .into_iter()
            .collect(),
        Scope::Expenses(_) => report
            .expenses
            .iter()
            .enumerate()
            .filter(|(_, e)| scope.covers(&e.expense))
            .flat_map(|(index, e)| {
                let place = Place::Expense(index);
                std::iter::once(target(place, &e.expense, None))
                    .chain(
                        e.allocations
                            .iter()
                            .map(move |a| target(place, &e.expense, Some(a))),
                    )
                    .flatten()
            })
            .collect(),
    }
}

/// The owner facts of a review.
pub(super) struct Owner {
    pub user: Option<String>,
    pub employee_id: Option<String>,
    pub language: &'static str,
}

impl Owner {
    pub fn of(review: &Review<'_>, lang: Lang) -> Self {
        Self {
            // The v4 owner id, as a v4 launch names the owner; else the login.
            user: review
                .report
                .header
                .owner
                .clone()
                .or_else(|| review.details.owner_login.clone()),
            employee_id: review.details.owner_employee_id.clone(),
            language: lang.code(),
        }
    }
}
